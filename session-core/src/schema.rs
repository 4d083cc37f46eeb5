//! Declared schema versions and the migrations between them.

use crate::codec::CodecError;
use crate::data::SessionData;
use crate::envelope::{Body, Decoded, Unknown};

/// A session type with a declared schema version, for changes that the
/// default codec cannot absorb by itself (a field's type or meaning
/// changes, data moves between fields).
///
/// Compatible changes need no version: with the default
/// [`Codec::MessagePack`](crate::Codec::MessagePack), fields may be added
/// (with `#[serde(default)]`), removed, renamed (with `#[serde(alias)]`) and
/// reordered, and records of either version load in the other. For an
/// incompatible change, give the type a [`VERSION`](Self::VERSION) greater
/// than its [`Previous`](Self::Previous) type's and say how to
/// [`migrate`](Self::migrate) from it; build the manager with
/// [`SessionManager::versioned`](crate::SessionManager::versioned).
///
/// - A record of an older version is decoded as that version's type and
///   migrated step by step (v1 → v2 → v3); it is written back in the
///   current version on its next save.
/// - A record of a newer version (written by a newer release), or of an
///   older one that no migration reaches, or that does not decode, is
///   treated as absent (a fresh session) and logged with the reason; it is
///   never decoded into the wrong fields.
/// - The first version of the chain names itself as `Previous`. Types that
///   never implement this trait are version 0, the version of every record
///   written before versioning; to migrate those, implement this trait for
///   the old type with `VERSION = 0` and `Previous = Self`.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use session_core::SessionSchema;
///
/// /// What the application stored before: a display name in one string.
/// #[derive(Default, Clone, Serialize, Deserialize)]
/// struct UserV1 { name: String }
///
/// impl SessionSchema for UserV1 {
///     const VERSION: u32 = 1;
///     type Previous = Self; // the first version
///     fn migrate(previous: Self) -> Self { previous }
/// }
///
/// /// Now: first and last name, under the same field name.
/// #[derive(Default, Clone, Serialize, Deserialize)]
/// struct User { name: (String, String) }
///
/// impl SessionSchema for User {
///     const VERSION: u32 = 2;
///     type Previous = UserV1;
///     fn migrate(previous: UserV1) -> Self {
///         let (first, last) = previous.name.split_once(' ').unwrap_or((&previous.name, ""));
///         User { name: (first.to_owned(), last.to_owned()) }
///     }
/// }
/// # let _ = session_core::SessionManager::<User>::versioned;
/// ```
pub trait SessionSchema: SessionData {
    /// This version's number: greater than [`Previous`](Self::Previous)'s,
    /// except for the first version, which names itself.
    const VERSION: u32;
    /// The type of the previous version (`Self` for the first).
    type Previous: SessionSchema;
    /// Builds this version from a value of the previous one.
    fn migrate(previous: Self::Previous) -> Self;
}

/// How a manager reads the data of a stored record of some schema version
/// and which version it writes: function pointers, so that one manager type
/// serves versioned and unversioned types alike.
pub(crate) struct Schema<T> {
    /// The version written.
    pub(crate) version: u32,
    /// Decodes the body of a record of the given version.
    pub(crate) decode: fn(u32, &Body<'_>) -> Result<Decoded<T>, CodecError>,
}

impl<T> Clone for Schema<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Schema<T> {}

impl<T: SessionData> Schema<T> {
    /// A type without a declared version: it reads and writes version 0.
    pub(crate) fn unversioned() -> Self {
        Schema {
            version: 0,
            decode: decode_unversioned::<T>,
        }
    }
}

impl<T: SessionSchema> Schema<T> {
    /// A type with a declared version and its chain of migrations.
    pub(crate) fn versioned() -> Self {
        Schema {
            version: T::VERSION,
            decode: decode_chain::<T>,
        }
    }
}

fn decode_unversioned<T: SessionData>(
    stored: u32,
    body: &Body<'_>,
) -> Result<Decoded<T>, CodecError> {
    match stored {
        0 => body.decode::<T>(),
        _ => Err(CodecError::NewerSchema { stored, current: 0 }),
    }
}

/// Decodes version `stored` as its own type and migrates it up to `T`. The
/// fields of an old version that its type does not know are not carried
/// over: the migration says what the new version holds.
fn decode_chain<T: SessionSchema>(stored: u32, body: &Body<'_>) -> Result<Decoded<T>, CodecError> {
    let current = T::VERSION;
    if stored == current {
        return body.decode::<T>();
    }
    if stored > current {
        return Err(CodecError::NewerSchema { stored, current });
    }
    // The first version of the chain: nothing older can be reached.
    if <T::Previous as SessionSchema>::VERSION >= current {
        return Err(CodecError::NoMigration { stored, current });
    }
    let previous = decode_chain::<T::Previous>(stored, body).map_err(|error| match error {
        CodecError::NoMigration { stored, .. } => CodecError::NoMigration { stored, current },
        other => other,
    })?;
    Ok(Decoded {
        data: T::migrate(previous.data),
        flash: previous.flash,
        meta: previous.meta,
        unknown: Unknown::default(),
        migrated_from: Some(previous.migrated_from.unwrap_or(stored)),
    })
}
