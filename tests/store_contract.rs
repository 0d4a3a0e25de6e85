//! The storage contract: every backend must pass these. `contract!` instantiates the suite for a
//! backend: SQLite, and PostgreSQL in a fresh database on the server `TEST_POSTGRES_URL`
//! names (by default the machine's at 127.0.0.1:5432).

#[path = "helpers/postgres.rs"]
mod postgres_db;

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use connectors::{Connector, FeedContext, NormalisedItem};
use tributary::access::Scope;
use tributary::model::{Feed, FeedUrl, NewFeed, OrgId, Visibility};
use tributary::seed::Seed;
use tributary::store::{
    ChangeFilter, ChunkContext, ClaimLimits, FetchRecord, ItemFilter, ItemOrder, PageRequest, Progress, SearchQuery,
    Store,
};

/// A fresh, migrated, seeded store, and a second one on the same database: another process, or
/// another replica.
pub struct Fixture {
    pub store: Arc<dyn Store>,
    pub another: Arc<dyn Store>,
    _database: Box<dyn std::any::Any + Send>,
}

async fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("contract.db").display());
    let store: Arc<dyn Store> = Arc::new(tributary::store::SqliteStore::connect(&url).await.unwrap());
    store.migrate().await.unwrap();
    store.seed(&Seed::bundled().unwrap()).await.unwrap();
    let another: Arc<dyn Store> = Arc::new(tributary::store::SqliteStore::connect(&url).await.unwrap());
    Fixture { store, another, _database: Box::new(dir) }
}

async fn postgres() -> Fixture {
    let database = postgres_db::TestDatabase::create().await;
    let store: Arc<dyn Store> = Arc::new(tributary::store::PgStore::connect(&database.url).await.unwrap());
    store.migrate().await.unwrap();
    store.seed(&Seed::bundled().unwrap()).await.unwrap();
    let another: Arc<dyn Store> = Arc::new(tributary::store::PgStore::connect(&database.url).await.unwrap());
    Fixture { store, another, _database: Box::new(database) }
}

/// Registers a feed at `path` on feeds.example.org.
async fn feed(store: &dyn Store, org: &str, path: &str, visibility: Visibility) -> Feed {
    try_feed(store, org, &format!("https://feeds.example.org/{path}"), visibility).await.unwrap()
}

/// Registers a feed at `url`, returning the store's answer.
async fn try_feed(
    store: &dyn Store,
    org: &str,
    url: &str,
    visibility: Visibility,
) -> Result<Feed, tributary::store::StoreError> {
    store.add_feed(&NewFeed { visibility, ..NewFeed::new(OrgId(org.into()), FeedUrl::parse(url).unwrap(), 900) }).await
}

fn items(prefix: &str, n: usize, text: &str) -> Vec<NormalisedItem> {
    let mut body = String::from("<rss version=\"2.0\"><channel><title>t</title>");
    for i in 0..n {
        body.push_str(&format!(
            "<item><guid>{prefix}-{i}</guid><title>{prefix} {i} {text}</title><description>{text}</description>\
             <pubDate>Mon, 02 Nov 2026 10:{:02}:00 GMT</pubDate></item>",
            i % 60
        ));
    }
    body.push_str("</channel></rss>");
    Connector::Rss.parse(body.as_bytes(), &FeedContext::default()).unwrap().items
}

fn record() -> FetchRecord {
    FetchRecord { next_check_at: Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap(), ..FetchRecord::default() }
}

async fn all_sequences(store: &dyn Store, after: Option<String>) -> Vec<i64> {
    let filter = ChangeFilter { include_backfill: true, ..ChangeFilter::default() };
    let page = store.changes_page(&Scope::System, &filter, &PageRequest { first: 100, after }).await.unwrap();
    page.edges.iter().map(|(_, c)| c.sequence).collect()
}

pub async fn ingest_is_idempotent(f: Fixture) {
    let s = f.store.as_ref();
    let fd = feed(s, "IT", "a.xml", Visibility::Public).await;
    let batch = items("a", 30, "text");
    let first = s.ingest(&fd, &batch, &record(), 7).await.unwrap();
    assert_eq!((first.created, first.updated, first.unchanged), (30, 0, 0));
    let fd = s.feeds_by_ids(&Scope::System, &[fd.id]).await.unwrap().pop().unwrap();
    let again = s.ingest(&fd, &batch, &record(), 7).await.unwrap();
    assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 30));
    assert_eq!(all_sequences(s, None).await.len(), 30, "no change rows for unchanged items");
}

pub async fn a_chunk_known_to_be_new_is_stored_once(f: Fixture) {
    let s = f.store.as_ref();
    let fd = feed(s, "IT", "a.xml", Visibility::Public).await;
    assert!(!s.has_items(fd.id).await.unwrap());
    let fresh = ChunkContext { backfill: true, all_new: true, ..ChunkContext::default() };
    let batch = items("a", 10, "text");
    let report = s.ingest_chunk(&fd, &batch[..6], fresh).await.unwrap();
    assert_eq!(report.created, 6);
    assert!(s.has_items(fd.id).await.unwrap());
    // Two overlapping polls of a new feed both think it empty: the later chunk is written again
    // with the lookup, and nothing is stored twice.
    let report = s.ingest_chunk(&fd, &batch[4..], fresh).await.unwrap();
    assert_eq!((report.created, report.unchanged), (4, 2));
    let report = s.ingest_chunk(&fd, &batch, ChunkContext { backfill: true, ..ChunkContext::default() }).await.unwrap();
    assert_eq!((report.created, report.unchanged), (0, 10));
    assert_eq!(all_sequences(s, None).await.len(), 10, "one change per item");
}

/// How many items `items` lists.
async fn live_count(store: &dyn Store) -> i64 {
    let page = PageRequest { first: 10, after: None };
    let listed = store.items_page(&Scope::System, &ItemFilter::default(), ItemOrder::PublishedAsc, &page).await;
    listed.unwrap().total_count
}

pub async fn withdrawn_items_leave_listings_and_come_back_when_published_again(f: Fixture) {
    let s = f.store.as_ref();
    let fd = feed(s, "IT", "snapshot.csv", Visibility::Public).await;
    let batch = items("w", 3, "text");
    s.ingest(&fd, &batch, &record(), 100).await.unwrap();
    let mut keep = connectors::KeySet::default();
    batch[..2].iter().for_each(|i| {
        keep.insert(&i.source_key);
    });
    let (withdrawn, last) = s.withdraw_missing(&fd, &keep).await.unwrap();
    assert_eq!(withdrawn, 1);
    assert_eq!(live_count(s).await, 2);
    let all = s
        .changes_page(
            &Scope::System,
            &ChangeFilter { include_backfill: true, ..ChangeFilter::default() },
            &PageRequest { first: 100, after: None },
        )
        .await
        .unwrap();
    let withdrawals: Vec<_> = all.edges.iter().map(|(_, c)| c).filter(|c| c.kind.as_str() == "WITHDRAWN").collect();
    assert_eq!(withdrawals.len(), 1);
    let change = withdrawals[0];
    assert_eq!((change.version, Some(change.sequence)), (2, last));
    let gone = s.items_by_ids(&Scope::System, std::slice::from_ref(&change.item)).await.unwrap();
    assert!(gone[0].withdrawn_at.is_some(), "the item itself is still there, marked");
    assert_eq!(s.withdraw_missing(&fd, &keep).await.unwrap().0, 0, "nothing is withdrawn twice");

    // Published again, it is live again, as an update.
    let fd = s.feeds_by_ids(&Scope::System, &[fd.id]).await.unwrap().pop().unwrap();
    let report = s.ingest(&fd, &batch, &record(), 100).await.unwrap();
    assert_eq!((report.created, report.updated, report.unchanged), (0, 1, 2));
    assert_eq!(live_count(s).await, 3);
    let back = s.items_by_ids(&Scope::System, std::slice::from_ref(&change.item)).await.unwrap();
    assert_eq!((back[0].withdrawn_at, back[0].version), (None, 3));
}

/// Each chunk records how far into which body its poll got, in its own transaction, even when it
/// changed nothing; a successful poll clears it.
pub async fn chunks_record_a_resume_point_that_success_clears(f: Fixture) {
    let s = f.store.as_ref();
    let fd = feed(s, "IT", "resumable.csv", Visibility::Public).await;
    let batch = items("r", 4, "text");
    let at = |items| ChunkContext { progress: Some(Progress { body_hash: "abc", items }), ..ChunkContext::default() };
    s.ingest_chunk(&fd, &batch[..2], at(2)).await.unwrap();
    let stored = s.feeds_by_ids(&Scope::System, &[fd.id]).await.unwrap().remove(0);
    assert_eq!((stored.resume_hash.as_deref(), stored.resume_items), (Some("abc"), 2));
    // A chunk of items already stored unchanged still moves the point on.
    s.ingest_chunk(&fd, &batch[..2], at(4)).await.unwrap();
    assert_eq!(s.feeds_by_ids(&Scope::System, &[fd.id]).await.unwrap()[0].resume_items, 4);
    s.record_success(fd.id, &record()).await.unwrap();
    let stored = s.feeds_by_ids(&Scope::System, &[fd.id]).await.unwrap().remove(0);
    assert_eq!((stored.resume_hash, stored.resume_items), (None, 0));
}

/// A record its source marks deleted withdraws a live item; one never stored, or already
/// withdrawn, changes nothing.
pub async fn a_record_marked_deleted_withdraws_its_item(f: Fixture) {
    let s = f.store.as_ref();
    let fd = feed(s, "IT", "incremental.json", Visibility::Public).await;
    let batch = items("d", 2, "text");
    s.ingest(&fd, &batch, &record(), 100).await.unwrap();
    let gone = vec![NormalisedItem::deleted(batch[0].source_key.clone()), NormalisedItem::deleted("id:never".into())];
    let report = s.ingest_chunk(&fd, &gone, ChunkContext::default()).await.unwrap();
    assert_eq!((report.withdrawn, report.created, report.updated), (1, 0, 0));
    assert_eq!(live_count(s).await, 1);
    let report = s.ingest_chunk(&fd, &gone, ChunkContext::default()).await.unwrap();
    assert_eq!(report.withdrawn, 0, "nothing is withdrawn twice");
    // Published again, it is live again.
    let report = s.ingest_chunk(&fd, &batch[..1], ChunkContext::default()).await.unwrap();
    assert_eq!(report.updated, 1);
    assert_eq!(live_count(s).await, 2);
}

/// A deleted feed's items are withdrawn; it leaves listings and claims, and comes back, same id,
/// when registered again.
pub async fn a_deleted_feed_leaves_listings_and_comes_back_registered_again(f: Fixture) {
    let s = f.store.as_ref();
    let fd = feed(s, "IT", "to-delete.xml", Visibility::Public).await;
    s.ingest(&fd, &items("x", 3, "text"), &record(), 100).await.unwrap();
    let (deleted, withdrawn) = s.delete_feed(fd.id).await.unwrap();
    assert_eq!(withdrawn, 3);
    assert!(deleted.deleted_at.is_some());
    assert_eq!(live_count(s).await, 0);
    assert!(matches!(s.delete_feed(fd.id).await, Err(tributary::store::StoreError::NotFound)));
    let listed =
        s.feeds_page(&Scope::System, &Default::default(), &PageRequest { first: 10, after: None }).await.unwrap();
    assert!(listed.edges.iter().all(|(_, f)| f.id != fd.id));
    let far = Utc.with_ymd_and_hms(2031, 1, 1, 0, 0, 0).unwrap();
    let claimed = s.claim_due_feeds(far, 300, &ClaimLimits { total: 10, per_host: 10, running: &[] }).await.unwrap();
    assert!(claimed.iter().all(|f| f.id != fd.id), "a deleted feed is not polled");
    let again = feed(s, "IT", "to-delete.xml", Visibility::Network).await;
    assert_eq!((again.id, again.deleted_at, again.visibility), (fd.id, None, Visibility::Network));
}

/// A chunk takes the feed's visibility as it is when the chunk is written, not as the poll found
/// it; a feed deleted meanwhile takes no more items.
pub async fn chunks_follow_the_feed_as_it_is_now(f: Fixture) {
    let s = f.store.as_ref();
    let stale = feed(s, "IT", "changing.xml", Visibility::Public).await;
    let tighter = tributary::model::FeedUpdate { visibility: Some(Visibility::Society), ..Default::default() };
    s.update_feed(stale.id, &tighter).await.unwrap();
    s.ingest_chunk(&stale, &items("v", 2, "text"), ChunkContext::default()).await.unwrap();
    let page = PageRequest { first: 10, after: None };
    let public = s.items_page(&Scope::PublicOnly, &ItemFilter::default(), ItemOrder::PublishedAsc, &page).await;
    assert_eq!(public.unwrap().total_count, 0, "anonymous readers do not see the items of a feed made SOCIETY");
    assert_eq!(live_count(s).await, 2);
    s.delete_feed(stale.id).await.unwrap();
    assert!(s.ingest_chunk(&stale, &items("w", 1, "text"), ChunkContext::default()).await.is_err());
}

/// The live items are read back a page (10,000) at a time: items missing on every page are found.
pub async fn a_snapshot_larger_than_a_page_withdraws_exactly_what_is_missing(f: Fixture) {
    let s = f.store.as_ref();
    let fd = feed(s, "IT", "big-snapshot.csv", Visibility::Public).await;
    let model = items("big", 1, "text").remove(0);
    let batch: Vec<NormalisedItem> = (0..10_050)
        .map(|i| {
            NormalisedItem { source_key: format!("row:{i}"), title: format!("row {i}"), ..model.clone() }
                .with_story_keys()
        })
        .collect();
    s.ingest(&fd, &batch, &record(), 2000).await.unwrap();
    let missing = [5, 9_999, 10_000, 10_049];
    let mut keep = connectors::KeySet::default();
    for (_, item) in batch.iter().enumerate().filter(|(i, _)| !missing.contains(i)) {
        keep.insert(&item.source_key);
    }
    let (withdrawn, _) = s.withdraw_missing(&fd, &keep).await.unwrap();
    assert_eq!(withdrawn, missing.len());
    let page = PageRequest { first: 1, after: None };
    let listed = s.items_page(&Scope::System, &ItemFilter::default(), ItemOrder::PublishedAsc, &page).await.unwrap();
    assert_eq!(listed.total_count, 10_050 - missing.len() as i64);
}

pub async fn the_first_import_is_backfill_and_later_changes_are_not(f: Fixture) {
    let s = f.store.as_ref();
    let fd = feed(s, "IT", "a.xml", Visibility::Public).await;
    s.ingest(&fd, &items("a", 3, "one"), &record(), 100).await.unwrap();
    let fd = s.feeds_by_ids(&Scope::System, &[fd.id]).await.unwrap().pop().unwrap();
    let report = s.ingest(&fd, &items("a", 4, "two"), &record(), 100).await.unwrap();
    assert_eq!((report.created, report.updated), (1, 3));
    let live = s
        .changes_page(&Scope::System, &ChangeFilter::default(), &PageRequest { first: 100, after: None })
        .await
        .unwrap();
    assert_eq!(live.total_count, 4, "backfill is left out unless asked for");
    assert!(live.edges.iter().all(|(_, c)| !c.backfill));
    let page = s
        .items_page(
            &Scope::System,
            &ItemFilter::default(),
            ItemOrder::PublishedDesc,
            &PageRequest { first: 10, after: None },
        )
        .await
        .unwrap();
    let versions: BTreeSet<i64> = page.edges.iter().map(|(_, i)| i.version).collect();
    assert_eq!(versions, BTreeSet::from([1, 2]));
}

pub async fn concurrent_writers_never_make_a_reader_skip_a_change(f: Fixture) {
    let s = Arc::clone(&f.store);
    let a = feed(s.as_ref(), "IT", "a.xml", Visibility::Public).await;
    let b = feed(s.as_ref(), "FR", "b.xml", Visibility::Public).await;
    // Two stores on one database, as two replicas: their transactions overlap and commit in
    // whatever order the database lets them.
    let writer = |s: &Arc<dyn Store>, fd: Feed, prefix: &'static str| {
        let s = Arc::clone(s);
        tokio::spawn(async move {
            for round in 0..10 {
                let batch = items(&format!("{prefix}{round}"), 20, "text");
                s.ingest(&fd, &batch, &record(), 5).await.unwrap();
            }
        })
    };
    let writers = [writer(&f.store, a, "a"), writer(&f.another, b, "b")];
    // A reader follows the log with its cursor while both write; it must see every sequence once,
    // in order, with no gap that fills in later.
    let mut seen: Vec<i64> = Vec::new();
    let mut cursor: Option<String> = None;
    let filter = ChangeFilter { include_backfill: true, ..ChangeFilter::default() };
    loop {
        let done = writers.iter().all(|w| w.is_finished());
        let page =
            s.changes_page(&Scope::System, &filter, &PageRequest { first: 50, after: cursor.clone() }).await.unwrap();
        for (c, change) in &page.edges {
            if let Some(last) = seen.last() {
                assert_eq!(change.sequence, last + 1, "the reader skipped from {last} to {}", change.sequence);
            }
            seen.push(change.sequence);
            cursor = Some(c.clone());
        }
        if done && page.edges.is_empty() {
            break;
        }
        tokio::task::yield_now().await;
    }
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(seen.len(), 400);
    assert_eq!(all_sequences(s.as_ref(), cursor).await, Vec::<i64>::new());
}

pub async fn the_scope_hides_what_a_viewer_may_not_see(f: Fixture) {
    let s = f.store.as_ref();
    let public = feed(s, "IT", "public.xml", Visibility::Public).await;
    let network = feed(s, "FR", "network.xml", Visibility::Network).await;
    s.ingest(&public, &items("p", 2, "text"), &record(), 100).await.unwrap();
    s.ingest(&network, &items("n", 3, "text"), &record(), 100).await.unwrap();
    let anonymous = tributary::access::scope(&tributary::model::Viewer::Anonymous);
    let page = |scope: &Scope| {
        let scope = scope.clone();
        async move {
            s.items_page(
                &scope,
                &ItemFilter::default(),
                ItemOrder::PublishedDesc,
                &PageRequest { first: 10, after: None },
            )
            .await
            .unwrap()
            .total_count
        }
    };
    assert_eq!(page(&anonymous).await, 2);
    assert_eq!(page(&Scope::System).await, 5);
    assert_eq!(s.feeds_by_ids(&anonymous, &[public.id, network.id]).await.unwrap().len(), 1);
    let changes = s
        .changes_page(
            &anonymous,
            &ChangeFilter { include_backfill: true, ..ChangeFilter::default() },
            &PageRequest { first: 10, after: None },
        )
        .await
        .unwrap();
    assert_eq!(changes.total_count, 2);
}

pub async fn search_follows_our_syntax(f: Fixture) {
    let s = f.store.as_ref();
    let fd = feed(s, "IT", "a.xml", Visibility::Public).await;
    let mut batch = items("x", 1, "Réfugiés arrivent à Lampedusa");
    batch.extend(items("y", 1, "إغلاق الحدود مع ليبيا"));
    batch.extend(items("z", 1, "Border closure at Lampedusa harbour"));
    s.ingest(&fd, &batch, &record(), 100).await.unwrap();
    let count = |q: &str| {
        let filter = ItemFilter { search: Some(SearchQuery::parse(q).unwrap()), ..ItemFilter::default() };
        async move {
            s.items_page(&Scope::System, &filter, ItemOrder::Relevance, &PageRequest { first: 10, after: None })
                .await
                .unwrap()
                .total_count
        }
    };
    assert_eq!(count("refugies").await, 1, "diacritics folded");
    assert_eq!(count("اغلاق").await, 1, "Arabic letter variants folded");
    assert_eq!(count("lampedusa").await, 2);
    assert_eq!(count("lampedusa -border").await, 1);
    assert_eq!(count("\"border closure\" OR refugies").await, 2);
    assert_eq!(count("lamped*").await, 2);
}

pub async fn updated_items_are_searchable_by_their_new_text_only(f: Fixture) {
    let s = f.store.as_ref();
    let fd = feed(s, "IT", "a.xml", Visibility::Public).await;
    s.ingest(&fd, &items("x", 2, "Lampedusa"), &record(), 100).await.unwrap();
    let fd = s.feeds_by_ids(&Scope::System, &[fd.id]).await.unwrap().pop().unwrap();
    s.ingest(&fd, &items("x", 2, "Ventimiglia"), &record(), 100).await.unwrap();
    let count = |q: &str| {
        let filter = ItemFilter { search: Some(SearchQuery::parse(q).unwrap()), ..ItemFilter::default() };
        async move {
            s.items_page(&Scope::System, &filter, ItemOrder::PublishedDesc, &PageRequest { first: 10, after: None })
                .await
                .unwrap()
                .total_count
        }
    };
    assert_eq!(count("ventimiglia").await, 2);
    assert_eq!(count("lampedusa").await, 0, "the old text is gone from the index");
}

pub async fn memberships_can_be_set_and_removed(f: Fixture) {
    let s = f.store.as_ref();
    let m = tributary::model::Membership {
        network: "americas".into(),
        organisation: OrgId("ICRC".into()),
        role: tributary::model::MemberRole::Observer,
        source: Some("operator".into()),
    };
    s.set_membership(&m).await.unwrap();
    assert_eq!(s.memberships(Some("americas")).await.unwrap(), vec![m.clone()]);
    s.remove_membership("americas", &m.organisation).await.unwrap();
    assert!(s.memberships(Some("americas")).await.unwrap().is_empty());
    assert!(matches!(
        s.remove_membership("americas", &m.organisation).await,
        Err(tributary::store::StoreError::NotFound)
    ));
    let unknown = tributary::model::Membership { organisation: OrgId("ZZ".into()), ..m };
    assert!(s.set_membership(&unknown).await.is_err());
    let again = s.seed(&Seed::bundled().unwrap()).await.unwrap();
    assert!(!again.applied, "seeding is idempotent");
}

pub async fn registering_a_url_twice_for_one_organisation_is_a_conflict(f: Fixture) {
    let s = f.store.as_ref();
    feed(s, "IT", "a.xml", Visibility::Public).await;
    let again = try_feed(s, "IT", "https://feeds.example.org/a.xml", Visibility::Public).await;
    assert!(matches!(again, Err(tributary::store::StoreError::Conflict(_))));
    feed(s, "FR", "a.xml", Visibility::Public).await; // another society may register the same URL
}

pub async fn due_feeds_are_claimed_once_until_released(f: Fixture) {
    let s = f.store.as_ref();
    let fd = feed(s, "IT", "a.xml", Visibility::Public).await;
    let now = Utc::now() + chrono::Duration::seconds(1);
    let open = ClaimLimits { total: 10, per_host: 10, running: &[] };
    assert_eq!(s.claim_due_feeds(now, 300, &open).await.unwrap().len(), 1);
    assert!(s.claim_due_feeds(now, 300, &open).await.unwrap().is_empty(), "leased");
    s.record_failure(fd.id, "boom", now).await.unwrap();
    let claimed = s.claim_due_feeds(now, 300, &open).await.unwrap();
    assert_eq!(claimed.len(), 1, "released by recording the outcome");
    assert_eq!(claimed[0].last_error.as_deref(), Some("boom"));
    assert_eq!(claimed[0].error_count, 1);
}

pub async fn claims_respect_the_total_and_per_host_limits(f: Fixture) {
    let s = f.store.as_ref();
    for n in 0..5 {
        feed(s, "IT", &format!("{n}.xml"), Visibility::Public).await; // feeds.example.org
    }
    let other = try_feed(s, "FR", "https://other.example.net/feed.xml", Visibility::Public).await.unwrap();
    let now = Utc::now() + chrono::Duration::seconds(1);
    let running = vec![("feeds.example.org".to_string(), 1)];
    let claimed =
        s.claim_due_feeds(now, 300, &ClaimLimits { total: 10, per_host: 2, running: &running }).await.unwrap();
    let hosts: Vec<String> = claimed.iter().map(|f| f.url.host()).collect();
    assert_eq!(hosts.iter().filter(|h| *h == "feeds.example.org").count(), 1, "one more beside the running one");
    assert!(claimed.iter().any(|f| f.id == other.id), "another host is not held back");
    let rest = s.claim_due_feeds(now, 300, &ClaimLimits { total: 2, per_host: 10, running: &[] }).await.unwrap();
    assert_eq!(rest.len(), 2, "the total limit holds");
}

macro_rules! contract {
    ($backend:ident: $($test:ident),+ $(,)?) => {
        mod $backend {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::$backend().await).await;
                }
            )+
        }
    };
}

pub async fn a_webhook_is_claimed_by_one_process_at_a_time(f: Fixture) {
    use tributary::model::{NewToken, NewWebhook, TokenRole};
    let s = f.store.as_ref();
    let token = s
        .create_token(
            &NewToken {
                name: "hook".into(),
                role: TokenRole::Member,
                organisation: Some(OrgId("IT".into())),
                networks: vec![],
            },
            "hash-of-a-secret",
            "trb_hook",
        )
        .await
        .unwrap();
    let webhook = s
        .create_webhook(&NewWebhook {
            organisation: Some(OrgId("IT".into())),
            token: token.id,
            url: "https://receiver.example.org/hook".into(),
            filter: ChangeFilter::default(),
            secret: "whsec_dGVzdA==".into(),
        })
        .await
        .unwrap();
    let fd = feed(s, "IT", "hooked.xml", Visibility::Public).await;
    s.ingest(&fd, &items("h", 2, "text"), &record(), 10).await.unwrap();
    let head = s.change_head().await.unwrap();
    let now = Utc::now();
    let lease = now + chrono::Duration::seconds(60);
    let claimed = s.due_webhooks(now, head, 10, lease).await.unwrap();
    assert_eq!(claimed.iter().map(|w| w.id).collect::<Vec<_>>(), vec![webhook.id]);
    assert!(f.another.due_webhooks(now, head, 10, lease).await.unwrap().is_empty(), "leased to the first");
    assert!(s.due_webhooks(now, head, 10, lease).await.unwrap().is_empty(), "not twice to the same either");
    s.release_webhook(webhook.id).await.unwrap();
    assert_eq!(f.another.due_webhooks(now, head, 10, lease).await.unwrap().len(), 1, "released");
    let later = now + chrono::Duration::seconds(61);
    let expired = s.due_webhooks(later, head, 10, later + chrono::Duration::seconds(60)).await.unwrap();
    assert_eq!(expired.len(), 1, "a lease that expired is taken again");
    // The other's turn ran out while it was away: its late release leaves the new holder's lease.
    f.another.release_webhook(webhook.id).await.unwrap();
    assert!(f.another.due_webhooks(later, head, 10, lease).await.unwrap().is_empty(), "still the first's");
    s.release_webhook(webhook.id).await.unwrap();
    assert_eq!(f.another.due_webhooks(later, head, 10, lease).await.unwrap().len(), 1, "released by its holder");
}

pub async fn a_feed_lease_is_renewed_and_released_only_by_its_holder(f: Fixture) {
    let (s, other) = (f.store.as_ref(), f.another.as_ref());
    let fd = feed(s, "IT", "a.xml", Visibility::Public).await;
    let now = Utc::now() + chrono::Duration::seconds(1);
    let at = |secs: i64| now + chrono::Duration::seconds(secs);
    let open = ClaimLimits { total: 10, per_host: 10, running: &[] };
    assert_eq!(s.claim_due_feeds(now, 60, &open).await.unwrap().len(), 1);
    assert!(s.renew_lease(fd.id, at(120)).await.unwrap(), "its holder renews it");
    assert!(other.claim_due_feeds(at(90), 60, &open).await.unwrap().is_empty(), "held past the first expiry");
    assert!(!other.renew_lease(fd.id, at(1000)).await.unwrap(), "another cannot renew it");
    assert_eq!(other.claim_due_feeds(at(121), 60, &open).await.unwrap().len(), 1, "taken once it ran out");
    assert!(!s.renew_lease(fd.id, at(500)).await.unwrap(), "the first holder lost it");
    // The first holder's late outcome is recorded, and the second holder keeps its lease.
    s.record_failure(fd.id, "late", now).await.unwrap();
    assert!(s.claim_due_feeds(at(122), 60, &open).await.unwrap().is_empty(), "still the second holder's");
    other.record_failure(fd.id, "boom", now).await.unwrap();
    let claimed = s.claim_due_feeds(at(122), 60, &open).await.unwrap();
    assert_eq!(claimed.len(), 1, "released by its holder");
    assert_eq!(claimed[0].error_count, 2, "both outcomes recorded");
}

pub async fn a_reclassified_item_is_found_under_its_new_category(f: Fixture) {
    use tributary::model::{Category, ClassificationSource};
    use tributary::store::Reclassification;
    let s = f.store.as_ref();
    let fd = feed(s, "IT", "reclassified.xml", Visibility::Public).await;
    s.ingest(&fd, &items("r", 1, "Volunteers gave out blankets"), &record(), 10).await.unwrap();
    let by_category = |c: Category| ItemFilter { categories: vec![c], ..ItemFilter::default() };
    let page = PageRequest { first: 10, after: None };
    let item =
        s.items_page(&Scope::System, &ItemFilter::default(), ItemOrder::PublishedDesc, &page).await.unwrap().edges[0]
            .1
            .clone();
    let head = s.change_head().await.unwrap();
    let changed = s
        .reclassify(&[Reclassification {
            item: item.id.clone(),
            category: Category::Funding,
            categories: vec![Category::Funding, Category::Needs],
            source: ClassificationSource::Manual,
            terms: vec![],
            route: None,
            manual: true,
            content_hash: None,
        }])
        .await
        .unwrap();
    assert_eq!(changed.len(), 1);
    let needs = by_category(Category::Needs);
    let found = s.items_page(&Scope::System, &needs, ItemOrder::PublishedDesc, &page).await.unwrap();
    assert_eq!(found.edges.len(), 1, "the facets follow the new categories");
    let log = all_sequences(s, Some(head.to_string())).await;
    assert_eq!(log, vec![head + 1], "one UPDATED change, next in the log");
    // The next poll of the unchanged entry keeps the person's classification.
    s.ingest(&fd, &items("r", 1, "Volunteers gave out blankets and tents"), &record(), 10).await.unwrap();
    let again = s.items_by_ids(&Scope::System, std::slice::from_ref(&item.id)).await.unwrap().remove(0);
    assert_eq!((again.category, again.classification_source), (Category::Funding, ClassificationSource::Manual));
}

pub async fn figures_are_totalled_by_country_without_adding_breakdowns_to_totals(f: Fixture) {
    use connectors::model::{CountryMention, CountryRole, Figure};
    use tributary::model::{CountryCode, FigureGroup};
    let s = f.store.as_ref();
    let fd = feed(s, "IT", "figures.xml", Visibility::Public).await;
    let figure = |value: f64, disaggregation: &[&str]| Figure {
        measure: "affected".into(),
        value,
        unit: Some("people".into()),
        hxl_tag: None,
        disaggregation: disaggregation.iter().map(|d| d.to_string()).collect(),
    };
    let mut batch = items("fig", 3, "figures");
    for (n, item) in batch.iter_mut().enumerate() {
        let code = if n < 2 { "IT" } else { "GR" };
        item.countries = vec![CountryMention { code: CountryCode::parse(code).unwrap(), role: CountryRole::Mentioned }];
        item.figures = vec![figure(100.0 * (n + 1) as f64, &[]), figure(40.0, &["f"])];
    }
    s.ingest(&fd, &batch, &record(), 10).await.unwrap();
    let totals = s
        .figure_totals(&Scope::System, &ItemFilter::default(), "affected", &[], &[FigureGroup::Country])
        .await
        .unwrap();
    let got: Vec<(String, f64, i64)> =
        totals.iter().map(|b| (b.country.as_ref().unwrap().to_string(), b.total, b.items)).collect();
    assert_eq!(got, vec![("GR".to_string(), 300.0, 1), ("IT".to_string(), 300.0, 2)]);
    let women = s.figure_totals(&Scope::System, &ItemFilter::default(), "affected", &["f".into()], &[]).await.unwrap();
    assert_eq!(women.iter().map(|b| b.total).collect::<Vec<_>>(), vec![120.0]);
}

pub async fn a_filtered_listing_pages_through_every_match_in_order(f: Fixture) {
    use tributary::model::CountryCode;
    let s = f.store.as_ref();
    let fd = feed(s, "IT", "countries.xml", Visibility::Public).await;
    s.ingest(&fd, &items("it", 25, "Boats reached Italy"), &record(), 10).await.unwrap();
    s.ingest(&fd, &items("gr", 10, "Boats reached Greece"), &record(), 10).await.unwrap();
    let by = |codes: &[&str]| ItemFilter {
        countries: codes.iter().map(|c| CountryCode::parse(c).unwrap()).collect(),
        ..ItemFilter::default()
    };
    for (filter, expected) in [(by(&["IT"]), 25), (by(&["IT", "GR"]), 35)] {
        for order in [ItemOrder::PublishedDesc, ItemOrder::PublishedAsc] {
            let mut seen: Vec<(i64, String)> = Vec::new();
            let mut after = None;
            loop {
                let page =
                    s.items_page(&Scope::System, &filter, order, &PageRequest { first: 10, after }).await.unwrap();
                assert_eq!(page.total_count, expected);
                seen.extend(page.edges.iter().map(|(_, i)| (i.published_at.unwrap().timestamp(), i.id.0.clone())));
                if !page.has_next_page {
                    break;
                }
                after = page.edges.last().map(|(c, _)| c.clone());
            }
            assert_eq!(seen.len() as i64, expected, "every match once");
            let ids: BTreeSet<&String> = seen.iter().map(|(_, id)| id).collect();
            assert_eq!(ids.len() as i64, expected, "no item twice");
            let times: Vec<i64> = seen.iter().map(|(t, _)| *t).collect();
            let mut sorted = times.clone();
            sorted.sort();
            if order == ItemOrder::PublishedDesc {
                sorted.reverse();
            }
            assert_eq!(times, sorted, "in order");
        }
    }
}

/// The whole suite, for each backend.
macro_rules! every_backend {
    ($($test:ident),+ $(,)?) => {
        contract!(sqlite: $($test),+);
        contract!(postgres: $($test),+);
    };
}

every_backend!(
    ingest_is_idempotent,
    a_chunk_known_to_be_new_is_stored_once,
    withdrawn_items_leave_listings_and_come_back_when_published_again,
    a_feed_lease_is_renewed_and_released_only_by_its_holder,
    a_snapshot_larger_than_a_page_withdraws_exactly_what_is_missing,
    chunks_record_a_resume_point_that_success_clears,
    a_record_marked_deleted_withdraws_its_item,
    a_deleted_feed_leaves_listings_and_comes_back_registered_again,
    chunks_follow_the_feed_as_it_is_now,
    the_first_import_is_backfill_and_later_changes_are_not,
    concurrent_writers_never_make_a_reader_skip_a_change,
    the_scope_hides_what_a_viewer_may_not_see,
    search_follows_our_syntax,
    updated_items_are_searchable_by_their_new_text_only,
    memberships_can_be_set_and_removed,
    registering_a_url_twice_for_one_organisation_is_a_conflict,
    due_feeds_are_claimed_once_until_released,
    claims_respect_the_total_and_per_host_limits,
    a_webhook_is_claimed_by_one_process_at_a_time,
    a_reclassified_item_is_found_under_its_new_category,
    figures_are_totalled_by_country_without_adding_breakdowns_to_totals,
    a_filtered_listing_pages_through_every_match_in_order,
);
