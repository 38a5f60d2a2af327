#!/bin/sh
# format_memory.sh: peak memory of writing, then verifying, an archive that
# holds N GiB (default 1) of distinct, incompressible blobs, through the
# format library alone (tests/tools/mkarchive). Prints both peak RSS figures.
set -eu
cd "$(dirname "$0")/.."
make -s all
N=${1:-1}
D=$(mktemp -d "${TMPDIR:-/tmp}/mfmem.XXXXXX")
trap 'rm -rf "$D"' EXIT
build/mailferry keygen -W -p "$D/k.pub" -s "$D/k.key" >/dev/null
COUNT=$((N * 1024))
{
    echo "user bench /bench 1000 1000 - -"
    echo "mailbox - INBOX 0 1 00112233445566778899aabbccddeeff 1 $((COUNT + 1)) 0 -"
    i=1
    while [ $i -le $COUNT ]; do
        { printf 'Subject: %s\n\n' $i; head -c 1048000 /dev/urandom; } > "$D/m$i"
        echo "message $i - - - 1 1 - 0 cur $i.M1P1.h $D/m$i"
        i=$((i + 1))
    done
    echo "endmailbox"; echo "enduser"
} > "$D/script"
rss() { grep 'Maximum resident' "$1" | awk '{print int($6 / 1024) " MiB"}'; }
/usr/bin/time -v build/tools/mkarchive -s "$D/k.key" -o "$D/a.mfa" "$D/script" 2> "$D/w.time"
/usr/bin/time -v build/mailferry verify -q -p "$D/k.pub" "$D/a.mfa" 2> "$D/v.time"
echo "archive: $(stat -c %s "$D/a.mfa") bytes"
echo "write peak RSS: $(rss "$D/w.time")"
echo "verify peak RSS: $(rss "$D/v.time")"
