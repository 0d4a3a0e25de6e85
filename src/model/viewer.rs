//! Who is asking, and the API tokens that say so. Every read goes through [`crate::access`] with a
//! viewer.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::{named_enum, OrgId};

named_enum! {
    /// What a token may do.
    TokenRole {
        /// Everything.
        Admin => "ADMIN",
        /// Bound to one organisation: manages its feeds, reads NETWORK items of its networks and
        /// its own SOCIETY items.
        Member => "MEMBER",
        /// Read-only: PUBLIC items, and NETWORK items of its networks (all networks when it names
        /// none); for analysts and dashboards.
        Reader => "READER",
    }
}

/// A token's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenId(pub i64);

impl std::fmt::Display for TokenId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// An API token as stored: never the secret, only its hash and first characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub id: TokenId,
    /// What it is for, in its owner's words ("dashboard of the Americas group").
    pub name: String,
    pub role: TokenRole,
    /// The organisation a MEMBER token acts for.
    pub organisation: Option<OrgId>,
    /// The networks a READER token is limited to (none: every network).
    pub networks: Vec<String>,
    /// The secret's first characters, so an owner can tell tokens apart.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What is needed to create a token.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub role: TokenRole,
    pub organisation: Option<OrgId>,
    pub networks: Vec<String>,
}

impl NewToken {
    /// Checks that the role and the binding go together.
    pub fn check(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("a token needs a name saying what it is for".into());
        }
        match (self.role, &self.organisation, self.networks.is_empty()) {
            (TokenRole::Member, None, _) => Err("a MEMBER token acts for one organisation: name it".into()),
            (TokenRole::Member, Some(_), false) => {
                Err("a MEMBER token reads the networks of its organisation; networks are for READER tokens".into())
            }
            (TokenRole::Admin | TokenRole::Reader, Some(_), _) => {
                Err(format!("only MEMBER tokens act for an organisation, not {} tokens", self.role.as_str()))
            }
            (TokenRole::Admin, None, false) => Err("an ADMIN token sees everything; it takes no networks".into()),
            _ => Ok(()),
        }
    }
}

/// The prefix of every token's secret, so a leaked one is recognisable (secret scanners, logs).
pub const TOKEN_PREFIX: &str = "trb_";

/// A new secret: the prefix and 32 random bytes in hex. Shown once, stored only as its hash.
pub fn new_secret() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| format!("no randomness for a token: {e}"))?;
    Ok(format!("{TOKEN_PREFIX}{}", connectors::text::hex(&bytes)))
}

/// The hash a secret is stored and looked up by.
pub fn secret_hash(secret: &str) -> String {
    connectors::text::hex(&Sha256::digest(secret.trim().as_bytes()))
}

/// The identity behind a request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Viewer {
    /// No token: PUBLIC items only.
    #[default]
    Anonymous,
    /// A valid token, with the networks its organisation belongs to (MEMBER tokens) looked up
    /// when the request arrived.
    Token {
        token: Token,
        /// For a MEMBER token: the networks of its organisation.
        organisation_networks: Vec<String>,
    },
}
