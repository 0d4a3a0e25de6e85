//! Tokens and what each role sees: the real server on port 0, a fresh SQLite file, feeds of each
//! visibility served locally, every read path asked with each kind of token.

mod helpers;

use helpers::{rss, spawn_app, TestApp};
use serde_json::{json, Value};
use tributary::model::{MemberRole, Membership, NewToken, OrgId, TokenRole, Visibility};

const ADMIN: &str = "trb_test_admin";
const FRENCH: &str = "trb_test_member_fr";
const ITALIAN: &str = "trb_test_member_it";
const MEXICAN: &str = "trb_test_member_mx";
const ANALYST: &str = "trb_test_reader_all";
const AMERICAS: &str = "trb_test_reader_americas";

/// The French Red Cross publishes one feed of each visibility; France and Italy are in PERCO,
/// Mexico in the Americas group. Returns the three items' ids by visibility.
async fn three_feeds_and_five_tokens(app: &TestApp) -> Vec<(Visibility, String)> {
    for (org, network) in [("FR", "perco"), ("IT", "perco"), ("MX", "americas")] {
        let membership = Membership {
            network: network.into(),
            organisation: OrgId(org.into()),
            role: MemberRole::Member,
            source: Some("test".into()),
        };
        app.store.set_membership(&membership).await.unwrap();
    }
    let member = |name: &str, org: &str| NewToken {
        name: name.into(),
        role: TokenRole::Member,
        organisation: Some(OrgId(org.into())),
        networks: vec![],
    };
    app.token(
        ADMIN,
        NewToken { name: "operator".into(), role: TokenRole::Admin, organisation: None, networks: vec![] },
    )
    .await;
    app.token(FRENCH, member("French focal point", "FR")).await;
    app.token(ITALIAN, member("Italian focal point", "IT")).await;
    app.token(MEXICAN, member("Mexican focal point", "MX")).await;
    let reader = |networks: &[&str]| NewToken {
        name: "dashboard".into(),
        role: TokenRole::Reader,
        organisation: None,
        networks: networks.iter().map(|n| n.to_string()).collect(),
    };
    app.token(ANALYST, reader(&[])).await;
    app.token(AMERICAS, reader(&["americas"])).await;

    let mut ids = Vec::new();
    for (visibility, path) in
        [(Visibility::Public, "public.xml"), (Visibility::Network, "network.xml"), (Visibility::Society, "society.xml")]
    {
        let title = format!("{} notice", visibility.as_str());
        app.feeds.set(path, &rss(&[(&format!("{path}-1"), &title, "Text.", "Mon, 02 Nov 2026 10:00:00 GMT")]));
        let feed = app.add_feed_with("FR", &app.feeds.url(path), visibility).await;
        app.poll_feed(feed.id).await;
        let found = app
            .data_as(
                ADMIN,
                "query($t: String!) { items(first: 1, filter: { search: $t }) { nodes { id } } }",
                json!({ "t": format!("\"{title}\"") }),
            )
            .await;
        ids.push((visibility, found["items"]["nodes"][0]["id"].as_str().unwrap().to_string()));
    }
    ids
}

/// What `token` (None: anonymous) sees of each item through every read path, as the list of
/// visibilities it sees through that path.
async fn seen(app: &TestApp, token: Option<&str>, ids: &[(Visibility, String)]) -> Vec<(String, Vec<&'static str>)> {
    let ask = |query: &'static str, variables: Value| async move {
        match token {
            Some(token) => app.data_as(token, query, variables).await,
            None => app.data(query, variables).await,
        }
    };
    let mut paths = Vec::new();
    let listed = ask("{ items(first: 10) { nodes { title } } }", json!({})).await;
    let titles = listed["items"]["nodes"].to_string();
    paths.push(("items", ids.iter().filter(|(v, _)| titles.contains(v.as_str())).map(|(v, _)| v.as_str()).collect()));
    let mut by_item = Vec::new();
    let mut by_node = Vec::new();
    for (visibility, id) in ids {
        let item = ask("query($id: ID!) { item(id: $id) { title } }", json!({ "id": id })).await;
        if !item["item"].is_null() {
            by_item.push(visibility.as_str());
        }
        let node = ask("query($id: ID!) { node(id: $id) { id } }", json!({ "id": id })).await;
        if !node["node"].is_null() {
            by_node.push(visibility.as_str());
        }
    }
    paths.push(("item", by_item));
    paths.push(("node", by_node));
    let changes =
        ask("{ changes(first: 10, filter: { includeBackfill: true }) { nodes { item { title } } } }", json!({})).await;
    let text = changes.to_string();
    paths.push(("changes", ids.iter().filter(|(v, _)| text.contains(v.as_str())).map(|(v, _)| v.as_str()).collect()));
    let feeds = ask("{ feeds(first: 10) { nodes { visibility } } }", json!({})).await;
    let text = feeds.to_string();
    paths.push(("feeds", ids.iter().filter(|(v, _)| text.contains(v.as_str())).map(|(v, _)| v.as_str()).collect()));
    paths.into_iter().map(|(path, seen)| (path.to_string(), seen)).collect()
}

#[tokio::test]
async fn each_role_sees_through_every_read_path_exactly_what_it_may() {
    let app = spawn_app().await;
    let ids = three_feeds_and_five_tokens(&app).await;
    let cases: [(Option<&str>, &[&str]); 7] = [
        (None, &["PUBLIC"]),
        (Some(ADMIN), &["PUBLIC", "NETWORK", "SOCIETY"]),
        (Some(FRENCH), &["PUBLIC", "NETWORK", "SOCIETY"]),
        (Some(ITALIAN), &["PUBLIC", "NETWORK"]),
        (Some(MEXICAN), &["PUBLIC"]),
        (Some(ANALYST), &["PUBLIC", "NETWORK"]),
        (Some(AMERICAS), &["PUBLIC"]),
    ];
    for (token, expected) in cases {
        for (path, seen) in seen(&app, token, &ids).await {
            assert_eq!(seen, expected, "{token:?} through {path}");
        }
    }
}

#[tokio::test]
async fn the_viewer_says_who_a_token_is_and_a_bad_token_is_refused() {
    let app = spawn_app().await;
    three_feeds_and_five_tokens(&app).await;
    let query = "{ viewer { role tokenName networks organisation { code } } }";
    let french = app.data_as(FRENCH, query, json!({})).await;
    assert_eq!(
        french["viewer"],
        json!({ "role": "MEMBER", "tokenName": "French focal point", "networks": ["perco"], "organisation": { "code": "FR" } })
    );
    let americas = app.data_as(AMERICAS, query, json!({})).await;
    assert_eq!(americas["viewer"]["role"], "READER");
    assert_eq!(americas["viewer"]["networks"], json!(["americas"]));
    assert_eq!(app.data(query, json!({})).await["viewer"]["role"], "ANONYMOUS");

    for bad in ["trb_not_a_token", ""] {
        let response = app.graphql_as(bad, query, json!({})).await;
        assert_eq!(response.status(), 401, "{bad:?}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{body}");
    }

    // Revoked, a token no longer works.
    let tokens = app.store.tokens().await.unwrap();
    let italian = tokens.iter().find(|t| t.name == "Italian focal point").unwrap();
    app.store.revoke_token(italian.id).await.unwrap();
    assert_eq!(app.graphql_as(ITALIAN, query, json!({})).await.status(), 401);
}
