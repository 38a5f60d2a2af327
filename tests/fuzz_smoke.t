#!/bin/bash
# fuzz_smoke.t: the fuzz targets of tests/fuzz stay sound. Every corpus file
# (tests/fuzz/corpus/*/*: seeds and regression inputs of all targets) is
# replayed through every target, built with the project's compiler and
# replay_main.c ($MF_BUILD/fuzz; under `make check-san` with ASan/UBSan,
# so leaks and sanitizer reports fail the test). When the libFuzzer binaries
# are there (MF_FUZZ_DIR, default build-fuzz, built by `make check` when clang
# is installed) and this is the plain run, each also fuzzes for
# MF_FUZZ_SMOKE_SECONDS (default 3) from its seeds.
. "$(dirname "$0")/lib.sh"
: "${MF_BUILD:=$MF_SRC/build}"
: "${MF_FUZZ_DIR:=$MF_SRC/build-fuzz}"
: "${MF_FUZZ_SMOKE_SECONDS:=3}"
CORPUS=$MF_SRC/tests/fuzz/corpus
ls "$MF_BUILD"/fuzz/fuzz_* >/dev/null 2>&1 || skip_all "no replay binaries in $MF_BUILD/fuzz (make fuzz-bin)"
[ -d "$CORPUS" ] || skip_all "no corpus"

export TMPDIR="$WORK"
NFILES=$(find "$CORPUS" -type f | wc -l)
for b in "$MF_BUILD"/fuzz/fuzz_*; do
    t=$(basename "$b")
    [ -d "$CORPUS/$t" ]; ok $? "$t has a seed corpus"
    run timeout 600 "$b" "$CORPUS"/*/
    ok $RC "$t replays all $NFILES corpus files"
    [ "$RC" -eq 0 ] || diag "$(printf '%s' "$OUT" | tail -n 30)"
done
# the scratch directories of the harnesses are removed at exit
left=$(find "$WORK" -maxdepth 1 -name 'mf-fuzz.*' | wc -l)
is "$left" 0 "the harnesses leave no scratch directories behind"

if [ -n "${MF_SAN:-}" ]; then
    diag "libFuzzer runs only in the plain run"
elif ! ls "$MF_FUZZ_DIR"/fuzz/fuzz_* >/dev/null 2>&1; then
    skip "no libFuzzer binaries in $MF_FUZZ_DIR/fuzz (clang missing?)"
else
    for b in "$MF_FUZZ_DIR"/fuzz/fuzz_*; do
        t=$(basename "$b")
        mkdir -p "$WORK/lf/$t" "$WORK/art/$t"
        run timeout 120 "$b" -max_total_time="$MF_FUZZ_SMOKE_SECONDS" -timeout=20 -rss_limit_mb=2048 \
            -print_final_stats=1 -artifact_prefix="$WORK/art/$t/" "$WORK/lf/$t" "$CORPUS/$t"
        ok $RC "libFuzzer $t runs ${MF_FUZZ_SMOKE_SECONDS}s without findings ($(printf '%s' "$OUT" |
            sed -n 's/^stat::number_of_executed_units: */execs /p' | tail -n 1))"
        if [ "$RC" -ne 0 ]; then
            diag "$(printf '%s' "$OUT" | grep -v '^#[0-9]' | tail -n 30)"
            for a in "$WORK/art/$t"/*; do
                [ -f "$a" ] && diag "finding kept: $MF_SRC/build-fuzz-findings/$t/$(basename "$a")" &&
                    mkdir -p "$MF_SRC/build-fuzz-findings/$t" && cp "$a" "$MF_SRC/build-fuzz-findings/$t/"
            done
        fi
    done
fi
done_testing
