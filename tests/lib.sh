# lib.sh: TAP helpers and common set-up for the shell tests (run by prove).
# Each test sources this file; MAILFERRY and MF_TOOLS come from the Makefile,
# or default to the normal build.
set -u
T_N=0
T_FAILED=0
: "${MAILFERRY:=$(cd "$(dirname "$0")/.." && pwd)/build/mailferry}"
: "${MF_TOOLS:=$(cd "$(dirname "$0")/.." && pwd)/build/tools}"
MF_SRC=$(cd "$(dirname "$0")/.." && pwd)
export MAILFERRY MF_TOOLS MF_SRC
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mftest.XXXXXX")
trap 't_cleanup' EXIT
t_cleanup() { [ -n "${KEEP:-}" ] || rm -rf "$WORK"; }

ok() {  # ok COND-EXIT-STATUS DESCRIPTION
    T_N=$((T_N + 1))
    if [ "$1" -eq 0 ]; then echo "ok $T_N - $2"; else echo "not ok $T_N - $2"; T_FAILED=$((T_FAILED + 1)); fi
}
is() {  # is GOT WANT DESCRIPTION
    T_N=$((T_N + 1))
    if [ "$1" = "$2" ]; then echo "ok $T_N - $3"; else
        echo "not ok $T_N - $3"; echo "#   got:  '$1'"; echo "#   want: '$2'"; T_FAILED=$((T_FAILED + 1)); fi
}
like() {  # like TEXT REGEX DESCRIPTION
    T_N=$((T_N + 1))
    if printf '%s' "$1" | grep -Eq -- "$2"; then echo "ok $T_N - $3"; else
        echo "not ok $T_N - $3"; echo "#   text: '$(printf '%s' "$1" | head -c 400)'"; echo "#   want: /$2/"
        T_FAILED=$((T_FAILED + 1)); fi
}
skip() { T_N=$((T_N + 1)); echo "ok $T_N # skip $1"; }
diag() { echo "# $*"; }
done_testing() { echo "1..$T_N"; [ "$T_FAILED" -eq 0 ]; }
skip_all() { echo "1..0 # SKIP $1"; exit 0; }

# run CMD...: stores exit status in RC and stderr+stdout in OUT
run() { OUT=$("$@" 2>&1); RC=$?; }
