#!/usr/bin/env bash
# Runs the project's cargo-fuzz targets (the fuzz/ crate) for a bounded time
# each, on the stable toolchain: cargo-fuzz needs nightly-only compiler flags
# (-Zsanitizer=address and friends), which RUSTC_BOOTSTRAP=1 unlocks on
# stable, so no nightly toolchain is needed.
#
#   scripts/fuzz.sh                      # every target, 60 s each
#   scripts/fuzz.sh 600                  # every target, ten minutes each
#   scripts/fuzz.sh 30 cookie_header     # only the targets named
#
# Seconds: the first argument, else FUZZ_SECONDS, else 60. Also read:
#   FUZZ_JOBS=N            libFuzzer workers per target (default 1)
#   FUZZ_UPDATE_CORPUS=1   afterwards, merge what the run found into the
#                          committed corpus (fuzz/corpus/T), minimized
#                          (libFuzzer -set_cover_merge=1 -use_counters=0)
#
# cargo-fuzz is installed into .ci/tools (git-ignored) when it is missing.
# Each target starts from its committed corpus (fuzz/corpus/T) and its
# hand-made seeds (fuzz/seeds/T), and writes what it finds to a scratch
# corpus in fuzz/target/corpus/T, so a run never dirties the checkout.
# A crash leaves its input in fuzz/artifacts/T/; replay it with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz T fuzz/artifacts/T/<file>
#
# Prints one line per target (executions, executions per second, corpus
# size, findings) and exits 1 if any target crashed, 2 if a tool is
# missing, 64 on a usage error.
set -euo pipefail

usage() { echo "usage: $0 [seconds] [target...]" >&2; exit 64; }

seconds="${FUZZ_SECONDS:-60}"
if [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then
    seconds=$1
    shift
fi
case "$seconds" in '' | *[!0-9]* | 0) usage ;; esac
jobs="${FUZZ_JOBS:-1}"
case "$jobs" in '' | *[!0-9]* | 0) usage ;; esac

root="$(cd "$(dirname "$0")/.." && pwd)"
fuzz_dir="$root/fuzz"
tools="$root/.ci/tools"
export PATH="$tools/bin:$PATH"
# The fuzz crate has its own target directory: its dependencies are built
# with sanitizer flags, which must not mix with the workspace's builds.
unset CARGO_TARGET_DIR
export RUSTC_BOOTSTRAP=1

# Every target, in the order of fuzz/Cargo.toml.
all_targets=()
while IFS= read -r name; do all_targets+=("$name"); done < <(
    sed -n 's/^name = "\([a-z_]*\)"$/\1/p' "$fuzz_dir/Cargo.toml" | grep -v '^typed-sessions-fuzz$' || true
)
if [ $# -gt 0 ]; then
    targets=("$@")
    for t in "${targets[@]}"; do
        if ! printf '%s\n' "${all_targets[@]}" | grep -qx "$t"; then
            echo "fuzz: unknown target $t (known: ${all_targets[*]})" >&2
            exit 64
        fi
    done
else
    targets=("${all_targets[@]}")
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz into $tools"
    cargo install --locked cargo-fuzz --root "$tools"
fi

# The largest input worth trying per target: a little over what the
# request path lets through (a 4 KB cookie, a 16 KB Cookie header), and a
# few KB for the stored values (their decoders are linear; longer inputs
# only slow the search).
max_len() {
    case "$1" in
        open_cookie) echo 6000 ;;
        cookie_header) echo 20000 ;;
        record_codec | redis_value) echo 8192 ;;
        set_cookie) echo 4096 ;;
        *) echo 4096 ;;
    esac
}

cd "$root"
echo "fuzz: building ${targets[*]}"
build_start=$(date +%s)
if [ "${#targets[@]}" = "${#all_targets[@]}" ]; then
    # One cargo invocation: the binaries link in parallel.
    cargo fuzz build --fuzz-dir "$fuzz_dir"
else
    for t in "${targets[@]}"; do
        cargo fuzz build --fuzz-dir "$fuzz_dir" "$t"
    done
fi
echo "fuzz: built in $(( $(date +%s) - build_start )) s"

failed=()
summary=()
for t in "${targets[@]}"; do
    work="$fuzz_dir/target/corpus/$t"
    mkdir -p "$work" "$fuzz_dir/corpus/$t" "$fuzz_dir/artifacts/$t"
    inputs=("$work" "$fuzz_dir/corpus/$t")
    [ -d "$fuzz_dir/seeds/$t" ] && inputs+=("$fuzz_dir/seeds/$t")
    log="$fuzz_dir/target/fuzz-$t.log"
    before=$(find "$fuzz_dir/artifacts/$t" -type f | wc -l)
    echo "fuzz: $t for ${seconds}s (log: ${log#"$root"/})"
    status=0
    # -rss_limit_mb: the decoders must not allocate without bound; 2 GB is
    # far above what any of them needs.
    # -jobs only when asked for more than one: any -jobs value makes
    # libFuzzer run its workers as child processes logging to fuzz-N.log.
    parallel=()
    [ "$jobs" -gt 1 ] && parallel=(-jobs="$jobs" -workers="$jobs")
    cargo fuzz run --fuzz-dir "$fuzz_dir" "$t" "${inputs[@]}" -- \
        -max_total_time="$seconds" -max_len="$(max_len "$t")" -rss_limit_mb=2048 \
        -timeout=10 -print_final_stats=1 "${parallel[@]}" \
        >"$log" 2>&1 || status=$?
    if [ "$jobs" -gt 1 ]; then
        cat fuzz-*.log >>"$log" 2>/dev/null || true
        rm -f fuzz-*.log
    fi
    # The final statistics, summed over workers; after a crash there are
    # none, so the last status line ("#N ... corp: C/... exec/s: E") counts.
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | awk '{s+=$1} END {print s+0}')
    per_sec=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | awk '{s+=$1} END {print s+0}')
    last=$(grep -E '^#[0-9]+' "$log" | tail -n1 || true)
    if [ "$execs" = 0 ] && [ -n "$last" ]; then
        execs=$(sed -E 's/^#([0-9]+).*/\1/' <<<"$last")
        per_sec=$(sed -nE 's/.*exec\/s: ([0-9]+).*/\1/p' <<<"$last")
    fi
    corpus=$(sed -nE 's/.*corp: ([0-9]+)\/.*/\1/p' <<<"$last")
    after=$(find "$fuzz_dir/artifacts/$t" -type f | wc -l)
    if [ "$status" -ne 0 ] || [ "$after" -gt "$before" ]; then
        finding="CRASHED (status $status; $((after - before)) new input(s) in fuzz/artifacts/$t)"
        failed+=("$t")
        grep -m1 -E "panicked at|ERROR: (AddressSanitizer|libFuzzer)" "$log" | sed 's/^/    /' || true
    else
        finding="nothing found"
    fi
    line=$(printf '%-14s %12s execs %8s exec/s  corpus %6s  %s' "$t" "$execs" "${per_sec:-?}" "${corpus:-?}" "$finding")
    echo "fuzz: $line"
    summary+=("$line")
    if [ "${FUZZ_UPDATE_CORPUS:-0}" = 1 ] && [ "$status" -eq 0 ]; then
        # The smallest set of inputs that covers the same edges replaces the
        # committed corpus: libFuzzer's set-cover merge keeps far fewer files
        # than `cargo fuzz cmin`'s greedy one, and without hit counters
        # (-use_counters=0) fewer again; fuzzing regains the counts quickly.
        merged="$fuzz_dir/target/cmin/$t"
        rm -rf "$merged"
        mkdir -p "$merged"
        ASAN_OPTIONS=detect_odr_violation=0 "$fuzz_dir/target/x86_64-unknown-linux-gnu/release/$t" \
            -set_cover_merge=1 -use_counters=0 -max_len="$(max_len "$t")" -rss_limit_mb=2048 \
            "$merged" "$work" "$fuzz_dir/corpus/$t" >"$fuzz_dir/target/cmin-$t.log" 2>&1
        rm -rf "$fuzz_dir/corpus/$t"
        mv "$merged" "$fuzz_dir/corpus/$t"
        echo "fuzz: $t corpus minimized to $(find "$fuzz_dir/corpus/$t" -type f | wc -l) inputs"
    fi
done

echo
echo "fuzz: summary (${seconds}s per target)"
printf '  %s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: crashed: ${failed[*]}" >&2
    exit 1
fi
