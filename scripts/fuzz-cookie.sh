#!/usr/bin/env bash
# Fuzzes the cookie store's opening (session-store-cookie/fuzz, target
# open_cookie) for a bounded time: default 60 seconds, or the first argument,
# or FUZZ_SECONDS.
#
#   scripts/fuzz-cookie.sh        # one minute
#   scripts/fuzz-cookie.sh 600    # ten minutes
#
# Needs a nightly toolchain and cargo-fuzz (libFuzzer with sanitizers):
#   rustup toolchain install nightly
#   cargo install cargo-fuzz
# Without them the script says so and exits with status 2; the proptest
# version of the same checks runs in `cargo test -p session-store-cookie`
# (tests/mutations.rs) on stable.
set -euo pipefail

seconds="${1:-${FUZZ_SECONDS:-60}}"
case "$seconds" in
    '' | *[!0-9]*) echo "usage: $0 [seconds]" >&2; exit 64 ;;
esac
root="$(cd "$(dirname "$0")/.." && pwd)"
fuzz_dir="$root/session-store-cookie/fuzz"

missing=()
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    missing+=("a nightly toolchain (rustup toolchain install nightly)")
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    missing+=("cargo-fuzz (cargo install cargo-fuzz)")
fi
if [ "${#missing[@]}" -gt 0 ]; then
    echo "fuzz-cookie: cannot fuzz here, missing:" >&2
    printf '  - %s\n' "${missing[@]}" >&2
    echo "The proptest version runs on stable: cargo test -p session-store-cookie --test mutations" >&2
    exit 2
fi

mkdir -p "$fuzz_dir/corpus/open_cookie"
echo "fuzz-cookie: fuzzing open_cookie for ${seconds}s (corpus in $fuzz_dir/corpus/open_cookie)"
# -max_len: a little over the largest cookie a browser keeps.
# A crash stops the run with a non-zero status and leaves the input in
# $fuzz_dir/artifacts/open_cookie/ for `cargo fuzz run open_cookie <file>`.
cd "$root/session-store-cookie"
exec cargo +nightly fuzz run --fuzz-dir "$fuzz_dir" open_cookie -- \
    -max_total_time="$seconds" -max_len=6000 -print_final_stats=1
