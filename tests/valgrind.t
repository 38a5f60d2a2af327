#!/bin/sh
# valgrind.t: the main commands on the example store under valgrind's
# memcheck (the normal build, not the sanitizer one): no invalid read or
# write, no use of uninitialised memory, no definite or indirect leak.
# keygen, pack (encrypted, then a delta), verify, ls --json, unpack to sdbox
# and mdbox, the delta applied, verify --against.
. "$(dirname "$0")/lib.sh"
# shellcheck disable=SC2086
command -v valgrind >/dev/null 2>&1 || skip_all "valgrind is not installed"
[ -z "${MF_SAN:-}" ] || skip_all "the sanitizer build runs under its own checker"
tar -xzf "$MF_SRC/examples/vmail.tar.gz" -C "$WORK" 2>/dev/null || skip_all "no example store"
mkdir "$WORK/src" && mv "$WORK"/example.* "$WORK/src/"
L="$WORK/src/%d/%n/Maildir"
OWN=""
[ "$(id -u)" -ne 0 ] || OWN="--owner 5000:5000"
VG="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect"
VG="$VG --show-leak-kinds=definite,indirect --track-origins=yes"
vg() {  # [WANT=N] vg DESCRIPTION ARGS...: runs mailferry ARGS under valgrind
    d=$1
    shift
    OUT=$($VG "$MAILFERRY" "$@" 2>&1)
    RC=$?
    if [ "$RC" -eq 99 ] || printf '%s' "$OUT" | grep -q '^==[0-9]*=='; then
        is "$RC" "clean" "$d: valgrind reports nothing"
        printf '%s\n' "$OUT" | grep '^==' | head -20 | sed 's/^/# /'
    else
        is "$RC" "${WANT:-0}" "$d: exit ${WANT:-0} and valgrind reports nothing"
    fi
}
vg "keygen" keygen -W -p "$WORK/k.pub" -s "$WORK/k.key"
"$MAILFERRY" keygen -W -p "$WORK/n.pub" -s "$WORK/n.key" >/dev/null
vg "pack --encrypt-to" pack -q -s "$WORK/k.key" --encrypt-to "$WORK/n.pub" -o "$WORK/a.mfa" --layout "$L"
vg "verify -k" verify -q -p "$WORK/k.pub" -k "$WORK/n.key" "$WORK/a.mfa"
vg "verify without the key" verify -q -p "$WORK/k.pub" "$WORK/a.mfa"
vg "ls --json" ls -p "$WORK/k.pub" -k "$WORK/n.key" --json "$WORK/a.mfa"
vg "unpack sdbox" unpack -q $OWN --no-fsync -p "$WORK/k.pub" -k "$WORK/n.key" \
    --to "$WORK/s/%d/%n/sdbox" "$WORK/a.mfa"
vg "unpack mdbox" unpack -q $OWN --no-fsync -p "$WORK/k.pub" -k "$WORK/n.key" --format mdbox \
    --to "$WORK/m/%d/%n/mdbox" "$WORK/a.mfa"
printf 'From: x@example.org\nSubject: late\n\nlate\n' \
    >"$WORK/src/example.com/alice/Maildir/new/1796000000.M1P1.host"
mv "$WORK/src/example.org/bob/Maildir/cur/$(ls "$WORK/src/example.org/bob/Maildir/cur" | head -1)" \
    "$WORK/src/example.org/bob/Maildir/cur/moved:2,FS" 2>/dev/null || true
vg "pack --base" pack -q -s "$WORK/k.key" --encrypt-to "$WORK/n.pub" -o "$WORK/d.mfa" \
    --base "$WORK/a.mfa" --layout "$L"
WANT=1 vg "diff (exit 1: changes)" diff -p "$WORK/k.pub" -k "$WORK/n.key" "$WORK/a.mfa" "$WORK/d.mfa"
vg "the delta applied to sdbox" unpack -q $OWN --no-fsync -p "$WORK/k.pub" -k "$WORK/n.key" \
    --to "$WORK/s/%d/%n/sdbox" "$WORK/d.mfa"
vg "the delta applied to mdbox" unpack -q $OWN --no-fsync -p "$WORK/k.pub" -k "$WORK/n.key" \
    --to "$WORK/m/%d/%n/mdbox" "$WORK/d.mfa"
vg "verify --against" verify -q -p "$WORK/k.pub" -k "$WORK/n.key" --against "$WORK/s/%d/%n/sdbox" \
    "$WORK/a.mfa" "$WORK/d.mfa"
done_testing
