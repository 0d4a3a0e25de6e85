//! Apollo Federation v2: the hub's subgraph SDL composes with a second subgraph under Apollo's
//! own composition library (from npm, installed under the target directory on first use), and
//! `_entities` resolves each entity through the access filter.

mod helpers;

use std::path::PathBuf;
use std::process::Command;

use helpers::{rss, spawn_app};
use serde_json::{json, Value};
use tributary::model::{NewToken, OrgId, TokenRole, Visibility};

/// The npm project in `tests/federation/`, installed (`npm ci`) into the target directory once.
fn composition_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        helpers::npm_project(
            "federation",
            &["package.json", "package-lock.json", "compose.mjs", "appeals.graphql"],
            "@apollo/composition",
        )
    })
    .clone()
}

/// Runs the composition of `subgraphs` (name, SDL); its output, and whether it composed.
fn compose(subgraphs: &[(&str, &str)]) -> (bool, String) {
    let dir = composition_dir();
    let files = tempfile::tempdir().unwrap();
    let mut args = vec!["compose.mjs".to_string()];
    for (name, sdl) in subgraphs {
        let path = files.path().join(format!("{name}.graphql"));
        std::fs::write(&path, sdl).unwrap();
        args.push(format!("{name}={}", path.display()));
    }
    let output = Command::new("node").args(&args).current_dir(&dir).output().expect("node runs");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

const APPEALS: &str = include_str!("federation/appeals.graphql");

#[test]
fn the_subgraph_composes_with_a_subgraph_that_extends_society() {
    let sdl = tributary::graphql::federation_sdl();
    for key in [
        "type Network implements Node @key(fields: \"id\")",
        "type Society implements Node @key(fields: \"id\") @key(fields: \"code\")",
        "type Feed implements Node @key(fields: \"id\")",
        "type Item implements Node @key(fields: \"id\")",
    ] {
        assert!(sdl.contains(key), "the subgraph SDL lacks `{key}`");
    }
    let (composed, output) = compose(&[("tributary", &sdl), ("appeals", APPEALS)]);
    assert!(composed, "composition failed:\n{output}");
    assert!(output.contains("composed tributary + appeals"), "{output}");

    // The check can fail: a second subgraph that gives `Society.code` another type does not compose.
    let clashing = APPEALS.replace("code: CountryCode!", "code: Int!");
    let (composed, output) = compose(&[("tributary", &sdl), ("appeals", &clashing)]);
    assert!(!composed, "a clashing subgraph composed:\n{output}");
}

const ENTITIES: &str = r#"query ($representations: [_Any!]!) {
  _entities(representations: $representations) {
    __typename
    ... on Network { slug }
    ... on Society { code name }
    ... on Feed { id url }
    ... on Item { id title visibility }
  }
}"#;

#[tokio::test]
async fn entities_resolve_by_their_keys_and_service_serves_the_subgraph_sdl() {
    let app = spawn_app().await;
    app.feeds.set(
        "/a.xml",
        &rss(&[("a-1", "Crossings shift to the Atlantic route", "Text.", "Mon, 02 Nov 2026 10:00:00 GMT")]),
    );
    let feed = app.add_feed("IT", "/a.xml").await;
    app.poll_feed(feed.id).await;
    let ids = app.data("{ items(first: 1) { nodes { id } } feed: feeds(first: 1) { nodes { id } } }", json!({})).await;
    let item_id = ids["items"]["nodes"][0]["id"].as_str().unwrap().to_string();
    let feed_id = ids["feed"]["nodes"][0]["id"].as_str().unwrap().to_string();
    let network_id = app.data("{ network(slug: \"perco\") { id } }", json!({})).await["network"]["id"].clone();
    let society_id = app.data("{ society(code: \"FR\") { id } }", json!({})).await["society"]["id"].clone();

    let representations = json!([
        { "__typename": "Network", "id": network_id },
        { "__typename": "Society", "id": society_id },
        { "__typename": "Society", "code": "ITA" },
        { "__typename": "Feed", "id": feed_id },
        { "__typename": "Item", "id": item_id },
        { "__typename": "Item", "id": "bm90IGFuIGl0ZW0" },
    ]);
    let data = app.data(ENTITIES, json!({ "representations": representations })).await;
    let entities = data["_entities"].as_array().unwrap();
    assert_eq!(entities[0], json!({ "__typename": "Network", "slug": "perco" }));
    assert_eq!(entities[1]["code"], "FR");
    assert_eq!(entities[2]["code"], "IT", "a Society by its code, alpha-3 accepted");
    assert_eq!(entities[3]["id"], feed_id);
    assert_eq!(entities[4]["title"], "Crossings shift to the Atlantic route");
    assert_eq!(entities[5], Value::Null, "an id that is not an item's resolves to null");

    let service = app.data("{ _service { sdl } }", json!({})).await;
    assert_eq!(service["_service"]["sdl"].as_str().unwrap(), tributary::graphql::federation_sdl());
}

#[tokio::test]
async fn a_network_item_is_not_an_entity_for_an_anonymous_caller() {
    let app = spawn_app().await;
    app.feeds
        .set("/n.xml", &rss(&[("n-1", "Members only: new reception rules", "Text.", "Mon, 02 Nov 2026 10:00:00 GMT")]));
    let feed = app.add_feed_with("IT", &app.feeds.url("/n.xml"), Visibility::Network).await;
    app.poll_feed(feed.id).await;
    let secret = "trb_federation_member_it";
    let token = NewToken {
        name: "Italian Red Cross".into(),
        role: TokenRole::Member,
        organisation: Some(OrgId("IT".into())),
        networks: vec![],
    };
    app.token(secret, token).await;
    let member = app.data_as(secret, "{ items(first: 1) { nodes { id visibility } } }", json!({})).await;
    let item = &member["items"]["nodes"][0];
    assert_eq!(item["visibility"], "NETWORK");
    let representations = json!([
        { "__typename": "Item", "id": item["id"] },
        { "__typename": "Feed", "id": tributary::graphql::global_id("Feed", &feed.id.0.to_string()) },
    ]);

    let anonymous = app.data(ENTITIES, json!({ "representations": representations })).await;
    assert_eq!(anonymous["_entities"], json!([null, null]), "neither the item nor its feed for an anonymous caller");
    let allowed = app.data_as(secret, ENTITIES, json!({ "representations": representations })).await;
    assert_eq!(allowed["_entities"][0]["title"], "Members only: new reception rules");
    assert_eq!(allowed["_entities"][1]["id"], representations[1]["id"]);
}
