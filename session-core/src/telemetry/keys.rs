//! The keys of the labelled metrics that requests record, built at compile
//! time. `metrics::counter!(name, "label" => value)` with a value that is
//! not a literal builds its key on every call (a vector of labels, then a
//! hash of the whole key): about 400 instructions per call under callgrind,
//! two or three times per request. A static key costs neither.

use metrics::{Level, Metadata};

/// What the metrics macros give a metric recorded from this module.
pub(super) static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// A static key of the metric `name` with one label, for
/// `label_values!` (in `telemetry.rs`), which lists the values.
macro_rules! static_key {
    ($name:expr, $label:literal, $value:expr) => {{
        static LABELS: [metrics::Label; 1] = [metrics::Label::from_static_parts($label, $value)];
        static KEY: metrics::Key = metrics::Key::from_static_parts($name, &LABELS);
        &KEY
    }};
}

#[cfg(test)]
mod tests {
    use metrics::{Key, Label};

    use super::super::{name, LoadOutcome, Operation};

    /// The static keys are the keys the macros would build.
    #[test]
    fn static_keys_are_the_macros_keys() {
        for operation in [Operation::Load, Operation::Touch, Operation::LimitOwner] {
            let built = Key::from_parts(
                name::STORE_DURATION,
                vec![Label::new("operation", operation.as_str())],
            );
            assert_eq!(operation.key(), &built);
            assert_eq!(operation.key().get_hash(), built.get_hash());
        }
        for outcome in [LoadOutcome::Found, LoadOutcome::Tampered] {
            let built =
                Key::from_parts(name::LOADED, vec![Label::new("outcome", outcome.as_str())]);
            assert_eq!(outcome.key(), &built);
        }
    }
}
