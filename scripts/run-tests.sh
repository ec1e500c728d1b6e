#!/bin/sh
# Runs nemomq's tests and ends with one summary line:
#   total: N passed, M failed
# Sections: unit (every build/test/check_* program, Check), e2e (test/e2e with
# real nodes and real clients), fuzz (libFuzzer, 30 s per target).
#   scripts/run-tests.sh [unit|e2e|fuzz ...]     default: all three
# Run from the repository root (make test does).
set -u
cd "$(dirname "$0")/.."
sections=${*:-unit e2e fuzz}
log_dir=build/test-logs
mkdir -p "$log_dir"
total_pass=0
total_fail=0
failed_names=""

add() {   # add PASSED FAILED NAME
    total_pass=$((total_pass + $1))
    total_fail=$((total_fail + $2))
    [ "$2" -eq 0 ] || failed_names="$failed_names $3"
}

run_unit() {
    for t in build/test/check_*; do
        [ -x "$t" ] || continue
        name=$(basename "$t")
        CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-60} "$t" > "$log_dir/$name.log" 2>&1
        rc=$?
        # Check prints "NN%: Checks: C, Failures: F, Errors: E"
        line=$(grep -E '^[0-9]+%: Checks: ' "$log_dir/$name.log" | tail -n 1)
        checks=$(echo "$line" | sed -n 's/.*Checks: \([0-9]*\).*/\1/p')
        fails=$(echo "$line" | sed -n 's/.*Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2/p' | awk '{print $1+$2}')
        checks=${checks:-0}
        fails=${fails:-0}
        if [ "$rc" -ne 0 ] && [ "$fails" -eq 0 ]; then fails=1; fi
        [ -n "$line" ] || line="no Check summary (exit $rc)"
        echo "unit $name: $line"
        [ "$fails" -eq 0 ] || grep -E ':[EF]:' "$log_dir/$name.log" | head -20
        add $((checks - (fails > checks ? checks : fails))) "$fails" "$name"
    done
}

run_e2e() {
    /usr/bin/python3 test/e2e/run.py > "$log_dir/e2e.log" 2>&1
    rc=$?
    grep -E ' \.\.\. (ok|FAIL|ERROR|skipped)' "$log_dir/e2e.log" | sed 's/^/e2e /'
    line=$(grep -E '^e2e: [0-9]+ passed, [0-9]+ failed' "$log_dir/e2e.log" | tail -n 1)
    p=$(echo "$line" | sed -n 's/e2e: \([0-9]*\) passed.*/\1/p')
    f=$(echo "$line" | sed -n 's/.*passed, \([0-9]*\) failed.*/\1/p')
    p=${p:-0}
    f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    [ "$f" -eq 0 ] || sed -n '/^=\{20,\}/,$p' "$log_dir/e2e.log" | head -150
    add "$p" "$f" e2e
}

run_fuzz() {
    if [ ! -x scripts/run-fuzz.sh ] && [ ! -f scripts/run-fuzz.sh ]; then return; fi
    sh scripts/run-fuzz.sh "${FUZZ_TIME:-30}" > "$log_dir/fuzz.log" 2>&1
    rc=$?
    line=$(grep -E '^fuzz: [0-9]+ passed, [0-9]+ failed' "$log_dir/fuzz.log" | tail -n 1)
    echo "$line"
    p=$(echo "$line" | sed -n 's/fuzz: \([0-9]*\) passed.*/\1/p')
    f=$(echo "$line" | sed -n 's/.*passed, \([0-9]*\) failed.*/\1/p')
    p=${p:-0}
    f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    [ "$f" -eq 0 ] || tail -n 60 "$log_dir/fuzz.log"
    add "$p" "$f" fuzz
}

for s in $sections; do
    echo "== $s"
    "run_$s"
done
echo "logs in $log_dir"
[ -z "$failed_names" ] || echo "failed:$failed_names"
echo "total: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ] && [ "$total_pass" -gt 0 ]
