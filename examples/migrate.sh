#!/bin/sh
# migrate.sh: the whole migration on the bundled example (`make demo`).
#
# examples/vmail.tar.gz is a small virtual-hosting tree /var/vmail/%d/%n/Maildir
# of five users as old servers leave it: Dovecot 2 Maildir++ with its
# dovecot-uidlist, dovecot-keywords and indexes (UIDs assigned by Dovecot over
# several generations, keywords, non-ASCII folder names, list mail, shared
# attachments, a Sieve script), one store converted by dsync, and one Courier
# IMAP store (courierimapuiddb, courierimapkeywords, courierimapsubscribed).
#
# The script plays both hosts in one directory (DEMO_DIR, default build/demo)
# and runs the backup-then-migrate flow:
#   keys/                one key pair per host: old.key signs the archives,
#                        new.key opens them (they are encrypted to new.pub);
#                        each host has only the other's public key
#   old/vmail            the old host's store (extracted from the tarball)
#   ferry.mfa            1. the full archive, packed while the old server runs
#   report.txt              (with its client-impact report),
#                           verified and unpacked on the new host:
#   new/vmail-sdbox,        its stores, one per dbox format
#   new/vmail-mdbox         (homes %d/%n, mail in %d/%n/sdbox or mdbox)
#   cutover.mfa          2. mail keeps arriving and being read on the old host;
#                           then it stops, and a small delta carries the change
#                           over and is applied
# and, as root with Dovecot installed, starts a throwaway Dovecot that serves
# the old Maildirs and the new dbox stores side by side and compares what it
# reports for every mailbox and message.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
MF=${MAILFERRY:-$top/build/mailferry}
DEMO=${DEMO_DIR:-$top/build/demo}

step() { printf '\n== %s\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

[ -x "$MF" ] || { echo "migrate.sh: $MF not built (run make)" >&2; exit 1; }
rm -rf "$DEMO"
mkdir -p "$DEMO/old/vmail" "$DEMO/keys" "$DEMO/new"
cd "$DEMO"

step "the old host's store"
tar -xzf "$here/vmail.tar.gz" -C old/vmail
find old/vmail -name Maildir -type d | sort | sed 's/^/  /'

step "a key pair on each host (no password, for the demo only); they swap public keys"
run "$MF" keygen -W -p keys/new.pub -s keys/new.key
run "$MF" keygen -W -p keys/old.pub -s keys/old.key

step "pack every user of the tree on the old host (read-only, safe while it serves mail),"
echo "   signed with the old host's key and encrypted to the new host's"
run "$MF" pack -s keys/old.key --encrypt-to keys/new.pub -o ferry.mfa \
    --layout "$DEMO/old/vmail/%d/%n/Maildir" --report report.txt
ls -l ferry.mfa | awk '{print "  archive: " $5 " bytes"}'
echo "  what clients will notice (report.txt, first lines):"
head -n 8 report.txt | sed 's/^/    /'

step "anyone with the old host's public key checks it in transit, without reading it"
run "$MF" verify -p keys/old.pub ferry.mfa

step "check it on the new host, contents included, before anything is written"
run "$MF" verify -p keys/old.pub -k keys/new.key ferry.mfa
run "$MF" ls -p keys/old.pub -k keys/new.key ferry.mfa

owner=""
if [ "$(id -u)" -eq 0 ]; then
    owner="--owner 5000:5000"     # the virtual mail user of the new host
fi
step "unpack to Dovecot sdbox and to mdbox"
# shellcheck disable=SC2086
run "$MF" unpack -p keys/old.pub -k keys/new.key --to "$DEMO/new/vmail-sdbox/%d/%n/sdbox" --format sdbox $owner ferry.mfa
# shellcheck disable=SC2086
run "$MF" unpack -p keys/old.pub -k keys/new.key --to "$DEMO/new/vmail-mdbox/%d/%n/mdbox" --format mdbox $owner ferry.mfa
find new -mindepth 4 -maxdepth 4 | sort | sed 's/^/  /'

step "unpacking the same archive again changes nothing"
# shellcheck disable=SC2086
run "$MF" unpack -p keys/old.pub -k keys/new.key --to "$DEMO/new/vmail-sdbox/%d/%n/sdbox" --format sdbox $owner ferry.mfa

step "meanwhile on the old host: new mail arrives, messages are read, flagged, deleted"
sh "$here/old_host_day.sh" "$DEMO/old/vmail"

step "cutover: stop the old server, pack only what changed since the full archive"
echo "   (the old host reads the full archive's index with its own key: the signer is"
echo "   always a recipient)"
run "$MF" pack -s keys/old.key --encrypt-to keys/new.pub -o cutover.mfa --base ferry.mfa \
    --layout "$DEMO/old/vmail/%d/%n/Maildir"
ls -l cutover.mfa | awk '{print "  delta: " $5 " bytes"}'
run "$MF" diff -p keys/old.pub -k keys/new.key ferry.mfa cutover.mfa || true

step "apply the delta on the new host (safe while the new Dovecot already serves mail)"
# shellcheck disable=SC2086
run "$MF" unpack -p keys/old.pub -k keys/new.key --to "$DEMO/new/vmail-sdbox/%d/%n/sdbox" $owner cutover.mfa
# shellcheck disable=SC2086
run "$MF" unpack -p keys/old.pub -k keys/new.key --to "$DEMO/new/vmail-mdbox/%d/%n/mdbox" $owner cutover.mfa

step "read the new stores back and compare them with the chain, message by message"
run "$MF" verify -p keys/old.pub -k keys/new.key --against "$DEMO/new/vmail-sdbox/%d/%n/sdbox" ferry.mfa cutover.mfa
run "$MF" verify -p keys/old.pub -k keys/new.key --against "$DEMO/new/vmail-mdbox/%d/%n/mdbox" ferry.mfa cutover.mfa

step "what Dovecot itself sees: the old Maildir at cutover against the new sdbox and mdbox"
if [ "$(id -u)" -ne 0 ] || ! command -v doveadm >/dev/null 2>&1; then
    echo "  (skipped: starting a throwaway Dovecot needs root and dovecot-core)"
    exit 0
fi
run python3 "$here/compare.py" -p keys/old.pub -k keys/new.key --archive ferry.mfa --mailferry "$MF" \
    --old "$DEMO/old/vmail/%d/%n/Maildir" \
    --new "sdbox=$DEMO/new/vmail-sdbox/%d/%n/sdbox" --new "mdbox=$DEMO/new/vmail-mdbox/%d/%n/mdbox"
