//! Following another hub (a HUB feed): its change log is read a page at a time after the cursor
//! the feed keeps, through its GraphQL API with the read token it issued, and each page stored
//! as it comes. The connector (`connectors::hub`) turns pages into items and cuts loops.

use chrono::{DateTime, Utc};
use connectors::hub::{self, HubSettings};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};

use super::Poller;
use crate::metrics::PollOutcome;
use crate::model::Feed;
use crate::store::{ChunkContext, IngestReport};

/// Pages read in one poll at most; the rest waits for the next poll (which comes at once when
/// there is more: see `next_check_at`).
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
        for _ in 0..MAX_PAGES {
            let request = serde_json::json!({
                "query": hub::QUERY,
                "variables": { "after": cursor, "first": hub::PAGE },
            });
            let body = serde_json::to_vec(&request).expect("a JSON value serialises");
            let (status, answer) =
                self.fetcher.post_json(feed.url.as_url(), headers.clone(), body).await.map_err(plain)?;
            let page = match hub::parse_page(&answer, &self.hub_id) {
                Ok(page) => page,
                Err(e) if e.code.as_deref() == Some("CURSOR_EXPIRED") => {
                    // The other hub pruned its log past our cursor: read it again from its
                    // oldest change. Storing is idempotent, so nothing is written twice.
                    warnings.push(format!(
                        "the other hub no longer holds changes from where this hub stopped ({}); read again from its oldest",
                        e.message
                    ));
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
            if !page.items.is_empty() {
                let chunk = ChunkContext { backfill: feed.last_success_at.is_none(), ..ChunkContext::default() };
                let written = self.store.ingest_chunk(feed, &page.items, chunk).await.map_err(store_err)?;
                report.add(written);
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
