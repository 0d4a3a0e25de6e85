//! Identifiers. Items are identified by a hash of their feed and their source identity, so the
//! same entry always gets the same id, however often it is fetched.

use sha2::{Digest, Sha256};

/// An organisation's id: its code (`FR` for the French Red Cross, `IFRC`, `ICRC`, `unhcr`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrgId(pub String);

/// A feed's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FeedId(pub i64);

/// An item's id: 32 hex characters of SHA-256 over the feed id and the entry's source identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemId(pub String);

impl ItemId {
    /// The id of the entry with `source_key` in feed `feed`.
    pub fn derive(feed: FeedId, source_key: &str) -> ItemId {
        let mut h = Sha256::new();
        h.update(feed.0.to_string().as_bytes());
        h.update([0u8]);
        h.update(source_key.as_bytes());
        ItemId(connectors::text::hex(&h.finalize()[..16]))
    }
}

impl std::fmt::Display for OrgId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(&self.0)
    }
}

impl std::fmt::Display for FeedId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl std::fmt::Display for ItemId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_ids_are_stable_and_feed_scoped() {
        let a = ItemId::derive(FeedId(1), "guid:x");
        assert_eq!(a, ItemId::derive(FeedId(1), "guid:x"));
        assert_ne!(a, ItemId::derive(FeedId(2), "guid:x"));
        assert_eq!(a.0.len(), 32);
    }
}
