/* unpack_cmd.c: `mailferry unpack`: options, owner, progress, summary. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../cli/cli.h"
#include "../format/archive_read.h"
#include "../format/archive_files.h"
#include "../format/fsutil.h"
#include "../format/hash.h"
#include "../format/mem.h"
#include "unpacker.h"

static void help(void)
{
    printf(
        "Usage: mailferry unpack -p PUB --to TEMPLATE [options] ARCHIVE...\n\n"
        "Validates the archive completely (signature, every digest, the index), then\n"
        "writes each user's Dovecot sdbox or mdbox store, index files included, so\n"
        "Dovecot serves it at once with every UID, UIDVALIDITY, flag, keyword, date and\n"
        "POP3 UIDL. Each user is written next to its final place and moved in only\n"
        "when complete and synced; an existing store is never overwritten.\n\n"
        "Several archives form a chain (FULL DELTA1 DELTA2 ...), applied in order. A\n"
        "delta applies to a target that holds its base: new messages, flag changes\n"
        "(merged with changes made on the target), expunges, renamed, new and removed\n"
        "mailboxes, subscriptions and Sieve scripts, under Dovecot's own locks, so it\n"
        "is safe while Dovecot runs. A delta already applied changes nothing; one\n"
        "whose base is not what the target holds is refused before anything is\n"
        "written. Another full archive in the list starts another chain: the shards\n"
        "of one migration (pack --shard) unpack together; they hold different users.\n\n"
        "  -p, --public FILE|DIR    trusted public key (repeatable)\n"
        "  -k, --key FILE           secret key for encrypted archives (repeatable)\n"
        "      --to TEMPLATE        each user's mail root, e.g. /var/vmail/%%d/%%n/sdbox\n"
        "                           (%%u user, %%n local part, %%d domain, %%L.. lowercase)\n"
        "      --format F           sdbox (default) or mdbox\n"
        "      --owner USER[:GROUP] owner of everything written (name or number); as\n"
        "                           root the default is the owner of the template's\n"
        "                           top directory, and root itself is refused\n"
        "      --owner-map FILE     lines 'user<TAB>owner[:group]' for per-user owners\n"
        "      --dir-mode MODE      directory mode (default 0700)\n"
        "      --file-mode MODE     file mode (default 0600)\n"
        "      --users LIST         only these users (comma-separated, or @FILE)\n"
        "      --mailbox NAME       only this mailbox (as named on the target)\n"
        "      --separator C        the target namespace's hierarchy separator (default /)\n"
        "      --utf8-names         the target stores names in UTF-8 (mail_location :UTF-8)\n"
        "      --mdbox-rotate-size SIZE  size of mdbox storage files (default 10M)\n"
        "      --home TEMPLATE      where Sieve scripts go (default: the mail root's parent)\n"
        "      --no-sieve           do not write Sieve scripts\n"
        "      --merge              add the archive's messages to stores that exist (made by\n"
        "                           mailferry or Dovecot) where they are missing, by message\n"
        "                           GUID; nothing there is changed or removed\n"
        "      --dry-run            validate and report what would be written, check\n"
        "                           free space and inodes, write nothing\n"
        "      --no-fsync           do not sync (tests only)\n"
        "      --tmpdir DIR         where to spool an archive read from a pipe\n"
        "      --json               a JSON summary on standard output\n"
        "  -q, --quiet              no progress and no notes\n"
        "  -h, --help               this help\n\n"
        "Running the same unpack twice changes nothing the second time. An archive in\n"
        "volumes is named by its volumes in order, or by the name they share (x.mfa for\n"
        "x.mfa.001, x.mfa.002, ...); a missing or swapped volume is named before\n"
        "anything is written.\n");
}

static int parse_mode(const char *s, mode_t *m)
{
    char *end;
    unsigned long v = strtoul(s, &end, 8);
    if (*s == '\0' || *end != '\0' || v > 07777)
        return -1;
    *m = (mode_t)v;
    return 0;
}

static int parse_owner(const char *spec, struct mf_owner *o, struct mf_error *err)
{
    char user[256], *colon;
    struct passwd *pw;
    snprintf(user, sizeof user, "%s", spec);
    colon = strchr(user, ':');
    if (colon != NULL)
        *colon++ = '\0';
    pw = getpwnam(user);
    if (pw != NULL) {
        o->uid = pw->pw_uid;
        o->gid = pw->pw_gid;
    } else {
        char *end;
        unsigned long v = strtoul(user, &end, 10);
        if (user[0] == '\0' || *end != '\0')
            return mf_err(err, MF_EUSAGE, "unknown owner %s", user);
        o->uid = (uid_t)v;
        o->gid = (gid_t)v;
    }
    if (colon != NULL && *colon != '\0') {
        struct group *gr = getgrnam(colon);
        if (gr != NULL) {
            o->gid = gr->gr_gid;
        } else {
            char *end;
            unsigned long v = strtoul(colon, &end, 10);
            if (*end != '\0')
                return mf_err(err, MF_EUSAGE, "unknown group %s", colon);
            o->gid = (gid_t)v;
        }
    }
    o->set = 1;
    return 0;
}

/* The nearest existing directory of the template's fixed prefix. */
static int template_top(const char *tmpl, struct stat *st)
{
    size_t n = strcspn(tmpl, "%");
    char path[4096];
    if (n >= sizeof path)
        return -1;
    memcpy(path, tmpl, n);
    path[n] = '\0';
    while (stat(path[0] != '\0' ? path : "/", st) < 0) {
        char *s = strrchr(path, '/');
        if (s == NULL)
            return -1;
        *s = '\0';
    }
    return 0;
}

static void stats_add(struct mf_unpack_stats *a, const struct mf_unpack_stats *b)
{
    a->users += b->users;
    a->users_current += b->users_current;
    a->mailboxes += b->mailboxes;
    a->messages += b->messages;
    a->message_bytes += b->message_bytes;
    a->files += b->files;
    a->bytes_written += b->bytes_written;
    a->renamed += b->renamed;
    a->sieve += b->sieve;
    a->skipped += b->skipped;
    a->need_bytes += b->need_bytes;
    a->need_inodes += b->need_inodes;
}

struct ctx {
    struct cli_progress prog;
    int quiet;
};

static void on_progress(void *c, const struct mf_unpack_stats *st)
{
    struct ctx *x = c;
    cli_progress_update(&x->prog, st->messages, st->message_bytes, 0);
}

static void on_note(void *c, const char *user, const char *msg)
{
    struct ctx *x = c;
    if (x->quiet)
        return;
    if (x->prog.enabled)
        fputc('\n', stderr);
    if (user[0] == '\0')
        fprintf(stderr, "mailferry unpack: %s\n", msg);
    else
        fprintf(stderr, "mailferry unpack: %s: %s\n", user, msg);
}

static int load_owner_map(const char *path, struct mf_unpack_opts *o, struct mf_error *err)
{
    uint8_t *data;
    size_t len, off = 0;
    if (mf_read_file(path, 64u << 20, 0, &data, &len, err) < 0)
        return -1;
    while (off < len) {
        char *l = (char *)data + off, *nl = memchr(l, '\n', len - off), *sep;
        size_t n = nl != NULL ? (size_t)(nl - l) : len - off;
        struct mf_owner_rule *nr;
        off += n + 1;
        l[n] = '\0';
        if (n == 0 || l[0] == '#')
            continue;
        sep = strpbrk(l, "\t ");
        if (sep == NULL) {
            mf_free(data);
            return mf_err(err, MF_EUSAGE, "%s: expected 'user<TAB>owner[:group]'", path);
        }
        *sep++ = '\0';
        while (*sep == ' ' || *sep == '\t')
            sep++;
        nr = mf_realloc(o->owner_rules, (o->nowner_rules + 1) * sizeof *nr);
        if (nr == NULL) {
            mf_free(data);
            return mf_err_nomem(err);
        }
        o->owner_rules = nr;
        nr[o->nowner_rules].owner = o->owner;
        nr[o->nowner_rules].user = mf_strdup(l);
        if (nr[o->nowner_rules].user == NULL ||
            parse_owner(sep, &nr[o->nowner_rules].owner, err) < 0) {
            mf_free(nr[o->nowner_rules].user);
            mf_free(data);
            return -1;
        }
        o->nowner_rules++;
    }
    mf_free(data);
    return 0;
}

static int split_users(const char *spec, struct mf_unpack_opts *o, struct mf_error *err)
{
    uint8_t *data = NULL;
    size_t len;
    const char *p;
    char sepc = ',';
    if (spec[0] == '@') {
        if (mf_read_file(spec + 1, 64u << 20, 0, &data, &len, err) < 0)
            return -1;
        p = (const char *)data;
        sepc = '\n';
    } else {
        p = spec;
    }
    while (*p != '\0') {
        size_t n = strcspn(p, sepc == ',' ? "," : "\n");
        char **nv;
        while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n > 0) {
            nv = mf_realloc(o->users, (o->nusers + 1) * sizeof *nv);
            if (nv == NULL) {
                mf_free(data);
                return mf_err_nomem(err);
            }
            o->users = nv;
            nv[o->nusers] = mf_strndup(p, n);
            if (nv[o->nusers] == NULL) {
                mf_free(data);
                return mf_err_nomem(err);
            }
            o->nusers++;
        }
        p += strcspn(p, sepc == ',' ? "," : "\n");
        if (*p != '\0')
            p++;
    }
    mf_free(data);
    if (o->users == NULL)
        o->users = mf_calloc(1, sizeof *o->users);
    return o->users == NULL ? mf_err_nomem(err) : 0;
}

struct user_at {
    char *name;
    size_t archive;
};

static int cmp_user_at(const void *a, const void *b)
{
    return strcmp(((const struct user_at *)a)->name, ((const struct user_at *)b)->name);
}

/* Full archives given together (shards) must not share a user: each user's
 * store comes from one chain. Checked before anything is written. */
static int check_disjoint(struct mf_reader **readers, size_t n, char **paths,
                          struct mf_error *err)
{
    struct user_at *v = NULL;
    size_t nv = 0, cap = 0;
    int rc = -1;
    for (size_t i = 0; i < n; i++) {
        struct mf_record rec;
        int got;
        if (mf_reader_manifest(readers[i])->kind != MF_KIND_FULL)
            continue;
        if (mf_reader_rewind(readers[i], err) < 0)
            goto out;
        while ((got = mf_reader_next(readers[i], &rec, err)) == 1) {
            if (rec.type != MF_REC_USER)
                continue;
            if (nv == cap) {
                size_t nc = cap == 0 ? 64 : cap * 2;
                struct user_at *nw = mf_realloc(v, nc * sizeof *nw);
                if (nw == NULL) {
                    mf_err_nomem(err);
                    goto out;
                }
                v = nw;
                cap = nc;
            }
            v[nv].name = mf_strndup(rec.u.user.name.p, rec.u.user.name.n);
            if (v[nv].name == NULL) {
                mf_err_nomem(err);
                goto out;
            }
            v[nv++].archive = i;
        }
        if (got < 0 || mf_reader_rewind(readers[i], err) < 0)
            goto out;
    }
    if (nv > 1)
        qsort(v, nv, sizeof *v, cmp_user_at);
    for (size_t k = 1; k < nv; k++)
        if (strcmp(v[k - 1].name, v[k].name) == 0) {
            mf_err(err, MF_ECHAIN, "user %s is in both %s and %s: full archives given together "
                                   "must hold different users (pack --shard); nothing was written",
                   v[k].name, paths[v[k - 1].archive], paths[v[k].archive]);
            goto out;
        }
    rc = 0;
out:
    for (size_t k = 0; k < nv; k++)
        mf_free(v[k].name);
    mf_free(v);
    return rc;
}

/* A usage error while the option arrays are held. */
static int usage_free(char **pubs, char **secs, const char *msg)
{
    mf_free(pubs);
    mf_free(secs);
    return cli_usage("unpack", "%s", msg);
}

int cmd_unpack(int argc, char **argv)
{
    enum {
        O_TO = 256, O_FORMAT, O_OWNER, O_OWNERMAP, O_DMODE, O_FMODE, O_USERS, O_MAILBOX, O_SEP,
        O_UTF8, O_ROTATE, O_HOME, O_NOSIEVE, O_DRY, O_NOFSYNC, O_TMPDIR, O_JSON, O_MERGE
    };
    static const struct option opts[] = {{"public", required_argument, 0, 'p'},
                                         {"key", required_argument, 0, 'k'},
                                         {"to", required_argument, 0, O_TO},
                                         {"format", required_argument, 0, O_FORMAT},
                                         {"owner", required_argument, 0, O_OWNER},
                                         {"owner-map", required_argument, 0, O_OWNERMAP},
                                         {"dir-mode", required_argument, 0, O_DMODE},
                                         {"file-mode", required_argument, 0, O_FMODE},
                                         {"users", required_argument, 0, O_USERS},
                                         {"mailbox", required_argument, 0, O_MAILBOX},
                                         {"separator", required_argument, 0, O_SEP},
                                         {"utf8-names", no_argument, 0, O_UTF8},
                                         {"mdbox-rotate-size", required_argument, 0, O_ROTATE},
                                         {"home", required_argument, 0, O_HOME},
                                         {"no-sieve", no_argument, 0, O_NOSIEVE},
                                         {"dry-run", no_argument, 0, O_DRY},
                                         {"merge", no_argument, 0, O_MERGE},
                                         {"no-fsync", no_argument, 0, O_NOFSYNC},
                                         {"tmpdir", required_argument, 0, O_TMPDIR},
                                         {"json", no_argument, 0, O_JSON},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    struct mf_unpack_opts o;
    struct mf_unpack_stats st = {0};
    struct mf_reader_opts ro;
    struct mf_reader *r = NULL, **readers = NULL;
    size_t nchains = 1, nreaders = 0;
    char (*later)[33] = NULL;
    struct mf_pubkey *keys = NULL;
    struct mf_error err;
    struct ctx x;
    char **pubs, **secs, **labels = NULL;
    struct mf_seckey **dkeys = NULL;
    struct mf_archive_files *av = NULL;
    size_t npubs = 0, nkeys = 0, nsecs = 0, nav = 0;
    const char *owner = NULL, *owner_map = NULL, *users = NULL, *tmpdir = NULL;
    int c, json = 0, rc = 0;
    double t0 = cli_now();
    memset(&o, 0, sizeof o);
    memset(&x, 0, sizeof x);
    mf_err_clear(&err);
    umask(0);  /* modes below are set exactly as asked */
    o.layout = &mf_sdbox_layout;
    o.owner.dir_mode = 0700;
    o.owner.file_mode = 0600;
    o.sep = '/';
    o.rotate_size = 10u * 1024 * 1024;
    pubs = mf_calloc((size_t)argc + 1, sizeof *pubs);
    secs = mf_calloc((size_t)argc + 1, sizeof *secs);
    if (pubs == NULL || secs == NULL) {
        mf_free(pubs);
        mf_free(secs);
        return 3;
    }
    optind = 1;
    while ((c = getopt_long(argc, argv, "p:k:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'p': pubs[npubs++] = optarg; break;
        case 'k': secs[nsecs++] = optarg; break;
        case O_TO: o.tmpl = optarg; break;
        case O_FORMAT:
            if (strcmp(optarg, "sdbox") == 0)
                o.layout = &mf_sdbox_layout;
            else if (strcmp(optarg, "mdbox") == 0)
                o.layout = &mf_mdbox_layout;
            else
                return usage_free(pubs, secs, "--format is sdbox or mdbox");
            o.format_given = 1;
            break;
        case O_OWNER: owner = optarg; break;
        case O_OWNERMAP: owner_map = optarg; break;
        case O_DMODE:
            if (parse_mode(optarg, &o.owner.dir_mode) < 0)
                return usage_free(pubs, secs, "--dir-mode is an octal mode");
            break;
        case O_FMODE:
            if (parse_mode(optarg, &o.owner.file_mode) < 0)
                return usage_free(pubs, secs, "--file-mode is an octal mode");
            break;
        case O_USERS: users = optarg; break;
        case O_MAILBOX: o.mailbox = optarg; break;
        case O_SEP:
            if (strlen(optarg) != 1 || optarg[0] < 0x21 || optarg[0] > 0x7e)
                return usage_free(pubs, secs, "--separator is one printable character");
            o.sep = optarg[0];
            break;
        case O_UTF8: o.utf8 = 1; break;
        case O_ROTATE:
            if (cli_parse_size(optarg, &o.rotate_size) < 0 || o.rotate_size < 4096 ||
                o.rotate_size > (1ull << 31))
                return usage_free(pubs, secs, "--mdbox-rotate-size is 4k..2G");
            break;
        case O_HOME: o.home_tmpl = optarg; break;
        case O_NOSIEVE: o.no_sieve = 1; break;
        case O_DRY: o.dry_run = 1; break;
        case O_MERGE: o.merge = 1; break;
        case O_NOFSYNC: o.nosync = 1; break;
        case O_TMPDIR: tmpdir = optarg; break;
        case O_JSON: json = 1; break;
        case 'q': x.quiet = 1; break;
        case 'h': help(); mf_free(pubs); mf_free(secs); return 0;
        default: return usage_free(pubs, secs, "unknown option");
        }
    }
    if (npubs == 0 || o.tmpl == NULL || optind >= argc)
        return usage_free(pubs, secs, "mailferry unpack -p PUB --to TEMPLATE ARCHIVE...");
    if (o.tmpl[0] != '/')
        return usage_free(pubs, secs, "--to must be an absolute path");
    if (mf_crypto_init(&err) < 0 || cli_load_pubkeys(pubs, npubs, &keys, &nkeys, &err) < 0)
        goto fail;
    if (owner != NULL && parse_owner(owner, &o.owner, &err) < 0)
        goto fail;
    {
        struct stat top;
        if (template_top(o.tmpl, &top) == 0) {
            if (owner == NULL && geteuid() == 0) {
                o.owner.set = 1;
                o.owner.uid = top.st_uid;
                o.owner.gid = top.st_gid;
            }
            if ((top.st_mode & S_ISGID) && (owner == NULL || strchr(owner, ':') == NULL)) {
                o.owner.gid = top.st_gid;  /* a setgid directory gives its group */
                o.owner.dir_mode |= S_ISGID;
                o.owner.set = o.owner.set || geteuid() == 0;
                if (!o.owner.set) {
                    o.owner.uid = geteuid();
                    o.owner.set = 1;
                }
            }
        }
    }
    if (owner_map != NULL && load_owner_map(owner_map, &o, &err) < 0)
        goto fail;
    if (geteuid() == 0 && !o.dry_run && o.owner.set && o.owner.uid == 0 && owner_map == NULL) {
        mf_err(&err, MF_EUSAGE,
               "running as root, the files would belong to root; give --owner (for example "
               "--owner vmail)");
        goto fail;
    }
    if (users != NULL && split_users(users, &o, &err) < 0)
        goto fail;
    /* directories above the per-user part: the default owner; searchable by
     * all when users have owners of their own */
    o.shared = o.owner;
    if (o.nowner_rules > 0)
        o.shared.dir_mode |= 0111;
    {
        /* the mail root's parent is the default home, for Sieve scripts */
        size_t n = strlen(o.tmpl);
        while (n > 1 && o.tmpl[n - 1] == '/')
            n--;
        while (n > 0 && o.tmpl[n - 1] != '/')
            n--;
        o.home_shared = !mf_target_per_user(o.tmpl, n);
    }
    memset(&ro, 0, sizeof ro);
    ro.keys = keys;
    ro.nkeys = nkeys;
    ro.tmpdir = tmpdir;
    cli_progress_init(&x.prog, "unpack", x.quiet || json);
    if (cli_load_seckeys(secs, nsecs, &dkeys, &err) < 0 ||
        mf_archive_files_group(argv + optind, (size_t)(argc - optind), &av, &nav, &err) < 0)
        goto fail;
    ro.dkeys = (const struct mf_seckey *const *)dkeys;
    ro.ndkeys = nsecs;
    /* every archive is validated, and the chain checked, before any is applied */
    nreaders = nav;
    readers = mf_calloc(nreaders, sizeof *readers);
    labels = mf_calloc(nreaders, sizeof *labels);
    if (readers == NULL || labels == NULL) {
        mf_err_nomem(&err);
        goto fail;
    }
    for (size_t i = 0; i < nreaders; i++)
        labels[i] = av[i].label;
    for (size_t i = 0; i < nreaders; i++) {
        const char *path = labels[i];
        if (mf_reader_open_volumes(&readers[i], (const char *const *)av[i].paths, av[i].n, &ro,
                                   &err) < 0) {
            mf_err_ctx(&err, "%s", path);
            goto fail;
        }
        if (i > 0 && mf_reader_manifest(readers[i])->kind == MF_KIND_FULL) {
            /* another full archive starts another chain: a shard of the
             * same migration (pack --shard), with users of its own */
            nchains++;
        } else if (i > 0) {
            const struct mf_manifest *m = mf_reader_manifest(readers[i]);
            const struct mf_manifest *pm = mf_reader_manifest(readers[i - 1]);
            if (m->kind != MF_KIND_DELTA ||
                memcmp(m->base_id, pm->archive_id, MF_ARCHIVE_ID_BYTES) != 0 ||
                memcmp(m->base_manifest, mf_reader_manifest_hash(readers[i - 1]),
                       MF_HASH_BYTES) != 0) {
                mf_err(&err, MF_ECHAIN, "%s is not a delta of %s: give a chain in order (the "
                                        "full archive or the target's current archive, then "
                                        "each delta); nothing was written",
                       path, labels[i - 1]);
                goto fail;
            }
        }
    }
    if (nchains > 1 && check_disjoint(readers, nreaders, labels, &err) < 0)
        goto fail;
    if (mf_unpack_precheck(readers, nreaders, &o, &err) < 0)
        goto fail;
    later = mf_calloc(nreaders, sizeof *later);
    if (later == NULL) {
        mf_err_nomem(&err);
        goto fail;
    }
    for (size_t i = 0; i < nreaders; i++)
        mf_hex(later[i], mf_reader_manifest(readers[i])->archive_id, MF_ARCHIVE_ID_BYTES);
    for (size_t i = 0; i < nreaders; i++) {
        struct mf_unpack_stats one;
        r = readers[i];
        /* a target that holds a later archive of this chain is left alone */
        o.later = later + i + 1;
        o.nlater = 0;
        while (i + 1 + o.nlater < nreaders &&
               mf_reader_manifest(readers[i + 1 + o.nlater])->kind == MF_KIND_DELTA)
            o.nlater++;
        cli_progress_set_totals(&x.prog, mf_reader_header(r)->messages,
                                mf_reader_header(r)->message_bytes);
        if (mf_unpack(r, &o, on_progress, on_note, &x, &one, &err) < 0) {
            cli_progress_done(&x.prog);
            mf_err_ctx(&err, "%s", labels[i]);
            r = NULL;
            goto fail;
        }
        stats_add(&st, &one);
        r = NULL;
    }
    cli_progress_update(&x.prog, st.messages, st.message_bytes, 1);
    cli_progress_done(&x.prog);
    if (json) {
        struct cli_json j;
        json_init(&j, stdout);
        json_obj(&j, NULL);
        json_str(&j, "archive", labels[nreaders - 1]);
        json_u64(&j, "archives", nreaders);
        json_str(&j, "format", o.layout->name);
        json_bool(&j, "dry_run", o.dry_run);
        json_u64(&j, "users", st.users);
        json_u64(&j, "users_already_current", st.users_current);
        json_u64(&j, "mailboxes", st.mailboxes);
        json_u64(&j, "messages", st.messages);
        json_u64(&j, "message_bytes", st.message_bytes);
        json_u64(&j, "files", st.files);
        json_u64(&j, "bytes_written", st.bytes_written);
        json_u64(&j, "mailboxes_renamed", st.renamed);
        json_u64(&j, "sieve_scripts", st.sieve);
        json_u64(&j, "skipped", st.skipped);
        if (o.dry_run) {
            json_u64(&j, "bytes_needed", st.need_bytes);
            json_u64(&j, "inodes_needed", st.need_inodes);
        }
        fprintf(j.f, ",\"seconds\":%.3f", cli_now() - t0);
        json_end_obj(&j);
        json_finish(&j);
    } else if (!x.quiet) {
        if (o.dry_run)
            fprintf(stderr,
                    "mailferry unpack: dry run: %" PRIu64 " users, %" PRIu64 " mailboxes, %" PRIu64
                    " messages, %" PRIu64 " bytes would be written (about %" PRIu64
                    " bytes and %" PRIu64 " inodes needed); nothing written\n",
                    st.users, st.mailboxes, st.messages, st.message_bytes, st.need_bytes,
                    st.need_inodes);
        else
            fprintf(stderr,
                    "mailferry unpack: %" PRIu64 " users written (%" PRIu64
                    " already current), %" PRIu64 " mailboxes, %" PRIu64 " messages, %" PRIu64
                    " files, %" PRIu64 " bytes, %.1f s\n",
                    st.users, st.users_current, st.mailboxes, st.messages, st.files,
                    st.bytes_written, cli_now() - t0);
    }
    if (st.skipped > 0) {
        rc = mf_class_exit(MF_EPARTIAL);
        if (!json)
            fprintf(stderr, "mailferry unpack: %" PRIu64 " items skipped (see above)\n",
                    st.skipped);
    }
    goto done;
fail:
    rc = cli_fail("unpack", &err);
done:
    for (size_t i = 0; i < nreaders && readers != NULL; i++)
        mf_reader_free(&readers[i]);
    mf_free(readers);
    mf_free(labels);
    mf_archive_files_free(av, nav);
    cli_free_seckeys(dkeys, nsecs);
    mf_free(secs);
    mf_free(later);
    mf_free(keys);
    mf_free(pubs);
    for (size_t i = 0; i < o.nusers; i++)
        mf_free(o.users[i]);
    mf_free(o.users);
    for (size_t i = 0; i < o.nowner_rules; i++)
        mf_free(o.owner_rules[i].user);
    mf_free(o.owner_rules);
    return rc;
}
