//! The GraphQL API: schema, the read API, limits and error codes. Transport lives in `http.rs`.

mod classification;
mod digest;
mod error;
mod federation;
mod ids;
mod limits;
mod loaders;
mod mutation;
mod query;
mod scalars;
mod subscription;
mod types;
mod validate;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Context, Schema};

use crate::access::{self, Scope};
use crate::config::{ApiSettings, PollSettings};
use crate::model::Viewer;
use crate::poller::fetch::Fetcher;
use crate::store::Store;

pub use error::assign_code;
pub use ids::encode_id as global_id;

/// The API's cursor of the change with `sequence` (for `changes(after:)` and subscriptions).
pub fn encode_change_cursor(sequence: i64) -> String {
    ids::encode_cursor("changes", &sequence.to_string())
}

/// The sequence a change-log cursor stands for; BAD_USER_INPUT naming `argument` when it is not
/// one.
fn decode_change_cursor(cursor: &str, argument: &str) -> async_graphql::Result<i64> {
    ids::decode_cursor("changes", cursor)
        .and_then(|raw| raw.parse::<i64>().ok())
        .ok_or_else(|| error::bad_input(format!("`{argument}` is not a cursor of the change log")))
}
pub use mutation::Mutation;
pub use query::Query;
pub use subscription::{Session, Subscription};

/// The schema type.
pub type TributarySchema = Schema<Query, Mutation, Subscription>;

/// What every resolver can reach: the store, who is asking, what they may see, and the loaders.
pub struct Request {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Who is asking.
    pub viewer: Viewer,
    /// What they may see.
    pub scope: Scope,
    /// Per-request DataLoaders.
    pub loaders: loaders::Loaders,
}

impl Request {
    /// The context of one request by `viewer`.
    pub fn new(store: Arc<dyn Store>, viewer: Viewer) -> Request {
        let scope = access::scope(&viewer);
        let loaders = loaders::Loaders::new(&store, &scope);
        Request { store, viewer, scope, loaders }
    }
}

impl Request {
    /// The context of a WebSocket connection by `viewer`. It lives as long as the connection, so
    /// its loaders batch but do not cache: a subscription's later events see fresh feeds and
    /// organisations, and nothing accumulates.
    pub fn for_connection(store: Arc<dyn Store>, viewer: Viewer) -> Request {
        let request = Request::new(store, viewer);
        let l = &request.loaders;
        l.orgs.enable_all_cache(false);
        l.feeds.enable_all_cache(false);
        l.items.enable_all_cache(false);
        l.memberships.enable_all_cache(false);
        l.networks.enable_all_cache(false);
        request
    }
}

/// The type of the operation a request selects, when it parses and names one.
pub fn operation_type(request: &async_graphql::Request) -> Option<async_graphql::parser::types::OperationType> {
    use async_graphql::parser::types::DocumentOperations;
    let doc = async_graphql::parser::parse_query(&request.query).ok()?;
    match &doc.operations {
        DocumentOperations::Single(op) => Some(op.node.ty),
        DocumentOperations::Multiple(ops) => match &request.operation_name {
            Some(name) => ops.get(name.as_str()).map(|op| op.node.ty),
            None if ops.len() == 1 => ops.values().next().map(|op| op.node.ty),
            None => None,
        },
    }
}

/// The request context of a resolver. Every request is built by [`execute`], which puts it there.
fn request<'a>(ctx: &Context<'a>) -> &'a Request {
    ctx.data_unchecked::<Request>()
}

/// This hub among hubs that follow each other (`Query.hub`).
#[derive(Debug, Clone, async_graphql::SimpleObject)]
pub struct HubIdentity {
    /// Its id: other hubs record it in the provenance of what they read from it.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// Wakes this hub's poller when a feed was registered, moved or resumed, so its first poll starts
/// now rather than at the poller's next look at the schedule (up to 30 s later).
#[derive(Clone)]
pub struct PollWaker(pub Arc<tokio::sync::Notify>);

impl PollWaker {
    /// A feed is due now.
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Wakes the poller, when the schema has one.
fn wake_poller(ctx: &async_graphql::Context<'_>) {
    if let Some(waker) = ctx.data_opt::<PollWaker>() {
        waker.wake();
    }
}

/// Builds the schema with the configured depth and complexity limits; mutations read the poll
/// settings (intervals), the SSRF guard (registered URLs), the fetcher (`validateFeed`) and the
/// poller's waker from its data, subscriptions the change fan-out, `hub` this hub's identity.
pub fn build_schema(
    api: &ApiSettings,
    poll: &PollSettings,
    fetcher: Fetcher,
    changes: Arc<crate::events::ChangeFeed>,
    hub: HubIdentity,
    waker: PollWaker,
) -> TributarySchema {
    Schema::build(Query::default(), Mutation::default(), Subscription)
        .enable_federation()
        .data(hub)
        .data(waker)
        .data(poll.clone())
        .data(changes)
        .data(fetcher.guard())
        .data(fetcher)
        .limit_depth(api.max_depth)
        .limit_complexity(api.max_complexity)
        .extension(limits::AliasLimit(api.max_aliases))
        .finish()
}

/// The SDL the server serves (what `tributary schema` prints and `schema.graphql` holds).
pub fn sdl() -> String {
    Schema::build(Query::default(), Mutation::default(), Subscription).enable_federation().finish().sdl()
}

/// The subgraph SDL for Apollo Federation v2 (what `tributary schema --federation` prints and
/// `_service { sdl }` answers): entities with their `@key`s, without the subscription root.
pub fn federation_sdl() -> String {
    Schema::build(Query::default(), Mutation::default(), Subscription)
        .enable_federation()
        .finish()
        .sdl_with_options(async_graphql::SDLExportOptions::new().federation().compose_directive())
}

/// Executes a request as `viewer`, with a timeout, and gives every error a code.
pub async fn execute(
    schema: &TributarySchema,
    store: Arc<dyn Store>,
    viewer: Viewer,
    request: async_graphql::Request,
    timeout: Duration,
) -> async_graphql::Response {
    let request = request.data(Request::new(store, viewer));
    let mut response = match tokio::time::timeout(timeout, schema.execute(request)).await {
        Ok(response) => response,
        Err(_) => {
            let mut e = async_graphql::ServerError::new(
                format!("the query took longer than {} s and was stopped", timeout.as_secs()),
                None,
            );
            e.extensions.get_or_insert_with(Default::default).set("code", "TIMEOUT");
            async_graphql::Response::from_errors(vec![e])
        }
    };
    for e in &mut response.errors {
        assign_code(e);
    }
    response
}
