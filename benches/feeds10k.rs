//! 10,000 feeds: how long one full poll cycle takes, what CPU it costs and how much memory the
//! hub holds, when most feeds are unchanged (304) and some change each cycle.
//!
//! Run: `cargo bench --bench feeds10k` (optionally `-- FEEDS CYCLES`, default 10000 and 3), with
//! `--postgres postgres://USER@HOST:PORT` to store in a fresh database on that server (made and
//! dropped by the bench) instead of a SQLite file, and `--continuous SECONDS` to run the hub's own
//! poll loop (as `serve` does) for that long instead of separate cycles: feeds are polled every
//! `--interval` seconds (default 60), 1 % of them change each interval, and each minute the bench
//! prints the polls made, the hub's CPU and memory, and how regularly each feed was polled (the
//! gaps between two requests for the same feed, as the feed server saw them).
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
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use sqlx::Connection;
use tributary::app::{App, Options};
use tributary::config::Settings;
use tributary::model::{FeedUrl, NewFeed, OrgId};

fn main() -> anyhow::Result<()> {
    tributary::tune_allocator();
    let mut args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    if args.first().map(String::as_str) == Some("--serve") {
        return runtime.block_on(serve(args[1].parse()?));
    }
    let mut option = |name: &str| -> Option<String> {
        let at = args.iter().position(|a| a == name)?;
        let value = args.get(at + 1).cloned();
        args.drain(at..(at + 2).min(args.len()));
        value
    };
    let postgres = option("--postgres");
    let continuous: Option<u64> = option("--continuous").map(|s| s.parse()).transpose()?;
    let interval: i64 = option("--interval").map(|s| s.parse()).transpose()?.unwrap_or(60);
    let feeds: usize = args.first().map(|a| a.parse()).transpose()?.unwrap_or(10_000);
    let cycles: usize = args.get(1).map(|a| a.parse()).transpose()?.unwrap_or(3);
    let plan = Plan { feeds, cycles, continuous, interval };
    runtime.block_on(async {
        match postgres {
            None => {
                let dir = tempfile::tempdir()?;
                run(&plan, &format!("sqlite:{}", dir.path().join("hub.db").display())).await
            }
            Some(server) => {
                let server = server.trim_end_matches('/');
                let name = format!("feeds10k_{}", std::process::id());
                let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres")).await?;
                sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await?;
                let result = run(&plan, &format!("{server}/{name}")).await;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await?;
                result
            }
        }
    })
}

/// What to run.
struct Plan {
    feeds: usize,
    cycles: usize,
    /// Seconds of continuous polling, instead of cycles.
    continuous: Option<u64>,
    /// Seconds between polls of a feed, in continuous polling.
    interval: i64,
}

/// The feed server's state: the generation, and what it saw since it was last asked.
struct Served {
    generation: AtomicU64,
    started: Instant,
    /// Per feed, when it was last requested (milliseconds since `started`, plus one; 0: never).
    last: Vec<AtomicU64>,
    /// Milliseconds between two requests for the same feed, and the answers given (200, 304).
    seen: Mutex<(Vec<u64>, u64, u64)>,
}

/// The feed server: `/f/{n}`, `POST /next` to move to the next generation, and `GET /stats` for
/// what it saw since it was last asked.
async fn serve(feeds: u64) -> anyhow::Result<()> {
    let served = Arc::new(Served {
        generation: AtomicU64::new(0),
        started: Instant::now(),
        last: (0..feeds).map(|_| AtomicU64::new(0)).collect(),
        seen: Mutex::new((Vec::new(), 0, 0)),
    });
    let app = axum::Router::new()
        .route("/f/{n}", get(feed))
        .route(
            "/next",
            post(|State(s): State<Arc<Served>>| async move { s.generation.fetch_add(1, Ordering::SeqCst).to_string() }),
        )
        .route("/stats", get(stats))
        .with_state(served);
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

/// `requests ok not_modified gap_p50 gap_p99 gap_max` (gaps in seconds) since the last call.
async fn stats(State(s): State<Arc<Served>>) -> String {
    let (mut gaps, ok, not_modified) = std::mem::take(&mut *s.seen.lock().unwrap());
    gaps.sort_unstable();
    let at = |q: f64| gaps.get(((gaps.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(0) as f64 / 1000.0;
    format!("{} {ok} {not_modified} {:.1} {:.1} {:.1}", ok + not_modified, at(0.5), at(0.99), at(1.0))
}

async fn feed(Path(n): Path<u64>, State(s): State<Arc<Served>>, headers: HeaderMap) -> axum::response::Response {
    let now = s.started.elapsed().as_millis() as u64 + 1;
    let before = s.last.get(n as usize).map(|last| last.swap(now, Ordering::SeqCst)).unwrap_or(0);
    let v = version(n, s.generation.load(Ordering::SeqCst));
    let etag = format!("\"{n}-{v}\"");
    let unchanged = headers.get(header::IF_NONE_MATCH).and_then(|h| h.to_str().ok()) == Some(etag.as_str());
    {
        let mut seen = s.seen.lock().unwrap();
        if before > 0 {
            seen.0.push(now - before);
        }
        if unchanged {
            seen.2 += 1;
        } else {
            seen.1 += 1;
        }
    }
    if unchanged {
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

/// CPU seconds (user + system) of the PostgreSQL server's processes on this machine (its
/// connection backends live as long as the hub's pool, so a difference covers the hub's work).
fn postgres_cpu() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0.0 };
    let mut ticks = 0.0;
    for entry in entries.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let Some((head, rest)) = stat.rsplit_once(')') else { continue };
        if !head.ends_with("(postgres") {
            continue;
        }
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
        ticks += field(14) + field(15);
    }
    ticks / 100.0
}

async fn run(plan: &Plan, database_url: &str) -> anyhow::Result<()> {
    let Plan { feeds, cycles, .. } = *plan;
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe).args(["--serve", &feeds.to_string()]).stdout(Stdio::piped()).spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
    let address = line.split_whitespace().next().expect("the server's address").to_string();

    let mut settings =
        Settings { listen: "127.0.0.1:0".parse()?, database_url: database_url.to_string(), ..Settings::default() };
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
    let backend = database_url.split(':').next().unwrap_or_default();
    let interval = if plan.continuous.is_some() { plan.interval } else { 1 };
    match plan.continuous {
        Some(seconds) => println!(
            "feeds10k: {feeds} feeds on one local server, {backend}, continuous polling for {seconds} s, \
             every feed every {interval} s; hub idle: {rss0} MiB resident"
        ),
        None => println!(
            "feeds10k: {feeds} feeds on one local server, {backend}, {cycles} cycles; hub idle: {rss0} MiB resident"
        ),
    }
    let started = Instant::now();
    for n in 0..feeds {
        let url = FeedUrl::parse(&format!("http://{address}/f/{n}")).map_err(anyhow::Error::msg)?;
        store.add_feed(&NewFeed::new(OrgId("IFRC".into()), url, interval)).await?;
    }
    println!("registered in {:.1} s", started.elapsed().as_secs_f64());
    let client = reqwest::Client::new();
    if let Some(seconds) = plan.continuous {
        let result = continuous(&client, &address, poller, seconds, interval, backend != "sqlite").await;
        child.kill()?;
        return result;
    }
    let mut cpu_before = usage().0.max(cpu0);
    let mut pg_before = postgres_cpu();
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
        let pg = postgres_cpu();
        let pg_cpu =
            if backend == "sqlite" { String::new() } else { format!(", PostgreSQL CPU {:.1} s", pg - pg_before) };
        println!(
            "cycle {cycle}: {} feeds polled in {wall:.1} s ({:.0} feeds/s), {updated} with new entries, {failed} failed; \
             hub CPU {:.1} s{pg_cpu}; resident {rss} MiB, peak {peak} MiB",
            reports.len(),
            reports.len() as f64 / wall,
            cpu - cpu_before
        );
        cpu_before = cpu;
        pg_before = pg;
    }
    child.kill()?;
    Ok(())
}

/// The hub's own poll loop for `seconds`; the feed server moves to its next generation every
/// `interval` seconds, and each minute the bench prints what happened in it.
async fn continuous(
    client: &reqwest::Client,
    address: &str,
    poller: Arc<tributary::poller::Poller>,
    seconds: u64,
    interval: i64,
    postgres: bool,
) -> anyhow::Result<()> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let polling = tokio::spawn(poller.run(async {
        let _ = stopped.await;
    }));
    let started = Instant::now();
    let mut next_generation = std::time::Duration::from_secs(interval.max(1) as u64);
    let mut cpu_before = usage().0;
    let mut pg_before = postgres_cpu();
    let mut minute = 0;
    println!(
        "minute  requests   200   304  gap p50  gap p99  gap max  hub CPU  {}resident  peak",
        if postgres { "PG CPU  " } else { "" }
    );
    while started.elapsed().as_secs() < seconds {
        minute += 1;
        let end = std::time::Duration::from_secs((minute * 60).min(seconds));
        while next_generation <= end {
            tokio::time::sleep(next_generation.saturating_sub(started.elapsed())).await;
            client.post(format!("http://{address}/next")).send().await?;
            next_generation += std::time::Duration::from_secs(interval.max(1) as u64);
        }
        tokio::time::sleep(end.saturating_sub(started.elapsed())).await;
        let stats = client.get(format!("http://{address}/stats")).send().await?.text().await?;
        let s: Vec<&str> = stats.split_whitespace().collect();
        let (cpu, rss, peak) = usage();
        let pg = postgres_cpu();
        let pg_cpu = if postgres { format!("{:>4.1} s  ", pg - pg_before) } else { String::new() };
        println!(
            "{minute:>6}  {:>8}  {:>4}  {:>4}  {:>6} s  {:>6} s  {:>6} s  {:>5.1} s  {pg_cpu}{rss:>4} MiB  {peak:>4} MiB",
            s[0],
            s[1],
            s[2],
            s[3],
            s[4],
            s[5],
            cpu - cpu_before
        );
        cpu_before = cpu;
        pg_before = pg;
    }
    let _ = stop.send(());
    polling.await??;
    Ok(())
}
