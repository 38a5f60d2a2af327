#!/usr/bin/env python3
# delta_oracle.t: delta archives (spec/FORMAT.md 14) against a real Dovecot 2.3.
#
# A generated store (tests/store/gen_store.py: 4 users + the dsync user, ~300
# messages, fixed seed, a Sieve script added) is served by a private Dovecot
# (tests/dovecot/dvlib.py) that syncs every mailbox; FULL is packed while it
# runs (with --save-index) and unpacked to sdbox and mdbox targets served by
# the same Dovecot. Then the source changes through Dovecot itself, as a live
# server's would (tests/dovecot/live.py): doveadm save and IMAP APPEND, IMAP
# STORE and doveadm flags, expunges, IMAP MOVE, mailbox create/rename/delete,
# subscribe/unsubscribe, two UIDVALIDITY resets (doveadm mailbox update
# --uid-validity: same GUID; delete + create with the same name: a new GUID),
# a changed and a new Sieve script, a user added and one dropped from the
# users list. D1 is packed against FULL (and D1i against FULL's index file)
# and applied; then more changes, D2 against FULL+D1 (and against the index
# files), applied; and `unpack FULL D1 D2` onto empty targets.
#
# 1. After each delta every target (sdbox, mdbox; the untouched ones) compares
#    equal to the source at delta time: doveadm fetch 'mailbox uid flags guid
#    date.received date.saved pop3.uidl pop3.order size.virtual' + a hash of
#    the text, mailbox status 'messages uidvalidity uidnext guid', mailbox list
#    and list -s (tests/dovecot/oracle.py full_view), so every UIDVALIDITY and
#    UID is kept. Sieve files as at the source. The dropped user's store stays.
# 2. Refusals: D1 onto an empty target, FULL D2 D1, D2 onto FULL, D1 onto D2,
#    a delta of another full archive: non-zero exit, one clear message, the
#    target's tree identical (mtimes included); D1 applied twice and the whole
#    chain unpacked twice: exit 0, nothing changed.
# 3. Targets that lived on between FULL and the deltas (sdbox and mdbox):
#    doveadm save deliveries (INBOX, Archive, and R&D which the source resets),
#    IMAP flag changes (some on messages whose other flags, or the same
#    keyword, the source changes too, one on a message the source expunges),
#    an expunge of a message the source flags, an unsubscribe, a mailbox of
#    their own; during the apply of D1 doveadm save delivers into the same
#    INBOX in a loop. Afterwards: every source message is there once (its UID,
#    or a new one at or above the target's UIDNEXT, as many as the notes
#    report), what the source expunged or moved away is gone, the target's own
#    messages are kept (UIDs unchanged; in the reset mailbox carried over),
#    flags/keywords and subscriptions are the three-way merge, every
#    UIDVALIDITY is the source's, Dovecot's log has no error, and doveadm
#    force-resync changes no UID, flag, GUID or status. D2 then changes flags
#    of, and expunges, messages D1 had to renumber (the target's UID map).
#
# Save dates: for a Maildir without a cached date.save Dovecot reports the
# file's ctime, which a flag change (a rename) moves; the wanted save date of
# a message still where FULL had it (mailbox GUID, UIDVALIDITY, UID) is the
# one Dovecot reported at FULL time (shown in the diagnostics when it differs).
#
# About 35 s on 2 cores. Known mailferry bugs are marked `# TODO BUG-...`,
# attached only when exactly their symptom shows; MF_STRICT=1 makes them fail.
import json
import os
import random
import shutil
import stat
import sys
import tempfile
import time
import traceback

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "dovecot"))
import dvlib  # noqa: E402
import live  # noqa: E402
import oracle  # noqa: E402
from oracle import Doveadm, full_view, view_diffs, format_diff  # noqa: E402

TESTS, MF_SRC, MAILFERRY = dvlib.test_paths(__file__)
SEED = int(os.environ.get("MF_DELTA_SEED", "20240607"))
OWNER = "%d:%d" % (dvlib.MAIL_UID, dvlib.MAIL_GID)
NEW_USER = "newbie@example.net"
SIEVE1 = b'require "fileinto";\nif header :contains "subject" "[list]" { fileinto "Lists"; }\n'
SIEVE2 = b'require "fileinto";\nif header :contains "subject" "budget" { fileinto "Work"; }\n'
SIEVE3 = b'# vacation rules\nkeep;\n'

tap = dvlib.Tap()
WORK = None


# ---------------------------------------------------------------- small helpers

def mf(args, **kw):
    return dvlib.run([MAILFERRY] + args, **kw)


def mkdir(path, uid=dvlib.MAIL_UID, gid=dvlib.MAIL_GID, mode=0o755):
    os.makedirs(path, exist_ok=True)
    os.chmod(path, mode)
    os.chown(path, uid, gid)
    return path


def expand(tmpl, user):
    local, _, dom = user.partition("@")
    return tmpl.replace("%u", user).replace("%n", local).replace("%d", dom)


def unpack(pub, tmpl, archives, fmt, quiet=False):
    args = ["unpack", "-p", pub, "--to", tmpl, "--format", fmt, "--owner", OWNER]
    if quiet:
        args.append("-q")
    return mf(args + list(archives))


def pack(key, out, users_file, bases=(), save_index=None):
    args = ["--users", users_file]
    for b in bases:
        args += ["--base", b]
    if save_index:
        args += ["--save-index", save_index]
    return oracle.pack(key, out, args)


class Target:
    """A target template (one per format and purpose) and its Dovecot logins <prefix>.<user>."""

    def __init__(self, prefix, fmt, label):
        self.prefix, self.fmt, self.label = prefix, fmt, label
        self.top = mkdir(os.path.join(WORK, "t", prefix))
        self.tmpl = os.path.join(self.top, "%d", "%n", fmt)

    def login(self, user):
        return "%s.%s" % (self.prefix, user)

    def root(self, user):
        return expand(self.tmpl, user)

    def home(self, user):
        return os.path.dirname(self.root(user))

    def add_logins(self, dv, users):
        for u in users:
            dv.add_user(self.login(u), self.home(u), mail="%s:%s" % (self.fmt, self.root(u)),
                        wait=False)


def sync_source(da, users):
    """The old server opens every mailbox (as IMAP clients would)."""
    for u in users:
        da.run(["mailbox", "status", "messages uidvalidity uidnext guid", "*"], u)


def wanted(src, base_saved):
    """The source's view, with the save date Dovecot reported at FULL time for messages
    that stayed where FULL had them (same mailbox GUID, UIDVALIDITY and UID): see the
    header. A moved message has a new save date, at the source and on the target."""
    want = {"msgs": {}, "status": src["status"], "list": src["list"], "subs": src["subs"]}
    changed = 0
    for k, row in src["msgs"].items():
        row = dict(row)
        st = src["status"].get(k[0], {})
        old = base_saved.get((st.get("guid"), st.get("uidvalidity"), k[1]))
        if old is not None and old[0] == row["guid"] and \
                old[1:] != (row["date.saved"], row["date.saved.unixtime"]):
            changed += 1
            row["date.saved"], row["date.saved.unixtime"] = old[1:]
        want["msgs"][k] = row
    return want, changed


def saved_of(views):
    """{(mailbox GUID, UIDVALIDITY, uid): (message GUID, date.saved, unixtime)} of views."""
    out = {}
    for v in views.values():
        for k, row in v["msgs"].items():
            st = v["status"].get(k[0], {})
            out[(st.get("guid"), st.get("uidvalidity"), k[1])] = (
                row["guid"], row["date.saved"], row["date.saved.unixtime"])
    return out


def dangling_subs(diffs, want):
    """BUG-SUBS-DANGLING's exact symptom: the only difference is that subscriptions of
    names without a mailbox at the source are missing."""
    if len(diffs) != 1 or diffs[0][0] != "subs":
        return None
    w, g = set(diffs[0][3]), set(diffs[0][4])
    lost = w - g
    if g <= w and lost and not (lost & set(want["list"])):
        return BUG_SUBS_DANGLING
    return None


def judge(label, want, got, todo_of=None):
    """Two oks: every message and mailbox status as on the source; the mailbox list and
    subscriptions as on the source (todo_of(diffs) names a known bug's exact symptom)."""
    diffs = view_diffs(want, got)
    mdiffs = [d for d in diffs if d[0] in ("msg", "status")]
    ldiffs = [d for d in diffs if d[0] not in ("msg", "status")]
    tap.ok(not mdiffs, "%s: %d messages in %d mailboxes as on the source (UIDVALIDITY, UIDs, "
           "flags, GUIDs, dates, POP3, sizes, text)" % (label, len(want["msgs"]),
                                                       len(want["status"])),
           "%d differences, e.g.\n%s" % (len(mdiffs), "\n".join(format_diff(d)
                                                              for d in mdiffs[:10])))
    todo = todo_of(ldiffs) if (ldiffs and todo_of) else None
    tap.ok(not ldiffs, "%s: mailbox list and subscriptions as on the source" % label,
           "\n".join(format_diff(d) for d in ldiffs), todo=todo)
    return diffs


def tree_diff(before, after):
    d = sorted(set(before.items()) ^ set(after.items()))
    return ["%s: %s" % (k, v) for k, v in d[:8]]


def sieve_files(home):
    """{relative path: bytes or link target} of <home>/sieve/* and <home>/.dovecot.sieve."""
    out = {}
    d = os.path.join(home, "sieve")
    if os.path.isdir(d):
        for n in sorted(os.listdir(d)):
            p = os.path.join(d, n)
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, "rb") as f:
                    out["sieve/" + n] = f.read()
    link = os.path.join(home, ".dovecot.sieve")
    if os.path.islink(link):
        out[".dovecot.sieve"] = "-> " + os.readlink(link)
    return out


# ---------------------------------------------------------------- the source's changes

class Changes:
    """What the test did to the source, for the expectations and the diagnostics."""

    def __init__(self):
        self.log = []

    def did(self, what):
        self.log.append(what)


def msgs_of(view, box):
    return sorted((k[1], r) for k, r in view["msgs"].items() if k[0] == box)


def change_source_1(dv, da, info, users, view0, rng, ch):
    """Changes 1 (before D1) through Dovecot: see the file header."""
    alice, bob, carol = users[0], users[1], users[2]
    nmsgs = len(view0[alice]["msgs"]) + len(view0[bob]["msgs"]) + len(view0[carol]["msgs"])
    # new messages (~2%): doveadm save and IMAP APPEND
    for u in (alice, bob, carol):
        for i in range(2):
            live.save(dv, u, "INBOX", live.make_message("d1-%s" % u.split("@")[0], i, 2000 * i))
        ch.did("%s: 2 doveadm save into INBOX" % u)
    im = live.Imap(dv, alice)
    im.append("Sent", "\\Seen $Label1", 1719828000, live.make_message("d1-append", 1))
    im.append("Archive", "\\Seen \\Flagged", 1719828100, live.make_message("d1-append", 2))
    ch.did("%s: IMAP APPEND into Sent and Archive with flags/keywords" % alice)
    # flag changes (~5% of the messages): IMAP STORE on alice and bob, doveadm flags on carol
    flips = {}
    for u in (alice, bob):
        imu = im if u == alice else live.Imap(dv, u)
        picks = rng.sample(sorted(view0[u]["msgs"]), min(6, len(view0[u]["msgs"])))
        for box, uid in sorted(picks):
            imu.select(box)
            f = live.flag_set(view0[u]["msgs"][(box, uid)]["flags"])
            ops = []
            if "\\Flagged" in f:
                ops.append(("-FLAGS", "\\Flagged"))
            else:
                ops.append(("+FLAGS", "\\Flagged"))
            if "\\Seen" in f and rng.random() < 0.5:
                ops.append(("-FLAGS", "\\Seen"))
            if rng.random() < 0.5:
                ops.append(("+FLAGS", "$Label1 Delta_New"))
            elif "$Forwarded" in f or "Junk" in f:
                ops.append(("-FLAGS", "$Forwarded Junk"))
            for op, fl in ops:
                imu.store(uid, op, fl)
            flips[(u, box, uid)] = ops
        if u != alice:
            imu.close()
    picks = rng.sample(sorted(view0[carol]["msgs"]), min(5, len(view0[carol]["msgs"])))
    for box, uid in sorted(picks):
        da.run(["flags", "add", "\\Answered $MDNSent", "mailbox", box, "uid", str(uid)], carol,
               fmt=None)
        f = live.flag_set(view0[carol]["msgs"][(box, uid)]["flags"])
        if "\\Seen" in f:
            da.run(["flags", "remove", "\\Seen", "mailbox", box, "uid", str(uid)], carol, fmt=None)
    ch.did("flag changes: %d by IMAP STORE, %d by doveadm flags (of %d messages)"
           % (len(flips), len(picks), nmsgs))
    # changes on messages the lived-on targets change too (change_target): other flags,
    # the same keyword, the same flag cleared, a message the target expunged
    inbox = msgs_of(view0[alice], "INBOX")
    im.select("INBOX")
    im.store(inbox[0][0], "+FLAGS", "\\Flagged")
    im.store(inbox[1][0], "+FLAGS", "$TargetKw Source_Kw")
    im.store(inbox[8][0], "-FLAGS", "\\Seen")
    im.store(inbox[9][0], "+FLAGS", "\\Seen \\Draft")
    im.store(inbox[10][0], "+FLAGS", "\\Flagged")
    im.store(inbox[-1][0], "-FLAGS", "\\Answered $Forwarded")
    ch.did("%s INBOX uids %s: flags changed where the lived-on targets change flags too"
           % (alice, [inbox[i][0] for i in (0, 1, 8, 9, 10, -1)]))
    # expunges: doveadm expunge and IMAP UID EXPUNGE
    exp = []
    for u in (bob, carol):
        box, uid = sorted(view0[u]["msgs"])[len(view0[u]["msgs"]) // 2]
        da.run(["expunge", "mailbox", box, "uid", str(uid)], u, fmt=None)
        exp.append((u, box, uid))
    uid = inbox[3][0]
    im.expunge_uid(uid)
    exp.append((alice, "INBOX", uid))
    # IMAP MOVE INBOX -> Archive (three messages)
    moved = [inbox[i][0] for i in (5, 6, 7)]
    for uid in moved:
        im.move(uid, "Archive")
    ch.did("expunged %s; moved %s: INBOX uids %s -> Archive" % (exp, alice, moved))
    # mailboxes: create (with mail), rename (one with a child), delete (with mail)
    da.run(["mailbox", "create", "-s", "Projects/Delta"], alice, fmt=None)
    for i in range(2):
        live.save(dv, alice, "Projects/Delta", live.make_message("d1-projects", i))
    da.run(["mailbox", "rename", "Archive/2023", "Archive/Y2023"], alice, fmt=None)
    lists = sorted({k[0] for k in view0[bob]["msgs"] if k[0].startswith("Lists/")})
    renamed_parent = None
    if lists:
        da.run(["mailbox", "rename", "Lists", "Mailing"], bob, fmt=None)
        renamed_parent = (bob, "Lists", "Mailing")
    gone = sorted({k[0] for k in view0[carol]["msgs"] if k[0].startswith("Lists/")})[:1]
    for box in gone:
        da.run(["mailbox", "delete", box], carol, fmt=None)
    ch.did("created %s Projects/Delta; renamed Archive/2023 -> Archive/Y2023; %s; deleted %s %s"
           % (alice, "renamed %s Lists -> Mailing (children too)" % bob if renamed_parent
              else "", carol, gone))
    # subscriptions
    da.run(["mailbox", "subscribe", "Projects"], alice, fmt=None)
    da.run(["mailbox", "unsubscribe", "Sent"], alice, fmt=None)
    da.run(["mailbox", "unsubscribe", "INBOX"], bob, fmt=None)
    ch.did("%s subscribed Projects, unsubscribed Sent; %s unsubscribed INBOX" % (alice, bob))
    # UIDVALIDITY resets: same GUID (mailbox update), and a new mailbox of the same name
    st = {r["mailbox"]: r for r in da.run(["mailbox", "status", "uidvalidity", "*"], alice)}
    rd = "R&D" if "R&D" in st else "Drafts"
    da.run(["mailbox", "update", "--uid-validity", str(int(st[rd]["uidvalidity"]) + 1000), rd],
           alice, fmt=None)
    da.run(["mailbox", "delete", "Trash"], bob, fmt=None)
    da.run(["mailbox", "create", "Trash"], bob, fmt=None)
    live.save(dv, bob, "Trash", live.make_message("d1-trash", 1))
    ch.did("%s %s: new UIDVALIDITY, same GUID; %s Trash deleted and created again"
           % (alice, rd, bob))
    im.close()
    # Sieve: a script changed, a new one made active
    home = info["homes"][alice]
    with open(os.path.join(home, "sieve", "lists.sieve"), "wb") as f:
        f.write(SIEVE2)
    with open(os.path.join(home, "sieve", "vacation.sieve"), "wb") as f:
        f.write(SIEVE3)
    os.unlink(os.path.join(home, ".dovecot.sieve"))
    os.symlink("sieve/vacation.sieve", os.path.join(home, ".dovecot.sieve"))
    dvlib.chown_tree(os.path.join(home, "sieve"))
    os.lchown(os.path.join(home, ".dovecot.sieve"), dvlib.MAIL_UID, dvlib.MAIL_GID)
    ch.did("%s: sieve/lists.sieve changed, sieve/vacation.sieve new and active" % alice)
    # a new user, delivered to through Dovecot
    for i in range(3):
        live.save(dv, NEW_USER, "INBOX", live.make_message("d1-newbie", i))
    da.run(["mailbox", "create", "-s", "Work"], NEW_USER, fmt=None)
    live.save(dv, NEW_USER, "Work", live.make_message("d1-newbie-work", 1))
    ch.did("new user %s: 4 messages in INBOX and Work" % NEW_USER)
    return {"rd": rd}


def change_source_2(dv, da, users, view1, rng, ch, remapped):
    """Changes 2 (before D2): fewer, and aimed at messages D1 added (which the lived-on
    targets had to remap): flags on them, an expunge of one."""
    alice, bob = users[0], users[1]
    im = live.Imap(dv, alice)
    im.select("INBOX")
    new_inbox = [k[1] for k, r in sorted(view1[alice]["msgs"].items())
                 if k[0] == "INBOX" and r["guid"] in remapped]
    if len(new_inbox) >= 2:
        im.store(new_inbox[0], "+FLAGS", "\\Flagged Delta_Two")
        im.expunge_uid(new_inbox[1])
        ch.did("%s INBOX: flagged uid %d, expunged uid %d (both new in D1)"
               % (alice, new_inbox[0], new_inbox[1]))
    olds = [k[1] for k in sorted(view1[alice]["msgs"]) if k[0] == "INBOX"][:3]
    for uid in olds:
        im.store(uid, "+FLAGS", "\\Answered")
    im.append("INBOX", "", 1719900000, live.make_message("d2-append", 1, 3000))
    im.close()
    live.save(dv, bob, "INBOX", live.make_message("d2-bob", 1))
    da.run(["mailbox", "rename", "Projects/Delta", "Projects/Delta2"], alice, fmt=None)
    ch.did("%s: \\Answered on INBOX %s, APPEND into INBOX, Projects/Delta -> Projects/Delta2; "
           "%s: doveadm save" % (alice, olds, bob))


# ---------------------------------------------------------------- the target's own life

def change_target(dv, da, tgt, users, view0, rng):
    """What users do on a target between FULL and D1 (deliveries into INBOX, Archive and
    R&D, flag changes, an expunge, an unsubscribe, a mailbox of their own): {"expunged":
    {(mailbox, uid)}, "unsub": name, "own_box": name}."""
    alice, bob = users[0], users[1]
    out = {"expunged": set(), "own_box": None}
    for u, box, n in ((alice, "INBOX", 2), (alice, "Archive", 1), (bob, "INBOX", 1)):
        for i in range(n):
            live.save(dv, tgt.login(u), box, live.make_message("tgt-%s" % tgt.prefix, i))
    st = {r["mailbox"]: r for r in da.run(["mailbox", "status", "uidvalidity", "*"],
                                           tgt.login(alice))}
    rd = "R&D" if "R&D" in st else "Drafts"
    live.save(dv, tgt.login(alice), rd, live.make_message("tgt-rd-%s" % tgt.prefix, 1))
    im = live.Imap(dv, tgt.login(alice))
    im.select("INBOX")
    inbox = [k[1] for k in sorted(view0[alice]["msgs"]) if k[0] == "INBOX"]
    # a few flag changes on messages; some of them the source changes too
    for uid in inbox[:4] + inbox[-3:]:
        im.store(uid, "+FLAGS", "\\Answered $TargetKw")
    for uid in inbox[8:10]:
        im.store(uid, "-FLAGS", "\\Seen")
    im.expunge_uid(inbox[10])
    out["expunged"].add(("INBOX", inbox[10]))
    unsub = [n for n in view0[alice]["subs"] if n not in ("INBOX", "Sent", "Projects")
             and n in view0[alice]["list"]][0]
    im.subscribe(unsub, False)
    im.close()
    da.run(["mailbox", "create", "-s", "Mine"], tgt.login(alice), fmt=None)
    live.save(dv, tgt.login(alice), "Mine", live.make_message("tgt-mine-%s" % tgt.prefix, 1))
    out["own_box"] = "Mine"
    out["unsub"] = unsub
    return out


# ---------------------------------------------------------------- parts

def check_lived(label, tgt, da, users, base, src, pre, post, notes, own_box):
    """Acceptance 3 for one lived-on target after a delta: base = the source's views at the
    delta's base, src = at the delta, pre = the target's views just before the apply, post =
    after. Returns {user: {guid: uid}} of the source messages that got other UIDs."""
    remapped = {}
    for u in users:
        login = tgt.login(u)
        b, s, p, g = base.get(u), src.get(u), pre.get(u), post.get(u)
        if p is None or b is None or s is None or g is None:
            continue
        by_guid = {}
        for k, r in g["msgs"].items():
            by_guid.setdefault((k[0], r["guid"]), []).append(k[1])
        pre_guid = {(k[0], r["guid"]): k[1] for k, r in p["msgs"].items()}
        base_guid = {r["guid"]: r for r in b["msgs"].values()}
        base_keys = {(k[0], r["guid"]) for k, r in b["msgs"].items()}
        missing, badflags, dup, moved_up, badmove = [], [], [], [], []
        for k, r in s["msgs"].items():
            box = k[0]
            key = (box, r["guid"])
            if key not in by_guid:
                # the target expunged it itself (a base message): gone is right
                if key in base_keys and key not in pre_guid:
                    continue
                missing.append("%s uid %d (%s)" % (box, k[1], r["guid"]))
                continue
            if len(by_guid[key]) != 1:
                dup.append("%s %s at uids %s" % (box, r["guid"], by_guid[key]))
                continue
            uid = by_guid[key][0]
            tkey = (box, uid)
            if uid != k[1]:
                if key in pre_guid and pre_guid[key] == uid:
                    pass     # the target had it under this uid already (D2 after a remap)
                else:
                    nxt = int(p["status"].get(box, {}).get("uidnext", 0) or 0)
                    if uid < nxt:
                        badmove.append("%s uid %d -> %d, below the target's UIDNEXT %d"
                                       % (box, k[1], uid, nxt))
                    moved_up.append((box, k[1], uid))
                remapped.setdefault(u, {})[r["guid"]] = uid
            # flags: three ways, with the target's flags before the apply
            srcf = live.flag_set(r["flags"])
            if key in pre_guid and (box, pre_guid[key]) in p["msgs"]:
                tf = live.flag_set(p["msgs"][(box, pre_guid[key])]["flags"])
                br = base_guid.get(r["guid"])
                bf = live.flag_set(br["flags"]) if br is not None else tf
                want = live.merge_flags(bf, srcf, tf)
            else:
                want = srcf
            gotf = live.flag_set(g["msgs"][tkey]["flags"])
            if gotf != want:
                badflags.append("%s uid %d: want %s, got %s" % (box, uid, " ".join(sorted(want)),
                                                              " ".join(sorted(gotf))))
        # what the source expunged or moved away since the base is gone from the target
        src_guids = {(k[0], r["guid"]) for k, r in s["msgs"].items()}
        left = ["%s uid %d (%s)" % (k[0], k[1], r["guid"]) for k, r in sorted(g["msgs"].items())
                if r["guid"] in base_guid and (k[0], r["guid"]) not in src_guids]
        # the target's own messages (those the source never had) are kept, UIDs unchanged
        all_post = {r["guid"] for r in g["msgs"].values()}
        gone_boxes = set(p["status"]) - set(s["status"]) - set(g["status"])
        vanished = ["%s uid %d (%s)" % (k[0], k[1], r["guid"]) for k, r in sorted(p["msgs"].items())
                    if r["guid"] not in base_guid and (k[0], r["guid"]) not in src_guids
                    and r["guid"] not in all_post and k[0] not in gone_boxes]
        lost = []
        for k, r in p["msgs"].items():
            key = (k[0], r["guid"])
            if key in src_guids or r["guid"] in base_guid:
                continue
            if key not in by_guid:
                # a mailbox reset or removed at the source moves or drops them
                if k[0] in s["status"] and s["status"][k[0]]["uidvalidity"] == \
                        p["status"].get(k[0], {}).get("uidvalidity"):
                    lost.append("%s uid %d (%s)" % (k[0], k[1], r["guid"]))
            elif by_guid[key] != [k[1]] and s["status"].get(k[0], {}).get("uidvalidity") == \
                    p["status"].get(k[0], {}).get("uidvalidity"):
                lost.append("%s uid %d now at %s" % (k[0], k[1], by_guid[key]))
        n_rem = sum(int(x.split()[0]) for uu, x in notes if uu == u and
                    "got new UIDs: the target had used theirs" in x)
        tap.ok(not missing and not dup and not badmove,
               "%s %s: every source message is there once, with its UID or a new one at or "
               "above the target's UIDNEXT (%d of %d renumbered)"
               % (label, u, len(moved_up), len(s["msgs"])),
               "\n".join(missing[:6] + dup[:4] + badmove[:4]))
        tap.ok(not left, "%s %s: what the source expunged or moved away since the base is gone"
               % (label, u), "\n".join(left[:6]))
        tap.ok(not vanished, "%s %s: every message the target received itself is still there "
               "(in mailboxes the source reset too)" % (label, u), "\n".join(vanished[:6]))
        tap.ok(n_rem == len(moved_up), "%s %s: the notes report the %d renumbered messages"
               % (label, u, len(moved_up)), "notes say %d: %s" % (
                   n_rem, [x for uu, x in notes if uu == u]))
        tap.ok(not lost, "%s %s: the target's own messages are kept with their UIDs"
               % (label, u), "\n".join(lost[:6]))
        tap.ok(not badflags, "%s %s: flags and keywords are the three-way merge (source's "
               "changes over the target's)" % (label, u), "\n".join(badflags[:8]))
        uv_bad = ["%s: source %s, target %s" % (box, st["uidvalidity"],
                                                g["status"].get(box, {}).get("uidvalidity"))
                  for box, st in s["status"].items()
                  if g["status"].get(box, {}).get("uidvalidity") != st["uidvalidity"]]
        tap.ok(not uv_bad, "%s %s: every mailbox of the source there with its UIDVALIDITY"
               % (label, u), "\n".join(uv_bad[:6]))
        # subscriptions, three ways, for the mailboxes that exist on all sides
        names = set(b["list"]) & set(s["list"]) & set(p["list"]) & set(g["list"])
        sub_bad, sub_sym = [], True
        for n in sorted(names):
            bs, ss, ts, gs = (n in b["subs"], n in s["subs"], n in p["subs"], n in g["subs"])
            want_s = ss if bs != ss else ts
            if gs != want_s:
                sub_bad.append("%s: base %s, source %s, target before %s: want %s, got %s"
                               % (n, bs, ss, ts, want_s, gs))
                sub_sym = sub_sym and bs == ss and ts != ss and gs == ss
        tap.ok(not sub_bad, "%s %s: subscriptions are the three-way merge (%d mailboxes)"
               % (label, u, len(names)), "\n".join(sub_bad[:6]),
               todo=BUG_SUBS if sub_bad and sub_sym else None)
        if own_box in p["list"]:
            tap.ok(own_box in g["list"], "%s %s: the target's own mailbox %s is kept"
                   % (label, u, own_box), "list %s" % g["list"])
        del login
    return remapped


BUG_SUBS_DANGLING = ("BUG-SUBS-DANGLING: subscriptions of names without a mailbox (Dovecot keeps "
                     "the old names subscribed after RENAME, as RFC 3501 says) are lost: not "
                     "packed (full or delta), and a delta's rename unsubscribes the old name")
BUG_REFUSE_MKDIR = ("BUG-DELTA-REFUSAL-MKDIR: a refused delta (or chain) still creates the "
                    "users' directories above the store (%d/%n) on the target, although it "
                    "says 'nothing was written'")
BUG_SUBS = ("BUG-DELTA-SUBS-OVERWRITE: a delta re-subscribes a mailbox the target's user "
            "unsubscribed although the source did not change its subscription (unpack "
            "writes every MAILBOX's subscription instead of the source's changes)")
BUG_CHAIN_RERUN = ("BUG-CHAIN-RERUN: `unpack FULL D1 D2` run again onto the store it made "
                   "fails (exit 7, 'already holds a store from archive D2') instead of "
                   "changing nothing")


def run_all(key, pub):
    t0 = time.time()
    gen = os.path.join(WORK, "gen")
    rc, so, se = dvlib.run([sys.executable, os.path.join(TESTS, "store", "gen_store.py"),
                            "--out", gen, "--users", "4", "--messages", "300", "--seed",
                            str(SEED), "-q"], timeout=600)
    if not tap.ok(rc == 0, "gen_store.py made a 4-user store of about 300 messages (seed %d)"
                  % SEED, se[-2000:]):
        return
    with open(os.path.join(gen, "gen_store.json")) as f:
        info = json.load(f)
    users = sorted(info["users"])
    alice = users[0]
    # a Sieve script in alice's home with the active link
    home = info["homes"][alice]
    os.makedirs(os.path.join(home, "sieve"))
    with open(os.path.join(home, "sieve", "lists.sieve"), "wb") as f:
        f.write(SIEVE1)
    os.symlink("sieve/lists.sieve", os.path.join(home, ".dovecot.sieve"))
    dvlib.chown_tree(home)
    # the new user's home (Dovecot makes the Maildir when mail arrives)
    nhome = mkdir(os.path.join(gen, NEW_USER.split("@")[1], NEW_USER.split("@")[0]))
    info["homes"][NEW_USER] = nhome
    info["maildirs"][NEW_USER] = os.path.join(nhome, "Maildir")
    gone_user = [u for u in users if u.startswith("dave")][0] if \
        any(u.startswith("dave") for u in users) else users[-2]
    users0 = users
    users1 = sorted([u for u in users if u != gone_user] + [NEW_USER])
    ulist0, ulist1 = os.path.join(WORK, "users0"), os.path.join(WORK, "users1")
    for path, us in ((ulist0, users0), (ulist1, users1)):
        with open(path, "w") as f:
            for u in us:
                f.write("%s\t%s\n" % (u, info["maildirs"][u]))
    tgts = {p: Target(p, fmt, label) for p, fmt, label in (
        ("sd", "sdbox", "sdbox"), ("md", "mdbox", "mdbox"),
        ("si", "sdbox", "sdbox (deltas packed from index files)"),
        ("lv", "sdbox", "lived-on sdbox"), ("lm", "mdbox", "lived-on mdbox"),
        ("ch", "sdbox", "sdbox from FULL D1 D2"), ("cm", "mdbox", "mdbox from FULL D1 D2"),
        ("ci", "sdbox", "sdbox from FULL D1 D2i"),
        ("rf", "sdbox", "refusals"), ("em", "sdbox", "empty"), ("eo", "sdbox", "empty 2"))}
    dv = dvlib.Dovecot()
    for u in users0 + [NEW_USER]:
        dv.add_user(u, info["homes"][u], wait=False)
    for t in tgts.values():
        t.add_logins(dv, users0 + [NEW_USER])
    arch = {n: os.path.join(WORK, n) for n in ("FULL.mfa", "FULL.mfi", "D1.mfa", "D1.mfi",
                                                "D1i.mfa", "D2.mfa", "D2i.mfa", "OTHER.mfa",
                                                "DX.mfa")}
    rng = random.Random(SEED)
    with dv:
        da = Doveadm(dv)
        sync_source(da, users0)
        # ---- FULL, while Dovecot serves the source
        rc, summary, out = pack(key, arch["FULL.mfa"], ulist0, save_index=arch["FULL.mfi"])
        tap.ok(rc == 0 and os.path.exists(arch["FULL.mfi"]),
               "FULL packed while Dovecot serves the source (exit 0), with --save-index",
               out[-1500:])
        view0 = {u: full_view(da, u) for u in users0}
        saved0 = saved_of(view0)
        for p in ("sd", "md", "si", "lv", "lm", "rf"):
            t = tgts[p]
            rc, so, se = unpack(pub, t.tmpl, [arch["FULL.mfa"]], t.fmt, quiet=True)
            tap.ok(rc == 0, "FULL unpacked to %s (%s)" % (t.label, p), se[-1000:])
        for p in ("sd", "md"):
            for u in users0:
                judge("FULL %s %s" % (tgts[p].label, u), wanted(view0[u], saved0)[0],
                      full_view(da, tgts[p].login(u)))
        tap.diag("FULL done after %.1f s" % (time.time() - t0))

        # ---- the targets that live on, then the source's changes
        tchanges = {}
        for p in ("lv", "lm"):
            tchanges[p] = change_target(dv, da, tgts[p], users0, view0, rng)
        ch = Changes()
        change_source_1(dv, da, info, users0, view0, rng, ch)
        for ln in ch.log:
            tap.diag("source change: " + ln)
        sync_source(da, users1)
        # ---- D1 against the archive and against the index file
        rc, summary, out = pack(key, arch["D1.mfa"], ulist1, bases=[arch["FULL.mfa"]],
                                save_index=arch["D1.mfi"])
        tap.ok(rc == 0 and os.path.exists(arch["D1.mfi"]),
               "D1 packed with --base FULL.mfa (exit 0), with --save-index", out[-1500:])
        rc, summary, out = pack(key, arch["D1i.mfa"], ulist1, bases=[arch["FULL.mfi"]])
        tap.ok(rc == 0, "D1i packed with --base FULL.mfi (the index file)", out[-1500:])
        compare_deltas("D1", pub, arch["D1.mfa"], arch["D1i.mfa"])
        view1 = {u: full_view(da, u) for u in users1}
        saved1 = dict(saved0)
        for k, v in saved_of(view1).items():
            saved1.setdefault(k, v)
        tap.diag("D1 packed after %.1f s: %s" % (time.time() - t0, sizes(arch)))

        # ---- refusals that need D1 only, on untouched targets
        refuse(pub, tgts["em"], [arch["D1.mfa"]], "D1 onto an empty target", 6)

        # ---- D1 applied to the untouched targets
        applied = {}
        for p, a in (("sd", "D1.mfa"), ("md", "D1.mfa"), ("si", "D1i.mfa")):
            t = tgts[p]
            rc, so, se = unpack(pub, t.tmpl, [arch[a]], t.fmt)
            applied[p] = (rc, se)
            tap.ok(rc == 0, "%s applied to %s: exit 0" % (a, t.label), se[-1500:])
            if p == "sd":
                notes = live.notes_of(se)
                tap.diag("D1 notes (sdbox): " + "; ".join("%s: %s" % n for n in notes)[:1500])
                tap.ok(any(gone_user in u_ or gone_user in n for u_, n in notes),
                       "D1 applied: the notes name the user dropped from the source (%s)"
                       % gone_user, se[-800:])
            compare_all("D1 %s" % t.label, da, t, users1, view1, saved1)
            check_sieve("D1 %s" % t.label, info, t, alice)
            gone_ok = full_view(da, t.login(gone_user))
            d = view_diffs(wanted(view0[gone_user], saved0)[0], gone_ok)
            tap.ok(not d, "D1 %s: the dropped user's store is kept as FULL left it" % t.label,
                   "\n".join(format_diff(x) for x in d[:6]))
        # replayed delta: exit 0, nothing changes
        replay(pub, tgts["sd"], [arch["D1.mfa"]], "D1 applied to the sdbox again")
        tap.diag("D1 applied after %.1f s" % (time.time() - t0))

        # ---- D1 onto the lived-on targets, with deliveries during the apply
        lived_pre = {p: {u: full_view(da, tgts[p].login(u)) for u in users0} for p in ("lv", "lm")}
        since = len(dv.log_text())
        remapped = {}
        for p in ("lv", "lm"):
            t = tgts[p]
            dl = live.Deliverer(dv, t.login(alice), "INBOX", "bg-%s" % p).start()
            time.sleep(0.3)
            a0 = time.time()
            rc, so, se = unpack(pub, t.tmpl, [arch["D1.mfa"]], t.fmt)
            a1 = time.time()
            time.sleep(0.3)
            dl.stop()
            tap.ok(rc == 0, "D1 applied to the %s while doveadm save delivers into %s INBOX: "
                   "exit 0" % (t.label, alice), se[-1500:])
            tap.diag("D1 notes (%s): %s" % (t.label, "; ".join(
                "%s: %s" % n for n in live.notes_of(se) if "messages added" not in n[1])))
            tap.diag("%s: %d deliveries, %d of them during the %.2f s apply"
                     % (t.label, len(dl.done), dl.during(a0, a1), a1 - a0))
            tap.ok(not dl.errors, "%s: every delivery during the apply succeeded" % t.label,
                   "\n".join(dl.errors[:5]))
            post = {u: full_view(da, t.login(u)) for u in users1}
            nbg = sum(1 for k, r in post[alice]["msgs"].items() if k[0] == "INBOX") - \
                sum(1 for k, r in lived_pre[p][alice]["msgs"].items() if k[0] == "INBOX")
            tap.diag("%s: %s INBOX grew by %d (background deliveries %d)" % (
                t.label, alice, nbg, len(dl.done)))
            remapped[p] = check_lived("D1 " + t.label, t, da, users0, view0, view1, lived_pre[p],
                                      post, live.notes_of(se), tchanges[p]["own_box"])
            bg_missing = count_bg(da, t.login(alice), dl)
            tap.ok(bg_missing == 0, "%s: all %d background deliveries are in INBOX"
                   % (t.label, len(dl.done)), "%d missing" % bg_missing)
        probs = [ln for ln in live.log_problems(dv, since) if "(lv." in ln or "(lm." in ln]
        tap.ok(not probs, "Dovecot's log: no error or corruption about the lived-on targets "
               "during D1", "\n".join(probs[:8]))
        tap.diag("D1 on lived-on targets after %.1f s" % (time.time() - t0))

        # ---- changes 2, D2 against FULL D1 and against the index files
        allremapped = set()
        for p in remapped:
            for u in remapped[p]:
                allremapped |= set(remapped[p][u])
        ch2 = Changes()
        change_source_2(dv, da, users1, view1, rng, ch2, allremapped)
        for ln in ch2.log:
            tap.diag("source change 2: " + ln)
        sync_source(da, users1)
        rc, summary, out = pack(key, arch["D2.mfa"], ulist1,
                                bases=[arch["FULL.mfa"], arch["D1.mfa"]])
        tap.ok(rc == 0, "D2 packed with --base FULL.mfa --base D1.mfa", out[-1500:])
        rc, summary, out = pack(key, arch["D2i.mfa"], ulist1,
                                bases=[arch["FULL.mfi"], arch["D1.mfi"]])
        tap.ok(rc == 0, "D2i packed with --base FULL.mfi --base D1.mfi (index files)",
               out[-1500:])
        compare_deltas("D2", pub, arch["D2.mfa"], arch["D2i.mfa"])
        view2 = {u: full_view(da, u) for u in users1}
        saved2 = dict(saved1)
        for k, v in saved_of(view2).items():
            saved2.setdefault(k, v)
        for p, a in (("sd", "D2.mfa"), ("md", "D2.mfa")):
            t = tgts[p]
            rc, so, se = unpack(pub, t.tmpl, [arch[a]], t.fmt, quiet=True)
            tap.ok(rc == 0, "%s applied to %s: exit 0" % (a, t.label), se[-1500:])
            compare_all("D2 %s" % t.label, da, t, users1, view2, saved2)
        # D2i's base is D1 (the archive id D1i does not share): onto si it is refused
        t = tgts["si"]
        refuse(pub, t, [arch["D2i.mfa"]], "D2i (base D1) onto the target that holds D1i", 6)
        # the whole chain onto empty targets (D2i: D2 packed from the index files)
        for p, d2 in (("ch", "D2.mfa"), ("cm", "D2.mfa"), ("ci", "D2i.mfa")):
            t = tgts[p]
            rc, so, se = unpack(pub, t.tmpl, [arch["FULL.mfa"], arch["D1.mfa"], arch[d2]],
                                t.fmt, quiet=True)
            tap.ok(rc == 0, "unpack FULL D1 %s onto an empty %s target: exit 0"
                   % (d2[:-4], t.fmt), se[-1500:])
            compare_all("FULL D1 D2 %s" % t.label, da, t, users1, view2, saved2)
        tap.diag("D2 applied after %.1f s" % (time.time() - t0))
        # D2 onto the lived-on targets: flags and expunges through D1's UID map
        since = len(dv.log_text())
        for p in ("lv", "lm"):
            t = tgts[p]
            pre = {u: full_view(da, t.login(u)) for u in users1}
            rc, so, se = unpack(pub, t.tmpl, [arch["D2.mfa"]], t.fmt)
            tap.ok(rc == 0, "D2 applied to the %s: exit 0" % t.label, se[-1500:])
            post = {u: full_view(da, t.login(u)) for u in users1}
            check_lived("D2 " + t.label, t, da, users1, view1, view2, pre, post,
                        live.notes_of(se), tchanges[p]["own_box"])
        probs = [ln for ln in live.log_problems(dv, since) if "(lv." in ln or "(lm." in ln]
        tap.ok(not probs, "Dovecot's log: no error or corruption about the lived-on targets "
               "during D2", "\n".join(probs[:8]))
        quiet_check("everything up to D2", dv, da, 0, tgts)
        resync_checks(dv, da, [tgts[p].login(u) for p in ("lv", "lm") for u in (alice,)] +
                      [tgts[p].login(alice) for p in ("sd", "md")])

        # ---- refusals and no-ops (acceptance 2)
        since_refusals = len(dv.log_text())
        refuse(pub, tgts["eo"], [arch["FULL.mfa"], arch["D2.mfa"], arch["D1.mfa"]],
               "FULL D2 D1 (out of order) onto an empty target", 6)
        refuse(pub, tgts["rf"], [arch["D2.mfa"]], "D2 onto a target that holds FULL", 6)
        refuse(pub, tgts["sd"], [arch["D1.mfa"]], "D1 onto a target that holds D2", 6)
        rc, summary, out = oracle.pack(key, arch["OTHER.mfa"], ["--users", ulist1])
        rc2, summary, out2 = pack(key, arch["DX.mfa"], ulist1, bases=[arch["OTHER.mfa"]])
        if tap.ok(rc == 0 and rc2 == 0, "another full archive of the source and a delta of it "
                  "packed", (out + out2)[-1000:]):
            refuse(pub, tgts["rf"], [arch["DX.mfa"]],
                   "a delta of another full archive onto a target that holds FULL", 6)
        replay(pub, tgts["sd"], [arch["D2.mfa"]], "D2 applied to the sdbox again")
        replay(pub, tgts["ch"], [arch["FULL.mfa"], arch["D1.mfa"], arch["D2.mfa"]],
               "unpack FULL D1 D2 again onto the sdbox it made", todo_exit7=BUG_CHAIN_RERUN)
        quiet_check("the refusals", dv, da, since_refusals, tgts)
        tap.diag("all done after %.1f s" % (time.time() - t0))


def sizes(arch):
    return ", ".join("%s %d bytes" % (n, os.path.getsize(p)) for n, p in sorted(arch.items())
                     if os.path.exists(p))


def compare_deltas(name, pub, a, b):
    """The delta packed from the archive and the one packed from the index file hold the
    same users, mailboxes and messages (ls --json, archive ids aside)."""
    try:
        x, y = oracle.ls_json(pub, a), oracle.ls_json(pub, b)
    except RuntimeError as e:
        tap.ok(False, "%s and %si list" % (name, name), str(e))
        return

    def strip(j):
        return json.dumps(j.get("users"), sort_keys=True)
    tap.ok(strip(x) == strip(y), "%s from the archive and from the index file hold the same "
           "users, mailboxes and messages (ls --json)" % name)


def compare_all(label, da, t, users, views, saved):
    nchanged = 0
    for u in users:
        want, n = wanted(views[u], saved)
        nchanged += n
        try:
            got = full_view(da, t.login(u))
        except dvlib.DovecotError as e:
            tap.ok(False, "%s %s: Dovecot reports on it" % (label, u), str(e))
            continue
        judge("%s %s" % (label, u), want, got, todo_of=lambda d, w=want: dangling_subs(d, w))
    if nchanged:
        tap.diag("%s: %d save dates are those Dovecot reported at FULL time (Maildir ctime moved)"
                 % (label, nchanged))


def check_sieve(label, info, t, user):
    want = sieve_files(info["homes"][user])
    got = sieve_files(t.home(user))
    tap.ok(want == got, "%s %s: Sieve scripts and the active link as at the source" % (label, user),
           "source %s\ntarget %s" % (sorted(want.items()), sorted(got.items())))


def count_bg(da, login, dl):
    """How many of the background deliveries are not in INBOX (by Subject/Message-ID)."""
    rows = da.run(["fetch", "hdr.message-id", "mailbox", "INBOX"], login)
    have = {r.get("hdr.message-id", "").strip() for r in rows}
    return sum(1 for _, _, tag in dl.done if "<%s@delta-oracle.test>" % tag not in have)


def refuse(pub, t, archives, label, code):
    """A refusal: exit `code`, one error line, the target's tree identical (mtimes too)."""
    before = oracle.tree_state(t.top)
    rc, so, se = unpack(pub, t.tmpl, archives, t.fmt, quiet=True)
    after = oracle.tree_state(t.top)
    lines = [ln for ln in se.split("\n") if ln.strip()]
    d = tree_diff(before, after)
    only_dirs = bool(d) and not (set(before) - set(after)) and \
        all(before[k] == v or (v[0] == stat.S_IFDIR and before[k][:5] == v[:5])
            for k, v in after.items() if k in before) and \
        all(v[0] == stat.S_IFDIR for k, v in after.items() if k not in before)
    tap.ok(rc == code and len(lines) == 1 and not d,
           "%s: refused (exit %d, one message), the target untouched (%d entries)"
           % (label, code, len(before)),
           "exit %d; stderr %r\n%s" % (rc, se[-600:], "\n".join(d)),
           todo=BUG_REFUSE_MKDIR if (rc == code and len(lines) == 1 and only_dirs) else None)
    if lines:
        tap.diag("%s: %s" % (label, lines[0][:300]))


def replay(pub, t, archives, label, todo_exit7=None):
    before = oracle.tree_state(t.top)
    rc, so, se = unpack(pub, t.tmpl, archives, t.fmt, quiet=True)
    after = oracle.tree_state(t.top)
    d = tree_diff(before, after)
    tap.ok(rc == 0 and not d, "%s: exit 0, nothing changed (%d entries, mtimes included)"
           % (label, len(before)), "exit %d; stderr %r\n%s" % (rc, se[-600:], "\n".join(d)),
           todo=todo_exit7 if (todo_exit7 and rc == 7 and not d and
                               "already holds a store from archive" in se) else None)


def quiet_check(label, dv, da, since, tgts):
    """One ok: neither Dovecot's log (after `since`) nor doveadm's stderr has an error or
    warning about a target login; the source's are shown only."""
    prefixes = tuple("(%s." % p for p in tgts)
    ours = [ln for ln in live.log_problems(dv, since) if any(x in ln for x in prefixes)]
    ours += ["doveadm %s -u %s: %s" % (c[1], c[0], c[2]) for c in da.complaints
             if c[0] and c[0].split(".", 1)[0] in tgts]
    for c in da.complaints:
        if not (c[0] and c[0].split(".", 1)[0] in tgts):
            tap.diag("%s, doveadm about the source: %s" % (label, c[2][:200]))
    da.complaints[:] = []
    tap.ok(not ours, "%s: no error or warning from Dovecot about any target" % label,
           "\n".join(ours[:8]))


def resync_state(da, login):
    rows = da.run(["fetch", "mailbox uid flags guid", "ALL"], login)
    st = da.run(["mailbox", "status", "messages uidvalidity uidnext guid", "*"], login)
    return (sorted((r["mailbox"], int(r["uid"]), " ".join(sorted(r["flags"].split())), r["guid"])
                   for r in rows), sorted(tuple(sorted(r.items())) for r in st))


def resync_checks(dv, da, logins):
    since = len(dv.log_text())
    for login in logins:
        try:
            before = resync_state(da, login)
            da.run(["force-resync", "*"], login, fmt=None)
            after = resync_state(da, login)
            d = []
            if before != after:
                d = ["only before: %s" % (x,) for x in sorted(set(before[0]) - set(after[0]))[:4]]
                d += ["only after: %s" % (x,) for x in sorted(set(after[0]) - set(before[0]))[:4]]
                d += ["status before %s" % (x,) for x in sorted(set(before[1]) - set(after[1]))[:3]]
                d += ["status after %s" % (x,) for x in sorted(set(after[1]) - set(before[1]))[:3]]
        except dvlib.DovecotError as e:
            d = [str(e)]
        tap.ok(not d, "%s: doveadm force-resync changes no UID, flag, GUID or mailbox status"
               % login, "\n".join(d))
    rebuild = [c for c in da.complaints if c[1].startswith("force-resync")]
    other = [c for c in da.complaints if not c[1].startswith("force-resync")]
    da.complaints[:] = []
    if rebuild:
        tap.diag("force-resync's own warnings (expected): %d, e.g. %s"
                 % (len(rebuild), rebuild[0][2][:200]))
    probs = [ln for ln in live.log_problems(dv, since) if "Rebuilding" not in ln
             and "rebuild" not in ln.lower()]
    tap.ok(not probs and not other, "force-resync: no other error or warning from Dovecot",
           "\n".join(probs[:6] + ["doveadm: %s" % (c,) for c in other[:6]]))


def main():
    global WORK
    dvlib.require_or_skip_all()
    dvlib.exit_on_signals()
    if not os.access(MAILFERRY, os.X_OK):
        print("1..0 # SKIP %s not built" % MAILFERRY)
        return
    WORK = tempfile.mkdtemp(prefix="mf-delta-oracle.")
    os.chmod(WORK, 0o755)
    dvlib.make_traversable(WORK)
    t0 = time.time()
    try:
        key, pub = os.path.join(WORK, "k.key"), os.path.join(WORK, "k.pub")
        rc, so, se = mf(["keygen", "-W", "-p", pub, "-s", key])
        if tap.ok(rc == 0, "keygen", se):
            try:
                run_all(key, pub)
            except Exception:
                tap.ok(False, "the delta oracle ran without an exception", traceback.format_exc())
    finally:
        tap.diag("%.1f s" % (time.time() - t0))
        if os.environ.get("KEEP"):
            tap.diag("kept %s" % WORK)
        else:
            shutil.rmtree(WORK, ignore_errors=True)
    tap.done()


main()
