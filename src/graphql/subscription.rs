//! Subscriptions: `changes`, following the change log live over WebSocket (`/graphql/ws`).

use std::sync::Arc;

use async_graphql::{Context, Subscription as SubscriptionObject};
use futures_util::{Stream, StreamExt};

use super::error::{coded, cursor_expired, store as store_err};
use super::ids::encode_cursor;
use super::query::ChangeFilter;
use super::request;
use super::types::Change;
use crate::events::{self, ChangeFeed, FollowError, Follower};

/// What a WebSocket connection learnt when it was opened: the hash of its token's secret, so a
/// long-lived subscription checks the token again and stops when it is revoked.
pub struct Session {
    /// SHA-256 of the token secret sent in `connection_init`.
    pub secret_hash: String,
    /// How often to check it.
    pub recheck: std::time::Duration,
}

/// The root subscription type.
pub struct Subscription;

#[SubscriptionObject]
impl Subscription {
    /// Changes as they are committed: with `after`, first every matching change after that
    /// cursor from the change log, then live ones, each once and in order. Backfill (a feed's
    /// first import) only with `includeBackfill`. A cursor older than the change log's horizon
    /// gets CURSOR_EXPIRED with `extensions.oldestCursor`. Only what the viewer may see is sent.
    async fn changes(
        &self,
        ctx: &Context<'_>,
        filter: Option<ChangeFilter>,
        after: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Change>>> {
        let r = request(ctx);
        let after = after.map(|cursor| super::decode_change_cursor(&cursor, "after")).transpose()?;
        let feed = Arc::clone(ctx.data::<Arc<ChangeFeed>>()?);
        let follower = Follower {
            scope: r.scope.clone(),
            secret_hash: ctx.data_opt::<Session>().map(|s| s.secret_hash.clone()),
            recheck: ctx.data_opt::<Session>().map(|s| s.recheck).unwrap_or_default(),
            filter: filter.unwrap_or_default().into_store()?,
            after,
        };
        Ok(events::follow(feed, follower).map(|event| match event {
            Ok(event) => {
                let cursor = encode_cursor("changes", &event.change.sequence.to_string());
                Ok(Change::with_item(event.change, cursor, event.item))
            }
            Err(FollowError::Expired { oldest }) => Err(cursor_expired(oldest)),
            Err(FollowError::Revoked) => Err(coded("UNAUTHENTICATED", "the token was revoked")),
            Err(FollowError::ShuttingDown) => {
                Err(coded("INTERNAL", "the hub is shutting down; resume from your last cursor"))
            }
            Err(FollowError::Store(e)) => Err(store_err(e)),
        }))
    }
}
