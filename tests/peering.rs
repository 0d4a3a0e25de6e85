//! Hub peering: hubs that follow each other's change logs (HUB feeds). Three hubs in one process,
//! each on its own port and database: B follows A, C follows B, and A follows C.

mod helpers;

use helpers::{rss, spawn_app_with, TestApp};
use serde_json::{json, Value};
use tributary::model::{Feed, FeedKind, FeedUrl, NewFeed, NewToken, OrgId, TokenRole, Visibility};

/// Free ports for hubs that must allowlist each other before they start.
fn reserve_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> =
        (0..n).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    listeners.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

/// Starts hubs with ids `ids` on reserved ports, each allowed to fetch from the others.
async fn hubs(ids: &[&str]) -> Vec<TestApp> {
    let ports = reserve_ports(ids.len());
    let mut apps = Vec::new();
    for (k, id) in ids.iter().enumerate() {
        let ports = ports.clone();
        let id = id.to_string();
        apps.push(
            spawn_app_with(move |s| {
                s.listen = format!("127.0.0.1:{}", ports[k]).parse().unwrap();
                s.hub.id = Some(id);
                s.poll.hub_recheck_secs = 0;
                s.fetch.allow.extend(ports.iter().filter(|p| **p != ports[k]).map(|p| format!("127.0.0.1:{p}")));
            })
            .await,
        );
    }
    apps
}

/// Registers, on `follower`, a HUB feed of `followed`'s GraphQL endpoint for the IFRC, with `settings`.
async fn follow(follower: &TestApp, followed: &TestApp, settings: Option<String>) -> Feed {
    follow_as(follower, "IFRC", followed, settings).await
}

/// As [`follow`], for organisation `org` (one organisation registers a URL once).
async fn follow_as(follower: &TestApp, org: &str, followed: &TestApp, settings: Option<String>) -> Feed {
    let url = FeedUrl::parse(&followed.url("/graphql")).unwrap();
    let feed = NewFeed { kind: FeedKind::Hub, mapping: settings, ..NewFeed::new(OrgId(org.into()), url, 900) };
    follower.store.add_feed(&feed).await.expect("HUB feed registered")
}

async fn poll(app: &TestApp, feed: &Feed) -> tributary::poller::PollReport {
    let report = app
        .poller
        .poll(app.store.feeds_by_ids(&tributary::access::Scope::System, &[feed.id]).await.unwrap().pop().unwrap())
        .await;
    assert_eq!(report.error, None, "poll of feed {} failed", feed.id);
    report
}

const ITEMS: &str =
    "{ items(first: 10, filter: { includeDuplicates: true }) { nodes { id title summary version visibility
    organisation { code } provenance { originHub originOrganisation originId path } } } }";

async fn items(app: &TestApp) -> Vec<Value> {
    app.data(ITEMS, json!({})).await["items"]["nodes"].as_array().unwrap().clone()
}

#[tokio::test]
async fn an_item_travels_a_ring_of_three_hubs_once_with_its_provenance_and_never_comes_back() {
    let apps = hubs(&["hub-a", "hub-b", "hub-c"]).await;
    let (a, b, c) = (&apps[0], &apps[1], &apps[2]);
    assert_eq!(a.data("{ hub { id } }", json!({})).await["hub"]["id"], "hub-a");
    let entry = |summary: &str| {
        rss(&[("x-1", "Crossings shift to the Atlantic route", summary, "Mon, 02 Nov 2026 10:00:00 GMT")])
    };
    a.feeds.set("/x.xml", &entry("Arrivals in the Canaries rose."));
    let source = a.add_feed("IT", "/x.xml").await;
    let b_follows_a = follow(b, a, None).await;
    let c_follows_b = follow(c, b, None).await;
    let a_follows_c = follow(a, c, None).await;

    a.poll_feed(source.id).await;
    let origin = items(a).await;
    assert_eq!(origin.len(), 1);
    let origin_id = origin[0]["id"].clone();
    assert_eq!(origin[0]["provenance"], Value::Null, "an item of its own hub has no provenance");

    // Around the ring once: A → B → C, and C's copy does not come back into A.
    assert_eq!(poll(b, &b_follows_a).await.ingest.created, 1);
    assert_eq!(poll(c, &c_follows_b).await.ingest.created, 1);
    assert_eq!(poll(a, &a_follows_c).await.ingest.created, 0, "nothing loops back into A");
    let in_b = items(b).await;
    assert_eq!(in_b.len(), 1, "once in B: {in_b:?}");
    assert_eq!(
        in_b[0]["provenance"],
        json!({ "originHub": "hub-a", "originOrganisation": "IT", "originId": origin_id, "path": ["hub-a"] })
    );
    assert_eq!(in_b[0]["organisation"]["code"], "IFRC", "it belongs to the organisation that follows");
    let in_c = items(c).await;
    assert_eq!(in_c.len(), 1, "once in C: {in_c:?}");
    assert_eq!(
        in_c[0]["provenance"],
        json!({ "originHub": "hub-a", "originOrganisation": "IT", "originId": origin_id, "path": ["hub-a", "hub-b"] })
    );
    assert_eq!(items(a).await.len(), 1);

    // Its update reaches both, once each; A still holds only its own.
    a.feeds.set("/x.xml", &entry("Arrivals in the Canaries doubled in October."));
    assert_eq!(a.poll_feed(source.id).await.ingest.updated, 1);
    assert_eq!(poll(b, &b_follows_a).await.ingest.updated, 1);
    assert_eq!(poll(c, &c_follows_b).await.ingest.updated, 1);
    assert_eq!(poll(a, &a_follows_c).await.ingest.created, 0);
    for (hub, app) in [("B", b), ("C", c)] {
        let got = items(app).await;
        assert_eq!(got.len(), 1, "{hub}: {got:?}");
        assert_eq!(got[0]["summary"], "Arrivals in the Canaries doubled in October.", "{hub}");
        assert_eq!(got[0]["version"], 2, "{hub}");
    }
    let in_a = items(a).await;
    assert_eq!(in_a.len(), 1);
    assert_eq!(in_a[0]["id"], origin_id);

    // A second poll with nothing new reads nothing again (the cursor is kept).
    let again = poll(b, &b_follows_a).await.ingest;
    assert_eq!((again.created, again.updated, again.withdrawn), (0, 0, 0));

    // A withdrawal travels too: the source feed is deleted in A.
    a.store.delete_feed(source.id).await.unwrap();
    assert_eq!(poll(b, &b_follows_a).await.ingest.withdrawn, 1);
    assert_eq!(poll(c, &c_follows_b).await.ingest.withdrawn, 1);
    assert!(items(b).await.is_empty() && items(c).await.is_empty(), "withdrawn downstream");
}

#[tokio::test]
async fn only_what_the_token_may_see_crosses_and_it_stays_as_strict_as_it_was() {
    let apps = hubs(&["hub-apmn", "hub-americas"]).await;
    let (upstream, follower) = (&apps[0], &apps[1]);
    upstream.feeds.set(
        "/open.xml",
        &rss(&[("o-1", "Open: new border crossing hours", "Text.", "Mon, 02 Nov 2026 10:00:00 GMT")]),
    );
    upstream.feeds.set(
        "/members.xml",
        &rss(&[("m-1", "Members only: reception rules", "Text.", "Mon, 02 Nov 2026 11:00:00 GMT")]),
    );
    let open = upstream.add_feed("AU", "/open.xml").await;
    let members = upstream.add_feed_with("AU", &upstream.feeds.url("/members.xml"), Visibility::Network).await;
    upstream.poll_feed(open.id).await;
    upstream.poll_feed(members.id).await;

    // Without a token: PUBLIC items only.
    let anonymous = follow(follower, upstream, None).await;
    assert_eq!(poll(follower, &anonymous).await.ingest.created, 1);
    let titles: Vec<Value> = items(follower).await.iter().map(|i| i["title"].clone()).collect();
    assert_eq!(titles, vec![json!("Open: new border crossing hours")]);

    // With a READER token of APMN, issued by the upstream hub and named by an environment variable:
    // the NETWORK item crosses, and stays NETWORK although the follower's feed is PUBLIC.
    upstream
        .token(
            "trb_peering_reader_apmn",
            NewToken {
                name: "Americas hub".into(),
                role: TokenRole::Reader,
                organisation: None,
                networks: vec!["apmn".into()],
            },
        )
        .await;
    std::env::set_var("PEERING_TEST_APMN_TOKEN", "trb_peering_reader_apmn");
    let with_token =
        follow_as(follower, "ICRC", upstream, Some("token = { env = \"PEERING_TEST_APMN_TOKEN\" }".into())).await;
    assert_eq!(poll(follower, &with_token).await.ingest.created, 2);
    let admin = NewToken { name: "admin".into(), role: TokenRole::Admin, organisation: None, networks: vec![] };
    follower.token("trb_peering_admin", admin).await;
    let all = follower.data_as("trb_peering_admin", ITEMS, json!({})).await["items"]["nodes"].clone();
    let members_only =
        all.as_array().unwrap().iter().find(|i| i["title"] == "Members only: reception rules").expect("crossed");
    assert_eq!(members_only["visibility"], "NETWORK", "as strict as upstream");
    assert!(
        !items(follower).await.iter().any(|i| i["title"] == "Members only: reception rules"),
        "an anonymous reader of the follower does not see it"
    );

    // The open item becomes NETWORK upstream. The upstream's change log cannot tell an anonymous
    // reader; the recheck at the next poll does: withdrawn where the token may no longer see it,
    // stricter where it may.
    let tightened = tributary::model::FeedUpdate { visibility: Some(Visibility::Network), ..Default::default() };
    upstream.store.update_feed(open.id, &tightened).await.unwrap();
    assert_eq!(poll(follower, &anonymous).await.ingest.withdrawn, 1);
    let report = poll(follower, &with_token).await.ingest;
    assert_eq!((report.updated, report.withdrawn), (1, 0));
    assert!(items(follower).await.is_empty(), "no anonymous reader of the follower sees either item now");
    let all = follower.data_as("trb_peering_admin", ITEMS, json!({})).await["items"]["nodes"].clone();
    let open_now: Vec<&Value> =
        all.as_array().unwrap().iter().filter(|i| i["title"] == "Open: new border crossing hours").collect();
    assert_eq!(open_now.len(), 1, "the withdrawn copy is gone, the token's copy stays: {all}");
    assert_eq!(open_now[0]["visibility"], "NETWORK");

    // A token the upstream hub does not know: the feed fails with the upstream's reason.
    let wrong = follow_as(follower, "MX", upstream, Some("token = \"trb_not_a_token\"".into())).await;
    let feed =
        follower.store.feeds_by_ids(&tributary::access::Scope::System, &[wrong.id]).await.unwrap().pop().unwrap();
    let report = follower.poller.poll(feed).await;
    let error = report.error.expect("a wrong token fails the feed");
    assert!(error.contains("UNAUTHENTICATED"), "{error}");
}

#[tokio::test]
async fn a_hub_feed_is_registered_through_the_api_with_its_settings_checked() {
    let apps = hubs(&["hub-perco", "hub-central-asia"]).await;
    let (upstream, follower) = (&apps[0], &apps[1]);
    let admin = NewToken { name: "admin".into(), role: TokenRole::Admin, organisation: None, networks: vec![] };
    follower.token("trb_peering_register", admin).await;
    let register = "mutation($input: RegisterFeedInput!) { registerFeed(input: $input) {
        feed { id kind } userErrors { field message code } } }";
    let url = upstream.url("/graphql");

    // A MEMBER may not: the token goes wherever the feed points, and `env` names the hub's own secrets.
    let member = NewToken {
        name: "it".into(),
        role: TokenRole::Member,
        organisation: Some(OrgId("IT".into())),
        networks: vec![],
    };
    follower.token("trb_peering_member_it", member).await;
    let secret =
        json!({ "input": { "url": url, "kind": "HUB", "mapping": "token = { env = \"TRIBUTARY_DATABASE_URL\" }" } });
    let refused = follower.data_as("trb_peering_member_it", register, secret).await;
    assert!(refused["registerFeed"]["feed"].is_null(), "{refused}");
    assert!(refused["registerFeed"]["userErrors"][0]["message"].as_str().unwrap().contains("ADMIN"), "{refused}");

    let typo = json!({ "input": { "url": url, "organisation": "IFRC", "kind": "HUB", "mapping": "tokn = \"x\"" } });
    let refused = follower.data_as("trb_peering_register", register, typo).await;
    let error = &refused["registerFeed"]["userErrors"][0];
    assert_eq!(error["code"], "BAD_USER_INPUT", "{refused}");
    assert!(error["message"].as_str().unwrap().contains("tokn"), "{refused}");

    let input = json!({ "input": { "url": url, "organisation": "IFRC", "kind": "HUB",
        "mapping": "token = { env = \"PEERING_TEST_UNSET_TOKEN\" }" } });
    let registered = follower.data_as("trb_peering_register", register, input).await;
    assert_eq!(registered["registerFeed"]["userErrors"], json!([]), "{registered}");
    assert_eq!(registered["registerFeed"]["feed"]["kind"], "HUB");

    // Its first poll says what is missing, in words, and the feed is FAILING with it.
    let feeds = follower
        .store
        .feeds_page(
            &tributary::access::Scope::System,
            &Default::default(),
            &tributary::store::PageRequest { first: 10, after: None },
        )
        .await
        .unwrap();
    let feed = feeds.edges.into_iter().map(|(_, f)| f).find(|f| f.kind == FeedKind::Hub).unwrap();
    let report = follower.poller.poll(feed).await;
    let error = report.error.expect("the token's variable is not set");
    assert!(error.contains("PEERING_TEST_UNSET_TOKEN"), "{error}");
}

#[tokio::test]
async fn a_new_follower_gets_every_item_even_those_whose_changes_were_pruned() {
    let apps = hubs(&["hub-old", "hub-new"]).await;
    let (upstream, follower) = (&apps[0], &apps[1]);
    upstream
        .feeds
        .set("/old.xml", &rss(&[("o-1", "An old study of return routes", "Text.", "Mon, 02 Mar 2026 10:00:00 GMT")]));
    let old = upstream.add_feed("FR", "/old.xml").await;
    upstream.poll_feed(old.id).await;
    let pruned = upstream.store.prune_changes(chrono::Utc::now() + chrono::Duration::seconds(1)).await.unwrap();
    assert!(pruned >= 1, "the upstream log holds nothing now");

    let feed = follow(follower, upstream, None).await;
    let report = poll(follower, &feed).await.ingest;
    assert_eq!(report.created, 1);
    let got = items(follower).await;
    assert_eq!(got[0]["title"], "An old study of return routes");
    assert_eq!(got[0]["provenance"]["originHub"], "hub-old");
    // The snapshot's items are backfill: a subscriber's default filter does not see them.
    let log = follower.data("{ changes(first: 10) { nodes { kind } } all: changes(first: 10, filter: { includeBackfill: true }) { nodes { kind backfill } } }", json!({})).await;
    assert_eq!(log["changes"]["nodes"], json!([]));
    assert_eq!(log["all"]["nodes"], json!([{ "kind": "CREATED", "backfill": true }]));

    // The follower's cursor falls behind a pruning: the items are read again, nothing is lost.
    upstream
        .feeds
        .set("/next.xml", &rss(&[("n-0", "A report the follower reads", "Text.", "Mon, 02 Nov 2026 09:00:00 GMT")]));
    let next = upstream.add_feed("FR", "/next.xml").await;
    upstream.poll_feed(next.id).await;
    assert_eq!(poll(follower, &feed).await.ingest.created, 1, "read through the log: the follower has a cursor now");
    upstream.feeds.set("/new.xml", &rss(&[("n-1", "A new route report", "Text.", "Mon, 02 Nov 2026 10:00:00 GMT")]));
    let new = upstream.add_feed("FR", "/new.xml").await;
    upstream.poll_feed(new.id).await;
    upstream.store.prune_changes(chrono::Utc::now() + chrono::Duration::seconds(1)).await.unwrap();
    let report = poll(follower, &feed).await;
    assert_eq!(report.ingest.created, 1, "the item created in the pruned gap arrives");
    let stored = follower.store.feeds_by_ids(&tributary::access::Scope::System, &[feed.id]).await.unwrap();
    assert!(stored[0].warnings.iter().any(|w| w.contains("read again")), "{:?}", stored[0].warnings);
    assert_eq!(items(follower).await.len(), 3);
}
