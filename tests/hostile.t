#!/usr/bin/env python3
# hostile.t: hostile archives and hostile target trees.
#
# 1. Archives built by tests/tools/mfforge.py (an independent writer that
#    follows spec/FORMAT.md and signs with spec/vectors/test.key through
#    `minisign -S`, so every damage is behind a valid signature) or by
#    mailferry pack, each given to `mailferry unpack -q`:
#    tar members with `..`, absolute paths, symbolic and hard links, devices,
#    FIFOs, directories, duplicate names, huge declared sizes, huge pax and GNU
#    long-name headers (sparse files); user names with `..`, `/`, NUL, control
#    characters, an empty local part, overlong names, names that collide after
#    case folding (%Ln) or after the template drops the domain (%n); mailbox
#    names with `..`, `.`, `/`, `dbox-Mails`, NUL, control characters, too
#    many or too long parts, names that collide after separator translation;
#    Sieve names with `..` and `/`; message GUIDs and POP3 UIDLs with newlines
#    (dbox metadata lines); index counts that lie (HEADER, USER_END,
#    MAILBOX_END, END, the frame count, message bytes); blob references past a
#    frame, to a missing frame, a blob whose content does not match its id, a
#    wrong message hash; decompression bombs (a frame expanding past its
#    declared size, a declared size of 1 TiB, a window above 2^22, an index
#    segment above 16 MiB, a 4 MiB frame decoded once per 1-byte reference);
#    a replayed manifest and signature of another archive; a delta of another
#    chain, a delta with a wrong base hash, a delta alone, an old delta.
#    Each: the exit code of the spec's class, exactly one error line
#    `mailferry unpack: <class>: ...`, nothing written outside the target root
#    (every file outside it compared byte for byte), no file and no staging
#    directory under the root for a refused archive, peak RSS (wait4) below
#    256 MB and a time limit.
# 2. Hostile target trees (stores made by pack/unpack from a small Maildir
#    source, then a delta): the per-user store, the per-user directory of the
#    template, a planted staging name, `sieve` and `.dovecot.sieve` in the
#    home, and the --home directory are symbolic links to a decoy /etc or to
#    another user's store; for a delta: `mailboxes`, a mailbox directory,
#    `dbox-Mails`, `storage` (mdbox), `subscriptions`, a message file,
#    `dovecot.list.index.log`, `mailferry-state.tmp` are links. Unpack refuses
#    (one error line) or goes on without them (a note); the decoy and the
#    other store stay identical byte for byte, and so does the real /etc.
#
# About 25 s on 2 cores. Known mailferry bugs are marked `# TODO BUG-...`,
# attached only when exactly their symptom shows; MF_STRICT=1 makes them fail.
import hashlib
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "dovecot"))
sys.path.insert(0, os.path.join(HERE, "tools"))
import dvlib  # noqa: E402
import mfforge as F  # noqa: E402

TESTS, MF_SRC, MAILFERRY = dvlib.test_paths(__file__)
tap = dvlib.Tap()
ROOT = os.geteuid() == 0
RSS_MAX_MB = 256
CLASSES = {"usage": 2, "io": 3, "memory": 3, "corrupt": 4, "signature": 5, "chain": 6,
           "target": 7}


WORK = tempfile.mkdtemp(prefix="mfhostile.")
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
OWNER = ["--owner", "%d:%d" % (dvlib.MAIL_UID, dvlib.MAIL_GID)] if ROOT else []


# ---------------------------------------------------------------- running mailferry

class Res:
    pass


def run_cmd(argv, timeout=30, stdin_path=None):
    """Runs argv with stdout/stderr captured; Res with rc (None on timeout), out, err,
    lines (non-empty stderr lines), rss_mb (peak RSS from wait4), secs, timed_out."""
    r = Res()
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
        fin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        t0 = time.time()
        p = subprocess.Popen(argv, stdout=fo, stderr=fe, stdin=fin)
        if stdin_path:
            fin.close()
        r.timed_out = False
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.time() - t0 > timeout:
                os.kill(p.pid, signal.SIGKILL)
                pid, status, ru = os.wait4(p.pid, 0)
                r.timed_out = True
                break
            time.sleep(0.003)
        p.returncode = os.waitstatus_to_exitcode(status)
        r.secs = time.time() - t0
        r.rc = None if r.timed_out else p.returncode
        r.rss_mb = ru.ru_maxrss / 1024.0
        fo.seek(0)
        fe.seek(0)
        r.out = fo.read().decode("utf-8", "replace")
        r.err = fe.read().decode("utf-8", "replace")
    r.lines = [ln for ln in r.err.split("\n") if ln.strip()]
    return r


def mf(args, **kw):
    return run_cmd([MAILFERRY] + args, **kw)


def unpack(archives, tmpl, extra=(), quiet=True, **kw):
    args = ["unpack"] + (["-q"] if quiet else []) + ["-p", PUB, "--to", tmpl] + OWNER
    return mf(args + list(extra) + list(archives), **kw)


def tree_state(top, skip=()):
    """{path relative to top: (type, mode, uid, gid, size, content digest or link)}."""
    out = {}
    if not os.path.lexists(top):
        return out
    for root, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in skip]
        for n in dirs + files:
            p = os.path.join(root, n)
            if p in skip:
                continue
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
                                            0 if stat.S_ISDIR(st.st_mode) else st.st_size, extra)
    return out


def tree_diff(a, b, limit=6):
    out = []
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            out.append("%s: %s -> %s" % (k, a.get(k), b.get(k)))
    return out[:limit]


def etc_state():
    """The real /etc, top level: names, types, sizes, digests of regular files."""
    out = {}
    for n in sorted(os.listdir("/etc")):
        p = os.path.join("/etc", n)
        try:
            st = os.lstat(p)
        except OSError:
            continue
        d = ""
        if stat.S_ISREG(st.st_mode) and st.st_size < (1 << 20):
            try:
                with open(p, "rb") as f:
                    d = hashlib.sha256(f.read()).hexdigest()[:16]
            except OSError:
                d = "unreadable"
        out[n] = (stat.S_IFMT(st.st_mode), st.st_size, d)
    return out


def files_below(top):
    """Regular files, links and staging directories below top."""
    out = []
    for root, dirs, files in os.walk(top):
        for n in dirs + files:
            p = os.path.join(root, n)
            if "mailferry-stage" in n or not os.path.isdir(p) or os.path.islink(p):
                out.append(os.path.relpath(p, top))
    return out


# ---------------------------------------------------------------- the decoys

DECOY = os.path.join(WORK, "decoy-etc")     # what a link to /etc would reach
os.makedirs(os.path.join(DECOY, "ssl"))
for n in ("passwd", "hostname", "ssl/openssl.cnf"):
    src = os.path.join("/etc", n)
    with open(os.path.join(DECOY, n), "wb") as f:
        f.write(open(src, "rb").read() if os.path.exists(src) else b"decoy %s\n" % n.encode())
ETC_BEFORE = etc_state()

CASES = os.path.join(WORK, "t")
ARCH = os.path.join(WORK, "arch")
os.makedirs(CASES)
os.makedirs(ARCH)
case_no = [0]


def new_case():
    """A fresh case directory: <case>/root is the target root, <case>/outside a sentinel."""
    case_no[0] += 1
    c = os.path.join(CASES, "%03d" % case_no[0])
    os.makedirs(os.path.join(c, "root"))
    os.makedirs(os.path.join(c, "outside"))
    with open(os.path.join(c, "outside", "sentinel"), "w") as f:
        f.write("sentinel\n")
    if ROOT:
        dvlib.chown_tree(os.path.join(c, "root"))
    return c


def outside_state(case):
    return tree_state(WORK, skip={os.path.join(case, "root"), ARCH})


# ---------------------------------------------------------------- hostile archives

def build(a, name):
    p = os.path.join(ARCH, name)
    with open(p, "wb") as f:
        f.write(a.build(KEY, workdir=WORK))
    return p


def basic(user="alice@example.com", n=1):
    a = F.Archive()
    u = a.user(user)
    mb = u.mailbox("", ["INBOX"], inbox=True)
    for i in range(1, n + 1):
        mb.msg(i, b"From: x@example.com\nSubject: message %d\n\nbody %d\n" % (i, i))
    return a, u, mb


def expect_refused(label, archive, classes, regex, tmpl_tail="%d/%n/sdbox", extra=(),
                   timeout=30, bug=None, pre=None):
    """unpack of a hostile archive: the exit code of one of `classes`, exactly one error
    line of that class matching regex, nothing below the root, nothing outside it, RSS and
    time bounded. bug=(reason, predicate(res, below, outside_changed)): the TODO marker when
    the check fails with exactly that symptom."""
    c = new_case()
    if pre:
        pre(c)
    before = outside_state(c)
    res = unpack([archive], os.path.join(c, "root", tmpl_tail), extra=extra, timeout=timeout)
    below = files_below(os.path.join(c, "root"))
    after = outside_state(c)
    probs = []
    codes = {CLASSES[k] for k in classes}
    if res.timed_out:
        probs.append("still running after %d s (killed)" % timeout)
    elif res.rc not in codes:
        probs.append("exit %s, want %s" % (res.rc, "/".join(str(x) for x in sorted(codes))))
    if not res.timed_out:
        cls_re = "|".join(classes)
        if len(res.lines) != 1:
            probs.append("%d stderr lines, want 1" % len(res.lines))
        elif not re.match(r"^mailferry unpack: (%s): " % cls_re, res.lines[0]):
            probs.append("the line is not 'mailferry unpack: <%s>: ...'" % cls_re)
        elif not re.search(regex, res.lines[0]):
            probs.append("the message does not match /%s/" % regex)
    if below:
        probs.append("written below the root: %s" % below[:5])
    if after != before:
        probs.append("changed outside the root: %s" % tree_diff(before, after))
    if res.rss_mb > RSS_MAX_MB:
        probs.append("peak RSS %.0f MB" % res.rss_mb)
    todo = None
    if probs and bug is not None and bug[1](res, below, after != before):
        todo = bug[0]
    tap.ok(not probs, "%s: refused (%s), one line, nothing written, %.0f MB, %.2f s"
           % (label, "/".join(classes), res.rss_mb, res.secs),
           "\n".join(probs + ["stderr: " + res.err.strip()[:600]]), todo=todo)
    return res


def tar_cases():
    def with_tar(label, hook):
        a, u, mb = basic()
        a.tar_hook = hook
        return build(a, label)

    def insert(pos, m):
        def h(ms):
            ms.insert(pos, m)
            return ms
        return h

    def change(name, **kw):
        def h(ms):
            for m in ms:
                if m.name == name:
                    for k, v in kw.items():
                        setattr(m, k, v)
            return ms
        return h
    cases = [
        ("tar member ../../etc/passwd", insert(3, F.Member("../../etc/passwd", b"root::0:0\n")),
         r"unexpected member \.\./\.\./etc/passwd"),
        ("tar member /etc/passwd (absolute)", insert(3, F.Member("/etc/passwd", b"x\n")),
         r"unexpected member /etc/passwd"),
        ("tar member index/../../x", insert(3, F.Member("index/../../x", b"x\n")),
         r"unexpected member"),
        ("symbolic link member", insert(3, F.Member("link", b"", typeflag=b"2",
                                                    linkname="/etc/passwd")),
         r"tar member link is not a regular file"),
        ("index/000001 as a symbolic link", change("index/000001", typeflag=b"2",
                                                   linkname="/etc/passwd", data=b""),
         r"index/000001 is not a regular file"),
        ("packs/000001 as a hard link to FORMAT", change("packs/000001", typeflag=b"1",
                                                         linkname="FORMAT", data=b""),
         r"packs/000001 is not a regular file"),
        ("character device member", insert(3, F.Member("dev/null", b"", typeflag=b"3")),
         r"not a regular file"),
        ("block device member", insert(3, F.Member("sda", b"", typeflag=b"4")),
         r"not a regular file"),
        ("FIFO as packs/000001", change("packs/000001", typeflag=b"6", data=b""),
         r"packs/000001 is not a regular file"),
        ("directory member", insert(3, F.Member("index/", b"", typeflag=b"5")),
         r"not a regular file"),
        ("index/000001 twice", lambda ms: ms[:4] + [ms[3]] + ms[4:],
         r"member index/000001 appears twice"),
        ("FORMAT twice", lambda ms: ms[:1] + [ms[0]] + ms[1:], r"MANIFEST missing|twice"),
        ("MANIFEST.minisig twice", lambda ms: ms[:3] + [ms[2]] + ms[3:],
         r"appears twice|unexpected"),
        ("packs/000001 declares 1 TiB", change("packs/000001", size=1 << 40),
         r"packs/000001 is 1099511627776 bytes, the manifest says"),
        ("MANIFEST declares 1 TiB", change("MANIFEST", size=1 << 40),
         r"MANIFEST is 1099511627776 bytes, more than"),
        ("FORMAT declares 8 GiB", change("FORMAT", size=8 << 30),
         r"FORMAT is \d+ bytes, more than|truncated|damaged"),
        ("pax size=2^50 for a pack", change("packs/000001", pax={"size": str(1 << 50)}),
         r"packs/000001 is 1125899906842624 bytes"),
        ("pax path=../../x for a pack", change("packs/000001", pax={"path": "../../x"}),
         r"unexpected member \.\./\.\./x"),
        ("pax path=/etc/shadow for the index", change("index/000001",
                                                      pax={"path": "/etc/shadow"}),
         r"unexpected member /etc/shadow"),
    ]
    for label, hook, regex in cases:
        expect_refused(label, with_tar(label.replace("/", "_").replace(" ", "_"), hook),
                       ["corrupt"], regex)
    # special headers that declare huge sizes, as sparse files
    for tf, what in ((b"x", "pax extended header"), (b"L", "GNU long-name header")):
        a, u, mb = basic()
        big = 1 << 30
        hdr = F.tar_header("big", big, tf)
        a.tar_hook = insert(1, F.Member("big", b"", raw_header=hdr))
        data = a.build(KEY, workdir=WORK)
        i = data.index(hdr) + 512
        p = os.path.join(ARCH, "sparse-%s.mfa" % tf.decode())
        with open(p, "wb") as f:
            f.write(data[:i])
            f.seek(i + big)
            f.write(data[i:])
        expect_refused("%s of 1 GiB (sparse)" % what, p, ["corrupt"],
                       r"too large|damaged|truncated|MANIFEST missing")
        os.unlink(p)


def name_cases():
    # user names
    for label, name, tail, classes, regex, *bug in [
        ("user name with '/' and '..'", "../../../outside/x@example.com", "%u/sdbox",
         ["corrupt", "target"], r"cannot name a directory|\.\."),
        ("user name '..' as the local part (%n)", "..@example.com", "%d/%n/sdbox",
         ["corrupt", "target"], r"\.\."),
        ("domain '..' (%d)", "alice@..", "%d/%n/sdbox", ["corrupt", "target"], r"\.\."),
        ("user name '.' (%u)", ".", "%u/sdbox", ["corrupt", "target"], r"directory|\."),
        ("empty local part (%n)", "@example.com", "%d/%n/sdbox", ["corrupt", "target"],
         r"empty"),
        ("empty domain (%d)", "alice@", "%d/%n/sdbox", ["corrupt", "target"],
         r"empty"),
        ("user name with NUL", "alice\0@example.com", "%d/%n/sdbox", ["corrupt"],
         r"user name"),
        ("user name with an escape sequence", "alice\x1b[31m@example.com", "%d/%n/sdbox",
         ["corrupt"], r"user name is not printable"),
        ("user name with a newline", "alice\n@example.com", "%d/%n/sdbox", ["corrupt"],
         r"user name is not printable"),
        ("user name with a DEL and C1 control", "al\x7fice\xc2\x85@example.com".encode(
            "latin-1").decode("utf-8", "surrogateescape"), "%d/%n/sdbox", ["corrupt"],
         r"user name is not printable"),
        ("user name of 256 bytes", "a" * 244 + "@example.com", "%d/%n/sdbox", ["corrupt"],
         r"user name|field out of range"),
        ("user name not UTF-8", b"al\xffice@example.com".decode("utf-8", "surrogateescape"),
         "%d/%n/sdbox", ["corrupt"], r"not printable"),
    ]:
        a, u, mb = basic(name)
        expect_refused(label, build(a, "user-%d.mfa" % case_no[0]), classes, regex,
                       tmpl_tail=tail, bug=bug[0] if bug else None)
    # a user name of 255 bytes as the final directory (%u): written, or refused clearly
    n = "a" * 243 + "@example.com"
    a, u, mb = basic(n)
    c = new_case()
    before = outside_state(c)
    res = unpack([build(a, "longuser.mfa")], os.path.join(c, "root", "%u"))
    ok = (res.rc == 0 and os.path.exists(os.path.join(c, "root", n, "mailferry-state"))) or \
        (res.rc in (3, 7) and len(res.lines) == 1 and not files_below(os.path.join(c, "root")))
    tap.ok(ok and outside_state(c) == before,
           "a 255-byte user name as the final directory: written, or one clear error and "
           "nothing written (exit %s: %s)" % (res.rc, res.err.strip()[:160]), res.err)
    # mailbox names
    for label, comps, stored, classes, regex in [
        ("mailbox name part with NUL", ["a\0b"], ".ab", ["corrupt"], r"not printable"),
        ("mailbox name part with an escape", ["a\x1bb"], ".ab", ["corrupt"], r"not printable"),
        ("mailbox name part with TAB", ["a\tb"], ".ab", ["corrupt"], r"not printable"),
        ("mailbox name part of 256 bytes", ["x" * 256], ".x", ["corrupt"],
         r"mailbox name components|field out of range"),
        ("65 mailbox name parts", ["p"] * 65, ".p", ["corrupt"], r"components"),
        ("mailbox name part of 255 bytes that mUTF-7 makes longer", ["\u00e9" * 127], ".e",
         ["target", "corrupt"], r"longer than 255"),
        ("empty mailbox name part", ["a", ""], ".a.", ["corrupt"], r"empty"),
    ]:
        a, u, mb = basic()
        u.mailbox(stored, comps).msg(1, b"Subject: x\n\nx\n")
        expect_refused(label, build(a, "mbox-%d.mfa" % case_no[0]), classes, regex)
    # names that are translated: written inside the store, with a note, none lost
    a, u, mb = basic()
    names = [(".a", ["a/b"]), (".a_b", ["a_b"]), (".b", [".."]), (".c", ["dbox-Mails"]),
             (".d", ["x", "."]), (".e", ["..", ".."]), (".f", ["~root"])]
    for st, comps in names:
        u.mailbox(st, comps).msg(1, b"Subject: %s\n\nx\n" % st.encode())
    arch = build(a, "translated.mfa")
    c = new_case()
    before = outside_state(c)
    res = unpack([arch], os.path.join(c, "root", "%d/%n/sdbox"), quiet=False)
    store = os.path.join(c, "root", "example.com", "alice", "sdbox")
    boxes = []
    for r_, ds, fs in os.walk(os.path.join(store, "mailboxes")):
        if "dbox-Mails" in ds:
            boxes.append(os.path.relpath(r_, os.path.join(store, "mailboxes")))
    escaped = [b for b in boxes if ".." in b.split("/") or "." in b.split("/")]
    tap.ok(res.rc == 0 and len(boxes) == len(names) + 1 and not escaped and
           outside_state(c) == before and "named" in res.err,
           "mailbox names with '/', '..', '.', 'dbox-Mails', '~' and a collision after "
           "translation: %d distinct mailboxes inside the store, a note per rename"
           % len(boxes), "exit %s, boxes %s\n%s" % (res.rc, sorted(boxes), res.err))
    # INBOX and a folder "inbox"
    a, u, mb = basic()
    u.mailbox(".inbox", ["inbox"]).msg(1, b"Subject: x\n\nx\n")
    expect_refused("INBOX and a folder named 'inbox'", build(a, "inbox2.mfa"),
                   ["corrupt", "target"], r"two mailboxes named INBOX")
    # stored name with NUL (spec 2: no string has a NUL byte)
    a, u, mb = basic()
    u.mailbox(".a\0../../x", ["ax"]).msg(1, b"Subject: x\n\nx\n")
    expect_refused("MAILBOX stored name with NUL", build(a, "stored-nul.mfa"), ["corrupt"],
                   r"mailbox|string|NUL")
    # keyword with control characters
    a, u, mb = basic()
    mb.keywords = ["$Label1", "bad\x07kw"]
    expect_refused("keyword with a control character", build(a, "kw.mfa"), ["corrupt"],
                   r"keyword 1 .*not printable")
    # Sieve names with .. and /: skipped with a note, nothing outside
    a, u, mb = basic()
    u.extra(1, "../../../../outside/evil.sieve", b"keep;\n")
    u.extra(1, "..", b"keep;\n")
    u.extra(2, "", target="../../../../outside/evil.sieve")
    u.extra(3, "../../../../outside/evil.file", b"x\n")
    arch = build(a, "sieve-names.mfa")
    c = new_case()
    before = outside_state(c)
    res = unpack([arch], os.path.join(c, "root", "%d/%n/sdbox"), quiet=False)
    home = os.path.join(c, "root", "example.com", "alice")
    tap.ok(res.rc == 1 and outside_state(c) == before and
           not os.path.exists(os.path.join(home, "sieve")) and
           not os.path.lexists(os.path.join(home, ".dovecot.sieve")) and
           res.err.count("unusable name") == 3,
           "Sieve names '../..', '..' and an active link to '../..': skipped with a note "
           "each, exit 1, nothing outside the store",
           "exit %s\n%s" % (res.rc, res.err))
    # GUID and UIDL with newlines: refused, or not written as metadata lines
    for label, field, value in [
            ("POP3 UIDL with newlines (forged G and B lines)", "uidl", "x\nGforged\nBffff"),
            ("message GUID with an empty line inside", "guid", "g1\n\nJUNK"),
            ("message GUID with a CR", "guid", "g1\rX")]:
        a, u, mb = basic()
        setattr(mb.msgs[0], field, value)
        arch = build(a, "meta-%d.mfa" % case_no[0])
        c = new_case()
        before = outside_state(c)
        res = unpack([arch], os.path.join(c, "root", "%d/%n/sdbox"))
        u1 = os.path.join(c, "root", "example.com", "alice", "sdbox", "mailboxes", "INBOX",
                          "dbox-Mails", "u.1")
        injected = False
        if os.path.exists(u1):
            with open(u1, "rb") as f:
                meta = f.read().split(b"\n\x01\x03\n", 1)[-1]
            injected = value.encode() in meta
        good = (res.rc == 4 and len(res.lines) == 1 and "corrupt" in res.lines[0]) or \
            (res.rc == 0 and not injected)
        tap.ok(good and outside_state(c) == before,
               "%s: refused as corrupt, or kept out of the dbox metadata lines" % label,
               "exit %s, written verbatim into u.1's metadata: %s\n%s"
               % (res.rc, injected, res.err))


def collide_cases():
    # users that the template maps to one directory
    for label, names, tail in [
            ("users Bob@ and bob@ with %Ln", ["Bob@example.com", "bob@example.com"],
             "%Ld/%Ln/sdbox"),
            ("users bob@a and bob@b with %n only", ["bob@a.example", "bob@b.example"],
             "%n/sdbox")]:
        a = F.Archive()
        for n in names:
            u = a.user(n)
            u.mailbox("", ["INBOX"], inbox=True).msg(1, ("Subject: %s\n\nx\n" % n).encode())
        arch = build(a, "collide-%d.mfa" % case_no[0])
        c = new_case()
        before = outside_state(c)
        res = unpack([arch], os.path.join(c, "root", tail))
        clear = res.rc in (2, 7) and len(res.lines) == 1 and \
            all(n in res.lines[0] for n in names)
        tap.ok(clear and not files_below(os.path.join(c, "root")) and
               outside_state(c) == before,
               "%s: refused before writing, naming both users" % label,
               "exit %s: %s" % (res.rc, res.err.strip()))
    # the same with 70 users between them (the first is committed in an earlier batch)
    a = F.Archive()
    names = sorted(["Bob@example.com", "bob@example.com"] +
                   ["a%02d@example.com" % i for i in range(70)])    # between B and b
    for n in names:
        a.user(n).mailbox("", ["INBOX"], inbox=True).msg(1, ("Subject: %s\n\nx\n" % n).encode())
    arch = build(a, "collide-far.mfa")
    c = new_case()
    res = unpack([arch], os.path.join(c, "root", "%Ld/%Ln/sdbox"), quiet=False)
    tap.ok(res.rc not in (0, 1) or "already holds" not in res.err,
           "users Bob@ and bob@ with %Ln, 70 users apart: not silently skipped as 'already "
           "holds this archive'", "exit %s: %s" % (res.rc, "\n".join(
               ln for ln in res.lines if "bob" in ln.lower())))


def index_cases():
    def lie(label, regex, archive_fn, bug=None):
        a = archive_fn()
        expect_refused(label, build(a, "lie-%d.mfa" % case_no[0]), ["corrupt"], regex, bug=bug)

    for field, val in [("users", 5), ("mailboxes", 0), ("messages", 9), ("extras", 3),
                       ("refs", 1)]:
        def fn(field=field, val=val):
            a, u, mb = basic()
            a.header_over = {field: val}
            return a
        lie("HEADER %s lies (%d)" % (field, val), r"header counts do not match", fn)

    def packs_lie():
        a, u, mb = basic()
        a.header_over = {"packs": 2}
        return a
    lie("HEADER packs lies", r"header says 2 packs", packs_lie)

    def frames_lie():
        a, u, mb = basic()
        a.header_over = {"frames": 1 << 30}

        def mh(ms):
            ms[-1].size = 1 << 30      # the manifest declares the pack 1 GiB
            return ms
        a.members_hook = mh
        return a
    lie("HEADER frames lies (2^30, the manifest declares a 1 GiB pack)",
        r"frame", frames_lie)

    def frames_lie2():
        a, u, mb = basic(n=3)
        a.header_over = {"frames": 5}
        return a
    lie("HEADER frames lies (5, pack records list 1)", r"frames|frame count", frames_lie2)

    def bytes_lie():
        a, u, mb = basic()
        a.header_over = {"message_bytes": 123456789}
        return a
    lie("HEADER message bytes lies", r"bytes|count", bytes_lie)

    def mbend():
        a, u, mb = basic(n=2)
        mb.end_count_over = 5
        return a
    lie("MAILBOX_END count lies", r"5 messages announced, 2 present", mbend)

    def uend():
        a, u, mb = basic(n=2)
        u.end_over = (1, 3, 0)
        return a
    lie("USER_END counts lie", r"counts do not match its records", uend)

    def end():
        a, u, mb = basic()
        a.records_hook = lambda recs: recs[:-1] + [(F.END, F.uv(99))]
        return a
    lie("END count lies", r"END says 99 records", end)

    def no_end():
        a, u, mb = basic()
        a.records_hook = lambda recs: recs[:-1]
        return a
    lie("index without END", r"END", no_end)

    def refcount():
        a, u, mb = basic()
        mb.msgs[0].pieces = [mb.msgs[0].data]       # one blob: one reference

        def rh(recs):
            out = []
            for t, p in recs:
                if t == F.MESSAGE:
                    # the one reference takes the last 37 bytes (flags, id, length,
                    # location, frame, offset); its count (1) before them grows to 1000
                    assert p[-38] == 1 and p[-37] == 1
                    p = p[:-38] + F.uv(1000) + p[-37:]
                out.append((t, p))
            return out
        a.records_hook = rh
        return a
    lie("blob reference count larger than the record", r"reference count larger than the record",
        refcount)

    def pack_nframes():
        a, u, mb = basic()

        def rh(recs):
            return [(t, F.uv(1) + F.uv(900000) + p[2:]) if t == F.PACK else (t, p)
                    for t, p in recs]
        a.records_hook = rh
        return a
    lie("PACK frame count lies (900000)", r"frame count|PACK|record", pack_nframes)

    def uid_order():
        a, u, mb = basic(n=2)
        mb.msgs.reverse()
        return a
    lie("message UIDs not ascending", r"UIDs not ascending", uid_order)

    def uid_next():
        a, u, mb = basic(n=2)
        mb._uidnext = 2
        return a
    lie("message UID at UIDNEXT", r"not below the mailbox's UIDNEXT", uid_next)

    def users_order():
        a = F.Archive()
        for n in ("bob@example.com", "alice@example.com"):
            a.user(n).mailbox("", ["INBOX"], inbox=True).msg(1, b"Subject: x\n\nx\n")
        return a
    lie("users out of order", r"out of order or repeated", users_order)

    def users_twice():
        a = F.Archive()
        for n in ("bob@example.com", "bob@example.com"):
            a.user(n).mailbox("", ["INBOX"], inbox=True).msg(1, b"Subject: x\n\nx\n")
        return a
    lie("the same user twice", r"out of order or repeated", users_twice)


def ref_cases():
    def refs(label, regex, fn, classes=("corrupt",)):
        a = fn()
        expect_refused(label, build(a, "ref-%d.mfa" % case_no[0]), list(classes), regex)

    def past():
        a, u, mb = basic()
        mb.msgs[0].refs_over = lambda rs: [dict(r, offset=r["offset"] + 1000) for r in rs]
        return a
    refs("blob reference past the end of its frame", r"past the end of frame 0", past)

    def missing():
        a, u, mb = basic()
        mb.msgs[0].refs_over = lambda rs: [dict(r, frame=7) for r in rs]
        return a
    refs("blob reference to a missing frame", r"frame 7, but the archive has 1", missing)

    def twice():
        a, u, mb = basic()

        def rh(recs):
            out = []
            for t, p in recs:
                if t == F.PACK:
                    ent = p[2:]
                    p = F.uv(1) + F.uv(2) + ent + ent
                out.append((t, p))
            return out
        a.records_hook = rh
        return a
    refs("a frame listed twice", r"frame 0 listed twice|frames", twice)

    def past_pack():
        a, u, mb = basic()

        def fh(frames):
            frames[0].rsize = len(frames[0].content) + 100
        a.frames_hook = fh
        mb.msgs[0].refs_over = lambda rs: [dict(r, offset=r["offset"] + 90) for r in rs]
        return a
    refs("frame declared larger than its zstd content (ref inside the lie)",
         r"holds \d+ bytes, the index says|frame", past_pack)

    def mismatch():
        a, u, mb = basic()

        def fh(frames):
            f = frames[0]
            f.content[3] ^= 1
            f.cdata = F.zstd_frame(bytes(f.content))
        a.frames_hook = fh
        return a
    refs("a blob whose content does not match its id", r"blob in frame 0 does not match its id",
         mismatch)

    def msghash():
        a, u, mb = basic()
        mb.msgs[0].hash_over = b"\x01" * 32
        return a
    refs("a message hash that does not match", r"does not match its hash", msghash)

    def size():
        a, u, mb = basic()
        mb.msgs[0].size_over = len(mb.msgs[0].data) + 1
        mb.msgs[0].vsize_over = 1000
        return a
    refs("message size larger than its blobs", r"blob lengths add up to", size)

    def zero():
        a, u, mb = basic()
        mb.msgs[0].refs_over = lambda rs: rs + [dict(rs[0], len=0)]
        return a
    refs("an empty blob reference", r"field out of range|empty|blob", zero)

    def chain_in_full():
        a, u, mb = basic()
        mb.msgs[0].refs_over = lambda rs: [dict(r, loc=2, guid=b"\0" * 16, uid=1)
                                           for r in rs]
        return a
    refs("a chain reference in a full archive", r"base chain outside a delta", chain_in_full)

    def extra_mismatch():
        a, u, mb = basic()
        u.extra(1, "main.sieve", b"keep;\n")

        def fh(frames):
            f = frames[0]
            i = bytes(f.content).index(b"keep;")
            f.content[i] ^= 1
            f.cdata = F.zstd_frame(bytes(f.content))
        a.frames_hook = fh
        return a
    refs("a Sieve script whose blob does not match its id", r"does not match its id",
         extra_mismatch)


def bomb_cases():
    def bomb(label, regex, hook, kind="frames", timeout=30, bug=None):
        a, u, mb = basic()
        if kind == "frames":
            a.frames_hook = hook
        else:
            a.members_hook = hook
        expect_refused(label, build(a, "bomb-%d.mfa" % case_no[0]), ["corrupt"], regex,
                       timeout=timeout, bug=bug)

    def more(frames):
        f = frames[0]
        f.cdata = F.zstd_frame(b"", fcs=len(f.content),
                               blocks=[("raw", bytes(f.content))] + [("rle", 65, 1 << 17)] * 3000)
    bomb("frame that expands 400 MB past its declared size (RLE blocks)",
         r"does not decode|Destination buffer", more)

    def fcs(frames):
        frames[0].cdata = F.zstd_frame(bytes(frames[0].content), fcs=1 << 40)
    bomb("frame that declares 1 TiB", r"zstd frame holds 1099511627776 bytes", fcs)

    def window(frames):
        frames[0].cdata = F.zstd_frame(bytes(frames[0].content), window_log=23)
    bomb("frame whose window is 2^23 (limit 2^22)", r"window|memory|frame", window)

    def two(frames):
        f = frames[0]
        f.cdata = F.zstd_frame(bytes(f.content)) + F.zstd_frame(b"x")
        f.rsize = len(f.content)
    bomb("two zstd frames where one is declared", r"frame length|frame", two)

    def skippable(frames):
        f = frames[0]
        f.cdata = b"\x50\x2a\x4d\x18" + (4).to_bytes(4, "little") + b"abcd" + \
            F.zstd_frame(bytes(f.content))
    bomb("a skippable frame before the content", r"frame|declare", skippable)

    def idx_big(ms):
        ms[1].data = F.zeros_frame((16 << 20) + 1)
        return ms
    bomb("index segment that declares 16 MiB + 1", r"more than the limit 16777216", idx_big,
         kind="members")

    def idx_zero(ms):
        ms[1].data = F.zeros_frame(16 << 20)
        return ms
    bomb("index segment of 16 MiB of zeros", r"unknown record type|record", idx_zero,
         kind="members")

    def idx_unsized(ms):
        ms[1].data = F.zstd_frame(b"", no_fcs=True, blocks=[("raw", ms[1].raw)])
        return ms
    bomb("index segment without a declared size", r"does not declare its size|frame",
         idx_unsized, kind="members")

    # the frame cache: 16 frames of 4 MiB zeros (128 bytes each compressed), one message
    # of 65536 one-byte references cycling over them
    a = F.Archive()
    mb = a.user("alice@example.com").mailbox("", ["INBOX"], inbox=True)
    n_frames, n_refs = 16, 65536
    m = mb.msg(1, b"\0" * n_refs)
    m.pieces = [b"\0"] * n_refs

    def cycle(rs):
        return [dict(r, flags=0, frame=i % n_frames, offset=(i * 7919) % (4 << 20))
                for i, r in enumerate(rs)]
    m.refs_over = cycle

    def zeros(frames):
        frames[:] = []
        for i in range(n_frames):
            f = F.Frame(i)
            f.cdata = F.zeros_frame(4 << 20)
            f.rsize = 4 << 20
            frames.append(f)
    a.frames_hook = zeros
    arch = build(a, "thrash.mfa")
    c = new_case()
    res = unpack([arch], os.path.join(c, "root", "%d/%n/sdbox"), timeout=6)
    tap.ok(not res.timed_out and res.rc == 0 and res.rss_mb < RSS_MAX_MB,
           "a %d KB archive whose one 64 KiB message has %d one-byte references over %d "
           "frames of 4 MiB: unpacked in under 6 s (%.1f s, %.0f MB)"
           % (os.path.getsize(arch) // 1024, n_refs, n_frames, res.secs, res.rss_mb),
           "exit %s, timed out %s: %s" % (res.rc, res.timed_out, res.err.strip()[:300]))


# ---------------------------------------------------------------- Maildir sources, chains

def uidlist(path, uidvalidity, names, nextuid):
    with open(os.path.join(path, "dovecot-uidlist"), "w") as f:
        f.write("3 V%d N%d G%s\n" % (uidvalidity, nextuid,
                                     hashlib.md5(path.encode()).hexdigest()))
        for uid, n in names:
            f.write("%d :%s\n" % (uid, n))


def write_maildir(maildir, folders, subs=("INBOX",)):
    """folders: {"" or ".Name": (uidvalidity, [(uid, base, flags, data)])}"""
    for folder, (uv_, msgs) in folders.items():
        d = os.path.join(maildir, folder) if folder else maildir
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        for n in os.listdir(os.path.join(d, "cur")):
            os.unlink(os.path.join(d, "cur", n))
        for uid, base, flags, data in msgs:
            p = os.path.join(d, "cur", base + ":2," + flags)
            with open(p, "wb") as f:
                f.write(data)
            os.utime(p, (1700000000 + uid * 60, 1700000000 + uid * 60))
        uidlist(d, uv_, [(uid, base) for uid, base, _, _ in msgs],
                max([u for u, _, _, _ in msgs] + [0]) + 1)
    with open(os.path.join(maildir, "subscriptions"), "w") as f:
        f.write("".join(s + "\n" for s in subs))


def msgdata(i, who):
    return ("From: sender%d@example.org\nTo: %s\nSubject: message %d\nMessage-ID: <%d.%s@t>\n\n"
            "Body of message %d for %s.\n" % (i, who, i, i, who, i, who)).encode()


def make_chain(base):
    """A source of users alice and bob, FULL, then D1 (new messages, a flag change, an
    expunge, a new mailbox, a changed Sieve script, a subscription). Returns paths."""
    src = os.path.join(base, "src")
    users = os.path.join(base, "users")
    os.makedirs(src)
    with open(users, "w") as uf:
        for who in ("alice", "bob"):
            home = os.path.join(src, who)
            md = os.path.join(home, "Maildir")
            write_maildir(md, {
                "": (1700000100, [(i, "17000000%02d.M%dP1.src" % (i, i), "S" if i < 3 else "",
                                   msgdata(i, who)) for i in range(1, 5)]),
                ".Work": (1700000200, [(1, "1700000050.M1P2.src", "", msgdata(50, who))])})
            os.makedirs(os.path.join(home, "sieve"))
            with open(os.path.join(home, "sieve", "main.sieve"), "w") as f:
                f.write("keep;\n")
            os.symlink("sieve/main.sieve", os.path.join(home, ".dovecot.sieve"))
            uf.write("%s@example.com\t%s\n" % (who, md))
    full = os.path.join(ARCH, "chain-full.mfa")
    r = mf(["pack", "-q", "-s", KEY, "-o", full, "--users", users])
    assert r.rc == 0, r.err
    for who in ("alice", "bob"):
        home = os.path.join(src, who)
        md = os.path.join(home, "Maildir")
        write_maildir(md, {
            "": (1700000100, [(i, "17000000%02d.M%dP1.src" % (i, i),
                               "SF" if i == 1 else ("S" if i < 3 else ""), msgdata(i, who))
                              for i in range(1, 7) if i != 3]),
            ".Work": (1700000200, [(1, "1700000050.M1P2.src", "", msgdata(50, who)),
                                   (2, "1700000051.M1P2.src", "S", msgdata(51, who))]),
            ".New": (1700000300, [(1, "1700000070.M1P3.src", "", msgdata(70, who))])},
            subs=("INBOX", "New"))
        with open(os.path.join(home, "sieve", "main.sieve"), "w") as f:
            f.write("discard;\n")
    d1 = os.path.join(ARCH, "chain-d1.mfa")
    r = mf(["pack", "-q", "-s", KEY, "-o", d1, "--base", full, "--users", users])
    assert r.rc == 0, r.err
    # another chain from the same source: FULL2, and D1 of FULL2
    full2 = os.path.join(ARCH, "chain2-full.mfa")
    r = mf(["pack", "-q", "-s", KEY, "-o", full2, "--users", users])
    assert r.rc == 0, r.err
    for who in ("alice", "bob"):
        p = os.path.join(src, who, "Maildir", "cur", "1700000099.M9P9.src:2,")
        with open(p, "wb") as f:
            f.write(msgdata(99, who))
        os.utime(p, (1700009999, 1700009999))
    d2other = os.path.join(ARCH, "chain2-d1.mfa")
    r = mf(["pack", "-q", "-s", KEY, "-o", d2other, "--base", full2, "--users", users])
    assert r.rc == 0, r.err
    d2 = os.path.join(ARCH, "chain-d2.mfa")
    r = mf(["pack", "-q", "-s", KEY, "-o", d2, "--base", full, "--base", d1, "--users", users])
    assert r.rc == 0, r.err
    return full, d1, d2, full2, d2other


def replay_cases(full, d1, d2, full2, d2other):
    tmpl = "%d/%n/sdbox"
    # manifest and signature of FULL2 in FULL's tar
    mem = {n: d for n, _, d in F.read_tar(open(full2, "rb").read())}
    items = F.read_tar(open(full, "rb").read())
    out = [F.Member(n, mem[n] if n in ("MANIFEST", "MANIFEST.minisig") else d)
           for n, _, d in items]
    rp = os.path.join(ARCH, "replay.mfa")
    with open(rp, "wb") as f:
        f.write(F.tar_bytes(out))
    expect_refused("manifest and signature of another archive (replay)", rp, ["corrupt"],
                   r"does not match its digest|size|manifest says")
    # only the signature of another archive
    out = [F.Member(n, mem[n] if n == "MANIFEST.minisig" else d) for n, _, d in items]
    with open(rp, "wb") as f:
        f.write(F.tar_bytes(out))
    expect_refused("signature of another archive", rp, ["signature"],
                   r"does not match the manifest|signature")

    def with_target(archives_first):
        def pre(c):
            r = unpack(archives_first, os.path.join(c, "root", tmpl))
            assert r.rc == 0, r.err
        return pre

    def chain_case(label, first, archives, classes, regex, bug=None):
        c = new_case()
        if first:
            r = unpack(first, os.path.join(c, "root", tmpl))
            assert r.rc == 0, r.err
        before = tree_state(os.path.join(c, "root"))
        out_before = outside_state(c)
        res = unpack(archives, os.path.join(c, "root", tmpl))
        after = tree_state(os.path.join(c, "root"))
        probs = []
        if res.rc not in {CLASSES[k] for k in classes}:
            probs.append("exit %s" % res.rc)
        if len(res.lines) != 1 or not re.match(r"^mailferry unpack: (%s): " % "|".join(classes),
                                               res.lines[0]) or \
                not re.search(regex, res.lines[0]):
            probs.append("message: %s" % res.err.strip())
        if after != before:
            probs.append("target changed: %s" % tree_diff(before, after))
        if outside_state(c) != out_before:
            probs.append("changed outside the root")
        tap.ok(not probs, "%s: refused (%s), one line, the target as it was" %
               (label, "/".join(classes)), "\n".join(probs),
               todo=bug[0] if probs and bug and bug[1](res) else None)
    chain_case("a delta of another chain onto FULL's target", [full], [d2other], ["chain"],
               r"holds archive [0-9a-f]{32}, but this delta \([0-9a-f]{32}\) applies to")
    chain_case("FULL then a delta of another chain, on one command line", None, [full, d2other],
               ["chain"], r"is not a delta of")
    chain_case("a delta alone onto an empty target", None, [d1], ["chain"],
               r"no store on the target|unpack the chain from its full archive")
    chain_case("the old delta D1 onto a target at D2", [full, d1, d2], [d1], ["chain"],
               r"holds archive|applies to")
    chain_case("the full archive onto a target at D1", [full, d1], [full], ["target"],
               r"already holds a store from archive")
    # a delta whose base names FULL's id with another manifest hash (signed)
    fm = [d for n, _, d in F.read_tar(open(full, "rb").read()) if n == "MANIFEST"][0]
    fid = bytes.fromhex(re.search(rb"archive ([0-9a-f]{32})", fm).group(1).decode())
    a = F.Archive(kind="delta", chain=1, base=(fid, b"\x00" * 32))
    u = a.user("alice@example.com")
    mb = u.mailbox("", ["INBOX"], inbox=True)
    mb.delta = (0, "", 1700000100, 5)
    a.header_over = {}
    forged = build(a, "forged-base.mfa")
    chain_case("a delta naming FULL's id with another manifest hash", [full], [forged],
               ["chain"], r"holds archive|applies to|not a delta|manifest")
    chain_case("FULL, then that delta, on one command line", None, [full, forged], ["chain"],
               r"is not a delta of")


# ---------------------------------------------------------------- hostile targets

def target_cases(full, d1):
    tmpl_tail = "%d/%n/sdbox"

    def check(label, c, res, victims, expect_rc, regex=None, bug=None, allow_error=True,
              extra_ok=True, extra_diag=""):
        """victims: {path: tree_state before}; expect_rc: the allowed exit codes."""
        probs = []
        for p, st in victims.items():
            now = tree_state(p)
            if now != st:
                probs.append("%s changed: %s" % (p, tree_diff(st, now)))
        if res.rc not in expect_rc:
            probs.append("exit %s, want %s" % (res.rc, sorted(expect_rc)))
        errs = [ln for ln in res.lines if re.match(r"^mailferry unpack: [a-z]+: ", ln)]
        if res.rc not in (0, 1) and len(errs) != 1:
            probs.append("%d error lines" % len(errs))
        if regex and not re.search(regex, res.err):
            probs.append("no message matching /%s/" % regex)
        if not extra_ok:
            probs.append(extra_diag)
        todo = None
        if probs and bug is not None and bug[1](res):
            todo = bug[0]
        tap.ok(not probs, label, "\n".join(probs + ["stderr: " + res.err.strip()[:500]]),
               todo=todo)

    def victim_store():
        """another user's store: a copy of alice's as FULL made it"""
        v = os.path.join(WORK, "victim-%d" % case_no[0])
        r = unpack([full], os.path.join(v, "%d/%n/sdbox"), extra=["--users",
                                                                  "alice@example.com"])
        assert r.rc == 0, r.err
        return os.path.join(v, "example.com", "alice")

    # -- full unpack into a tree with planted links
    c = new_case()
    home = os.path.join(c, "root", "example.com", "alice")
    os.makedirs(home)
    os.symlink(DECOY, os.path.join(home, "sdbox"))
    vic = {DECOY: tree_state(DECOY)}
    res = unpack([full], os.path.join(c, "root", tmpl_tail), quiet=False)
    check("full unpack: the user's store is a link to /etc (decoy): refused, nothing "
          "written through it", c, res, vic, {7}, r"symbolic link")

    c = new_case()
    vh = victim_store()
    os.makedirs(os.path.join(c, "root", "example.com"))
    os.symlink(vh, os.path.join(c, "root", "example.com", "alice"))
    vic = {os.path.dirname(vh): tree_state(os.path.dirname(vh))}
    res = unpack([full], os.path.join(c, "root", tmpl_tail), quiet=False)
    check("full unpack: the template's per-user directory is a link to another user's "
          "home: refused, that store untouched", c, res, vic, {7}, r"symbolic link")

    c = new_case()
    home = os.path.join(c, "root", "example.com", "alice")
    os.makedirs(home)
    os.symlink(DECOY, os.path.join(home, "sieve"))
    os.symlink(os.path.join(DECOY, "passwd"), os.path.join(home, ".dovecot.sieve"))
    vic = {DECOY: tree_state(DECOY)}
    res = unpack([full], os.path.join(c, "root", tmpl_tail), quiet=False)
    check("full unpack: 'sieve' and '.dovecot.sieve' in the home are links into /etc "
          "(decoy): store written, Sieve skipped with a note, nothing through the links",
          c, res, vic, {1}, r"sieve directory|\.dovecot\.sieve exists")

    c = new_case()
    home = os.path.join(c, "root", "example.com", "alice")
    os.makedirs(home)
    os.symlink(DECOY, os.path.join(home, ".sdbox.mailferry-stage.1.deadbeef"))
    vic = {DECOY: tree_state(DECOY)}
    res = unpack([full], os.path.join(c, "root", tmpl_tail), quiet=False)
    check("full unpack: a planted staging name linked to /etc (decoy): the link removed, "
          "nothing followed", c, res, vic, {0},
          extra_ok=not os.path.lexists(os.path.join(home, ".sdbox.mailferry-stage.1.deadbeef")),
          extra_diag="the planted link is still there")

    c = new_case()
    homes = os.path.join(c, "homes")
    os.makedirs(homes)
    os.symlink(DECOY, os.path.join(homes, "alice"))
    vic = {DECOY: tree_state(DECOY)}
    res = unpack([full], os.path.join(c, "root", tmpl_tail), quiet=False,
                 extra=["--home", os.path.join(homes, "%n")])
    check("full unpack --home: the user's home is a link to /etc (decoy): nothing written "
          "through it", c, res, vic, {0, 1, 7})
    shutil.rmtree(os.path.join(DECOY, "sieve"), ignore_errors=True)
    if os.path.lexists(os.path.join(DECOY, ".dovecot.sieve")):
        os.unlink(os.path.join(DECOY, ".dovecot.sieve"))

    # -- a delta onto an existing store with planted links
    def delta_case(label, plant, expect_rc, regex=None, fmt="sdbox", bug=None, after=None):
        c = new_case()
        tail = "%d/%n/" + fmt
        r = unpack([full], os.path.join(c, "root", tail), extra=["--format", fmt])
        assert r.rc == 0, r.err
        home = os.path.join(c, "root", "example.com", "alice")
        store = os.path.join(home, fmt)
        vics = plant(home, store)
        vic = {p: tree_state(p) for p in vics}
        res = unpack([d1], os.path.join(c, "root", tail), extra=["--format", fmt], quiet=False)
        extra_ok, diag = True, ""
        if after is not None:
            extra_ok, diag = after(home, store, res)
        check("delta onto %s: %s" % (fmt, label), c, res, vic, expect_rc, regex, bug=bug,
              extra_ok=extra_ok, extra_diag=diag)

    def mailboxes_link(home, store):
        v = victim_store()
        shutil.rmtree(os.path.join(store, "mailboxes"))
        os.symlink(os.path.join(v, "sdbox", "mailboxes"), os.path.join(store, "mailboxes"))
        return [os.path.dirname(v)]
    delta_case("'mailboxes' is a link to another user's mailboxes: refused, that store "
               "untouched", mailboxes_link, {3, 7}, r"mailboxes|link|directory")

    def inbox_link(home, store):
        v = victim_store()
        inbox = os.path.join(store, "mailboxes", "INBOX")
        shutil.rmtree(inbox)
        os.symlink(os.path.join(v, "sdbox", "mailboxes", "INBOX"), inbox)
        return [os.path.dirname(v)]
    delta_case("mailboxes/INBOX is a link to another user's INBOX: refused, that store "
               "untouched", inbox_link, {3, 7}, r"INBOX|link|directory")

    def dboxmails_link(home, store):
        v = victim_store()
        dm = os.path.join(store, "mailboxes", "INBOX", "dbox-Mails")
        shutil.rmtree(dm)
        os.symlink(os.path.join(v, "sdbox", "mailboxes", "INBOX", "dbox-Mails"), dm)
        return [os.path.dirname(v)]
    delta_case("INBOX/dbox-Mails is a link to another user's: refused, that store untouched",
               dboxmails_link, {3, 7}, r"dbox-Mails|INBOX|link|directory")

    def subs_link(home, store):
        os.unlink(os.path.join(store, "subscriptions"))
        os.symlink(os.path.join(DECOY, "passwd"), os.path.join(store, "subscriptions"))
        return [DECOY]
    delta_case("'subscriptions' is a link to /etc/passwd (decoy): the decoy untouched",
               subs_link, {0, 1, 3, 7}, None)

    def msg_link(home, store):
        u = os.path.join(store, "mailboxes", "INBOX", "dbox-Mails", "u.3")
        os.unlink(u)
        os.symlink(os.path.join(DECOY, "passwd"), u)
        return [DECOY]
    delta_case("the message file the delta expunges is a link to /etc/passwd (decoy): the "
               "decoy untouched", msg_link, {0, 1, 3, 4, 7}, None)

    def listlog_link(home, store):
        p = os.path.join(store, "dovecot.list.index.log")
        if os.path.lexists(p):
            os.unlink(p)
        os.symlink(os.path.join(DECOY, "hostname"), p)
        return [DECOY]
    delta_case("dovecot.list.index.log is a link to /etc/hostname (decoy): the decoy "
               "untouched", listlog_link, {0, 1, 3, 7}, None)

    def statetmp_link(home, store):
        os.symlink(os.path.join(DECOY, "passwd"), os.path.join(store, "mailferry-state.tmp"))
        return [DECOY]
    delta_case("mailferry-state.tmp is a link to /etc/passwd (decoy): the decoy untouched",
               statetmp_link, {0, 1}, None)

    def sieve_link(home, store):
        shutil.rmtree(os.path.join(home, "sieve"))
        os.symlink(DECOY, os.path.join(home, "sieve"))
        return [DECOY]
    delta_case("'sieve' in the home is a link to /etc (decoy): Sieve skipped with a note, the "
               "decoy untouched", sieve_link, {1}, r"sieve directory")

    def active_link(home, store):
        os.unlink(os.path.join(home, ".dovecot.sieve"))
        os.symlink(os.path.join(DECOY, "passwd"), os.path.join(home, ".dovecot.sieve"))
        return [DECOY]
    delta_case("'.dovecot.sieve' is a link to /etc/passwd (decoy): the decoy untouched",
               active_link, {0, 1}, None)

    def storage_link(home, store):
        v = os.path.join(WORK, "victim-md-%d" % case_no[0])
        r = unpack([full], os.path.join(v, "%d/%n/mdbox"), extra=["--format", "mdbox",
                                                                  "--users",
                                                                  "alice@example.com"])
        assert r.rc == 0, r.err
        shutil.rmtree(os.path.join(store, "storage"))
        os.symlink(os.path.join(v, "example.com", "alice", "mdbox", "storage"),
                   os.path.join(store, "storage"))
        return [v]
    delta_case("'storage' is a link to another user's mdbox storage: refused, that store "
               "untouched", storage_link, {3, 7}, r"storage|link|directory", fmt="mdbox")

    def userdir_link(home, store):
        v = victim_store()
        real = home + ".real"
        os.rename(home, real)
        os.symlink(v, home)
        return [os.path.dirname(v)]
    delta_case("the template's per-user directory is a link to another user's home: "
               "refused, that store untouched", userdir_link, {6, 7},
               r"symbolic link|not a delta|holds")

    # --home link during a delta
    c = new_case()
    homes = os.path.join(c, "homes")
    os.makedirs(os.path.join(homes, "alice"))
    r = unpack([full], os.path.join(c, "root", tmpl_tail),
               extra=["--home", os.path.join(homes, "%n")])
    assert r.rc in (0, 1), r.err
    shutil.rmtree(os.path.join(homes, "alice"))
    os.symlink(DECOY, os.path.join(homes, "alice"))
    vic = {DECOY: tree_state(DECOY)}
    res = unpack([d1], os.path.join(c, "root", tmpl_tail), quiet=False,
                 extra=["--home", os.path.join(homes, "%n")])
    check("delta --home: the user's home is a link to /etc (decoy): nothing written through "
          "it", c, res, vic, {0, 1, 7})
    shutil.rmtree(os.path.join(DECOY, "sieve"), ignore_errors=True)
    for n in os.listdir(DECOY):
        if n.startswith(".dovecot.sieve"):
            os.unlink(os.path.join(DECOY, n))


# ---------------------------------------------------------------- main

def main():
    r = mf(["verify", "-q", "-p", PUB, build(basic()[0], "plain.mfa")])
    if not tap.ok(r.rc == 0, "an archive written by mfforge verifies (the writer follows "
                  "the spec)", r.err):
        return
    tar_cases()
    name_cases()
    collide_cases()
    index_cases()
    ref_cases()
    bomb_cases()
    chain = make_chain(os.path.join(WORK, "chain"))
    replay_cases(*chain)
    target_cases(chain[0], chain[1])
    now = etc_state()
    tap.ok(now == ETC_BEFORE, "the real /etc is as it was",
           "\n".join(tree_diff(ETC_BEFORE, now)))


if __name__ == "__main__":
    dvlib.exit_on_signals()
    if shutil.which("minisign") is None:
        print("1..0 # SKIP minisign is not installed (it signs the hostile archives)")
        sys.exit(0)
    try:
        main()
    except Exception:
        import traceback
        tap.ok(False, "hostile.t ran to the end", traceback.format_exc())
    finally:
        if not os.environ.get("KEEP"):
            shutil.rmtree(WORK, ignore_errors=True)
        else:
            tap.diag("kept " + WORK)
    tap.done()
