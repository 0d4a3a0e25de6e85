//! One story, one notification: the same news from two feeds (same link once tracking is taken
//! away, or same normalised title and summary) is listed and announced once.

mod helpers;

use helpers::ws::{Protocol, WsClient};
use helpers::{spawn_app, TestApp};
use serde_json::json;
use tributary::model::{Feed, Visibility};

const DATE: &str = "Mon, 02 Nov 2026 10:00:00 GMT";

/// An RSS document of `(guid, title, summary, link)` entries.
fn rss_with_links(items: &[(&str, &str, &str, &str)]) -> String {
    let mut out = String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Feed</title>");
    for (guid, title, summary, link) in items {
        out.push_str(&format!(
            "<item><guid>{guid}</guid><title>{title}</title><description>{summary}</description><link>{link}</link><pubDate>{DATE}</pubDate></item>"
        ));
    }
    out + "</channel></rss>"
}

async fn feed(app: &TestApp, org: &str, path: &str, visibility: Visibility) -> Feed {
    app.feeds.set(
        path,
        &rss_with_links(&[("old", &format!("Old news of {org}"), "", &format!("https://{org}.example/old"))]),
    );
    let feed = app.add_feed_with(org, &app.feeds.url(path), visibility).await;
    app.poll_feed(feed.id).await;
    feed
}

async fn publish(app: &TestApp, feed: &Feed, path: &str, org: &str, items: &[(&str, &str, &str, &str)]) {
    let mut all = vec![("old", format!("Old news of {org}"), String::new(), format!("https://{org}.example/old"))];
    all.extend(items.iter().map(|(g, t, s, l)| (*g, t.to_string(), s.to_string(), l.to_string())));
    let refs: Vec<(&str, &str, &str, &str)> =
        all.iter().map(|(g, t, s, l)| (*g, t.as_str(), s.as_str(), l.as_str())).collect();
    app.feeds.set(path, &rss_with_links(&refs));
    let report = app.poll_feed(feed.id).await;
    assert!(report.error.is_none(), "{report:?}");
}

#[tokio::test]
async fn the_same_story_from_two_feeds_is_listed_and_announced_once() {
    let app = spawn_app().await;
    let fr = feed(&app, "FR", "fr.xml", Visibility::Public).await;
    let it = feed(&app, "IT", "it.xml", Visibility::Public).await;
    let mut client = WsClient::connect(&app, Protocol::TransportWs, json!({})).await;
    client.subscribe("1", "subscription { changes { item { title organisation { code } } } }", json!({})).await;
    tokio::time::timeout(helpers::ws::WAIT, async {
        while app.changes.subscribers() < 1 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();

    let link = "https://news.example.org/2026/11/ventimiglia";
    publish(
        &app,
        &fr,
        "fr.xml",
        "FR",
        &[("a", "Border closure at Ventimiglia", "Crossings halted.", &format!("{link}?utm_source=rss"))],
    )
    .await;
    // Italy's feed: the same link, and a story whose text France published under another link.
    publish(
        &app,
        &it,
        "it.xml",
        "IT",
        &[
            ("b", "Ventimiglia: border closed", "Crossings halted.", link),
            ("c", "Sea arrivals rise in Lampedusa", "More boats arrived.", "https://it.example/lampedusa"),
        ],
    )
    .await;
    publish(
        &app,
        &fr,
        "fr.xml",
        "FR",
        &[
            ("a", "Border closure at Ventimiglia", "Crossings halted.", &format!("{link}?utm_source=rss")),
            ("d", "Sea arrivals rise in Lampedusa", "More boats arrived.", "https://fr.example/lampedusa"),
            ("e", "A story only France tells", "", "https://fr.example/only"),
        ],
    )
    .await;

    let first = client.message().await;
    let second = client.message().await;
    let third = client.message().await;
    let titles: Vec<(&str, &str)> = [&first, &second, &third]
        .iter()
        .map(|m| {
            let item = &m["payload"]["data"]["changes"]["item"];
            (item["organisation"]["code"].as_str().unwrap(), item["title"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        titles,
        [
            ("FR", "Border closure at Ventimiglia"),
            ("IT", "Sea arrivals rise in Lampedusa"),
            ("FR", "A story only France tells")
        ],
        "each story once, from the feed that told it first"
    );

    let listed = app.data("{ items(first: 20) { totalCount nodes { title } } }", json!({})).await;
    assert_eq!(listed["items"]["totalCount"], 5, "two old items and three stories");
    let all = app
        .data("{ items(first: 20, filter: { includeDuplicates: true }) { totalCount nodes { title organisation { code } duplicateOf { title } duplicates { title } } } }", json!({}))
        .await;
    assert_eq!(all["items"]["totalCount"], 7);
    let nodes = all["items"]["nodes"].as_array().unwrap();
    let italian = nodes.iter().find(|n| n["title"] == "Ventimiglia: border closed").unwrap();
    assert_eq!(italian["duplicateOf"]["title"], "Border closure at Ventimiglia");
    let french = nodes.iter().find(|n| n["title"] == "Border closure at Ventimiglia").unwrap();
    assert_eq!(french["duplicates"], json!([{ "title": "Ventimiglia: border closed" }]));
    let with_duplicates = app
        .data("{ changes(first: 20, filter: { includeDuplicates: true }) { totalCount } plain: changes(first: 20) { totalCount } }", json!({}))
        .await;
    assert_eq!(
        (with_duplicates["changes"]["totalCount"].as_i64(), with_duplicates["plain"]["totalCount"].as_i64()),
        (Some(5), Some(3))
    );
}

#[tokio::test]
async fn a_story_is_never_hidden_behind_one_its_viewers_may_not_see() {
    let app = spawn_app().await;
    let internal = feed(&app, "FR", "internal.xml", Visibility::Network).await;
    let public = feed(&app, "IT", "public.xml", Visibility::Public).await;
    let story = ("a", "Border closure at Ventimiglia", "Crossings halted.", "https://news.example.org/ventimiglia");
    publish(&app, &internal, "internal.xml", "FR", &[story]).await;
    publish(&app, &public, "public.xml", "IT", &[story]).await;
    let anonymous = app
        .data("{ items(first: 10) { nodes { title organisation { code } duplicateOf { title } } } }", json!({}))
        .await;
    let nodes = anonymous["items"]["nodes"].as_array().unwrap();
    let italian =
        nodes.iter().find(|n| n["title"] == "Border closure at Ventimiglia").expect("the PUBLIC one is listed");
    assert_eq!(italian["organisation"]["code"], "IT");
    assert!(italian["duplicateOf"].is_null());
}

#[tokio::test]
async fn a_duplicate_shows_again_when_the_first_item_can_no_longer_stand_for_it() {
    let app = spawn_app().await;
    let fr = feed(&app, "FR", "fr.xml", Visibility::Public).await;
    let it = feed(&app, "IT", "it.xml", Visibility::Public).await;
    let story = ("a", "Border closure at Ventimiglia", "Crossings halted.", "https://news.example.org/ventimiglia");
    publish(&app, &fr, "fr.xml", "FR", &[story]).await;
    publish(&app, &it, "it.xml", "IT", &[story]).await;
    let query = "{ items(first: 10, filter: { search: \"ventimiglia\" }) { nodes { organisation { code } duplicateOf { title } } } }";
    let before = app.data(query, json!({})).await;
    assert_eq!(before["items"]["nodes"].as_array().unwrap().len(), 1, "listed once");
    // France narrows its feed to its own society: anonymous readers see the Italian item again.
    let update = tributary::model::FeedUpdate { visibility: Some(Visibility::Society), ..Default::default() };
    app.store.update_feed(fr.id, &update).await.unwrap();
    let after = app.data(query, json!({})).await;
    assert_eq!(after["items"]["nodes"], json!([{ "organisation": { "code": "IT" }, "duplicateOf": null }]));
}

#[tokio::test]
async fn a_shared_link_under_an_unrelated_title_hides_nothing() {
    let app = spawn_app().await;
    let first = feed(&app, "FR", "fr.xml", Visibility::Public).await;
    let second = feed(&app, "IT", "it.xml", Visibility::Public).await;
    let link = "https://news.example.org/ventimiglia";
    publish(&app, &first, "fr.xml", "FR", &[("a", "Our volunteers of the month", "Meet them.", link)]).await;
    publish(&app, &second, "it.xml", "IT", &[("b", "Border closure at Ventimiglia", "Crossings halted.", link)]).await;
    let listed = app.data("{ items(first: 10) { nodes { title duplicateOf { title } } } }", json!({})).await;
    let italian =
        listed["items"]["nodes"].as_array().unwrap().iter().find(|n| n["title"] == "Border closure at Ventimiglia");
    assert!(italian.is_some_and(|n| n["duplicateOf"].is_null()), "{listed}");
}
