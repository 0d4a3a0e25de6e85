//! Change fan-out. One task follows the committed change log as it grows (woken by every write of
//! this process, and within a second by writes of others) and broadcasts each new stretch, with
//! its items, to the subscribers of this process. Each subscriber keeps the sequence it has
//! considered every change up to, and checks each change against its viewer's scope
//! ([`Scope::admits`]) and its filter.
//!
//! The log is the source of truth, the broadcast only a shortcut: a subscriber that starts from a
//! cursor replays the log from the store, and one that finds a stretch missing (it subscribed
//! mid-stretch, or backfill was not broadcast) reads that stretch from the store too. So there is
//! no gap and no duplicate at the seam between replay and live changes. The broadcast holds a
//! bounded number of stretches; a subscriber that falls further behind reads what it missed from
//! the store. (A client that stops reading its socket is cut off by `crate::websocket`.)

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::access::Scope;
use crate::model::{Change, Item, OrgId};
use crate::store::{ChangeFilter, PageRequest, Store, StoreError};

/// Changes read from the log at a time, and so the most one broadcast stretch holds.
const STRETCH: usize = 256;

/// Changes a subscriber reads from the store at a time while it replays.
const REPLAY_PAGE: usize = 100;

/// One change with what subscribers need to decide who gets it.
#[derive(Debug, Clone)]
pub struct Event {
    /// The change.
    pub change: Change,
    /// The item as it was when the change was broadcast.
    pub item: Arc<Item>,
    /// The networks the item's owner belongs to (for scopes and network filters).
    pub owner_networks: Arc<[String]>,
}

/// A stretch of the log: every change with a sequence in `(after, through]` that the stretch
/// covers (all of them, or all but backfill).
#[derive(Debug)]
pub struct Stretch {
    /// The sequence the stretch starts after.
    pub after: i64,
    /// The sequence it runs through.
    pub through: i64,
    /// Whether backfill changes are in it.
    pub with_backfill: bool,
    /// The changes, in sequence order.
    pub events: Vec<Event>,
}

/// The change fan-out of one process.
pub struct ChangeFeed {
    store: Arc<dyn Store>,
    /// The sequence broadcast through: a subscriber without a cursor starts here.
    position: AtomicI64,
    sender: broadcast::Sender<Arc<Stretch>>,
    /// Subscribers that asked for backfill: while there are none, backfill changes (a whole
    /// first import) are not read or broadcast.
    backfill_wanted: AtomicUsize,
}

impl ChangeFeed {
    /// A fan-out over `store`, starting at the log's head, holding at most `capacity`
    /// stretches for subscribers behind.
    pub async fn new(store: Arc<dyn Store>, capacity: usize) -> Result<Arc<ChangeFeed>, StoreError> {
        let head = store.change_head().await?;
        Ok(Arc::new(ChangeFeed {
            store,
            position: AtomicI64::new(head),
            sender: broadcast::channel(capacity.max(1)).0,
            backfill_wanted: AtomicUsize::new(0),
        }))
    }

    /// Subscribers in this process.
    pub fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }

    /// Follows the change log until `stop` completes.
    pub async fn run(self: Arc<Self>, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let mut versions = self.store.watch_data_version();
        let mut position = self.position.load(Ordering::SeqCst);
        loop {
            match self.publish_from(position).await {
                Ok(p) => position = p,
                Err(e) => tracing::warn!(error = %e, "the change fan-out could not read the change log; retrying"),
            }
            tokio::select! {
                _ = &mut stop => return,
                changed = versions.changed() => if changed.is_err() { return },
                // A failed read is retried even when nothing is written meanwhile.
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
    }

    /// Broadcasts everything committed after `position`; returns the new position.
    async fn publish_from(&self, mut position: i64) -> Result<i64, StoreError> {
        loop {
            let with_backfill = self.backfill_wanted.load(Ordering::SeqCst) > 0;
            let page = self.store.change_log(position, STRETCH, with_backfill).await?;
            if page.through <= position {
                return Ok(position);
            }
            // With nobody listening there is nothing to load; a subscriber that arrives later
            // reads what it missed from the store.
            if self.sender.receiver_count() > 0 {
                let events = events(self.store.as_ref(), &Scope::System, page.changes).await?;
                let stretch = Stretch { after: position, through: page.through, with_backfill, events };
                let _ = self.sender.send(Arc::new(stretch));
            }
            position = page.through;
            self.position.store(position, Ordering::SeqCst);
        }
    }
}

/// The changes with their items (those `scope` may see) and their owners' networks.
async fn events(store: &dyn Store, scope: &Scope, changes: Vec<Change>) -> Result<Vec<Event>, StoreError> {
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    let mut ids: Vec<_> = changes.iter().map(|c| c.item.clone()).collect();
    ids.sort();
    ids.dedup();
    let items: HashMap<_, _> =
        store.items_by_ids(scope, &ids).await?.into_iter().map(|i| (i.id.clone(), Arc::new(i))).collect();
    let mut networks: HashMap<OrgId, Vec<String>> = HashMap::new();
    for m in store.memberships(None).await? {
        networks.entry(m.organisation).or_default().push(m.network);
    }
    let networks: HashMap<OrgId, Arc<[String]>> = networks.into_iter().map(|(o, n)| (o, n.into())).collect();
    let none: Arc<[String]> = Arc::new([]);
    Ok(changes
        .into_iter()
        .filter_map(|change| {
            let item = Arc::clone(items.get(&change.item)?);
            let owner_networks = networks.get(&item.organisation).cloned().unwrap_or_else(|| Arc::clone(&none));
            Some(Event { change, item, owner_networks })
        })
        .collect())
}

/// Whether `event` passes `filter` (the in-memory twin of the store's change filter, which the
/// tests hold it to).
pub fn matches(filter: &ChangeFilter, event: &Event) -> bool {
    let (change, item) = (&event.change, &event.item);
    (filter.include_backfill || !change.backfill)
        && (filter.include_duplicates || item.duplicate_of.is_none())
        && filter.since.is_none_or(|since| change.at >= since)
        && (filter.kinds.is_empty() || filter.kinds.contains(&change.kind))
        && (filter.networks.is_empty() || event.owner_networks.iter().any(|n| filter.networks.contains(n)))
        && (filter.societies.is_empty() || filter.societies.iter().any(|c| c.as_str() == item.organisation.0))
        && (filter.countries.is_empty() || item.countries.iter().any(|m| filter.countries.contains(&m.code)))
        && (filter.categories.is_empty() || item.categories.iter().any(|c| filter.categories.contains(c)))
        && (filter.languages.is_empty()
            || item.language.as_deref().is_some_and(|l| language_matches(&filter.languages, l)))
}

/// Whether the tag `language` is one of `wanted` or a variant of one (`fr-CA` of `fr`), as the
/// store's language filter reads it.
fn language_matches(wanted: &[String], language: &str) -> bool {
    wanted.iter().any(|w| language == w || language.strip_prefix(w.as_str()).is_some_and(|rest| rest.starts_with('-')))
}

/// Why a subscription stopped.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// The cursor is older than the change log's horizon.
    #[error("cursor expired")]
    Expired {
        /// The oldest sequence to resume after.
        oldest: i64,
    },
    /// The server is shutting down.
    #[error("the hub is shutting down")]
    ShuttingDown,
    /// The subscriber's token was revoked.
    #[error("token revoked")]
    Revoked,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who follows the log, and how they are re-checked.
pub struct Follower {
    /// What the viewer may see (refreshed with the token).
    pub scope: Scope,
    /// The hash of the viewer's token secret, to check it again every `recheck` (revoked tokens
    /// end the stream).
    pub secret_hash: Option<String>,
    /// How often the token is checked again.
    pub recheck: Duration,
    /// The filter.
    pub filter: ChangeFilter,
    /// Resume after this sequence (replaying from the store first); live changes only when `None`.
    pub after: Option<i64>,
}

/// Counts a backfill subscriber while it lives.
struct BackfillWanted(Arc<ChangeFeed>);

impl Drop for BackfillWanted {
    fn drop(&mut self) {
        self.0.backfill_wanted.fetch_sub(1, Ordering::SeqCst);
    }
}

struct FollowState {
    feed: Arc<ChangeFeed>,
    receiver: broadcast::Receiver<Arc<Stretch>>,
    follower: Follower,
    /// Every change up to this sequence has been considered.
    covered: i64,
    /// While set, the changes after `covered` through this sequence are read from the store,
    /// a page at a time as the subscriber takes them.
    replay_to: Option<i64>,
    pending: VecDeque<Event>,
    started: bool,
    checked_at: tokio::time::Instant,
    done: bool,
    _backfill: Option<BackfillWanted>,
}

/// The changes `follower` may see and asked for: first those after its cursor, from the store,
/// then live ones as they are committed, each once and in sequence order. The stream ends after
/// yielding an error.
///
/// Memory stays bounded whatever the subscriber does: it holds one page or one stretch at a time,
/// and a subscriber that falls behind the broadcast reads what it missed from the store. (A
/// client that stops reading its socket altogether is cut off by the WebSocket handler.)
pub fn follow(feed: Arc<ChangeFeed>, follower: Follower) -> impl Stream<Item = Result<Event, FollowError>> {
    // Subscribing first: whatever is broadcast from now on reaches this receiver, and anything
    // before it is read from the store.
    let receiver = feed.sender.subscribe();
    let backfill = follower.filter.include_backfill.then(|| {
        feed.backfill_wanted.fetch_add(1, Ordering::SeqCst);
        BackfillWanted(Arc::clone(&feed))
    });
    // Live from now: from what has been broadcast, so everything committed after this call
    // arrives (and perhaps a little committed just before it).
    let covered = feed.position.load(Ordering::SeqCst);
    let state = FollowState {
        feed,
        receiver,
        covered,
        replay_to: None,
        follower,
        pending: VecDeque::new(),
        started: false,
        checked_at: tokio::time::Instant::now(),
        done: false,
        _backfill: backfill,
    };
    futures_util::stream::unfold(state, |mut state| async move {
        if state.done {
            return None;
        }
        match state.next().await {
            Ok(event) => Some((Ok(event), state)),
            Err(e) => {
                state.done = true;
                Some((Err(e), state))
            }
        }
    })
}

impl FollowState {
    async fn next(&mut self) -> Result<Event, FollowError> {
        if !self.started {
            self.start().await?;
        }
        loop {
            if let Some(event) = self.pending.pop_front() {
                if self.reauthenticate().await? {
                    let item = &event.item;
                    if !self.follower.scope.admits(item.visibility, &item.organisation, &event.owner_networks) {
                        continue;
                    }
                }
                return Ok(event);
            }
            if let Some(through) = self.replay_to {
                self.replay_page(through).await?;
                continue;
            }
            // A token subscriber waiting for changes still has its token checked on time, so a
            // revoked token's quiet subscription ends too.
            let recheck = self.follower.secret_hash.is_some();
            let recheck_at = self.checked_at + self.follower.recheck.max(std::time::Duration::from_secs(1));
            let received = tokio::select! {
                received = self.receiver.recv() => received,
                _ = tokio::time::sleep_until(recheck_at), if recheck => {
                    self.reauthenticate().await?;
                    continue;
                }
            };
            match received {
                Ok(stretch) => self.take(&stretch),
                // Stretches were dropped before this subscriber took them: the next one it gets
                // starts after what it covered, and what lies between is read from the store.
                Err(RecvError::Lagged(_)) => {}
                // The fan-out stopped: the server is shutting down.
                Err(RecvError::Closed) => return Err(FollowError::ShuttingDown),
            }
        }
    }

    async fn start(&mut self) -> Result<(), FollowError> {
        self.started = true;
        let store = &self.feed.store;
        match self.follower.after {
            None => {}
            Some(after) => {
                let head = store.change_head().await?;
                let horizon = store.change_horizon().await?;
                if after < horizon {
                    return Err(FollowError::Expired { oldest: horizon });
                }
                self.covered = after;
                self.replay_to = Some(head);
            }
        }
        Ok(())
    }

    /// Reads one page of the matching changes after `covered` from the store; once the store
    /// has no more, everything through `through` is covered.
    async fn replay_page(&mut self, through: i64) -> Result<(), FollowError> {
        let store = Arc::clone(&self.feed.store);
        let page = PageRequest { first: REPLAY_PAGE, after: Some(self.covered.to_string()) };
        let result = match store.changes_after(&self.follower.scope, &self.follower.filter, &page).await {
            Err(StoreError::CursorExpired { oldest }) => return Err(FollowError::Expired { oldest }),
            other => other?,
        };
        let changes: Vec<Change> = result.edges.into_iter().map(|(_, c)| c).collect();
        if let Some(last) = changes.last() {
            self.covered = last.sequence;
        }
        self.pending.extend(events(store.as_ref(), &self.follower.scope, changes).await?);
        if !result.has_next_page {
            // Everything committed after `covered` that matches was on this page.
            self.covered = self.covered.max(through);
            self.replay_to = None;
        }
        Ok(())
    }

    /// Takes what a broadcast stretch adds.
    fn take(&mut self, stretch: &Stretch) {
        if stretch.through <= self.covered {
            return;
        }
        if stretch.after > self.covered || (self.follower.filter.include_backfill && !stretch.with_backfill) {
            // Part of the stretch is not here: read it from the log.
            self.replay_to = Some(stretch.through);
            return;
        }
        let scope = &self.follower.scope;
        let filter = &self.follower.filter;
        let covered = self.covered;
        self.pending.extend(
            stretch
                .events
                .iter()
                .filter(|e| e.change.sequence > covered)
                .filter(|e| scope.admits(e.item.visibility, &e.item.organisation, &e.owner_networks))
                .filter(|e| matches(filter, e))
                .cloned(),
        );
        self.covered = stretch.through;
    }

    /// Checks a token subscriber's token again every `recheck`: a revoked token stops the stream,
    /// and a changed membership changes what it sees. Returns whether the scope was refreshed.
    async fn reauthenticate(&mut self) -> Result<bool, FollowError> {
        let Some(hash) = &self.follower.secret_hash else { return Ok(false) };
        if self.checked_at.elapsed() < self.follower.recheck {
            return Ok(false);
        }
        self.checked_at = tokio::time::Instant::now();
        match self.feed.store.authenticate(hash).await? {
            Some(viewer) => {
                self.follower.scope = crate::access::scope(&viewer);
                Ok(true)
            }
            None => Err(FollowError::Revoked),
        }
    }
}
