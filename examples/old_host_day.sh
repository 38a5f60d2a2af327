#!/bin/sh
# old_host_day.sh: a day on the old host of the example, between the full
# archive and the cutover, done to its Maildirs the way a mail server does it:
# deliveries (written in tmp/, moved into new/), a client reading and
# flagging (the file renamed with S and F), and deleting (the file removed).
set -eu
V=$1
inbox=$V/example.com/alice/Maildir
t=$(date +%s)
for i in 1 2 3; do
    f=$inbox/tmp/$t.M${i}P4242.oldhost
    printf 'From: news@lists.example.org\nTo: alice@example.com\nSubject: late news %s\nMessage-ID: <late%s.%s@example.org>\nDate: Mon, 30 Nov 2026 08:0%s:00 +0000\n\nDelivered after the full archive was made.\n' \
        "$i" "$i" "$t" "$i" > "$f"
    size=$(wc -c < "$f" | tr -d ' ')
    mv "$f" "$inbox/new/$t.M${i}P4242.oldhost,S=$size"
    echo "  delivered to alice: new/$t.M${i}P4242.oldhost,S=$size"
done
# read and flagged: the first message not flagged yet gets S and F
for first in $(ls "$inbox/cur" | sort); do
    case "${first#*:2,}" in *F*) continue ;; esac
    base=${first%%:2,*}
    flags=$(printf '%sFS' "${first#*:2,}" | fold -w1 | sort -u | tr -d '\n')
    mv "$inbox/cur/$first" "$inbox/cur/$base:2,$flags"
    echo "  alice read and flagged $base"
    break
done
# deleted
bobin=$V/example.org/bob/Maildir
gone=$(ls "$bobin/cur" | sort | head -1)
rm "$bobin/cur/$gone"
echo "  bob deleted ${gone%%:2,*}"
chown -R --reference="$inbox" "$inbox" 2>/dev/null || true
