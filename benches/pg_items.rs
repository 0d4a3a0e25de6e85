//! `items(first: 50)` on PostgreSQL with a million items: a country + category filter, and a
//! full-text search, under concurrent load from a second process.
//!
//! Run: `cargo bench --bench pg_items -- [ITEMS] [SECONDS] [CONCURRENCY]` (default 1,000,000
//! items, 30 s per query kind, 8 requests at once). The database is `BENCH_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432/tributary_bench`), created when missing and
//! filled up to ITEMS through the hub's own ingest path (RSS documents of 20,000 entries of about
//! 1 KB, parsed, normalised and stored in chunks); a later run reuses what is there. The hub then
//! serves in this process, with its response cache and rate limit off so every request reaches
//! the database, and this binary starts itself again as the load generator (`--load`), which
//! reports latencies and throughput.

use std::time::{Duration, Instant};

use connectors::{Connector, FeedContext};
use serde_json::{json, Value};
use tributary::app::{App, Options};
use tributary::config::Settings;
use tributary::model::{FeedUrl, NewFeed, OrgId};
use tributary::poller::fetch::Body;
use tributary::poller::ingest::parse_and_store;
use tributary::store::{FetchRecord, PgStore, Store};

const DOCUMENT: usize = 20_000;

const COUNTRIES: [(&str, &str); 24] = [
    ("IT", "Italy"),
    ("GR", "Greece"),
    ("ES", "Spain"),
    ("LY", "Libya"),
    ("TN", "Tunisia"),
    ("MA", "Morocco"),
    ("TR", "Türkiye"),
    ("MX", "Mexico"),
    ("PA", "Panama"),
    ("CO", "Colombia"),
    ("VE", "Venezuela"),
    ("US", "the United States"),
    ("BD", "Bangladesh"),
    ("MM", "Myanmar"),
    ("MY", "Malaysia"),
    ("ID", "Indonesia"),
    ("AF", "Afghanistan"),
    ("PK", "Pakistan"),
    ("KZ", "Kazakhstan"),
    ("UZ", "Uzbekistan"),
    ("RU", "Russia"),
    ("PL", "Poland"),
    ("FR", "France"),
    ("DE", "Germany"),
];

/// National Societies (of the seed) that own the feeds.
const OWNERS: [&str; 16] =
    ["IT", "GR", "ES", "FR", "DE", "PL", "MX", "PA", "CO", "BD", "MY", "ID", "AF", "PK", "KZ", "UZ"];

/// Headlines by kind: route changes, regulatory changes, and other news.
const HEADLINES: [&str; 12] = [
    "Boats now leave from the east coast of {c} as the western crossing closes",
    "Authorities of {c} close the border crossing and migrants take a longer route",
    "New arrivals in {c} after smugglers shift departures to a new landing point",
    "{c} adopts a new asylum law shortening the border procedure",
    "Decree in {c} ends visa-free entry and changes residence permit rules",
    "Court ruling in {c} changes the detention rules for asylum seekers",
    "The National Society in {c} launches an emergency appeal for reception centres",
    "Volunteers in {c} distribute food, water and hygiene kits to people in transit",
    "A study on access to health care for migrants in {c} is published",
    "Regional meeting on migration held in {c} with National Societies",
    "Returns from {c}: the first charter flight carries 120 people home",
    "Needs assessment in {c} finds shelter and cash are most urgent",
];

const SENTENCES: [&str; 6] = [
    "Teams report that arrivals rose after a week of calm sea and that people describe a longer and more dangerous journey.",
    "Restoring family links services helped people call their families, and psychosocial support was offered to children.",
    "The National Society asks donors to fund reception centres, health posts and protection services.",
    "Partners met local authorities to coordinate water, sanitation and shelter for people waiting at the border.",
    "The report is based on interviews with migrants, volunteers and officials in five countries.",
    "Figures for the month show changes in the nationalities of people arriving and in the places they leave from.",
];

const WORDS: [&str; 10] =
    ["smugglers", "asylum", "volunteers", "decree", "hygiene", "charter", "shelter", "boats", "study", "appeal"];

fn document(first: usize, items: usize) -> Vec<u8> {
    let mut out = String::with_capacity(items * 1100);
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel><title>Benchmark</title><language>en</language>");
    for i in first..first + items {
        let (_, country) = COUNTRIES[(i / 7) % COUNTRIES.len()];
        let title = HEADLINES[i % HEADLINES.len()].replace("{c}", country);
        let mut description = String::new();
        let mut k = i;
        while description.len() < 800 {
            description.push_str(SENTENCES[k % SENTENCES.len()]);
            description.push(' ');
            k += 3;
        }
        // Two years of entries, the newest last.
        let at = chrono::DateTime::from_timestamp(1_730_000_000 + (i as i64) * 63, 0).unwrap();
        out.push_str(&format!(
            "<item><guid isPermaLink=\"false\">bench-{i}</guid><title>{title} (report {i})</title>\
             <link>https://example.org/news/{i}</link><description>{description}</description>\
             <pubDate>{}</pubDate></item>",
            at.to_rfc2822()
        ));
    }
    out.push_str("</channel></rss>");
    out.into_bytes()
}

/// Creates the bench database when missing; returns its URL.
async fn database() -> anyhow::Result<String> {
    use sqlx::Connection;
    let url = std::env::var("BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/tributary_bench".into());
    let (server, name) = url.rsplit_once('/').ok_or_else(|| anyhow::anyhow!("no database name in {url}"))?;
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres")).await?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&mut admin)
        .await?;
    if !exists {
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await?;
    }
    Ok(url)
}

/// Ingests documents until the database holds `wanted` items.
async fn fill(store: &PgStore, url: &str, wanted: usize) -> anyhow::Result<()> {
    let pool = sqlx::PgPool::connect(url).await?;
    let mut have: i64 = sqlx::query_scalar("SELECT count(*) FROM items").fetch_one(&pool).await?;
    let started = Instant::now();
    let initial = have;
    while (have as usize) < wanted {
        let n = DOCUMENT.min(wanted - have as usize);
        let org = OWNERS[(have as usize / DOCUMENT) % OWNERS.len()];
        let url = FeedUrl::parse(&format!("https://{}.example.org/feed-{have}.xml", org.to_lowercase()))
            .map_err(anyhow::Error::msg)?;
        let feed = store.add_feed(&NewFeed::new(OrgId(org.into()), url, 900)).await?;
        let body = Body::Memory(document(have as usize, n));
        let (_, report) =
            parse_and_store(store, &feed, Connector::Rss, body, None, FeedContext::default(), 2000).await?;
        store.record_success(feed.id, &FetchRecord::default()).await?;
        have += report.created as i64;
        let rate = (have - initial) as f64 / started.elapsed().as_secs_f64();
        eprintln!("filled {have} of {wanted} items ({rate:.0} items/s)");
        if report.created == 0 {
            anyhow::bail!("a document stored nothing");
        }
    }
    sqlx::query("ANALYZE").execute(&pool).await?;
    Ok(())
}

/// The two query kinds, each cycling through variables so no two requests in a row are alike.
fn requests(kind: &str) -> Vec<Value> {
    let node = "id title publishedAt organisation { name } countries { country } classification { category }";
    match kind {
        "filtered" => {
            let query = format!(
                "query($c: CountryCode!, $k: Category!) {{ items(first: 50, filter: {{ countries: [$c], categories: [$k] }}) \
                 {{ edges {{ cursor node {{ {node} }} }} pageInfo {{ hasNextPage }} }} }}"
            );
            let categories = ["ROUTE_CHANGE", "REGULATORY_CHANGE", "FUNDING", "STUDY"];
            COUNTRIES
                .iter()
                .flat_map(|(code, _)| categories.iter().map(move |k| json!({ "c": code, "k": k })))
                .map(|variables| json!({ "query": query, "variables": variables }))
                .collect()
        }
        _ => {
            let query = format!(
                "query($q: String!) {{ items(first: 50, filter: {{ search: $q }}) \
                 {{ edges {{ cursor node {{ {node} }} }} pageInfo {{ hasNextPage }} }} }}"
            );
            let mut searches: Vec<String> = WORDS.iter().map(|w| w.to_string()).collect();
            searches.extend(COUNTRIES.iter().take(12).map(|(_, name)| format!("{} {}", name, WORDS[name.len() % 10])));
            searches.push("\"border procedure\"".into());
            searches.push("asylum -court".into());
            searches.into_iter().map(|q| json!({ "query": query, "variables": { "q": q } })).collect()
        }
    }
}

/// The load generator: `concurrency` clients posting `kind` requests for `seconds` (after two
/// seconds of warm-up), printing one JSON line of results.
async fn load(address: &str, kind: &str, concurrency: usize, seconds: u64) -> anyhow::Result<()> {
    let bodies = std::sync::Arc::new(requests(kind));
    let url = format!("http://{address}/graphql");
    let warm = Instant::now() + Duration::from_secs(2);
    let end = warm + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let bodies = std::sync::Arc::clone(&bodies);
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder().no_proxy().build()?;
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            let mut n = worker;
            let mut variant;
            loop {
                let start = Instant::now();
                if start >= end {
                    break;
                }
                variant = n % bodies.len();
                let body = &bodies[variant];
                n += concurrency;
                let response = client.post(&url).json(body).send().await?;
                let ok = response.status().is_success();
                let value: Value = response.json().await?;
                let elapsed = start.elapsed();
                if !ok || value.get("errors").is_some() || value["data"]["items"]["edges"].as_array().is_none() {
                    errors += 1;
                    if errors == 1 {
                        eprintln!("error answer: {value}");
                    }
                }
                if start >= warm {
                    latencies.push((elapsed, variant));
                }
            }
            Ok::<_, anyhow::Error>((latencies, errors))
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await??;
        latencies.extend(l);
        errors += e;
    }
    // A slow variant makes few requests, so percentiles over requests understate it: each
    // variant's median is taken too, and the slowest reported with its variables.
    let mut by_variant: Vec<Vec<Duration>> = vec![Vec::new(); bodies.len()];
    for (d, v) in &latencies {
        by_variant[*v].push(*d);
    }
    let (worst, worst_p50) = by_variant
        .iter_mut()
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(v, l)| {
            l.sort();
            (v, l[l.len() / 2])
        })
        .max_by_key(|(_, d)| *d)
        .unwrap_or((0, Duration::ZERO));
    let mut latencies: Vec<Duration> = latencies.into_iter().map(|(d, _)| d).collect();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)].as_secs_f64() * 1e3;
    println!(
        "{}",
        json!({ "requests": latencies.len(), "errors": errors, "rps": latencies.len() as f64 / seconds as f64,
                "p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": at(1.0),
                "worst_variant_p50": worst_p50.as_secs_f64() * 1e3, "worst_variant": bodies[worst]["variables"] })
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    if args.first().map(String::as_str) == Some("--load") {
        let concurrency = args[3].parse()?;
        return load(&args[1], &args[2], concurrency, args[4].parse()?).await;
    }
    tributary::tune_allocator();
    let items: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let seconds: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(30);
    let concurrency: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(8);

    let url = database().await?;
    let store = PgStore::connect(&url).await?;
    store.migrate().await?;
    store.seed(&tributary::seed::Seed::bundled()?).await?;
    fill(&store, &url, items).await?;
    drop(store);

    let mut settings = Settings { database_url: url, listen: "127.0.0.1:0".parse()?, ..Settings::default() };
    settings.poll.enabled = false;
    settings.webhooks.enabled = false;
    settings.api.cache_bytes = 0;
    settings.api.rate_limit_per_minute = 0;
    settings.database.max_connections = (concurrency as u32).max(4) + 2;
    settings.log = "warn".into();
    let app = App::build(settings, Options::default()).await?;
    let address = app.address().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));

    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    println!(
        "items(first: 50) on PostgreSQL, {items} items; {concurrency} requests at once from a second process, {seconds} s each; \
         {cpu}, {} CPUs",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    println!(
        "{:<28} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7}  slowest variant (its median)",
        "query", "requests", "req/s", "p50 ms", "p90 ms", "p99 ms", "errors"
    );
    for (kind, label) in [("filtered", "country + category filter"), ("search", "full-text search")] {
        let args =
            ["--load".to_string(), address.clone(), kind.to_string(), concurrency.to_string(), seconds.to_string()];
        let exe = std::env::current_exe()?;
        let out = tokio::task::spawn_blocking(move || std::process::Command::new(exe).args(args).output()).await??;
        if !out.status.success() {
            anyhow::bail!("the load generator failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        let r: Value = serde_json::from_slice(&out.stdout)?;
        println!(
            "{label:<28} {:>9} {:>8.0} {:>8.1} {:>8.1} {:>8.1} {:>7}  {} ({:.1} ms)",
            r["requests"],
            r["rps"].as_f64().unwrap_or(0.0),
            r["p50"].as_f64().unwrap_or(0.0),
            r["p90"].as_f64().unwrap_or(0.0),
            r["p99"].as_f64().unwrap_or(0.0),
            r["errors"],
            r["worst_variant"],
            r["worst_variant_p50"].as_f64().unwrap_or(0.0)
        );
    }
    let _ = stop.send(());
    server.await??;
    Ok(())
}
