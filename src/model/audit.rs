//! The audit log: who registered, changed, paused or deleted what, and which tokens were created
//! and revoked.

use chrono::{DateTime, Utc};

use super::{Token, Viewer};

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// Who: `token 3 (French focal point)`, or `operator (command line)`.
    pub actor: String,
    /// What: `registerFeed`, `pauseFeed`, `createToken`, …
    pub action: String,
    /// On what: `feed 12`, `token 4`.
    pub subject: String,
    /// Anything more (the URL registered, the token's role).
    pub detail: String,
}

/// An entry to record.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub detail: String,
}

/// The actor's name of a viewer in the audit log.
pub fn actor_name(viewer: &Viewer) -> String {
    match viewer {
        Viewer::Anonymous => "anonymous".into(),
        Viewer::Token { token: Token { id, name, .. }, .. } => format!("token {id} ({name})"),
    }
}

/// The actor's name of the command line.
pub const OPERATOR: &str = "operator (command line)";
