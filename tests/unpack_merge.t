#!/usr/bin/env python3
# unpack_merge.t: `mailferry unpack --merge` adds an archive's messages to
# stores that exist, where they are missing (by message GUID), and changes
# nothing else, checked through Dovecot itself:
#   - a store mailferry made, where the user expunged messages and received
#     one of their own: the expunged come back (with new UIDs, as Dovecot
#     never gives a UID twice), the user's own message stays, flags of the
#     others are untouched; a second merge adds nothing;
#   - a store Dovecot's own dsync (`doveadm backup`) made from the same
#     Maildir: every message is there already (dsync keeps the GUIDs), so
#     nothing is added;
#   - afterwards Dovecot's log is clean and `doveadm force-resync` changes
#     nothing, for sdbox and mdbox.
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


def fetch(dv, login):
    rows = dv.fetch(login, ["mailbox", "uid", "guid", "flags"])
    return {(r["mailbox"], r["guid"]): (int(r["uid"]), r["flags"]) for r in rows}


def status(dv, login):
    return {r["mailbox"]: (r["uidvalidity"], r["messages"])
            for r in dv.status(login, ["uidvalidity", "messages"])}


def main():
    dvlib.run_in_workdir(tap, "mf-merge.", run_all)


def run_all(work):
    src = os.path.join(work, "src")
    oracle.copy_sample(oracle.sample_dir(), "maildir-dovecot", src)
    maildir = os.path.join(src, "Maildir")
    key, pub = os.path.join(work, "k.key"), os.path.join(work, "k.pub")
    rc, so, se = mf(["keygen", "-W", "-p", pub, "-s", key])
    archive = os.path.join(work, "a.mfa")
    rc, so, se = mf(["pack", "-q", "-s", key, "-o", archive, "%s=%s" % (USER, maildir)])
    tap.ok(rc == 0, "pack of the sample store", se[-500:])
    dv = dvlib.Dovecot()
    try:
        dv.add_user("src." + USER, src, mail="maildir:" + maildir, wait=False)
        for fmt in ("sdbox", "mdbox"):
            root = os.path.join(work, fmt, "home", fmt)
            dv.add_user("mf%s.%s" % (fmt, USER), os.path.dirname(root),
                        mail="%s:%s" % (fmt, root), wait=False)
            dsroot = os.path.join(work, "ds" + fmt, "home", fmt)
            dv.add_user("ds%s.%s" % (fmt, USER), os.path.dirname(dsroot),
                        mail="%s:%s" % (fmt, dsroot), wait=False)
        dvlib.chown_tree(src)
        for d in ("sdbox", "mdbox", "dssdbox", "dsmdbox"):
            os.makedirs(os.path.join(work, d, "home"))
            dvlib.chown_tree(os.path.join(work, d))
        dvlib.make_traversable(work)
        dv.start()
        source = fetch(dv, "src." + USER)
        for fmt in ("sdbox", "mdbox"):
            part(dv, work, fmt, pub, archive, source)
        log = [ln for ln in dv.log_text().split("\n")
               if ("Error" in ln or "Panic" in ln or "Fatal" in ln or "Warning" in ln)
               and "force-resync" not in ln and "Rebuilding" not in ln.lower()
               and "rebuilding" not in ln and "fscking" not in ln]
        tap.ok(not log, "Dovecot's log: no error or warning", "\n".join(log[:8]))
    finally:
        dv.stop()


def part(dv, work, fmt, pub, archive, source):
    login = "mf%s.%s" % (fmt, USER)
    tmpl = os.path.join(work, fmt, "home", fmt)
    rc, so, se = mf(["unpack", "-q", "-p", pub, "--to", tmpl, "--format", fmt,
                     "--owner", "5000:5000", archive])
    tap.ok(rc == 0, "%s: unpack" % fmt, se[-500:])
    rc, so, se = mf(["verify", "-p", pub, "--against", tmpl, archive])
    tap.ok(rc == 0 and " 0 differences" in so, "%s: verify --against the fresh store: no "
           "difference" % fmt, "exit %d: %s %s" % (rc, so[-500:], se[-300:]))
    before = fetch(dv, login)
    # the user expunges two messages and receives one of their own
    gone = sorted(before.items(), key=lambda kv: kv[1][0])[:2]
    for (mbox, guid), (uid, flags) in gone:
        dv.doveadm(["expunge", "mailbox", mbox, "uid", str(uid)], user=login)
    msg = b"From: me@example.org\nSubject: my own\nMessage-ID: <own@example.org>\n\nmine\n"
    p = os.path.join(work, "own.eml")
    with open(p, "wb") as f:
        f.write(msg)
    r = dvlib.run([dvlib._prog("doveadm"), "-c", dv.conf, "save", "-u", login, "-m", "INBOX"],
                  stdin=open(p, "rb"))
    tap.ok(r[0] == 0, "%s: the user receives a message of their own" % fmt, r[2][-300:])
    mid = fetch(dv, login)
    own = [k for k in mid if k not in before]
    rc, so, se = mf(["unpack", "-p", pub, "--to", tmpl, "--owner", "5000:5000", "--merge",
                     archive])
    tap.ok(rc == 0 and "2 messages added" in se, "%s: --merge adds the 2 expunged messages back"
           % fmt, "exit %d: %s" % (rc, se[-600:]))
    after = fetch(dv, login)
    back = [k for k, _ in gone if k in after]
    tap.ok(len(back) == 2 and all(after[k][0] > before[k][0] for k in back),
           "%s: both are there again, with new UIDs above their old ones" % fmt,
           "gone %s, after %s" % (gone, {k: after.get(k) for k, _ in gone}))
    tap.ok(all(k in after for k in own), "%s: the user's own message stays" % fmt, str(own))
    rc, so, se = mf(["verify", "-p", pub, "--against", tmpl, archive])
    tap.ok(rc == 1 and " 1 differences" in so and "on the target only" in so,
           "%s: verify --against after the merge: only the user's own message differs "
           "(the restored ones are found under their new UIDs)" % fmt,
           "exit %d: %s %s" % (rc, so[-800:], se[-300:]))
    same = [k for k in before if k not in dict(gone) and after.get(k) != before[k]]
    tap.ok(not same, "%s: every other message keeps its UID and flags" % fmt, str(same[:5]))
    rc, so, se = mf(["unpack", "-p", pub, "--to", tmpl, "--owner", "5000:5000", "--merge",
                     archive])
    tap.ok(rc == 0 and fetch(dv, login) == after, "%s: merging again changes nothing" % fmt,
           se[-400:])
    # force-resync finds nothing to fix
    st0 = status(dv, login)
    dv.doveadm(["force-resync", "*"], user=login)
    tap.ok(fetch(dv, login) == after and status(dv, login) == st0,
           "%s: doveadm force-resync changes nothing" % fmt)
    # a store dsync made from the same Maildir: nothing missing
    dslogin = "ds%s.%s" % (fmt, USER)
    dsroot = os.path.join(work, "ds" + fmt, "home", fmt)
    rc, so, se = dv.doveadm(["backup", "-u", "src." + USER, "%s:%s" % (fmt, dsroot)],
                            check=False)
    tap.ok(rc == 0, "%s: doveadm backup of the source Maildir" % fmt, se[-400:])
    ds_before = fetch(dv, dslogin)
    rc, so, se = mf(["unpack", "-p", pub, "--to", dsroot, "--format", fmt, "--owner",
                     "5000:5000", "--merge", archive])
    tap.ok(rc == 0 and "0 messages added" in se and fetch(dv, dslogin) == ds_before,
           "%s: --merge into dsync's store of the same Maildir (%d messages) adds nothing"
           % (fmt, len(ds_before)), "exit %d: %s" % (rc, se[-600:]))


if __name__ == "__main__":
    main()
