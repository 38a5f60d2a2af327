#!/usr/bin/env python3
# examples_conf.t: the Dovecot settings in examples/dovecot/ fit what unpack
# writes. The example store is unpacked to sdbox and mdbox under the snippets'
# own templates (/var/vmail/%d/%n/..., moved into a scratch directory); a
# throwaway Dovecot configured with each snippet as it stands (its mail_home,
# mail_location, namespace and mdbox_rotate_size; users with no home and no
# mail location of their own) finds every user's mailboxes with the archive's
# UIDVALIDITY, UIDNEXT and message count, every message's UID and POP3 UIDL,
# and the subscriptions, and logs no error and no index rebuild.
import json
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "dovecot"))
import dvlib  # noqa: E402

TESTS, MF_SRC, MAILFERRY = dvlib.test_paths(__file__)
tap = dvlib.Tap()
dvlib.require_or_skip_all()
dvlib.exit_on_signals()


def mf(args):
    return dvlib.run([MAILFERRY] + args)


def snippet(fmt, vmail):
    """The snippet as a conf.d file of the scratch host: /var/vmail moved, vmail as a number."""
    with open(os.path.join(MF_SRC, "examples", "dovecot", fmt + ".conf")) as f:
        text = f.read()
    text = text.replace("/var/vmail", vmail)
    text = re.sub(r"^mail_(uid|gid) = vmail$", lambda m: "mail_%s = %d" % (
        m.group(1), dvlib.MAIL_UID if m.group(1) == "uid" else dvlib.MAIL_GID), text, flags=re.M)
    return text


def setting(text, name):
    m = re.search(r"^%s = (.*)$" % re.escape(name), text, flags=re.M)
    return m.group(1).strip() if m else None


work = tempfile.mkdtemp(prefix="mf-examples-conf.")
os.chmod(work, 0o755)
src = os.path.join(work, "old")
os.makedirs(src)
rc, _, err = dvlib.run(["tar", "-xzf", os.path.join(MF_SRC, "examples", "vmail.tar.gz"),
                        "-C", src])
tap.ok(rc == 0, "the example store extracts", err)
mf(["keygen", "-W", "-p", work + "/k.pub", "-s", work + "/k.key"])
rc, _, err = mf(["pack", "-q", "-s", work + "/k.key", "-o", work + "/a.mfa",
                 "--layout", src + "/%d/%n/Maildir"])
tap.ok(rc == 0, "the example store packs", err)
rc, out, _ = mf(["ls", "-p", work + "/k.pub", "--json", work + "/a.mfa"])
users = json.loads(out)["users"]

for fmt in ("sdbox", "mdbox"):
    vmail = os.path.join(work, fmt, "vmail")
    conf = snippet(fmt, vmail)
    loc = setting(conf, "mail_location")
    home = setting(conf, "mail_home")
    tap.ok(loc == "%s:~/%s" % (fmt, fmt) and home == vmail + "/%d/%n",
           "%s.conf: mail_home %%d/%%n and mail_location %s:~/%s" % (fmt, fmt, fmt),
           "%s %s" % (home, loc))
    sep = re.search(r"^\s*separator = (\S+)", conf, flags=re.M).group(1)
    args = ["unpack", "-q", "-p", work + "/k.pub", "--to", home + "/" + fmt, "--format", fmt,
            "--owner", "%d:%d" % (dvlib.MAIL_UID, dvlib.MAIL_GID), "--separator", sep]
    rotate = setting(conf, "mdbox_rotate_size")
    if rotate:
        args += ["--mdbox-rotate-size", rotate]
    rc, _, err = mf(args + [work + "/a.mfa"])
    tap.ok(rc == 0, "%s: unpack to the snippet's template" % fmt, err)
    dvlib.make_traversable(vmail)
    dv = dvlib.Dovecot(extra_conf="# examples/dovecot/%s.conf\n%s" % (fmt, conf))
    try:
        with open(dv.passwd, "w") as f:
            for u in users:
                # no home and no mail: mail_home and mail_location apply
                f.write("%s:{PLAIN}pw:%d:%d::::\n" % (u["name"], dvlib.MAIL_UID, dvlib.MAIL_GID))
        dv.start()
        rc, out, err = dvlib.run(["doveconf", "-c", dv.conf, "-h", "mail_location"])
        tap.ok(out.strip() == loc, "%s: Dovecot takes the snippet's mail_location" % fmt,
               out + err)
        for u in users:
            name = u["name"]
            st = {r["mailbox"]: r for r in dv.status(
                name, ["messages", "uidvalidity", "uidnext", "guid"])}
            want = {sep.join(mb["name"]): mb for mb in u["mailboxes"]}
            bad = []
            for box, mb in want.items():
                s = st.get(box)
                if s is None:
                    bad.append("%s missing" % box)
                    continue
                for k, v in (("messages", mb["message_count"]), ("uidvalidity", mb["uidvalidity"]),
                             ("uidnext", mb["uidnext"])):
                    if s[k] != str(v):
                        bad.append("%s %s %s, not %s" % (box, k, s[k], v))
            bad += ["%s not in the archive" % b for b in st if b not in want]
            tap.ok(not bad, "%s, %s: every mailbox with the archive's UIDVALIDITY, UIDNEXT and "
                            "count" % (fmt, name), "; ".join(bad[:5]))
            rows = dv.fetch(name, ["mailbox", "uid", "pop3.uidl"])
            got = {(r["mailbox"], int(r["uid"])): r["pop3.uidl"] for r in rows}
            exp = {(sep.join(mb["name"]), m["uid"]): m["pop3_uidl"]
                   for mb in u["mailboxes"] for m in mb["messages"]}
            tap.ok(got == exp, "%s, %s: every message's UID and POP3 UIDL" % (fmt, name),
                   "%d of %d agree" % (sum(1 for k in exp if got.get(k) == exp[k]), len(exp)))
            subs = sorted(dv.mailbox_list(name, subscribed=True))
            exp_subs = sorted(sep.join(mb["name"]) for mb in u["mailboxes"] if mb["subscribed"])
            tap.ok(subs == exp_subs, "%s, %s: the subscriptions" % (fmt, name),
                   "%s, not %s" % (subs, exp_subs))
        log = [ln for ln in dv.log_text().split("\n")
               if re.search(r"Error|Warning|Panic|Fatal|[Rr]ebuild", ln)]
        tap.ok(not log, "%s: Dovecot logs no error and rebuilds no index" % fmt, "\n".join(log[:5]))
    finally:
        dv.stop()
if not os.environ.get("KEEP"):
    import shutil
    shutil.rmtree(work, ignore_errors=True)
tap.done()
