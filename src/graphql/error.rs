//! Errors as clients see them: every error carries `extensions.code` from DESIGN.md's list.
//! Internal errors are logged with their detail and shown only as INTERNAL.

use async_graphql::{Error, ErrorExtensions, ServerError};

use crate::store::StoreError;

/// An error with a code.
pub fn coded(code: &'static str, message: impl Into<String>) -> Error {
    Error::new(message).extend_with(|_, e| e.set("code", code))
}

/// BAD_USER_INPUT.
pub fn bad_input(message: impl Into<String>) -> Error {
    coded("BAD_USER_INPUT", message)
}

/// A store error: user-fixable ones keep their message, the rest are logged and hidden.
pub fn store(e: StoreError) -> Error {
    match e {
        StoreError::NotFound => coded("NOT_FOUND", "not found"),
        StoreError::Invalid(m) => bad_input(m),
        StoreError::Conflict(m) => bad_input(m),
        StoreError::CursorExpired { oldest } => cursor_expired(oldest),
        other => {
            tracing::error!(error = %other, "store error while serving a request");
            coded("INTERNAL", "internal error")
        }
    }
}

/// CURSOR_EXPIRED, with the oldest cursor a client can resume from without a gap.
pub fn cursor_expired(oldest: i64) -> Error {
    let cursor = super::ids::encode_cursor("changes", &oldest.to_string());
    Error::new(
        "the change log no longer holds the changes right after this cursor (they are older than the \
         configured horizon); resume from `oldestCursor`, or query items to start over",
    )
    .extend_with(move |_, e| {
        e.set("code", "CURSOR_EXPIRED");
        e.set("oldestCursor", cursor.as_str());
    })
}

/// Gives every error without a code one, by what async-graphql's message says it is.
pub fn assign_code(error: &mut ServerError) {
    let has_code = error.extensions.as_ref().is_some_and(|ext| ext.get("code").is_some());
    if has_code {
        return;
    }
    let m = error.message.as_str();
    let code = if m.contains("nested too deep") {
        "QUERY_TOO_DEEP"
    } else if m.contains("too complex") {
        "QUERY_TOO_COMPLEX"
    } else if error.path.is_empty() || m.starts_with("Failed to parse") || m.starts_with("Invalid value for argument") {
        // Parse and validation errors, and arguments that do not parse: the request is wrong.
        "BAD_USER_INPUT"
    } else {
        "INTERNAL"
    };
    error.extensions.get_or_insert_with(Default::default).set("code", code);
}
