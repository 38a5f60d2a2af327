/* ls_cmd.c: `mailferry ls`: what an archive holds, as text or JSON. */
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../format/archive_files.h"
#include "../format/archive_read.h"
#include "../format/hash.h"
#include "../format/mem.h"

static void help(void)
{
    printf("Usage: mailferry ls [-p PUB] [-k SEC] [--json] ARCHIVE\n\n"
           "Lists users, mailboxes, message counts and sizes. With --json, every message\n"
           "with all its index fields (spec/FORMAT.md, \"ls --json\"). Member digests and\n"
           "the index are always checked; the signature only when -p is given.\n\n"
           "  -p, --public FILE|DIR  trusted public key (repeatable)\n"
           "  -k, --key FILE         secret key for an encrypted archive (repeatable)\n"
           "      --json             JSON on standard output\n"
           "      --tmpdir DIR       where to spool an archive read from a pipe\n"
           "  -h, --help             this help\n\n"
           "An archive in volumes is named by its volumes in order, or by the name they\n"
           "share (x.mfa for x.mfa.001, x.mfa.002, ...).\n");
}

static const char *const flag_names[] = {"\\Answered", "\\Flagged", "\\Deleted", "\\Seen",
                                         "\\Draft"};

static void json_refs(struct cli_json *j, const struct mf_blobref *refs, uint32_t n)
{
    json_arr(j, "blobs");
    for (uint32_t i = 0; i < n; i++) {
        json_obj(j, NULL);
        if (refs[i].flags & MF_REF_HAS_ID)
            json_hex(j, "id", refs[i].id, MF_HASH_BYTES);
        json_u64(j, "size", refs[i].len);
        json_u64(j, "frame", refs[i].frame);
        json_u64(j, "offset", refs[i].offset);
        json_end_obj(j);
    }
    json_end_arr(j);
}

struct kwtab {
    char **names;
    size_t *lens;
    uint32_t n;
};

static void kw_clear(struct kwtab *k)
{
    for (uint32_t i = 0; i < k->n; i++)
        mf_free(k->names[i]);
    mf_free(k->names);
    mf_free(k->lens);
    memset(k, 0, sizeof *k);
}

static int kw_set(struct kwtab *k, const struct mf_rec_mailbox *m)
{
    kw_clear(k);
    if (m->nkeywords == 0)
        return 0;
    k->names = mf_calloc(m->nkeywords, sizeof *k->names);
    k->lens = mf_calloc(m->nkeywords, sizeof *k->lens);
    if (k->names == NULL || k->lens == NULL)
        return -1;
    for (uint32_t i = 0; i < m->nkeywords; i++) {
        k->names[i] = mf_strndup(m->keywords[i].p, m->keywords[i].n);
        if (k->names[i] == NULL)
            return -1;
        k->lens[i] = m->keywords[i].n;
        k->n = i + 1;
    }
    return 0;
}

static void print_name(FILE *f, const struct mf_rec_mailbox *m)
{
    for (uint32_t i = 0; i < m->ncomponents; i++)
        fprintf(f, "%s%.*s", i ? "/" : "", (int)m->components[i].n, m->components[i].p);
}

static int list_json(struct mf_reader *r, struct mf_error *err)
{
    struct cli_json j;
    struct mf_record rec;
    const struct mf_manifest *m = mf_reader_manifest(r);
    const struct mf_rec_header *h = mf_reader_header(r);
    struct kwtab kw;
    int k, in_user = 0, in_mbox = 0;
    memset(&kw, 0, sizeof kw);
    json_init(&j, stdout);
    json_obj(&j, NULL);
    json_obj(&j, "archive");
    json_hex(&j, "id", m->archive_id, sizeof m->archive_id);
    json_str(&j, "kind", mf_kind_name(m->kind));
    json_i64(&j, "created", m->created);
    json_str(&j, "host", m->host);
    json_str(&j, "tool", m->tool);
    json_u64(&j, "chain", m->chain);
    if (m->kind == MF_KIND_DELTA) {
        json_hex(&j, "base", m->base_id, sizeof m->base_id);
        json_hex(&j, "base_manifest", m->base_manifest, sizeof m->base_manifest);
    }
    if (mf_reader_signer(r) != NULL)
        json_str(&j, "signed_by", mf_reader_signer(r));
    else
        json_null(&j, "signed_by");
    json_u64(&j, "members", m->nmembers);
    json_u64(&j, "bytes", mf_reader_archive_bytes(r));
    json_u64(&j, "users", h->users);
    json_u64(&j, "mailboxes", h->mailboxes);
    json_u64(&j, "messages", h->messages);
    json_u64(&j, "message_bytes", h->message_bytes);
    json_u64(&j, "stored_bytes", h->blob_bytes);
    json_u64(&j, "frames", h->frames);
    json_u64(&j, "packs", h->packs);
    json_end_obj(&j);
    json_arr(&j, "users");
    if (mf_reader_rewind(r, err) < 0)
        return -1;
    while ((k = mf_reader_next(r, &rec, err)) > 0) {
        switch (rec.type) {
        case MF_REC_USER: {
            const struct mf_rec_user *u = &rec.u.user;
            json_obj(&j, NULL);
            json_strn(&j, "name", u->name.p, u->name.n);
            json_strn(&j, "source", u->source.p, u->source.n);
            json_u64(&j, "uid", u->uid);
            json_u64(&j, "gid", u->gid);
            json_strn(&j, "owner", u->owner.p, u->owner.n);
            json_strn(&j, "group", u->group.p, u->group.n);
            json_arr(&j, "extras");
            in_user = 1;
            break;
        }
        case MF_REC_EXTRA: {
            const struct mf_rec_extra *x = &rec.u.extra;
            static const char *const roles[] = {"", "sieve-script", "sieve-active", "file", "subscriptions"};
            json_obj(&j, NULL);
            json_str(&j, "role", roles[x->role]);
            json_strn(&j, "path", x->path.p, x->path.n);
            json_u64(&j, "mode", x->mode);
            json_i64(&j, "mtime", x->mtime);
            json_u64(&j, "size", x->size);
            if (x->target.n > 0)
                json_strn(&j, "target", x->target.p, x->target.n);
            json_refs(&j, x->refs, x->nrefs);
            json_end_obj(&j);
            break;
        }
        case MF_REC_MAILBOX: {
            const struct mf_rec_mailbox *mb = &rec.u.mailbox;
            static const char *const enc[] = {"ascii", "mutf7", "utf8"};
            static const char *const lay[] = {"", "maildir++", "fs", "courier"};
            if (in_user == 1) {
                json_end_arr(&j);
                json_arr(&j, "mailboxes");
                in_user = 2;
            }
            if (kw_set(&kw, mb) < 0)
                return mf_err_nomem(err);
            json_obj(&j, NULL);
            json_arr(&j, "name");
            for (uint32_t i = 0; i < mb->ncomponents; i++)
                json_strn(&j, NULL, mb->components[i].p, mb->components[i].n);
            json_end_arr(&j);
            json_strn(&j, "stored", mb->stored.p, mb->stored.n);
            json_str(&j, "encoding", enc[mb->encoding]);
            json_str(&j, "layout", lay[mb->layout]);
            json_hex(&j, "guid", mb->guid, MF_GUID_BYTES);
            json_u64(&j, "uidvalidity", mb->uidvalidity);
            json_u64(&j, "uidnext", mb->uidnext);
            json_bool(&j, "subscribed", (mb->flags & MF_MBOX_SUBSCRIBED) != 0);
            json_bool(&j, "guid_derived", (mb->flags & MF_MBOX_GUID_DERIVED) != 0);
            json_arr(&j, "keywords");
            for (uint32_t i = 0; i < mb->nkeywords; i++)
                json_strn(&j, NULL, mb->keywords[i].p, mb->keywords[i].n);
            json_end_arr(&j);
            json_arr(&j, "messages");
            in_mbox = 1;
            break;
        }
        case MF_REC_MESSAGE: {
            const struct mf_rec_message *ms = &rec.u.message;
            json_obj(&j, NULL);
            json_u64(&j, "uid", ms->uid);
            json_arr(&j, "flags");
            for (int b = 0; b < 5; b++)
                if (ms->flags & (1 << b))
                    json_str(&j, NULL, flag_names[b]);
            json_end_arr(&j);
            json_arr(&j, "keywords");
            for (uint32_t i = 0; i < ms->nkeywords; i++)
                json_strn(&j, NULL, kw.names[ms->keywords[i]], kw.lens[ms->keywords[i]]);
            json_end_arr(&j);
            if (ms->other_flags.n > 0)
                json_strn(&j, "maildir_flags", ms->other_flags.p, ms->other_flags.n);
            json_strn(&j, "guid", ms->guid.p, ms->guid.n);
            json_i64(&j, "received", ms->received);
            json_i64(&j, "saved", ms->saved);
            json_u64(&j, "size", ms->size);
            json_u64(&j, "vsize", ms->vsize);
            json_strn(&j, "pop3_uidl", ms->pop3_uidl.p, ms->pop3_uidl.n);
            if (ms->pop3_order > 0)
                json_u64(&j, "pop3_order", ms->pop3_order);
            else
                json_null(&j, "pop3_order");
            json_str(&j, "source_dir", ms->source_dir == MF_SRC_NEW ? "new" : "cur");
            json_strn(&j, "source_name", ms->source_name.p, ms->source_name.n);
            json_hex(&j, "hash", ms->hash, MF_HASH_BYTES);
            json_refs(&j, ms->refs, ms->nrefs);
            json_end_obj(&j);
            break;
        }
        case MF_REC_MAILBOX_END:
            json_end_arr(&j);
            json_u64(&j, "message_count", rec.u.mailbox_end.nmessages);
            json_hex(&j, "state", rec.u.mailbox_end.state, MF_HASH_BYTES);
            json_end_obj(&j);
            in_mbox = 0;
            break;
        case MF_REC_USER_END:
            if (in_user == 1) {
                json_end_arr(&j);
                json_arr(&j, "mailboxes");
            }
            json_end_arr(&j);
            json_u64(&j, "message_count", rec.u.user_end.nmessages);
            json_end_obj(&j);
            in_user = 0;
            break;
        default:
            break;
        }
    }
    (void)in_mbox;
    kw_clear(&kw);
    if (k < 0)
        return -1;
    json_end_arr(&j);
    json_end_obj(&j);
    json_finish(&j);
    return 0;
}

static int list_text(struct mf_reader *r, struct mf_error *err)
{
    struct mf_record rec;
    const struct mf_manifest *m = mf_reader_manifest(r);
    const struct mf_rec_header *h = mf_reader_header(r);
    char id[33], when[64];
    time_t t = (time_t)m->created;
    struct tm tm;
    uint64_t mb_bytes = 0, mb_msgs = 0;
    struct mf_rec_mailbox cur;
    int k;
    memset(&cur, 0, sizeof cur);
    mf_hex(id, m->archive_id, sizeof m->archive_id);
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
    printf("archive %s (%s, chain %" PRIu64 "), created %s on %s, %s\n", id, mf_kind_name(m->kind),
           m->chain, when, m->host,
           mf_reader_signer(r) != NULL ? "signature verified" : "signature NOT checked (no -p)");
    if (mf_reader_signer(r) != NULL)
        printf("signed by key %s\n", mf_reader_signer(r));
    printf("%" PRIu64 " users, %" PRIu64 " mailboxes, %" PRIu64 " messages, %" PRIu64
           " message bytes stored as %" PRIu64 " distinct bytes in %" PRIu64 " archive bytes\n",
           h->users, h->mailboxes, h->messages, h->message_bytes, h->blob_bytes,
           mf_reader_archive_bytes(r));
    if (mf_reader_rewind(r, err) < 0)
        return -1;
    while ((k = mf_reader_next(r, &rec, err)) > 0) {
        switch (rec.type) {
        case MF_REC_USER:
            printf("user %.*s  (from %.*s, owner %" PRIu64 ":%" PRIu64 ")\n",
                   (int)rec.u.user.name.n, rec.u.user.name.p, (int)rec.u.user.source.n,
                   rec.u.user.source.p, rec.u.user.uid, rec.u.user.gid);
            break;
        case MF_REC_EXTRA:
            printf("  file %.*s (%" PRIu64 " bytes)\n", (int)rec.u.extra.path.n,
                   rec.u.extra.path.p, rec.u.extra.size);
            break;
        case MF_REC_MAILBOX: {
            /* the name padded to 30 characters (not bytes: names are UTF-8) */
            size_t width = 0;
            cur = rec.u.mailbox;
            mb_bytes = mb_msgs = 0;
            printf("  mailbox ");
            print_name(stdout, &rec.u.mailbox);
            for (uint32_t c = 0; c < cur.ncomponents; c++) {
                width += c > 0;
                for (size_t i = 0; i < cur.components[c].n; i++)
                    width += (cur.components[c].p[i] & 0xc0) != 0x80;
            }
            printf("%*s uidvalidity %u uidnext %u%s", width < 30 ? (int)(30 - width) : 0, "",
                   cur.uidvalidity, cur.uidnext,
                   (cur.flags & MF_MBOX_SUBSCRIBED) ? " subscribed" : "");
            break;
        }
        case MF_REC_MESSAGE:
            mb_msgs++;
            mb_bytes += rec.u.message.size;
            break;
        case MF_REC_MAILBOX_END:
            printf(", %" PRIu64 " messages, %" PRIu64 " bytes\n", mb_msgs, mb_bytes);
            break;
        default:
            break;
        }
    }
    return k < 0 ? -1 : 0;
}

int cmd_ls(int argc, char **argv)
{
    static const struct option opts[] = {{"public", required_argument, 0, 'p'},
                                         {"json", no_argument, 0, 'j'},
                                         {"tmpdir", required_argument, 0, 'T'},
                                         {"key", required_argument, 0, 'k'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    char **pubs, **secs;
    struct mf_seckey **dkeys = NULL;
    struct mf_archive_files *av = NULL;
    size_t npubs = 0, nkeys = 0, nsecs = 0, nav = 0;
    int json = 0, c, rc;
    const char *tmpdir = NULL;
    struct mf_pubkey *keys = NULL;
    struct mf_reader_opts ro;
    struct mf_reader *r = NULL;
    struct mf_error err;
    mf_err_clear(&err);
    pubs = mf_calloc((size_t)argc, sizeof *pubs);
    secs = mf_calloc((size_t)argc, sizeof *secs);
    if (pubs == NULL || secs == NULL) {
        mf_free(pubs);
        mf_free(secs);
        return 3;
    }
    optind = 1;
    while ((c = getopt_long(argc, argv, "p:k:h", opts, NULL)) != -1) {
        switch (c) {
        case 'p': pubs[npubs++] = optarg; break;
        case 'k': secs[nsecs++] = optarg; break;
        case 'j': json = 1; break;
        case 'T': tmpdir = optarg; break;
        case 'h': help(); mf_free(pubs); mf_free(secs); return 0;
        default: mf_free(pubs); mf_free(secs); return cli_usage("ls", "unknown option");
        }
    }
    rc = 0;
    if (mf_crypto_init(&err) < 0 ||
        mf_archive_files_group(argv + optind, (size_t)(argc - optind), &av, &nav, &err) < 0) {
        rc = cli_fail("ls", &err);
        goto out;
    }
    if (nav != 1) {
        rc = cli_usage("ls", "mailferry ls [-p PUB] [-k SEC] [--json] ARCHIVE");
        goto out;
    }
    if ((npubs > 0 && cli_load_pubkeys(pubs, npubs, &keys, &nkeys, &err) < 0) ||
        cli_load_seckeys(secs, nsecs, &dkeys, &err) < 0) {
        rc = cli_fail("ls", &err);
        goto out;
    }
    memset(&ro, 0, sizeof ro);
    ro.keys = keys;
    ro.nkeys = nkeys;
    ro.allow_unsigned = npubs == 0;
    ro.tmpdir = tmpdir;
    ro.dkeys = (const struct mf_seckey *const *)dkeys;
    ro.ndkeys = nsecs;
    if (mf_reader_open_volumes(&r, (const char *const *)av[0].paths, av[0].n, &ro, &err) < 0) {
        mf_err_ctx(&err, "%s", av[0].label);
        rc = cli_fail("ls", &err);
        goto out;
    }
    if (npubs == 0 && !json)
        fprintf(stderr, "mailferry ls: warning: signature not checked (give -p PUB)\n");
    if ((json ? list_json(r, &err) : list_text(r, &err)) < 0)
        rc = cli_fail("ls", &err);
out:
    mf_reader_free(&r);
    mf_free(keys);
    mf_free(pubs);
    mf_free(secs);
    cli_free_seckeys(dkeys, nsecs);
    mf_archive_files_free(av, nav);
    return rc;
}
