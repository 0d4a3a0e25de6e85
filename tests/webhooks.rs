//! Webhooks against a local receiver (the test's feed server, which records POSTs): signatures
//! verified with the published `standardwebhooks` library, retries in order across a restart,
//! disabling, the SSRF guard and who may do what.

mod helpers;

use std::path::PathBuf;
use std::process::Command;

use axum::http::{HeaderMap, StatusCode};
use helpers::{rss, spawn_app, spawn_app_with, Served, TestApp};
use serde_json::{json, Value};
use tributary::model::{MemberRole, Membership, NewToken, OrgId, TokenRole, Visibility};

const DATE: &str = "Mon, 02 Nov 2026 10:00:00 GMT";
const FRENCH: &str = "trb_test_member_fr";

const REGISTER: &str = "mutation($input: RegisterWebhookInput!) {
  registerWebhook(input: $input) { secret webhook { id url state } userErrors { field message code } }
}";

const STATUS: &str = "query($id: ID!) { webhook(id: $id) {
  state disabledReason attempts lastStatus lastError deliveredThrough
  deliveries(first: 50) { messageId sequence status error }
} }";

async fn member(app: &TestApp, secret: &str, org: &str) {
    let token = NewToken {
        name: format!("{org} focal point"),
        role: TokenRole::Member,
        organisation: Some(OrgId(org.into())),
        networks: vec![],
    };
    app.token(secret, token).await;
}

/// Registers a webhook as `token` posting to `path` on the feed server; (id, secret).
async fn register(app: &TestApp, token: &str, path: &str, filter: Value) -> (String, String) {
    let input = json!({ "url": app.feeds.url(path), "filter": filter });
    let data = app.data_as(token, REGISTER, json!({ "input": input })).await;
    let payload = &data["registerWebhook"];
    assert_eq!(payload["userErrors"], json!([]), "{payload}");
    (payload["webhook"]["id"].as_str().unwrap().to_string(), payload["secret"].as_str().unwrap().to_string())
}

/// A feed of `org` whose first import is done; later entries are news.
async fn feed(app: &TestApp, org: &str, path: &str, visibility: Visibility) -> tributary::model::Feed {
    app.feeds.set(path, &rss(&[("old", "An old story", "Details.", DATE)]));
    let feed = app.add_feed_with(org, &app.feeds.url(path), visibility).await;
    app.poll_feed(feed.id).await;
    feed
}

/// Publishes `titles` (after the old story) at `path` and polls the feed.
async fn publish(app: &TestApp, feed: &tributary::model::Feed, path: &str, titles: &[&str]) {
    let mut entries = vec![("old".to_string(), "An old story".to_string())];
    entries.extend(titles.iter().map(|t| (t.to_lowercase().replace(' ', "-"), t.to_string())));
    let items: Vec<(&str, &str, &str, &str)> =
        entries.iter().map(|(g, t)| (g.as_str(), t.as_str(), "Details.", DATE)).collect();
    app.feeds.set(path, &rss(&items));
    let report = app.poll_feed(feed.id).await;
    assert!(report.error.is_none(), "{report:?}");
}

/// The webhook's status once `done` holds for it (the hub records an attempt just after the
/// receiver answers it).
async fn status_when(app: &TestApp, token: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let wait = async {
        loop {
            let status = app.data_as(token, STATUS, json!({ "id": id })).await;
            if done(&status["webhook"]) {
                return status["webhook"].clone();
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), wait).await.expect("the webhook's status settled")
}

fn body_json(body: &[u8]) -> Value {
    serde_json::from_slice(body).expect("a JSON body")
}

fn title_of(body: &[u8]) -> String {
    body_json(body)["data"]["item"]["title"].as_str().unwrap().to_string()
}

/// A Python with the published `standardwebhooks` library (PyPI), installed once into a virtual
/// environment under the build directory (once per test binary: tests run side by side).
fn standardwebhooks_python() -> PathBuf {
    static PYTHON: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PYTHON.get_or_init(install_standardwebhooks).clone()
}

fn install_standardwebhooks() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("standardwebhooks-venv");
    let python = venv.join("bin").join("python");
    let ready = || Command::new(&python).args(["-c", "import standardwebhooks"]).status().is_ok_and(|s| s.success());
    if !ready() {
        let made = Command::new("python3").arg("-m").arg("venv").arg(&venv).status().expect("python3 runs");
        assert!(made.success(), "could not create a virtual environment at {}", venv.display());
        let installed = Command::new(venv.join("bin").join("pip"))
            .args(["install", "--quiet", "standardwebhooks==1.1.0"])
            .status()
            .expect("pip runs");
        assert!(installed.success(), "could not install standardwebhooks from PyPI");
        assert!(ready(), "standardwebhooks does not import");
    }
    python
}

/// Verifies each message with `standardwebhooks.Webhook(secret).verify`; "ok" or the error.
fn verify(secret: &str, messages: &[(HeaderMap, Vec<u8>)]) -> Vec<String> {
    let messages: Vec<Value> = messages
        .iter()
        .map(|(headers, body)| {
            let headers: serde_json::Map<String, Value> = headers
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), Value::String(v.to_str().unwrap().to_string())))
                .collect();
            json!({ "headers": headers, "body": String::from_utf8(body.clone()).unwrap() })
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("messages.json");
    std::fs::write(&input, json!({ "secret": secret, "messages": messages }).to_string()).unwrap();
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
data = json.load(open(sys.argv[1]))
hook = Webhook(data["secret"])
out = []
for m in data["messages"]:
    try:
        hook.verify(m["body"], m["headers"])
        out.append("ok")
    except Exception as e:
        out.append(type(e).__name__ + ": " + str(e))
print(json.dumps(out))
"#;
    let output = Command::new(standardwebhooks_python()).arg("-c").arg(script).arg(&input).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn deliveries_are_signed_and_verify_with_the_standardwebhooks_library() {
    let app = spawn_app().await;
    member(&app, FRENCH, "FR").await;
    let fr = feed(&app, "FR", "fr.xml", Visibility::Public).await;
    let (id, secret) = register(&app, FRENCH, "hooks/fr", json!({ "categories": ["ROUTE_CHANGE"] })).await;
    assert!(secret.starts_with("whsec_"));

    publish(&app, &fr, "fr.xml", &["Blood drive in Lyon", "Border closure at Ventimiglia"]).await;
    app.feeds.wait_for_posts("one delivery", |f| !f.accepted_posts("hooks/fr").is_empty()).await;
    let posts: Vec<(HeaderMap, Vec<u8>)> =
        app.feeds.accepted_posts("hooks/fr").into_iter().map(|(h, b)| (h, b.to_vec())).collect();
    assert_eq!(posts.len(), 1, "only the route change matches");
    let body = body_json(&posts[0].1);
    assert_eq!(body["type"], "change.created");
    assert_eq!(body["data"]["item"]["title"], "Border closure at Ventimiglia");
    assert_eq!(body["data"]["item"]["categories"], json!(["ROUTE_CHANGE"]));
    assert_eq!(body["data"]["kind"], "CREATED");
    assert_eq!(posts[0].0["content-type"], "application/json");

    // The published verifier accepts the hub's signature, and rejects a tampered body.
    let mut tampered = posts[0].clone();
    tampered.1 = String::from_utf8(tampered.1).unwrap().replace("Ventimiglia", "Menton").into_bytes();
    let results = verify(&secret, &[posts[0].clone(), tampered]);
    assert_eq!(results[0], "ok");
    assert!(results[1].contains("WebhookVerificationError"), "{}", results[1]);

    let webhook = status_when(&app, FRENCH, &id, |w| !w["lastStatus"].is_null()).await;
    assert_eq!(webhook["state"], "ACTIVE");
    assert_eq!(webhook["lastStatus"], 200);
    assert_eq!(webhook["deliveries"][0]["status"], 200);
    assert_eq!(webhook["deliveries"][0]["sequence"], body["data"]["sequence"]);
}

#[tokio::test]
async fn a_receiver_down_for_a_while_gets_every_delivery_in_order_once_back_even_across_a_restart() {
    let app = spawn_app_with(|s| {
        s.webhooks.retry_base_ms = 20;
        s.webhooks.retry_max_secs = 1;
    })
    .await;
    member(&app, FRENCH, "FR").await;
    let fr = feed(&app, "FR", "fr.xml", Visibility::Public).await;
    let (id, secret) = register(&app, FRENCH, "hooks/down", json!({})).await;
    app.feeds.fail("hooks/down", StatusCode::SERVICE_UNAVAILABLE);

    publish(&app, &fr, "fr.xml", &["Story 1", "Story 2", "Story 3"]).await;
    app.feeds.wait_for_posts("three failed attempts", |f| f.posts("hooks/down").len() >= 3).await;
    let status = status_when(&app, FRENCH, &id, |w| w["attempts"].as_i64() >= Some(3)).await;
    assert_eq!(status["lastStatus"], 503, "{status}");
    assert!(status["lastError"].as_str().unwrap().contains("503"));

    // The hub restarts while the receiver is still down; more news arrives meanwhile.
    let app = app.restart().await;
    publish(&app, &fr, "fr.xml", &["Story 1", "Story 2", "Story 3", "Story 4"]).await;
    let attempts_before = app.feeds.posts("hooks/down").len();
    app.feeds.wait_for_posts("a retry after the restart", |f| f.posts("hooks/down").len() > attempts_before).await;

    // The receiver comes back.
    app.feeds.set_served(
        "hooks/down",
        Served { body: String::new(), content_type: "text/plain", etag: None, status: StatusCode::OK, location: None },
    );
    app.feeds.wait_for_posts("four deliveries", |f| f.accepted_posts("hooks/down").len() >= 4).await;
    let accepted: Vec<(HeaderMap, Vec<u8>)> =
        app.feeds.accepted_posts("hooks/down").into_iter().map(|(h, b)| (h, b.to_vec())).collect();
    let titles: Vec<String> = accepted.iter().map(|(_, b)| title_of(b)).collect();
    assert_eq!(titles, ["Story 1", "Story 2", "Story 3", "Story 4"], "every change once, in order");
    assert!(verify(&secret, &accepted).iter().all(|r| r == "ok"));
    // Every attempt at the first change carried the same message id.
    let first_id = accepted[0].0["webhook-id"].clone();
    let failed = app.feeds.posts("hooks/down");
    assert!(failed.iter().filter(|(h, _)| h["webhook-id"] == first_id).count() >= 3);

    let status = status_when(&app, FRENCH, &id, |w| w["lastStatus"] == 200).await;
    assert_eq!(status["attempts"], 0);
    assert_eq!(status["state"], "ACTIVE");
}

#[tokio::test]
async fn a_webhook_failing_for_too_long_is_disabled_with_the_reason_and_can_be_turned_on_again() {
    let app = spawn_app_with(|s| s.webhooks.disable_after_secs = 0).await;
    member(&app, FRENCH, "FR").await;
    let fr = feed(&app, "FR", "fr.xml", Visibility::Public).await;
    let (id, _) = register(&app, FRENCH, "hooks/gone", json!({})).await;
    app.feeds.fail("hooks/gone", StatusCode::GONE);
    publish(&app, &fr, "fr.xml", &["Story 1"]).await;
    app.feeds.wait_for_posts("an attempt", |f| !f.posts("hooks/gone").is_empty()).await;
    let status = status_when(&app, FRENCH, &id, |w| w["state"] == "DISABLED").await;
    let reason = status["disabledReason"].as_str().unwrap();
    assert!(reason.starts_with("failing since") && reason.contains("410"), "{reason}");

    app.feeds.set_served(
        "hooks/gone",
        Served { body: String::new(), content_type: "text/plain", etag: None, status: StatusCode::OK, location: None },
    );
    let turned_on = app
        .data_as(
            FRENCH,
            "mutation($id: ID!) { updateWebhook(input: { id: $id, enabled: true }) { webhook { state } userErrors { message } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(turned_on["updateWebhook"]["webhook"]["state"], "ACTIVE");
    app.feeds.wait_for_posts("the delivery", |f| !f.accepted_posts("hooks/gone").is_empty()).await;
    assert_eq!(title_of(&app.feeds.accepted_posts("hooks/gone")[0].1), "Story 1");
}

#[tokio::test]
async fn webhook_urls_go_through_the_ssrf_guard() {
    let app = spawn_app().await;
    member(&app, FRENCH, "FR").await;
    for (url, reason) in [
        ("http://127.0.0.1:9/hook", "127.0.0.1"),
        ("http://10.1.2.3/hook", "10.1.2.3"),
        ("ftp://example.org/hook", "http or https"),
        ("not a url", "not a URL"),
    ] {
        let data = app.data_as(FRENCH, REGISTER, json!({ "input": { "url": url } })).await;
        let errors = &data["registerWebhook"]["userErrors"];
        assert_eq!(errors[0]["field"], json!(["input", "url"]), "{url}: {data}");
        assert!(errors[0]["message"].as_str().unwrap().contains(reason), "{url}: {errors}");
    }
}

#[tokio::test]
async fn webhooks_carry_only_what_their_token_may_see_and_only_owners_manage_them() {
    let app = spawn_app().await;
    for (org, network) in [("FR", "perco"), ("IT", "perco"), ("MX", "americas")] {
        let m = Membership {
            network: network.into(),
            organisation: OrgId(org.into()),
            role: MemberRole::Member,
            source: None,
        };
        app.store.set_membership(&m).await.unwrap();
    }
    member(&app, FRENCH, "FR").await;
    member(&app, "trb_test_member_it", "IT").await;
    member(&app, "trb_test_member_mx", "MX").await;
    let reader = NewToken { name: "dashboard".into(), role: TokenRole::Reader, organisation: None, networks: vec![] };
    app.token("trb_test_reader", reader).await;

    let internal = feed(&app, "FR", "internal.xml", Visibility::Network).await;
    let public = feed(&app, "FR", "public.xml", Visibility::Public).await;
    let (italian, _) = register(&app, "trb_test_member_it", "hooks/it", json!({})).await;
    register(&app, "trb_test_member_mx", "hooks/mx", json!({})).await;
    publish(&app, &internal, "internal.xml", &["Partners only"]).await;
    publish(&app, &public, "public.xml", &["For everyone"]).await;
    app.feeds
        .wait_for_posts("deliveries", |f| {
            f.accepted_posts("hooks/it").len() >= 2 && !f.accepted_posts("hooks/mx").is_empty()
        })
        .await;
    let titles =
        |path: &str| -> Vec<String> { app.feeds.accepted_posts(path).iter().map(|(_, b)| title_of(b)).collect() };
    assert_eq!(titles("hooks/it"), ["Partners only", "For everyone"], "a PERCO partner sees NETWORK items");
    assert_eq!(titles("hooks/mx"), ["For everyone"], "the Mexican society does not");

    // Others cannot see or change it; readers and anonymous callers cannot register.
    let foreign = app.graphql_as(FRENCH, STATUS, json!({ "id": italian })).await.json::<Value>().await.unwrap();
    assert_eq!(foreign["errors"][0]["extensions"]["code"], "NOT_FOUND");
    let listed = app.data_as(FRENCH, "{ webhooks { id } }", json!({})).await;
    assert_eq!(listed["webhooks"], json!([]));
    let input = json!({ "input": { "url": app.feeds.url("hooks/r") } });
    let by_reader = app.graphql_as("trb_test_reader", REGISTER, input.clone()).await.json::<Value>().await.unwrap();
    assert_eq!(by_reader["errors"][0]["extensions"]["code"], "FORBIDDEN");
    let anonymous = app.graphql(REGISTER, input).await;
    assert_eq!(anonymous["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");

    // A revoked token's webhooks stop, with the reason.
    let tokens = app.store.tokens().await.unwrap();
    let it_token = tokens.iter().find(|t| t.name == "IT focal point").unwrap();
    app.store.revoke_token(it_token.id).await.unwrap();
    publish(&app, &public, "public.xml", &["For everyone", "More news"]).await;
    app.feeds.wait_for_posts("the Mexican delivery", |f| f.accepted_posts("hooks/mx").len() >= 2).await;
    let disabled = async {
        loop {
            let webhook = app.store.webhooks(Some(&OrgId("IT".into()))).await.unwrap().pop().unwrap();
            if let Some(reason) = webhook.disabled_reason {
                return reason;
            }
            tokio::task::yield_now().await;
        }
    };
    let reason = tokio::time::timeout(std::time::Duration::from_secs(10), disabled).await.expect("disabled");
    assert!(reason.contains("revoked"), "{reason}");
    assert_eq!(titles("hooks/it").len(), 2);
}

#[tokio::test]
async fn the_readme_receiver_verifies_deliveries_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let receiver = readme.split("```python\n").nth(1).and_then(|b| b.split("```").next()).expect("a Python receiver");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app = spawn_app_with(|s| {
        s.fetch.allow.push(format!("127.0.0.1:{port}"));
        s.webhooks.retry_base_ms = 20;
        s.webhooks.retry_max_secs = 1;
    })
    .await;
    member(&app, FRENCH, "FR").await;
    let fr = feed(&app, "FR", "fr.xml", Visibility::Public).await;
    let input = json!({ "url": format!("http://127.0.0.1:{port}/tributary") });
    let data = app.data_as(FRENCH, REGISTER, json!({ "input": input })).await;
    let secret = data["registerWebhook"]["secret"].as_str().unwrap().to_string();

    let mut child = Command::new(standardwebhooks_python())
        .arg("-c")
        .arg(receiver)
        .env("WEBHOOK_SECRET", &secret)
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the receiver starts");
    let stdout = child.stdout.take().unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    publish(&app, &fr, "fr.xml", &["Border closure at Ventimiglia"]).await;
    // Until the receiver listens, deliveries fail and are retried.
    let line =
        tokio::task::spawn_blocking(move || received.recv_timeout(std::time::Duration::from_secs(20))).await.unwrap();
    child.kill().ok();
    child.wait().ok();
    assert_eq!(line.expect("the receiver printed the change"), "change.created Border closure at Ventimiglia");
}

#[tokio::test]
async fn a_quiet_webhook_keeps_up_with_the_change_log_and_is_not_caught_by_pruning() {
    let app = spawn_app().await;
    member(&app, FRENCH, "FR").await;
    let fr = feed(&app, "FR", "fr.xml", Visibility::Public).await;
    let (id, _) = register(&app, FRENCH, "hooks/quiet", json!({ "categories": ["FUNDING"] })).await;
    publish(&app, &fr, "fr.xml", &["Story 1", "Story 2"]).await;
    // Nothing matched, yet the webhook's position moves past what it looked at.
    let status =
        status_when(&app, FRENCH, &id, |w| w["deliveredThrough"] != json!(tributary::graphql::encode_change_cursor(1)))
            .await;
    assert_eq!(status["state"], "ACTIVE");
    // Everything before now is pruned; the next matching change is still delivered.
    app.store.prune_changes(chrono::Utc::now() + chrono::Duration::seconds(1)).await.unwrap();
    publish(&app, &fr, "fr.xml", &["Story 1", "Story 2", "Emergency appeal launched for Lampedusa"]).await;
    app.feeds.wait_for_posts("the funding change", |f| !f.accepted_posts("hooks/quiet").is_empty()).await;
    assert_eq!(title_of(&app.feeds.accepted_posts("hooks/quiet")[0].1), "Emergency appeal launched for Lampedusa");
    let status = status_when(&app, FRENCH, &id, |w| !w["lastStatus"].is_null()).await;
    assert_eq!(status["state"], "ACTIVE", "{status}");
}
