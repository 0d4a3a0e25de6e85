//! Settings: built-in defaults, then a TOML file (`--config`), then `TRIBUTARY_*` environment
//! variables, then command-line flags. A nested key is reached with a double underscore:
//! `TRIBUTARY_POLL__TIMEOUT_SECS=20` sets `[poll] timeout_secs = 20`. Secrets (a database password)
//! are never printed: `Debug` redacts them.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{anyhow, Context};
use serde::Deserialize;

/// Every setting of the hub.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Database URL: `sqlite:PATH` (created when missing) or `postgres://USER@HOST/DATABASE`.
    pub database_url: String,
    /// The PostgreSQL connection pool.
    pub database: DatabaseSettings,
    /// Log filter, in `RUST_LOG` syntax.
    pub log: String,
    /// Poller settings.
    pub poll: PollSettings,
    /// Fetch settings (HTTP client, limits, SSRF guard).
    pub fetch: FetchSettings,
    /// GraphQL API settings.
    pub api: ApiSettings,
    /// Subscriptions over WebSocket.
    pub subscriptions: SubscriptionSettings,
    /// The change log.
    pub changes: ChangeSettings,
    /// Webhook deliveries.
    pub webhooks: WebhookSettings,
    /// This hub among others (federation and hub peering).
    pub hub: HubSettings,
}

/// This hub's identity among hubs that follow each other.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HubSettings {
    /// The hub's id, carried in the provenance of every item other hubs read from it: unique among
    /// the hubs that follow each other, and never changed once others follow it. When unset, the
    /// hub makes one on first start (`hub-` and 16 hex digits) and keeps it in its database.
    pub id: Option<String>,
    /// A name people recognise (`Query.hub.name`).
    pub name: String,
}

impl Default for HubSettings {
    fn default() -> Self {
        HubSettings { id: None, name: "Tributary".into() }
    }
}

/// The PostgreSQL connection pool (SQLite keeps its own small pool).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// Connections each replica keeps at most (one more listens for other replicas' changes).
    pub max_connections: u32,
    /// Seconds a statement may run before PostgreSQL cancels it.
    pub statement_timeout_secs: u64,
    /// Seconds to wait for a free connection before a request fails.
    pub acquire_timeout_secs: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        let pg = crate::store::PgOptions::default();
        DatabaseSettings {
            max_connections: pg.max_connections,
            statement_timeout_secs: pg.statement_timeout.as_secs(),
            acquire_timeout_secs: pg.acquire_timeout.as_secs(),
        }
    }
}

impl DatabaseSettings {
    /// The pool options these settings give.
    pub fn pg_options(&self) -> crate::store::PgOptions {
        crate::store::PgOptions {
            max_connections: self.max_connections,
            statement_timeout: std::time::Duration::from_secs(self.statement_timeout_secs.max(1)),
            acquire_timeout: std::time::Duration::from_secs(self.acquire_timeout_secs.max(1)),
        }
    }
}

/// Webhook deliveries.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// Whether `serve` delivers webhooks (like `poll.enabled`, for a replica that only serves).
    pub enabled: bool,
    /// Seconds a receiver has to answer one delivery.
    pub timeout_secs: u64,
    /// Milliseconds before the first retry of a failed delivery; each next retry waits twice
    /// as long.
    pub retry_base_ms: u64,
    /// The longest wait between two retries, in seconds.
    pub retry_max_secs: u64,
    /// A webhook failing without a break for this many seconds is disabled, with the reason.
    pub disable_after_secs: u64,
    /// Webhooks delivered to at once.
    pub concurrency: usize,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            enabled: true,
            timeout_secs: 10,
            retry_base_ms: 5000,
            retry_max_secs: 3600,
            disable_after_secs: 3 * 86_400,
            concurrency: 8,
        }
    }
}

/// Subscriptions over WebSocket (`/graphql/ws`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SubscriptionSettings {
    /// Seconds between the server's keep-alive pings; a client that answers nothing for three
    /// of them is disconnected.
    pub ping_secs: u64,
    /// Seconds a message may wait for a client to read it before the client is disconnected as
    /// too slow (it resumes from its last cursor).
    pub send_timeout_secs: u64,
    /// Largest message a client may send, in bytes.
    pub max_message_bytes: usize,
    /// Operations one connection may run at once.
    pub max_operations: usize,
    /// Stretches of the change log (up to 256 changes each) held for subscribers that are
    /// behind; one further behind reads what it missed from the database instead.
    pub buffer_batches: usize,
    /// Seconds between checks of a subscriber's token: a revoked token ends its subscriptions,
    /// a changed membership changes what they send.
    pub recheck_token_secs: u64,
}

/// The change log.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChangeSettings {
    /// Days the change log keeps changes (0 keeps them forever). A cursor older than that gets
    /// CURSOR_EXPIRED with the oldest cursor still valid.
    pub retention_days: u32,
}

impl Default for SubscriptionSettings {
    fn default() -> Self {
        SubscriptionSettings {
            ping_secs: 20,
            send_timeout_secs: 30,
            max_message_bytes: 64 * 1024,
            max_operations: 16,
            buffer_batches: 128,
            recheck_token_secs: 60,
        }
    }
}

impl Default for ChangeSettings {
    fn default() -> Self {
        ChangeSettings { retention_days: 90 }
    }
}

/// How feeds are scheduled.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PollSettings {
    /// Whether `serve` runs the poller (a read-only replica may turn it off).
    pub enabled: bool,
    /// Default seconds between polls of a feed.
    pub default_interval_secs: i64,
    /// Shortest interval a source may ask for (Cache-Control, ttl) or a feed may be set to.
    pub min_interval_secs: i64,
    /// Longest a source may push the next poll out to.
    pub max_interval_secs: i64,
    /// Longest retry delay after repeated failures.
    pub max_backoff_secs: i64,
    /// Feeds fetched at once, across all hosts.
    pub concurrency: usize,
    /// Feeds fetched at once from one host.
    pub per_host_concurrency: usize,
    /// Items written per transaction, so a large feed never holds the database for long.
    pub chunk_size: usize,
    /// Seconds a claimed feed is leased to this poller before another may take it.
    pub lease_secs: i64,
    /// Seconds between rechecks of the items a HUB feed holds (is each still visible on the other
    /// hub, and how strictly); `0` rechecks at every poll.
    pub hub_recheck_secs: u64,
}

/// How the hub fetches what societies registered.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FetchSettings {
    /// Connect timeout in seconds.
    pub connect_timeout_secs: u64,
    /// Total timeout per fetch in seconds (headers and body).
    pub timeout_secs: u64,
    /// Largest body accepted, counted after decompression.
    pub max_body_bytes: usize,
    /// Largest CSV file accepted: CSV files are written to a temporary file as they arrive and read
    /// a row at a time, so this bounds disk, not memory.
    pub max_file_bytes: u64,
    /// Total timeout in seconds of fetching one CSV file (large files take longer than feeds).
    pub file_timeout_secs: u64,
    /// Where CSV files are written while they are read (the system's temporary directory when
    /// unset). Where that is a tmpfs, the files take memory: point this at a disk.
    pub spool_dir: Option<std::path::PathBuf>,
    /// Redirects followed at most (each one checked by the SSRF guard).
    pub max_redirects: usize,
    /// The User-Agent sent with every fetch.
    pub user_agent: String,
    /// `host:port` pairs the SSRF guard lets through although they are not public addresses
    /// (e.g. `"127.0.0.1:9000"` for a feed server on the same machine). Empty by default.
    pub allow: Vec<String>,
}

/// Limits and caching of the GraphQL API.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiSettings {
    /// Deepest query accepted (GraphiQL's introspection query needs 13).
    pub max_depth: usize,
    /// Highest complexity accepted.
    pub max_complexity: usize,
    /// Most aliased fields in one operation (fragments counted where they are spread).
    pub max_aliases: usize,
    /// Most operations in one batched request (a JSON array of requests).
    pub max_batch: usize,
    /// Largest request body in bytes.
    pub max_body_bytes: usize,
    /// Bytes of responses the cache keeps (0 turns it off).
    pub cache_bytes: u64,
    /// Seconds a query may run before it is cut off.
    pub timeout_secs: u64,
    /// Requests a minute each token (and each address without a token) may make, in bursts of
    /// as many; 0 turns the limit off.
    pub rate_limit_per_minute: u32,
    /// The hub's public address (`https://hub.example.org`), used in the links of its Atom
    /// feeds; by default they use the address each request was sent to.
    pub public_url: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: "sqlite:tributary.db".into(),
            database: DatabaseSettings::default(),
            log: "info".into(),
            poll: PollSettings::default(),
            fetch: FetchSettings::default(),
            api: ApiSettings::default(),
            subscriptions: SubscriptionSettings::default(),
            changes: ChangeSettings::default(),
            webhooks: WebhookSettings::default(),
            hub: HubSettings::default(),
        }
    }
}

impl Default for PollSettings {
    fn default() -> Self {
        PollSettings {
            enabled: true,
            default_interval_secs: 900,
            min_interval_secs: 60,
            max_interval_secs: 86_400,
            max_backoff_secs: 6 * 3600,
            concurrency: 16,
            per_host_concurrency: 2,
            chunk_size: 2000,
            lease_secs: 300,
            hub_recheck_secs: 3600,
        }
    }
}

impl Default for FetchSettings {
    fn default() -> Self {
        FetchSettings {
            connect_timeout_secs: 10,
            timeout_secs: 30,
            max_body_bytes: 10 * 1024 * 1024,
            max_file_bytes: 1024 * 1024 * 1024,
            file_timeout_secs: 600,
            spool_dir: None,
            max_redirects: 5,
            user_agent: format!(
                "Tributary/{} (migration information hub of Red Cross and Red Crescent networks)",
                env!("CARGO_PKG_VERSION")
            ),
            allow: Vec::new(),
        }
    }
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            max_depth: 15,
            max_complexity: 5000,
            max_aliases: 30,
            max_batch: 10,
            max_body_bytes: 256 * 1024,
            cache_bytes: 8 * 1024 * 1024,
            timeout_secs: 10,
            rate_limit_per_minute: 600,
            public_url: None,
        }
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("database_url", &redact_url(&self.database_url))
            .field("database", &self.database)
            .field("log", &self.log)
            .field("poll", &self.poll)
            .field("fetch", &self.fetch)
            .field("api", &self.api)
            .field("subscriptions", &self.subscriptions)
            .field("changes", &self.changes)
            .field("webhooks", &self.webhooks)
            .field("hub", &self.hub)
            .finish()
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

impl Settings {
    /// Loads settings from the optional TOML file and the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Settings> {
        let vars: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(file, &vars)
    }

    /// As [`Settings::load`], with the environment passed in (for tests).
    pub fn load_from(file: Option<&Path>, env: &[(String, String)]) -> anyhow::Result<Settings> {
        let mut table = match file {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).with_context(|| format!("reading config {}", path.display()))?;
                text.parse::<toml::Table>().with_context(|| format!("parsing config {}", path.display()))?
            }
            None => toml::Table::new(),
        };
        for (name, value) in env {
            let Some(key) = name.strip_prefix("TRIBUTARY_") else { continue };
            if key == "CONFIG" {
                continue; // the path of the file itself, read by the CLI
            }
            let path: Vec<String> = key.split("__").map(str::to_ascii_lowercase).collect();
            set_path(&mut table, &path, env_value(value)).with_context(|| format!("environment variable {name}"))?;
        }
        toml::Value::Table(table).try_into::<Settings>().map_err(|e| anyhow!("invalid settings: {e}"))
    }
}

/// An environment value as TOML: numbers, booleans and arrays as such, anything else a string.
fn env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> anyhow::Result<()> {
    match path {
        [] => Ok(()),
        [last] => {
            table.insert(last.clone(), value);
            Ok(())
        }
        [first, rest @ ..] => {
            let entry = table.entry(first.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(inner) => set_path(inner, rest, value),
                _ => Err(anyhow!("`{first}` is not a section")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_listen_locally_on_sqlite() {
        let s = Settings::load_from(None, &[]).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.database_url, "sqlite:tributary.db");
    }

    #[test]
    fn environment_overrides_nested_keys() {
        let s = Settings::load_from(
            None,
            &env(&[
                ("TRIBUTARY_LISTEN", "0.0.0.0:9000"),
                ("TRIBUTARY_POLL__CONCURRENCY", "4"),
                ("TRIBUTARY_FETCH__ALLOW", "[\"127.0.0.1:9001\"]"),
                ("OTHER", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(s.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(s.poll.concurrency, 4);
        assert_eq!(s.fetch.allow, ["127.0.0.1:9001"]);
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(Settings::load_from(None, &env(&[("TRIBUTARY_POLL__CONCURENCY", "4")])).is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact_url("postgres://u:secret@db/x"), "postgres://u:***@db/x");
        let s = Settings { database_url: "postgres://u:secret@db/x".into(), ..Settings::default() };
        assert!(!format!("{s:?}").contains("secret"));
    }
}
