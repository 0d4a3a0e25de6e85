//! Who is asking. Every read goes through [`crate::access`] with a viewer.

/// The identity behind a request. Tokens and roles arrive with feed registration; today every
/// request is anonymous and sees PUBLIC items only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Viewer {
    /// No token: PUBLIC items only.
    #[default]
    Anonymous,
}
