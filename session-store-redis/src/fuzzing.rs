//! For the project's fuzz targets (`fuzz/`) only, behind the off-by-default
//! `fuzzing` feature: the value layout's encoder and decoder made reachable.
//! No stability promise: this module changes whenever the layout does.

use session_core::{
    store::{Record, StoreError},
    SessionId,
};

/// Bytes before the owner in a value.
pub const HEADER: usize = crate::layout::HEADER;

/// The value stored for `record`.
pub fn encode(record: &Record) -> Result<Vec<u8>, StoreError> {
    crate::layout::encode(record)
}

/// The record in `value` for `id`, whose key expires at `idle_ms`.
pub fn decode(id: &SessionId, value: &[u8], idle_ms: i64) -> Result<Record, &'static str> {
    crate::layout::decode(id, value, idle_ms)
}

/// The owner in `value`, as the owner index reads it.
pub fn owner_of(value: &[u8]) -> Result<Option<&[u8]>, &'static str> {
    crate::layout::owner_of(value)
}
