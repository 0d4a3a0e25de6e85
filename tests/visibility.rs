//! A property-style test of visibility: random feeds with random owners and visibilities, random
//! viewers, and every read path; no viewer is ever given an item or feed it may not see, and each
//! sees all it may. The rules are written out here again, apart from `src/access.rs`.

mod helpers;

use std::collections::BTreeSet;

use helpers::ws::{Protocol, WsClient};
use helpers::{rss, spawn_app, TestApp};
use serde_json::{json, Value};
use tributary::model::{MemberRole, Membership, NewToken, OrgId, TokenRole, Visibility};

/// A small deterministic generator (xorshift64*): the same seed, the same world.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const ORGS: [&str; 6] = ["FR", "IT", "DE", "MX", "AR", "PH"];
const NETWORKS: [&str; 3] = ["perco", "americas", "apmn"];
const VISIBILITIES: [Visibility; 3] = [Visibility::Public, Visibility::Network, Visibility::Society];

/// Who asks, as the test's own model of the rules.
#[derive(Debug, Clone)]
enum Who {
    Anonymous,
    Admin,
    Member(&'static str),
    Reader(Vec<&'static str>),
}

struct World {
    /// Each organisation's networks (the seeded ones and the random ones).
    memberships: Vec<(String, Vec<String>)>,
    /// Each feed: owner, visibility, its item's title.
    feeds: Vec<(&'static str, Visibility, String)>,
}

impl World {
    fn networks_of(&self, org: &str) -> Vec<String> {
        self.memberships.iter().find(|(o, _)| o == org).map(|(_, n)| n.clone()).unwrap_or_default()
    }

    /// The titles `who` may see.
    fn visible(&self, who: &Who) -> BTreeSet<String> {
        self.feeds
            .iter()
            .filter(|(owner, visibility, _)| match (who, visibility) {
                (_, Visibility::Public) | (Who::Admin, _) => true,
                (Who::Anonymous, _) => false,
                (Who::Member(org), _) if org == owner => true,
                (Who::Member(org), Visibility::Network) => {
                    let mine = self.networks_of(org);
                    self.networks_of(owner).iter().any(|n| mine.contains(n))
                }
                (Who::Reader(networks), Visibility::Network) => {
                    networks.is_empty() || self.networks_of(owner).iter().any(|n| networks.contains(&n.as_str()))
                }
                _ => false,
            })
            .map(|(_, _, title)| title.clone())
            .collect()
    }
}

async fn ask(app: &TestApp, token: Option<&str>, query: &str, variables: Value) -> Value {
    match token {
        Some(token) => app.data_as(token, query, variables).await,
        None => app.data(query, variables).await,
    }
}

/// The titles of the items `token` gets through each read path.
async fn seen(app: &TestApp, token: Option<&str>, ids: &[String]) -> Vec<(&'static str, BTreeSet<String>)> {
    let titles = |value: &Value, pointer: &str| -> BTreeSet<String> {
        value
            .pointer(pointer)
            .and_then(Value::as_array)
            .map(|nodes| nodes.iter().filter_map(|n| n["title"].as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    let items = ask(app, token, "{ items(first: 100) { nodes { title } } }", json!({})).await;
    let changes = ask(
        app,
        token,
        "{ changes(first: 100, filter: { includeBackfill: true }) { nodes { title: kind item { title } } } }",
        json!({}),
    )
    .await;
    let from_changes: BTreeSet<String> = changes["changes"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["item"]["title"].as_str().map(str::to_string))
        .collect();
    let feeds = ask(app, token, "{ feeds(first: 100) { nodes { title } } }", json!({})).await;
    let mut by_item = BTreeSet::new();
    let mut by_node = BTreeSet::new();
    for id in ids {
        let one = ask(
            app,
            token,
            "query($id: ID!) { item(id: $id) { title } node(id: $id) { ... on Item { title } } }",
            json!({ "id": id }),
        )
        .await;
        if let Some(title) = one["item"]["title"].as_str() {
            by_item.insert(title.to_string());
        }
        if let Some(title) = one["node"]["title"].as_str() {
            by_node.insert(title.to_string());
        }
    }
    vec![
        ("items", titles(&items, "/items/nodes")),
        ("changes", from_changes),
        // A feed's title is its items' title here (each test feed is named after its item).
        ("feeds", titles(&feeds, "/feeds/nodes")),
        ("item", by_item),
        ("node", by_node),
    ]
}

#[tokio::test]
async fn no_read_path_ever_shows_a_viewer_what_it_may_not_see() {
    for seed in [7_u64, 1_234_567, 0x5eed_f00d] {
        let app = spawn_app().await;
        let mut rng = Rng(seed);
        // Random memberships on top of the seeded ones: each organisation joins up to two networks.
        for org in ORGS {
            let mut networks: Vec<&'static str> = Vec::new();
            for _ in 0..rng.below(3) {
                let network = NETWORKS[rng.below(NETWORKS.len())];
                if !networks.contains(&network) {
                    networks.push(network);
                    let m = Membership {
                        network: network.into(),
                        organisation: OrgId(org.into()),
                        role: MemberRole::Member,
                        source: Some("test".into()),
                    };
                    app.store.set_membership(&m).await.unwrap();
                }
            }
        }
        let mut memberships: Vec<(String, Vec<String>)> = Vec::new();
        for m in app.store.memberships(None).await.unwrap() {
            match memberships.iter_mut().find(|(o, _)| *o == m.organisation.0) {
                Some((_, networks)) => networks.push(m.network),
                None => memberships.push((m.organisation.0, vec![m.network])),
            }
        }
        // Random feeds, one item each, titled after their feed.
        let mut feeds = Vec::new();
        for n in 0..12 {
            let owner = ORGS[rng.below(ORGS.len())];
            let visibility = VISIBILITIES[rng.below(VISIBILITIES.len())];
            let title = format!("Feed {n} of {owner} {}", visibility.as_str().to_lowercase());
            let path = format!("feed-{n}.xml");
            let body = rss(&[(&format!("entry-{n}"), &title, "Text.", "Mon, 02 Nov 2026 10:00:00 GMT")])
                .replace("<title>Test feed</title>", &format!("<title>{title}</title>"));
            app.feeds.set(&path, &body);
            app.add_feed_with(owner, &app.feeds.url(&path), visibility).await;
            feeds.push((owner, visibility, title));
        }
        app.poll_due().await;
        let world = World { memberships, feeds };

        // Viewers: anonymous, an admin, a member of each organisation, readers of random networks.
        let mut viewers: Vec<(Who, Option<String>)> = vec![(Who::Anonymous, None)];
        let new_token = |n: usize, role: TokenRole, org: Option<&str>, networks: Vec<&'static str>| {
            let secret = format!("trb_property_{seed}_{n}");
            (
                secret,
                NewToken {
                    name: format!("viewer {n}"),
                    role,
                    organisation: org.map(|o| OrgId(o.into())),
                    networks: networks.iter().map(|s| s.to_string()).collect(),
                },
            )
        };
        let (secret, token) = new_token(0, TokenRole::Admin, None, vec![]);
        app.token(&secret, token).await;
        viewers.push((Who::Admin, Some(secret)));
        for (n, org) in ORGS.iter().enumerate() {
            let (secret, token) = new_token(n + 1, TokenRole::Member, Some(org), vec![]);
            app.token(&secret, token).await;
            viewers.push((Who::Member(org), Some(secret)));
        }
        for n in 0..4 {
            let networks: Vec<&'static str> = NETWORKS.iter().copied().filter(|_| rng.below(2) == 0).collect();
            let (secret, token) = new_token(10 + n, TokenRole::Reader, None, networks.clone());
            app.token(&secret, token).await;
            viewers.push((Who::Reader(networks), Some(secret)));
        }

        let admin = viewers[1].1.clone().unwrap();
        let all = app.data_as(&admin, "{ items(first: 100) { nodes { id } } }", json!({})).await;
        let ids: Vec<String> =
            all["items"]["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap().to_string()).collect();
        assert_eq!(ids.len(), 12, "every feed's item is stored");

        for (who, token) in &viewers {
            let expected = world.visible(who);
            for (path, got) in seen(&app, token.as_deref(), &ids).await {
                assert_eq!(got, expected, "seed {seed}, {who:?}, through {path}");
            }
        }

        // Subscriptions: every viewer follows the change log live while every feed's item
        // changes, then a PUBLIC marker arrives; what each got before the marker is what it may see.
        let mut clients = Vec::new();
        for (_, token) in &viewers {
            let payload =
                token.as_ref().map(|t| json!({ "Authorization": format!("Bearer {t}") })).unwrap_or(json!({}));
            let mut client = WsClient::connect(&app, Protocol::TransportWs, payload).await;
            client
                .subscribe(
                    "s",
                    "subscription { changes(filter: { includeBackfill: true }) { item { title } } }",
                    json!({}),
                )
                .await;
            clients.push(client);
        }
        tokio::time::timeout(helpers::ws::WAIT, async {
            while app.changes.subscribers() < viewers.len() {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("every subscription started");
        for (n, (_, _, title)) in world.feeds.iter().enumerate() {
            let path = format!("feed-{n}.xml");
            let body =
                rss(&[(&format!("entry-{n}"), &format!("{title} v2"), "Text.", "Mon, 02 Nov 2026 10:00:00 GMT")])
                    .replace("<title>Test feed</title>", &format!("<title>{title}</title>"));
            app.feeds.set(&path, &body);
        }
        app.feeds.set("marker.xml", &rss(&[("marker", "Marker", "Text.", "Mon, 02 Nov 2026 10:00:00 GMT")]));
        let feeds = app
            .store
            .feeds_page(
                &tributary::access::Scope::System,
                &Default::default(),
                &tributary::store::PageRequest { first: 100, after: None },
            )
            .await
            .unwrap();
        for (_, feed) in feeds.edges {
            app.poll_feed(feed.id).await;
        }
        let marker = app.add_feed("FR", "marker.xml").await;
        app.poll_feed(marker.id).await;
        for ((who, _), client) in viewers.iter().zip(clients.iter_mut()) {
            let mut got = BTreeSet::new();
            loop {
                let change = client.next_change("s").await;
                let title = change["item"]["title"].as_str().unwrap().to_string();
                if title == "Marker" {
                    break;
                }
                got.insert(title.trim_end_matches(" v2").to_string());
            }
            assert_eq!(got, world.visible(who), "seed {seed}, {who:?}, through a subscription");
        }
    }
}
