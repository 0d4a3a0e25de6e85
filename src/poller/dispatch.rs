//! Which feeds run now: polls in flight, bounded globally and per host. The claim itself respects
//! both limits, so every claimed feed starts at once: one host with many feeds never holds the
//! slots other hosts need, and no lease runs out while a feed waits.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::task::{Id, JoinSet};

use super::{PollReport, Poller};
use crate::config::PollSettings;
use crate::store::{ClaimLimits, StoreResult};

/// Polls in flight.
pub(super) struct Dispatch {
    concurrency: usize,
    per_host: usize,
    /// Polls running per host.
    running: HashMap<String, usize>,
    /// The host of each running task, so a task that panics still frees its host's slot.
    hosts: HashMap<Id, String>,
    tasks: JoinSet<PollReport>,
}

impl Dispatch {
    pub(super) fn new(settings: &PollSettings) -> Dispatch {
        Dispatch {
            concurrency: settings.concurrency.max(1),
            per_host: settings.per_host_concurrency.max(1),
            running: HashMap::new(),
            hosts: HashMap::new(),
            tasks: JoinSet::new(),
        }
    }

    /// Whether any poll is running.
    pub(super) fn is_busy(&self) -> bool {
        !self.tasks.is_empty()
    }

    /// How many more polls may start now.
    pub(super) fn free(&self) -> usize {
        self.concurrency.saturating_sub(self.tasks.len())
    }

    /// Whether a claim now would be put off: a claim ranks every due feed, so while polls run it
    /// waits for a quarter of the slots — a cycle of 10,000 feeds costs a claim per batch, not one
    /// per feed (BENCHMARKS.md).
    pub(super) fn waits_for_slots(&self) -> bool {
        let free = self.free();
        free == 0 || (free < (self.concurrency / 4).max(1) && !self.tasks.is_empty())
    }

    /// Claims the feeds due at `now` that fit the free slots and their hosts' limits, and starts
    /// them; returns how many started.
    pub(super) async fn claim(&mut self, poller: &Arc<Poller>, now: DateTime<Utc>) -> StoreResult<usize> {
        if self.waits_for_slots() {
            return Ok(0);
        }
        let free = self.free();
        let running: Vec<(String, usize)> = self.running.iter().map(|(h, n)| (h.clone(), *n)).collect();
        let limits = ClaimLimits { total: free, per_host: self.per_host, running: &running };
        let feeds = poller.store.claim_due_feeds(now, poller.settings.lease_secs, &limits).await?;
        let started = feeds.len();
        for feed in feeds {
            let host = feed.url.host();
            *self.running.entry(host.clone()).or_default() += 1;
            let me = Arc::clone(poller);
            let handle = self.tasks.spawn(async move { me.poll(feed).await });
            self.hosts.insert(handle.id(), host);
        }
        Ok(started)
    }

    /// Waits for a poll to finish and frees its slots; `None` when nothing runs or the task
    /// panicked (its feed's lease then expires and it is retried).
    pub(super) async fn finished(&mut self) -> Option<PollReport> {
        let (id, result) = match self.tasks.join_next_with_id().await? {
            Ok((id, report)) => (id, Some(report)),
            Err(e) => {
                tracing::error!(error = %e, "a poll task failed");
                (e.id(), None)
            }
        };
        if let Some(host) = self.hosts.remove(&id) {
            if let Some(n) = self.running.get_mut(&host) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.running.remove(&host);
                }
            }
        }
        result
    }

    /// Waits for every running poll, at most `limit`; aborts the rest.
    pub(super) async fn drain(&mut self, limit: std::time::Duration) {
        let deadline = tokio::time::sleep(limit);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                next = self.tasks.join_next() => if next.is_none() { return },
                _ = &mut deadline => {
                    tracing::warn!(in_flight = self.tasks.len(), "polls still running at shutdown; their leases will expire");
                    self.tasks.abort_all();
                    return;
                }
            }
        }
    }
}
