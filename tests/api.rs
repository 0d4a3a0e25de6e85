//! End-to-end: the real server on port 0, a fresh SQLite file, and a local feed server.

mod helpers;

use helpers::ws::{Protocol, WsClient};
use helpers::{rss, spawn_app, spawn_app_with, spawn_demo_app};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tributary::metrics::PollOutcome;

const ITEMS: &str = "query($first: Int!, $after: String, $filter: ItemFilter, $order: ItemOrder) {
  items(first: $first, after: $after, filter: $filter, orderBy: $order) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id title language version classification { category categories source terms }
      countries { country } organisation { code } feed { id } } }
  }
}";

fn titles(data: &Value) -> Vec<String> {
    let mut t: Vec<String> = data["items"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["title"].as_str().unwrap().to_string())
        .collect();
    t.sort();
    t
}

async fn two_feeds(app: &helpers::TestApp) -> (String, String) {
    app.feeds.set(
        "it.xml",
        &rss(&[
            (
                "a1",
                "Border closure pushes migrants to the Central Mediterranean route",
                "Arrivals in Italy from Libya rose sharply.",
                "Mon, 02 Nov 2026 10:00:00 GMT",
            ),
            (
                "a2",
                "New asylum law adopted in Greece",
                "The parliament adopted a decree changing the asylum procedure.",
                "Tue, 03 Nov 2026 10:00:00 GMT",
            ),
            (
                "a3",
                "Appel de fonds pour l'accueil des migrants en France",
                "La Croix-Rouge lance un appel de fonds pour les centres d'accueil.",
                "Wed, 04 Nov 2026 10:00:00 GMT",
            ),
        ]),
    );
    app.feeds.set(
        "co.xml",
        &rss(&[(
            "b1",
            "Cierre de la frontera en el Darién",
            "Migrantes de Venezuela cruzan hacia Panamá por una nueva ruta tras el cierre de la frontera.",
            "Thu, 05 Nov 2026 10:00:00 GMT",
        )]),
    );
    let it = app.add_feed("IT", "it.xml").await;
    let co = app.add_feed("CO", "co.xml").await;
    let reports = app.poll_due().await;
    assert_eq!(reports.len(), 2);
    assert!(reports.iter().all(|r| r.outcome == PollOutcome::Updated), "{reports:?}");
    let ids = app.data("{ feeds(first: 10) { nodes { id url } } }", json!({})).await;
    let id_of = |suffix: &str| {
        ids["feeds"]["nodes"].as_array().unwrap().iter().find(|f| f["url"].as_str().unwrap().ends_with(suffix)).unwrap()
            ["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let _ = (it, co);
    (id_of("it.xml"), id_of("co.xml"))
}

#[tokio::test]
async fn a_polled_feed_is_queryable_with_every_filter() {
    let app = spawn_app().await;
    let (_it_feed, co_feed) = two_feeds(&app).await;
    let q = |filter: Value| {
        let app = &app;
        async move { app.data(ITEMS, json!({ "first": 10, "filter": filter })).await }
    };

    let all = q(json!({})).await;
    assert_eq!(all["items"]["totalCount"], 4);

    let perco = q(json!({ "networks": ["perco"] })).await;
    assert_eq!(perco["items"]["totalCount"], 3, "Italy's feed only: {perco:#}");
    assert_eq!(q(json!({ "networks": ["americas"] })).await["items"]["totalCount"], 0);

    assert_eq!(titles(&q(json!({ "societies": ["CO"] })).await), ["Cierre de la frontera en el Darién"]);
    assert_eq!(q(json!({ "societies": ["COL"] })).await["items"]["totalCount"], 1, "alpha-3 is accepted");

    assert_eq!(
        titles(&q(json!({ "countries": ["LY"] })).await),
        ["Border closure pushes migrants to the Central Mediterranean route"]
    );
    assert_eq!(titles(&q(json!({ "countries": ["VEN"] })).await), ["Cierre de la frontera en el Darién"]);

    let regulatory = titles(&q(json!({ "categories": ["REGULATORY_CHANGE"] })).await);
    assert!(regulatory.contains(&"New asylum law adopted in Greece".to_string()), "{regulatory:?}");
    let routes = titles(&q(json!({ "categories": ["ROUTE_CHANGE"] })).await);
    assert!(routes.contains(&"Cierre de la frontera en el Darién".to_string()), "{routes:?}");
    assert!(!routes.contains(&"New asylum law adopted in Greece".to_string()), "{routes:?}");

    assert_eq!(
        titles(&q(json!({ "languages": ["fr"] })).await),
        ["Appel de fonds pour l'accueil des migrants en France"]
    );
    assert_eq!(titles(&q(json!({ "languages": ["es"] })).await), ["Cierre de la frontera en el Darién"]);

    assert_eq!(q(json!({ "feeds": [co_feed] })).await["items"]["totalCount"], 1);

    assert_eq!(q(json!({ "publishedSince": "2026-11-04T00:00:00Z" })).await["items"]["totalCount"], 2);
    assert_eq!(
        titles(&q(json!({ "publishedBefore": "2026-11-03T00:00:00Z" })).await),
        ["Border closure pushes migrants to the Central Mediterranean route"]
    );

    assert_eq!(titles(&q(json!({ "search": "asylum" })).await), ["New asylum law adopted in Greece"]);
    assert_eq!(
        titles(&q(json!({ "search": "\"central mediterranean\"" })).await),
        ["Border closure pushes migrants to the Central Mediterranean route"]
    );
    assert_eq!(q(json!({ "search": "darien OR greece" })).await["items"]["totalCount"], 2, "diacritics are folded");
    assert_eq!(
        titles(&q(json!({ "search": "migrants -libya" })).await),
        ["Appel de fonds pour l'accueil des migrants en France"]
    );
    assert_eq!(
        titles(&q(json!({ "networks": ["perco"], "languages": ["en"], "categories": ["REGULATORY_CHANGE"] })).await),
        ["New asylum law adopted in Greece"],
        "filters combine with AND"
    );
}

#[tokio::test]
async fn pages_are_stable_and_complete() {
    let app = spawn_app().await;
    two_feeds(&app).await;
    let first = app.data(ITEMS, json!({ "first": 3 })).await;
    assert_eq!(first["items"]["pageInfo"]["hasNextPage"], true);
    let after = first["items"]["pageInfo"]["endCursor"].clone();
    let second = app.data(ITEMS, json!({ "first": 3, "after": after })).await;
    assert_eq!(second["items"]["pageInfo"]["hasNextPage"], false);
    let mut seen = titles(&first);
    seen.extend(titles(&second));
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 4, "every item exactly once across pages");
    let newest = first["items"]["edges"][0]["node"]["title"].as_str().unwrap();
    assert_eq!(newest, "Cierre de la frontera en el Darién", "newest first by default");
    let oldest = app.data(ITEMS, json!({ "first": 1, "order": "PUBLISHED_ASC" })).await;
    assert_eq!(
        oldest["items"]["edges"][0]["node"]["title"],
        "Border closure pushes migrants to the Central Mediterranean route"
    );

    let wrong = app.graphql(ITEMS, json!({ "first": 3, "after": "Y2hhbmdlc3wx" })).await;
    assert_eq!(wrong["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "a cursor of another connection");
    let too_many = app.graphql(ITEMS, json!({ "first": 101 })).await;
    assert_eq!(too_many["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
}

#[tokio::test]
async fn items_with_equal_dates_page_one_at_a_time_in_every_order() {
    let app = spawn_app().await;
    let same = "Mon, 02 Nov 2026 10:00:00 GMT";
    app.feeds.set(
        "ties.xml",
        &rss(&[
            ("t1", "Route a", "x", same),
            ("t2", "Route b", "x", same),
            ("t3", "Route c", "x", same),
            ("t4", "Route d", "x", same),
            ("t5", "Route e", "x", same),
        ]),
    );
    app.add_feed("IT", "ties.xml").await;
    app.poll_due().await;
    for (order, search) in
        [("PUBLISHED_DESC", None), ("PUBLISHED_ASC", None), ("UPDATED_DESC", None), ("RELEVANCE", Some("route"))]
    {
        let mut seen = Vec::new();
        let mut after = Value::Null;
        loop {
            let vars = json!({ "first": 1, "after": after, "order": order, "filter": { "search": search } });
            let page = app.data(ITEMS, vars).await;
            seen.extend(titles(&page));
            if page["items"]["pageInfo"]["hasNextPage"] == false {
                break;
            }
            after = page["items"]["pageInfo"]["endCursor"].clone();
            assert!(seen.len() <= 5, "{order}: paging does not end: {seen:?}");
        }
        seen.sort();
        assert_eq!(seen, ["Route a", "Route b", "Route c", "Route d", "Route e"], "{order}");
    }
}

#[tokio::test]
async fn a_second_poll_answered_304_writes_nothing() {
    let app = spawn_app().await;
    app.feeds.set_with_etag(
        "feed.xml",
        &rss(&[("x", "Route change at the border", "Text", "Mon, 02 Nov 2026 10:00:00 GMT")]),
        "\"v1\"",
    );
    let feed = app.add_feed("IT", "feed.xml").await;
    assert_eq!(app.poll_due().await[0].outcome, PollOutcome::Updated);
    let changes = "{ changes(first: 100, filter: { includeBackfill: true }) { totalCount } }";
    let before = app.data(changes, json!({})).await;
    let version_before = app.store.data_version();

    let report = app.poll_feed(feed.id).await;

    assert_eq!(report.outcome, PollOutcome::NotModified);
    assert_eq!(app.feeds.hits("feed.xml"), (2, 1), "the second request was conditional");
    assert_eq!(app.data(changes, json!({})).await, before);
    assert_eq!(app.store.data_version(), version_before, "nothing visible was written");
}

#[tokio::test]
async fn an_unchanged_body_without_validators_writes_nothing() {
    let app = spawn_app().await;
    app.feeds.set("feed.xml", &rss(&[("x", "Title", "Text", "Mon, 02 Nov 2026 10:00:00 GMT")]));
    let feed = app.add_feed("IT", "feed.xml").await;
    app.poll_due().await;
    let version_before = app.store.data_version();
    let report = app.poll_feed(feed.id).await;
    assert_eq!(report.outcome, PollOutcome::Unchanged);
    assert_eq!(app.store.data_version(), version_before);
}

#[tokio::test]
async fn a_changed_entry_produces_version_2_and_an_updated_change() {
    let app = spawn_app().await;
    app.feeds.set("feed.xml", &rss(&[("x", "New decree on asylum", "First text", "Mon, 02 Nov 2026 10:00:00 GMT")]));
    let feed = app.add_feed("IT", "feed.xml").await;
    app.poll_due().await;
    let item = "{ items(first: 1) { nodes { id title summary version } } }";
    assert_eq!(app.data(item, json!({})).await["items"]["nodes"][0]["version"], 1);

    app.feeds
        .set("feed.xml", &rss(&[("x", "New decree on asylum", "Corrected text", "Mon, 02 Nov 2026 10:00:00 GMT")]));
    let report = app.poll_feed(feed.id).await;

    assert_eq!(report.outcome, PollOutcome::Updated);
    assert_eq!((report.ingest.created, report.ingest.updated), (0, 1));
    let after = app.data(item, json!({})).await;
    assert_eq!(after["items"]["nodes"][0]["version"], 2, "the cache never serves the old version");
    assert_eq!(after["items"]["nodes"][0]["summary"], "Corrected text");
    let live = app.data("{ changes(first: 10) { nodes { kind backfill version item { summary } } } }", json!({})).await;
    assert_eq!(
        live["changes"]["nodes"],
        json!([{ "kind": "UPDATED", "backfill": false, "version": 2, "item": { "summary": "Corrected text" } }]),
        "the first import is backfill and hidden by default; the update is not"
    );
    let all = app
        .data(
            "{ changes(first: 10, filter: { includeBackfill: true }) { nodes { sequence kind backfill } } }",
            json!({}),
        )
        .await;
    let kinds: Vec<(i64, &str, bool)> = all["changes"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["sequence"].as_i64().unwrap(), c["kind"].as_str().unwrap(), c["backfill"].as_bool().unwrap()))
        .collect();
    assert_eq!(kinds.len(), 2);
    assert!(kinds[0].0 < kinds[1].0);
    assert_eq!((kinds[0].1, kinds[0].2, kinds[1].1), ("CREATED", true, "UPDATED"));
}

#[tokio::test]
async fn a_malformed_feed_fails_alone_and_recovers_when_fixed() {
    let app = spawn_app().await;
    app.feeds.set("good.xml", &rss(&[("g", "Good item", "Text", "Mon, 02 Nov 2026 10:00:00 GMT")]));
    app.feeds.set("bad.xml", "<html><body>Our site moved</body></html>");
    app.add_feed("IT", "good.xml").await;
    let bad = app.add_feed("FR", "bad.xml").await;

    let reports = app.poll_due().await;

    let outcome = |id| reports.iter().find(|r| r.feed.id == id).unwrap().outcome;
    assert_eq!(outcome(bad.id), PollOutcome::Failed);
    let feeds =
        "{ feeds(first: 10, filter: { states: [FAILING] }) { nodes { url state lastError errorCount nextRetryAt } } }";
    let failing = app.data(feeds, json!({})).await;
    let node = &failing["feeds"]["nodes"][0];
    assert_eq!(failing["feeds"]["nodes"].as_array().unwrap().len(), 1);
    assert!(node["url"].as_str().unwrap().ends_with("bad.xml"));
    assert!(node["lastError"].as_str().unwrap().contains("not a valid feed"), "{node}");
    assert_eq!(node["errorCount"], 1);
    assert!(node["nextRetryAt"].is_string());
    assert_eq!(app.data("{ items(first: 10) { totalCount } }", json!({})).await["items"]["totalCount"], 1);

    app.feeds.set("bad.xml", &rss(&[("f", "Fixed item", "Text", "Mon, 02 Nov 2026 11:00:00 GMT")]));
    let report = app.poll_feed(bad.id).await;

    assert_eq!(report.outcome, PollOutcome::Updated);
    let states = app.data("{ feeds(first: 10) { nodes { state errorCount lastError } } }", json!({})).await;
    for f in states["feeds"]["nodes"].as_array().unwrap() {
        assert_eq!(f["state"], "ACTIVE");
        assert_eq!(f["errorCount"], 0);
        assert!(f["lastError"].is_null());
    }
    assert_eq!(app.data("{ items(first: 10) { totalCount } }", json!({})).await["items"]["totalCount"], 2);
}

#[tokio::test]
async fn the_background_poller_ingests_a_feed_as_soon_as_it_is_woken() {
    let app = spawn_app_with(|s| s.poll.enabled = true).await;
    let mut reports = app.poller.reports();
    app.feeds
        .set("feed.xml", &rss(&[("x", "Border closure on the Balkan route", "Text", "Mon, 02 Nov 2026 10:00:00 GMT")]));
    app.add_feed("IT", "feed.xml").await;

    app.poller.waker().notify_one();
    let report = tokio::time::timeout(std::time::Duration::from_secs(30), reports.recv())
        .await
        .expect("the poller reports within 30 s")
        .expect("a report");

    assert_eq!(report.outcome, PollOutcome::Updated);
    let items = app.data("{ items(first: 5) { nodes { title route } } }", json!({})).await;
    assert_eq!(items["items"]["nodes"][0]["route"], "Western Balkans");
}

#[tokio::test]
async fn feeds_of_one_host_are_fetched_at_most_per_host_concurrency_at_once() {
    let app = spawn_app_with(|s| {
        s.poll.per_host_concurrency = 2;
        s.poll.concurrency = 16;
    })
    .await;
    app.feeds.slow_down(std::time::Duration::from_millis(150));
    for n in 0..6 {
        let path = format!("{n}.xml");
        app.feeds.set(&path, &rss(&[(&format!("g{n}"), "Item", "Text", "Mon, 02 Nov 2026 10:00:00 GMT")]));
        app.add_feed("IT", &path).await;
    }

    let reports = app.poll_due().await;

    assert_eq!(reports.len(), 6);
    assert!(reports.iter().all(|r| r.outcome == PollOutcome::Updated), "{reports:?}");
    assert_eq!(app.feeds.max_in_flight(), 2, "two at a time from one host, and no fewer");
}

#[tokio::test]
async fn http_errors_mark_the_feed_failing_with_the_status() {
    let app = spawn_app().await;
    let missing = app.add_feed("IT", "missing.xml").await;
    let report = app.poll_feed(missing.id).await;
    assert_eq!(report.outcome, PollOutcome::Failed);
    assert_eq!(report.error.as_deref(), Some("the server answered HTTP 404 Not Found"));
}

#[tokio::test]
async fn private_addresses_are_refused_by_the_ssrf_guard() {
    let app = spawn_app().await;
    let other_port = app.add_feed_with("IT", "http://127.0.0.1:1/feed.xml", tributary::model::Visibility::Public).await;
    let by_name = app
        .add_feed_with(
            "IT",
            &format!("http://localhost:{}/feed.xml", app.feeds.address.port()),
            tributary::model::Visibility::Public,
        )
        .await;
    app.feeds.redirect("hop.xml", "http://169.254.169.254/latest/meta-data/");
    let redirected = app.add_feed("IT", "hop.xml").await;

    for (feed, expected) in
        [(other_port, "not a public address"), (by_name, "this machine"), (redirected, "not a public address")]
    {
        let report = app.poll_feed(feed.id).await;
        assert_eq!(report.outcome, PollOutcome::Failed);
        let reason = report.error.unwrap();
        assert!(reason.contains(expected), "{}: {reason}", feed.url.as_str());
    }
}

#[tokio::test]
async fn a_page_of_items_with_organisation_and_feed_costs_a_constant_number_of_queries() {
    let app = spawn_app().await;
    for (n, org) in ["IT", "FR", "ES"].iter().enumerate() {
        let items: Vec<(String, String)> =
            (0..20).map(|i| (format!("{org}-{i}"), format!("Item {i} of {org}"))).collect();
        let refs: Vec<(&str, &str, &str, &str)> =
            items.iter().map(|(g, t)| (g.as_str(), t.as_str(), "Text", "Mon, 02 Nov 2026 10:00:00 GMT")).collect();
        app.feeds.set(&format!("{n}.xml"), &rss(&refs));
        app.add_feed(org, &format!("{n}.xml")).await;
    }
    app.poll_due().await;
    let cost = |first: usize| {
        let app = &app;
        async move {
            let before = app.store.query_count();
            let q =
                format!("{{ items(first: {first}) {{ nodes {{ title organisation {{ name }} feed {{ url }} }} }} }}");
            let data = app.data(&q, json!({})).await;
            assert_eq!(data["items"]["nodes"].as_array().unwrap().len(), first);
            app.store.query_count() - before
        }
    };
    // Background work (the change fan-out, webhook deliveries) wakes after each write and may
    // count a query or two meanwhile: the least of three measurements is the page's own cost.
    let mut small = u64::MAX;
    let mut large = u64::MAX;
    for _ in 0..3 {
        small = small.min(cost(2).await);
        large = large.min(cost(60).await);
    }
    assert_eq!(small, large, "queries must not grow with the page");
    assert!(small <= 3, "{small} queries for one page (the page, organisations, feeds)");
}

#[tokio::test]
async fn the_http_transport_follows_graphql_over_http() {
    let app = spawn_app().await;
    let client = &app.client;
    let url = app.url("/graphql");

    let get = client.get(format!("{url}?query=%7Bnetworks%7Bslug%7D%7D")).send().await.unwrap();
    assert_eq!(get.status(), StatusCode::OK);
    let body: Value = get.json().await.unwrap();
    assert_eq!(body["data"]["networks"][0]["slug"], "perco");

    let mutation = client.get(format!("{url}?query=mutation%20%7B%20x%20%7D")).send().await.unwrap();
    assert_eq!(mutation.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(mutation.headers()["allow"], "POST");

    let html = client
        .post(&url)
        .header("accept", "text/html")
        .json(&json!({ "query": "{ viewer { role } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(html.status(), StatusCode::NOT_ACCEPTABLE);

    let invalid = json!({ "query": "{ nope }" });
    let strict =
        client.post(&url).header("accept", "application/graphql-response+json").json(&invalid).send().await.unwrap();
    assert_eq!(strict.status(), StatusCode::BAD_REQUEST);
    assert_eq!(strict.headers()["content-type"], "application/graphql-response+json; charset=utf-8");
    let body: Value = strict.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert!(body.get("data").is_none(), "a request that was not executed has no data entry: {body}");
    let legacy = client.post(&url).header("accept", "application/json").json(&invalid).send().await.unwrap();
    assert_eq!(legacy.status(), StatusCode::OK);
    assert_eq!(legacy.headers()["content-type"], "application/json; charset=utf-8");

    let text = client.post(&url).header("content-type", "text/plain").body("{ viewer { role } }").send().await.unwrap();
    assert_eq!(text.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let broken = client.post(&url).header("content-type", "application/json").body("{not json").send().await.unwrap();
    assert_eq!(broken.status(), StatusCode::BAD_REQUEST);

    let huge = json!({ "query": format!("{{ viewer {{ role }} }} # {}", "x".repeat(300 * 1024)) });
    let too_large = client.post(&url).json(&huge).send().await.unwrap();
    assert_eq!(too_large.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = too_large.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "PAYLOAD_TOO_LARGE");

    let viewer = app.data("{ viewer { role organisation { name } } }", json!({})).await;
    assert_eq!(viewer, json!({ "viewer": { "role": "ANONYMOUS", "organisation": null } }));
}

#[tokio::test]
async fn writes_by_another_process_reach_the_cache_within_a_refresh() {
    let app = spawn_app().await;
    let members = "{ network(slug: \"americas\") { members { organisation { code } } } }";
    assert_eq!(app.data(members, json!({})).await["network"]["members"], json!([]));

    // The operator's CLI is another process with its own connection to the same database.
    let cli = tributary::store::connect(&app.database_url, &Default::default()).await.unwrap();
    cli.set_membership(&tributary::model::Membership {
        network: "americas".into(),
        organisation: tributary::model::OrgId("CO".into()),
        role: tributary::model::MemberRole::Member,
        source: Some("test".into()),
    })
    .await
    .unwrap();
    // What the server's once-a-second task does.
    app.store.refresh_data_version().await.unwrap();

    assert_eq!(app.data(members, json!({})).await["network"]["members"], json!([{ "organisation": { "code": "CO" } }]));
}

#[tokio::test]
async fn depth_and_complexity_limits_answer_with_codes() {
    let app = spawn_app_with(|s| s.api.max_complexity = 500).await;
    let deep = "{ items(first: 1) { nodes { feed { organisation { networks { members { organisation { networks { members { organisation { networks { members { organisation { networks { members { organisation { name } } } } } } } } } } } } } } } } }";
    let response = app.graphql(deep, json!({})).await;
    assert_eq!(response["errors"][0]["extensions"]["code"], "QUERY_TOO_DEEP", "{response}");

    let complex =
        "{ items(first: 100) { nodes { title summary url language feed { url title } organisation { name code } } } }";
    let response = app.graphql(complex, json!({})).await;
    assert_eq!(response["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX", "{response}");

    let response = app.graphql(INTROSPECTION, json!({})).await;
    assert!(response.get("errors").is_none(), "GraphiQL's introspection passes the limits: {response}");
    assert_eq!(response["data"]["__schema"]["queryType"]["name"], "Query");
}

#[tokio::test]
async fn node_resolves_every_global_id_and_country_codes_are_validated() {
    let app = spawn_app().await;
    two_feeds(&app).await;
    let ids = app
        .data("{ items(first: 1) { nodes { id feed { id } organisation { id } } } networks { id } }", json!({}))
        .await;
    let item = &ids["items"]["nodes"][0];
    for (id, typename) in [
        (&item["id"], "Item"),
        (&item["feed"]["id"], "Feed"),
        (&item["organisation"]["id"], "Society"),
        (&ids["networks"][0]["id"], "Network"),
    ] {
        let node = app.data("query($id: ID!) { node(id: $id) { __typename id } }", json!({ "id": id })).await;
        assert_eq!(node["node"]["__typename"], typename);
        assert_eq!(&node["node"]["id"], id);
    }
    let ifrc = app.data("{ organisations(kind: IFRC) { id } }", json!({})).await;
    let node = app
        .data("query($id: ID!) { node(id: $id) { __typename } }", json!({ "id": ifrc["organisations"][0]["id"] }))
        .await;
    assert_eq!(node["node"]["__typename"], "Organisation");

    let society = app.data("{ society(code: \"fra\") { code name networks { slug } } }", json!({})).await;
    assert_eq!(society["society"]["code"], "FR");
    assert_eq!(society["society"]["networks"], json!([{ "slug": "perco" }]));
    let bad = app.graphql("{ society(code: \"France\") { code } }", json!({})).await;
    assert_eq!(bad["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
}

#[tokio::test]
async fn seeded_networks_carry_their_sources() {
    let app = spawn_app().await;
    let data = app
        .data("{ networks { slug founded source members { role source organisation { code } } } societies(region: AMERICAS) { code } }", json!({}))
        .await;
    let slugs: Vec<&str> = data["networks"].as_array().unwrap().iter().map(|n| n["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs, ["perco", "apmn", "americas", "central-asia"]);
    assert_eq!(data["networks"][0]["founded"], "1997");
    for network in data["networks"].as_array().unwrap() {
        for m in network["members"].as_array().unwrap() {
            assert!(m["source"].is_string(), "membership without a source: {m}");
        }
    }
    assert_eq!(data["societies"].as_array().unwrap().len(), 35);
}

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let app = spawn_app().await;
    assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), StatusCode::OK);
    let ready: Value = app.client.get(app.url("/readyz")).send().await.unwrap().json().await.unwrap();
    let expected = if app.database_url.starts_with("postgres") {
        json!({ "database": "ok", "migrations": "applied", "listener": "ok" })
    } else {
        json!({ "database": "ok", "migrations": "applied" })
    };
    assert_eq!(ready, expected);
    app.data("{ viewer { role } }", json!({})).await;
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("tributary_polls_total{outcome=\"failed\"} 0"), "{metrics}");
    assert!(metrics.contains("tributary_http_request_duration_seconds_count{route=\"/graphql\"} 1"), "{metrics}");
    let graphiql = app.client.get(app.url("/graphiql")).send().await.unwrap().text().await.unwrap();
    assert!(graphiql.contains("GraphiQL"));
}

#[tokio::test]
async fn the_demo_serves_and_registers_sample_feeds_that_grow() {
    let app = spawn_demo_app().await;
    let reports = app.poll_due().await;
    assert_eq!(reports.len(), 5, "five sample feeds");
    assert!(reports.iter().all(|r| r.outcome == PollOutcome::Updated), "{reports:?}");
    let languages = app.data("{ items(first: 100) { totalCount nodes { language } } }", json!({})).await;
    let mut langs: Vec<&str> =
        languages["items"]["nodes"].as_array().unwrap().iter().map(|n| n["language"].as_str().unwrap()).collect();
    langs.sort();
    langs.dedup();
    assert_eq!(langs, ["ar", "en", "es", "fr", "ru"]);
    let routes = app
        .data("{ items(first: 1, filter: { categories: [ROUTE_CHANGE] }) { totalCount } r: items(first: 1, filter: { categories: [REGULATORY_CHANGE] }) { totalCount } }", json!({}))
        .await;
    assert!(routes["items"]["totalCount"].as_i64().unwrap() >= 5, "{routes}");
    assert!(routes["r"]["totalCount"].as_i64().unwrap() >= 4, "{routes}");

    app.demo.as_ref().unwrap().tick();
    for feed in app
        .store
        .feeds_by_ids(&tributary::access::Scope::System, &reports.iter().map(|r| r.feed.id).collect::<Vec<_>>())
        .await
        .unwrap()
    {
        app.poll_feed(feed.id).await;
    }
    let live = app.data("{ changes(first: 10) { nodes { kind backfill item { title } } } }", json!({})).await;
    let nodes = live["changes"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1, "one live entry, not backfill: {live}");
    assert_eq!(nodes[0]["kind"], "CREATED");
    assert!(nodes[0]["item"]["title"].as_str().unwrap().ends_with("(#1)"));
}

#[tokio::test]
async fn readme_examples_run_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md");
    let all: Vec<&str> = readme.split("```graphql\n").skip(1).map(|b| b.split("```").next().unwrap()).collect();
    // Schema examples (another subgraph's SDL) are checked to parse as SDL; the rest are operations.
    let is_sdl = |b: &str| {
        b.lines().find(|l| !l.trim().is_empty() && !l.starts_with('#')).is_some_and(|l| l.starts_with("extend schema"))
    };
    for block in all.iter().filter(|b| is_sdl(b)) {
        async_graphql::parser::parse_schema(block).unwrap_or_else(|e| panic!("{e}: {block}"));
    }
    let blocks: Vec<&str> = all.iter().filter(|b| !is_sdl(b)).copied().collect();
    assert!(blocks.len() >= 4, "README has {} GraphQL examples", blocks.len());
    let app = spawn_demo_app().await;
    app.poll_due().await;
    for block in
        blocks.iter().filter(|b| !b.trim_start().starts_with("subscription") && !b.trim_start().starts_with("mutation"))
    {
        let data = app.data(block, json!({})).await;
        assert!(!data.is_null(), "{block}");
    }
    // Mutations run as an admin (they name addresses outside this machine, so what they
    // register may come back in `userErrors`; the request itself must be valid).
    let admin = tributary::model::NewToken {
        name: "README".into(),
        role: tributary::model::TokenRole::Admin,
        organisation: None,
        networks: vec![],
    };
    app.token("trb_test_readme", admin).await;
    for block in blocks.iter().filter(|b| b.trim_start().starts_with("mutation")) {
        let data = app.data_as("trb_test_readme", block, json!({})).await;
        assert!(!data.is_null(), "{block}");
    }
    // Subscriptions run over WebSocket; each replays from the log, so its first event comes at once.
    for block in blocks.iter().filter(|b| b.trim_start().starts_with("subscription")) {
        let mut client = WsClient::connect(&app, Protocol::TransportWs, json!({})).await;
        client.subscribe("1", block, json!({})).await;
        let change = client.next_change("1").await;
        assert!(change["cursor"].is_string(), "{block}: {change}");
    }
    let first = app.data(blocks[0], json!({})).await;
    assert!(first["items"]["totalCount"].as_i64().unwrap() > 0, "the first example finds items in the demo");
}

#[test]
fn readme_mappings_are_valid_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md");
    let mappings: Vec<&str> = readme
        .split("```toml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .filter(|b| b.contains("format = "))
        .collect();
    assert!(mappings.len() >= 2, "README has {} mapping examples", mappings.len());
    for mapping in mappings {
        connectors::mapping::Mapping::parse(mapping).unwrap_or_else(|e| panic!("{e}\n{mapping}"));
    }
}

#[test]
fn schema_graphql_is_what_the_server_serves() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).expect("schema.graphql");
    assert!(
        committed == tributary::graphql::sdl(),
        "schema.graphql is stale: run `cargo run -- schema > schema.graphql`"
    );
}

/// The introspection query GraphiQL sends (graphql-js `getIntrospectionQuery()`), about 13 deep.
const INTROSPECTION: &str = r#"query IntrospectionQuery {
  __schema {
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}"#;
