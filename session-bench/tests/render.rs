//! The saved runs in `results/` render with the current targets: what
//! `loadbench --render` relies on.

use session_bench::report::{Report, TargetKind};

fn saved(name: &str) -> Report {
    let path = format!("{}/results/{name}", env!("CARGO_MANIFEST_DIR"));
    let json = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Report::from_json(&json).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_saved_runs_render_every_target_table() {
    for name in [
        "results.json",
        "results-2026-11-27.json",
        "results-2026-12-01.json",
    ] {
        let report = saved(name);
        let markdown = report.markdown();
        for title in [
            "#### Session µs/req at most 0.6x the best peer's",
            "#### Server CPU µs/req below every peer's",
            "#### No `Set-Cookie` on a read at steady state",
            "#### Redis round trips",
        ] {
            assert!(markdown.contains(title), "{name}: no {title}");
        }
        for kind in [
            TargetKind::SessionCost,
            TargetKind::ServerCpu,
            TargetKind::SetCookie,
            TargetKind::RedisRoundTrips,
        ] {
            assert!(
                report.targets.iter().any(|t| t.kind == kind),
                "{name}: no {kind:?} target"
            );
        }
        // Every cell of ours with a peer: axum memory and Redis, actix Redis
        // and cookie, both scenarios, `ours` and `ours-onwrite`.
        let cells = report
            .targets
            .iter()
            .filter(|t| t.kind == TargetKind::SessionCost)
            .count();
        assert_eq!(cells, 16, "{name}");
    }
}
