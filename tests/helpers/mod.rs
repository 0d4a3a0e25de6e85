//! The one test helper: `spawn_app()` starts the real server on port 0 with a fresh SQLite file
//! (or, with `TEST_BACKEND=postgres`, a fresh PostgreSQL database) and a local feed
//! server the test controls. Polls are driven by the test (the background poller is off), so
//! nothing sleeps waiting for anything.

#![allow(dead_code)]

pub mod postgres;
pub mod ws;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tributary::access::Scope;
use tributary::app::{App, Options};
use tributary::config::Settings;
use tributary::model::{Feed, FeedId, FeedUrl, NewFeed, OrgId, Visibility};
use tributary::poller::{PollReport, Poller};
use tributary::store::Store;

/// What the feed server answers for one path.
#[derive(Clone)]
pub struct Served {
    pub body: String,
    pub content_type: &'static str,
    pub etag: Option<String>,
    pub status: StatusCode,
    pub location: Option<String>,
}

#[derive(Default)]
struct FeedServerState {
    routes: HashMap<String, Served>,
    /// Requests received, per path, and whether they carried If-None-Match.
    hits: Vec<(String, bool)>,
    /// Paths requested, as each request arrives (before any delay).
    arrivals: Vec<String>,
    /// Every request: its path with its query, and its headers.
    requests: Vec<(String, HeaderMap)>,
    /// How long to take over each answer (a slow server).
    delay: std::time::Duration,
    /// Requests being answered now, and the most at once.
    in_flight: usize,
    max_in_flight: usize,
    /// POSTs received (webhook deliveries): path, headers, body, the status answered.
    posts: Vec<(String, HeaderMap, axum::body::Bytes, StatusCode)>,
}

/// A local feed server whose answers the test sets.
#[derive(Clone)]
pub struct FeedServer {
    pub address: SocketAddr,
    state: Arc<Mutex<FeedServerState>>,
    /// Woken at each POST, and as each GET arrives.
    posted: Arc<tokio::sync::Notify>,
}

impl FeedServer {
    pub async fn start() -> FeedServer {
        let state: Arc<Mutex<FeedServerState>> = Arc::default();
        let posted = Arc::new(tokio::sync::Notify::new());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind feed server");
        let address = listener.local_addr().unwrap();
        let router = axum::Router::new()
            .route("/{*path}", axum::routing::get(serve).post(receive))
            .with_state((Arc::clone(&state), Arc::clone(&posted)));
        tokio::spawn(async move { axum::serve(listener, router).await.ok() });
        FeedServer { address, state, posted }
    }

    /// The POSTs received at paths starting with `prefix`, in order, answered with 2xx (what a
    /// webhook receiver accepted).
    pub fn accepted_posts(&self, prefix: &str) -> Vec<(HeaderMap, axum::body::Bytes)> {
        let prefix = prefix.trim_start_matches('/');
        let state = self.state.lock().unwrap();
        state
            .posts
            .iter()
            .filter(|(p, _, _, status)| p.starts_with(prefix) && status.is_success())
            .map(|(_, h, b, _)| (h.clone(), b.clone()))
            .collect()
    }

    /// How many POSTs arrived at paths starting with `prefix`, accepted or not.
    pub fn post_count(&self, prefix: &str) -> usize {
        let prefix = prefix.trim_start_matches('/');
        self.state.lock().unwrap().posts.iter().filter(|(p, ..)| p.starts_with(prefix)).count()
    }

    /// The body of the last POST accepted at a path starting with `prefix`.
    pub fn last_accepted_post(&self, prefix: &str) -> Option<axum::body::Bytes> {
        let prefix = prefix.trim_start_matches('/');
        let state = self.state.lock().unwrap();
        state
            .posts
            .iter()
            .rev()
            .find(|(p, _, _, status)| p.starts_with(prefix) && status.is_success())
            .map(|p| p.2.clone())
    }

    /// Every POST received at paths starting with `prefix`, accepted or not.
    pub fn posts(&self, prefix: &str) -> Vec<(HeaderMap, axum::body::Bytes)> {
        let prefix = prefix.trim_start_matches('/');
        let state = self.state.lock().unwrap();
        state
            .posts
            .iter()
            .filter(|(p, _, _, _)| p.starts_with(prefix))
            .map(|(_, h, b, _)| (h.clone(), b.clone()))
            .collect()
    }

    /// Waits (with a timeout, never a fixed sleep) until `done` holds for the POSTs received.
    /// How many requests for `path` have arrived, answered or not.
    pub fn arrivals(&self, path: &str) -> usize {
        let path = path.trim_start_matches('/');
        self.state.lock().unwrap().arrivals.iter().filter(|p| *p == path).count()
    }

    /// Requests arrived in all.
    pub fn all_arrivals(&self) -> usize {
        self.state.lock().unwrap().arrivals.len()
    }

    /// Waits (20 s at most) until `done` holds, checking as requests arrive and POSTs land.
    pub async fn wait_for(&self, what: &str, done: impl Fn(&FeedServer) -> bool) {
        self.wait_for_posts(what, done).await
    }

    pub async fn wait_for_posts(&self, what: &str, done: impl Fn(&FeedServer) -> bool) {
        tokio::time::timeout(std::time::Duration::from_secs(20), async {
            loop {
                let notified = self.posted.notified();
                if done(self) {
                    return;
                }
                notified.await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
    }

    /// Waits (for `limit` at most) until `check` holds, checking at once and again each time a
    /// request or a POST arrives — for a state of the hub that follows from its polls and
    /// deliveries.
    pub async fn until<F, Fut>(&self, what: &str, limit: std::time::Duration, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let wait = async {
            loop {
                let arrived = self.posted.notified();
                if check().await {
                    return;
                }
                arrived.await;
            }
        };
        tokio::time::timeout(limit, wait).await.unwrap_or_else(|_| panic!("timed out waiting for {what}"));
    }

    /// Serves `body` at `path` (RSS unless the body says otherwise), without validators.
    pub fn set(&self, path: &str, body: &str) {
        self.set_served(
            path,
            Served {
                body: body.to_string(),
                content_type: "application/rss+xml",
                etag: None,
                status: StatusCode::OK,
                location: None,
            },
        );
    }

    /// Serves `body` at `path` with an ETag, answering 304 to a matching If-None-Match.
    pub fn set_with_etag(&self, path: &str, body: &str, etag: &str) {
        self.set_served(
            path,
            Served {
                body: body.to_string(),
                content_type: "application/rss+xml",
                etag: Some(etag.to_string()),
                status: StatusCode::OK,
                location: None,
            },
        );
    }

    /// Answers `path` with a redirect to `location`.
    pub fn redirect(&self, path: &str, location: &str) {
        self.set_served(
            path,
            Served {
                body: String::new(),
                content_type: "text/plain",
                etag: None,
                status: StatusCode::FOUND,
                location: Some(location.to_string()),
            },
        );
    }

    /// Serves `body` as JSON at `path`, which may hold a query (`api?page=2`): a request whose
    /// path and query match it exactly gets it before one set for the path alone.
    pub fn set_json(&self, path: &str, body: &str) {
        self.set_served(
            path,
            Served {
                body: body.to_string(),
                content_type: "application/json",
                etag: None,
                status: StatusCode::OK,
                location: None,
            },
        );
    }

    /// Answers `path` with `status` and a short body.
    pub fn fail(&self, path: &str, status: StatusCode) {
        self.set_served(
            path,
            Served { body: "failed".into(), content_type: "text/plain", etag: None, status, location: None },
        );
    }

    /// Every request received whose path (with its query) starts with `prefix`, in order, with
    /// its headers.
    pub fn requests(&self, prefix: &str) -> Vec<(String, HeaderMap)> {
        let prefix = prefix.trim_start_matches('/');
        let state = self.state.lock().unwrap();
        state.requests.iter().filter(|(p, _)| p.starts_with(prefix)).cloned().collect()
    }

    pub fn set_served(&self, path: &str, served: Served) {
        self.state.lock().unwrap().routes.insert(path.trim_start_matches('/').to_string(), served);
    }

    /// Makes every answer take `delay` (the server is slow; the test does not wait on it).
    pub fn slow_down(&self, delay: std::time::Duration) {
        self.state.lock().unwrap().delay = delay;
    }

    /// The most requests this server was answering at once.
    pub fn max_in_flight(&self) -> usize {
        self.state.lock().unwrap().max_in_flight
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.address, path.trim_start_matches('/'))
    }

    /// Requests received for `path`: (count, how many were conditional).
    pub fn hits(&self, path: &str) -> (usize, usize) {
        let state = self.state.lock().unwrap();
        let path = path.trim_start_matches('/');
        let hits: Vec<&(String, bool)> = state.hits.iter().filter(|(p, _)| p == path).collect();
        (hits.len(), hits.iter().filter(|(_, conditional)| *conditional).count())
    }
}

/// A POST: recorded, and answered with the status set for its path (200 when none is).
async fn receive(
    State((state, posted)): State<(Arc<Mutex<FeedServerState>>, Arc<tokio::sync::Notify>)>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let status = {
        let mut state = state.lock().unwrap();
        let status = state.routes.get(&path).map(|s| s.status).unwrap_or(StatusCode::OK);
        state.posts.push((path.clone(), headers, body, status));
        status
    };
    posted.notify_waiters();
    (status, "").into_response()
}

async fn serve(
    State((state, arrived)): State<(Arc<Mutex<FeedServerState>>, Arc<tokio::sync::Notify>)>,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let if_none_match = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).map(str::to_string);
    let delay = {
        let mut state = state.lock().unwrap();
        state.in_flight += 1;
        state.max_in_flight = state.max_in_flight.max(state.in_flight);
        state.arrivals.push(path.clone());
        state.delay
    };
    arrived.notify_waiters();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut state = state.lock().unwrap();
    state.in_flight -= 1;
    state.hits.push((path.clone(), if_none_match.is_some()));
    let with_query = match &query {
        Some(query) => format!("{path}?{query}"),
        None => path.clone(),
    };
    state.requests.push((with_query.clone(), headers.clone()));
    let Some(served) = state.routes.get(&with_query).or_else(|| state.routes.get(&path)).cloned() else {
        return (StatusCode::NOT_FOUND, "no such feed").into_response();
    };
    if let (Some(etag), Some(sent)) = (&served.etag, &if_none_match) {
        if etag == sent {
            return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag.clone())]).into_response();
        }
    }
    let mut response = (served.status, [(header::CONTENT_TYPE, served.content_type)], served.body).into_response();
    if let Some(etag) = served.etag {
        response.headers_mut().insert(header::ETAG, etag.parse().unwrap());
    }
    if let Some(location) = served.location {
        response.headers_mut().insert(header::LOCATION, location.parse().unwrap());
    }
    response
}

/// A running hub.
pub struct TestApp {
    pub address: SocketAddr,
    pub database_url: String,
    pub demo: Option<Arc<tributary::demo::Demo>>,
    pub client: reqwest::Client,
    pub store: Arc<dyn Store>,
    pub poller: Arc<Poller>,
    pub changes: Arc<tributary::events::ChangeFeed>,
    pub feeds: FeedServer,
    shutdown: Option<oneshot::Sender<()>>,
    running: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    settings: Settings,
    options: Options,
    _dir: tempfile::TempDir,
    _database: Option<Arc<postgres::TestDatabase>>,
}

/// Starts the hub with default settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the hub with settings adjusted by `configure`.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with_options(Options::default(), configure).await
}

/// Starts the hub in `--demo` mode: its sample feeds are registered (and due) but not yet polled.
pub async fn spawn_demo_app() -> TestApp {
    spawn_app_with_options(Options { demo: true }, |_| {}).await
}

/// Starts the hub with these options and settings adjusted by `configure`.
pub async fn spawn_app_with_options(options: Options, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let feeds = FeedServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let database = match std::env::var("TEST_BACKEND").as_deref() {
        Ok("postgres") => Some(Arc::new(postgres::TestDatabase::create().await)),
        _ => None,
    };
    let mut settings = Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: match &database {
            Some(database) => database.url.clone(),
            None => format!("sqlite:{}", dir.path().join("tributary.db").display()),
        },
        ..Settings::default()
    };
    settings.poll.enabled = false;
    settings.fetch.allow = vec![feeds.address.to_string()];
    configure(&mut settings);
    start(feeds, dir, database, settings, options).await
}

/// Starts the hub with `settings` as `configure` leaves them, beside an existing feed server
/// (several hubs sharing one, as replicas do).
pub async fn spawn_app_beside(feeds: FeedServer, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: format!("sqlite:{}", dir.path().join("tributary.db").display()),
        ..Settings::default()
    };
    settings.poll.enabled = false;
    settings.fetch.allow = vec![feeds.address.to_string()];
    configure(&mut settings);
    start(feeds, dir, None, settings, Options::default()).await
}

/// Starts the hub on its database with `settings`, beside the feed server `feeds`.
async fn start(
    feeds: FeedServer,
    dir: tempfile::TempDir,
    database: Option<Arc<postgres::TestDatabase>>,
    settings: Settings,
    options: Options,
) -> TestApp {
    let database_url = settings.database_url.clone();
    let app = App::build(settings.clone(), options).await.expect("app builds");
    let address = app.address();
    let store = app.store();
    let poller = app.poller();
    let changes = app.changes();
    let demo = app.demo();
    let (tx, rx) = oneshot::channel();
    let running = tokio::spawn(app.run_until_stopped(async {
        let _ = rx.await;
    }));
    TestApp {
        address,
        database_url,
        demo,
        client: reqwest::Client::builder().no_proxy().build().unwrap(),
        store,
        poller,
        changes,
        feeds,
        shutdown: Some(tx),
        running: Some(running),
        settings,
        options,
        _dir: dir,
        _database: database,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl TestApp {
    /// Stops the hub gracefully and starts it again on the same database, beside the same
    /// feed server (on a new port).
    pub async fn restart(mut self) -> TestApp {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(running) = self.running.take() {
            running.await.expect("the hub stopped").expect("the hub stopped cleanly");
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let old = std::mem::replace(&mut self._dir, dir);
        start(self.feeds.clone(), old, self._database.clone(), self.settings.clone(), self.options).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    /// Registers a PUBLIC feed for organisation `org` at `path` on the feed server.
    pub async fn add_feed(&self, org: &str, path: &str) -> Feed {
        self.add_feed_with(org, &self.feeds.url(path), Visibility::Public).await
    }

    pub async fn add_feed_with(&self, org: &str, url: &str, visibility: Visibility) -> Feed {
        self.store
            .add_feed(&NewFeed { visibility, ..NewFeed::new(OrgId(org.into()), FeedUrl::parse(url).unwrap(), 900) })
            .await
            .expect("feed registered")
    }

    /// Polls every due feed once.
    pub async fn poll_due(&self) -> Vec<PollReport> {
        self.poller.poll_due_once().await.expect("poll")
    }

    /// Polls one feed now, whether due or not.
    pub async fn poll_feed(&self, id: FeedId) -> PollReport {
        let feed = self.store.feeds_by_ids(&Scope::System, &[id]).await.unwrap().pop().expect("feed exists");
        self.poller.poll(feed).await
    }

    /// POSTs a GraphQL request and returns the JSON response.
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        self.client
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON response")
    }

    /// As [`TestApp::graphql`], asserting there are no errors and returning `data`.
    /// Sends a GraphQL request with `Authorization: Bearer {token}`; the raw response.
    pub async fn graphql_as(&self, token: &str, query: &str, variables: Value) -> reqwest::Response {
        self.client
            .post(self.url("/graphql"))
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request")
    }

    /// The `data` of a request made with `token`, failing on any error.
    pub async fn data_as(&self, token: &str, query: &str, variables: Value) -> Value {
        let response: Value = self.graphql_as(token, query, variables).await.json().await.expect("json");
        assert!(response.get("errors").is_none(), "errors: {response}");
        response["data"].clone()
    }

    /// Creates a token with a known secret (tests only; the hub makes random ones).
    pub async fn token(&self, secret: &str, token: tributary::model::NewToken) {
        let hash = tributary::model::secret_hash(secret);
        self.store.create_token(&token, &hash, &secret[..secret.len().min(10)]).await.expect("token created");
    }

    pub async fn data(&self, query: &str, variables: Value) -> Value {
        let response = self.graphql(query, variables).await;
        assert!(response.get("errors").is_none(), "unexpected errors: {response:#}");
        response["data"].clone()
    }
}

/// The npm project in `tests/{name}/` (its `files`, `package.json` and `package-lock.json` among
/// them) copied into the target directory and installed there with `npm ci` when its lock file
/// changed or `module` (a path under `node_modules`) is missing; returns the directory.
pub fn npm_project(name: &str, files: &[&str], module: &str) -> std::path::PathBuf {
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(name);
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-node"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut changed = false;
    for file in files {
        let wanted = std::fs::read(source.join(file)).unwrap();
        if std::fs::read(dir.join(file)).ok().as_ref() != Some(&wanted) {
            std::fs::write(dir.join(file), wanted).unwrap();
            changed |= file.starts_with("package");
        }
    }
    if changed || !dir.join("node_modules").join(module).exists() {
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .expect("npm runs (Node.js and npm are needed for this test)");
        assert!(status.success(), "could not install {module} from npm into {}", dir.display());
    }
    dir
}

/// An RSS document with the given `(guid, title, description, pubDate)` items.
pub fn rss(items: &[(&str, &str, &str, &str)]) -> String {
    let mut out = String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Test feed</title>");
    for (guid, title, description, date) in items {
        out.push_str(&format!(
            "<item><guid>{guid}</guid><title>{title}</title><description>{description}</description><pubDate>{date}</pubDate></item>"
        ));
    }
    out.push_str("</channel></rss>");
    out
}
