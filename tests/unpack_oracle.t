#!/usr/bin/env python3
# unpack_oracle.t: what Dovecot 2.3 reports for the stores `mailferry unpack`
# writes is what it reports for the source Maildir, field by field, and unpack
# behaves as its options promise.
#
# Stores: (a) a generated store (tests/store/gen_store.py: 4 users + the dsync
# user, ~300 messages, fixed seed), (b) the samples (tests/data/samples): a
# Dovecot Maildir++ store (with a Sieve script added to its home), the same in
# LAYOUT=fs, and a Courier store.
#
# Order: snapshot the pristine source, pack it (and tar it for --from-tar);
# only then does a private Dovecot (tests/dovecot/dvlib.py) open the source.
# Each store is unpacked to sdbox and to mdbox, and `doveadm backup` (dsync)
# copies the source into sdbox and mdbox. For the source and each copy:
#   doveadm fetch 'mailbox uid flags guid date.received date.saved pop3.uidl
#                  pop3.order size.virtual' + a digest of `text` (-f json, one
#                  call per login; the source's text is checked against the files)
#   doveadm mailbox status 'messages uidvalidity uidnext guid' '*'
#   doveadm mailbox list, doveadm mailbox list -s
# The mailferry stores must give exactly the source's answers (one `ok` per
# user and format); dsync's answers are shown beside them in the diagnostics,
# not judged (dsync rewrites CRLF mail to LF, gives new save dates, ...).
#
# date.saved: Dovecot reports its cached date.save, else the file's ctime, which
# changes when Dovecot itself renames a new/ file into cur/. The wanted value is
# the source's, except that where Dovecot had no cached value and reports a
# ctime that it changed itself, it is the ctime recorded before Dovecot opened
# the source (as pack_oracle.t explains). Courier: Dovecot reads no Courier
# metadata; the source is a converted copy (tests/dovecot/oracle.py
# courier_to_dovecot, served with prefix "INBOX." and separator "."), its
# mailbox GUIDs are Dovecot's own (not compared) and its save dates are those
# of the original files.
#
# Then: Dovecot's log and doveadm's stderr stay free of errors and warnings
# about the mailferry stores; an IMAP client sees the source's UIDVALIDITY,
# UIDs, FLAGS and INTERNALDATE, and APPEND (UID = the old UIDNEXT), STORE, COPY,
# EXPUNGE and (mdbox) `doveadm purge` work; `doveadm force-resync` then changes
# no UID, flag, GUID or mailbox status (the rebuild warnings Dovecot also gives
# for its own dsync-made stores are shown, not judged). Ownership and modes
# (--owner, --dir-mode/--file-mode, the template's owner by default, Sieve
# files included; --owner-map with two owners in one domain, checked by a
# Dovecot running as each uid); damaged, truncated and wrongly signed archives
# write nothing (from a file and from a pipe); --dry-run; running twice; what
# the state file must tell a later run (a --mailbox restore, the format);
# --users, --mailbox, a pipe, and pack --from-tar of a tarball of the store.
#
# About 40 s on 2 cores (gen_store.py ~5 s, Dovecot's answers ~20 s).
#
# Known mailferry bugs are marked `# TODO BUG-...`, attached only when exactly
# their symptom shows; MF_STRICT=1 turns them into failures.
import imaplib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "dovecot"))
import dvlib  # noqa: E402
import oracle  # noqa: E402
from oracle import Doveadm, full_view, view_diffs, format_diff  # noqa: E402

TESTS, MF_SRC, MAILFERRY = dvlib.test_paths(__file__)
SEED = int(os.environ.get("MF_ORACLE_SEED", "20240607"))
GEN_USERS = int(os.environ.get("MF_ORACLE_USERS", "4"))
GEN_MESSAGES = int(os.environ.get("MF_ORACLE_MESSAGES", "300"))
OWNER = "%d:%d" % (dvlib.MAIL_UID, dvlib.MAIL_GID)
# the targets of a store, in the order the diagnostics show them
TARGETS = [("mfsd", "mailferry sdbox"), ("mfmd", "mailferry mdbox"),
           ("dssd", "dsync sdbox"), ("dsmd", "dsync mdbox")]

BUG_TAR_LINK = ("BUG-FROMTAR-HARDLINK: pack --from-tar skips a hard-link member of the "
                "tarball ('not a regular file in the tarball'), so the message is lost")
BUG_TAR_CACHE = ("BUG-FROMTAR-SAVECACHE: pack --from-tar never reads the folder's "
                 "dovecot.index/dovecot.index.cache (tt_open_dir returns -1): save dates "
                 "Dovecot had cached become the files' ctimes")

BUG_PARTIAL_STATE = ("BUG-PARTIAL-STATE: after --mailbox restored one folder, the full unpack "
                     "of the same archive says 'already holds this archive; nothing to do' "
                     "(the state file does not say the restore was partial)")
BUG_FORMAT_STATE = ("BUG-FORMAT-STATE: unpack --format mdbox onto the sdbox store of the same "
                    "archive says 'nothing to do', exit 0 (the state file's format is ignored)")
BUG_NOMATCH = ("BUG-MAILBOX-NOMATCH: --mailbox with a name no user has writes every user's "
               "store with no mailbox at all (just mailferry-state), exit 0, no note")
BUG_OWNERMAP = ("BUG-OWNERMAP-SHARED: with --owner-map, a directory the template shares between "
                "users (%d) is made by the first user's owner with --dir-mode 0700, so the "
                "other users' Dovecot cannot reach their stores (Permission denied)")

tap = dvlib.Tap()
WORK = None


# ---------------------------------------------------------------- helpers

def mf(args, **kw):
    """Runs mailferry: (exit code, stdout, stderr)."""
    return dvlib.run([MAILFERRY] + args, **kw)


def unpack(pub, tmpl, archive, extra=(), fmt="sdbox", owner=OWNER, stdin_file=None):
    """mailferry unpack -q ...; stdin_file: the archive comes through a pipe
    (`cat FILE | mailferry unpack ... -`)."""
    args = ["unpack", "-q", "-p", pub, "--to", tmpl, "--format", fmt]
    if owner:
        args += ["--owner", owner]
    args += list(extra)
    if stdin_file is None:
        return mf(args + [archive])
    cat = subprocess.Popen(["cat", stdin_file], stdout=subprocess.PIPE)
    try:
        return dvlib.run([MAILFERRY] + args + ["-"], stdin=cat.stdout)
    finally:
        cat.stdout.close()
        cat.wait()


def mkdir(path, uid=dvlib.MAIL_UID, gid=dvlib.MAIL_GID, mode=0o755):
    os.makedirs(path, exist_ok=True)
    os.chmod(path, mode)
    os.chown(path, uid, gid)
    return path


def split_user(u):
    local, _, dom = u.partition("@")
    return local, dom


def expand(tmpl, user):
    local, dom = split_user(user)
    return tmpl.replace("%u", user).replace("%n", local).replace("%d", dom)


def add_target(dv, prefix, user, tmpl, fmt):
    """A login `<prefix>.<user>` for the store that tmpl gives the user."""
    root = expand(tmpl, user)
    dv.add_user("%s.%s" % (prefix, user), os.path.dirname(root), mail="%s:%s" % (fmt, root),
                wait=False)


def listing(path):
    """Every path below path, relative (nothing when it does not exist)."""
    out = []
    for root, dirs, files in os.walk(path):
        out += [os.path.relpath(os.path.join(root, n), path) for n in dirs + files]
    return sorted(out)


def saved_str(t):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


def mb_dir(mb):
    return mb["stored"] if mb["stored"] else "."


def archive_files(ls_user):
    """{(mailbox name, uid): (mailbox dir, path of the source file relative to the Maildir)}"""
    out = {}
    for mb in ls_user["mailboxes"]:
        for m in mb["messages"]:
            out[("/".join(mb["name"]), m["uid"])] = (
                os.path.normpath(mb_dir(mb)),
                os.path.normpath(os.path.join(mb_dir(mb), m["source_dir"], m["source_name"])))
    return out


def wanted_view(src, ls_user, pre, post, courier=False):
    """The source's view with the save dates a faithful copy must report (see the header),
    and the number of save dates changed; also checks the source's text against the files
    mailferry read: returns (view, changed, [text problems])."""
    want = {"msgs": {}, "status": src["status"], "list": src["list"], "subs": src["subs"]}
    files = archive_files(ls_user)
    changed, bad_text = 0, []
    for k, row in src["msgs"].items():
        row = dict(row)
        f = files.get(k)
        if f is not None and f[1] in pre:
            pre_ctime, _, data = pre[f[1]]
            if oracle.data_digest(data) != row["text"]:
                bad_text.append("%s uid %d: Dovecot's text of the source is not the file %s"
                                % (k[0], k[1], f[1]))
            dsaved = int(row["date.saved.unixtime"])
            now = post.get((f[0], os.path.basename(f[1]).split(":", 1)[0]))
            if courier:
                exp = pre_ctime      # the original's; the converted copy is newer
            elif now is not None and dsaved == now and now != pre_ctime:
                exp = pre_ctime      # Dovecot renamed the file itself (new ctime), no cache
            else:
                exp = dsaved
            if exp != dsaved:
                changed += 1
                row["date.saved.unixtime"] = str(exp)
                row["date.saved"] = saved_str(exp)
        want["msgs"][k] = row
    return want, changed, bad_text


def summarize(diffs):
    """{field: count} of a diff list."""
    out = {}
    for kind, key, field, a, b in diffs:
        name = field if kind == "msg" else ("mailbox " + field if kind == "status" else kind)
        out[name] = out.get(name, 0) + 1
    return out


def show_side_by_side(label, want_of, got_of, users, diffs_of, n_examples=6):
    """TAP diagnostics: per target, how many values differ from the source, field by
    field; then a few of the differing values with the source and every target side by
    side. want_of[user], got_of[(target, user)], diffs_of[(target, user)]."""
    cols = [t for t, _ in TARGETS if any((t, u) in got_of for u in users)]
    names = dict(TARGETS)
    counts = {t: {} for t in cols}
    keys = []
    for t in cols:
        for u in users:
            for d in diffs_of.get((t, u), []):
                c = summarize([d])
                for k, v in c.items():
                    counts[t][k] = counts[t].get(k, 0) + v
                if (u, d[0], d[1], d[2]) not in keys:
                    keys.append((u, d[0], d[1], d[2]))
    fields = sorted({f for t in cols for f in counts[t]})
    w = max([len(names[t]) for t in cols] + [8])
    tap.diag("%s: values that differ from the source's (%d users)" % (label, len(users)))
    tap.diag("  %-28s" % "" + "".join(" %*s" % (w, names[t]) for t in cols))
    if not fields:
        tap.diag("  %-28s" % "(none)" + "".join(" %*d" % (w, 0) for t in cols))
    for f in fields:
        tap.diag("  %-28s" % f + "".join(" %*d" % (w, counts[t].get(f, 0)) for t in cols))
    # examples: one per field first, then more
    seen, picked = set(), []
    for k in keys:
        if k[3] not in seen:
            seen.add(k[3])
            picked.append(k)
    for k in keys:
        if len(picked) >= max(n_examples, len(seen)):
            break
        if k not in picked:
            picked.append(k)
    for u, kind, key, field in picked[:max(n_examples, len(seen))]:
        vals = []
        w_ = want_of[u]
        if kind == "msg":
            where = "%s %s uid %d %s" % (u, key[0], key[1], field)
            ref = w_["msgs"].get(key, {}).get(field) if field != "present" else key in w_["msgs"]
        elif kind == "status":
            where = "%s mailbox %s %s" % (u, key, field)
            ref = w_["status"].get(key, {}).get(field) if field != "present" \
                else key in w_["status"]
        else:
            where = "%s %s" % (u, kind)
            ref = w_[kind]
        for t in cols:
            g = got_of.get((t, u))
            if g is None:
                vals.append("-")
            elif kind == "msg":
                vals.append(repr(g["msgs"].get(key, {}).get(field)) if field != "present"
                            else repr(key in g["msgs"]))
            elif kind == "status":
                vals.append(repr(g["status"].get(key, {}).get(field)) if field != "present"
                            else repr(key in g["status"]))
            else:
                vals.append(repr(g[kind]))
        tap.diag("  e.g. %s: source %r | %s" % (where, ref, " | ".join(
            "%s %s" % (names[t], v) for t, v in zip(cols, vals))))


def judge(label, want, got, classify=None):
    """One ok: got (a mailferry store's view) is exactly want. classify(diffs) -> {diff:
    known bug reason}; when every difference is a known bug's exact symptom, the ok is a
    TODO naming those bugs."""
    diffs = view_diffs(want, got)
    reasons = classify(diffs) if classify else {}
    todo = "; ".join(sorted(set(reasons.values()))) if diffs and len(reasons) == len(diffs) \
        else None
    tap.ok(not diffs, "%s: %d messages in %d mailboxes, list and subscriptions as on the source"
           % (label, len(want["msgs"]), len(want["status"])),
           "%d differences, e.g.\n%s" % (len(diffs), "\n".join(format_diff(d) for d in diffs[:8]))
           if diffs else None, todo=todo)
    return diffs


def log_problems(dv, since=0):
    """Error/warning lines of Dovecot's log after byte offset `since`."""
    text = dv.log_text()[since:]
    return [ln for ln in text.split("\n")
            if re.search(r"\b(Error|Warning|Panic|Fatal)\b:", ln)]


def check_quiet(label, dv, da, since, logins_prefixes, also=()):
    """One ok: neither Dovecot's log (after `since`) nor doveadm's stderr has an error or
    warning about the mailferry stores (logins starting with one of logins_prefixes);
    the rest (the source, dsync) is shown only."""
    ours, others = [], []

    def mine(s):
        return any(("(%s." % p) in s or s.startswith(p + ".") for p in logins_prefixes)
    for ln in log_problems(dv, since):
        (ours if mine(ln) else others).append("log: " + ln)
    for login, cmd, ln in da.complaints:
        (ours if login and mine(login) else others).append("doveadm %s -u %s: %s"
                                                            % (cmd, login, ln))
    ours += list(also)
    da.complaints[:] = []
    for ln in others[:10]:
        tap.diag("%s (not a mailferry store): %s" % (label, ln))
    tap.ok(not ours, "%s: no error or warning from Dovecot about the mailferry stores" % label,
           "\n".join(ours[:10]))


# ---------------------------------------------------------------- IMAP

def imap_quote(name):
    return '"%s"' % name.replace("\\", "\\\\").replace('"', '\\"')


def imap_names(M):
    typ, data = M.list('""', "*")
    out = []
    for item in data:
        if item is None:
            continue
        if isinstance(item, tuple):        # a literal name
            flags = item[0].decode()
            name = item[1].decode()
        else:
            s = item.decode()
            m = re.match(r'^\(([^)]*)\) (?:"(?:[^"\\]|\\.)*"|NIL) (.*)$', s)
            if not m:
                raise RuntimeError("LIST response %r" % s)
            flags, name = m.group(1), m.group(2)
            if name.startswith('"'):
                name = re.sub(r'\\(.)', r'\1', name[1:-1])
        if "\\noselect" in flags.lower() or "\\nonexistent" in flags.lower():
            continue
        out.append(name)
    return out


FETCH_RE = re.compile(r'UID (\d+)|FLAGS \(([^)]*)\)|INTERNALDATE "([^"]*)"')


def imap_state(port, login, name_of=None):
    """{mailbox: (UIDVALIDITY, {uid: (flags without \\Recent, INTERNALDATE)})} seen by a
    read-only IMAP client (EXAMINE)."""
    name_of = name_of or (lambda n: n)
    M = imaplib.IMAP4("127.0.0.1", port)
    try:
        M.login(login, "pw")
        out = {}
        for name in imap_names(M):
            typ, _ = M.select(imap_quote(name), readonly=True)
            if typ != "OK":
                raise RuntimeError("EXAMINE %s: %s" % (name, typ))
            uv = M.response("UIDVALIDITY")[1][0].decode()
            typ, data = M.uid("FETCH", "1:*", "(UID FLAGS INTERNALDATE)")
            msgs = {}
            for item in data or []:
                if item is None:
                    continue
                s = item.decode() if isinstance(item, bytes) else item[0].decode()
                uid, flags, date = None, "", None
                for m in FETCH_RE.finditer(s):
                    if m.group(1):
                        uid = int(m.group(1))
                    elif m.group(2) is not None:
                        flags = " ".join(sorted(f for f in m.group(2).split()
                                                if f != "\\Recent"))
                    elif m.group(3):
                        date = m.group(3)
                msgs[uid] = (flags, date)
            out[name_of(name)] = (uv, msgs)
        M.logout()
        return out
    finally:
        try:
            M.shutdown()
        except OSError:
            pass


def imap_diffs(want, got):
    out = []
    for box in sorted(set(want) | set(got)):
        a, b = want.get(box), got.get(box)
        if a is None or b is None:
            out.append("mailbox %s: source %s, target %s" % (box, a is not None, b is not None))
            continue
        if a[0] != b[0]:
            out.append("mailbox %s UIDVALIDITY: source %s, target %s" % (box, a[0], b[0]))
        for uid in sorted(set(a[1]) | set(b[1])):
            x, y = a[1].get(uid), b[1].get(uid)
            if x != y:
                out.append("mailbox %s uid %s: source %s, target %s" % (box, uid, x, y))
    return out


NEW_MESSAGE = (b"From: Test <test@example.com>\r\nTo: <someone@example.com>\r\n"
               b"Subject: appended by unpack_oracle.t\r\nMessage-ID: <unpack-oracle@test>\r\n"
               b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n\r\nA new message.\r\n")


def imap_work(port, login, copy_to):
    """SELECT INBOX, APPEND, STORE, COPY, EXPUNGE: a list of problems (empty if all went
    well). The appended message must get the old UIDNEXT."""
    problems = []
    M = imaplib.IMAP4("127.0.0.1", port)
    try:
        M.login(login, "pw")
        typ, _ = M.select("INBOX")
        if typ != "OK":
            return ["SELECT INBOX: %s" % typ]
        uv = int(M.response("UIDVALIDITY")[1][0])
        uidnext = int(M.response("UIDNEXT")[1][0])
        typ, data = M.uid("SEARCH", None, "ALL")
        uids = [int(x) for x in data[0].split()] if data and data[0] else []
        typ, data = M.append("INBOX", "(\\Seen $Label1)", imaplib.Time2Internaldate(1704103200),
                             NEW_MESSAGE)
        resp = " ".join(x.decode() if isinstance(x, bytes) else str(x) for x in data if x)
        m = re.search(r"APPENDUID (\d+) (\d+)", resp)
        if typ != "OK" or not m:
            problems.append("APPEND: %s %s" % (typ, resp))
        elif (int(m.group(1)), int(m.group(2))) != (uv, uidnext):
            problems.append("APPEND got UIDVALIDITY %s UID %s, want %d %d (the old UIDNEXT)"
                            % (m.group(1), m.group(2), uv, uidnext))
        M.noop()
        if len(uids) >= 2:
            typ, data = M.uid("STORE", str(uids[0]), "+FLAGS", "(\\Flagged $Forwarded)")
            if typ != "OK":
                problems.append("STORE: %s %s" % (typ, data))
            if copy_to:
                typ, data = M.uid("COPY", str(uids[1]), imap_quote(copy_to))
                if typ != "OK":
                    problems.append("COPY: %s %s" % (typ, data))
            typ, data = M.uid("STORE", str(uids[1]), "+FLAGS", "(\\Deleted)")
            typ2, data2 = M.expunge()
            if typ != "OK" or typ2 != "OK":
                problems.append("EXPUNGE: %s %s %s %s" % (typ, data, typ2, data2))
            typ, data = M.uid("FETCH", "%d,%d" % (uids[0], uids[1]), "(FLAGS)")
            got = " ".join(x.decode() for x in data if isinstance(x, bytes))
            if "\\Flagged" not in got or "$Forwarded" not in got or \
                    ("UID %d " % uids[1]) in got:
                problems.append("after STORE/EXPUNGE: %r" % got)
        M.close()
        M.logout()
    except (imaplib.IMAP4.error, OSError) as e:
        problems.append("IMAP: %s" % e)
    finally:
        try:
            M.shutdown()
        except OSError:
            pass
    return problems


def resync_state(da, login):
    """(messages, statuses, {(mailbox, uid): (date.saved, pop3.uidl)}) for force-resync."""
    rows = da.run(["fetch", "mailbox uid flags guid date.saved pop3.uidl", "ALL"], login)
    st = da.run(["mailbox", "status", "messages uidvalidity uidnext guid", "*"], login)
    return (sorted((r["mailbox"], int(r["uid"]), r["flags"], r["guid"]) for r in rows),
            sorted(tuple(sorted(r.items())) for r in st),
            {(r["mailbox"], int(r["uid"])): (r["date.saved"], r["pop3.uidl"]) for r in rows})


def complaint_kind(line):
    """A doveadm complaint without its paths and login: what kind of thing Dovecot says."""
    line = re.sub(r"^doveadm\([^)]*\)(<[^>]*>)*(<[^>]*>)?:", "doveadm:", line)
    return re.sub(r"/\S+", "PATH", line)


def live_checks(label, dv, da, logins, src_imap, copy_to, name_of=None, work_logins=None):
    """Acceptance 2 for the mailferry logins of a store: IMAP shows the source's view,
    then APPEND/STORE/COPY/EXPUNGE (+ purge for mdbox) work on work_logins."""
    for login in logins:
        try:
            got = imap_state(dv.port, login, name_of)
            d = imap_diffs(src_imap, got)
        except Exception as e:
            d = ["IMAP failed: %s" % e]
        tap.ok(not d, "%s %s: IMAP shows the source's UIDVALIDITY, UIDs, FLAGS and "
               "INTERNALDATE (%d mailboxes)" % (label, login, len(src_imap)), "\n".join(d[:8]))
    for login in (work_logins if work_logins is not None else logins):
        problems = imap_work(dv.port, login, copy_to)
        if login.startswith("mfmd."):
            try:
                da.run(["purge"], login, fmt=None)
            except dvlib.DovecotError as e:
                problems.append(str(e))
        tap.ok(not problems, "%s %s: IMAP APPEND (UID = old UIDNEXT), STORE, %sEXPUNGE%s work"
               % (label, login, "COPY, " if copy_to else "",
                  " and doveadm purge" if login.startswith("mfmd.") else ""),
               "\n".join(problems))


def resync_checks(label, dv, da, logins, refs=()):
    """doveadm force-resync changes no UID, flag, GUID or mailbox status of the mailferry
    logins. Dovecot always warns while it rebuilds ("Rebuilding index", ...): warnings of
    the kinds it also gives for its own dsync-made stores (refs: [(Doveadm, login)]) are
    shown, any other kind fails. Save dates and POP3 UIDLs that the rebuild changes are
    shown only."""
    since = len(dv.log_text())
    known, ref_notes = set(), []
    for rda, login in refs:
        try:
            b = resync_state(rda, login)
            rda.run(["force-resync", "*"], login, fmt=None)
            a = resync_state(rda, login)
            n = sum(1 for k in b[2] if a[2].get(k) != b[2][k])
            ref_notes.append("%s: %d save dates/POP3 UIDLs changed" % (login, n))
        except dvlib.DovecotError as e:
            ref_notes.append("%s: %s" % (login, e))
        for lg, cmd, ln in rda.complaints:
            if cmd.startswith("force-resync"):
                known.add(complaint_kind(ln))
        rda.complaints[:] = []
    for login in logins:
        notes = []
        try:
            before = resync_state(da, login)
            da.run(["force-resync", "*"], login, fmt=None)
            after = resync_state(da, login)
            d = []
            if before[:2] != after[:2]:
                b0, a0 = set(before[0]), set(after[0])
                d = ["message %s only before" % (x,) for x in sorted(b0 - a0)[:4]] + \
                    ["message %s only after" % (x,) for x in sorted(a0 - b0)[:4]] + \
                    ["status before %s" % (x,) for x in sorted(set(before[1]) - set(after[1]))[:3]] + \
                    ["status after %s" % (x,) for x in sorted(set(after[1]) - set(before[1]))[:3]]
            ch = [k for k in sorted(before[2]) if after[2].get(k) != before[2][k]]
            if ch:
                notes.append("%d save dates/POP3 UIDLs changed, e.g. %s" % (len(ch), "; ".join(
                    "%s uid %d: %s -> %s" % (k[0], k[1], before[2][k], after[2].get(k))
                    for k in ch[:3])))
        except dvlib.DovecotError as e:
            d = [str(e)]
        tap.ok(not d, "%s %s: doveadm force-resync changes no UID, flag, GUID or mailbox status"
               % (label, login), "\n".join(d))
        for n_ in notes:
            tap.diag("%s %s after force-resync: %s (Dovecot's rebuild; shown, not judged)"
                     % (label, login, n_))
    for n_ in ref_notes:
        tap.diag("%s, for comparison, dsync's store %s" % (label, n_))
    expected = []
    for lg, cmd, ln in list(da.complaints):
        if cmd.startswith("force-resync") and complaint_kind(ln) in known:
            expected.append(complaint_kind(ln))
            da.complaints.remove((lg, cmd, ln))
    if expected:
        tap.diag("%s force-resync: %d warnings of kinds Dovecot gives for its own stores too: "
                 "%s" % (label, len(expected), "; ".join(sorted(set(expected)))))
    check_quiet(label + " (force-resync)", dv, da, since,
                sorted({lg.split(".", 1)[0] for lg in logins}))


# ---------------------------------------------------------------- a store, end to end

class Store:
    """One source store: users, their Maildirs/homes, what was recorded before Dovecot
    opened it, the archive and its listing."""

    def __init__(self, label, users, maildirs, homes, locs=None):
        self.label, self.users = label, users
        self.maildirs, self.homes = maildirs, homes
        self.locs = locs or {}
        self.pre = {u: oracle.snapshot(maildirs[u]) for u in users}
        self.ls = None


def pack_store(store, key, pub, archive, args):
    rc, summary, out = oracle.pack(key, archive, args)
    ok = tap.ok(rc == 0 and summary is not None and summary["skipped"]["total"] == 0
                and os.path.exists(archive) and oracle.verify(pub, archive)[0] == 0,
                "%s: packed (exit 0, nothing skipped) and verified" % store.label, out[-1500:])
    if os.path.exists(archive):
        store.ls = {u["name"]: u for u in oracle.ls_json(pub, archive)["users"]}
    return ok and store.ls is not None


def unpack_both(store, pub, archive, base):
    """Unpacks to <base>/sd/%d/%n/sdbox and <base>/md/%d/%n/mdbox; {prefix: template}."""
    tmpls = {}
    for prefix, fmt in (("mfsd", "sdbox"), ("mfmd", "mdbox")):
        top = mkdir(os.path.join(base, prefix))
        tmpl = os.path.join(top, "%d", "%n", fmt)
        rc, so, se = unpack(pub, tmpl, archive, fmt=fmt)
        tap.ok(rc == 0 and se.strip() == "", "%s: unpack to %s exits 0 quietly"
               % (store.label, fmt), "exit %d: %s" % (rc, se[-1500:]))
        tmpls[prefix] = (tmpl, fmt)
    return tmpls


def dsync_all(dv, jobs):
    """Runs `doveadm backup` jobs [(login, location)] a few at a time; {location: stderr}
    of those that failed or complained."""
    out, running = {}, []
    jobs = list(jobs)
    while jobs or running:
        while jobs and len(running) < 8:
            login, loc = jobs.pop(0)
            p = subprocess.Popen(["doveadm", "-c", dv.conf, "backup", "-u", login, loc],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 env=dict(os.environ, TZ="UTC"))
            running.append((p, loc))
        p, loc = running.pop(0)
        so, se = p.communicate(timeout=300)
        if p.returncode != 0 or se.strip():
            out[loc] = "exit %d: %s" % (p.returncode, se.decode(errors="replace").strip())
    return out


def run_dsync(dv, dsdir, users):
    """doveadm backup of each user's source into <dsdir>/dssd|dsmd/%d/%n/sdbox|mdbox (the
    logins dssd.<user>, dsmd.<user>); failures and complaints go to the diagnostics."""
    jobs = []
    for prefix, fmt in (("dssd", "sdbox"), ("dsmd", "mdbox")):
        for u in users:
            root = expand(os.path.join(dsdir, prefix, "%d", "%n", fmt), u)
            mkdir(os.path.dirname(os.path.dirname(root)))
            mkdir(os.path.dirname(root))
            jobs.append((u, "%s:%s" % (fmt, root)))
    for loc, err in dsync_all(dv, jobs).items():
        tap.diag("dsync into %s: %s" % (loc, err[-300:]))


def compare_store(store, dv, da, want):
    """Views of every target login of the store, judged (mailferry) or shown (dsync)."""
    got_of, diffs_of = {}, {}
    for u in store.users:
        for t, tname in TARGETS:
            login = "%s.%s" % (t, u)
            if login not in dv.users:
                continue
            try:
                got = full_view(da, login)
            except dvlib.DovecotError as e:
                tap.ok(not t.startswith("mf"), "%s %s %s: Dovecot reports on it"
                       % (store.label, u, tname), str(e))
                continue
            got_of[(t, u)] = got
            if t.startswith("mf"):
                diffs_of[(t, u)] = judge("%s %s: %s" % (store.label, u, tname), want[u], got)
            else:
                diffs_of[(t, u)] = view_diffs(want[u], got)
    show_side_by_side(store.label, want, got_of, store.users, diffs_of)
    return got_of


# ---------------------------------------------------------------- (a) generated store

def part_generated(key, pub):
    gen = os.path.join(WORK, "gen")
    rc, so, se = dvlib.run([sys.executable, os.path.join(TESTS, "store", "gen_store.py"),
                            "--out", gen, "--users", str(GEN_USERS), "--messages",
                            str(GEN_MESSAGES), "--seed", str(SEED), "-q"], timeout=600)
    if not tap.ok(rc == 0, "gen_store.py made a %d-user store of about %d messages (seed %d)"
                  % (GEN_USERS, GEN_MESSAGES, SEED), se[-2000:]):
        return None
    with open(os.path.join(gen, "gen_store.json")) as f:
        info = json.load(f)
    users = sorted(info["users"])
    store = Store("generated store", users, info["maildirs"], info["homes"])
    # a tarball of the pristine store, for pack --from-tar (ctimes kept: POSIX format)
    tarball = os.path.join(WORK, "gen.tar")
    r = subprocess.run(["tar", "--format=posix", "-C", gen, "-cf", tarball] +
                       sorted({os.path.relpath(info["homes"][u], gen).split("/")[0]
                               for u in users}), stderr=subprocess.PIPE)
    tap.ok(r.returncode == 0, "tar of the pristine generated store", r.stderr.decode()[-500:])
    archive = os.path.join(WORK, "gen.mfa")
    if not pack_store(store, key, pub, archive, ["--users", os.path.join(gen, "users")]):
        return None
    tar_links = set()
    with tarfile.open(tarball) as tf:
        for m in tf.getmembers():
            if m.islnk():
                tar_links.add(m.name)
    tararch = os.path.join(WORK, "gen-tar.mfa")
    tusers = os.path.join(WORK, "gen-tar.users")
    with open(tusers, "w") as f:
        for u in users:
            f.write("%s\t%s\n" % (u, os.path.relpath(info["maildirs"][u], gen)))
    rc, summary, out = oracle.pack(key, tararch, ["--from-tar", tarball, "--users", tusers])
    skipped = [os.path.normpath(os.path.join(os.path.relpath(info["maildirs"][s["user"]], gen),
                                             s["path"]))
               for s in (summary or {}).get("skipped_items", [])]
    tap.ok(rc == 0 and summary is not None and summary["skipped"]["total"] == 0,
           "pack --from-tar of the store's tarball: exit 0, nothing skipped",
           "exit %d: %s" % (rc, out[-1500:]),
           todo=BUG_TAR_LINK if (rc == 1 and skipped and set(skipped) <= tar_links) else None)

    base = os.path.join(WORK, "gen-out")
    mkdir(base)
    tmpls = unpack_both(store, pub, archive, base)
    part_twice(store, pub, archive, tmpls)
    part_dry_run(store, pub, archive)
    part_state(store, pub, archive)
    # a pipe, a subset of users, one mailbox, the --from-tar archive
    extra = {}
    spool = mkdir(os.path.join(WORK, "spool"), 0, 0, 0o700)
    top = mkdir(os.path.join(base, "pipe"))
    extra["pipe"] = os.path.join(top, "%d", "%n", "sdbox")
    rc, so, se = unpack(pub, extra["pipe"], archive, extra=["--tmpdir", spool],
                        stdin_file=archive)
    tap.ok(rc == 0 and se.strip() == "" and os.listdir(spool) == [],
           "cat gen.mfa | mailferry unpack ... -: exit 0, its spool file removed",
           "exit %d: %s; spool: %s" % (rc, se[-1000:], os.listdir(spool)))
    sub_users = [u for u in users if not u.startswith("alice")][:2]
    top = mkdir(os.path.join(base, "sub"))
    extra["sub"] = os.path.join(top, "%d", "%n", "sdbox")
    rc, so, se = unpack(pub, extra["sub"], archive, extra=["--users", ",".join(sub_users)])
    present = sorted("%s@%s" % (p.split("/")[1], p.split("/")[0]) for p in listing(top)
                     if p.count("/") == 1)
    tap.ok(rc == 0 and present == sorted(sub_users),
           "--users %s: exit 0, only those users written" % ",".join(sub_users),
           "exit %d: %s; users there: %s" % (rc, se[-1000:], present))
    one_user = users[0]
    # one mailbox with mail, a non-ASCII name if there is one (Entwürfe with the fixed seed)
    cands = sorted(("/".join(mb["name"]) for mb in store.ls[one_user]["mailboxes"]
                    if mb["messages"] and mb["name"] != ["INBOX"]),
                   key=lambda n: (n.isascii(), n))
    one_box = cands[0] if cands else "INBOX"
    top = mkdir(os.path.join(base, "one"))
    extra["one"] = os.path.join(top, "%d", "%n", "sdbox")
    rc, so, se = unpack(pub, extra["one"], archive,
                        extra=["--users", one_user, "--mailbox", one_box])
    boxes = sorted(listing(os.path.join(expand(extra["one"], one_user), "mailboxes")))
    tap.ok(rc == 0 and len([b for b in boxes if b.endswith("dbox-Mails")]) == 1,
           "--users %s --mailbox %s: exit 0, only that mailbox written" % (one_user, one_box),
           "exit %d: %s; %s" % (rc, se[-1000:], boxes))
    top = mkdir(os.path.join(base, "tar"))
    extra["tar"] = os.path.join(top, "%d", "%n", "sdbox")
    if os.path.exists(tararch):
        rc, so, se = unpack(pub, extra["tar"], tararch)
        tap.ok(rc == 0, "unpack of the --from-tar archive exits 0", se[-1000:])

    # only now does Dovecot open the source
    dsdir = mkdir(os.path.join(WORK, "gen-dsync"))
    dv = dvlib.Dovecot()
    for u in users:
        dv.add_user(u, info["homes"][u], wait=False)
        for prefix, (tmpl, fmt) in tmpls.items():
            add_target(dv, prefix, u, tmpl, fmt)
        for prefix, fmt in (("dssd", "sdbox"), ("dsmd", "mdbox")):
            add_target(dv, prefix, u, os.path.join(dsdir, prefix, "%d", "%n", fmt), fmt)
        for prefix, tmpl in extra.items():
            add_target(dv, prefix, u, tmpl, "sdbox")
    with dv:
        da = Doveadm(dv)
        src = {u: full_view(da, u) for u in users}
        post = {u: oracle.ctimes_by_base(info["maildirs"][u]) for u in users}
        want, nchanged = {}, 0
        for u in users:
            want[u], n, bad = wanted_view(src[u], store.ls[u], store.pre[u], post[u])
            nchanged += n
            tap.ok(not bad, "%s %s: Dovecot's text of every source message is the file's bytes"
                   % (store.label, u), "\n".join(bad[:5]))
        tap.diag("%s: %d save dates are the ctimes from before Dovecot renamed the files"
                 % (store.label, nchanged))
        # dsync from the same source
        run_dsync(dv, dsdir, users)
        compare_store(store, dv, da, want)
        # the variants: pipe (= file), --users, --mailbox, --from-tar
        for u in users:
            g = full_view(da, "pipe.%s" % u)
            judge("%s %s: unpacked from a pipe" % (store.label, u), want[u], g)
        for u in sub_users:
            g = full_view(da, "sub.%s" % u)
            judge("%s %s: unpacked with --users" % (store.label, u), want[u], g)
        g = full_view(da, "one.%s" % one_user)
        w = {"msgs": {k: v for k, v in want[one_user]["msgs"].items() if k[0] == one_box},
             "status": {k: v for k, v in want[one_user]["status"].items() if k == one_box},
             "list": sorted(set("/".join(one_box.split("/")[:i + 1])
                                for i in range(one_box.count("/") + 1))),
             "subs": [one_box] if one_box in want[one_user]["subs"] else []}
        # Dovecot always shows (and creates) INBOX
        g["list"] = [n for n in g["list"] if n != "INBOX"]
        g["status"].pop("INBOX", None)
        judge("%s %s: --mailbox %s" % (store.label, one_user, one_box), w, g)

        for u in users:
            files = archive_files(store.ls[u])

            def tar_bugs(diffs, u=u, files=files):
                """The exact symptoms of the two --from-tar bugs: a message whose source is
                a hard link in the tarball is missing (and its mailbox counts one message
                less); a save date Dovecot had cached is the file's ctime instead."""
                out, lost = {}, {}
                tarname = {k: os.path.normpath(os.path.join(
                    os.path.relpath(info["maildirs"][u], gen), f[1])) for k, f in files.items()}
                for d in diffs:
                    kind, k, field, a, b = d
                    if kind == "msg" and field == "present" and a and not b and \
                            tarname.get(k) in tar_links:
                        out[d] = BUG_TAR_LINK
                        lost[k[0]] = lost.get(k[0], 0) + 1
                for d in diffs:
                    kind, k, field, a, b = d
                    if kind == "status" and field == "messages" and lost.get(k) and \
                            int(a) - int(b) == lost[k]:
                        out[d] = BUG_TAR_LINK
                    elif kind == "msg" and field.startswith("date.saved"):
                        f = files.get(k)
                        ct = store.pre[u][f[1]][0] if f and f[1] in store.pre[u] else None
                        if ct is not None and b in (str(ct), saved_str(ct)):
                            out[d] = BUG_TAR_CACHE
                return out
            g = full_view(da, "tar.%s" % u)
            judge("%s %s: unpacked from the pack --from-tar archive" % (store.label, u),
                  want[u], g, classify=tar_bugs)
        check_quiet(store.label + " (views, dsync)", dv, da, 0, ["mfsd", "mfmd", "pipe", "sub",
                                                                  "one", "tar"])
        # IMAP, changes, purge, force-resync
        since = len(dv.log_text())
        for i, u in enumerate(users):
            live_checks(store.label, dv, da, ["mfsd.%s" % u, "mfmd.%s" % u],
                        imap_state(dv.port, u), "Archive", work_logins=None if i == 0 else [])
        check_quiet(store.label + " (IMAP, purge)", dv, da, since, ["mfsd", "mfmd"])
        # every store IMAP changed, and one untouched (pipe.) that Dovecot only read
        resync_checks(store.label, dv, da, ["%s.%s" % (p, u) for u in users
                                            for p in ("mfsd", "mfmd")] + ["pipe.%s" % users[0]],
                      refs=[(da, "dssd.%s" % users[0]), (da, "dsmd.%s" % users[0])])
    return store, archive, tararch


def part_twice(store, pub, archive, tmpls):
    """The same unpack again: exit 0, and the tree is exactly as it was (mtimes too)."""
    for prefix, (tmpl, fmt) in sorted(tmpls.items()):
        top = tmpl.split("%")[0]
        before = oracle.tree_state(top)
        rc, so, se = unpack(pub, tmpl, archive, fmt=fmt)
        after = oracle.tree_state(top)
        d = sorted(set(before.items()) ^ set(after.items()))
        tap.ok(rc == 0 and not d, "%s: the same unpack to %s again exits 0 and changes nothing "
               "(%d entries, mtimes included)" % (store.label, fmt, len(before)),
               "exit %d: %s\n%s" % (rc, se[-500:], "\n".join(str(x) for x in d[:6])))


def dbox_boxes(root):
    """The mailboxes (dirs with dbox-Mails) of a dbox root."""
    return sorted(os.path.dirname(p) for p in listing(os.path.join(root, "mailboxes"))
                  if os.path.basename(p) == "dbox-Mails")


def part_state(store, pub, archive):
    """What the state file must tell a later run: a partial (--mailbox) restore, the
    format; and a --mailbox that matches nothing."""
    u = sorted(store.ls)[0]
    nboxes = len(store.ls[u]["mailboxes"])
    names = ["/".join(mb["name"]) for mb in store.ls[u]["mailboxes"]]
    box = "Sent" if "Sent" in names else [n for n in names if n != "INBOX"][0]
    base = mkdir(os.path.join(WORK, "state"))
    tmpl = os.path.join(mkdir(os.path.join(base, "partial")), "%d", "%n", "sdbox")
    rc1, so, se1 = unpack(pub, tmpl, archive, extra=["--users", u, "--mailbox", box])
    rc2, so, se2 = mf(["unpack", "-p", pub, "--to", tmpl, "--owner", OWNER, "--users", u,
                       archive])
    boxes = dbox_boxes(expand(tmpl, u))
    ok = rc1 == 0 and (rc2 != 0 or len(boxes) == nboxes)
    tap.ok(ok, "--mailbox %s, then the full unpack of the same archive: every mailbox "
           "restored (%d) or a refusal" % (box, nboxes), "exits %d, %d; %d mailboxes: %s; %s"
           % (rc1, rc2, len(boxes), boxes, se2.strip()[-300:]),
           todo=BUG_PARTIAL_STATE if (rc2 == 0 and len(boxes) == 1 and
                                      "already holds this archive" in se2) else None)
    tmpl = os.path.join(mkdir(os.path.join(base, "format")), "%d", "%n", "store")
    rc1, so, se1 = unpack(pub, tmpl, archive, extra=["--users", u], fmt="sdbox")
    rc2, so, se2 = mf(["unpack", "-p", pub, "--to", tmpl, "--owner", OWNER, "--users", u,
                       "--format", "mdbox", archive])
    has_storage = os.path.isdir(os.path.join(expand(tmpl, u), "storage"))
    tap.ok(rc1 == 0 and (rc2 == 7 or has_storage),
           "unpack --format mdbox where the same archive's sdbox store is: refused (exit 7)",
           "exits %d, %d: %s" % (rc1, rc2, se2.strip()[-300:]),
           todo=BUG_FORMAT_STATE if (rc2 == 0 and "already holds this archive" in se2 and
                                     not has_storage) else None)
    top = mkdir(os.path.join(base, "nomatch"))
    tmpl = os.path.join(top, "%d", "%n", "sdbox")
    rc, so, se = mf(["unpack", "-p", pub, "--to", tmpl, "--owner", OWNER, "--mailbox",
                     "No such mailbox", archive])
    written = [p for p in listing(top) if p.endswith("/sdbox")]
    only_state = all(listing(os.path.join(top, p)) == ["mailferry-state"] for p in written)
    tap.ok(not written and (rc != 0 or se.strip() != ""),
           "--mailbox that no user has: no store written, an error or a note",
           "exit %d, %r; written: %s" % (rc, se.strip()[-300:], written[:6]),
           todo=BUG_NOMATCH if (rc == 0 and written and only_state) else None)


def part_dry_run(store, pub, archive):
    top = mkdir(os.path.join(WORK, "dry"))
    tmpl = os.path.join(top, "%d", "%n", "sdbox")
    rc, so, se = mf(["unpack", "-p", pub, "--to", tmpl, "--owner", OWNER, "--dry-run", "--json",
                     archive])
    want = (len(store.ls), sum(len(u["mailboxes"]) for u in store.ls.values()),
            sum(len(mb["messages"]) for u in store.ls.values() for mb in u["mailboxes"]))
    try:
        j = json.loads(so)
        got = (j["users"], j["mailboxes"], j["messages"])
        dry = j["dry_run"]
    except (ValueError, KeyError):
        got, dry = None, None
    tap.ok(rc == 0 and dry is True and got == want and listing(top) == [],
           "--dry-run --json: exit 0, reports %d users, %d mailboxes, %d messages, writes "
           "nothing" % want, "exit %d, reported %s, written: %s; %s"
           % (rc, got, listing(top)[:5], se[-500:]))
    rc, so, se = mf(["unpack", "-p", pub, "--to", tmpl, "--owner", OWNER, "--dry-run", archive])
    m = re.search(r"(\d+) users, (\d+) mailboxes, (\d+) messages", se)
    tap.ok(rc == 0 and m is not None and tuple(int(x) for x in m.groups()) == want and
           listing(top) == [], "--dry-run: the same counts on stderr, nothing written",
           "exit %d: %s; written: %s" % (rc, se[-500:], listing(top)[:5]))


# ---------------------------------------------------------------- (b) samples

SIEVE = b'require "fileinto";\nif header :contains "subject" "[list]" { fileinto "Lists"; }\n'


def part_samples(key, pub):
    samples = oracle.sample_dir()
    if not os.path.isdir(os.path.join(samples, "maildir-dovecot")):
        tap.skip("no samples at %s (set MF_SAMPLES)" % samples)
        return None
    base = os.path.join(WORK, "samples")
    mkdir(base)
    stores = []
    for name, loc in (("maildir-dovecot", "maildir:~/Maildir"),
                      ("maildir-layoutfs", "maildir:~/Maildir:LAYOUT=fs")):
        if not os.path.isdir(os.path.join(samples, name)):
            tap.skip("sample %s missing" % name)
            continue
        user = "%s@samples.test" % name.split("-")[1]
        home = os.path.join(base, "src", name)
        os.makedirs(os.path.dirname(home), exist_ok=True)
        oracle.copy_sample(samples, name, home)
        if name == "maildir-dovecot":
            # a Sieve script in the home, with the active-script link
            os.makedirs(os.path.join(home, "sieve"))
            with open(os.path.join(home, "sieve", "lists.sieve"), "wb") as f:
                f.write(SIEVE)
            os.symlink("sieve/lists.sieve", os.path.join(home, ".dovecot.sieve"))
            dvlib.chown_tree(home)
        maildir = os.path.join(home, "Maildir")
        st = Store("sample %s" % name, [user], {user: maildir}, {user: home}, {user: loc})
        st.archive = os.path.join(base, name + ".mfa")
        st.pack_args = ["%s=%s" % (user, maildir)]
        if pack_store(st, key, pub, st.archive, st.pack_args):
            stores.append(st)
    sample_archive = (stores[0].archive, stores[0].pack_args) if stores else None
    tmpl_sd = os.path.join(mkdir(os.path.join(base, "mfsd")), "%d", "%n", "sdbox")
    tmpl_md = os.path.join(mkdir(os.path.join(base, "mfmd")), "%d", "%n", "mdbox")
    for st in stores:
        for tmpl, fmt in ((tmpl_sd, "sdbox"), (tmpl_md, "mdbox")):
            rc, so, se = unpack(pub, tmpl, st.archive, fmt=fmt)
            tap.ok(rc == 0 and se.strip() == "", "%s: unpack to %s exits 0 quietly"
                   % (st.label, fmt), "exit %d: %s" % (rc, se[-1500:]))
    if stores and stores[0].label.endswith("maildir-dovecot"):
        u = stores[0].users[0]
        sieve = os.path.join(os.path.dirname(expand(tmpl_sd, u)), "sieve", "lists.sieve")
        link = os.path.join(os.path.dirname(expand(tmpl_sd, u)), ".dovecot.sieve")
        ok = os.path.exists(sieve) and open(sieve, "rb").read() == SIEVE and \
            os.path.islink(link) and os.readlink(link) == "sieve/lists.sieve"
        tap.ok(ok, "sample maildir-dovecot: the Sieve script and the active link are in the "
               "new home", "%s %s" % (os.path.exists(sieve), os.path.islink(link)))

    # Courier: pack the original, Dovecot reads a converted copy
    courier = None
    name = "maildir-courier"
    if os.path.isdir(os.path.join(samples, name)):
        user = "courier@samples.test"
        orig = os.path.join(base, "src", "courier-orig")
        conv = os.path.join(base, "src", "courier-dovecot")
        oracle.copy_sample(samples, name, orig)
        courier = Store("sample %s" % name, [user], {user: os.path.join(orig, "Maildir")},
                        {user: orig})
        courier.archive = os.path.join(base, "courier.mfa")
        if pack_store(courier, key, pub, courier.archive,
                      ["%s=%s" % (user, os.path.join(orig, "Maildir"))]):
            shutil.copytree(orig, conv, symlinks=True)
            oracle.courier_to_dovecot(os.path.join(conv, "Maildir"))
            for tmpl, fmt in ((tmpl_sd, "sdbox"), (tmpl_md, "mdbox")):
                rc, so, se = unpack(pub, tmpl, courier.archive, fmt=fmt)
                tap.ok(rc == 0 and se.strip() == "", "%s: unpack to %s exits 0 quietly"
                       % (courier.label, fmt), "exit %d: %s" % (rc, se[-1500:]))
        else:
            courier = None
    else:
        tap.skip("sample %s missing" % name)

    dsdir = mkdir(os.path.join(base, "dsync"))
    dv = dvlib.Dovecot()
    for st in stores:
        u = st.users[0]
        dv.add_user(u, st.homes[u], mail=st.locs[u], wait=False)
    for st in stores + ([courier] if courier else []):
        u = st.users[0]
        add_target(dv, "mfsd", u, tmpl_sd, "sdbox")
        add_target(dv, "mfmd", u, tmpl_md, "mdbox")
    for st in stores:
        u = st.users[0]
        for prefix, fmt in (("dssd", "sdbox"), ("dsmd", "mdbox")):
            add_target(dv, prefix, u, os.path.join(dsdir, prefix, "%d", "%n", fmt), fmt)
    # the Courier copy (and dsync from it) in a Dovecot with Courier's namespace
    cdv = dvlib.Dovecot(ns_prefix="INBOX.", separator=".", mail_location="maildir:~/Maildir:UTF-8")

    if courier:
        u = courier.users[0]
        cdv.add_user(u, conv, wait=False)
        for prefix, fmt in (("dssd", "sdbox"), ("dsmd", "mdbox")):
            add_target(cdv, prefix, u, os.path.join(dsdir, prefix, "%d", "%n", fmt), fmt)
    with dv, cdv:
        da, cda = Doveadm(dv), Doveadm(cdv)
        for st in stores:
            u = st.users[0]
            src = full_view(da, u)
            post = oracle.ctimes_by_base(st.maildirs[u])
            want, n, bad = wanted_view(src, st.ls[u], st.pre[u], post)
            tap.ok(not bad, "%s: Dovecot's text of every source message is the file's bytes"
                   % st.label, "\n".join(bad[:5]))
            st.want = {u: want}
            run_dsync(dv, dsdir, [u])
            compare_store(st, dv, da, st.want)
        if courier:
            u = courier.users[0]
            src = full_view(cda, u, courier_name)
            post = oracle.ctimes_by_base(os.path.join(conv, "Maildir"))
            want, n, bad = wanted_view(src, courier.ls[u], courier.pre[u], post, courier=True)
            tap.ok(not bad, "%s: Dovecot's text of every source message is the file's bytes"
                   % courier.label, "\n".join(bad[:5]))
            # Dovecot gave the converted copy's mailboxes GUIDs of its own: not compared
            want = dict(want, status={k: dict(v, guid=None) for k, v in want["status"].items()})
            courier.want = {u: want}
            run_dsync(cdv, dsdir, [u])
            # mailferry's stores are served by the plain Dovecot, dsync's by Courier's
            got_of, diffs_of = {}, {}
            for t, tname in TARGETS:
                dd, login = (da if t.startswith("mf") else cda), "%s.%s" % (t, u)
                g = full_view(dd, login, None if t.startswith("mf") else courier_name)
                for box in g["status"].values():
                    box["guid"] = None
                got_of[(t, u)] = g
                if t.startswith("mf"):
                    diffs_of[(t, u)] = judge("%s %s: %s" % (courier.label, u, tname), want, g)
                else:
                    diffs_of[(t, u)] = view_diffs(want, g)
            show_side_by_side(courier.label, courier.want, got_of, [u], diffs_of)
        check_quiet("samples (views, dsync)", dv, da, 0, ["mfsd", "mfmd"])
        check_quiet("Courier sample (views, dsync)", cdv, cda, 0, ["mfsd", "mfmd"])
        since = len(dv.log_text())
        for st in stores:
            u = st.users[0]
            live_checks(st.label, dv, da, ["mfsd.%s" % u, "mfmd.%s" % u],
                        imap_state(dv.port, u), "Work/Sub")
        if courier:
            u = courier.users[0]
            live_checks(courier.label, dv, da, ["mfsd.%s" % u, "mfmd.%s" % u],
                        imap_state(cdv.port, u, courier_name), "Work/Sub")
        check_quiet("samples (IMAP, purge)", dv, da, since, ["mfsd", "mfmd"])
        resync_checks("samples", dv, da, ["%s.%s" % (p, st.users[0])
                                          for st in stores + ([courier] if courier else [])
                                          for p in ("mfsd", "mfmd")],
                      refs=[(da, "%s.%s" % (p, stores[0].users[0])) for p in ("dssd", "dsmd")]
                      if stores else [])
    return sample_archive


def courier_name(n):
    """A name in the Courier namespace (prefix "INBOX.", separator ".") as the plain
    namespace names it: INBOX.Work.Sub -> Work/Sub."""
    if n.upper() == "INBOX":
        return "INBOX"
    return n[6:].replace(".", "/") if n.startswith("INBOX.") else n


# ---------------------------------------------------------------- ownership and modes

def check_tree(label, top, uid, gid, dmode, fmode):
    """One ok: everything below top belongs to uid:gid and has exactly the modes (links:
    owner only). Known-bug exceptions are attached as TODO when they are the only ones."""
    bad, root_owned, n = [], 0, 0
    for rel, (typ, mode, u, g, size, mt, extra) in sorted(oracle.tree_state(top).items()):
        n += 1
        problems = []
        if (u, g) != (uid, gid):
            problems.append("owner %d:%d" % (u, g))
            root_owned += u == 0
        # dovecot-uidvalidity.<hex> is read-only, as Dovecot makes it (0444 & ~umask)
        want_f = fmode & 0o444 if re.match(r"^dovecot-uidvalidity\.[0-9a-f]{8}$",
                                            os.path.basename(rel)) else fmode
        if typ == stat.S_IFDIR and mode != dmode:
            problems.append("mode %04o, not %04o" % (mode, dmode))
        elif typ == stat.S_IFREG and mode != want_f:
            problems.append("mode %04o, not %04o" % (mode, want_f))
        if problems:
            bad.append("%s: %s" % (rel, ", ".join(problems)))
    tap.ok(not bad and n > 0, "%s: all %d entries owned by %d:%d, directories %04o, files %04o"
           "%s" % (label, n, uid, gid, dmode, fmode, "" if not root_owned else
                   " (%d owned by root)" % root_owned),
           "%d differ:\n%s" % (len(bad), "\n".join(bad[:8])))


def part_ownership(pub, archives):
    """archives: [(archive, its users to unpack or None for all)]."""
    base = mkdir(os.path.join(WORK, "own"), 0, 0)
    cases = [("--owner %s" % OWNER, "sdbox", ["--owner", OWNER], (5000, 5000), 0o700, 0o600, None),
             ("--owner %s --dir-mode 0750 --file-mode 0640" % OWNER, "mdbox",
              ["--owner", OWNER, "--dir-mode", "0750", "--file-mode", "0640"], (5000, 5000),
              0o750, 0o640, None),
             ("no --owner, the template's top directory owned by 5001:5002", "sdbox", [],
              (5001, 5002), 0o700, 0o600, (5001, 5002))]
    for i, (label, fmt, args, (uid, gid), dm, fm, topown) in enumerate(cases):
        top = os.path.join(base, "case%d" % i)
        os.makedirs(top)
        os.chmod(top, 0o755)
        if topown:
            os.chown(top, *topown)
        tmpl = os.path.join(top, "%d", "%n", fmt)
        errs = []
        for a, users in archives:
            rc, so, se = unpack(pub, tmpl, a, extra=args + (["--users", ",".join(users)]
                                                            if users else []),
                                fmt=fmt, owner=None)
            if rc != 0:
                errs.append("exit %d: %s" % (rc, se[-500:]))
        tap.ok(not errs, "unpack as root with %s (%s) exits 0" % (label, fmt), "\n".join(errs))
        check_tree("unpack as root with %s (%s)" % (label, fmt), top, uid, gid, dm, fm)


def part_owner_map(pub, archive, users):
    """--owner-map: two users of one domain with different owners; Dovecot, running as
    each user's uid, must reach each store."""
    top = mkdir(os.path.join(WORK, "own", "map"), 0, 0)
    owners = {users[0]: (5000, 5000), users[1]: (5003, 5003)}
    omap = os.path.join(WORK, "owner-map")
    with open(omap, "w") as f:
        for u, (uid, gid) in owners.items():
            f.write("%s\t%d:%d\n" % (u, uid, gid))
    tmpl = os.path.join(top, "%d", "%n", "sdbox")
    rc, so, se = unpack(pub, tmpl, archive, extra=["--owner-map", omap, "--users",
                                                    ",".join(users)], owner=None)
    tap.ok(rc == 0, "unpack --owner-map (%s) exits 0" % ", ".join(
        "%s %d" % (u, o[0]) for u, o in owners.items()), se[-500:])
    dv = dvlib.Dovecot()
    for u, (uid, gid) in owners.items():
        root = expand(tmpl, u)
        dv.add_user(u, os.path.dirname(root), mail="sdbox:" + root, uid=uid, gid=gid, wait=False)
    bad = []
    with dv:
        for u in users:
            rc, out, err = dv.doveadm(["mailbox", "status", "messages", "INBOX"], user=u,
                                      check=False)
            if rc != 0 or err.strip():
                bad.append("%s (uid %d): exit %d: %s" % (u, owners[u][0], rc, err.strip()[-300:]))
    shared = os.path.dirname(os.path.dirname(expand(tmpl, users[0])))
    st = os.stat(shared)
    symptom = bad and all("Permission denied" in b for b in bad) and \
        (st.st_uid, st.st_mode & 0o777) == (owners[users[0]][0], 0o700)
    tap.ok(not bad, "--owner-map: Dovecot reaches the store of every user as that user's uid",
           "\n".join(bad) + "\nthe shared directory %s: owner %d, mode %04o"
           % (shared, st.st_uid, st.st_mode & 0o7777), todo=BUG_OWNERMAP if symptom else None)


# ---------------------------------------------------------------- damaged archives

def part_damaged(key, pub, archive, pack_args):
    base = mkdir(os.path.join(WORK, "bad"), 0, 0)
    data = open(archive, "rb").read()
    pack_off = None
    with tarfile.open(archive) as tf:
        for m in tf.getmembers():
            if m.name.startswith("packs/") and m.size > 0:
                pack_off = (m.offset_data, m.size)
                break
    cases = []
    if pack_off:
        flipped = bytearray(data)
        flipped[pack_off[0] + pack_off[1] // 2] ^= 0x01
        cases.append(("a byte flipped in a pack member", bytes(flipped), 4))
    cases.append(("truncated to 2/3", data[:len(data) * 2 // 3], 4))
    # the same store signed by another key
    other = os.path.join(WORK, "other")
    rc, so, se = mf(["keygen", "-W", "-p", other + ".pub", "-s", other + ".key"])
    resigned = os.path.join(WORK, "resigned.mfa")
    rc, summary, out = oracle.pack(other + ".key", resigned, pack_args)
    if rc == 0 and os.path.exists(resigned):
        cases.append(("signed by another key", open(resigned, "rb").read(), 5))
    else:
        tap.diag("could not pack with another key: %s" % out[-300:])
    spool = mkdir(os.path.join(WORK, "bad-spool"), 0, 0, 0o700)
    for i, (label, blob, code) in enumerate(cases):
        path = os.path.join(base, "case%d.mfa" % i)
        with open(path, "wb") as f:
            f.write(blob)
        for how in ("file", "pipe"):
            top = mkdir(os.path.join(base, "case%d-%s" % (i, how)))
            tmpl = os.path.join(top, "%d", "%n", "sdbox")
            rc, so, se = unpack(pub, tmpl, path, extra=["--tmpdir", spool],
                                stdin_file=path if how == "pipe" else None)
            lines = [ln for ln in se.split("\n") if ln.strip()]
            left = listing(top)
            stages = [p for p in left if ".mailferry-stage." in p]
            tap.ok(rc == code and len(lines) == 1 and not left and os.listdir(spool) == [],
                   "%s (%s): exit %d, one error line, nothing written (no user directory, no "
                   "staging directory, no spool file)" % (label, how, code),
                   "exit %d; stderr %r; left under the target: %s%s; spool: %s"
                   % (rc, se[-600:], left[:6], " (staging: %s)" % stages if stages else "",
                      os.listdir(spool)))
            if lines:
                tap.diag("%s (%s): %s" % (label, how, lines[0][:200]))


# ---------------------------------------------------------------- main

def main():
    global WORK
    dvlib.require_or_skip_all()
    dvlib.exit_on_signals()
    if not os.access(MAILFERRY, os.X_OK):
        print("1..0 # SKIP %s not built" % MAILFERRY)
        return
    WORK = tempfile.mkdtemp(prefix="mf-unpack-oracle.")
    os.chmod(WORK, 0o755)
    dvlib.make_traversable(WORK)
    t0 = time.time()
    try:
        key, pub = os.path.join(WORK, "k.key"), os.path.join(WORK, "k.pub")
        rc, so, se = mf(["keygen", "-W", "-p", pub, "-s", key])
        if not tap.ok(rc == 0, "keygen", se):
            tap.done()
        gen = sample_archive = None
        try:
            gen = part_generated(key, pub)
        except Exception:
            tap.ok(False, "part_generated ran without an exception", traceback.format_exc())
        tap.diag("generated store done after %.1f s" % (time.time() - t0))
        try:
            sample_archive = part_samples(key, pub)
        except Exception:
            tap.ok(False, "part_samples ran without an exception", traceback.format_exc())
        tap.diag("samples done after %.1f s" % (time.time() - t0))
        archives = []
        if gen:
            # two small users of the generated store: nested %d/%n directories
            ls = gen[0].ls
            small = sorted(ls, key=lambda u: sum(len(mb["messages"])
                                                 for mb in ls[u]["mailboxes"]))[:2]
            archives.append((gen[1], small))
        if sample_archive:
            archives.append((sample_archive[0], None))    # with a Sieve script
        for part, args, ready in ((part_ownership, (pub, archives), bool(archives)),
                                  (part_damaged, (key, pub) + tuple(sample_archive or ()),
                                   sample_archive is not None)):
            try:
                if ready:
                    part(*args)
                else:
                    tap.skip("%s: no archive to work on" % part.__name__)
            except Exception:
                tap.ok(False, "%s ran without an exception" % part.__name__,
                       traceback.format_exc())
        try:
            if gen:
                by_dom = {}
                for u in sorted(gen[0].ls):
                    by_dom.setdefault(split_user(u)[1], []).append(u)
                pair = [us for us in by_dom.values() if len(us) >= 2]
                if pair:
                    part_owner_map(pub, gen[1], pair[0][:2])
                else:
                    tap.skip("no two users of one domain for --owner-map")
        except Exception:
            tap.ok(False, "part_owner_map ran without an exception", traceback.format_exc())
    finally:
        tap.diag("%.1f s" % (time.time() - t0))
        if os.environ.get("KEEP"):
            tap.diag("kept %s" % WORK)
        else:
            shutil.rmtree(WORK, ignore_errors=True)
    tap.done()


main()
