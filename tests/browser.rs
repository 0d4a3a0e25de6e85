//! The web pages in a real browser: Debian's chromium (`/usr/bin/chromium`, installed by
//! `.ci/run`), driven by playwright-core from npm (installed under the target directory on first
//! use) through `tests/browser/pages.mjs`, against the real hub with its poller running, on port 0,
//! beside the local feed server.
//! (`scripts/screenshots.sh` takes the README's screenshots the same way, from a demo hub.)

mod helpers;

use axum::http::StatusCode;
use helpers::{rss, spawn_app};
use std::process::Command;
use tributary::model::{NewToken, OrgId, TokenRole, Visibility};

const FEED_TITLE: &str = "Italy reopens the Ventimiglia border crossing to France";
const NETWORK_TITLE: &str = "Network briefing: new reception rules in Lampedusa";

#[tokio::test(flavor = "multi_thread")]
async fn a_focal_point_registers_a_feed_and_the_dashboard_beside_it_shows_the_item_arrive() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{chromium} is missing: install Debian's chromium (`apt-get install chromium`, as .ci/run does)"
    );
    let app = spawn_app().await;
    let token = "trb_browser_member_it";
    app.token(
        token,
        NewToken {
            name: "focal point".into(),
            role: TokenRole::Member,
            organisation: Some(OrgId("IT".into())),
            networks: vec![],
        },
    )
    .await;

    // Stored before the browser opens: a NETWORK item of the society, and a feed that fails.
    app.feeds.set(
        "network.xml",
        &rss(&[(
            "net-1",
            NETWORK_TITLE,
            "For PERCO members: the prefecture's new rules for the hotspot.",
            "Mon, 30 Nov 2026 09:00:00 GMT",
        )]),
    );
    app.add_feed_with("IT", &app.feeds.url("network.xml"), Visibility::Network).await;
    app.feeds.fail("gone.xml", StatusCode::NOT_FOUND);
    app.add_feed_with("IT", &app.feeds.url("gone.xml"), Visibility::Public).await;
    let reports = app.poll_due().await;
    assert_eq!(reports.len(), 2, "{reports:?}");
    // From here the poller runs, as in production: the feed registered through the page is polled
    // by the hub itself.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let poller = tokio::spawn(app.poller.clone().run(async {
        let _ = stopped.await;
    }));

    // The feed the focal point registers through the page.
    app.feeds.set(
        "public.xml",
        &rss(&[(
            "pub-1",
            FEED_TITLE,
            "The Italian Red Cross reports that the crossing between Italy and France reopened to people on foot.",
            "Tue, 01 Dec 2026 08:00:00 GMT",
        )]),
    );

    // The society's web page, which advertises the feed.
    app.feeds.set_served(
        "society.html",
        helpers::Served {
            body: format!(
                r#"<!doctype html><html><head><title>Italian Red Cross</title><link rel="alternate"
                type="application/rss+xml" title="Migration news" href="{}"></head><body>News</body></html>"#,
                app.feeds.url("public.xml")
            ),
            content_type: "text/html; charset=utf-8",
            etag: None,
            status: StatusCode::OK,
            location: None,
        },
    );
    // A CSV file with HXL tags, read with the `hxl` preset.
    app.feeds.set(
        "sites.csv",
        "Site id,Country,Date,Event,IDPs\n#meta+id,#country+code,#date,#event+name+i_en,#affected+idps\n\
         s-1,SO,2026-10-01,Flooding displaces families at Baidoa,1200\n",
    );

    let dir = helpers::npm_project("browser", &["package.json", "package-lock.json", "pages.mjs"], "playwright-core");
    let mut command = Command::new("node");
    command
        .arg("pages.mjs")
        .current_dir(&dir)
        .env("BASE_URL", format!("http://{}", app.address))
        .env("TOKEN", token)
        .env("FEED_URL", app.feeds.url("public.xml"))
        .env("FEED_TITLE", FEED_TITLE)
        .env("NETWORK_TITLE", NETWORK_TITLE)
        .env("FAILING_URL", app.feeds.url("gone.xml"))
        .env("CSV_URL", app.feeds.url("sites.csv"))
        .env("PAGE_URL", app.feeds.url("society.html"))
        .env("CSV_TITLE", "Flooding displaces families at Baidoa")
        .env("CHROMIUM", &chromium);
    let output =
        tokio::task::spawn_blocking(move || command.output().expect("node runs (Node.js is needed)")).await.unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    println!("{report}");
    assert!(output.status.success(), "the browser checks failed:\n{report}");
    let _ = stop.send(());
    poller.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_pages_speak_the_language_asked_for_and_serve_their_assets_from_the_binary() {
    let app = spawn_app().await;
    let get = |path: &str, accept_language: Option<&str>, cookie: Option<&str>| {
        let mut request = app.client.get(app.url(path));
        if let Some(value) = accept_language {
            request = request.header("accept-language", value);
        }
        if let Some(value) = cookie {
            request = request.header("cookie", value);
        }
        request.send()
    };

    let english = get("/", None, None).await.unwrap();
    assert_eq!(english.status(), 200);
    assert_eq!(english.headers()["content-language"], "en");
    assert!(english.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    assert!(english.text().await.unwrap().contains(r#"<html lang="en" dir="ltr">"#));

    let russian = get("/register", Some("de;q=0.9, ru;q=0.8, en;q=0.1"), None).await.unwrap();
    assert_eq!(russian.headers()["content-language"], "ru");
    assert!(russian.text().await.unwrap().contains("Зарегистр"), "Russian words on the registration page");

    let arabic = get("/?lang=ar", Some("fr"), None).await.unwrap();
    let cookie = arabic.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("tributary_lang=ar;"), "{cookie}");
    assert!(arabic.text().await.unwrap().contains(r#"<html lang="ar" dir="rtl">"#));
    let remembered = get("/register", Some("fr"), Some("tributary_lang=ar")).await.unwrap();
    assert_eq!(remembered.headers()["content-language"], "ar", "the chosen language wins over Accept-Language");

    for (asset, kind) in [("hub.js", "text/javascript"), ("app.css", "text/css"), ("icon.svg", "image/svg+xml")] {
        let response = get(&format!("/assets/{asset}"), None, None).await.unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with(kind), "{asset}");
        assert!(response.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    }
    assert_eq!(get("/assets/missing.js", None, None).await.unwrap().status(), 404);

    // Gzipped for those that take it: the same bytes, a third of the size.
    let raw = reqwest::Client::builder().no_proxy().no_gzip().build().unwrap();
    for path in ["/?lang=fr", "/assets/dashboard.js"] {
        let plain = raw.get(app.url(path)).send().await.unwrap();
        assert!(plain.headers().get("content-encoding").is_none(), "{path}");
        let plain = plain.bytes().await.unwrap();
        let zipped = raw.get(app.url(path)).header("accept-encoding", "gzip, br").send().await.unwrap();
        assert_eq!(zipped.headers()["content-encoding"], "gzip", "{path}");
        assert!(zipped.headers()["vary"].to_str().unwrap().contains("Accept-Encoding"), "{path}");
        let zipped = zipped.bytes().await.unwrap();
        let mut unzipped = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&zipped[..]), &mut unzipped).unwrap();
        assert_eq!(unzipped, plain, "{path}");
        assert!(zipped.len() * 2 < plain.len(), "{path}: {} bytes gzipped of {}", zipped.len(), plain.len());
    }

    // The dashboard's Atom links carry its language filter.
    assert_eq!(get("/feeds/changes.atom?language=fr", None, None).await.unwrap().status(), 200);
    let bad = get("/feeds/changes.atom?language=not%20a%20tag", None, None).await.unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("not a language tag"));
}
