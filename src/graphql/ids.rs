//! Opaque global ids (`Node`) and connection cursors: base64url over a typed prefix, so clients
//! cannot depend on their insides and a cursor of one connection is refused by another.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Encodes a global id of an object of GraphQL type `kind`.
pub fn encode_id(kind: &str, raw: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{raw}"))
}

/// Decodes a global id into its type and raw id.
pub fn decode_id(id: &str) -> Option<(String, String)> {
    let bytes = URL_SAFE_NO_PAD.decode(id.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (kind, raw) = text.split_once(':')?;
    Some((kind.to_string(), raw.to_string()))
}

/// Decodes a global id that must be of type `kind`.
pub fn decode_id_of(kind: &str, id: &str) -> Option<String> {
    decode_id(id).filter(|(k, _)| k == kind).map(|(_, raw)| raw)
}

/// Encodes a store cursor for connection `connection`.
pub fn encode_cursor(connection: &str, raw: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{connection}|{raw}"))
}

/// Decodes a cursor of connection `connection`.
pub fn decode_cursor(connection: &str, cursor: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (kind, raw) = text.split_once('|')?;
    (kind == connection).then(|| raw.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_cursors_round_trip_and_keep_their_type() {
        let id = encode_id("Item", "abc");
        assert_eq!(decode_id_of("Item", &id).as_deref(), Some("abc"));
        assert_eq!(decode_id_of("Feed", &id), None);
        let cursor = encode_cursor("items", "pd:1:abc");
        assert_eq!(decode_cursor("items", &cursor).as_deref(), Some("pd:1:abc"));
        assert_eq!(decode_cursor("changes", &cursor), None);
        assert_eq!(decode_cursor("items", "not base64!"), None);
    }
}
