//! `tributary copy --from sqlite:… --to postgres://…`: moves a whole hub — networks, societies,
//! memberships, feeds, items, the change log with its sequences, tokens, webhooks and their
//! deliveries, the audit log — from a SQLite file to a PostgreSQL database, so a network that
//! started small keeps its history when it moves up.
//!
//! Each table is copied in key order, a batch per transaction, so a copy cut short leaves a
//! prefix of each table; run again, it goes on after the last key copied. At the end the
//! counters move past everything copied (the change sequence continues, never reused) and every
//! table is counted on both sides.

use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{PgPool, Postgres, QueryBuilder, Row, SqlitePool};

use super::postgres::{PgOptions, PgStore};
use super::{Store, StoreError, StoreResult};

/// Rows per batch (and per transaction).
const BATCH: i64 = 1000;

/// How a column is read from SQLite and bound for PostgreSQL.
#[derive(Clone, Copy)]
enum Kind {
    Int,
    Text,
    Bool,
}

/// A value on its way.
enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Bool(bool),
}

/// A table and the columns copied, in the order they are read and written.
struct Table {
    name: &'static str,
    /// The integer key copying resumes after; `None` for the small tables keyed by text, copied
    /// whole each time (rows already there are kept).
    key: Option<&'static str>,
    /// The text key (or keys) of a table without an integer key, for telling rows apart.
    text_key: &'static str,
    columns: &'static [(&'static str, Kind)],
}

use Kind::{Bool, Int, Text};

/// Every table, parents before children.
const TABLES: [Table; 10] = [
    Table {
        name: "organisations",
        key: None,
        text_key: "id",
        columns: &[
            ("id", Text),
            ("kind", Text),
            ("name_en", Text),
            ("name_local", Text),
            ("local_language", Text),
            ("region", Text),
            ("source", Text),
        ],
    },
    Table {
        name: "networks",
        key: None,
        text_key: "slug",
        columns: &[
            ("slug", Text),
            ("short_name", Text),
            ("name_en", Text),
            ("region", Text),
            ("founded", Text),
            ("description", Text),
            ("source", Text),
        ],
    },
    Table {
        name: "memberships",
        key: None,
        text_key: "network || ' ' || organisation",
        columns: &[("network", Text), ("organisation", Text), ("role", Text), ("source", Text)],
    },
    Table {
        name: "feeds",
        key: Some("id"),
        text_key: "",
        columns: &[
            ("id", Int),
            ("organisation", Text),
            ("url", Text),
            ("host", Text),
            ("kind", Text),
            ("mapping", Text),
            ("title", Text),
            ("default_category", Text),
            ("default_language", Text),
            ("default_countries", Text),
            ("visibility", Text),
            ("poll_interval_secs", Int),
            ("state", Text),
            ("last_error", Text),
            ("error_count", Int),
            ("next_check_at", Int),
            ("last_success_at", Int),
            ("etag", Text),
            ("last_modified", Text),
            ("body_hash", Text),
            ("warnings", Text),
            ("created_at", Int),
            ("resume_hash", Text),
            ("resume_items", Int),
            ("deleted_at", Int),
        ],
    },
    Table {
        name: "items",
        key: Some("rowid"),
        text_key: "",
        columns: &[
            ("rowid", Int),
            ("id", Text),
            ("feed", Int),
            ("organisation", Text),
            ("visibility", Text),
            ("source_key", Text),
            ("title", Text),
            ("summary", Text),
            ("url", Text),
            ("language", Text),
            ("direction", Text),
            ("published_at", Int),
            ("updated_at", Int),
            ("sort_published", Int),
            ("sort_updated", Int),
            ("category", Text),
            ("categories", Text),
            ("classification_source", Text),
            ("terms", Text),
            ("countries", Text),
            ("route", Text),
            ("figures", Text),
            ("version", Int),
            ("content_hash", Text),
            ("first_seen_at", Int),
            ("withdrawn_at", Int),
            ("manual_category", Text),
            ("manual_categories", Text),
            ("url_key", Text),
            ("text_key", Text),
            ("duplicate_of", Int),
            ("provenance", Text),
            ("source_visibility", Text),
        ],
    },
    Table {
        name: "changes",
        key: Some("sequence"),
        text_key: "",
        columns: &[("sequence", Int), ("item", Int), ("kind", Text), ("at", Int), ("backfill", Bool), ("version", Int)],
    },
    Table {
        name: "tokens",
        key: Some("id"),
        text_key: "",
        columns: &[
            ("id", Int),
            ("name", Text),
            ("hash", Text),
            ("prefix", Text),
            ("role", Text),
            ("organisation", Text),
            ("networks", Text),
            ("created_at", Int),
            ("revoked_at", Int),
        ],
    },
    Table {
        name: "audit_log",
        key: Some("id"),
        text_key: "",
        columns: &[("id", Int), ("at", Int), ("actor", Text), ("action", Text), ("subject", Text), ("detail", Text)],
    },
    Table {
        name: "webhooks",
        key: Some("id"),
        text_key: "",
        columns: &[
            ("id", Int),
            ("organisation", Text),
            ("token", Int),
            ("url", Text),
            ("filter", Text),
            ("secret", Text),
            ("state", Text),
            ("disabled_reason", Text),
            ("delivered_through", Int),
            ("attempts", Int),
            ("failing_since", Int),
            ("next_attempt_at", Int),
            ("last_attempt_at", Int),
            ("last_status", Int),
            ("last_error", Text),
            ("last_success_at", Int),
            ("created_at", Int),
        ],
    },
    Table {
        name: "webhook_deliveries",
        key: Some("id"),
        text_key: "",
        columns: &[
            ("id", Int),
            ("webhook", Int),
            ("message_id", Text),
            ("sequence", Int),
            ("at", Int),
            ("status", Int),
            ("error", Text),
            ("duration_ms", Int),
        ],
    },
];

/// The integer keys PostgreSQL hands out itself, moved past what was copied.
const IDENTITIES: [(&str, &str); 7] = [
    ("networks", "rowid"),
    ("feeds", "id"),
    ("items", "rowid"),
    ("tokens", "id"),
    ("audit_log", "id"),
    ("webhooks", "id"),
    ("webhook_deliveries", "id"),
];

/// What a copy did, per table: rows copied by this run, and rows on each side at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    pub tables: Vec<TableReport>,
    /// The change sequence the target continues after.
    pub change_sequence: i64,
}

/// One table's part of a [`CopyReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    pub table: &'static str,
    pub copied: u64,
    pub source: i64,
    pub target: i64,
}

/// Copies the hub at `from` (a `sqlite:` URL) into the PostgreSQL database at `to`, migrating
/// it first. `progress` receives a line now and then. Fails, after copying, when a table's rows
/// do not all arrive.
pub async fn copy(
    from: &str,
    to: &str,
    options: &PgOptions,
    mut progress: impl FnMut(&str),
) -> StoreResult<CopyReport> {
    if !from.starts_with("sqlite:") {
        return Err(StoreError::Invalid(format!("copy reads from a SQLite hub (`sqlite:PATH`), not `{from}`")));
    }
    if !(to.starts_with("postgres:") || to.starts_with("postgresql:")) {
        return Err(StoreError::Invalid("copy writes to a PostgreSQL database (`postgres://…`)".into()));
    }
    let source = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(SqliteConnectOptions::from_str(from)?.read_only(true).create_if_missing(false))
        .await?;
    let target = PgStore::connect_with(to, options).await?;
    let applied = target.migrate().await?;
    if applied > 0 {
        progress(&format!("{applied} migration(s) applied to the target"));
    }
    let pool = target.pool().clone();
    refuse_another_hub(&source, &pool).await?;

    let mut tables = Vec::new();
    for table in &TABLES {
        let copied = copy_table(&source, &pool, table, &mut progress).await?;
        tables.push(TableReport { table: table.name, copied, source: 0, target: 0 });
    }
    let change_sequence = carry_counters(&source, &pool).await?;

    let mut missing = Vec::new();
    for report in &mut tables {
        let table = TABLES.iter().find(|t| t.name == report.table).expect("a known table");
        report.source = sqlx::query_scalar(&format!("SELECT count(*) FROM {}", table.name)).fetch_one(&source).await?;
        report.target = match table.key {
            Some(_) => sqlx::query_scalar(&format!("SELECT count(*) FROM {}", table.name)).fetch_one(&pool).await?,
            // A table keyed by text may hold rows of the target's own seed besides: count the
            // source's rows that arrived.
            None => {
                let keys: Vec<String> = sqlx::query_scalar(&format!("SELECT {} FROM {}", table.text_key, table.name))
                    .fetch_all(&source)
                    .await?;
                sqlx::query_scalar(&format!("SELECT count(*) FROM {} WHERE {} = ANY($1)", table.name, table.text_key))
                    .bind(&keys)
                    .fetch_one(&pool)
                    .await?
            }
        };
        if report.source != report.target {
            missing.push(format!("{}: {} in the source, {} arrived", report.table, report.source, report.target));
        }
    }
    source.close().await;
    if !missing.is_empty() {
        return Err(StoreError::Invalid(format!(
            "the copy is incomplete ({}); was the source hub still writing? Stop it and run the copy again",
            missing.join("; ")
        )));
    }
    Ok(CopyReport { tables, change_sequence })
}

/// Refuses a target that holds feeds the source does not have at the same ids: another hub's data.
async fn refuse_another_hub(source: &SqlitePool, target: &PgPool) -> StoreResult<()> {
    let theirs: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT id, organisation, url FROM feeds ORDER BY id").fetch_all(target).await?;
    if theirs.is_empty() {
        return Ok(());
    }
    let ours: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT id, organisation, url FROM feeds ORDER BY id").fetch_all(source).await?;
    if let Some((id, _, url)) = theirs.iter().find(|f| !ours.contains(f)) {
        return Err(StoreError::Invalid(format!(
            "the target already holds another hub's data (feed {id}, {url}, is not the source's); copy into an empty database"
        )));
    }
    Ok(())
}

/// Copies the rows of `table` not yet in the target; returns how many.
async fn copy_table(
    source: &SqlitePool,
    target: &PgPool,
    table: &Table,
    progress: &mut impl FnMut(&str),
) -> StoreResult<u64> {
    let names: Vec<&str> = table.columns.iter().map(|(name, _)| *name).collect();
    let columns = names.join(", ");
    let total: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {}", table.name)).fetch_one(source).await?;
    let mut after = match table.key {
        Some(key) => {
            let done: Option<i64> =
                sqlx::query_scalar(&format!("SELECT max({key}) FROM {}", table.name)).fetch_one(target).await?;
            done.unwrap_or(i64::MIN)
        }
        None => i64::MIN,
    };
    let mut copied = 0u64;
    let mut reported = std::time::Instant::now();
    loop {
        let rows = match table.key {
            Some(key) => {
                sqlx::query(&format!("SELECT {columns} FROM {} WHERE {key} > ? ORDER BY {key} LIMIT ?", table.name))
                    .bind(after)
                    .bind(BATCH)
                    .fetch_all(source)
                    .await?
            }
            None if after == i64::MIN => {
                let order = if table.name == "networks" { "rowid" } else { table.text_key };
                sqlx::query(&format!("SELECT {columns} FROM {} ORDER BY {order}", table.name)).fetch_all(source).await?
            }
            None => Vec::new(),
        };
        if rows.is_empty() {
            break;
        }
        let values: Vec<Vec<Value>> = rows
            .iter()
            .map(|row| {
                table
                    .columns
                    .iter()
                    .map(|(name, kind)| {
                        Ok(match kind {
                            Int => Value::Int(row.try_get(*name)?),
                            Text => Value::Text(row.try_get(*name)?),
                            Bool => Value::Bool(row.try_get(*name)?),
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()
            })
            .collect::<Result<_, _>>()?;
        let mut qb = QueryBuilder::<Postgres>::new(format!("INSERT INTO {} ({columns}", table.name));
        if table.name == "items" {
            qb.push(", search, facets");
        }
        qb.push(") ");
        qb.push_values(&values, |mut row, values| {
            for value in values {
                match value {
                    Value::Int(v) => row.push_bind(*v),
                    Value::Text(v) => row.push_bind(v.clone()),
                    Value::Bool(v) => row.push_bind(*v),
                };
            }
            if table.name == "items" {
                let (search, facets) = item_search(&names, values);
                row.push("to_tsvector('tributary', ").push_bind_unseparated(search).push_unseparated(")");
                row.push_bind(facets);
            }
        });
        qb.push(" ON CONFLICT DO NOTHING");
        let mut tx = target.begin().await?;
        let inserted = qb.build().execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        copied += inserted;
        match (table.key, values.last().and_then(|v| v.first())) {
            (Some(_), Some(Value::Int(Some(last)))) => after = *last,
            _ => after = i64::MAX,
        }
        if reported.elapsed().as_secs() >= 2 {
            progress(&format!("{}: {copied} rows copied of {total}", table.name));
            reported = std::time::Instant::now();
        }
    }
    progress(&format!("{}: {copied} rows copied ({total} in the source)", table.name));
    Ok(copied)
}

/// The search text and facet tokens of an item row, as the store writes them at ingestion.
fn item_search(names: &[&str], values: &[Value]) -> (String, Vec<String>) {
    let text = |name: &str| match names.iter().position(|n| *n == name).map(|i| &values[i]) {
        Some(Value::Text(Some(t))) => t.as_str(),
        _ => "",
    };
    let search =
        format!("{} {}", connectors::text::normalise(text("title")), connectors::text::normalise(text("summary")));
    let search = super::postgres::items::within_search_limit(&search).to_string();
    let mut facets: Vec<String> =
        text("categories").split_whitespace().map(|c| format!("c_{}", c.to_ascii_lowercase())).collect();
    let countries: Vec<super::rows::StoredCountry> = serde_json::from_str(text("countries")).unwrap_or_default();
    facets.extend(countries.iter().map(|c| format!("k_{}", c.code.to_ascii_lowercase())));
    (search, facets)
}

/// Moves the target's counters past what was copied: identity keys, the change sequence (after
/// the highest ever handed out on the source, pruned ones included), the pruning horizon, the
/// seed version; and bumps the data version so caches start afresh. Returns the change sequence.
async fn carry_counters(source: &SqlitePool, target: &PgPool) -> StoreResult<i64> {
    let meta = |key: &'static str| async move {
        let v: Option<i64> =
            sqlx::query_scalar("SELECT value FROM meta WHERE key = ?").bind(key).fetch_optional(source).await?;
        Ok::<i64, sqlx::Error>(v.unwrap_or(0))
    };
    let handed_out: Option<i64> =
        sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetch_optional(source).await?;
    let highest: Option<i64> = sqlx::query_scalar("SELECT max(sequence) FROM changes").fetch_one(source).await?;
    let pruned = meta("changes_pruned_through").await?;
    let sequence = handed_out.unwrap_or(0).max(highest.unwrap_or(0)).max(pruned);
    let seed_version = meta("seed_version").await?;
    let data_version = meta("data_version").await?;

    let mut tx = target.begin().await?;
    for (table, column) in IDENTITIES {
        sqlx::query(&format!(
            "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), \
             GREATEST((SELECT max({column}) FROM {table}), 1))"
        ))
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("UPDATE meta SET value = GREATEST(value, $1) WHERE key = 'change_sequence'")
        .bind(sequence)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE meta SET value = GREATEST(value, $1) WHERE key = 'changes_pruned_through'")
        .bind(pruned)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE meta SET value = GREATEST(value, $1) WHERE key = 'seed_version'")
        .bind(seed_version)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE meta SET value = GREATEST(value, $1) + 1 WHERE key = 'data_version'")
        .bind(data_version)
        .execute(&mut *tx)
        .await?;
    // The hub keeps its id (made from this number when not configured): hubs that follow it know
    // it by that id.
    let hub_number: Option<i64> =
        sqlx::query_scalar("SELECT value FROM meta WHERE key = 'hub_number'").fetch_optional(source).await?;
    if let Some(n) = hub_number {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ('hub_number', $1) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        )
        .bind(n)
        .execute(&mut *tx)
        .await?;
    }
    let sequence: i64 =
        sqlx::query_scalar("SELECT value FROM meta WHERE key = 'change_sequence'").fetch_one(&mut *tx).await?;
    tx.commit().await?;
    Ok(sequence)
}
