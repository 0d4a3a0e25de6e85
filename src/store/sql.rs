//! SQL both backends write the same way: the visibility rule of a scope and `IN` lists, built
//! with bound values.

use sqlx::{Database, Encode, QueryBuilder, Type};

use crate::access::Scope;

/// Every holder of a feed or webhook lease (for [`super::Store::free_dead_leases`]).
pub(super) const LEASE_OWNERS: &str = "SELECT lease_owner FROM feeds WHERE lease_owner IS NOT NULL \
     UNION SELECT lease_owner FROM webhooks WHERE lease_owner IS NOT NULL";

/// Appends the scope's visibility rule (see [`crate::access`]) for the feeds or items at `alias`,
/// a table that has `visibility` and `organisation`.
pub(super) fn push_scope<'a, DB: Database>(qb: &mut QueryBuilder<'a, DB>, scope: &Scope, alias: &str)
where
    String: 'a + Encode<'a, DB> + Type<DB>,
{
    // Owners that belong to one of `networks`.
    let members_of = |qb: &mut QueryBuilder<'a, DB>, networks: &[String]| {
        qb.push(format!(" OR ({alias}.visibility = 'NETWORK' AND {alias}.organisation IN (SELECT organisation FROM memberships WHERE network IN ("));
        let mut list = qb.separated(", ");
        for n in networks {
            list.push_bind(n.clone());
        }
        qb.push(")))");
    };
    match scope {
        Scope::System => {}
        Scope::PublicOnly => {
            qb.push(format!(" AND {alias}.visibility = 'PUBLIC'"));
        }
        Scope::Member { organisation, networks } => {
            qb.push(format!(" AND ({alias}.visibility = 'PUBLIC' OR {alias}.organisation = "));
            qb.push_bind(organisation.0.clone());
            if !networks.is_empty() {
                members_of(qb, networks);
            }
            qb.push(")");
        }
        Scope::Reader { networks: None } => {
            qb.push(format!(" AND {alias}.visibility IN ('PUBLIC', 'NETWORK')"));
        }
        Scope::Reader { networks: Some(networks) } => {
            qb.push(format!(" AND ({alias}.visibility = 'PUBLIC'"));
            if !networks.is_empty() {
                members_of(qb, networks);
            }
            qb.push(")");
        }
    }
}

/// Appends `AND column IN (values)`; nothing when `values` is empty.
pub(super) fn push_in<'a, DB: Database, T>(
    qb: &mut QueryBuilder<'a, DB>,
    column: &str,
    values: impl IntoIterator<Item = T>,
) where
    T: 'a + Encode<'a, DB> + Type<DB> + Send,
{
    let values: Vec<T> = values.into_iter().collect();
    if values.is_empty() {
        return;
    }
    qb.push(format!(" AND {column} IN ("));
    let mut list = qb.separated(", ");
    for v in values {
        list.push_bind(v);
    }
    list.push_unseparated(")");
}
