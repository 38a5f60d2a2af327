/* pack_cmd.c: `mailferry pack`: options, users, progress, the summary. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../cli/cli.h"
#include "../format/archive_write.h"
#include "../format/fsutil.h"
#include "../format/hash.h"
#include "../format/mem.h"
#include "../format/pool.h"
#include "packer.h"
#include "pop3_uidl.h"
#include "users.h"

#define SKIP_LIST_MAX 1000

static void help(void)
{
    printf(
        "Usage: mailferry pack -s SECKEY -o OUT.mfa [options] USER=MAILDIR...\n"
        "       mailferry pack -s SECKEY -o OUT.mfa --users FILE\n"
        "       mailferry pack -s SECKEY -o OUT.mfa --layout '/var/vmail/%%d/%%n/Maildir'\n\n"
        "Snapshots Maildir users (Dovecot 1.x/2.x or Courier IMAP) into a signed,\n"
        "compressed, deduplicated archive. The source is only read, never written,\n"
        "and may be in use: messages renamed or expunged meanwhile are found again or\n"
        "recorded as gone.\n\n"
        "  -s, --secret FILE        secret key that signs the archive\n"
        "  -o, --output FILE        the archive to write, or - for standard output\n"
        "      --users FILE         lines 'user<TAB>maildir'\n"
        "      --from-tar FILE      read the store from a tarball (tar, tar.gz, tar.zst, ...)\n"
        "                           without extracting it; Maildir paths are then paths\n"
        "                           inside the tarball\n"
        "      --layout TEMPLATE    find users under a tree: %%d domain, %%n local part,\n"
        "                           %%u whole user name, each a whole path part\n"
        "      --maildir-layout L   auto (default), maildir++ or fs (LAYOUT=fs)\n"
        "      --pop3-uidl-format F UIDLs for messages without a stored one, as the old\n"
        "                           server's pop3_uidl_format (%%u %%v %%f %%g, e.g. %%08Xu%%08Xv)\n"
        "      --skip-unreadable    record unreadable message files and go on\n"
        "      --no-sieve           do not pack Sieve scripts\n"
        "  -l, --level N            zstd level, 1..19 (default 3)\n"
        "  -T, --threads N          compression threads (default: one per CPU)\n"
        "      --tmpdir DIR         where to spool while packing (default $TMPDIR or /tmp)\n"
        "      --json               a JSON summary on standard output (or stderr with -o -)\n"
        "  -q, --quiet              no progress and no warnings on the terminal\n"
        "  -h, --help               this help\n\n"
        "The secret key's password is read from the terminal, or from the file named\n"
        "by MAILFERRY_PASSWORD_FILE. Exit 1 means the archive was written but items\n"
        "were skipped (see the summary).\n");
}

struct skipped {
    char *user, *path, *why;
};

struct ctx {
    int quiet;
    struct cli_progress prog;
    struct skipped *skips;
    size_t nskips;
    uint64_t total_msgs;
};

static void on_warn(void *c, const char *file, size_t line, const char *msg)
{
    struct ctx *x = c;
    if (x->quiet)
        return;
    if (x->prog.enabled)
        fputc('\n', stderr);
    if (line > 0)
        fprintf(stderr, "mailferry pack: warning: %s line %zu: %s\n", file, line, msg);
    else
        fprintf(stderr, "mailferry pack: warning: %s: %s\n", file, msg);
}

static void on_skip(void *c, const char *user, const char *path, const char *why)
{
    struct ctx *x = c;
    struct skipped *ns;
    if (!x->quiet) {
        if (x->prog.enabled)
            fputc('\n', stderr);
        fprintf(stderr, "mailferry pack: skipped: %s: %s: %s\n", user, path, why);
    }
    if (x->nskips >= SKIP_LIST_MAX)
        return;
    ns = mf_realloc(x->skips, (x->nskips + 1) * sizeof *ns);
    if (ns == NULL)
        return;
    x->skips = ns;
    ns[x->nskips].user = mf_strdup(user);
    ns[x->nskips].path = mf_strdup(path);
    ns[x->nskips].why = mf_strdup(why);
    x->nskips++;
}

static void on_progress(void *c, const struct mf_pack_stats *st)
{
    struct ctx *x = c;
    cli_progress_update(&x->prog, st->messages, st->bytes, 0);
}

static int open_output(const char *out, char **tmp_r, struct mf_error *err)
{
    char *tmp;
    size_t n;
    int fd;
    *tmp_r = NULL;
    if (strcmp(out, "-") == 0)
        return STDOUT_FILENO;
    n = strlen(out) + 32;
    tmp = mf_malloc(n);
    if (tmp == NULL)
        return mf_err_nomem(err);
    /* written under a name that does not look like an archive, renamed when complete */
    snprintf(tmp, n, "%s.partial-XXXXXX", out);
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        mf_free(tmp);
        return mf_err_sys(err, MF_EIO, e, "cannot create %s", out);
    }
    fchmod(fd, 0644);
    *tmp_r = tmp;
    return fd;
}

int cmd_pack(int argc, char **argv)
{
    enum { O_USERS = 256, O_LAYOUT, O_MLAYOUT, O_POP3, O_SKIPUNR, O_NOSIEVE, O_TMPDIR, O_JSON,
           O_FROMTAR };
    static const struct option opts[] = {{"secret", required_argument, 0, 's'},
                                         {"output", required_argument, 0, 'o'},
                                         {"users", required_argument, 0, O_USERS},
                                         {"layout", required_argument, 0, O_LAYOUT},
                                         {"maildir-layout", required_argument, 0, O_MLAYOUT},
                                         {"pop3-uidl-format", required_argument, 0, O_POP3},
                                         {"skip-unreadable", no_argument, 0, O_SKIPUNR},
                                         {"no-sieve", no_argument, 0, O_NOSIEVE},
                                         {"level", required_argument, 0, 'l'},
                                         {"threads", required_argument, 0, 'T'},
                                         {"tmpdir", required_argument, 0, O_TMPDIR},
                                         {"json", no_argument, 0, O_JSON},
                                         {"from-tar", required_argument, 0, O_FROMTAR},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *sec = NULL, *out = NULL, *users_file = NULL, *layout_tmpl = NULL, *from_tar = NULL;
    struct mf_pack_opts po;
    struct mf_writer_opts wo;
    struct mf_user_list users;
    struct mf_writer *w = NULL;
    struct mf_packer *pk = NULL;
    struct mf_seckey *sk = NULL;
    struct mf_error err;
    struct ctx x;
    char *tmp = NULL;
    int c, json = 0, fd = -1, rc = 0;
    double t0 = cli_now();
    memset(&po, 0, sizeof po);
    memset(&wo, 0, sizeof wo);
    memset(&users, 0, sizeof users);
    memset(&x, 0, sizeof x);
    mf_err_clear(&err);
    wo.threads = -1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "s:o:l:T:qh", opts, NULL)) != -1) {
        switch (c) {
        case 's': sec = optarg; break;
        case 'o': out = optarg; break;
        case O_USERS: users_file = optarg; break;
        case O_LAYOUT: layout_tmpl = optarg; break;
        case O_MLAYOUT:
            if (strcmp(optarg, "auto") == 0)
                po.layout = 0;
            else if (strcmp(optarg, "maildir++") == 0)
                po.layout = MF_LAYOUT_MAILDIRPP;
            else if (strcmp(optarg, "fs") == 0)
                po.layout = MF_LAYOUT_FS;
            else
                return cli_usage("pack", "--maildir-layout is auto, maildir++ or fs");
            break;
        case O_POP3: {
            const char *why;
            if (!mf_pop3_format_valid(optarg, &why))
                return cli_usage("pack", "--pop3-uidl-format: %s", why);
            po.pop3_format = optarg;
            break;
        }
        case O_SKIPUNR: po.skip_unreadable = 1; break;
        case O_NOSIEVE: po.no_sieve = 1; break;
        case 'l':
            wo.level = atoi(optarg);
            if (wo.level < 1 || wo.level > 19)
                return cli_usage("pack", "--level is 1..19");
            break;
        case 'T':
            wo.threads = atoi(optarg);
            if (wo.threads < 0 || wo.threads > 256)
                return cli_usage("pack", "--threads is 0..256");
            break;
        case O_TMPDIR: wo.tmpdir = optarg; break;
        case O_JSON: json = 1; break;
        case O_FROMTAR: from_tar = optarg; break;
        case 'q': x.quiet = 1; break;
        case 'h': help(); return 0;
        default: return cli_usage("pack", "unknown option");
        }
    }
    if (sec == NULL || out == NULL)
        return cli_usage("pack", "-s SECKEY and -o OUT are required");
    if (mf_crypto_init(&err) < 0)
        return cli_fail("pack", &err);
    for (int i = optind; i < argc; i++)
        if (mf_users_add_arg(&users, argv[i], &err) < 0)
            goto fail;
    if (users_file != NULL && mf_users_load_file(&users, users_file, &err) < 0)
        goto fail;
    if (layout_tmpl != NULL && from_tar != NULL) {
        mf_err(&err, MF_EUSAGE, "--layout with --from-tar is not supported; give USER=PATH "
                                "(paths inside the tarball) or --users");
        goto fail;
    }
    if (layout_tmpl != NULL && mf_users_discover(&users, layout_tmpl, &err) < 0)
        goto fail;
    if (users.n == 0) {
        mf_users_free(&users);
        return cli_usage("pack", "no users: give USER=MAILDIR, --users or --layout");
    }
    if (mf_users_finish(&users, &err) < 0)
        goto fail;
    if (mf_seckey_load(sec, cli_password, NULL, &sk, &err) < 0)
        goto fail;
    if (wo.threads < 0)
        wo.threads = mf_cpu_count();
    po.threads = wo.threads;
    if (mf_writer_open(&w, &wo, &err) < 0 ||
        mf_packer_new(&pk, w, &po, on_warn, on_skip, on_progress, &x, &err) < 0)
        goto fail;
    cli_progress_init(&x.prog, "pack", x.quiet);
    if (from_tar != NULL) {
        if (mf_packer_tar(pk, from_tar, users.v, users.n, &err) < 0) {
            cli_progress_done(&x.prog);
            goto fail;
        }
    } else {
        for (size_t i = 0; i < users.n; i++)
            if (mf_packer_user(pk, users.v[i].name, users.v[i].maildir, &err) < 0) {
                cli_progress_done(&x.prog);
                goto fail;
            }
    }
    cli_progress_update(&x.prog, mf_packer_stats(pk)->messages, mf_packer_stats(pk)->bytes, 1);
    fd = open_output(out, &tmp, &err);
    if (fd < 0)
        goto fail;
    if (mf_writer_finish(w, fd, sk, &err) < 0)
        goto fail;
    if (tmp != NULL) {
        if (fsync(fd) < 0 || close(fd) < 0) {
            mf_err_sys(&err, MF_EIO, errno, "%s", out);
            fd = -1;
            goto fail;
        }
        fd = -1;
        if (rename(tmp, out) < 0) {
            mf_err_sys(&err, MF_EIO, errno, "rename %s to %s", tmp, out);
            goto fail;
        }
        mf_free(tmp);
        tmp = NULL;
        if (mf_fsync_parent(out, &err) < 0)
            goto fail;
    }
    cli_progress_done(&x.prog);
    {
        const struct mf_pack_stats *ps = mf_packer_stats(pk);
        struct mf_writer_stats ws;
        uint64_t skipped = ps->vanished + ps->links + ps->special + ps->unreadable +
                           ps->folders_skipped;
        double el = cli_now() - t0;
        char id[33];
        mf_writer_stats(w, &ws);
        mf_hex(id, mf_writer_manifest(w)->archive_id, MF_ARCHIVE_ID_BYTES);
        if (json) {
            struct cli_json j;
            json_init(&j, strcmp(out, "-") == 0 ? stderr : stdout);
            json_obj(&j, NULL);
            json_str(&j, "archive", out);
            json_str(&j, "id", id);
            json_u64(&j, "users", ps->users);
            json_u64(&j, "mailboxes", ps->mailboxes);
            json_u64(&j, "messages", ps->messages);
            json_u64(&j, "bytes_in", ps->bytes);
            json_u64(&j, "bytes_out", ws.archive_bytes);
            json_u64(&j, "stored_bytes", ws.stored_bytes);
            json_u64(&j, "dedup_saved_bytes", ws.dedup_bytes);
            json_u64(&j, "compressed_bytes", ws.compressed_bytes);
            json_u64(&j, "frames", ws.frames);
            json_u64(&j, "packs", ws.packs);
            json_u64(&j, "warnings", ps->warnings);
            json_u64(&j, "save_dates_from_cache", ps->saved_cached);
            json_obj(&j, "skipped");
            json_u64(&j, "total", skipped);
            json_u64(&j, "expunged_while_packing", ps->vanished);
            json_u64(&j, "symbolic_links", ps->links);
            json_u64(&j, "not_regular_files", ps->special);
            json_u64(&j, "unreadable", ps->unreadable);
            json_u64(&j, "folders", ps->folders_skipped);
            json_end_obj(&j);
            json_arr(&j, "skipped_items");
            for (size_t i = 0; i < x.nskips; i++) {
                json_obj(&j, NULL);
                json_str(&j, "user", x.skips[i].user ? x.skips[i].user : "");
                json_str(&j, "path", x.skips[i].path ? x.skips[i].path : "");
                json_str(&j, "reason", x.skips[i].why ? x.skips[i].why : "");
                json_end_obj(&j);
            }
            json_end_arr(&j);
            fprintf(j.f, ",\"seconds\":%.3f", el);
            json_end_obj(&j);
            json_finish(&j);
        } else if (!x.quiet) {
            fprintf(stderr,
                    "mailferry pack: %s: %" PRIu64 " users, %" PRIu64 " mailboxes, %" PRIu64
                    " messages, %" PRIu64 " bytes in, %" PRIu64 " bytes out (%.1f%%), %" PRIu64
                    " bytes deduplicated, %" PRIu64 " skipped, %.1f s\n",
                    out, ps->users, ps->mailboxes, ps->messages, ps->bytes, ws.archive_bytes,
                    ps->bytes ? 100.0 * (double)ws.archive_bytes / (double)ps->bytes : 0.0,
                    ws.dedup_bytes, skipped, el);
        }
        if (skipped > 0)
            rc = mf_class_exit(MF_EPARTIAL);
    }
    goto done;
fail:
    cli_progress_done(&x.prog);
    rc = cli_fail("pack", &err);
    if (fd >= 0 && fd != STDOUT_FILENO)
        close(fd);
    if (tmp != NULL)
        unlink(tmp);
done:
    mf_free(tmp);
    for (size_t i = 0; i < x.nskips; i++) {
        mf_free(x.skips[i].user);
        mf_free(x.skips[i].path);
        mf_free(x.skips[i].why);
    }
    mf_free(x.skips);
    mf_packer_free(&pk);
    mf_writer_free(&w);
    mf_seckey_free(&sk);
    mf_users_free(&users);
    return rc;
}
