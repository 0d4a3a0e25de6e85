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

const REGISTER: &str = "mutation($input: RegisterFeedInput!) { registerFeed(input: $input) {
    feed { id url visibility state organisation { code } } userErrors { field message code } } }";

/// The first error's code of a response.
fn code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"].as_str().unwrap_or("")
}

async fn post(app: &TestApp, token: Option<&str>, query: &str, variables: Value) -> Value {
    match token {
        Some(token) => app.graphql_as(token, query, variables).await.json().await.unwrap(),
        None => app.graphql(query, variables).await,
    }
}

#[tokio::test]
async fn a_member_registers_pauses_and_resumes_its_own_feeds_and_nobody_elses() {
    let app = spawn_app().await;
    three_feeds_and_five_tokens(&app).await;
    app.feeds.set("fr-routes.xml", &rss(&[("r-1", "Route update", "Text.", "Mon, 02 Nov 2026 10:00:00 GMT")]));
    let url = app.feeds.url("fr-routes.xml");
    let input = json!({ "input": { "url": url, "visibility": "NETWORK" } });

    assert_eq!(code(&post(&app, None, REGISTER, input.clone()).await), "UNAUTHENTICATED");
    assert_eq!(code(&post(&app, Some(ANALYST), REGISTER, input.clone()).await), "FORBIDDEN");
    let other = json!({ "input": { "url": url, "organisation": "IT" } });
    assert_eq!(code(&post(&app, Some(FRENCH), REGISTER, other).await), "FORBIDDEN");

    let registered = app.data_as(FRENCH, REGISTER, input.clone()).await;
    let payload = &registered["registerFeed"];
    assert_eq!(payload["userErrors"], json!([]));
    assert_eq!(payload["feed"]["organisation"]["code"], "FR");
    assert_eq!(payload["feed"]["visibility"], "NETWORK");
    let id = payload["feed"]["id"].as_str().unwrap().to_string();

    let again = app.data_as(FRENCH, REGISTER, input).await;
    let errors = &again["registerFeed"]["userErrors"];
    assert_eq!(errors[0]["field"], json!(["input", "url"]), "{again}");
    assert_eq!(errors[0]["code"], "BAD_USER_INPUT");
    let bad = json!({ "input": { "url": "ftp://example.org/feed", "mapping": "format = \"xls\"" } });
    let refused = app.data_as(FRENCH, REGISTER, bad).await;
    let fields: Vec<&Value> =
        refused["registerFeed"]["userErrors"].as_array().unwrap().iter().map(|e| &e["field"]).collect();
    assert_eq!(fields, [&json!(["input", "url"]), &json!(["input", "mapping"])], "{refused}");

    let pause = "mutation($id: ID!) { pauseFeed(id: $id) { feed { state } userErrors { message } } }";
    let resume = "mutation($id: ID!) { resumeFeed(id: $id) { feed { state } userErrors { message } } }";
    // Italy sees the NETWORK feed but may not change it; Mexico does not even see it.
    assert_eq!(code(&post(&app, Some(ITALIAN), pause, json!({ "id": id })).await), "FORBIDDEN");
    assert_eq!(code(&post(&app, Some(MEXICAN), pause, json!({ "id": id })).await), "NOT_FOUND");
    assert_eq!(app.data_as(FRENCH, pause, json!({ "id": id })).await["pauseFeed"]["feed"]["state"], "PAUSED");
    let due = app.poll_due().await;
    assert!(due.iter().all(|r| r.feed.url.as_str() != url), "a paused feed is not polled");
    assert_eq!(app.data_as(ADMIN, resume, json!({ "id": id })).await["resumeFeed"]["feed"]["state"], "ACTIVE");
    let due = app.poll_due().await;
    assert!(due.iter().any(|r| r.feed.url.as_str() == url), "a resumed feed is due at once");
    let italian =
        app.data_as(ITALIAN, "{ items(first: 10, filter: { search: \"route\" }) { totalCount } }", json!({})).await;
    assert_eq!(italian["items"]["totalCount"], 1, "PERCO partners read the NETWORK feed's item");
}

#[tokio::test]
async fn admins_create_and_revoke_tokens_through_the_api() {
    let app = spawn_app().await;
    three_feeds_and_five_tokens(&app).await;
    let create = "mutation($input: CreateTokenInput!) { createToken(input: $input) {
        secret token { id name role organisation { code } prefix revokedAt } userErrors { message } } }";
    let input = json!({ "input": { "name": "Mexican Red Cross", "role": "MEMBER", "organisation": "MEX" } });
    assert_eq!(code(&post(&app, Some(FRENCH), create, input.clone()).await), "FORBIDDEN");
    let created = app.data_as(ADMIN, create, input).await;
    let secret = created["createToken"]["secret"].as_str().unwrap().to_string();
    assert_eq!(created["createToken"]["token"]["organisation"]["code"], "MX");
    assert!(secret.starts_with(created["createToken"]["token"]["prefix"].as_str().unwrap()));
    let viewer = app.data_as(&secret, "{ viewer { role organisation { code } } }", json!({})).await;
    assert_eq!(viewer["viewer"], json!({ "role": "MEMBER", "organisation": { "code": "MX" } }));

    let unbound = json!({ "input": { "name": "x", "role": "MEMBER" } });
    let refused = app.data_as(ADMIN, create, unbound).await;
    assert!(refused["createToken"]["userErrors"][0]["message"].as_str().unwrap().contains("one organisation"));

    let id = created["createToken"]["token"]["id"].clone();
    let revoke = "mutation($id: Int!) { revokeToken(id: $id) { token { revokedAt } userErrors { message } } }";
    let revoked = app.data_as(ADMIN, revoke, json!({ "id": id })).await;
    assert!(revoked["revokeToken"]["token"]["revokedAt"].is_string());
    assert_eq!(app.graphql_as(&secret, "{ viewer { role } }", json!({})).await.status(), 401);
}

#[tokio::test]
async fn a_registered_url_inside_the_hubs_network_is_refused_unless_allowlisted() {
    // Without the allowlist the test feed server (on loopback) is as private as any other.
    let app = helpers::spawn_app_with(|settings| settings.fetch.allow.clear()).await;
    french_member_token(&app).await;
    for (url, reason) in [
        (app.feeds.url("feed.xml"), "not a public address"),
        ("http://10.1.2.3/feed.xml".to_string(), "not a public address"),
        ("http://[::ffff:127.0.0.1]/feed.xml".to_string(), "not a public address"),
        ("http://localhost:8080/feed.xml".to_string(), "it is this machine"),
        ("file:///etc/passwd".to_string(), "only http and https"),
    ] {
        let refused = app.data_as(FRENCH, REGISTER, json!({ "input": { "url": url } })).await;
        let message = refused["registerFeed"]["userErrors"][0]["message"].as_str().unwrap_or_default().to_string();
        assert!(message.contains(reason), "{url}: {refused}");
    }

    // A name that resolves inside the machine: its own host name (in /etc/hosts as loopback on
    // this project's machines), on the feed server's port.
    let name = std::fs::read_to_string("/etc/hostname").unwrap_or_default().trim().to_string();
    let resolved: Vec<std::net::SocketAddr> =
        tokio::net::lookup_host((name.as_str(), 80)).await.map(|a| a.collect()).unwrap_or_default();
    if !name.is_empty()
        && !resolved.is_empty()
        && resolved.iter().all(|a| a.ip().is_loopback() || a.ip().is_unspecified())
    {
        let url = format!("http://{name}:{}/feed.xml", app.feeds.address.port());
        let refused = app.data_as(FRENCH, REGISTER, json!({ "input": { "url": url } })).await;
        let message = refused["registerFeed"]["userErrors"][0]["message"].as_str().unwrap_or_default().to_string();
        assert!(message.contains("resolves only to addresses that are not public"), "{url}: {refused}");
        assert!(!message.contains("127.0"), "the internal address stays on the hub: {message}");
    } else {
        eprintln!("note: the host name `{name}` does not resolve to loopback here; that case was not checked");
    }

    // With the feed server allowlisted (as the other tests run), the same URL is accepted.
    let open = spawn_app().await;
    french_member_token(&open).await;
    let accepted = open.data_as(FRENCH, REGISTER, json!({ "input": { "url": open.feeds.url("feed.xml") } })).await;
    assert_eq!(accepted["registerFeed"]["userErrors"], json!([]), "{accepted}");
}

/// The French focal point's MEMBER token alone.
async fn french_member_token(app: &TestApp) {
    app.token(
        FRENCH,
        NewToken {
            name: "French focal point".into(),
            role: TokenRole::Member,
            organisation: Some(OrgId("FR".into())),
            networks: vec![],
        },
    )
    .await;
}

#[tokio::test]
async fn a_deleted_feed_withdraws_its_items_and_comes_back_when_registered_again() {
    let app = spawn_app().await;
    three_feeds_and_five_tokens(&app).await;
    let entries = [
        ("d-1", "First notice", "Text.", "Mon, 02 Nov 2026 10:00:00 GMT"),
        ("d-2", "Second notice", "Text.", "Mon, 02 Nov 2026 11:00:00 GMT"),
    ];
    app.feeds.set("deleted.xml", &rss(&entries));
    let url = app.feeds.url("deleted.xml");
    let registered = app.data_as(FRENCH, REGISTER, json!({ "input": { "url": url } })).await;
    let id = registered["registerFeed"]["feed"]["id"].as_str().unwrap().to_string();
    app.poll_due().await;
    let count = "{ items(first: 1, filter: { search: \"notice\" }) { totalCount } }";
    let live = app.data(count, json!({})).await["items"]["totalCount"].as_i64().unwrap();

    let delete =
        "mutation($id: ID!) { deleteFeed(id: $id) { withdrawnItems feed { deletedAt } userErrors { message } } }";
    assert_eq!(code(&post(&app, Some(ITALIAN), delete, json!({ "id": id })).await), "FORBIDDEN");
    let deleted = app.data_as(FRENCH, delete, json!({ "id": id })).await;
    assert_eq!(deleted["deleteFeed"]["withdrawnItems"], 2);
    assert!(deleted["deleteFeed"]["feed"]["deletedAt"].is_string());
    assert_eq!(app.data(count, json!({})).await["items"]["totalCount"], live - 2);
    let changes = app.data("{ changes(first: 20) { nodes { kind item { title feed { url } } } } }", json!({})).await;
    let withdrawn = changes["changes"]["nodes"].as_array().unwrap().iter().filter(|c| c["kind"] == "WITHDRAWN").count();
    assert_eq!(withdrawn, 2, "{changes}");
    let feeds = app.data("{ feeds(first: 20) { nodes { url } } }", json!({})).await.to_string();
    assert!(!feeds.contains(&url), "a deleted feed is not listed");
    assert!(app.poll_due().await.iter().all(|r| r.feed.url.as_str() != url), "nor polled");
    assert_eq!(code(&post(&app, Some(FRENCH), delete, json!({ "id": id })).await), "NOT_FOUND", "deleted once");

    // Registered again, it comes back, and its next poll publishes its items again.
    let again = app.data_as(FRENCH, REGISTER, json!({ "input": { "url": url } })).await;
    assert_eq!(again["registerFeed"]["feed"]["id"].as_str(), Some(id.as_str()), "{again}");
    assert_eq!(again["registerFeed"]["feed"]["state"], "ACTIVE");
    let report = app.poll_due().await.into_iter().find(|r| r.feed.url.as_str() == url).expect("polled");
    assert_eq!(report.ingest.updated, 2, "{:?}", report.error);
    assert_eq!(app.data(count, json!({})).await["items"]["totalCount"], live);
}

#[tokio::test]
async fn the_audit_log_tells_admins_who_changed_what() {
    let app = spawn_app().await;
    three_feeds_and_five_tokens(&app).await;
    app.feeds.set("audited.xml", &rss(&[("a-1", "Audited", "Text.", "Mon, 02 Nov 2026 10:00:00 GMT")]));
    let url = app.feeds.url("audited.xml");
    let registered = app.data_as(FRENCH, REGISTER, json!({ "input": { "url": url } })).await;
    let id = registered["registerFeed"]["feed"]["id"].clone();
    app.data_as(FRENCH, "mutation($id: ID!) { pauseFeed(id: $id) { feed { state } } }", json!({ "id": id })).await;
    app.data_as(ADMIN, "mutation($id: ID!) { deleteFeed(id: $id) { withdrawnItems } }", json!({ "id": id })).await;

    let query = "{ auditLog(first: 10) { totalCount nodes { actor action subject detail } } }";
    assert_eq!(code(&post(&app, None, query, json!({})).await), "UNAUTHENTICATED");
    assert_eq!(code(&post(&app, Some(FRENCH), query, json!({})).await), "FORBIDDEN");
    let log = app.data_as(ADMIN, query, json!({})).await;
    let entries = log["auditLog"]["nodes"].as_array().unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["deleteFeed", "pauseFeed", "registerFeed"], "newest first: {log}");
    assert!(entries[2]["actor"].as_str().unwrap().ends_with("(French focal point)"), "{log}");
    assert!(entries[0]["actor"].as_str().unwrap().ends_with("(operator)"), "{log}");
    assert!(entries[2]["detail"].as_str().unwrap().contains(&url), "{log}");
    assert_eq!(entries[0]["subject"], entries[2]["subject"]);
}

#[tokio::test]
async fn a_member_fixes_its_feed_and_its_items_follow_a_new_visibility() {
    let app = spawn_app().await;
    three_feeds_and_five_tokens(&app).await;
    app.feeds.set("old.xml", &rss(&[("u-1", "Moved notice", "Text.", "Mon, 02 Nov 2026 10:00:00 GMT")]));
    let registered = app.data_as(FRENCH, REGISTER, json!({ "input": { "url": app.feeds.url("old.xml") } })).await;
    let id = registered["registerFeed"]["feed"]["id"].clone();
    app.poll_due().await;
    let count = "{ items(first: 1, filter: { search: \"moved\" }) { totalCount } }";
    assert_eq!(app.data(count, json!({})).await["items"]["totalCount"], 1);

    let update = "mutation($input: UpdateFeedInput!) { updateFeed(input: $input) {
        feed { url visibility kind } userErrors { field message } } }";
    let other = json!({ "input": { "id": id, "visibility": "SOCIETY" } });
    assert_eq!(code(&post(&app, Some(ITALIAN), update, other.clone()).await), "FORBIDDEN");
    let changed = app.data_as(FRENCH, update, other).await;
    assert_eq!(changed["updateFeed"]["feed"]["visibility"], "SOCIETY");
    assert_eq!(app.data(count, json!({})).await["items"]["totalCount"], 0, "its item is hidden at once");
    assert_eq!(app.data_as(FRENCH, count, json!({})).await["items"]["totalCount"], 1);

    let bad = json!({ "input": { "id": id, "mapping": "format = \"json\"", "url": "http://10.0.0.1/x" } });
    let refused = app.data_as(FRENCH, update, bad).await;
    let fields: Vec<&Value> =
        refused["updateFeed"]["userErrors"].as_array().unwrap().iter().map(|e| &e["field"]).collect();
    assert_eq!(fields, [&json!(["input", "url"]), &json!(["input", "mapping"])], "{refused}");

    // The feed moved: the next poll, due now, reads the new address.
    app.feeds.set("new.xml", &rss(&[("u-2", "Moved notice again", "Text.", "Tue, 03 Nov 2026 10:00:00 GMT")]));
    let moved = app.data_as(FRENCH, update, json!({ "input": { "id": id, "url": app.feeds.url("new.xml") } })).await;
    assert_eq!(moved["updateFeed"]["userErrors"], json!([]), "{moved}");
    let report = app.poll_due().await.into_iter().find(|r| r.feed.url.as_str().ends_with("new.xml")).expect("due now");
    assert_eq!(report.ingest.created, 1, "{:?}", report.error);
}

#[tokio::test]
async fn admins_add_organisations_and_memberships_and_members_share_network_items_at_once() {
    let app = spawn_app().await;
    let ids = three_feeds_and_five_tokens(&app).await;
    let network_item = ids.iter().find(|(v, _)| *v == Visibility::Network).unwrap().1.clone();
    let item = "query($id: ID!) { item(id: $id) { title } }";
    assert!(app.data_as(MEXICAN, item, json!({ "id": network_item })).await["item"].is_null());

    let join = "mutation($n: String!, $o: String!) { setMembership(network: $n, organisation: $o, role: OBSERVER, source: \"minutes 2026-11\") {
        organisation { code } userErrors { field message } } }";
    assert_eq!(code(&post(&app, Some(MEXICAN), join, json!({ "n": "perco", "o": "MX" })).await), "FORBIDDEN");
    let joined = app.data_as(ADMIN, join, json!({ "n": "perco", "o": "MEX" })).await;
    assert_eq!(joined["setMembership"]["organisation"]["code"], "MX", "{joined}");
    // The Mexican token's networks are looked up with each request: it reads PERCO's NETWORK items now.
    assert_eq!(app.data_as(MEXICAN, item, json!({ "id": network_item })).await["item"]["title"], "NETWORK notice");
    let unknown = app.data_as(ADMIN, join, json!({ "n": "atlantis", "o": "MX" })).await;
    assert!(unknown["setMembership"]["userErrors"][0]["message"].as_str().unwrap().contains("atlantis"));

    let create = "mutation($input: CreateOrganisationInput!) { createOrganisation(input: $input) {
        organisation { code kind name } userErrors { field message } } }";
    let input = json!({ "input": { "code": "unicef", "kind": "EXTERNAL", "name": "UNICEF", "source": "https://www.unicef.org" } });
    let created = app.data_as(ADMIN, create, input.clone()).await;
    assert_eq!(
        created["createOrganisation"]["organisation"],
        json!({ "code": "UNICEF", "kind": "EXTERNAL", "name": "UNICEF" })
    );
    let again = app.data_as(ADMIN, create, input).await;
    assert_eq!(again["createOrganisation"]["userErrors"][0]["field"], json!(["input", "code"]));
    let log = app.data_as(ADMIN, "{ auditLog(first: 5) { nodes { action } } }", json!({})).await.to_string();
    assert!(log.contains("createOrganisation") && log.contains("setMembership"), "{log}");
}

const VALIDATE: &str = "mutation($input: ValidateFeedInput!) { validateFeed(input: $input) {
    kind title itemCount items { title language countries categories figures } warnings
    alternates { url title mediaType } userErrors { field message } } }";

#[tokio::test]
async fn validating_a_url_shows_what_would_be_stored_and_stores_nothing() {
    let app = spawn_app().await;
    three_feeds_and_five_tokens(&app).await;
    let count = "{ items(first: 1) { totalCount } }";
    let before = app.data_as(ADMIN, count, json!({})).await;
    assert_eq!(
        code(&post(&app, None, VALIDATE, json!({ "input": { "url": "http://x.org/" } })).await),
        "UNAUTHENTICATED"
    );

    // A feed: its kind, title and first items as they would be stored.
    let entries =
        [("v-1", "Frontière fermée à Vintimille", "Les passages sont suspendus.", "Mon, 02 Nov 2026 10:00:00 GMT")];
    app.feeds.set("preview.xml", &rss(&entries));
    let feed = app.data_as(FRENCH, VALIDATE, json!({ "input": { "url": app.feeds.url("preview.xml") } })).await;
    let v = &feed["validateFeed"];
    assert_eq!((v["kind"].as_str(), v["itemCount"].as_i64()), (Some("RSS"), Some(1)), "{feed}");
    assert_eq!(v["items"][0]["title"], "Frontière fermée à Vintimille");
    assert_eq!(v["items"][0]["language"], "fr");

    // An HXL file: read with the defaults, figures included.
    app.feeds.set_served(
        "sites.csv",
        helpers::Served {
            body: "Site,Country,Event,IDPs\n#loc+name,#country+code,#event+name+i_en,#affected+idps\nBaidoa,SO,Flooding displaces families,1200\n".into(),
            content_type: "text/csv",
            etag: None,
            status: axum::http::StatusCode::OK,
            location: None,
        },
    );
    let csv = app.data_as(FRENCH, VALIDATE, json!({ "input": { "url": app.feeds.url("sites.csv") } })).await;
    assert_eq!(csv["validateFeed"]["kind"], "CSV", "{csv}");
    assert_eq!(csv["validateFeed"]["items"][0]["figures"], json!(["affected 1200 people"]));

    // A web page: the feeds it advertises.
    let page = format!(
        "<!DOCTYPE html><html><head><link rel=\"alternate\" type=\"application/rss+xml\" title=\"News\" href=\"{}\"></head></html>",
        "/preview.xml"
    );
    app.feeds.set_served(
        "index.html",
        helpers::Served {
            body: page,
            content_type: "text/html",
            etag: None,
            status: axum::http::StatusCode::OK,
            location: None,
        },
    );
    let html = app.data_as(FRENCH, VALIDATE, json!({ "input": { "url": app.feeds.url("index.html") } })).await;
    assert!(html["validateFeed"]["kind"].is_null());
    assert_eq!(
        html["validateFeed"]["alternates"],
        json!([{ "url": app.feeds.url("preview.xml"), "title": "News", "mediaType": "application/rss+xml" }])
    );

    // JSON that is not a JSON Feed needs a mapping; a mapping that does not fit says why.
    app.feeds.set_json("api", r#"{"data": [{"id": 1, "name": "x"}]}"#);
    let json = app.data_as(FRENCH, VALIDATE, json!({ "input": { "url": app.feeds.url("api") } })).await;
    assert_eq!(json["validateFeed"]["kind"], "JSON_API");
    assert!(json["validateFeed"]["warnings"][0].as_str().unwrap().contains("mapping"));
    let mapping = "format = \"json\"\nrecords = \"/results\"\n[item]\ntitle = \"{/name}\"";
    let wrong =
        app.data_as(FRENCH, VALIDATE, json!({ "input": { "url": app.feeds.url("api"), "mapping": mapping } })).await;
    assert!(
        wrong["validateFeed"]["userErrors"][0]["message"].as_str().unwrap().contains("nothing at `/results`"),
        "{wrong}"
    );

    assert_eq!(app.data_as(ADMIN, count, json!({})).await, before, "nothing was stored");
}

#[tokio::test]
async fn a_society_imports_its_feeds_from_opml_and_a_network_exports_them() {
    let app = spawn_app().await;
    three_feeds_and_five_tokens(&app).await;
    let (a, b) = (app.feeds.url("opml-a.xml"), app.feeds.url("opml-b.xml"));
    let opml = format!(
        "<?xml version=\"1.0\"?><opml version=\"2.0\"><head><title>Mine</title></head><body>\
         <outline text=\"Routes\" xmlUrl=\"{a}\"/><outline text=\"Folder\"><outline text=\"Returns\" xmlUrl=\"{b}\"/></outline>\
         <outline text=\"Again\" xmlUrl=\"{a}\"/><outline text=\"Broken\" xmlUrl=\"not a url\"/></body></opml>"
    );
    let import = "mutation($opml: String!) { importOpml(opml: $opml, visibility: NETWORK) {
        feeds { url organisation { code } visibility } userErrors { field message } } }";
    assert_eq!(code(&post(&app, Some(ANALYST), import, json!({ "opml": opml })).await), "FORBIDDEN");
    let imported = app.data_as(ITALIAN, import, json!({ "opml": opml })).await;
    let feeds = imported["importOpml"]["feeds"].as_array().unwrap();
    assert_eq!(feeds.len(), 2, "{imported}");
    assert_eq!(feeds[0], json!({ "url": a, "organisation": { "code": "IT" }, "visibility": "NETWORK" }));
    let errors = imported["importOpml"]["userErrors"].as_array().unwrap();
    let fields: Vec<&Value> = errors.iter().map(|e| &e["field"]).collect();
    assert_eq!(fields, [&json!(["opml", "3"]), &json!(["opml", "4"])], "{imported}");
    let broken = app.data_as(ITALIAN, import, json!({ "opml": "<rss/>" })).await;
    assert!(broken["importOpml"]["userErrors"][0]["message"].as_str().unwrap().contains("not an OPML document"));

    // PERCO's feeds as OPML: the French partner sees the NETWORK ones; the anonymous do not.
    let export = "{ opml(network: \"perco\") }";
    let french = app.data_as(FRENCH, export, json!({})).await["opml"].as_str().unwrap().to_string();
    let outlines = connectors::opml::read(&french).unwrap();
    assert!(outlines.iter().any(|o| o.url == a) && outlines.iter().any(|o| o.url == b), "{french}");
    let anonymous = app.data(export, json!({})).await["opml"].as_str().unwrap().to_string();
    assert!(!anonymous.contains(&a), "{anonymous}");
    assert!(anonymous.contains("public.xml"), "{anonymous}");
}

#[tokio::test]
async fn each_token_has_its_own_rate_limit_with_retry_after() {
    let app = helpers::spawn_app_with(|settings| settings.api.rate_limit_per_minute = 3).await;
    french_member_token(&app).await;
    let query = "{ viewer { role } }";
    for _ in 0..3 {
        assert_eq!(app.graphql_as(FRENCH, query, json!({})).await.status(), 200);
    }
    let limited = app.graphql_as(FRENCH, query, json!({})).await;
    assert_eq!(limited.status(), 429);
    let wait: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&wait), "{wait}");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED", "{body}");
    // Requests without a token are counted by address, apart from the token's.
    assert!(app.graphql(query, json!({})).await["data"]["viewer"]["role"] == "ANONYMOUS");
}

#[tokio::test]
async fn only_an_admin_registers_or_moves_a_feed_that_sends_the_hubs_secrets() {
    let app = spawn_app().await;
    three_feeds_and_five_tokens(&app).await;
    let input = json!({ "input": { "url": app.feeds.url("dtm"), "preset": "iom-dtm" } });
    let refused = app.data_as(FRENCH, REGISTER, input).await;
    let message = refused["registerFeed"]["userErrors"][0]["message"].as_str().unwrap_or_default().to_string();
    assert!(message.contains("only an ADMIN token"), "{refused}");
    let mapping = "format = \"json\"\n[headers]\nX-Key = { env = \"HOME\" }\n[item]\ntitle = \"{/t}\"";
    let own = json!({ "input": { "url": app.feeds.url("own"), "mapping": mapping } });
    assert!(app.data_as(FRENCH, REGISTER, own).await["registerFeed"]["feed"].is_null());

    let admin = json!({ "input": { "url": app.feeds.url("dtm"), "preset": "iom-dtm", "organisation": "FR" } });
    let registered = app.data_as(ADMIN, REGISTER, admin).await;
    let id = registered["registerFeed"]["feed"]["id"].clone();
    assert!(id.is_string(), "{registered}");
    // The French member may pause it, but not move it elsewhere.
    let update =
        "mutation($input: UpdateFeedInput!) { updateFeed(input: $input) { feed { url } userErrors { message } } }";
    let moved = app.data_as(FRENCH, update, json!({ "input": { "id": id, "url": app.feeds.url("elsewhere") } })).await;
    assert!(
        moved["updateFeed"]["userErrors"][0]["message"].as_str().unwrap().contains("only an ADMIN token"),
        "{moved}"
    );
}

#[tokio::test]
async fn figures_total_only_what_each_role_may_see() {
    let app = spawn_app().await;
    three_feeds_and_five_tokens(&app).await;
    // The French Red Cross publishes people affected in one CSV file per visibility: 1, 10 and 100.
    for (visibility, path, n) in
        [(Visibility::Public, "p.csv", 1), (Visibility::Network, "n.csv", 10), (Visibility::Society, "s.csv", 100)]
    {
        app.feeds
            .set(path, &format!("#meta+id,#country+code,#date,#event,#affected\n{path},FR,2026-10-01,Floods,{n}\n"));
        let url = tributary::model::FeedUrl::parse(&app.feeds.url(path)).unwrap();
        let feed = tributary::model::NewFeed {
            kind: tributary::model::FeedKind::Csv,
            visibility,
            ..tributary::model::NewFeed::new(OrgId("FR".into()), url, 900)
        };
        let feed = app.store.add_feed(&feed).await.unwrap();
        let report = app.poll_feed(feed.id).await;
        assert!(report.error.is_none(), "{report:?}");
    }
    let query = "{ figures(measure: \"affected\", groupBy: []) { total } }";
    let cases: [(Option<&str>, f64); 7] = [
        (None, 1.0),
        (Some(ADMIN), 111.0),
        (Some(FRENCH), 111.0),
        (Some(ITALIAN), 11.0),
        (Some(MEXICAN), 1.0),
        (Some(ANALYST), 11.0),
        (Some(AMERICAS), 1.0),
    ];
    for (token, total) in cases {
        let data = match token {
            Some(token) => app.data_as(token, query, json!({})).await,
            None => app.data(query, json!({})).await,
        };
        assert_eq!(data["figures"][0]["total"], total, "{token:?}");
    }
}
