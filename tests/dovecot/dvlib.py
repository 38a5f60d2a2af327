"""dvlib: a throwaway Dovecot for the tests, and the parsing of doveadm's output.

A test starts a private Dovecot master (a standalone configuration:
absolute paths in a temporary directory, no system users, IMAP on a free
loopback port, mail owned by uid/gid 5000), adds users
to its passwd-file with a per-user `userdb_mail=` location, asks doveadm what
Dovecot sees, and stops the master again:

    import dvlib
    dvlib.require_or_skip_all()            # TAP "1..0 # SKIP" unless root + Dovecot
    with dvlib.Dovecot() as dv:
        dv.add_user("alice@example.com", "/path/to/alice")       # maildir:~/Maildir
        rows = dv.fetch("alice@example.com", ["mailbox", "uid", "flags"])
        st = dv.status("alice@example.com", ["uidvalidity", "uidnext"])

Dovecot drops to the mail uid to read the Maildirs, so they must be owned by
it (chown_tree) and every directory above them must be searchable by it
(make_traversable). Nothing here needs a system user for that uid.

Also here, for the Python TAP tests: Tap (ok/skip/diag/done, `# TODO` markers
for known bugs, MF_STRICT=1 to make them fail), test_paths (MAILFERRY and
MF_SRC as tests/lib.sh finds them), run (a subprocess that gets SIGTERM before
SIGKILL), check_content (an `ls --json` message against the file it came from:
blob ids, size, message hash per spec/FORMAT.md 7) and exit_on_signals.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref

MAIL_UID = 5000
MAIL_GID = 5000


class DovecotError(Exception):
    pass


def unavailable_reason():
    """Why a Dovecot cannot be started here, or None if it can."""
    if os.geteuid() != 0:
        return "needs root (a private Dovecot runs the mail as uid %d)" % MAIL_UID
    for prog in ("dovecot", "doveadm"):
        if shutil.which(prog) is None and not os.path.exists("/usr/sbin/" + prog) \
                and not os.path.exists("/usr/bin/" + prog):
            return "%s is not installed (apt-get install dovecot-core dovecot-imapd)" % prog
    return None


def require_or_skip_all():
    """For a test that needs Dovecot: print a TAP skip_all and exit when it cannot run."""
    why = unavailable_reason()
    if why is not None:
        print("1..0 # SKIP %s" % why)
        sys.stdout.flush()
        sys.exit(0)


def _prog(name):
    p = shutil.which(name)
    if p is None:
        for d in ("/usr/sbin", "/usr/bin"):
            if os.path.exists(os.path.join(d, name)):
                return os.path.join(d, name)
    return p or name


def _cleanup(d, remove):
    """Stops a master still running from directory d; removes d if asked to."""
    try:
        with open(os.path.join(d, "run", "master.pid")) as f:
            pid = int(f.read().strip())
        if _alive(pid):
            os.kill(pid, signal.SIGTERM)
            t0 = time.time()
            while _alive(pid) and time.time() - t0 < 10:
                time.sleep(0.02)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError):
        pass
    if remove:
        shutil.rmtree(d, ignore_errors=True)


def _alive(pid):
    """True while pid runs (a zombie waiting for its reaper counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def chown_tree(path, uid=MAIL_UID, gid=MAIL_GID):
    """chown -R without following symbolic links."""
    os.lchown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            os.lchown(os.path.join(root, n), uid, gid)


def make_traversable(path):
    """Adds o+x (search) to path and each of its parents, so the mail uid can reach it."""
    p = os.path.abspath(path)
    while True:
        st = os.stat(p)
        if not st.st_mode & 0o001:
            os.chmod(p, (st.st_mode & 0o7777) | 0o005)
        parent = os.path.dirname(p)
        if parent == p:
            break
        p = parent


def parse_tab(text):
    """doveadm -f tab: a title line, then one line per row, values separated by TAB.
    Returns a list of dicts keyed by the titles."""
    lines = text.split("\n")
    while lines and lines[-1] == "":
        lines.pop()
    if not lines:
        return []
    titles = lines[0].split("\t")
    rows = []
    for ln in lines[1:]:
        vals = ln.split("\t")
        if len(vals) != len(titles):
            raise DovecotError("doveadm tab output: %d values for %d titles in %r"
                               % (len(vals), len(titles), ln))
        rows.append(dict(zip(titles, vals)))
    return rows


def parse_flow(text, keys):
    """doveadm -f flow: one line per row, `key=value key=value ...` with values
    unquoted (they may contain spaces). `keys` are the field names to expect, in
    any order (doveadm prints some fields in its own order); a value runs to the
    next ` <known key>=`. A leading text without a key (the mailbox name of
    `mailbox status`) is returned under "mailbox"."""
    rows = []
    for ln in text.split("\n"):
        if ln == "":
            continue
        marks = []
        for k in keys:
            pos = 0
            while True:
                i = ln.find(k + "=", pos)
                if i < 0:
                    break
                if i == 0 or ln[i - 1] == " ":
                    marks.append((i, k))
                    break
                pos = i + 1
        # a value may itself contain " key=": keep the first mark of each key only,
        # in position order
        marks.sort()
        if not marks:
            raise DovecotError("doveadm flow output: none of %s in %r" % (keys, ln))
        row = {}
        if marks[0][0] > 0:
            row["mailbox"] = ln[:marks[0][0] - 1]
        for j, (i, k) in enumerate(marks):
            end = marks[j + 1][0] - 1 if j + 1 < len(marks) else len(ln)
            row[k] = ln[i + len(k) + 1:end]
        missing = [k for k in keys if k not in row]
        if missing:
            raise DovecotError("doveadm flow output: no %s in %r" % (missing, ln))
        rows.append(row)
    return rows


def parse_status_flow(text, keys):
    """doveadm -f flow mailbox status: `<mailbox name> key=value ...`."""
    return parse_flow(text, keys)


def split_flags(s):
    """A doveadm `flags` value -> (set of system flags without \\Recent, sorted keyword list)."""
    sysf, kws = set(), []
    for f in s.split():
        if f.startswith("\\"):
            if f != "\\Recent":
                sysf.add(f)
        else:
            kws.append(f)
    return sysf, sorted(kws)


class Dovecot:
    """A private Dovecot master. Use as a context manager, or call start()/stop()."""

    def __init__(self, workdir=None, uid=MAIL_UID, gid=MAIL_GID,
                 mail_location="maildir:~/Maildir", ns_prefix="", separator="/",
                 extra_conf="", keep=False):
        self.uid, self.gid = uid, gid
        self._own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="mf-dovecot.")
        self.dir = os.path.abspath(self.dir)
        self.conf = os.path.join(self.dir, "dovecot.conf")
        self.passwd = os.path.join(self.dir, "passwd")
        self.log = os.path.join(self.dir, "log", "dovecot.log")
        self.mail_location = mail_location
        self.ns_prefix, self.separator = ns_prefix, separator
        self.extra_conf = extra_conf
        self.keep = keep or bool(os.environ.get("KEEP"))
        self.port = None
        self.users = {}
        # whatever happens (an exception before start(), a forgotten stop()), the
        # master is stopped and the directory removed at the latest when Python exits
        self._finalizer = weakref.finalize(self, _cleanup, self.dir,
                                           self._own_dir and not self.keep)
        self._pw_mtime = 0
        self._looked_up = False
        self.running = False

    # ---- set-up -------------------------------------------------------------
    def _write_conf(self):
        d = self.dir
        for sub in ("run", "state", "log"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        os.chmod(d, 0o755)
        make_traversable(d)
        self.port = free_port()
        ns_prefix = "  prefix = %s\n" % self.ns_prefix if self.ns_prefix else ""
        conf = """# throwaway Dovecot for mailferry tests
protocols = imap
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/log/dovecot.log
info_log_path = {d}/log/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
first_valid_uid = 1000
mail_location = {loc}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {d}/passwd
}}
namespace inbox {{
  inbox = yes
{prefix}  separator = {sep}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
}}
service submission-login {{
  inet_listener submission {{
    port = 0
  }}
}}
{extra}
""".format(d=d, loc=self.mail_location, prefix=ns_prefix, sep=self.separator,
           port=self.port, extra=self.extra_conf)
        with open(self.conf, "w") as f:
            f.write(conf)
        if not os.path.exists(self.passwd):
            open(self.passwd, "w").close()

    def _touch_passwd(self):
        # passwd-file is reloaded when its mtime changes; two edits within one
        # second would be missed, so each edit gets a strictly later mtime.
        t = max(int(time.time()), self._pw_mtime + 1)
        os.utime(self.passwd, (t, t))
        self._pw_mtime = t

    def add_user(self, name, home, mail=None, password="pw", wait=True, uid=None, gid=None):
        """Adds a user whose home is `home`; mail defaults to maildir:~/Maildir
        (the home's Maildir). Any userdb_mail value works (e.g. with :UTF-8).
        uid/gid: the user's own system ids (default: the mail uid/gid).
        Once the auth process has looked a user up, it checks the passwd-file at
        most once a second: then this waits until it knows the new user (wait=False
        to add several and wait for the last one only)."""
        if ":" in name or "\n" in name:
            raise DovecotError("user name %r cannot go into a passwd-file" % name)
        mail = mail or self.mail_location
        self.users[name] = (home, mail)
        with open(self.passwd, "a") as f:
            f.write("%s:{PLAIN}%s:%d:%d::%s::userdb_mail=%s\n"
                    % (name, password, self.uid if uid is None else uid,
                       self.gid if gid is None else gid, os.path.abspath(home), mail))
        self._touch_passwd()
        if self.running and wait and self._looked_up:
            t0 = time.time()
            while True:
                rc, out, err = self.doveadm(["user", name], check=False)
                if rc == 0:
                    break
                if time.time() - t0 > 10:
                    raise DovecotError("Dovecot does not see the new user %s: %s" % (name, err))
                time.sleep(0.2)

    def start(self, timeout=20):
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout):
        self._write_conf()
        # no pipes: the daemonized master would keep them open
        errfile = os.path.join(self.dir, "log", "start.err")
        with open(errfile, "w") as ef:
            r = subprocess.run([_prog("dovecot"), "-c", self.conf], stdin=subprocess.DEVNULL,
                               stdout=ef, stderr=ef)
        if r.returncode != 0:
            with open(errfile) as ef:
                raise DovecotError("dovecot did not start: %s" % ef.read().strip())
        self.running = True
        sock = os.path.join(self.dir, "run", "auth-userdb")
        t0 = time.time()
        while not os.path.exists(sock):
            if time.time() - t0 > timeout:
                self.stop()
                raise DovecotError("dovecot started but %s did not appear; log: %s"
                                   % (sock, self.log_text()[-2000:]))
            time.sleep(0.05)
        while self.master_pid() is None:
            if time.time() - t0 > timeout:
                self.stop()
                raise DovecotError("dovecot started but wrote no master.pid")
            time.sleep(0.02)
        # the socket file exists before the auth process listens on it
        while True:
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                c.connect(sock)
                break
            except OSError:
                if time.time() - t0 > timeout:
                    self.stop()
                    raise DovecotError("dovecot's %s refuses connections; log: %s"
                                       % (sock, self.log_text()[-2000:]))
                time.sleep(0.05)
            finally:
                c.close()
        return self

    def master_pid(self):
        try:
            with open(os.path.join(self.dir, "run", "master.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def stop(self):
        """Stops the master (SIGTERM to the pid it wrote; SIGKILL after 10 s)."""
        if self.running:
            pid = self.master_pid()
            if pid is None:
                subprocess.run([_prog("doveadm"), "-c", self.conf, "stop"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            else:
                try:
                    os.kill(pid, signal.SIGTERM)
                    t0 = time.time()
                    while time.time() - t0 < 10:
                        if not _alive(pid):
                            break
                        time.sleep(0.02)
                    else:
                        os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.running = False
        self._finalizer()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # ---- doveadm ------------------------------------------------------------
    def doveadm(self, args, user=None, fmt=None, check=True, opts=()):
        """Runs doveadm with this configuration; returns (exit code, stdout, stderr)."""
        cmd = [_prog("doveadm"), "-c", self.conf]
        for o in opts:
            cmd += ["-o", o]
        if fmt is not None:
            cmd += ["-f", fmt]
        cmd += [args[0]]
        if len(args) > 1 and args[0] in ("mailbox", "flags", "acl", "quota", "fs", "dict"):
            cmd += [args[1]]
            rest = list(args[2:])
        else:
            rest = list(args[1:])
        if user is not None:
            cmd += ["-u", user]
            self._looked_up = True
        cmd += rest
        env = dict(os.environ, TZ="UTC")
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        out = r.stdout.decode("utf-8", "surrogateescape")
        err = r.stderr.decode("utf-8", "surrogateescape")
        if check and r.returncode != 0:
            raise DovecotError("%s: exit %d: %s" % (" ".join(cmd), r.returncode, err.strip()))
        return r.returncode, out, err

    def fetch(self, user, fields, query=("ALL",), fmt="tab"):
        """doveadm fetch: a list of dicts keyed by field name."""
        rc, out, err = self.doveadm(["fetch", " ".join(fields)] + list(query), user=user,
                                    fmt=fmt)
        if fmt == "flow":
            return parse_flow(out, list(fields))
        return parse_tab(out)

    def status(self, user, fields, mailboxes=("*",), fmt="tab"):
        """doveadm mailbox status: a list of dicts with "mailbox" and the fields."""
        rc, out, err = self.doveadm(["mailbox", "status", " ".join(fields)] + list(mailboxes),
                                    user=user, fmt=fmt)
        if fmt == "flow":
            return parse_status_flow(out, list(fields))
        return parse_tab(out)

    def mailbox_list(self, user, subscribed=False):
        args = ["mailbox", "list"] + (["-s"] if subscribed else [])
        rc, out, err = self.doveadm(args, user=user, fmt="tab")
        return [r["mailbox"] for r in parse_tab(out)]

    def subscribe(self, user, names):
        if names:
            self.doveadm(["mailbox", "subscribe"] + list(names), user=user)


# ---- helpers shared by the Python TAP tests ------------------------------------------

STRICT = bool(os.environ.get("MF_STRICT"))


class Tap:
    """Minimal TAP producer: ok/skip/diag, a plan at the end (`1..N`).

    todo=REASON marks an assertion that fails because of a known, reported bug:
    it is printed as `# TODO REASON` (prove does not count it as a failure and
    says "TODO passed" once it passes). MF_STRICT=1 drops the TODO markers."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, desc, diag=None, todo=None):
        self.n += 1
        desc = desc.replace("#", "\\#").replace("\n", " ")
        line = "%s %d - %s" % ("ok" if cond else "not ok", self.n, desc)
        if todo and not STRICT:
            line += " # TODO %s" % todo
        print(line)
        if not cond:
            if diag:
                for ln in str(diag).rstrip("\n").split("\n"):
                    print("#   " + ln)
            if not (todo and not STRICT):
                self.failed += 1
        sys.stdout.flush()
        return cond

    def skip(self, reason, count=1):
        for _ in range(count):
            self.n += 1
            print("ok %d # skip %s" % (self.n, reason))
        sys.stdout.flush()

    def diag(self, msg):
        for ln in str(msg).rstrip("\n").split("\n"):
            print("# " + ln)
        sys.stdout.flush()

    def done(self):
        print("1..%d" % self.n)
        sys.stdout.flush()
        sys.exit(1 if self.failed else 0)


def exit_on_signals():
    """SIGTERM and SIGHUP end the process through SystemExit, so that `with Dovecot()`
    blocks and `finally:` clauses still stop Dovecot and remove temporary files."""
    def handler(signum, frame):
        sys.exit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


def run_in_workdir(tap, prefix, body):
    """The frame of a Dovecot test: skips the whole file (TAP) when no Dovecot
    can start here, runs body(work) in a fresh directory that is removed after
    (kept with KEEP=1), and ends the TAP stream."""
    why = unavailable_reason()
    if why:
        print("1..0 # SKIP %s" % why)
        return
    exit_on_signals()
    work = tempfile.mkdtemp(prefix=prefix)
    try:
        body(work)
    finally:
        if not os.environ.get("KEEP"):
            shutil.rmtree(work, ignore_errors=True)
    tap.done()


def test_paths(test_file):
    """(tests dir, repo root, mailferry binary) as tests/lib.sh finds them:
    MF_SRC (default: the tests dir's parent) and MAILFERRY (default: ../build/mailferry
    relative to the test file)."""
    tests = os.path.dirname(os.path.abspath(test_file))
    src = os.environ.get("MF_SRC") or os.path.dirname(tests)
    mf = os.environ.get("MAILFERRY") or os.path.join(os.path.dirname(tests), "build", "mailferry")
    return tests, src, mf


def _uv(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def blob_id(data):
    """A blob id (spec/FORMAT.md 7): keyed BLAKE2b-256 of the blob's bytes."""
    import hashlib
    return hashlib.blake2b(data, digest_size=32, key=b"mailferry/1/blob").hexdigest()


def message_hash_of_blobs(blobs):
    """The message hash (spec 7) from [(blob id hex, length)]: keyed BLAKE2b-256 over each
    blob's id followed by its length as a uv."""
    import hashlib
    h = hashlib.blake2b(digest_size=32, key=b"mailferry/1/message")
    for bid, n in blobs:
        h.update(bytes.fromhex(bid))
        h.update(_uv(n))
    return h.hexdigest()


def check_content(data, m):
    """None if the `ls --json` message m holds exactly the bytes `data`: its blobs cut
    data into consecutive pieces whose ids match, its size is len(data), and its hash is
    the message hash of those blobs. Otherwise a description of the first problem."""
    if m["size"] != len(data):
        return "size %d, the file has %d bytes" % (m["size"], len(data))
    off = 0
    for i, b in enumerate(m["blobs"]):
        piece = data[off:off + b["size"]]
        if len(piece) != b["size"] or blob_id(piece) != b["id"]:
            return "blob %d (offset %d, %d bytes) differs from the file" % (i, off, b["size"])
        off += b["size"]
    if off != len(data):
        return "the blobs hold %d of the file's %d bytes" % (off, len(data))
    if message_hash_of_blobs([(b["id"], b["size"]) for b in m["blobs"]]) != m["hash"]:
        return "the message hash does not match its blobs"
    return None


def run(cmd, timeout=600, **kw):
    """Runs cmd with its output captured: (exit code, stdout, stderr). If this
    process is interrupted meanwhile (a signal, a timeout), the child gets SIGTERM
    first, so that a child with its own Dovecot (gen_store.py) can stop it."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    try:
        so, se = p.communicate(timeout=timeout)
    except BaseException:
        p.terminate()
        try:
            p.communicate(timeout=15)
        except BaseException:
            p.kill()
            p.communicate()
        raise
    return (p.returncode, so.decode("utf-8", "surrogateescape"),
            se.decode("utf-8", "surrogateescape"))
