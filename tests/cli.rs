//! The command line, run as the real binary against a temp database and a local feed server.

mod helpers;

use std::process::Command;

use helpers::{rss, FeedServer};

struct Cli {
    db: String,
    allow: String,
    _dir: tempfile::TempDir,
}

impl Cli {
    fn new(feeds: &FeedServer) -> Cli {
        let dir = tempfile::tempdir().unwrap();
        Cli {
            db: format!("sqlite:{}", dir.path().join("cli.db").display()),
            allow: format!("[\"{}\"]", feeds.address),
            _dir: dir,
        }
    }

    /// Runs `tributary ARGS` and returns (exit code, stdout, stderr).
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_tributary"))
            .args(["--database", &self.db])
            .args(args)
            .env("TRIBUTARY_FETCH__ALLOW", &self.allow)
            .env("TRIBUTARY_LOG", "warn")
            .env_remove("RUST_LOG")
            .output()
            .expect("the binary runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeds_are_added_polled_once_and_listed_from_the_command_line() {
    let feeds = FeedServer::start().await;
    feeds.set("good.xml", &rss(&[("a", "New asylum law in Italy", "Text", "Mon, 02 Nov 2026 10:00:00 GMT")]));
    let cli = Cli::new(&feeds);
    let good = feeds.url("good.xml");
    let missing = feeds.url("missing.xml");

    let (code, out, _) = tokio::task::block_in_place(|| cli.run(&["feed", "add", &good, "--society", "ITA"]));
    assert_eq!(code, 0);
    assert!(out.contains("registered for IT"), "{out}");
    let (code, _, err) = tokio::task::block_in_place(|| cli.run(&["feed", "add", &good, "--society", "IT"]));
    assert_eq!(code, 1, "the same URL twice for one society is refused");
    assert!(err.contains("already has a feed"), "{err}");

    let (code, out, _) = tokio::task::block_in_place(|| cli.run(&["poll", "--once"]));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 feed(s) polled, 0 failed"), "{out}");

    tokio::task::block_in_place(|| cli.run(&["feed", "add", &missing, "--society", "FR"]));
    let (code, out, _) = tokio::task::block_in_place(|| cli.run(&["poll", "--once"]));
    assert_eq!(code, 1, "a failed feed makes the exit code non-zero: {out}");
    assert!(out.contains("HTTP 404"), "{out}");

    let (code, out, _) = tokio::task::block_in_place(|| cli.run(&["feed", "list"]));
    assert_eq!(code, 0);
    assert!(out.contains("ACTIVE") && out.contains("FAILING"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_feed_is_added_with_a_mapping_that_is_checked_first() {
    let feeds = FeedServer::start().await;
    feeds.set("arrivals.csv", "Ref;Country;Arrivals\nA1;Italy;35\nA2;Greece;12\n");
    let cli = Cli::new(&feeds);
    let url = feeds.url("arrivals.csv");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "format = \"csv\"\n[item]\ncategory = \"weather\"\n").unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "format = \"csv\"\n[item]\nid = [\"Ref\"]\ntitle = \"Arrivals in {Country}\"\n").unwrap();
    let (bad, good) = (bad.to_str().unwrap(), good.to_str().unwrap());

    let add = |mapping: &str, kind: &str| {
        tokio::task::block_in_place(|| {
            cli.run(&["feed", "add", &url, "--organisation", "IFRC", "--kind", kind, "--mapping", mapping])
        })
    };
    let (code, _, err) = add(bad, "csv");
    assert_eq!(code, 1);
    assert!(err.contains("`weather` is not a category"), "{err}");
    let (code, _, err) = add(good, "rss");
    assert_eq!(code, 1);
    assert!(err.contains("an RSS feed takes no mapping"), "{err}");
    let (code, _, err) = add(good, "json-api");
    assert_eq!(code, 1);
    assert!(err.contains("a JSON_API feed needs a mapping with `format = \"json\"`"), "{err}");
    let (code, out, err) = add(good, "csv");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("registered for IFRC"), "{out}");

    let (code, out, _) = tokio::task::block_in_place(|| cli.run(&["poll", "--once"]));
    assert_eq!(code, 0, "{out}");
    let line = out.lines().find(|l| l.contains("arrivals.csv")).expect("a line for the feed");
    let columns: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&columns[1..6], ["IFRC", "updated", "2", "0", "0"], "two rows created: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_api_feed_is_added_with_a_preset_and_polled() {
    let feeds = FeedServer::start().await;
    let appeals = include_str!("../connectors/tests/fixtures/ifrc-go-appeals.json");
    feeds.set_json("api/v2/appeal/", appeals);
    let cli = Cli::new(&feeds);
    let url = feeds.url("api/v2/appeal/?dtype=5&format=json");
    let (code, out, err) = tokio::task::block_in_place(|| {
        cli.run(&["feed", "add", &url, "--organisation", "IFRC", "--preset", "ifrc-go-appeals"])
    });
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("registered for IFRC"), "{out}");
    let (_, out, _) = tokio::task::block_in_place(|| cli.run(&["feed", "list"]));
    assert!(out.contains("JSON_API"), "the kind follows the preset's format: {out}");
    let (code, out, _) = tokio::task::block_in_place(|| cli.run(&["poll", "--once"]));
    assert_eq!(code, 0, "{out}");
    let line = out.lines().find(|l| l.contains("appeal")).expect("a line for the feed");
    let columns: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&columns[1..6], ["IFRC", "updated", "3", "0", "0"], "three appeals created: {out}");
    let (code, _, err) = tokio::task::block_in_place(|| {
        cli.run(&["feed", "add", &url, "--organisation", "UNHCR", "--preset", "unhcr-populations"])
    });
    assert_eq!(code, 1);
    assert!(err.contains("no preset `unhcr-populations`") && err.contains("unhcr-population,"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_created_shown_once_listed_and_revoked() {
    let feeds = FeedServer::start().await;
    let cli = Cli::new(&feeds);
    let run = |args: &[&str]| tokio::task::block_in_place(|| cli.run(args));
    let (code, out, err) =
        run(&["token", "create", "--name", "French focal point", "--role", "member", "--society", "FRA"]);
    assert_eq!(code, 0, "{err}");
    let secret = out.lines().last().unwrap().trim().to_string();
    assert!(secret.starts_with("trb_") && secret.len() == 68, "{out}");
    let (_, listed, _) = run(&["token", "list"]);
    assert!(listed.contains("MEMBER") && listed.contains("FR") && listed.contains("live"), "{listed}");
    assert!(listed.contains(&secret[..10]) && !listed.contains(&secret[10..]), "only the first characters: {listed}");

    for (args, reason) in [
        (vec!["--role", "member"], "acts for one organisation"),
        (vec!["--role", "reader", "--society", "FR"], "only MEMBER tokens act for an organisation"),
        (vec!["--role", "reader", "--networks", "atlantis"], "no network `atlantis`"),
        (vec!["--role", "owner"], "`owner` is not a role (ADMIN, MEMBER or READER)"),
    ] {
        let mut full = vec!["token", "create", "--name", "x"];
        full.extend(args);
        let (code, _, err) = run(&full);
        assert_eq!(code, 1, "{full:?}");
        assert!(err.contains(reason), "{full:?}: {err}");
    }

    let (code, out, _) = run(&["token", "revoke", "1"]);
    assert_eq!(code, 0, "{out}");
    let (_, listed, _) = run(&["token", "list"]);
    assert!(listed.contains("revoked"), "{listed}");
    let (code, _, err) = run(&["token", "revoke", "99"]);
    assert_eq!(code, 1);
    assert!(err.contains("no token 99"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memberships_are_set_from_the_command_line_with_their_source() {
    let feeds = FeedServer::start().await;
    let cli = Cli::new(&feeds);
    let (code, out, _) = tokio::task::block_in_place(|| {
        cli.run(&["network", "member", "add", "americas", "icrc", "--role", "observer", "--source", "minutes 2026-05"])
    });
    assert_eq!(code, 0, "{out}");
    let (_, out, _) = tokio::task::block_in_place(|| cli.run(&["network", "member", "list", "americas"]));
    assert!(out.contains("ICRC") && out.contains("OBSERVER") && out.contains("minutes 2026-05"), "{out}");
    let (code, _, err) = tokio::task::block_in_place(|| cli.run(&["network", "member", "remove", "americas", "ZZ"]));
    assert_eq!(code, 1);
    assert!(err.contains("not a member"), "{err}");
}

#[test]
fn schema_prints_the_served_sdl() {
    let out = Command::new(env!("CARGO_BIN_EXE_tributary")).arg("schema").output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), tributary::graphql::sdl());
}
