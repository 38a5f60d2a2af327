/* index_codec.c: encoding and bounded decoding of index records.
 *
 * Record: u8 type | uv payload length | payload. Payload fields are listed
 * per record in spec/FORMAT.md; a payload must be consumed exactly. Types
 * 0x80..0xff are optional extensions a reader may skip; any other unknown
 * type is an error. */
#include "index_codec.h"
#include "hash.h"
#include "mem.h"

#include <stdio.h>
#include <string.h>

int mf_str_eq(struct mf_str a, const char *b)
{
    size_t n = strlen(b);
    return a.n == n && (n == 0 || memcmp(a.p, b, n) == 0);
}

int mf_utf8_printable(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        uint32_t cp;
        size_t len;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return 0;
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp < 0xa0))
            return 0;
        i += len;
    }
    return 1;
}

void mf_message_hash_add(struct mf_hasher *h, const uint8_t id[MF_HASH_BYTES], uint64_t len)
{
    uint8_t t[MF_HASH_BYTES + 10];
    size_t n = MF_HASH_BYTES;
    memcpy(t, id, MF_HASH_BYTES);
    do {
        uint8_t b = len & 0x7f;
        len >>= 7;
        t[n++] = (uint8_t)(b | (len != 0 ? 0x80 : 0));
    } while (len != 0);
    mf_hash_update(h, t, n);
}

void mf_message_hash(const struct mf_blobref *refs, uint32_t nrefs, uint8_t out[MF_HASH_BYTES])
{
    struct mf_hasher h;
    mf_hash_init(&h, MF_HK_MESSAGE);
    for (uint32_t i = 0; i < nrefs; i++)
        mf_message_hash_add(&h, refs[i].id, refs[i].len);
    mf_hash_final(&h, out);
}

void mf_state_add(struct mf_hasher *h, uint32_t uid, uint8_t flags, const struct mf_str *kw,
                  size_t nkw, struct mf_str guid)
{
    struct mf_buf b;
    uint8_t small[512];
    mf_buf_init(&b);
    mf_buf_uv(&b, uid);
    mf_buf_u8(&b, flags);
    mf_buf_uv(&b, nkw);
    for (size_t i = 0; i < nkw; i++)
        mf_buf_str(&b, kw[i].p, kw[i].n);
    mf_buf_str(&b, guid.p, guid.n);
    if (!b.oom) {
        mf_hash_update(h, b.p, b.len);
    } else {
        /* Out of memory while building a few hundred bytes: hash a marker
         * that can never match, rather than silently dropping the message. */
        memset(small, 0xff, sizeof small);
        mf_hash_update(h, small, sizeof small);
    }
    mf_buf_free(&b);
}

/* ---- encoding ---- */

static int finish(struct mf_buf *out, struct mf_buf *pl, enum mf_rec_type t)
{
    mf_buf_u8(out, (uint8_t)t);
    mf_buf_uv(out, pl->len);
    mf_buf_append(out, pl->p, pl->len);
    return (out->oom || pl->oom) ? -1 : 0;
}

static void enc_mstr(struct mf_buf *b, struct mf_str s)
{
    mf_buf_str(b, s.p, s.n);
}

static void enc_refs(struct mf_buf *b, const struct mf_blobref *refs, uint32_t n)
{
    mf_buf_uv(b, n);
    for (uint32_t i = 0; i < n; i++) {
        const struct mf_blobref *r = &refs[i];
        mf_buf_u8(b, r->flags);
        if (r->flags & MF_REF_HAS_ID)
            mf_buf_append(b, r->id, MF_HASH_BYTES);
        mf_buf_uv(b, r->len);
        mf_buf_u8(b, r->loc);
        if (r->loc == MF_LOC_CHAIN) {
            mf_buf_append(b, r->chain_guid, MF_GUID_BYTES);
            mf_buf_uv(b, r->chain_uid);
            mf_buf_uv(b, r->chain_offset);
        } else {
            mf_buf_uv(b, r->frame);
            mf_buf_uv(b, r->offset);
        }
    }
}

int mf_enc_header(struct mf_buf *out, struct mf_buf *pl, const struct mf_rec_header *h)
{
    mf_buf_reset(pl);
    mf_buf_u8(pl, h->kind);
    mf_buf_append(pl, h->archive_id, MF_ARCHIVE_ID_BYTES);
    mf_buf_uv(pl, h->users);
    mf_buf_uv(pl, h->mailboxes);
    mf_buf_uv(pl, h->messages);
    mf_buf_uv(pl, h->extras);
    mf_buf_uv(pl, h->packs);
    mf_buf_uv(pl, h->frames);
    mf_buf_uv(pl, h->refs);
    mf_buf_uv(pl, h->message_bytes);
    mf_buf_uv(pl, h->blob_bytes);
    return finish(out, pl, MF_REC_HEADER);
}

int mf_enc_pack(struct mf_buf *out, struct mf_buf *pl, const struct mf_rec_pack *p)
{
    mf_buf_reset(pl);
    mf_buf_uv(pl, p->pack);
    mf_buf_uv(pl, p->nframes);
    for (uint32_t i = 0; i < p->nframes; i++) {
        mf_buf_uv(pl, p->frames[i].id);
        mf_buf_uv(pl, p->frames[i].csize);
        mf_buf_uv(pl, p->frames[i].rsize);
        mf_buf_u8(pl, p->frames[i].codec);
        mf_buf_append(pl, p->frames[i].hash, MF_HASH_BYTES);
    }
    return finish(out, pl, MF_REC_PACK);
}

int mf_enc_user(struct mf_buf *out, struct mf_buf *pl, const struct mf_rec_user *u)
{
    mf_buf_reset(pl);
    enc_mstr(pl, u->name);
    enc_mstr(pl, u->source);
    mf_buf_uv(pl, u->uid);
    mf_buf_uv(pl, u->gid);
    enc_mstr(pl, u->owner);
    enc_mstr(pl, u->group);
    return finish(out, pl, MF_REC_USER);
}

int mf_enc_user_end(struct mf_buf *out, struct mf_buf *pl, const struct mf_rec_user_end *u)
{
    mf_buf_reset(pl);
    mf_buf_uv(pl, u->nmailboxes);
    mf_buf_uv(pl, u->nmessages);
    mf_buf_uv(pl, u->nextras);
    return finish(out, pl, MF_REC_USER_END);
}

int mf_enc_extra(struct mf_buf *out, struct mf_buf *pl, const struct mf_rec_extra *x)
{
    mf_buf_reset(pl);
    mf_buf_u8(pl, x->role);
    enc_mstr(pl, x->path);
    mf_buf_uv(pl, x->mode);
    mf_buf_sv(pl, x->mtime);
    mf_buf_uv(pl, x->size);
    enc_mstr(pl, x->target);
    enc_refs(pl, x->refs, x->nrefs);
    return finish(out, pl, MF_REC_EXTRA);
}

int mf_enc_mailbox(struct mf_buf *out, struct mf_buf *pl, const struct mf_rec_mailbox *m)
{
    mf_buf_reset(pl);
    enc_mstr(pl, m->stored);
    mf_buf_uv(pl, m->ncomponents);
    for (uint32_t i = 0; i < m->ncomponents; i++)
        enc_mstr(pl, m->components[i]);
    mf_buf_u8(pl, m->encoding);
    mf_buf_u8(pl, m->layout);
    mf_buf_append(pl, m->guid, MF_GUID_BYTES);
    mf_buf_uv(pl, m->uidvalidity);
    mf_buf_uv(pl, m->uidnext);
    mf_buf_uv(pl, m->flags);
    mf_buf_uv(pl, m->nkeywords);
    for (uint32_t i = 0; i < m->nkeywords; i++)
        enc_mstr(pl, m->keywords[i]);
    return finish(out, pl, MF_REC_MAILBOX);
}

int mf_enc_mailbox_end(struct mf_buf *out, struct mf_buf *pl, const struct mf_rec_mailbox_end *m)
{
    mf_buf_reset(pl);
    mf_buf_uv(pl, m->nmessages);
    mf_buf_append(pl, m->state, MF_HASH_BYTES);
    return finish(out, pl, MF_REC_MAILBOX_END);
}

int mf_enc_message(struct mf_buf *out, struct mf_buf *pl, const struct mf_rec_message *m)
{
    mf_buf_reset(pl);
    mf_buf_uv(pl, m->uid);
    mf_buf_u8(pl, m->flags);
    enc_mstr(pl, m->other_flags);
    mf_buf_uv(pl, m->nkeywords);
    for (uint32_t i = 0; i < m->nkeywords; i++)
        mf_buf_uv(pl, m->keywords[i]);
    enc_mstr(pl, m->guid);
    mf_buf_sv(pl, m->received);
    mf_buf_sv(pl, m->saved);
    mf_buf_uv(pl, m->size);
    mf_buf_uv(pl, m->vsize);
    enc_mstr(pl, m->pop3_uidl);
    mf_buf_uv(pl, m->pop3_order);
    mf_buf_u8(pl, m->source_dir);
    enc_mstr(pl, m->source_name);
    mf_buf_append(pl, m->hash, MF_HASH_BYTES);
    enc_refs(pl, m->refs, m->nrefs);
    return finish(out, pl, MF_REC_MESSAGE);
}

int mf_enc_end(struct mf_buf *out, struct mf_buf *pl, const struct mf_rec_end *e)
{
    mf_buf_reset(pl);
    mf_buf_uv(pl, e->records);
    return finish(out, pl, MF_REC_END);
}

static void enc_u32s(struct mf_buf *b, const uint32_t *v, uint32_t n)
{
    mf_buf_uv(b, n);
    for (uint32_t i = 0; i < n; i++)
        mf_buf_uv(b, v[i]);
}

int mf_enc_mailbox_delta(struct mf_buf *out, struct mf_buf *pl,
                         const struct mf_rec_mailbox_delta *d)
{
    mf_buf_reset(pl);
    mf_buf_u8(pl, d->kind);
    enc_mstr(pl, d->base_stored);
    mf_buf_uv(pl, d->base_uidvalidity);
    mf_buf_uv(pl, d->base_uidnext);
    return finish(out, pl, MF_REC_MAILBOX_DELTA);
}

int mf_enc_expunge(struct mf_buf *out, struct mf_buf *pl, const struct mf_rec_expunge *e)
{
    mf_buf_reset(pl);
    mf_buf_uv(pl, e->nranges);
    for (uint32_t i = 0; i < e->nranges; i++) {
        mf_buf_uv(pl, e->ranges[i].first);
        mf_buf_uv(pl, e->ranges[i].count);
    }
    return finish(out, pl, MF_REC_EXPUNGE);
}

int mf_enc_flags(struct mf_buf *out, struct mf_buf *pl, const struct mf_rec_flags *f)
{
    mf_buf_reset(pl);
    mf_buf_uv(pl, f->uid);
    mf_buf_u8(pl, f->old_flags);
    mf_buf_u8(pl, f->new_flags);
    enc_mstr(pl, f->other_flags);
    enc_u32s(pl, f->added, f->nadded);
    enc_u32s(pl, f->removed, f->nremoved);
    return finish(out, pl, MF_REC_FLAGS);
}

int mf_enc_mailbox_gone(struct mf_buf *out, struct mf_buf *pl, const struct mf_rec_mailbox_gone *g)
{
    mf_buf_reset(pl);
    mf_buf_append(pl, g->guid, MF_GUID_BYTES);
    enc_mstr(pl, g->base_stored);
    return finish(out, pl, MF_REC_MAILBOX_GONE);
}

int mf_enc_user_gone(struct mf_buf *out, struct mf_buf *pl, const struct mf_rec_user_gone *g)
{
    mf_buf_reset(pl);
    enc_mstr(pl, g->name);
    return finish(out, pl, MF_REC_USER_GONE);
}

/* ---- decoding ---- */

struct mf_idx_dec {
    const uint8_t *p;
    size_t n, off;
    const char *name;
    /* scratch arrays reused across records */
    struct mf_frame_info *frames;
    size_t frames_cap;
    struct mf_blobref *refs;
    size_t refs_cap;
    struct mf_str *strs;
    size_t strs_cap;
    struct mf_str *strs2;
    size_t strs2_cap;
    uint32_t *u32s;
    size_t u32s_cap;
    uint32_t *u32s2;
    size_t u32s2_cap;
    struct mf_uid_range *ranges;
    size_t ranges_cap;
};

int mf_idx_dec_new(struct mf_idx_dec **d_r, struct mf_error *err)
{
    *d_r = mf_calloc(1, sizeof **d_r);
    return *d_r == NULL ? mf_err_nomem(err) : 0;
}

void mf_idx_dec_free(struct mf_idx_dec **dp)
{
    struct mf_idx_dec *d = *dp;
    if (d == NULL)
        return;
    *dp = NULL;
    mf_free(d->frames);
    mf_free(d->refs);
    mf_free(d->strs);
    mf_free(d->strs2);
    mf_free(d->u32s);
    mf_free(d->u32s2);
    mf_free(d->ranges);
    mf_free(d);
}

void mf_idx_dec_feed(struct mf_idx_dec *d, const uint8_t *p, size_t n, const char *name)
{
    d->p = p;
    d->n = n;
    d->off = 0;
    d->name = name;
}

/* Grows a scratch array to hold n elements of size sz. */
static int grow(void **arr, size_t *cap, size_t n, size_t sz)
{
    void *np;
    size_t bytes;
    if (n <= *cap)
        return 0;
    if (mf_mul_size(n, sz, &bytes) < 0)
        return -1;
    np = mf_realloc(*arr, bytes);
    if (np == NULL)
        return -1;
    *arr = np;
    *cap = n;
    return 0;
}

static struct mf_str cur_mstr(struct mf_cur *c, size_t max)
{
    struct mf_str s;
    s.p = (const char *)mf_cur_str(c, max, &s.n);
    if (s.p == NULL)
        s.p = "";
    return s;
}

static int no_nul(struct mf_str s)
{
    return memchr(s.p, '\0', s.n) == NULL;
}

static int dec_refs(struct mf_idx_dec *d, struct mf_cur *c, uint32_t *n_r,
                    const struct mf_blobref **refs_r, const char **why)
{
    uint64_t n = mf_cur_uvmax(c, MF_REFS_MAX);
    if (c->bad) {
        *why = "blob reference count";
        return -1;
    }
    /* each reference takes at least 5 bytes: a count that lies is caught here */
    if (n > mf_cur_left(c) / 5) {
        *why = "blob reference count larger than the record";
        return -1;
    }
    if (grow((void **)&d->refs, &d->refs_cap, (size_t)n, sizeof *d->refs) < 0) {
        *why = NULL;
        return -1;
    }
    for (uint64_t i = 0; i < n; i++) {
        struct mf_blobref *r = &d->refs[i];
        memset(r, 0, sizeof *r);
        r->flags = mf_cur_u8(c);
        if (r->flags & ~MF_REF_HAS_ID) {
            *why = "unknown blob reference flags";
            return -1;
        }
        if (r->flags & MF_REF_HAS_ID) {
            const uint8_t *id = mf_cur_bytes(c, MF_HASH_BYTES);
            if (id != NULL)
                memcpy(r->id, id, MF_HASH_BYTES);
        }
        r->len = mf_cur_uvmax(c, MF_BLOB_MAX);
        r->loc = mf_cur_u8(c);
        if (r->loc == MF_LOC_CHAIN) {
            const uint8_t *g = mf_cur_bytes(c, MF_GUID_BYTES);
            if (g != NULL)
                memcpy(r->chain_guid, g, MF_GUID_BYTES);
            r->chain_uid = (uint32_t)mf_cur_uvmax(c, UINT32_MAX - 1);
            r->chain_offset = mf_cur_uvmax(c, MF_MESSAGE_MAX);
            if (!(r->flags & MF_REF_HAS_ID)) {
                *why = "chain reference without a blob id";
                return -1;
            }
        } else if (r->loc == MF_LOC_FRAME) {
            r->frame = (uint32_t)mf_cur_uvmax(c, UINT32_MAX - 1);
            r->offset = (uint32_t)mf_cur_uvmax(c, MF_FRAME_RAW_MAX);
        } else {
            *why = "unknown blob location kind";
            return -1;
        }
        if (c->bad) {
            *why = "blob reference";
            return -1;
        }
    }
    *n_r = (uint32_t)n;
    *refs_r = d->refs;
    return 0;
}

/* uv n, then n uv values below `limit`, strictly ascending */
static int dec_u32s(struct mf_cur *c, uint32_t **arr, size_t *cap, uint64_t max_count,
                    uint64_t limit, uint32_t *n_r, const uint32_t **v_r)
{
    uint64_t n = mf_cur_uvmax(c, max_count);
    if (c->bad || n > mf_cur_left(c))
        return -1;
    if (grow((void **)arr, cap, (size_t)n, sizeof **arr) < 0)
        return -1;
    for (uint64_t i = 0; i < n; i++) {
        (*arr)[i] = (uint32_t)mf_cur_uvmax(c, limit);
        if (c->bad || (i > 0 && (*arr)[i] <= (*arr)[i - 1]))
            return -1;
    }
    *n_r = (uint32_t)n;
    *v_r = *arr;
    return 0;
}

static int dec_strs(struct mf_cur *c, struct mf_str **arr, size_t *cap, uint64_t max_count,
                    size_t max_len, uint32_t *n_r)
{
    uint64_t n = mf_cur_uvmax(c, max_count);
    if (c->bad || n > mf_cur_left(c))
        return -1;
    if (grow((void **)arr, cap, (size_t)n, sizeof **arr) < 0)
        return -1;
    for (uint64_t i = 0; i < n; i++) {
        (*arr)[i] = cur_mstr(c, max_len);
        if (c->bad)
            return -1;
    }
    *n_r = (uint32_t)n;
    return 0;
}

static int dec_payload(struct mf_idx_dec *d, uint8_t type, struct mf_cur *c, struct mf_record *rec,
                       const char **why)
{
    *why = "field out of range";
    switch (type) {
    case MF_REC_HEADER: {
        struct mf_rec_header *h = &rec->u.header;
        const uint8_t *id;
        h->kind = mf_cur_u8(c);
        id = mf_cur_bytes(c, MF_ARCHIVE_ID_BYTES);
        if (id != NULL)
            memcpy(h->archive_id, id, MF_ARCHIVE_ID_BYTES);
        h->users = mf_cur_uvmax(c, MF_USERS_MAX);
        h->mailboxes = mf_cur_uv(c);
        h->messages = mf_cur_uv(c);
        h->extras = mf_cur_uv(c);
        h->packs = mf_cur_uvmax(c, MF_MEMBERS_MAX);
        h->frames = mf_cur_uv(c);
        h->refs = mf_cur_uv(c);
        h->message_bytes = mf_cur_uv(c);
        h->blob_bytes = mf_cur_uv(c);
        if (h->kind != 1 && h->kind != 2) {
            *why = "unknown archive kind";
            return -1;
        }
        return c->bad ? -1 : 0;
    }
    case MF_REC_PACK: {
        struct mf_rec_pack *p = &rec->u.pack;
        uint64_t n;
        p->pack = (uint32_t)mf_cur_uvmax(c, MF_MEMBERS_MAX);
        n = mf_cur_uvmax(c, MF_FRAMES_PER_PACK_MAX);
        if (c->bad || n > mf_cur_left(c) / (4 + MF_HASH_BYTES)) {
            *why = "frame count";
            return -1;
        }
        if (grow((void **)&d->frames, &d->frames_cap, (size_t)n, sizeof *d->frames) < 0) {
            *why = NULL;
            return -1;
        }
        for (uint64_t i = 0; i < n; i++) {
            struct mf_frame_info *f = &d->frames[i];
            const uint8_t *h;
            f->id = (uint32_t)mf_cur_uvmax(c, UINT32_MAX - 1);
            f->csize = mf_cur_uvmax(c, MF_FRAME_CSIZE_MAX);
            f->rsize = mf_cur_uvmax(c, MF_FRAME_RAW_MAX);
            f->codec = mf_cur_u8(c);
            h = mf_cur_bytes(c, MF_HASH_BYTES);
            if (h != NULL)
                memcpy(f->hash, h, MF_HASH_BYTES);
            if (c->bad)
                return -1;
            if (f->codec != 1 || f->csize == 0 || f->rsize == 0) {
                *why = "frame entry";
                return -1;
            }
        }
        p->nframes = (uint32_t)n;
        p->frames = d->frames;
        return 0;
    }
    case MF_REC_USER: {
        struct mf_rec_user *u = &rec->u.user;
        u->name = cur_mstr(c, MF_USER_NAME_MAX);
        u->source = cur_mstr(c, MF_PATH_MAX);
        u->uid = mf_cur_uvmax(c, UINT32_MAX);
        u->gid = mf_cur_uvmax(c, UINT32_MAX);
        u->owner = cur_mstr(c, MF_OWNER_NAME_MAX);
        u->group = cur_mstr(c, MF_OWNER_NAME_MAX);
        if (c->bad)
            return -1;
        if (u->name.n == 0 || !no_nul(u->name) || !no_nul(u->source) || !no_nul(u->owner) ||
            !no_nul(u->group)) {
            *why = "user name or path";
            return -1;
        }
        return 0;
    }
    case MF_REC_EXTRA: {
        struct mf_rec_extra *x = &rec->u.extra;
        x->role = mf_cur_u8(c);
        x->path = cur_mstr(c, MF_PATH_MAX);
        x->mode = (uint32_t)mf_cur_uvmax(c, 07777);
        x->mtime = mf_cur_sv(c);
        x->size = mf_cur_uvmax(c, MF_EXTRA_MAX);
        x->target = cur_mstr(c, MF_PATH_MAX);
        if (c->bad)
            return -1;
        if (x->role < MF_EXTRA_SIEVE_SCRIPT || x->role > MF_EXTRA_SUBSCRIPTIONS) {
            *why = "unknown extra file role";
            return -1;
        }
        if (!no_nul(x->path) || !no_nul(x->target)) {
            *why = "extra file path";
            return -1;
        }
        return dec_refs(d, c, &x->nrefs, &x->refs, why);
    }
    case MF_REC_MAILBOX: {
        struct mf_rec_mailbox *m = &rec->u.mailbox;
        const uint8_t *g;
        m->stored = cur_mstr(c, MF_MAILBOX_NAME_MAX);
        if (dec_strs(c, &d->strs, &d->strs_cap, MF_MAILBOX_COMPONENTS_MAX, MF_MAILBOX_COMPONENT_MAX,
                     &m->ncomponents) < 0) {
            *why = "mailbox name components";
            return -1;
        }
        m->components = d->strs;
        m->encoding = mf_cur_u8(c);
        m->layout = mf_cur_u8(c);
        g = mf_cur_bytes(c, MF_GUID_BYTES);
        if (g != NULL)
            memcpy(m->guid, g, MF_GUID_BYTES);
        m->uidvalidity = (uint32_t)mf_cur_uvmax(c, UINT32_MAX);
        m->uidnext = (uint32_t)mf_cur_uvmax(c, UINT32_MAX);
        m->flags = (uint32_t)mf_cur_uvmax(c, MF_MBOX_FLAGS_ALL);
        if (dec_strs(c, &d->strs2, &d->strs2_cap, MF_KEYWORDS_MAX, MF_KEYWORD_MAX,
                     &m->nkeywords) < 0) {
            *why = "mailbox keywords";
            return -1;
        }
        m->keywords = d->strs2;
        if (c->bad)
            return -1;
        if (!no_nul(m->stored)) {
            *why = "mailbox stored name";
            return -1;
        }
        if (m->ncomponents == 0 || m->encoding > MF_NAME_UTF8 || m->layout < MF_LAYOUT_MAILDIRPP ||
            m->layout > MF_LAYOUT_COURIER) {
            *why = "mailbox name or layout";
            return -1;
        }
        return 0;
    }
    case MF_REC_MESSAGE: {
        struct mf_rec_message *m = &rec->u.message;
        const uint8_t *h;
        uint64_t nkw;
        m->uid = (uint32_t)mf_cur_uvmax(c, UINT32_MAX);
        m->flags = mf_cur_u8(c);
        m->other_flags = cur_mstr(c, MF_OTHER_FLAGS_MAX);
        nkw = mf_cur_uvmax(c, MF_KEYWORDS_MAX);
        if (c->bad || nkw > mf_cur_left(c)) {
            *why = "keyword count";
            return -1;
        }
        if (grow((void **)&d->u32s, &d->u32s_cap, (size_t)nkw, sizeof *d->u32s) < 0) {
            *why = NULL;
            return -1;
        }
        for (uint64_t i = 0; i < nkw; i++)
            d->u32s[i] = (uint32_t)mf_cur_uvmax(c, MF_KEYWORDS_MAX - 1);
        m->nkeywords = (uint32_t)nkw;
        m->keywords = d->u32s;
        m->guid = cur_mstr(c, MF_GUID_STR_MAX);
        m->received = mf_cur_sv(c);
        m->saved = mf_cur_sv(c);
        m->size = mf_cur_uvmax(c, MF_MESSAGE_MAX);
        m->vsize = mf_cur_uvmax(c, 2 * MF_MESSAGE_MAX);
        m->pop3_uidl = cur_mstr(c, MF_UIDL_MAX);
        m->pop3_order = (uint32_t)mf_cur_uvmax(c, UINT32_MAX);
        m->source_dir = mf_cur_u8(c);
        m->source_name = cur_mstr(c, MF_SOURCE_NAME_MAX);
        h = mf_cur_bytes(c, MF_HASH_BYTES);
        if (h != NULL)
            memcpy(m->hash, h, MF_HASH_BYTES);
        if (c->bad)
            return -1;
        if (m->uid == 0 || (m->flags & ~MF_FLAGS_ALL) != 0 || m->source_dir < MF_SRC_NEW ||
            m->source_dir > MF_SRC_CUR) {
            *why = "message uid, flags or source directory";
            return -1;
        }
        if (!no_nul(m->guid) || !no_nul(m->pop3_uidl) || !no_nul(m->source_name) ||
            !no_nul(m->other_flags)) {
            *why = "message string field";
            return -1;
        }
        for (uint32_t i = 1; i < m->nkeywords; i++)
            if (m->keywords[i] <= m->keywords[i - 1]) {
                *why = "message keywords not ascending";
                return -1;
            }
        return dec_refs(d, c, &m->nrefs, &m->refs, why);
    }
    case MF_REC_USER_END: {
        struct mf_rec_user_end *u = &rec->u.user_end;
        u->nmailboxes = mf_cur_uv(c);
        u->nmessages = mf_cur_uv(c);
        u->nextras = mf_cur_uvmax(c, MF_EXTRAS_MAX);
        return c->bad ? -1 : 0;
    }
    case MF_REC_MAILBOX_END: {
        struct mf_rec_mailbox_end *m = &rec->u.mailbox_end;
        const uint8_t *h;
        m->nmessages = mf_cur_uvmax(c, UINT32_MAX);
        h = mf_cur_bytes(c, MF_HASH_BYTES);
        if (h != NULL)
            memcpy(m->state, h, MF_HASH_BYTES);
        return c->bad ? -1 : 0;
    }
    case MF_REC_END:
        rec->u.end.records = mf_cur_uv(c);
        return c->bad ? -1 : 0;
    case MF_REC_MAILBOX_DELTA: {
        struct mf_rec_mailbox_delta *md = &rec->u.mailbox_delta;
        md->kind = mf_cur_u8(c);
        md->base_stored = cur_mstr(c, MF_MAILBOX_NAME_MAX);
        md->base_uidvalidity = (uint32_t)mf_cur_uvmax(c, UINT32_MAX);
        md->base_uidnext = (uint32_t)mf_cur_uvmax(c, UINT32_MAX);
        if (c->bad)
            return -1;
        if (md->kind > MF_DELTA_RESET || !no_nul(md->base_stored) ||
            (md->kind == MF_DELTA_NEW) !=
                (md->base_stored.n == 0 && md->base_uidvalidity == 0 && md->base_uidnext == 0)) {
            *why = "mailbox delta kind or base fields";
            return -1;
        }
        return 0;
    }
    case MF_REC_EXPUNGE: {
        struct mf_rec_expunge *e = &rec->u.expunge;
        uint64_t n = mf_cur_uvmax(c, UINT32_MAX);
        uint64_t next = 1;
        if (c->bad || n == 0 || n > mf_cur_left(c) / 2) {
            *why = "expunge range count";
            return -1;
        }
        if (grow((void **)&d->ranges, &d->ranges_cap, (size_t)n, sizeof *d->ranges) < 0) {
            *why = NULL;
            return -1;
        }
        for (uint64_t i = 0; i < n; i++) {
            uint64_t first = mf_cur_uvmax(c, UINT32_MAX - 1), count = mf_cur_uvmax(c, UINT32_MAX);
            if (c->bad || first < next || count == 0 || first + count > UINT32_MAX) {
                *why = "expunge ranges not ascending, empty or out of range";
                return -1;
            }
            d->ranges[i].first = (uint32_t)first;
            d->ranges[i].count = (uint32_t)count;
            next = first + count;
        }
        e->nranges = (uint32_t)n;
        e->ranges = d->ranges;
        return 0;
    }
    case MF_REC_FLAGS: {
        struct mf_rec_flags *f = &rec->u.flags;
        f->uid = (uint32_t)mf_cur_uvmax(c, UINT32_MAX - 1);
        f->old_flags = mf_cur_u8(c);
        f->new_flags = mf_cur_u8(c);
        f->other_flags = cur_mstr(c, MF_OTHER_FLAGS_MAX);
        if (c->bad)
            return -1;
        if (dec_u32s(c, &d->u32s, &d->u32s_cap, MF_KEYWORDS_MAX, MF_KEYWORDS_MAX - 1, &f->nadded,
                     &f->added) < 0 ||
            dec_u32s(c, &d->u32s2, &d->u32s2_cap, MF_KEYWORDS_MAX, MF_KEYWORDS_MAX - 1,
                     &f->nremoved, &f->removed) < 0) {
            *why = "flag change keywords";
            return -1;
        }
        if (f->uid == 0 || ((f->old_flags | f->new_flags) & ~MF_FLAGS_ALL) != 0 ||
            !no_nul(f->other_flags)) {
            *why = "flag change uid or flags";
            return -1;
        }
        return 0;
    }
    case MF_REC_MAILBOX_GONE: {
        struct mf_rec_mailbox_gone *g = &rec->u.mailbox_gone;
        const uint8_t *gp = mf_cur_bytes(c, MF_GUID_BYTES);
        if (gp != NULL)
            memcpy(g->guid, gp, MF_GUID_BYTES);
        g->base_stored = cur_mstr(c, MF_MAILBOX_NAME_MAX);
        if (c->bad)
            return -1;
        if (!no_nul(g->base_stored)) {
            *why = "removed mailbox name";
            return -1;
        }
        return 0;
    }
    case MF_REC_USER_GONE: {
        struct mf_rec_user_gone *g = &rec->u.user_gone;
        g->name = cur_mstr(c, MF_USER_NAME_MAX);
        if (c->bad)
            return -1;
        if (g->name.n == 0 || !no_nul(g->name)) {
            *why = "removed user name";
            return -1;
        }
        return 0;
    }
    default:
        *why = "unknown record type";
        return -1;
    }
}

int mf_idx_dec_next(struct mf_idx_dec *d, struct mf_record *rec, struct mf_error *err)
{
    struct mf_cur c, pc;
    uint8_t type;
    uint64_t len;
    const uint8_t *payload;
    const char *why = NULL;
    size_t start;
    for (;;) {
        if (d->off >= d->n)
            return 0;
        start = d->off;
        mf_cur_init(&c, d->p + d->off, d->n - d->off);
        type = mf_cur_u8(&c);
        len = mf_cur_uvmax(&c, MF_RECORD_MAX);
        payload = c.bad ? NULL : mf_cur_bytes(&c, (size_t)len);
        if (payload == NULL)
            return mf_err(err, MF_ECORRUPT, "%s: record at offset %zu: bad length or truncated",
                          d->name, start);
        d->off += c.off;
        if (type >= 0x80)
            continue;  /* optional extension record: skip */
        break;
    }
    memset(rec, 0, sizeof *rec);
    rec->type = (enum mf_rec_type)type;
    mf_cur_init(&pc, payload, (size_t)len);
    if (dec_payload(d, type, &pc, rec, &why) < 0) {
        if (why == NULL)
            return mf_err_nomem(err);
        return mf_err(err, MF_ECORRUPT, "%s: record 0x%02x at offset %zu: %s", d->name, type, start,
                      why);
    }
    if (pc.bad || mf_cur_left(&pc) != 0)
        return mf_err(err, MF_ECORRUPT, "%s: record 0x%02x at offset %zu: %s", d->name, type,
                      start, pc.bad ? "truncated" : "trailing bytes");
    return 1;
}
