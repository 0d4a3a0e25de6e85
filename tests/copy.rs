//! `tributary copy`: a populated SQLite hub moves to PostgreSQL with everything it holds, and the
//! change log goes on there without reusing a sequence.

mod helpers;

use std::collections::BTreeMap;
use std::process::Command;

use helpers::postgres::TestDatabase;
use helpers::{rss, spawn_app_with};
use tributary::access::Scope;
use tributary::model::{ChangeFilter, NewToken, NewWebhook, OrgId, TokenRole, Visibility};
use tributary::store::{ItemFilter, ItemOrder, PageRequest, PgStore, Store};

const ADMIN: &str = "trb_admin_secret_for_the_copy_test";

/// Every change in the log, by sequence: (item, kind, version).
async fn change_log(store: &dyn Store) -> BTreeMap<i64, (String, String, i64)> {
    let filter = ChangeFilter { include_backfill: true, include_duplicates: true, ..ChangeFilter::default() };
    let mut out = BTreeMap::new();
    let mut after = None;
    loop {
        let page = store.changes_page(&Scope::System, &filter, &PageRequest { first: 100, after }).await.unwrap();
        for (_, c) in &page.edges {
            out.insert(c.sequence, (c.item.0.clone(), c.kind.as_str().to_string(), c.version));
        }
        if !page.has_next_page {
            return out;
        }
        after = page.edges.last().map(|(cursor, _)| cursor.clone());
    }
}

/// Every live item: id → (title, version, categories, countries).
async fn items(store: &dyn Store) -> BTreeMap<String, (String, i64, String, String)> {
    let filter = ItemFilter { include_duplicates: true, ..ItemFilter::default() };
    let mut out = BTreeMap::new();
    let mut after = None;
    loop {
        let page = store
            .items_page(&Scope::System, &filter, ItemOrder::PublishedAsc, &PageRequest { first: 100, after })
            .await
            .unwrap();
        for (_, i) in &page.edges {
            let categories = i.categories.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(" ");
            let countries = i.countries.iter().map(|c| c.code.as_str()).collect::<Vec<_>>().join(" ");
            out.insert(i.id.0.clone(), (i.title.clone(), i.version, categories, countries));
        }
        if !page.has_next_page {
            return out;
        }
        after = page.edges.last().map(|(cursor, _)| cursor.clone());
    }
}

fn copy(from: &str, to: &str) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(["copy", "--from", from, "--to", to])
        .env("TRIBUTARY_LOG", "warn")
        .env_remove("RUST_LOG")
        .output()
        .expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_populated_sqlite_hub_moves_to_postgres_with_its_history() {
    // Arrange: a SQLite hub with two feeds (one NETWORK), updated items, a token and a webhook.
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite:{}", dir.path().join("small.db").display());
    let url = sqlite.clone();
    let app = spawn_app_with(move |s| s.database_url = url).await;
    let entries: Vec<(String, String)> =
        (0..40).map(|i| (format!("it-{i}"), format!("Italy closes the Lampedusa route {i} by decree"))).collect();
    let feed_items: Vec<(&str, &str, &str, &str)> = entries
        .iter()
        .map(|(guid, title)| {
            (guid.as_str(), title.as_str(), "Arrivals from Libya fell.", "Mon, 02 Nov 2026 10:00:00 GMT")
        })
        .collect();
    app.feeds.set("it.xml", &rss(&feed_items));
    app.feeds.set(
        "fr.xml",
        &rss(&[(
            "fr-1",
            "Réfugiés à Calais",
            "La Croix-Rouge française ouvre un centre.",
            "Tue, 03 Nov 2026 09:00:00 GMT",
        )]),
    );
    app.add_feed("IT", "it.xml").await;
    app.add_feed_with("FR", &app.feeds.url("fr.xml"), Visibility::Network).await;
    app.poll_due().await;
    let mut changed = feed_items.clone();
    changed[3].2 = "Arrivals from Libya rose again.";
    app.feeds.set("it.xml", &rss(&changed));
    let all = PageRequest { first: 10, after: None };
    let it_feed = app.store.feeds_page(&Scope::System, &Default::default(), &all).await.unwrap().edges.remove(0).1;
    app.poll_feed(it_feed.id).await;
    app.token(
        ADMIN,
        NewToken { name: "operator".into(), role: TokenRole::Admin, organisation: None, networks: vec![] },
    )
    .await;
    let token = app.store.tokens().await.unwrap().remove(0);
    app.store
        .create_webhook(&NewWebhook {
            organisation: Some(OrgId("IT".into())),
            token: token.id,
            url: "https://receiver.example.org/hook".into(),
            filter: ChangeFilter::default(),
            secret: "whsec_dGVzdA==".into(),
        })
        .await
        .unwrap();
    let before_items = items(app.store.as_ref()).await;
    let before_changes = change_log(app.store.as_ref()).await;
    let hub_number = app.store.hub_number().await.unwrap();
    assert_eq!(before_items.len(), 41);
    assert!(before_changes.len() >= 42, "{} changes", before_changes.len());
    drop(app);

    // Act: copy into a fresh PostgreSQL database.
    let database = TestDatabase::create().await;
    let (ok, out, err) = tokio::task::block_in_place(|| copy(&sqlite, &database.url));
    assert!(ok, "copy failed: {err}");
    assert!(out.contains("every row arrived"), "{out}");
    assert!(err.contains("items: 41 rows copied"), "a line per table: {err}");

    // Assert: every item, change, token and webhook arrived, and the log goes on after them.
    let pg = PgStore::connect(&database.url).await.unwrap();
    assert_eq!(items(&pg).await, before_items);
    assert_eq!(change_log(&pg).await, before_changes);
    assert_eq!(pg.hub_number().await.unwrap(), hub_number, "the hub keeps its id");
    let viewer = pg.authenticate(&tributary::model::secret_hash(ADMIN)).await.unwrap();
    assert!(viewer.is_some(), "the token's secret still authenticates");
    let webhooks = pg.webhooks(None).await.unwrap();
    assert_eq!((webhooks.len(), webhooks[0].secret.as_str()), (1, "whsec_dGVzdA=="));
    let search = tributary::store::SearchQuery::parse("lampedusa").unwrap();
    let found = pg
        .items_page(
            &Scope::System,
            &ItemFilter { search: Some(search), ..ItemFilter::default() },
            ItemOrder::Relevance,
            &PageRequest { first: 100, after: None },
        )
        .await
        .unwrap();
    assert_eq!(found.total_count, 40, "copied items are searchable");

    drop(pg);

    // A copy cut short goes on where it stopped: the last changes are removed, as if
    // the copy had stopped there, and copying again brings back exactly those.
    let admin = sqlx::PgPool::connect(&database.url).await.unwrap();
    let last = *before_changes.keys().last().unwrap();
    sqlx::query("DELETE FROM changes WHERE sequence > $1").bind(last - 5).execute(&admin).await.unwrap();
    admin.close().await;
    let (ok, out, err) = tokio::task::block_in_place(|| copy(&sqlite, &database.url));
    assert!(ok, "copy failed: {err}");
    assert!(err.contains("changes: 5 rows copied"), "{err}");
    assert!(out.contains("every row arrived"), "{out}");
    let pg = PgStore::connect(&database.url).await.unwrap();
    assert_eq!(
        change_log(&pg).await.keys().copied().collect::<Vec<_>>(),
        before_changes.keys().copied().collect::<Vec<_>>()
    );

    let fr = pg.feeds_page(&Scope::System, &Default::default(), &PageRequest { first: 10, after: None }).await.unwrap();
    let fr_feed = fr.edges.iter().map(|(_, f)| f).find(|f| f.organisation.0 == "FR").unwrap().clone();
    let more = connectors::Connector::Rss
        .parse(
            rss(&[("fr-2", "Nouvelle route", "Des bateaux partent de Mauritanie.", "Wed, 04 Nov 2026 09:00:00 GMT")])
                .as_bytes(),
            &connectors::FeedContext::default(),
        )
        .unwrap()
        .items;
    let report = pg.ingest(&fr_feed, &more, &Default::default(), 100).await.unwrap();
    assert_eq!(report.last_sequence, Some(last + 1), "the change sequence goes on without reuse");
    let new_feed = pg
        .add_feed(&tributary::model::NewFeed::new(
            OrgId("ES".into()),
            tributary::model::FeedUrl::parse("https://cruzroja.example.org/feed.xml").unwrap(),
            900,
        ))
        .await
        .unwrap();
    assert!(new_feed.id.0 > fr_feed.id.0.max(it_feed.id.0), "feed ids go on too");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_copy_into_another_hubs_database_is_refused() {
    let database = TestDatabase::create().await;
    let pg = PgStore::connect(&database.url).await.unwrap();
    pg.migrate().await.unwrap();
    pg.seed(&tributary::seed::Seed::bundled().unwrap()).await.unwrap();
    pg.add_feed(&tributary::model::NewFeed::new(
        OrgId("PT".into()),
        tributary::model::FeedUrl::parse("https://cruzvermelha.example.org/rss").unwrap(),
        900,
    ))
    .await
    .unwrap();
    drop(pg);
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite:{}", dir.path().join("small.db").display());
    let url = sqlite.clone();
    let app = spawn_app_with(move |s| s.database_url = url).await;
    app.feeds.set("a.xml", &rss(&[("a", "A title", "A summary", "Mon, 02 Nov 2026 10:00:00 GMT")]));
    app.add_feed("IT", "a.xml").await;
    drop(app);
    let (ok, _, err) = tokio::task::block_in_place(|| copy(&sqlite, &database.url));
    assert!(!ok);
    assert!(err.contains("already holds another hub's data"), "{err}");
}
