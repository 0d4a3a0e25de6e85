//! Subscriptions over WebSocket with a real client: the server on port 0, a fresh SQLite file,
//! feeds served locally and polled by the test.

mod helpers;

use helpers::ws::{Frame, Protocol, WsClient};
use helpers::{rss, spawn_app, spawn_app_with, TestApp};
use serde_json::{json, Value};
use tributary::model::{MemberRole, Membership, NewToken, OrgId, TokenRole, Visibility};

const CHANGES: &str = "subscription($filter: ChangeFilter, $after: String) {
  changes(filter: $filter, after: $after) { cursor sequence kind backfill item { title categories: classification { categories } countries { country } visibility } }
}";

const DATE: &str = "Mon, 02 Nov 2026 10:00:00 GMT";

/// Serves `items` at `path` (replacing what was there) and polls the feed.
async fn publish(app: &TestApp, feed: &tributary::model::Feed, path: &str, items: &[(&str, &str)]) {
    let entries: Vec<(&str, &str, &str, &str)> = items.iter().map(|(guid, title)| (*guid, *title, "", DATE)).collect();
    app.feeds.set(path, &rss(&entries));
    let report = app.poll_feed(feed.id).await;
    assert!(report.error.is_none(), "{report:?}");
}

/// A feed whose first import (backfill) is done, so later items are announced.
async fn imported_feed(app: &TestApp, org: &str, path: &str, visibility: Visibility) -> tributary::model::Feed {
    let feed = app.add_feed_with(org, &app.feeds.url(path), visibility).await;
    publish(app, &feed, path, &[("old-1", "An old story")]).await;
    feed
}

/// The cursor of the last change so far (as a client that read the log would hold it).
async fn last_cursor(app: &TestApp) -> String {
    let data =
        app.data("{ changes(first: 100, filter: { includeBackfill: true }) { edges { cursor } } }", json!({})).await;
    let edges = data["changes"]["edges"].as_array().unwrap();
    edges.last().expect("a change")["cursor"].as_str().unwrap().to_string()
}

/// Waits (without sleeping) until `n` subscriptions follow the change log.
async fn subscribed(app: &TestApp, n: usize) {
    tokio::time::timeout(helpers::ws::WAIT, async {
        while app.changes.subscribers() < n {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the subscription started");
}

fn title(change: &Value) -> &str {
    change["item"]["title"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_subscriber_receives_a_route_change_ingested_after_it_subscribed() {
    let app = spawn_app().await;
    let feed = imported_feed(&app, "IT", "it.xml", Visibility::Public).await;
    let mut client = WsClient::connect(&app, Protocol::TransportWs, json!({})).await;
    client.subscribe("1", CHANGES, json!({ "filter": { "categories": ["ROUTE_CHANGE"] } })).await;
    subscribed(&app, 1).await;

    publish(
        &app,
        &feed,
        "it.xml",
        &[("old-1", "An old story"), ("new-1", "Border closure at Ventimiglia pushes migrants to the Alps")],
    )
    .await;

    let change = client.next_change("1").await;
    assert_eq!(title(&change), "Border closure at Ventimiglia pushes migrants to the Alps");
    assert_eq!(change["kind"], "CREATED");
    assert_eq!(change["backfill"], false);
    assert!(change["item"]["categories"]["categories"].to_string().contains("ROUTE_CHANGE"));
}

#[tokio::test]
async fn a_subscriber_that_reconnects_with_its_last_cursor_gets_exactly_what_it_missed_then_live_ones() {
    let app = spawn_app().await;
    let feed = imported_feed(&app, "FR", "fr.xml", Visibility::Public).await;
    let start = last_cursor(&app).await;
    let mut items = vec![("old-1", "An old story"), ("a", "Story A")];
    publish(&app, &feed, "fr.xml", &items).await;

    let mut client = WsClient::connect(&app, Protocol::TransportWs, json!({})).await;
    client.subscribe("1", CHANGES, json!({ "after": start })).await;
    let a = client.next_change("1").await;
    assert_eq!(title(&a), "Story A");
    drop(client);

    // Offline: B and C are published; A is updated.
    items = vec![("old-1", "An old story"), ("a", "Story A, updated"), ("b", "Story B"), ("c", "Story C")];
    publish(&app, &feed, "fr.xml", &items).await;

    let mut client = WsClient::connect(&app, Protocol::TransportWs, json!({})).await;
    client.subscribe("1", CHANGES, json!({ "after": a["cursor"] })).await;
    let mut missed = Vec::new();
    for _ in 0..3 {
        missed.push(client.next_change("1").await);
    }
    let mut titles: Vec<(&str, &str)> = missed.iter().map(|c| (c["kind"].as_str().unwrap(), title(c))).collect();
    titles.sort();
    assert_eq!(titles, [("CREATED", "Story B"), ("CREATED", "Story C"), ("UPDATED", "Story A, updated")]);
    let sequences: Vec<i64> = missed.iter().map(|c| c["sequence"].as_i64().unwrap()).collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "in order: {sequences:?}");
    assert!(sequences[0] > a["sequence"].as_i64().unwrap());

    // Then live, with nothing repeated at the seam.
    items.push(("d", "Story D"));
    publish(&app, &feed, "fr.xml", &items).await;
    let d = client.next_change("1").await;
    assert_eq!(title(&d), "Story D");
    assert_eq!(d["sequence"].as_i64().unwrap(), sequences[2] + 1);
}

#[tokio::test]
async fn latest_changes_page_back_newest_first_and_the_subscription_goes_on_from_resume_after() {
    let app = spawn_app().await;
    let feed = imported_feed(&app, "FR", "fr.xml", Visibility::Public).await;
    let mut items = vec![("old-1", "An old story")];
    for (guid, title) in [("a", "Story A"), ("b", "Story B"), ("c", "Story C"), ("d", "Story D")] {
        items.push((guid, title));
        publish(&app, &feed, "fr.xml", &items).await;
    }
    const LATEST: &str = "query($before: String) { latestChanges(first: 2, before: $before) {
        resumeAfter olderBefore nodes { cursor sequence item { title } } } }";
    let page = |before: Value| {
        let app = &app;
        async move { app.data(LATEST, json!({ "before": before })).await["latestChanges"].clone() }
    };
    let titles = |page: &Value| -> Vec<String> {
        page["nodes"].as_array().unwrap().iter().map(|c| title(c).to_string()).collect()
    };

    // Newest first, two at a time, backfill left out as in every change filter by default.
    let first = page(Value::Null).await;
    assert_eq!(titles(&first), ["Story D", "Story C"]);
    let second = page(first["olderBefore"].clone()).await;
    assert_eq!(titles(&second), ["Story B", "Story A"]);
    let third = page(second["olderBefore"].clone()).await;
    assert_eq!(titles(&third), Vec::<String>::new());
    assert_eq!(third["olderBefore"], Value::Null);
    assert_eq!(first["resumeAfter"], first["nodes"][0]["cursor"], "the head, here the newest change");

    // Following from `resumeAfter`: the next change and nothing listed already.
    let mut client = WsClient::connect(&app, Protocol::TransportWs, json!({})).await;
    client.subscribe("1", CHANGES, json!({ "after": first["resumeAfter"] })).await;
    subscribed(&app, 1).await;
    items.push(("e", "Story E"));
    publish(&app, &feed, "fr.xml", &items).await;
    let e = client.next_change("1").await;
    assert_eq!(title(&e), "Story E");
    assert_eq!(e["sequence"].as_i64().unwrap(), first["nodes"][0]["sequence"].as_i64().unwrap() + 1);

    // A change committed after `resumeAfter` was read but that the filter skips moves nothing:
    // the head is where the log stands, whatever the filter.
    let regulatory =
        app.data("{ latestChanges(first: 5, filter: { categories: [REGULATORY_CHANGE] }) { resumeAfter nodes { sequence } } }", json!({})).await;
    assert_eq!(regulatory["latestChanges"]["nodes"], json!([]));
    assert_eq!(regulatory["latestChanges"]["resumeAfter"], e["cursor"]);
    let bad = app.graphql("{ latestChanges(first: 101) { resumeAfter } }", json!({})).await;
    assert_eq!(bad["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{bad}");
}

#[tokio::test]
async fn a_subscriber_filtered_to_regulatory_changes_for_one_country_receives_nothing_else() {
    let app = spawn_app().await;
    let feed = imported_feed(&app, "MY", "my.xml", Visibility::Public).await;
    let start = last_cursor(&app).await;
    let mut items = vec![
        ("old-1", "An old story"),
        ("1", "Thailand: new law on work permits for migrant workers"),
        ("2", "Malaysia: border closure on the Thai frontier"),
        ("3", "Malaysia opens a new blood donation centre"),
        ("4", "Malaysia: new law on work permits for migrant workers"),
    ];
    publish(&app, &feed, "my.xml", &items).await;

    let mut client = WsClient::connect(&app, Protocol::TransportWs, json!({})).await;
    let filter = json!({ "categories": ["REGULATORY_CHANGE"], "countries": ["MYS"] });
    client.subscribe("1", CHANGES, json!({ "filter": filter, "after": start })).await;
    let first = client.next_change("1").await;
    assert_eq!(title(&first), "Malaysia: new law on work permits for migrant workers");

    // Live: more that does not match, then one that does; the next message is that one.
    items.push(("5", "Thailand: decree on temporary protection"));
    items.push(("6", "Malaysia: sea arrivals rise"));
    items.push(("7", "Malaysia: decree on temporary protection"));
    publish(&app, &feed, "my.xml", &items).await;
    let next = client.next_change("1").await;
    assert_eq!(title(&next), "Malaysia: decree on temporary protection");
    assert!(next["item"]["countries"].to_string().contains("MY"));
}

#[tokio::test]
async fn an_anonymous_subscriber_never_receives_network_items_and_a_member_of_the_network_does() {
    let app = spawn_app().await;
    for org in ["FR", "IT"] {
        let membership = Membership {
            network: "perco".into(),
            organisation: OrgId(org.into()),
            role: MemberRole::Member,
            source: Some("test".into()),
        };
        app.store.set_membership(&membership).await.unwrap();
    }
    let member = NewToken {
        name: "Italian focal point".into(),
        role: TokenRole::Member,
        organisation: Some(OrgId("IT".into())),
        networks: vec![],
    };
    app.token("trb_test_italy", member).await;
    let internal = imported_feed(&app, "FR", "internal.xml", Visibility::Network).await;
    let public = imported_feed(&app, "FR", "public.xml", Visibility::Public).await;

    let mut anonymous = WsClient::connect(&app, Protocol::TransportWs, json!({})).await;
    anonymous.subscribe("a", CHANGES, json!({})).await;
    let mut italian =
        WsClient::connect(&app, Protocol::TransportWs, json!({ "Authorization": "Bearer trb_test_italy" })).await;
    italian.subscribe("i", CHANGES, json!({})).await;
    subscribed(&app, 2).await;

    publish(&app, &internal, "internal.xml", &[("old-1", "An old story"), ("n", "Partners only: shelter capacity")])
        .await;
    publish(&app, &public, "public.xml", &[("old-1", "An old story"), ("p", "Public: new reception centre")]).await;

    let seen = anonymous.next_change("a").await;
    assert_eq!(title(&seen), "Public: new reception centre", "the NETWORK item was not sent first");
    assert_eq!(seen["item"]["visibility"], "PUBLIC");
    let first = italian.next_change("i").await;
    assert_eq!(title(&first), "Partners only: shelter capacity");
    assert_eq!(first["item"]["visibility"], "NETWORK");
    assert_eq!(title(&italian.next_change("i").await), "Public: new reception centre");
}

#[tokio::test]
async fn the_legacy_graphql_ws_protocol_works_too() {
    let app = spawn_app().await;
    let feed = imported_feed(&app, "MX", "mx.xml", Visibility::Public).await;
    let start = last_cursor(&app).await;
    publish(&app, &feed, "mx.xml", &[("old-1", "An old story"), ("n", "Cierre de frontera en Tapachula")]).await;

    let mut client = WsClient::connect(&app, Protocol::Legacy, json!({})).await;
    client.subscribe("7", CHANGES, json!({ "after": start })).await;
    let change = client.next_change("7").await;
    assert_eq!(title(&change), "Cierre de frontera en Tapachula");
    client.stop("7").await;
    let done = client.message().await;
    assert_eq!(done, json!({ "type": "complete", "id": "7" }));
}

#[tokio::test]
async fn a_cursor_older_than_the_horizon_gets_cursor_expired_with_the_oldest_valid_cursor() {
    let app = spawn_app().await;
    let feed = imported_feed(&app, "FR", "fr.xml", Visibility::Public).await;
    let old = last_cursor(&app).await;
    publish(&app, &feed, "fr.xml", &[("old-1", "An old story"), ("a", "Story A")]).await;
    publish(&app, &feed, "fr.xml", &[("old-1", "An old story"), ("a", "Story A"), ("b", "Story B")]).await;
    // Everything made before now is pruned, as if the horizon had passed.
    let pruned = app.store.prune_changes(chrono::Utc::now() + chrono::Duration::seconds(1)).await.unwrap();
    assert_eq!(pruned, 3);

    let mut client = WsClient::connect(&app, Protocol::TransportWs, json!({})).await;
    client.subscribe("1", CHANGES, json!({ "after": old })).await;
    let message = client.message().await;
    assert_eq!(message["type"], "next", "{message}");
    let error = &message["payload"]["errors"][0];
    assert_eq!(error["extensions"]["code"], "CURSOR_EXPIRED", "{message}");
    let oldest = error["extensions"]["oldestCursor"].as_str().unwrap().to_string();
    assert_eq!(client.message().await, json!({ "type": "complete", "id": "1" }));

    // The query says the same, and the oldest cursor is accepted by both.
    let response = app
        .graphql("query($after: String) { changes(first: 5, after: $after) { totalCount } }", json!({ "after": old }))
        .await;
    assert_eq!(response["errors"][0]["extensions"]["code"], "CURSOR_EXPIRED", "{response}");
    let data = app
        .data(
            "query($after: String) { changes(first: 5, after: $after) { nodes { sequence } } }",
            json!({ "after": oldest }),
        )
        .await;
    assert_eq!(data["changes"]["nodes"], json!([]));
    client.subscribe("2", CHANGES, json!({ "after": oldest })).await;
    publish(&app, &feed, "fr.xml", &[("old-1", "An old story"), ("a", "Story A"), ("b", "Story B"), ("c", "C")]).await;
    assert_eq!(title(&client.next_change("2").await), "C");
}

#[tokio::test]
async fn a_revoked_or_unknown_token_in_connection_init_is_refused() {
    let app = spawn_app().await;
    let mut client = WsClient::open(&app, Protocol::TransportWs).await;
    client.send(json!({ "type": "connection_init", "payload": { "Authorization": "Bearer trb_nope" } })).await;
    match client.frame().await {
        Frame::Closed(code, reason) => {
            assert_eq!(code, 4403);
            assert!(reason.contains("unknown or revoked"), "{reason}");
        }
        other => panic!("expected the connection to be closed, got {other:?}"),
    }
}

#[tokio::test]
async fn only_subscriptions_run_over_websocket() {
    let app = spawn_app().await;
    let mut client = WsClient::connect(&app, Protocol::TransportWs, json!({})).await;
    for (id, operation) in
        [("m", "mutation { pauseFeed(id: \"x\") { userErrors { code } } }"), ("q", "{ viewer { role } }")]
    {
        client.subscribe(id, operation, json!({})).await;
        let refused = client.message().await;
        assert_eq!(refused["type"], "error", "{refused}");
        assert_eq!(refused["id"], id);
        assert_eq!(refused["payload"][0]["extensions"]["code"], "BAD_USER_INPUT");
    }
}

#[tokio::test]
async fn many_subscriptions_sent_at_once_all_start() {
    let app = spawn_app().await;
    let mut client = WsClient::connect(&app, Protocol::TransportWs, json!({})).await;
    for n in 0..16 {
        client.subscribe(&n.to_string(), CHANGES, json!({})).await;
    }
    subscribed(&app, 16).await;
    client.subscribe("17", CHANGES, json!({})).await;
    let refused = client.message().await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert!(refused["payload"][0]["message"].as_str().unwrap().contains("at most 16"));
}

#[tokio::test]
async fn the_server_pings_and_drops_a_client_that_never_initialises() {
    let app = spawn_app_with(|s| s.subscriptions.ping_secs = 1).await;
    let mut client = WsClient::connect(&app, Protocol::TransportWs, json!({})).await;
    assert!(matches!(client.frame().await, Frame::Ping), "a keep-alive ping");

    let mut silent = WsClient::open(&app, Protocol::TransportWs).await;
    loop {
        match silent.frame().await {
            Frame::Ping => continue,
            Frame::Closed(code, reason) => {
                assert_eq!((code, reason.as_str()), (4408, "Connection initialisation timeout"));
                break;
            }
            Frame::Json(v) => panic!("unexpected {v}"),
        }
    }
}

#[tokio::test]
async fn a_revoked_token_ends_its_subscriptions_at_the_next_change() {
    let app = spawn_app_with(|s| s.subscriptions.recheck_token_secs = 0).await;
    let reader = NewToken { name: "dashboard".into(), role: TokenRole::Reader, organisation: None, networks: vec![] };
    app.token("trb_test_dashboard", reader).await;
    let feed = imported_feed(&app, "FR", "fr.xml", Visibility::Public).await;
    let mut client = WsClient::connect(&app, Protocol::TransportWs, json!({ "token": "trb_test_dashboard" })).await;
    client.subscribe("1", CHANGES, json!({})).await;
    subscribed(&app, 1).await;
    publish(&app, &feed, "fr.xml", &[("old-1", "An old story"), ("a", "Story A")]).await;
    assert_eq!(title(&client.next_change("1").await), "Story A");

    let tokens = app.store.tokens().await.unwrap();
    app.store.revoke_token(tokens[0].id).await.unwrap();
    publish(&app, &feed, "fr.xml", &[("old-1", "An old story"), ("a", "Story A"), ("b", "Story B")]).await;
    let payload = client.next_payload("1").await;
    assert_eq!(payload["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{payload}");
    assert_eq!(client.message().await, json!({ "type": "complete", "id": "1" }));
}

#[tokio::test]
async fn a_revoked_token_ends_a_quiet_subscription_too() {
    let app = spawn_app_with(|s| s.subscriptions.recheck_token_secs = 1).await;
    let reader = NewToken { name: "dashboard".into(), role: TokenRole::Reader, organisation: None, networks: vec![] };
    app.token("trb_test_quiet", reader).await;
    let mut client = WsClient::connect(&app, Protocol::TransportWs, json!({ "token": "trb_test_quiet" })).await;
    client.subscribe("1", CHANGES, json!({})).await;
    subscribed(&app, 1).await;
    let tokens = app.store.tokens().await.unwrap();
    app.store.revoke_token(tokens[0].id).await.unwrap();
    // No change is published: the check comes on its own, within a second or two.
    let payload = client.next_payload("1").await;
    assert_eq!(payload["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{payload}");
    assert_eq!(client.message().await, json!({ "type": "complete", "id": "1" }));
}

/// The live path filters in memory (`events::matches`), the `changes` query in SQL: each filter
/// must pick exactly the same changes both ways.
#[tokio::test]
async fn live_filters_pick_exactly_what_the_changes_query_picks() {
    let app = spawn_app().await;
    for (org, network) in [("FR", "perco"), ("MX", "americas"), ("MY", "apmn")] {
        let membership = Membership {
            network: network.into(),
            organisation: OrgId(org.into()),
            role: MemberRole::Member,
            source: Some("test".into()),
        };
        app.store.set_membership(&membership).await.unwrap();
    }
    let fr = imported_feed(&app, "FR", "fr.xml", Visibility::Public).await;
    let mx = imported_feed(&app, "MX", "mx.xml", Visibility::Public).await;
    let my = imported_feed(&app, "MY", "my.xml", Visibility::Public).await;
    let start = last_cursor(&app).await;
    let filters = [
        json!({ "categories": ["REGULATORY_CHANGE"] }),
        json!({ "categories": ["ROUTE_CHANGE", "RETURN"] }),
        json!({ "countries": ["MY"] }),
        json!({ "countries": ["MEX", "IT"] }),
        json!({ "societies": ["FR"] }),
        json!({ "networks": ["perco", "apmn"] }),
        json!({ "kinds": ["UPDATED"] }),
        json!({ "categories": ["REGULATORY_CHANGE"], "countries": ["MY"], "networks": ["perco"] }),
        json!({ "languages": ["en"] }),
        json!({ "languages": ["es", "en"], "kinds": ["CREATED", "UPDATED"] }),
        json!({}),
    ];
    let mut client = WsClient::connect(&app, Protocol::TransportWs, json!({})).await;
    for (n, filter) in filters.iter().enumerate() {
        client.subscribe(&n.to_string(), CHANGES, json!({ "filter": filter })).await;
    }
    subscribed(&app, filters.len()).await;

    let old = ("old-1", "An old story");
    publish(&app, &fr, "fr.xml", &[old, ("f1", "Border closure at Ventimiglia, Italy"), ("f2", "Blood drive in Lyon")])
        .await;
    publish(
        &app,
        &mx,
        "mx.xml",
        &[old, ("m1", "Cierre de frontera en Tapachula, México"), ("m2", "Nueva ley de migración en México")],
    )
    .await;
    publish(&app, &my, "my.xml", &[old, ("y1", "Malaysia: sea arrivals rise"), ("y2", "Returns to Myanmar resume")])
        .await;
    publish(
        &app,
        &fr,
        "fr.xml",
        &[old, ("f1", "Border closure at Ventimiglia, Italy, extended"), ("f2", "Blood drive in Lyon")],
    )
    .await;
    // A marker every filter picks: a PERCO society's update of a regulatory and route change
    // concerning Malaysia and Mexico.
    let marker = "Malaysia and Mexico close border crossings to migrants under a new decree";
    publish(&app, &fr, "fr.xml", &[old, ("f1", "Border closure at Ventimiglia, Italy, extended"), ("z", marker)]).await;
    publish(&app, &fr, "fr.xml", &[old, ("z", &format!("{marker}, amended"))]).await;

    // Messages of all operations arrive interleaved on the one connection.
    let mut live: Vec<Vec<i64>> = vec![Vec::new(); filters.len()];
    let mut open = filters.len();
    while open > 0 {
        let message = client.message().await;
        assert_eq!(message["type"], "next", "{message}");
        let n: usize = message["id"].as_str().unwrap().parse().unwrap();
        let change = &message["payload"]["data"]["changes"];
        live[n].push(change["sequence"].as_i64().unwrap());
        if title(change) == format!("{marker}, amended") {
            open -= 1;
        }
    }
    for (n, filter) in filters.iter().enumerate() {
        let data = app
            .data(
                "query($f: ChangeFilter, $after: String) { changes(first: 100, filter: $f, after: $after) { nodes { sequence } } }",
                json!({ "f": filter, "after": start }),
            )
            .await;
        let queried: Vec<i64> =
            data["changes"]["nodes"].as_array().unwrap().iter().map(|c| c["sequence"].as_i64().unwrap()).collect();
        assert!(!queried.is_empty());
        assert_eq!(live[n], queried, "filter {filter}");
    }
}

#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected_and_can_resume_from_its_cursor() {
    let app = spawn_app_with(|s| s.subscriptions.send_timeout_secs = 1).await;
    // About 5 MB of changes: more than the socket buffers between the server and a client with a
    // small receive buffer hold (about 2.8 MB got through on this machine).
    let long = "Lorem ipsum dolor sit amet. ".repeat(70);
    let entries: Vec<(String, String)> = (0..2500).map(|n| (format!("e{n}"), format!("Story {n}"))).collect();
    let items: Vec<(&str, &str, &str, &str)> =
        entries.iter().map(|(guid, title)| (guid.as_str(), title.as_str(), long.as_str(), DATE)).collect();
    app.feeds.set("big.xml", &rss(&items));
    let feed = app.add_feed("FR", "big.xml").await;
    let report = app.poll_feed(feed.id).await;
    assert!(report.error.is_none(), "{report:?}");

    let mut client = WsClient::connect_with(&app, Protocol::TransportWs, json!({}), Some(4096)).await;
    let query = "subscription($after: String) { changes(after: $after, filter: { includeBackfill: true }) { cursor item { title summary } } }";
    let zero = tributary_cursor(0);
    client.subscribe("1", query, json!({ "after": zero })).await;
    subscribed(&app, 1).await;
    // The client reads nothing; the server gives up on it and lets its subscription go.
    tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while app.changes.subscribers() > 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the slow client was disconnected");

    // What did reach it ends before the whole backlog, and resumes from its last cursor.
    let mut received = Vec::new();
    loop {
        match client.frame().await {
            Frame::Json(v) if v["type"] == "next" => received.push(v["payload"]["data"]["changes"]["cursor"].clone()),
            Frame::Json(v) => panic!("unexpected {v}"),
            Frame::Ping => {}
            Frame::Closed(..) => break,
        }
    }
    assert!(received.len() < 2500, "cut off before the end: {}", received.len());
    let mut again = WsClient::connect(&app, Protocol::TransportWs, json!({})).await;
    let last = received.last().cloned().unwrap_or(json!(zero));
    again.subscribe("2", query, json!({ "after": last })).await;
    let next = again.next_change("2").await;
    assert_eq!(next["item"]["title"], format!("Story {}", received.len()));
}

/// A change-log cursor as the API encodes it (base64url of `changes|SEQUENCE`).
fn tributary_cursor(sequence: i64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("changes|{sequence}"))
}
