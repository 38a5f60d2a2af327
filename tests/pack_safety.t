#!/usr/bin/env python3
# pack_safety.t: the packer's safety rules on hostile, damaged and live sources.
#
#  1. read-only: packing a read-only copy of a generated store (as root and as
#     the mail uid 5000) changes nothing: every file's content, mode, owner,
#     mtime and ctime, every directory's listing, mtime and ctime (so no lock
#     file was created and removed), and message files' atimes (O_NOATIME);
#  2. live mutation: while `mailferry pack` reads a large user (3000 messages,
#     -T 0 -l 15 to give it time), a mutator renames messages (flag and keyword
#     changes in cur/, new/ -> cur/ moves), delivers new ones into new/ and
#     expunges some; in the third round a second thread also renames 40 messages
#     back and forth without pause. Untouched messages are all in the archive with
#     their exact content (blob ids recomputed from the files, hash, size, guid);
#     renamed ones are there, under one of their names and with that name's
#     flags and keywords; delivered and expunged ones may be, but never damaged;
#     no message twice; the archive verifies. Three rounds;
#  3. symbolic links and special files: a symlink in cur/ to /etc/passwd, a
#     symlinked folder (.Evil -> /etc), a symlinked cur/, a FIFO in cur/ and as a
#     metadata file, symlinks in the Sieve directory: the pack finishes (exit 1,
#     partial), its --json summary lists each as skipped with a reason, nothing
#     of /etc is in the archive, and nothing hangs;
#  4. corrupt metadata: dovecot-uidlist with a garbage line, duplicate UIDs,
#     UIDs not ascending, broken headers, a record without ':', an unfinished last
#     line...; dovecot-keywords with junk lines: warnings name the file and line,
#     the archive verifies, the pack never crashes, and the UIDs (and keywords)
#     are the ones Dovecot assigns to the same damaged mailbox (doveadm on a
#     copy), both for a mailbox Dovecot never opened and for one it has indexed;
#     unreadable files (chmod 000, packing as uid 5000) with and without
#     --skip-unreadable.
#
# Parts that need Dovecot or root are skipped without them. Known mailferry
# bugs, when there are any, are marked `# TODO BUG-...`; MF_STRICT=1 makes
# them fail.
import json
import os
import random
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "dovecot"))
import dvlib  # noqa: E402

TESTS, MF_SRC, MAILFERRY = dvlib.test_paths(__file__)
ROOT = os.geteuid() == 0
DOVECOT = dvlib.unavailable_reason() is None
MAIL_UID = dvlib.MAIL_UID
tap = dvlib.Tap()



# ---------------------------------------------------------------- helpers

def gen_store(out, users, messages, seed, extra=()):
    args = [sys.executable, os.path.join(TESTS, "store", "gen_store.py"), "--out", out,
            "--users", str(users), "--messages", str(messages), "--seed", str(seed), "-q"]
    if not DOVECOT:
        args.append("--no-dovecot")
    rc, so, se = dvlib.run(args + list(extra), timeout=600)
    if rc != 0:
        raise RuntimeError("gen_store.py failed: %s" % se[-2000:])
    with open(os.path.join(out, "gen_store.json")) as f:
        return json.load(f)


def cp_a(src, dst):
    rc, so, se = dvlib.run(["cp", "-a", src, dst])
    if rc != 0:
        raise RuntimeError("cp -a failed: %s" % se)


def users_file(info, old_root, new_root, path):
    with open(path, "w") as f:
        for u in sorted(info["users"]):
            f.write("%s\t%s\n" % (u, info["maildirs"][u].replace(old_root, new_root, 1)))


def pack(args, key, out, as_uid=None, timeout=300, env=None):
    """Runs mailferry pack --json; returns (exit, summary or None, stdout, stderr)."""
    cmd = [MAILFERRY, "pack", "-s", key, "-o", out, "--json"] + list(args)
    kw = {}
    if as_uid is not None:
        kw = {"user": as_uid, "group": as_uid, "extra_groups": []}
    e = dict(os.environ, **(env or {}))
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                           env=e, **kw)
    except subprocess.TimeoutExpired as ex:
        return "timeout", None, (ex.stdout or b"").decode(errors="replace"), \
            (ex.stderr or b"").decode(errors="replace")
    so, se = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    try:
        summary = json.loads(so)
    except ValueError:
        summary = None
    return r.returncode, summary, so, se


def verify(pub, archive):
    rc, so, se = dvlib.run([MAILFERRY, "verify", "-q", "-p", pub, archive])
    return rc, so + se


def ls_json(pub, archive):
    rc, so, se = dvlib.run([MAILFERRY, "ls", "--json", "-p", pub, archive])
    if rc != 0:
        raise RuntimeError("ls failed: %s" % se)
    return json.loads(so)


def manifest(root):
    """{relative path: (kind, mode, uid, gid, size, mtime_ns, ctime_ns, digest or target)}
    and {message file: atime_ns}."""
    import hashlib
    m, atimes = {}, {}
    for dirpath, dirs, files in os.walk(root):
        for n in [""] + dirs + files:
            p = os.path.join(dirpath, n) if n else dirpath
            if n == "" and dirpath != root:
                continue
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            if stat.S_ISREG(st.st_mode):
                h = hashlib.sha256()
                # read without disturbing the atime where we may (as mailferry should)
                try:
                    fd = os.open(p, os.O_RDONLY | os.O_NOATIME)
                except PermissionError:
                    fd = os.open(p, os.O_RDONLY)
                with os.fdopen(fd, "rb") as f:
                    h.update(f.read())
                st = os.lstat(p)
                kind, extra = "f", h.hexdigest()
                if os.path.basename(dirpath) in ("cur", "new"):
                    atimes[rel] = st.st_atime_ns
            elif stat.S_ISDIR(st.st_mode):
                kind, extra = "d", None
            elif stat.S_ISLNK(st.st_mode):
                kind, extra = "l", os.readlink(p)
            else:
                kind, extra = "o", None
            m[rel] = (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_size,
                      st.st_mtime_ns, st.st_ctime_ns, extra)
    return m, atimes


def manifest_diff(a, b):
    out = []
    for k in sorted(set(a) | set(b)):
        if k not in a:
            out.append("created: %s" % k)
        elif k not in b:
            out.append("removed: %s" % k)
        elif a[k] != b[k]:
            names = ("kind", "mode", "uid", "gid", "size", "mtime_ns", "ctime_ns", "content")
            fs = [names[i] for i in range(len(names)) if a[k][i] != b[k][i]]
            out.append("changed %s: %s" % (",".join(fs), k))
    return out


def msg_index(ls):
    """[(user, mailbox, message)] of an ls --json listing."""
    out = []
    for u in ls["users"]:
        for mb in u["mailboxes"]:
            for m in mb["messages"]:
                out.append((u["name"], mb, m))
    return out


# ---------------------------------------------------------------- 1. read-only

def part_readonly(work, key, pub):
    store = os.path.join(work, "ro-src")
    info = gen_store(store, 3, 240, 11)
    ro = os.path.join(work, "ro")
    cp_a(store, ro)
    uf = os.path.join(work, "ro.users")
    users_file(info, store, ro, uf)
    rc, so, se = dvlib.run(["chmod", "-R", "a-w", ro])
    tap.ok(rc == 0, "made a read-only copy of a generated store (chmod -R a-w)", se)
    nfiles = sum(1 for _ in os.walk(ro))
    m0, at0 = manifest(ro)
    # as root (root could write anyway: the manifest would show it)
    out = os.path.join(work, "ro-root.mfa")
    rc, summary, so, se = pack(["--users", uf, "-q"], key, out)
    tap.ok(rc == 0 and summary is not None and summary["messages"] == len(at0),
           "pack of the read-only tree as %s exits 0 with every message (%d)"
           % ("root" if ROOT else "the current user", len(at0)), "exit %s: %s" % (rc, se[-1500:]))
    m1, at1 = manifest(ro)
    d = manifest_diff(m0, m1)
    tap.ok(not d, "nothing in the tree changed: contents, modes, owners, mtimes, ctimes, "
           "directory listings (%d entries, %d dirs)" % (len(m0), nfiles), "\n".join(d[:15]))
    # a lock file created and removed again would leave its directory's mtime and ctime
    # changed: the comparison above covers that; here the names themselves
    lockish = [k for k in set(m1) - set(m0) if "lock" in os.path.basename(k)]
    dirs_touched = [x for x in d if x.startswith("changed") and
                    m0.get(x.split(": ", 1)[1], ("",))[0] == "d"]
    tap.ok(not lockish and not dirs_touched,
           "no lock file was created, and no directory was written to (mtime/ctime) while packing",
           "\n".join(lockish[:10] + dirs_touched[:10]))
    ad = [k for k in at0 if at0[k] != at1.get(k)]
    tap.ok(not ad, "message files' atimes are unchanged (read with O_NOATIME)",
           "%d changed, e.g. %s" % (len(ad), ad[:3]))
    rc, o = verify(pub, out)
    tap.ok(rc == 0, "the archive of the read-only tree verifies", o)
    # as the unprivileged mail user, owner of the files, who cannot write them now
    if not ROOT:
        tap.skip("packing as uid %d needs root" % MAIL_UID, 3)
        return
    ud = os.path.join(work, "as5000")
    os.makedirs(ud)
    shutil.copy(key, os.path.join(ud, "k.key"))
    os.chmod(os.path.join(ud, "k.key"), 0o600)
    dvlib.chown_tree(ud, MAIL_UID, MAIL_UID)
    if not DOVECOT:
        dvlib.chown_tree(ro, MAIL_UID, MAIL_UID)   # --no-dovecot stores are root's
        m0, at0 = manifest(ro)
    dvlib.make_traversable(ud)
    out2 = os.path.join(ud, "ro-5000.mfa")
    rc, summary, so, se = pack(["--users", uf, "-q", "--tmpdir", ud], os.path.join(ud, "k.key"),
                               out2, as_uid=MAIL_UID, env={"TMPDIR": ud})
    tap.ok(rc == 0 and summary is not None and summary["messages"] == len(at0),
           "pack of the read-only tree as uid %d exits 0 with every message" % MAIL_UID,
           "exit %s: %s" % (rc, se[-1500:]))
    m2, at2 = manifest(ro)
    d = manifest_diff(m0, m2)
    tap.ok(not d, "as uid %d too, nothing in the tree changed" % MAIL_UID, "\n".join(d[:15]))
    rc, o = verify(pub, out2)
    tap.ok(rc == 0, "that archive verifies", o)


# ---------------------------------------------------------------- 2. live mutation

class Mutator(threading.Thread):
    """Renames, moves, delivers and expunges in a Maildir while the pack runs."""

    def __init__(self, maildir, seed, pause, hot=0):
        super().__init__(daemon=True)
        self.maildir, self.r, self.pause = maildir, random.Random(seed), pause
        self.stop_ev = threading.Event()
        self.where = {}          # base -> (mailbox dir, sub, name)
        for mb in mailboxes(maildir):
            for sub in ("cur", "new"):
                d = os.path.join(mb, sub)
                for n in os.listdir(d):
                    self.where[n.split(":", 1)[0]] = (mb, sub, n)
        # "hot" messages: renamed back and forth without pause by a second thread (a
        # client toggling a flag); the main mutator leaves them alone
        cur = sorted(b for b, w in self.where.items() if w[1] == "cur")
        self.hot = {b: self.where.pop(b) for b in self.r.sample(cur, min(hot, len(cur)))}
        self.hot_renames = 0
        self.hot_thread = threading.Thread(target=self.run_hot, daemon=True)
        self.boxes = mailboxes(maildir)
        self.kw = {mb: keyword_letters(mb) for mb in self.boxes}
        self.names = {}          # base -> every name the mutator gave it
        self.renamed, self.moved, self.expunged, self.delivered = set(), set(), set(), {}
        self.actions = 0
        self.errors = []
        self.seq = 0

    def start(self):
        super().start()
        if self.hot:
            self.hot_thread.start()

    def join(self, timeout=None):
        super().join(timeout)
        if self.hot:
            self.hot_thread.join(timeout)
        for b, w in self.hot.items():
            self.where[b] = w
            self.renamed.add(b)

    def run_hot(self):
        while not self.stop_ev.is_set():
            for b, (mb, sub, n) in list(self.hot.items()):
                nn = b + (":2,S" if n.endswith(":2,FS") else ":2,FS")
                try:
                    os.rename(os.path.join(mb, sub, n), os.path.join(mb, sub, nn))
                    self.hot[b] = (mb, sub, nn)
                    self.names.setdefault(b, {n}).add(nn)
                    self.hot_renames += 1
                except OSError as e:
                    self.errors.append("hot rename: %r" % e)

    def run(self):
        r = self.r
        while not self.stop_ev.is_set():
            try:
                self.step(r)
            except Exception as e:      # keep going, but report
                self.errors.append(repr(e))
            self.actions += 1
            time.sleep(self.pause)

    def step(self, r):
        what = r.random()
        live = [b for b in self.where if b not in self.expunged]
        if what < 0.45 and live:
            b = r.choice(live)
            mb, sub, n = self.where[b]
            info = n.split(":2,", 1)[1] if ":2," in n else ""
            flags = set(info)
            for f in r.sample("SFR" + "".join(sorted(self.kw[mb]))[:3], r.randint(1, 2)):
                flags ^= {f}
            nn = b + ":2," + "".join(sorted(flags))
            if nn != n:
                os.rename(os.path.join(mb, sub, n), os.path.join(mb, sub, nn))
                self.where[b] = (mb, sub, nn)
                self.names.setdefault(b, {n}).add(nn)
                self.renamed.add(b)
        elif what < 0.65:
            news = [b for b in live if self.where[b][1] == "new"]
            if news:
                b = r.choice(news)
                mb, sub, n = self.where[b]
                nn = n if ":2," in n else n + ":2,S"
                os.rename(os.path.join(mb, "new", n), os.path.join(mb, "cur", nn))
                self.where[b] = (mb, "cur", nn)
                self.names.setdefault(b, {n}).add(nn)
                self.moved.add(b)
            else:
                self.deliver(r)
        elif what < 0.85:
            self.deliver(r)
        elif live:
            b = r.choice(live)
            mb, sub, n = self.where[b]
            os.unlink(os.path.join(mb, sub, n))
            self.expunged.add(b)

    def deliver(self, r):
        mb = r.choice(self.boxes)
        self.seq += 1
        base = "%d.M%dP%d.mutator" % (int(time.time()), self.seq, os.getpid())
        data = ("From: mutator@example.com\nSubject: delivered %d\nMessage-ID: <%d@m>\n\n%s\n"
                % (self.seq, self.seq, "x" * r.randint(10, 5000))).encode()
        tmp = os.path.join(mb, "tmp", base)
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, os.path.join(mb, "new", base))
        self.where[base] = (mb, "new", base)
        self.delivered[base] = data


def keyword_letters(mbdir):
    """{letter: keyword} from a mailbox's dovecot-keywords (plain lines only)."""
    out = {}
    try:
        with open(os.path.join(mbdir, "dovecot-keywords")) as f:
            for ln in f:
                i, _, name = ln.rstrip("\n").partition(" ")
                if i.isdigit() and int(i) < 26 and name:
                    out[chr(97 + int(i))] = name
    except OSError:
        pass
    return out


def flags_of_name(name, letters):
    """(IMAP system flags, keywords) that a Maildir file name says; a letter that
    dovecot-keywords does not define is 'unknown-N', as Dovecot shows it."""
    info = name.split(":2,", 1)[1] if ":2," in name else ""
    info = info.split(",", 1)[0]
    sysmap = {"R": "\\Answered", "F": "\\Flagged", "T": "\\Deleted", "S": "\\Seen",
              "D": "\\Draft"}
    return (sorted(sysmap[c] for c in set(info) if c in sysmap),
            sorted(letters.get(c, "unknown-%d" % (ord(c) - 97)) for c in set(info)
                   if "a" <= c <= "z"))


def mailboxes(maildir):
    out = [maildir]
    for n in sorted(os.listdir(maildir)):
        p = os.path.join(maildir, n)
        if n.startswith(".") and os.path.isdir(os.path.join(p, "cur")) and not os.path.islink(p):
            out.append(p)
    return out


def content_by_base(maildir):
    """{base: (content, mailbox dir)} of every message file now."""
    out = {}
    for mb in mailboxes(maildir):
        for sub in ("cur", "new"):
            for n in os.listdir(os.path.join(mb, sub)):
                with open(os.path.join(mb, sub, n), "rb") as f:
                    data = f.read()
                out[n.split(":", 1)[0]] = (data, mb)
    return out


def part_live(work, key, pub):
    store = os.path.join(work, "live")
    info = gen_store(store, 1, 3000, 23, ["--attach-frac", "0.02", "--unsynced", "0.1"])
    user = info["users"][0]
    maildir = info["maildirs"][user]
    for rnd in range(1, 4):
        before = content_by_base(maildir)
        # round 3 adds messages renamed back and forth without pause
        mut = Mutator(maildir, 100 + rnd, pause=0.002, hot=40 if rnd == 3 else 0)
        out = os.path.join(work, "live%d.mfa" % rnd)
        # -T 0 and a high level: slow enough for many changes to land mid-pack
        p = subprocess.Popen([MAILFERRY, "pack", "-s", key, "-o", out, "--json", "-q", "-T", "0",
                              "-l", "15", "%s=%s" % (user, maildir)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        mut.start()
        t0 = time.time()
        try:
            so, se = p.communicate(timeout=300)
        except BaseException:
            p.kill()
            so, se = p.communicate()
            if sys.exc_info()[0] is not subprocess.TimeoutExpired:
                raise
        finally:
            mut.stop_ev.set()
            mut.join()
        el = time.time() - t0
        rc = p.returncode
        so, se = so.decode(errors="replace"), se.decode(errors="replace")
        touched = mut.renamed | mut.moved | mut.expunged
        tap.ok(rc in (0, 1) and os.path.exists(out),
               "round %d: pack under mutation exits %s (0 or 1) in %.1f s; %d changes meanwhile "
               "(%d renames, %d new->cur, %d deliveries, %d expunges)"
               % (rnd, rc, el, mut.actions, len(mut.renamed), len(mut.moved), len(mut.delivered),
                  len(mut.expunged)), se[-1500:])
        tap.ok(not mut.errors, "round %d: the mutator itself had no errors" % rnd,
               "\n".join(mut.errors[:5]))
        if rc not in (0, 1) or not os.path.exists(out):
            tap.skip("round %d: no archive to check (pack exit %s)" % (rnd, rc), 6)
            continue
        rcv, o = verify(pub, out)
        tap.ok(rcv == 0, "round %d: the archive verifies" % rnd, o)
        ls = ls_json(pub, out)
        got = {}
        problems = []
        for u, mb, m in msg_index(ls):
            b = m["source_name"].split(":", 1)[0]
            if b in got:
                problems.append("base name %s appears twice (uid %d and %d)"
                                % (b, got[b][0]["uid"], m["uid"]))
            got[b] = (m, mb)
        for mb in ls["users"][0]["mailboxes"]:
            uids = [m["uid"] for m in mb["messages"]]
            if uids != sorted(set(uids)):
                problems.append("mailbox %s: UIDs not strictly ascending" % mb["stored"])
        missing_untouched, bad_content, missing_renamed = [], [], []
        for b, (data, mbdir) in before.items():
            g = got.get(b)
            if b not in touched:
                if g is None:
                    missing_untouched.append(b)
                    continue
            if g is not None:
                why = dvlib.check_content(data, g[0])
                if why is None and g[0]["guid"] != b:
                    why = "guid %s" % g[0]["guid"]
                if why is None and g[1]["stored"] != os.path.basename(mbdir).replace(
                        os.path.basename(maildir), ""):
                    why = "in mailbox %r" % g[1]["stored"]
                if why:
                    bad_content.append("%s: %s" % (b, why))
            if b in (mut.renamed | mut.moved) and b not in mut.expunged and g is None:
                missing_renamed.append(b)
        for b, data in mut.delivered.items():
            g = got.get(b)
            if g is not None:
                why = dvlib.check_content(data, g[0])
                if why:
                    bad_content.append("%s (delivered): %s" % (b, why))
        unknown = [b for b in got if b not in before and b not in mut.delivered]
        n_untouched = len([b for b in before if b not in touched])
        tap.ok(not missing_untouched, "round %d: all %d untouched messages are in the archive"
               % (rnd, n_untouched), "%d missing, e.g. %s" % (len(missing_untouched),
                                                              missing_untouched[:5]))
        tap.ok(not bad_content and not unknown,
               "round %d: every archived message has its exact content (hash, size, guid)" % rnd,
               "damaged: %s; unknown: %s" % (bad_content[:5], unknown[:5]))
        nren = len((mut.renamed | mut.moved) - mut.expunged)
        # a renamed message carries one of the names it had, and the flags and keywords
        # that this name says
        stale = []
        for b in (mut.renamed | mut.moved):
            g = got.get(b)
            if g is None or b not in before:
                continue
            m, mb = g
            mbdir = before[b][1]
            if m["source_name"] not in mut.names.get(b, ()):
                stale.append("%s archived as %s, a name it never had" % (b, m["source_name"]))
                continue
            want = flags_of_name(m["source_name"], mut.kw[mbdir])
            if sorted(m["flags"]) != want[0]:
                stale.append("%s: archived as %s with flags %s; the name says %s"
                             % (b, m["source_name"], m["flags"], want[0]))
            elif sorted(m["keywords"]) != want[1]:
                stale.append("%s: archived as %s with keywords %s; the name says %s"
                             % (b, m["source_name"], m["keywords"], want[1]))
        tap.ok(not stale, "round %d: each renamed message has the flags and keywords of the "
               "name it was archived under" % rnd, "%d differ:\n%s" % (len(stale),
                                                                       "\n".join(stale[:5])))
        # A file renamed without pause, thousands of times a second, can stay
        # ahead of every re-listing: then (and only then) it may be missing, but
        # never silently: it must be listed as skipped.
        try:
            listed = {os.path.basename(i["path"]).split(":", 1)[0]
                      for i in json.loads(so)["skipped_items"]}
        except (ValueError, KeyError):
            listed = set()
        hot_missing = [b for b in missing_renamed if b in mut.hot]
        lost = [b for b in missing_renamed if b not in mut.hot or b not in listed]
        tap.ok(not lost, "round %d: all %d renamed/moved (not expunged) messages are in "
               "the archive%s" % (rnd, nren, " (%d of them renamed %d times in all, without pause; "
                                  "%d of those outran the pack and are listed as skipped)"
                                  % (len(mut.hot), mut.hot_renames, len(hot_missing))
                                  if mut.hot else ""),
               "%d missing (%d of them hot), e.g. %s; stderr: %s"
               % (len(lost), len(hot_missing), lost[:5], se[-800:]))
        tap.ok(not problems, "round %d: no message twice, UIDs ascending" % rnd,
               "\n".join(problems[:5]))
        vanished = sum(1 for b in mut.expunged if b in before and b not in got)
        tap.diag("round %d: %d expunged during the pack, %d of them absent; %d delivered, %d "
                 "of them packed; summary: %s" % (rnd, len(mut.expunged), vanished,
                                                 len(mut.delivered),
                                                 sum(1 for b in mut.delivered if b in got),
                                                 so.strip()[-300:]))


# ---------------------------------------------------------------- 3. links, FIFOs

def part_links(work, key, pub):
    store = os.path.join(work, "links")
    info = gen_store(store, 2, 60, 31)
    user = sorted(info["users"])[0]
    md = info["maildirs"][user]
    home = info["homes"][user]
    regular = 0
    for mb in mailboxes(md):
        for sub in ("cur", "new"):
            regular += len(os.listdir(os.path.join(mb, sub)))
    evil = {}
    os.symlink("/etc/passwd", os.path.join(md, "cur", "1700000000.M1P1.evil,S=99:2,S"))
    evil["cur/1700000000.M1P1.evil,S=99:2,S"] = "symbolic link"
    os.symlink("/etc/passwd", os.path.join(md, "new", "1700000001.M2P1.evil"))
    evil["new/1700000001.M2P1.evil"] = "symbolic link"
    os.mkfifo(os.path.join(md, "cur", "1700000002.M3P1.fifo:2,S"))
    evil["cur/1700000002.M3P1.fifo:2,S"] = "not a regular file"
    os.symlink("/etc", os.path.join(md, ".Evil"))
    evil[".Evil"] = "symbolic link"
    # metadata that is a FIFO or a link: refused without blocking
    trash_kw = os.path.join(md, ".Trash", "dovecot-keywords")
    if os.path.exists(trash_kw):
        os.unlink(trash_kw)
    os.mkfifo(trash_kw)
    arch_ul = os.path.join(md, ".Archive", "dovecot-uidlist")
    if os.path.exists(arch_ul):
        os.rename(arch_ul, arch_ul + ".real")
    os.symlink("/etc/passwd", arch_ul)
    os.mkfifo(os.path.join(md, "subscriptions.fifo"))
    os.makedirs(os.path.join(home, "sieve"), exist_ok=True)
    os.symlink("/etc/passwd", os.path.join(home, "sieve", "evil.sieve"))
    os.mkfifo(os.path.join(home, "sieve", "fifo.sieve"))
    if DOVECOT:
        dvlib.chown_tree(home)
    out = os.path.join(work, "links.mfa")
    t0 = time.time()
    rc, summary, so, se = pack(["--users", os.path.join(store, "users")], key, out, timeout=120)
    el = time.time() - t0
    tap.ok(rc != "timeout", "pack with FIFOs in the tree finishes (%.1f s, no hang)" % el)
    tap.ok(rc == 1, "pack exits 1 (partial) when it skips links and special files", "exit %s: %s"
           % (rc, se[-1500:]))
    items = summary["skipped_items"] if summary else []
    tap.diag("skipped: %s" % json.dumps(summary["skipped"] if summary else None))
    for path, why in sorted(evil.items()):
        hit = [i for i in items if i["user"] == user and i["path"].endswith(path)]
        tap.ok(bool(hit) and all(i["reason"] for i in hit),
               "the --json summary lists %s as skipped with a reason" % path,
               "skipped_items: %s" % json.dumps(items)[:1500])
    tap.ok(summary is not None and summary["skipped"]["symbolic_links"] >= 2
           and summary["skipped"]["not_regular_files"] >= 1 and summary["skipped"]["folders"] >= 1,
           "the summary counts the links, the FIFO and the skipped folder",
           json.dumps(summary["skipped"] if summary else None))
    rcv, o = verify(pub, out) if os.path.exists(out) else (None, "no archive")
    tap.ok(rcv == 0, "the archive verifies", o)
    like = [x for x in se.split("\n") if ".Archive/dovecot-uidlist" in x]
    tap.ok(bool(like), "a warning names the linked .Archive/dovecot-uidlist", se[-1500:])
    like = [x for x in se.split("\n") if ".Trash/dovecot-keywords" in x]
    tap.ok(bool(like), "a warning names the FIFO .Trash/dovecot-keywords", se[-1500:])
    if not os.path.exists(out):
        tap.skip("no archive", 4)
    else:
        ls = ls_json(pub, out)
        with open("/etc/passwd", "rb") as f:
            pw = f.read()
        msgs = msg_index(ls)
        leaks = [m["source_name"] for u, mb, m in msgs
                 if dvlib.check_content(pw, m) is None or "evil" in m["source_name"]
                 or "fifo" in m["source_name"]]
        tap.ok(not leaks, "no message in the archive is /etc/passwd, a link or the FIFO", str(leaks))
        names = ["/".join(mb["name"]) for u in ls["users"] for mb in u["mailboxes"]]
        tap.ok("Evil" not in names, "the linked folder .Evil (/etc) is not in the archive",
               str(names))
        extras = [x["path"] for u in ls["users"] for x in u["extras"]]
        tap.ok(not [e for e in extras if "evil" in e or "fifo" in e],
               "the Sieve symlink and FIFO are not archived as scripts", str(extras))
        got = sum(1 for u, mb, m in msgs if u == user)
        tap.ok(got == regular, "every regular message of the user is packed (%d)" % regular,
               "got %d" % got)
    # a folder whose cur/ is a link out of the tree
    os.makedirs(os.path.join(md, ".Sneaky", "new"))
    os.makedirs(os.path.join(md, ".Sneaky", "tmp"))
    os.symlink("/etc", os.path.join(md, ".Sneaky", "cur"))
    out2 = os.path.join(work, "links2.mfa")
    rc, summary, so, se = pack(["--users", os.path.join(store, "users")], key, out2, timeout=120)
    items = summary["skipped_items"] if summary else []
    tap.ok(rc == 1 and any(".Sneaky" in i["path"] for i in items),
           "a folder whose cur/ links to /etc: exit 1, listed as skipped",
           "exit %s: %s" % (rc, se[-600:]))
    if os.path.exists(out2):
        ls = ls_json(pub, out2)
        n = [len(mb["messages"]) for u in ls["users"] for mb in u["mailboxes"]
             if mb["name"] == ["Sneaky"]]
        tap.ok(not n or n == [0], "nothing of /etc is packed as .Sneaky's messages", str(n))
    else:
        tap.skip("no archive (pack exit %s)" % rc)


# ---------------------------------------------------------------- 4. corrupt metadata

GUID = "0123456789abcdef0123456789abcdef"
CASES = [
    # name, uidlist text (F1..F5 are file names), what a warning must mention (line)
    ("garbage", "3 V12345 N10 G%s\n5 :F1\nthis is garbage\n7 :F3\n" % GUID, 3),
    ("dupuid", "3 V12345 N10 G%s\n5 :F1\n5 :F2\n7 :F3\n" % GUID, 3),
    ("notasc", "3 V12345 N10 G%s\n6 :F1\n5 :F2\n7 :F3\n" % GUID, 3),
    ("badheader", "3 Vxyz N10 G%s\n5 :F1\n6 :F2\n" % GUID, 1),
    ("nouidv", "3 N10 G%s\n5 :F1\n6 :F2\n" % GUID, 1),
    ("notanumber", "x V12345 N10\n5 :F1\n", 1),
    ("v2", "2 12345 10\n5 :F1\n6 :F2\n", 1),
    ("v1next", "1 12345 6\n5 F1\n6 F2\n", 3),
    ("nocolon", "3 V12345 N10 G%s\n5 :F1\n6 F2\n7 :F3\n" % GUID, 3),
    ("badext", "3 V12345 N10 G%s\n5 xfoo Zbar :F1\n6 :F2\n" % GUID, 2),
    ("dupfile", "3 V12345 N10 G%s\n5 :F1\n6 :F1\n7 :F2\n" % GUID, None),
    ("uidzero", "3 V12345 N10 G%s\n0 :F1\n6 :F2\n" % GUID, 2),
    ("toohigh", "3 V12345 N10 G%s\n5 :F1\n4294967295 :F2\n" % GUID, 3),
    ("stale_n", "3 V12345 N1 G%s\n5 :F1\n6 :F2\n" % GUID, None),
    ("noguid", "3 V12345 N10\n5 :F1\n6 :F2\n", None),
    ("partial", "3 V12345 N10 G%s\n5 :F1\n6 :F2\n7 :F3" % GUID, None),
    ("emptyfile", "", None),
    ("binary", "3 V12345 N10 G%s\n5 :F1\n\x00\x01\xff\xfe junk\n7 :F3\n" % GUID, 3),
]
KEYWORDS_JUNK = ("0 $Label1\ngarbage\nx1 NotANumber\n99 TooHigh\n5 \n-1 Negative\n\n"
                 "1 Important\n1 Second\n2 Work_kw\n")
KEYWORDS_DUP = "0 $Label1\n1 Important\n1 Second\n2 Important\n3 $label1\n"


def build_case_mailbox(mbdir, uidlist, files, kw=None):
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(mbdir, sub), exist_ok=True)
    names = []
    for i, (base, info, content) in enumerate(files):
        p = os.path.join(mbdir, "cur" if info is not None else "new",
                         base + (":2," + info if info is not None else ""))
        with open(p, "wb") as f:
            f.write(content)
        t = 1704067200 + 86400 * i
        os.utime(p, (t, t))
        names.append(base)
    if uidlist is not None:
        text = uidlist
        for i, b in enumerate(names):
            text = text.replace("F%d" % (i + 1), b)
        with open(os.path.join(mbdir, "dovecot-uidlist"), "wb") as f:
            f.write(text.encode("latin-1"))
    if kw is not None:
        with open(os.path.join(mbdir, "dovecot-keywords"), "w") as f:
            f.write(kw)
    if os.path.basename(mbdir).startswith("."):
        open(os.path.join(mbdir, "maildirfolder"), "w").close()
    return names


def case_files(tag, n=5, letters=""):
    out = []
    for i in range(n):
        body = ("From: x@example.com\nSubject: %s %d\n\nbody %d\n" % (tag, i, i)).encode()
        base = "17000000%02d.M%dP100.host,S=%d" % (i + 1, 500 + i, len(body))
        info = "S" + (letters[i] if i < len(letters) else "")
        out.append((base, "".join(sorted(info)), body))
    return out


def dovecot_uids(dv, user, box):
    rows = dv.fetch(user, ["uid", "guid", "flags"], ["mailbox", box, "ALL"])
    st = dv.status(user, ["uidvalidity", "uidnext", "guid"], [box])
    return ({r["guid"]: (int(r["uid"]), dvlib.split_flags(r["flags"])[1]) for r in rows},
            st[0] if st else None)


def make_indexed_boxes(work):
    """Mailboxes that Dovecot synced (index + its own uidlist with a stale N) and that
    were damaged afterwards, built under a separate user (Dovecot opens every mailbox
    of a user when it builds its list index: it must never see the other cases)."""
    home = os.path.join(work, "indexed-src", "v")
    md = os.path.join(home, "Maildir")
    os.makedirs(md)
    build_case_mailbox(md, None, case_files("vinbox", 1))
    boxes = {"c_indexed": ".c_indexed", "c_indexed_nouidlist": ".c_indexed_nouidlist"}
    for d in boxes.values():
        build_case_mailbox(os.path.join(md, d), None, case_files(d[1:], 4))
    dvlib.chown_tree(os.path.dirname(home))
    dvlib.make_traversable(home)
    body = b"From: late@example.com\nSubject: later\n\nlater\n"
    with dvlib.Dovecot() as dv:
        dv.add_user("v", home)
        dv.status("v", ["messages"], list(boxes))
        for d in boxes.values():
            for i, t in enumerate((1700000090, 1700000091)):
                p = os.path.join(md, d, "new", "%d.M%dP200.host,S=%d" % (t, 900 + i, len(body)))
                with open(p, "wb") as f:
                    f.write(body)
                os.chown(p, MAIL_UID, MAIL_UID)
        dv.status("v", ["messages"], list(boxes))
    ul = os.path.join(md, ".c_indexed", "dovecot-uidlist")
    with open(ul) as f:
        lines = f.read().split("\n")
    tap.diag("c_indexed's uidlist as Dovecot wrote it: %r" % lines)
    lines.insert(3, "garbage after the second record")
    with open(ul, "w") as f:
        f.write("\n".join(lines))
    os.unlink(os.path.join(md, ".c_indexed_nouidlist", "dovecot-uidlist"))
    for d in boxes.values():
        # and one more delivery that Dovecot has not seen
        p = os.path.join(md, d, "new", "1700000095.M999P300.host,S=%d" % len(body))
        with open(p, "wb") as f:
            f.write(body)
        os.chown(p, MAIL_UID, MAIL_UID)
    return md, boxes


def part_corrupt(work, key, pub):
    home = os.path.join(work, "corrupt", "u")
    md = os.path.join(home, "Maildir")
    os.makedirs(md)
    build_case_mailbox(md, None, case_files("inbox", 2))
    for name, text, line in CASES:
        build_case_mailbox(os.path.join(md, ".c_" + name), text, case_files(name))
    build_case_mailbox(os.path.join(md, ".k_junk"), "3 V222 N4 G%s\n1 :F1\n2 :F2\n3 :F3\n" % GUID,
                       case_files("kwjunk", 4, letters=["a", "b", "c", "bf"]), KEYWORDS_JUNK)
    build_case_mailbox(os.path.join(md, ".k_dup"), "3 V333 N4 G%s\n1 :F1\n2 :F2\n3 :F3\n" % GUID,
                       case_files("kwdup", 4, letters=["a", "b", "c", "d"]), KEYWORDS_DUP)
    indexed = {}
    if DOVECOT:
        vmd, boxes = make_indexed_boxes(work)
        for name, d in boxes.items():
            os.rename(os.path.join(vmd, d), os.path.join(md, d))
            indexed[name] = d
        dvlib.chown_tree(os.path.dirname(home))
    out = os.path.join(work, "corrupt.mfa")
    rc, summary, so, se = pack(["u=%s" % md], key, out)
    tap.ok(isinstance(rc, int) and 0 <= rc < 2, "pack of damaged metadata exits %s (0 or 1; no "
           "crash, no error)" % rc, se[-2000:])
    rcv, o = verify(pub, out) if os.path.exists(out) else (None, "no archive")
    tap.ok(rcv == 0, "the archive verifies", o)
    if not os.path.exists(out):
        return
    warn_lines = [x for x in se.split("\n") if "warning" in x]
    for name, text, line in CASES:
        if line is None:
            continue
        pat = "u/.c_%s/dovecot-uidlist line %d" % (name, line)
        tap.ok(any(pat in x for x in warn_lines), "case %s: a warning names %s" % (name, pat),
               "\n".join(warn_lines[:60]))
    tap.ok(any("u/.k_junk/dovecot-keywords line 2" in x for x in warn_lines),
           "keywords junk: a warning names u/.k_junk/dovecot-keywords line 2",
           "\n".join(warn_lines[:60]))
    if indexed:
        tap.ok(any("u/.c_indexed/dovecot-uidlist line 4" in x for x in warn_lines),
               "indexed case: a warning names u/.c_indexed/dovecot-uidlist line 4",
               "\n".join(warn_lines[:60]))
    ls = ls_json(pub, out)
    mf = {}
    for mb in ls["users"][0]["mailboxes"]:
        mf["/".join(mb["name"])] = (mb, {m["guid"]: (m["uid"], sorted(m["keywords"]))
                                         for m in mb["messages"]})
    if not DOVECOT:
        tap.skip("comparing with Dovecot's UIDs needs root and Dovecot")
        return
    # Dovecot on copies: one user per damaged mailbox (INBOX + that mailbox), whose first
    # access is opening that mailbox (what an IMAP SELECT or a delivery does). A first
    # access through the mailbox list index or `mailbox status guid` takes another path
    # in Dovecot (the GUID lookup recreates a broken uidlist from scratch: UIDs 1..n,
    # new UIDVALIDITY), which mailferry cannot and need not follow; see the diag lines.
    boxes = ["c_" + c[0] for c in CASES] + ["k_junk", "k_dup"] + sorted(indexed)
    croot = os.path.join(work, "corrupt-dv")
    for box in boxes:
        h = os.path.join(croot, box)
        os.makedirs(os.path.join(h, "Maildir"))
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(h, "Maildir", sub))
        cp_a(os.path.join(md, "." + box), os.path.join(h, "Maildir", "." + box))
    dvlib.chown_tree(croot)
    croot2 = os.path.join(work, "corrupt-dv2")
    cp_a(croot, croot2)
    with dvlib.Dovecot() as dv:
        for box in boxes:
            dv.add_user(box, os.path.join(croot, box))
        for box in boxes:
            dvu, st = dovecot_uids(dv, box, box)
            mb, mfu = mf.get(box, (None, {}))
            diffs = []
            if mb is None:
                diffs.append("mailferry has no mailbox %s" % box)
            else:
                for g in sorted(set(dvu) | set(mfu)):
                    if dvu.get(g, (None,))[0] != mfu.get(g, (None,))[0]:
                        diffs.append("%s: uid mailferry %s, dovecot %s"
                                     % (g, mfu.get(g, (None,))[0], dvu.get(g, (None,))[0]))
                    elif dvu[g][1] != mfu[g][1]:
                        diffs.append("%s: keywords mailferry %s, dovecot %s"
                                     % (g, mfu[g][1], dvu[g][1]))
                if st and str(mb["uidnext"]) != st["uidnext"]:
                    diffs.append("uidnext mailferry %s, dovecot %s" % (mb["uidnext"], st["uidnext"]))
                if st and not mb["guid_derived"] and mb["guid"] != st["guid"]:
                    diffs.append("guid mailferry %s, dovecot %s" % (mb["guid"], st["guid"]))
                if st and (box in indexed or not mb["guid_derived"]) and \
                        str(mb["uidvalidity"]) != st["uidvalidity"]:
                    diffs.append("uidvalidity mailferry %s, dovecot %s"
                                 % (mb["uidvalidity"], st["uidvalidity"]))
            tap.ok(not diffs, "%s: mailferry's UIDs and keywords are Dovecot's for the damaged "
                   "mailbox" % box, "\n".join(diffs[:8]))
    # the other first-access path, for the record
    with dvlib.Dovecot() as dv:
        for box in boxes:
            dv.add_user(box, os.path.join(croot2, box))
        same = []
        for box in boxes:
            dv.status(box, ["guid"], [box])
            dvu, st = dovecot_uids(dv, box, box)
            mfu = mf.get(box, (None, {}))[1]
            if all(dvu.get(g, (None,))[0] == mfu.get(g, (None,))[0] for g in set(dvu) | set(mfu)):
                same.append(box)
        tap.diag("when Dovecot's first access is `mailbox status guid`, mailferry's UIDs match "
                 "Dovecot's in %d of %d damaged mailboxes (%s)" % (len(same), len(boxes),
                                                                    " ".join(same)))
    # unreadable files, as the mail uid (root reads everything)
    if not ROOT:
        tap.skip("unreadable files need root to switch to uid %d" % MAIL_UID, 7)
        return
    part_unreadable(work, key, pub)


def part_unreadable(work, key, pub):
    base = os.path.join(work, "unread")
    home = os.path.join(base, "u")
    md = os.path.join(home, "Maildir")
    os.makedirs(md)
    names = build_case_mailbox(md, "3 V12345 N4 G%s\n1 :F1\n2 :F2\n3 :F3\n" % GUID,
                               case_files("unread", 3))
    build_case_mailbox(os.path.join(md, ".Other"), "3 V12346 N3 G%s\n1 :F1\n2 :F2\n" % GUID.replace("0", "1"),
                       case_files("other", 2))
    victim = [n for n in os.listdir(os.path.join(md, "cur")) if n.startswith(names[1])][0]
    vpath = os.path.join(md, "cur", victim)
    kd = os.path.join(work, "unread-keys")
    os.makedirs(kd)
    shutil.copy(key, os.path.join(kd, "k.key"))
    os.chmod(os.path.join(kd, "k.key"), 0o600)
    dvlib.chown_tree(base)
    dvlib.chown_tree(kd)
    dvlib.make_traversable(base)
    os.chmod(kd, 0o755)
    os.chmod(vpath, 0)
    k5 = os.path.join(kd, "k.key")
    out = os.path.join(kd, "a.mfa")
    rc, summary, so, se = pack(["u=%s" % md], k5, out, as_uid=MAIL_UID, env={"TMPDIR": kd})
    tap.ok(rc == 3 and victim in se and not os.path.exists(out),
           "an unreadable message (chmod 000, uid %d) without --skip-unreadable: exit 3, the "
           "error names the file, no archive" % MAIL_UID, "exit %s: %s" % (rc, se[-800:]))
    rc, summary, so, se = pack(["u=%s" % md, "--skip-unreadable"], k5, out, as_uid=MAIL_UID,
                               env={"TMPDIR": kd})
    items = summary["skipped_items"] if summary else []
    tap.ok(rc == 1 and any(victim in i["path"] and i["reason"] for i in items)
           and summary["skipped"]["unreadable"] == 1,
           "with --skip-unreadable: exit 1, the file is listed as skipped with its reason",
           "exit %s: %s %s" % (rc, json.dumps(items), se[-500:]))
    if os.path.exists(out):
        rcv, o = verify(pub, out)
        tap.ok(rcv == 0, "that archive verifies", o)
        ls = ls_json(pub, out)
        got = sorted(m["guid"] for u, mb, m in msg_index(ls))
        tap.ok(len(got) == 4 and names[1] not in got, "the other 4 messages are packed", str(got))
    else:
        tap.skip("no archive", 2)
    os.chmod(vpath, 0o644)
    # an unreadable dovecot-uidlist: the UIDs cannot be known
    ulp = os.path.join(md, "dovecot-uidlist")
    os.chmod(ulp, 0)
    rc, summary, so, se = pack(["u=%s" % md], k5, out, as_uid=MAIL_UID, env={"TMPDIR": kd})
    tap.ok("dovecot-uidlist" in se and "Permission denied" in se,
           "an unreadable dovecot-uidlist: a warning names it and the reason", se[-800:])
    tap.ok(rc != 0, "an unreadable dovecot-uidlist makes the pack partial or fail (exit %s), "
           "not a silent renumbering" % rc, se[-800:])
    os.chmod(ulp, 0o644)
    # an unreadable folder (its cur/ is chmod 000)
    cur = os.path.join(md, ".Other", "cur")
    os.chmod(cur, 0)
    rc, summary, so, se = pack(["u=%s" % md, "--skip-unreadable"], k5, out, as_uid=MAIL_UID,
                               env={"TMPDIR": kd})
    tap.diag("an unreadable .Other/cur with --skip-unreadable: exit %s, %s" % (rc, se.strip()[-300:]))
    tap.ok(rc in (1, 3) and ".Other" in se,
           "an unreadable folder: exit 1 (skipped) or 3 (error), naming the folder", se[-800:])
    os.chmod(cur, 0o755)


def main():
    dvlib.exit_on_signals()
    if not os.access(MAILFERRY, os.X_OK):
        print("1..0 # SKIP %s not built" % MAILFERRY)
        return
    work = tempfile.mkdtemp(prefix="mf-safety.")
    os.chmod(work, 0o755)
    dvlib.make_traversable(work)
    try:
        key, pub = os.path.join(work, "k.key"), os.path.join(work, "k.pub")
        rc, so, se = dvlib.run([MAILFERRY, "keygen", "-W", "-p", pub, "-s", key])
        if not tap.ok(rc == 0, "keygen", se):
            tap.done()
        if not DOVECOT:
            tap.diag("no Dovecot/root (%s): stores without Dovecot's uidlists, no Dovecot "
                     "comparisons" % dvlib.unavailable_reason())
        for part in (part_readonly, part_live, part_links, part_corrupt):
            try:
                part(work, key, pub)
            except Exception:
                tap.ok(False, "%s ran without an exception" % part.__name__,
                       traceback.format_exc())
    finally:
        if os.environ.get("KEEP"):
            tap.diag("kept %s" % work)
        else:
            # undo chmods that would stop the removal
            subprocess.run(["chmod", "-R", "u+rwX", work], stderr=subprocess.DEVNULL)
            shutil.rmtree(work, ignore_errors=True)
    tap.done()


main()
