#!/bin/sh
# pack_shard.t: `pack --shard I/N` packs a stable share of the users, so N
# runs over the same user list pack every user exactly once; the shards'
# full archives unpack together in one command (and are refused together when
# they share a user); each shard's deltas apply to what that shard unpacked.
. "$(dirname "$0")/lib.sh"
# shellcheck disable=SC2086
tar -xzf "$MF_SRC/examples/vmail.tar.gz" -C "$WORK" 2>/dev/null || skip_all "no example store"
mkdir "$WORK/src" && mv "$WORK"/example.* "$WORK/src/"
L="$WORK/src/%d/%n/Maildir"
"$MAILFERRY" keygen -W -p "$WORK/k.pub" -s "$WORK/k.key" >/dev/null
users_of() { "$MAILFERRY" ls -p "$WORK/k.pub" "$1" | sed -n 's/^user \([^ ]*\) .*/\1/p'; }

run "$MAILFERRY" pack -q -s "$WORK/k.key" -o "$WORK/all.mfa" --layout "$L"
is "$RC" 0 "the whole tree packs"
users_of "$WORK/all.mfa" | sort >"$WORK/all.users"
: >"$WORK/shards.users"
for i in 1 2 3; do
    run "$MAILFERRY" pack -q -s "$WORK/k.key" -o "$WORK/s$i.mfa" --shard "$i/3" --layout "$L"
    is "$RC" 0 "shard $i/3 packs"
    users_of "$WORK/s$i.mfa" >>"$WORK/shards.users"
done
sort "$WORK/shards.users" >"$WORK/shards.sorted"
is "$(cat "$WORK/shards.sorted")" "$(cat "$WORK/all.users")" \
    "the three shards hold every user exactly once"
is "$(sort -u "$WORK/shards.sorted" | wc -l)" "$(wc -l <"$WORK/shards.sorted")" "no user in two shards"
run "$MAILFERRY" pack -q -s "$WORK/k.key" -o "$WORK/s1b.mfa" --shard 1/3 --layout "$L"
is "$(users_of "$WORK/s1b.mfa")" "$(users_of "$WORK/s1.mfa")" "a shard's users are the same on every run"
# a user list given in another order lands in the same shards
find "$WORK/src" -name Maildir -type d | sort -r | while read -r d; do
    n=${d%/Maildir}; dom=${n%/*}; printf '%s@%s\t%s\n' "${n##*/}" "${dom##*/}" "$d"
done >"$WORK/users.txt"
run "$MAILFERRY" pack -q -s "$WORK/k.key" -o "$WORK/s1c.mfa" --shard 1/3 --users "$WORK/users.txt"
is "$(users_of "$WORK/s1c.mfa")" "$(users_of "$WORK/s1.mfa")" "from a --users file in another order too"
# with more shards than users some are empty: still a valid archive
empty=0
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
    "$MAILFERRY" pack -q -s "$WORK/k.key" -o "$WORK/e.mfa" --shard "$i/12" --layout "$L" || break
    if [ -z "$(users_of "$WORK/e.mfa")" ]; then empty=1; break; fi
done
is "$empty" 1 "an empty shard packs"
run "$MAILFERRY" verify -p "$WORK/k.pub" "$WORK/e.mfa"
is "$RC" 0 "and verifies"
for bad in 0/3 4/3 3 1/0 a/b 1/3x; do
    run "$MAILFERRY" pack -q -s "$WORK/k.key" -o "$WORK/bad.mfa" --shard "$bad" --layout "$L"
    is "$RC" 2 "--shard $bad is a usage error"
done

T="$WORK/new/%d/%n/sdbox"
OWN=""
[ "$(id -u)" -ne 0 ] || OWN="--owner 5000:5000"
run "$MAILFERRY" unpack -q $OWN -p "$WORK/k.pub" --to "$T" "$WORK/s1.mfa" "$WORK/s2.mfa" "$WORK/s3.mfa"
is "$RC" 0 "the three shards unpack in one command"
for i in 1 2 3; do
    run "$MAILFERRY" verify -q -p "$WORK/k.pub" --against "$T" "$WORK/s$i.mfa"
    is "$RC" 0 "verify --against finds shard $i's users complete"
done
run "$MAILFERRY" verify -q -p "$WORK/k.pub" --against "$T" "$WORK/all.mfa"
is "$RC" 0 "and the whole-tree archive agrees with what the shards wrote"

run "$MAILFERRY" unpack -q $OWN -p "$WORK/k.pub" --to "$WORK/t2/%d/%n/sdbox" "$WORK/s1.mfa" "$WORK/all.mfa"
is "$RC" 6 "full archives sharing a user are refused"
like "$OUT" "user [^ ]+ is in both .*s1.mfa and .*all.mfa" "the error names the user and both archives"
ok "$([ ! -e "$WORK/t2" ]; echo $?)" "nothing was written"

# a day later: each shard packs its delta; all deltas apply
u=$(users_of "$WORK/s2.mfa" | head -1)
n=${u%@*}; d=${u#*@}
cp "$MF_SRC/examples/migrate.sh" "$WORK/src/$d/$n/Maildir/new/1800000000.M1P1.old,S=1:2,"
printf 'From: a@b\nSubject: late\n\nhello\n' >"$WORK/src/$d/$n/Maildir/new/1800000001.M2P2.old"
for i in 1 2 3; do
    run "$MAILFERRY" pack -q -s "$WORK/k.key" -o "$WORK/d$i.mfa" --shard "$i/3" --layout "$L" \
        --base "$WORK/s$i.mfa"
    is "$RC" 0 "shard $i packs its delta"
done
for i in 1 2 3; do
    run "$MAILFERRY" unpack -q $OWN -p "$WORK/k.pub" --to "$T" "$WORK/d$i.mfa"
    is "$RC" 0 "shard $i's delta applies"
done
for i in 1 2 3; do
    run "$MAILFERRY" verify -q -p "$WORK/k.pub" --against "$T" "$WORK/s$i.mfa" "$WORK/d$i.mfa"
    is "$RC" 0 "verify --against finds shard $i's chain applied"
done
run "$MAILFERRY" unpack -q $OWN -p "$WORK/k.pub" --to "$T" "$WORK/d1.mfa" "$WORK/d2.mfa"
is "$RC" 6 "deltas of different shards in one command are refused (a delta follows its base)"
done_testing
