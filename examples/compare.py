#!/usr/bin/env python3
"""compare.py: asks Dovecot what it sees in the old Maildir stores and in the
dbox stores unpacked from an archive, and compares them field by field.

    compare.py -p PUB [-k SEC] --archive A.mfa --old '/old/vmail/%d/%n/Maildir'
               --new sdbox='/new/sdbox/%d/%n' --new mdbox='/new/mdbox/%d/%n'

The users are the archive's (`mailferry ls --json`). A throwaway Dovecot
(tests/dovecot/dvlib.py) serves each user three times, as old Maildir and as
each new store, and for every mailbox this prints what `doveadm mailbox
status` reports for each, then compares `doveadm fetch` of every message:
UID, flags and keywords, GUID, received date, POP3 UIDL and order, sizes.

Save dates are compared between the new stores and the archive: opening an old
Maildir makes Dovecot move new/ files to cur/, which changes the ctimes it
then reports. Dovecot reads no Courier metadata, so a Courier user's new
stores are compared with the archive (that is, with Courier's own UIDs,
flags and keywords) instead of with Dovecot's view of the old Maildir.
Exit 0 when everything agrees.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "dovecot"))
import dvlib  # noqa: E402

FIELDS = ["mailbox", "uid", "flags", "guid", "date.received.unixtime",
          "pop3.uidl", "pop3.order", "size.virtual", "size.physical"]
STATUS = ["messages", "uidvalidity", "uidnext", "guid"]


def expand(template, user):
    local, _, domain = user.partition("@")
    return template.replace("%u", user).replace("%n", local).replace("%d", domain)


def is_courier(maildir):
    return (os.path.exists(os.path.join(maildir, "courierimapuiddb"))
            and not os.path.exists(os.path.join(maildir, "dovecot-uidlist")))


def archive_view(user):
    """What the archive says, in doveadm's terms."""
    status, msgs = {}, {}
    for mb in user["mailboxes"]:
        name = "/".join(mb["name"])
        status[name] = {"messages": str(mb["message_count"]),
                        "uidvalidity": str(mb["uidvalidity"]),
                        "uidnext": str(mb["uidnext"]), "guid": mb["guid"]}
        for m in mb["messages"]:
            msgs[(name, m["uid"])] = {
                "flags": " ".join(sorted(m["flags"] + m["keywords"])),
                "guid": m["guid"], "date.received.unixtime": str(m["received"]),
                "date.saved.unixtime": str(m["saved"]),
                "pop3.uidl": m["pop3_uidl"],
                "pop3.order": str(m["pop3_order"]) if m["pop3_order"] else "",
                "size.virtual": str(m["vsize"]), "size.physical": str(m["size"])}
    return status, msgs


def dovecot_view(dv, login, fields):
    status = {r["mailbox"]: r for r in dv.status(login, STATUS)}
    msgs = {}
    for r in dv.fetch(login, fields):
        sysf, kws = dvlib.split_flags(r["flags"])
        r = dict(r, flags=" ".join(sorted(list(sysf) + kws)))
        msgs[(r["mailbox"], int(r["uid"]))] = r
    return status, msgs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-p", "--public", required=True)
    ap.add_argument("-k", "--key", help="secret key of an encrypted archive")
    ap.add_argument("--archive", required=True)
    ap.add_argument("--old", required=True, help="the old Maildirs, e.g. /old/%%d/%%n/Maildir")
    ap.add_argument("--new", action="append", default=[], metavar="FORMAT=TEMPLATE")
    ap.add_argument("--mailferry", default=os.path.join(HERE, "..", "build", "mailferry"))
    a = ap.parse_args()
    why = dvlib.unavailable_reason()
    if why:
        print("compare.py: cannot start a Dovecot here: %s" % why, file=sys.stderr)
        return 2
    ls = subprocess.run([a.mailferry, "ls", "-p", a.public] + (["-k", a.key] if a.key else [])
                        + ["--json", a.archive],
                        stdout=subprocess.PIPE, check=True)
    users = json.loads(ls.stdout)["users"]
    news = [n.split("=", 1) for n in a.new]
    bad = total_msgs = total_boxes = 0
    print("per mailbox: messages/UIDVALIDITY/UIDNEXT, and whether every message agrees\n")
    dv = dvlib.Dovecot()
    try:
        for u in users:
            name = u["name"]
            old = expand(a.old, name)
            dvlib.make_traversable(old)
            courier = is_courier(old)
            dv.add_user("old." + name, os.path.dirname(old), "maildir:" + old, wait=False)
            for fmt, tmpl in news:
                root = expand(tmpl, name)
                dvlib.make_traversable(root)
                dv.add_user(fmt + "." + name, os.path.dirname(root), "%s:%s" % (fmt, root),
                            wait=False)
        dv.start()
        for u in users:
            name = u["name"]
            courier = is_courier(expand(a.old, name))
            ref_label = "archive" if courier else "old Maildir"
            ref_status, ref_msgs = archive_view(u) if courier else \
                dovecot_view(dv, "old." + name, FIELDS)
            arch_status, arch_msgs = archive_view(u)
            views = [(fmt, dovecot_view(dv, fmt + "." + name, FIELDS + ["date.saved.unixtime"]))
                     for fmt, _ in news]
            print("%s%s" % (name, "  (Courier IMAP: compared with the archive, since Dovecot "
                                  "reads no Courier metadata)" if courier else ""))
            head = "  %-22s %-27s" % ("mailbox", ref_label)
            print(head + "".join("  %-27s" % fmt for fmt, _ in views))
            for box in sorted(ref_status):
                total_boxes += 1
                r = ref_status[box]
                cells = ["%s/%s/%s" % (r["messages"], r["uidvalidity"], r["uidnext"])]
                line_ok = True
                for fmt, (st, msgs) in views:
                    s = st.get(box)
                    if s is None:
                        cells.append("MISSING")
                        line_ok = False
                        continue
                    same = all(s[k] == r[k] for k in ("messages", "uidvalidity", "uidnext"))
                    same = same and (courier or s["guid"] == r["guid"])
                    diffs = []
                    for key, rm in ref_msgs.items():
                        if key[0] != box:
                            continue
                        m = msgs.get(key)
                        if m is None:
                            diffs.append("uid %d missing" % key[1])
                            continue
                        for f in FIELDS[2:]:
                            if m[f] != rm[f]:
                                diffs.append("uid %d %s: %r, not %r" % (key[1], f, m[f], rm[f]))
                        am = arch_msgs.get(key)
                        if am and m["date.saved.unixtime"] != am["date.saved.unixtime"]:
                            diffs.append("uid %d date.saved %s, the archive has %s"
                                         % (key[1], m["date.saved.unixtime"],
                                            am["date.saved.unixtime"]))
                    extra = [k for k in msgs if k[0] == box and k not in ref_msgs]
                    diffs += ["uid %d not in the old store" % k[1] for k in extra]
                    cells.append("%s/%s/%s %s" % (s["messages"], s["uidvalidity"], s["uidnext"],
                                                  "same" if same and not diffs else "DIFFERS"))
                    if not same or diffs:
                        line_ok = False
                        for d in diffs[:5]:
                            print("    %s: %s" % (fmt, d))
                print("  %-22s %-27s" % (box, cells[0]) + "".join("  %-27s" % c for c in cells[1:]))
                if line_ok:
                    total_msgs += int(r["messages"])
                else:
                    bad += 1
            for fmt, _ in news:
                want = dv.mailbox_list("old." + name, subscribed=True) if not courier else None
                got = dv.mailbox_list(fmt + "." + name, subscribed=True)
                if want is not None and sorted(got) != sorted(want):
                    print("    %s: subscriptions %s, not %s" % (fmt, sorted(got), sorted(want)))
                    bad += 1
        log = [ln for ln in dv.log_text().split("\n") if "Error" in ln or "Warning" in ln
               or "Panic" in ln or "Fatal" in ln]
    finally:
        dv.stop()
    for ln in log:
        print("dovecot log: " + ln)
    if bad or log:
        print("\n%d mailboxes differ, %d log errors" % (bad, len(log)))
        return 1
    print("\nDovecot reports the same UIDVALIDITY, UIDNEXT, mailbox GUID, subscriptions and, "
          "for all %d messages in %d mailboxes, the same UID, flags, keywords, GUID, dates, "
          "sizes and POP3 UIDL in %s." % (total_msgs, total_boxes,
                                          " and ".join(f for f, _ in news)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
