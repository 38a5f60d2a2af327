/* delta_plan.c: classifying a mailbox and its messages against the base
 * state. A message is taken from the base, unread, when the base has its
 * UID with the same Maildir base file name (and the same S= size when the
 * name carries one): Maildir never changes a delivered file's content, so
 * the name identifies it. */
#include "delta_plan.h"

#include <stdlib.h>
#include <string.h>

#include "../format/blobset.h"
#include "../format/hash.h"
#include "../format/mem.h"
#include "maildir_name.h"

static size_t base_len(const char *name)
{
    return strcspn(name, ":");
}

static long kw_find(const char **kw, uint32_t n, const char *name)
{
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(kw[i], name) == 0)
            return (long)i;
    return -1;
}

static int kw_add(struct mf_mbox_delta *d, const char *name, uint32_t *cap, uint32_t *idx)
{
    long k = kw_find(d->kw, d->nkw, name);
    if (k >= 0) {
        *idx = (uint32_t)k;
        return 0;
    }
    if (d->nkw == *cap) {
        uint32_t nc = *cap ? *cap * 2 : 32;
        const char **nv = mf_realloc(d->kw, nc * sizeof *nv);
        if (nv == NULL)
            return -1;
        d->kw = nv;
        *cap = nc;
    }
    d->kw[d->nkw] = name;
    *idx = d->nkw++;
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The flag change of one kept message, or none (returns 0 without adding). */
static int flag_change(struct mf_mbox_delta *d, const struct mf_plan_msg *m,
                       const struct mf_base_msg *bm, uint32_t *kwcap, size_t *fcap)
{
    uint32_t *bk = NULL, nb = 0, *added = NULL, na = 0, *removed = NULL, nr = 0;
    struct mf_rec_flags *f;
    int same_other = strcmp(m->other, bm->other) == 0;
    /* the base message's keywords as indexes of d->kw */
    if (bm->nkw > 0) {
        bk = mf_calloc(bm->nkw, sizeof *bk);
        if (bk == NULL)
            return -1;
        for (uint32_t i = 0; i < bm->nkw; i++)
            if (kw_add(d, d->base->kw[bm->kw[i]], kwcap, &bk[nb++]) < 0)
                goto nomem;
        qsort(bk, nb, sizeof *bk, cmp_u32);
    }
    added = mf_calloc(m->nkw + 1, sizeof *added);
    removed = mf_calloc(nb + 1, sizeof *removed);
    if (added == NULL || removed == NULL)
        goto nomem;
    for (uint32_t i = 0; i < m->nkw; i++)
        if (nb == 0 || bsearch(&m->kw[i], bk, nb, sizeof *bk, cmp_u32) == NULL)
            added[na++] = m->kw[i];
    for (uint32_t i = 0; i < nb; i++)
        if (m->nkw == 0 || bsearch(&bk[i], m->kw, m->nkw, sizeof *m->kw, cmp_u32) == NULL)
            removed[nr++] = bk[i];
    mf_free(bk);
    if (m->flags == bm->flags && na == 0 && nr == 0 && same_other) {
        mf_free(added);
        mf_free(removed);
        return 0;
    }
    if (d->nflags == *fcap) {
        size_t nc = *fcap ? *fcap * 2 : 64;
        struct mf_rec_flags *nv = mf_realloc(d->flags, nc * sizeof *nv);
        if (nv == NULL) {
            mf_free(added);
            mf_free(removed);
            return -1;
        }
        d->flags = nv;
        *fcap = nc;
    }
    f = &d->flags[d->nflags++];
    memset(f, 0, sizeof *f);
    f->uid = m->uid;
    f->old_flags = bm->flags;
    f->new_flags = m->flags;
    f->other_flags.p = m->other;
    f->other_flags.n = strlen(m->other);
    f->added = added;
    f->nadded = na;
    f->removed = removed;
    f->nremoved = nr;
    return 0;
nomem:
    mf_free(bk);
    mf_free(added);
    mf_free(removed);
    return -1;
}

static int add_range(struct mf_mbox_delta *d, uint32_t uid, uint32_t *cap)
{
    if (d->nexpunged > 0) {
        struct mf_uid_range *last = &d->expunged[d->nexpunged - 1];
        if ((uint64_t)last->first + last->count == uid) {
            last->count++;
            return 0;
        }
    }
    if (d->nexpunged == *cap) {
        uint32_t nc = *cap ? *cap * 2 : 16;
        struct mf_uid_range *nv = mf_realloc(d->expunged, nc * sizeof *nv);
        if (nv == NULL)
            return -1;
        d->expunged = nv;
        *cap = nc;
    }
    d->expunged[d->nexpunged].first = uid;
    d->expunged[d->nexpunged].count = 1;
    d->nexpunged++;
    return 0;
}

int mf_delta_plan(struct mf_plan_mailbox *mb, struct mf_base_user *bu, struct mf_mbox_delta *d,
                  struct mf_error *err)
{
    uint32_t kwcap, rcap = 0;
    size_t fcap = 0, j = 0;
    memset(d, 0, sizeof *d);
    d->base = bu != NULL ? mf_base_mailbox_by_guid(bu, mb->guid) : NULL;
    if (d->base == NULL)
        d->kind = MF_DELTA_NEW;
    else if (d->base->uidvalidity != mb->uidvalidity)
        d->kind = MF_DELTA_RESET;
    else
        d->kind = MF_DELTA_CHANGES;
    if (d->base != NULL)
        d->base->seen = 1;
    kwcap = mb->nkw + 32;
    d->kw = mf_calloc(kwcap, sizeof *d->kw);
    d->from_base = mf_calloc(mb->nmsgs ? mb->nmsgs : 1, 1);
    if (d->kw == NULL || d->from_base == NULL)
        goto nomem;
    for (uint32_t i = 0; i < mb->nkw; i++)
        d->kw[i] = mb->kw[i];
    d->nkw = mb->nkw;
    if (d->kind != MF_DELTA_CHANGES)
        return 0;
    /* plan messages and base messages, both in ascending UID order */
    for (size_t i = 0; i < mb->nmsgs || j < d->base->n;) {
        struct mf_plan_msg *m = i < mb->nmsgs ? &mb->msgs[i] : NULL;
        struct mf_base_msg *bm = j < d->base->n ? &d->base->msgs[j] : NULL;
        if (bm != NULL && (m == NULL || bm->uid < m->uid)) {
            if (add_range(d, bm->uid, &rcap) < 0)   /* gone since the base */
                goto nomem;
            j++;
            continue;
        }
        if (bm == NULL || m->uid < bm->uid) {
            i++;                                     /* new since the base */
            continue;
        }
        /* the same UID: the same file? */
        {
            size_t bl = base_len(m->name);
            struct mf_maildir_name pn;
            mf_maildir_name_parse(m->name, strlen(m->name), &pn);
            if (bl == base_len(bm->source_name) && memcmp(m->name, bm->source_name, bl) == 0) {
                if (pn.size_s >= 0 && (uint64_t)pn.size_s != bm->size)
                    d->changed_size++;
                d->from_base[i] = 1;
                if (flag_change(d, m, bm, &kwcap, &fcap) < 0)
                    goto nomem;
            } else {
                /* A different file under a base UID: the uidlist was
                 * rewritten. The base's message stays (IMAP never changes a
                 * UID's content); this file is left out and counted. */
                d->changed_size++;
                d->from_base[i] = 2;
            }
        }
        i++;
        j++;
    }
    return 0;
nomem:
    mf_delta_plan_free(d);
    return mf_err_nomem(err);
}

void mf_delta_plan_free(struct mf_mbox_delta *d)
{
    for (size_t i = 0; i < d->nflags; i++) {
        mf_free((void *)d->flags[i].added);
        mf_free((void *)d->flags[i].removed);
    }
    mf_free(d->flags);
    mf_free(d->expunged);
    mf_free(d->kw);
    mf_free(d->from_base);
    memset(d, 0, sizeof *d);
}

static int cmp_mstr(const void *a, const void *b)
{
    const struct mf_str *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int c = n == 0 ? 0 : memcmp(x->p, y->p, n);
    return c != 0 ? c : (x->n < y->n ? -1 : x->n > y->n);
}

static void state_msg(struct mf_hasher *h, uint32_t uid, uint8_t flags, const char *const *names,
                      const uint32_t *kw, uint32_t nkw, struct mf_str guid)
{
    struct mf_str small[32], *v = small;
    if (nkw > 32 && (v = mf_calloc(nkw, sizeof *v)) == NULL) {
        v = small;
        nkw = 0;   /* out of memory: the hash will not match, which is reported */
    }
    for (uint32_t k = 0; k < nkw; k++) {
        v[k].p = names[kw[k]];
        v[k].n = strlen(names[kw[k]]);
    }
    qsort(v, nkw, sizeof *v, cmp_mstr);
    mf_state_add(h, uid, flags, v, nkw, guid);
    if (v != small)
        mf_free(v);
}

void mf_delta_state(const struct mf_plan_mailbox *mb, const struct mf_mbox_delta *d,
                    const uint8_t *present, uint8_t out[MF_HASH_BYTES])
{
    struct mf_hasher h;
    mf_hash_init(&h, MF_HK_STATE);
    for (size_t i = 0; i < mb->nmsgs; i++) {
        const struct mf_plan_msg *m = &mb->msgs[i];
        if (!present[i])
            continue;
        if (d->from_base[i] == 2) {
            /* the base's message under this UID stays as the base has it */
            const struct mf_base_msg *bm = mf_base_msg_by_uid(d->base, m->uid);
            struct mf_str g = {bm->guid, strlen(bm->guid)};
            state_msg(&h, m->uid, bm->flags, (const char *const *)d->base->kw, bm->kw, bm->nkw, g);
            continue;
        }
        state_msg(&h, m->uid, m->flags, d->kw, m->kw, m->nkw, mf_plan_msg_guid(m));
    }
    mf_hash_final(&h, out);
}

void mf_base_state_hash(const struct mf_base_mailbox *bm, uint8_t out[MF_HASH_BYTES])
{
    struct mf_hasher h;
    mf_hash_init(&h, MF_HK_STATE);
    for (size_t i = 0; i < bm->n; i++) {
        const struct mf_base_msg *m = &bm->msgs[i];
        struct mf_str g = {m->guid, strlen(m->guid)};
        state_msg(&h, m->uid, m->flags, (const char *const *)bm->kw, m->kw, m->nkw, g);
    }
    mf_hash_final(&h, out);
}

/* ---- the chain map ---- */

struct chain_src {
    const uint8_t *guid;
    uint32_t uid;
};

struct mf_chain_map {
    struct mf_blobset *set;   /* id -> {frame: index into src, offset, len} */
    struct chain_src *src;
    size_t nsrc;
};

int mf_chain_map_build(struct mf_chain_map **m_r, struct mf_base_user *u, struct mf_error *err)
{
    struct mf_chain_map *m = mf_calloc(1, sizeof *m);
    size_t total = 0;
    *m_r = NULL;
    if (m == NULL || (m->set = mf_blobset_new()) == NULL)
        goto nomem;
    for (size_t b = 0; b < u->nmb; b++)
        total += u->mb[b].n;
    m->src = mf_calloc(total ? total : 1, sizeof *m->src);
    if (m->src == NULL)
        goto nomem;
    for (size_t b = 0; b < u->nmb; b++)
        for (size_t i = 0; i < u->mb[b].n; i++) {
            const struct mf_base_msg *bm = &u->mb[b].msgs[i];
            uint64_t off = 0;
            m->src[m->nsrc].guid = u->mb[b].guid;
            m->src[m->nsrc].uid = bm->uid;
            for (uint32_t k = 0; k < bm->nblobs; k++) {
                struct mf_blobloc loc, have;
                static const uint8_t zero[MF_HASH_BYTES];
                if (off <= UINT32_MAX && memcmp(bm->blobs[k].id, zero, MF_HASH_BYTES) != 0 &&
                    !mf_blobset_get(m->set, bm->blobs[k].id, &have)) {
                    loc.frame = (uint32_t)m->nsrc;
                    loc.offset = (uint32_t)off;
                    loc.len = bm->blobs[k].len;
                    if (mf_blobset_put(m->set, bm->blobs[k].id, &loc) < 0)
                        goto nomem;
                }
                off += bm->blobs[k].len;
            }
            m->nsrc++;
        }
    *m_r = m;
    return 0;
nomem:
    mf_chain_map_free(&m);
    return mf_err_nomem(err);
}

int mf_chain_map_get(const struct mf_chain_map *m, const uint8_t id[MF_HASH_BYTES], size_t len,
                     uint8_t guid[MF_GUID_BYTES], uint32_t *uid, uint64_t *offset)
{
    struct mf_blobloc loc;
    if (m == NULL || !mf_blobset_get(m->set, id, &loc) || loc.len != len)
        return 0;
    memcpy(guid, m->src[loc.frame].guid, MF_GUID_BYTES);
    *uid = m->src[loc.frame].uid;
    *offset = loc.offset;
    return 1;
}

void mf_chain_map_free(struct mf_chain_map **mp)
{
    struct mf_chain_map *m = *mp;
    if (m == NULL)
        return;
    *mp = NULL;
    mf_blobset_free(&m->set);
    mf_free(m->src);
    mf_free(m);
}
