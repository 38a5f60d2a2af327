#!/usr/bin/env python3
"""tarsurgery.py: damage a tar archive in controlled ways, for tests.

  tarsurgery.py members ARCHIVE                 name, header offset, data offset, size per member
  tarsurgery.py flip ARCHIVE OFFSET OUT         flip the low bit of the byte at OFFSET
  tarsurgery.py truncate ARCHIVE LENGTH OUT     keep the first LENGTH bytes
  tarsurgery.py drop ARCHIVE NAME OUT           rewrite without member NAME
  tarsurgery.py dup ARCHIVE NAME OUT            rewrite with member NAME twice in a row
  tarsurgery.py swap ARCHIVE NAME1 NAME2 OUT    rewrite with the two members exchanged
  tarsurgery.py replace ARCHIVE NAME FILE OUT   rewrite with NAME's content taken from FILE
  tarsurgery.py add ARCHIVE NAME FILE OUT       rewrite with an extra member at the end
"""
import io
import sys
import tarfile


def members(path):
    with tarfile.open(path, "r:") as t:
        return [(m, t.extractfile(m).read()) for m in t.getmembers()]


def write(out, items):
    with tarfile.open(out, "w:", format=tarfile.PAX_FORMAT) as t:
        for m, data in items:
            info = tarfile.TarInfo(m.name)
            info.size = len(data)
            info.mode = m.mode
            info.mtime = m.mtime
            t.addfile(info, io.BytesIO(data))


def main(a):
    op = a[0]
    if op == "members":
        with tarfile.open(a[1], "r:") as t:
            for m in t.getmembers():
                print(m.name, m.offset, m.offset_data, m.size)
    elif op == "flip":
        data = bytearray(open(a[1], "rb").read())
        data[int(a[2])] ^= 1
        open(a[3], "wb").write(data)
    elif op == "truncate":
        open(a[3], "wb").write(open(a[1], "rb").read()[: int(a[2])])
    elif op == "drop":
        write(a[3], [(m, d) for m, d in members(a[1]) if m.name != a[2]])
    elif op == "dup":
        items = []
        for m, d in members(a[1]):
            items.append((m, d))
            if m.name == a[2]:
                items.append((m, d))
        write(a[3], items)
    elif op == "swap":
        items = members(a[1])
        names = [m.name for m, _ in items]
        i, j = names.index(a[2]), names.index(a[3])
        items[i], items[j] = items[j], items[i]
        write(a[4], items)
    elif op == "replace":
        new = open(a[3], "rb").read()
        write(a[4], [(m, new if m.name == a[2] else d) for m, d in members(a[1])])
    elif op == "add":
        items = members(a[1])
        info = tarfile.TarInfo(a[2])
        info.mode = 0o444
        items.append((info, open(a[3], "rb").read()))
        write(a[4], items)
    else:
        sys.exit("unknown operation " + op)


if __name__ == "__main__":
    main(sys.argv[1:])
