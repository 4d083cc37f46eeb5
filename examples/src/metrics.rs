//! The demo's `GET /metrics`: the session layer's counters and histograms
//! (see the metrics table in RELIABILITY.md) in the Prometheus text format,
//! served on the demo's own port. The exporter runs no listener of its own.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{
    BuildError, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

/// How often the exporter's histograms are folded in when nobody scrapes,
/// so that their samples do not pile up between scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The upper bounds (seconds) of the buckets of every histogram, which is
/// `session_store_duration_seconds`: from a quick in-process store call to
/// a store's timeout. Why buckets: without them the exporter renders a
/// summary, whose sketches grow with the spread of the durations seen (a
/// quarter of a MiB per sketch, three per label, kept for a minute); a
/// histogram is one count per bucket, and histograms of several demos can
/// be added up, summaries cannot.
pub const DURATION_BUCKETS: [f64; 16] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The demo's exporter configuration: [`DURATION_BUCKETS`] for the
/// histograms.
fn builder() -> Result<PrometheusBuilder, BuildError> {
    PrometheusBuilder::new().set_buckets(&DURATION_BUCKETS)
}

/// The demo's recorder, not installed ([`install`] installs one like it),
/// for a test to use locally (`metrics::with_local_recorder`).
pub fn recorder() -> Result<PrometheusRecorder, BuildError> {
    Ok(builder()?.build_recorder())
}

/// Installs the Prometheus recorder for this process (once; later calls do
/// nothing) and a thread that runs its upkeep. A failure (another recorder
/// installed first) is logged, and `/metrics` then answers an empty page.
pub fn install() {
    if HANDLE.get().is_some() {
        return;
    }
    match builder().and_then(PrometheusBuilder::install_recorder) {
        Ok(handle) => {
            let upkeep = handle.clone();
            let started = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                });
            if let Err(error) = started {
                tracing::warn!(%error, "no metrics upkeep thread: histograms are folded in at each scrape only");
            }
            let _ = HANDLE.set(handle);
        }
        Err(error) => tracing::warn!(%error, "the metrics recorder is not installed"),
    }
}

/// The current metrics in the Prometheus text format (empty before
/// [`install`]).
pub fn render() -> String {
    HANDLE
        .get()
        .map(PrometheusHandle::render)
        .unwrap_or_default()
}
