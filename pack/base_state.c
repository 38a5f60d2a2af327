/* base_state.c: rebuilding the base state (spec 14.2, 14.4) from a chain of
 * indexes, merged user by user. Each archive of the chain is read
 * index-only; its records are walked once, in step with the others. */
#include "base_state.h"

#include <stdlib.h>
#include <string.h>

#include "../format/hash.h"
#include "../format/mem.h"
#include "delta_plan.h"

struct head {
    struct mf_reader *r;
    struct mf_record rec;
    int valid;          /* rec is the next unconsumed record */
    int ended;          /* END reached */
    char **gone;        /* USER_GONE names (deltas), ascending */
    size_t ngone;
    char what[64];      /* "the base", "delta 2 of the base chain" */
};

struct mf_base_chain {
    struct head *h;
    size_t n;
};

static char *dup_str(struct mf_str s)
{
    return mf_strndup(s.p, s.n);
}

static int str_cmp(struct mf_str a, const char *b)
{
    size_t bn = strlen(b), n = a.n < bn ? a.n : bn;
    int c = n == 0 ? 0 : memcmp(a.p, b, n);
    return c != 0 ? c : (a.n < bn ? -1 : a.n > bn);
}

static void msg_free(struct mf_base_msg *m)
{
    mf_free(m->other);
    mf_free(m->kw);
    mf_free(m->guid);
    mf_free(m->uidl);
    mf_free(m->source_name);
    mf_free(m->blobs);
    memset(m, 0, sizeof *m);
}

static void mailbox_free(struct mf_base_mailbox *mb)
{
    for (size_t i = 0; i < mb->n; i++)
        msg_free(&mb->msgs[i]);
    mf_free(mb->msgs);
    for (uint32_t i = 0; i < mb->nkw; i++)
        mf_free(mb->kw[i]);
    mf_free(mb->kw);
    mf_free(mb->stored);
    memset(mb, 0, sizeof *mb);
}

void mf_base_user_free(struct mf_base_user *u)
{
    if (u == NULL)
        return;
    for (size_t i = 0; i < u->nmb; i++)
        mailbox_free(&u->mb[i]);
    mf_free(u->mb);
    for (size_t i = 0; i < u->nextras; i++) {
        mf_free(u->extras[i].path);
        mf_free(u->extras[i].target);
    }
    mf_free(u->extras);
    mf_free(u->name);
    mf_free(u);
}

struct mf_base_mailbox *mf_base_mailbox_by_guid(struct mf_base_user *u,
                                                const uint8_t guid[MF_GUID_BYTES])
{
    for (size_t i = 0; i < u->nmb; i++)
        if (memcmp(u->mb[i].guid, guid, MF_GUID_BYTES) == 0)
            return &u->mb[i];
    return NULL;
}

struct mf_base_msg *mf_base_msg_by_uid(struct mf_base_mailbox *mb, uint32_t uid)
{
    size_t lo = 0, hi = mb->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (mb->msgs[mid].uid == uid)
            return &mb->msgs[mid];
        if (mb->msgs[mid].uid < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int next_rec(struct head *h, struct mf_error *err)
{
    int k;
    if (h->valid || h->ended)
        return 0;
    k = mf_reader_next(h->r, &h->rec, err);
    if (k < 0)
        return mf_err_ctx(err, "%s", h->what);
    if (k == 0 || h->rec.type == MF_REC_END) {
        h->ended = 1;
        return 0;
    }
    h->valid = 1;
    return 0;
}

/* Positions h at its next USER record (or at the end of its users). */
static int to_user(struct head *h, struct mf_error *err)
{
    for (;;) {
        if (next_rec(h, err) < 0)
            return -1;
        if (h->ended || h->rec.type == MF_REC_USER || h->rec.type == MF_REC_USER_GONE)
            return 0;
        h->valid = 0;   /* HEADER, PACK */
    }
}

static int head_user(const struct head *h, struct mf_str *name)
{
    if (h->ended || !h->valid || h->rec.type != MF_REC_USER)
        return 0;
    *name = h->rec.u.user.name;
    return 1;
}

static int is_gone(const struct head *h, const char *name)
{
    size_t lo = 0, hi = h->ngone;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(h->gone[mid], name);
        if (c == 0)
            return 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* ---- applying one user's records ---- */

struct apply {
    struct head *h;
    struct mf_base_user *u;
    int delta;
    struct mf_base_mailbox *cur;     /* the mailbox being read */
    uint8_t *mentioned;              /* per u->mb, for deltas */
    size_t mentioned_cap;
    /* a delta MAILBOX waiting for its MAILBOX_DELTA */
    int pending;
    struct mf_base_mailbox pend;
};

/* Grows a zero-filled array to hold at least n elements. */
static int grow(void **arr, size_t *cap, size_t n, size_t sz)
{
    size_t nc = *cap ? *cap : 8;
    void *p;
    if (n <= *cap)
        return 0;
    while (nc < n)
        nc *= 2;
    p = mf_realloc(*arr, nc * sz);
    if (p == NULL)
        return -1;
    memset((char *)p + *cap * sz, 0, (nc - *cap) * sz);
    *arr = p;
    *cap = nc;
    return 0;
}

static int kw_index(struct mf_base_mailbox *mb, const char *name, uint32_t *out)
{
    char **nk;
    for (uint32_t i = 0; i < mb->nkw; i++)
        if (strcmp(mb->kw[i], name) == 0) {
            *out = i;
            return 0;
        }
    nk = mf_realloc(mb->kw, (mb->nkw + 1) * sizeof *nk);
    if (nk == NULL)
        return -1;
    mb->kw = nk;
    if ((mb->kw[mb->nkw] = mf_strdup(name)) == NULL)
        return -1;
    *out = mb->nkw++;
    return 0;
}

/* Copies a MAILBOX record's metadata into mb (names, ids, keywords). */
static int mailbox_meta(struct mf_base_mailbox *mb, const struct mf_rec_mailbox *m)
{
    memcpy(mb->guid, m->guid, MF_GUID_BYTES);
    mf_free(mb->stored);
    mb->stored = dup_str(m->stored);
    mb->uidvalidity = m->uidvalidity;
    mb->uidnext = m->uidnext;
    mb->flags = m->flags;
    mb->kw = mf_calloc(m->nkeywords ? m->nkeywords : 1, sizeof *mb->kw);
    if (mb->stored == NULL || mb->kw == NULL)
        return -1;
    for (uint32_t i = 0; i < m->nkeywords; i++) {
        if ((mb->kw[i] = dup_str(m->keywords[i])) == NULL)
            return -1;
        mb->nkw = i + 1;
    }
    return 0;
}

/* Kind 0: the base mailbox takes the delta's name, ids and keyword list;
 * its messages' keyword indexes follow the new list. */
static int mailbox_update(struct mf_base_mailbox *mb, struct mf_base_mailbox *nw)
{
    char **oldkw = mb->kw;
    uint32_t oldn = mb->nkw;
    mf_free(mb->stored);
    mb->stored = nw->stored;
    nw->stored = NULL;
    mb->uidvalidity = nw->uidvalidity;
    mb->uidnext = nw->uidnext;
    mb->flags = nw->flags;
    mb->kw = nw->kw;
    mb->nkw = nw->nkw;
    nw->kw = NULL;
    nw->nkw = 0;
    for (size_t i = 0; i < mb->n; i++) {
        struct mf_base_msg *m = &mb->msgs[i];
        for (uint32_t k = 0; k < m->nkw; k++)
            if (m->kw[k] < oldn && kw_index(mb, oldkw[m->kw[k]], &m->kw[k]) < 0)
                return -1;
    }
    for (uint32_t i = 0; i < oldn; i++)
        mf_free(oldkw[i]);
    mf_free(oldkw);
    for (size_t i = 0; i < mb->n; i++) {
        struct mf_base_msg *m = &mb->msgs[i];
        /* keep the indexes ascending (a remap can reorder them) */
        for (uint32_t a = 1; a < m->nkw; a++)
            for (uint32_t b = a; b > 0 && m->kw[b - 1] > m->kw[b]; b--) {
                uint32_t t = m->kw[b];
                m->kw[b] = m->kw[b - 1];
                m->kw[b - 1] = t;
            }
    }
    return 0;
}

static int push_mailbox(struct apply *a, struct mf_base_mailbox *mb)
{
    struct mf_base_mailbox *nv = mf_realloc(a->u->mb, (a->u->nmb + 1) * sizeof *nv);
    if (nv == NULL)
        return -1;
    a->u->mb = nv;
    nv[a->u->nmb] = *mb;
    memset(mb, 0, sizeof *mb);
    a->cur = &nv[a->u->nmb];
    if (grow((void **)&a->mentioned, &a->mentioned_cap, a->u->nmb + 1, 1) < 0)
        return -1;
    a->mentioned[a->u->nmb] = 1;
    a->u->nmb++;
    return 0;
}

static void remove_mailbox(struct apply *a, size_t i)
{
    mailbox_free(&a->u->mb[i]);
    memmove(&a->u->mb[i], &a->u->mb[i + 1], (a->u->nmb - i - 1) * sizeof *a->u->mb);
    if (a->mentioned != NULL)
        memmove(&a->mentioned[i], &a->mentioned[i + 1], a->u->nmb - i - 1);
    a->u->nmb--;
}

static long find_mailbox(struct apply *a, const uint8_t guid[MF_GUID_BYTES])
{
    for (size_t i = 0; i < a->u->nmb; i++)
        if (memcmp(a->u->mb[i].guid, guid, MF_GUID_BYTES) == 0)
            return (long)i;
    return -1;
}

static int add_message(struct mf_base_mailbox *mb, const struct mf_rec_message *m)
{
    size_t at = mb->n;
    struct mf_base_msg *x;
    if (mb->n == mb->cap) {
        size_t nc = mb->cap ? mb->cap * 2 : 16;
        struct mf_base_msg *nv = mf_realloc(mb->msgs, nc * sizeof *nv);
        if (nv == NULL)
            return -1;
        mb->msgs = nv;
        mb->cap = nc;
    }
    while (at > 0 && mb->msgs[at - 1].uid >= m->uid)
        at--;
    if (at < mb->n && mb->msgs[at].uid == m->uid) {
        msg_free(&mb->msgs[at]);   /* the same UID again: the later record wins */
    } else {
        memmove(&mb->msgs[at + 1], &mb->msgs[at], (mb->n - at) * sizeof *mb->msgs);
        mb->n++;
    }
    x = &mb->msgs[at];
    memset(x, 0, sizeof *x);
    x->uid = m->uid;
    x->flags = m->flags;
    x->source_dir = m->source_dir;
    x->other = dup_str(m->other_flags);
    x->guid = dup_str(m->guid);
    x->uidl = dup_str(m->pop3_uidl);
    x->source_name = dup_str(m->source_name);
    x->received = m->received;
    x->saved = m->saved;
    x->size = m->size;
    x->vsize = m->vsize;
    x->pop3_order = m->pop3_order;
    memcpy(x->hash, m->hash, MF_HASH_BYTES);
    if (m->nkeywords > 0) {
        x->kw = mf_calloc(m->nkeywords, sizeof *x->kw);
        if (x->kw == NULL)
            return -1;
        memcpy(x->kw, m->keywords, m->nkeywords * sizeof *x->kw);
        x->nkw = m->nkeywords;
    }
    if (m->nrefs > 0) {
        x->blobs = mf_calloc(m->nrefs, sizeof *x->blobs);
        if (x->blobs == NULL)
            return -1;
        for (uint32_t i = 0; i < m->nrefs; i++) {
            if (m->refs[i].flags & MF_REF_HAS_ID)
                memcpy(x->blobs[i].id, m->refs[i].id, MF_HASH_BYTES);
            x->blobs[i].len = (uint32_t)m->refs[i].len;
        }
        x->nblobs = m->nrefs;
    }
    if (x->other == NULL || x->guid == NULL || x->uidl == NULL || x->source_name == NULL)
        return -1;
    return 0;
}

static int apply_flags(struct mf_base_mailbox *mb, const struct mf_rec_flags *f,
                       struct mf_error *err)
{
    struct mf_base_msg *m = mf_base_msg_by_uid(mb, f->uid);
    uint32_t *kw, n = 0;
    if (m == NULL)
        return mf_err(err, MF_ECHAIN, "flag change of UID %u, which the base state of mailbox "
                                      "%s does not have", f->uid, mb->stored);
    m->flags = f->new_flags;
    mf_free(m->other);
    m->other = dup_str(f->other_flags);
    kw = mf_calloc(m->nkw + f->nadded + 1, sizeof *kw);
    if (kw == NULL || m->other == NULL)
        return mf_free(kw), mf_err_nomem(err);
    for (uint32_t i = 0; i < m->nkw; i++) {
        int removed = 0;
        for (uint32_t k = 0; k < f->nremoved; k++)
            removed |= f->removed[k] == m->kw[i];
        if (!removed)
            kw[n++] = m->kw[i];
    }
    for (uint32_t k = 0; k < f->nadded; k++) {
        int have = 0;
        for (uint32_t i = 0; i < n; i++)
            have |= kw[i] == f->added[k];
        if (!have)
            kw[n++] = f->added[k];
    }
    for (uint32_t a = 1; a < n; a++)
        for (uint32_t b = a; b > 0 && kw[b - 1] > kw[b]; b--) {
            uint32_t t = kw[b];
            kw[b] = kw[b - 1];
            kw[b - 1] = t;
        }
    mf_free(m->kw);
    m->kw = kw;
    m->nkw = n;
    return 0;
}

static void apply_expunge(struct mf_base_mailbox *mb, const struct mf_rec_expunge *e)
{
    size_t k = 0;
    for (size_t i = 0; i < mb->n; i++) {
        int gone = 0;
        for (uint32_t r = 0; r < e->nranges && !gone; r++)
            gone = mb->msgs[i].uid >= e->ranges[r].first &&
                   (uint64_t)mb->msgs[i].uid < (uint64_t)e->ranges[r].first + e->ranges[r].count;
        if (gone)
            msg_free(&mb->msgs[i]);
        else
            mb->msgs[k++] = mb->msgs[i];
    }
    mb->n = k;
}

static int set_extra(struct mf_base_user *u, const struct mf_rec_extra *x)
{
    struct mf_base_extra *e = NULL;
    for (size_t i = 0; i < u->nextras; i++)
        if (u->extras[i].role == x->role && str_cmp(x->path, u->extras[i].path) == 0)
            e = &u->extras[i];
    if (e == NULL) {
        struct mf_base_extra *nv = mf_realloc(u->extras, (u->nextras + 1) * sizeof *nv);
        if (nv == NULL)
            return -1;
        u->extras = nv;
        e = &nv[u->nextras++];
        memset(e, 0, sizeof *e);
        e->role = x->role;
        if ((e->path = dup_str(x->path)) == NULL)
            return -1;
    }
    mf_free(e->target);
    e->target = dup_str(x->target);
    e->size = x->size;
    mf_message_hash(x->refs, x->nrefs, e->content);
    return e->target == NULL ? -1 : 0;
}

/* Consumes one user's records (USER .. USER_END) from a->h into a->u. */
static int apply_user(struct apply *a, struct mf_error *err)
{
    struct head *h = a->h;
    uint8_t delta_kind = MF_DELTA_NEW;
    if (a->mentioned != NULL)
        memset(a->mentioned, 0, a->mentioned_cap);
    for (;;) {
        struct mf_record *rec = &h->rec;
        if (next_rec(h, err) < 0)
            return -1;
        if (h->ended)
            return mf_err(err, MF_ECORRUPT, "%s: index ends inside user %s", h->what,
                          a->u->name);
        h->valid = 0;
        switch (rec->type) {
        case MF_REC_USER:
            break;
        case MF_REC_EXTRA:
            if (set_extra(a->u, &rec->u.extra) < 0)
                return mf_err_nomem(err);
            break;
        case MF_REC_MAILBOX:
            memset(&a->pend, 0, sizeof a->pend);
            if (mailbox_meta(&a->pend, &rec->u.mailbox) < 0) {
                mailbox_free(&a->pend);
                return mf_err_nomem(err);
            }
            if (!a->delta) {
                if (push_mailbox(a, &a->pend) < 0)
                    return mf_err_nomem(err);
            } else {
                a->pending = 1;
            }
            break;
        case MF_REC_MAILBOX_DELTA: {
            const struct mf_rec_mailbox_delta *d = &rec->u.mailbox_delta;
            long at = find_mailbox(a, a->pend.guid);
            a->pending = 0;
            delta_kind = d->kind;
            if (d->kind == MF_DELTA_CHANGES) {
                if (at < 0) {
                    mf_err(err, MF_ECHAIN, "%s: user %s: mailbox %s changes a mailbox the base "
                                           "does not have", h->what, a->u->name, a->pend.stored);
                    mailbox_free(&a->pend);
                    return -1;
                }
                a->cur = &a->u->mb[at];
                a->mentioned[at] = 1;
                if (mailbox_update(a->cur, &a->pend) < 0) {
                    mailbox_free(&a->pend);
                    return mf_err_nomem(err);
                }
                mailbox_free(&a->pend);
            } else {
                if (at >= 0)
                    remove_mailbox(a, (size_t)at);
                if (push_mailbox(a, &a->pend) < 0)
                    return mf_err_nomem(err);
            }
            break;
        }
        case MF_REC_MESSAGE:
            if (a->cur == NULL || add_message(a->cur, &rec->u.message) < 0)
                return a->cur == NULL ? mf_err(err, MF_ECORRUPT, "%s: message outside a mailbox",
                                               h->what)
                                      : mf_err_nomem(err);
            break;
        case MF_REC_FLAGS:
            if (a->cur == NULL || delta_kind != MF_DELTA_CHANGES)
                return mf_err(err, MF_ECORRUPT, "%s: flag change out of place", h->what);
            if (apply_flags(a->cur, &rec->u.flags, err) < 0)
                return mf_err_ctx(err, "%s: user %s", h->what, a->u->name);
            break;
        case MF_REC_EXPUNGE:
            if (a->cur == NULL)
                return mf_err(err, MF_ECORRUPT, "%s: expunge out of place", h->what);
            apply_expunge(a->cur, &rec->u.expunge);
            break;
        case MF_REC_MAILBOX_END:
            if (a->delta && a->cur != NULL) {
                /* the replayed state must be the one the delta recorded */
                uint8_t st[MF_HASH_BYTES];
                mf_base_state_hash(a->cur, st);
                if (memcmp(st, rec->u.mailbox_end.state, MF_HASH_BYTES) != 0)
                    return mf_err(err, MF_ECHAIN, "%s: user %s, mailbox %s: the base state "
                                                  "rebuilt from the chain does not match the "
                                                  "state the delta recorded",
                                  h->what, a->u->name, a->cur->stored);
            }
            a->cur = NULL;
            break;
        case MF_REC_MAILBOX_GONE: {
            long at = find_mailbox(a, rec->u.mailbox_gone.guid);
            if (at >= 0)
                remove_mailbox(a, (size_t)at);
            break;
        }
        case MF_REC_USER_END:
            if (a->delta)
                for (size_t i = 0; i < a->u->nmb; i++)
                    if (!a->mentioned[i])
                        return mf_err(err, MF_ECHAIN, "%s: user %s: mailbox %s of its base is "
                                                      "neither kept nor removed",
                                      h->what, a->u->name, a->u->mb[i].stored);
            return 0;
        default:
            return mf_err(err, MF_ECORRUPT, "%s: unexpected record 0x%02x in user %s", h->what,
                          rec->type, a->u->name);
        }
    }
}

/* Applies the user at h's head onto *u (created when NULL). */
static int read_user(struct head *h, int delta, struct mf_base_user **u, struct mf_error *err)
{
    struct apply a;
    int r;
    memset(&a, 0, sizeof a);
    if (*u == NULL) {
        *u = mf_calloc(1, sizeof **u);
        if (*u == NULL || ((*u)->name = dup_str(h->rec.u.user.name)) == NULL)
            return mf_err_nomem(err);
    }
    a.h = h;
    a.u = *u;
    a.delta = delta;
    if (grow((void **)&a.mentioned, &a.mentioned_cap, (*u)->nmb + 1, 1) < 0)
        return mf_err_nomem(err);
    r = apply_user(&a, err);
    mailbox_free(&a.pend);
    mf_free(a.mentioned);
    return r;
}

int mf_base_next_user(struct mf_base_chain *c, struct mf_base_user **u_r, struct mf_error *err)
{
    *u_r = NULL;
    for (;;) {
        struct mf_str min = {NULL, 0}, nm;
        struct mf_base_user *u = NULL;
        char *name;
        int any = 0;
        for (size_t i = 0; i < c->n; i++) {
            if (to_user(&c->h[i], err) < 0)
                return -1;
            if (head_user(&c->h[i], &nm)) {
                size_t n = nm.n < min.n ? nm.n : min.n;
                int cmp = n == 0 ? 0 : memcmp(nm.p, min.p, n);
                if (!any || cmp < 0 || (cmp == 0 && nm.n < min.n))
                    min = nm;
                any = 1;
            }
        }
        if (!any)
            return 0;
        name = dup_str(min);   /* min is borrowed from a head that moves on */
        if (name == NULL)
            return mf_err_nomem(err);
        for (size_t i = 0; i < c->n; i++) {
            struct head *h = &c->h[i];
            if (head_user(h, &nm) && str_cmp(nm, name) == 0) {
                if (read_user(h, i > 0, &u, err) < 0) {
                    mf_free(name);
                    mf_base_user_free(u);
                    return -1;
                }
            } else if (i > 0 && is_gone(h, name)) {
                mf_base_user_free(u);
                u = NULL;
            } else if (i > 0 && u != NULL) {
                mf_err(err, MF_ECHAIN, "%s neither keeps nor removes user %s of its base",
                       h->what, name);
                mf_free(name);
                mf_base_user_free(u);
                return -1;
            }
        }
        mf_free(name);
        if (u != NULL) {
            *u_r = u;
            return 1;
        }
    }
}

/* ---- the chain ---- */

static int collect_gone(struct head *h, struct mf_error *err)
{
    struct mf_record rec;
    int k;
    size_t cap = 0;
    while ((k = mf_reader_next(h->r, &rec, err)) > 0) {
        if (rec.type != MF_REC_USER_GONE)
            continue;
        if (h->ngone == cap) {
            size_t nc = cap ? cap * 2 : 16;
            char **nv = mf_realloc(h->gone, nc * sizeof *nv);
            if (nv == NULL)
                return mf_err_nomem(err);
            h->gone = nv;
            cap = nc;
        }
        if ((h->gone[h->ngone] = dup_str(rec.u.user_gone.name)) == NULL)
            return mf_err_nomem(err);
        h->ngone++;
    }
    if (k < 0)
        return -1;
    return mf_reader_rewind(h->r, err);
}

int mf_base_open(struct mf_base_chain **c_r, const struct mf_archive_files *a, size_t npaths,
                 const struct mf_reader_opts *ro, struct mf_error *err)
{
    struct mf_base_chain *c = mf_calloc(1, sizeof *c);
    struct mf_reader_opts o = *ro;
    *c_r = NULL;
    if (c == NULL || (c->h = mf_calloc(npaths ? npaths : 1, sizeof *c->h)) == NULL) {
        mf_free(c);
        return mf_err_nomem(err);
    }
    o.index_only = 1;
    for (size_t i = 0; i < npaths; i++) {
        struct head *h = &c->h[i];
        const struct mf_manifest *m;
        c->n = i + 1;
        if (i == 0)
            snprintf(h->what, sizeof h->what, "the base");
        else
            snprintf(h->what, sizeof h->what, "delta %zu of the base chain", i);
        if (mf_reader_open_volumes(&h->r, (const char *const *)a[i].paths, a[i].n, &o, err) < 0) {
            mf_err_ctx(err, "%s", a[i].label);
            goto fail;
        }
        m = mf_reader_manifest(h->r);
        if (i == 0 && m->kind != MF_KIND_FULL) {
            mf_err(err, MF_ECHAIN, "%s is a delta archive; the base chain starts with a full "
                                   "archive (give the chain in order: full, then each delta)",
                   a[i].label);
            goto fail;
        }
        if (i > 0) {
            const struct mf_manifest *pm = mf_reader_manifest(c->h[i - 1].r);
            if (m->kind != MF_KIND_DELTA ||
                memcmp(m->base_id, pm->archive_id, MF_ARCHIVE_ID_BYTES) != 0 ||
                memcmp(m->base_manifest, mf_reader_manifest_hash(c->h[i - 1].r),
                       MF_HASH_BYTES) != 0) {
                mf_err(err, MF_ECHAIN, "%s is not a delta of %s (wrong order, or another chain)",
                       a[i].label, a[i - 1].label);
                goto fail;
            }
            if (collect_gone(h, err) < 0) {
                mf_err_ctx(err, "%s", a[i].label);
                goto fail;
            }
        }
    }
    *c_r = c;
    return 0;
fail:
    mf_base_close(&c);
    return -1;
}

void mf_base_close(struct mf_base_chain **cp)
{
    struct mf_base_chain *c = *cp;
    if (c == NULL)
        return;
    *cp = NULL;
    for (size_t i = 0; i < c->n; i++) {
        mf_reader_free(&c->h[i].r);
        for (size_t k = 0; k < c->h[i].ngone; k++)
            mf_free(c->h[i].gone[k]);
        mf_free(c->h[i].gone);
    }
    mf_free(c->h);
    mf_free(c);
}

const struct mf_manifest *mf_base_manifest(const struct mf_base_chain *c)
{
    return mf_reader_manifest(c->h[c->n - 1].r);
}

const uint8_t *mf_base_manifest_hash(const struct mf_base_chain *c)
{
    return mf_reader_manifest_hash(c->h[c->n - 1].r);
}
