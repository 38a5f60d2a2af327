#!/usr/bin/env python3
"""gen_store.py: a seeded generator of realistic multi-user Maildir++ stores.

    gen_store.py --out DIR --users N --messages M [--seed S] [--attach-share F] ...

writes DIR/<domain>/<user>/Maildir for N users with about M messages in all,
DIR/gen_store.json (users, Maildirs, homes, counts) and DIR/users (lines `user<TAB>maildir`, the format of `mailferry pack --users`).

Content: From/To/Subject/Date/Message-ID headers and text bodies from a word
list; some multipart/alternative (text + HTML); some multipart/mixed with
base64 attachments of random binary data (5 KB .. 300 KB), a share of which is
the same attachment forwarded between users in different messages; list mail
delivered to several users with per-recipient Return-Path, Delivered-To and
Received headers and identical bodies; a few CRLF messages and a few without a
final newline; a few hard-linked copies (what Dovecot's COPY makes).

Folders: INBOX, Sent, Drafts, Trash, Archive, Archive/2023, Lists/<list>, an
empty Projects, and non-ASCII names in modified UTF-7 on disk: Entwürfe
(.Entw&APw-rfe), Работа (Cyrillic) and R&D (.R&-D). Flags in the `:2,` info
(S R F T D, a few P) in realistic proportions; some files in new/ without info;
keywords through dovecot-keywords and letters ($Label1, $Forwarded, Junk,
NonJunk, $MDNSent, a custom one), listed in a different order per mailbox.
File names `<secs>.M<usecs>P<pid>.<host>[,S=<size>][,W=<vsize>][:2,<flags>]`
(sizes exact; sometimes absent) and, for some old deliveries, the names other
delivery agents make (Courier, Postfix, qmail). mtimes are the received dates,
spread over the past three years.

Unless --no-dovecot, real Dovecot then assigns the UIDs, so every
dovecot-uidlist is Dovecot's own (this needs root): a throwaway Dovecot
(tests/dovecot/dvlib.py) with the users at `maildir:~/Maildir`, separator '/':

  1. generation 1 (about 70% of the files) is written, Dovecot syncs every
     mailbox (`doveadm mailbox status`);
  2. generation 2 (about 25%, some with older names than generation 1) is
     written and synced, so uidlists hold several generations and stale N;
  3. Dovecot itself works on the store: subscriptions, flag and keyword changes
     (renames, also inside new/), expunges (stale uidlist lines), a date.saved
     lookup in Trash (the cache then holds save dates that later renames make
     differ from the files' ctimes, as on a real server);
  4. POP3 UIDLs are patched into INBOX uidlists of some users (`P<uidl> O<n>`
     fields, Dovecot's record format), the way an old POP3 server's data ends up;
  5. with 3 users or more, an extra user migrated@example.org gets a Maildir
     that dsync made from an sdbox store (doveadm save into sdbox, then
     doveadm backup -R): its uidlist records carry G<guid> fields, its names
     are dsync's and its UIDs follow dsync's save order (--no-dsync-user);
  6. the last deliveries (about 3%, --unsynced) are written after the last
     sync: Dovecot has not seen them, and gives them UIDs only when it next
     opens the mailbox.

With --no-dovecot every file is written at once, without uidlists (for
benchmarks that let Dovecot sync later); files are owned by the caller unless
--uid/--gid are given.

About 40 users / 40,000 messages / 600 MB take about a minute.
"""

import argparse
import base64
import hashlib
import json
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(HERE, "..", "dovecot"))

WORDS = """the of and to in is that it was for on are as with his they at be this from have or
by one had not but what all were when we there can an your which their said if do will each
about how up out them then she many some so these would other into has more her two like him
see time could no make than first been its who now people my made over did down only way find
use may water long little very after words called just where most know get through back much
before go good new write our used me man too any day same right look think also around another
came come work three word must because does part even place well such here take why things help
put years different away again off went old number great tell men say small every found still
between name should home big give air line set own under read last never us left end along while
might next sound below saw something thought both few those always looked show large often
together asked house world going want school important until form food keep children feet land
side without boy once animals life enough took sometimes four head above kind began almost live
page got earth need far hand high year mother light parts country father let night following
picture being study second eyes soon times story boys since white days ever paper hard near
sentence better best across during today others however sure means knew its try told young miles
sun ways thing whole hear example heard several change answer room sea against top turned learn
point city play toward five using himself usually meeting budget report invoice server backup
release deadline project review quarterly update schedule customer contract migration mailbox
Besprechung Rechnung Bericht Übersicht Grüße Änderung morgen Woche Projekt Termin""".split()

FIRST = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
         "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter",
         "xena", "yvonne", "zoe", "anna", "bernd", "clara", "dieter", "emil", "fritz", "gisela",
         "hans", "ingrid", "jonas", "katrin", "lukas", "marta", "nils", "otto", "paula",
         "quentin", "rosa"]
DOMAINS = ["example.com", "example.org", "example.net"]
LISTS = ["dev-announce", "users", "ops-alerts", "kernel-digest", "fussball", "book-club"]
HOSTS = ["mx1", "mx2.example.com", "vm", "mail"]
KEYWORDS = ["$Label1", "$Forwarded", "Junk", "NonJunk", "$MDNSent", "Projekt_X"]
SPECIAL_FOLDERS = [["Entwürfe"], ["Работа"], ["R&D"]]
ATT_TYPES = [("application/pdf", "pdf"), ("image/jpeg", "jpg"), ("application/zip", "zip"),
             ("application/octet-stream", "bin"), ("image/png", "png")]

NOW = int(time.time()) // 86400 * 86400    # --now; by default the start of today (UTC)
SPAN = 3 * 365 * 86400


def mutf7(s):
    """Modified UTF-7 (RFC 3501 5.1.3) of one mailbox name component."""
    out, buf = [], []

    def flush():
        if buf:
            b = "".join(buf).encode("utf-16-be")
            out.append("&" + base64.b64encode(b).decode().rstrip("=").replace("/", ",") + "-")
            buf.clear()
    for ch in s:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            buf.append(ch)
    flush()
    return "".join(out)


def folder_dir(comps):
    """Maildir++ directory of a folder ("" for INBOX)."""
    if comps == ["INBOX"]:
        return ""
    return "." + ".".join(mutf7(c) for c in comps)


def rfc2822(t):
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(t))


class Msg:
    __slots__ = ("user", "folder", "data", "received", "secs", "flags", "kws", "in_new",
                 "gen", "name", "style", "sizes", "link_of", "batch", "new_info")

    def __init__(self, user, folder, data, received, secs):
        self.user, self.folder, self.data = user, folder, data
        self.received, self.secs = received, secs
        self.flags, self.kws, self.in_new = "", [], False
        self.gen, self.name, self.style, self.sizes, self.link_of = 1, None, "dovecot", "SW", None
        self.batch, self.new_info = None, False


class Gen:
    def __init__(self, a):
        self.a = a
        self.rng = random.Random(a.seed)
        self.out = os.path.abspath(a.out)
        self.users = []          # dicts: name, local, domain, home, maildir, folders, weight
        self.msgs = []
        self.uniq = set()
        self.stats = {"bytes": 0, "files": 0, "links": 0, "attachments_new": 0,
                      "attachments_forwarded": 0, "list_posts": 0, "list_copies": 0}
        self.t0 = time.time()
        self.extra_users = []    # users made by Dovecot itself (dsync_user)

    def log(self, msg):
        if not self.a.quiet:
            print("gen_store: %6.1fs %s" % (time.time() - self.t0, msg), file=sys.stderr)

    # ---------------------------------------------------------------- users, folders
    def make_users(self):
        r = self.rng
        for i in range(self.a.users):
            local = FIRST[i % len(FIRST)] + ("" if i < len(FIRST) else str(i // len(FIRST)))
            domain = DOMAINS[i % len(DOMAINS)] if i else DOMAINS[0]
            home = os.path.join(self.out, domain, local)
            folders = [["INBOX"], ["Sent"], ["Drafts"], ["Trash"], ["Archive"], ["Archive", "2023"],
                       ["Projects"]]
            # the first users have every special name; the others some of them
            for sf in SPECIAL_FOLDERS:
                if i < 4 or r.random() < 0.4:
                    folders.append(sf)
            self.users.append({"name": "%s@%s" % (local, domain), "local": local, "domain": domain,
                               "home": home, "maildir": os.path.join(home, "Maildir"),
                               "folders": folders, "lists": [],
                               # a few heavy users, many light ones
                               "weight": 1.0 / (1 + i) ** 0.6 if i else 1.6,
                               "kwmap": {}})
        nlists = min(len(LISTS), max(1, self.a.users // 2 + 1))
        self.lists = []
        for li in range(nlists):
            members = [u for u in self.users if r.random() < 0.6]
            if len(members) < min(2, len(self.users)):
                members = r.sample(self.users, min(2, len(self.users)))
            name = LISTS[li]
            for u in members:
                u["lists"].append(name)
                # most people filter list mail into Lists/<list>, some read it in INBOX
                if r.random() < 0.8:
                    u.setdefault("listfolder", {})[name] = ["Lists", name]
                    u["folders"].append(["Lists", name])
                else:
                    u.setdefault("listfolder", {})[name] = ["INBOX"]
            self.lists.append((name, members))
        for u in self.users:
            for f in u["folders"]:
                if f == ["Drafts"] or f == ["Projects"]:
                    continue
                if r.random() < 0.7:
                    names = KEYWORDS[:]
                    r.shuffle(names)
                    u["kwmap"][tuple(f)] = names[:r.randint(2, len(names))]

    # ---------------------------------------------------------------- content
    def words(self, n):
        r = self.rng
        w = r.choices(WORDS, k=n)
        lines, cur, ln = [], [], 0
        for x in w:
            cur.append(x)
            ln += len(x) + 1
            if ln > 66:
                lines.append(" ".join(cur))
                cur, ln = [], 0
                if r.random() < 0.12:
                    lines.append("")
        if cur:
            lines.append(" ".join(cur))
        return "\n".join(lines) + "\n"

    def subject(self):
        r = self.rng
        s = " ".join(r.choices(WORDS, k=r.randint(2, 7))).capitalize()
        return ("Re: " if r.random() < 0.25 else "") + s

    def attachment(self, aid, size):
        """The base64 body of attachment `aid`: the same bytes every time."""
        data = random.Random("%s/att/%d" % (self.a.seed, aid)).randbytes(size)
        return base64.encodebytes(data).decode()

    def body_and_type(self, attach):
        """(content-type header lines, body text) of a new message."""
        r = self.rng
        text = self.words(int(r.lognormvariate(5.0, 0.8)) + 10)
        kind = r.random()
        if not attach and kind < 0.6:
            cs = "utf-8" if any(ord(c) > 127 for c in text) else "us-ascii"
            return ("Content-Type: text/plain; charset=%s\nContent-Transfer-Encoding: %s\n"
                    % (cs, "8bit" if cs == "utf-8" else "7bit")), text
        b1 = "=_%016x" % r.getrandbits(64)
        alt = ""
        if attach is None or r.random() < 0.5:
            html = "<html><body>\n" + "".join("<p>%s</p>\n" % p for p in text.split("\n\n")) + \
                "</body></html>\n"
            b2 = "=_alt%016x" % r.getrandbits(64)
            alt = ("Content-Type: multipart/alternative; boundary=\"%s\"\n\n"
                   "--%s\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n%s\n"
                   "--%s\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n%s\n"
                   "--%s--\n" % (b2, b2, text, b2, html, b2))
        if attach is None:
            return "MIME-Version: 1.0\n" + alt.split("\n\n", 1)[0] + "\n", alt.split("\n\n", 1)[1]
        parts = [alt if alt else
                 "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + text]
        for aid, size, ctype, fname in attach:
            parts.append("Content-Type: %s; name=\"%s\"\nContent-Transfer-Encoding: base64\n"
                         "Content-Disposition: attachment; filename=\"%s\"\n\n%s"
                         % (ctype, fname, fname, self.attachment(aid, size)))
        body = "This is a multi-part message in MIME format.\n\n"
        for p in parts:
            body += "--%s\n%s\n" % (b1, p.rstrip("\n") + "\n")
        body += "--%s--\n" % b1
        return ("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"%s\"\n" % b1), body

    def pick_attachments(self):
        """None, or a list of (id, size, type, filename): new or forwarded ones."""
        r = self.rng
        if r.random() >= self.a.attach_frac:
            return None
        out = []
        for _ in range(1 if r.random() < 0.8 else 2):
            if self.att_pool and r.random() < self.a.attach_share:
                out.append(r.choice(self.att_pool))
                self.stats["attachments_forwarded"] += 1
            else:
                aid = len(self.att_pool) + 1
                size = int(5000 * (60 ** r.random()))          # log-uniform 5 KB .. 300 KB
                ctype, ext = r.choice(ATT_TYPES)
                fname = "%s-%d.%s" % (r.choice(WORDS).lower(), aid, ext)
                att = (aid, size, ctype, fname)
                self.att_pool.append(att)
                out.append(att)
                self.stats["attachments_new"] += 1
        return out

    def msgid(self, t, dom):
        return "<%d.%x.%x@%s>" % (t, self.rng.getrandbits(40), self.rng.getrandbits(24), dom)

    def received_hdr(self, user, t, frm="smtp.example.net"):
        r = self.rng
        return ("Received: from %s (%s [192.0.2.%d])\n\tby mx.%s (Postfix) with ESMTPS id %X\n"
                "\tfor <%s>; %s\n" % (frm, frm, r.randint(1, 254), user["domain"],
                                      r.getrandbits(44), user["name"], rfc2822(t)))

    def new_message(self, user, folder):
        r = self.rng
        other = r.choice(self.users)
        ext = "%s@%s" % (r.choice(FIRST), r.choice(["gmail.example", "corp.example", "example.net"]))
        frm_addr = other["name"] if other is not user and r.random() < 0.5 else ext
        received = NOW - int(SPAN * r.random() ** 1.5) - 3600
        date = received - r.randint(2, 900)
        attach = self.pick_attachments()
        ctype, body = self.body_and_type(attach)
        hdr = ""
        if folder in (["Sent"], ["Drafts"]):
            frm, to = user["name"], frm_addr
        else:
            frm, to = frm_addr, user["name"]
            hdr += "Return-Path: <%s>\nDelivered-To: %s\n" % (frm, user["name"])
            hdr += self.received_hdr(user, received)
        hdr += "From: %s <%s>\nTo: <%s>\n" % (frm.split("@")[0].capitalize(), frm, to)
        if r.random() < 0.15:
            hdr += "Cc: %s\n" % r.choice(self.users)["name"]
        hdr += "Subject: %s\n" % self.subject()
        if folder != ["Drafts"] or r.random() < 0.5:
            hdr += "Date: %s\n" % rfc2822(date)
        hdr += "Message-ID: %s\n" % self.msgid(date, frm.split("@")[1])
        if r.random() < 0.3:
            hdr += "User-Agent: Mozilla/5.0 Thunderbird/102.15.1\n"
        return (hdr + ctype + "\n" + body).encode("utf-8"), received

    # ---------------------------------------------------------------- planning
    def plan(self):
        r = self.rng
        a = self.a
        self.att_pool = []
        self.batches = {}
        total_w = sum(u["weight"] for u in self.users)
        list_budget = int(a.messages * a.list_frac)
        # list posts: one post goes to every member
        posts = []
        left = list_budget
        while left > 0 and self.lists:
            name, members = r.choice(self.lists)
            posts.append((name, members))
            left -= len(members)
        own_budget = max(0, a.messages - sum(len(m) for _, m in posts))
        for u in self.users:
            n = int(round(own_budget * u["weight"] / total_w))
            u["n_own"] = n
        # own messages
        dist = [(["INBOX"], 45), (["Sent"], 12), (["Archive"], 14), (["Archive", "2023"], 5),
                (["Trash"], 5), (["Drafts"], 2), (["Entwürfe"], 2), (["Работа"], 3), (["R&D"], 3)]
        for u in self.users:
            fl = [(f, w) for f, w in dist if f in u["folders"]]
            fs, ws = [f for f, _ in fl], [w for _, w in fl]
            for _ in range(u["n_own"]):
                folder = r.choices(fs, ws)[0]
                data, received = self.new_message(u, folder)
                secs = received + r.randint(0, 3)
                m = Msg(u, folder, data, received, secs)
                if folder in (["Archive"], ["Archive", "2023"]) or \
                        (folder != ["INBOX"] and r.random() < 0.2):
                    self.moved_later(m)
                self.msgs.append(m)
        # list mail: the same body, per-recipient delivery headers
        for name, members in posts:
            received = NOW - int(SPAN * r.random()) - 3600
            date = received - r.randint(2, 300)
            frm = "%s@%s" % (r.choice(FIRST), r.choice(["example.net", "corp.example"]))
            ctype, body = self.body_and_type(self.pick_attachments() if r.random() < 0.3 else None)
            common = ("From: %s <%s>\nTo: %s@lists.example.org\nSubject: [%s] %s\nDate: %s\n"
                      "Message-ID: %s\nList-Id: <%s.lists.example.org>\n"
                      "List-Unsubscribe: <mailto:%s-leave@lists.example.org>\n"
                      "Precedence: list\n" % (frm.split("@")[0].capitalize(), frm, name, name,
                                              self.subject(), rfc2822(date),
                                              self.msgid(date, "lists.example.org"), name, name))
            self.stats["list_posts"] += 1
            for u in members:
                t = received + r.randint(0, 20)
                hdr = ("Return-Path: <%s-bounces+%s=%s@lists.example.org>\nDelivered-To: %s\n"
                       % (name, u["local"], u["domain"], u["name"]))
                hdr += self.received_hdr(u, t, "lists.example.org")
                data = (hdr + common + ctype + "\n" + body).encode("utf-8")
                self.msgs.append(Msg(u, u["listfolder"][name], data, t, t + r.randint(0, 2)))
                self.stats["list_copies"] += 1
        # flags, keywords, line ends, name styles
        for m in self.msgs:
            self.decorate(m)
        # hard-linked copies into Archive (Dovecot's COPY links the file)
        inbox = [m for m in self.msgs if m.folder == ["INBOX"]]
        for m in r.sample(inbox, min(len(inbox), max(1, len(inbox) // 50))):
            c = Msg(m.user, ["Archive"], m.data, m.received, m.secs)
            c.flags, c.link_of, c.style = "S", m, "dovecot"
            self.moved_later(c)
            self.msgs.append(c)
        # generations: by name time, some older names arrive later
        self.msgs.sort(key=lambda m: m.secs)
        n = len(self.msgs)
        for i, m in enumerate(self.msgs):
            m.gen = 1 if i < 0.70 * n else (2 if i < (1 - a.unsynced) * n else 3)
        for m in r.sample(self.msgs, n // 40):
            if m.link_of is None:
                m.gen = 2 if a.unsynced == 0 or r.random() < 0.7 else 3
        for m in self.msgs:
            if m.link_of is not None:
                # linked after the original exists, and before Dovecot renames it
                m.gen = 3 if m.link_of.gen == 3 else max(m.link_of.gen, min(m.gen, 2))
            if m.gen == 3:
                # the latest deliveries: mostly still in new/ without info
                if m.folder == ["INBOX"] or m.folder[0] == "Lists":
                    m.in_new = r.random() < 0.85
                    if m.in_new:
                        m.flags, m.kws, m.new_info = "", [], False
        self.edge_cases()
        for m in self.msgs:
            self.name_of(m)

    def moved_later(self, m):
        """A message moved or copied into its folder later than it arrived: the
        name has the time of the move. Clients move in batches: one batch gets
        one second, one pid and increasing microseconds (M9 before M10)."""
        r = self.rng
        key = (m.user["name"], tuple(m.folder))
        batch = self.batches.get(key)
        if batch is not None and batch[2] > 0 and batch[0] >= m.received:
            secs, pid, left, us = batch
            us += r.randint(1, 3) if us < 20 else r.randint(1, 5000)
            self.batches[key] = (secs, pid, left - 1, us)
            m.secs, m.style, m.batch = secs, "dovecot", (pid, us)
            return
        secs = m.received + int((NOW - 60 - m.received) * r.random() ** 2) + 1
        if r.random() < 0.5:
            self.batches[key] = (secs, r.randint(300, 65000), r.randint(2, 40), r.randint(0, 8))
        m.secs = secs

    def edge_cases(self):
        """Every store, however small, has each rare case at least once (user 0)."""
        r = self.rng
        u0 = self.users[0]
        sources = {id(m.link_of) for m in self.msgs if m.link_of is not None}
        own = [m for m in self.msgs if m.user is u0 and m.folder == ["INBOX"] and not m.in_new
               and m.gen < 3 and m.link_of is None and id(m) not in sources]
        r.shuffle(own)
        if len(own) >= 5:
            own[0].data = own[0].data.replace(b"\n", b"\r\n")       # CRLF
            own[1].data = own[1].data.rstrip(b"\n")                  # no final newline
            own[2].kws = own[2].kws + [24]                            # an undefined letter
            own[3].sizes = ""                                         # no ,S= nor ,W=
            own[4].in_new, own[4].flags = True, "S"                   # new/ with info
            own[4].new_info = True
        # a late delivery (unseen by Dovecot) with a letter no keyword defines
        late = [m for m in self.msgs if m.user is u0 and m.gen == 3 and m.link_of is None
                and id(m) not in sources]
        if late:
            m = late[0]
            m.in_new, m.new_info = False, False
            m.flags = m.flags or "S"
            m.kws = m.kws + [24]

    def decorate(self, m):
        r = self.rng
        f = m.folder
        if r.random() < 0.01:
            m.data = m.data.replace(b"\n", b"\r\n")          # a CRLF message
        elif r.random() < 0.004:
            m.data = m.data.rstrip(b"\n")                     # no final newline
        flags = set()
        if f == ["INBOX"] or f[0] == "Lists":
            if r.random() < (0.06 if f == ["INBOX"] else 0.15):
                m.in_new = True
                if r.random() < 0.15:
                    # flags changed before any IMAP login: Dovecot renames inside new/
                    m.new_info = True
                    flags.update("S" if r.random() < 0.7 else "FS")
            else:
                if r.random() < (0.88 if f == ["INBOX"] else 0.65):
                    flags.add("S")
                if "S" in flags and r.random() < 0.15:
                    flags.add("R")
                if r.random() < 0.05:
                    flags.add("F")
                if r.random() < 0.01:
                    flags.add("T")
                if r.random() < 0.01:
                    flags.add("P")
        elif f == ["Sent"]:
            flags.add("S")
        elif f == ["Drafts"]:
            flags.update("DS" if r.random() < 0.8 else "D")
        elif f == ["Trash"]:
            if r.random() < 0.9:
                flags.add("S")
            if r.random() < 0.3:
                flags.add("T")
        else:
            if r.random() < 0.97:
                flags.add("S")
            if r.random() < 0.04:
                flags.add("F")
        m.flags = "".join(sorted(flags))
        names = m.user["kwmap"].get(tuple(f))
        if names and (not m.in_new or m.new_info) and r.random() < 0.15:
            pick = r.sample(names, 1 if r.random() < 0.8 else min(2, len(names)))
            m.kws = [names.index(k) for k in pick]
        if not m.in_new and r.random() < 0.002:
            m.kws = m.kws + [24]                              # a letter no keyword defines
        s = r.random()
        m.sizes = "SW" if s < 0.7 else ("S" if s < 0.8 else "")
        s = r.random()
        m.style = ("dovecot" if s < 0.8 else "courier" if s < 0.88 else "postfix" if s < 0.95
                   else "qmail")

    def name_of(self, m):
        r = self.rng
        if m.link_of is not None:
            m.data = m.link_of.data
        while True:
            pid = r.randint(300, 65000)
            us = r.randint(0, 999999)
            host = r.choice(HOSTS)
            if m.batch is not None:
                pid, us = m.batch
                host = "mail"
            if m.style == "dovecot":
                base = "%d.M%dP%d.%s" % (m.secs, us, pid, host)
            elif m.style == "courier":
                base = "%d.M%dP%dV%016XI%016X_%d.%s" % (m.secs, us, pid, 0xFE00,
                                                         r.getrandbits(28), r.randint(0, 9), host)
            elif m.style == "postfix":
                base = "%d.V%xI%xM%d.%s" % (m.secs, 0xfe01, r.getrandbits(24), us, host)
            else:
                base = "%d.%d_%d.%s" % (m.secs, pid, r.randint(0, 99), host)
            if base not in self.uniq:
                break
            m.batch = None
        self.uniq.add(base)
        if "S" in m.sizes:
            base += ",S=%d" % len(m.data)
        if "W" in m.sizes:
            base += ",W=%d" % (len(m.data) + m.data.count(b"\n") - m.data.count(b"\r\n"))
        if m.in_new and not m.new_info:
            m.name = base
        else:
            letters = "".join(chr(97 + k) for k in sorted(set(m.kws)))
            m.name = base + ":2," + "".join(sorted(m.flags + letters))

    # ---------------------------------------------------------------- writing
    def chown(self, path):
        if self.a.uid is not None:
            os.lchown(path, self.a.uid, self.a.gid)

    def mkdirs(self):
        os.makedirs(self.out, exist_ok=True)
        os.chmod(self.out, 0o755)
        for u in self.users:
            for d in (os.path.join(self.out, u["domain"]), u["home"]):
                os.makedirs(d, exist_ok=True)
                self.chown(d)
            md = u["maildir"]
            for f in u["folders"]:
                fd = os.path.join(md, folder_dir(f))
                for sub in ("", "cur", "new", "tmp"):
                    p = os.path.join(fd, sub)
                    os.makedirs(p, exist_ok=True)
                    self.chown(p)
                if f != ["INBOX"]:
                    mf = os.path.join(fd, "maildirfolder")
                    open(mf, "w").close()
                    self.chown(mf)
                names = u["kwmap"].get(tuple(f))
                if names:
                    kf = os.path.join(fd, "dovecot-keywords")
                    with open(kf, "w") as fh:
                        fh.write("".join("%d %s\n" % (i, k) for i, k in enumerate(names)))
                    self.chown(kf)
        with open(os.path.join(self.out, "users"), "w") as fh:
            for u in sorted(self.users, key=lambda u: u["name"]):
                fh.write("%s\t%s\n" % (u["name"], u["maildir"]))

    def path_of(self, m):
        return os.path.join(m.user["maildir"], folder_dir(m.folder), "new" if m.in_new else "cur",
                            m.name)

    def write(self, gen):
        n = 0
        # files first, then the hard links to them
        for m in [m for m in self.msgs if m.link_of is None] + \
                [m for m in self.msgs if m.link_of is not None]:
            if m.gen != gen:
                continue
            p = self.path_of(m)
            if m.link_of is not None:
                os.link(self.path_of(m.link_of), p)
                self.stats["links"] += 1
            else:
                with open(p, "wb") as fh:
                    fh.write(m.data)
                self.chown(p)
                os.utime(p, (m.received, m.received))
                self.stats["bytes"] += len(m.data)
            self.stats["files"] += 1
            n += 1
        self.log("generation %d: %d files written" % (gen, n))

    def write_subscriptions_v1(self):
        """Without Dovecot: a subscriptions file as Dovecot writes it (version 2)."""
        for u in self.users:
            subs = [f for f in u["folders"] if f[0] in ("INBOX", "Sent", "Lists", "Entwürfe")]
            p = os.path.join(u["maildir"], "subscriptions")
            with open(p, "w") as fh:
                fh.write("V\t2\n\n")
                for f in subs:
                    fh.write("\t".join(mutf7(c) for c in f) + "\n")
            self.chown(p)

    # ---------------------------------------------------------------- Dovecot
    def dovecot_phases(self):
        import dvlib
        dvlib.exit_on_signals()
        why = dvlib.unavailable_reason()
        if why is not None:
            sys.exit("gen_store: %s (or use --no-dovecot)" % why)
        dvlib.make_traversable(self.out)
        r = self.rng
        dv = dvlib.Dovecot()
        try:
            for u in self.users:
                dv.add_user(u["name"], u["home"])
            dv.start()
            self.write(1)
            self.sync(dv)
            self.write(2)
            self.sync(dv)
            self.dovecot_activity(dv, r)
            self.patch_pop3()
            if self.a.dsync_user and len(self.users) >= 3:
                self.dsync_user(dv, r)
        finally:
            dv.stop()
        self.write(3)

    def sync(self, dv):
        for u in self.users:
            dv.status(u["name"], ["messages", "uidnext"])
        self.log("Dovecot synced every mailbox")

    def dovecot_activity(self, dv, r):
        """What Dovecot itself does to a store in use: subscriptions, save-date
        lookups that it caches, flag and keyword changes (renames, in cur/ and,
        through doveadm, inside new/), an IMAP login that moves new/ to cur/,
        expunges that leave stale uidlist lines."""
        import subprocess
        for u in self.users:
            subs = ["INBOX", "Sent"] + ["/".join(f) for f in u["folders"]
                                          if f[0] == "Lists" or f == ["Entwürfe"] or f == ["R&D"]]
            dv.subscribe(u["name"], subs)
            # Trash is autoexpunged by save date on many servers: Dovecot looks the
            # save dates up, and its cache keeps them
            if r.random() < 0.7:
                dv.fetch(u["name"], ["uid", "date.saved"], ["mailbox", "Trash", "ALL"])
        time.sleep(1.1)   # so that the renames below give the files a later ctime
        for u in self.users:
            by_box = {}
            for row in dv.fetch(u["name"], ["mailbox", "uid"]):
                by_box.setdefault(row["mailbox"], []).append(int(row["uid"]))

            def some(box, frac=0.04):
                uids = by_box.get(box, [])
                return r.sample(uids, max(1, int(len(uids) * frac))) if uids else []

            def uidset(uids):
                return ",".join(map(str, sorted(uids)))
            if r.random() < 0.6:
                # an IMAP client: SELECT moves the files of new/ to cur/
                script = []
                for box in ["INBOX", "Trash", "Archive"] + [
                        "/".join(f) for f in u["folders"] if f[0] == "Lists"][:1]:
                    if not by_box.get(box):
                        continue
                    script.append('SELECT "%s"' % box)
                    for flags, sign in (("\\Seen \\Answered", "+"), ("\\Seen", "-"),
                                        (r.choice(KEYWORDS[:5]), "+"), ("\\Flagged", "+")):
                        script.append("UID STORE %s %sFLAGS (%s)" % (uidset(some(box)), sign, flags))
                script.append("LOGOUT")
                data = "".join("a%d %s\r\n" % (i, c) for i, c in enumerate(script)).encode()
                p = subprocess.run(["doveadm", "-c", dv.conf, "exec", "imap", "-u", u["name"]],
                                   input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                if p.returncode != 0 or b" BAD " in p.stdout or b" NO " in p.stdout:
                    sys.exit("gen_store: IMAP session for %s failed: %s %s"
                             % (u["name"], p.stdout[-500:], p.stderr[-500:]))
            else:
                # doveadm: renames also inside new/ (the file keeps its place)
                for box in ["INBOX"] + ["/".join(f) for f in u["folders"] if f[0] == "Lists"][:1]:
                    if by_box.get(box):
                        dv.doveadm(["flags", "add", "\\Seen " + r.choice(KEYWORDS[:5]), "mailbox",
                                    box, "uid", uidset(some(box))], user=u["name"])
                        dv.doveadm(["flags", "remove", "\\Seen", "mailbox", box, "uid",
                                    uidset(some(box, 0.02))], user=u["name"])
            for box in ("Trash", "INBOX"):
                if len(by_box.get(box, [])) > 4:
                    dv.doveadm(["expunge", "mailbox", box, "uid", uidset(some(box, 0.03))],
                               user=u["name"])
        self.log("Dovecot changed flags and keywords, expunged some messages")

    def dsync_user(self, dv, r):
        """A user whose mail came from an sdbox server by dsync (doveadm backup): the
        messages got sdbox GUIDs there, so the Maildir's uidlist has a G field per
        record, the file names are dsync's, and the UIDs follow dsync's save order."""
        import subprocess
        home = os.path.join(self.out, "example.org", "migrated")
        sdh = os.path.join(self.out, ".dsync-tmp")
        for d in (os.path.join(self.out, "example.org"), home, sdh):
            os.makedirs(d, exist_ok=True)
            os.chown(d, self.a.uid, self.a.gid)
        name = "migrated@example.org"
        dv.add_user("dsync-src", sdh, mail="sdbox:~/sdbox", wait=False)
        dv.add_user(name, home)
        src = [m for m in self.msgs if m.gen < 3 and m.user is self.users[0]]
        pick = r.sample(src, min(len(src), max(5, min(60, self.a.messages // 10))))
        boxes = ["INBOX", "Work", "Entwürfe"]
        dv.doveadm(["mailbox", "create", "Work", "Entwürfe"], user="dsync-src")
        for i, m in enumerate(pick):
            p = subprocess.run(["doveadm", "-c", dv.conf, "save", "-u", "dsync-src", "-m",
                                boxes[i % 3] if i % 2 else "INBOX"], input=m.data,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            if p.returncode != 0:
                sys.exit("gen_store: doveadm save failed: %s" % p.stderr.decode(errors="replace"))
        n = len(pick)
        dv.doveadm(["flags", "add", "\\Seen", "mailbox", "INBOX", "uid", "1:%d" % max(1, n // 3)],
                   user="dsync-src")
        dv.doveadm(["flags", "add", "$Label1 \\Flagged", "mailbox", "INBOX", "uid", "2"],
                   user="dsync-src")
        dv.doveadm(["backup", "-R", "sdbox:" + os.path.join(sdh, "sdbox")], user=name)
        dv.doveadm(["mailbox", "subscribe", "INBOX", "Work"], user=name)
        # and the user keeps working on the migrated Maildir
        dv.doveadm(["flags", "add", "\\Answered", "mailbox", "INBOX", "uid", "1"], user=name)
        import shutil
        shutil.rmtree(sdh)
        self.extra_users.append({"name": name, "home": home,
                                 "maildir": os.path.join(home, "Maildir")})
        self.stats["files"] += n
        self.log("user %s: %d messages through sdbox and dsync" % (name, n))

    def patch_pop3(self):
        """P<uidl> O<order> fields in some INBOX uidlists, as an old POP3 server left them."""
        r = self.rng
        for i, u in enumerate(self.users):
            if i % 2 == 1 and r.random() < 0.8:
                continue
            p = os.path.join(u["maildir"], "dovecot-uidlist")
            with open(p) as fh:
                lines = fh.read().split("\n")
            hdr = lines[0]
            v = int([t[1:] for t in hdr.split()[1:] if t.startswith("V")][0])
            style = i % 4
            order = 0
            out = [hdr]
            recs = [ln for ln in lines[1:] if ln]
            cut = int(len(recs) * r.uniform(0.4, 0.9))       # the older mail was POP3'd
            for k, ln in enumerate(recs):
                if k < cut and " :" in ln:
                    uid = int(ln.split(" ", 1)[0])
                    fields, name = ln.split(" :", 1)
                    order += 1
                    if style == 0:
                        uidl = "UID%d-%d" % (uid, v - 1000000000 if v > 1000000000 else v)
                    elif style == 1:
                        uidl = "%08x%08x" % (uid, v)
                    elif style == 2:
                        uidl = ""                              # P alone: the base file name
                    else:
                        uidl = hashlib.md5(name.encode()).hexdigest()
                    if k % 17 == 5:
                        fields += " P%s" % uidl                 # no POP3 order recorded
                    else:
                        fields += " P%s O%d" % (uidl, order)
                    ln = fields + " :" + name
                out.append(ln)
            tmp = p + ".gen"
            with open(tmp, "w") as fh:
                fh.write("\n".join(out) + "\n")
            self.chown(tmp)
            os.rename(tmp, p)
        self.log("POP3 UIDLs patched into INBOX uidlists")

    def run(self):
        self.make_users()
        self.plan()
        self.log("planned %d users, %d messages" % (len(self.users), len(self.msgs)))
        self.mkdirs()
        if self.a.no_dovecot:
            for g in (1, 2, 3):
                self.write(g)
            self.write_subscriptions_v1()
        else:
            self.dovecot_phases()
        allu = self.users + self.extra_users
        with open(os.path.join(self.out, "users"), "w") as fh:
            for u in sorted(allu, key=lambda u: u["name"]):
                fh.write("%s\t%s\n" % (u["name"], u["maildir"]))
        info = {"seed": self.a.seed, "users": [u["name"] for u in allu],
                "maildirs": {u["name"]: u["maildir"] for u in allu},
                "homes": {u["name"]: u["home"] for u in allu},
                "messages": len(self.msgs), "dovecot": not self.a.no_dovecot,
                "seconds": round(time.time() - self.t0, 1)}
        info.update(self.stats)
        with open(os.path.join(self.out, "gen_store.json"), "w") as fh:
            json.dump(info, fh, indent=1, ensure_ascii=False)
        self.log("done: %d files, %d bytes, %d hard links" % (self.stats["files"],
                                                               self.stats["bytes"],
                                                               self.stats["links"]))


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="where to create the store (DIR/<domain>/<user>/Maildir)")
    p.add_argument("--users", type=int, default=4)
    p.add_argument("--messages", type=int, default=300, help="about this many messages in all")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--attach-frac", type=float, default=0.12,
                   help="share of messages with attachments (default 0.12)")
    p.add_argument("--attach-share", type=float, default=0.3,
                   help="share of attachments that are forwarded copies of earlier ones (default 0.3)")
    p.add_argument("--list-frac", type=float, default=0.15, help="share of list mail (default 0.15)")
    p.add_argument("--unsynced", type=float, default=0.03,
                   help="share of files delivered after Dovecot's last sync (default 0.03)")
    p.add_argument("--no-dsync-user", dest="dsync_user", action="store_false",
                   help="no extra user migrated@example.org whose Maildir dsync made from an "
                   "sdbox store (made by default with Dovecot and at least 3 users)")
    p.add_argument("--no-dovecot", action="store_true",
                   help="write the files only: no uidlists, no Dovecot (no root needed)")
    p.add_argument("--uid", type=int, default=None, help="owner of the files (default 5000 with Dovecot)")
    p.add_argument("--gid", type=int, default=None)
    p.add_argument("--now", type=int, default=None,
                   help="unix time the store is made at: received dates are in the three years "
                   "before (default: the start of today, UTC, so a seed gives the same store "
                   "all day)")
    p.add_argument("-q", "--quiet", action="store_true")
    a = p.parse_args()
    global NOW
    if a.now is not None:
        NOW = a.now
    if a.users < 1 or a.messages < 0:
        p.error("--users must be >= 1 and --messages >= 0")
    if not a.no_dovecot and a.uid is None:
        a.uid = 5000
    if a.uid is not None and a.gid is None:
        a.gid = a.uid
    if os.path.exists(a.out) and os.listdir(a.out):
        p.error("%s exists and is not empty" % a.out)
    Gen(a).run()


if __name__ == "__main__":
    main()
