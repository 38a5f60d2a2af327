#!/bin/sh
# deps.sh: the tools `make bench` needs beyond the project's own (.ci/deps.sh):
# the peers, hyperfine, gnuplot and npm (for the SpamAssassin corpus). Checks
# for each command; installs the Debian packages of the missing ones with
# apt-get when root, otherwise prints the command to run.
set -u
missing=""
need() {   # need COMMAND PACKAGE...
    c=$1; shift
    command -v "$c" >/dev/null 2>&1 || [ -x "$c" ] || missing="$missing $*"
}
need hyperfine hyperfine
need borg borgbackup
need restic restic
need rsync rsync
need gnuplot gnuplot-nox
need npm nodejs npm
need /usr/bin/time time
need mkfs.ext4 e2fsprogs
need losetup mount
[ -z "$missing" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
    echo "bench: missing packages:$missing (install them with your package manager)" >&2
    exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "bench: missing packages:$missing" >&2
    echo "bench: run as root:  apt-get install -y$missing" >&2
    exit 1
fi
echo "bench: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends $missing >/dev/null 2>&1 || {
    apt-get update >/dev/null && apt-get install -y --no-install-recommends $missing
} || { echo "bench: apt-get install failed" >&2; exit 1; }
