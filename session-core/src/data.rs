//! What may be kept in a session.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Session data: any plain Rust type that serde can encode, that has a
/// default (the value of a fresh session) and that can be shared between
/// threads. Implemented for every such type; there is nothing to derive.
///
/// ```
/// #[derive(Default, Clone, serde::Serialize, serde::Deserialize)]
/// struct UserSession {
///     user_id: Option<u64>,
///     login_attempts: u32,
/// }
///
/// fn assert_session_data<T: session_core::SessionData>() {}
/// assert_session_data::<UserSession>();
/// ```
pub trait SessionData:
    Serialize + DeserializeOwned + Default + Clone + Send + Sync + 'static
{
}

impl<T> SessionData for T where
    T: Serialize + DeserializeOwned + Default + Clone + Send + Sync + 'static
{
}
