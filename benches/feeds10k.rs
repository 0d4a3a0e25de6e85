//! 10,000 feeds: how long one full poll cycle takes, what CPU it costs and how much memory the
//! hub holds, when most feeds are unchanged (304) and some change each cycle.
//!
//! Run: `cargo bench --bench feeds10k` (optionally `-- FEEDS CYCLES`, default 10000 and 3).
//!
//! A feed server runs in a child process (this same binary, started with `--serve FEEDS`), so
//! the hub's CPU time and memory are its own: feed `n` answers an RSS document of three entries
//! with an ETag, and 304 to a matching If-None-Match; each cycle (`/next`) 1 % of the feeds
//! change (an entry is added). The hub runs in this process on a fresh SQLite file, as `serve`
//! would with `poll.concurrency` and `poll.per_host_concurrency` raised to 64 (all feeds are on
//! one host here, where a real hub's are on hundreds). Cycle 1 is the first import of every
//! feed; later cycles are the steady state. For each: wall time, the hub process's CPU seconds
//! (user + system, from /proc/self/stat), its resident memory after the cycle and at its peak.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tributary::app::{App, Options};
use tributary::config::Settings;
use tributary::model::{FeedUrl, NewFeed, OrgId};

fn main() -> anyhow::Result<()> {
    tributary::tune_allocator();
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    if args.first().map(String::as_str) == Some("--serve") {
        return runtime.block_on(serve(args[1].parse()?));
    }
    let feeds: usize = args.first().map(|a| a.parse()).transpose()?.unwrap_or(10_000);
    let cycles: usize = args.get(1).map(|a| a.parse()).transpose()?.unwrap_or(3);
    runtime.block_on(run(feeds, cycles))
}

/// The feed server: `/f/{n}`, and `POST /next` to move to the next cycle.
async fn serve(feeds: u64) -> anyhow::Result<()> {
    let generation = Arc::new(AtomicU64::new(0));
    let app = axum::Router::new()
        .route("/f/{n}", get(feed))
        .route(
            "/next",
            post(|State(g): State<Arc<AtomicU64>>| async move { g.fetch_add(1, Ordering::SeqCst).to_string() }),
        )
        .with_state(generation);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("{} {feeds}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

/// Feed `n`'s version in generation `g`: it goes up when `(g + n) % 100 == 0`, so 1 % of the
/// feeds change from one generation to the next.
fn version(n: u64, g: u64) -> u64 {
    (g + n % 100) / 100
}

async fn feed(Path(n): Path<u64>, State(g): State<Arc<AtomicU64>>, headers: HeaderMap) -> axum::response::Response {
    let v = version(n, g.load(Ordering::SeqCst));
    let etag = format!("\"{n}-{v}\"");
    if headers.get(header::IF_NONE_MATCH).and_then(|h| h.to_str().ok()) == Some(etag.as_str()) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let mut body = format!("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Feed {n}</title>");
    for k in 0..3 + v {
        body.push_str(&format!(
            "<item><guid>{n}-{k}</guid><title>Situation report {k} of society {n}</title>\
             <description>Arrivals at the reception centre rose this week; the society's volunteers \
             distributed hygiene kits and food parcels.</description>\
             <pubDate>Mon, 02 Nov 2026 10:00:00 GMT</pubDate></item>"
        ));
    }
    body.push_str("</channel></rss>");
    ([(header::CONTENT_TYPE, "application/rss+xml".to_string()), (header::ETAG, etag)], body).into_response()
}

/// (user + system CPU seconds, resident MiB, peak resident MiB) of this process.
fn usage() -> (f64, u64, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    // After the command name: state is field 3, utime 14 and stime 15 (1-based, of the whole line).
    let ticks = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    let cpu = (ticks(14) + ticks(15)) / 100.0;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (cpu, kb("VmRSS:") / 1024, kb("VmHWM:") / 1024)
}

async fn run(feeds: usize, cycles: usize) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe).args(["--serve", &feeds.to_string()]).stdout(Stdio::piped()).spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
    let address = line.split_whitespace().next().expect("the server's address").to_string();

    let dir = tempfile::tempdir()?;
    let mut settings = Settings {
        listen: "127.0.0.1:0".parse()?,
        database_url: format!("sqlite:{}", dir.path().join("hub.db").display()),
        ..Settings::default()
    };
    settings.poll.enabled = false;
    settings.poll.concurrency = 64;
    settings.poll.per_host_concurrency = 64;
    settings.poll.min_interval_secs = 1;
    settings.fetch.allow = vec![address.clone()];
    settings.webhooks.enabled = false;
    let app = App::build(settings, Options::default()).await?;
    let store = app.store();
    let poller = app.poller();
    let (cpu0, rss0, _) = usage();
    println!("feeds10k: {feeds} feeds on one local server, {cycles} cycles; hub idle: {rss0} MiB resident");
    let started = Instant::now();
    for n in 0..feeds {
        let url = FeedUrl::parse(&format!("http://{address}/f/{n}")).map_err(anyhow::Error::msg)?;
        store.add_feed(&NewFeed::new(OrgId("IFRC".into()), url, 1)).await?;
    }
    println!("registered in {:.1} s", started.elapsed().as_secs_f64());
    let client = reqwest::Client::new();
    let mut cpu_before = usage().0.max(cpu0);
    for cycle in 1..=cycles {
        if cycle > 1 {
            client.post(format!("http://{address}/next")).send().await?;
            // Every feed is due again: its interval is one second.
            tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        }
        let started = Instant::now();
        let reports = poller.poll_due_once().await?;
        let wall = started.elapsed().as_secs_f64();
        let (cpu, rss, peak) = usage();
        let updated = reports.iter().filter(|r| r.ingest.created + r.ingest.updated > 0).count();
        let failed = reports.iter().filter(|r| r.error.is_some()).count();
        println!(
            "cycle {cycle}: {} feeds polled in {wall:.1} s ({:.0} feeds/s), {updated} with new entries, {failed} failed; \
             hub CPU {:.1} s; resident {rss} MiB, peak {peak} MiB",
            reports.len(),
            reports.len() as f64 / wall,
            cpu - cpu_before
        );
        cpu_before = cpu;
    }
    child.kill()?;
    Ok(())
}
