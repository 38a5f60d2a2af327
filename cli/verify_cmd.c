/* verify_cmd.c: `mailferry verify`: full validation of archives, no writes. */
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../format/archive_read.h"
#include "../format/hash.h"
#include "../format/mem.h"
#include "../pack/base_state.h"
#include "../unpack/dbox_check.h"
#include "../unpack/target.h"

static void help(void)
{
    printf("Usage: mailferry verify -p PUB [-p PUB ...] [--quick] [--json] [-q] ARCHIVE...\n"
           "       mailferry verify -p PUB --against TEMPLATE [--quick] ARCHIVE...\n\n"
           "Checks each archive completely and writes nothing: the signature by a trusted\n"
           "key, every member's size and digest, the index, and (unless --quick) that\n"
           "every frame decodes and every message matches its hash. Exit 0 only when\n"
           "every archive checks out.\n\n"
           "With --against, the archives are a chain (a full archive, then its deltas)\n"
           "and the stores unpacked from it are read back and compared with what the\n"
           "chain says each user has: mailboxes (by GUID, UIDVALIDITY, UIDNEXT) and every\n"
           "message's UID, flags, keywords, GUID, dates, POP3 UIDL, sizes and (unless\n"
           "--quick) every byte. Each difference is listed, messages and mailboxes the\n"
           "target has beyond the archive included; exit 0 only when there are none.\n\n"
           "  -p, --public FILE|DIR  trusted public key (repeatable; a directory of *.pub)\n"
           "      --against TEMPLATE the stores' mail roots, as given to unpack --to\n"
           "      --quick            skip decoding the message data\n"
           "      --tmpdir DIR       where to spool an archive read from a pipe\n"
           "      --json             print a JSON summary on standard output\n"
           "  -q, --quiet            no progress and no per-archive line\n"
           "  -h, --help             this help\n\n"
           "ARCHIVE may be - for standard input.\n");
}

struct prog {
    struct cli_progress p;
};

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
    struct prog *pr = ctx;
    (void)total;
    cli_progress_update(&pr->p, 0, done, 0);
}

struct against {
    int json, quiet;
    struct cli_json j;
};

static void on_diff(void *ctx, const char *user, const char *mailbox, uint32_t uid,
                    const char *what)
{
    struct against *a = ctx;
    if (a->json) {
        json_obj(&a->j, NULL);
        json_str(&a->j, "user", user);
        json_str(&a->j, "mailbox", mailbox);
        if (uid != 0)
            json_u64(&a->j, "uid", uid);
        json_str(&a->j, "difference", what);
        json_end_obj(&a->j);
    } else if (uid != 0) {
        printf("%s: %s: uid %u: %s\n", user, mailbox, uid, what);
    } else {
        printf("%s: %s%s%s\n", user, mailbox, mailbox[0] ? ": " : "", what);
    }
}

/* verify --against: the chain's state, user by user, against the stores. */
static int verify_against(const char *tmpl, char **paths, size_t n, const struct mf_pubkey *keys,
                          size_t nkeys, const char *tmpdir, int quick, int json, int quiet)
{
    struct mf_reader_opts ro;
    struct mf_base_chain *chain = NULL;
    struct mf_base_user *u = NULL;
    struct mf_check_counts counts;
    struct mf_error err;
    struct against a;
    uint64_t users = 0;
    int rc = 0;
    memset(&ro, 0, sizeof ro);
    memset(&counts, 0, sizeof counts);
    memset(&a, 0, sizeof a);
    mf_err_clear(&err);
    a.json = json;
    a.quiet = quiet;
    ro.keys = keys;
    ro.nkeys = nkeys;
    ro.tmpdir = tmpdir;
    if (n == 0)
        return cli_usage("verify", "--against needs the archives (a chain: full, then deltas)");
    if (mf_base_open(&chain, paths, n, &ro, &err) < 0)
        return cli_fail("verify", &err);
    if (json) {
        json_init(&a.j, stdout);
        json_obj(&a.j, NULL);
        json_arr(&a.j, "differences");
    }
    for (;;) {
        char *root;
        int k = mf_base_next_user(chain, &u, &err);
        if (k <= 0) {
            rc = k;
            break;
        }
        users++;
        if (mf_target_expand(tmpl, u->name, &root, &err) < 0) {
            rc = -1;
            break;
        }
        rc = mf_check_user(u, root, quick, on_diff, &a, &counts, &err);
        mf_free(root);
        mf_base_user_free(u);
        u = NULL;
        if (rc < 0)
            break;
    }
    mf_base_user_free(u);
    mf_base_close(&chain);
    if (rc < 0) {
        if (json) {
            json_end_arr(&a.j);
            json_end_obj(&a.j);
            json_finish(&a.j);
        }
        return cli_fail("verify", &err);
    }
    if (json) {
        json_end_arr(&a.j);
        json_u64(&a.j, "users", users);
        json_u64(&a.j, "mailboxes", counts.mailboxes);
        json_u64(&a.j, "messages", counts.messages);
        json_u64(&a.j, "differences", counts.differences);
        json_u64(&a.j, "on_target_only", counts.extra);
        json_end_obj(&a.j);
        json_finish(&a.j);
    } else if (!quiet) {
        printf("%" PRIu64 " users, %" PRIu64 " mailboxes, %" PRIu64 " messages compared: %"
               PRIu64 " differences (%" PRIu64 " of them things the target has beyond the "
               "archive)\n", users, counts.mailboxes, counts.messages, counts.differences,
               counts.extra);
    }
    return counts.differences > 0 ? mf_class_exit(MF_EPARTIAL) : 0;
}

int cmd_verify(int argc, char **argv)
{
    static const struct option opts[] = {{"public", required_argument, 0, 'p'},
                                         {"quick", no_argument, 0, 'Q'},
                                         {"against", required_argument, 0, 'A'},
                                         {"json", no_argument, 0, 'j'},
                                         {"tmpdir", required_argument, 0, 'T'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    char **pubs = NULL;
    size_t npubs = 0;
    int quick = 0, json = 0, quiet = 0, c, worst = 0;
    const char *tmpdir = NULL, *against = NULL;
    struct mf_pubkey *keys = NULL;
    size_t nkeys = 0;
    struct mf_error err;
    struct cli_json j;
    mf_err_clear(&err);
    pubs = mf_calloc((size_t)argc, sizeof *pubs);
    if (pubs == NULL)
        return 3;
    optind = 1;
    while ((c = getopt_long(argc, argv, "p:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'p': pubs[npubs++] = optarg; break;
        case 'Q': quick = 1; break;
        case 'A': against = optarg; break;
        case 'j': json = 1; break;
        case 'T': tmpdir = optarg; break;
        case 'q': quiet = 1; break;
        case 'h': help(); mf_free(pubs); return 0;
        default: mf_free(pubs); return cli_usage("verify", "unknown option");
        }
    }
    if (npubs == 0 || optind >= argc) {
        mf_free(pubs);
        return cli_usage("verify", "mailferry verify -p PUB ARCHIVE...");
    }
    if (mf_crypto_init(&err) < 0 || cli_load_pubkeys(pubs, npubs, &keys, &nkeys, &err) < 0) {
        mf_free(pubs);
        return cli_fail("verify", &err);
    }
    mf_free(pubs);
    if (against != NULL) {
        worst = verify_against(against, argv + optind, (size_t)(argc - optind), keys, nkeys,
                               tmpdir, quick, json, quiet);
        mf_free(keys);
        return worst;
    }
    if (json) {
        json_init(&j, stdout);
        json_obj(&j, NULL);
        json_arr(&j, "archives");
    }
    for (int i = optind; i < argc; i++) {
        struct mf_reader_opts ro;
        struct mf_reader *r = NULL;
        struct prog pr;
        double t0 = cli_now();
        uint64_t chained = 0;
        int rc = 0;
        memset(&ro, 0, sizeof ro);
        ro.keys = keys;
        ro.nkeys = nkeys;
        ro.tmpdir = tmpdir;
        cli_progress_init(&pr.p, "verify", quiet || json);
        ro.progress = on_progress;
        ro.progress_ctx = &pr;
        mf_err_clear(&err);
        if (mf_reader_open(&r, argv[i], &ro, &err) < 0 ||
            (!quick && mf_reader_verify_content(r, on_progress, &pr, &chained, &err) < 0))
            rc = -1;
        cli_progress_done(&pr.p);
        if (json) {
            json_obj(&j, NULL);
            json_str(&j, "archive", argv[i]);
            json_bool(&j, "ok", rc == 0);
            if (rc < 0) {
                json_str(&j, "class", mf_class_name(err.cls));
                json_str(&j, "error", err.msg);
            } else {
                const struct mf_manifest *m = mf_reader_manifest(r);
                const struct mf_rec_header *h = mf_reader_header(r);
                json_hex(&j, "id", m->archive_id, sizeof m->archive_id);
                json_str(&j, "kind", mf_kind_name(m->kind));
                json_str(&j, "signed_by", mf_reader_signer(r));
                json_u64(&j, "users", h->users);
                json_u64(&j, "messages", h->messages);
                json_u64(&j, "bytes", mf_reader_archive_bytes(r));
                json_bool(&j, "content_checked", !quick);
                json_u64(&j, "messages_in_base_chain", chained);
            }
            json_end_obj(&j);
        } else if (rc < 0) {
            mf_err_ctx(&err, "%s", argv[i]);
            cli_fail("verify", &err);
        } else if (!quiet) {
            const struct mf_manifest *m = mf_reader_manifest(r);
            const struct mf_rec_header *h = mf_reader_header(r);
            char id[33];
            double el = cli_now() - t0;
            mf_hex(id, m->archive_id, sizeof m->archive_id);
            printf("%s: OK, %s archive %s signed by %s, %" PRIu64 " users, %" PRIu64
                   " messages, %" PRIu64 " bytes%s (%.2f s)\n",
                   argv[i], mf_kind_name(m->kind), id, mf_reader_signer(r), h->users, h->messages,
                   mf_reader_archive_bytes(r), quick ? ", content not decoded" : "", el);
            if (chained > 0)
                printf("%s: %" PRIu64 " messages use content of the base chain; they are checked "
                       "when the delta is applied\n", argv[i], chained);
        }
        if (rc < 0) {
            int code = mf_class_exit(err.cls);
            if (code > worst)
                worst = code;
        }
        mf_reader_free(&r);
    }
    if (json) {
        json_end_arr(&j);
        json_end_obj(&j);
        json_finish(&j);
    }
    mf_free(keys);
    return worst;
}
