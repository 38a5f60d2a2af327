#!/usr/bin/env python3
# pack_oracle.t: what `mailferry pack` records agrees with what Dovecot itself
# says about the same source Maildir, field by field, for every message.
#
# Stores: (a) a generated store (tests/store/gen_store.py: 4 users, ~300
# messages, fixed seed; its uidlists were made by Dovecot, and a few late
# deliveries are still unknown to Dovecot), (b) the reference samples
# (tests/data/samples, or MF_SAMPLES): a Dovecot Maildir++ store, the same in
# LAYOUT=fs, and a Courier store.
#
# Order: mailferry packs the pristine tree FIRST; only then does a private
# Dovecot (tests/dovecot/dvlib.py) open it and report, with
#   doveadm fetch 'mailbox uid flags guid date.received.unixtime
#                  date.saved.unixtime pop3.uidl pop3.order size.virtual size.physical' ALL
#   doveadm mailbox status 'uidvalidity uidnext guid messages' <each mailbox>
#   doveadm mailbox list -s
# so Dovecot's UIDs for files it had not seen are the ones mailferry must
# have predicted.
#
# Courier: Dovecot does not read Courier's metadata. The test converts a COPY
# the way an admin would (courierimapuiddb -> dovecot-uidlist, the keywords of
# courierimapkeywords/:list with the per-message update files applied ->
# dovecot-keywords + letters, courierimapsubscribed -> subscriptions), serves
# it with maildir:~/Maildir:UTF-8 and namespace prefix "INBOX." separator ".",
# and compares with mailferry's archive of the ORIGINAL Courier tree (names
# without the "INBOX." prefix).
#
# One `ok` per user+mailbox (every message field, the content against the
# source file, the mailbox's UIDVALIDITY/UIDNEXT/GUID/count/subscription), one
# per user (mailbox set, subscriptions), and per store one for save dates:
#
# date.saved: Dovecot reports its cache's date.save if it has one, else the
# file's ctime, and mailferry records the same (spec/FORMAT.md 9.3). The
# generated store has such cached dates that differ from the ctimes (Dovecot
# looked the save dates of Trash up, then flag changes renamed the files, as on
# every live server), and so have the samples. A difference is accepted only
# when Dovecot had no cached value and its value is the file's ctime AFTER
# Dovecot opened the store (Dovecot renamed the file, e.g. new/ -> cur/, which
# changes its ctime) while mailferry's is the ctime before.
#
# Known mailferry bugs, when there are any, are marked `# TODO BUG-...` (prove reports them as
# "TODO passed" once fixed); MF_STRICT=1 turns them into failures.
import json
import os
import re
import shutil
import sys
import tempfile
import traceback

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "dovecot"))
import dvlib  # noqa: E402
# shared with unpack_oracle.t (tests/dovecot/oracle.py)
from oracle import (sample_dir, mailbox_dirs, snapshot, ctimes_by_base, pack, ls_json,  # noqa: E402
                    verify, copy_sample, courier_to_dovecot)

TESTS, MF_SRC, MAILFERRY = dvlib.test_paths(__file__)
FIELDS = ["mailbox", "uid", "flags", "guid", "date.received.unixtime", "date.saved.unixtime",
          "pop3.uidl", "pop3.order", "size.virtual", "size.physical"]
# the generated store; MF_ORACLE_SEED / _USERS / _MESSAGES explore others
SEED = int(os.environ.get("MF_ORACLE_SEED", "20240607"))
GEN_USERS = int(os.environ.get("MF_ORACLE_USERS", "4"))
GEN_MESSAGES = int(os.environ.get("MF_ORACLE_MESSAGES", "300"))


tap = dvlib.Tap()


# ---------------------------------------------------------------- source snapshots

# ---------------------------------------------------------------- mailferry side

# ---------------------------------------------------------------- Dovecot side

def dovecot_view(dv, user, name_of=lambda n: n):
    """What Dovecot says about a user: {mailbox: {"status": {...}, "msgs": {uid: row}}},
    the subscribed names and every listed name, with names mapped by name_of."""
    listed = dv.mailbox_list(user)
    subs = [name_of(n) for n in dv.mailbox_list(user, subscribed=True)]
    boxes = {}
    for n in listed:
        rc, out, err = dv.doveadm(["mailbox", "status", "uidvalidity uidnext guid messages", n],
                                  user=user, fmt="tab", check=False)
        if rc != 0:
            if "doesn't exist" in err or "not exist" in err:
                continue          # a \NonExistent parent such as Lists
            raise dvlib.DovecotError("mailbox status %s: %s" % (n, err))
        st = dvlib.parse_tab(out)
        if not st:
            continue
        boxes[name_of(n)] = {"status": st[0], "msgs": {}}
    for row in dv.fetch(user, FIELDS):
        box = boxes.setdefault(name_of(row["mailbox"]), {"status": None, "msgs": {}})
        box["msgs"][int(row["uid"])] = row
    return boxes, subs, [name_of(n) for n in listed]


# ---------------------------------------------------------------- comparison

def mf_boxes(mf_user):
    return {"/".join(mb["name"]): mb for mb in mf_user["mailboxes"]}


def mb_dir_of(mb):
    """The mailbox's directory relative to the Maildir, from its stored name."""
    return mb["stored"] if mb["stored"] else "."


def compare_mailbox(name, mb, dvb, subs, src_snap, checks_guid=True):
    """A list of differences (strings), first the mailbox's, then per message."""
    diffs = []
    if mb is None:
        return ["mailbox %r: Dovecot has it, mailferry does not" % name]
    if dvb is None or dvb["status"] is None:
        return ["mailbox %r: mailferry has it, Dovecot does not" % name]
    st = dvb["status"]
    for f, mf_v in (("uidvalidity", mb["uidvalidity"]), ("uidnext", mb["uidnext"]),
                    ("messages", len(mb["messages"]))):
        if str(mf_v) != st[f]:
            diffs.append("mailbox %s: mailferry %s, dovecot %s" % (f, mf_v, st[f]))
    if mb["message_count"] != len(mb["messages"]):
        diffs.append("message_count %d but %d messages listed" % (mb["message_count"],
                                                                  len(mb["messages"])))
    if checks_guid and not mb["guid_derived"] and mb["guid"] != st["guid"]:
        diffs.append("mailbox guid: mailferry %s, dovecot %s" % (mb["guid"], st["guid"]))
    if bool(mb["subscribed"]) != (name in subs):
        diffs.append("subscribed: mailferry %s, dovecot %s" % (mb["subscribed"], name in subs))
    mf_uids = [m["uid"] for m in mb["messages"]]
    dv_uids = sorted(dvb["msgs"])
    if mf_uids != sorted(mf_uids):
        diffs.append("mailferry's UIDs are not ascending")
    if set(mf_uids) != set(dv_uids):
        only_mf = sorted(set(mf_uids) - set(dv_uids))
        only_dv = sorted(set(dv_uids) - set(mf_uids))
        diffs.append("UID sets differ: only mailferry %s, only dovecot %s"
                     % (only_mf[:10], only_dv[:10]))
    for m in mb["messages"]:
        d = dvb["msgs"].get(m["uid"])
        if d is None:
            continue
        u = m["uid"]
        sysf, kws = dvlib.split_flags(d["flags"])
        pairs = [("flags", sorted(m["flags"]), sorted(sysf)),
                 ("keywords", sorted(m["keywords"]), kws),
                 ("guid", m["guid"], d["guid"]),
                 ("received", str(m["received"]), d["date.received.unixtime"]),
                 ("size", str(m["size"]), d["size.physical"]),
                 ("vsize", str(m["vsize"]), d["size.virtual"]),
                 ("pop3_uidl", m["pop3_uidl"], d["pop3.uidl"]),
                 ("pop3_order", "" if not m["pop3_order"] else str(m["pop3_order"]),
                  d["pop3.order"])]
        for f, a, b in pairs:
            if a != b:
                diffs.append("uid %d (%s/%s) %s: mailferry %r, dovecot %r"
                             % (u, m["source_dir"], m["source_name"], f, a, b))
        # the content against the source file mailferry read
        rel = os.path.normpath(os.path.join(mb_dir_of(mb), m["source_dir"], m["source_name"]))
        src = src_snap.get(rel)
        if src is None:
            diffs.append("uid %d: source file %s not in the pristine tree" % (u, rel))
        else:
            bad = dvlib.check_content(src[2], m)
            if bad:
                diffs.append("uid %d: content: %s" % (u, bad))
    return diffs


def report_mailboxes(label, mf_user, boxes, subs, src_snap, checks_guid=True):
    """One ok per mailbox on either side."""
    mfb = mf_boxes(mf_user)
    nmsg = 0
    for name in sorted(set(mfb) | set(boxes)):
        mb, dvb = mfb.get(name), boxes.get(name)
        diffs = compare_mailbox(name, mb, dvb, subs, src_snap, checks_guid)
        n = len(mb["messages"]) if mb else 0
        nmsg += n
        tap.ok(not diffs, "%s mailbox %s: %d messages agree with Dovecot" % (label, name, n),
               "first difference: %s\n%d differences in all%s"
               % (diffs[0], len(diffs), "".join("\n  " + x for x in diffs[1:6])) if diffs else None)
    return nmsg


def report_user(label, mf_user, boxes, subs):
    mfb = mf_boxes(mf_user)
    dv_names = {n for n, b in boxes.items() if b["status"] is not None}
    problems = []
    if set(mfb) != dv_names:
        problems.append("mailboxes only in mailferry: %s; only in Dovecot: %s"
                        % (sorted(set(mfb) - dv_names), sorted(dv_names - set(mfb))))
    mf_subs = sorted(n for n, mb in mfb.items() if mb["subscribed"])
    dv_subs = sorted(n for n in subs if n in dv_names)
    if mf_subs != dv_subs:
        problems.append("subscribed: mailferry %s, Dovecot %s" % (mf_subs, dv_subs))
    tap.ok(not problems, "%s: the mailbox list and the subscriptions agree (%d mailboxes, %d "
           "subscribed)" % (label, len(mfb), len(mf_subs)), "\n".join(problems))


def report_saved(label, mf_users, views, pre, post):
    """The save-date line of a store (see the header comment).
    mf_users: [(user json, maildir)], views: {user: boxes}, pre: {user: snapshot},
    post: {user: ctimes_by_base after Dovecot}."""
    agree, explained, from_cache, bad, dv_not_ctime = 0, 0, 0, [], 0
    for mf_user, maildir in mf_users:
        boxes = views[mf_user["name"]]
        for mb in mf_user["mailboxes"]:
            dvb = boxes.get("/".join(mb["name"]))
            for m in mb["messages"]:
                rel = os.path.normpath(os.path.join(mb_dir_of(mb), m["source_dir"],
                                                    m["source_name"]))
                src = pre[mf_user["name"]].get(rel)
                d = dvb["msgs"].get(m["uid"]) if dvb else None
                if d is None or src is None:
                    continue
                dsaved = int(d["date.saved.unixtime"])
                dv_not_ctime += dsaved != src[0]
                if dsaved == m["saved"]:
                    agree += 1
                    from_cache += m["saved"] != src[0]
                    continue
                now_ctime = post[mf_user["name"]].get(
                    (os.path.normpath(mb_dir_of(mb)), m["source_name"].split(":", 1)[0]))
                if now_ctime is not None and dsaved == now_ctime and m["saved"] == src[0] \
                        and now_ctime != src[0]:
                    explained += 1      # Dovecot renamed the file (new ctime), had no cache
                else:
                    bad.append("%s %s uid %d: mailferry %d, dovecot %d, the file's ctime %d "
                               "before and %s after Dovecot"
                               % (mf_user["name"], "/".join(mb["name"]), m["uid"], m["saved"],
                                  dsaved, src[0], now_ctime))
    tap.diag("%s date.saved: %d agree (%d of them from Dovecot's cache, not the ctime), %d differ "
             "only because Dovecot changed the file's ctime itself" % (label, agree, from_cache,
                                                                      explained))
    tap.ok(not bad, "%s: saved dates are Dovecot's date.saved (%d messages)"
           % (label, agree + explained + len(bad)), "%d differ:\n%s" % (len(bad),
                                                                        "\n".join(bad[:5])))
    return dv_not_ctime


# ---------------------------------------------------------------- (a) generated store

def store_features(maildirs):
    """Counts of the cases the oracle is meant to cover, in the pristine store."""
    f = dict.fromkeys(["unsynced", "new_plain", "new_info", "crlf", "no_final_lf", "no_size",
                       "hardlink", "pop3_p", "pop3_o", "record_guid", "stale_record", "mutf7",
                       "uidlist_generations"], 0)
    for md in maildirs:
        for mb in mailbox_dirs(md):
            if "&" in os.path.basename(mb):
                f["mutf7"] += 1
            recs = {}
            try:
                with open(os.path.join(mb, "dovecot-uidlist"), encoding="utf-8",
                          errors="replace") as fh:
                    lines = fh.read().split("\n")
                for ln in lines[1:]:
                    if " :" in ln:
                        fields, name = ln.split(" :", 1)
                        recs[name] = fields.split()[1:]
                uids = [int(ln.split(" ", 1)[0]) for ln in lines[1:] if " :" in ln]
                hdr_n = int([t[1:] for t in lines[0].split() if t.startswith("N")][0])
                if uids and max(uids) >= hdr_n:
                    f["uidlist_generations"] += 1      # appended after the header was written
            except (OSError, ValueError, IndexError):
                pass
            names = set()
            for sub in ("cur", "new"):
                for n in os.listdir(os.path.join(mb, sub)):
                    p = os.path.join(mb, sub, n)
                    base = n.split(":", 1)[0]
                    names.add(base)
                    st = os.lstat(p)
                    if base not in recs:
                        f["unsynced"] += 1
                    if sub == "new":
                        f["new_info" if ":2," in n else "new_plain"] += 1
                    if ",S=" not in base:
                        f["no_size"] += 1
                    if st.st_nlink > 1:
                        f["hardlink"] += 1
                    with open(p, "rb") as fh:
                        data = fh.read()
                    if b"\r\n" in data:
                        f["crlf"] += 1
                    if not data.endswith(b"\n"):
                        f["no_final_lf"] += 1
            for name, fields in recs.items():
                f["pop3_p"] += any(x.startswith("P") for x in fields)
                f["pop3_o"] += any(x.startswith("O") for x in fields)
                f["record_guid"] += any(x.startswith("G") for x in fields)
                f["stale_record"] += name not in names
    return f


def part_generated(work, key, pub):
    store = os.path.join(work, "store")
    rc, so, se = dvlib.run([sys.executable, os.path.join(TESTS, "store", "gen_store.py"),
                            "--out", store, "--users", str(GEN_USERS), "--messages",
                            str(GEN_MESSAGES), "--seed", str(SEED), "-q"], timeout=600)
    if not tap.ok(rc == 0, "gen_store.py made a %d-user store of about %d messages (seed %d)"
                  % (GEN_USERS, GEN_MESSAGES, SEED), se[-2000:]):
        return
    with open(os.path.join(store, "gen_store.json")) as f:
        info = json.load(f)
    users = info["users"]
    feats = store_features([info["maildirs"][u] for u in users])
    tap.ok(all(feats.values()), "the generated store has every case the oracle must cover",
           "missing: %s" % [k for k, v in feats.items() if not v])
    tap.diag("store cases: %s" % " ".join("%s=%d" % kv for kv in sorted(feats.items())))
    pre = {u: snapshot(info["maildirs"][u]) for u in users}
    archive = os.path.join(work, "gen.mfa")
    rc, summary, out = pack(key, archive, ["--users", os.path.join(store, "users")])
    tap.ok(rc == 0 and summary is not None and summary["skipped"]["total"] == 0
           and summary["messages"] == sum(len(s) for s in pre.values()),
           "pack of the pristine generated store exits 0, nothing skipped, every file packed",
           "exit %d, %s" % (rc, out[-1500:]))
    if not os.path.exists(archive):
        return
    rc, out = verify(pub, archive)
    tap.ok(rc == 0, "verify accepts the archive", out[-1500:])
    ls = ls_json(pub, archive)
    mf_by_user = {u["name"]: u for u in ls["users"]}
    tap.ok(sorted(mf_by_user) == sorted(users), "the archive has the store's users",
           "%s vs %s" % (sorted(mf_by_user), sorted(users)))
    views, subs_of = {}, {}
    with dvlib.Dovecot() as dv:
        for u in users:
            dv.add_user(u, info["homes"][u])
        for u in users:
            views[u], subs_of[u], _ = dovecot_view(dv, u)
    post = {u: ctimes_by_base(info["maildirs"][u]) for u in users}
    total = 0
    for u in sorted(users):
        if u not in mf_by_user:
            continue
        total += report_mailboxes(u, mf_by_user[u], views[u], subs_of[u], pre[u])
        report_user(u, mf_by_user[u], views[u], subs_of[u])
    n = report_saved("generated store", [(mf_by_user[u], info["maildirs"][u]) for u in users
                                         if u in mf_by_user], views, pre, post)
    tap.ok(n > 0, "the generated store has save dates in Dovecot's cache that differ from the "
           "files' ctimes (%d)" % n)
    tap.diag("generated store: %d messages compared" % total)


# ---------------------------------------------------------------- (b) samples

def part_samples(work, key, pub):
    samples = sample_dir()
    if not os.path.isdir(os.path.join(samples, "maildir-dovecot")):
        tap.skip("no samples at %s (set MF_SAMPLES)" % samples)
        return
    base = os.path.join(work, "samples")
    os.makedirs(base)
    # Dovecot Maildir++ and LAYOUT=fs: mailferry reads the copy first, then Dovecot
    for name, loc in (("maildir-dovecot", "maildir:~/Maildir"),
                      ("maildir-layoutfs", "maildir:~/Maildir:LAYOUT=fs")):
        if not os.path.isdir(os.path.join(samples, name)):
            tap.skip("sample %s missing" % name)
            continue
        home = os.path.join(base, name)
        copy_sample(samples, name, home)
        maildir = os.path.join(home, "Maildir")
        user = "sample-" + name.split("-")[1]
        pre = snapshot(maildir)
        archive = os.path.join(base, name + ".mfa")
        rc, summary, out = pack(key, archive, ["%s=%s" % (user, maildir)])
        ok = tap.ok(rc == 0 and os.path.exists(archive) and verify(pub, archive)[0] == 0,
                    "sample %s: packed (exit 0) and verified" % name, out[-1500:])
        if not ok:
            continue
        mf_user = ls_json(pub, archive)["users"][0]
        with dvlib.Dovecot() as dv:
            dv.add_user(user, home, mail=loc)
            boxes, subs, _ = dovecot_view(dv, user)
        post = ctimes_by_base(maildir)
        n = report_mailboxes("sample %s" % name, mf_user, boxes, subs, pre)
        report_user("sample %s" % name, mf_user, boxes, subs)
        report_saved("sample %s" % name, [(mf_user, maildir)], {mf_user["name"]: boxes},
                     {mf_user["name"]: pre}, {mf_user["name"]: post})
        tap.diag("sample %s: %d messages compared" % (name, n))
    # Courier: mailferry reads the original, Dovecot a converted copy
    name = "maildir-courier"
    if not os.path.isdir(os.path.join(samples, name)):
        tap.skip("sample %s missing" % name)
        return
    orig = os.path.join(base, "courier-orig")
    conv = os.path.join(base, "courier-dovecot")
    copy_sample(samples, name, orig)
    omaildir = os.path.join(orig, "Maildir")
    pre = snapshot(omaildir)
    archive = os.path.join(base, "courier.mfa")
    rc, summary, out = pack(key, archive, ["sample-courier=%s" % omaildir])
    if not tap.ok(rc == 0 and os.path.exists(archive) and verify(pub, archive)[0] == 0,
                  "sample %s: packed (exit 0) and verified" % name, out[-1500:]):
        return
    mf_user = ls_json(pub, archive)["users"][0]
    tap.ok(all(mb["layout"] == "courier" for mb in mf_user["mailboxes"]),
           "sample %s: every mailbox is recorded with the courier layout" % name,
           str([(mb["stored"], mb["layout"]) for mb in mf_user["mailboxes"]]))
    shutil.copytree(orig, conv, symlinks=True, copy_function=shutil.copy2)
    courier_to_dovecot(os.path.join(conv, "Maildir"))

    def norm(n):
        if n.upper() == "INBOX":
            return "INBOX"
        return n[6:].replace(".", "/") if n.startswith("INBOX.") else n

    with dvlib.Dovecot(ns_prefix="INBOX.", separator=".",
                       mail_location="maildir:~/Maildir:UTF-8") as dv:
        dv.add_user("sample-courier", conv)
        boxes, subs, _ = dovecot_view(dv, "sample-courier", norm)
    post = ctimes_by_base(os.path.join(conv, "Maildir"))
    # Dovecot gives Courier mailboxes new GUIDs; mailferry derives them: not compared.
    n = report_mailboxes("sample %s" % name, mf_user, boxes, subs, pre, checks_guid=False)
    report_user("sample %s" % name, mf_user, boxes, subs)
    # the converted copy was made by copying: its ctimes are newer than the original's,
    # and Dovecot has no cache for it; both sides must agree with their own file's ctime
    bad = []
    for mb in mf_user["mailboxes"]:
        for m in mb["messages"]:
            rel = os.path.normpath(os.path.join(mb_dir_of(mb), m["source_dir"], m["source_name"]))
            if pre.get(rel, (None,))[0] != m["saved"]:
                bad.append("%s uid %d: saved %d, ctime %s" % (mb["stored"], m["uid"], m["saved"],
                                                             pre.get(rel, (None,))[0]))
            d = boxes.get("/".join(mb["name"]), {"msgs": {}})["msgs"].get(m["uid"])
            if d is not None:
                c = post.get((os.path.normpath(mb_dir_of(mb)), m["source_name"].split(":", 1)[0]))
                if int(d["date.saved.unixtime"]) != c:
                    bad.append("%s uid %d: dovecot date.saved %s, its file's ctime %s"
                               % (mb["stored"], m["uid"], d["date.saved.unixtime"], c))
    tap.ok(not bad, "sample %s: saved dates are the files' ctimes on both sides" % name,
           "\n".join(bad[:5]))
    tap.diag("sample %s: %d messages compared" % (name, n))


def main():
    dvlib.require_or_skip_all()
    dvlib.exit_on_signals()
    if not os.access(MAILFERRY, os.X_OK):
        print("1..0 # SKIP %s not built" % MAILFERRY)
        return
    work = tempfile.mkdtemp(prefix="mf-oracle.")
    os.chmod(work, 0o755)
    dvlib.make_traversable(work)
    try:
        key, pub = os.path.join(work, "k.key"), os.path.join(work, "k.pub")
        rc, so, se = dvlib.run([MAILFERRY, "keygen", "-W", "-p", pub, "-s", key])
        if not tap.ok(rc == 0, "keygen", se):
            tap.done()
        for part in (part_generated, part_samples):
            try:
                part(work, key, pub)
            except Exception:
                tap.ok(False, "%s ran without an exception" % part.__name__,
                       traceback.format_exc())
    finally:
        if os.environ.get("KEEP"):
            tap.diag("kept %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    tap.done()


main()
