//! Fetching: one reqwest client with the SSRF guard in its resolver and redirect policy, no
//! environment proxies, connect and total timeouts, conditional GET, and a body cap counted after
//! decompression.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, CACHE_CONTROL, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, RETRY_AFTER};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use std::io::Write;

use super::guard::{Blocked, Guard, GuardedResolver};
use crate::config::FetchSettings;
use crate::model::FeedUrl;

/// What a fetch brought back.
#[derive(Debug)]
pub enum Fetched {
    /// 304 Not Modified.
    NotModified(Validators),
    /// A body.
    Body {
        /// The body, decompressed.
        body: Body,
        /// Its SHA-256, hex-encoded, so an unchanged body costs nothing.
        hash: String,
        /// Validators and caching hints.
        validators: Validators,
    },
}

/// A fetched body: in memory, or (a CSV file) in a temporary file that disappears when closed.
#[derive(Debug)]
pub enum Body {
    /// Held in memory (at most `fetch.max_body_bytes`).
    Memory(Vec<u8>),
    /// Spooled to an unlinked temporary file (at most `fetch.max_file_bytes`).
    File(std::fs::File),
}

/// Whether a body is kept in memory or spooled to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// In memory, within `fetch.max_body_bytes`.
    Memory,
    /// In a temporary file, within `fetch.max_file_bytes`.
    File,
}

/// Validators and caching hints from response headers.
#[derive(Debug, Default, Clone)]
pub struct Validators {
    /// ETag.
    pub etag: Option<String>,
    /// Last-Modified.
    pub last_modified: Option<String>,
    /// Cache-Control max-age, when the source asks not to be polled before then.
    pub max_age: Option<Duration>,
}

/// Why a fetch failed, in words a focal point can act on.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The SSRF guard refused the target.
    #[error("{0}")]
    Blocked(String),
    /// The source took too long.
    #[error("timed out after {0} s")]
    Timeout(u64),
    /// The connection failed.
    #[error("could not connect: {0}")]
    Connect(String),
    /// The source answered with an error status.
    #[error("the server answered HTTP {status}")]
    Status {
        /// The status.
        status: StatusCode,
        /// Retry-After, when given.
        retry_after: Option<Duration>,
    },
    /// The body exceeded the limit.
    #[error("the response is larger than the {0} byte limit")]
    TooLarge(u64),
    /// The temporary file for a large body could not be written.
    #[error("the hub could not write the file it fetched to disk: {0}")]
    Spool(String),
    /// Too many redirects.
    #[error("too many redirects (more than {0})")]
    TooManyRedirects(usize),
    /// Anything else on the wire.
    #[error("fetch failed: {0}")]
    Other(String),
}

impl FetchError {
    /// Retry-After, when the source asked for a delay.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// The fetcher shared by all polls (and `validateFeed`); cloning it shares its clients.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    /// For requests carrying a secret header: redirects are followed only within the origin, so
    /// the secret never reaches another site (reqwest strips only `Authorization` and cookies).
    with_secrets: reqwest::Client,
    /// For webhook deliveries: POSTs, never redirected (a redirect would turn them into GETs).
    poster: reqwest::Client,
    guard: Arc<Guard>,
    settings: FetchSettings,
}

impl Fetcher {
    /// Builds the client.
    pub fn new(settings: &FetchSettings, guard: Guard) -> anyhow::Result<Fetcher> {
        let guard = Arc::new(guard);
        let client = |same_origin: bool| {
            let redirect_guard = Arc::clone(&guard);
            let max_redirects = settings.max_redirects;
            reqwest::Client::builder()
                .no_proxy()
                .dns_resolver(Arc::new(GuardedResolver { guard: Arc::clone(&guard) }))
                .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                    if attempt.previous().len() > max_redirects {
                        return attempt.error(TooManyRedirects(max_redirects));
                    }
                    let first = attempt.previous().first().map(|u| u.origin());
                    if same_origin && first.is_some_and(|origin| origin != attempt.url().origin()) {
                        let origin = attempt.url().origin().ascii_serialization();
                        return attempt.error(OtherOrigin(origin));
                    }
                    match redirect_guard.check_url(attempt.url()) {
                        Ok(()) => attempt.follow(),
                        Err(blocked) => attempt.error(blocked),
                    }
                }))
                .connect_timeout(Duration::from_secs(settings.connect_timeout_secs))
                .timeout(Duration::from_secs(settings.timeout_secs))
                .user_agent(settings.user_agent.clone())
                .build()
        };
        let poster = reqwest::Client::builder()
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver { guard: Arc::clone(&guard) }))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(settings.connect_timeout_secs))
            .timeout(Duration::from_secs(settings.timeout_secs))
            .user_agent(settings.user_agent.clone())
            .build()?;
        Ok(Fetcher { client: client(false)?, with_secrets: client(true)?, poster, guard, settings: settings.clone() })
    }

    /// POSTs `body` to `url` (a webhook delivery) through the SSRF guard, without following
    /// redirects; the receiver's status, or why there was none, in words.
    pub async fn post(
        &self,
        url: &url::Url,
        headers: HeaderMap,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<StatusCode, String> {
        self.guard.check_url(url).map_err(|b| b.0)?;
        let response = self.poster.post(url.clone()).headers(headers).body(body).timeout(timeout).send().await;
        match response {
            Ok(response) => Ok(response.status()),
            Err(e) => Err(self.describe(e, Keep::Memory).to_string()),
        }
    }

    /// POSTs a JSON `body` to `url` (a GraphQL request to another hub) through the SSRF guard,
    /// without following redirects, within the fetch timeout; the status and the body, read up to
    /// `fetch.max_body_bytes`, or why there was none, in words.
    pub async fn post_json(
        &self,
        url: &url::Url,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> Result<(StatusCode, Vec<u8>), String> {
        self.guard.check_url(url).map_err(|b| b.0)?;
        let timeout = Duration::from_secs(self.settings.timeout_secs.max(1));
        let sent = self
            .poster
            .post(url.clone())
            .headers(headers)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "application/graphql-response+json, application/json")
            .body(body)
            .timeout(timeout)
            .send()
            .await;
        let mut response = sent.map_err(|e| self.describe(e, Keep::Memory).to_string())?;
        let status = response.status();
        let cap = self.settings.max_body_bytes;
        let mut out = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.describe(e, Keep::Memory).to_string())? {
            if out.len() + chunk.len() > cap {
                return Err(format!("the answer is larger than fetch.max_body_bytes ({cap} bytes)"));
            }
            out.extend_from_slice(&chunk);
        }
        Ok((status, out))
    }

    /// The SSRF guard, for checks made before a fetch (registration).
    pub fn guard(&self) -> Arc<Guard> {
        Arc::clone(&self.guard)
    }

    /// Fetches `url` with the feed's own request `headers` (its mapping's; secret values marked
    /// sensitive, so they are never printed), conditionally when validators are known.
    pub async fn fetch(
        &self,
        url: &FeedUrl,
        headers: &HeaderMap,
        etag: Option<&str>,
        last_modified: Option<&str>,
        keep: Keep,
    ) -> Result<Fetched, FetchError> {
        self.guard.check_url(url.as_url()).map_err(|b| FetchError::Blocked(b.0))?;
        let secret = headers.values().any(|v| v.is_sensitive());
        let client = if secret { &self.with_secrets } else { &self.client };
        let mut request = client.get(url.as_url().clone()).header(
            reqwest::header::ACCEPT,
            "application/rss+xml, application/atom+xml, application/feed+json, application/json, \
             application/xml;q=0.9, text/xml;q=0.9, text/csv;q=0.8, */*;q=0.5",
        );
        if !headers.is_empty() {
            request = request.headers(headers.clone());
        }
        if let Some(etag) = etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        if let Some(lm) = last_modified {
            request = request.header(IF_MODIFIED_SINCE, lm);
        }
        if keep == Keep::File {
            request = request.timeout(Duration::from_secs(self.settings.file_timeout_secs));
        }
        let describe = |e| self.describe(e, keep);
        let mut response = request.send().await.map_err(describe)?;
        let status = response.status();
        let validators = validators(response.headers());
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified(validators));
        }
        if !status.is_success() {
            return Err(FetchError::Status { status, retry_after: retry_after(response.headers()) });
        }
        let limit = match keep {
            Keep::Memory => self.settings.max_body_bytes as u64,
            Keep::File => self.settings.max_file_bytes,
        };
        if response.content_length().is_some_and(|n| n > limit) {
            return Err(FetchError::TooLarge(limit));
        }
        let mut hasher = Sha256::new();
        let mut received = 0u64;
        let mut bytes = Vec::new();
        let mut file = match keep {
            Keep::Memory => None,
            Keep::File => Some(self.spool_file().map_err(|e| FetchError::Spool(e.to_string()))?),
        };
        while let Some(chunk) = response.chunk().await.map_err(describe)? {
            received += chunk.len() as u64;
            if received > limit {
                return Err(FetchError::TooLarge(limit));
            }
            hasher.update(&chunk);
            match &mut file {
                // A local disk write of one network chunk: short enough to do in place.
                Some(file) => file.write_all(&chunk).map_err(|e| FetchError::Spool(e.to_string()))?,
                None => bytes.extend_from_slice(&chunk),
            }
        }
        let hash = connectors::text::hex(&hasher.finalize());
        let body = match file {
            Some(file) => Body::File(file),
            None => Body::Memory(bytes),
        };
        Ok(Fetched::Body { body, hash, validators })
    }

    /// An unlinked temporary file for a large body, in `fetch.spool_dir` or the system's
    /// temporary directory.
    fn spool_file(&self) -> std::io::Result<std::fs::File> {
        match &self.settings.spool_dir {
            Some(dir) => tempfile::tempfile_in(dir),
            None => tempfile::tempfile(),
        }
    }

    /// Turns a reqwest error into a reason a person can read.
    fn describe(&self, e: reqwest::Error, keep: Keep) -> FetchError {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(err) = source {
            if let Some(blocked) = err.downcast_ref::<Blocked>() {
                return FetchError::Blocked(blocked.0.clone());
            }
            if let Some(other) = err.downcast_ref::<OtherOrigin>() {
                return FetchError::Blocked(other.to_string());
            }
            if let Some(too_many) = err.downcast_ref::<TooManyRedirects>() {
                return FetchError::TooManyRedirects(too_many.0);
            }
            source = err.source();
        }
        if e.is_timeout() {
            return FetchError::Timeout(match keep {
                Keep::Memory => self.settings.timeout_secs,
                Keep::File => self.settings.file_timeout_secs,
            });
        }
        let chain = error_chain(&e);
        if e.is_connect() {
            return FetchError::Connect(chain);
        }
        FetchError::Other(chain)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("too many redirects (more than {0})")]
struct TooManyRedirects(usize);

#[derive(Debug, thiserror::Error)]
#[error("redirected to another site ({0}); a feed with secret headers is read only from its own site")]
struct OtherOrigin(String);

/// An error and its causes, most specific last, without repeats.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = source {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = err.source();
    }
    parts.join(": ")
}

fn header(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

fn validators(headers: &HeaderMap) -> Validators {
    Validators {
        etag: header(headers, ETAG),
        last_modified: header(headers, LAST_MODIFIED),
        max_age: header(headers, CACHE_CONTROL).and_then(|cc| max_age(&cc)),
    }
}

/// `max-age` of a Cache-Control value, unless the response must not be reused.
fn max_age(cache_control: &str) -> Option<Duration> {
    let directives: Vec<String> = cache_control.split(',').map(|d| d.trim().to_ascii_lowercase()).collect();
    if directives.iter().any(|d| d == "no-store" || d == "no-cache") {
        return None;
    }
    directives
        .iter()
        .find_map(|d| d.strip_prefix("max-age=").and_then(|v| v.trim_matches('"').parse::<u64>().ok()))
        .map(Duration::from_secs)
}

/// Retry-After as delta-seconds or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = header(headers, RETRY_AFTER)?;
    if let Ok(secs) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at: DateTime<Utc> = DateTime::parse_from_rfc2822(value.trim()).ok()?.with_timezone(&Utc);
    (at - Utc::now()).to_std().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_max_age_is_read_unless_reuse_is_forbidden() {
        assert_eq!(max_age("public, max-age=600"), Some(Duration::from_secs(600)));
        assert_eq!(max_age("no-cache, max-age=600"), None);
        assert_eq!(max_age("private"), None);
    }

    #[test]
    fn retry_after_reads_seconds() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "120".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(120)));
    }
}
