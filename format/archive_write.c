/* archive_write.c: the public writer. It owns the grammar of the index
 * (user / mailbox / message nesting and order), deduplication, the index
 * spool, and the final assembly of the archive:
 *   FORMAT, MANIFEST, MANIFEST.minisig, index/000001.., packs/000001..
 * Index records are kept in memory up to a bound and spilled to a temporary
 * file; packs are spooled by pack_writer.c. */
#include "archive_write.h"
#include "blobset.h"
#include "container.h"
#include "encrypt.h"
#include "frame.h"
#include "fsutil.h"
#include "hash.h"
#include "mem.h"
#include "pack_writer.h"
#include "pool.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char mf_format_text[] =
    "mailferry archive\n"
    "format 1\n"
    "This is an uncompressed POSIX tar file. MANIFEST names every other member\n"
    "with its size and BLAKE2b-512 digest and is signed in MANIFEST.minisig\n"
    "(minisign format). The format is specified in spec/FORMAT.md of mailferry.\n";

#define INDEX_MEM_MAX (4u * 1024 * 1024)

/* ST_MBDELTA: a delta's mailbox before its MAILBOX_DELTA; ST_CHANGES: after
 * FLAGS or EXPUNGE records; ST_GONE: after MAILBOX_GONE records (user) or
 * USER_GONE records (top) */
enum state {
    ST_TOP, ST_USER, ST_MBDELTA, ST_MAILBOX, ST_MESSAGE, ST_CHANGES, ST_FINISHED, ST_FAILED
};

struct mf_writer {
    struct mf_writer_opts o;
    enum state st;
    struct mf_packw *packs;
    struct mf_blobset *seen;
    struct mf_writer_stats stats;
    /* index spool */
    struct mf_buf idx;     /* records not yet spilled */
    struct mf_buf scratch;
    int idx_fd;            /* spill file, -1 until needed */
    uint64_t idx_spilled;
    uint64_t nrecords;
    /* ordering checks */
    struct mf_buf last_user;
    struct mf_buf last_mailbox;
    int have_mailbox;
    uint32_t last_uid;
    /* current user / mailbox / message */
    struct mf_rec_user_end uend;
    uint64_t mbox_messages;
    struct mf_hasher state;
    char **kw;             /* current mailbox keyword names (copied, NUL-terminated) */
    size_t *kwlen;
    uint32_t nkw;
    struct mf_rec_message msg;  /* borrowed strings copied into msgstr */
    struct mf_buf msgstr;
    uint32_t *msgkw;
    struct mf_blobref *refs;
    size_t nrefs, refs_cap;
    /* content stored ahead of its record */
    int in_content;
    struct mf_blobref *crefs;
    size_t ncrefs, crefs_cap;
    uint64_t csize;
    /* delta */
    uint8_t mb_kind;
    int state_given, mbox_gone, user_gone, expunged;
    uint8_t given_state[MF_HASH_BYTES];
    uint32_t last_flags_uid;
    /* result */
    struct mf_manifest manifest;
    struct mf_filekey *fkey;  /* encrypted archives */
    uint8_t archive_id[MF_ARCHIVE_ID_BYTES];
    int64_t created;
};

static int emit_message(struct mf_writer *w, struct mf_error *err);

static int fail(struct mf_writer *w)
{
    w->st = ST_FAILED;
    return -1;
}

static int bad_state(struct mf_writer *w, struct mf_error *err, const char *what)
{
    mf_err(err, MF_EINTERNAL, "archive writer: %s called in the wrong state", what);
    return fail(w);
}

int mf_writer_open(struct mf_writer **w_r, const struct mf_writer_opts *o, struct mf_error *err)
{
    struct mf_writer *w = mf_calloc(1, sizeof *w);
    size_t targets[MF_BLOB_KINDS];
    static const uint8_t zero[MF_ARCHIVE_ID_BYTES];
    size_t pack_target;
    int threads;
    *w_r = NULL;
    if (w == NULL)
        return mf_err_nomem(err);
    w->o = *o;
    if (w->o.level == 0)
        w->o.level = 3;
    if (w->o.tmpdir == NULL)
        w->o.tmpdir = mf_tmpdir();
    threads = w->o.threads < 0 ? mf_cpu_count() : w->o.threads;
    w->idx_fd = -1;
    mf_buf_init(&w->idx);
    mf_buf_init(&w->scratch);
    mf_buf_init(&w->last_user);
    mf_buf_init(&w->last_mailbox);
    mf_buf_init(&w->msgstr);
    targets[MF_BLOB_HEADER] = o->frame_target[MF_BLOB_HEADER] ? o->frame_target[MF_BLOB_HEADER]
                                                              : MF_HEADER_FRAME_TARGET;
    targets[MF_BLOB_TEXT] =
        o->frame_target[MF_BLOB_TEXT] ? o->frame_target[MF_BLOB_TEXT] : MF_BODY_FRAME_TARGET;
    targets[MF_BLOB_PART] =
        o->frame_target[MF_BLOB_PART] ? o->frame_target[MF_BLOB_PART] : MF_BODY_FRAME_TARGET;
    w->seen = mf_blobset_new();
    if (w->seen == NULL) {
        mf_writer_free(&w);
        return mf_err_nomem(err);
    }
    pack_target = o->pack_target == 0 ? MF_PACK_TARGET : o->pack_target;
    if (o->volume_size != 0) {
        if (o->volume_size < MF_VOLUME_SIZE_MIN) {
            mf_writer_free(&w);
            return mf_err(err, MF_EUSAGE, "a volume must hold at least %llu bytes",
                          (unsigned long long)MF_VOLUME_SIZE_MIN);
        }
        /* a pack may pass its target by one frame; four packs fit a volume */
        if (pack_target > o->volume_size / 4)
            pack_target = (size_t)(o->volume_size / 4);
    }
    if (o->nrecipients > MF_RECIPIENTS_MAX) {
        mf_writer_free(&w);
        return mf_err(err, MF_EUSAGE, "at most %u recipients", MF_RECIPIENTS_MAX);
    }
    if (mf_packw_open(&w->packs, w->o.level, threads, w->o.tmpdir, targets, pack_target, err) <
        0) {
        mf_writer_free(&w);
        return -1;
    }
    if (memcmp(o->fixed_id, zero, sizeof zero) != 0)
        memcpy(w->archive_id, o->fixed_id, sizeof w->archive_id);
    else
        randombytes_buf(w->archive_id, sizeof w->archive_id);
    if (o->nrecipients > 0) {
        if (mf_filekey_new(&w->fkey, err) < 0) {
            mf_writer_free(&w);
            return -1;
        }
        mf_packw_set_seal(w->packs, w->fkey, w->archive_id);
    }
    w->created = o->fixed_created != 0 ? o->fixed_created : (int64_t)time(NULL);
    w->st = ST_TOP;
    *w_r = w;
    return 0;
}

/* Moves buffered index records to the spill file when the buffer is big. */
static int idx_maybe_spill(struct mf_writer *w, int force, struct mf_error *err)
{
    if (w->idx.oom)
        return mf_err_nomem(err);
    if (!force && w->idx.len < INDEX_MEM_MAX)
        return 0;
    if (w->idx.len == 0)
        return 0;
    if (w->idx_fd < 0) {
        w->idx_fd = mf_spool_open(w->o.tmpdir, err);
        if (w->idx_fd < 0)
            return -1;
    }
    if (mf_write_all(w->idx_fd, w->idx.p, w->idx.len, "index spool", err) < 0)
        return -1;
    w->idx_spilled += w->idx.len;
    mf_buf_reset(&w->idx);
    return 0;
}

static int record_done(struct mf_writer *w, int r, struct mf_error *err)
{
    if (r < 0) {
        mf_err_nomem(err);
        return fail(w);
    }
    w->nrecords++;
    if (idx_maybe_spill(w, 0, err) < 0)
        return fail(w);
    return 0;
}

/* strictly ascending byte order, used for user names and stored mailbox names */
static int ascending(struct mf_buf *last, int have_last, struct mf_str next)
{
    size_t n;
    int c;
    if (!have_last)
        return 1;
    n = last->len < next.n ? last->len : next.n;
    c = n == 0 ? 0 : memcmp(last->p, next.p, n);
    return c < 0 || (c == 0 && last->len < next.n);
}

static int set_last(struct mf_buf *last, struct mf_str s)
{
    mf_buf_reset(last);
    return mf_buf_append(last, s.p, s.n);
}

int mf_writer_begin_user(struct mf_writer *w, const struct mf_rec_user *u, struct mf_error *err)
{
    if (w->st != ST_TOP || w->user_gone)
        return bad_state(w, err, "begin_user");
    if (u->name.n == 0 || u->name.n > MF_USER_NAME_MAX || memchr(u->name.p, '\0', u->name.n))
        return mf_err(err, MF_EUSAGE, "invalid user name"), fail(w);
    if (!ascending(&w->last_user, w->stats.users > 0, u->name)) {
        mf_err(err, MF_EUSAGE, "user %.*s: users must be unique and in ascending order",
               (int)u->name.n, u->name.p);
        return fail(w);
    }
    if (set_last(&w->last_user, u->name) < 0)
        return mf_err_nomem(err), fail(w);
    memset(&w->uend, 0, sizeof w->uend);
    w->have_mailbox = 0;
    w->mbox_gone = 0;
    w->stats.users++;
    w->st = ST_USER;
    return record_done(w, mf_enc_user(&w->idx, &w->scratch, u), err);
}

/* Stores one blob (deduplicated) and appends its reference to refs; the id
 * is computed here unless given. */
static int store_blob_id(struct mf_writer *w, int kind, const void *p, size_t n,
                         const uint8_t *id, struct mf_blobref **refs, size_t *nrefs, size_t *cap,
                         struct mf_error *err)
{
    struct mf_blobref *r;
    struct mf_blobloc loc;
    if (*nrefs == *cap) {
        size_t ncap = *cap == 0 ? 16 : *cap * 2;
        struct mf_blobref *nr;
        if (ncap > MF_REFS_MAX)
            ncap = MF_REFS_MAX;
        if (*nrefs >= ncap)
            return mf_err(err, MF_EUSAGE, "message has too many parts (over %u blobs)",
                          MF_REFS_MAX);
        nr = mf_realloc(*refs, ncap * sizeof *nr);
        if (nr == NULL)
            return mf_err_nomem(err);
        *refs = nr;
        *cap = ncap;
    }
    r = &(*refs)[*nrefs];
    memset(r, 0, sizeof *r);
    r->flags = MF_REF_HAS_ID;
    if (id != NULL)
        memcpy(r->id, id, MF_HASH_BYTES);
    else
        mf_hash(MF_HK_BLOB, r->id, p, n);
    r->len = n;
    r->loc = MF_LOC_FRAME;
    if (mf_blobset_get(w->seen, r->id, &loc) && loc.len == n) {
        r->frame = loc.frame;
        r->offset = loc.offset;
        w->stats.dedup_bytes += n;
    } else {
        if (mf_packw_add(w->packs, kind, p, n, &r->frame, &r->offset, err) < 0)
            return -1;
        loc.frame = r->frame;
        loc.offset = r->offset;
        loc.len = (uint32_t)n;
        if (mf_blobset_put(w->seen, r->id, &loc) < 0)
            return mf_err_nomem(err);
        w->stats.stored_bytes += n;
    }
    (*nrefs)++;
    return 0;
}

static int store_blob(struct mf_writer *w, int kind, const void *p, size_t n,
                      struct mf_blobref **refs, size_t *nrefs, size_t *cap, struct mf_error *err)
{
    return store_blob_id(w, kind, p, n, NULL, refs, nrefs, cap, err);
}

static int add_blob(struct mf_writer *w, int kind, const void *p, size_t n, struct mf_error *err)
{
    if (store_blob(w, kind, p, n, &w->refs, &w->nrefs, &w->refs_cap, err) < 0)
        return -1;
    w->stats.blob_refs++;
    return 0;
}

int mf_writer_extra(struct mf_writer *w, const struct mf_rec_extra *x, const void *content,
                    size_t len, struct mf_error *err)
{
    struct mf_rec_extra e = *x;
    const uint8_t *p = content;
    if (w->st != ST_USER || w->have_mailbox)
        return bad_state(w, err, "extra");
    if (len > MF_EXTRA_MAX)
        return mf_err(err, MF_EUSAGE, "extra file %.*s is too large", (int)x->path.n, x->path.p),
               fail(w);
    w->nrefs = 0;
    for (size_t off = 0; off < len; off += MF_BLOB_MAX) {
        size_t n = len - off > MF_BLOB_MAX ? MF_BLOB_MAX : len - off;
        if (add_blob(w, MF_BLOB_TEXT, p + off, n, err) < 0)
            return fail(w);
    }
    e.size = len;
    e.nrefs = (uint32_t)w->nrefs;
    e.refs = w->refs;
    w->uend.nextras++;
    w->stats.extras++;
    return record_done(w, mf_enc_extra(&w->idx, &w->scratch, &e), err);
}

static void free_keywords(struct mf_writer *w)
{
    for (uint32_t i = 0; i < w->nkw; i++)
        mf_free(w->kw[i]);
    mf_free(w->kw);
    mf_free(w->kwlen);
    w->kw = NULL;
    w->kwlen = NULL;
    w->nkw = 0;
}

int mf_writer_begin_mailbox(struct mf_writer *w, const struct mf_rec_mailbox *m,
                            struct mf_error *err)
{
    if (w->st != ST_USER || w->mbox_gone)
        return bad_state(w, err, "begin_mailbox");
    if (!ascending(&w->last_mailbox, w->have_mailbox, m->stored)) {
        mf_err(err, MF_EUSAGE, "mailbox %.*s: mailboxes must be unique and in ascending order",
               (int)m->stored.n, m->stored.p);
        return fail(w);
    }
    if (m->nkeywords > MF_KEYWORDS_MAX || m->ncomponents == 0 ||
        m->ncomponents > MF_MAILBOX_COMPONENTS_MAX)
        return mf_err(err, MF_EUSAGE, "mailbox %.*s: too many keywords or name parts",
                      (int)m->stored.n, m->stored.p),
               fail(w);
    if (set_last(&w->last_mailbox, m->stored) < 0)
        return mf_err_nomem(err), fail(w);
    w->have_mailbox = 1;
    free_keywords(w);
    if (m->nkeywords > 0) {
        w->kw = mf_calloc(m->nkeywords, sizeof *w->kw);
        w->kwlen = mf_calloc(m->nkeywords, sizeof *w->kwlen);
        if (w->kw == NULL || w->kwlen == NULL)
            return mf_err_nomem(err), fail(w);
        for (uint32_t i = 0; i < m->nkeywords; i++) {
            w->kw[i] = mf_strndup(m->keywords[i].p, m->keywords[i].n);
            if (w->kw[i] == NULL)
                return mf_err_nomem(err), fail(w);
            w->kwlen[i] = m->keywords[i].n;
            w->nkw = i + 1;
        }
    }
    mf_hash_init(&w->state, MF_HK_STATE);
    w->mbox_messages = 0;
    w->last_uid = 0;
    w->last_flags_uid = 0;
    w->state_given = w->expunged = 0;
    w->mb_kind = MF_DELTA_NEW;
    w->uend.nmailboxes++;
    w->stats.mailboxes++;
    w->st = w->o.delta ? ST_MBDELTA : ST_MAILBOX;
    return record_done(w, mf_enc_mailbox(&w->idx, &w->scratch, m), err);
}

/* Copies the message's strings so the caller's buffers may go away. */
static int copy_str(struct mf_buf *b, struct mf_str *s, size_t *offs)
{
    *offs = b->len;
    if (mf_buf_append(b, s->p, s->n) < 0)
        return -1;
    return 0;
}

int mf_writer_begin_message(struct mf_writer *w, const struct mf_rec_message *m,
                            struct mf_error *err)
{
    size_t o_other, o_guid, o_uidl, o_src;
    if (w->st != ST_MAILBOX)
        return bad_state(w, err, "begin_message");
    if (m->uid == 0 || m->uid <= w->last_uid)
        return mf_err(err, MF_EUSAGE, "message UIDs must be ascending (uid %u after %u)", m->uid,
                      w->last_uid),
               fail(w);
    for (uint32_t i = 0; i < m->nkeywords; i++)
        if (m->keywords[i] >= w->nkw || (i > 0 && m->keywords[i] <= m->keywords[i - 1]))
            return mf_err(err, MF_EUSAGE, "message %u: bad keyword list", m->uid), fail(w);
    w->msg = *m;
    mf_buf_reset(&w->msgstr);
    copy_str(&w->msgstr, &w->msg.other_flags, &o_other);
    copy_str(&w->msgstr, &w->msg.guid, &o_guid);
    copy_str(&w->msgstr, &w->msg.pop3_uidl, &o_uidl);
    copy_str(&w->msgstr, &w->msg.source_name, &o_src);
    if (w->msgstr.oom)
        return mf_err_nomem(err), fail(w);
    w->msg.other_flags.p = (const char *)w->msgstr.p + o_other;
    w->msg.guid.p = (const char *)w->msgstr.p + o_guid;
    w->msg.pop3_uidl.p = (const char *)w->msgstr.p + o_uidl;
    w->msg.source_name.p = (const char *)w->msgstr.p + o_src;
    mf_free(w->msgkw);
    w->msgkw = NULL;
    if (m->nkeywords > 0) {
        w->msgkw = mf_calloc(m->nkeywords, sizeof *w->msgkw);
        if (w->msgkw == NULL)
            return mf_err_nomem(err), fail(w);
        memcpy(w->msgkw, m->keywords, m->nkeywords * sizeof *w->msgkw);
    }
    w->msg.keywords = w->msgkw;
    w->msg.size = 0;
    w->nrefs = 0;
    w->st = ST_MESSAGE;
    return 0;
}

int mf_writer_blob(struct mf_writer *w, enum mf_blob_kind kind, const void *p, size_t n,
                   struct mf_error *err)
{
    if (w->st != ST_MESSAGE)
        return bad_state(w, err, "blob");
    if (n == 0)
        return 0;
    if (n > MF_BLOB_MAX || (unsigned)kind >= MF_BLOB_KINDS)
        return mf_err(err, MF_EINTERNAL, "blob of %zu bytes or unknown kind", n), fail(w);
    if (w->msg.size + n > MF_MESSAGE_MAX)
        return mf_err(err, MF_EUSAGE, "message %u is larger than the limit", w->msg.uid), fail(w);
    if (add_blob(w, (int)kind, p, n, err) < 0)
        return fail(w);
    w->msg.size += n;
    return 0;
}

int mf_writer_blob_id(struct mf_writer *w, enum mf_blob_kind kind, const void *p, size_t n,
                      const uint8_t id[MF_HASH_BYTES], struct mf_error *err)
{
    if (w->st != ST_MESSAGE)
        return bad_state(w, err, "blob_id");
    if (n == 0)
        return 0;
    if (n > MF_BLOB_MAX || (unsigned)kind >= MF_BLOB_KINDS || w->msg.size + n > MF_MESSAGE_MAX)
        return mf_err(err, MF_EUSAGE, "blob of %zu bytes, unknown kind or message too large", n),
               fail(w);
    if (store_blob_id(w, (int)kind, p, n, id, &w->refs, &w->nrefs, &w->refs_cap, err) < 0)
        return fail(w);
    w->stats.blob_refs++;
    w->msg.size += n;
    return 0;
}

void mf_writer_set_vsize(struct mf_writer *w, uint64_t vsize)
{
    if (w->st == ST_MESSAGE)
        w->msg.vsize = vsize;
}

void mf_writer_abort_message(struct mf_writer *w)
{
    if (w->st == ST_MESSAGE) {
        w->nrefs = 0;
        w->st = ST_MAILBOX;
    }
}

int mf_writer_content_begin(struct mf_writer *w, struct mf_error *err)
{
    if (w->st == ST_FINISHED || w->st == ST_FAILED || w->in_content)
        return bad_state(w, err, "content_begin");
    w->in_content = 1;
    w->ncrefs = 0;
    w->csize = 0;
    return 0;
}

int mf_writer_content_blob(struct mf_writer *w, enum mf_blob_kind kind, const void *p, size_t n,
                           struct mf_error *err)
{
    if (!w->in_content)
        return bad_state(w, err, "content_blob");
    if (n == 0)
        return 0;
    if (n > MF_BLOB_MAX || (unsigned)kind >= MF_BLOB_KINDS || w->csize + n > MF_MESSAGE_MAX)
        return mf_err(err, MF_EUSAGE, "blob of %zu bytes, unknown kind or message too large", n),
               fail(w);
    if (store_blob(w, (int)kind, p, n, &w->crefs, &w->ncrefs, &w->crefs_cap, err) < 0)
        return fail(w);
    w->csize += n;
    return 0;
}

int mf_writer_content_end(struct mf_writer *w, struct mf_content *out, struct mf_error *err)
{
    memset(out, 0, sizeof *out);
    if (!w->in_content)
        return bad_state(w, err, "content_end");
    w->in_content = 0;
    mf_message_hash(w->crefs, (uint32_t)w->ncrefs, out->hash);
    out->size = w->csize;
    out->nrefs = (uint32_t)w->ncrefs;
    if (w->ncrefs > 0) {
        out->refs = mf_calloc(w->ncrefs, sizeof *out->refs);
        if (out->refs == NULL)
            return mf_err_nomem(err), fail(w);
        memcpy(out->refs, w->crefs, w->ncrefs * sizeof *out->refs);
    }
    return 0;
}

void mf_content_free(struct mf_content *c)
{
    mf_free(c->refs);
    memset(c, 0, sizeof *c);
}

static int cmp_str(const void *a, const void *b)
{
    const struct mf_str *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int c = n == 0 ? 0 : memcmp(x->p, y->p, n);
    return c != 0 ? c : (x->n < y->n ? -1 : x->n > y->n);
}

static int emit_message(struct mf_writer *w, struct mf_error *err)
{
    struct mf_str kwnames[64];
    struct mf_str *kwp = kwnames;
    if (w->msg.vsize < w->msg.size)
        w->msg.vsize = w->msg.size;
    /* state hash input: keyword names sorted */
    if (w->msg.nkeywords > 64) {
        kwp = mf_calloc(w->msg.nkeywords, sizeof *kwp);
        if (kwp == NULL)
            return mf_err_nomem(err), fail(w);
    }
    for (uint32_t i = 0; i < w->msg.nkeywords; i++) {
        kwp[i].p = w->kw[w->msg.keywords[i]];
        kwp[i].n = w->kwlen[w->msg.keywords[i]];
    }
    qsort(kwp, w->msg.nkeywords, sizeof *kwp, cmp_str);
    mf_state_add(&w->state, w->msg.uid, w->msg.flags, kwp, w->msg.nkeywords, w->msg.guid);
    if (kwp != kwnames)
        mf_free(kwp);
    w->last_uid = w->msg.uid;
    w->mbox_messages++;
    w->uend.nmessages++;
    w->stats.messages++;
    w->stats.message_bytes += w->msg.size;
    w->st = ST_MAILBOX;
    return record_done(w, mf_enc_message(&w->idx, &w->scratch, &w->msg), err);
}

int mf_writer_end_message(struct mf_writer *w, struct mf_error *err)
{
    if (w->st != ST_MESSAGE)
        return bad_state(w, err, "end_message");
    w->msg.nrefs = (uint32_t)w->nrefs;
    w->msg.refs = w->refs;
    mf_message_hash(w->msg.refs, w->msg.nrefs, w->msg.hash);
    return emit_message(w, err);
}

int mf_writer_message_content(struct mf_writer *w, const struct mf_rec_message *m,
                              const struct mf_content *c, struct mf_error *err)
{
    if (mf_writer_begin_message(w, m, err) < 0)
        return -1;
    memcpy(w->msg.hash, c->hash, MF_HASH_BYTES);
    w->msg.size = c->size;
    w->msg.vsize = m->vsize;
    w->msg.nrefs = c->nrefs;
    w->msg.refs = c->refs;
    w->stats.blob_refs += c->nrefs;
    return emit_message(w, err);
}

int mf_writer_end_mailbox(struct mf_writer *w, struct mf_error *err)
{
    struct mf_rec_mailbox_end e;
    if (w->st != ST_MAILBOX && w->st != ST_CHANGES)
        return bad_state(w, err, "end_mailbox");
    e.nmessages = w->mbox_messages;
    mf_hash_final(&w->state, e.state);
    if (w->o.delta) {
        if (!w->state_given)
            return mf_err(err, MF_EINTERNAL, "archive writer: a delta mailbox needs its state"),
                   fail(w);
        memcpy(e.state, w->given_state, MF_HASH_BYTES);
    }
    free_keywords(w);
    w->st = ST_USER;
    return record_done(w, mf_enc_mailbox_end(&w->idx, &w->scratch, &e), err);
}

int mf_writer_end_user(struct mf_writer *w, struct mf_error *err)
{
    if (w->st != ST_USER)
        return bad_state(w, err, "end_user");
    mf_buf_reset(&w->last_mailbox);
    w->st = ST_TOP;
    return record_done(w, mf_enc_user_end(&w->idx, &w->scratch, &w->uend), err);
}

/* ---- delta records ---- */

int mf_writer_mailbox_delta(struct mf_writer *w, const struct mf_rec_mailbox_delta *d,
                            struct mf_error *err)
{
    if (w->st != ST_MBDELTA)
        return bad_state(w, err, "mailbox_delta");
    if (d->kind > MF_DELTA_RESET)
        return mf_err(err, MF_EINTERNAL, "unknown mailbox delta kind"), fail(w);
    w->mb_kind = d->kind;
    w->st = ST_MAILBOX;
    return record_done(w, mf_enc_mailbox_delta(&w->idx, &w->scratch, d), err);
}

int mf_writer_chain_blob(struct mf_writer *w, const uint8_t id[MF_HASH_BYTES], size_t n,
                         const uint8_t guid[MF_GUID_BYTES], uint32_t uid, uint64_t offset,
                         struct mf_error *err)
{
    struct mf_blobref *r;
    if (w->st != ST_MESSAGE || !w->o.delta)
        return bad_state(w, err, "chain_blob");
    if (n == 0 || n > MF_BLOB_MAX || w->msg.size + n > MF_MESSAGE_MAX)
        return mf_err(err, MF_EUSAGE, "chain blob of %zu bytes", n), fail(w);
    if (w->nrefs == w->refs_cap) {
        size_t ncap = w->refs_cap == 0 ? 16 : w->refs_cap * 2;
        struct mf_blobref *nr;
        if (ncap > MF_REFS_MAX)
            ncap = MF_REFS_MAX;
        if (w->nrefs >= ncap)
            return mf_err(err, MF_EUSAGE, "message has too many parts (over %u blobs)",
                          MF_REFS_MAX),
                   fail(w);
        nr = mf_realloc(w->refs, ncap * sizeof *nr);
        if (nr == NULL)
            return mf_err_nomem(err), fail(w);
        w->refs = nr;
        w->refs_cap = ncap;
    }
    r = &w->refs[w->nrefs++];
    memset(r, 0, sizeof *r);
    r->flags = MF_REF_HAS_ID;
    memcpy(r->id, id, MF_HASH_BYTES);
    r->len = n;
    r->loc = MF_LOC_CHAIN;
    memcpy(r->chain_guid, guid, MF_GUID_BYTES);
    r->chain_uid = uid;
    r->chain_offset = offset;
    w->stats.blob_refs++;
    w->stats.dedup_bytes += n;
    w->msg.size += n;
    return 0;
}

int mf_writer_flags(struct mf_writer *w, const struct mf_rec_flags *f, struct mf_error *err)
{
    if ((w->st != ST_MAILBOX && w->st != ST_CHANGES) || w->mb_kind != MF_DELTA_CHANGES ||
        w->expunged)
        return bad_state(w, err, "flags");
    if (f->uid <= w->last_flags_uid)
        return mf_err(err, MF_EINTERNAL, "flag changes must be in ascending UID order"), fail(w);
    for (uint32_t i = 0; i < f->nadded; i++)
        if (f->added[i] >= w->nkw || (i > 0 && f->added[i] <= f->added[i - 1]))
            return mf_err(err, MF_EINTERNAL, "flag change %u: bad keyword list", f->uid), fail(w);
    for (uint32_t i = 0; i < f->nremoved; i++)
        if (f->removed[i] >= w->nkw || (i > 0 && f->removed[i] <= f->removed[i - 1]))
            return mf_err(err, MF_EINTERNAL, "flag change %u: bad keyword list", f->uid), fail(w);
    w->last_flags_uid = f->uid;
    w->st = ST_CHANGES;
    return record_done(w, mf_enc_flags(&w->idx, &w->scratch, f), err);
}

int mf_writer_expunge(struct mf_writer *w, const struct mf_rec_expunge *e, struct mf_error *err)
{
    if ((w->st != ST_MAILBOX && w->st != ST_CHANGES) || w->mb_kind != MF_DELTA_CHANGES ||
        w->expunged || e->nranges == 0)
        return bad_state(w, err, "expunge");
    w->expunged = 1;
    w->st = ST_CHANGES;
    return record_done(w, mf_enc_expunge(&w->idx, &w->scratch, e), err);
}

void mf_writer_set_state(struct mf_writer *w, const uint8_t state[MF_HASH_BYTES])
{
    memcpy(w->given_state, state, MF_HASH_BYTES);
    w->state_given = 1;
}

int mf_writer_mailbox_gone(struct mf_writer *w, const struct mf_rec_mailbox_gone *g,
                           struct mf_error *err)
{
    if (w->st != ST_USER || !w->o.delta)
        return bad_state(w, err, "mailbox_gone");
    w->mbox_gone = 1;
    return record_done(w, mf_enc_mailbox_gone(&w->idx, &w->scratch, g), err);
}

int mf_writer_user_gone(struct mf_writer *w, const struct mf_rec_user_gone *g,
                        struct mf_error *err)
{
    if (w->st != ST_TOP || !w->o.delta)
        return bad_state(w, err, "user_gone");
    w->user_gone = 1;
    return record_done(w, mf_enc_user_gone(&w->idx, &w->scratch, g), err);
}

int mf_writer_has_blob(const struct mf_writer *w, const uint8_t id[MF_HASH_BYTES])
{
    struct mf_blobloc loc;
    return mf_blobset_get(w->seen, id, &loc);
}

/* ---- finish ---- */

struct seg {
    uint64_t off;  /* in the segment spool */
    uint64_t size;
    uint8_t digest[MF_DIGEST_BYTES];
};

struct segmenter {
    struct mf_writer *w;
    int fd;            /* compressed segments spool */
    uint64_t len;
    struct seg *segs;
    size_t nsegs, cap;
    struct mf_buf cur;  /* raw bytes of the open segment */
    struct mf_buf comp;
    struct ZSTD_CCtx_s *cctx;
};

static int seg_flush(struct segmenter *s, struct mf_error *err)
{
    struct seg *g;
    struct mf_hasher h;
    if (s->cur.len == 0)
        return 0;
    if (s->nsegs == s->cap) {
        size_t ncap = s->cap == 0 ? 8 : s->cap * 2;
        struct seg *ns = mf_realloc(s->segs, ncap * sizeof *ns);
        if (ns == NULL)
            return mf_err_nomem(err);
        s->segs = ns;
        s->cap = ncap;
    }
    mf_buf_reset(&s->comp);
    if (mf_frame_compress(s->cctx, s->cur.p, s->cur.len, &s->comp, err) < 0)
        return -1;
    if (s->w->fkey != NULL) {
        size_t n = s->comp.len;
        if (mf_buf_reserve(&s->comp, MF_SEAL_TAG_BYTES) < 0)
            return mf_err_nomem(err);
        mf_seal(s->w->fkey, s->w->archive_id, MF_SEAL_INDEX, s->nsegs + 1, s->comp.p, n);
        s->comp.len = n + MF_SEAL_TAG_BYTES;
    }
    if (mf_write_all(s->fd, s->comp.p, s->comp.len, "index spool", err) < 0)
        return -1;
    g = &s->segs[s->nsegs++];
    g->off = s->len;
    g->size = s->comp.len;
    mf_hash_init_digest(&h);
    mf_hash_update(&h, s->comp.p, s->comp.len);
    mf_hash_final(&h, g->digest);
    s->len += s->comp.len;
    mf_buf_reset(&s->cur);
    return 0;
}

/* Adds whole records; a segment is closed before it would exceed the target. */
static int seg_records(struct segmenter *s, const uint8_t *p, size_t n, struct mf_error *err)
{
    size_t off = 0;
    while (off < n) {
        struct mf_cur c;
        size_t reclen;
        mf_cur_init(&c, p + off, n - off);
        mf_cur_u8(&c);
        reclen = (size_t)mf_cur_uv(&c);
        if (c.bad || reclen > n - off - c.off)
            return mf_err(err, MF_EINTERNAL, "index spool damaged");
        reclen += c.off;
        if (s->cur.len > 0 && s->cur.len + reclen > MF_INDEX_SEGMENT_TARGET &&
            seg_flush(s, err) < 0)
            return -1;
        if (mf_buf_append(&s->cur, p + off, reclen) < 0)
            return mf_err_nomem(err);
        off += reclen;
    }
    return 0;
}

/* Feeds the spilled index file through seg_records, record-aligned. */
static int seg_spilled(struct segmenter *s, int fd, uint64_t total, struct mf_error *err)
{
    struct mf_buf carry;
    uint8_t *chunk;
    uint64_t pos = 0;
    int r = 0;
    mf_buf_init(&carry);
    chunk = mf_malloc(1 << 20);
    if (chunk == NULL)
        return mf_err_nomem(err);
    while (pos < total && r == 0) {
        size_t want = total - pos > (1 << 20) ? (1 << 20) : (size_t)(total - pos);
        size_t used = 0;
        if (mf_pread_all(fd, chunk, want, pos, "index spool", err) < 0) {
            r = -1;
            break;
        }
        pos += want;
        if (mf_buf_append(&carry, chunk, want) < 0) {
            r = mf_err_nomem(err);
            break;
        }
        /* consume complete records from carry */
        while (used < carry.len) {
            struct mf_cur c;
            size_t reclen;
            mf_cur_init(&c, carry.p + used, carry.len - used);
            mf_cur_u8(&c);
            reclen = (size_t)mf_cur_uv(&c);
            if (c.bad || reclen > carry.len - used - c.off)
                break;
            if (seg_records(s, carry.p + used, reclen + c.off, err) < 0) {
                r = -1;
                break;
            }
            used += reclen + c.off;
        }
        memmove(carry.p, carry.p + used, carry.len - used);
        carry.len -= used;
    }
    if (r == 0 && carry.len != 0)
        r = mf_err(err, MF_EINTERNAL, "index spool ends inside a record");
    mf_buf_free(&carry);
    mf_free(chunk);
    return r;
}

static int copy_spool(struct mf_tar_writer *t, int fd, uint64_t off, uint64_t size,
                      struct mf_error *err)
{
    uint8_t *buf = mf_malloc(1 << 20);
    int r = 0;
    if (buf == NULL)
        return mf_err_nomem(err);
    while (size > 0) {
        size_t n = size > (1 << 20) ? (1 << 20) : (size_t)size;
        if (mf_pread_all(fd, buf, n, off, "spool", err) < 0 || mf_tarw_data(t, buf, n, err) < 0) {
            r = -1;
            break;
        }
        off += n;
        size -= n;
    }
    mf_free(buf);
    return r;
}

static void host_label(char *out, size_t cap, const char *given)
{
    char h[256] = "";
    size_t n = 0;
    if (given != NULL)
        snprintf(h, sizeof h, "%s", given);
    else if (gethostname(h, sizeof h - 1) < 0)
        h[0] = '\0';
    for (size_t i = 0; h[i] != '\0' && n + 1 < cap; i++) {
        unsigned char c = (unsigned char)h[i];
        out[n++] = (c > 0x20 && c < 0x7f) ? (char)c : '_';
    }
    if (n == 0)
        out[n++] = '-';
    out[n] = '\0';
}

/* Bytes a member of `size` takes in the tar: a ustar header, the data
 * padded to 512 bytes. */
static uint64_t tar_member_bytes(uint64_t size)
{
    return 512 + (size + 511) / 512 * 512;
}

/* The bytes of a tar holding `members` bytes of members: the end-of-archive
 * marker (1024 bytes), then padding to libarchive's 10240-byte blocking. */
static uint64_t tar_bytes(uint64_t members)
{
    return (members + 1024 + 10239) / 10240 * 10240;
}

/* Splits the members after FORMAT into volumes of at most volume_size
 * bytes, each starting with FORMAT, MANIFEST and MANIFEST.minisig (whose
 * sizes are bounded by head). Fills m->volumes; one volume means no split. */
static int plan_volumes(struct mf_manifest *m, uint64_t volume_size, uint64_t head,
                        struct mf_error *err)
{
    size_t nv = 0, cap = 0;
    uint64_t used = 0;
    struct mf_volume_info *v = NULL;
    for (size_t i = 1; i < m->nmembers; i++) {
        uint64_t b = tar_member_bytes(m->members[i].size);
        if (tar_bytes(head + b) > volume_size) {
            mf_free(v);
            return mf_err(err, MF_EUSAGE, "volumes of %llu bytes are too small: member %s "
                                          "needs %llu bytes with the volume's headers",
                          (unsigned long long)volume_size, m->members[i].name,
                          (unsigned long long)tar_bytes(head + b));
        }
        if (nv == 0 || tar_bytes(head + used + b) > volume_size) {
            if (nv == cap) {
                size_t nc = cap == 0 ? 8 : cap * 2;
                struct mf_volume_info *n = mf_realloc(v, nc * sizeof *n);
                if (n == NULL) {
                    mf_free(v);
                    return mf_err_nomem(err);
                }
                v = n;
                cap = nc;
            }
            if (nv == MF_VOLUMES_MAX) {
                mf_free(v);
                return mf_err(err, MF_EUSAGE, "more than %u volumes", MF_VOLUMES_MAX);
            }
            v[nv].first = i;
            v[nv].count = 0;
            nv++;
            used = 0;
        }
        v[nv - 1].count++;
        used += b;
    }
    if (nv < 2) {
        mf_free(v);
        v = NULL;
        nv = 0;
    }
    m->volumes = v;
    m->nvolumes = nv;
    return 0;
}

/* Writes one tar: FORMAT, MANIFEST, MANIFEST.minisig, then members
 * first .. first + count - 1 from the spools. */
static int write_tar(struct mf_writer *w, int fd, const struct mf_buf *man,
                     const struct mf_buf *sig, int seg_fd, const struct seg *segs, size_t first,
                     size_t count, uint64_t *bytes_r, struct mf_error *err)
{
    const struct mf_manifest *m = &w->manifest;
    struct mf_tar_writer *t = NULL;
    int r = -1;
    if (mf_tarw_open(&t, fd, w->created, err) < 0 ||
        mf_tarw_member(t, MF_MEMBER_FORMAT, strlen(mf_format_text), err) < 0 ||
        mf_tarw_data(t, mf_format_text, strlen(mf_format_text), err) < 0 ||
        mf_tarw_member(t, MF_MEMBER_MANIFEST, man->len, err) < 0 ||
        mf_tarw_data(t, man->p, man->len, err) < 0 ||
        mf_tarw_member(t, MF_MEMBER_SIG, sig->len, err) < 0 ||
        mf_tarw_data(t, sig->p, sig->len, err) < 0)
        goto out;
    for (size_t i = first; i < first + count; i++) {
        const struct mf_member_info *mi = &m->members[i];
        int src;
        uint64_t off;
        if (i <= m->nindex) {
            src = seg_fd;
            off = segs[i - 1].off;
        } else {
            src = mf_packw_spool_fd(w->packs);
            off = mf_packw_pack(w->packs, i - 1 - m->nindex)->spool_off;
        }
        if (mf_tarw_member(t, mi->name, mi->size, err) < 0 ||
            copy_spool(t, src, off, mi->size, err) < 0)
            goto out;
    }
    if (mf_tarw_close(t, err) < 0)
        goto out;
    *bytes_r += mf_tarw_bytes(t);
    r = 0;
out:
    mf_tarw_free(&t);
    return r;
}

static int finish(struct mf_writer *w, int out_fd, mf_volume_open_fn open_volume, void *vctx,
                  int index_fd, const struct mf_seckey *sk, struct mf_error *err)
{
    struct segmenter s;
    struct mf_buf head, sig, man;
    struct mf_rec_header h;
    struct mf_rec_end e;
    struct mf_hasher hh;
    char tc[MF_TRUSTED_COMMENT_MAX + 1];
    size_t npacks, mi;
    int r = -1;

    if (w->st != ST_TOP)
        return bad_state(w, err, "finish");
    memset(&s, 0, sizeof s);
    s.fd = -1;
    mf_buf_init(&head);
    mf_buf_init(&sig);
    mf_buf_init(&man);
    mf_buf_init(&s.cur);
    mf_buf_init(&s.comp);
    if (mf_packw_flush(w->packs, err) < 0)
        goto out;
    npacks = mf_packw_npacks(w->packs);

    /* index: HEADER, PACK records, the spooled records, END */
    memset(&h, 0, sizeof h);
    h.kind = w->o.delta ? MF_KIND_DELTA : MF_KIND_FULL;
    memcpy(h.archive_id, w->archive_id, sizeof h.archive_id);
    h.users = w->stats.users;
    h.mailboxes = w->stats.mailboxes;
    h.messages = w->stats.messages;
    h.extras = w->stats.extras;
    h.packs = npacks;
    h.frames = mf_packw_nframes(w->packs);
    h.refs = w->stats.blob_refs;
    h.message_bytes = w->stats.message_bytes;
    h.blob_bytes = w->stats.stored_bytes;
    s.w = w;
    s.cctx = mf_frame_cctx_new(w->o.level > 19 ? 19 : (w->o.level < 9 ? 9 : w->o.level));
    s.fd = mf_spool_open(w->o.tmpdir, err);
    if (s.cctx == NULL || s.fd < 0) {
        if (s.cctx == NULL)
            mf_err_nomem(err);
        goto out;
    }
    if (mf_enc_header(&head, &w->scratch, &h) < 0)
        goto nomem;
    for (size_t i = 0; i < npacks; i++) {
        const struct mf_packw_pack *pk = mf_packw_pack(w->packs, i);
        struct mf_rec_pack pr = {(uint32_t)(i + 1), pk->nframes, pk->frames};
        if (mf_enc_pack(&head, &w->scratch, &pr) < 0)
            goto nomem;
    }
    if (seg_records(&s, head.p, head.len, err) < 0)
        goto out;
    if (w->idx_fd >= 0 && seg_spilled(&s, w->idx_fd, w->idx_spilled, err) < 0)
        goto out;
    if (seg_records(&s, w->idx.p, w->idx.len, err) < 0)
        goto out;
    mf_buf_reset(&head);
    e.records = w->nrecords + 1 + npacks;
    if (mf_enc_end(&head, &w->scratch, &e) < 0)
        goto nomem;
    if (seg_records(&s, head.p, head.len, err) < 0 || seg_flush(&s, err) < 0)
        goto out;

    /* manifest */
    mf_manifest_init(&w->manifest);
    memcpy(w->manifest.archive_id, w->archive_id, sizeof w->archive_id);
    w->manifest.kind = w->o.delta ? MF_KIND_DELTA : MF_KIND_FULL;
    if (w->o.delta) {
        w->manifest.chain = w->o.base_chain + 1;
        memcpy(w->manifest.base_id, w->o.base_id, MF_ARCHIVE_ID_BYTES);
        memcpy(w->manifest.base_manifest, w->o.base_manifest, MF_HASH_BYTES);
    }
    w->manifest.created = w->created;
    host_label(w->manifest.host, sizeof w->manifest.host, w->o.host);
    snprintf(w->manifest.tool, sizeof w->manifest.tool, "mailferry %s", MF_TOOL_VERSION);
    if (w->fkey != NULL) {
        w->manifest.encrypted = 1;
        for (size_t i = 0; i < w->o.nrecipients; i++) {
            const struct mf_pubkey *pk = &w->o.recipients[i];
            struct mf_recipient *rc = &w->manifest.recipients[w->manifest.nrecipients];
            int dup = 0;
            for (size_t k = 0; k < w->manifest.nrecipients; k++)
                dup |= memcmp(w->manifest.recipients[k].keyid, pk->keyid, MF_KEYID_BYTES) == 0;
            if (dup)
                continue;
            memcpy(rc->keyid, pk->keyid, MF_KEYID_BYTES);
            if (mf_filekey_wrap(w->fkey, pk, rc->wrapped, err) < 0)
                goto out;
            w->manifest.nrecipients++;
        }
    }
    w->manifest.nindex = s.nsegs;
    w->manifest.npacks = npacks;
    w->manifest.nmembers = 1 + s.nsegs + npacks;
    w->manifest.members = mf_calloc(w->manifest.nmembers, sizeof *w->manifest.members);
    if (w->manifest.members == NULL)
        goto nomem;
    mi = 0;
    snprintf(w->manifest.members[mi].name, MF_MEMBER_NAME_MAX + 1, "%s", MF_MEMBER_FORMAT);
    w->manifest.members[mi].size = strlen(mf_format_text);
    mf_hash_init_digest(&hh);
    mf_hash_update(&hh, mf_format_text, strlen(mf_format_text));
    mf_hash_final(&hh, w->manifest.members[mi].digest);
    mi++;
    for (size_t i = 0; i < s.nsegs; i++, mi++) {
        mf_member_name(w->manifest.members[mi].name, "index", i + 1);
        w->manifest.members[mi].size = s.segs[i].size;
        memcpy(w->manifest.members[mi].digest, s.segs[i].digest, MF_DIGEST_BYTES);
    }
    for (size_t i = 0; i < npacks; i++, mi++) {
        const struct mf_packw_pack *pk = mf_packw_pack(w->packs, i);
        mf_member_name(w->manifest.members[mi].name, "packs", i + 1);
        w->manifest.members[mi].size = pk->size;
        memcpy(w->manifest.members[mi].digest, pk->digest, MF_DIGEST_BYTES);
    }
    mf_manifest_trusted_comment(&w->manifest, tc, sizeof tc);
    if (open_volume != NULL) {
        /* the volume lines add at most 15 + 30 bytes per member to the
         * manifest; the signature's size does not depend on it */
        uint64_t bound;
        if (mf_manifest_encode(&w->manifest, &man, err) < 0 ||
            mf_sign(sk, man.p, man.len, tc, &sig, err) < 0)
            goto out;
        bound = tar_member_bytes(strlen(mf_format_text)) +
                tar_member_bytes(man.len + 15 + 30 * (uint64_t)w->manifest.nmembers) +
                tar_member_bytes(sig.len);
        if (plan_volumes(&w->manifest, w->o.volume_size, bound, err) < 0)
            goto out;
        mf_buf_reset(&man);
        mf_buf_reset(&sig);
    }
    if (mf_manifest_encode(&w->manifest, &man, err) < 0)
        goto out;
    if (mf_sign(sk, man.p, man.len, tc, &sig, err) < 0)
        goto out;

    /* the index file, then the archive */
    w->stats.archive_bytes = 0;
    if (index_fd >= 0) {
        uint64_t ignored = 0;
        if (write_tar(w, index_fd, &man, &sig, s.fd, s.segs, 1, s.nsegs, &ignored, err) < 0)
            goto out;
    }
    if (open_volume == NULL || w->manifest.nvolumes == 0) {
        int fd = out_fd;
        if (open_volume != NULL && open_volume(vctx, 1, 1, &fd, err) < 0)
            goto out;
        if (write_tar(w, fd, &man, &sig, s.fd, s.segs, 1, w->manifest.nmembers - 1,
                      &w->stats.archive_bytes, err) < 0)
            goto out;
        w->stats.volumes = 1;
    } else {
        for (size_t v = 0; v < w->manifest.nvolumes; v++) {
            int fd = -1;
            if (open_volume(vctx, v + 1, w->manifest.nvolumes, &fd, err) < 0 ||
                write_tar(w, fd, &man, &sig, s.fd, s.segs, w->manifest.volumes[v].first,
                          w->manifest.volumes[v].count, &w->stats.archive_bytes, err) < 0)
                goto out;
        }
        w->stats.volumes = w->manifest.nvolumes;
    }
    w->stats.compressed_bytes = mf_packw_compressed_bytes(w->packs);
    w->stats.frames = mf_packw_nframes(w->packs);
    w->stats.packs = npacks;
    w->st = ST_FINISHED;
    r = 0;
    goto out;
nomem:
    mf_err_nomem(err);
out:
    if (r < 0)
        w->st = ST_FAILED;
    if (s.cctx != NULL)
        mf_frame_cctx_free(s.cctx);
    if (s.fd >= 0)
        close(s.fd);
    mf_free(s.segs);
    mf_buf_free(&s.cur);
    mf_buf_free(&s.comp);
    mf_buf_free(&head);
    mf_buf_free(&sig);
    mf_buf_free(&man);
    return r;
}

int mf_writer_finish(struct mf_writer *w, int out_fd, const struct mf_seckey *sk,
                     struct mf_error *err)
{
    return finish(w, out_fd, NULL, NULL, -1, sk, err);
}

int mf_writer_finish_with_index(struct mf_writer *w, int out_fd, int index_fd,
                                const struct mf_seckey *sk, struct mf_error *err)
{
    return finish(w, out_fd, NULL, NULL, index_fd, sk, err);
}

int mf_writer_finish_volumes(struct mf_writer *w, mf_volume_open_fn open_volume, void *ctx,
                             int index_fd, const struct mf_seckey *sk, struct mf_error *err)
{
    if (w->o.volume_size == 0)
        return mf_err(err, MF_EINTERNAL, "finish_volumes without a volume size");
    return finish(w, -1, open_volume, ctx, index_fd, sk, err);
}

void mf_writer_stats(const struct mf_writer *w, struct mf_writer_stats *st)
{
    *st = w->stats;
    st->compressed_bytes = mf_packw_compressed_bytes(w->packs);
    st->frames = mf_packw_nframes(w->packs);
}

const struct mf_manifest *mf_writer_manifest(const struct mf_writer *w)
{
    return &w->manifest;
}

void mf_writer_free(struct mf_writer **wp)
{
    struct mf_writer *w = *wp;
    if (w == NULL)
        return;
    *wp = NULL;
    mf_packw_free(&w->packs);
    mf_blobset_free(&w->seen);
    mf_buf_free(&w->idx);
    mf_buf_free(&w->scratch);
    mf_buf_free(&w->last_user);
    mf_buf_free(&w->last_mailbox);
    mf_buf_free(&w->msgstr);
    if (w->idx_fd >= 0)
        close(w->idx_fd);
    free_keywords(w);
    mf_free(w->msgkw);
    mf_free(w->refs);
    mf_free(w->crefs);
    mf_manifest_clear(&w->manifest);
    mf_filekey_free(&w->fkey);
    mf_free(w);
}
