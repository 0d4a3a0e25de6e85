//! Which feeds run now: polls in flight, bounded globally and per host, fed by host-aware claims.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use chrono::Utc;
use tokio::task::JoinSet;

use super::{PollReport, Poller};
use crate::config::PollSettings;
use crate::model::Feed;

/// Polls in flight, bounded globally and per host. Hosts at their limit are left out of the next
/// claim, so one slow host with many feeds never holds the slots other hosts' feeds need, and a
/// claimed feed starts at once (its lease does not run out while it waits).
pub(super) struct Dispatch {
    concurrency: usize,
    per_host: usize,
    running: HashMap<String, usize>,
    /// Feeds claimed in the same batch as others of their host, beyond the host's limit.
    pub(super) waiting: HashMap<String, VecDeque<Feed>>,
    pub(super) tasks: JoinSet<(String, PollReport)>,
}

impl Dispatch {
    pub(super) fn new(settings: &PollSettings) -> Dispatch {
        Dispatch {
            concurrency: settings.concurrency.max(1),
            per_host: settings.per_host_concurrency.max(1),
            running: HashMap::new(),
            waiting: HashMap::new(),
            tasks: JoinSet::new(),
        }
    }

    pub(super) fn queued(&self) -> usize {
        self.waiting.values().map(VecDeque::len).sum()
    }

    /// How many more feeds may be claimed now.
    pub(super) fn free(&self) -> usize {
        self.concurrency.saturating_sub(self.tasks.len() + self.queued())
    }

    /// Hosts that are at their limit.
    fn saturated(&self) -> Vec<String> {
        self.running.iter().filter(|(_, n)| **n >= self.per_host).map(|(h, _)| h.clone()).collect()
    }

    fn add(&mut self, poller: &Arc<Poller>, feed: Feed) {
        let host = feed.url.host();
        self.waiting.entry(host.clone()).or_default().push_back(feed);
        self.start(poller, &host);
    }

    /// Starts waiting feeds of `host` while it and the whole poller have room.
    fn start(&mut self, poller: &Arc<Poller>, host: &str) {
        while self.tasks.len() < self.concurrency && self.running.get(host).copied().unwrap_or(0) < self.per_host {
            let Some(feed) = self.waiting.get_mut(host).and_then(VecDeque::pop_front) else { break };
            *self.running.entry(host.to_string()).or_default() += 1;
            let me = Arc::clone(poller);
            let host = host.to_string();
            self.tasks.spawn(async move { (host, me.poll(feed).await) });
        }
        if self.waiting.get(host).is_some_and(VecDeque::is_empty) {
            self.waiting.remove(host);
        }
    }

    /// Claims due feeds for the free slots; returns how many were claimed.
    pub(super) async fn claim(&mut self, poller: &Arc<Poller>) -> usize {
        let free = self.free();
        if free == 0 {
            return 0;
        }
        let lease = poller.settings.lease_secs;
        match poller.store.claim_due_feeds(Utc::now(), free, lease, &self.saturated()).await {
            Ok(feeds) => {
                let n = feeds.len();
                for feed in feeds {
                    self.add(poller, feed);
                }
                n
            }
            Err(e) => {
                tracing::error!(error = %e, "could not claim due feeds");
                0
            }
        }
    }

    /// Waits for a poll to finish and frees its slot; `None` when nothing runs.
    pub(super) async fn finished(&mut self, poller: &Arc<Poller>) -> Option<PollReport> {
        let (host, report) = match self.tasks.join_next().await? {
            Ok(done) => done,
            Err(e) => {
                // A poll task ends in error only if it panicked: its feed's lease expires and it is
                // retried. Host counts are rebuilt from nothing rather than guessed.
                tracing::error!(error = %e, "a poll task failed");
                self.running.clear();
                return None;
            }
        };
        if let Some(n) = self.running.get_mut(&host) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.running.remove(&host);
            }
        }
        let hosts: Vec<String> = self.waiting.keys().cloned().collect();
        for h in hosts {
            self.start(poller, &h);
        }
        Some(report)
    }
}
