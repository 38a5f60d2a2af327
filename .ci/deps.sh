#!/bin/sh
# deps.sh: checks that everything building and testing mailferry needs is
# installed; installs what is missing with apt-get when run as root, and
# otherwise prints the exact command to run. Used by `make deps` (and so by
# `make check` and `make demo`) and by .ci/run.
set -u
PKGS="gcc make pkg-config libarchive-dev libzstd-dev libsodium-dev perl python3 zstd tar
      dovecot-core dovecot-imapd minisign procps clang"
# make static and tests/static.t: the static libraries libarchive.a needs for the
# tarballs of pack --from-tar, and file(1); tests/man.t: man and groff
PKGS="$PKGS zlib1g-dev libbz2-dev liblzma-dev file man-db groff-base"
# tests/valgrind.t; tests/faults.t (system calls chosen with strace)
PKGS="$PKGS valgrind strace"
missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -z "$missing" ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "deps: missing packages:$missing (install them with your package manager)" >&2
    exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing packages:$missing" >&2
    echo "deps: run as root:  apt-get install -y$missing" >&2
    exit 1
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# Dovecot's package would start a system service; a test run needs none.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y --no-install-recommends $missing >/dev/null 2>&1 || {
    apt-get update >/dev/null && apt-get install -y --no-install-recommends $missing
} || { echo "deps: apt-get install failed" >&2; exit 1; }
