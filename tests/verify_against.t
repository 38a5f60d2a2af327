#!/usr/bin/env python3
# verify_against.t: `mailferry verify --against` reads unpacked stores back
# and names every difference from the archive, for sdbox and mdbox, after
# changes made through Dovecot itself (the way users make them):
#   - right after unpack: 0 differences, exit 0;
#   - a flag added, a keyword added, a message expunged, a message delivered
#     by Dovecot: each is listed (flags, keywords, missing, on the target
#     only) with its mailbox and UID, exit 1, in text and --json;
#   - one byte of a stored message changed behind Dovecot's back: a content
#     difference, found unless --quick;
#   - the same store under another template: refused per user, nothing found
#     is not "0 differences".
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "dovecot"))
import dvlib  # noqa: E402
import oracle  # noqa: E402

TESTS, MF_SRC, MAILFERRY = dvlib.test_paths(__file__)
tap = dvlib.Tap()
USER = "u@example.org"


def mf(args):
    return dvlib.run([MAILFERRY] + args)


def main():
    dvlib.run_in_workdir(tap, "mf-against.", run_all)


def run_all(work):
    src = os.path.join(work, "src")
    oracle.copy_sample(oracle.sample_dir(), "maildir-dovecot", src)
    maildir = os.path.join(src, "Maildir")
    key, pub = os.path.join(work, "k.key"), os.path.join(work, "k.pub")
    mf(["keygen", "-W", "-p", pub, "-s", key])
    archive = os.path.join(work, "a.mfa")
    rc, so, se = mf(["pack", "-q", "-s", key, "-o", archive, "%s=%s" % (USER, maildir)])
    tap.ok(rc == 0, "pack of the sample store", se[-500:])
    dv = dvlib.Dovecot()
    try:
        for fmt in ("sdbox", "mdbox"):
            root = os.path.join(work, fmt, "home", fmt)
            dv.add_user("%s.%s" % (fmt, USER), os.path.dirname(root),
                        mail="%s:%s" % (fmt, root), wait=False)
            os.makedirs(os.path.join(work, fmt, "home"))
            dvlib.chown_tree(os.path.join(work, fmt))
        dvlib.make_traversable(work)
        dv.start()
        for fmt in ("sdbox", "mdbox"):
            part(dv, work, fmt, pub, archive)
    finally:
        dv.stop()


def part(dv, work, fmt, pub, archive):
    login = "%s.%s" % (fmt, USER)
    tmpl = os.path.join(work, fmt, "home", fmt)
    rc, so, se = mf(["unpack", "-q", "-p", pub, "--to", tmpl, "--format", fmt,
                     "--owner", "5000:5000", archive])
    tap.ok(rc == 0, "%s: unpack" % fmt, se[-500:])
    rc, so, se = mf(["verify", "-p", pub, "--against", tmpl, archive])
    tap.ok(rc == 0 and " 0 differences" in so, "%s: right after unpack, 0 differences, exit 0"
           % fmt, "exit %d: %s %s" % (rc, so[-500:], se[-300:]))
    rows = dv.fetch(login, ["mailbox", "uid", "flags"])
    inbox = sorted(int(r["uid"]) for r in rows if r["mailbox"] == "INBOX")
    tap.ok(len(inbox) >= 3, "%s: INBOX has at least 3 messages (%d)" % (fmt, len(inbox)))
    u_flag, u_kw, u_gone = inbox[0], inbox[1], inbox[2]
    dv.doveadm(["flags", "add", "\\Flagged", "mailbox", "INBOX", "uid", str(u_flag)], user=login)
    dv.doveadm(["flags", "add", "Urgent", "mailbox", "INBOX", "uid", str(u_kw)], user=login)
    dv.doveadm(["expunge", "mailbox", "INBOX", "uid", str(u_gone)], user=login)
    p = os.path.join(work, "own.eml")
    with open(p, "wb") as f:
        f.write(b"From: me@example.org\nSubject: delivered later\n\nnew\n")
    r = dvlib.run([dvlib._prog("doveadm"), "-c", dv.conf, "save", "-u", login, "-m", "INBOX"],
                  stdin=open(p, "rb"))
    tap.ok(r[0] == 0, "%s: Dovecot delivers a message" % fmt, r[2][-300:])
    new_uid = max(int(x["uid"]) for x in dv.fetch(login, ["mailbox", "uid"])
                  if x["mailbox"] == "INBOX")

    rc, so, se = mf(["verify", "-p", pub, "--against", tmpl, archive])
    tap.ok(rc == 1 and " 4 differences" in so, "%s: four changes, four differences, exit 1"
           % fmt, "exit %d: %s %s" % (rc, so[-1500:], se[-300:]))
    lines = so.split("\n")

    def listed(uid, word):
        return any(("INBOX: uid %d:" % uid) in ln and word in ln for ln in lines)
    tap.ok(listed(u_flag, "Flagged"), "%s: the flag added on uid %d is named" % (fmt, u_flag),
           so[-1500:])
    tap.ok(listed(u_kw, "Urgent"), "%s: the keyword added on uid %d is named" % (fmt, u_kw),
           so[-1500:])
    tap.ok(listed(u_gone, "missing"), "%s: the expunged uid %d is missing" % (fmt, u_gone),
           so[-1500:])
    tap.ok(listed(new_uid, "target only"), "%s: the delivered uid %d is on the target only"
           % (fmt, new_uid), so[-1500:])
    rc, so, se = mf(["verify", "-p", pub, "--json", "--against", tmpl, archive])
    try:
        j = json.loads(so)
    except ValueError:
        j = {}
    diffs = j.get("differences", [])
    tap.ok(rc == 1 and isinstance(diffs, list) and len(diffs) == 4 and
           sorted(d.get("uid") for d in diffs) == sorted([u_flag, u_kw, u_gone, new_uid]) and
           all(d.get("mailbox") == "INBOX" and d.get("user") == USER for d in diffs),
           "%s: --json lists the same four, with user, mailbox and uid" % fmt,
           "exit %d: %s" % (rc, so[-1500:]))

    if fmt == "sdbox":
        # one byte of a message body changed behind Dovecot's back
        d = os.path.join(tmpl, "mailboxes", "INBOX", "dbox-Mails")
        path = os.path.join(d, "u.%d" % inbox[3] if len(inbox) > 3 else "u.%d" % u_flag)
        with open(path, "r+b") as f:
            data = f.read()
            at = data.index(b"\n\n", data.index(b"\n") + 1) + 3   # inside the body
            f.seek(at)
            f.write(bytes([data[at] ^ 0x20]))
        uid = int(os.path.basename(path)[2:])
        rc, so, se = mf(["verify", "-p", pub, "--against", tmpl, archive])
        tap.ok(rc == 1 and any(("uid %d:" % uid) in ln and "content" in ln
                               for ln in so.split("\n")),
               "sdbox: a changed byte in u.%d is a content difference" % uid,
               "exit %d: %s" % (rc, so[-1500:]))
        rc, so, se = mf(["verify", "-p", pub, "--quick", "--against", tmpl, archive])
        tap.ok(rc == 1 and not any(("uid %d:" % uid) in ln and "content" in ln
                                   for ln in so.split("\n")),
               "sdbox: --quick does not read the bytes", "exit %d: %s" % (rc, so[-1500:]))

    rc, so, se = mf(["verify", "-p", pub, "--against", os.path.join(work, "nowhere", "%n"),
                     archive])
    tap.ok(rc != 0 and " 0 differences" not in so,
           "%s: a template where no store is: not 0 differences" % fmt,
           "exit %d: %s %s" % (rc, so[-500:], se[-300:]))


main()
