//! Atom feeds and digests: the real server, feeds served locally, the output parsed back with
//! feed-rs as a feed reader would.

mod helpers;

use helpers::{rss, spawn_app, TestApp};
use reqwest::StatusCode;
use serde_json::json;
use tributary::model::{MemberRole, Membership, NewToken, OrgId, TokenRole, Visibility};

const DATE: &str = "Mon, 02 Nov 2026 10:00:00 GMT";

/// An entry: guid, title, summary.
type Entry<'a> = (&'a str, &'a str, &'a str);

/// APMN: Malaysia (PUBLIC feed) and Thailand (NETWORK feed), each first imported and then
/// publishing news, so the news is not backfill.
async fn apmn_news(app: &TestApp) {
    for org in ["MY", "TH"] {
        let m = Membership {
            network: "apmn".into(),
            organisation: OrgId(org.into()),
            role: MemberRole::Member,
            source: Some("test".into()),
        };
        app.store.set_membership(&m).await.unwrap();
    }
    let news: [(&str, Visibility, &[Entry]); 2] = [
        (
            "MY",
            Visibility::Public,
            &[
                (
                    "my-1",
                    "Malaysia: new law on work permits for migrant workers",
                    "The amended Employment Act, in force from 1 December, lets migrant workers change employer.",
                ),
                (
                    "my-2",
                    "Malaysia: sea arrivals rise in Sabah",
                    "Boats from the southern Philippines now land near Sandakan: 1,240 arrivals in October, twice September's.",
                ),
                ("my-3", "Malaysia: volunteers train in first aid", "Forty volunteers of the Malaysian Red Crescent qualified."),
            ],
        ),
        (
            "TH",
            Visibility::Network,
            &[("th-1", "Thailand: border closure at Mae Sot", "The crossing to Myawaddy is closed to people on foot.")],
        ),
    ];
    for (org, visibility, items) in news {
        let path = format!("{org}.xml");
        app.feeds.set(&path, &rss(&[("old", "An old story", "", DATE)]));
        let feed = app.add_feed_with(org, &app.feeds.url(&path), visibility).await;
        app.poll_feed(feed.id).await;
        let mut entries = vec![("old", "An old story", "", DATE)];
        entries.extend(items.iter().map(|(guid, title, summary)| (*guid, *title, *summary, DATE)));
        app.feeds.set(&path, &rss(&entries));
        let report = app.poll_feed(feed.id).await;
        assert!(report.error.is_none(), "{report:?}");
    }
}

async fn get(app: &TestApp, path_and_query: &str) -> reqwest::Response {
    app.client.get(app.url(path_and_query)).send().await.expect("request")
}

async fn atom(app: &TestApp, path_and_query: &str) -> feed_rs::model::Feed {
    let response = get(app, path_and_query).await;
    assert_eq!(response.status(), StatusCode::OK, "{path_and_query}");
    assert_eq!(response.headers()["content-type"], "application/atom+xml; charset=utf-8");
    let body = response.bytes().await.unwrap();
    feed_rs::parser::parse(&body[..]).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&body)))
}

fn titles(feed: &feed_rs::model::Feed) -> Vec<String> {
    feed.entries.iter().map(|e| e.title.as_ref().unwrap().content.clone()).collect()
}

#[tokio::test]
async fn the_changes_feed_is_valid_atom_with_the_filters_as_query_parameters() {
    let app = spawn_app().await;
    apmn_news(&app).await;

    let feed = atom(&app, "/feeds/changes.atom?network=apmn").await;
    assert_eq!(feed.feed_type, feed_rs::model::FeedType::Atom);
    assert_eq!(
        titles(&feed),
        [
            "Malaysia: volunteers train in first aid",
            "Malaysia: sea arrivals rise in Sabah",
            "Malaysia: new law on work permits for migrant workers"
        ],
        "newest first, PUBLIC only, no backfill"
    );
    let entry = &feed.entries[2];
    assert!(entry.id.starts_with("urn:tributary:change:"));
    assert!(entry.updated.is_some() && entry.published.is_some());
    assert_eq!(entry.authors[0].name.as_deref(), Some("Malaysian Red Crescent Society"));
    assert!(entry.categories.iter().any(|c| c.term == "REGULATORY_CHANGE"));
    assert!(entry.categories.iter().any(|c| c.term == "MY"));
    assert_eq!(
        entry.summary.as_ref().unwrap().content,
        "The amended Employment Act, in force from 1 December, lets migrant workers change employer."
    );
    let ids: std::collections::HashSet<_> = feed.entries.iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids.len(), 3, "every entry has its own id");

    let regulatory = atom(&app, "/feeds/changes.atom?network=apmn&category=REGULATORY_CHANGE&country=MY").await;
    assert_eq!(titles(&regulatory), ["Malaysia: new law on work permits for migrant workers"]);
    assert!(regulatory.title.unwrap().content.contains("Regulatory change"));
    let backfill = atom(&app, "/feeds/changes.atom?network=apmn&backfill=true").await;
    assert_eq!(backfill.entries.len(), 4, "the first import of the PUBLIC feed too");
}

#[tokio::test]
async fn network_items_need_a_reader_token_in_the_url() {
    let app = spawn_app().await;
    apmn_news(&app).await;
    let reader =
        NewToken { name: "Outlook".into(), role: TokenRole::Reader, organisation: None, networks: vec!["apmn".into()] };
    app.token("trb_test_outlook", reader).await;
    let member = NewToken {
        name: "Thai focal point".into(),
        role: TokenRole::Member,
        organisation: Some(OrgId("TH".into())),
        networks: vec![],
    };
    app.token("trb_test_thai", member).await;

    let anonymous = atom(&app, "/feeds/changes.atom?category=ROUTE_CHANGE").await;
    assert_eq!(titles(&anonymous), ["Malaysia: sea arrivals rise in Sabah"]);
    let with_token = atom(&app, "/feeds/changes.atom?category=ROUTE_CHANGE&token=trb_test_outlook").await;
    assert_eq!(titles(&with_token), ["Thailand: border closure at Mae Sot", "Malaysia: sea arrivals rise in Sabah"]);
    let self_link = with_token.links.iter().find(|l| l.rel.as_deref() == Some("self")).unwrap();
    assert!(self_link.href.contains("token=trb_test_outlook"), "the reader keeps its token when it follows links");

    let refused = get(&app, "/feeds/changes.atom?token=trb_test_thai").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.text().await.unwrap().contains("READER"));
    assert_eq!(get(&app, "/feeds/changes.atom?token=trb_nope").await.status(), StatusCode::UNAUTHORIZED);
    let revoked = app.store.tokens().await.unwrap().into_iter().find(|t| t.name == "Outlook").unwrap();
    app.store.revoke_token(revoked.id).await.unwrap();
    assert_eq!(get(&app, "/feeds/changes.atom?token=trb_test_outlook").await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn pages_link_to_older_entries_and_an_unchanged_feed_answers_304() {
    let app = spawn_app().await;
    apmn_news(&app).await;
    let first = atom(&app, "/feeds/changes.atom?network=apmn&limit=2").await;
    assert_eq!(first.entries.len(), 2);
    let next = first.links.iter().find(|l| l.rel.as_deref() == Some("next")).expect("a next link").href.clone();
    let path = next.strip_prefix(&format!("http://{}", app.address)).expect("links use the request's host");
    let second = atom(&app, path).await;
    assert_eq!(titles(&second), ["Malaysia: new law on work permits for migrant workers"]);
    assert!(second.links.iter().all(|l| l.rel.as_deref() != Some("next")), "the last page links no further");

    let response = get(&app, "/feeds/changes.atom?network=apmn").await;
    let etag = response.headers()["etag"].clone();
    let again =
        app.client.get(app.url("/feeds/changes.atom?network=apmn")).header("if-none-match", etag).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn bad_parameters_are_refused_with_a_reason() {
    let app = spawn_app().await;
    for (query, reason) in [
        ("category=ROUTES", "`ROUTES` is not a category"),
        ("country=Malaysia", "not an ISO 3166-1"),
        ("limit=500", "`limit` is a number from 1 to 100"),
        ("colour=red", "unknown parameter `colour`"),
    ] {
        let response = get(&app, &format!("/feeds/changes.atom?{query}")).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let text = response.text().await.unwrap();
        assert!(text.contains(reason), "{query}: {text}");
    }
    assert_eq!(get(&app, "/feeds/digest.atom?network=nowhere").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(get(&app, "/feeds/digest.atom?network=apmn&period=year").await.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_digest_counts_by_category_and_country_and_puts_route_and_regulatory_changes_first() {
    let app = spawn_app().await;
    apmn_news(&app).await;
    let query = "query($since: DateTime!) { digest(network: \"apmn\", since: $since) {
        network { slug } changes items complete
        byCategory { category count } byCountry { country name count }
        highlights { kind item { title } } } }";
    let since = (chrono::Utc::now() - chrono::Duration::days(7)).to_rfc3339();
    let digest = app.data(query, json!({ "since": since })).await["digest"].clone();
    assert_eq!(digest["network"]["slug"], "apmn");
    assert_eq!((digest["changes"].as_i64(), digest["items"].as_i64()), (Some(3), Some(3)), "{digest}");
    assert_eq!(digest["complete"], true);
    let categories = digest["byCategory"].to_string();
    assert!(categories.contains(r#"{"category":"REGULATORY_CHANGE","count":1}"#), "{categories}");
    assert!(categories.contains(r#"{"category":"ROUTE_CHANGE","count":1}"#), "{categories}");
    assert_eq!(digest["byCountry"][0], json!({ "country": "MY", "name": "Malaysia", "count": 3 }));
    let highlights: Vec<&str> =
        digest["highlights"].as_array().unwrap().iter().map(|h| h["item"]["title"].as_str().unwrap()).collect();
    assert_eq!(highlights.len(), 3);
    assert_eq!(highlights[2], "Malaysia: volunteers train in first aid", "route and regulatory changes first");

    // A reader of the network also counts the NETWORK feed.
    let reader = NewToken { name: "analyst".into(), role: TokenRole::Reader, organisation: None, networks: vec![] };
    app.token("trb_test_analyst", reader).await;
    let seen = app.data_as("trb_test_analyst", query, json!({ "since": since })).await;
    assert_eq!(seen["digest"]["items"], 4);

    let unknown =
        app.graphql("{ digest(network: \"nowhere\", since: \"2026-01-01T00:00:00Z\") { items } }", json!({})).await;
    assert_eq!(unknown["errors"][0]["extensions"]["code"], "NOT_FOUND");
}

#[tokio::test]
async fn the_digest_feed_is_valid_atom_with_one_entry_per_week() {
    let app = spawn_app().await;
    apmn_news(&app).await;
    let feed = atom(&app, "/feeds/digest.atom?network=apmn&period=week").await;
    assert_eq!(feed.entries.len(), 4, "this week so far and the three before");
    let this_week = &feed.entries[0];
    let title = &this_week.title.as_ref().unwrap().content;
    assert!(title.contains("(so far): 3 items changed"), "{title}");
    assert!(title.contains("1 route change") && title.contains("1 regulatory change"), "{title}");
    let content = this_week.content.as_ref().unwrap().body.as_deref().unwrap();
    assert!(content.contains("Malaysia: new law on work permits"), "{content}");
    assert!(feed.entries[1].title.as_ref().unwrap().content.contains(": 0 items changed"));
}
