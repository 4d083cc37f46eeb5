//! The typical typed session of the micro benchmarks: a signed-in user with a
//! few roles, a CSRF token, a language and a small cart, about 200 bytes as
//! JSON (see [`typical`]).

use serde::{Deserialize, Serialize};

/// One line of a shopping cart.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct CartItem {
    /// The product.
    pub sku: String,
    /// How many.
    pub quantity: u32,
}

/// A typical application session.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypicalSession {
    /// The signed-in user.
    pub user_id: Option<u64>,
    /// Their name.
    pub username: Option<String>,
    /// What they may do.
    pub roles: Vec<String>,
    /// A per-session CSRF token.
    pub csrf_token: String,
    /// The preferred language.
    pub locale: String,
    /// The cart.
    pub cart: Vec<CartItem>,
    /// Failed sign-ins.
    pub login_attempts: u32,
    /// Unix time of the last sign-in.
    pub last_login: Option<i64>,
}

/// A filled-in [`TypicalSession`]: 217 bytes as JSON, 90 as bincode.
///
/// ```
/// use session_bench::typical::typical;
///
/// let json = serde_json::to_vec(&typical()).unwrap();
/// assert!((180..=230).contains(&json.len()), "{}", json.len());
/// ```
pub fn typical() -> TypicalSession {
    TypicalSession {
        user_id: Some(424_242),
        username: Some("alice".into()),
        roles: vec!["customer".into()],
        csrf_token: "Qm9vdHN0cmFwIENTUkYgdG9rZW4gZm9yIGJlbmNo".into(),
        locale: "en".into(),
        cart: vec![CartItem {
            sku: "TEA-EARL-GREY".into(),
            quantity: 2,
        }],
        login_attempts: 0,
        last_login: Some(1_767_225_600),
    }
}
