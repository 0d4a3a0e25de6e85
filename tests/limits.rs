//! Abusive requests: each limit answers with its own error code and keeps the hub serving.
//! (Depth, complexity and GraphiQL's introspection under the limits are in `api.rs`; the request
//! body size too.)

mod helpers;

use helpers::ws::{Frame, Protocol, WsClient};
use helpers::{rss, spawn_app, spawn_app_with};
use serde_json::{json, Value};

fn code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"].as_str().unwrap_or("")
}

/// `{ a0: networks { slug } a1: … }` with `n` aliases.
fn aliased(n: usize) -> String {
    let fields: Vec<String> = (0..n).map(|k| format!("a{k}: networks {{ slug }}")).collect();
    format!("{{ {} }}", fields.join(" "))
}

#[tokio::test]
async fn too_many_aliases_are_refused_before_anything_runs_fragments_counted_where_spread() {
    let app = spawn_app().await;
    let allowed = app.data(&aliased(30), json!({})).await;
    assert_eq!(allowed["a29"][0]["slug"], "perco");

    let response = app.graphql(&aliased(31), json!({})).await;
    assert_eq!(code(&response), "TOO_MANY_ALIASES", "{response}");
    assert!(response["errors"][0]["message"].as_str().unwrap().contains("30"), "{response}");

    // Ten aliases in a fragment, spread four times, are forty.
    let fragment = "fragment F on Query { b0: networks { slug } b1: networks { slug } b2: networks { slug } \
        b3: networks { slug } b4: networks { slug } b5: networks { slug } b6: networks { slug } \
        b7: networks { slug } b8: networks { slug } b9: networks { slug } }";
    let spread = format!("{{ ...F x: viewer {{ ...V }} }} fragment V on Viewer {{ role }} {fragment}");
    assert!(app.graphql(&spread, json!({})).await.get("errors").is_none(), "one spread is ten aliases (and one)");
    let spreads = format!("{{ ...F ... on Query {{ ...F ...F ...F }} }} {fragment}");
    let response = app.graphql(&spreads, json!({})).await;
    assert_eq!(code(&response), "TOO_MANY_ALIASES", "{response}");

    // The hub keeps serving.
    assert_eq!(app.data("{ networks { slug } }", json!({})).await["networks"][0]["slug"], "perco");
}

#[tokio::test]
async fn a_batch_runs_each_request_and_a_long_one_is_refused() {
    let app = spawn_app().await;
    let batch: Vec<Value> = (0..3).map(|k| json!({ "query": format!("{{ n{k}: networks {{ slug }} }}") })).collect();
    let response = app.client.post(app.url("/graphql")).json(&batch).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let answers: Value = response.json().await.unwrap();
    assert_eq!(answers.as_array().unwrap().len(), 3, "{answers}");
    assert_eq!(answers[2]["data"]["n2"][0]["slug"], "perco");

    let long: Vec<Value> = (0..11).map(|_| json!({ "query": "{ networks { slug } }" })).collect();
    let response = app.client.post(app.url("/graphql")).json(&long).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(code(&body), "BATCH_TOO_LARGE", "{body}");
    let empty = app.client.post(app.url("/graphql")).json(&json!([])).send().await.unwrap();
    assert_eq!(empty.status(), 400);
}

#[tokio::test]
async fn a_query_that_runs_too_long_is_cut_off_with_timeout() {
    // With no time at all, every query that waits on the database is cut off at its first wait.
    let app = spawn_app_with(|s| s.api.timeout_secs = 0).await;
    app.feeds.set("/a.xml", &rss(&[("a-1", "Crossings", "Text.", "Mon, 02 Nov 2026 10:00:00 GMT")]));
    let feed = app.add_feed("IT", "/a.xml").await;
    app.poll_feed(feed.id).await;
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": "{ items(first: 10) { totalCount nodes { title feed { url } organisation { name } } } }" }))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 504, "{body}");
    assert_eq!(code(&body), "TIMEOUT", "{body}");
    assert!(body.get("data").is_none(), "no data from a query that did not finish: {body}");
}

#[tokio::test]
async fn a_websocket_message_over_the_limit_closes_the_connection_and_the_hub_serves_on() {
    let app = spawn_app_with(|s| s.subscriptions.max_message_bytes = 4096).await;
    let mut client = WsClient::connect(&app, Protocol::TransportWs, json!({})).await;
    let padding = "x".repeat(5000);
    client.subscribe("1", &format!("subscription {{ changes {{ cursor }} }} # {padding}"), json!({})).await;
    loop {
        match client.frame().await {
            Frame::Closed(code, reason) => {
                assert_eq!(code, 1009, "{reason}");
                break;
            }
            Frame::Ping => continue,
            Frame::Json(v) => panic!("expected the connection closed, got {v}"),
        }
    }
    // Another connection is served.
    let mut again = WsClient::connect(&app, Protocol::TransportWs, json!({})).await;
    again.subscribe("1", "subscription { changes { cursor } }", json!({})).await;
    assert_eq!(app.data("{ networks { slug } }", json!({})).await["networks"][0]["slug"], "perco");
}

#[tokio::test]
async fn a_websocket_connection_runs_a_bounded_number_of_operations() {
    let app = spawn_app_with(|s| s.subscriptions.max_operations = 2).await;
    let mut client = WsClient::connect(&app, Protocol::TransportWs, json!({})).await;
    for id in ["1", "2", "3"] {
        client.subscribe(id, "subscription { changes { cursor } }", json!({})).await;
    }
    let refused = loop {
        let message = client.message().await;
        if message["id"] == "3" {
            break message;
        }
    };
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "BAD_USER_INPUT", "{refused}");
    assert!(refused["payload"][0]["message"].as_str().unwrap().contains("at most 2"), "{refused}");
}
