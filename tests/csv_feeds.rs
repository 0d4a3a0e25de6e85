//! CSV feeds end to end: the real server on port 0, a fresh SQLite file, and a local feed server
//! publishing an HXL-tagged file.

mod helpers;

use helpers::spawn_app;
use serde_json::{json, Value};
use tributary::metrics::PollOutcome;
use tributary::model::{FeedKind, FeedUrl, NewFeed, OrgId};

/// An IOM DTM-style file: two header rows, HXL tags, figures disaggregated by sex and age.
fn displacement(women_at_baidoa: &str) -> String {
    format!(
        "Site id,Country,Origin,Date,Event,IDPs (women),IDPs (children)\n\
         #meta+id,#country+code,#country+name+origin,#date,#event+name+i_en,#affected+idps+f,#affected+idps+children\n\
         s-1,SO,Ethiopia,2026-10-01,Flooding displaces families at Baidoa,{women_at_baidoa},800\n\
         s-2,SO,Kenya,2026-10-02,New arrivals at the border camp,300,120\n"
    )
}

const ITEMS: &str = "{ items(first: 10, orderBy: PUBLISHED_ASC) { totalCount nodes { title version
    countries { country role } figures { measure value unit hxlTag disaggregation } feed { kind } } } }";

async fn add_csv_feed(app: &helpers::TestApp, path: &str, mapping: Option<&str>) -> tributary::model::Feed {
    let url = FeedUrl::parse(&app.feeds.url(path)).unwrap();
    let feed = NewFeed {
        kind: FeedKind::Csv,
        mapping: mapping.map(str::to_string),
        ..NewFeed::new(OrgId("IFRC".into()), url, 900)
    };
    app.store.add_feed(&feed).await.expect("feed registered")
}

#[tokio::test]
async fn an_hxl_csv_feed_is_polled_and_its_rows_are_items_with_figures() {
    let app = spawn_app().await;
    app.feeds.set("dtm.csv", &displacement("\"1,200\""));
    let feed = add_csv_feed(&app, "dtm.csv", None).await;
    let report = app.poll_feed(feed.id).await;
    assert_eq!(report.outcome, PollOutcome::Updated, "{:?}", report.error);
    assert_eq!(report.ingest.created, 2);

    let data = app.data(ITEMS, json!({})).await;
    let first = &data["items"]["nodes"][0];
    assert_eq!(first["title"], "Flooding displaces families at Baidoa · Ethiopia");
    assert_eq!(first["feed"]["kind"], "CSV");
    assert_eq!(
        first["countries"],
        json!([{ "country": "SO", "role": "MENTIONED" }, { "country": "ET", "role": "ORIGIN" }])
    );
    assert_eq!(
        first["figures"],
        json!([
            { "measure": "affected", "value": 1200.0, "unit": "people", "hxlTag": "#affected+idps+f", "disaggregation": ["idps", "f"] },
            { "measure": "affected", "value": 800.0, "unit": "people", "hxlTag": "#affected+idps+children", "disaggregation": ["idps", "children"] },
        ])
    );
    let by_country = app.data("{ items(first: 10, filter: { countries: [\"ETH\"] }) { totalCount } }", json!({})).await;
    assert_eq!(by_country["items"]["totalCount"], 1);
}

#[tokio::test]
async fn republishing_the_file_with_one_changed_figure_makes_exactly_one_updated_change() {
    let app = spawn_app().await;
    app.feeds.set("dtm.csv", &displacement("1200"));
    let feed = add_csv_feed(&app, "dtm.csv", None).await;
    app.poll_feed(feed.id).await;

    app.feeds.set("dtm.csv", &displacement("1250"));
    let report = app.poll_feed(feed.id).await;
    assert_eq!((report.ingest.created, report.ingest.updated, report.ingest.unchanged), (0, 1, 1));

    let changes =
        app.data("{ changes(first: 10) { nodes { kind version item { figures { value } } } } }", json!({})).await;
    assert_eq!(
        changes["changes"]["nodes"],
        json!([{ "kind": "UPDATED", "version": 2, "item": { "figures": [{ "value": 1250.0 }, { "value": 800.0 }] } }])
    );
    let data: Value = app.data(ITEMS, json!({})).await;
    assert_eq!(data["items"]["totalCount"], 2, "the row was updated, not duplicated");
}

#[tokio::test]
async fn a_mapping_that_does_not_fit_the_file_marks_the_feed_failing_with_the_reason() {
    let app = spawn_app().await;
    app.feeds.set("plain.csv", "Ref,Country,Arrivals\nA1,Italy,35\n");
    let mapping = "format = \"csv\"\n[item]\ntitle = \"{Headline}\"";
    let feed = add_csv_feed(&app, "plain.csv", Some(mapping)).await;
    let report = app.poll_feed(feed.id).await;
    assert_eq!(report.outcome, PollOutcome::Failed);
    let reason = report.error.expect("a reason");
    assert!(reason.contains("item.title") && reason.contains("`Headline`") && reason.contains("Arrivals"), "{reason}");

    // Fixed by a mapping that fits (here: registered again at another path), it is read.
    app.feeds.set("plain2.csv", "Ref,Country,Arrivals\nA1,Italy,35\n");
    let fixed = "format = \"csv\"\n[item]\nid = [\"Ref\"]\ntitle = \"Arrivals in {Country}\"\n\
                 countries = [{ column = \"Country\", role = \"DESTINATION\" }]\n[[figures]]\ncolumn = \"Arrivals\"";
    let feed = add_csv_feed(&app, "plain2.csv", Some(fixed)).await;
    assert_eq!(app.poll_feed(feed.id).await.outcome, PollOutcome::Updated);
    let stored = app.store.feeds_by_ids(&tributary::access::Scope::System, &[feed.id]).await.unwrap();
    assert_eq!(stored[0].mapping.as_deref(), Some(fixed), "the mapping is kept with the feed");
}

#[tokio::test]
async fn a_snapshot_feed_withdraws_rows_missing_from_a_complete_fetch() {
    let app = spawn_app().await;
    let mapping = "format = \"csv\"\nsnapshot = true";
    app.feeds.set("sites.csv", &displacement("1200"));
    let feed = add_csv_feed(&app, "sites.csv", Some(mapping)).await;
    app.poll_feed(feed.id).await;

    // s-2 is gone from the file: withdrawn, with a WITHDRAWN change.
    let only_first: String = displacement("1200").lines().take(3).map(|l| format!("{l}\n")).collect();
    app.feeds.set("sites.csv", &only_first);
    let report = app.poll_feed(feed.id).await;
    assert_eq!((report.outcome, report.ingest.withdrawn), (PollOutcome::Updated, 1));
    let data = app.data(ITEMS, json!({})).await;
    assert_eq!(data["items"]["totalCount"], 1);
    let changes =
        app.data("{ changes(first: 10) { nodes { kind version item { title withdrawnAt } } } }", json!({})).await;
    let change = &changes["changes"]["nodes"][0];
    assert_eq!((&change["kind"], &change["version"]), (&json!("WITHDRAWN"), &json!(2)));
    assert_eq!(change["item"]["title"], "New arrivals at the border camp · Kenya");
    assert!(change["item"]["withdrawnAt"].is_string());

    // A fetch with a row that cannot be read withdraws nothing.
    app.feeds.set("sites.csv", &displacement("many"));
    let report = app.poll_feed(feed.id).await;
    assert_eq!(report.ingest.withdrawn, 0);
    let warnings =
        app.data("query($id: ID!) { feed(id: $id) { lastWarnings } }", json!({ "id": gid(&app, feed.id).await })).await;
    let text = warnings["feed"]["lastWarnings"].to_string();
    assert!(text.contains("1 rows could not be read, so nothing missing from this fetch was withdrawn"), "{text}");

    // Published again, the row is back.
    app.feeds.set("sites.csv", &displacement("1200"));
    app.poll_feed(feed.id).await;
    assert_eq!(app.data(ITEMS, json!({})).await["items"]["totalCount"], 2);
}

/// The GraphQL id of a feed.
async fn gid(app: &helpers::TestApp, feed: tributary::model::FeedId) -> String {
    let feeds = app.data("{ feeds(first: 100) { nodes { id url } } }", json!({})).await;
    let url =
        app.store.feeds_by_ids(&tributary::access::Scope::System, &[feed]).await.unwrap()[0].url.as_str().to_string();
    let node =
        feeds["feeds"]["nodes"].as_array().unwrap().iter().find(|n| n["url"] == url.as_str()).expect("listed").clone();
    node["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn figures_are_totalled_by_group_and_unit_over_what_the_viewer_may_see() {
    let app = spawn_app().await;
    app.feeds.set(
        "needs.csv",
        "#meta+id,#country+code,#date,#event,#affected,#affected+f,#value+funding+usd,#value+funding+chf\n\
         a,SO,2026-10-01,Floods,100,60,5000,\n\
         b,SO,2026-10-20,Drought,50,20,,700\n\
         c,KE,2026-11-02,Arrivals,20,,1000,\n",
    );
    add_csv_feed(&app, "needs.csv", None).await;
    // A SOCIETY-only feed: its figures never reach an anonymous dashboard.
    app.feeds.set("private.csv", "#meta+id,#country+code,#date,#event,#affected\nz,SO,2026-10-05,Private,999\n");
    let url = FeedUrl::parse(&app.feeds.url("private.csv")).unwrap();
    let private = NewFeed {
        kind: FeedKind::Csv,
        visibility: tributary::model::Visibility::Society,
        ..NewFeed::new(OrgId("IFRC".into()), url, 900)
    };
    app.store.add_feed(&private).await.unwrap();
    app.poll_due().await;

    let query = "query($m: String!, $g: [FigureGroup!]!, $f: ItemFilter) {
        figures(measure: $m, groupBy: $g, filter: $f) { country month unit total items } }";
    let by_country_month = app.data(query, json!({ "m": "affected", "g": ["COUNTRY", "MONTH"] })).await;
    assert_eq!(
        by_country_month["figures"],
        json!([
            { "country": "SO", "month": "2026-10", "unit": "people", "total": 150.0, "items": 2 },
            { "country": "KE", "month": "2026-11", "unit": "people", "total": 20.0, "items": 1 },
        ])
    );
    let funding = app.data(query, json!({ "m": "value", "g": [] })).await;
    assert_eq!(
        funding["figures"],
        json!([
            { "country": null, "month": null, "unit": "USD", "total": 6000.0, "items": 2 },
            { "country": null, "month": null, "unit": "CHF", "total": 700.0, "items": 1 },
        ]),
        "dollars and francs are never added together"
    );
    // The women among them are a breakdown, asked for by name, never added to the total.
    let women = app
        .data(
            "{ figures(measure: \"affected\", breakdown: [\"f\"], groupBy: [COUNTRY]) { country unit total items } }",
            json!({}),
        )
        .await;
    assert_eq!(women["figures"], json!([{ "country": "SO", "unit": "people", "total": 80.0, "items": 2 }]));
    let kenya = app.data(query, json!({ "m": "affected", "g": ["COUNTRY"], "f": { "countries": ["KEN"] } })).await;
    assert_eq!(
        kenya["figures"],
        json!([{ "country": "KE", "month": null, "unit": "people", "total": 20.0, "items": 1 }])
    );
}

/// A large HXL file of `rows` sites.
fn many_sites(rows: usize) -> String {
    let mut csv = String::from("Site id,Country,Event,IDPs\n#meta+id,#country+code,#event+name+i_en,#affected+idps\n");
    for i in 0..rows {
        csv.push_str(&format!("site-{i},SO,New arrivals at site {i},{}\n", 100 + i));
    }
    csv
}

#[tokio::test]
async fn a_poll_cut_short_is_resumed_where_its_last_chunk_was_stored() {
    let app = spawn_app().await;
    app.feeds.set("sites.csv", &many_sites(5000));
    let feed = add_csv_feed(&app, "sites.csv", None).await;
    // The database refuses one row in the fourth chunk (rows 1,400 to 2,999), as a full disk or a
    // crash would stop a poll midway.
    let refuse = Refusal::install(&app.database_url, "id:site-2500").await;
    let report = app.poll_feed(feed.id).await;
    assert_eq!(report.outcome, PollOutcome::Failed);
    let count = "{ items(first: 1) { totalCount } }";
    assert_eq!(app.data(count, json!({})).await["items"]["totalCount"], 1400, "three chunks were stored");
    let stored = app.store.feeds_by_ids(&tributary::access::Scope::System, &[feed.id]).await.unwrap().remove(0);
    assert_eq!(stored.resume_items, 1400);

    refuse.remove().await;
    let report = app.poll_feed(feed.id).await;
    assert_eq!(report.outcome, PollOutcome::Updated, "{:?}", report.error);
    assert_eq!((report.ingest.resumed, report.ingest.created, report.ingest.unchanged), (1400, 3600, 0));
    assert_eq!(app.data(count, json!({})).await["items"]["totalCount"], 5000);
    let stored = app.store.feeds_by_ids(&tributary::access::Scope::System, &[feed.id]).await.unwrap().remove(0);
    assert_eq!((stored.resume_hash, stored.resume_items), (None, 0), "a complete poll clears the resume point");

    // The same body again is unchanged; a new body starts from its beginning.
    assert_eq!(app.poll_feed(feed.id).await.outcome, PollOutcome::Unchanged);
    app.feeds.set("sites.csv", &many_sites(5001));
    let report = app.poll_feed(feed.id).await;
    assert_eq!((report.ingest.resumed, report.ingest.created, report.ingest.unchanged), (0, 1, 5000));
}

/// A trigger that makes the database refuse to store the item with one source key.
enum Refusal {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Refusal {
    async fn install(database_url: &str, source_key: &str) -> Refusal {
        if database_url.starts_with("sqlite:") {
            let db = sqlx::SqlitePool::connect(database_url).await.unwrap();
            sqlx::query(&format!(
                "CREATE TRIGGER refuse BEFORE INSERT ON items WHEN NEW.source_key = '{source_key}' \
                 BEGIN SELECT RAISE(ABORT, 'refused'); END"
            ))
            .execute(&db)
            .await
            .unwrap();
            Refusal::Sqlite(db)
        } else {
            let db = sqlx::PgPool::connect(database_url).await.unwrap();
            sqlx::query(&format!(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF NEW.source_key = '{source_key}' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$"
            ))
            .execute(&db)
            .await
            .unwrap();
            sqlx::query("CREATE TRIGGER refuse BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION refuse()")
                .execute(&db)
                .await
                .unwrap();
            Refusal::Postgres(db)
        }
    }

    async fn remove(self) {
        match self {
            Refusal::Sqlite(db) => {
                sqlx::query("DROP TRIGGER refuse").execute(&db).await.unwrap();
            }
            Refusal::Postgres(db) => {
                sqlx::query("DROP TRIGGER refuse ON items").execute(&db).await.unwrap();
                db.close().await;
            }
        }
    }
}
