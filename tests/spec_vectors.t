#!/bin/bash
# spec_vectors.t: the committed test vectors of spec/FORMAT.md still hold:
# tiny.mfa verifies with test.pub, `ls --json` prints exactly tiny.ls.json,
# and building tiny.script again with the same id and time gives the same
# bytes (zstd and Ed25519 are deterministic).
. "$(dirname "$0")/lib.sh"
V="$MF_SRC/spec/vectors"
cd "$WORK"
run $MAILFERRY verify -p "$V/test.pub" "$V/tiny.mfa"
ok $RC "tiny.mfa verifies"
$MAILFERRY ls --json -p "$V/test.pub" "$V/tiny.mfa" > ls.json
cmp -s ls.json "$V/tiny.ls.json"
ok $? "ls --json output equals tiny.ls.json"
cp "$V/test.key" key && chmod 600 key
(cd "$V" && "$MF_TOOLS/mkarchive" -s "$WORK/key" -o "$WORK/again.mfa" \
    --id 000102030405060708090a0b0c0d0e0f --created 1704067200 --host old.example.org tiny.script)
cmp -s again.mfa "$V/tiny.mfa"
ok $? "rebuilding tiny.script reproduces tiny.mfa byte for byte"
chmod 644 key
run "$MF_TOOLS/mkarchive" -s key -o x.mfa "$V/tiny.script"
[ "$RC" -ne 0 ] && printf '%s' "$OUT" | grep -q "accessible by group or others"
ok $? "a secret key readable by others is refused"
done_testing
