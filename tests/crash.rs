//! Crash safety: the hub runs as its own process (`tributary serve`) and is killed with SIGKILL
//! again and again while it imports feeds, tells a subscriber and delivers to a webhook, then
//! started again on the same database — SQLite in WAL mode, and PostgreSQL. Afterwards:
//!
//! - every item the feeds hold is stored exactly once, with its last content;
//! - the change log's sequence strictly increases, and each item's changes carry its versions
//!   1, 2, 3… with none missing, the last one the item's;
//! - every change reached the webhook at least once, and a sequence number the webhook or the
//!   subscriber was told always stands for the same change (none was reused);
//! - the subscriber, resuming from its last cursor after each kill, saw exactly the log, in order.
//!
//! Where each kill falls is drawn from a seed (`CRASH_SEED` sets another; the test prints the
//! one it used): after some feed requests, some webhook deliveries or some changes told to the
//! subscriber — just after start, in the middle of a large feed's chunked import, between a
//! delivery and its record. The last kill always falls in the middle of the large feed's import,
//! and the last start finds the same document, so that import resumes where it was cut (and an
//! item it skipped wrongly would never come back).
//!
//! Linux only: a restarted hub takes back the leases of the killed one by asking the kernel
//! whether it still runs; elsewhere they would run out first (minutes).
#![cfg(target_os = "linux")]

mod helpers;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use helpers::ws::{Frame, Protocol, WsClient};
use helpers::{postgres::TestDatabase, FeedServer};
use serde_json::{json, Value};
use tokio::sync::watch;
use tributary::config::Settings;
use tributary::model::{ChangeFilter, FeedUrl, NewFeed, NewToken, NewWebhook, OrgId, TokenRole};

/// Feeds polled every second; the first is the large one.
const FEEDS: usize = 8;
/// Items the large feed gains each round: several chunks of [`CHUNK`] in one poll.
const LARGE_GROWTH: usize = 400;
const CHUNK: usize = 100;
/// Kills (rounds) before the last start.
const KILLS: usize = 8;
/// The round whose kill falls in the middle of the large feed's import: the last, so the last
/// start reads the same document again and resumes its import.
const CUT_IMPORT: usize = KILLS - 1;
const DATE: &str = "Mon, 02 Nov 2026 10:00:00 GMT";
/// How long the last start may take to catch up with everything.
const CATCH_UP: Duration = Duration::from_secs(240);

const SUBSCRIPTION: &str = "subscription($after: String) {
  changes(after: $after, filter: { includeBackfill: true }) { cursor sequence kind version item { id } }
}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_on_sqlite_killed_again_and_again_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("tributary.db").display());
    kill_again_and_again(&url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_on_postgres_killed_again_and_again_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::create().await;
    kill_again_and_again(&database.url, dir.path()).await;
}

/// One change as the log, the webhook or the subscriber tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Told {
    sequence: i64,
    kind: String,
    item: String,
    version: i64,
}

impl Told {
    /// A change as the API, the subscription and the webhook payload all write it:
    /// `{ sequence kind version item { id } }`.
    fn of(change: &Value) -> Told {
        Told {
            sequence: change["sequence"].as_i64().unwrap(),
            kind: change["kind"].as_str().unwrap().to_string(),
            item: change["item"]["id"].as_str().unwrap().to_string(),
            version: change["version"].as_i64().unwrap(),
        }
    }
}

async fn kill_again_and_again(database_url: &str, dir: &Path) {
    let seed: u64 = std::env::var("CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(2026).max(1);
    eprintln!(
        "crash test: seed {seed} (CRASH_SEED sets another), database {}",
        database_url.split(':').next().unwrap()
    );
    let mut random = Random(seed);
    let feeds = FeedServer::start().await;
    prepare(database_url, &feeds).await;
    let config = dir.join("tributary.toml");
    std::fs::write(&config, config_file(database_url, &feeds)).unwrap();

    let mut stories = Stories::new();
    let told: Arc<Mutex<Vec<Told>>> = Arc::default();
    let (last_told, mut watch_told) = watch::channel(0i64);
    let last_told = Arc::new(last_told);
    let mut kills: BTreeMap<&str, usize> = BTreeMap::new();
    let seen = Arc::new(Seen::default());
    for round in 0..KILLS {
        stories.grow(round);
        stories.publish(&feeds);
        let hub = Hub::start(&config, &seen).await;
        let requests = feeds.all_arrivals();
        let deliveries = feeds.post_count("/hook");
        let subscriber = Subscriber::start(hub.address, &told, &last_told).await;
        let told_before = told.lock().unwrap().len();
        let kind = if round == CUT_IMPORT { 2 } else { random.below(3) };
        let limit = Duration::from_secs(60);
        match kind {
            0 => {
                let more = 1 + random.below(2 * FEEDS);
                feeds.until("feed requests", limit, || async { feeds.all_arrivals() >= requests + more }).await;
                *kills.entry("after feed requests").or_default() += 1;
            }
            1 => {
                let more = 1 + random.below(40);
                feeds
                    .until("webhook deliveries", limit, || async { feeds.post_count("/hook") >= deliveries + more })
                    .await;
                *kills.entry("after webhook deliveries").or_default() += 1;
            }
            _ => {
                // Half of this round's new stories of the large feed: in the middle of its import.
                let more = if round == CUT_IMPORT { LARGE_GROWTH / 2 } else { 1 + random.below(LARGE_GROWTH) };
                let told = Arc::clone(&told);
                let enough = async {
                    loop {
                        if told.lock().unwrap().len() >= told_before + more {
                            return;
                        }
                        watch_told.changed().await.expect("the subscriber's count");
                    }
                };
                tokio::time::timeout(Duration::from_secs(60), enough).await.expect("changes told to the subscriber");
                *kills.entry("after changes told to the subscriber").or_default() += 1;
            }
        }
        hub.kill();
        subscriber.finish().await;
    }

    // The last start catches up with everything.
    let hub = Hub::start(&config, &seen).await;
    let subscriber = Subscriber::start(hub.address, &told, &last_told).await;
    let (client, address) = (&reqwest::Client::builder().no_proxy().build().unwrap(), hub.address);
    let expected = &stories.titles();
    feeds
        .until("every item stored with its last content", CATCH_UP, || async move {
            let count = graphql(client, address, "{ items(first: 1) { totalCount } }", json!({})).await;
            count["items"]["totalCount"].as_u64() == Some(expected.len() as u64)
                && stored_items(client, address).await.keys().eq(expected.iter())
        })
        .await;
    let stored = stored_items(client, address).await;
    assert!(stored.keys().eq(expected.iter()), "every item stays stored with its last content");
    let log = change_log(client, address).await;
    let head = log.last().expect("changes").sequence;
    let feeds_ = &feeds;
    feeds
        .until("every change delivered to the webhook", CATCH_UP, || async move {
            feeds_.last_accepted_post("/hook").is_some_and(|body| told_by_webhook(&body).sequence == head)
        })
        .await;
    let caught_up = watch_told.wait_for(|last| *last >= head);
    tokio::time::timeout(CATCH_UP, caught_up).await.expect("the subscriber caught up").expect("its count");
    hub.kill();
    subscriber.finish().await;

    // The log: strictly increasing, each item's versions following on, ending at the item's.
    assert!(log.windows(2).all(|w| w[0].sequence < w[1].sequence), "the change log's sequence strictly increases");
    let mut versions: HashMap<&str, i64> = HashMap::new();
    for change in &log {
        let last = versions.entry(change.item.as_str()).or_default();
        assert_eq!(change.version, *last + 1, "the next version of {}: {change:?}", change.item);
        assert_eq!(change.kind, if change.version == 1 { "CREATED" } else { "UPDATED" }, "{change:?}");
        *last = change.version;
    }
    assert_eq!(versions.len(), stored.len(), "every stored item has its changes, and no other item has any");
    let mut contents = 0;
    for (title, (id, version)) in &stored {
        assert_eq!(versions.get(id.as_str()), Some(version), "the last change of {title} is its version");
        // A story told E times over had E + 1 contents: no version more (no change repeated).
        let edits: i64 = title.split(" told ").nth(1).and_then(|t| t.split(' ').next()?.parse().ok()).unwrap();
        assert!(*version <= edits + 1, "{title} is at version {version}: a change was written twice");
        contents += edits + 1;
    }
    assert!(log.len() as i64 <= contents, "{} changes for {contents} contents", log.len());

    // The webhook: every change at least once, each sequence always the same change.
    let posts = feeds.accepted_posts("/hook");
    let mut delivered: BTreeMap<i64, Told> = BTreeMap::new();
    for (_, body) in &posts {
        let change = told_by_webhook(body);
        if let Some(before) = delivered.insert(change.sequence, change.clone()) {
            assert_eq!(before, change, "a sequence number delivered twice stands for the same change");
        }
    }
    let logged: BTreeMap<i64, Told> = log.iter().map(|c| (c.sequence, c.clone())).collect();
    let missed: Vec<&Told> = logged.iter().filter(|(s, _)| !delivered.contains_key(s)).map(|(_, c)| c).collect();
    assert!(
        missed.is_empty(),
        "{} changes never reached the webhook: {:?}",
        missed.len(),
        &missed[..missed.len().min(5)]
    );
    let differ: Vec<(&Told, Option<&Told>)> =
        delivered.iter().filter(|(s, c)| logged.get(s) != Some(c)).map(|(s, c)| (c, logged.get(s))).collect();
    assert!(
        differ.is_empty(),
        "{} delivered changes are not in the log as delivered: {:?}",
        differ.len(),
        &differ[..differ.len().min(5)]
    );

    // The subscriber: exactly the log, in order, across every resume.
    let told = told.lock().unwrap().clone();
    if let Some(at) = (0..told.len().max(log.len())).find(|&i| told.get(i) != log.get(i)) {
        panic!(
            "the subscriber saw {} changes, the log holds {}; they part at #{at}: told {:?}, logged {:?}",
            told.len(),
            log.len(),
            &told[at..told.len().min(at + 3)],
            &log[at..log.len().min(at + 3)]
        );
    }

    let resumed = seen.resumed.load(Ordering::Relaxed);
    assert!(resumed >= 1, "the import cut in round {CUT_IMPORT} resumed with the same document");
    assert!(seen.leases_freed.load(Ordering::Relaxed) >= 1, "leases of killed hubs were taken back at start");
    eprintln!(
        "crash test: {KILLS} kills ({kills:?}); {} items, {} changes; {} webhook deliveries ({} again after a kill); \
         {} imports resumed after a kill cut them short; {} leases of killed hubs taken back at start",
        stored.len(),
        log.len(),
        posts.len(),
        posts.len() - delivered.len(),
        resumed,
        seen.leases_freed.load(Ordering::Relaxed),
    );
}

/// Registers the feeds and a webhook (for every change, backfill included) before the hub's
/// first start.
async fn prepare(database_url: &str, feeds: &FeedServer) {
    let settings = Settings { database_url: database_url.to_string(), ..Settings::default() };
    let store = tributary::app::open_store(&settings).await.expect("the database opens");
    for f in 0..FEEDS {
        let url = FeedUrl::parse(&feeds.url(&format!("/feed{f}.xml"))).unwrap();
        store.add_feed(&NewFeed::new(OrgId("IT".into()), url, 1)).await.expect("feed registered");
    }
    let token = NewToken { name: "crash test".into(), role: TokenRole::Admin, organisation: None, networks: vec![] };
    let token =
        store.create_token(&token, &tributary::model::secret_hash("trb_crash_test"), "trb_crash").await.unwrap();
    let webhook = NewWebhook {
        organisation: None,
        token: token.id,
        url: feeds.url("/hook"),
        filter: ChangeFilter { include_backfill: true, ..ChangeFilter::default() },
        secret: "whsec_dGVzdA==".into(),
    };
    store.create_webhook(&webhook).await.expect("webhook registered");
}

fn config_file(database_url: &str, feeds: &FeedServer) -> String {
    format!(
        r#"listen = "127.0.0.1:0"
database_url = "{database_url}"
log = "info"

[poll]
min_interval_secs = 1
chunk_size = {CHUNK}

[fetch]
allow = ["{}"]

[webhooks]
retry_base_ms = 50
retry_max_secs = 1

[subscriptions]
ping_secs = 5

[api]
rate_limit_per_minute = 0
"#,
        feeds.address
    )
}

/// What the feeds hold: per feed, each story's number of edits.
struct Stories {
    edits: Vec<Vec<u32>>,
}

impl Stories {
    fn new() -> Stories {
        Stories { edits: vec![Vec::new(); FEEDS] }
    }

    /// Round `round`'s news: the large feed gains [`LARGE_GROWTH`] stories, each other feed
    /// three, and two of its earlier stories are edited.
    fn grow(&mut self, round: usize) {
        for (f, stories) in self.edits.iter_mut().enumerate() {
            if f == 0 {
                stories.extend(std::iter::repeat_n(0, LARGE_GROWTH));
                continue;
            }
            let len = stories.len();
            for n in [round * 2, round * 2 + 1].into_iter().filter(|_| len > 0) {
                stories[n % len] += 1;
            }
            stories.extend([0, 0, 0]);
        }
    }

    fn title(f: usize, n: usize, edits: u32) -> String {
        format!("Story {f}-{n} told {edits} times over")
    }

    fn publish(&self, feeds: &FeedServer) {
        for (f, stories) in self.edits.iter().enumerate() {
            let items: Vec<(String, String)> =
                stories.iter().enumerate().map(|(n, e)| (format!("story-{f}-{n}"), Stories::title(f, n, *e))).collect();
            let items: Vec<(&str, &str, &str, &str)> =
                items.iter().map(|(guid, title)| (guid.as_str(), title.as_str(), "Details.", DATE)).collect();
            feeds.set(&format!("/feed{f}.xml"), &helpers::rss(&items));
        }
    }

    fn titles(&self) -> Vec<String> {
        let mut titles: Vec<String> = self
            .edits
            .iter()
            .enumerate()
            .flat_map(|(f, stories)| stories.iter().enumerate().map(move |(n, e)| Stories::title(f, n, *e)))
            .collect();
        titles.sort();
        titles
    }
}

/// What the hubs' logs told, over all starts.
#[derive(Default)]
struct Seen {
    /// Imports resumed where a killed hub stopped in the middle of the same body.
    resumed: AtomicUsize,
    /// Leases of killed hubs taken back at start.
    leases_freed: AtomicUsize,
}

/// The hub as its own process.
struct Hub {
    child: Child,
    address: SocketAddr,
}

impl Hub {
    /// Starts `tributary serve` and waits for the line saying where it serves.
    async fn start(config: &Path, seen: &Arc<Seen>) -> Hub {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tributary"))
            .arg("--config")
            .arg(config)
            .arg("serve")
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the hub starts");
        let stderr = child.stderr.take().unwrap();
        let (serving, address) = tokio::sync::oneshot::channel();
        let seen = Arc::clone(seen);
        std::thread::spawn(move || {
            let mut serving = Some(serving);
            let mut lines = Vec::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("Tributary is serving") {
                    let address = line.split("address=").nth(1).and_then(|a| a.split_whitespace().next());
                    if let Some(serving) = serving.take() {
                        let _ = serving.send(address.and_then(|a| a.parse::<SocketAddr>().ok()).ok_or(line.clone()));
                    }
                }
                if line.contains("resuming where a poll of the same body was cut short") {
                    seen.resumed.fetch_add(1, Ordering::Relaxed);
                }
                if line.contains("took back the leases") {
                    let freed = line.split("freed=").nth(1).and_then(|n| n.split_whitespace().next()?.parse().ok());
                    seen.leases_freed.fetch_add(freed.unwrap_or(0), Ordering::Relaxed);
                }
                if line.contains("ERROR") || line.contains("panicked") {
                    eprintln!("hub: {line}");
                }
                if serving.is_some() {
                    lines.push(line);
                }
            }
            if let Some(serving) = serving {
                let _ = serving.send(Err(lines.join("\n")));
            }
        });
        let address =
            tokio::time::timeout(Duration::from_secs(60), address).await.expect("the hub serves within a minute");
        match address.expect("the hub's log") {
            Ok(address) => Hub { child, address },
            Err(log) => panic!("the hub did not start:\n{log}"),
        }
    }

    /// SIGKILL: no shutdown, no flushing, nothing released.
    fn kill(mut self) {
        self.child.kill().expect("the hub is killed");
        self.child.wait().expect("the killed hub is reaped");
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A dashboard subscribed to every change, resuming from its last cursor.
struct Subscriber {
    reading: tokio::task::JoinHandle<()>,
}

impl Subscriber {
    /// Subscribes on the hub at `address` after the last change told so far (from the start of
    /// the log the first time), and keeps reading until the connection drops.
    async fn start(address: SocketAddr, told: &Arc<Mutex<Vec<Told>>>, last: &Arc<watch::Sender<i64>>) -> Subscriber {
        let after = told.lock().unwrap().last().map(|c| c.sequence).unwrap_or(0);
        let after = base64_url(&format!("changes|{after}"));
        let mut client = WsClient::connect_at(address, Protocol::TransportWs, json!({})).await;
        client.subscribe("1", SUBSCRIPTION, json!({ "after": after })).await;
        let (told, last) = (Arc::clone(told), Arc::clone(last));
        let reading = tokio::spawn(async move {
            loop {
                match client.frame().await {
                    Frame::Json(message) if message["type"] == "next" => {
                        let payload = &message["payload"];
                        assert!(payload.get("errors").is_none(), "the subscription failed: {payload}");
                        let change = Told::of(&payload["data"]["changes"]);
                        let sequence = change.sequence;
                        told.lock().unwrap().push(change);
                        last.send_replace(sequence);
                    }
                    Frame::Json(message) if message["type"] == "ka" => {}
                    Frame::Json(message) => panic!("the subscription ended: {message}"),
                    Frame::Ping => {}
                    Frame::Closed(..) => return,
                }
            }
        });
        Subscriber { reading }
    }

    /// Waits for the reading to end (the hub was killed), failing the test if it failed.
    async fn finish(self) {
        self.reading.await.expect("the subscriber read without failing");
    }
}

fn base64_url(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn told_by_webhook(body: &[u8]) -> Told {
    let body: Value = serde_json::from_slice(body).expect("a JSON body");
    Told::of(&body["data"])
}

async fn graphql(client: &reqwest::Client, address: SocketAddr, query: &str, variables: Value) -> Value {
    let response: Value = client
        .post(format!("http://{address}/graphql"))
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("the hub answers")
        .json()
        .await
        .expect("JSON");
    assert!(response.get("errors").is_none(), "errors: {response}");
    response["data"].clone()
}

/// Every node of a paged connection `field`, following its pages (`query` takes `$after`).
async fn every_node(client: &reqwest::Client, address: SocketAddr, query: &str, field: &str) -> Vec<Value> {
    let mut nodes = Vec::new();
    let mut after = Value::Null;
    loop {
        let mut page = graphql(client, address, query, json!({ "after": after })).await;
        let page = page[field].take();
        nodes.extend(page["nodes"].as_array().unwrap().iter().cloned());
        if page["pageInfo"]["hasNextPage"] != json!(true) {
            return nodes;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

/// Every stored item: title → (id, version).
async fn stored_items(client: &reqwest::Client, address: SocketAddr) -> BTreeMap<String, (String, i64)> {
    const ITEMS: &str = "query($after: String) { items(first: 100, after: $after) {
      pageInfo { hasNextPage endCursor } nodes { id title version } } }";
    let mut items = BTreeMap::new();
    for node in every_node(client, address, ITEMS, "items").await {
        let title = node["title"].as_str().unwrap().to_string();
        let entry = (node["id"].as_str().unwrap().to_string(), node["version"].as_i64().unwrap());
        assert!(items.insert(title.clone(), entry).is_none(), "{title} is stored twice");
    }
    items
}

/// The whole change log, in order.
async fn change_log(client: &reqwest::Client, address: SocketAddr) -> Vec<Told> {
    const CHANGES: &str =
        "query($after: String) { changes(first: 100, after: $after, filter: { includeBackfill: true }) {
      pageInfo { hasNextPage endCursor } nodes { sequence kind version item { id } } } }";
    every_node(client, address, CHANGES, "changes").await.iter().map(Told::of).collect()
}

/// A small deterministic generator (xorshift), so a failing seed can be run again.
struct Random(u64);

impl Random {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}
