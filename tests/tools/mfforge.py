#!/usr/bin/env python3
"""mfforge.py: an independent writer of mailferry archives (spec/FORMAT.md), for
tests that need archives mailferry's own writer refuses to make: lying counts,
hostile names, bad references, decompression bombs, odd tar members.

Everything is written from the spec with the Python standard library only:
BLAKE2b through hashlib, zstd frames made of raw and RLE blocks (a valid zstd
frame needs no compressor), a hand-made ustar/pax writer, and the signature
through `minisign -S` (Ed25519 over the BLAKE2b-512 of the manifest, the
trusted comment the spec asks for).

    import mfforge as F
    a = F.Archive()
    u = a.user("alice@example.com")
    mb = u.mailbox("", ["INBOX"], inbox=True)
    mb.msg(1, b"Subject: hi\\n\\nbody\\n")
    data = a.build("spec/vectors/test.key")      # the archive's bytes
    open("x.mfa", "wb").write(data)

Hooks for damage (each sees what the writer made and may change it):
    a.header_over = {"frames": 10**9}               HEADER fields
    a.records_hook = fn(list of (type, payload))    before segmenting
    a.frames_hook = fn(list of Frame)               after blobs are placed
    a.members_hook = fn(list of Member)             after the manifest lists them
    a.manifest_hook = fn(text) -> text              before signing
    a.tar_hook = fn(list of Member)                 what goes into the tar
A Member may carry a tar type, link name, a declared size other than its data's.

    python3 mfforge.py selftest KEY OUT    writes the spec's tiny vector again
"""
import hashlib
import os
import struct
import subprocess
import tempfile

# ---------------------------------------------------------------- encodings

HEADER, PACK, USER, EXTRA, USER_END = 0x01, 0x02, 0x10, 0x11, 0x12
MAILBOX, MESSAGE, MAILBOX_END, END = 0x20, 0x21, 0x22, 0x7F
MAILBOX_DELTA, EXPUNGE, FLAGS, MAILBOX_GONE, USER_GONE = 0x30, 0x31, 0x32, 0x33, 0x34

FORMAT_TEXT = (b"mailferry archive\nformat 1\n"
               b"This is an uncompressed POSIX tar file. MANIFEST names every other member\n"
               b"with its size and BLAKE2b-512 digest and is signed in MANIFEST.minisig\n"
               b"(minisign format). The format is specified in spec/FORMAT.md of mailferry.\n")
assert len(FORMAT_TEXT) == 247


def uv(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def sv(n):
    return uv(((n << 1) ^ (n >> 63)) & 0xFFFFFFFFFFFFFFFF)


def s(b):
    if isinstance(b, str):
        b = b.encode("utf-8", "surrogateescape")
    return uv(len(b)) + b


def kh(key, data, size=32):
    return hashlib.blake2b(data, digest_size=size, key=key).digest()


def blob_id(data):
    return kh(b"mailferry/1/blob", data)


def frame_hash(cdata):
    return kh(b"mailferry/1/frame", cdata)


def message_hash(blobs):
    """blobs: [(id bytes, length)]"""
    h = hashlib.blake2b(digest_size=32, key=b"mailferry/1/message")
    for bid, n in blobs:
        h.update(bid)
        h.update(uv(n))
    return h.digest()


def state_hash(msgs, keywords):
    """msgs: [Msg] of a mailbox; keywords: the mailbox's names."""
    h = hashlib.blake2b(digest_size=32, key=b"mailferry/1/state")
    for m in sorted(msgs, key=lambda m: m.uid):
        names = sorted(keywords[k].encode() if isinstance(keywords[k], str) else keywords[k]
                       for k in m.kw)
        h.update(uv(m.uid) + bytes([m.flags]) + uv(len(names)) + b"".join(s(n) for n in names)
                 + s(m.guid))
    return h.digest()


def digest512(data):
    return hashlib.blake2b(data, digest_size=64).digest()


# ---------------------------------------------------------------- zstd frames

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def zstd_frame(content, fcs=None, window_log=None, blocks=None, block_max=1 << 17,
               no_fcs=False):
    """A zstd frame of raw blocks that declares its content size (fcs, default the
    real one). window_log: write a window descriptor (not single-segment) with this
    log; default single-segment. blocks: a list of ("raw", bytes) / ("rle", byte,
    count) replacing the content's own blocks. no_fcs: a frame that does not declare
    its content size (window 2^20)."""
    fcs = len(content) if fcs is None else fcs
    if blocks is None:
        blocks = [("raw", content[i:i + block_max]) for i in range(0, len(content), block_max)]
        if not blocks:
            blocks = [("raw", b"")]
    # frame header descriptor: FCS field size flag (bits 7-6), single segment (bit 5)
    if fcs < 256 and window_log is None:
        fcs_code, fcs_bytes = 0, struct.pack("<B", fcs)
    elif 256 <= fcs < 65536 + 256:
        fcs_code, fcs_bytes = 1, struct.pack("<H", fcs - 256)
    elif fcs < 1 << 32:
        fcs_code, fcs_bytes = 2, struct.pack("<I", fcs)
    else:
        fcs_code, fcs_bytes = 3, struct.pack("<Q", fcs)
    if no_fcs:
        hdr = bytes([0x00, (20 - 10) << 3])
    elif window_log is None:
        fhd = (fcs_code << 6) | 0x20
        hdr = bytes([fhd]) + fcs_bytes
    else:
        if fcs_code == 0:          # without single-segment, code 0 means "no FCS"
            fcs_code, fcs_bytes = 1, struct.pack("<H", fcs - 256) if fcs >= 256 else None
            if fcs_bytes is None:
                fcs_code, fcs_bytes = 2, struct.pack("<I", fcs)
        fhd = fcs_code << 6
        wd = (window_log - 10) << 3
        hdr = bytes([fhd, wd]) + fcs_bytes
    out = bytearray(ZSTD_MAGIC + hdr)
    for i, b in enumerate(blocks):
        last = 1 if i == len(blocks) - 1 else 0
        if b[0] == "raw":
            out += struct.pack("<I", last | (0 << 1) | (len(b[1]) << 3))[:3] + b[1]
        else:
            out += struct.pack("<I", last | (1 << 1) | (b[2] << 3))[:3] + bytes([b[1]])
    return bytes(out)


def zeros_frame(n, fcs=None):
    """n zero bytes as RLE blocks: a few bytes that expand to n."""
    blocks = []
    left = n
    while left > 0:
        k = min(left, 1 << 17)
        blocks.append(("rle", 0, k))
        left -= k
    return zstd_frame(b"", fcs=n if fcs is None else fcs, blocks=blocks or [("raw", b"")])


# ---------------------------------------------------------------- the model

class Msg:
    def __init__(self, uid, data, flags=0, other="", kw=(), guid=None, received=1704067200,
                 saved=None, uidl="", order=0, src_dir=2, src_name=None):
        self.uid, self.data, self.flags, self.other = uid, data, flags, other
        self.kw = list(kw)
        self.guid = guid if guid is not None else "%d.M1P1.host" % (1700000000 + uid)
        self.received = received
        self.saved = received if saved is None else saved
        self.uidl, self.order, self.src_dir = uidl, order, src_dir
        self.src_name = src_name if src_name is not None else self.guid + ":2,"
        self.pieces = None        # blob cut points (list of bytes); default header/body
        self.refs_over = None     # fn(list of ref dicts) -> list, after placement
        self.size_over = None
        self.vsize_over = None
        self.hash_over = None

    def blobs(self):
        if self.pieces is not None:
            return self.pieces
        d = self.data
        i = d.find(b"\n\n")
        cut = i + 2 if i >= 0 else len(d)
        out = [d[:cut]] if cut > 0 else []
        rest = d[cut:]
        for k in range(0, len(rest), 65536):
            out.append(rest[k:k + 65536])
        return [p for p in out if p]

    def vsize(self):
        d = self.data
        return len(d) + sum(1 for i, c in enumerate(d) if c == 10 and (i == 0 or d[i - 1] != 13))


class Mailbox:
    def __init__(self, stored, components, guid=None, uidvalidity=1700000001, uidnext=None,
                 flags=0, keywords=(), encoding=0, layout=1):
        self.stored = stored
        self.components = list(components)
        self.guid = guid if guid is not None else hashlib.blake2b(
            ("mb:" + repr(stored) + repr(components)).encode(), digest_size=16).digest()
        self.uidvalidity, self._uidnext, self.flags = uidvalidity, uidnext, flags
        self.keywords = list(keywords)
        self.encoding, self.layout = encoding, layout
        self.msgs = []
        self.delta = None          # (kind, base stored, base uidvalidity, base uidnext)
        self.flag_recs = []        # delta FLAGS payload tuples
        self.expunge = None        # [(first, count)]
        self.end_count_over = None
        self.state_over = None

    @property
    def uidnext(self):
        if self._uidnext is not None:
            return self._uidnext
        return max([m.uid for m in self.msgs] + [0]) + 1

    def msg(self, uid, data, **kw):
        m = Msg(uid, data, **kw)
        self.msgs.append(m)
        return m


class User:
    def __init__(self, name, source="/src", uid=5000, gid=5000, owner="vmail", group="vmail"):
        self.name, self.source, self.uid, self.gid = name, source, uid, gid
        self.owner, self.group = owner, group
        self.extras = []       # (role, path, mode, mtime, data, target)
        self.mailboxes = []
        self.gone = []         # MAILBOX_GONE (guid, base stored)
        self.end_over = None   # (mailboxes, messages, extras)

    def mailbox(self, stored, components, inbox=False, subscribed=True, **kw):
        flags = (2 if inbox else 0) | (1 if subscribed else 0)
        mb = Mailbox(stored, components, flags=kw.pop("flags", flags), **kw)
        self.mailboxes.append(mb)
        return mb

    def extra(self, role, path, data=b"", mode=0o600, mtime=1704067200, target=""):
        self.extras.append((role, path, mode, mtime, data, target))


class Frame:
    def __init__(self, fid):
        self.id = fid
        self.content = bytearray()
        self.cdata = None      # compressed bytes (made at placement unless set)
        self.rsize = None      # declared content size in PACK (default len(content))
        self.pack = 1


class Member:
    def __init__(self, name, data, typeflag=b"0", linkname="", size=None, mode=0o444,
                 pax=None, raw_header=None):
        self.name, self.data, self.typeflag, self.linkname = name, data, typeflag, linkname
        self.size = size          # declared tar size (default len(data))
        self.mode = mode
        self.pax = pax            # dict of extra pax records (an 'x' header before it)
        self.raw_header = raw_header   # bytes: written instead of a header


class Archive:
    def __init__(self, kind="full", archive_id=None, created=1704067200, host="forge.example",
                 tool="mfforge 1", chain=0, base=None):
        self.kind = kind
        self.id = archive_id if archive_id is not None else os.urandom(16)
        self.created, self.host, self.tool = created, host, tool
        self.chain = chain if kind == "full" else max(chain, 1)
        self.base = base            # (base id bytes, base manifest bytes)
        self.users = []
        self.users_gone = []
        self.header_over = {}
        self.records_hook = None
        self.frames_hook = None
        self.members_hook = None
        self.manifest_hook = None
        self.tar_hook = None
        self.frame_target = 1 << 20
        self.frames_per_pack = 64
        self.segment_target = 4 << 20
        self.zero_tail = 10240
        self.trusted_comment = None
        # what build() made, for tests that want to look
        self.manifest = None
        self.records = None
        self.frames = None

    def user(self, name, **kw):
        u = User(name, **kw)
        self.users.append(u)
        return u

    # ---- placement of blobs into frames
    def _place(self):
        frames = []
        where = {}

        def put(data):
            bid = blob_id(data)
            if bid in where:
                return where[bid]
            if not frames or len(frames[-1].content) + len(data) > self.frame_target:
                frames.append(Frame(len(frames)))
            f = frames[-1]
            loc = (f.id, len(f.content))
            f.content += data
            where[bid] = loc
            return loc
        placed = {}
        for u in self.users:
            for i, x in enumerate(u.extras):
                refs = []
                for piece in _cut(x[4]):
                    fid, off = put(piece)
                    refs.append({"flags": 1, "id": blob_id(piece), "len": len(piece), "loc": 1,
                                 "frame": fid, "offset": off})
                placed[("x", id(u), i)] = refs
            for mb in u.mailboxes:
                for m in mb.msgs:
                    refs = []
                    for piece in m.blobs():
                        fid, off = put(piece)
                        refs.append({"flags": 1, "id": blob_id(piece), "len": len(piece),
                                     "loc": 1, "frame": fid, "offset": off})
                    placed[("m", id(m))] = refs
        for f in frames:
            f.pack = 1 + f.id // self.frames_per_pack
        return frames, placed

    def _records(self, frames, placed):
        recs = []
        n_users = n_mb = n_msg = n_ext = n_refs = msg_bytes = 0
        body = []
        for u in self.users:
            n_users += 1
            body.append((USER, s(u.name) + s(u.source) + uv(u.uid) + uv(u.gid) + s(u.owner)
                         + s(u.group)))
            u_mb = u_msg = 0
            for i, x in enumerate(u.extras):
                role, path, mode, mtime, data, target = x
                refs = placed[("x", id(u), i)]
                n_refs += len(refs)
                body.append((EXTRA, bytes([role]) + s(path) + uv(mode) + sv(mtime) + uv(len(data))
                             + s(target) + enc_refs(refs)))
                n_ext += 1
            for mb in u.mailboxes:
                n_mb += 1
                u_mb += 1
                body.append((MAILBOX, s(mb.stored) + uv(len(mb.components))
                             + b"".join(s(c) for c in mb.components)
                             + bytes([mb.encoding, mb.layout]) + mb.guid + uv(mb.uidvalidity)
                             + uv(mb.uidnext) + uv(mb.flags) + uv(len(mb.keywords))
                             + b"".join(s(k) for k in mb.keywords)))
                if mb.delta is not None:
                    k, bs, buv, bun = mb.delta
                    body.append((MAILBOX_DELTA, bytes([k]) + s(bs) + uv(buv) + uv(bun)))
                for m in mb.msgs:
                    refs = placed[("m", id(m))]
                    if m.refs_over is not None:
                        refs = m.refs_over(refs)
                    size = m.size_over if m.size_over is not None else len(m.data)
                    vsize = m.vsize_over if m.vsize_over is not None else m.vsize()
                    h = m.hash_over if m.hash_over is not None else message_hash(
                        [(r["id"], r["len"]) for r in refs])
                    n_refs += len(refs)
                    n_msg += 1
                    u_msg += 1
                    msg_bytes += size
                    body.append((MESSAGE, uv(m.uid) + bytes([m.flags]) + s(m.other)
                                 + uv(len(m.kw)) + b"".join(uv(k) for k in m.kw) + s(m.guid)
                                 + sv(m.received) + sv(m.saved) + uv(size) + uv(vsize)
                                 + s(m.uidl) + uv(m.order) + bytes([m.src_dir]) + s(m.src_name)
                                 + h + enc_refs(refs)))
                for fr in mb.flag_recs:
                    uid, old, new, other, added, removed = fr
                    body.append((FLAGS, uv(uid) + bytes([old, new]) + s(other)
                                 + uv(len(added)) + b"".join(uv(k) for k in added)
                                 + uv(len(removed)) + b"".join(uv(k) for k in removed)))
                if mb.expunge:
                    body.append((EXPUNGE, uv(len(mb.expunge)) + b"".join(
                        uv(a) + uv(b) for a, b in mb.expunge)))
                cnt = mb.end_count_over if mb.end_count_over is not None else len(mb.msgs)
                st = mb.state_over if mb.state_over is not None else state_hash(mb.msgs,
                                                                                mb.keywords)
                body.append((MAILBOX_END, uv(cnt) + st))
            for g, bs in u.gone:
                body.append((MAILBOX_GONE, g + s(bs)))
            end = u.end_over if u.end_over is not None else (u_mb, u_msg, len(u.extras))
            body.append((USER_END, uv(end[0]) + uv(end[1]) + uv(end[2])))
        for name in self.users_gone:
            body.append((USER_GONE, s(name)))
        npacks = max([f.pack for f in frames] + [0])
        hdr = {"kind": 1 if self.kind == "full" else 2, "id": self.id, "users": n_users,
               "mailboxes": n_mb, "messages": n_msg, "extras": n_ext, "packs": npacks,
               "frames": len(frames), "refs": n_refs, "message_bytes": msg_bytes,
               "blob_bytes": sum(len(f.content) for f in frames)}
        hdr.update(self.header_over)
        recs.append((HEADER, bytes([hdr["kind"]]) + hdr["id"] + b"".join(
            uv(hdr[k]) for k in ("users", "mailboxes", "messages", "extras", "packs", "frames",
                                 "refs", "message_bytes", "blob_bytes"))))
        for p in range(1, npacks + 1):
            fs = [f for f in frames if f.pack == p]
            recs.append((PACK, uv(p) + uv(len(fs)) + b"".join(
                uv(f.id) + uv(len(f.cdata)) + uv(f.rsize if f.rsize is not None
                                                   else len(f.content))
                + b"\x01" + frame_hash(f.cdata) for f in fs)))
        recs += body
        recs.append((END, uv(len(recs))))
        return recs, npacks

    def build(self, seckey, workdir=None):
        """The archive's bytes, signed with seckey (a minisign secret key file without
        a password)."""
        frames, placed = self._place()
        for f in frames:
            f.cdata = zstd_frame(bytes(f.content))
        if self.frames_hook:
            self.frames_hook(frames)
        recs, npacks = self._records(frames, placed)
        if self.records_hook:
            recs = self.records_hook(recs) or recs
        self.records, self.frames = recs, frames
        segs, cur = [], b""
        for t, p in recs:
            r = bytes([t]) + uv(len(p)) + p
            if cur and len(cur) + len(r) > self.segment_target:
                segs.append(cur)
                cur = b""
            cur += r
        segs.append(cur)
        members = [Member("FORMAT", FORMAT_TEXT)]
        for i, sg in enumerate(segs):
            members.append(Member("index/%06d" % (i + 1), zstd_frame(sg)))
            members[-1].raw = sg          # the segment's records, for hooks
        npk = max([f.pack for f in frames] + [0])
        for p in range(1, npk + 1):
            members.append(Member("packs/%06d" % p,
                                  b"".join(f.cdata for f in frames if f.pack == p)))
        if self.members_hook:
            members = self.members_hook(members) or members
        text = self.manifest_text(members)
        if self.manifest_hook:
            text = self.manifest_hook(text)
        self.manifest = text
        sig = sign(text, seckey, self.trusted_comment or trusted_comment(
            self.id.hex(), self.kind, self.created), workdir)
        out = [Member("FORMAT", members[0].data) if members[0].name == "FORMAT" else members[0],
               Member("MANIFEST", text), Member("MANIFEST.minisig", sig)] + members[1:]
        if members[0].name != "FORMAT":
            out = [Member("MANIFEST", text), Member("MANIFEST.minisig", sig)] + members
        if self.tar_hook:
            out = self.tar_hook(out) or out
        return tar_bytes(out, self.created, self.zero_tail)

    def manifest_text(self, members):
        lines = ["mailferry-manifest 1", "archive " + self.id.hex(), "kind " + self.kind,
                 "created %d" % self.created, "host " + self.host, "tool " + self.tool,
                 "chain %d" % self.chain]
        if self.kind == "full":
            lines.append("base -")
        else:
            lines.append("base %s %s" % (self.base[0].hex(), self.base[1].hex()))
        lines.append("encryption none")
        lines.append("members %d" % len(members))
        for m in members:
            size = m.size if m.size is not None else len(m.data)
            lines.append("member %s %d %s" % (m.name, size, digest512(m.data).hex()))
        lines.append("end")
        return ("\n".join(lines) + "\n").encode()


def _cut(data):
    return [data[i:i + 65536] for i in range(0, len(data), 65536)]


def enc_refs(refs):
    out = uv(len(refs))
    for r in refs:
        out += bytes([r["flags"]])
        if r["flags"] & 1:
            out += r["id"]
        out += uv(r["len"]) + bytes([r["loc"]])
        if r["loc"] == 2:
            out += r["guid"] + uv(r["uid"]) + uv(r["offset"])
        else:
            out += uv(r["frame"]) + uv(r["offset"])
    return out


def trusted_comment(id_hex, kind, created):
    return "mailferry archive %s kind %s created %d" % (id_hex, kind, created)


def sign(manifest, seckey, tcomment, workdir=None):
    """MANIFEST.minisig for manifest bytes, made by minisign -S."""
    d = tempfile.mkdtemp(dir=workdir)
    try:
        mp, sp = os.path.join(d, "MANIFEST"), os.path.join(d, "sig")
        with open(mp, "wb") as f:
            f.write(manifest)
        r = subprocess.run(["minisign", "-S", "-s", seckey, "-m", mp, "-x", sp, "-t", tcomment,
                            "-c", "signature from mailferry secret key"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        if r.returncode != 0:
            raise RuntimeError("minisign -S failed: %s" % r.stderr.decode())
        with open(sp, "rb") as f:
            return f.read()
    finally:
        for n in os.listdir(d):
            os.unlink(os.path.join(d, n))
        os.rmdir(d)


# ---------------------------------------------------------------- tar

def _octal(n, width):
    s_ = ("%o" % n).encode()
    if len(s_) > width - 1:
        # base-256 (GNU) for numbers that do not fit
        b = bytearray(width)
        b[0] = 0x80
        for i in range(width - 1, 0, -1):
            b[i] = n & 0xFF
            n >>= 8
        return bytes(b)
    return s_.rjust(width - 1, b"0") + b"\0"


def tar_header(name, size, typeflag=b"0", linkname="", mode=0o444, mtime=0, uid=0, gid=0,
               devmajor=0, devminor=0):
    nb = name.encode("utf-8", "surrogateescape") if isinstance(name, str) else name
    prefix = b""
    if len(nb) > 100:
        cut = nb.rfind(b"/", 0, 156)
        if cut > 0 and len(nb) - cut - 1 <= 100:
            prefix, nb = nb[:cut], nb[cut + 1:]
        else:
            nb = nb[:100]
    lb = linkname.encode() if isinstance(linkname, str) else linkname
    h = bytearray(512)
    h[0:len(nb)] = nb
    h[100:108] = _octal(mode, 8)
    h[108:116] = _octal(uid, 8)
    h[116:124] = _octal(gid, 8)
    h[124:136] = _octal(size, 12)
    h[136:148] = _octal(mtime, 12)
    h[148:156] = b" " * 8
    h[156:157] = typeflag
    h[157:157 + len(lb[:100])] = lb[:100]
    h[257:263] = b"ustar\0"
    h[263:265] = b"00"
    h[265:269] = b"root"
    h[297:301] = b"root"
    h[329:337] = _octal(devmajor, 8)
    h[337:345] = _octal(devminor, 8)
    h[345:345 + len(prefix)] = prefix
    csum = sum(h)
    h[148:156] = ("%06o" % csum).encode() + b"\0 "
    return bytes(h)


def pax_record(key, value):
    v = value.encode() if isinstance(value, str) else value
    body = b" " + key.encode() + b"=" + v + b"\n"
    n = len(body) + 1
    while len(str(n).encode() + body) != n:
        n = len(str(n).encode() + body)
    return str(n).encode() + body


def pad512(data):
    return data + b"\0" * (-len(data) % 512)


def tar_bytes(members, mtime=0, zero_tail=10240):
    out = bytearray()
    for m in members:
        if m.raw_header is not None:
            out += m.raw_header
            out += pad512(m.data)
            continue
        if m.pax:
            pdata = b"".join(pax_record(k, v) for k, v in m.pax.items())
            out += tar_header("PaxHeader/" + m.name[-80:], len(pdata), b"x", mtime=mtime)
            out += pad512(pdata)
        size = m.size if m.size is not None else len(m.data)
        if m.typeflag not in (b"0", b"\0", b"7"):
            size = m.size if m.size is not None else 0
        out += tar_header(m.name, size, m.typeflag, m.linkname, m.mode, mtime)
        out += pad512(m.data)
    out += b"\0" * 1024
    # blocking: pad to a multiple of 10240 bytes, at least zero_tail zeros counted above
    out += b"\0" * (-len(out) % 10240)
    return bytes(out)


def read_tar(data):
    """[(name, typeflag, data)] of a plain ustar archive as mfforge or mailferry writes it."""
    out = []
    off = 0
    while off + 512 <= len(data):
        h = data[off:off + 512]
        if h == b"\0" * 512:
            break
        name = h[0:100].rstrip(b"\0").decode()
        prefix = h[345:500].rstrip(b"\0").decode()
        if prefix:
            name = prefix + "/" + name
        size = int(h[124:136].rstrip(b"\0 ") or b"0", 8)
        tf = h[156:157]
        body = data[off + 512:off + 512 + size]
        out.append((name, tf, body))
        off += 512 + size + (-size % 512)
    return out


# ---------------------------------------------------------------- self test

if __name__ == "__main__":
    import sys
    if len(sys.argv) == 4 and sys.argv[1] == "selftest":
        a = Archive()
        u = a.user("alice@example.com")
        mb = u.mailbox("", ["INBOX"], inbox=True, keywords=["$Label1"])
        mb.msg(1, b"From: a@example.com\nSubject: one\n\nbody one\n", flags=8, kw=[0])
        mb.msg(2, b"From: b@example.com\nSubject: two\n\nbody two\n" * 3)
        with open(sys.argv[3], "wb") as f:
            f.write(a.build(sys.argv[2]))
    else:
        sys.exit(__doc__)
