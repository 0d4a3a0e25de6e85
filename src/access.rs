//! The one visibility filter. Every path that returns a feed or an item turns its viewer into a
//! [`Scope`] here and hands it to the store, which applies it in the query; paths that hold an item
//! already (events, later) ask [`Scope::admits`]. Roles change this file, not the resolvers.
//!
//! - PUBLIC: everyone.
//! - NETWORK: the owning organisation, organisations sharing a network with it (MEMBER tokens),
//!   READER tokens of one of its networks (or of every network), and admins.
//! - SOCIETY: the owning organisation and admins.

use crate::model::{OrgId, TokenRole, Viewer, Visibility};

/// What a viewer may read, in a form the store applies to its queries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// PUBLIC feeds and items only.
    PublicOnly,
    /// A MEMBER token's organisation: PUBLIC, its own, and NETWORK feeds of organisations in
    /// `networks` (the networks it belongs to).
    Member { organisation: OrgId, networks: Vec<String> },
    /// A READER token: PUBLIC, and NETWORK feeds of organisations in `networks` (every network
    /// when `None`).
    Reader { networks: Option<Vec<String>> },
    /// Everything: admins, and the hub's own jobs (the poller, the operator's CLI).
    System,
}

/// The scope of `viewer`.
pub fn scope(viewer: &Viewer) -> Scope {
    match viewer {
        Viewer::Anonymous => Scope::PublicOnly,
        Viewer::Token { token, organisation_networks } => match token.role {
            TokenRole::Admin => Scope::System,
            TokenRole::Member => match &token.organisation {
                Some(organisation) => {
                    Scope::Member { organisation: organisation.clone(), networks: organisation_networks.clone() }
                }
                // A MEMBER token is always bound (checked when created); were one not, it reads as anonymous.
                None => Scope::PublicOnly,
            },
            TokenRole::Reader => {
                Scope::Reader { networks: (!token.networks.is_empty()).then(|| token.networks.clone()) }
            }
        },
    }
}

impl Scope {
    /// Whether this scope may see something with `visibility` owned by `owner`, a member of
    /// `owner_networks`.
    pub fn admits(&self, visibility: Visibility, owner: &OrgId, owner_networks: &[String]) -> bool {
        let shares = |networks: &[String]| owner_networks.iter().any(|n| networks.contains(n));
        match (self, visibility) {
            (_, Visibility::Public) | (Scope::System, _) => true,
            (Scope::PublicOnly, _) => false,
            (Scope::Member { organisation, .. }, _) if organisation == owner => true,
            (Scope::Member { networks, .. }, Visibility::Network) => shares(networks),
            (Scope::Reader { networks: None }, Visibility::Network) => true,
            (Scope::Reader { networks: Some(networks) }, Visibility::Network) => shares(networks),
            (_, Visibility::Society) => false,
        }
    }

    /// A stable key for caches: two viewers with the same key see the same data.
    pub fn cache_key(&self) -> String {
        match self {
            Scope::PublicOnly => "public".into(),
            Scope::System => "system".into(),
            Scope::Member { organisation, networks } => format!("member:{organisation}:{}", networks.join(",")),
            Scope::Reader { networks: None } => "reader:*".into(),
            Scope::Reader { networks: Some(networks) } => format!("reader:{}", networks.join(",")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn each_scope_sees_what_its_role_allows() {
        let fr = OrgId("FR".into());
        let perco = nets(&["perco"]);
        let anonymous = Scope::PublicOnly;
        let french = Scope::Member { organisation: fr.clone(), networks: perco.clone() };
        let italian = Scope::Member { organisation: OrgId("IT".into()), networks: perco.clone() };
        let mexican = Scope::Member { organisation: OrgId("MX".into()), networks: nets(&["americas"]) };
        let analyst = Scope::Reader { networks: None };
        let americas_dashboard = Scope::Reader { networks: Some(nets(&["americas"])) };
        let cases = [
            (&anonymous, [true, false, false]),
            (&french, [true, true, true]),
            (&italian, [true, true, false]),
            (&mexican, [true, false, false]),
            (&analyst, [true, true, false]),
            (&americas_dashboard, [true, false, false]),
            (&Scope::System, [true, true, true]),
        ];
        for (scope, expected) in cases {
            let seen =
                [Visibility::Public, Visibility::Network, Visibility::Society].map(|v| scope.admits(v, &fr, &perco));
            assert_eq!(seen, expected, "{scope:?}");
        }
    }
}
