#!/usr/bin/env python3
# faults.t: interruptions, full disks and unreadable sources.
#
# Source: a seeded Maildir store written here (3 users, about 110 messages of
# 0.3 to 120 KB, three folders each, dovecot-uidlist files, a Sieve script in
# each home), FULL packed from it, then the source changed (new messages, flag
# changes, expunges, a new folder, a changed Sieve script) and D1 packed
# against FULL.
#
# 1. kill -9 during unpack, 62 trials (seed MF_FAULTS_SEED): FULL to sdbox (22),
#    FULL to mdbox (16), D1 applied in place to live-ish sdbox (16) and mdbox (8)
#    targets (FULL unpacked, then Dovecot delivered into it and set flags, so
#    D1's new UIDs are taken and get renumbered). Half the trials kill after a
#    seeded random delay, half at a seeded random write-side system call through
#    `strace -e inject=...:signal=KILL` (reproducible). After the kill: every
#    user is either absent or complete (its files are the clean run's), nothing
#    outside the target; for a delta, every other time a live Dovecot reads
#    every mailbox before the rerun, without complaint, and no message is there
#    twice or from neither state. The same command again exits 0, leaves no
#    staging or temporary directory and no directory owned by root, and
#    Dovecot's view of every user (messages, flags, GUIDs, dates, sizes, text
#    digests, mailbox status, list, subscriptions) equals a clean run's; Sieve
#    scripts are there too. Three deterministic windows (strace): right after
#    a user's store is moved into place, before its Sieve scripts are written;
#    a delta killed after a new message is linked to u.N, before the log append;
#    a delta killed after its expunges, before the subscriptions (a new message
#    forwards an expunged one, so its body is a chain reference).
# 2. kill -9 during pack, 10 trials (delay and system call): the output name
#    never exists unless complete (`verify` passes), what is left is named
#    *.partial-*; the rerun gives a verified archive.
# 3. Full disk (root: a small tmpfs): pack with its output there, unpack with
#    its target there (out of bytes, out of inodes, no inode for the user's own
#    directory), D1 applied in place there: one error line (io), no output
#    archive, no user partly present, no staging directory; after the tmpfs is
#    grown the rerun succeeds and (unpack) equals the clean run.
# 4. Unreadable source files (chmod 000, pack run as uid 5000 through setpriv;
#    as the invoking user when not root): pack fails with one io line and
#    writes no archive; with --skip-unreadable it exits 1, lists the file (and
#    an unreadable folder, and a folder whose dovecot-uidlist is unreadable) in
#    the JSON summary, and the archive verifies with the rest of the messages.
#
# About 40 s on 2 cores (50 s with the sanitizer build). Parts that need root
# (Dovecot's view, tmpfs, setpriv) are skipped without it. Known mailferry bugs are marked `# TODO BUG-...`,
# attached only when exactly their symptom shows; MF_STRICT=1 makes them fail.
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "dovecot"))
import dvlib  # noqa: E402
import oracle  # noqa: E402
from oracle import Doveadm, full_view, view_diffs, format_diff  # noqa: E402

TESTS, MF_SRC, MAILFERRY = dvlib.test_paths(__file__)
SEED = int(os.environ.get("MF_FAULTS_SEED", "20240611"))
ROOT = os.geteuid() == 0
STRACE = shutil.which("strace")
tap = dvlib.Tap()
rng = random.Random(SEED)
OWNER = ["--owner", "%d:%d" % (dvlib.MAIL_UID, dvlib.MAIL_GID)] if ROOT else []
USERS = ["alice@example.com", "bob@example.org", "carol@example.net"]

WORK = tempfile.mkdtemp(prefix="mffaults.")
os.chmod(WORK, 0o755)
KEY = os.path.join(WORK, "test.key")
PUB = os.path.join(MF_SRC, "spec", "vectors", "test.pub")
try:
    shutil.copy(os.path.join(MF_SRC, "spec", "vectors", "test.key"), KEY)
    os.chmod(KEY, 0o600)
except OSError:
    # not readable here (another user's checkout): a key pair of our own
    PUB = os.path.join(WORK, "test.pub")
    subprocess.run([MAILFERRY, "keygen", "-W", "-p", PUB, "-s", KEY],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
WRITE_CALLS = ["openat", "write", "pwrite64", "mkdirat", "mkdir", "renameat", "renameat2",
               "rename", "unlinkat", "fsync", "fdatasync", "syncfs", "fchown", "fchmod",
               "close", "symlinkat", "ftruncate", "fcntl", "linkat"]


# ---------------------------------------------------------------- helpers

def run(argv, timeout=120, **kw):
    return dvlib.run(argv, timeout=timeout, **kw)


def mf(args, **kw):
    return run([MAILFERRY] + args, **kw)


def unpack_args(tmpl, archive, fmt, extra=()):
    return ([MAILFERRY, "unpack", "-q", "-p", PUB, "--to", tmpl, "--format", fmt] + OWNER
            + list(extra) + [archive])


def error_lines(err):
    return [ln for ln in err.split("\n") if re.match(r"^mailferry [a-z]+: [a-z]+: ", ln)]


def syscall_counts(argv, prepare=None):
    """{syscall: calls} of a clean run of argv (strace -c), write-side calls only."""
    if prepare:
        prepare()
    out = os.path.join(WORK, "strace-count.txt")
    subprocess.run([STRACE, "-f", "-c", "-o", out] + argv, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    counts = {}
    with open(out) as f:
        for ln in f:
            p = ln.split()
            if len(p) >= 5 and p[-1] in WRITE_CALLS:
                try:
                    counts[p[-1]] = int(p[3])
                except ValueError:
                    pass
    return counts


def pick_point(counts):
    """A write-side call chosen uniformly among all of a clean run's: (name, k)."""
    total = sum(counts.values())
    i = rng.randrange(total)
    for name in sorted(counts):
        if i < counts[name]:
            return name, i + 1
        i -= counts[name]
    raise AssertionError("unreachable")


def interrupted(argv, how, clean_secs):
    """Runs argv and kills it: how = ("delay", seconds) or ("call", name, k).
    Returns a short description of where it was killed."""
    if how[0] == "call":
        argv = [STRACE, "-f", "-qq", "-o", "/dev/null", "-e", "trace=" + how[1], "-e",
                "inject=%s:signal=KILL:when=%d" % (how[1], how[2])] + argv
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        return "SIGKILL at %s #%d (exit %s)" % (how[1], how[2], p.returncode)
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(how[1])
    finished = p.poll() is not None
    if not finished:
        os.kill(p.pid, signal.SIGKILL)
    p.wait()
    return "kill -9 after %.3f s%s" % (how[1], " (had finished)" if finished else "")


def choose_how(i, counts, clean_secs):
    if STRACE and counts and i % 2 == 1:
        return ("call",) + pick_point(counts)
    return ("delay", rng.uniform(0.0, clean_secs * 1.15))


def expand(tmpl, user):
    local, _, dom = user.partition("@")
    return tmpl.replace("%u", user).replace("%n", local).replace("%d", dom)


def listing(path):
    """Relative paths of everything below path, Dovecot's own files left out."""
    out = []
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            out.append(os.path.relpath(os.path.join(root, n), path))
    return sorted(out)


def stages_below(top):
    out = []
    for root, dirs, files in os.walk(top):
        out += [os.path.join(root, n) for n in dirs + files if "mailferry-stage" in n]
    return out


def sieve_of(home):
    """{relative path: content or link} of the Sieve files in a home."""
    out = {}
    d = os.path.join(home, "sieve")
    if os.path.isdir(d) and not os.path.islink(d):
        for n in sorted(os.listdir(d)):
            with open(os.path.join(d, n), "rb") as f:
                out["sieve/" + n] = hashlib.sha256(f.read()).hexdigest()[:16]
    if os.path.islink(os.path.join(home, ".dovecot.sieve")):
        out[".dovecot.sieve"] = os.readlink(os.path.join(home, ".dovecot.sieve"))
    return out


def chown_all(path):
    if ROOT:
        dvlib.chown_tree(path)


# ---------------------------------------------------------------- the source

WORDS = ("mail ferry archive dovecot maildir sdbox mdbox index frame blob delta chain "
         "signature manifest pack unpack user folder message flag keyword seen").split()


def body(r, size):
    out = []
    n = 0
    while n < size:
        line = " ".join(r.choice(WORDS) for _ in range(r.randint(5, 14))) + "\n"
        out.append(line)
        n += len(line)
    return "".join(out)


def message(r, user, i):
    size = r.choice([300, 800, 2000, 5000, 20000, 60000, 120000])
    if r.random() < 0.25:
        import base64
        att = base64.encodebytes(bytes(r.getrandbits(8) for _ in range(size // 2))).decode()
        text = ("From: s%d@example.net\nTo: %s\nSubject: attachment %d\nMessage-ID: "
                "<%d.%s@faults>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; "
                "boundary=b\n\n--b\nContent-Type: text/plain\n\n%s\n--b\nContent-Type: "
                "application/octet-stream\nContent-Transfer-Encoding: base64\n\n%s--b--\n"
                % (i, user, i, i, user, body(r, 200), att))
    else:
        text = ("From: s%d@example.net\nTo: %s\nSubject: message %d\nMessage-ID: "
                "<%d.%s@faults>\n\n%s" % (i, user, i, i, user, body(r, size)))
    return text.encode()


def write_folder(d, uidvalidity, msgs):
    """msgs: [(uid, base, flags, data, mtime)] -> cur/ files and a dovecot-uidlist."""
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    for n in os.listdir(os.path.join(d, "cur")):
        os.unlink(os.path.join(d, "cur", n))
    for uid, base, flags, data, mtime in msgs:
        p = os.path.join(d, "cur", base + ":2," + flags)
        with open(p, "wb") as f:
            f.write(data)
        os.utime(p, (mtime, mtime))
    nxt = max([m[0] for m in msgs] + [0]) + 1
    with open(os.path.join(d, "dovecot-uidlist"), "w") as f:
        f.write("3 V%d N%d G%s\n" % (uidvalidity, nxt, hashlib.md5(d.encode()).hexdigest()))
        for m in msgs:
            f.write("%d :%s\n" % (m[0], m[1]))


class Source:
    """The seeded source store and its changes (state 0: FULL, 1: D1)."""

    def __init__(self, top):
        self.top = top
        os.makedirs(top)
        self.r = random.Random(SEED)
        self.state = {}
        for ui, u in enumerate(USERS):
            folders = {}
            n = 0
            for fi, (folder, count) in enumerate([("", 18), (".Work", 10), (".Lists.Dev", 8)]):
                msgs = []
                for k in range(count):
                    n += 1
                    uid = k + 1
                    fl = self.r.choice(["", "S", "S", "RS", "FS", "ST"])
                    msgs.append([uid, "17%08d.M%dP%d.src" % (ui * 1000 + n, n, ui), fl,
                                 message(self.r, u, n), 1700000000 + n * 3600])
                folders[folder] = [1700001000 + ui * 10 + fi, msgs]
            self.state[u] = folders
        self.write()

    def home(self, u):
        local, _, dom = u.partition("@")
        return os.path.join(self.top, dom, local)

    def write(self, sieve=b"keep;\n", subs=("INBOX", "Work")):
        with open(os.path.join(self.top, "users"), "w") as uf:
            for u in USERS:
                home = self.home(u)
                md = os.path.join(home, "Maildir")
                for folder, (uv_, msgs) in self.state[u].items():
                    write_folder(os.path.join(md, folder) if folder else md, uv_,
                                 [tuple(m) for m in msgs])
                with open(os.path.join(md, "subscriptions"), "w") as f:
                    f.write("".join(s + "\n" for s in subs))
                os.makedirs(os.path.join(home, "sieve"), exist_ok=True)
                with open(os.path.join(home, "sieve", "main.sieve"), "wb") as f:
                    f.write(sieve)
                if not os.path.lexists(os.path.join(home, ".dovecot.sieve")):
                    os.symlink("sieve/main.sieve", os.path.join(home, ".dovecot.sieve"))
                uf.write("%s\t%s\n" % (u, md))
        self.users_file = os.path.join(self.top, "users")

    def change(self):
        """D1's changes: new messages, flag changes, expunges, a new folder, Sieve."""
        for ui, u in enumerate(USERS):
            f = self.state[u]
            inbox = f[""][1]
            nxt = max(m[0] for m in inbox) + 1
            for k in range(6):
                n = 500 + k
                data = message(self.r, u, n)
                if k == 0:
                    # a forward of INBOX uid 5 (expunged below): its body is a chain
                    # reference to that message
                    data = ("From: %s\nTo: friend@example.net\nSubject: Fwd: uid 5\n"
                            "Message-ID: <fwd.%s@faults>\n\n" % (u, u)).encode() + \
                        inbox[4][3].split(b"\n\n", 1)[1]
                inbox.append([nxt + k, "17%08d.M%dP%d.src" % (ui * 1000 + n, n, ui), "",
                              data, 1710000000 + k * 60])
            inbox[0][2] = "FS" if inbox[0][2] != "FS" else "S"
            inbox[2][2] = "RS"
            del inbox[4]
            work = f[".Work"][1]
            del work[1:3]
            work[0][2] = "T"
            f[".New"] = [1700005000 + ui, [[1, "17%08d.M900P%d.src" % (ui * 1000 + 900, ui), "",
                                            message(self.r, u, 900), 1710009000]]]
        self.write(sieve=b"require \"fileinto\";\nkeep;\n", subs=("INBOX", "Work", "New"))


# ---------------------------------------------------------------- Dovecot views

class Views:
    """Dovecot logins <prefix>.<user> for target templates, and their views."""

    def __init__(self, dv):
        self.dv = dv
        self.da = Doveadm(dv)

    def add(self, prefix, tmpl, fmt):
        for u in USERS:
            root = expand(tmpl, u)
            self.dv.add_user("%s.%s" % (prefix, u), os.path.dirname(root),
                             mail="%s:%s" % (fmt, root), wait=u == USERS[-1])

    def view(self, prefix, u):
        return full_view(self.da, "%s.%s" % (prefix, u))

    def views(self, prefix):
        return {u: self.view(prefix, u) for u in USERS}


def compare_views(want, got):
    """[(user, diff)] between two {user: view}."""
    d = []
    for u in USERS:
        d += [(u, x) for x in view_diffs(want[u], got[u])]
    return d


def show(diffs, n=6):
    return ["%s: %s" % (u, format_diff(x)) for u, x in diffs[:n]]


# ---------------------------------------------------------------- 1. unpack trials

def full_trials(fmt, n, full, views, clean_tmpl, ref):
    """n trials of FULL unpacked to fmt and killed."""
    tmpl = os.path.join(WORK, "trial-" + fmt, "%d", "%n", fmt)
    top = os.path.join(WORK, "trial-" + fmt)
    argv = unpack_args(tmpl, full, fmt)

    def fresh():
        shutil.rmtree(top, ignore_errors=True)
        os.makedirs(top)
        chown_all(top)
    fresh()
    t0 = time.time()
    r = run(argv)
    clean_secs = time.time() - t0
    assert r[0] == 0, r[2]
    counts = syscall_counts(argv, fresh) if STRACE else {}
    if views is not None:
        views.add("trial-" + fmt, tmpl, fmt)
    kinds = {"none": 0, "some": 0, "all": 0}
    for i in range(n):
        fresh()
        how = choose_how(i, counts, clean_secs)
        where = interrupted(argv, how, clean_secs)
        probs = []      # (text, known bug or None)
        present = 0
        in_place = set()
        for u in USERS:
            root = expand(tmpl, u)
            if not os.path.lexists(root):
                continue
            present += 1
            in_place.add(u)
            got = listing(root)
            if got != ref["listing"][u]:
                missing = sorted(set(ref["listing"][u]) - set(got))[:4]
                extra = sorted(set(got) - set(ref["listing"][u]))[:4]
                probs.append(("%s is present but not complete (missing %s, extra %s)"
                              % (u, missing, extra), None))
        kinds["none" if present == 0 else "all" if present == len(USERS) else "some"] += 1
        rc, so, se = run(argv)
        if rc != 0:
            probs.append(("the rerun exits %d: %s" % (rc, se.strip()[:300]), None))
        st = stages_below(top)
        if st:
            probs.append(("staging directories left: %s" % st[:3], None))
        rootdirs = root_owned(top)
        if rootdirs:
            probs.append(("directories left to root after the rerun: %s" % rootdirs[:3],
                          None))
        if views is not None and rc == 0:
            views.da.complaints[:] = []
            try:
                for s_ in show(compare_views(ref["views"], views.views("trial-" + fmt))):
                    probs.append((s_, None))
            except dvlib.DovecotError as e:
                probs.append(("Dovecot cannot read the store after the rerun: %s"
                              % str(e)[-300:], None))
        sieve_probs = [u for u in USERS if sieve_of(os.path.dirname(expand(tmpl, u)))
                       != ref["sieve"][u]]
        if sieve_probs:
            # the exact symptom: a store that was in place after the kill, its Sieve
            # files missing or cut short
            probs.append(("Sieve scripts missing or different for %s: %s"
                          % (sieve_probs, [sieve_of(os.path.dirname(expand(tmpl, u)))
                                           for u in sieve_probs]), None))
        bugs = {b for _, b in probs}
        todo = "; ".join(sorted(bugs)) if probs and None not in bugs else None
        tap.ok(not probs, "%s trial %d (%s, %d of %d users present): each user absent or "
               "complete; the rerun exits 0 and equals the clean run" %
               (fmt, i + 1, where, present, len(USERS)), "\n".join(p for p, _ in probs),
               todo=todo)
    tap.diag("%s: killed with no user in place %d times, some %d, all %d"
             % (fmt, kinds["none"], kinds["some"], kinds["all"]))


def sieve_window(full, fmt, ref):
    """Killed right after the first user's store is moved into place."""
    if not STRACE:
        tap.skip("strace is not installed (it holds the process after the rename)")
        return
    top = os.path.join(WORK, "sieve-window")
    shutil.rmtree(top, ignore_errors=True)
    os.makedirs(top)
    chown_all(top)
    tmpl = os.path.join(top, "%d", "%n", fmt)
    argv = unpack_args(tmpl, full, fmt)
    p = subprocess.Popen([STRACE, "-f", "-qq", "-o", "/dev/null", "-e",
                          "trace=rename,renameat,renameat2", "-e",
                          "inject=rename,renameat,renameat2:delay_exit=3000000:when=1"] + argv,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    first = None
    t0 = time.time()
    while time.time() - t0 < 20 and first is None:
        for u in USERS:
            if os.path.exists(os.path.join(expand(tmpl, u), "mailferry-state")):
                first = u
        time.sleep(0.02)
    os.killpg(p.pid, signal.SIGKILL)      # strace and mailferry, held in the rename
    p.wait()
    if first is None:
        tap.ok(False, "a user's store was moved into place under strace", "none appeared")
        return
    before = sieve_of(os.path.dirname(expand(tmpl, first)))
    rc, so, se = run([a for a in argv if a != "-q"])
    after = sieve_of(os.path.dirname(expand(tmpl, first)))
    tap.ok(rc == 0 and after == ref["sieve"][first],
           "killed after %s's store was moved into place (its Sieve scripts: %s): the rerun "
           "writes them" % (first, sorted(before) or "none"),
           "exit %d, Sieve files after the rerun: %s, want %s\n%s"
           % (rc, after, ref["sieve"][first], se.strip()[:400]))


def delta_trials(n, d1, views, dref, fmt):
    """n trials of D1 applied in place to copies of the live-ish target pre_dir. Each
    problem found is paired with the known bug whose exact symptom it is (or None); the
    trial is a TODO only when every problem has one."""
    pre_dir, ref_views = dref["pre"], dref["views"]
    post_guids, pre_guids = dref["post_guids"], dref["pre_guids"]
    top = os.path.join(WORK, "trial-delta-" + fmt)
    tmpl = os.path.join(top, "%d", "%n", fmt)
    argv = unpack_args(tmpl, d1, fmt)
    login = "trial-delta-" + fmt

    def fresh():
        shutil.rmtree(top, ignore_errors=True)
        subprocess.run(["cp", "-a", pre_dir, top], check=True)
    fresh()
    t0 = time.time()
    r = run(argv)
    clean_secs = time.time() - t0
    assert r[0] == 0, r[2]
    counts = syscall_counts(argv, fresh) if STRACE else {}
    if views is not None:
        views.add(login, tmpl, fmt)
    clean_sieve = dref["clean_sieve"]
    temp_files = [0]
    for i in range(n):
        fresh()
        how = choose_how(i, counts, clean_secs)
        where = interrupted(argv, how, clean_secs)
        probs = []      # (text, known bug or None)
        if views is not None and i % 2 == 0:
            # a live server looks at the store between the kill and the rerun
            views.da.complaints[:] = []
            mid = None
            try:
                mid = views.views(login)
            except dvlib.DovecotError as e:
                probs.append(("Dovecot cannot read the interrupted store: %s" % str(e)[:300],
                              None))
            for c in views.da.complaints[:2]:
                probs.append(("doveadm complains about the interrupted store: %s" % c[2][:200],
                              None))
            if mid is not None:
                for u in USERS:
                    by_box = {}
                    for (box, uid), row in mid[u]["msgs"].items():
                        by_box.setdefault(box, []).append(row["guid"])
                    for box, guids in by_box.items():
                        dup = sorted({g for g in guids if guids.count(g) > 1})
                        if dup:
                            probs.append(("%s %s holds message %s twice" % (u, box, dup[:2]),
                                          None))
                        alien = sorted(set(guids) - post_guids[u] - pre_guids[u])
                        if alien:
                            probs.append(("%s %s holds messages of neither state: %s"
                                          % (u, box, alien[:2]), None))
        rc, so, se = run(argv)
        if rc != 0:
            probs.append(("the rerun exits %d: %s" % (rc, se.strip()[:300]), None))
        leftovers, temps = [p for p in stages_below(top)], []
        for root, dirs, files in os.walk(top):
            leftovers += [os.path.join(root, x) for x in dirs + files
                          if x.startswith(".mailferry-")]
            temps += [x for x in files if x.startswith(".temp.") and x.endswith(".mailferry")]
        if leftovers:
            probs.append(("temporary files left: %s" % leftovers[:3], None))
        if temps:
            temp_files[0] += len(temps)
        rootdirs = root_owned(top)
        if rootdirs:
            probs.append(("directories left to root after the rerun: %s" % rootdirs[:3],
                          None))
        if views is not None and rc == 0:
            views.da.complaints[:] = []
            got = None
            diffs = []
            try:
                got = views.views(login)
                diffs = compare_views(ref_views, got)
            except dvlib.DovecotError as e:
                probs.append(("Dovecot cannot read the store after the rerun: %s"
                              % str(e)[:300], None))
            for s_ in show(diffs):
                probs.append((s_, None))
            for c in list(views.da.complaints)[:2]:
                probs.append(("doveadm: %s" % c[2][:200], None))
        if rc == 0:
            sv = [u for u in USERS if sieve_of(os.path.dirname(expand(tmpl, u))) !=
                  clean_sieve[u]]
            if sv:
                probs.append(("Sieve files differ from the clean run for %s" % sv, None))
        bugs = {b for _, b in probs}
        todo = "; ".join(sorted(bugs)) if probs and None not in bugs else None
        tap.ok(not probs, "%s delta trial %d (%s%s): the rerun exits 0 and equals the clean "
               "apply" % (fmt, i + 1, where, ", Dovecot read it meanwhile" if i % 2 == 0 and
                          views else ""), "\n".join(p for p, _ in probs), todo=todo)
    if temp_files[0]:
        tap.diag("delta: %d .temp.*.mailferry files of killed runs were left in dbox-Mails "
                 "directories after the reruns (Dovecot removes .temp. files older than 36 h)"
                 % temp_files[0])


def root_owned(top):
    """Directories below top owned by root (an interrupted mkdir before its chown)."""
    if not ROOT:
        return []
    out = []
    for root, dirs, files in os.walk(top):
        out += [os.path.join(root, d) for d in dirs
                if os.lstat(os.path.join(root, d)).st_uid == 0]
    return out


# ---------------------------------------------------------------- 2. pack trials

def pack_trials(n, src):
    out = os.path.join(WORK, "packout", "a.mfa")
    os.makedirs(os.path.dirname(out))
    argv = [MAILFERRY, "pack", "-q", "-s", KEY, "-o", out, "--save-index",
            os.path.join(WORK, "packout", "a.mfi"), "--users", src.users_file]

    def fresh():
        shutil.rmtree(os.path.dirname(out))
        os.makedirs(os.path.dirname(out))
    t0 = time.time()
    rc, so, se = run(argv)
    clean_secs = time.time() - t0
    assert rc == 0, se
    counts = syscall_counts(argv, fresh) if STRACE else {}
    for i in range(n):
        fresh()
        how = choose_how(i, counts, clean_secs)
        where = interrupted(argv, how, clean_secs)
        probs = []
        names = sorted(os.listdir(os.path.dirname(out)))
        if os.path.exists(out):
            vr, vo, ve = mf(["verify", "-q", "-p", PUB, out])
            if vr != 0:
                probs.append("%s exists after the kill and does not verify: %s"
                             % (out, ve.strip()))
        odd = [x for x in names if x not in ("a.mfa", "a.mfi") and ".partial-" not in x]
        if odd:
            probs.append("unexpected files: %s" % odd)
        rc, so, se = run(argv)
        if rc != 0:
            probs.append("the rerun exits %d: %s" % (rc, se.strip()))
        else:
            vr, vo, ve = mf(["verify", "-q", "-p", PUB, out])
            if vr != 0:
                probs.append("the rerun's archive does not verify: %s" % ve.strip())
        tap.ok(not probs, "pack trial %d (%s; left: %s): no incomplete archive under the "
               "output name, the rerun verifies" % (i + 1, where, names or "nothing"),
               "\n".join(probs))


# ---------------------------------------------------------------- 3. full disk

class Tmpfs:
    def __init__(self, path, size, inodes=None):
        self.path = path
        os.makedirs(path, exist_ok=True)
        opts = "size=%s,mode=0755" % size + (",nr_inodes=%d" % inodes if inodes else "")
        subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "mferry-faults", path], check=True)

    def grow(self, size, inodes=None):
        opts = "remount,size=%s" % size + (",nr_inodes=%d" % inodes if inodes else "")
        subprocess.run(["mount", "-o", opts, self.path], check=True)

    def close(self):
        subprocess.run(["umount", "-l", self.path])


def full_disk(src, full, d1, views, ref, ref_delta_views, pre_dir):
    if not ROOT:
        tap.skip("full disk: needs root (a small tmpfs)", 13)
        return
    mounts = []
    try:
        # pack: output on a full tmpfs
        fs = Tmpfs(os.path.join(WORK, "small-pack"), "200k")
        mounts.append(fs)
        out = os.path.join(fs.path, "a.mfa")
        rc, so, se = mf(["pack", "-q", "-s", KEY, "-o", out, "--users", src.users_file])
        left = os.listdir(fs.path)
        e = error_lines(se)
        tap.ok(rc == 3 and len(e) == 1 and ": io: " in e[0] and "No space" in se and not left,
               "pack onto a full disk: exit 3, one io line (no space), nothing left in the "
               "output directory", "exit %d, left %s\n%s" % (rc, left, se.strip()))
        fs.grow("64m")
        rc, so, se = mf(["pack", "-q", "-s", KEY, "-o", out, "--users", src.users_file])
        vr = mf(["verify", "-q", "-p", PUB, out])[0] if rc == 0 else None
        tap.ok(rc == 0 and vr == 0, "after the disk is grown, the pack succeeds and verifies",
               se)
        # unpack: target on a full tmpfs (bytes, then inodes)
        for label, size, inodes in (("bytes", "1200k", None), ("inodes", "64m", 60)):
            fs = Tmpfs(os.path.join(WORK, "small-" + label), size, inodes)
            mounts.append(fs)
            chown_all(fs.path)
            for fmt in ("sdbox", "mdbox"):
                os.makedirs(os.path.join(fs.path, fmt))
                chown_all(os.path.join(fs.path, fmt))
            for fmt in ("sdbox", "mdbox"):
                top = os.path.join(fs.path, fmt)
                tmpl = os.path.join(top, "%d", "%n", fmt)
                rc, so, se = run(unpack_args(tmpl, full, fmt))
                e = error_lines(se)
                probs = []
                if rc != 3 or len(e) != 1 or ": io: " not in e[0]:
                    probs.append("exit %d, error lines %s" % (rc, e))
                for u in USERS:
                    root = expand(tmpl, u)
                    if os.path.lexists(root) and listing(root) != ref[fmt]["listing"][u]:
                        probs.append("%s partly present" % u)
                if stages_below(top):
                    probs.append("staging directories left: %s" % stages_below(top)[:2])
                present = sum(os.path.exists(expand(tmpl, u)) for u in USERS)
                tap.ok(not probs, "unpack %s onto a disk out of %s: one io line, each user "
                       "absent or complete (%d present), no staging directory"
                       % (fmt, label, present), "\n".join(probs + [se.strip()[:300]]))
            fs.grow("256m", 100000 if inodes else None)
            for fmt in ("sdbox", "mdbox"):
                tmpl = os.path.join(fs.path, fmt, "%d", "%n", fmt)
                rc, so, se = run(unpack_args(tmpl, full, fmt))
                probs = [] if rc == 0 else ["exit %d: %s" % (rc, se.strip()[:300])]
                if views is not None and rc == 0:
                    prefix = "disk-%s-%s" % (label, fmt)
                    views.add(prefix, tmpl, fmt)
                    probs += show(compare_views(ref[fmt]["views"], views.views(prefix)))
                tap.ok(not probs, "unpack %s after the disk is grown (%s): exit 0, equals the "
                       "clean run" % (fmt, label), "\n".join(probs))
        # no inode left for the user's own directory
        fs = Tmpfs(os.path.join(WORK, "small-userdir"), "1m", 3)
        mounts.append(fs)
        os.makedirs(os.path.join(fs.path, "t"))       # the root and t: 2 of 3 inodes
        chown_all(os.path.join(fs.path, "t"))
        rc, so, se = run(unpack_args(os.path.join(fs.path, "t", "%d", "%n", "sdbox"), full,
                                     "sdbox"))
        e = error_lines(se)
        tap.ok(rc == 3 and len(e) == 1 and ": io: " in e[0] and "No space left" in e[0],
               "unpack when no inode is left for the user's directory: exit 3, one io line "
               "(no space left)", "exit %d\n%s" % (rc, se.strip()[:600]))
        # delta applied in place on a disk that fills up
        fs = Tmpfs(os.path.join(WORK, "small-delta"), "64m")
        mounts.append(fs)
        top = os.path.join(fs.path, "t")
        subprocess.run(["cp", "-a", pre_dir, top], check=True)
        used = int(subprocess.run(["du", "-sk", top], stdout=subprocess.PIPE).stdout.split()[0])
        fs.grow("%dk" % (used + 120))
        tmpl = os.path.join(top, "%d", "%n", "sdbox")
        rc, so, se = run(unpack_args(tmpl, d1, "sdbox"))
        e = error_lines(se)
        tap.ok(rc == 3 and len(e) == 1 and ": io: " in e[0],
               "delta applied in place on a disk that fills up: exit 3, one io line",
               "exit %d\n%s" % (rc, se.strip()[:400]))
        fs.grow("64m")
        rc, so, se = run(unpack_args(tmpl, d1, "sdbox"))
        probs = [] if rc == 0 else ["exit %d: %s" % (rc, se.strip()[:300])]
        if views is not None and rc == 0:
            views.add("disk-delta", tmpl, "sdbox")
            views.da.complaints[:] = []
            try:
                got = views.views("disk-delta")
                probs += show(compare_views(ref_delta_views, got))
            except dvlib.DovecotError as e:
                probs.append("Dovecot cannot read the store: %s" % str(e)[-300:])
        tap.ok(not probs, "the delta again after the disk is grown: exit 0, equals the clean "
               "apply", "\n".join(probs))
    finally:
        for m in mounts:
            m.close()


# ---------------------------------------------------------------- 4. unreadable sources

def unreadable():
    top = os.path.join(WORK, "unreadable")
    md = os.path.join(top, "u", "Maildir")
    r = random.Random(SEED + 1)
    write_folder(md, 1700000001, [(i, "17000000%02d.M%dP1.src" % (i, i), "S",
                                   message(r, "u@x", i), 1700000000 + i) for i in range(1, 6)])
    write_folder(os.path.join(md, ".Work"), 1700000002,
                 [(1, "1700000100.M1P2.src", "", message(r, "u@x", 100), 1700000100)])
    write_folder(os.path.join(md, ".Meta"), 1700000003,
                 [(1, "1700000200.M1P3.src", "", message(r, "u@x", 200), 1700000200)])
    key = os.path.join(top, "k.key")
    shutil.copy(KEY, key)
    bad = os.path.join(md, "cur", "1700000003.M3P1.src:2,S")
    os.chmod(bad, 0)
    os.chmod(top, 0o755)
    outdir = os.path.join(top, "out")
    os.makedirs(outdir)
    if ROOT:
        dvlib.chown_tree(top)
        pre = ["setpriv", "--reuid=%d" % dvlib.MAIL_UID, "--regid=%d" % dvlib.MAIL_GID,
               "--clear-groups"]
    else:
        pre = []
    out = os.path.join(outdir, "a.mfa")
    base = pre + [MAILFERRY, "pack", "-q", "--json", "-s", key, "-o", out]
    rc, so, se = run(base + ["u@x=" + md])
    e = error_lines(se)
    tap.ok(rc == 3 and len(e) == 1 and ": io: " in e[0] and "Permission denied" in e[0] and
           os.path.basename(bad) in e[0] and not os.listdir(outdir),
           "a message file chmod 000 (pack as uid %d): exit 3, one io line naming it, no "
           "archive" % (dvlib.MAIL_UID if ROOT else os.getuid()),
           "exit %d, left %s\n%s" % (rc, os.listdir(outdir), se.strip()))
    rc, so, se = run(base + ["--skip-unreadable", "u@x=" + md])
    try:
        summ = json.loads(so)
    except ValueError:
        summ = {}
    items = [x.get("path", "") for x in summ.get("skipped_items", [])]
    vr, vo, ve = mf(["verify", "-q", "-p", PUB, out]) if os.path.exists(out) else (None, "", "")
    tap.ok(rc == 1 and any(os.path.basename(bad) in p for p in items) and vr == 0 and
           summ.get("messages") == 6 and summ.get("skipped", {}).get("unreadable") == 1,
           "--skip-unreadable: exit 1, the file in the JSON summary, 6 of 7 messages, the "
           "archive verifies", "exit %d, verify %s, summary %s\n%s" % (rc, vr, so[:500], se))
    # an unreadable folder, and a folder whose dovecot-uidlist is unreadable
    os.chmod(bad, 0o600)
    os.chmod(os.path.join(md, ".Work", "cur"), 0)
    os.chmod(os.path.join(md, ".Meta", "dovecot-uidlist"), 0)
    os.unlink(out)
    rc, so, se = run(base + ["u@x=" + md])
    e = error_lines(se)
    tap.ok(rc == 3 and len(e) == 1 and ": io: " in e[0] and not os.path.exists(out),
           "an unreadable folder and an unreadable dovecot-uidlist: exit 3, one io line, no "
           "archive", "exit %d\n%s" % (rc, se.strip()))
    rc, so, se = run(base + ["--skip-unreadable", "u@x=" + md])
    try:
        summ = json.loads(so)
    except ValueError:
        summ = {}
    items = " ".join(x.get("path", "") + " " + x.get("reason", "")
                     for x in summ.get("skipped_items", []))
    vr = mf(["verify", "-q", "-p", PUB, out])[0] if os.path.exists(out) else None
    tap.ok(rc == 1 and "Work" in items and "Meta" in items and vr == 0 and
           summ.get("messages") == 5,
           "--skip-unreadable: both folders listed in the JSON summary, the 5 INBOX "
           "messages packed, the archive verifies",
           "exit %d, verify %s, summary %s\n%s" % (rc, vr, so[:600], se))
    os.chmod(os.path.join(md, ".Work", "cur"), 0o755)


# ---------------------------------------------------------------- main

def live_target(fmt, full, d1, views, dv):
    """FULL unpacked to fmt, then Dovecot delivers two messages into each INBOX (taking
    the UIDs D1's new messages have) and flags one; and D1 applied to a copy of it."""
    pre = os.path.join(WORK, "pre-delta-" + fmt)
    os.makedirs(pre)
    chown_all(pre)
    ptmpl = os.path.join(pre, "%d", "%n", fmt)
    rc, so, se = run(unpack_args(ptmpl, full, fmt))
    assert rc == 0, se
    out = {"pre": pre, "pre_guids": {}, "post_guids": {}, "views": None}
    if views is not None:
        import live
        views.add("pre-" + fmt, ptmpl, fmt)
        for u in USERS:
            for k in range(2):
                live.save(dv, "pre-%s.%s" % (fmt, u), "INBOX",
                          live.make_message("faults-" + u, k))
            views.da.run(["flags", "add", "\\Flagged", "mailbox", "INBOX", "uid", "2"],
                         "pre-%s.%s" % (fmt, u), fmt=None)
        pv = views.views("pre-" + fmt)
        out["pre_guids"] = {u: {r["guid"] for r in pv[u]["msgs"].values()} for u in USERS}
    clean = os.path.join(WORK, "clean-delta-" + fmt)
    subprocess.run(["cp", "-a", pre, clean], check=True)
    ctmpl = os.path.join(clean, "%d", "%n", fmt)
    rc, so, se = run(unpack_args(ctmpl, d1, fmt))
    tap.ok(rc == 0, "the clean apply of D1 to the live-ish %s target" % fmt, se)
    out["clean_sieve"] = {u: sieve_of(os.path.dirname(expand(ctmpl, u))) for u in USERS}
    if views is not None:
        views.add("clean-delta-" + fmt, ctmpl, fmt)
        out["views"] = views.views("clean-delta-" + fmt)
        out["post_guids"] = {u: {r["guid"] for r in out["views"][u]["msgs"].values()}
                             for u in USERS}
    return out


def window(label, d1, views, dref, line_re, call, after):
    """D1 applied to a copy of the live-ish sdbox target and killed at a chosen point of
    a clean run's system calls: the first `call` at (after=False) or after (after=True)
    the first line of its strace that matches line_re. Then the rerun must finish and
    equal the clean apply."""
    if not STRACE:
        tap.skip("strace is not installed (it picks the system call)")
        return
    top = os.path.join(WORK, "window")
    tmpl = os.path.join(top, "%d", "%n", "sdbox")
    argv = unpack_args(tmpl, d1, "sdbox")

    def fresh():
        shutil.rmtree(top, ignore_errors=True)
        subprocess.run(["cp", "-a", dref["pre"], top], check=True)
    fresh()
    trace = os.path.join(WORK, "window.trace")
    subprocess.run([STRACE, "-f", "-qq", "-o", trace] + argv, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    with open(trace) as f:
        lines = f.read().split("\n")
    first = next(i for i, ln in enumerate(lines) if re.search(line_re, ln))
    at = next(i for i in range(first + (1 if after else 0), len(lines))
              if re.search(r"\b%s\(" % call, lines[i]))
    k = sum(1 for ln in lines[:at] if re.search(r"\b%s\(" % call, ln)) + 1
    fresh()
    where = interrupted(argv, ("call", call, k), 0)
    m = re.search(r'"([^"]+)"', lines[first])
    rc, so, se = run(argv)
    probs = [] if rc == 0 else ["the rerun exits %d: %s" % (rc, se.strip()[:300])]
    if views is not None and rc == 0:
        views.add("window-%d" % tap.n, tmpl, "sdbox")
        probs += show(compare_views(dref["views"], views.views("window-%d" % tap.n)))
    tap.ok(not probs, "D1 %s (%s, %s): the rerun finishes and equals the clean apply"
           % (label, m.group(1) if m else "", where), "\n".join(probs))


def main():
    src = Source(os.path.join(WORK, "src"))
    full = os.path.join(WORK, "full.mfa")
    rc, so, se = mf(["pack", "-q", "-s", KEY, "-o", full, "--users", src.users_file])
    if not tap.ok(rc == 0, "FULL packed from the seeded source (%d users)" % len(USERS), se):
        return
    src.change()
    d1 = os.path.join(WORK, "d1.mfa")
    rc, so, se = mf(["pack", "-q", "-s", KEY, "-o", d1, "--base", full, "--users",
                     src.users_file])
    if not tap.ok(rc == 0, "D1 packed against FULL", se):
        return
    dv = None
    views = None
    if dvlib.unavailable_reason() is None:
        dv = dvlib.Dovecot(workdir=os.path.join(WORK, "dovecot"))
        dv.start()
        views = Views(dv)
    else:
        tap.diag("no Dovecot (%s): trials compare file listings only"
                 % dvlib.unavailable_reason())
    try:
        ref = {}
        for fmt in ("sdbox", "mdbox"):
            top = os.path.join(WORK, "clean-" + fmt)
            os.makedirs(top)
            chown_all(top)
            tmpl = os.path.join(top, "%d", "%n", fmt)
            rc, so, se = run(unpack_args(tmpl, full, fmt))
            assert rc == 0, se
            ref[fmt] = {"listing": {u: listing(expand(tmpl, u)) for u in USERS},
                        "sieve": {u: sieve_of(os.path.dirname(expand(tmpl, u)))
                                  for u in USERS}}
            if views is not None:
                views.add("clean-" + fmt, tmpl, fmt)
                ref[fmt]["views"] = views.views("clean-" + fmt)
        tap.ok(all(ref["sdbox"]["sieve"][u] for u in USERS),
               "the clean unpack writes every user's Sieve script", ref["sdbox"]["sieve"])
        # the live-ish targets for D1: FULL, then deliveries and a flag change by Dovecot
        dref = {fmt: live_target(fmt, full, d1, views, dv) for fmt in ("sdbox", "mdbox")}
        full_trials("sdbox", 22, full, views, None, ref["sdbox"])
        full_trials("mdbox", 16, full, views, None, ref["mdbox"])
        delta_trials(16, d1, views, dref["sdbox"], "sdbox")
        delta_trials(8, d1, views, dref["mdbox"], "mdbox")
        sieve_window(full, "sdbox", ref["sdbox"])
        window("killed after a new message was linked to u.N, before the log append", d1,
               views, dref["sdbox"], r'\blinkat\(.*"u\.\d+"', "write", True)
        window("killed after its expunges, before it writes the subscriptions", d1, views,
               dref["sdbox"], r'openat\(.*"subscriptions\.lock"', "openat", False)
        pack_trials(10, src)
        full_disk(src, full, d1, views, ref, dref["sdbox"]["views"], dref["sdbox"]["pre"])
        unreadable()
    finally:
        if dv is not None:
            dv.stop()


if __name__ == "__main__":
    dvlib.exit_on_signals()
    try:
        main()
    except Exception:
        import traceback
        tap.ok(False, "faults.t ran to the end", traceback.format_exc())
    finally:
        if not os.environ.get("KEEP"):
            shutil.rmtree(WORK, ignore_errors=True)
        else:
            tap.diag("kept " + WORK)
    tap.done()
