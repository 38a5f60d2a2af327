"""live: changing a store the way a live Dovecot server does, for delta_oracle.t.

Owns: messages made up for deliveries (make_message), `doveadm save` deliveries
(save), a background delivery loop with timestamps (Deliverer), a small IMAP
client for STORE/APPEND/MOVE/EXPUNGE/SUBSCRIBE (Imap), the three-way flag merge
that spec/FORMAT.md 14.6 promises (merge_flags), a flags value as a set
(flag_set), the notes `mailferry unpack` prints (notes_of), and what Dovecot's
log says is wrong (log_problems).

Everything goes through the Dovecot of tests/dovecot/dvlib.py: nothing here
writes into a store itself.
"""

import imaplib
import os
import re
import subprocess
import threading
import time

import dvlib


def make_message(tag, n, size=0, date="Mon, 01 Jul 2024 10:00:00 +0000"):
    """A small RFC 5322 message (CRLF) with a unique Message-ID; size > 0 pads the body
    to about that many bytes."""
    body = "Message %d of %s.\r\n" % (n, tag)
    if size > len(body):
        line = "%s padding line of %s %d\r\n" % ("x" * 40, tag, n)
        body += line * ((size - len(body)) // len(line) + 1)
    return ("From: Sender %d <s%d@example.net>\r\nTo: <rcpt@example.com>\r\n"
            "Subject: %s %d\r\nMessage-ID: <%s.%d@delta-oracle.test>\r\nDate: %s\r\n"
            "\r\n%s" % (n, n, tag, n, tag, n, date, body)).encode()


def save(dv, login, mailbox, data, check=True):
    """doveadm save -u login -m mailbox < data: (exit code, stderr)."""
    p = subprocess.run([dvlib._prog("doveadm"), "-c", dv.conf, "save", "-u", login, "-m",
                        mailbox], input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=dict(os.environ, TZ="UTC"))
    err = p.stderr.decode("utf-8", "replace")
    if check and p.returncode != 0:
        raise dvlib.DovecotError("doveadm save -u %s -m %s: exit %d: %s"
                                 % (login, mailbox, p.returncode, err.strip()))
    return p.returncode, err


class Deliverer:
    """Delivers messages with `doveadm save` into one mailbox of one login, one after the
    other, from a thread, until stop(). .done: [(start, end, Message-ID tag)], .errors."""

    def __init__(self, dv, login, mailbox, tag, limit=400):
        self.dv, self.login, self.mailbox, self.tag = dv, login, mailbox, tag
        self.limit = limit
        self.done, self.errors = [], []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        n = 0
        while not self._stop.is_set() and n < self.limit:
            n += 1
            t0 = time.time()
            rc, err = save(self.dv, self.login, self.mailbox,
                           make_message(self.tag, n), check=False)
            t1 = time.time()
            if rc != 0 or err.strip():
                self.errors.append("delivery %d: exit %d: %s" % (n, rc, err.strip()[-300:]))
            else:
                self.done.append((t0, t1, "%s.%d" % (self.tag, n)))

    def start(self):
        self._t.start()
        return self

    def stop(self):
        self._stop.set()
        self._t.join(60)

    def during(self, t0, t1):
        """How many deliveries overlapped the time span t0..t1."""
        return sum(1 for a, b, _ in self.done if a < t1 and b > t0)


def mutf7(name):
    """A mailbox name in IMAP's modified UTF-7 (RFC 3501 5.1.3)."""
    import base64
    out, run = [], []

    def flush():
        if run:
            b64 = base64.b64encode("".join(run).encode("utf-16-be")).decode()
            out.append("&" + b64.rstrip("=").replace("/", ",") + "-")
            del run[:]
    for c in name:
        if " " <= c <= "~":
            flush()
            out.append("&-" if c == "&" else c)
        else:
            run.append(c)
    flush()
    return "".join(out)


def imap_quote(name):
    name = mutf7(name)
    return '"%s"' % name.replace("\\", "\\\\").replace('"', '\\"')


class Imap:
    """An IMAP session on the private Dovecot: raises dvlib.DovecotError on any NO/BAD."""

    def __init__(self, dv, login):
        self.M = imaplib.IMAP4("127.0.0.1", dv.port)
        self._chk(self.M.login(login, "pw"), "LOGIN")
        self.login = login

    def _chk(self, res, what):
        typ, data = res
        if typ != "OK":
            raise dvlib.DovecotError("IMAP %s as %s: %s %s" % (what, getattr(self, "login", "?"),
                                                             typ, data))
        return data

    def select(self, box):
        self._chk(self.M.select(imap_quote(box)), "SELECT " + box)
        return int(self.M.response("UIDVALIDITY")[1][0])

    def store(self, uid, op, flags):
        """UID STORE uid op (flags): op is +FLAGS or -FLAGS."""
        self._chk(self.M.uid("STORE", str(uid), op, "(%s)" % flags), "STORE %s %s" % (uid, op))

    def move(self, uid, dest):
        self._chk(self.M.uid("MOVE", str(uid), imap_quote(dest)), "MOVE %s" % uid)

    def expunge_uid(self, uid):
        self.store(uid, "+FLAGS.SILENT", "\\Deleted")
        self._chk(self.M.uid("EXPUNGE", str(uid)), "UID EXPUNGE %s" % uid)

    def append(self, box, flags, when, data):
        """APPEND with flags and an INTERNALDATE (unix time): (uidvalidity, uid)."""
        data_ = self._chk(self.M.append(imap_quote(box), "(%s)" % flags if flags else None,
                                        imaplib.Time2Internaldate(when), data), "APPEND")
        resp = " ".join(x.decode() if isinstance(x, bytes) else str(x) for x in data_ if x)
        m = re.search(r"APPENDUID (\d+) (\d+)", resp)
        return (int(m.group(1)), int(m.group(2))) if m else (None, None)

    def subscribe(self, box, on=True):
        self._chk((self.M.subscribe if on else self.M.unsubscribe)(imap_quote(box)),
                  "SUBSCRIBE" if on else "UNSUBSCRIBE")

    def close(self):
        try:
            self.M.logout()
        except (imaplib.IMAP4.error, OSError):
            pass


def flag_set(flags):
    """A doveadm flags value as a frozenset, without \\Recent."""
    return frozenset(f for f in flags.split() if f != "\\Recent")


def merge_flags(base, src, tgt):
    """spec 14.6: only what the source changed between base and delta is applied to the
    target's flags; the rest stays as the target has it. Sets of flag names."""
    return frozenset((set(tgt) - (base - src)) | (src - base))


NOTE_RE = re.compile(r"^mailferry unpack: ([^:]*): (.*)$")


def notes_of(stderr):
    """[(user, note)] of mailferry unpack's stderr."""
    out = []
    for ln in stderr.split("\n"):
        m = NOTE_RE.match(ln)
        if m:
            out.append((m.group(1), m.group(2)))
    return out


def log_problems(dv, since=0):
    """Error/Warning/Panic/Fatal lines of Dovecot's log after byte offset `since`."""
    text = dv.log_text()[since:]
    return [ln for ln in text.split("\n")
            if re.search(r"\b(Error|Warning|Panic|Fatal)\b:", ln)
            or "orrupt" in ln]
