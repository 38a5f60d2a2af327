/* diff_cmd.c: `mailferry diff`: what changed between two archives of a
 * chain, per user and mailbox: messages added and expunged, flag and keyword
 * changes, mailboxes new, reset, renamed and removed, users added and
 * removed. For a delta and its base this is the delta's own records; for
 * two full archives (two snapshots of the same store) it is the difference
 * of their states (spec 14.2), compared user by user and mailbox by GUID. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../format/archive_read.h"
#include "../format/hash.h"
#include "../format/mem.h"
#include "../pack/base_state.h"
#include "cli.h"

static void help(void)
{
    printf("Usage: mailferry diff [-p PUB] [-k SEC] [--json] [-v] OLD NEW\n\n"
           "Lists what changed from archive OLD to archive NEW, per user and mailbox:\n"
           "messages added and expunged, flag and keyword changes, mailboxes new, reset,\n"
           "renamed and removed, users added and removed. NEW is a delta of OLD (its\n"
           "changes are listed as recorded), or both are full archives of the same\n"
           "store (their contents are compared). Index files work as well as archives;\n"
           "an archive in volumes is named by its volumes in order, or by the name\n"
           "they share (x.mfa for x.mfa.001, x.mfa.002, ...).\n\n"
           "  -p, --public FILE|DIR  trusted public key (repeatable; without, signatures\n"
           "                         are not checked)\n"
           "  -k, --key FILE         secret key for encrypted archives (repeatable)\n"
           "      --json             the changes as JSON on standard output\n"
           "  -v, --verbose          every UID, not only counts\n"
           "  -h, --help             this help\n\n"
           "Exit 0 when nothing changed, 1 when something did.\n");
}

static const char *const flag_names[] = {"\\Answered", "\\Flagged", "\\Deleted", "\\Seen",
                                         "\\Draft"};

static void print_flags(FILE *f, uint8_t flags)
{
    int any = 0;
    for (int i = 0; i < 5; i++)
        if (flags & (1u << i)) {
            fprintf(f, "%s%s", any ? " " : "", flag_names[i]);
            any = 1;
        }
    if (!any)
        fprintf(f, "()");
}

struct out {
    int json, verbose;
    struct cli_json j;
    uint64_t changes;
    int in_user, in_mb;
    /* text: the user and mailbox headings, printed before their first change */
    char user[300], mb[1100];
    int user_shown, mb_shown;
};

static void heading(struct out *o)
{
    if (o->json)
        return;
    if (!o->user_shown) {
        printf("user %s\n", o->user);
        o->user_shown = 1;
    }
    if (o->in_mb && !o->mb_shown) {
        printf("  mailbox %s\n", o->mb);
        o->mb_shown = 1;
    }
}

static void user_begin(struct out *o, const char *name, size_t n)
{
    snprintf(o->user, sizeof o->user, "%.*s", (int)n, name);
    o->user_shown = 0;
    o->in_user = 1;
    if (o->json) {
        json_obj(&o->j, NULL);
        json_strn(&o->j, "user", name, n);
        json_arr(&o->j, "mailboxes");
    }
}

static void user_end(struct out *o)
{
    if (o->json) {
        json_end_arr(&o->j);
        json_end_obj(&o->j);
    }
    o->in_user = 0;
}

static void mb_begin(struct out *o, const char *name, const char *change, const char *from,
                     uint64_t n)
{
    snprintf(o->mb, sizeof o->mb, "%s", name);
    o->mb_shown = 0;
    o->in_mb = 1;
    if (o->json) {
        json_obj(&o->j, NULL);
        json_str(&o->j, "mailbox", name);
        json_str(&o->j, "change", change);
        if (from != NULL)
            json_str(&o->j, "renamed_from", from);
        json_arr(&o->j, "events");
        return;
    }
    if (strcmp(change, "changed") != 0 || from != NULL) {
        o->changes++;
        heading(o);
        if (from != NULL && strcmp(change, "changed") == 0)
            printf("    renamed from %s\n", from);
        else if (n > 0)
            printf("    %s (%" PRIu64 " messages)\n", change, n);
        else
            printf("    %s\n", change);
    }
}

static void mb_end(struct out *o)
{
    if (o->json) {
        json_end_arr(&o->j);
        json_end_obj(&o->j);
    }
    o->in_mb = 0;
}

static void event_uid(struct out *o, const char *what, uint32_t uid)
{
    o->changes++;
    if (o->json) {
        json_obj(&o->j, NULL);
        json_str(&o->j, "event", what);
        json_u64(&o->j, "uid", uid);
        json_end_obj(&o->j);
    } else if (o->verbose) {
        heading(o);
        printf("    uid %u %s\n", uid, what);
    }
}

static void event_flags(struct out *o, uint32_t uid, uint8_t a, uint8_t b, char **added,
                        size_t na, char **removed, size_t nr)
{
    o->changes++;
    if (o->json) {
        json_obj(&o->j, NULL);
        json_str(&o->j, "event", "flags");
        json_u64(&o->j, "uid", uid);
        json_u64(&o->j, "old_flags", a);
        json_u64(&o->j, "new_flags", b);
        json_arr(&o->j, "keywords_added");
        for (size_t i = 0; i < na; i++)
            json_str(&o->j, NULL, added[i]);
        json_end_arr(&o->j);
        json_arr(&o->j, "keywords_removed");
        for (size_t i = 0; i < nr; i++)
            json_str(&o->j, NULL, removed[i]);
        json_end_arr(&o->j);
        json_end_obj(&o->j);
    } else if (o->verbose) {
        heading(o);
        printf("    uid %u flags ", uid);
        print_flags(stdout, a);
        printf(" -> ");
        print_flags(stdout, b);
        for (size_t i = 0; i < na; i++)
            printf(" +%s", added[i]);
        for (size_t i = 0; i < nr; i++)
            printf(" -%s", removed[i]);
        printf("\n");
    }
}

static void counts(struct out *o, uint64_t added, uint64_t expunged, uint64_t flags)
{
    if (o->json || (added == 0 && expunged == 0 && flags == 0))
        return;
    heading(o);
    printf("    %" PRIu64 " added, %" PRIu64 " expunged, %" PRIu64 " flag changes\n", added,
           expunged, flags);
}

static void simple_event(struct out *o, const char *what, const char *name, size_t n)
{
    o->changes++;
    if (o->json) {
        json_obj(&o->j, NULL);
        json_str(&o->j, "event", what);
        json_strn(&o->j, "name", name, n);
        json_end_obj(&o->j);
        return;
    }
    heading(o);
    printf("  %s %.*s\n", what, (int)n, name);
}

static char *join_name(const struct mf_rec_mailbox *m)
{
    size_t n = 1;
    char *s, *p;
    for (uint32_t i = 0; i < m->ncomponents; i++)
        n += m->components[i].n + 1;
    s = p = mf_malloc(n);
    if (s == NULL)
        return NULL;
    for (uint32_t i = 0; i < m->ncomponents; i++) {
        if (i > 0)
            *p++ = '/';
        memcpy(p, m->components[i].p, m->components[i].n);
        p += m->components[i].n;
    }
    *p = '\0';
    return s;
}

/* ---- a delta's own records ---- */

static int diff_delta(struct mf_reader *r, struct out *o, struct mf_error *err)
{
    struct mf_record rec;
    char **kw = NULL, *name = NULL, *stored = NULL;
    uint32_t nkw = 0;
    uint64_t added = 0, expunged = 0, flags = 0;
    int k, rc = 0;
    if (o->json)
        json_arr(&o->j, "users");
    if (mf_reader_rewind(r, err) < 0)
        return -1;
    while (rc == 0 && (k = mf_reader_next(r, &rec, err)) > 0) {
        switch (rec.type) {
        case MF_REC_USER:
            user_begin(o, rec.u.user.name.p, rec.u.user.name.n);
            break;
        case MF_REC_EXTRA:
            simple_event(o, rec.u.extra.role == MF_EXTRA_SUBSCRIPTIONS ? "subscriptions changed"
                                                                       : "file changed",
                         rec.u.extra.role == MF_EXTRA_SIEVE_ACTIVE ? rec.u.extra.target.p
                                                                   : rec.u.extra.path.p,
                         rec.u.extra.role == MF_EXTRA_SIEVE_ACTIVE ? rec.u.extra.target.n
                                                                   : rec.u.extra.path.n);
            break;
        case MF_REC_MAILBOX:
            mf_free(name);
            mf_free(stored);
            for (uint32_t i = 0; i < nkw; i++)
                mf_free(kw[i]);
            mf_free(kw);
            nkw = 0;
            name = join_name(&rec.u.mailbox);
            stored = mf_strndup(rec.u.mailbox.stored.p, rec.u.mailbox.stored.n);
            kw = mf_calloc(rec.u.mailbox.nkeywords + 1, sizeof *kw);
            if (name == NULL || kw == NULL || stored == NULL) {
                rc = mf_err_nomem(err);
                break;
            }
            for (uint32_t i = 0; i < rec.u.mailbox.nkeywords; i++)
                if ((kw[nkw++] = mf_strndup(rec.u.mailbox.keywords[i].p,
                                            rec.u.mailbox.keywords[i].n)) == NULL)
                    rc = mf_err_nomem(err);
            added = expunged = flags = 0;
            break;
        case MF_REC_MAILBOX_DELTA: {
            const struct mf_rec_mailbox_delta *d = &rec.u.mailbox_delta;
            char *from = NULL;
            if (d->kind != MF_DELTA_NEW && stored != NULL && !mf_str_eq(d->base_stored, stored)) {
                /* the stored names differ when the mailbox was renamed */
                from = mf_strndup(d->base_stored.p, d->base_stored.n);
            }
            mb_begin(o, name != NULL ? name : "", d->kind == MF_DELTA_NEW ? "new"
                                                  : d->kind == MF_DELTA_RESET ? "reset"
                                                                               : "changed",
                     from, 0);
            mf_free(from);
            break;
        }
        case MF_REC_MESSAGE:
            added++;
            event_uid(o, "added", rec.u.message.uid);
            break;
        case MF_REC_FLAGS: {
            const struct mf_rec_flags *f = &rec.u.flags;
            char **a = mf_calloc(f->nadded + 1, sizeof *a), **rm = mf_calloc(f->nremoved + 1,
                                                                                sizeof *rm);
            if (a == NULL || rm == NULL) {
                mf_free(a);
                mf_free(rm);
                rc = mf_err_nomem(err);
                break;
            }
            for (uint32_t i = 0; i < f->nadded; i++)
                a[i] = f->added[i] < nkw ? kw[f->added[i]] : "?";
            for (uint32_t i = 0; i < f->nremoved; i++)
                rm[i] = f->removed[i] < nkw ? kw[f->removed[i]] : "?";
            flags++;
            event_flags(o, f->uid, f->old_flags, f->new_flags, a, f->nadded, rm, f->nremoved);
            mf_free(a);
            mf_free(rm);
            break;
        }
        case MF_REC_EXPUNGE:
            for (uint32_t i = 0; i < rec.u.expunge.nranges; i++)
                for (uint32_t u = 0; u < rec.u.expunge.ranges[i].count; u++) {
                    expunged++;
                    event_uid(o, "expunged", rec.u.expunge.ranges[i].first + u);
                }
            break;
        case MF_REC_MAILBOX_END:
            counts(o, added, expunged, flags);
            mb_end(o);
            break;
        case MF_REC_MAILBOX_GONE:
            simple_event(o, "mailbox removed", rec.u.mailbox_gone.base_stored.p,
                         rec.u.mailbox_gone.base_stored.n);
            break;
        case MF_REC_USER_END:
            user_end(o);
            break;
        case MF_REC_USER_GONE:
            o->changes++;
            if (o->json) {
                json_obj(&o->j, NULL);
                json_strn(&o->j, "user", rec.u.user_gone.name.p, rec.u.user_gone.name.n);
                json_bool(&o->j, "removed", 1);
                json_end_obj(&o->j);
            } else {
                printf("user %.*s removed\n", (int)rec.u.user_gone.name.n,
                       rec.u.user_gone.name.p);
            }
            break;
        default:
            break;
        }
    }
    mf_free(name);
    mf_free(stored);
    for (uint32_t i = 0; i < nkw; i++)
        mf_free(kw[i]);
    mf_free(kw);
    if (o->json)
        json_end_arr(&o->j);
    return rc < 0 || k < 0 ? -1 : 0;
}

/* ---- two full archives: their states compared ---- */

static int kw_has(const struct mf_base_mailbox *mb, const struct mf_base_msg *m, const char *name)
{
    for (uint32_t i = 0; i < m->nkw; i++)
        if (strcmp(mb->kw[m->kw[i]], name) == 0)
            return 1;
    return 0;
}

static void diff_mailbox(struct out *o, const struct mf_base_mailbox *a,
                         const struct mf_base_mailbox *b)
{
    uint64_t added = 0, expunged = 0, flags = 0;
    size_t i = 0, j = 0;
    while (i < a->n || j < b->n) {
        const struct mf_base_msg *x = i < a->n ? &a->msgs[i] : NULL;
        const struct mf_base_msg *y = j < b->n ? &b->msgs[j] : NULL;
        if (y == NULL || (x != NULL && x->uid < y->uid)) {
            expunged++;
            event_uid(o, "expunged", x->uid);
            i++;
        } else if (x == NULL || y->uid < x->uid) {
            added++;
            event_uid(o, "added", y->uid);
            j++;
        } else {
            char *ad[64], *rm[64];
            size_t na = 0, nr = 0;
            for (uint32_t k = 0; k < y->nkw && na < 64; k++)
                if (!kw_has(a, x, b->kw[y->kw[k]]))
                    ad[na++] = b->kw[y->kw[k]];
            for (uint32_t k = 0; k < x->nkw && nr < 64; k++)
                if (!kw_has(b, y, a->kw[x->kw[k]]))
                    rm[nr++] = a->kw[x->kw[k]];
            if (x->flags != y->flags || na > 0 || nr > 0) {
                flags++;
                event_flags(o, y->uid, x->flags, y->flags, ad, na, rm, nr);
            }
            i++;
            j++;
        }
    }
    counts(o, added, expunged, flags);
}

static int diff_states(const struct mf_archive_files *pa, const struct mf_archive_files *pb,
                       const struct mf_reader_opts *ro, struct out *o, struct mf_error *err)
{
    struct mf_base_chain *ca = NULL, *cb = NULL;
    struct mf_base_user *ua = NULL, *ub = NULL;
    int rc = -1;
    if (mf_base_open(&ca, pa, 1, ro, err) < 0 || mf_base_open(&cb, pb, 1, ro, err) < 0 ||
        mf_base_next_user(ca, &ua, err) < 0 || mf_base_next_user(cb, &ub, err) < 0)
        goto out;
    if (o->json)
        json_arr(&o->j, "users");
    while (ua != NULL || ub != NULL) {
        int c = ua == NULL ? 1 : ub == NULL ? -1 : strcmp(ua->name, ub->name);
        if (c < 0 || c > 0) {
            struct mf_base_user *u = c < 0 ? ua : ub;
            o->changes++;
            if (o->json) {
                json_obj(&o->j, NULL);
                json_str(&o->j, "user", u->name);
                json_bool(&o->j, c < 0 ? "removed" : "added", 1);
                json_end_obj(&o->j);
            } else {
                printf("user %s %s (%zu mailboxes)\n", u->name, c < 0 ? "removed" : "added",
                       u->nmb);
            }
        } else {
            user_begin(o, ub->name, strlen(ub->name));
            for (size_t m = 0; m < ub->nmb; m++) {
                struct mf_base_mailbox *b = &ub->mb[m];
                struct mf_base_mailbox *a = mf_base_mailbox_by_guid(ua, b->guid);
                if (a == NULL) {
                    mb_begin(o, b->stored, "new", NULL, b->n);
                } else if (a->uidvalidity != b->uidvalidity) {
                    mb_begin(o, b->stored, "reset", NULL, b->n);
                } else {
                    mb_begin(o, b->stored, "changed",
                             strcmp(a->stored, b->stored) != 0 ? a->stored : NULL, b->n);
                    diff_mailbox(o, a, b);
                }
                mb_end(o);
            }
            for (size_t m = 0; m < ua->nmb; m++)
                if (mf_base_mailbox_by_guid(ub, ua->mb[m].guid) == NULL)
                    simple_event(o, "mailbox removed", ua->mb[m].stored,
                                 strlen(ua->mb[m].stored));
            user_end(o);
        }
        if (c <= 0) {
            mf_base_user_free(ua);
            ua = NULL;
            if (mf_base_next_user(ca, &ua, err) < 0)
                goto out;
        }
        if (c >= 0) {
            mf_base_user_free(ub);
            ub = NULL;
            if (mf_base_next_user(cb, &ub, err) < 0)
                goto out;
        }
    }
    if (o->json)
        json_end_arr(&o->j);
    rc = 0;
out:
    mf_base_user_free(ua);
    mf_base_user_free(ub);
    mf_base_close(&ca);
    mf_base_close(&cb);
    return rc;
}

int cmd_diff(int argc, char **argv)
{
    static const struct option opts[] = {{"public", required_argument, 0, 'p'},
                                          {"json", no_argument, 0, 'j'},
                                          {"verbose", no_argument, 0, 'v'},
                                          {"key", required_argument, 0, 'k'},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    char **pubs = mf_calloc((size_t)argc + 1, sizeof *pubs);
    char **secs = mf_calloc((size_t)argc + 1, sizeof *secs);
    struct mf_seckey **dkeys = NULL;
    struct mf_archive_files *av = NULL;
    size_t npubs = 0, nkeys = 0, nsecs = 0, nav = 0;
    struct mf_pubkey *keys = NULL;
    struct mf_reader_opts ro;
    struct mf_reader *ra = NULL, *rb = NULL;
    struct mf_error err;
    struct out o;
    int c, rc;
    if (pubs == NULL || secs == NULL) {
        mf_free(pubs);
        mf_free(secs);
        return 3;
    }
    memset(&o, 0, sizeof o);
    mf_err_clear(&err);
    optind = 1;
    while ((c = getopt_long(argc, argv, "p:k:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'p': pubs[npubs++] = optarg; break;
        case 'k': secs[nsecs++] = optarg; break;
        case 'j': o.json = 1; break;
        case 'v': o.verbose = 1; break;
        case 'h': help(); mf_free(pubs); mf_free(secs); return 0;
        default: mf_free(pubs); mf_free(secs); return cli_usage("diff", "unknown option");
        }
    }
    if (mf_crypto_init(&err) < 0 ||
        mf_archive_files_group(argv + optind, (size_t)(argc - optind), &av, &nav, &err) < 0)
        goto fail;
    if (nav != 2) {
        mf_archive_files_free(av, nav);
        mf_free(pubs);
        mf_free(secs);
        return cli_usage("diff", "mailferry diff OLD NEW");
    }
    if ((npubs > 0 && cli_load_pubkeys(pubs, npubs, &keys, &nkeys, &err) < 0) ||
        cli_load_seckeys(secs, nsecs, &dkeys, &err) < 0)
        goto fail;
    memset(&ro, 0, sizeof ro);
    ro.keys = keys;
    ro.nkeys = nkeys;
    ro.allow_unsigned = npubs == 0;
    ro.index_only = 1;
    ro.dkeys = (const struct mf_seckey *const *)dkeys;
    ro.ndkeys = nsecs;
    if (mf_reader_open_volumes(&ra, (const char *const *)av[0].paths, av[0].n, &ro, &err) < 0) {
        mf_err_ctx(&err, "%s", av[0].label);
        goto fail;
    }
    if (mf_reader_open_volumes(&rb, (const char *const *)av[1].paths, av[1].n, &ro, &err) < 0) {
        mf_err_ctx(&err, "%s", av[1].label);
        goto fail;
    }
    if (o.json) {
        json_init(&o.j, stdout);
        json_obj(&o.j, NULL);
    }
    {
        const struct mf_manifest *ma = mf_reader_manifest(ra), *mb = mf_reader_manifest(rb);
        if (mb->kind == MF_KIND_DELTA &&
            memcmp(mb->base_id, ma->archive_id, MF_ARCHIVE_ID_BYTES) == 0 &&
            memcmp(mb->base_manifest, mf_reader_manifest_hash(ra), MF_HASH_BYTES) == 0) {
            rc = diff_delta(rb, &o, &err);
        } else if (ma->kind == MF_KIND_FULL && mb->kind == MF_KIND_FULL) {
            mf_reader_free(&ra);
            mf_reader_free(&rb);
            rc = diff_states(&av[0], &av[1], &ro, &o, &err);
        } else {
            mf_err(&err, MF_ECHAIN, "%s is not a delta of %s, and they are not both full "
                                    "archives", av[1].label, av[0].label);
            rc = -1;
        }
    }
    if (rc < 0)
        goto fail;
    if (o.json) {
        json_u64(&o.j, "changes", o.changes);
        json_end_obj(&o.j);
        json_finish(&o.j);
    } else if (o.changes == 0) {
        printf("no changes\n");
    }
    rc = o.changes > 0 ? 1 : 0;
    goto done;
fail:
    rc = cli_fail("diff", &err);
done:
    mf_reader_free(&ra);
    mf_reader_free(&rb);
    mf_free(keys);
    mf_free(pubs);
    mf_free(secs);
    cli_free_seckeys(dkeys, nsecs);
    mf_archive_files_free(av, nav);
    return rc;
}
