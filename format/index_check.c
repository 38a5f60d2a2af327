/* index_check.c: whole-stream validation of the index. */
#include "index_check.h"
#include "mem.h"

#include <string.h>

/* P_MBDELTA: after a delta's MAILBOX, before its MAILBOX_DELTA; P_CHANGES:
 * after a FLAGS or EXPUNGE (no more MESSAGE records) */
enum phase { P_HEADER, P_PACKS, P_TOP, P_USER, P_MBDELTA, P_MAILBOX, P_CHANGES, P_END };

struct mf_index_check {
    const struct mf_manifest *m;
    enum phase ph;
    struct mf_rec_header h;
    struct mf_frame_loc *frames;
    uint64_t nframes_seen;
    uint32_t next_pack;
    uint64_t records;
    /* running counts */
    uint64_t users, mailboxes, messages, extras, refs;
    uint64_t message_bytes;
    uint64_t u_mailboxes, u_messages, u_extras;
    uint64_t mb_messages;
    uint32_t mb_nkw, mb_uidnext, last_uid;
    struct mf_buf last_user, last_mbox;
    int have_user, have_mbox;
    /* delta archives */
    int delta;
    uint8_t mb_kind;                  /* the mailbox's MAILBOX_DELTA kind */
    uint32_t last_flags_uid;
    int mb_expunged;                  /* EXPUNGE seen in this mailbox */
    uint32_t *mb_uids;                /* MESSAGE UIDs of a kind 0 mailbox */
    size_t mb_nuids, mb_uids_cap;
    int mbox_gone, user_gone;         /* *_GONE records have started */
    uint8_t last_gone_guid[MF_GUID_BYTES];
    uint64_t chain_messages;          /* messages with a chain reference */
};

int mf_index_check_new(struct mf_index_check **c_r, const struct mf_manifest *m,
                       struct mf_error *err)
{
    struct mf_index_check *c = mf_calloc(1, sizeof *c);
    *c_r = NULL;
    if (c == NULL)
        return mf_err_nomem(err);
    c->m = m;
    c->ph = P_HEADER;
    c->next_pack = 1;
    mf_buf_init(&c->last_user);
    mf_buf_init(&c->last_mbox);
    *c_r = c;
    return 0;
}

void mf_index_check_free(struct mf_index_check **cp)
{
    struct mf_index_check *c = *cp;
    if (c == NULL)
        return;
    *cp = NULL;
    mf_free(c->frames);
    mf_free(c->mb_uids);
    mf_buf_free(&c->last_user);
    mf_buf_free(&c->last_mbox);
    mf_free(c);
}

const struct mf_rec_header *mf_index_check_header(const struct mf_index_check *c)
{
    return &c->h;
}

uint64_t mf_index_check_chain_messages(const struct mf_index_check *c)
{
    return c->chain_messages;
}

const struct mf_frame_loc *mf_index_check_frames(const struct mf_index_check *c, size_t *n_r)
{
    *n_r = (size_t)c->h.frames;
    return c->frames;
}

static int strictly_after(struct mf_buf *last, int have, struct mf_str s)
{
    size_t n;
    int r;
    if (!have)
        return 1;
    n = last->len < s.n ? last->len : s.n;
    r = n == 0 ? 0 : memcmp(last->p, s.p, n);
    return r < 0 || (r == 0 && last->len < s.n);
}

#define BAD(...) mf_err(err, MF_ECORRUPT, "index: " __VA_ARGS__)

static int check_refs(struct mf_index_check *c, const struct mf_blobref *refs, uint32_t n,
                      uint64_t size, int chain_ok, struct mf_error *err)
{
    uint64_t sum = 0;
    int chain = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct mf_blobref *r = &refs[i];
        const struct mf_frame_loc *f;
        if (r->loc == MF_LOC_CHAIN) {
            if (!chain_ok)
                return BAD("a reference to the base chain outside a delta's message");
            if (r->len == 0)
                return BAD("empty blob reference");
            chain = 1;
            sum += r->len;
            continue;
        }
        if (r->frame >= c->h.frames)
            return BAD("blob reference to frame %u, but the archive has %llu frames", r->frame,
                       (unsigned long long)c->h.frames);
        f = &c->frames[r->frame];
        if (r->len == 0 || (uint64_t)r->offset + r->len > f->rsize)
            return BAD("blob reference past the end of frame %u", r->frame);
        sum += r->len;
    }
    if (sum != size)
        return BAD("blob lengths add up to %llu bytes, the record says %llu",
                   (unsigned long long)sum, (unsigned long long)size);
    c->refs += n;
    c->chain_messages += chain;
    return 0;
}

static int uid_in(const uint32_t *v, size_t n, uint32_t uid)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] == uid)
            return 1;
        if (v[mid] < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static int check_kw_list(struct mf_index_check *c, const uint32_t *kw, uint32_t n,
                         struct mf_error *err)
{
    for (uint32_t i = 0; i < n; i++)
        if (kw[i] >= c->mb_nkw)
            return BAD("flag change uses keyword %u of %u", kw[i], c->mb_nkw);
    return 0;
}

static int has_ctl(struct mf_str s)
{
    for (size_t i = 0; i < s.n; i++)
        if ((unsigned char)s.p[i] < 0x20 || s.p[i] == 0x7f)
            return 1;
    return 0;
}

static int check_pack(struct mf_index_check *c, const struct mf_rec_pack *p,
                      struct mf_error *err)
{
    const struct mf_member_info *mi;
    uint64_t off = 0;
    if (p->pack != c->next_pack || p->pack > c->m->npacks)
        return BAD("pack record %u out of sequence", p->pack);
    mi = &c->m->members[1 + c->m->nindex + (p->pack - 1)];
    for (uint32_t i = 0; i < p->nframes; i++) {
        const struct mf_frame_info *f = &p->frames[i];
        struct mf_frame_loc *loc;
        if (f->id >= c->h.frames)
            return BAD("pack %u lists frame %u, but the archive has %llu frames", p->pack, f->id,
                       (unsigned long long)c->h.frames);
        loc = &c->frames[f->id];
        if (loc->present)
            return BAD("frame %u listed twice", f->id);
        loc->present = 1;
        loc->pack = p->pack;
        loc->offset = off;
        loc->csize = (uint32_t)f->csize;
        loc->rsize = (uint32_t)f->rsize;
        memcpy(loc->hash, f->hash, MF_HASH_BYTES);
        /* an encrypted frame is stored with its 16-byte tag (spec 15.1) */
        off += f->csize + (c->m->encrypted ? MF_SEAL_TAG_BYTES : 0);
        c->nframes_seen++;
    }
    if (off != mi->size)
        return BAD("frames of pack %u add up to %llu bytes, the member has %llu", p->pack,
                   (unsigned long long)off, (unsigned long long)mi->size);
    c->next_pack++;
    return 0;
}

static int enter_top(struct mf_index_check *c, struct mf_error *err)
{
    if (c->next_pack != c->m->npacks + 1)
        return BAD("%zu packs in the manifest, %u pack records", c->m->npacks, c->next_pack - 1);
    if (c->nframes_seen != c->h.frames)
        return BAD("header says %llu frames, pack records list %llu",
                   (unsigned long long)c->h.frames, (unsigned long long)c->nframes_seen);
    c->ph = P_TOP;
    return 0;
}

int mf_index_check_record(struct mf_index_check *c, const struct mf_record *rec,
                          struct mf_error *err)
{
    if (c->ph == P_END)
        return BAD("records after END");
    if (rec->type != MF_REC_END)
        c->records++;
    switch (rec->type) {
    case MF_REC_HEADER: {
        const struct mf_rec_header *h = &rec->u.header;
        if (c->ph != P_HEADER)
            return BAD("HEADER record not first");
        if (h->kind != c->m->kind)
            return BAD("archive kind differs from the manifest");
        if (memcmp(h->archive_id, c->m->archive_id, MF_ARCHIVE_ID_BYTES) != 0)
            return BAD("archive id differs from the manifest (index of another archive)");
        if (h->packs != c->m->npacks)
            return BAD("header says %llu packs, the manifest lists %zu",
                       (unsigned long long)h->packs, c->m->npacks);
        /* the frame table is allocated from this count before any PACK record
         * is read, so bound it by what the declared packs can hold: a pack has
         * at most MF_FRAMES_PER_PACK_MAX frames, each at least MF_FRAME_BYTES_MIN
         * bytes long (spec 11) */
        {
            uint64_t most = 0;
            for (size_t i = 0; i < c->m->npacks; i++) {
                uint64_t n = c->m->members[1 + c->m->nindex + i].size / MF_FRAME_BYTES_MIN;
                most += n < MF_FRAMES_PER_PACK_MAX ? n : MF_FRAMES_PER_PACK_MAX;
            }
            if (most > MF_FRAMES_MAX)
                most = MF_FRAMES_MAX;
            if (h->frames > most)
                return BAD("header says %llu frames, more than the packs can hold (%llu)",
                           (unsigned long long)h->frames, (unsigned long long)most);
        }
        c->h = *h;
        c->delta = h->kind == MF_KIND_DELTA;
        if (h->frames > 0) {
            c->frames = mf_calloc((size_t)h->frames, sizeof *c->frames);
            if (c->frames == NULL)
                return mf_err_nomem(err);
        }
        c->ph = P_PACKS;
        return 0;
    }
    case MF_REC_PACK:
        if (c->ph != P_PACKS)
            return BAD("PACK record out of place");
        return check_pack(c, &rec->u.pack, err);
    case MF_REC_USER: {
        const struct mf_rec_user *u = &rec->u.user;
        if (c->ph == P_PACKS && enter_top(c, err) < 0)
            return -1;
        if (c->ph != P_TOP || c->user_gone)
            return BAD("USER record out of place");
        if (!mf_utf8_printable(u->name.p, u->name.n))
            return BAD("user name is not printable UTF-8");
        if (!strictly_after(&c->last_user, c->have_user, u->name))
            return BAD("user %.*s out of order or repeated", (int)u->name.n, u->name.p);
        mf_buf_reset(&c->last_user);
        if (mf_buf_append(&c->last_user, u->name.p, u->name.n) < 0)
            return mf_err_nomem(err);
        c->have_user = 1;
        c->have_mbox = 0;
        c->mbox_gone = 0;
        c->u_mailboxes = c->u_messages = c->u_extras = 0;
        c->users++;
        c->ph = P_USER;
        return 0;
    }
    case MF_REC_EXTRA:
        if (c->ph != P_USER || c->have_mbox)
            return BAD("EXTRA record out of place");
        c->u_extras++;
        c->extras++;
        return check_refs(c, rec->u.extra.refs, rec->u.extra.nrefs, rec->u.extra.size, 0, err);
    case MF_REC_MAILBOX: {
        const struct mf_rec_mailbox *m = &rec->u.mailbox;
        if (c->ph != P_USER || c->mbox_gone)
            return BAD("MAILBOX record out of place");
        if (!strictly_after(&c->last_mbox, c->have_mbox, m->stored))
            return BAD("mailbox %.*s out of order or repeated", (int)m->stored.n, m->stored.p);
        for (uint32_t i = 0; i < m->ncomponents; i++)
            if (m->components[i].n == 0 ||
                !mf_utf8_printable(m->components[i].p, m->components[i].n))
                return BAD("mailbox name part %u of %.*s is empty or not printable UTF-8", i,
                           (int)m->stored.n, m->stored.p);
        for (uint32_t i = 0; i < m->nkeywords; i++)
            if (m->keywords[i].n == 0 || !mf_utf8_printable(m->keywords[i].p, m->keywords[i].n))
                return BAD("keyword %u of mailbox %.*s is empty or not printable", i,
                           (int)m->stored.n, m->stored.p);
        mf_buf_reset(&c->last_mbox);
        if (mf_buf_append(&c->last_mbox, m->stored.p, m->stored.n) < 0)
            return mf_err_nomem(err);
        c->have_mbox = 1;
        c->mb_messages = 0;
        c->mb_nkw = m->nkeywords;
        c->mb_uidnext = m->uidnext;
        c->last_uid = 0;
        c->last_flags_uid = 0;
        c->mb_expunged = 0;
        c->mb_nuids = 0;
        c->u_mailboxes++;
        c->mailboxes++;
        c->ph = c->delta ? P_MBDELTA : P_MAILBOX;
        return 0;
    }
    case MF_REC_MAILBOX_DELTA:
        if (c->ph != P_MBDELTA)
            return BAD("MAILBOX_DELTA record out of place");
        c->mb_kind = rec->u.mailbox_delta.kind;
        c->ph = P_MAILBOX;
        return 0;
    case MF_REC_FLAGS: {
        const struct mf_rec_flags *f = &rec->u.flags;
        if (!c->delta || (c->ph != P_MAILBOX && c->ph != P_CHANGES) ||
            c->mb_kind != MF_DELTA_CHANGES || c->mb_expunged)
            return BAD("FLAGS record out of place");
        if (f->uid <= c->last_flags_uid)
            return BAD("flag changes not in ascending UID order (%u after %u)", f->uid,
                       c->last_flags_uid);
        if (f->uid >= c->mb_uidnext || uid_in(c->mb_uids, c->mb_nuids, f->uid))
            return BAD("flag change of UID %u, which is not a base message", f->uid);
        if (check_kw_list(c, f->added, f->nadded, err) < 0 ||
            check_kw_list(c, f->removed, f->nremoved, err) < 0)
            return -1;
        c->last_flags_uid = f->uid;
        c->ph = P_CHANGES;
        return 0;
    }
    case MF_REC_EXPUNGE: {
        const struct mf_rec_expunge *e = &rec->u.expunge;
        if (!c->delta || (c->ph != P_MAILBOX && c->ph != P_CHANGES) ||
            c->mb_kind != MF_DELTA_CHANGES || c->mb_expunged)
            return BAD("EXPUNGE record out of place");
        for (uint32_t i = 0; i < e->nranges; i++) {
            uint64_t end = (uint64_t)e->ranges[i].first + e->ranges[i].count;
            if (end > c->mb_uidnext)
                return BAD("expunged UIDs reach past the mailbox's UIDNEXT");
            for (size_t k = 0; k < c->mb_nuids; k++)
                if (c->mb_uids[k] >= e->ranges[i].first && c->mb_uids[k] < end)
                    return BAD("UID %u is both added and expunged", c->mb_uids[k]);
        }
        c->mb_expunged = 1;
        c->ph = P_CHANGES;
        return 0;
    }
    case MF_REC_MAILBOX_GONE: {
        const struct mf_rec_mailbox_gone *g = &rec->u.mailbox_gone;
        if (!c->delta || c->ph != P_USER)
            return BAD("MAILBOX_GONE record out of place");
        if (c->mbox_gone && memcmp(g->guid, c->last_gone_guid, MF_GUID_BYTES) <= 0)
            return BAD("removed mailboxes out of order or repeated");
        memcpy(c->last_gone_guid, g->guid, MF_GUID_BYTES);
        c->mbox_gone = 1;
        return 0;
    }
    case MF_REC_USER_GONE: {
        const struct mf_rec_user_gone *g = &rec->u.user_gone;
        if (!c->delta)
            return BAD("USER_GONE record out of place");
        if (c->ph == P_PACKS && enter_top(c, err) < 0)
            return -1;
        if (c->ph != P_TOP)
            return BAD("USER_GONE record out of place");
        if (!mf_utf8_printable(g->name.p, g->name.n))
            return BAD("removed user name is not printable UTF-8");
        if (!c->user_gone) {
            mf_buf_reset(&c->last_user);
            c->have_user = 0;
        }
        if (!strictly_after(&c->last_user, c->have_user, g->name))
            return BAD("removed user %.*s out of order or repeated", (int)g->name.n, g->name.p);
        mf_buf_reset(&c->last_user);
        if (mf_buf_append(&c->last_user, g->name.p, g->name.n) < 0)
            return mf_err_nomem(err);
        c->have_user = 1;
        c->user_gone = 1;
        return 0;
    }
    case MF_REC_MESSAGE: {
        const struct mf_rec_message *m = &rec->u.message;
        if (c->ph != P_MAILBOX)
            return BAD("MESSAGE record out of place");
        if (c->delta && c->mb_kind == MF_DELTA_CHANGES) {
            if (c->mb_nuids == c->mb_uids_cap) {
                size_t nc = c->mb_uids_cap ? c->mb_uids_cap * 2 : 64;
                uint32_t *nv = mf_realloc(c->mb_uids, nc * sizeof *nv);
                if (nv == NULL)
                    return mf_err_nomem(err);
                c->mb_uids = nv;
                c->mb_uids_cap = nc;
            }
            c->mb_uids[c->mb_nuids++] = m->uid;
        }
        if (m->uid <= c->last_uid)
            return BAD("message UIDs not ascending (%u after %u)", m->uid, c->last_uid);
        if (m->uid >= c->mb_uidnext)
            return BAD("message UID %u not below the mailbox's UIDNEXT %u", m->uid, c->mb_uidnext);
        for (uint32_t i = 0; i < m->nkeywords; i++)
            if (m->keywords[i] >= c->mb_nkw)
                return BAD("message %u uses keyword %u of %u", m->uid, m->keywords[i], c->mb_nkw);
        /* both become dbox metadata lines: a control character would end or forge one */
        if (has_ctl(m->guid) || has_ctl(m->pop3_uidl))
            return BAD("message %u: control character in its GUID or POP3 UIDL", m->uid);
        if (m->vsize < m->size)
            return BAD("message %u: virtual size below physical size", m->uid);
        c->last_uid = m->uid;
        c->mb_messages++;
        c->u_messages++;
        c->messages++;
        if (mf_add_u64(c->message_bytes, m->size, &c->message_bytes) < 0)
            return BAD("message sizes add up past 2^64");
        return check_refs(c, m->refs, m->nrefs, m->size, c->delta, err);
    }
    case MF_REC_MAILBOX_END:
        if (c->ph != P_MAILBOX && c->ph != P_CHANGES)
            return BAD("MAILBOX_END record out of place");
        if (rec->u.mailbox_end.nmessages != c->mb_messages)
            return BAD("mailbox %.*s: %llu messages announced, %llu present",
                       (int)c->last_mbox.len, (const char *)c->last_mbox.p,
                       (unsigned long long)rec->u.mailbox_end.nmessages,
                       (unsigned long long)c->mb_messages);
        c->ph = P_USER;
        return 0;
    case MF_REC_USER_END: {
        const struct mf_rec_user_end *u = &rec->u.user_end;
        if (c->ph != P_USER)
            return BAD("USER_END record out of place");
        if (u->nmailboxes != c->u_mailboxes || u->nmessages != c->u_messages ||
            u->nextras != c->u_extras)
            return BAD("user %.*s: counts do not match its records", (int)c->last_user.len,
                       (const char *)c->last_user.p);
        c->ph = P_TOP;
        return 0;
    }
    case MF_REC_END:
        if (c->ph == P_PACKS && enter_top(c, err) < 0)
            return -1;
        if (c->ph != P_TOP)
            return BAD("END record out of place");
        if (rec->u.end.records != c->records)
            return BAD("END says %llu records, %llu present",
                       (unsigned long long)rec->u.end.records, (unsigned long long)c->records);
        if (c->users != c->h.users || c->mailboxes != c->h.mailboxes ||
            c->messages != c->h.messages || c->extras != c->h.extras || c->refs != c->h.refs)
            return BAD("header counts do not match the records");
        if (c->message_bytes != c->h.message_bytes)
            return BAD("header says %llu message bytes, the messages add up to %llu",
                       (unsigned long long)c->h.message_bytes,
                       (unsigned long long)c->message_bytes);
        c->ph = P_END;
        return 0;
    }
    return BAD("unexpected record type 0x%02x", rec->type);
}

int mf_index_check_done(struct mf_index_check *c, struct mf_error *err)
{
    if (c->ph != P_END)
        return BAD("ends without an END record (truncated index)");
    return 0;
}
