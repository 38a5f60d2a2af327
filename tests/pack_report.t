#!/bin/sh
# pack_report.t: `pack --report` writes, for every mailbox, what a client will
# notice after the move (UIDVALIDITY and its source, POP3 UIDL sources,
# names to translate, nameless keyword letters) and every skipped item; the
# archive is the same as without it.
. "$(dirname "$0")/lib.sh"
S=$MF_SRC/tests/data/samples
[ -d "$S/maildir-dovecot" ] || skip_all "no samples"
cp -a "$S/maildir-dovecot" "$WORK/src"
(cd "$S" && grep '^./maildir-dovecot' DIRS.txt | sed 's#^./maildir-dovecot#'"$WORK"'/src#' | xargs -d '\n' mkdir -p)
M=$WORK/src/Maildir
ln -s /etc "$M/.Linked"
# a message naming a keyword letter dovecot-keywords does not define
f=$(ls "$M/new" | sort | head -1)
mv "$M/new/$f" "$M/cur/${f%%:2,*}:2,Sz"
"$MAILFERRY" keygen -W -p "$WORK/k.pub" -s "$WORK/k.key" >/dev/null
run "$MAILFERRY" pack -q -s "$WORK/k.key" -o "$WORK/a.mfa" --report "$WORK/report.txt" "u@example.org=$M"
is "$RC" 1 "pack with a skipped folder exits 1"
R=$(cat "$WORK/report.txt")
like "$R" "u@example.org	INBOX	[0-9]+ messages	UIDVALIDITY [0-9]+ from the uidlist" "INBOX: its message count and UIDVALIDITY from the uidlist"
like "$R" "u@example.org	Work/Sub	1 messages" "a subfolder by its decoded name"
like "$R" "POP3 UIDLs: [0-9]+ from the uidlist" "POP3 UIDL sources counted"
like "$R" "keyword letter without a name in dovecot-keywords: unknown-25" "the nameless keyword letter"
like "$R" "u@example.org	.Linked	skipped: symbolic link" "the skipped folder with its reason"
n=$(grep -c '^u@example.org	' "$WORK/report.txt")
is "$n" 5 "one line per mailbox (4) and per skipped item (1)"
run "$MAILFERRY" verify -p "$WORK/k.pub" "$WORK/a.mfa"
is "$RC" 0 "the archive verifies"
done_testing
