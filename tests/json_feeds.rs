//! JSON API feeds end to end: the real server on port 0, a fresh SQLite file, and a local server
//! publishing pages in the publishers' own formats (UNHCR's population API, IOM DTM's v3 API).

mod helpers;

use axum::http::StatusCode;
use helpers::{spawn_app, TestApp};
use serde_json::{json, Value};
use tributary::metrics::PollOutcome;
use tributary::model::{Feed, FeedKind, FeedUrl, NewFeed, OrgId};

/// The query a focal point registers; the hub asks for 1,000 rows a page (the preset's limit).
const UNHCR: &str = "population/v1/population/?yearFrom=2024&yearTo=2024&coo=SYR&coa_all=true&cf_type=ISO";

/// One row of UNHCR's population API, as it publishes it (zeros as "0", not applicable as "-").
fn row(coa_name: &str, coa_iso: &str, refugees: u64) -> Value {
    json!({ "year": 2024, "coo_id": 185, "coo_name": "Syrian Arab Rep.", "coo": "SYR", "coo_iso": "SYR",
            "coa_id": 72, "coa_name": coa_name, "coa": coa_iso, "coa_iso": coa_iso,
            "refugees": refugees, "asylum_seekers": "0", "returned_refugees": "0", "idps": "0",
            "returned_idps": "0", "stateless": "0", "ooc": "0", "oip": "-", "hst": "0" })
}

/// One page of UNHCR's envelope.
fn page(number: u64, max_pages: u64, items: Vec<Value>) -> String {
    json!({ "page": number, "short-url": "a7Kq2", "maxPages": max_pages, "total": [], "items": items }).to_string()
}

/// Publishes the two pages of the query.
fn publish(app: &TestApp, first: Vec<Value>, second: Vec<Value>) {
    app.feeds.set_json(&format!("{UNHCR}&limit=1000"), &page(1, 2, first));
    app.feeds.set_json(&format!("{UNHCR}&limit=1000&page=2"), &page(2, 2, second));
}

async fn add_json_feed(app: &TestApp, path: &str, mapping: &str) -> Feed {
    let url = FeedUrl::parse(&app.feeds.url(path)).unwrap();
    let feed = NewFeed {
        kind: FeedKind::JsonApi,
        mapping: Some(mapping.to_string()),
        ..NewFeed::new(OrgId("UNHCR".into()), url, 900)
    };
    app.store.add_feed(&feed).await.expect("feed registered")
}

fn unhcr_preset() -> &'static str {
    connectors::mapping::preset("unhcr-population").unwrap()
}

#[tokio::test]
async fn a_paged_api_is_read_page_by_page_and_queried_through_items_and_figures() {
    let app = spawn_app().await;
    publish(
        &app,
        vec![row("Germany", "DEU", 725_102), row("Türkiye", "TUR", 2_901_478)],
        vec![row("Lebanon", "LBN", 755_426)],
    );
    let feed = add_json_feed(&app, UNHCR, unhcr_preset()).await;

    let report = app.poll_feed(feed.id).await;
    assert_eq!(report.outcome, PollOutcome::Updated, "{:?}", report.error);
    assert_eq!(report.ingest.created, 3);
    let asked: Vec<String> = app.feeds.requests("population").into_iter().map(|(path, _)| path).collect();
    assert_eq!(asked, [format!("{UNHCR}&limit=1000"), format!("{UNHCR}&limit=1000&page=2")]);

    let items = app
        .data(
            "{ items(first: 10, filter: { countries: [\"LBN\"] }) { totalCount nodes { title feed { kind }
               countries { country role } figures { measure value unit } } } }",
            json!({}),
        )
        .await;
    assert_eq!(items["items"]["totalCount"], 1);
    let lebanon = &items["items"]["nodes"][0];
    assert_eq!(lebanon["title"], "2024: people from Syrian Arab Rep. in Lebanon");
    assert_eq!(lebanon["feed"]["kind"], "JSON_API");
    assert_eq!(
        lebanon["countries"],
        json!([{ "country": "SY", "role": "ORIGIN" }, { "country": "LB", "role": "ASYLUM" }])
    );
    assert_eq!(lebanon["figures"][0], json!({ "measure": "refugees", "value": 755426.0, "unit": "people" }));

    let figures = app
        .data("{ figures(measure: \"refugees\", groupBy: [COUNTRY]) { country unit total items } }", json!({}))
        .await;
    assert_eq!(
        figures["figures"],
        json!([{ "country": "SY", "unit": "people", "total": 4_382_006.0, "items": 3 }]),
        "grouped by each item's first country, its origin"
    );

    // Re-published with one changed figure on the second page: exactly one UPDATED change.
    publish(
        &app,
        vec![row("Germany", "DEU", 725_102), row("Türkiye", "TUR", 2_901_478)],
        vec![row("Lebanon", "LBN", 760_000)],
    );
    let report = app.poll_feed(feed.id).await;
    assert_eq!((report.ingest.created, report.ingest.updated, report.ingest.unchanged), (0, 1, 2));
    let changes =
        app.data("{ changes(first: 10) { nodes { kind item { title figures { value } } } } }", json!({})).await;
    assert_eq!(changes["changes"]["nodes"].as_array().unwrap().len(), 1, "{changes}");
    assert_eq!(changes["changes"]["nodes"][0]["kind"], "UPDATED");
    assert_eq!(changes["changes"]["nodes"][0]["item"]["figures"][0]["value"], 760000.0);
}

#[tokio::test]
async fn a_snapshot_api_withdraws_only_after_reading_every_page() {
    let app = spawn_app().await;
    publish(&app, vec![row("Germany", "DEU", 1), row("Türkiye", "TUR", 2)], vec![row("Lebanon", "LBN", 3)]);
    let feed = add_json_feed(&app, UNHCR, unhcr_preset()).await;
    assert_eq!(app.poll_feed(feed.id).await.ingest.created, 3);

    // The second page fails: the feed says which page and why; nothing is withdrawn.
    app.feeds.set_json(&format!("{UNHCR}&limit=1000"), &page(1, 2, vec![row("Germany", "DEU", 1)]));
    app.feeds.fail(&format!("{UNHCR}&limit=1000&page=2"), StatusCode::INTERNAL_SERVER_ERROR);
    let report = app.poll_feed(feed.id).await;
    assert_eq!(report.outcome, PollOutcome::Failed);
    let reason = report.error.unwrap();
    assert!(reason.starts_with("page 2 (") && reason.contains("HTTP 500"), "{reason}");
    let count = "{ items(first: 10) { totalCount } }";
    assert_eq!(app.data(count, json!({})).await["items"]["totalCount"], 3);

    // Every page read: the row no page holds any more is withdrawn.
    publish(&app, vec![row("Germany", "DEU", 1)], vec![row("Lebanon", "LBN", 3)]);
    let report = app.poll_feed(feed.id).await;
    assert_eq!(report.outcome, PollOutcome::Updated, "{:?}", report.error);
    assert_eq!(report.ingest.withdrawn, 1);
    assert_eq!(app.data(count, json!({})).await["items"]["totalCount"], 2);
}

#[tokio::test]
async fn a_secret_header_comes_from_the_environment_and_is_never_shown() {
    const VAR: &str = "TRIBUTARY_TEST_DTM_KEY";
    const SECRET: &str = "k3y-only-the-hub-knows";
    let app = spawn_app().await;
    let path = "v3/displacement/admin0?Admin0Pcode=ETH";
    app.feeds.set_json(path, include_str!("../connectors/tests/fixtures/iom-dtm-admin0.json"));
    let mapping = connectors::mapping::preset("iom-dtm").unwrap().replace("DTM_API_KEY", VAR);
    let feed = add_json_feed(&app, path, &mapping).await;

    // Not set yet: the feed fails, naming the variable.
    let report = app.poll_feed(feed.id).await;
    assert_eq!(report.outcome, PollOutcome::Failed);
    let reason = report.error.unwrap();
    assert!(
        reason.contains("Ocp-Apim-Subscription-Key") && reason.contains(VAR) && reason.contains("not set"),
        "{reason}"
    );
    assert!(app.feeds.requests("v3").is_empty(), "nothing is fetched without the key");

    // Set (as an operator would before starting the hub): sent with every request.
    // SAFETY of set_var: no other test in this binary reads this variable.
    std::env::set_var(VAR, SECRET);
    let report = app.poll_feed(feed.id).await;
    assert_eq!(report.outcome, PollOutcome::Updated, "{:?}", report.error);
    assert_eq!(report.ingest.created, 3);
    let requests = app.feeds.requests("v3");
    assert_eq!(requests[0].1.get("ocp-apim-subscription-key").unwrap(), SECRET);

    // Refused upstream: the reason does not repeat the key, and neither does anything the API shows.
    app.feeds.fail(path, StatusCode::UNAUTHORIZED);
    let report = app.poll_feed(feed.id).await;
    assert!(!report.error.unwrap().contains(SECRET));
    let shown = app
        .graphql(
            "query($id: ID!) { feed(id: $id) { kind state lastError lastWarnings } items(first: 10) { nodes { title summary } } }",
            json!({ "id": feed_node_id(&app, feed.id).await }),
        )
        .await;
    assert_eq!(shown["data"]["feed"]["state"], "FAILING");
    assert!(!shown.to_string().contains(SECRET), "{shown}");
}

/// The GraphQL id of a feed, as the API gives it.
async fn feed_node_id(app: &TestApp, id: tributary::model::FeedId) -> String {
    let feeds = app.data("{ feeds(first: 100) { nodes { id url } } }", json!({})).await;
    let stored = app.store.feeds_by_ids(&tributary::access::Scope::System, &[id]).await.unwrap();
    let url = stored[0].url.as_str();
    feeds["feeds"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["url"] == url)
        .map(|f| f["id"].as_str().unwrap().to_string())
        .expect("the feed is listed")
}

/// A generic paged API: records at `/items`, the next page's URL at `/next`.
fn linked_page(ids: &[u32], next: Option<&str>) -> String {
    let items: Vec<Value> = ids.iter().map(|id| json!({ "id": id, "title": format!("Report {id}") })).collect();
    json!({ "items": items, "next": next }).to_string()
}

const LINKED: &str = "format = \"json\"\nrecords = \"/items\"\nsnapshot = true\n\
    [pagination]\nkind = \"next_link\"\nnext = \"/next\"\n[item]\nid = [\"/id\"]\ntitle = \"{/title}\"";

#[tokio::test]
async fn a_pagination_that_leads_back_stops_and_withdraws_nothing() {
    let app = spawn_app().await;
    app.feeds.set_json("reports/1", &linked_page(&[1, 2], Some(&app.feeds.url("reports/2"))));
    app.feeds.set_json("reports/2", &linked_page(&[3], Some("/reports/1")));
    let feed = add_json_feed(&app, "reports/1", LINKED).await;
    let report = app.poll_feed(feed.id).await;
    assert_eq!(report.outcome, PollOutcome::Updated, "{:?}", report.error);
    assert_eq!(report.ingest.created, 3);
    assert_eq!(app.feeds.requests("reports").len(), 2, "each page is read once");
    let stored = app.store.feeds_by_ids(&tributary::access::Scope::System, &[feed.id]).await.unwrap().remove(0);
    assert!(stored.warnings[0].starts_with("page 2 leads back to a page already read"), "{:?}", stored.warnings);
    assert!(stored.warnings[1].starts_with("not every page was read, so nothing"), "{:?}", stored.warnings);
}

#[tokio::test]
async fn a_secret_header_is_never_sent_to_another_site() {
    const VAR: &str = "TRIBUTARY_TEST_ORIGIN_KEY";
    // SAFETY of set_var: no other test in this binary reads this variable.
    std::env::set_var(VAR, "origin-bound-key");
    let app = spawn_app().await;
    let elsewhere = helpers::FeedServer::start().await;
    let mapping = LINKED.replace("[item]", &format!("[headers]\nX-Api-Key = {{ env = \"{VAR}\" }}\n[item]"));

    // A next link to another site.
    app.feeds.set_json("api/1", &linked_page(&[1], Some(&elsewhere.url("api/2"))));
    elsewhere.set_json("api/2", &linked_page(&[2], None));
    let feed = add_json_feed(&app, "api/1", &mapping).await;
    let report = app.poll_feed(feed.id).await;
    assert_eq!(report.outcome, PollOutcome::Failed);
    let reason = report.error.unwrap();
    assert!(reason.contains("the next page is on another site"), "{reason}");
    assert!(elsewhere.requests("api").is_empty(), "the other site was never asked");

    // A redirect to another site.
    app.feeds.redirect("moved", &elsewhere.url("api/2"));
    let feed = add_json_feed(&app, "moved", &mapping).await;
    let report = app.poll_feed(feed.id).await;
    assert_eq!(report.outcome, PollOutcome::Failed);
    let reason = report.error.unwrap();
    assert!(reason.contains("redirected to another site"), "{reason}");
    assert!(elsewhere.requests("api").is_empty(), "the other site was never asked");
}

/// An HXL file of targeted people by country.
fn targets(chad: u32) -> String {
    format!(
        "Plan id,Country,Plan,People targeted\n#meta+id,#country+code,#event+name+i_en,#targeted\n\
         p-1,TD,Reception of arrivals from Sudan,{chad}\np-2,PA,Assistance along the Darién route,1500\n"
    )
}

#[tokio::test]
async fn a_csv_feed_and_a_paged_api_feed_are_polled_and_queried_together() {
    let app = spawn_app().await;
    // IFRC GO's appeals, split over two pages linked by `next`, as GO pages them.
    let fixture: Value =
        serde_json::from_str(include_str!("../connectors/tests/fixtures/ifrc-go-appeals.json")).unwrap();
    let results = fixture["results"].as_array().unwrap();
    let second = app.feeds.url("api/v2/appeal/?format=json&limit=2&offset=2");
    let page = |results: &[Value], next: Option<&str>| {
        json!({ "count": 3, "next": next, "previous": null, "results": results }).to_string()
    };
    app.feeds.set_json("api/v2/appeal/?format=json&limit=2", &page(&results[..2], Some(&second)));
    app.feeds.set_json("api/v2/appeal/?format=json&limit=2&offset=2", &page(&results[2..], None));
    let appeals = connectors::mapping::preset("ifrc-go-appeals").unwrap();
    let url = FeedUrl::parse(&app.feeds.url("api/v2/appeal/?format=json&limit=2")).unwrap();
    let feed = NewFeed {
        kind: FeedKind::JsonApi,
        mapping: Some(appeals.to_string()),
        ..NewFeed::new(OrgId("IFRC".into()), url, 900)
    };
    let appeals_feed = app.store.add_feed(&feed).await.unwrap();
    app.feeds.set("targets.csv", &targets(30_000));
    let url = FeedUrl::parse(&app.feeds.url("targets.csv")).unwrap();
    let csv = NewFeed { kind: FeedKind::Csv, ..NewFeed::new(OrgId("IFRC".into()), url, 900) };
    let targets_feed = app.store.add_feed(&csv).await.unwrap();

    let reports = app.poll_due().await;
    assert!(reports.iter().all(|r| r.outcome == PollOutcome::Updated), "{reports:?}");
    let created: usize = reports.iter().map(|r| r.ingest.created).sum();
    assert_eq!(created, 5, "three appeals over two pages, two rows");

    let chad = app
        .data(
            "{ items(first: 10, filter: { countries: [\"TCD\"] }, orderBy: PUBLISHED_ASC) { nodes { title feed { kind } } } }",
            json!({}),
        )
        .await;
    let kinds: Vec<&str> =
        chad["items"]["nodes"].as_array().unwrap().iter().map(|n| n["feed"]["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.len(), 2, "{chad}");
    assert!(kinds.contains(&"CSV") && kinds.contains(&"JSON_API"), "{chad}");

    // People targeted, from the appeals and from the file together, by country; francs apart.
    let figures = "query($m: String!) { figures(measure: $m, groupBy: [COUNTRY]) { country unit total items } }";
    let targeted = app.data(figures, json!({ "m": "targeted" })).await;
    let chad_total = targeted["figures"].as_array().unwrap().iter().find(|b| b["country"] == "TD").cloned();
    assert_eq!(chad_total, Some(json!({ "country": "TD", "unit": "people", "total": 60000.0, "items": 2 })));
    let requested = app.data(figures, json!({ "m": "appeal_requested" })).await;
    assert!(requested["figures"].as_array().unwrap().iter().all(|b| b["unit"] == "CHF"), "{requested}");

    // The file published again with one changed figure: exactly one UPDATED change in the hub.
    app.feeds.set("targets.csv", &targets(32_000));
    app.poll_feed(appeals_feed.id).await;
    app.poll_feed(targets_feed.id).await;
    let changes = app.data("{ changes(first: 20) { nodes { kind item { title } } } }", json!({})).await;
    assert_eq!(
        changes["changes"]["nodes"],
        json!([{ "kind": "UPDATED", "item": { "title": "Reception of arrivals from Sudan" } }]),
        "{changes}"
    );
}

#[tokio::test]
async fn an_incremental_api_withdraws_what_it_marks_deleted_and_keeps_what_it_no_longer_lists() {
    let app = spawn_app().await;
    let mapping = "format = \"json\"\nrecords = \"/data\"\n[item]\nid = [\"/id\"]\ntitle = \"{/title}\"\n\
                   deleted = { column = \"/status\", values = [\"deleted\"] }";
    let record =
        |id: u32, status: &str| json!({ "id": id, "title": format!("Situation report {id}"), "status": status });
    app.feeds.set_json("latest", &json!({ "data": [record(1, "published"), record(2, "published")] }).to_string());
    let feed = add_json_feed(&app, "latest", mapping).await;
    assert_eq!(app.poll_feed(feed.id).await.ingest.created, 2);

    // Report 1 is marked deleted; report 2 scrolled out of the latest records: only 1 goes.
    app.feeds.set_json("latest", &json!({ "data": [record(1, "deleted"), record(3, "published")] }).to_string());
    let report = app.poll_feed(feed.id).await;
    assert_eq!((report.ingest.created, report.ingest.withdrawn), (1, 1), "{:?}", report.error);
    let changes = app.data("{ changes(first: 10) { nodes { kind item { title withdrawnAt } } } }", json!({})).await;
    let nodes = changes["changes"]["nodes"].as_array().unwrap();
    let withdrawn: Vec<&Value> = nodes.iter().filter(|n| n["kind"] == "WITHDRAWN").collect();
    assert_eq!(withdrawn.len(), 1, "{changes}");
    assert_eq!(withdrawn[0]["item"]["title"], "Situation report 1");
    let titles = app.data("{ items(first: 10, orderBy: PUBLISHED_ASC) { nodes { title } } }", json!({})).await;
    let mut titles: Vec<&str> =
        titles["items"]["nodes"].as_array().unwrap().iter().map(|n| n["title"].as_str().unwrap()).collect();
    titles.sort();
    assert_eq!(titles, ["Situation report 2", "Situation report 3"]);
}
