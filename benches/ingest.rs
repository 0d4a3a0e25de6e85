//! Ingest pipeline benchmark: bare feed-rs parsing, then our parse + normalise, then the full
//! pipeline (parse, normalise, store in a fresh SQLite database), over the same bytes in one run.
//!
//! Run: `cargo bench --bench ingest` (optionally `-- ITEMS ROUNDS STAGES`, default 20000 items,
//! 3 rounds, every stage; STAGES is a comma-separated subset of `feed-rs,connector,store,full`,
//! for profiling one stage alone).
//! Entries are about 1 KB each (title, ~900-byte description with a little HTML, guid, link, date).

use std::time::{Duration, Instant};

use connectors::{Connector, FeedContext};
use tributary::model::{Feed, FeedUrl, NewFeed, OrgId};
use tributary::poller::fetch::Body;
use tributary::poller::ingest::parse_and_store;
use tributary::seed::Seed;
use tributary::store::{FetchRecord, SqliteStore, Store};

const SENTENCES: [&str; 6] = [
    "Arrivals on the Central Mediterranean route rose after a week of calm sea, and teams in Lampedusa, Italy, report boats leaving from eastern Libya.",
    "The new asylum law shortens the border procedure and changes the rules on appeals for people arriving by sea.",
    "Volunteers distributed food, water and hygiene kits, and restoring family links services helped people call their families.",
    "The National Society launched an emergency appeal to fund reception centres and psychosocial support for children.",
    "Authorities announced the closure of the border crossing, and migrants now take a longer and more dangerous route through the mountains.",
    "A study on access to health care for migrants in transit was published, based on interviews in five countries.",
];

fn document(items: usize) -> Vec<u8> {
    let mut out = String::with_capacity(items * 1100);
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel><title>Benchmark feed</title><language>en</language>");
    for i in 0..items {
        let mut description = String::from("&lt;p&gt;");
        let mut k = i;
        while description.len() < 880 {
            description.push_str(SENTENCES[k % SENTENCES.len()]);
            description.push(' ');
            k += 1;
        }
        description.push_str("&lt;/p&gt;");
        out.push_str(&format!(
            "<item><guid isPermaLink=\"false\">bench-{i}</guid><title>Migration update {i}: route change reported near the border</title>\
             <link>https://example.org/news/{i}</link><description>{description}</description>\
             <pubDate>Mon, 02 Nov 2026 {:02}:{:02}:00 GMT</pubDate></item>",
            (i / 60) % 24,
            i % 60
        ));
    }
    out.push_str("</channel></rss>");
    out.into_bytes()
}

/// The stages measured, in order.
const STAGES: [&str; 4] = ["feed-rs", "connector", "store", "full"];

/// The default `poll.chunk_size`.
const CHUNK: usize = 2000;

/// Stands for the body's SHA-256: the poller records a resume point with each chunk.
const BODY_HASH: &str = "benchmark-body";

/// A migrated, seeded SQLite store in `dir` with one registered feed.
async fn fresh_store(dir: &tempfile::TempDir) -> anyhow::Result<(SqliteStore, Feed)> {
    let store = SqliteStore::connect(&format!("sqlite:{}", dir.path().join("bench.db").display())).await?;
    store.migrate().await?;
    store.seed(&Seed::bundled()?).await?;
    let feed = store
        .add_feed(&NewFeed::new(
            OrgId("IT".into()),
            FeedUrl::parse("https://example.org/feed.xml").map_err(anyhow::Error::msg)?,
            900,
        ))
        .await?;
    Ok((store, feed))
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn rate(items: usize, d: Duration) -> f64 {
    items as f64 / d.as_secs_f64()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tributary::tune_allocator();
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let items: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let rounds: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let stages: Vec<&str> = args.get(2).map_or(STAGES.to_vec(), |s| s.split(',').collect());
    if let Some(unknown) = stages.iter().find(|s| !STAGES.contains(s)) {
        anyhow::bail!("unknown stage `{unknown}`; the stages are {}", STAGES.join(", "));
    }
    let run = |stage: &str| stages.contains(&stage);
    let bytes = document(items);
    println!(
        "ingest benchmark: {items} entries, {:.1} MB, {:.0} bytes/entry, {rounds} rounds (median)",
        bytes.len() as f64 / 1e6,
        bytes.len() as f64 / items as f64
    );

    let mut bare = Vec::new();
    let mut normalise = Vec::new();
    let mut full = Vec::new();
    let mut store_only = Vec::new();
    for _ in 0..rounds {
        if run("feed-rs") {
            let t = Instant::now();
            let feed = feed_rs::parser::parse(bytes.as_slice())?;
            assert_eq!(feed.entries.len(), items);
            bare.push(t.elapsed());
        }

        if run("connector") {
            let t = Instant::now();
            let parsed = Connector::Rss.parse(&bytes, &FeedContext::default())?;
            assert_eq!(parsed.items.len(), items);
            normalise.push(t.elapsed());
        }

        if run("store") {
            let dir = tempfile::tempdir()?;
            let (store, feed) = fresh_store(&dir).await?;
            let parsed = Connector::Rss.parse(&bytes, &FeedContext::default())?;
            let t = Instant::now();
            let report = store.ingest(&feed, &parsed.items, &FetchRecord::default(), CHUNK).await?;
            assert_eq!(report.created, items);
            store_only.push(t.elapsed());
        }

        if run("full") {
            // The poller's path: parse and normalise on a blocking thread, store chunks as they come.
            let fresh = tempfile::tempdir()?;
            let (store, feed) = fresh_store(&fresh).await?;
            let t = Instant::now();
            let body = Body::Memory(bytes.clone());
            let (_, report) =
                parse_and_store(&store, &feed, Connector::Rss, body, Some(BODY_HASH), FeedContext::default(), CHUNK)
                    .await?;
            store.record_success(feed.id, &FetchRecord::default()).await?;
            assert_eq!(report.created, items);
            full.push(t.elapsed());
        }
    }
    println!("{:<42} {:>10} {:>14}", "stage", "time", "items/s");
    let rows = [
        ("feed-rs parse only", &bare),
        ("parse + normalise (connector)", &normalise),
        ("store only (SQLite, WAL, chunks of 2000)", &store_only),
        ("full pipeline (parse+normalise ‖ store)", &full),
    ];
    for (name, runs) in rows.into_iter().filter(|(_, runs)| !runs.is_empty()) {
        let d = median(runs.clone());
        println!("{name:<42} {:>8.0}ms {:>14.0}", d.as_secs_f64() * 1e3, rate(items, d));
    }
    if !bare.is_empty() && !full.is_empty() {
        let ratio = rate(items, median(full)) / rate(items, median(bare));
        println!("full pipeline / bare feed-rs throughput: {ratio:.2}");
    }
    Ok(())
}
