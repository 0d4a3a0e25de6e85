//! CSV ingest benchmark: bare `csv` crate parsing, then our parse + normalise (HXL defaults), then
//! the full pipeline into a fresh SQLite database, over the same bytes in one run; and the
//! process's peak resident memory at the end.
//!
//! Run: `cargo bench --bench csv_ingest` (optionally `-- ROWS ROUNDS`, default 20000 rows,
//! 3 rounds); `cargo bench --bench csv_ingest -- --memory [ROWS]` imports a file of 1,000,000
//! rows (by default) that is never held in memory and prints the peak resident memory. Rows are an HXL-tagged displacement table: id, country, origin, date, event, two
//! disaggregated figures, about 90 bytes a row.

use std::io::Write;
use std::time::{Duration, Instant};

use connectors::{Connector, FeedContext};
use tributary::model::{Feed, FeedKind, FeedUrl, NewFeed, OrgId};
use tributary::poller::fetch::Body;
use tributary::poller::ingest::parse_and_store;
use tributary::seed::Seed;
use tributary::store::{FetchRecord, SqliteStore, Store};

const CHUNK: usize = 2000;

/// Stands for the body's SHA-256: the poller records a resume point with each chunk.
const BODY_HASH: &str = "benchmark-body";

const COUNTRIES: [(&str, &str); 5] =
    [("SO", "Ethiopia"), ("IT", "Tunisia"), ("MX", "Honduras"), ("BD", "Myanmar"), ("TR", "Syria")];
const EVENTS: [&str; 4] = [
    "Flooding displaces families",
    "New arrivals at the border camp",
    "Returns from the coast",
    "Reception centre at capacity",
];

/// Writes the table of `rows` rows to `out`, a row at a time.
fn write_rows(rows: usize, out: &mut impl Write) -> std::io::Result<()> {
    out.write_all(
        b"Site id,Country,Origin,Date,Event,IDPs (women),IDPs (children)\n\
          #meta+id,#country+code,#country+name+origin,#date,#event+name+i_en,#affected+idps+f,#affected+idps+children\n",
    )?;
    for i in 0..rows {
        let (country, origin) = COUNTRIES[i % COUNTRIES.len()];
        writeln!(
            out,
            "site-{i},{country},{origin},2026-{:02}-{:02},{} at site {i},\"{},{:03}\",{}",
            i % 12 + 1,
            i % 28 + 1,
            EVENTS[i % EVENTS.len()],
            1 + i % 9,
            i % 1000,
            i % 700
        )?;
    }
    Ok(())
}

fn file(rows: usize) -> Vec<u8> {
    let mut out = Vec::new();
    write_rows(rows, &mut out).expect("writing to memory");
    out
}

/// The table written to a temporary file, as the poller spools a fetched CSV file.
fn spooled(rows: usize) -> anyhow::Result<std::fs::File> {
    let mut file = tempfile::tempfile()?;
    let mut out = std::io::BufWriter::new(&mut file);
    write_rows(rows, &mut out)?;
    out.flush()?;
    drop(out);
    Ok(file)
}

async fn fresh_store(dir: &tempfile::TempDir) -> anyhow::Result<(SqliteStore, Feed)> {
    let store = SqliteStore::connect(&format!("sqlite:{}", dir.path().join("bench.db").display())).await?;
    store.migrate().await?;
    store.seed(&Seed::bundled()?).await?;
    let url = FeedUrl::parse("https://example.org/sites.csv").map_err(anyhow::Error::msg)?;
    let feed = store.add_feed(&NewFeed { kind: FeedKind::Csv, ..NewFeed::new(OrgId("IFRC".into()), url, 900) }).await?;
    Ok((store, feed))
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn rate(rows: usize, d: Duration) -> f64 {
    rows as f64 / d.as_secs_f64()
}

/// The process's peak resident memory (`VmHWM`), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// `--memory`: one full-pipeline run of a file (1,000,000 rows by default) that is never in
/// memory, written to a temporary file and read from it as the poller does; prints the rate and
/// the process's peak resident memory.
async fn memory(rows: usize) -> anyhow::Result<()> {
    let file = spooled(rows)?;
    let size = file.metadata()?.len();
    println!("CSV memory benchmark: {rows} rows, {:.1} MB in a temporary file", size as f64 / 1e6);
    let dir = tempfile::tempdir()?;
    let (store, feed) = fresh_store(&dir).await?;
    let before = peak_rss_mib();
    let t = Instant::now();
    let (parsed, report) = parse_and_store(
        &store,
        &feed,
        Connector::Csv(None),
        Body::File(file),
        Some(BODY_HASH),
        FeedContext::default(),
        CHUNK,
    )
    .await?;
    store.record_success(feed.id, &FetchRecord::default()).await?;
    let elapsed = t.elapsed();
    assert_eq!(report.created, rows, "{:?}", parsed.warnings.first());
    println!("full pipeline from the file: {:.1} s, {:.0} rows/s stored", elapsed.as_secs_f64(), rate(rows, elapsed));
    // A snapshot's withdrawal pass reads every live item back a page at a time.
    let t = Instant::now();
    let (withdrawn, _) = store.withdraw_missing(&feed, &parsed.keys).await?;
    assert_eq!(withdrawn, 0);
    println!("snapshot withdrawal pass over {} items: {:.1} s", parsed.keys.len(), t.elapsed().as_secs_f64());
    if let (Some(before), Some(peak)) = (before, peak_rss_mib()) {
        println!("peak resident memory: {before:.0} MiB before the import, {peak:.0} MiB for the whole run");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tributary::tune_allocator();
    if std::env::args().any(|a| a == "--memory") {
        let rows = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1_000_000);
        return memory(rows).await;
    }
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let rows: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let rounds: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let bytes = file(rows);
    println!(
        "CSV ingest benchmark: {rows} rows, {:.1} MB, {:.0} bytes/row, {rounds} rounds (median)",
        bytes.len() as f64 / 1e6,
        bytes.len() as f64 / rows as f64
    );
    let (mut bare, mut connector, mut full) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(bytes.as_slice());
        let mut record = csv::ByteRecord::new();
        let mut count = 0;
        while reader.read_byte_record(&mut record)? {
            count += 1;
        }
        assert_eq!(count, rows + 2);
        bare.push(t.elapsed());

        let t = Instant::now();
        let parsed = Connector::Csv(None).parse(&bytes, &FeedContext::default())?;
        assert_eq!(parsed.items.len(), rows, "{:?}", parsed.warnings.first());
        connector.push(t.elapsed());

        let dir = tempfile::tempdir()?;
        let (store, feed) = fresh_store(&dir).await?;
        let t = Instant::now();
        // The poller's path: the file spooled to disk, read a row at a time.
        let mut body = tempfile::tempfile()?;
        body.write_all(&bytes)?;
        let (_, report) = parse_and_store(
            &store,
            &feed,
            Connector::Csv(None),
            Body::File(body),
            Some(BODY_HASH),
            FeedContext::default(),
            CHUNK,
        )
        .await?;
        store.record_success(feed.id, &FetchRecord::default()).await?;
        assert_eq!(report.created, rows);
        full.push(t.elapsed());
    }
    println!("{:<42} {:>10} {:>14}", "stage", "time", "rows/s");
    for (name, runs) in [
        ("csv crate parse only", &bare),
        ("parse + normalise (connector)", &connector),
        ("full pipeline (parse+normalise ‖ store)", &full),
    ] {
        let d = median(runs.clone());
        println!("{name:<42} {:>8.0}ms {:>14.0}", d.as_secs_f64() * 1e3, rate(rows, d));
    }
    let ratio = rate(rows, median(full)) / rate(rows, median(bare));
    println!("full pipeline / bare csv throughput: {ratio:.3}");
    if let Some(peak) = peak_rss_mib() {
        println!("peak resident memory of the whole run: {peak:.0} MiB");
    }
    Ok(())
}
