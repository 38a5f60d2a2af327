/* maildir_uidlist.c: a reader of dovecot-uidlist (v1, v3) and courierimapuiddb.
 *
 *   v1:  "1 <uidvalidity> <nextuid>" then "<uid> <file name>" lines
 *   v3:  "3 V<uidvalidity> N<nextuid> G<guid hex> [other keys]" then
 *        "<uid> [<KEY><value> ...] :<file name>" lines
 * Rules as in Dovecot's maildir-uidlist.c: UIDs strictly ascending and
 * non-zero, v1 UIDs below nextuid, record keys uppercase; the first broken
 * line ends the reading (earlier records stay); next uid = max(N, last + 1). */
#include "maildir_uidlist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../format/hash.h"
#include "../format/mem.h"

static void warnf(mf_warn_fn warn, void *ctx, const char *file, size_t line, const char *msg)
{
    if (warn != NULL)
        warn(ctx, file, line, msg);
}

static int parse_u32(const char *s, size_t n, uint32_t *v)
{
    uint64_t r = 0;
    if (n == 0 || n > 10)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        r = r * 10 + (uint64_t)(s[i] - '0');
    }
    if (r > UINT32_MAX)
        return -1;
    *v = (uint32_t)r;
    return 0;
}

static int parse_i64(const char *s, size_t n, int64_t *v)
{
    int64_t r = 0;
    if (n == 0 || n > 18)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        r = r * 10 + (s[i] - '0');
    }
    *v = r;
    return 0;
}

static int header(struct mf_uidlist *u, const char *l, size_t n, const char *file, mf_warn_fn warn,
                  void *ctx)
{
    if (n < 2 || l[0] < '0' || l[0] > '9' || l[1] != ' ') {
        warnf(warn, ctx, file, 1, "corrupted header (invalid version number); ignoring the file");
        return -1;
    }
    if (l[0] == '1') {
        const char *sp = memchr(l + 2, ' ', n - 2);
        if (sp == NULL || parse_u32(l + 2, (size_t)(sp - l - 2), &u->uidvalidity) < 0 ||
            parse_u32(sp + 1, n - (size_t)(sp + 1 - l), &u->next_uid) < 0) {
            warnf(warn, ctx, file, 1, "corrupted version 1 header; ignoring the file");
            return -1;
        }
        u->version = 1;
    } else if (l[0] == '3') {
        size_t i = 2;
        while (i < n) {
            size_t j = i;
            while (j < n && l[j] != ' ')
                j++;
            if (j > i) {
                const char *v = l + i + 1;
                size_t vl = j - i - 1;
                switch (l[i]) {
                case 'V':
                    if (parse_u32(v, vl, &u->uidvalidity) < 0) {
                        warnf(warn, ctx, file, 1, "invalid UIDVALIDITY in header; ignoring the file");
                        return -1;
                    }
                    break;
                case 'N':
                    if (parse_u32(v, vl, &u->next_uid) < 0) {
                        warnf(warn, ctx, file, 1, "invalid next UID in header; ignoring the file");
                        return -1;
                    }
                    break;
                case 'G':
                    if (mf_unhex(u->guid, MF_GUID_BYTES, v, vl) < 0) {
                        warnf(warn, ctx, file, 1, "invalid mailbox GUID in header; ignoring the file");
                        return -1;
                    }
                    u->have_guid = 1;
                    break;
                default:
                    break;  /* other header keys are kept by Dovecot and mean nothing here */
                }
            }
            i = j + 1;
        }
        u->version = 3;
    } else {
        char msg[80];
        snprintf(msg, sizeof msg, "unsupported uidlist version %c; ignoring the file", l[0]);
        warnf(warn, ctx, file, 1, msg);
        return -1;
    }
    if (u->uidvalidity == 0 || u->next_uid == 0) {
        warnf(warn, ctx, file, 1, "broken header (UIDVALIDITY or next UID is 0); ignoring the file");
        return -1;
    }
    return 0;
}

static char *dupn(const char *s, size_t n)
{
    return mf_strndup(s, n);
}

static void rec_free(struct mf_uidlist_rec *r)
{
    mf_free(r->base);
    mf_free(r->guid);
    mf_free(r->pop3_uidl);
}

int mf_uidlist_parse(const char *data, size_t len, const char *file, mf_warn_fn warn, void *ctx,
                     struct mf_uidlist *u)
{
    size_t off = 0, lineno = 0, cap = 0;
    uint32_t prev = 0;
    memset(u, 0, sizeof *u);
    while (off < len) {
        const char *l = data + off, *nl = memchr(l, '\n', len - off);
        size_t n;
        char msg[160];
        if (nl == NULL)
            break;  /* an unfinished last line: being appended right now */
        n = (size_t)(nl - l);
        off += n + 1;
        lineno++;
        if (lineno == 1) {
            if (header(u, l, n, file, warn, ctx) < 0) {
                mf_uidlist_free(u);
                return 0;
            }
            continue;
        }
        /* record */
        {
            size_t i = 0;
            uint32_t uid = 0;
            struct mf_uidlist_rec r;
            while (i < n && l[i] >= '0' && l[i] <= '9')
                i++;
            if (i == 0 || i >= n || l[i] != ' ' || parse_u32(l, i, &uid) < 0 || uid == 0) {
                snprintf(msg, sizeof msg, "invalid record; ignoring this and later lines");
                warnf(warn, ctx, file, lineno, msg);
                break;
            }
            if (uid <= prev) {
                snprintf(msg, sizeof msg, "UIDs not ascending (%u after %u); ignoring this and later lines",
                         uid, prev);
                warnf(warn, ctx, file, lineno, msg);
                break;
            }
            if (uid == UINT32_MAX) {
                warnf(warn, ctx, file, lineno, "UID too high; ignoring this and later lines");
                break;
            }
            prev = uid;
            if (u->version == 1 && uid >= u->next_uid) {
                snprintf(msg, sizeof msg,
                         "UID %u not below the header's next UID %u; ignoring this and later lines",
                         uid, u->next_uid);
                warnf(warn, ctx, file, lineno, msg);
                break;
            }
            memset(&r, 0, sizeof r);
            r.uid = uid;
            r.size_s = r.size_w = -1;
            while (i < n && l[i] == ' ')
                i++;
            if (u->version == 3) {
                int ok = 0;
                while (i < n) {
                    size_t j = i;
                    if (l[i] == ':') {
                        i++;
                        ok = 1;
                        break;
                    }
                    while (j < n && l[j] != ' ')
                        j++;
                    if (l[i] >= 'A' && l[i] <= 'Z') {
                        const char *v = l + i + 1;
                        size_t vl = j - i - 1;
                        switch (l[i]) {
                        case 'G':
                            mf_free(r.guid);
                            r.guid = dupn(v, vl);
                            break;
                        case 'P':
                            mf_free(r.pop3_uidl);
                            r.pop3_uidl = dupn(v, vl);
                            break;
                        case 'O':
                            if (parse_u32(v, vl, &r.pop3_order) < 0)
                                r.pop3_order = 0;
                            break;
                        case 'S':
                            if (parse_i64(v, vl, &r.size_s) < 0)
                                r.size_s = -1;
                            break;
                        case 'W':
                            if (parse_i64(v, vl, &r.size_w) < 0)
                                r.size_w = -1;
                            break;
                        default:
                            break;
                        }
                    } else {
                        snprintf(msg, sizeof msg, "invalid extension field '%.*s' removed",
                                 (int)(j - i > 40 ? 40 : j - i), l + i);
                        warnf(warn, ctx, file, lineno, msg);
                    }
                    i = j;
                    while (i < n && l[i] == ' ')
                        i++;
                }
                if (!ok || i >= n) {
                    rec_free(&r);
                    warnf(warn, ctx, file, lineno,
                          "invalid extended fields (no ':' before the file name); ignoring this and "
                          "later lines");
                    break;
                }
            }
            {
                const char *name = l + i, *colon;
                size_t nl2 = n - i;
                if (nl2 == 0 || memchr(name, '/', nl2) != NULL || memchr(name, '\0', nl2) != NULL) {
                    rec_free(&r);
                    warnf(warn, ctx, file, lineno, "invalid file name; ignoring this and later lines");
                    break;
                }
                colon = memchr(name, ':', nl2);
                r.base = dupn(name, colon != NULL ? (size_t)(colon - name) : nl2);
            }
            if (r.base == NULL) {
                rec_free(&r);
                mf_uidlist_free(u);
                return -1;
            }
            if (u->n == cap) {
                size_t nc = cap == 0 ? 64 : cap * 2;
                struct mf_uidlist_rec *nr = mf_realloc(u->recs, nc * sizeof *nr);
                if (nr == NULL) {
                    rec_free(&r);
                    mf_uidlist_free(u);
                    return -1;
                }
                u->recs = nr;
                cap = nc;
            }
            u->recs[u->n++] = r;
        }
    }
    if (u->version != 0 && prev + 1 > u->next_uid && prev != 0)
        u->next_uid = prev + 1;
    return 0;
}

void mf_uidlist_free(struct mf_uidlist *u)
{
    for (size_t i = 0; i < u->n; i++)
        rec_free(&u->recs[i]);
    mf_free(u->recs);
    mf_free(u->by_base);
    memset(u, 0, sizeof *u);
}

static int cmp_base(const void *a, const void *b, void *ctx)
{
    const struct mf_uidlist *u = ctx;
    const struct mf_uidlist_rec *x = &u->recs[*(const size_t *)a];
    const struct mf_uidlist_rec *y = &u->recs[*(const size_t *)b];
    int c = strcmp(x->base, y->base);
    if (c != 0)
        return c;
    return x->uid < y->uid ? -1 : 1;
}

const struct mf_uidlist_rec *mf_uidlist_find(struct mf_uidlist *u, const char *base, size_t n)
{
    size_t lo = 0, hi = u->n;
    const struct mf_uidlist_rec *found = NULL;
    if (u->n == 0)
        return NULL;
    if (u->by_base == NULL) {
        u->by_base = mf_calloc(u->n, sizeof *u->by_base);
        if (u->by_base == NULL)
            return NULL;
        for (size_t i = 0; i < u->n; i++)
            u->by_base[i] = i;
        qsort_r(u->by_base, u->n, sizeof *u->by_base, cmp_base, u);
    }
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const struct mf_uidlist_rec *r = &u->recs[u->by_base[mid]];
        size_t rl = strlen(r->base);
        int c = memcmp(r->base, base, rl < n ? rl : n);
        if (c == 0)
            c = rl < n ? -1 : rl > n;
        if (c < 0) {
            lo = mid + 1;
        } else if (c > 0) {
            hi = mid;
        } else {
            /* the same base may appear twice: Dovecot keeps the later (higher) UID */
            found = r;
            lo = mid + 1;
        }
    }
    return found;
}
