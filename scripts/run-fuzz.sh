#!/bin/sh
# run-fuzz.sh SECONDS — run every libFuzzer target in build/fuzz for SECONDS.
#
# Each target fuzz_NAME starts from test/fuzz/corpus/NAME, copied to a
# temporary directory so that what libFuzzer adds never grows the committed
# corpus.  Leak detection is on (ASan's default, said again here).  A target
# fails on any crash, leak, timeout or sanitizer report, or a non-zero exit;
# its log and the input that failed are kept under build/fuzz/failed/NAME/.
# Prints one line a target and "fuzz: N passed, M failed"; exits non-zero if
# any failed or none was built.  `make test` calls it with 30, `make fuzz`
# with FUZZ_TIME.
set -u

secs=${1:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
passed=0
failed=0

for bin in "$root"/build/fuzz/fuzz_*; do
    [ -x "$bin" ] || continue
    target=$(basename "$bin")
    name=${target#fuzz_}
    work=$(mktemp -d "${TMPDIR:-/tmp}/nmq-fuzz-$name.XXXXXX")
    mkdir -p "$work/corpus" "$work/artifacts"
    if [ -d "$root/test/fuzz/corpus/$name" ]; then
        cp -R "$root/test/fuzz/corpus/$name/." "$work/corpus/"
    fi
    seeds=$(ls "$work/corpus" | wc -l)

    ASAN_OPTIONS="detect_leaks=1:${ASAN_OPTIONS:-}" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}" \
        "$bin" -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/" "$work/corpus" >"$work/log" 2>&1
    rc=$?

    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
    corpus=$(ls "$work/corpus" | wc -l)
    artifacts=$(ls "$work/artifacts" | wc -l)
    if [ "$rc" -eq 0 ] && [ "$artifacts" -eq 0 ]; then
        passed=$((passed + 1))
        echo "fuzz: $target: ok, ${runs:-0} runs in ${secs}s, corpus $seeds -> $corpus inputs, no crash or leak"
        rm -rf "$work"
    else
        failed=$((failed + 1))
        keep="$root/build/fuzz/failed/$name"
        rm -rf "$keep" && mkdir -p "$keep"
        cp "$work/log" "$keep/log"
        cp "$work/artifacts/"* "$keep/" 2>/dev/null
        echo "fuzz: $target: FAILED (exit $rc) after ${runs:-?} runs; log and inputs in $keep"
        grep -E 'ERROR|SUMMARY|fuzz_mqtt|==[0-9]+==' "$work/log" | head -n 20 | sed 's/^/    /'
        rm -rf "$work"
    fi
done

if [ $((passed + failed)) -eq 0 ]; then
    echo "fuzz: no target in $root/build/fuzz (make fuzz-build)"
    echo "fuzz: 0 passed, 1 failed"
    exit 1
fi
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
