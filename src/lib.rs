//! Tributary: a GraphQL hub for the migration networks of Red Cross and Red Crescent National
//! Societies. Societies register the feeds they publish; the poller fetches and normalises them
//! into one model, the store keeps them, and GraphQL serves them.
//!
//! # Layout
//! - [`config`]: settings from file + `TRIBUTARY_*` env; secrets never printed.
//! - [`model`]: domain types and newtypes; no sqlx, axum or GraphQL.
//! - [`access`]: the one visibility filter every read path goes through.
//! - [`store`]: the `Store` trait over domain types and its SQLite backend, with migrations.
//! - [`seed`]: networks, societies and memberships seeded on first start, with their sources.
//! - [`poller`]: the poll loop and its dispatch, guarded fetch (conditional GET, limits, SSRF
//!   guard), overlapped parse-and-store ingestion.
//! - [`events`]: change fan-out: the committed change log broadcast to subscribers, each
//!   filtered for its viewer, with replay from a cursor and no gap at the seam.
//! - [`digest`]: a network's period summarised: counts by category and country, highlights.
//! - [`graphql`]: schema, queries, subscriptions, dataloaders, limits and error codes.
//! - [`http`]: the axum router: `/graphql`, `/graphql/ws`, `/graphiql`, `/healthz`, `/readyz`,
//!   `/metrics`.
//! - [`web`]: the two web pages, the live dashboard (`/`) and feed registration (`/register`),
//!   in five languages, built into the binary.
//! - [`webhooks`]: durable, signed webhook deliveries, the change log being their outbox.
//! - [`websocket`]: GraphQL over WebSocket (`graphql-transport-ws`, legacy `graphql-ws`) with
//!   keep-alive pings, bounded buffers and slow clients cut off.
//! - [`atom`]: `/feeds/changes.atom` and `/feeds/digest.atom` for feed readers.
//! - [`metrics`]: counters and latency histograms in Prometheus text format.
//! - [`demo`]: bundled sample feeds served by the hub itself for `serve --demo`.
//! - [`reclassify`]: the rules as they are now, applied again to stored items.
//! - [`ratelimit`]: per-token request limits on the GraphQL endpoint.
//! - [`app`]: builds the application and runs server and poller side by side.
//! - [`cli`]: the command line.

/// mimalloc instead of the system allocator: normalising an entry makes many small short-lived
/// allocations, and glibc's malloc spent about a sixth of the ingest time on them (see
/// BENCHMARKS.md). On Linux, with the `override` feature, it also serves `malloc` itself, so
/// SQLite's own allocations take the same fast path. `no_thp` keeps transparent huge pages off
/// (where the kernel leaves them to the program, as on this project's machines): with them,
/// each thread's first small allocation made a 2 MiB page resident, and the idle hub grew from
/// 15 to 33 MiB. Declared in the library so the binary, tests and benchmarks all use it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Makes mimalloc give freed memory back to the system after 10 ms instead of its default second
/// (unless `MIMALLOC_PURGE_DELAY` says otherwise). A large import allocates and frees tens of MiB
/// a second; held for a second, that kept a million-row CSV import above 100 MiB resident
/// (BENCHMARKS.md, "CSV memory"). Called first thing by the binary and the benchmarks.
pub fn tune_allocator() {
    extern "C" {
        fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
    }
    /// `mi_option_purge_delay` in mimalloc's `mi_option_t` (mimalloc.h).
    const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one of mimalloc's options; it is read at each purge, any time is fine.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 10) };
    }
}

pub mod access;
pub mod app;
pub mod atom;
pub mod cli;
pub mod config;
pub mod demo;
pub mod digest;
pub mod events;
pub mod graphql;
pub mod http;
pub mod metrics;
pub mod model;
pub mod poller;
pub mod ratelimit;
pub mod reclassify;
pub mod seed;
pub mod store;
pub mod web;
pub mod webhooks;
pub mod websocket;
