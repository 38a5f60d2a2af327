#!/bin/sh
# run.sh: runs the libFuzzer binaries of `make fuzz` (DIR/fuzz/fuzz_*), each
# for FUZZ_SECONDS (default 60), FUZZ_JOBS at a time (default 2), starting
# from the committed seeds in tests/fuzz/corpus/<target> (never written) and
# a work corpus in DIR/corpus/<target> (kept between runs). Findings go to
# DIR/artifacts/<target>/, logs to DIR/logs/<target>.log. Prints one line per
# target: executions, coverage (edges) and features, and findings; exits 1
# if any target found something. FUZZ_TARGETS limits the run to some targets
# (names with or without the fuzz_ prefix).
#   usage: sh tests/fuzz/run.sh DIR
set -u
DIR=${1:?usage: run.sh FUZZ-BUILD-DIR}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
SECONDS_EACH=${FUZZ_SECONDS:-60}
JOBS=${FUZZ_JOBS:-2}

if [ "${2:-}" = "--one" ]; then
    t=$3
    mkdir -p "$DIR/corpus/$t" "$DIR/artifacts/$t" "$DIR/logs"
    "$DIR/fuzz/$t" -max_total_time="$SECONDS_EACH" -print_final_stats=1 -timeout=25 \
        -rss_limit_mb=2560 -artifact_prefix="$DIR/artifacts/$t/" \
        "$DIR/corpus/$t" "$SRC/tests/fuzz/corpus/$t" >"$DIR/logs/$t.log" 2>&1
    echo $? >"$DIR/logs/$t.rc"
    exit 0
fi

targets=""
for b in "$DIR"/fuzz/fuzz_*; do
    [ -x "$b" ] || continue
    t=$(basename "$b")
    if [ -n "${FUZZ_TARGETS:-}" ]; then
        case " $FUZZ_TARGETS " in
            *" $t "*|*" ${t#fuzz_} "*) ;;
            *) continue ;;
        esac
    fi
    targets="$targets $t"
done
[ -n "$targets" ] || { echo "run.sh: no fuzz targets in $DIR/fuzz" >&2; exit 2; }

echo "fuzzing$targets for ${SECONDS_EACH}s each, $JOBS at a time"
printf '%s\n' $targets | xargs -P "$JOBS" -I{} sh "$0" "$DIR" --one {}

bad=0
printf '%-24s %12s %8s %8s %s\n' target execs cov ft result
for t in $targets; do
    log="$DIR/logs/$t.log"
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1)
    cov=$(printf '%s' "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    ft=$(printf '%s' "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
    found=$(ls "$DIR/artifacts/$t" 2>/dev/null | wc -l)
    rc=$(cat "$DIR/logs/$t.rc" 2>/dev/null || echo '?')
    if [ "$rc" = 0 ] && [ "$found" -eq 0 ]; then
        res=ok
    else
        res="FOUND $found (exit $rc, see $log)"
        bad=1
    fi
    printf '%-24s %12s %8s %8s %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$res"
done
exit $bad
