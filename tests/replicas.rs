//! Several replicas on one PostgreSQL database: each due feed is fetched by one of them, a change
//! ingested by one reaches a subscriber of another, and the feeds of a replica killed mid-poll
//! are polled by the others once its leases expire. Replicas 2 and 3 are the real binary in
//! processes of their own; replica 1 runs in the test, which drives one of its polls.

mod helpers;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use helpers::postgres::TestDatabase;
use helpers::ws::{Protocol, WsClient};
use helpers::{rss, spawn_app_beside, FeedServer};
use serde_json::json;
use tributary::model::{FeedUrl, NewFeed, OrgId};
use tributary::store::{PgStore, Store};

const FEEDS: usize = 200;

/// A lease short enough for the test to see one expire.
const LEASE_SECS: &str = "3";

/// A replica in a process of its own.
struct Replica {
    child: Child,
    address: SocketAddr,
}

impl Replica {
    /// Starts `tributary serve` on `database`, polling (or only serving), and waits until it
    /// says where it listens.
    fn start(database: &str, feeds: &FeedServer, poll: bool) -> Replica {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tributary"))
            .arg("serve")
            .env("TRIBUTARY_DATABASE_URL", database)
            .env("TRIBUTARY_LISTEN", "127.0.0.1:0")
            .env("TRIBUTARY_POLL__ENABLED", poll.to_string())
            .env("TRIBUTARY_POLL__LEASE_SECS", LEASE_SECS)
            .env("TRIBUTARY_POLL__CONCURRENCY", "10")
            .env("TRIBUTARY_POLL__PER_HOST_CONCURRENCY", "10")
            .env("TRIBUTARY_FETCH__ALLOW", format!("[\"{}\"]", feeds.address))
            .env("TRIBUTARY_LOG", "info")
            .env_remove("RUST_LOG")
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let (found, address) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        // Reads the log until the replica says where it listens, then keeps draining it.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let line = strip_ansi(&line);
                if line.contains("Tributary is serving") {
                    let at = line.split("address=").nth(1).and_then(|a| a.split_whitespace().next());
                    let _ = found.send(at.and_then(|a| a.parse::<SocketAddr>().ok()));
                }
            }
        });
        let address = address
            .recv_timeout(Duration::from_secs(60))
            .expect("the replica starts within a minute")
            .expect("the replica logs its address");
        Replica { child, address }
    }

    /// SIGKILL: no shutdown, leases left as they are.
    fn kill(mut self) {
        self.child.kill().expect("killed");
        self.child.wait().expect("reaped");
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

async fn graphql(address: SocketAddr, query: &str) -> serde_json::Value {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let response = client.post(format!("http://{address}/graphql")).json(&json!({ "query": query })).send().await;
    response.unwrap().json().await.unwrap()
}

fn path(n: usize) -> String {
    format!("feed-{n}.xml")
}

/// Waits until every feed has been polled successfully once, woken by the data version the
/// replicas announce (each first success shows the feed's title).
async fn every_feed_polled(store: &PgStore, pool: &sqlx::PgPool) {
    let mut versions = store.watch_data_version();
    let wait = async {
        loop {
            let done: i64 = sqlx::query_scalar("SELECT count(*) FROM feeds WHERE last_success_at IS NOT NULL")
                .fetch_one(pool)
                .await
                .unwrap();
            if done as usize == FEEDS {
                return;
            }
            versions.changed().await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(60), wait).await.expect("a poll cycle within a minute");
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_share_the_feeds_and_the_changes_and_take_over_a_dead_ones_feeds() {
    // Arrange: one database, 200 feeds on one local feed server, all due.
    let database = TestDatabase::create().await;
    let store = PgStore::connect(&database.url).await.unwrap();
    store.migrate().await.unwrap();
    store.seed(&tributary::seed::Seed::bundled().unwrap()).await.unwrap();
    let pool = sqlx::PgPool::connect(&database.url).await.unwrap();
    let feeds = FeedServer::start().await;
    let mut ids = Vec::new();
    for n in 0..FEEDS {
        let title = format!("Arrivals report {n}");
        feeds.set(
            &path(n),
            &rss(&[(&format!("g{n}"), &title, "Figures of the week.", "Mon, 02 Nov 2026 10:00:00 GMT")]),
        );
        let url = FeedUrl::parse(&feeds.url(&path(n))).unwrap();
        ids.push(store.add_feed(&NewFeed::new(OrgId("IT".into()), url, 900)).await.unwrap().id);
    }

    // A replica claims ten feeds and dies while fetching them: the feed server holds its
    // requests, and it is killed once all ten have arrived.
    feeds.slow_down(Duration::from_secs(120));
    let doomed = Replica::start(&database.url, &feeds, true);
    feeds.wait_for("the doomed replica's ten fetches", |f| f.all_arrivals() == 10).await;
    doomed.kill();
    let held: Vec<usize> = (0..FEEDS).filter(|n| feeds.arrivals(&path(*n)) == 1).collect();
    assert_eq!(held.len(), 10);
    let leased: i64 =
        sqlx::query_scalar("SELECT count(*) FROM feeds WHERE lease_until IS NOT NULL").fetch_one(&pool).await.unwrap();
    assert_eq!(leased, 10, "the dead replica's leases stay until they expire");
    feeds.slow_down(Duration::ZERO);

    // Act: three replicas poll; the first runs here, the other two are processes (the third
    // only serves).
    let first = spawn_app_beside(feeds.clone(), |s| {
        s.database_url = database.url.clone();
        s.poll.enabled = true;
        s.poll.lease_secs = LEASE_SECS.parse().unwrap();
        s.poll.concurrency = 10;
        s.poll.per_host_concurrency = 10;
    })
    .await;
    let second = Replica::start(&database.url, &feeds, true);
    let third = Replica::start(&database.url, &feeds, false);
    every_feed_polled(&store, &pool).await;

    // Assert: one poll cycle fetched every feed exactly once, but for the dead replica's ten,
    // fetched once more after their leases expired.
    for n in 0..FEEDS {
        let expected = if held.contains(&n) { 2 } else { 1 };
        assert_eq!(feeds.arrivals(&path(n)), expected, "feed {n} fetched {} times", feeds.arrivals(&path(n)));
    }
    let items: i64 = sqlx::query_scalar("SELECT count(*) FROM items").fetch_one(&pool).await.unwrap();
    assert_eq!(items as usize, FEEDS);

    // A subscriber on the third replica receives a change the first one ingests, and the third
    // replica's cached answers give way to it.
    let eastern = "{ items(first: 5, filter: { search: \"eastern\" }) { totalCount } }";
    assert_eq!(graphql(third.address, eastern).await["data"]["items"]["totalCount"], 0);
    let mut subscriber = WsClient::connect_at(third.address, Protocol::TransportWs, json!({})).await;
    subscriber.subscribe("1", "subscription { changes { kind item { title } } }", json!({})).await;
    let ready: serde_json::Value =
        reqwest::get(format!("http://{}/readyz", third.address)).await.unwrap().json().await.unwrap();
    assert_eq!(ready["listener"], "ok", "{ready}");
    feeds.set(
        &path(7),
        &rss(&[(
            "g7",
            "Crossings move to the eastern route",
            "Boats now leave from Tobruk.",
            "Tue, 03 Nov 2026 10:00:00 GMT",
        )]),
    );
    first.poll_feed(ids[7]).await;
    let change = subscriber.next_change("1").await;
    assert_eq!(change["kind"], "UPDATED");
    assert_eq!(change["item"]["title"], "Crossings move to the eastern route");
    assert_eq!(graphql(third.address, eastern).await["data"]["items"]["totalCount"], 1, "not a stale cached answer");

    // Nothing was fetched twice meanwhile (the first replica's own poll of feed 7 aside).
    for n in (0..FEEDS).filter(|n| *n != 7) {
        let expected = if held.contains(&n) { 2 } else { 1 };
        assert_eq!(feeds.arrivals(&path(n)), expected);
    }
    drop(second);
}
