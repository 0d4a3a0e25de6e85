//! The command line: `serve` (default), `migrate`, `schema`, `poll --once`, `feed add|list`,
//! `network member add|remove|list`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};

use crate::access::Scope;
use crate::app::{open_store, App, Options};
use crate::config::Settings;
use crate::metrics::{Metrics, PollOutcome};
use crate::model::{
    new_secret, secret_hash, Category, CountryCode, FeedKind, FeedUrl, MemberRole, Membership, NewAuditEntry, NewFeed,
    NewToken, OrgId, TokenId, TokenRole, Visibility, OPERATOR, TOKEN_PREFIX,
};
use crate::poller::fetch::Fetcher;
use crate::poller::guard::Guard;
use crate::poller::Poller;
use crate::store::{FeedFilter, PageRequest, Store, StoreError};

/// Tributary: a GraphQL hub for the migration networks of Red Cross and Red Crescent societies.
#[derive(Parser, Debug)]
#[command(name = "tributary", version, about)]
pub struct Cli {
    /// TOML settings file.
    #[arg(long, global = true, env = "TRIBUTARY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database URL (default `sqlite:tributary.db`); overrides TRIBUTARY_DATABASE_URL.
    #[arg(long, global = true)]
    pub database: Option<String>,
    /// Address to listen on (default 127.0.0.1:8080); overrides TRIBUTARY_LISTEN.
    #[arg(long, global = true)]
    pub listen: Option<std::net::SocketAddr>,
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve GraphQL and poll feeds (the default).
    Serve {
        /// Also serve bundled sample feeds from the hub itself and register them.
        #[arg(long)]
        demo: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL).
    Schema {
        /// Print the Apollo Federation v2 subgraph SDL instead (entities with their keys).
        #[arg(long)]
        federation: bool,
    },
    /// Poll feeds without serving.
    Poll {
        /// Poll every due feed once, print a summary, exit non-zero if any failed.
        #[arg(long)]
        once: bool,
    },
    /// Manage feeds.
    #[command(subcommand)]
    Feed(FeedCommand),
    /// Manage networks.
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Apply the classification and route rules as they are now to every stored item, writing
    /// an UPDATED change for each item whose result changed.
    Reclassify,
    /// Copy a whole hub from a SQLite file into a PostgreSQL database (migrated first): every
    /// network, society, feed, item, change, token and webhook. Run it with the hub stopped; a
    /// copy cut short goes on where it stopped when run again, and every table is counted on
    /// both sides at the end.
    Copy {
        /// The hub to copy: `sqlite:PATH`.
        #[arg(long)]
        from: String,
        /// The database to copy it into: `postgres://USER@HOST/DATABASE`.
        #[arg(long)]
        to: String,
    },
}

/// Token commands.
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token and print its secret, once.
    Create {
        /// What it is for ("focal point of the French Red Cross").
        #[arg(long)]
        name: String,
        /// ADMIN (everything), MEMBER (acts for one organisation) or READER (reads).
        #[arg(long)]
        role: String,
        /// For a MEMBER token: the National Society it acts for (alpha-2 or alpha-3).
        #[arg(long, conflicts_with = "organisation")]
        society: Option<String>,
        /// For a MEMBER token: the organisation it acts for, when not a society (`IFRC`, `IOM`).
        #[arg(long)]
        organisation: Option<String>,
        /// For a READER token: the networks whose NETWORK items it reads (default: all).
        #[arg(long, value_delimiter = ',')]
        networks: Vec<String>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by its id.
    Revoke {
        /// The token's id, as `token list` shows it.
        id: i64,
    },
}

/// Feed commands.
#[derive(Subcommand, Debug)]
pub enum FeedCommand {
    /// Register a feed for a National Society (or another organisation).
    Add(Box<FeedAdd>),
    /// List registered feeds with their state.
    List,
}

/// `feed add`.
#[derive(Args, Debug)]
pub struct FeedAdd {
    /// The feed's URL (RSS, Atom or JSON Feed; a CSV file; the first page of a JSON API).
    pub url: String,
    /// What it publishes: `rss` (RSS, Atom or JSON Feed), `csv`, `json-api`, or `hub` (another
    /// Tributary hub's GraphQL endpoint, followed). By default the mapping's or preset's format
    /// says; without either, `rss` (give `--kind csv` for an HXL file, which needs no mapping).
    #[arg(long)]
    pub kind: Option<String>,
    /// For a CSV or JSON API feed: a file holding the mapping (TOML) that says how rows or records
    /// become items. An HXL-tagged CSV file needs none.
    #[arg(long, conflicts_with = "preset")]
    pub mapping: Option<std::path::PathBuf>,
    /// A ready mapping by name: `hxl`, `missing-migrants`, `iom-dtm`, `unhcr-population`,
    /// `reliefweb-reports`, `ifrc-go-appeals`.
    #[arg(long)]
    pub preset: Option<String>,
    /// The owning National Society's country code (alpha-2 or alpha-3).
    #[arg(long, conflicts_with = "organisation")]
    pub society: Option<String>,
    /// The owning organisation's code (`IFRC`, `ICRC`, ...), for owners that are not societies.
    #[arg(long)]
    pub organisation: Option<String>,
    /// Category for items nothing else classifies (e.g. ROUTE_CHANGE).
    #[arg(long)]
    pub category: Option<String>,
    /// Language assumed when the feed declares none (BCP 47, e.g. `fr`).
    #[arg(long)]
    pub language: Option<String>,
    /// Countries every item concerns (alpha-2 or alpha-3, comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub countries: Vec<String>,
    /// Who may see it: PUBLIC (default), NETWORK or SOCIETY.
    #[arg(long, default_value = "PUBLIC")]
    pub visibility: String,
    /// Seconds between polls.
    #[arg(long)]
    pub interval: Option<i64>,
}

/// Network commands.
#[derive(Subcommand, Debug)]
pub enum NetworkCommand {
    /// Manage members.
    #[command(subcommand)]
    Member(MemberCommand),
}

/// Membership commands.
#[derive(Subcommand, Debug)]
pub enum MemberCommand {
    /// Add an organisation to a network (or change its role).
    Add {
        /// Network slug (perco, apmn, americas, central-asia).
        network: String,
        /// Organisation code (a society's country code, IFRC, ICRC).
        organisation: String,
        /// MEMBER, OBSERVER or COORDINATOR.
        #[arg(long, default_value = "MEMBER")]
        role: String,
        /// Where this membership is established (a URL or who decided it).
        #[arg(long)]
        source: Option<String>,
    },
    /// Remove an organisation from a network.
    Remove {
        /// Network slug.
        network: String,
        /// Organisation code.
        organisation: String,
    },
    /// List a network's members with their sources.
    List {
        /// Network slug.
        network: String,
    },
}

impl Cli {
    /// Settings from file and environment, with this command line's overrides.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let mut settings = Settings::load(self.config.as_deref())?;
        if let Some(db) = &self.database {
            settings.database_url = db.clone();
        }
        if let Some(listen) = self.listen {
            settings.listen = listen;
        }
        Ok(settings)
    }
}

/// Resolves when the process is asked to stop (SIGINT or SIGTERM).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

/// `tributary copy`: copies, printing a line per table, then the counts on both sides.
async fn copy(settings: &Settings, from: &str, to: &str) -> anyhow::Result<()> {
    let report =
        crate::store::copy(from, to, &settings.database.pg_options(), |line| eprintln!("{line}")).await.with_context(
            || format!("could not copy {} to {}", crate::config::redact_url(from), crate::config::redact_url(to)),
        )?;
    println!("{:<20} {:>10} {:>10} {:>10}", "table", "copied", "source", "target");
    for t in &report.tables {
        println!("{:<20} {:>10} {:>10} {:>10}", t.table, t.copied, t.source, t.target);
    }
    println!("every row arrived; the change log continues after sequence {}", report.change_sequence);
    Ok(())
}

/// Runs a parsed command line; returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    let settings = cli.settings()?;
    match cli.command.unwrap_or(Command::Serve { demo: false }) {
        Command::Serve { demo } => {
            let app = App::build(settings, Options { demo }).await?;
            if demo {
                tracing::info!(
                    "demo mode: sample feeds at http://{}/demo/feeds/, a new entry every 30 s",
                    app.address()
                );
            }
            app.run_until_stopped(shutdown_signal()).await?;
        }
        Command::Migrate => {
            let store = crate::store::connect(&settings.database_url, &settings.database.pg_options()).await?;
            let applied = store.migrate().await?;
            println!("{applied} migration(s) applied; the database is up to date");
        }
        Command::Schema { federation: false } => print!("{}", crate::graphql::sdl()),
        Command::Schema { federation: true } => print!("{}", crate::graphql::federation_sdl()),
        Command::Poll { once } => {
            if !once {
                bail!("`poll` runs once (`poll --once`); `serve` polls continuously");
            }
            return poll_once(&settings).await;
        }
        Command::Feed(FeedCommand::Add(add)) => feed_add(&settings, *add).await?,
        Command::Feed(FeedCommand::List) => feed_list(&settings).await?,
        Command::Token(cmd) => token(&settings, cmd).await?,
        Command::Network(NetworkCommand::Member(cmd)) => member(&settings, cmd).await?,
        Command::Reclassify => reclassify(&settings).await?,
        Command::Copy { from, to } => copy(&settings, &from, &to).await?,
    }
    Ok(0)
}

async fn reclassify(settings: &Settings) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let report = crate::reclassify::run(store.as_ref(), |report, total| {
        eprintln!("reclassify: {} of {total} items read, {} changed", report.items, report.changed);
    })
    .await?;
    println!(
        "{} items read, {} reclassified (each with an UPDATED change), {} kept as their source or a person classified them",
        report.items, report.changed, report.kept
    );
    let detail = format!("{} of {} items changed", report.changed, report.items);
    audit(store.as_ref(), "reclassify", "items".into(), detail).await;
    Ok(())
}

async fn poll_once(settings: &Settings) -> anyhow::Result<i32> {
    let store = open_store(settings).await?;
    let guard = Guard::new(&settings.fetch.allow).map_err(anyhow::Error::msg)?;
    let fetcher = Fetcher::new(&settings.fetch, guard)?;
    let hub = crate::app::hub_identity(settings, store.as_ref()).await?;
    let poller =
        Arc::new(Poller::new(Arc::clone(&store), fetcher, settings.poll.clone(), Arc::new(Metrics::default()), hub.id));
    let reports = poller.poll_due_once().await?;
    println!(
        "{:>5}  {:<8}  {:<12}  {:>7}  {:>7}  {:>9}  url / reason",
        "feed", "owner", "outcome", "created", "updated", "withdrawn"
    );
    let mut failed = 0;
    for r in &reports {
        let detail = r.error.clone().unwrap_or_else(|| r.feed.url.as_str().to_string());
        println!(
            "{:>5}  {:<8}  {:<12}  {:>7}  {:>7}  {:>9}  {}",
            r.feed.id,
            r.feed.organisation,
            r.outcome.as_str(),
            r.ingest.created,
            r.ingest.updated,
            r.ingest.withdrawn,
            detail
        );
        if r.outcome == PollOutcome::Failed {
            failed += 1;
        }
    }
    println!("{} feed(s) polled, {} failed", reports.len(), failed);
    Ok(if failed > 0 { 1 } else { 0 })
}

async fn feed_add(settings: &Settings, add: FeedAdd) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let organisation = match (&add.society, &add.organisation) {
        (Some(code), _) => OrgId(CountryCode::parse(code).map_err(anyhow::Error::msg)?.to_string()),
        (None, Some(org)) => OrgId(org.clone()),
        (None, None) => bail!("say whose feed it is: --society CODE or --organisation CODE"),
    };
    let mapping = match &add.mapping {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read the mapping {}", path.display()))?;
            connectors::mapping::Mapping::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            Some(text)
        }
        None => None,
    };
    let kind = add
        .kind
        .as_deref()
        .map(|k| k.to_ascii_uppercase().replace('-', "_").parse::<FeedKind>().map_err(anyhow::Error::msg))
        .transpose()?;
    let (kind, mapping) =
        NewFeed::kind_and_mapping(kind, mapping, add.preset.as_deref()).map_err(anyhow::Error::msg)?;
    let feed = NewFeed {
        organisation,
        url: FeedUrl::parse(&add.url).map_err(anyhow::Error::msg)?,
        kind,
        mapping,
        default_category: add
            .category
            .as_deref()
            .map(|c| c.to_ascii_uppercase().parse::<Category>())
            .transpose()
            .map_err(anyhow::Error::msg)?,
        default_language: match add.language.as_deref() {
            Some(l) => {
                Some(connectors::lang::canonical_tag(l).with_context(|| format!("`{l}` is not a language tag"))?)
            }
            None => None,
        },
        default_countries: add
            .countries
            .iter()
            .map(|c| CountryCode::parse(c).map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<_>>()?,
        visibility: add.visibility.to_ascii_uppercase().parse::<Visibility>().map_err(anyhow::Error::msg)?,
        poll_interval_secs: add.interval.unwrap_or(settings.poll.default_interval_secs),
    };
    feed.check().map_err(anyhow::Error::msg)?;
    match store.add_feed(&feed).await {
        Ok(f) => {
            let detail = format!("{} {} for {} ({})", f.kind, f.url.as_str(), f.organisation, f.visibility);
            audit(store.as_ref(), "registerFeed", format!("feed {}", f.id), detail).await;
            println!(
                "feed {} registered for {}: {} (polled every {} s)",
                f.id,
                f.organisation,
                f.url.as_str(),
                f.poll_interval_secs
            )
        }
        Err(StoreError::Conflict(m)) => bail!("{m}"),
        Err(StoreError::Invalid(m)) => bail!("{m} (societies are keyed by country code, e.g. --society FR)"),
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

async fn feed_list(settings: &Settings) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let mut after = None;
    println!("{:>5}  {:<8}  {:<8}  {:<8}  {:<7}  url / last error", "feed", "owner", "kind", "state", "visible");
    loop {
        let page = store.feeds_page(&Scope::System, &FeedFilter::default(), &PageRequest { first: 100, after }).await?;
        for (_, f) in &page.edges {
            let detail = f
                .last_error
                .clone()
                .map(|e| format!("{} — {e}", f.url.as_str()))
                .unwrap_or_else(|| f.url.as_str().into());
            println!(
                "{:>5}  {:<8}  {:<8}  {:<8}  {:<7}  {}",
                f.id, f.organisation, f.kind, f.state, f.visibility, detail
            );
        }
        if !page.has_next_page {
            break;
        }
        after = page.edges.last().map(|(c, _)| c.clone());
    }
    Ok(())
}

/// Records an operator's change in the audit log; a failure is reported, the change stays made.
async fn audit(store: &dyn Store, action: &str, subject: String, detail: String) {
    let entry = NewAuditEntry { actor: OPERATOR.into(), action: action.into(), subject, detail };
    if let Err(e) = store.record_audit(&entry).await {
        eprintln!("warning: could not record the change in the audit log: {e}");
    }
}

async fn token(settings: &Settings, cmd: TokenCommand) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    match cmd {
        TokenCommand::Create { name, role, society, organisation, networks } => {
            let organisation = match (society, organisation) {
                (Some(code), _) => Some(OrgId(CountryCode::parse(&code).map_err(anyhow::Error::msg)?.to_string())),
                (None, Some(org)) => Some(OrgId(org)),
                (None, None) => None,
            };
            let token = NewToken {
                name,
                role: role
                    .to_ascii_uppercase()
                    .parse::<TokenRole>()
                    .map_err(|_| anyhow::anyhow!("`{role}` is not a role (ADMIN, MEMBER or READER)"))?,
                organisation,
                networks: networks.iter().map(|n| n.trim().to_ascii_lowercase()).filter(|n| !n.is_empty()).collect(),
            };
            token.check().map_err(anyhow::Error::msg)?;
            let secret = new_secret().map_err(anyhow::Error::msg)?;
            let prefix: String = secret.chars().take(TOKEN_PREFIX.len() + 6).collect();
            let created = match store.create_token(&token, &secret_hash(&secret), &prefix).await {
                Ok(t) => t,
                Err(StoreError::Invalid(m)) => bail!("{m}"),
                Err(e) => return Err(e.into()),
            };
            audit(
                store.as_ref(),
                "createToken",
                format!("token {}", created.id),
                format!("{}: {}", created.role, created.name),
            )
            .await;
            println!("token {} created ({} {}); its secret, shown only now:", created.id, created.role, created.name);
            println!("{secret}");
        }
        TokenCommand::List => {
            println!("{:>5}  {:<7}  {:<8}  {:<11}  {:<10}  name", "token", "role", "owner", "starts", "state");
            for t in store.tokens().await? {
                let owner = t.organisation.map(|o| o.0).unwrap_or_else(|| t.networks.join(","));
                let state = if t.revoked_at.is_some() { "revoked" } else { "live" };
                println!("{:>5}  {:<7}  {:<8}  {:<11}  {:<10}  {}", t.id, t.role, owner, t.prefix, state, t.name);
            }
        }
        TokenCommand::Revoke { id } => match store.revoke_token(TokenId(id)).await {
            Ok(t) => {
                audit(store.as_ref(), "revokeToken", format!("token {}", t.id), t.name.clone()).await;
                println!("token {} ({}) revoked", t.id, t.name)
            }
            Err(StoreError::NotFound) => bail!("no token {id}"),
            Err(e) => return Err(e.into()),
        },
    }
    Ok(())
}

async fn member(settings: &Settings, cmd: MemberCommand) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    match cmd {
        MemberCommand::Add { network, organisation, role, source } => {
            let role: MemberRole = role.to_ascii_uppercase().parse().map_err(anyhow::Error::msg)?;
            let membership = Membership {
                network: network.clone(),
                organisation: OrgId(organisation.to_ascii_uppercase()),
                role,
                source: Some(source.unwrap_or_else(|| "set by an operator (tributary network member add)".into())),
            };
            match store.set_membership(&membership).await {
                Ok(()) => {
                    let subject = format!("organisation {}", membership.organisation);
                    audit(store.as_ref(), "setMembership", subject, format!("{} in {network}", role.as_str())).await;
                    println!("{} is now {} of {network}", membership.organisation, role)
                }
                Err(StoreError::NotFound) => bail!("no network `{network}` or no organisation `{organisation}`"),
                Err(e) => return Err(e.into()),
            }
        }
        MemberCommand::Remove { network, organisation } => {
            match store.remove_membership(&network, &OrgId(organisation.to_ascii_uppercase())).await {
                Ok(()) => {
                    let subject = format!("organisation {}", organisation.to_ascii_uppercase());
                    audit(store.as_ref(), "removeMembership", subject, format!("from {network}")).await;
                    println!("{organisation} removed from {network}")
                }
                Err(StoreError::NotFound) => bail!("{organisation} is not a member of {network}"),
                Err(e) => return Err(e.into()),
            }
        }
        MemberCommand::List { network } => {
            for m in store.memberships(Some(&network)).await? {
                println!("{:<6}  {:<11}  {}", m.organisation, m.role, m.source.unwrap_or_default());
            }
        }
    }
    Ok(())
}
