//! Following another hub (a HUB feed): its change log is read a page at a time after the cursor
//! the feed keeps, through its GraphQL API with the read token it issued, and each page stored
//! as it comes. The connector (`connectors::hub`) turns pages into items and cuts loops.

use chrono::{DateTime, Utc};
use connectors::hub::{self, HubSettings};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};

use super::Poller;
use crate::access::Scope;
use crate::metrics::PollOutcome;
use crate::model::{Feed, Item};
use crate::store::{ChunkContext, IngestReport, ItemFilter, ItemOrder, PageRequest};

/// Pages read in one poll at most once the feed has caught up with the other hub; the rest waits
/// for the next poll (which comes at once). A first import reads until it has caught up, so all
/// of it is marked as backfill.
const MAX_PAGES: usize = 100;

type Failure = (String, Option<std::time::Duration>);

impl Poller {
    /// Reads the other hub's changes after the feed's cursor (kept as its `etag`: a HUB feed has
    /// no validators of its own) and stores them; the new cursor is recorded with the outcome.
    pub(super) async fn follow_hub(&self, feed: &Feed) -> Result<(PollOutcome, IngestReport, DateTime<Utc>), Failure> {
        let plain = |reason: String| (reason, None);
        let settings = match feed.mapping.as_deref() {
            Some(text) => HubSettings::parse(text).map_err(plain)?,
            None => HubSettings::default(),
        };
        let headers = auth_headers(&settings).map_err(plain)?;
        let store_err = |e: crate::store::StoreError| {
            tracing::error!(feed = %feed.id, error = %e, "could not store what another hub sent");
            plain("the hub could not store the items (an internal error, logged on the hub)".to_string())
        };
        let mut cursor = feed.etag.clone();
        let mut report = IngestReport::default();
        let mut warnings: Vec<String> = Vec::new();
        let mut looped = 0;
        let mut other_hub = None;
        let mut more = false;
        let first_import = feed.last_success_at.is_none();
        if first_import && cursor.is_none() {
            // Every item first, whatever the other hub's change log still holds; then its log
            // from its oldest change (idempotent: what the snapshot stored is unchanged there).
            let (written, snapshot_warnings) = self.snapshot(feed, &headers).await?;
            report.add(written);
            warnings.extend(snapshot_warnings);
        }
        let mut pages = 0;
        while first_import || pages < MAX_PAGES {
            pages += 1;
            let variables = serde_json::json!({ "after": cursor, "first": hub::PAGE });
            let (status, answer) = self.ask(feed, &headers, hub::QUERY, variables).await.map_err(plain)?;
            let page = match hub::parse_page(&answer, &self.hub_id) {
                Ok(page) => page,
                Err(e) if e.code.as_deref() == Some("CURSOR_EXPIRED") && cursor.is_some() => {
                    // The other hub pruned its log past our cursor: what changed in the gap is
                    // read again whole (its items), then its log from the oldest change. Storing
                    // is idempotent, so nothing is written twice; what was withdrawn in the gap
                    // goes at the next recheck.
                    warnings.push(format!(
                        "the other hub no longer holds changes from where this hub stopped ({}); its items were read again",
                        e.message
                    ));
                    let (written, snapshot_warnings) = self.snapshot(feed, &headers).await?;
                    report.add(written);
                    warnings.extend(snapshot_warnings);
                    cursor = None;
                    continue;
                }
                Err(e) => {
                    let code = e.code.map(|c| format!(" ({c})")).unwrap_or_default();
                    return Err(plain(format!("the other hub answered {status}{code}: {}", e.message)));
                }
            };
            if page.hub == self.hub_id {
                return Err(plain(format!(
                    "this is this hub itself (its id is {}): a hub cannot follow itself",
                    page.hub
                )));
            }
            other_hub = Some(page.hub.clone());
            looped += page.looped;
            warnings.extend(page.warnings);
            // Backfill here when it was backfill there, and all of a first import. Each item is
            // in the page once, so the two chunks cannot reorder one item's changes.
            let (backfill, live): (Vec<_>, Vec<_>) =
                page.items.into_iter().zip(page.backfill).partition(|(_, b)| *b || first_import);
            for (items, backfill) in [(backfill, true), (live, false)] {
                let items: Vec<connectors::NormalisedItem> = items.into_iter().map(|(i, _)| i).collect();
                if !items.is_empty() {
                    let chunk = ChunkContext { backfill, ..ChunkContext::default() };
                    report.add(self.store.ingest_chunk(feed, &items, chunk).await.map_err(store_err)?);
                }
            }
            if page.has_next_page && (page.end_cursor.is_none() || page.end_cursor == cursor) {
                return Err(plain("the other hub says there is more but its change log does not move on".into()));
            }
            if page.end_cursor.is_some() {
                cursor = page.end_cursor;
            }
            more = page.has_next_page;
            if !more {
                break;
            }
        }
        if looped > 0 {
            tracing::debug!(feed = %feed.id, looped, "changes that came from this hub were not imported again");
        }
        if self.recheck_due(feed) {
            match self.recheck(feed, &headers).await {
                Ok(rechecked) => report.add(rechecked),
                // Nothing is withdrawn on a recheck that failed; the next one tries again.
                Err(reason) => warnings.push(format!("the items already read could not be checked again: {reason}")),
            }
        }
        let mut record = self.record(feed, &Default::default(), None, None);
        if more {
            // The rest of a long log comes with the next poll, at once.
            record.next_check_at = Utc::now();
            warnings.push(format!("more than {MAX_PAGES} pages of changes: the rest is read by the next poll"));
        }
        record.etag = cursor;
        record.title = other_hub.map(|id| format!("hub {id}"));
        connectors::cap_warnings(&mut warnings, 0);
        record.warnings = warnings;
        self.store.record_success(feed.id, &record).await.map_err(store_err)?;
        let written = report.created + report.updated + report.withdrawn;
        let outcome = if written > 0 { PollOutcome::Updated } else { PollOutcome::Unchanged };
        Ok((outcome, report, record.next_check_at))
    }
}

impl Poller {
    /// Sends `query` with `variables` to the other hub's endpoint; its status and answer.
    async fn ask(
        &self,
        feed: &Feed,
        headers: &HeaderMap,
        query: &str,
        variables: serde_json::Value,
    ) -> Result<(reqwest::StatusCode, Vec<u8>), String> {
        let request = serde_json::json!({ "query": query, "variables": variables });
        let body = serde_json::to_vec(&request).expect("a JSON value serialises");
        self.fetcher.post_json(feed.url.as_url(), headers.clone(), body).await
    }

    /// Reads every item the other hub lets this one see, a page at a time, as backfill.
    async fn snapshot(&self, feed: &Feed, headers: &HeaderMap) -> Result<(IngestReport, Vec<String>), Failure> {
        let plain = |reason: String| (reason, None);
        let mut report = IngestReport::default();
        let mut warnings = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let variables = serde_json::json!({ "after": after, "first": hub::PAGE });
            let (status, answer) = self.ask(feed, headers, hub::SNAPSHOT_QUERY, variables).await.map_err(plain)?;
            let page = hub::parse_snapshot(&answer, &self.hub_id).map_err(|e| {
                let code = e.code.map(|c| format!(" ({c})")).unwrap_or_default();
                plain(format!("the other hub answered {status}{code}: {}", e.message))
            })?;
            if page.hub == self.hub_id {
                return Err(plain(format!(
                    "this is this hub itself (its id is {}): a hub cannot follow itself",
                    page.hub
                )));
            }
            warnings.extend(page.warnings);
            if !page.items.is_empty() {
                let chunk = ChunkContext { backfill: true, ..ChunkContext::default() };
                let written = self.store.ingest_chunk(feed, &page.items, chunk).await.map_err(|e| {
                    tracing::error!(feed = %feed.id, error = %e, "could not store what another hub sent");
                    plain("the hub could not store the items (an internal error, logged on the hub)".to_string())
                })?;
                report.add(written);
            }
            if !page.has_next_page {
                return Ok((report, warnings));
            }
            if page.end_cursor.is_none() || page.end_cursor == after {
                return Err(plain("the other hub says it has more items but its pages do not move on".into()));
            }
            after = page.end_cursor;
        }
    }

    /// Whether the feed's items are due for a recheck (`poll.hub_recheck_secs`); marks them done.
    fn recheck_due(&self, feed: &Feed) -> bool {
        let every = std::time::Duration::from_secs(self.settings.hub_recheck_secs);
        let mut rechecked = self.rechecked.lock().expect("not poisoned");
        let now = std::time::Instant::now();
        let due = rechecked.get(&feed.id).is_none_or(|at| now.duration_since(*at) >= every);
        if due {
            rechecked.insert(feed.id, now);
        }
        due
    }

    /// Asks the other hub again about every item this feed holds, a page at a time: one it no
    /// longer lets this hub see (made NETWORK or SOCIETY there, beyond the token) is withdrawn
    /// here, one that became stricter is stored stricter. The change log cannot say so: the other
    /// hub writes no change its reader may no longer see.
    async fn recheck(&self, feed: &Feed, headers: &HeaderMap) -> Result<IngestReport, String> {
        let mut report = IngestReport::default();
        let filter = ItemFilter { feeds: vec![feed.id], include_duplicates: true, ..ItemFilter::default() };
        let mut after = None;
        loop {
            let page = PageRequest { first: hub::PAGE as usize, after };
            let held = self
                .store
                .items_page_uncounted(&Scope::System, &filter, ItemOrder::PublishedDesc, &page)
                .await
                .map_err(|e| e.to_string())?;
            let asked: Vec<(&Item, &str)> = held
                .edges
                .iter()
                .filter_map(|(_, i)| i.provenance.as_ref().filter(|p| !p.via.is_empty()).map(|p| (i, p.via.as_str())))
                .collect();
            if !asked.is_empty() {
                let representations: Vec<serde_json::Value> =
                    asked.iter().map(|(_, id)| serde_json::json!({ "__typename": "Item", "id": id })).collect();
                let variables = serde_json::json!({ "representations": representations });
                let (status, answer) = self.ask(feed, headers, hub::RECHECK_QUERY, variables).await?;
                let now = hub::parse_recheck(&answer, &self.hub_id).map_err(|e| {
                    let code = e.code.map(|c| format!(" ({c})")).unwrap_or_default();
                    format!("the other hub answered {status}{code}: {}", e.message)
                })?;
                if now.len() != asked.len() {
                    return Err(format!("asked about {} items, the other hub answered for {}", asked.len(), now.len()));
                }
                let items: Vec<connectors::NormalisedItem> = asked
                    .iter()
                    .zip(now)
                    .filter_map(|((held, _), now)| match now {
                        hub::Recheck::Now(item) => Some(*item),
                        hub::Recheck::Gone => Some(connectors::NormalisedItem::deleted(source_key(held))),
                        hub::Recheck::Unreadable(reason) => {
                            tracing::warn!(feed = %feed.id, reason, "an item asked about again could not be read");
                            None
                        }
                    })
                    .collect();
                let written = self.store.ingest_chunk(feed, &items, ChunkContext::default()).await.map_err(|e| {
                    tracing::error!(feed = %feed.id, error = %e, "could not store a recheck");
                    "the hub could not store the recheck (an internal error, logged on the hub)".to_string()
                })?;
                report.add(written);
            }
            if !held.has_next_page {
                return Ok(report);
            }
            after = held.edges.last().map(|(cursor, _)| cursor.clone());
        }
    }
}

/// The source key a HUB feed stored an item under (its origin hub and its id there).
fn source_key(item: &Item) -> String {
    hub::source_key(item.provenance.as_ref().expect("an item of a HUB feed has its provenance"))
}

/// `Authorization: Bearer …` with the read token, written out or read from the environment now.
fn auth_headers(settings: &HubSettings) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    let token = match &settings.token {
        None => return Ok(headers),
        Some(connectors::mapping::HeaderValue::Plain(token)) => token.clone(),
        Some(connectors::mapping::HeaderValue::Env(var)) => std::env::var(var).map_err(|_| {
            format!("the read token is taken from the environment variable {var}, which is not set on the hub")
        })?,
    };
    let mut value = HeaderValue::from_str(&format!("Bearer {}", token.trim()))
        .map_err(|_| "the read token holds characters a header cannot carry".to_string())?;
    value.set_sensitive(true);
    headers.insert(AUTHORIZATION, value);
    Ok(headers)
}
