/* fuzz_index_codec.c: feeds the input, as the raw (decompressed) bytes of an
 * index segment, to the record decoder mf_idx_dec_next (format/index_codec.c)
 * until it ends or refuses. Every record it hands out is encoded again with
 * the mf_enc_* functions; those bytes must decode and re-encode to the very
 * same bytes (decoder and encoders agree). Then the records go through the
 * stream checker (format/index_check.c) against a manifest made to fit the
 * HEADER and PACK records, so the grammar, ordering and reference checks are
 * reached too. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "../../format/index_check.h"
#include "../../format/index_codec.h"
#include "../../format/manifest.h"

#define FZ_PACKS_MAX 64

static void encode(struct mf_buf *out, struct mf_buf *scratch, const struct mf_record *r)
{
    int rc = 0;
    switch (r->type) {
    case MF_REC_HEADER: rc = mf_enc_header(out, scratch, &r->u.header); break;
    case MF_REC_PACK: rc = mf_enc_pack(out, scratch, &r->u.pack); break;
    case MF_REC_USER: rc = mf_enc_user(out, scratch, &r->u.user); break;
    case MF_REC_EXTRA: rc = mf_enc_extra(out, scratch, &r->u.extra); break;
    case MF_REC_USER_END: rc = mf_enc_user_end(out, scratch, &r->u.user_end); break;
    case MF_REC_MAILBOX: rc = mf_enc_mailbox(out, scratch, &r->u.mailbox); break;
    case MF_REC_MESSAGE: rc = mf_enc_message(out, scratch, &r->u.message); break;
    case MF_REC_MAILBOX_END: rc = mf_enc_mailbox_end(out, scratch, &r->u.mailbox_end); break;
    case MF_REC_END: rc = mf_enc_end(out, scratch, &r->u.end); break;
    case MF_REC_MAILBOX_DELTA: rc = mf_enc_mailbox_delta(out, scratch, &r->u.mailbox_delta); break;
    case MF_REC_EXPUNGE: rc = mf_enc_expunge(out, scratch, &r->u.expunge); break;
    case MF_REC_FLAGS: rc = mf_enc_flags(out, scratch, &r->u.flags); break;
    case MF_REC_MAILBOX_GONE: rc = mf_enc_mailbox_gone(out, scratch, &r->u.mailbox_gone); break;
    case MF_REC_USER_GONE: rc = mf_enc_user_gone(out, scratch, &r->u.user_gone); break;
    default: abort();  /* the decoder handed out a type it does not know */
    }
    if (rc < 0)
        abort();
}

/* Decodes p[0..n) and appends the re-encoded records to out; returns the
 * number of records, stopping at the first error. */
static size_t reencode(const uint8_t *p, size_t n, struct mf_buf *out, int *failed)
{
    struct mf_idx_dec *d = NULL;
    struct mf_error err;
    struct mf_record rec;
    struct mf_buf scratch;
    size_t count = 0;
    int r;
    if (mf_idx_dec_new(&d, &err) < 0)
        abort();
    mf_buf_init(&scratch);
    mf_idx_dec_feed(d, p, n, "index/000001");
    while ((r = mf_idx_dec_next(d, &rec, &err)) > 0) {
        encode(out, &scratch, &rec);
        count++;
    }
    if (r < 0 && err.cls != MF_ECORRUPT)
        abort();
    *failed = r < 0;
    mf_buf_free(&scratch);
    mf_idx_dec_free(&d);
    return count;
}

static void check_stream(const uint8_t *p, size_t n)
{
    struct mf_idx_dec *d = NULL;
    struct mf_index_check *c = NULL;
    struct mf_error err;
    struct mf_record rec;
    struct mf_manifest m;
    uint64_t sums[FZ_PACKS_MAX + 1];
    int have_header = 0, r;
    memset(sums, 0, sizeof sums);
    mf_manifest_init(&m);
    if (mf_idx_dec_new(&d, &err) < 0)
        abort();
    /* first pass: the manifest the records would need */
    mf_idx_dec_feed(d, p, n, "index/000001");
    while ((r = mf_idx_dec_next(d, &rec, &err)) > 0) {
        if (rec.type == MF_REC_HEADER && !have_header) {
            if (rec.u.header.packs > FZ_PACKS_MAX)
                break;
            have_header = 1;
            m.kind = (enum mf_kind)rec.u.header.kind;
            memcpy(m.archive_id, rec.u.header.archive_id, sizeof m.archive_id);
            m.npacks = (size_t)rec.u.header.packs;
        } else if (rec.type == MF_REC_PACK && rec.u.pack.pack >= 1 &&
                   rec.u.pack.pack <= FZ_PACKS_MAX) {
            for (uint32_t i = 0; i < rec.u.pack.nframes; i++)
                sums[rec.u.pack.pack] += rec.u.pack.frames[i].csize;
        }
    }
    if (have_header) {
        m.nindex = 1;
        m.nmembers = 2 + m.npacks;
        m.members = calloc(m.nmembers, sizeof *m.members);
        if (m.members == NULL)
            abort();
        strcpy(m.members[0].name, "FORMAT");
        strcpy(m.members[1].name, "index/000001");
        for (size_t i = 0; i < m.npacks; i++) {
            mf_member_name(m.members[2 + i].name, "packs", i + 1);
            m.members[2 + i].size = sums[i + 1] > 0 ? sums[i + 1] : 1;
        }
        if (mf_index_check_new(&c, &m, &err) < 0)
            abort();
        mf_idx_dec_feed(d, p, n, "index/000001");
        while ((r = mf_idx_dec_next(d, &rec, &err)) > 0)
            if (mf_index_check_record(c, &rec, &err) < 0)
                break;
        if (r == 0 && mf_index_check_done(c, &err) == 0) {
            size_t nf;
            const struct mf_frame_loc *f = mf_index_check_frames(c, &nf);
            if (mf_index_check_header(c) == NULL || (nf > 0 && f == NULL))
                abort();
        }
        mf_index_check_free(&c);
        free(m.members);
        m.members = NULL;
    }
    mf_idx_dec_free(&d);
}

static int one_input(const uint8_t *data, size_t size)
{
    struct mf_buf e1, e2;
    int failed1, failed2;
    size_t n1, n2;
    mf_buf_init(&e1);
    mf_buf_init(&e2);
    n1 = reencode(data, size, &e1, &failed1);
    n2 = reencode(e1.p, e1.len, &e2, &failed2);
    if (failed2 || n2 != n1 || e1.len != e2.len || (e1.len > 0 && memcmp(e1.p, e2.p, e1.len) != 0))
        abort();  /* records the decoder accepts must survive encode + decode */
    mf_buf_free(&e1);
    mf_buf_free(&e2);
    check_stream(data, size);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_guard g;
    int r = one_input(fz_guard_copy(&g, data, size), size);
    fz_guard_free(&g);
    return r;
}
