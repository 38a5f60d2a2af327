#!/usr/bin/env python3
"""mutate_store.py: one seeded "day of changes" on a copy of a benchmark store,
for the delta rows of bench/run.

    mutate_store.py --store DIR [--seed S] [--new-frac 0.02] [--flag-frac 0.05]
                    [--new-list FILE] [--dovecot]

DIR holds a `users` file (`user<TAB>maildir`, as gen_store.py and
spam_store.py write it). Of the messages found in the users' Maildirs:
  - new-frac new messages are delivered into the new/ folders of random
    users' INBOX (fresh headers, text bodies made of lines sampled from the
    store's own text mail in a new order, 15% with a new random base64
    attachment), named as a delivery agent names them; their paths go to
    --new-list, so their compressed size can serve as the reference for
    the delta size;
  - flag-frac messages change flags the way an IMAP server does it: a rename
    of the file's `:2,` info (Seen/Flagged/Answered/Deleted set or cleared;
    files in new/ move to cur/ with Seen).
With --dovecot (root), a throwaway Dovecot (tests/dovecot/dvlib.py) then opens
every mailbox, as the server would before the next backup: UIDs for the new
messages, the renames in its uidlists and indexes.
Prints a JSON summary (counts, new bytes) on standard output.
"""

import argparse
import base64
import json
import os
import random
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "tests", "dovecot"))

B64 = re.compile(rb"^[A-Za-z0-9+/=]{40,}$")


def read_users(store):
    with open(os.path.join(store, "users")) as f:
        return [tuple(l.rstrip("\n").split("\t", 1)) for l in f if "\t" in l]


def messages(maildir):
    """Every message file of a Maildir++ tree: (folder dir, sub, name)."""
    out = []
    dirs = [maildir] + [os.path.join(maildir, d) for d in sorted(os.listdir(maildir))
                        if d.startswith(".") and d not in (".", "..")
                        and os.path.isdir(os.path.join(maildir, d))]
    for d in dirs:
        for sub in ("cur", "new"):
            p = os.path.join(d, sub)
            if os.path.isdir(p):
                out += [(d, sub, n) for n in sorted(os.listdir(p)) if not n.startswith(".")]
    return out


def text_lines(r, msgs, want=40000):
    """Body lines of randomly chosen text messages (no base64, no headers)."""
    lines = []
    for d, sub, n in r.sample(msgs, min(len(msgs), 800)):
        try:
            with open(os.path.join(d, sub, n), "rb") as f:
                raw = f.read(200000)
        except OSError:
            continue
        body = raw.split(b"\n\n", 1)[1] if b"\n\n" in raw else b""
        for l in body.split(b"\n"):
            if 0 < len(l) < 200 and not B64.match(l) and not l.startswith(b"--"):
                lines.append(l)
        if len(lines) >= want:
            break
    return lines or [b"nothing to say"]


def new_message(r, user, lines, t, seq):
    dom = user.split("@")[1] if "@" in user else "example.org"
    sender = "%s@%s" % (r.choice(["news", "ops", "billing", "friend", "team", "info"]),
                        r.choice(["example.com", "example.net", "example.edu"]))
    body = b"\n".join(r.choice(lines) for _ in range(r.randint(8, 160))) + b"\n"
    subj = b" ".join(r.choice(lines).split()[:6]).decode("latin-1")[:70] or "hello"
    head = ("Return-Path: <%s>\nDelivered-To: %s\n"
            "Received: from mx.example.com (mx.example.com [203.0.113.%d])\n"
            "\tby mx.%s (Postfix) with ESMTPS id %010X\n\tfor <%s>; %s\n"
            "From: %s\nTo: %s\nSubject: %s\nDate: %s\nMessage-ID: <%d.%016x@example.com>\n"
            "MIME-Version: 1.0\n"
            % (sender, user, r.randrange(1, 254), dom, r.getrandbits(40), user,
               time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(t)), sender, user, subj,
               time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(t)), seq,
               r.getrandbits(64)))
    if r.random() < 0.15:
        b = "=_b%016x" % r.getrandbits(64)
        k = r.randint(5000, 100000)
        blob = r.getrandbits(8 * k).to_bytes(k, "little")
        att = base64.encodebytes(blob)
        data = (head + "Content-Type: multipart/mixed; boundary=\"%s\"\n\n--%s\n"
                "Content-Type: text/plain; charset=utf-8\n\n" % (b, b)).encode() + body + \
            ("\n--%s\nContent-Type: application/octet-stream; name=\"f%d.bin\"\n"
             "Content-Transfer-Encoding: base64\n"
             "Content-Disposition: attachment; filename=\"f%d.bin\"\n\n" % (b, seq, seq)).encode() + \
            att + ("--%s--\n" % b).encode()
    else:
        data = (head + "Content-Type: text/plain; charset=utf-8\n\n").encode() + body
    return data


def new_flags(r, flags):
    f = set(flags)
    op = r.random()
    if op < 0.45:
        f.add("S")
    elif op < 0.6:
        f.discard("S")
    elif op < 0.75:
        f ^= {"F"}
    elif op < 0.9:
        f.add("R")
        f.add("S")
    else:
        f.add("T")
    if f == set(flags):
        f ^= {"F"}
    return "".join(sorted(f))


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", required=True)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--new-frac", type=float, default=0.02)
    p.add_argument("--flag-frac", type=float, default=0.05)
    p.add_argument("--new-list", help="write the new messages' paths here")
    p.add_argument("--dovecot", action="store_true", help="let a throwaway Dovecot sync after")
    a = p.parse_args()
    r = random.Random(a.seed)
    users = read_users(a.store)
    per_user = {u: messages(md) for u, md in users}
    allm = [(u, m) for u, md in users for m in per_user[u]]
    n_new = max(1, round(a.new_frac * len(allm)))
    n_flag = max(1, round(a.flag_frac * len(allm)))
    lines = text_lines(r, [m for _, m in allm])
    # flag changes first (on messages that exist before the day's deliveries)
    renamed = 0
    for u, (d, sub, n) in r.sample(allm, n_flag):
        base, _, info = n.partition(":2,")
        nf = new_flags(r, info if sub == "cur" else "")
        src = os.path.join(d, sub, n)
        dst = os.path.join(d, "cur", base + ":2," + nf)
        if sub == "new":
            dst = os.path.join(d, "cur", base + ":2," + "".join(sorted(set(nf) | {"S"})))
        try:
            os.rename(src, dst)
            renamed += 1
        except FileNotFoundError:
            pass
    new_paths, new_bytes = [], 0
    t0 = int(time.time())
    st_uid = {}
    for i in range(n_new):
        u, md = r.choice(users)
        t = t0 - r.randrange(0, 86400)
        data = new_message(r, u, lines, t, i)
        name = "%d.M%06dP%d.mx.example.org,S=%d" % (t, r.randrange(1000000), 30000 + i, len(data))
        path = os.path.join(md, "new", name)
        with open(path, "wb") as f:
            f.write(data)
        if md not in st_uid:
            st = os.stat(md)
            st_uid[md] = (st.st_uid, st.st_gid)
        os.chown(path, *st_uid[md])
        os.utime(path, (t, t))
        new_paths.append(path)
        new_bytes += len(data)
    if a.new_list:
        with open(a.new_list, "w") as f:
            f.write("".join(p + "\n" for p in new_paths))
    if a.dovecot:
        import dvlib
        why = dvlib.unavailable_reason()
        if why is None:
            with dvlib.Dovecot() as dv:
                for u, md in users:
                    dv.add_user(u, os.path.dirname(md), wait=False)
                for u, md in users:
                    dv.status(u, ["messages", "uidnext"])
        else:
            print("mutate_store: no Dovecot sync: %s" % why, file=sys.stderr)
    json.dump({"messages_before": len(allm), "new_messages": n_new, "new_bytes": new_bytes,
               "flag_changes": renamed, "changed_messages": n_new + renamed,
               "dovecot_synced": bool(a.dovecot)}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
