//! Classifications after ingestion: a person's correction kept through later polls, and
//! `reclassify` writing UPDATED changes only where the rules now say something else.

mod helpers;

use helpers::{rss, spawn_app, TestApp};
use serde_json::{json, Value};
use tributary::access::Scope;
use tributary::model::{Category, ClassificationSource, NewToken, OrgId, TokenRole};
use tributary::store::{ChangeFilter, PageRequest, Reclassification};

const DATE: &str = "Mon, 02 Nov 2026 10:00:00 GMT";
const FRENCH: &str = "trb_test_member_fr";

const CLASSIFY: &str = "mutation($id: ID!, $category: Category!, $categories: [Category!]) {
  classifyItem(input: { id: $id, category: $category, categories: $categories }) {
    item { version classification { category categories source terms } }
    userErrors { field message }
  }
}";

async fn tokens(app: &TestApp) {
    for (secret, org) in [(FRENCH, "FR"), ("trb_test_member_it", "IT")] {
        let token = NewToken {
            name: org.into(),
            role: TokenRole::Member,
            organisation: Some(OrgId(org.into())),
            networks: vec![],
        };
        app.token(secret, token).await;
    }
    let reader = NewToken { name: "reader".into(), role: TokenRole::Reader, organisation: None, networks: vec![] };
    app.token("trb_test_reader", reader).await;
}

/// The French feed with one entry, polled; returns the item's id.
async fn one_item(app: &TestApp, title: &str, summary: &str) -> String {
    app.feeds.set("fr.xml", &rss(&[("e1", title, summary, DATE)]));
    app.add_feed("FR", "fr.xml").await;
    app.poll_due().await;
    let data = app.data("{ items(first: 1) { nodes { id } } }", json!({})).await;
    data["items"]["nodes"][0]["id"].as_str().unwrap().to_string()
}

async fn updated_changes(app: &TestApp) -> usize {
    let filter = ChangeFilter {
        kinds: vec![tributary::model::ChangeKind::Updated],
        include_backfill: true,
        ..Default::default()
    };
    let page = app.store.changes_page(&Scope::System, &filter, &PageRequest { first: 100, after: None }).await.unwrap();
    page.edges.len()
}

#[tokio::test]
async fn a_persons_classification_is_kept_through_later_polls_and_announced() {
    let app = spawn_app().await;
    tokens(&app).await;
    let id = one_item(&app, "Volunteers gather in Lyon", "A day with the volunteers.").await;

    let data =
        app.data_as(FRENCH, CLASSIFY, json!({ "id": id, "category": "ROUTE_CHANGE", "categories": ["NEEDS"] })).await;
    let item = &data["classifyItem"]["item"];
    assert_eq!(
        item["classification"],
        json!({ "category": "ROUTE_CHANGE", "categories": ["ROUTE_CHANGE", "NEEDS"], "source": "MANUAL", "terms": [] })
    );
    assert_eq!(item["version"], 2);
    assert_eq!(updated_changes(&app).await, 1, "the correction is announced");
    let found =
        app.data("{ items(first: 5, filter: { categories: [ROUTE_CHANGE] }) { nodes { id } } }", json!({})).await;
    assert_eq!(found["items"]["nodes"][0]["id"], id.as_str(), "the category filter follows the correction");

    // The source changes the entry: the new text is stored, the correction stays.
    app.feeds.set("fr.xml", &rss(&[("e1", "Volunteers gather in Lyon and Grenoble", "Two days.", DATE)]));
    let feed = app
        .store
        .feeds_page(&Scope::System, &Default::default(), &PageRequest { first: 1, after: None })
        .await
        .unwrap();
    app.poll_feed(feed.edges[0].1.id).await;
    let now = app
        .data(
            "query($id: ID!) { item(id: $id) { title version classification { category source } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(now["item"]["title"], "Volunteers gather in Lyon and Grenoble");
    assert_eq!(now["item"]["version"], 3);
    assert_eq!(now["item"]["classification"], json!({ "category": "ROUTE_CHANGE", "source": "MANUAL" }));

    // The same source again changes nothing.
    app.poll_feed(feed.edges[0].1.id).await;
    assert_eq!(updated_changes(&app).await, 2);
}

#[tokio::test]
async fn only_the_publisher_or_an_admin_may_correct_a_classification() {
    let app = spawn_app().await;
    tokens(&app).await;
    let id = one_item(&app, "Volunteers gather in Lyon", "").await;
    let vars = json!({ "id": id, "category": "ROUTE_CHANGE" });
    let italian: Value = app.graphql_as("trb_test_member_it", CLASSIFY, vars.clone()).await.json().await.unwrap();
    assert_eq!(italian["errors"][0]["extensions"]["code"], "FORBIDDEN");
    let reader: Value = app.graphql_as("trb_test_reader", CLASSIFY, vars.clone()).await.json().await.unwrap();
    assert_eq!(reader["errors"][0]["extensions"]["code"], "FORBIDDEN");
    let anonymous = app.graphql(CLASSIFY, vars).await;
    assert_eq!(anonymous["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    let bad = app.data_as(FRENCH, CLASSIFY, json!({ "id": "nope", "category": "ROUTE_CHANGE" })).await;
    assert_eq!(bad["classifyItem"]["userErrors"][0]["field"], json!(["input", "id"]));
    assert_eq!(updated_changes(&app).await, 0);
}

#[tokio::test]
async fn reclassify_writes_updated_changes_only_where_the_rules_now_say_something_else() {
    let app = spawn_app().await;
    tokens(&app).await;
    app.feeds.set(
        "fr.xml",
        &rss(&[
            ("e1", "Border closure at Ventimiglia", "Crossings halted.", DATE),
            ("e2", "New law on asylum procedures adopted", "", DATE),
            ("e3", "Volunteers gather in Lyon", "", DATE),
        ]),
    );
    app.add_feed("FR", "fr.xml").await;
    app.poll_due().await;
    let items = app.data("{ items(first: 5, orderBy: PUBLISHED_ASC) { nodes { id title } } }", json!({})).await;
    let id_of = |title: &str| {
        items["items"]["nodes"].as_array().unwrap().iter().find(|n| n["title"] == title).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let stale = tributary::model::ItemId(decode(&id_of("Border closure at Ventimiglia")));
    // As if older rules had missed the route change (and the stored hash were of their result).
    let old = Reclassification {
        item: stale.clone(),
        category: Category::Other,
        categories: vec![Category::Other],
        source: ClassificationSource::Rule,
        terms: vec![],
        route: None,
        manual: false,
        content_hash: Some("hash under the older rules".into()),
    };
    assert_eq!(app.store.reclassify(&[old]).await.unwrap().len(), 1);
    // A person's correction that the rules disagree with.
    app.data_as(
        FRENCH,
        CLASSIFY,
        json!({ "id": id_of("New law on asylum procedures adopted"), "category": "FUNDING" }),
    )
    .await;
    let before = updated_changes(&app).await;

    let report = tributary::reclassify::run(app.store.as_ref(), |_, _| {}).await.unwrap();
    assert_eq!((report.items, report.changed, report.kept), (3, 1, 1), "{report:?}");
    assert_eq!(updated_changes(&app).await, before + 1, "one UPDATED change, for the one that changed");
    let now = app
        .data(
            "query($id: ID!) { item(id: $id) { classification { category source } } }",
            json!({ "id": id_of("Border closure at Ventimiglia") }),
        )
        .await;
    assert_eq!(now["item"]["classification"], json!({ "category": "ROUTE_CHANGE", "source": "RULE" }));
    let manual = app
        .data(
            "query($id: ID!) { item(id: $id) { classification { category source } } }",
            json!({ "id": id_of("New law on asylum procedures adopted") }),
        )
        .await;
    assert_eq!(manual["item"]["classification"], json!({ "category": "FUNDING", "source": "MANUAL" }));

    // Running it again, or polling the unchanged entries (in a body that changed around them, so
    // they are parsed and compared), changes nothing more.
    let again = tributary::reclassify::run(app.store.as_ref(), |_, _| {}).await.unwrap();
    assert_eq!(again.changed, 0);
    let body = rss(&[
        ("e1", "Border closure at Ventimiglia", "Crossings halted.", DATE),
        ("e2", "New law on asylum procedures adopted", "", DATE),
        ("e3", "Volunteers gather in Lyon", "", DATE),
    ]);
    app.feeds.set("fr.xml", &body.replace("<title>Test feed</title>", "<title>Test feed, renamed</title>"));
    let feed = app
        .store
        .feeds_page(&Scope::System, &Default::default(), &PageRequest { first: 1, after: None })
        .await
        .unwrap();
    let report = app.poll_feed(feed.edges[0].1.id).await;
    assert!(report.error.is_none(), "{report:?}");
    assert_eq!(updated_changes(&app).await, before + 1, "the next poll sees the source unchanged");
}

/// The raw id inside a global item id.
fn decode(global: &str) -> String {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(global).unwrap();
    String::from_utf8(bytes).unwrap().strip_prefix("Item:").unwrap().to_string()
}
