//! The one visibility filter. Every path that returns a feed or an item turns its viewer into a
//! [`Scope`] here and hands it to the store, which applies it in the query; paths that hold an item
//! already (events, later) ask [`can_see`]. Adding roles later changes this file, not the resolvers.

use crate::model::{OrgId, Viewer, Visibility};

/// What a viewer may read, in a form the store applies to its queries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// PUBLIC feeds and items only.
    PublicOnly,
    /// Everything: for the hub's own jobs (the poller, the operator's CLI), never for a request.
    System,
}

/// The scope of `viewer`.
pub fn scope(viewer: &Viewer) -> Scope {
    match viewer {
        Viewer::Anonymous => Scope::PublicOnly,
    }
}

/// Whether `viewer` may see something with `visibility` owned by `owner`.
pub fn can_see(viewer: &Viewer, visibility: Visibility, _owner: &OrgId) -> bool {
    match scope(viewer) {
        Scope::PublicOnly => visibility == Visibility::Public,
        Scope::System => true,
    }
}

impl Scope {
    /// The visibilities this scope admits regardless of owner.
    pub fn open_visibilities(&self) -> &'static [Visibility] {
        match self {
            Scope::PublicOnly => &[Visibility::Public],
            Scope::System => &[Visibility::Public, Visibility::Network, Visibility::Society],
        }
    }

    /// A stable key for caches: two viewers with the same key see the same data.
    pub fn cache_key(&self) -> &'static str {
        match self {
            Scope::PublicOnly => "public",
            Scope::System => "system",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_viewers_see_public_only() {
        let owner = OrgId("FR".into());
        assert!(can_see(&Viewer::Anonymous, Visibility::Public, &owner));
        assert!(!can_see(&Viewer::Anonymous, Visibility::Network, &owner));
        assert!(!can_see(&Viewer::Anonymous, Visibility::Society, &owner));
    }
}
