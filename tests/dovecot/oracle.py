"""oracle: what the Dovecot oracle tests (pack_oracle.t, unpack_oracle.t) share.

Owns: where the reference samples are (sample_dir) and how a test copies one
(copy_sample: DIRS.txt's empty directories, MTIMES.txt's mtimes, owned by the
mail uid); the conversion of a Courier Maildir copy for Dovecot
(courier_to_dovecot); snapshots of a pristine Maildir taken before Dovecot
opens it (mailbox_dirs, snapshot, ctimes_by_base); running mailferry pack / ls
--json / verify; and (for unpack_oracle.t) Doveadm, a doveadm runner that keeps
every warning doveadm prints, and full_view, everything Dovecot reports about
one login: every message's fields with a hash of its text, every mailbox's
status, the mailbox list and the subscriptions.

TESTS, MF_SRC and MAILFERRY are found as dvlib.test_paths finds them for a test
in tests/ (MF_SRC and MAILFERRY from the environment win).
"""

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess

import dvlib

TESTS, MF_SRC, MAILFERRY = dvlib.test_paths(
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "oracle.t"))


# ---------------------------------------------------------------- samples, snapshots, mailferry

def sample_dir():
    if os.environ.get("MF_SAMPLES"):
        return os.environ["MF_SAMPLES"]
    return os.path.join(TESTS, "data", "samples")


def mailbox_dirs(maildir):
    """Every directory below maildir that has cur/ or new/ (the mailboxes)."""
    out = []
    for root, dirs, files in os.walk(maildir):
        dirs[:] = [d for d in dirs if d not in ("cur", "new", "tmp")
                   and not os.path.islink(os.path.join(root, d))]
        if os.path.isdir(os.path.join(root, "cur")) or os.path.isdir(os.path.join(root, "new")):
            out.append(root)
    return out


def snapshot(maildir):
    """{relative path of each message file: (ctime, size, content)}."""
    snap = {}
    for mb in mailbox_dirs(maildir):
        for sub in ("cur", "new"):
            d = os.path.join(mb, sub)
            if not os.path.isdir(d):
                continue
            for n in os.listdir(d):
                p = os.path.join(d, n)
                st = os.lstat(p)
                if not stat.S_ISREG(st.st_mode):
                    continue
                with open(p, "rb") as f:
                    data = f.read()
                snap[os.path.relpath(p, maildir)] = (int(st.st_ctime), len(data), data)
    return snap


def ctimes_by_base(maildir):
    """{(mailbox dir, base name): ctime} of the files as they are now."""
    out = {}
    for mb in mailbox_dirs(maildir):
        for sub in ("cur", "new"):
            d = os.path.join(mb, sub)
            if os.path.isdir(d):
                for n in os.listdir(d):
                    out[(os.path.relpath(mb, maildir), n.split(":", 1)[0])] = \
                        int(os.lstat(os.path.join(d, n)).st_ctime)
    return out


def pack(key, out, args):
    rc, so, se = dvlib.run([MAILFERRY, "pack", "-s", key, "-o", out, "--json", "-q"] + args)
    summary = None
    try:
        summary = json.loads(so)
    except ValueError:
        pass
    return rc, summary, so + se


def ls_json(pub, archive):
    rc, so, se = dvlib.run([MAILFERRY, "ls", "--json", "-p", pub, archive])
    if rc != 0:
        raise RuntimeError("mailferry ls failed (%d): %s" % (rc, se))
    return json.loads(so)


def verify(pub, archive):
    rc, so, se = dvlib.run([MAILFERRY, "verify", "-q", "-p", pub, archive])
    return rc, so + se


def copy_sample(samples, name, dest):
    """Copies samples/<name> to dest with DIRS.txt's empty dirs and MTIMES.txt's mtimes,
    owned by the mail uid."""
    shutil.copytree(os.path.join(samples, name), dest, symlinks=True)
    dirs = os.path.join(samples, "DIRS.txt")
    if os.path.exists(dirs):
        with open(dirs, encoding="utf-8") as f:
            for ln in f:
                ln = ln.rstrip("\n")
                pre = "./" + name
                if ln == pre or ln.startswith(pre + "/"):
                    os.makedirs(os.path.join(dest, ln[len(pre):].lstrip("/")), exist_ok=True)
    for root, dirs_, files in os.walk(dest):
        os.chmod(root, 0o755)
        for n in files:
            os.chmod(os.path.join(root, n), 0o644)
    mt = os.path.join(samples, "MTIMES.txt")
    if not os.path.exists(mt):
        # another copy of the same samples (MF_SAMPLES) without the mtimes git lost: ours
        mt = os.path.join(TESTS, "data", "samples", "MTIMES.txt")
    if os.path.exists(mt):
        with open(mt, encoding="utf-8") as f:
            for ln in f:
                t, p = ln.rstrip("\n").split("\t", 1)
                pre = "./" + name + "/"
                if p.startswith(pre) and os.path.exists(os.path.join(dest, p[len(pre):])):
                    os.utime(os.path.join(dest, p[len(pre):]), (int(t), int(t)))
    dvlib.chown_tree(dest)


def courier_to_dovecot(maildir):
    """Converts a Courier Maildir (a copy) for Dovecot, as an admin would: uids,
    keywords (update files applied: a plain <base> file wins, else the largest
    .N.<base>), subscriptions."""
    folders = [maildir] + [os.path.join(maildir, n) for n in sorted(os.listdir(maildir))
                           if n.startswith(".") and n not in (".", "..")
                           and os.path.isdir(os.path.join(maildir, n))
                           and not os.path.islink(os.path.join(maildir, n))]
    for d in folders:
        db = os.path.join(d, "courierimapuiddb")
        if os.path.exists(db):
            shutil.copy2(db, os.path.join(d, "dovecot-uidlist"))   # a valid v1 uidlist
        kd = os.path.join(d, "courierimapkeywords")
        if not os.path.isdir(kd):
            continue
        names, kw_of = [], {}
        lst = os.path.join(kd, ":list")
        if os.path.exists(lst):
            with open(lst, encoding="utf-8") as f:
                text = f.read()
            head, _, tail = text.partition("\n\n")
            names = [x for x in head.split("\n") if x]
            for ln in tail.split("\n"):
                if ":" in ln:
                    base, idx = ln.rsplit(":", 1)
                    kw_of[base] = {names[int(i)] for i in idx.split() if int(i) < len(names)}
        updates = {}
        for n in os.listdir(kd):
            if n.startswith(":"):
                continue
            m = re.match(r"^\.(\d+)\.(.+)$", n)
            rank, base = (int(m.group(1)), m.group(2)) if m else (float("inf"), n)
            if base not in updates or rank > updates[base][0]:
                updates[base] = (rank, n)
        for base, (rank, n) in updates.items():
            with open(os.path.join(kd, n), encoding="utf-8") as f:
                kw_of[base] = {x for x in f.read().split("\n") if x}
        allnames = names + sorted({k for s in kw_of.values() for k in s} - set(names))
        assert len(allnames) <= 26
        with open(os.path.join(d, "dovecot-keywords"), "w", encoding="utf-8") as f:
            f.write("".join("%d %s\n" % (i, k) for i, k in enumerate(allnames)))
        for sub in ("cur", "new"):
            sd = os.path.join(d, sub)
            if not os.path.isdir(sd):
                continue
            for n in os.listdir(sd):
                base, sep, info = n.partition(":")
                kws = kw_of.get(base)
                if not kws:
                    continue
                flags = info[2:] if info.startswith("2,") else ""
                letters = "".join(chr(97 + allnames.index(k)) for k in kws)
                new = base + ":2," + "".join(sorted(set(flags + letters)))
                os.rename(os.path.join(sd, n), os.path.join(sd, new))
    subs = os.path.join(maildir, "courierimapsubscribed")
    if os.path.exists(subs):
        with open(subs, encoding="utf-8") as f:
            lines = [x for x in f.read().split("\n") if x]
        with open(os.path.join(maildir, "subscriptions"), "w", encoding="utf-8") as f:
            for x in lines:
                f.write((x[6:] if x.startswith("INBOX.") else x) + "\n")
    dvlib.chown_tree(maildir)


# ---------------------------------------------------------------- Dovecot: everything it reports

# what unpack_oracle.t compares for every message (doveadm fetch), with a hash of `text`
FETCH = ["mailbox", "uid", "flags", "guid", "date.received", "date.saved", "pop3.uidl",
         "pop3.order", "size.virtual"]
STATUS = ["messages", "uidvalidity", "uidnext", "guid"]


class Doveadm:
    """doveadm -f json for one Dovecot; keeps every line doveadm printed on stderr
    (errors, warnings) in .complaints as (login, command, line)."""

    def __init__(self, dv):
        self.dv = dv
        self.complaints = []

    def run(self, args, login=None, fmt="json", check=True):
        rc, out, err = self.dv.doveadm(args, user=login, fmt=fmt, check=False)
        for ln in err.split("\n"):
            if ln.strip():
                self.complaints.append((login, " ".join(args[:2]), ln.strip()))
        if check and rc != 0:
            raise dvlib.DovecotError("doveadm %s -u %s: exit %d: %s"
                                     % (" ".join(args), login, rc, err.strip()[-1000:]))
        if fmt == "json":
            return json.loads(out) if out.strip() else []
        return out


def text_digest(text):
    """`text` as doveadm's JSON gives it (bytes that are not UTF-8 survive as surrogates)
    -> "<length>:<sha256 prefix>"."""
    b = text.encode("utf-8", "surrogateescape")
    return "%d:%s" % (len(b), hashlib.sha256(b).hexdigest()[:20])


def data_digest(data):
    return "%d:%s" % (len(data), hashlib.sha256(data).hexdigest()[:20])


def full_view(da, login, name_of=None):
    """What Dovecot reports for a login:
    {"msgs": {(mailbox, uid): {field: value, "text": digest}},
     "status": {mailbox: {messages, uidvalidity, uidnext, guid}},
     "list": [names], "subs": [subscribed names]}, names mapped by name_of.
    flags are sorted, without \\Recent (which says who looked first)."""
    name_of = name_of or (lambda n: n)
    msgs = {}
    rows = da.run(["fetch", " ".join(FETCH + ["date.saved.unixtime", "text"]), "ALL"], login)
    for r in rows:
        r["text"] = text_digest(r["text"])
        r["flags"] = " ".join(sorted(f for f in r["flags"].split() if f != "\\Recent"))
        r["mailbox"] = name_of(r["mailbox"])
        msgs[(r["mailbox"], int(r["uid"]))] = r
    status = {}
    for r in da.run(["mailbox", "status", " ".join(STATUS), "*"], login):
        status[name_of(r["mailbox"])] = {k: r[k] for k in STATUS}
    raw = [r["mailbox"] for r in da.run(["mailbox", "list"], login)]
    # with a namespace prefix ("INBOX."), status '*' matches nothing: ask per mailbox
    for n in raw:
        if name_of(n) in status:
            continue
        rc, out, err = da.dv.doveadm(["mailbox", "status", " ".join(STATUS), n], user=login,
                                     fmt="json", check=False)
        if rc != 0:
            if "exist" in err:
                continue          # a \NonExistent parent
            raise dvlib.DovecotError("mailbox status %s -u %s: %s" % (n, login, err.strip()))
        for r in json.loads(out) if out.strip() else []:
            status[name_of(r["mailbox"])] = {k: r[k] for k in STATUS}
    listed = sorted(name_of(n) for n in raw)
    subs = sorted(name_of(r["mailbox"]) for r in da.run(["mailbox", "list", "-s"], login))
    return {"msgs": msgs, "status": status, "list": listed, "subs": subs}


def view_diffs(want, got, fields=None, status_fields=None):
    """The differences between two full_views, as tuples
    ("msg", (mailbox, uid), field, wanted, got), ("status", mailbox, field, wanted, got),
    ("list"|"subs", None, None, wanted, got). A message or mailbox on one side only
    has field "present"."""
    fields = fields or [f for f in FETCH if f not in ("mailbox", "uid")] + ["text"]
    status_fields = status_fields or STATUS
    out = []
    for k in sorted(set(want["msgs"]) | set(got["msgs"])):
        a, b = want["msgs"].get(k), got["msgs"].get(k)
        if a is None or b is None:
            out.append(("msg", k, "present", a is not None, b is not None))
            continue
        for f in fields:
            if a.get(f) != b.get(f):
                out.append(("msg", k, f, a.get(f), b.get(f)))
    for k in sorted(set(want["status"]) | set(got["status"])):
        a, b = want["status"].get(k), got["status"].get(k)
        if a is None or b is None:
            out.append(("status", k, "present", a is not None, b is not None))
            continue
        for f in status_fields:
            if a.get(f) != b.get(f):
                out.append(("status", k, f, a.get(f), b.get(f)))
    for part in ("list", "subs"):
        if want[part] != got[part]:
            out.append((part, None, None, want[part], got[part]))
    return out


def format_diff(d):
    kind, key, field, a, b = d
    if kind == "msg":
        return "%s uid %d %s: want %r, got %r" % (key[0], key[1], field, a, b)
    if kind == "status":
        return "mailbox %s %s: want %r, got %r" % (key, field, a, b)
    return "%s: want %s, got %s" % ("mailbox list" if kind == "list" else "subscriptions", a, b)


def tree_state(top):
    """{relative path: (type, mode, uid, gid, size, mtime_ns, content digest or link)} of
    everything below top, top itself excluded."""
    out = {}
    for root, dirs, files in os.walk(top):
        for n in dirs + files:
            p = os.path.join(root, n)
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    extra = hashlib.sha256(f.read()).hexdigest()[:16]
            elif stat.S_ISLNK(st.st_mode):
                extra = os.readlink(p)
            else:
                extra = ""
            out[os.path.relpath(p, top)] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode),
                                            st.st_uid, st.st_gid,
                                            st.st_size if not stat.S_ISDIR(st.st_mode) else 0,
                                            st.st_mtime_ns, extra)
    return out
