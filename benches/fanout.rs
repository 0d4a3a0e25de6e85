//! Fan-out benchmark: one change announced to N concurrent WebSocket subscribers.
//!
//! Run: `cargo bench --bench fanout` (optionally `-- SUBSCRIBERS ROUNDS`, default 10000 and 5).
//!
//! The hub runs in a child process (this same binary, started with `--serve`) on a fresh SQLite
//! database with one feed of a few items, so its memory is measured apart from the clients'. The
//! clients — N graphql-transport-ws connections in this process, each subscribed to `changes` —
//! connect and subscribe; the hub's resident memory is read before and after (`VmRSS` in
//! /proc), giving the memory per idle subscriber. Then each round an admin corrects an item's
//! classification (`classifyItem`, which writes one UPDATED change) and every client notes when
//! the change reaches it: the time from sending the mutation to each arrival, p50, p99 and the
//! last. Both processes share the machine's cores.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use connectors::{Connector, FeedContext};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tributary::model::{FeedUrl, NewFeed, NewToken, OrgId, TokenRole};
use tributary::poller::fetch::Body;
use tributary::poller::ingest::parse_and_store;
use tributary::seed::Seed;
use tributary::store::{SqliteStore, Store};

const ADMIN: &str = "trb_fanout_benchmark_admin";

fn main() -> anyhow::Result<()> {
    tributary::tune_allocator();
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    if args.first().map(String::as_str) == Some("--serve") {
        return runtime.block_on(serve(&args[1]));
    }
    let subscribers: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let rounds: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    runtime.block_on(bench(subscribers, rounds))
}

/// The hub, as `serve` runs it, on `database`; prints its address, stops when stdin closes.
async fn serve(database: &str) -> anyhow::Result<()> {
    let mut settings = tributary::config::Settings {
        listen: "127.0.0.1:0".parse()?,
        database_url: database.to_string(),
        ..Default::default()
    };
    settings.poll.enabled = false;
    settings.webhooks.enabled = false;
    // Every client connects from 127.0.0.1.
    settings.api.rate_limit_per_minute = 0;
    settings.subscriptions.ping_secs = 3600;
    let app = tributary::app::App::build(settings, tributary::app::Options::default()).await?;
    println!("LISTENING {}", app.address());
    std::io::stdout().flush()?;
    let stop = async {
        let _ = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            while std::io::stdin().read_line(&mut line).map(|n| n > 0).unwrap_or(false) {}
        })
        .await;
    };
    app.run_until_stopped(stop).await
}

/// Resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A database with one feed of a few items and an admin token; the id of an item to classify.
async fn prepare(database: &str) -> anyhow::Result<String> {
    let store = SqliteStore::connect(database).await?;
    store.migrate().await?;
    store.seed(&Seed::bundled()?).await?;
    let feed = store
        .add_feed(&NewFeed::new(
            OrgId("IT".into()),
            FeedUrl::parse("https://example.org/feed.xml").map_err(anyhow::Error::msg)?,
            900,
        ))
        .await?;
    let rss = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Bench</title>\
        <item><guid>fanout-1</guid><title>Border closure at Ventimiglia: crossings halted</title>\
        <description>Authorities closed the crossing; migrants take a longer route through the mountains.</description>\
        <link>https://example.org/news/1</link><pubDate>Mon, 02 Nov 2026 10:00:00 GMT</pubDate></item>\
        </channel></rss>";
    parse_and_store(
        &store,
        &feed,
        Connector::Rss,
        Body::Memory(rss.as_bytes().to_vec()),
        None,
        FeedContext::default(),
        100,
    )
    .await?;
    let admin = NewToken { name: "benchmark".into(), role: TokenRole::Admin, organisation: None, networks: vec![] };
    store.create_token(&admin, &tributary::model::secret_hash(ADMIN), "trb_fanout").await?;
    let items = store
        .items_page(
            &tributary::access::Scope::System,
            &Default::default(),
            Default::default(),
            &tributary::store::PageRequest { first: 1, after: None },
        )
        .await?;
    let id = &items.edges.first().ok_or_else(|| anyhow::anyhow!("no item"))?.1.id;
    Ok(tributary::graphql::global_id("Item", &id.0))
}

async fn metric(client: &reqwest::Client, base: &str, name: &str) -> anyhow::Result<u64> {
    let text = client.get(format!("{base}/metrics")).send().await?.text().await?;
    let value = text.lines().find_map(|l| l.strip_prefix(&format!("{name} "))).unwrap_or("0");
    Ok(value.trim().parse()?)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn bench(subscribers: usize, rounds: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let database = format!("sqlite:{}", dir.path().join("fanout.db").display());
    let item = prepare(&database).await?;

    let mut child = Command::new(std::env::current_exe()?)
        .arg("--serve")
        .arg(&database)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?).lines();
    let address = loop {
        let line = lines.next().ok_or_else(|| anyhow::anyhow!("the hub exited"))??;
        if let Some(a) = line.strip_prefix("LISTENING ") {
            break a.to_string();
        }
    };
    let base = format!("http://{address}");
    let http = reqwest::Client::builder().no_proxy().build()?;
    // Let the hub settle (its first requests allocate caches) before the baseline.
    metric(&http, &base, "tributary_subscriptions").await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(pid);

    // Connect and subscribe, 200 at a time.
    let started = Instant::now();
    let epoch = Instant::now();
    let sent_at = Arc::new(AtomicU64::new(0));
    let (arrivals, mut arrived) = tokio::sync::mpsc::unbounded_channel::<(usize, Duration)>();
    let connect = |n: usize| {
        let url = format!("ws://{address}/graphql/ws");
        let sent_at = Arc::clone(&sent_at);
        let arrivals = arrivals.clone();
        async move {
            let mut request = url.into_client_request()?;
            request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse()?);
            let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
            let (mut socket, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true).await?;
            socket.send(Message::Text(json!({ "type": "connection_init" }).to_string().into())).await?;
            let _ack = socket.next().await;
            let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { changes { sequence item { title } } }" } });
            socket.send(Message::Text(subscribe.to_string().into())).await?;
            tokio::spawn(async move {
                while let Some(Ok(message)) = socket.next().await {
                    if let Message::Text(text) = message {
                        if text.contains("\"next\"") {
                            let t0 = Duration::from_nanos(sent_at.load(Ordering::SeqCst));
                            let _ = arrivals.send((n, epoch.elapsed().saturating_sub(t0)));
                        }
                    }
                }
            });
            Ok::<(), anyhow::Error>(())
        }
    };
    let results: Vec<anyhow::Result<()>> =
        futures_util::stream::iter(0..subscribers).map(connect).buffer_unordered(200).collect().await;
    let failed = results.iter().filter(|r| r.is_err()).count();
    if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
        eprintln!("{failed} connections failed, the first with: {e}");
    }
    // Wait until the hub counts every subscription.
    let connected = subscribers - failed;
    while (metric(&http, &base, "tributary_subscriptions").await? as usize) < connected {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let connect_time = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(pid);
    let per_subscriber = (after.saturating_sub(before)) as f64 * 1024.0 / connected.max(1) as f64;
    println!(
        "{connected} subscribers connected in {:.1} s; hub resident memory {:.1} MiB before, {:.1} MiB after: {:.1} KiB per idle subscriber",
        connect_time.as_secs_f64(),
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        per_subscriber / 1024.0
    );

    let categories = ["NEEDS", "ROUTE_CHANGE"];
    println!("{:>5} {:>10} {:>10} {:>10} {:>10}", "round", "received", "p50 ms", "p99 ms", "last ms");
    for round in 0..rounds {
        let mutation = json!({
            "query": "mutation($id: ID!, $c: Category!) { classifyItem(input: { id: $id, category: $c }) { item { version } } }",
            "variables": { "id": item, "c": categories[round % 2] },
        });
        sent_at.store(epoch.elapsed().as_nanos() as u64, Ordering::SeqCst);
        let response: Value =
            http.post(format!("{base}/graphql")).bearer_auth(ADMIN).json(&mutation).send().await?.json().await?;
        if response.get("errors").is_some() {
            anyhow::bail!("the mutation failed: {response}");
        }
        let mut latencies = Vec::with_capacity(connected);
        let deadline = Instant::now() + Duration::from_secs(30);
        while latencies.len() < connected {
            match tokio::time::timeout_at(deadline.into(), arrived.recv()).await {
                Ok(Some((_, latency))) => latencies.push(latency),
                _ => break,
            }
        }
        latencies.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{:>5} {:>10} {:>10.1} {:>10.1} {:>10.1}",
            round + 1,
            latencies.len(),
            ms(percentile(&latencies, 50.0)),
            ms(percentile(&latencies, 99.0)),
            ms(latencies.last().copied().unwrap_or_default())
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    drop(child.stdin.take());
    let _ = child.wait();
    Ok(())
}
