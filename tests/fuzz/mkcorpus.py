#!/usr/bin/env python3
"""mkcorpus.py: builds the seed corpora of tests/fuzz/corpus/<target>/ from
real samples (how the committed seeds were made; rerun to refresh them).

  mkcorpus.py OUT SAMPLES [--ref REFSAMPLES] [--index DIR] [--archive A.mfa ...]

(fuzz_courier_pop3's seeds are hand-written: no sample has a courierpop3dsizelist.)
SAMPLES is a copy of tests/data/samples (maildir-dovecot, maildir-layoutfs,
maildir-courier); REFSAMPLES the reference samples with Dovecot-made sdbox
and mdbox index logs and caches; --index a Dovecot mailbox directory that
holds a main dovecot.index (Dovecot writes one only after enough changes);
--archive archives signed by spec/vectors/test.key (spec/vectors/tiny.mfa
and ones made with `mailferry pack -s spec/vectors/test.key`).
Split inputs use the u32le length-prefixed parts of fuzz_util.h. Needs the
zstd command (index segments are zstd frames), and minisign for the
signature seeds."""
import argparse
import io
import os
import struct
import subprocess
import sys
import tarfile
import tempfile

SIGNED_MSG = b"mailferry fuzz message\n"   # FZ_SIGNED_MSG of fuzz_minisig.c


def part(b):
    return struct.pack("<I", len(b)) + b


class Out:
    def __init__(self, root):
        self.root = root

    def put(self, target, name, data):
        d = os.path.join(self.root, target)
        os.makedirs(d, exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80]
        with open(os.path.join(d, safe), "wb") as f:
            f.write(data)


def read(p):
    with open(p, "rb") as f:
        return f.read()


def walk(root):
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for f in sorted(files):
            yield os.path.join(d, f)


def members(path):
    with tarfile.open(path) as t:
        return [(m.name, t.extractfile(m).read()) for m in t.getmembers()]


def unzstd(b):
    return subprocess.run(["zstd", "-dc"], input=b, stdout=subprocess.PIPE, check=True).stdout


def maildir_seeds(out, samples):
    tag = {}
    for p in walk(samples):
        rel = os.path.relpath(p, samples)
        base = os.path.basename(p)
        short = rel.replace("/Maildir", "")
        if base in ("dovecot-uidlist", "courierimapuiddb"):
            out.put("fuzz_uidlist", short, read(p))
        elif base == "dovecot-keywords":
            out.put("fuzz_keywords", short, read(p))
        elif base in ("subscriptions", "courierimapsubscribed"):
            out.put("fuzz_subscriptions", short, read(p))
        elif os.path.basename(os.path.dirname(p)) in ("cur", "new"):
            tag.setdefault("names", []).append(base)
            if len(read(p)) < 4096:
                out.put("fuzz_mail_split", short, read(p))
        if os.path.basename(p) == ":list":
            d = os.path.dirname(p)
            blob = part(read(p))
            for u in sorted(os.listdir(d)):
                if u != ":list":
                    blob += part(u.encode() + b"\n" + read(os.path.join(d, u)))
            out.put("fuzz_courier_keywords", short, blob)
    names = tag.get("names", [])
    for i, n in enumerate(names):
        other = names[(i + 1) % len(names)]
        out.put("fuzz_maildir_name", "pair%d" % i, n.encode() + b"\n" + other.encode())


def dovecot_seeds(out, ref):
    """dovecot.index.log (+ cache) from the reference sdbox/mdbox/maildir samples."""
    n = 0
    for p in walk(ref):
        if os.path.basename(p) == "subscriptions":   # version 2 (sdbox, mdbox)
            out.put("fuzz_subscriptions", os.path.relpath(p, ref).replace("/", "_"), read(p))
        if not p.endswith("dovecot.index.log") and not p.endswith("dovecot.map.index.log"):
            continue
        log = read(p)
        rel = os.path.relpath(p, ref).replace("/", "_")
        out.put("fuzz_dvindex", rel, part(b"") + part(b"") + log)
        cache = os.path.join(os.path.dirname(p), "dovecot.index.cache")
        if os.path.exists(cache) and p.endswith("dovecot.index.log"):
            out.put("fuzz_dvcache", rel, part(b"") + part(log) + read(cache))
        n += 1
    return n


def index_dir_seeds(out, d):
    idx = read(os.path.join(d, "dovecot.index"))
    log = read(os.path.join(d, "dovecot.index.log"))
    out.put("fuzz_dvindex", "main-index-and-log", part(idx) + part(b"") + log)
    out.put("fuzz_dvindex", "main-index-only", part(idx) + part(b""))
    cache = os.path.join(d, "dovecot.index.cache")
    if os.path.exists(cache):
        out.put("fuzz_dvcache", "main-index-log-cache", part(idx) + part(log) + read(cache))


def archive_seeds(out, path):
    name = os.path.splitext(os.path.basename(path))[0]
    out.put("fuzz_container", name + "-archive", read(path))  # *.mfa is git-ignored
    ms = members(path)
    d = dict(ms)
    out.put("fuzz_manifest", name, d["MANIFEST"])
    out.put("fuzz_minisig", name + "-manifest", d["MANIFEST.minisig"])
    blob = part(d["MANIFEST"])
    for mname, data in ms:
        if mname in ("MANIFEST", "MANIFEST.minisig"):
            continue
        if mname.startswith("index/"):
            data = unzstd(data)
            out.put("fuzz_index_codec", name + "-" + mname, data)
        blob += part(mname.encode() + b"\n" + data)
    out.put("fuzz_archive", name, blob)


def key_seeds(out, keydir):
    for f in sorted(os.listdir(keydir)):
        p = os.path.join(keydir, f)
        if f.endswith(".pub"):
            out.put("fuzz_pubkey", f, read(p))
        elif f.endswith(".key"):
            out.put("fuzz_seckey", f, read(p))


def sig_seeds(out, seckey):
    with tempfile.TemporaryDirectory() as t:
        m = os.path.join(t, "msg")
        with open(m, "wb") as f:
            f.write(SIGNED_MSG)
        k = os.path.join(t, "k.key")
        with open(k, "wb") as f:
            f.write(read(seckey))
        os.chmod(k, 0o600)
        for tag, extra in (("prehashed", []), ("legacy", ["-l"])):
            r = subprocess.run(["minisign", "-S", "-s", k, "-m", m, "-t", "fuzz " + tag] + extra,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
            if r.returncode == 0:
                out.put("fuzz_minisig", tag, read(m + ".minisig"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("samples")
    ap.add_argument("--ref")
    ap.add_argument("--index")
    ap.add_argument("--keys", help="directory of .pub/.key files")
    ap.add_argument("--seckey", help="spec/vectors/test.key, for signature seeds")
    ap.add_argument("--messages", nargs="*", default=[])
    ap.add_argument("--archive", nargs="*", default=[])
    a = ap.parse_args()
    out = Out(a.out)
    maildir_seeds(out, a.samples)
    if a.ref:
        dovecot_seeds(out, a.ref)
    if a.index:
        index_dir_seeds(out, a.index)
    if a.keys:
        key_seeds(out, a.keys)
    if a.seckey:
        sig_seeds(out, a.seckey)
    for m in a.messages:
        out.put("fuzz_mail_split", os.path.basename(m), read(m))
    for p in a.archive:
        archive_seeds(out, p)


if __name__ == "__main__":
    sys.exit(main())
