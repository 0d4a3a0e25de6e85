//! Building the application from settings, and running the HTTP server, the poller and (in demo
//! mode) the sample-feed generator side by side until shutdown.

use std::future::{Future, IntoFuture};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Settings;
use crate::demo::{Demo, DEMO_POLL_SECS};
use crate::graphql;
use crate::http::{self, AppState};
use crate::metrics::Metrics;
use crate::poller::fetch::Fetcher;
use crate::poller::guard::Guard;
use crate::poller::Poller;
use crate::seed::Seed;
use crate::store::{self, Store};

/// Options that are not settings: how this process was started.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Serve and register the bundled sample feeds.
    pub demo: bool,
}

/// A built application: a bound listener, a migrated and seeded store, a poller.
pub struct App {
    listener: TcpListener,
    state: AppState,
    poller: Arc<Poller>,
    webhooks: Arc<crate::webhooks::Deliverer>,
}

/// Opens the store a URL names, applies migrations and seeds it.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    let store = store::connect(&settings.database_url, &settings.database.pg_options()).await?;
    let applied = store.migrate().await.context("applying database migrations")?;
    if applied > 0 {
        tracing::info!(applied, "database migrations applied");
    }
    let report = store.seed(&Seed::bundled()?).await.context("seeding networks and societies")?;
    match store.free_dead_leases().await {
        Ok(0) => {}
        Ok(freed) => tracing::info!(freed, "took back the leases of hub processes that stopped without releasing them"),
        Err(e) => tracing::warn!(error = %e, "could not look for the leases of stopped hub processes; they run out"),
    }
    if report.applied {
        tracing::info!(
            organisations = report.organisations,
            networks = report.networks,
            memberships = report.memberships,
            "seeded networks, societies and memberships"
        );
    }
    Ok(store)
}

/// The address the hub's own feeds are fetched at: loopback when listening on all interfaces.
fn self_address(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), addr.port()),
        _ => addr,
    }
}

/// Prunes the change log of changes older than `retention_days`, at start and then hourly.
async fn prune_change_log(store: Arc<dyn Store>, retention_days: u32, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = every.tick() => {
                let before = chrono::Utc::now() - chrono::Duration::days(i64::from(retention_days));
                match store.prune_changes(before).await {
                    Ok(0) => {}
                    Ok(pruned) => tracing::info!(pruned, retention_days, "pruned the change log"),
                    Err(e) => tracing::warn!(error = %e, "could not prune the change log"),
                }
            }
        }
    }
}

impl App {
    /// Builds the application: store, listener (bound now, so port 0 gets its real port), poller.
    pub async fn build(mut settings: Settings, options: Options) -> anyhow::Result<App> {
        let store = open_store(&settings).await?;
        let listener =
            TcpListener::bind(settings.listen).await.with_context(|| format!("listening on {}", settings.listen))?;
        let address = self_address(listener.local_addr()?);
        let mut guard = Guard::new(&settings.fetch.allow).map_err(anyhow::Error::msg)?;
        let demo = if options.demo {
            // The demo fetches its own sample feeds: exactly this address is allowlisted.
            guard.allow(address);
            settings.poll.min_interval_secs = settings.poll.min_interval_secs.min(DEMO_POLL_SECS);
            let demo = Arc::new(Demo::new()?);
            let base = match address {
                SocketAddr::V4(a) => format!("http://{a}"),
                SocketAddr::V6(a) => format!("http://[{}]:{}", a.ip(), a.port()),
            };
            demo.register(store.as_ref(), &base).await.context("registering the sample feeds")?;
            Some(demo)
        } else {
            None
        };
        let metrics = Arc::new(Metrics::default());
        let fetcher = Fetcher::new(&settings.fetch, guard)?;
        let for_api = fetcher.clone();
        let webhooks =
            Arc::new(crate::webhooks::Deliverer::new(Arc::clone(&store), fetcher.clone(), settings.webhooks.clone()));
        let hub = hub_identity(&settings, store.as_ref()).await?;
        let poller = Arc::new(Poller::new(
            Arc::clone(&store),
            fetcher,
            settings.poll.clone(),
            Arc::clone(&metrics),
            hub.id.clone(),
        ));
        let cache = (settings.api.cache_bytes > 0).then(|| {
            moka::future::Cache::builder()
                .weigher(|_key: &[u8; 32], body: &axum::body::Bytes| (32 + body.len()).try_into().unwrap_or(u32::MAX))
                .max_capacity(settings.api.cache_bytes)
                .time_to_idle(std::time::Duration::from_secs(600))
                .build()
        });
        let changes = crate::events::ChangeFeed::new(Arc::clone(&store), settings.subscriptions.buffer_batches)
            .await
            .context("reading the change log")?;
        let state = AppState {
            schema: graphql::build_schema(
                &settings.api,
                &settings.poll,
                for_api,
                Arc::clone(&changes),
                hub,
                graphql::PollWaker(poller.waker()),
            ),
            changes,
            store,
            cache,
            metrics,
            limiter: Arc::new(crate::ratelimit::RateLimiter::new(settings.api.rate_limit_per_minute)),
            address_limiter: Arc::new(crate::ratelimit::RateLimiter::new(
                settings.api.rate_limit_per_minute.saturating_mul(4),
            )),
            settings: Arc::new(settings),
            demo,
        };
        Ok(App { listener, state, poller, webhooks })
    }

    /// The address the server listens on.
    pub fn address(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.state.settings.listen)
    }

    /// The store.
    pub fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.state.store)
    }

    /// The change fan-out.
    pub fn changes(&self) -> Arc<crate::events::ChangeFeed> {
        Arc::clone(&self.state.changes)
    }

    /// The poller.
    pub fn poller(&self) -> Arc<Poller> {
        Arc::clone(&self.poller)
    }

    /// The sample feeds, in demo mode.
    pub fn demo(&self) -> Option<Arc<Demo>> {
        self.state.demo.clone()
    }

    /// Serves until `shutdown` completes (or a part fails), then stops every part gracefully.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopped = move |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let trigger = stop_tx.clone();
        tokio::spawn(async move {
            shutdown.await;
            let _ = trigger.send(true);
        });

        let App { listener, state, poller, webhooks } = self;
        tracing::info!(address = %listener.local_addr()?, "Tributary is serving: GraphQL at /graphql, GraphiQL at /graphiql");
        let poll_enabled = state.settings.poll.enabled;
        let store = Arc::clone(&state.store);
        let demo = state.demo.clone();
        let changes = Arc::clone(&state.changes);
        let retention_days = state.settings.changes.retention_days;
        let deliver_webhooks = state.settings.webhooks.enabled;
        let router = http::router(state);
        let mut server = tokio::spawn(
            axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(stopped(stop_rx.clone()))
                .into_future(),
        );
        let poller_stop = stopped(stop_rx.clone());
        let mut poller = tokio::spawn(async move {
            if poll_enabled {
                poller.run(poller_stop).await
            } else {
                poller_stop.await;
                Ok(())
            }
        });
        if let Some(demo) = demo {
            let demo_stop = stopped(stop_rx.clone());
            tokio::spawn(async move { demo.run(demo_stop).await });
        }
        tokio::spawn(changes.run(stopped(stop_rx.clone())));
        if deliver_webhooks {
            tokio::spawn(webhooks.run(stopped(stop_rx.clone())));
        }
        if retention_days > 0 {
            tokio::spawn(prune_change_log(Arc::clone(&store), retention_days, stopped(stop_rx.clone())));
        }
        // Writes by other processes (the CLI, later other replicas) reach the cache key within a second.
        let version_stop = stopped(stop_rx.clone());
        tokio::spawn(async move {
            tokio::pin!(version_stop);
            let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = &mut version_stop => return,
                    _ = every.tick() => {
                        if let Err(e) = store.refresh_data_version().await {
                            tracing::warn!(error = %e, "could not read the data version");
                        }
                    }
                }
            }
        });

        let first = tokio::select! {
            r = &mut server => ("server", r.map(|r| r.map_err(anyhow::Error::from))),
            r = &mut poller => ("poller", r),
        };
        let _ = stop_tx.send(true);
        let (name, result) = first;
        let result = result.context(format!("the {name} task panicked"))?;
        if let Err(e) = &result {
            tracing::error!(part = name, error = %e, "stopped with an error");
        }
        // Wait for the other part to finish its graceful shutdown.
        if name == "server" {
            let _ = poller.await;
        } else {
            let _ = server.await;
        }
        result
    }
}

/// This hub's id (configured, or made once and kept in the database) and name.
pub async fn hub_identity(settings: &Settings, store: &dyn Store) -> anyhow::Result<crate::graphql::HubIdentity> {
    let id = match &settings.hub.id {
        Some(id) if !id.trim().is_empty() => id.trim().to_string(),
        _ => crate::store::hub_id_from(store.hub_number().await.context("reading the hub's id")?),
    };
    Ok(crate::graphql::HubIdentity { id, name: settings.hub.name.clone() })
}
