/* mailbox_plan.c: from a mailbox's directory listing and metadata files to
 * the list of messages with the UIDs Dovecot gives them: records of
 * dovecot-uidlist (or courierimapuiddb) by base name, the files without a
 * record after the highest known UID in Dovecot's order, flags from the
 * ":2," info, keywords from dovecot-keywords letters or Courier's files. */
#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../format/buf.h"
#include "../format/hash.h"
#include "../format/index_codec.h"
#include "../format/mem.h"
#include "maildir_keywords.h"
#include "maildir_name.h"
#include "pop3_uidl.h"

void mf_derive_guid(const char *user, const char *stored, uint32_t uidvalidity, uint8_t out[16])
{
    struct mf_hasher h;
    struct mf_buf b;
    uint8_t full[MF_HASH_BYTES];
    mf_buf_init(&b);
    mf_buf_cstr(&b, user);
    mf_buf_cstr(&b, stored);
    mf_buf_uv(&b, uidvalidity);
    mf_hash_init(&h, MF_HK_GUID);
    mf_hash_update(&h, b.p, b.len);
    mf_hash_final(&h, full);
    memcpy(out, full, 16);
    mf_buf_free(&b);
}

uint32_t mf_derive_uidvalidity(const char *user, const char *stored)
{
    uint8_t g[16];
    uint32_t v;
    mf_derive_guid(user, stored, 0, g);
    v = mf_load_u32le(g) & 0x7fffffffu;
    return v == 0 ? 1 : v;
}

void mf_plan_mailbox_free(struct mf_plan_mailbox *mb)
{
    mf_free(mb->dir);
    mf_free(mb->stored);
    for (uint32_t i = 0; i < mb->ncomp; i++)
        mf_free(mb->comp[i]);
    mf_free(mb->comp);
    for (uint32_t i = 0; i < mb->nkw; i++)
        mf_free(mb->kw[i]);
    mf_free(mb->kw);
    for (size_t i = 0; i < mb->nmsgs; i++) {
        mf_free(mb->msgs[i].name);
        mf_free(mb->msgs[i].kw);
        mf_free(mb->msgs[i].guid);
        mf_free(mb->msgs[i].uidl);
    }
    mf_free(mb->msgs);
    memset(mb, 0, sizeof *mb);
}

static int cmp_new(const void *a, const void *b)
{
    const struct mf_plan_msg *x = a, *y = b;
    return mf_maildir_name_cmp(x->name, y->name);
}

static int cmp_uid(const void *a, const void *b)
{
    const struct mf_plan_msg *x = a, *y = b;
    return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static size_t base_len(const char *name)
{
    const char *c = strchr(name, ':');
    return c != NULL ? (size_t)(c - name) : strlen(name);
}

/* by base name, then cur/ before new/ */
static int cmp_base_dir(const void *a, const void *b)
{
    const struct mf_plan_msg *x = a, *y = b;
    size_t lx = base_len(x->name), ly = base_len(y->name);
    int c = memcmp(x->name, y->name, lx < ly ? lx : ly);
    if (c == 0 && lx != ly)
        c = lx < ly ? -1 : 1;
    if (c == 0)
        c = x->dir == y->dir ? 0 : (x->dir == MF_SRC_CUR ? -1 : 1);
    return c;
}

static int cmp_pop3(const void *a, const void *b)
{
    const struct mf_courier_pop3 *x = *(const struct mf_courier_pop3 *const *)a;
    const struct mf_courier_pop3 *y = *(const struct mf_courier_pop3 *const *)b;
    return strcmp(x->base, y->base);
}

static const struct mf_courier_pop3 *find_pop3(const struct mf_courier_pop3 **sorted, size_t n,
                                               const char *base, size_t blen)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2, ml = strlen(sorted[mid]->base);
        int c = memcmp(sorted[mid]->base, base, ml < blen ? ml : blen);
        if (c == 0 && ml != blen)
            c = ml < blen ? -1 : 1;
        if (c == 0)
            return sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int skip_name(const char *n)
{
    return n[0] == '.' || strchr(n, '\n') != NULL || strchr(n, '\r') != NULL;
}

struct mf_str mf_plan_msg_guid(const struct mf_plan_msg *m)
{
    struct mf_str g;
    g.p = m->guid != NULL ? m->guid : m->name;
    g.n = m->guid != NULL ? strlen(m->guid) : strcspn(m->name, ":");
    if (g.n > MF_GUID_STR_MAX)
        g.n = MF_GUID_STR_MAX;
    return g;
}

/* The keyword index of file name letter b, creating "unknown-N" (with '?'
 * appended while that name exists) for a letter without a definition. */
static long letter_keyword(struct mf_plan_mailbox *mb, int b, struct mf_error *err)
{
    char name[64];
    int taken;
    if (mb->letter_map[b] >= 0)
        return mb->letter_map[b];
    snprintf(name, sizeof name, "unknown-%d", b);
    do {
        taken = 0;
        for (uint32_t i = 0; i < mb->nkw; i++)
            taken |= strcasecmp(mb->kw[i], name) == 0;
        if (taken)
            strcat(name, "?");
    } while (taken && strlen(name) < sizeof name - 1);
    if (mb->nkw >= mb->kw_cap)
        return mf_err(err, MF_EINTERNAL, "keyword table full");
    if ((mb->kw[mb->nkw] = mf_strdup(name)) == NULL)
        return mf_err_nomem(err);
    mb->letter_map[b] = (int)mb->nkw;
    return mb->nkw++;
}

int mf_plan_msg_from_name(struct mf_plan_mailbox *mb, struct mf_plan_msg *m, struct mf_error *err)
{
    struct mf_maildir_name pn;
    uint32_t *kw, n = 0;
    mf_maildir_name_parse(m->name, strlen(m->name), &pn);
    m->flags = pn.flags;
    memcpy(m->other, pn.other, sizeof m->other);
    kw = mf_calloc(MF_MAILDIR_LETTERS + m->nkw + 1, sizeof *kw);
    if (kw == NULL)
        return mf_err_nomem(err);
    for (int b = 0; b < MF_MAILDIR_LETTERS; b++)
        if (pn.kw_letters & (1u << b)) {
            long k = letter_keyword(mb, b, err);
            if (k < 0) {
                mf_free(kw);
                return -1;
            }
            kw[n++] = (uint32_t)k;
        }
    for (uint32_t i = 0; i < m->nkw; i++)
        if (m->kw[i] >= mb->courier_kw_first &&
            m->kw[i] < mb->courier_kw_first + mb->courier_kw_n)
            kw[n++] = m->kw[i];
    qsort(kw, n, sizeof *kw, cmp_u32);
    {
        uint32_t k = 0;
        for (uint32_t i = 0; i < n; i++)
            if (k == 0 || kw[k - 1] != kw[i])
                kw[k++] = kw[i];
        n = k;
    }
    mf_free(m->kw);
    m->kw = n > 0 ? kw : NULL;
    m->nkw = n;
    if (n == 0)
        mf_free(kw);
    return 0;
}

int mf_plan_mailbox(struct mf_plan_mailbox *mb, const struct mf_mailbox_src *src,
                    mf_warn_fn warn, void *ctx, struct mf_error *err)
{
    struct mf_uidlist ul;
    struct mf_maildir_keywords dk;
    struct mf_plan_msg *v = NULL;
    size_t n = 0, total = src->nnew + src->ncur, nun = 0;
    char file[512];
    const struct mf_courier_pop3 **pop3_sorted = NULL;
    int r = -1;
    memset(&ul, 0, sizeof ul);
    memset(&dk, 0, sizeof dk);
    for (int i = 0; i < MF_MAILDIR_LETTERS; i++)
        mb->letter_map[i] = -1;
    /* UIDs: Dovecot's own list wins; a Courier store has only courierimapuiddb */
    if (src->uidlist != NULL) {
        snprintf(file, sizeof file, "%s/dovecot-uidlist", src->where);
        if (mf_uidlist_parse(src->uidlist, src->uidlist_len, file, warn, ctx, &ul) < 0)
            goto nomem;
    } else if (src->courier_uiddb != NULL) {
        snprintf(file, sizeof file, "%s/courierimapuiddb", src->where);
        if (mf_uidlist_parse(src->courier_uiddb, src->courier_uiddb_len, file, warn, ctx, &ul) < 0)
            goto nomem;
    }
    if (ul.version != 0) {
        mb->uidvalidity = ul.uidvalidity;
        mb->uidv_src = MF_UIDV_UIDLIST;
        mb->uidnext = ul.next_uid;
    } else if (src->index_uidvalidity != 0) {
        /* uidlist lost, index kept: Dovecot keeps the index's UIDVALIDITY */
        mb->uidvalidity = src->index_uidvalidity;
        mb->uidv_src = MF_UIDV_INDEX;
        mb->uidnext = 1;
    } else {
        mb->uidvalidity = mf_derive_uidvalidity(src->user, mb->stored);
        mb->uidv_src = MF_UIDV_DERIVED;
        mb->uidnext = 1;
    }
    /* UIDs the index has used are never given again: new files are numbered
     * from the index's next UID when it is higher (a damaged or lost uidlist) */
    if (src->index_uidvalidity == mb->uidvalidity && src->index_next_uid > mb->uidnext)
        mb->uidnext = src->index_next_uid;
    if (ul.have_guid) {
        memcpy(mb->guid, ul.guid, 16);
    } else {
        mf_derive_guid(src->user, mb->stored, mb->uidvalidity, mb->guid);
        mb->guid_derived = 1;
    }
    /* keyword names: dovecot-keywords letters first, then Courier's names */
    if (src->keywords != NULL) {
        snprintf(file, sizeof file, "%s/dovecot-keywords", src->where);
        if (mf_keywords_parse(src->keywords, src->keywords_len, file, warn, ctx, &dk) < 0)
            goto nomem;
    }
    /* room for every letter (defined or "unknown-N") and Courier's names */
    mb->kw_cap = MF_MAILDIR_LETTERS + (src->ckw != NULL ? src->ckw->nnames : 0);
    mb->kw = mf_calloc(mb->kw_cap, sizeof *mb->kw);
    if (mb->kw == NULL)
        goto nomem;
    for (int i = 0; i < MF_MAILDIR_LETTERS; i++)
        if (dk.name[i] != NULL) {
            mb->letter_map[i] = (int)mb->nkw;
            mb->kw[mb->nkw] = dk.name[i];
            dk.name[i] = NULL;
            mb->nkw++;
        }
    mb->courier_kw_first = mb->nkw;
    if (src->ckw != NULL)
        for (uint32_t i = 0; i < src->ckw->nnames; i++) {
            mb->kw[mb->nkw] = mf_strdup(src->ckw->names[i]);
            if (mb->kw[mb->nkw] == NULL)
                goto nomem;
            mb->nkw++;
            mb->courier_kw_n++;
        }
    /* files */
    v = mf_calloc(total ? total : 1, sizeof *v);
    if (v == NULL)
        goto nomem;
    for (size_t i = 0; i < total; i++) {
        const char *name = i < src->nnew ? src->new_names[i] : src->cur_names[i - src->nnew];
        if (skip_name(name))
            continue;
        v[n].name = mf_strdup(name);
        if (v[n].name == NULL)
            goto nomem;
        v[n].dir = i < src->nnew ? MF_SRC_NEW : MF_SRC_CUR;
        n++;
    }
    /* The same base name twice (a rename between the two listings, or a
     * damaged store): keep one, the one in cur/. */
    if (n > 1) {
        size_t k = 0;
        qsort(v, n, sizeof *v, cmp_base_dir);
        for (size_t i = 0; i < n; i++) {
            if (k > 0 && mf_maildir_base_eq(v[k - 1].name, strlen(v[k - 1].name), v[i].name,
                                            strlen(v[i].name))) {
                if (v[i].dir == v[k - 1].dir && warn != NULL) {
                    char msg[300];
                    snprintf(msg, sizeof msg, "two files with the base name of %.200s; keeping one",
                             v[i].name);
                    warn(ctx, src->where, 0, msg);
                }
                mf_free(v[i].name);
                v[i].name = NULL;
                continue;
            }
            v[k++] = v[i];
        }
        for (size_t i = k; i < n; i++)
            memset(&v[i], 0, sizeof v[i]);
        n = k;
    }
    /* UIDs, flags, keywords, GUIDs, POP3 data */
    if (src->npop3 > 0) {
        pop3_sorted = mf_calloc(src->npop3, sizeof *pop3_sorted);
        if (pop3_sorted == NULL)
            goto nomem;
        for (size_t i = 0; i < src->npop3; i++)
            pop3_sorted[i] = &src->pop3[i];
        qsort(pop3_sorted, src->npop3, sizeof *pop3_sorted, cmp_pop3);
    }
    for (size_t i = 0; i < n; i++) {
        struct mf_plan_msg *m = &v[i];
        struct mf_maildir_name pn;
        const struct mf_uidlist_rec *rec;
        mf_maildir_name_parse(m->name, strlen(m->name), &pn);
        m->size_w = pn.size_w;
        m->saved = -1;
        if (src->ckw != NULL) {
            const struct mf_courier_kwmsg *ck = mf_courier_kw_find(src->ckw, m->name, pn.base_len);
            if (ck != NULL && ck->nkw > 0) {
                m->kw = mf_calloc(ck->nkw, sizeof *m->kw);
                if (m->kw == NULL)
                    goto nomem;
                for (uint32_t k = 0; k < ck->nkw; k++)
                    m->kw[k] = mb->courier_kw_first + ck->kw[k];
                m->nkw = ck->nkw;
            }
        }
        if (mf_plan_msg_from_name(mb, m, err) < 0)
            goto out;
        rec = ul.version != 0 ? mf_uidlist_find(&ul, m->name, pn.base_len) : NULL;
        if (rec != NULL) {
            m->uid = rec->uid;
            if (rec->guid != NULL && rec->guid[0] != '\0' && (m->guid = mf_strdup(rec->guid)) == NULL)
                goto nomem;
            if (rec->pop3_uidl != NULL) {
                m->uidl = rec->pop3_uidl[0] != '\0' ? mf_strdup(rec->pop3_uidl)
                                                    : mf_strndup(m->name, pn.base_len);
                if (m->uidl == NULL)
                    goto nomem;
                m->uidl_src = MF_UIDL_UIDLIST;
            }
            m->pop3_order = rec->pop3_order;
            if (m->size_w < 0)
                m->size_w = rec->size_w;
        } else {
            m->uid = 0;
            nun++;
        }
        if (m->uidl == NULL && pop3_sorted != NULL) {
            const struct mf_courier_pop3 *cp = find_pop3(pop3_sorted, src->npop3, m->name,
                                                         pn.base_len);
            if (cp != NULL) {
                if ((m->uidl = mf_strdup(cp->uidl)) == NULL)
                    goto nomem;
                m->uidl_src = MF_UIDL_COURIER;
                if (m->pop3_order == 0)
                    m->pop3_order = cp->order;
            }
        }
    }
    /* files without a record get UIDs after the highest known, in Dovecot's order */
    if (nun > 0) {
        uint32_t next = mb->uidnext;
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (v[i].uid == 0) {
                struct mf_plan_msg t = v[k];
                v[k] = v[i];
                v[i] = t;
                k++;
            }
        qsort(v, nun, sizeof *v, cmp_new);
        for (size_t i = 0; i < nun; i++) {
            if (next >= UINT32_MAX - 1) {
                mf_err(err, MF_ECORRUPT, "%s: UIDs exhausted", src->where);
                goto out;
            }
            v[i].uid = next++;
        }
        mb->uidnext = next;
    }
    qsort(v, n, sizeof *v, cmp_uid);
    if (n > 0 && v[n - 1].uid >= mb->uidnext)
        mb->uidnext = v[n - 1].uid + 1;
    /* computed POP3 UIDLs */
    if (src->pop3_format != NULL)
        for (size_t i = 0; i < n; i++) {
            struct mf_buf b;
            struct mf_maildir_name pn;
            if (v[i].uidl != NULL)
                continue;
            mf_buf_init(&b);
            mf_maildir_name_parse(v[i].name, strlen(v[i].name), &pn);
            if (v[i].guid == NULL) {
                char *g = mf_strndup(v[i].name, pn.base_len);
                if (g == NULL)
                    goto nomem;
                mf_pop3_uidl(src->pop3_format, v[i].uid, mb->uidvalidity, v[i].name, pn.base_len,
                             g, &b);
                mf_free(g);
            } else {
                mf_pop3_uidl(src->pop3_format, v[i].uid, mb->uidvalidity, v[i].name, pn.base_len,
                             v[i].guid, &b);
            }
            if (b.oom || b.len > MF_UIDL_MAX) {
                mf_buf_free(&b);
                if (b.oom)
                    goto nomem;
                continue;
            }
            v[i].uidl = mf_strndup((const char *)b.p, b.len);
            v[i].uidl_src = MF_UIDL_COMPUTED;
            mf_buf_free(&b);
            if (v[i].uidl == NULL)
                goto nomem;
        }
    mb->msgs = v;
    mb->nmsgs = n;
    v = NULL;
    r = 0;
    goto out;
nomem:
    mf_err_nomem(err);
out:
    if (v != NULL) {
        for (size_t i = 0; i < total; i++) {
            mf_free(v[i].name);
            mf_free(v[i].kw);
            mf_free(v[i].guid);
            mf_free(v[i].uidl);
        }
        mf_free(v);
    }
    mf_free(pop3_sorted);
    mf_uidlist_free(&ul);
    mf_keywords_free(&dk);
    return r;
}
