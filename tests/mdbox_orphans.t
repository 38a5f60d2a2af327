#!/bin/sh
# mdbox_orphans.t: a delta applied to an mdbox store removes, under the map
# lock, storage files m.N above the map's highest file id (what a writer
# killed between naming its file and committing the map leaves; Dovecot
# would overwrite them, and doveadm force-resync would take their mail in
# again), and touches nothing else there: not a link, not a file the map
# knows.
. "$(dirname "$0")/lib.sh"
# shellcheck disable=SC2086
tar -xzf "$MF_SRC/examples/vmail.tar.gz" -C "$WORK" 2>/dev/null || skip_all "no example store"
mkdir "$WORK/src" && mv "$WORK"/example.* "$WORK/src/"
L="$WORK/src/%d/%n/Maildir"
M="$MAILFERRY"
OWN=""
[ "$(id -u)" -ne 0 ] || OWN="--owner 5000:5000"
"$M" keygen -W -p "$WORK/k.pub" -s "$WORK/k.key" >/dev/null
run "$M" pack -q -s "$WORK/k.key" -o "$WORK/a.mfa" --layout "$L"
is "$RC" 0 "full pack"
T="$WORK/t/%d/%n/mdbox"
run "$M" unpack -q $OWN --format mdbox -p "$WORK/k.pub" --to "$T" "$WORK/a.mfa"
is "$RC" 0 "unpacked to mdbox"
S="$WORK/t/example.com/alice/mdbox/storage"
known=$(ls "$S" | grep '^m\.[0-9]*$' | sort)
printf 'junk of a killed writer\n' >"$S/m.999"
printf 'decoy\n' >"$WORK/decoy"
ln -s "$WORK/decoy" "$S/m.998"
printf 'From: x@example.org\nSubject: late\n\nlate\n' \
    >"$WORK/src/example.com/alice/Maildir/new/1796000000.M1P1.host"
run "$M" pack -q -s "$WORK/k.key" -o "$WORK/d.mfa" --base "$WORK/a.mfa" --layout "$L"
is "$RC" 0 "delta pack"
run "$M" unpack -q $OWN -p "$WORK/k.pub" --to "$T" "$WORK/d.mfa"
is "$RC" 0 "delta applied"
[ ! -e "$S/m.999" ]
ok $? "the orphan m.999 above the map's highest file id is gone"
[ -L "$S/m.998" ] && [ "$(cat "$WORK/decoy")" = "decoy" ]
ok $? "a link there is neither followed nor removed"
missing=0
for f in $known; do [ -f "$S/$f" ] || missing=1; done
is "$missing" 0 "every file the map knew is still there"
run "$M" verify -q -p "$WORK/k.pub" --against "$T" "$WORK/a.mfa" "$WORK/d.mfa"
is "$RC" 0 "the store holds the chain's state"
done_testing
