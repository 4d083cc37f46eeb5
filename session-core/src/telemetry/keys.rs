//! The keys of the labelled metrics that requests record, built at compile
//! time. `metrics::counter!(name, "label" => value)` with a value that is
//! not a literal builds its key on every call (a vector of labels, then a
//! hash of the whole key): about 400 instructions per call under callgrind,
//! two or three times per request. A static key costs neither.

use metrics::{Key, Label, Level, Metadata};

use super::{name, LoadOutcome, Operation};

/// What the metrics macros give a metric recorded from this module.
pub(super) static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// A static key of the metric `name` with one label.
macro_rules! static_key {
    ($name:expr, $label:literal, $value:expr) => {{
        static LABELS: [Label; 1] = [Label::from_static_parts($label, $value)];
        static KEY: Key = Key::from_static_parts($name, &LABELS);
        &KEY
    }};
}

/// The key of `session_store_duration_seconds` for `operation`.
pub(super) fn store_duration(operation: Operation) -> &'static Key {
    macro_rules! by_operation {
        ($($variant:ident),* $(,)?) => {
            match operation {
                $(Operation::$variant => static_key!(
                    name::STORE_DURATION,
                    "operation",
                    Operation::$variant.as_str()
                ),)*
            }
        };
    }
    by_operation!(
        Load,
        Create,
        Save,
        Touch,
        Rotate,
        Delete,
        Lock,
        Unlock,
        SaveAndUnlock,
        WaitForRelease,
        Open,
        Seal,
        Clear,
        Count,
        DeleteByOwner,
        DeleteWhere,
        IdsByOwner,
        RecordsByOwner,
        LimitOwner,
    )
}

/// The key of `session_loaded_total` for `outcome`.
pub(super) fn loaded(outcome: LoadOutcome) -> &'static Key {
    macro_rules! by_outcome {
        ($($variant:ident),* $(,)?) => {
            match outcome {
                $(LoadOutcome::$variant => static_key!(
                    name::LOADED,
                    "outcome",
                    LoadOutcome::$variant.as_str()
                ),)*
            }
        };
    }
    by_outcome!(Found, Absent, Expired, Undecodable, Tampered)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The static keys are the keys the macros would build.
    #[test]
    fn static_keys_are_the_macros_keys() {
        for operation in [Operation::Load, Operation::Touch, Operation::LimitOwner] {
            let built = Key::from_parts(
                name::STORE_DURATION,
                vec![Label::new("operation", operation.as_str())],
            );
            assert_eq!(store_duration(operation), &built);
            assert_eq!(store_duration(operation).get_hash(), built.get_hash());
        }
        for outcome in [LoadOutcome::Found, LoadOutcome::Tampered] {
            let built =
                Key::from_parts(name::LOADED, vec![Label::new("outcome", outcome.as_str())]);
            assert_eq!(loaded(outcome), &built);
        }
    }
}
