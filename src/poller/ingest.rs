//! Parsing and storing, overlapped: the connector normalises on a blocking thread and hands over
//! chunks through a small bounded channel, while each chunk is written in its own transaction —
//! so a large feed uses both cores, never holds the database for long, and never buffers more
//! than a few chunks.

use connectors::{Connector, ConnectorError, FeedContext, NormalisedItem, Parsed};

use super::fetch::Body;
use crate::model::Feed;
use crate::store::{ChunkContext, IngestReport, Progress, Store, StoreError};

/// Chunks normalised ahead of the one being stored.
const CHUNKS_AHEAD: usize = 2;

/// Why parsing and storing failed.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The document is not a feed.
    #[error(transparent)]
    Parse(#[from] ConnectorError),
    /// The store failed (the detail is logged; feeds show only this).
    #[error("the hub could not store the feed (an internal error, logged on the hub)")]
    Store(#[from] StoreError),
    /// The parser panicked (a bug; the feed is marked failing rather than the poller dying).
    #[error("the hub could not parse the feed (an internal error, logged on the hub)")]
    Crashed(String),
}

/// Parses `body` with `connector` and stores every chunk of `chunk_size` items as it is ready.
/// Returns the feed's metadata (title, ttl, warnings, the identities of every item the document
/// holds) and what was written; the caller records the fetch with [`Store::record_success`].
/// A body in a file is read a row at a time (CSV), so memory stays bounded.
///
/// With `body_hash`, each chunk records how far into that body the poll got (the resume point);
/// when the feed's last poll of the same body was cut short, the items it stored are parsed again
/// (a snapshot needs their identities) but not written again.
pub async fn parse_and_store(
    store: &dyn Store,
    feed: &Feed,
    connector: Connector,
    body: Body,
    body_hash: Option<&str>,
    context: FeedContext,
    chunk_size: usize,
) -> Result<(Parsed, IngestReport), IngestError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<NormalisedItem>>(CHUNKS_AHEAD);
    let parsing = tokio::task::spawn_blocking(move || {
        // The receiver is gone only when storing failed; the rest is discarded.
        let mut sink = |chunk| {
            let _ = tx.blocking_send(chunk);
        };
        match body {
            Body::Memory(bytes) => connector.parse_chunks(&bytes, &context, chunk_size, &mut sink),
            Body::File(mut file) => connector.parse_source_chunks(&mut file, &context, chunk_size, &mut sink),
        }
    });
    // Looked up while the first chunk is parsed. A feed with nothing stored yet skips the lookup
    // of existing items in every chunk: the connector never repeats an identity across chunks.
    let all_new = match store.has_items(feed.id).await {
        Ok(has_items) => !has_items,
        Err(e) => {
            drop(rx);
            let _ = parsing.await;
            return Err(e.into());
        }
    };
    let mut report = IngestReport::default();
    let resume_at = match body_hash {
        Some(hash) if feed.resume_hash.as_deref() == Some(hash) => feed.resume_items.max(0) as usize,
        _ => 0,
    };
    if resume_at > 0 {
        tracing::info!(feed = %feed.id, items = resume_at, "resuming where a poll of the same body was cut short");
    }
    // Items the parser has handed over, stored or skipped.
    let mut handed = 0usize;
    while let Some(mut chunk) = rx.recv().await {
        let before = handed;
        handed += chunk.len();
        if handed <= resume_at {
            report.resumed += chunk.len();
            continue;
        }
        if before < resume_at {
            chunk.drain(..resume_at - before);
            report.resumed += resume_at - before;
        }
        let progress = body_hash.map(|body_hash| Progress { body_hash, items: handed as i64 });
        let context = ChunkContext { backfill: feed.last_success_at.is_none(), all_new, progress };
        match store.ingest_chunk(feed, &chunk, context).await {
            Ok(r) => report.add(r),
            Err(e) => {
                tracing::error!(feed = %feed.id, error = %e, "could not store a chunk of the feed");
                drop(rx);
                let _ = parsing.await;
                return Err(e.into());
            }
        }
    }
    let parsed = parsing.await.map_err(|e| {
        tracing::error!(feed = %feed.id, error = %e, "the parser panicked");
        IngestError::Crashed(e.to_string())
    })??;
    Ok((parsed, report))
}
