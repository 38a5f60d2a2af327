#!/bin/bash
# format_tamper.t: every way of damaging an archive is detected by `verify`
# with a specific message, a matching error class and a non-zero exit:
# a flipped byte in each member and in a tar header, truncation at every
# member boundary and inside each member, a dropped, duplicated or reordered
# member, another signer, an unsigned archive. Also: tar lists the members,
# minisign verifies the manifest, minisign-made keys sign for mailferry.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip_all "python3 missing"
SURG="python3 $MF_SRC/tests/tools/tarsurgery.py"
cd "$WORK"

# A small archive with several packs.
$MAILFERRY keygen -W -p k.pub -s k.key >/dev/null
$MAILFERRY keygen -W -p other.pub -s other.key >/dev/null
{
    echo "user alice /src/alice 5000 5000 vmail vmail"
    echo "mailbox - INBOX 0 1 00112233445566778899aabbccddeeff 1700000001 40 3 \$Label1"
    for i in $(seq 1 24); do
        { printf 'From: a%s@example.com\nSubject: message %s\n\n' "$i" "$i"; head -c 30000 /dev/urandom | base64; } > m$i.eml
        echo "message $i S - - 1704067200 1704067200 - 0 cur $i.M1P1.h:2,S m$i.eml"
    done
    echo "endmailbox"
    echo "enduser"
} > s.txt
"$MF_TOOLS/mkarchive" -s k.key -o a.mfa --pack-target 200000 --frame-target 65536 s.txt
ok $? "a test archive is written"

run $MAILFERRY verify -p k.pub a.mfa
ok $RC "the intact archive verifies"

run tar tvf a.mfa
like "$(printf '%s' "$OUT" | tr '\n' ' ')" "FORMAT.*MANIFEST.*MANIFEST.minisig.*index/000001.*packs/000001.*packs/000002" \
    "tar tvf lists the members"
NPACKS=$(tar tf a.mfa | grep -c '^packs/')
[ "$NPACKS" -ge 3 ]; ok $? "the archive has several packs ($NPACKS)"

tar xf a.mfa MANIFEST MANIFEST.minisig
if command -v minisign >/dev/null; then
    run minisign -Vm MANIFEST -p k.pub
    ok $RC "minisign -V verifies the manifest with a mailferry public key"
    rm -f mk.pub mk.key
    minisign -G -W -p mk.pub -s mk.key >/dev/null 2>&1
    "$MF_TOOLS/mkarchive" -s mk.key -o m.mfa s.txt && run $MAILFERRY verify -p mk.pub m.mfa
    ok $RC "a key pair made by minisign -G -W signs and verifies with mailferry"
else
    skip "minisign not installed"; skip "minisign not installed"
fi

expect() {  # expect ARCHIVE EXITCODE CLASS REGEX DESCRIPTION
    run $MAILFERRY verify -q -p k.pub "$1"
    T_N=$((T_N + 1))
    if [ "$RC" -eq "$2" ] && printf '%s' "$OUT" | grep -q ": $3: " && printf '%s' "$OUT" | grep -Eq -- "$4"; then
        echo "ok $T_N - $5"
    else
        echo "not ok $T_N - $5"; echo "#   exit $RC, output: $OUT"; T_FAILED=$((T_FAILED + 1))
    fi
}

# one flipped byte in the data of each member
while read -r name hoff doff size; do
    mid=$((doff + size / 2))
    $SURG flip a.mfa $mid f.mfa
    case $name in
        FORMAT) expect f.mfa 4 corrupt "FORMAT|not a mailferry" "flipped byte in FORMAT" ;;
        MANIFEST) expect f.mfa 5 signature "does not match the manifest|signature" "flipped byte in MANIFEST" ;;
        MANIFEST.minisig) expect f.mfa 5 signature "signature|malformed|signed by" "flipped byte in MANIFEST.minisig" ;;
        *) expect f.mfa 4 corrupt "member $name does not match its digest" "flipped byte in $name" ;;
    esac
    # a flipped byte in the member's tar header (its size field)
    $SURG flip a.mfa $((hoff + 130)) h.mfa
    expect h.mfa 4 corrupt "damaged|truncated|tar|size" "flipped byte in the tar header of $name"
    # truncated at the start of the member and in its middle
    $SURG truncate a.mfa $hoff t.mfa
    case $name in
        FORMAT) expect t.mfa 4 corrupt "empty|not a|truncated" "truncated before FORMAT" ;;
        MANIFEST) expect t.mfa 4 corrupt "truncated" "truncated before MANIFEST" ;;
        MANIFEST.minisig) expect t.mfa 5 signature "not signed" "truncated before MANIFEST.minisig" ;;
        *) expect t.mfa 4 corrupt "truncated: member $name is missing" "truncated before $name" ;;
    esac
    $SURG truncate a.mfa $mid t.mfa
    expect t.mfa 4 corrupt "truncated" "truncated inside $name"
done < <($SURG members a.mfa)

# truncated after the last member: no end-of-archive marker
last_end=$($SURG members a.mfa | tail -1 | awk '{print $3 + int(($4 + 511) / 512) * 512}')
$SURG truncate a.mfa "$last_end" t.mfa
expect t.mfa 4 corrupt "end-of-archive marker is missing" "truncated after the last member"

# dropped, duplicated, reordered members
for name in FORMAT MANIFEST MANIFEST.minisig index/000001 packs/000001 packs/000002 packs/$(printf %06d "$NPACKS"); do
    $SURG drop a.mfa "$name" d.mfa
    case $name in
        FORMAT) expect d.mfa 4 corrupt "not a mailferry" "dropped FORMAT" ;;
        MANIFEST) expect d.mfa 4 corrupt "MANIFEST missing" "dropped MANIFEST" ;;
        MANIFEST.minisig) expect d.mfa 5 signature "not signed" "dropped MANIFEST.minisig" ;;
        packs/$(printf %06d "$NPACKS")) expect d.mfa 4 corrupt "truncated: member $name is missing" "dropped the last pack" ;;
        *) expect d.mfa 4 corrupt "out of order: expected $name" "dropped $name" ;;
    esac
    $SURG dup a.mfa "$name" d.mfa
    case $name in
        MANIFEST.minisig|MANIFEST|FORMAT) expect d.mfa 4 corrupt "appears twice|MANIFEST missing|not signed" "duplicated $name" ;;
        *) expect d.mfa 4 corrupt "member $name appears twice" "duplicated $name" ;;
    esac
done
$SURG swap a.mfa packs/000001 packs/000002 r.mfa
expect r.mfa 4 corrupt "member packs/000002 out of order: expected packs/000001" "two packs swapped"
$SURG swap a.mfa index/000001 packs/000001 r.mfa
expect r.mfa 4 corrupt "out of order" "index and pack swapped"
$SURG swap a.mfa MANIFEST MANIFEST.minisig r.mfa
expect r.mfa 4 corrupt "MANIFEST missing" "manifest and signature swapped"
echo junk > junk
$SURG add a.mfa extra/file junk x.mfa
expect x.mfa 4 corrupt "unexpected member extra/file" "an extra member"

# another signer
"$MF_TOOLS/mkarchive" -s other.key -o o.mfa s.txt
run $MAILFERRY verify -q -p k.pub o.mfa
is "$RC" 5 "an archive signed by another key exits 5"
like "$OUT" "signature: .*signed by key [0-9A-F]{16}, but the trusted key is [0-9A-F]{16}" "and names both keys"
# a valid signature of another manifest (replay)
tar xf o.mfa MANIFEST.minisig && mv MANIFEST.minisig other.minisig
tar xf a.mfa MANIFEST.minisig
$SURG replace a.mfa MANIFEST.minisig other.minisig p.mfa
run $MAILFERRY verify -q -p other.pub p.mfa
is "$RC" 5 "a signature from another archive exits 5"
like "$OUT" "does not match the manifest" "and says the signature does not match"

# not an archive at all
head -c 5000 /dev/urandom > noise.bin
run $MAILFERRY verify -q -p k.pub noise.bin
is "$RC" 4 "random bytes exit 4"
like "$OUT" "corrupt: .*not (a tar|a mailferry)" "and are called not an archive"

# from a pipe
run sh -c "cat a.mfa | $MAILFERRY verify -q -p k.pub -"
ok $RC "an archive read from a pipe verifies"
run sh -c "head -c 20000 a.mfa | $MAILFERRY verify -q -p k.pub -"
is "$RC" 4 "a truncated archive from a pipe exits 4"

done_testing
