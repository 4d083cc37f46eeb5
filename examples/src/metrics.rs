//! The demo's `GET /metrics`: the session layer's counters and histograms
//! (see the metrics table in RELIABILITY.md) in the Prometheus text format,
//! served on the demo's own port. The exporter runs no listener of its own.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// How often the exporter's histograms are folded in when nobody scrapes,
/// so that their samples do not pile up between scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder for this process (once; later calls do
/// nothing). A failure (another recorder installed first) is logged, and
/// `/metrics` then answers an empty page.
pub fn install() {
    if HANDLE.get().is_some() {
        return;
    }
    match PrometheusBuilder::new().install_recorder() {
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
