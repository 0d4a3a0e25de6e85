//! Hostile feeds: a local server that misbehaves in every way a society's server (broken or
//! compromised) might, all of it polled in one cycle beside a good feed. Each hostile feed ends
//! FAILING with a reason a focal point can read (or, where the hub can read it safely, ingested
//! with a warning); the good feed is ingested; the hub keeps serving; and the memory of the whole
//! test process stays bounded (its peak resident set, read from /proc, is printed and checked).

mod helpers;

use std::io::Write;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use helpers::{rss, spawn_app_with, TestApp};
use serde_json::json;
use tributary::model::{Feed, FeedKind, FeedUrl, NewFeed, OrgId};

const GIB: u64 = 1 << 30;

/// `len` bytes of zeros, gzip-compressed (about a thousandth of that).
fn gzip_zeros(len: u64) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..len / chunk.len() as u64 {
        encoder.write_all(&chunk).unwrap();
    }
    encoder.finish().unwrap()
}

/// `len` bytes of zeros, brotli-compressed.
fn brotli_zeros(len: u64) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = brotli::CompressorWriter::new(&mut out, 1 << 16, 5, 22);
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..len / chunk.len() as u64 {
            encoder.write_all(&chunk).unwrap();
        }
    }
    out
}

/// The classic entity expansion: ten levels of ten, a billion `lol`s if expanded.
const LAUGHS: &str = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>&lol9;</title>
<item><guid>1</guid><title>&lol9;</title><description>&lol9;</description></item>
</channel></rss>"#;

fn with(content_type: &'static str, encoding: Option<&'static str>, body: impl Into<Body>) -> Response {
    let mut response = (StatusCode::OK, body.into()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(encoding) = encoding {
        response.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
    }
    response
}

fn redirect(to: String) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
}

/// An RSS document of `n` small entries.
fn many_entries(n: usize) -> String {
    let mut out = String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Many</title>");
    for i in 0..n {
        out.push_str(&format!("<item><guid>m-{i}</guid><title>Entry {i}</title></item>"));
    }
    out.push_str("</channel></rss>");
    out
}

/// The misbehaving server.
async fn hostile_server() -> std::net::SocketAddr {
    let (gzip, brotli) =
        tokio::task::spawn_blocking(|| (gzip_zeros(GIB), brotli_zeros(GIB))).await.expect("bombs built");
    println!("gzip bomb: {} bytes for 1 GiB; brotli bomb: {} bytes for 1 GiB", gzip.len(), brotli.len());
    let mixed: Vec<u8> = {
        let mut v = b"<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel><title>Mixed</title>\
            <item><guid>u-1</guid><title>Caf\xc3\xa9 and caf\xe9 and \xff\xfe broken</title></item></channel></rss>"
            .to_vec();
        v.shrink_to_fit();
        v
    };
    let app = Router::new()
        .route("/entities.xml", get(|| async { with("application/rss+xml", None, LAUGHS) }))
        .route("/gzip-bomb.xml", get(move || async move { with("application/rss+xml", Some("gzip"), gzip) }))
        .route("/brotli-bomb.xml", get(move || async move { with("application/rss+xml", Some("br"), brotli) }))
        .route(
            "/huge.xml",
            get(|| async {
                // 200 MB, streamed: the server never holds it either.
                let chunk = axum::body::Bytes::from(vec![b' '; 1 << 20]);
                let stream = futures_util::stream::iter((0..200).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
                with("application/rss+xml", None, Body::from_stream(stream))
            }),
        )
        .route(
            "/trickle.xml",
            get(|| async {
                let stream = futures_util::stream::unfold(0u32, |n| async move {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Some((Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b"<")), n + 1))
                });
                with("application/rss+xml", None, Body::from_stream(stream))
            }),
        )
        .route(
            "/never.xml",
            get(|| async {
                std::future::pending::<()>().await;
                "never"
            }),
        )
        .route("/loop-a.xml", get(|| async { redirect("/loop-b.xml".into()) }))
        .route("/loop-b.xml", get(|| async { redirect("/loop-a.xml".into()) }))
        .route(
            "/hops/{n}",
            get(|axum::extract::Path(n): axum::extract::Path<u32>| async move {
                if n >= 10_000 {
                    with(
                        "application/rss+xml",
                        None,
                        rss(&[("h", "Arrived", "After 10,000 hops.", "Mon, 02 Nov 2026 10:00:00 GMT")]),
                    )
                } else {
                    redirect(format!("/hops/{}", n + 1))
                }
            }),
        )
        .route("/mixed-encoding.xml", get(move || async move { with("application/rss+xml", None, mixed) }))
        .route("/many.xml", get(|| async { with("application/rss+xml", None, many_entries(100_000)) }))
        .route(
            "/big-cell.csv",
            get(|| async {
                let mut csv = String::from("id,title,summary\n1,A short row,fine\n2,A row with a huge cell,\"");
                csv.push_str(&"x".repeat(50 << 20));
                csv.push_str("\"\n3,Another short row,fine\n");
                with("text/csv", None, csv)
            }),
        )
        .route(
            "/nested.json",
            get(|| async { with("application/json", None, format!("{}{}", "[".repeat(100_000), "]".repeat(100_000))) }),
        )
        .route(
            "/lying.xml",
            get(|| async {
                with("application/rss+xml", None, "<!doctype html><html><body><p>Not a feed at all</p></body></html>")
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}

/// Peak and current resident set of this process, in MiB (from /proc/self/status).
fn memory_mib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .unwrap_or(0)
            / 1024
    };
    (field("VmHWM:"), field("VmRSS:"))
}

async fn register(app: &TestApp, url: String, kind: FeedKind, mapping: Option<&str>) -> Feed {
    let feed = NewFeed {
        kind,
        mapping: mapping.map(str::to_string),
        ..NewFeed::new(OrgId("IFRC".into()), FeedUrl::parse(&url).unwrap(), 900)
    };
    app.store.add_feed(&feed).await.expect("registered")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_feeds_fail_alone_with_reasons_and_memory_stays_bounded() {
    let hostile = hostile_server().await;
    let (peak_before, _) = memory_mib();
    let app = spawn_app_with(|s| {
        s.fetch.allow.push(hostile.to_string());
        s.fetch.timeout_secs = 3;
        s.fetch.connect_timeout_secs = 2;
        s.fetch.file_timeout_secs = 10;
        s.poll.per_host_concurrency = 32;
        s.poll.concurrency = 32;
    })
    .await;
    let url = |path: &str| format!("http://{hostile}{path}");
    let mut feeds: Vec<(&str, Feed)> = Vec::new();
    for path in [
        "/entities.xml",
        "/gzip-bomb.xml",
        "/brotli-bomb.xml",
        "/huge.xml",
        "/trickle.xml",
        "/never.xml",
        "/loop-a.xml",
        "/hops/0",
        "/mixed-encoding.xml",
        "/many.xml",
        "/lying.xml",
    ] {
        feeds.push((path, register(&app, url(path), FeedKind::Rss, None).await));
    }
    feeds.push((
        "/big-cell.csv",
        register(
            &app,
            url("/big-cell.csv"),
            FeedKind::Csv,
            Some("format = \"csv\"\n[item]\nid = [\"id\"]\ntitle = \"{title}\"\nsummary = \"{summary}\""),
        )
        .await,
    ));
    let json_mapping = "format = \"json\"\nrecords = \"/items\"\n[item]\nid = [\"/id\"]\ntitle = \"{/title}\"";
    feeds.push(("/nested.json", register(&app, url("/nested.json"), FeedKind::JsonApi, Some(json_mapping)).await));
    app.feeds.set("/good.xml", &rss(&[("g-1", "A good feed still arrives", "Text.", "Mon, 02 Nov 2026 10:00:00 GMT")]));
    let good = app.add_feed("IT", "/good.xml").await;

    let started = std::time::Instant::now();
    let reports = app.poll_due().await;
    let elapsed = started.elapsed();
    let (peak_after, now) = memory_mib();
    println!(
        "one cycle of {} feeds: {:.1} s; peak resident {peak_before} MiB before, {peak_after} MiB after; now {now} MiB",
        reports.len(),
        elapsed.as_secs_f64()
    );

    let report_of = |feed: &Feed| reports.iter().find(|r| r.feed.id == feed.id).expect("polled");
    for (path, feed) in &feeds {
        let r = report_of(feed);
        println!("{path:>22}: {:?} created {} error {:?}", r.outcome, r.ingest.created, r.error);
    }
    let failing = |path: &str, reason: &str| {
        let (_, feed) = feeds.iter().find(|(p, _)| *p == path).unwrap();
        let error = report_of(feed).error.clone().unwrap_or_else(|| panic!("{path} did not fail"));
        assert!(error.contains(reason), "{path}: {error}");
    };
    failing("/gzip-bomb.xml", "larger than the 10485760 byte limit");
    failing("/brotli-bomb.xml", "larger than the 10485760 byte limit");
    failing("/huge.xml", "larger than the 10485760 byte limit");
    failing("/trickle.xml", "timed out after 3 s");
    failing("/never.xml", "timed out after 3 s");
    failing("/loop-a.xml", "too many redirects");
    failing("/hops/0", "too many redirects");
    failing("/lying.xml", "not a valid feed");
    failing("/nested.json", "recursion limit");
    let stored = app.store.feeds_by_ids(&tributary::access::Scope::System, &[feeds[1].1.id]).await.unwrap();
    assert_eq!(stored[0].state, tributary::model::FeedState::Failing, "marked FAILING with the reason");
    assert!(stored[0].last_error.as_deref().unwrap().contains("byte limit"));

    let ingested = |path: &str| {
        let (_, feed) = feeds.iter().find(|(p, _)| *p == path).unwrap();
        let r = report_of(feed);
        assert_eq!(r.error, None, "{path}");
        r.ingest.created
    };
    // Entities are not expanded (feed-rs's XML reader does not expand a DTD's entities).
    assert_eq!(ingested("/entities.xml"), 1);
    assert_eq!(ingested("/mixed-encoding.xml"), 1);
    assert_eq!(ingested("/many.xml"), 100_000);
    assert_eq!(ingested("/big-cell.csv"), 3);
    let long = app
        .data(
            "{ items(first: 100, filter: { search: \"huge OR broken OR lol\" }) { nodes { title summary } } }",
            json!({}),
        )
        .await;
    for item in long["items"]["nodes"].as_array().unwrap() {
        assert!(item["title"].as_str().unwrap().len() <= 4096, "{}", &item["title"].as_str().unwrap()[..100]);
        assert!(item["summary"].as_str().unwrap().len() <= 64 * 1024, "a 50 MB cell is cut");
    }
    let (_, big_cell) = feeds.iter().find(|(p, _)| *p == "/big-cell.csv").unwrap();
    let warned = app.store.feeds_by_ids(&tributary::access::Scope::System, &[big_cell.id]).await.unwrap();
    assert!(warned[0].warnings.iter().any(|w| w.contains("was cut to")), "told: {:?}", warned[0].warnings);

    let good_report = report_of(&good);
    assert_eq!(good_report.error, None);
    assert_eq!(good_report.ingest.created, 1, "the good feed is ingested in the same cycle");
    let served =
        app.data("{ items(first: 1, filter: { search: \"good feed\" }) { nodes { title } } }", json!({})).await;
    assert_eq!(served["items"]["nodes"][0]["title"], "A good feed still arrives", "the hub serves on");

    // Memory: what the whole test process (hub, feed servers, client) held at its peak. The
    // bombs expand to a gibibyte each and the big file is 200 MB; the hub reads at most
    // `fetch.max_body_bytes` of any of them.
    assert!(peak_after < 512, "peak resident {peak_after} MiB");
}
