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
#include "base_state.h"
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
        "      --base FILE          write a delta against FILE: a full archive or delta\n"
        "                           (only its index is read; an index file works too);\n"
        "                           for a delta base give the whole chain in order,\n"
        "                           --base FULL --base DELTA1 ...\n"
        "                           (an archive in volumes: by its shared name, x.mfa)\n"
        "  -p, --public FILE|DIR    keys trusted to have signed the base (default: the\n"
        "                           public half of the secret key)\n"
        "  -k, --key FILE           secret key that opens an encrypted base (default:\n"
        "                           the signing key, always one of its recipients)\n"
        "      --encrypt-to FILE|DIR  encrypt to this public key (repeatable; a\n"
        "                           directory of *.pub); the signing key is always\n"
        "                           added, so this host can read the archive again\n"
        "      --volume-size SIZE   split into volumes OUT.001, OUT.002, ... of at most\n"
        "                           SIZE bytes each (at least 8M; e.g. 4G)\n"
        "      --save-index FILE    also write this archive's index file, for use as a\n"
        "                           base later without the archive\n"
        "      --report FILE        a client-impact report (- for standard error): per\n"
        "                           mailbox its UIDVALIDITY and where it comes from, where\n"
        "                           POP3 UIDLs come from, names the target must translate,\n"
        "                           keywords without names, and every item skipped\n"
        "      --shard I/N          only the users of shard I of N (1 <= I <= N): a stable\n"
        "                           share by a hash of the user name, so N runs with the\n"
        "                           same user list pack every user exactly once\n"
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

/* An output file is written under a name that does not look like an archive
 * and renamed when complete; "-" is standard output. */
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

static int commit_output(const char *out, int *fd, char **tmp, struct mf_error *err)
{
    if (*tmp == NULL)
        return 0;
    if (fsync(*fd) < 0 || close(*fd) < 0) {
        *fd = -1;
        return mf_err_sys(err, MF_EIO, errno, "%s", out);
    }
    *fd = -1;
    if (rename(*tmp, out) < 0)
        return mf_err_sys(err, MF_EIO, errno, "rename %s to %s", *tmp, out);
    mf_free(*tmp);
    *tmp = NULL;
    return mf_fsync_parent(out, err);
}

static void abort_output(int fd, char *tmp)
{
    if (fd >= 0 && fd != STDOUT_FILENO)
        close(fd);
    if (tmp != NULL)
        unlink(tmp);
}

/* The files of a split archive (--volume-size): OUT.001, OUT.002, ...
 * each written under a temporary name and renamed when all are complete. */
struct volumes {
    const char *out;
    size_t n;
    char **name, **tmp;
    int *fd;
};

static int open_volume(void *ctx, size_t i, size_t n, int *fd_r, struct mf_error *err)
{
    struct volumes *v = ctx;
    int width = 3;
    size_t len = strlen(v->out) + 16;
    for (size_t k = n; k >= 1000; k /= 10)
        width++;
    if (v->name == NULL) {
        v->name = mf_calloc(n, sizeof *v->name);
        v->tmp = mf_calloc(n, sizeof *v->tmp);
        v->fd = mf_calloc(n, sizeof *v->fd);
        if (v->name == NULL || v->tmp == NULL || v->fd == NULL)
            return mf_err_nomem(err);
        for (size_t k = 0; k < n; k++)
            v->fd[k] = -1;
        v->n = n;
    }
    if (i < 1 || i > v->n)
        return mf_err(err, MF_EINTERNAL, "volume %zu of %zu", i, n);
    v->name[i - 1] = mf_malloc(len);
    if (v->name[i - 1] == NULL)
        return mf_err_nomem(err);
    {
        char num[24];
        size_t nl = (size_t)snprintf(num, sizeof num, "%zu", i);
        size_t o = (size_t)snprintf(v->name[i - 1], len, "%s.", v->out);
        for (; nl < (size_t)width && o + 1 < len; nl++)
            v->name[i - 1][o++] = '0';
        snprintf(v->name[i - 1] + o, len - o, "%s", num);
    }
    v->fd[i - 1] = open_output(v->name[i - 1], &v->tmp[i - 1], err);
    if (v->fd[i - 1] < 0)
        return -1;
    *fd_r = v->fd[i - 1];
    return 0;
}

static int commit_volumes(struct volumes *v, struct mf_error *err)
{
    for (size_t k = 0; k < v->n; k++)
        if (commit_output(v->name[k], &v->fd[k], &v->tmp[k], err) < 0)
            return -1;
    return 0;
}

static void free_volumes(struct volumes *v)
{
    for (size_t k = 0; k < v->n; k++) {
        abort_output(v->fd[k], v->tmp[k]);
        mf_free(v->tmp[k]);
        mf_free(v->name[k]);
    }
    mf_free(v->name);
    mf_free(v->tmp);
    mf_free(v->fd);
    memset(v, 0, sizeof *v);
}

/* Users of the base state before `name` (or all, with name NULL) are gone
 * from the source: collected for USER_GONE records. */
static int base_skip_to(struct mf_base_chain *chain, struct mf_base_user **bu, const char *name,
                        char ***gone, size_t *ngone, struct mf_error *err)
{
    while (*bu != NULL && (name == NULL || strcmp((*bu)->name, name) < 0)) {
        char **nv = mf_realloc(*gone, (*ngone + 1) * sizeof *nv);
        if (nv == NULL)
            return mf_err_nomem(err);
        *gone = nv;
        nv[*ngone] = (*bu)->name;
        (*bu)->name = NULL;
        (*ngone)++;
        mf_base_user_free(*bu);
        *bu = NULL;
        if (mf_base_next_user(chain, bu, err) < 0)
            return -1;
    }
    return 0;
}

int cmd_pack(int argc, char **argv)
{
    enum { O_USERS = 256, O_LAYOUT, O_MLAYOUT, O_POP3, O_SKIPUNR, O_NOSIEVE, O_TMPDIR, O_JSON,
           O_FROMTAR, O_BASE, O_SAVEIDX, O_REPORT, O_SHARD, O_ENCRYPT, O_VOLSIZE, O_DKEY };
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
                                         {"base", required_argument, 0, O_BASE},
                                         {"public", required_argument, 0, 'p'},
                                         {"save-index", required_argument, 0, O_SAVEIDX},
                                         {"report", required_argument, 0, O_REPORT},
                                         {"shard", required_argument, 0, O_SHARD},
                                         {"encrypt-to", required_argument, 0, O_ENCRYPT},
                                         {"volume-size", required_argument, 0, O_VOLSIZE},
                                         {"key", required_argument, 0, 'k'},
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
    char *tmp = NULL, *itmp = NULL;
    char **bases = NULL, **pubs = NULL, **gone = NULL, **rcpts = NULL;
    size_t nbases = 0, npubs = 0, ngone = 0, nrcpts = 0;
    struct mf_pubkey *rkeys = NULL;
    const char *dkey = NULL;
    struct mf_seckey *dk = NULL;
    const struct mf_seckey *dks[2];
    size_t ndks = 0, nbav = 0;
    struct mf_archive_files *bav = NULL;
    struct volumes vols;
    const char *save_index = NULL, *report = NULL;
    FILE *rf = NULL;
    struct mf_base_chain *chain = NULL;
    struct mf_base_user *bu = NULL;
    struct mf_pubkey *keys = NULL;
    int c, json = 0, fd = -1, ifd = -1, rc = 0;
    unsigned shard_i = 0, shard_n = 0;
    double t0 = cli_now();
    memset(&po, 0, sizeof po);
    memset(&wo, 0, sizeof wo);
    memset(&users, 0, sizeof users);
    memset(&x, 0, sizeof x);
    memset(&vols, 0, sizeof vols);
    mf_err_clear(&err);
    wo.threads = -1;
    optind = 1;
    bases = mf_calloc((size_t)argc + 1, sizeof *bases);
    pubs = mf_calloc((size_t)argc + 1, sizeof *pubs);
    rcpts = mf_calloc((size_t)argc + 1, sizeof *rcpts);
    if (bases == NULL || pubs == NULL || rcpts == NULL) {
        mf_free(bases);
        mf_free(pubs);
        mf_free(rcpts);
        return 3;
    }
    while ((c = getopt_long(argc, argv, "s:o:p:k:l:T:qh", opts, NULL)) != -1) {
        switch (c) {
        case O_ENCRYPT: rcpts[nrcpts++] = optarg; break;
        case 'k': dkey = optarg; break;
        case O_VOLSIZE:
            if (cli_parse_size(optarg, &wo.volume_size) < 0 ||
                wo.volume_size < MF_VOLUME_SIZE_MIN)
                return mf_free(bases), mf_free(pubs), mf_free(rcpts),
                       cli_usage("pack", "--volume-size is a size of at least 8M (e.g. 4G)");
            break;
        case 's': sec = optarg; break;
        case O_BASE: bases[nbases++] = optarg; break;
        case 'p': pubs[npubs++] = optarg; break;
        case O_SAVEIDX: save_index = optarg; break;
        case O_REPORT: report = optarg; break;
        case O_SHARD: {
            char tail;
            if (sscanf(optarg, "%u/%u%c", &shard_i, &shard_n, &tail) != 2 || shard_n == 0 ||
                shard_n > 100000 || shard_i == 0 || shard_i > shard_n)
                return mf_free(bases), mf_free(pubs), mf_free(rcpts),
                       cli_usage("pack", "--shard is I/N with 1 <= I <= N <= 100000");
            break;
        }
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
                return mf_free(bases), mf_free(pubs), mf_free(rcpts),
                       cli_usage("pack", "--maildir-layout is auto, maildir++ or fs");
            break;
        case O_POP3: {
            const char *why;
            if (!mf_pop3_format_valid(optarg, &why))
                return mf_free(bases), mf_free(pubs), mf_free(rcpts),
                       cli_usage("pack", "--pop3-uidl-format: %s", why);
            po.pop3_format = optarg;
            break;
        }
        case O_SKIPUNR: po.skip_unreadable = 1; break;
        case O_NOSIEVE: po.no_sieve = 1; break;
        case 'l':
            wo.level = atoi(optarg);
            if (wo.level < 1 || wo.level > 19)
                return mf_free(bases), mf_free(pubs), mf_free(rcpts), cli_usage("pack", "--level is 1..19");
            break;
        case 'T':
            wo.threads = atoi(optarg);
            if (wo.threads < 0 || wo.threads > 256)
                return mf_free(bases), mf_free(pubs), mf_free(rcpts), cli_usage("pack", "--threads is 0..256");
            break;
        case O_TMPDIR: wo.tmpdir = optarg; break;
        case O_JSON: json = 1; break;
        case O_FROMTAR: from_tar = optarg; break;
        case 'q': x.quiet = 1; break;
        case 'h': help(); mf_free(bases); mf_free(pubs); mf_free(rcpts); return 0;
        default: mf_free(bases); mf_free(pubs); mf_free(rcpts); return cli_usage("pack", "unknown option");
        }
    }
    if (sec == NULL || out == NULL) {
        mf_free(bases);
        mf_free(pubs);
        mf_free(rcpts);
        return cli_usage("pack", "-s SECKEY and -o OUT are required");
    }
    if (mf_crypto_init(&err) < 0)
        goto fail;
    if (nbases > 0 && from_tar != NULL) {
        mf_err(&err, MF_EUSAGE, "--base with --from-tar is not supported; extract the store "
                                "or pack it in full");
        goto fail;
    }
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
        mf_free(rcpts);
        return cli_usage("pack", "no users: give USER=MAILDIR, --users or --layout");
    }
    if (mf_users_finish(&users, &err) < 0)
        goto fail;
    if (shard_n > 0 && mf_users_shard(&users, shard_i, shard_n, &err) < 0)
        goto fail;
    if (wo.volume_size != 0 && strcmp(out, "-") == 0) {
        mf_err(&err, MF_EUSAGE, "--volume-size writes files OUT.001, OUT.002, ...: give -o FILE");
        goto fail;
    }
    if (mf_seckey_load(sec, cli_password, NULL, &sk, &err) < 0)
        goto fail;
    if (nrcpts > 0) {
        /* the packing host's own key is a recipient too, so that it can read
         * this archive's index to pack the next delta (it holds the mail
         * anyway) */
        struct mf_pubkey *nk;
        size_t nr = 0;
        if (cli_load_pubkeys(rcpts, nrcpts, &rkeys, &nr, &err) < 0)
            goto fail;
        nk = mf_realloc(rkeys, (nr + 1) * sizeof *nk);
        if (nk == NULL) {
            mf_err_nomem(&err);
            goto fail;
        }
        rkeys = nk;
        memcpy(rkeys[nr].keyid, sk->keyid, sizeof rkeys[nr].keyid);
        memcpy(rkeys[nr].pk, sk->sk + 32, sizeof rkeys[nr].pk);
        wo.recipients = rkeys;
        wo.nrecipients = nr + 1;
    }
    if (nbases > 0) {
        struct mf_reader_opts ro;
        size_t nkeys = 0;
        if (npubs > 0 && cli_load_pubkeys(pubs, npubs, &keys, &nkeys, &err) < 0)
            goto fail;
        if (npubs == 0) {
            /* the base was signed with this key: its public half is in it */
            keys = mf_calloc(1, sizeof *keys);
            if (keys == NULL) {
                mf_err_nomem(&err);
                goto fail;
            }
            memcpy(keys->keyid, sk->keyid, sizeof keys->keyid);
            memcpy(keys->pk, sk->sk + 32, sizeof keys->pk);
            nkeys = 1;
        }
        memset(&ro, 0, sizeof ro);
        ro.keys = keys;
        ro.nkeys = nkeys;
        ro.tmpdir = wo.tmpdir;
        /* an encrypted base opens with -k, or with the signing key, which the
         * writer always makes a recipient */
        if (dkey != NULL && mf_seckey_load(dkey, cli_password, NULL, &dk, &err) < 0)
            goto fail;
        dks[ndks++] = sk;
        if (dk != NULL)
            dks[ndks++] = dk;
        ro.dkeys = dks;
        ro.ndkeys = ndks;
        if (mf_archive_files_group(bases, nbases, &bav, &nbav, &err) < 0 ||
            mf_base_open(&chain, bav, nbav, &ro, &err) < 0)
            goto fail;
        wo.delta = 1;
        po.delta = 1;
        memcpy(wo.base_id, mf_base_manifest(chain)->archive_id, MF_ARCHIVE_ID_BYTES);
        memcpy(wo.base_manifest, mf_base_manifest_hash(chain), MF_HASH_BYTES);
        wo.base_chain = mf_base_manifest(chain)->chain;
        if (mf_base_next_user(chain, &bu, &err) < 0)
            goto fail;
    }
    if (report != NULL) {
        rf = strcmp(report, "-") == 0 ? stderr : fopen(report, "w");
        if (rf == NULL) {
            mf_err_sys(&err, MF_EIO, errno, "%s", report);
            goto fail;
        }
        fprintf(rf, "# mailferry pack report: what clients will notice after the move\n"
                    "# user<TAB>mailbox<TAB>facts (or: user<TAB>path<TAB>skipped: reason)\n"
                    "# Messages without a POP3 UIDL get the new server's pop3_uidl_format;\n"
                    "# give the old server's with --pop3-uidl-format to keep them.\n");
        po.report = rf;
    }
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
        for (size_t i = 0; i < users.n; i++) {
            const char *name = users.v[i].name;
            int matched;
            if (chain != NULL &&
                base_skip_to(chain, &bu, name, &gone, &ngone, &err) < 0)
                goto fail;
            matched = bu != NULL && strcmp(bu->name, name) == 0;
            if (chain != NULL && mf_packer_set_base(pk, matched ? bu : NULL, &err) < 0)
                goto fail;
            if (mf_packer_user(pk, name, users.v[i].maildir, &err) < 0)
                goto fail;
            if (matched) {
                if (mf_packer_set_base(pk, NULL, &err) < 0)
                    goto fail;
                mf_base_user_free(bu);
                bu = NULL;
                if (mf_base_next_user(chain, &bu, &err) < 0)
                    goto fail;
            }
        }
        if (chain != NULL) {
            if (base_skip_to(chain, &bu, NULL, &gone, &ngone, &err) < 0)
                goto fail;
            for (size_t i = 0; i < ngone; i++) {
                struct mf_rec_user_gone g = {{gone[i], strlen(gone[i])}};
                if (mf_writer_user_gone(w, &g, &err) < 0)
                    goto fail;
                if (!x.quiet)
                    fprintf(stderr, "mailferry pack: user %s of the base is not in this pack; "
                                    "recorded as removed\n", gone[i]);
            }
        }
    }
    cli_progress_update(&x.prog, mf_packer_stats(pk)->messages, mf_packer_stats(pk)->bytes, 1);
    if (save_index != NULL) {
        if (strcmp(save_index, "-") == 0) {
            mf_err(&err, MF_EUSAGE, "--save-index needs a file name");
            goto fail;
        }
        if ((ifd = open_output(save_index, &itmp, &err)) < 0)
            goto fail;
    }
    if (wo.volume_size != 0) {
        vols.out = out;
        if (mf_writer_finish_volumes(w, open_volume, &vols, ifd, sk, &err) < 0 ||
            commit_volumes(&vols, &err) < 0)
            goto fail;
    } else {
        fd = open_output(out, &tmp, &err);
        if (fd < 0 || mf_writer_finish_with_index(w, fd, ifd, sk, &err) < 0 ||
            commit_output(out, &fd, &tmp, &err) < 0)
            goto fail;
    }
    if (save_index != NULL && commit_output(save_index, &ifd, &itmp, &err) < 0)
        goto fail;
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
            if (chain != NULL) {
                char bid[33];
                mf_hex(bid, mf_base_manifest(chain)->archive_id, MF_ARCHIVE_ID_BYTES);
                json_obj(&j, "delta");
                json_str(&j, "base", bid);
                json_u64(&j, "chain", mf_base_manifest(chain)->chain + 1);
                json_u64(&j, "new_messages", ps->messages);
                json_u64(&j, "unchanged_messages", ps->unchanged);
                json_u64(&j, "flag_changes", ps->flag_changes);
                json_u64(&j, "expunged", ps->expunged);
                json_u64(&j, "mailboxes_removed", ps->mailboxes_gone);
                json_u64(&j, "users_removed", ngone);
                json_u64(&j, "bytes_found_in_chain", ps->chain_bytes);
                json_u64(&j, "conflicts_with_base", ps->base_conflicts);
                json_end_obj(&j);
            }
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
            if (chain != NULL)
                fprintf(stderr,
                        "mailferry pack: delta against %s: %" PRIu64 " new messages, %" PRIu64
                        " unchanged (not read), %" PRIu64 " flag changes, %" PRIu64
                        " expunged, %" PRIu64 " mailboxes and %zu users removed\n",
                        bases[nbases - 1], ps->messages, ps->unchanged, ps->flag_changes,
                        ps->expunged, ps->mailboxes_gone, ngone);
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
    abort_output(fd, tmp);
    abort_output(ifd, itmp);
done:
    free_volumes(&vols);
    mf_free(tmp);
    mf_free(itmp);
    mf_free(bases);
    mf_archive_files_free(bav, nbav);
    mf_seckey_free(&dk);
    mf_free(pubs);
    mf_free(rcpts);
    mf_free(rkeys);
    mf_free(keys);
    for (size_t i = 0; i < ngone; i++)
        mf_free(gone[i]);
    mf_free(gone);
    mf_base_user_free(bu);
    mf_base_close(&chain);
    if (rf != NULL && rf != stderr && fclose(rf) != 0 && rc == 0) {
        mf_err_sys(&err, MF_EIO, errno, "%s", report);
        rc = cli_fail("pack", &err);
    }
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
