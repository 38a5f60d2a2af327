#!/bin/sh
# encrypt_volumes.t: `pack --encrypt-to` and `--volume-size` (spec 15). An
# encrypted archive names no user or mailbox outside its sealed members,
# checks as a container without a key, opens with any recipient's key (the
# signer's own included) and unpacks to exactly the store its plaintext twin
# gives; a wrong or missing key is refused before anything is written; a
# delta packs against an encrypted base. Volumes stay within the size asked,
# each checks on its own, unpack reads them by their shared name or in order,
# and a missing, swapped or foreign volume is named before anything is
# written; a delta packs against a base in volumes.
. "$(dirname "$0")/lib.sh"
# shellcheck disable=SC2086
tar -xzf "$MF_SRC/examples/vmail.tar.gz" -C "$WORK" 2>/dev/null || skip_all "no example store"
mkdir "$WORK/src" && mv "$WORK"/example.* "$WORK/src/"
L="$WORK/src/%d/%n/Maildir"
M="$MAILFERRY"
for k in a b c; do "$M" keygen -W -p "$WORK/$k.pub" -s "$WORK/$k.key" >/dev/null; done
OWN=""
[ "$(id -u)" -ne 0 ] || OWN="--owner 5000:5000"

# ---------------------------------------------------------------- encryption
run "$M" pack -q -s "$WORK/a.key" -o "$WORK/e.mfa" --encrypt-to "$WORK/b.pub" --layout "$L"
is "$RC" 0 "pack --encrypt-to"
like "$(tar -xOf "$WORK/e.mfa" MANIFEST)" "^encryption x25519-xchacha20poly1305" \
    "the manifest says how it is encrypted"
is "$(tar -xOf "$WORK/e.mfa" MANIFEST | grep -c '^recipient ')" 2 \
    "two recipients: the one asked for and the signer"
grep -aq -e 'alice' -e 'example\.' -e 'INBOX' -e 'Subject:' "$WORK/e.mfa"
is "$?" 1 "no user, domain, mailbox name or header appears anywhere in the file"
tar -xOf "$WORK/e.mfa" index/000001 | zstd -dcq >/dev/null 2>&1
is "$?" 1 "its index is no zstd frame (sealed)"
run "$M" pack -q -s "$WORK/a.key" -o "$WORK/p.mfa" --layout "$L"
tar -xOf "$WORK/p.mfa" index/000001 | zstd -dcq 2>/dev/null | grep -aq 'alice@example.com'
is "$?" 0 "(while the plaintext archive's index names the users)"

run "$M" verify -p "$WORK/a.pub" "$WORK/e.mfa"
is "$RC" 0 "verify without a key: the container checks"
like "$OUT" "not read .*no secret key" "and it says the index and messages were not read"
run "$M" verify -p "$WORK/a.pub" -k "$WORK/b.key" "$WORK/e.mfa"
is "$RC" 0 "verify with the recipient's key"
like "$OUT" "5 users, 71 messages" "reads the index and every message"
run "$M" verify -p "$WORK/a.pub" -k "$WORK/c.key" "$WORK/e.mfa"
is "$RC" 5 "verify with a key that is not a recipient: signature class"
like "$OUT" "encrypted to keys [0-9A-F]{16}, [0-9A-F]{16}, not to key [0-9A-F]{16}" \
    "the error names the recipients and the key given"

T="$WORK/t/%d/%n/sdbox"
run "$M" unpack -q $OWN -p "$WORK/a.pub" --to "$T" "$WORK/e.mfa"
is "$RC" 5 "unpack without -k is refused"
like "$OUT" "give a recipient's secret key with -k" "saying what to give"
run "$M" unpack -q $OWN -p "$WORK/a.pub" -k "$WORK/c.key" --to "$T" "$WORK/e.mfa"
is "$RC" 5 "unpack with a key that is not a recipient is refused"
[ ! -e "$WORK/t" ]
ok $? "and nothing was written"
run "$M" unpack -q $OWN -p "$WORK/a.pub" -k "$WORK/b.key" --to "$T" "$WORK/e.mfa"
is "$RC" 0 "unpack -k with the recipient's key"
run "$M" verify -q -p "$WORK/a.pub" --against "$T" "$WORK/p.mfa"
is "$RC" 0 "the store holds every message, byte for byte, and all the metadata of the plaintext archive"
run "$M" ls -p "$WORK/a.pub" -k "$WORK/a.key" "$WORK/e.mfa"
like "$OUT" "5 users, 41 mailboxes, 71 messages" "the signer's own key opens it too (ls)"

# tampering: a sealed index segment with one bit changed, digests and
# signature left as they were, is refused (digest); the AEAD itself is
# exercised by the unit tests
cp "$WORK/e.mfa" "$WORK/bad.mfa"
off=$(( $(tar -tvf "$WORK/e.mfa" | head -3 | awk '{s+=$3} END {print s}') ))
printf 'Z' | dd of="$WORK/bad.mfa" bs=1 seek=$((off + 3 * 512 + 3 * 512 + 100)) conv=notrunc 2>/dev/null
run "$M" verify -p "$WORK/a.pub" -k "$WORK/b.key" "$WORK/bad.mfa"
is "$RC" 4 "a changed byte in an encrypted archive is refused as corrupt"

# a delta against the encrypted base: its index is read with the signing key
mkdir -p "$WORK/src/example.com/alice/Maildir/new"
printf 'From: x@example.org\nSubject: late\n\nlate mail\n' \
    >"$WORK/src/example.com/alice/Maildir/new/1796000000.M1P1.host"
run "$M" pack -q -s "$WORK/a.key" -o "$WORK/d.mfa" --base "$WORK/e.mfa" \
    --encrypt-to "$WORK/b.pub" --layout "$L"
is "$RC" 0 "pack --base of an encrypted base (read with the signer's key)"
run "$M" pack -q -s "$WORK/c.key" -p "$WORK/a.pub" -o "$WORK/dc.mfa" --base "$WORK/e.mfa" --layout "$L"
is "$RC" 5 "another signer without a recipient key cannot read that base"
run "$M" diff -p "$WORK/a.pub" -k "$WORK/b.key" "$WORK/e.mfa" "$WORK/d.mfa"
like "$OUT" "1 added" "diff of the two encrypted archives"
run "$M" unpack -q $OWN -p "$WORK/a.pub" -k "$WORK/b.key" --to "$T" "$WORK/d.mfa"
is "$RC" 0 "the encrypted delta applies"
run "$M" verify -q -p "$WORK/a.pub" -k "$WORK/b.key" --against "$T" "$WORK/e.mfa" "$WORK/d.mfa"
is "$RC" 0 "verify --against finds the chain's state on the target"

# ---------------------------------------------------------------- volumes
# about 25 MB of attachments that do not compress
B="$WORK/big/Maildir"
mkdir -p "$B/cur" "$B/new" "$B/tmp"
i=0
while [ $i -lt 25 ]; do
    {
        printf 'From: a@example.org\nSubject: attachment %d\nMIME-Version: 1.0\n' $i
        printf 'Content-Type: multipart/mixed; boundary=XX\n\n--XX\nContent-Type: text/plain\n\nsee attached\n'
        printf -- '--XX\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n'
        head -c 1000000 /dev/urandom | base64 -w 76
        printf -- '--XX--\n'
    } >"$B/cur/17960$(printf %05d $i).M${i}P1.host:2,S"
    i=$((i + 1))
done
run "$M" pack -q -s "$WORK/a.key" -o "$WORK/v.mfa" --volume-size 8M --encrypt-to "$WORK/b.pub" \
    big@example.com="$B"
is "$RC" 0 "pack --volume-size 8M (encrypted as well)"
nv=$(ls "$WORK"/v.mfa.* | wc -l)
[ "$nv" -ge 3 ]
ok $? "at least three volumes ($nv)"
[ ! -e "$WORK/v.mfa" ] && ! ls "$WORK" | grep -q partial
ok $? "named v.mfa.001 ..., no other file left"
big=0
for f in "$WORK"/v.mfa.*; do [ "$(stat -c %s "$f")" -le 8388608 ] || big=1; done
is "$big" 0 "each volume is at most 8 MiB"
for f in "$WORK"/v.mfa.*; do
    run "$M" verify -p "$WORK/a.pub" "$f"
    n=${f##*.}
    like "$OUT" "volume $(expr "$n" + 0) of $nv: OK" "volume $n checks on its own (exit $RC)"
done
run "$M" verify -p "$WORK/a.pub" -k "$WORK/b.key" "$WORK/v.mfa"
like "$OUT" "in $nv volumes .*1 users, 25 messages" "verify by the shared name reads every volume"

T2="$WORK/t2/%d/%n/sdbox"
run "$M" unpack -q $OWN -p "$WORK/a.pub" -k "$WORK/b.key" --to "$T2" \
    "$WORK/v.mfa.001" "$WORK/v.mfa.003"
is "$RC" 4 "a missing volume is refused"
like "$OUT" "volume 2 of $nv is missing \(.*v.mfa.003 is volume 3\)" "and named"
run "$M" unpack -q $OWN -p "$WORK/a.pub" -k "$WORK/b.key" --to "$T2" \
    "$WORK/v.mfa.002" "$WORK/v.mfa.001"
is "$RC" 4 "volumes out of order are refused"
like "$OUT" "volume 1 of $nv is missing" "and named"
run "$M" pack -q -s "$WORK/a.key" -o "$WORK/w.mfa" --volume-size 8M big@example.com="$B"
run "$M" unpack -q $OWN -p "$WORK/a.pub" -k "$WORK/b.key" --to "$T2" \
    "$WORK/v.mfa.001" "$WORK/w.mfa.002"
is "$RC" 4 "a volume of another archive is refused"
like "$OUT" "w.mfa.002 belongs to another archive" "and named"
[ ! -e "$WORK/t2" ]
ok $? "nothing was written by the refused runs"
run "$M" unpack -q $OWN -p "$WORK/a.pub" -k "$WORK/b.key" --to "$T2" "$WORK/v.mfa"
is "$RC" 0 "unpack by the shared name"
run "$M" verify -q -p "$WORK/a.pub" --against "$T2" "$WORK/w.mfa"
is "$RC" 0 "and holds what the plain volumes hold"
run "$M" verify -q -p "$WORK/a.pub" -k "$WORK/b.key" --against "$T2" "$WORK/v.mfa"
is "$RC" 0 "verify --against the volumes"
printf 'From: a@example.org\nSubject: one more\n\nx\n' >"$B/new/1796100000.M9P9.host"
run "$M" pack -q -s "$WORK/a.key" -o "$WORK/vd.mfa" --base "$WORK/v.mfa" big@example.com="$B"
is "$RC" 0 "a delta against a base in volumes"
run "$M" unpack -q $OWN -p "$WORK/a.pub" -k "$WORK/b.key" --to "$T2" "$WORK/vd.mfa"
is "$RC" 0 "applies"
run "$M" verify -q -p "$WORK/a.pub" -k "$WORK/b.key" --against "$T2" "$WORK/v.mfa" "$WORK/vd.mfa"
is "$RC" 0 "and the target holds the chain's state"
run "$M" pack -q -s "$WORK/a.key" -o "$WORK/x.mfa" --volume-size 1M big@example.com="$B"
is "$RC" 2 "--volume-size below 8M is a usage error"
run "$M" pack -q -s "$WORK/a.key" -o - --volume-size 8M big@example.com="$B"
is "$RC" 2 "--volume-size with -o - is a usage error"
done_testing
