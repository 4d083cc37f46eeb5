//! The small examples in `examples/` teach one thing each: every one stays
//! under 60 lines and opens with what it shows and how to run it.

use std::path::Path;

/// The most lines a small example may have.
const MAX_LINES: usize = 60;

fn small_examples() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut found: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            (path.display().to_string(), text)
        })
        .collect();
    found.sort();
    found
}

#[test]
fn there_are_small_examples() {
    assert!(small_examples().len() >= 3, "{:?}", small_examples());
}

#[test]
fn each_is_under_sixty_lines() {
    for (path, text) in small_examples() {
        let lines = text.lines().count();
        assert!(lines < MAX_LINES, "{path}: {lines} lines");
    }
}

#[test]
fn each_opens_with_what_it_shows_and_how_to_run_it() {
    for (path, text) in small_examples() {
        let opening: String = text
            .lines()
            .take_while(|line| line.starts_with("//!"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(!opening.is_empty(), "{path} opens without a doc comment");
        assert!(opening.contains("What it shows"), "{path}: {opening}");
        let name = Path::new(&path)
            .file_stem()
            .and_then(|stem| stem.to_str())
            .unwrap_or_default();
        let run = format!("cargo run -p examples --example {name}");
        assert!(opening.contains(&run), "{path} does not say `{run}`");
    }
}
