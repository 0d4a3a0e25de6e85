//! The poller: one generic loop owns intervals, fetching, timeouts, backoff and shutdown; the
//! connectors stay pure. Due feeds are claimed with a lease, fetched with bounded concurrency
//! (global and per host), parsed off the async threads, and ingested idempotently.

mod dispatch;
pub mod fetch;
mod follow;
pub mod guard;
pub mod ingest;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use connectors::mapping::{HeaderValue as MappedValue, Mapping};
use connectors::{Connector, FeedContext, Parsed};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use sha2::{Digest, Sha256};
use tokio::sync::{broadcast, Notify};

use self::dispatch::Dispatch;
use self::fetch::{Fetched, Fetcher, Keep, Validators};
use crate::config::PollSettings;
use crate::metrics::{Metrics, PollOutcome};
use crate::model::{Feed, FeedKind, FeedState, FeedUrl};
use crate::store::{FetchRecord, IngestReport, Store};

/// The least time between two claims while nothing is due: feeds that come due one after another
/// wait at most this long and are claimed together (BENCHMARKS.md, "10,000 feeds").
const CLAIM_PAUSE: Duration = Duration::from_millis(500);

/// What one poll of one feed did.
#[derive(Debug, Clone)]
pub struct PollReport {
    /// The feed.
    pub feed: Feed,
    /// How it ended.
    pub outcome: PollOutcome,
    /// Items written.
    pub ingest: IngestReport,
    /// Why it failed.
    pub error: Option<String>,
    /// When it is polled next.
    pub next_check_at: DateTime<Utc>,
}

/// The poller.
pub struct Poller {
    store: Arc<dyn Store>,
    fetcher: Fetcher,
    settings: PollSettings,
    metrics: Arc<Metrics>,
    wake: Arc<Notify>,
    reports: broadcast::Sender<PollReport>,
    /// This hub's id: a HUB feed does not import what came from here.
    hub_id: String,
    /// When each HUB feed's items were last rechecked (by this process).
    rechecked: std::sync::Mutex<std::collections::HashMap<crate::model::FeedId, std::time::Instant>>,
}

impl Poller {
    /// A poller over `store`, for the hub `hub_id`.
    pub fn new(
        store: Arc<dyn Store>,
        fetcher: Fetcher,
        settings: PollSettings,
        metrics: Arc<Metrics>,
        hub_id: String,
    ) -> Poller {
        Poller {
            store,
            fetcher,
            settings,
            metrics,
            wake: Arc::new(Notify::new()),
            reports: broadcast::channel(256).0,
            hub_id,
            rechecked: Default::default(),
        }
    }

    /// A handle that wakes the loop early (a feed was added).
    pub fn waker(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// Reports of polls as they finish (for tests and, later, live status).
    pub fn reports(&self) -> broadcast::Receiver<PollReport> {
        self.reports.subscribe()
    }

    /// Runs until `shutdown` completes, then waits briefly for polls in flight.
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        tokio::pin!(shutdown);
        let mut dispatch = Dispatch::new(&self.settings);
        'polling: loop {
            if dispatch.waits_for_slots() {
                // Claims are made for a quarter of the slots at once: wait for them to free.
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = dispatch.finished() => {}
                }
                continue;
            }
            let free = dispatch.free();
            let started = match dispatch.claim(&self, Utc::now()).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "could not claim due feeds");
                    0
                }
            };
            if started > 0 && started == free {
                // Possibly more due: claim again once slots free.
                continue;
            }
            let until_due = match self.store.next_due_at().await {
                Ok(Some(at)) => (at - Utc::now()).to_std().unwrap_or(Duration::ZERO),
                Ok(None) => Duration::from_secs(30),
                Err(e) => {
                    tracing::error!(error = %e, "could not read the schedule");
                    Duration::from_secs(5)
                }
            };
            if until_due.is_zero() {
                // Due but not claimed: waiting for its host (a poll finishing frees a slot) or
                // for a lease held by another process (looked at again each second).
                let busy = dispatch.is_busy();
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = dispatch.finished(), if busy => {}
                }
                continue;
            }
            // Nothing due now. Sleep until the next feed is due, but no less than CLAIM_PAUSE:
            // feeds coming due one after another are claimed in batches, not one claim (and one
            // look at the schedule) each. Polls that finish meanwhile are collected.
            let deadline = tokio::time::sleep(until_due.clamp(CLAIM_PAUSE, Duration::from_secs(30)));
            tokio::pin!(deadline);
            loop {
                let busy = dispatch.is_busy();
                tokio::select! {
                    _ = &mut shutdown => break 'polling,
                    _ = self.wake.notified() => break,
                    _ = &mut deadline => break,
                    _ = dispatch.finished(), if busy => {}
                }
            }
        }
        dispatch.drain(Duration::from_secs(10)).await;
        Ok(())
    }

    /// Polls every feed due now once, with the usual limits, and returns their reports. Feeds
    /// that come due again while it runs (a short interval, a retry) wait for the next run.
    pub async fn poll_due_once(self: &Arc<Self>) -> anyhow::Result<Vec<PollReport>> {
        let now = Utc::now();
        let mut dispatch = Dispatch::new(&self.settings);
        let mut reports = Vec::new();
        loop {
            dispatch.claim(self, now).await?;
            if !dispatch.is_busy() {
                break;
            }
            if let Some(report) = dispatch.finished().await {
                reports.push(report);
            }
        }
        reports.sort_by_key(|r| r.feed.id);
        Ok(reports)
    }

    /// Fetches, parses and ingests one feed, recording the outcome on the feed.
    pub async fn poll(&self, feed: Feed) -> PollReport {
        let result = self.keeping_lease(&feed, self.fetch_and_ingest(&feed)).await;
        let (outcome, ingest, error, next) = match result {
            Ok((outcome, ingest, next)) => (outcome, ingest, None, next),
            Err((reason, retry_after)) => {
                let next = self.backoff(feed.error_count + 1, retry_after);
                if let Err(e) = self.store.record_failure(feed.id, &reason, next).await {
                    tracing::error!(feed = %feed.id, error = %e, "could not record a failed poll");
                }
                tracing::warn!(feed = %feed.id, url = feed.url.as_str(), reason = %reason, "poll failed");
                (PollOutcome::Failed, IngestReport::default(), Some(reason), next)
            }
        };
        self.metrics.poll(outcome);
        self.metrics.items(&ingest);
        let report = PollReport { feed, outcome, ingest, error, next_check_at: next };
        let _ = self.reports.send(report.clone());
        report
    }

    /// Runs `work` on `feed`, renewing the feed's lease every third of it, so a fetch or an
    /// import that takes longer than one lease (a large CSV file) keeps the feed to itself.
    async fn keeping_lease<T>(&self, feed: &Feed, work: impl Future<Output = T>) -> T {
        let lease = Duration::from_secs(self.settings.lease_secs.max(3).unsigned_abs());
        let every = lease / 3;
        let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tokio::pin!(work);
        loop {
            tokio::select! {
                out = &mut work => return out,
                _ = renew.tick() => {
                    let until = Utc::now() + chrono::Duration::seconds(self.settings.lease_secs.max(3));
                    match self.store.renew_lease(feed.id, until).await {
                        Ok(true) => {}
                        Ok(false) => tracing::warn!(feed = %feed.id, "the feed's lease ran out and another poller took it"),
                        Err(e) => tracing::warn!(feed = %feed.id, error = %e, "could not renew the feed's lease"),
                    }
                }
            }
        }
    }

    /// The happy path; an `Err` carries the reason and any Retry-After. A paged JSON API is read
    /// page by page, each page stored as it comes, until its last page or the mapping's
    /// `max_pages`.
    async fn fetch_and_ingest(
        &self,
        feed: &Feed,
    ) -> Result<(PollOutcome, IngestReport, DateTime<Utc>), (String, Option<Duration>)> {
        if feed.kind == FeedKind::Hub {
            return self.follow_hub(feed).await;
        }
        let plain = |reason: String| (reason, None);
        let mapping = feed.mapping.as_deref().map(Mapping::parse).transpose().map_err(|e| plain(e.to_string()))?;
        let headers = request_headers(mapping.as_ref()).map_err(plain)?;
        let connector = match feed.kind {
            FeedKind::Rss => Connector::Rss,
            FeedKind::Csv => Connector::Csv(mapping.map(Box::new)),
            FeedKind::JsonApi => Connector::Json(Box::new(
                mapping.ok_or_else(|| plain("a JSON_API feed needs a mapping; the feed has none".into()))?,
            )),
            FeedKind::Hub => unreachable!("a HUB feed is followed above"),
        };
        let pagination = match &connector {
            Connector::Json(mapping) => mapping.pagination.clone(),
            _ => None,
        };
        let snapshot = connector.is_snapshot();
        let store_err = |e: crate::store::StoreError| {
            tracing::error!(feed = %feed.id, error = %e, "could not record a poll");
            plain("the hub could not store the feed (an internal error, logged on the hub)".to_string())
        };

        let mut page_url = match &pagination {
            Some(p) => FeedUrl::parse(&connectors::json::first_page(Some(p), feed.url.as_str())).map_err(plain)?,
            None => feed.url.clone(),
        };
        let max_pages = pagination.as_ref().map_or(1, |p| p.max_pages());
        let mut page = 1;
        // The body's hash; for a paged API, the hash of its pages' hashes.
        let mut body_hasher = Sha256::new();
        let mut last_hash;
        let mut whole = Parsed::default();
        let mut report = IngestReport::default();
        // A CSV file goes to disk as it arrives and is read a row at a time.
        let keep = if feed.kind == FeedKind::Csv { Keep::File } else { Keep::Memory };
        let mut complete = true;
        let mut dropped_warnings = 0;
        // What a focal point must see first, whatever the number of other warnings.
        let mut status: Vec<String> = Vec::new();
        // Pages read, to stop a pagination that leads back to a page already read.
        let mut fetched_pages: std::collections::HashSet<String> = std::collections::HashSet::new();
        let secret_headers = headers.values().any(|v| v.is_sensitive());
        let validators = loop {
            // A paged API is fetched whole each time: an unchanged first page says nothing of the rest.
            let (etag, last_modified) = match pagination {
                Some(_) => (None, None),
                None => (feed.etag.as_deref(), feed.last_modified.as_deref()),
            };
            let on_page = |reason: String| {
                if page > 1 {
                    format!("page {page} ({}): {reason}", page_url.as_str())
                } else {
                    reason
                }
            };
            let fetched = self
                .fetcher
                .fetch(&page_url, &headers, etag, last_modified, keep)
                .await
                .map_err(|e| (on_page(e.to_string()), e.retry_after()))?;
            let (body, body_hash, validators) = match fetched {
                Fetched::NotModified(validators) => {
                    let record = self.record(feed, &validators, None, None);
                    self.store.record_unchanged(feed.id, &record).await.map_err(store_err)?;
                    return Ok((PollOutcome::NotModified, IngestReport::default(), record.next_check_at));
                }
                Fetched::Body { body, hash, validators } => (body, hash, validators),
            };
            let unchanged = feed.body_hash.as_deref() == Some(body_hash.as_str()) && feed.state != FeedState::Failing;
            if pagination.is_none() && unchanged {
                let record = self.record(feed, &validators, Some(body_hash), None);
                self.store.record_unchanged(feed.id, &record).await.map_err(store_err)?;
                return Ok((PollOutcome::Unchanged, IngestReport::default(), record.next_check_at));
            }
            body_hasher.update(body_hash.as_bytes());
            let context = FeedContext {
                url: Some(page_url.as_str().to_string()),
                default_category: feed.default_category,
                default_language: feed.default_language.clone(),
                default_countries: feed.default_countries.clone(),
            };
            // Parsing is CPU work: it runs off the threads that serve requests, overlapped with storing.
            let (parsed, page_report) = ingest::parse_and_store(
                self.store.as_ref(),
                feed,
                connector.clone(),
                body,
                pagination.is_none().then_some(body_hash.as_str()),
                context,
                self.settings.chunk_size,
            )
            .await
            .map_err(|e| plain(on_page(e.to_string())))?;
            last_hash = body_hash;
            report.add(page_report);
            if snapshot {
                whole.keys.extend(parsed.keys);
            }
            whole.title = whole.title.or(parsed.title);
            whole.ttl_minutes = whole.ttl_minutes.or(parsed.ttl_minutes);
            whole.skipped += parsed.skipped;
            whole.records += parsed.records;
            let mut warnings = parsed.warnings;
            if parsed.warnings_dropped > 0 {
                // The page's own "… and N more" line; the count is carried instead.
                warnings.pop();
                dropped_warnings += parsed.warnings_dropped;
            }
            whole.warnings.extend(warnings.into_iter().map(on_page));
            match parsed.next_page {
                None => break validators,
                Some(_) if page == max_pages => {
                    complete = false;
                    // A mapping that sets max_pages reads the newest pages on purpose; only a
                    // snapshot, or a feed that ran into the default, is told.
                    if snapshot || pagination.as_ref().is_some_and(|p| p.max_pages.is_none()) {
                        status.push(format!(
                            "stopped after {max_pages} pages (pagination.max_pages); the rest was not read this time"
                        ));
                    }
                    break validators;
                }
                Some(next) => {
                    let next = FeedUrl::parse(&next).map_err(|e| plain(on_page(format!("the next page: {e}"))))?;
                    // A secret header goes only to the site the feed was registered at.
                    if secret_headers && next.as_url().origin() != feed.url.as_url().origin() {
                        return Err(plain(on_page(format!(
                            "the next page is on another site ({}); a feed with secret headers is read only from its own site",
                            next.as_url().origin().ascii_serialization()
                        ))));
                    }
                    fetched_pages.insert(page_url.as_str().to_string());
                    if fetched_pages.contains(next.as_str()) {
                        complete = false;
                        status.push(format!(
                            "page {} leads back to a page already read ({}); reading stopped there",
                            page,
                            next.as_str()
                        ));
                        break validators;
                    }
                    page_url = next;
                    page += 1;
                    tracing::debug!(feed = %feed.id, page, "fetching the next page");
                }
            }
        };
        if pagination.is_some() {
            tracing::info!(feed = %feed.id, pages = page, records = whole.records, "read a paged API");
        }
        // A snapshot withdraws what it no longer holds, but only after a complete read: a row
        // skipped for a typo, a page left unread, or an API that suddenly answers with nothing
        // must not make items disappear from the hub.
        if snapshot {
            let rows = if feed.kind == FeedKind::JsonApi { "records" } else { "rows" };
            let reason = if whole.skipped > 0 {
                Some(format!("{} {rows} could not be read", whole.skipped))
            } else if !complete {
                Some("not every page was read".to_string())
            } else if whole.keys.is_empty() {
                Some("the source holds nothing at all".to_string())
            } else {
                None
            };
            match reason {
                None => {
                    let (withdrawn, last) = self.store.withdraw_missing(feed, &whole.keys).await.map_err(store_err)?;
                    report.withdrawn += withdrawn;
                    report.last_sequence = report.last_sequence.max(last);
                }
                Some(reason) => status.push(format!("{reason}, so nothing missing from this fetch was withdrawn")),
            }
        }
        let ttl = whole.ttl_minutes.map(|m| Duration::from_secs(u64::from(m) * 60));
        let body_hash = match pagination {
            None => last_hash,
            Some(_) => connectors::text::hex(&body_hasher.finalize()),
        };
        let mut record = self.record(feed, &validators, Some(body_hash), ttl);
        if pagination.is_some() {
            (record.etag, record.last_modified) = (None, None);
        }
        record.title = whole.title;
        status.append(&mut whole.warnings);
        connectors::cap_warnings(&mut status, dropped_warnings);
        record.warnings = status;
        self.store.record_success(feed.id, &record).await.map_err(store_err)?;
        let written = report.created + report.updated + report.withdrawn;
        let outcome = if written > 0 { PollOutcome::Updated } else { PollOutcome::Unchanged };
        Ok((outcome, report, record.next_check_at))
    }

    fn record(&self, feed: &Feed, v: &Validators, body_hash: Option<String>, ttl: Option<Duration>) -> FetchRecord {
        FetchRecord {
            next_check_at: self.next_check(feed, v.max_age, ttl),
            etag: v.etag.clone(),
            last_modified: v.last_modified.clone(),
            body_hash,
            title: None,
            warnings: Vec::new(),
        }
    }

    /// The feed's interval, pushed out by Cache-Control max-age or the RSS ttl, within bounds.
    fn next_check(&self, feed: &Feed, max_age: Option<Duration>, ttl: Option<Duration>) -> DateTime<Utc> {
        let s = &self.settings;
        let mut secs = feed.poll_interval_secs.max(s.min_interval_secs);
        for hint in [max_age, ttl].into_iter().flatten() {
            secs = secs.max(hint.as_secs() as i64);
        }
        Utc::now() + chrono::Duration::seconds(secs.min(s.max_interval_secs))
    }

    /// Exponential backoff from one minute, capped, with jitter; Retry-After when it asks longer.
    fn backoff(&self, failures: i64, retry_after: Option<Duration>) -> DateTime<Utc> {
        let s = &self.settings;
        let exp = failures.clamp(1, 20) - 1;
        let base = (60i64 << exp).min(s.max_backoff_secs);
        // Up to 10% jitter, so feeds that failed together do not retry together.
        let jitter = (Utc::now().timestamp_subsec_nanos() as i64 % 100) * base / 1000;
        let mut secs = base + jitter;
        if let Some(ra) = retry_after {
            secs = secs.max((ra.as_secs() as i64).min(s.max_interval_secs));
        }
        Utc::now() + chrono::Duration::seconds(secs)
    }
}

/// The request headers a feed's mapping asks for, secrets read from the hub's environment now
/// (so a key set after registration is used) and marked sensitive. A message never holds a value.
fn request_headers(mapping: Option<&Mapping>) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    for (name, value) in mapping.map(|m| &m.headers).into_iter().flatten() {
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("`{name}` is not a header name"))?;
        let value = match value {
            MappedValue::Plain(text) => {
                HeaderValue::from_str(text).map_err(|_| format!("the header {name} has a value that cannot be sent"))?
            }
            MappedValue::Env(var) => {
                let secret = std::env::var(var).map_err(|_| {
                    format!("the header {name} takes its value from the environment variable {var}, which is not set on the hub")
                })?;
                let mut value = HeaderValue::from_str(secret.trim()).map_err(|_| {
                    format!(
                        "the environment variable {var} (for the header {name}) holds characters a header cannot carry"
                    )
                })?;
                value.set_sensitive(true);
                value
            }
        };
        headers.insert(header, value);
    }
    Ok(headers)
}
