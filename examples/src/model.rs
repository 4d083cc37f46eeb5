//! The demo's session data: plain structs, in two versions that run side by
//! side on one store (`DEMO_SESSION_VERSION`).
//!
//! - [`DemoSession`], version 1 (the default).
//! - [`v2::DemoSession`], version 2: adds `preferences: { theme }` (default
//!   `"light"`) and drops `user.mfa_verified`.
//!
//! Both are compatible changes for the default codec (MessagePack with
//! named fields): each version reads the other's sessions, and keeps the
//! fields only the other knows when it rewrites them, so a rolling deploy
//! logs nobody out. What makes it so: the added field has
//! `#[serde(default)]` (version 1's sessions lack it) and so has the field
//! version 2 drops (version 2's new sessions lack it). Neither needs a
//! [`SessionSchema`](session_core::SessionSchema) version.
//!
//! Timestamps are RFC 3339 strings, which every codec keeps and a person
//! reading a JSON-encoded store understands.

use serde::{Deserialize, Serialize};
use session_core::time::OffsetDateTime;
use session_core::Sealed;

/// `Option<OffsetDateTime>` as an optional RFC 3339 string. The `time`
/// crate's own `rfc3339::option` reads through `deserialize_any`, which
/// bincode cannot do; `Option<String>` it can.
pub(crate) mod rfc3339_option {
    use serde::{
        de::Error as _, ser::Error as _, Deserialize, Deserializer, Serialize, Serializer,
    };
    use session_core::time::format_description::well_known::Rfc3339;
    use session_core::time::OffsetDateTime;

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<OffsetDateTime>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        value
            .map(|at| at.format(&Rfc3339))
            .transpose()
            .map_err(S::Error::custom)?
            .serialize(serializer)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| OffsetDateTime::parse(&text, &Rfc3339))
            .transpose()
            .map_err(D::Error::custom)
    }
}

/// After this many failed logins a session is locked: `429`, even with the
/// right password.
pub const MAX_LOGIN_ATTEMPTS: u32 = 5;

/// How many access-log entries a session keeps (the newest): a session must
/// stay small, above all in the cookie store.
pub const ACCESS_LOG_LIMIT: usize = 20;

/// [`Account`] for a user part with the fields `user_id`, `username`,
/// `login_attempts` and `last_login`, written once for both versions;
/// `on login:` lists the fields a login also resets.
macro_rules! account {
    ($user:ident $(, on login: $($field:ident = $value:expr),*)?) => {
        impl $crate::model::Account for $user {
            fn username(&self) -> Option<&str> {
                self.username.as_deref()
            }
            fn last_login(&self) -> Option<::session_core::time::OffsetDateTime> {
                self.last_login
            }
            fn is_locked(&self) -> bool {
                self.login_attempts >= $crate::model::MAX_LOGIN_ATTEMPTS
            }
            fn record_failed_login(&mut self) {
                self.login_attempts = self.login_attempts.saturating_add(1);
            }
            fn log_in(&mut self, user_id: u64, username: &str, now: ::session_core::time::OffsetDateTime) {
                self.user_id = Some(user_id);
                self.username = Some(username.to_owned());
                self.login_attempts = 0;
                self.last_login = Some(now);
                $($(self.$field = $value;)*)?
            }
        }
    };
}
/// [`DemoData`] for a session with the fields `count`, `user` and
/// `compliance` (and `preferences` where the version has them), written
/// once for both versions.
macro_rules! demo_data {
    ($session:ident, version $version:literal, $user:ident $(, $preferences:ident)?) => {
        impl $crate::model::DemoData for $session {
            const VERSION: u8 = $version;
            type User = $user;
            fn count_mut(&mut self) -> &mut u64 {
                &mut self.count
            }
            fn count(&self) -> u64 {
                self.count
            }
            fn user(&self) -> &$user {
                &self.user
            }
            fn user_mut(&mut self) -> &mut $user {
                &mut self.user
            }
            fn compliance(&self) -> &$crate::model::ComplianceSession {
                &self.compliance
            }
            fn compliance_mut(&mut self) -> &mut $crate::model::ComplianceSession {
                &mut self.compliance
            }
            fn preferences(&self) -> Option<&$crate::model::Preferences> {
                None $(.or(Some(&self.$preferences)))?
            }
            fn preferences_mut(&mut self) -> Option<&mut $crate::model::Preferences> {
                None $(.or(Some(&mut self.$preferences)))?
            }
        }
    };
}
/// The demo's whole session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DemoSession {
    /// What `GET /counter` counts.
    pub count: u64,
    /// Who is logged in.
    pub user: UserSession,
    /// Consent, access log and the sealed note.
    pub compliance: ComplianceSession,
}

/// The authentication part of the session.
///
/// ```
/// use examples::model::{Account, UserSession};
///
/// let mut user = UserSession::default();
/// for _ in 0..5 {
///     user.record_failed_login();
/// }
/// assert!(user.is_locked());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserSession {
    /// The user's id, once logged in.
    pub user_id: Option<u64>,
    /// The user's name, once logged in.
    pub username: Option<String>,
    /// Failed logins since the last success.
    pub login_attempts: u32,
    /// When the user last logged in.
    #[serde(with = "rfc3339_option")]
    pub last_login: Option<OffsetDateTime>,
    /// Whether a second factor was checked (the demo has none: always false).
    /// Version 2 drops it, so sessions it creates lack it: hence the default.
    #[serde(default)]
    pub mfa_verified: bool,
}

account!(UserSession, on login: mfa_verified = false);

/// One line of the access log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessLogEntry {
    /// What happened, such as `consent`.
    pub action: String,
    /// The client's IP address as the server saw it.
    pub ip: String,
    /// When.
    #[serde(with = "session_core::time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// The privacy part of the session: consent, an access log, and a note kept
/// sealed so that the store never holds it in clear text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ComplianceSession {
    /// When a compliance-relevant action last used the session.
    #[serde(with = "rfc3339_option")]
    pub last_accessed_at: Option<OffsetDateTime>,
    /// The newest actions, at most [`ACCESS_LOG_LIMIT`].
    pub access_log: Vec<AccessLogEntry>,
    /// The privacy policy version the user agreed to.
    pub privacy_policy_version: Option<String>,
    /// Whether the user agreed to marketing.
    pub marketing_consent: Option<bool>,
    /// When consent was given.
    #[serde(with = "rfc3339_option")]
    pub consent_at: Option<OffsetDateTime>,
    /// A private note, sealed with the configured secret.
    pub secret_note: Option<Sealed<String>>,
}

impl ComplianceSession {
    /// Appends to the access log, dropping the oldest entries past the limit.
    pub fn log_access(&mut self, action: &str, ip: &str, at: OffsetDateTime) {
        self.access_log.push(AccessLogEntry {
            action: action.to_owned(),
            ip: ip.to_owned(),
            at,
        });
        let excess = self.access_log.len().saturating_sub(ACCESS_LOG_LIMIT);
        self.access_log.drain(..excess);
        self.last_accessed_at = Some(at);
    }
}

/// What the routes need of a session type, so that they are written once
/// for both versions.
pub trait DemoData: session_core::SessionData {
    /// The `DEMO_SESSION_VERSION` this type serves.
    const VERSION: u8;
    /// The authentication part.
    type User: Account;
    /// What `GET /counter` counts.
    fn count_mut(&mut self) -> &mut u64;
    /// The counter.
    fn count(&self) -> u64;
    /// Who is logged in.
    fn user(&self) -> &Self::User;
    /// Who is logged in, to change.
    fn user_mut(&mut self) -> &mut Self::User;
    /// Consent, access log and the sealed note.
    fn compliance(&self) -> &ComplianceSession;
    /// Consent, access log and the sealed note, to change.
    fn compliance_mut(&mut self) -> &mut ComplianceSession;
    /// The preferences, in versions that have them.
    fn preferences(&self) -> Option<&Preferences>;
    /// The preferences to change, in versions that have them.
    fn preferences_mut(&mut self) -> Option<&mut Preferences>;
}

/// The authentication part of a session, in either version.
pub trait Account {
    /// The user's name, once logged in.
    fn username(&self) -> Option<&str>;
    /// When the user last logged in.
    fn last_login(&self) -> Option<OffsetDateTime>;
    /// Whether too many logins failed.
    fn is_locked(&self) -> bool;
    /// Counts one failed login.
    fn record_failed_login(&mut self);
    /// Logs a user in: resets the failure count and stamps the time.
    fn log_in(&mut self, user_id: u64, username: &str, now: OffsetDateTime);
}

demo_data!(DemoSession, version 1, UserSession);

/// Display preferences (version 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preferences {
    /// `"light"` (the default) or `"dark"`.
    pub theme: String,
}

impl Default for Preferences {
    fn default() -> Self {
        Preferences {
            theme: "light".into(),
        }
    }
}

/// Version 2 of the session.
pub mod v2 {
    use serde::{Deserialize, Serialize};
    use session_core::time::OffsetDateTime;

    use super::{rfc3339_option, ComplianceSession, Preferences};

    /// Version 2 of the demo's session: version 1 with preferences, without
    /// `user.mfa_verified`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct DemoSession {
        /// What `GET /counter` counts.
        pub count: u64,
        /// Who is logged in.
        pub user: UserSession,
        /// Consent, access log and the sealed note.
        pub compliance: ComplianceSession,
        /// New in version 2; version 1's sessions lack it.
        #[serde(default)]
        pub preferences: Preferences,
    }

    /// Version 1's user part without `mfa_verified`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct UserSession {
        /// The user's id, once logged in.
        pub user_id: Option<u64>,
        /// The user's name, once logged in.
        pub username: Option<String>,
        /// Failed logins since the last success.
        pub login_attempts: u32,
        /// When the user last logged in.
        #[serde(with = "rfc3339_option")]
        pub last_login: Option<OffsetDateTime>,
    }

    account!(UserSession);
    demo_data!(DemoSession, version 2, UserSession, preferences);
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_core::{Codec, KeyRing};

    fn full_session() -> DemoSession {
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let mut session = DemoSession {
            count: 3,
            ..Default::default()
        };
        session.user.log_in(1, "alice", now);
        session.compliance.log_access("consent", "127.0.0.1", now);
        session.compliance.privacy_policy_version = Some("2024-01".into());
        session.compliance.marketing_consent = Some(true);
        session.compliance.consent_at = Some(now);
        session.compliance.secret_note =
            Some(Sealed::seal(&KeyRing::generate(), "note", &"my diary".to_string()).unwrap());
        session
    }

    #[test]
    fn every_codec_round_trips_every_field() {
        let session = full_session();
        for codec in [Codec::MessagePack, Codec::Bincode, Codec::Json] {
            let bytes = codec.encode(&session).unwrap();
            let back: DemoSession = codec.decode(&bytes).unwrap();
            assert_eq!(back, session, "{codec:?}");
        }
    }

    #[test]
    fn json_shows_rfc3339_times_and_no_sealed_plaintext() {
        let json = String::from_utf8(Codec::Json.encode(&full_session()).unwrap()).unwrap();
        assert!(
            json.contains("\"last_login\":\"2023-11-14T22:13:20Z\""),
            "{json}"
        );
        assert!(!json.contains("my diary"), "{json}");
    }

    #[test]
    fn each_version_reads_the_other() {
        let codec = Codec::default();
        let v1 = full_session();
        let bytes = codec.encode(&v1).unwrap();
        let v2: v2::DemoSession = codec.decode(&bytes).unwrap();
        assert_eq!(v2.preferences.theme, "light");
        assert_eq!(v2.user.username.as_deref(), Some("alice"));
        assert_eq!(v2.compliance, v1.compliance);
        let bytes = codec.encode(&v2).unwrap();
        let back: DemoSession = codec.decode(&bytes).unwrap();
        assert!(!back.user.mfa_verified);
        assert_eq!(back.count, v1.count);
    }

    #[test]
    fn a_successful_login_resets_the_failures() {
        let mut user = UserSession::default();
        for _ in 0..4 {
            user.record_failed_login();
        }
        assert!(!user.is_locked());
        user.log_in(2, "bob", OffsetDateTime::now_utc());
        assert_eq!(user.login_attempts, 0);
        assert_eq!(user.username.as_deref(), Some("bob"));
    }

    #[test]
    fn the_access_log_keeps_the_newest_entries() {
        let mut compliance = ComplianceSession::default();
        let now = OffsetDateTime::now_utc();
        for i in 0..ACCESS_LOG_LIMIT + 5 {
            compliance.log_access(&format!("a{i}"), "::1", now);
        }
        assert_eq!(compliance.access_log.len(), ACCESS_LOG_LIMIT);
        assert_eq!(compliance.access_log[0].action, "a5");
    }
}
