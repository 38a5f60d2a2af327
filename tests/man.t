#!/usr/bin/env python3
# man.t: the manual pages man/mailferry.1 and man/mailferry.5 format without a
# warning (man -l, and groff -t -man -Tutf8 -ww), and mailferry.1 cannot drift
# from the code: every command that `mailferry --help` lists has its section
# (.SS "mailferry CMD"), every option that `mailferry CMD --help` prints is a
# .TP tag there with the same short form and argument name ("-p, --public
# FILE|DIR"), every option tagged there is still in --help, every exit code of
# `mailferry --help` is under EXIT STATUS, and the version is that of the
# binary. `make install` puts both pages under share/man.
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MF = os.environ.get("MAILFERRY", os.path.join(SRC, "build", "mailferry"))
PAGES = [os.path.join(SRC, "man", "mailferry.1"), os.path.join(SRC, "man", "mailferry.5")]

n = 0
failed = 0


def ok(cond, name, *diag):
    global n, failed
    n += 1
    print(("ok %d - %s" if cond else "not ok %d - %s") % (n, name))
    if not cond:
        failed += 1
        for d in diag:
            for line in str(d).splitlines():
                print("#   " + line)
    return cond


def skip(name, why):
    global n
    n += 1
    print("ok %d # skip %s: %s" % (n, name, why))


def run(cmd, env=None):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


# ---- formatting without warnings ---------------------------------------------------
env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80", MANPAGER="cat", PAGER="cat")
env.pop("MANOPT", None)
have_man = shutil.which("man") is not None
have_groff = shutil.which("groff") is not None
for page in PAGES:
    name = os.path.basename(page)
    sec = name.rsplit(".", 1)[1]
    if have_man:
        rc, out, err = run(["man", "--warnings=all", "-l", page], env)
        ok(rc == 0 and err == "" and ("MAILFERRY(%s)" % sec) in out,
           "man -l %s: no warnings" % name, err or ("exit %d" % rc))
    else:
        skip("man -l %s" % name, "no man")
    if have_groff:
        rc, out, err = run(["groff", "-t", "-man", "-Tutf8", "-ww", "-z", page], env)
        ok(rc == 0 and err == "", "groff -t -man -Tutf8 -ww %s: no warnings" % name,
           err or ("exit %d" % rc))
    else:
        skip("groff %s" % name, "no groff")

# ---- mailferry.1 against --help ----------------------------------------------------
ALT = {"BR", "BI", "IR", "IB", "RB", "RI"}


def text_of(line):
    """The text a man(7) line shows, with fonts and escapes taken out."""
    if line.startswith("."):
        parts = line[1:].split(None, 1)
        macro, rest = parts[0], parts[1] if len(parts) > 1 else ""
        try:
            args = shlex.split(rest.replace("\\", "\\\\"), posix=True)
        except ValueError:
            args = rest.split()
        line = ("" if macro in ALT else " ").join(args)
    line = re.sub(r"\\f(\[[^]]*\]|\(..|.)", "", line)
    line = line.replace("\\-", "-").replace("\\&", "").replace("\\%", "").replace("\\e", "\\")
    return line.strip()


with open(PAGES[0], encoding="utf-8") as f:
    src1 = f.read().splitlines()

# sections: .SS "mailferry CMD" -> the tags of its .TP items
sections = {}
cur = None
for i, line in enumerate(src1):
    if line.startswith(".SH"):
        cur = None
    elif line.startswith(".SS"):
        m = re.match(r'\.SS\s+"?mailferry (\w+)"?\s*$', line)
        cur = m.group(1) if m else None
        if cur is not None:
            sections[cur] = []
    elif cur is not None and line.startswith(".TP") and i + 1 < len(src1):
        sections[cur].append(text_of(src1[i + 1]))

rc, top, err = run([MF, "--help"])
ok(rc == 0, "mailferry --help", err)
commands = []
m = re.search(r"^Commands:\n((?:  \S.*\n)+)", top, re.M)
if m:
    commands = [l.split()[0] for l in m.group(1).splitlines()]
ok(len(commands) > 0, "mailferry --help lists commands (%s)" % " ".join(commands), top)

OPT = re.compile(r"^ {2,8}(?:(-[A-Za-z0-9]), )?(--[a-z0-9][a-z0-9-]*)(?: (\S+))?")
for cmd in commands:
    rc, out, err = run([MF, cmd, "--help"])
    opts = {}
    for l in out.splitlines():
        mo = OPT.match(l)
        if mo:
            short, long_, arg = mo.groups()
            opts[long_] = ("%s, " % short if short else "") + long_ + (" " + arg if arg else "")
    ok(rc == 0 and len(opts) > 0, "mailferry %s --help: %d options" % (cmd, len(opts)), err)
    if not ok(cmd in sections, "mailferry.1 has a section for %s" % cmd):
        continue
    tags = [t for t in sections[cmd] if t.startswith("-")]
    for long_, want in opts.items():
        ok(want in tags, "mailferry.1, %s: %s" % (cmd, want),
           "not among the tags of .SS \"mailferry %s\":" % cmd, *tags)
    stale = [t for t in tags if t not in opts.values()]
    ok(not stale, "mailferry.1, %s: no option that --help lacks" % cmd, *stale)
extra = sorted(set(sections) - set(commands))
ok(not extra, "mailferry.1 documents no command that --help lacks", *extra)

# exit codes: "Exit codes: 0 ok, 1 ..., 7 target refused." against EXIT STATUS
codes = re.findall(r"(?:^|[ ,:])(\d+) [a-zA-Z/]", top.split("Exit codes:", 1)[-1], re.M)
exitsec = []
inexit = False
for i, line in enumerate(src1):
    if line.startswith(".SH"):
        inexit = "EXIT STATUS" in line
    elif inexit and line.startswith(".TP") and i + 1 < len(src1):
        exitsec.append(text_of(src1[i + 1]))
missing = [c for c in codes if c not in exitsec]
ok(codes and not missing, "EXIT STATUS lists exit codes %s" % " ".join(codes), *missing)

rc, out, err = run([MF, "--version"])
ver = out.split()[1] if rc == 0 and len(out.split()) > 1 else "?"
for page in PAGES:
    with open(page, encoding="utf-8") as f:
        th = [l for l in f.read().splitlines() if l.startswith(".TH")]
    ok(th and ('"mailferry %s"' % ver) in th[0],
       "%s: .TH names mailferry %s" % (os.path.basename(page), ver), *th)

# ---- make install ------------------------------------------------------------------
if shutil.which("make"):
    dest = tempfile.mkdtemp(prefix="mftest-man.")
    menv = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    build = os.environ.get("MF_BUILD", "build")
    rc, out, err = run(["make", "-s", "-C", SRC, "BUILD=" + build, "DESTDIR=" + dest,
                        "PREFIX=/usr", "install"], menv)
    got = [os.path.isfile(os.path.join(dest, "usr/share/man/man%s/mailferry.%s" % (s, s)))
           for s in "15"]
    ok(rc == 0 and all(got), "make install puts mailferry.1 and mailferry.5 under share/man",
       out, err)
    shutil.rmtree(dest, ignore_errors=True)
else:
    skip("make install", "no make")

print("1..%d" % n)
sys.exit(1 if failed else 0)
