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
#include "../format/archive_files.h"
#include "../unpack/target.h"

static void help(void)
{
    printf("Usage: mailferry verify -p PUB [-p PUB ...] [-k SEC] [--quick] [--json] [-q] "
           "ARCHIVE...\n"
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
           "  -k, --key FILE         secret key to read encrypted archives (repeatable)\n"
           "      --against TEMPLATE the stores' mail roots, as given to unpack --to\n"
           "      --quick            skip decoding the message data\n"
           "      --tmpdir DIR       where to spool an archive read from a pipe\n"
           "      --json             print a JSON summary on standard output\n"
           "  -q, --quiet            no progress and no per-archive line\n"
           "  -h, --help             this help\n\n"
           "ARCHIVE may be - for standard input. An archive in volumes is named by its\n"
           "volumes in order or by the name they share (x.mfa for x.mfa.001, ...); one\n"
           "volume alone, or an encrypted archive without a recipient's key (-k), is\n"
           "checked as far as it can be (signature, manifest, its members' digests) and\n"
           "the line says what was not.\n");
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
static int verify_against(const char *tmpl, const struct mf_archive_files *av, size_t n,
                          const struct mf_reader_opts *base, int quick, int json, int quiet)
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
    ro = *base;
    if (n == 0)
        return cli_usage("verify", "--against needs the archives (a chain: full, then deltas)");
    if (mf_base_open(&chain, av, n, &ro, &err) < 0)
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
        json_u64(&a.j, "difference_count", counts.differences);
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
                                         {"key", required_argument, 0, 'k'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    char **pubs = NULL, **secs = NULL;
    struct mf_seckey **dkeys = NULL;
    struct mf_archive_files *av = NULL;
    struct mf_reader_opts base;
    size_t npubs = 0, nsecs = 0, nav = 0;
    int quick = 0, json = 0, quiet = 0, c, worst = 0;
    const char *tmpdir = NULL, *against = NULL;
    struct mf_pubkey *keys = NULL;
    size_t nkeys = 0;
    struct mf_error err;
    struct cli_json j;
    mf_err_clear(&err);
    pubs = mf_calloc((size_t)argc, sizeof *pubs);
    secs = mf_calloc((size_t)argc, sizeof *secs);
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
        case 'Q': quick = 1; break;
        case 'A': against = optarg; break;
        case 'j': json = 1; break;
        case 'T': tmpdir = optarg; break;
        case 'q': quiet = 1; break;
        case 'h': help(); mf_free(pubs); mf_free(secs); return 0;
        default: mf_free(pubs); mf_free(secs); return cli_usage("verify", "unknown option");
        }
    }
    if (npubs == 0 || optind >= argc) {
        mf_free(pubs);
        mf_free(secs);
        return cli_usage("verify", "mailferry verify -p PUB ARCHIVE...");
    }
    if (mf_crypto_init(&err) < 0 || cli_load_pubkeys(pubs, npubs, &keys, &nkeys, &err) < 0 ||
        cli_load_seckeys(secs, nsecs, &dkeys, &err) < 0 ||
        mf_archive_files_group(argv + optind, (size_t)(argc - optind), &av, &nav, &err) < 0) {
        worst = cli_fail("verify", &err);
        goto done;
    }
    memset(&base, 0, sizeof base);
    base.keys = keys;
    base.nkeys = nkeys;
    base.tmpdir = tmpdir;
    base.dkeys = (const struct mf_seckey *const *)dkeys;
    base.ndkeys = nsecs;
    if (against != NULL) {
        worst = verify_against(against, av, nav, &base, quick, json, quiet);
        goto done;
    }
    if (json) {
        json_init(&j, stdout);
        json_obj(&j, NULL);
        json_arr(&j, "archives");
    }
    for (size_t i = 0; i < nav; i++) {
        struct mf_reader_opts ro = base;
        struct mf_reader *r = NULL;
        struct prog pr;
        double t0 = cli_now();
        uint64_t chained = 0;
        const char *label = av[i].label, *why = NULL;
        size_t vfirst = 1, vlast = 1, vtotal = 1;
        int rc = 0;
        cli_progress_init(&pr.p, "verify", quiet || json);
        ro.progress = on_progress;
        ro.progress_ctx = &pr;
        /* a volume as it arrives, or an archive whose key is not here: the
         * container is checked, and the output says what was not */
        ro.container_ok = 1;
        mf_err_clear(&err);
        if (mf_reader_open_volumes(&r, (const char *const *)av[i].paths, av[i].n, &ro, &err) < 0)
            rc = -1;
        if (rc == 0) {
            mf_reader_container_only(r, &why);
            mf_reader_volumes(r, &vfirst, &vlast, &vtotal);
        }
        if (rc == 0 && why == NULL && !quick &&
            mf_reader_verify_content(r, on_progress, &pr, &chained, &err) < 0)
            rc = -1;
        cli_progress_done(&pr.p);
        if (json) {
            json_obj(&j, NULL);
            json_str(&j, "archive", label);
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
                json_bool(&j, "encrypted", m->encrypted);
                json_u64(&j, "volumes", vtotal);
                json_u64(&j, "first_volume", vfirst);
                json_u64(&j, "last_volume", vlast);
                json_u64(&j, "bytes", mf_reader_archive_bytes(r));
                json_bool(&j, "index_checked", why == NULL);
                if (why != NULL) {
                    json_str(&j, "not_checked", why);
                } else {
                    json_u64(&j, "users", h->users);
                    json_u64(&j, "messages", h->messages);
                }
                json_bool(&j, "content_checked", !quick && why == NULL);
                json_u64(&j, "messages_in_base_chain", chained);
            }
            json_end_obj(&j);
        } else if (rc < 0) {
            mf_err_ctx(&err, "%s", label);
            cli_fail("verify", &err);
        } else if (!quiet && why != NULL) {
            const struct mf_manifest *m = mf_reader_manifest(r);
            char id[33], vols[96] = "";
            mf_hex(id, m->archive_id, sizeof m->archive_id);
            if (vtotal > 1 && vfirst == vlast)
                snprintf(vols, sizeof vols, " volume %zu of %zu:", vfirst, vtotal);
            else if (vtotal > 1)
                snprintf(vols, sizeof vols, " volumes %zu to %zu of %zu:", vfirst, vlast, vtotal);
            printf("%s:%s OK, %s%s archive %s signed by %s, %" PRIu64 " bytes: signature, "
                   "manifest and member digests check; the index and messages were not read "
                   "(%s) (%.2f s)\n",
                   label, vols, m->encrypted ? "encrypted " : "", mf_kind_name(m->kind), id,
                   mf_reader_signer(r), mf_reader_archive_bytes(r), why, cli_now() - t0);
        } else if (!quiet) {
            const struct mf_manifest *m = mf_reader_manifest(r);
            const struct mf_rec_header *h = mf_reader_header(r);
            char id[33], vols[48] = "";
            double el = cli_now() - t0;
            mf_hex(id, m->archive_id, sizeof m->archive_id);
            if (vtotal > 1)
                snprintf(vols, sizeof vols, " in %zu volumes", vtotal);
            printf("%s: OK, %s%s archive %s%s signed by %s, %" PRIu64 " users, %" PRIu64
                   " messages, %" PRIu64 " bytes%s (%.2f s)\n",
                   label, m->encrypted ? "encrypted " : "", mf_kind_name(m->kind), id, vols,
                   mf_reader_signer(r), h->users, h->messages, mf_reader_archive_bytes(r),
                   quick ? ", content not decoded" : "", el);
            if (chained > 0)
                printf("%s: %" PRIu64 " messages use content of the base chain; they are checked "
                       "when the delta is applied\n", label, chained);
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
done:
    mf_free(keys);
    mf_free(pubs);
    mf_free(secs);
    cli_free_seckeys(dkeys, nsecs);
    mf_archive_files_free(av, nav);
    return worst;
}
