/* archive_read.c: the validation order and random access to verified data.
 * The order of checks lives here and only here (spec/FORMAT.md,
 * "Validation order"). */
#include "archive_read.h"
#include "container.h"
#include "frame.h"
#include "frame_cache.h"
#include "fsutil.h"
#include "hash.h"
#include "index_check.h"
#include "mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#define INDEX_MEMBER_MAX (MF_INDEX_SEGMENT_MAX + (1u << 20))
#define FRAME_CACHE_BUDGET (48u * 1024 * 1024)

struct member_pos {
    uint64_t off;  /* data offset in `src` */
};

struct mf_reader {
    struct mf_reader_opts o;
    int in_fd;     /* the input */
    int own_in;
    int spool_fd;  /* -1 when reading the input directly */
    int src;       /* where member data is read from afterwards */
    struct mf_manifest m;
    uint8_t manifest_hash[MF_HASH_BYTES];
    char signer[17];
    int signed_ok;
    char trusted[MF_TRUSTED_COMMENT_MAX + 1];
    struct member_pos *pos;   /* per manifest member */
    struct mf_index_check *check;
    struct mf_frame_loc *frames;
    size_t nframes;
    struct mf_rec_header header;
    uint64_t archive_bytes;
    /* record walk */
    struct mf_idx_dec *dec;
    size_t seg;          /* next index segment to load (0-based) */
    uint8_t *segbuf;     /* decoded segment */
    int ended;
    char segname[MF_MEMBER_NAME_MAX + 1];
    /* frame access */
    ZSTD_DCtx *dctx;
    struct mf_frame_cache *cache;
    uint8_t *cbuf;       /* compressed frame scratch */
    int index_only;      /* stopped after the index (option, or an index file) */
    mf_chain_fn chain;
    void *chain_ctx;
    uint8_t *chainbuf;   /* one blob read through `chain` */
};

static int load_member(struct mf_tar_reader *t, const char *name, uint64_t size, size_t max,
                       uint8_t **data_r, struct mf_error *err)
{
    uint8_t *buf;
    size_t got = 0;
    const void *p;
    size_t n;
    int r;
    *data_r = NULL;
    if (size > max)
        return mf_err(err, MF_ECORRUPT, "member %s is %llu bytes, more than the %zu allowed", name,
                      (unsigned long long)size, max);
    buf = mf_malloc((size_t)size + 1);
    if (buf == NULL)
        return mf_err_nomem(err);
    while ((r = mf_tarr_data(t, &p, &n, err)) > 0) {
        if (n > size - got) {
            mf_free(buf);
            return mf_err(err, MF_ECORRUPT, "member %s longer than its header says", name);
        }
        memcpy(buf + got, p, n);
        got += n;
    }
    if (r < 0 || got != size) {
        mf_free(buf);
        if (r == 0)
            mf_err(err, MF_ECORRUPT, "member %s is truncated", name);
        return -1;
    }
    buf[size] = '\0';
    *data_r = buf;
    return 0;
}

/* Explains why member `name` appears where manifest member `want` was expected. */
static int wrong_member(const struct mf_manifest *m, size_t want, const char *name,
                        struct mf_error *err)
{
    for (size_t i = 0; i < m->nmembers; i++) {
        if (strcmp(m->members[i].name, name) != 0)
            continue;
        if (i < want)
            return mf_err(err, MF_ECORRUPT, "member %s appears twice (duplicate member)", name);
        return mf_err(err, MF_ECORRUPT,
                      "member %s out of order: expected %s first (a member is missing or the "
                      "members were reordered)",
                      name, m->members[want].name);
    }
    if (strcmp(name, MF_MEMBER_FORMAT) == 0 || strcmp(name, MF_MEMBER_MANIFEST) == 0 ||
        strcmp(name, MF_MEMBER_SIG) == 0)
        return mf_err(err, MF_ECORRUPT, "member %s appears twice (duplicate member)", name);
    return mf_err(err, MF_ECORRUPT, "unexpected member %s (not in the manifest)", name);
}

static int decode_segment(struct mf_reader *r, const uint8_t *comp, size_t clen,
                          const char *name, struct mf_index_check *check, struct mf_error *err)
{
    uint8_t *raw;
    size_t rlen;
    struct mf_record rec;
    int k;
    if (mf_frame_decompress_alloc(r->dctx, comp, clen, MF_INDEX_SEGMENT_MAX, &raw, &rlen, err) < 0)
        return mf_err_ctx(err, "%s", name);
    mf_idx_dec_feed(r->dec, raw, rlen, name);
    while ((k = mf_idx_dec_next(r->dec, &rec, err)) > 0)
        if (mf_index_check_record(check, &rec, err) < 0) {
            mf_err_ctx(err, "%s", name);
            k = -1;
            break;
        }
    mf_free(raw);
    return k < 0 ? -1 : 0;
}

static int hash_member_stream(struct mf_tar_reader *t, const struct mf_member_info *mi,
                              struct mf_reader *r, uint64_t *done, struct mf_error *err)
{
    struct mf_hasher h;
    uint8_t dg[MF_DIGEST_BYTES];
    const void *p;
    size_t n;
    uint64_t got = 0;
    int k;
    mf_hash_init_digest(&h);
    while ((k = mf_tarr_data(t, &p, &n, err)) > 0) {
        mf_hash_update(&h, p, n);
        got += n;
        *done += n;
        if (r->o.progress != NULL && (got & ((1u << 22) - 1)) < n)
            r->o.progress(r->o.progress_ctx, *done, 0);
    }
    if (k < 0)
        return mf_err_ctx(err, "member %s", mi->name);
    if (got != mi->size)
        return mf_err(err, MF_ECORRUPT, "member %s is truncated", mi->name);
    mf_hash_final(&h, dg);
    if (sodium_memcmp(dg, mi->digest, MF_DIGEST_BYTES) != 0)
        return mf_err(err, MF_ECORRUPT, "member %s does not match its digest (damaged or altered)",
                      mi->name);
    return 0;
}

static int check_format(const uint8_t *p, size_t n, struct mf_error *err)
{
    static const char prefix[] = "mailferry archive\nformat ";
    size_t pl = sizeof prefix - 1;
    if (n < pl || memcmp(p, prefix, pl) != 0)
        return mf_err(err, MF_ECORRUPT, "not a mailferry archive (FORMAT member not recognised)");
    if (n < pl + 2 || p[pl] != '1' || p[pl + 1] != '\n')
        return mf_err(err, MF_ECORRUPT, "unsupported mailferry archive format version");
    return 0;
}

static int validate(struct mf_reader *r, struct mf_error *err)
{
    struct mf_tar_reader *t = NULL;
    char name[MF_MEMBER_NAME_MAX + 64];
    uint64_t size, done = 0;
    uint8_t *format = NULL, *manifest = NULL, *sig = NULL;
    size_t format_len = 0, sig_len = 0, manifest_len = 0;
    int k, rc = -1;

    if (mf_tarr_open(&t, r->in_fd, r->spool_fd, err) < 0)
        return -1;
    /* 1. FORMAT */
    k = mf_tarr_next(t, name, sizeof name, &size, err);
    if (k <= 0) {
        if (k == 0)
            mf_err(err, MF_ECORRUPT, "empty archive");
        else if (err->cls == MF_ECORRUPT)
            mf_err(err, MF_ECORRUPT, "not a mailferry archive (%s)", err->msg);
        goto out;
    }
    if (strcmp(name, MF_MEMBER_FORMAT) != 0) {
        mf_err(err, MF_ECORRUPT, "not a mailferry archive (first member is %s, not FORMAT)", name);
        goto out;
    }
    if (load_member(t, name, size, MF_FORMAT_MAX, &format, err) < 0)
        goto out;
    format_len = (size_t)size;
    if (check_format(format, format_len, err) < 0)
        goto out;
    /* 2. MANIFEST and its signature */
    k = mf_tarr_next(t, name, sizeof name, &size, err);
    if (k <= 0 || strcmp(name, MF_MEMBER_MANIFEST) != 0) {
        if (k >= 0)
            mf_err(err, MF_ECORRUPT, "%s: MANIFEST missing after FORMAT",
                   k == 0 ? "archive is truncated" : "damaged archive");
        goto out;
    }
    if (load_member(t, name, size, MF_MANIFEST_MAX, &manifest, err) < 0)
        goto out;
    manifest_len = (size_t)size;
    crypto_generichash(r->manifest_hash, MF_HASH_BYTES, manifest, manifest_len, NULL, 0);
    k = mf_tarr_next(t, name, sizeof name, &size, err);
    if (k < 0)
        goto out;
    if (k > 0 && strcmp(name, MF_MEMBER_MANIFEST) == 0) {
        mf_err(err, MF_ECORRUPT, "member MANIFEST appears twice (duplicate member)");
        goto out;
    }
    if (k == 0 || strcmp(name, MF_MEMBER_SIG) != 0) {
        if (r->o.nkeys > 0 || !r->o.allow_unsigned) {
            mf_err(err, MF_ESIG, "archive is not signed (no MANIFEST.minisig after MANIFEST)");
            goto out;
        }
        mf_err(err, MF_ECORRUPT, "MANIFEST.minisig missing");
        goto out;
    }
    if (load_member(t, name, size, MF_SIG_MAX, &sig, err) < 0)
        goto out;
    sig_len = (size_t)size;
    /* 3. signature */
    if (r->o.nkeys > 0) {
        size_t which;
        if (mf_verify(r->o.keys, r->o.nkeys, manifest, manifest_len, sig, sig_len, r->trusted,
                      &which, err) < 0)
            goto out;
        mf_keyid_str(r->signer, r->o.keys[which].keyid);
        r->signed_ok = 1;
    } else if (!r->o.allow_unsigned) {
        mf_err(err, MF_EUSAGE, "no trusted public key given");
        goto out;
    }
    /* 4. manifest syntax, then FORMAT against it */
    if (mf_manifest_parse(manifest, manifest_len, &r->m, err) < 0)
        goto out;
    if (r->signed_ok) {
        char tc[MF_TRUSTED_COMMENT_MAX + 1];
        mf_manifest_trusted_comment(&r->m, tc, sizeof tc);
        if (strcmp(tc, r->trusted) != 0) {
            mf_err(err, MF_ESIG, "trusted comment does not describe this manifest");
            goto out;
        }
    }
    {
        uint8_t dg[MF_DIGEST_BYTES];
        crypto_generichash(dg, sizeof dg, format, format_len, NULL, 0);
        if (format_len != r->m.members[0].size ||
            sodium_memcmp(dg, r->m.members[0].digest, MF_DIGEST_BYTES) != 0) {
            mf_err(err, MF_ECORRUPT, "member FORMAT does not match its digest (damaged or altered)");
            goto out;
        }
    }
    r->pos = mf_calloc(r->m.nmembers, sizeof *r->pos);
    if (r->pos == NULL || mf_index_check_new(&r->check, &r->m, err) < 0 ||
        mf_idx_dec_new(&r->dec, err) < 0) {
        if (r->pos == NULL)
            mf_err_nomem(err);
        goto out;
    }
    /* 5. every member in order */
    for (size_t i = 1; i < r->m.nmembers; i++) {
        const struct mf_member_info *mi = &r->m.members[i];
        int64_t off;
        if (i > r->m.nindex && r->o.index_only) {
            /* the state is all the caller wants; an index file (spec 14.7)
             * ends here */
            r->index_only = 1;
            break;
        }
        k = mf_tarr_next(t, name, sizeof name, &size, err);
        if (k < 0)
            goto out;
        if (k == 0) {
            mf_err(err, MF_ECORRUPT, "archive is truncated: member %s is missing", mi->name);
            goto out;
        }
        if (strcmp(name, mi->name) != 0) {
            wrong_member(&r->m, i, name, err);
            goto out;
        }
        if (size != mi->size) {
            mf_err(err, MF_ECORRUPT, "member %s is %llu bytes, the manifest says %llu", name,
                   (unsigned long long)size, (unsigned long long)mi->size);
            goto out;
        }
        if (i <= r->m.nindex) {
            uint8_t *data;
            uint8_t dg[MF_DIGEST_BYTES];
            if (load_member(t, name, size, INDEX_MEMBER_MAX, &data, err) < 0)
                goto out;
            done += size;
            crypto_generichash(dg, sizeof dg, data, (size_t)size, NULL, 0);
            if (sodium_memcmp(dg, mi->digest, MF_DIGEST_BYTES) != 0) {
                mf_free(data);
                mf_err(err, MF_ECORRUPT, "member %s does not match its digest (damaged or altered)",
                       name);
                goto out;
            }
            k = decode_segment(r, data, (size_t)size, name, r->check, err);
            mf_free(data);
            if (k < 0)
                goto out;
            if (i == r->m.nindex && mf_index_check_done(r->check, err) < 0)
                goto out;
        } else if (hash_member_stream(t, mi, r, &done, err) < 0) {
            goto out;
        }
        off = mf_tarr_data_offset(t);
        if (off < 0 && size > 0) {
            mf_err(err, MF_ECORRUPT, "member %s: unsupported tar layout (data not contiguous)",
                   name);
            goto out;
        }
        r->pos[i].off = (uint64_t)(off < 0 ? 0 : off);
    }
    if (r->index_only)
        goto done;
    /* 6. nothing after the last member but the end-of-archive marker */
    k = mf_tarr_next(t, name, sizeof name, &size, err);
    if (k < 0)
        goto out;
    if (k > 0) {
        wrong_member(&r->m, r->m.nmembers, name, err);
        if (strstr(err->msg, "out of order") != NULL)
            mf_err(err, MF_ECORRUPT, "unexpected member %s after the last one", name);
        goto out;
    }
    if (mf_tarr_finish(t, err) < 0)
        goto out;
done:
    r->archive_bytes = mf_tarr_bytes(t);
    r->header = *mf_index_check_header(r->check);
    r->frames = (struct mf_frame_loc *)mf_index_check_frames(r->check, &r->nframes);
    rc = 0;
out:
    mf_tarr_free(&t);
    mf_free(format);
    mf_free(manifest);
    mf_free(sig);
    return rc;
}

int mf_reader_open(struct mf_reader **r_r, const char *path, const struct mf_reader_opts *o,
                   struct mf_error *err)
{
    struct mf_reader *r = mf_calloc(1, sizeof *r);
    struct stat st;
    *r_r = NULL;
    if (r == NULL)
        return mf_err_nomem(err);
    r->o = *o;
    if (r->o.tmpdir == NULL)
        r->o.tmpdir = mf_tmpdir();
    r->spool_fd = -1;
    r->in_fd = -1;
    if (strcmp(path, "-") == 0) {
        r->in_fd = STDIN_FILENO;
    } else {
        r->in_fd = open(path, O_RDONLY | O_CLOEXEC);
        if (r->in_fd < 0) {
            int e = errno;
            mf_free(r);
            return mf_err_sys(err, MF_EIO, e, "%s", path);
        }
        r->own_in = 1;
    }
    if (fstat(r->in_fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        r->spool_fd = mf_spool_open(r->o.tmpdir, err);
        if (r->spool_fd < 0) {
            mf_reader_free(&r);
            return -1;
        }
    }
    r->src = r->spool_fd >= 0 ? r->spool_fd : r->in_fd;
    r->dctx = mf_frame_dctx_new(24);
    r->cache = mf_frame_cache_new(FRAME_CACHE_BUDGET);
    r->cbuf = mf_malloc(MF_FRAME_CSIZE_MAX);
    if (r->dctx == NULL || r->cache == NULL || r->cbuf == NULL) {
        mf_reader_free(&r);
        return mf_err_nomem(err);
    }
    if (validate(r, err) < 0) {
        mf_reader_free(&r);
        return -1;
    }
    *r_r = r;
    return 0;
}

const struct mf_manifest *mf_reader_manifest(const struct mf_reader *r)
{
    return &r->m;
}

const struct mf_rec_header *mf_reader_header(const struct mf_reader *r)
{
    return &r->header;
}

const char *mf_reader_signer(const struct mf_reader *r)
{
    return r->signed_ok ? r->signer : NULL;
}

const char *mf_reader_trusted_comment(const struct mf_reader *r)
{
    return r->signed_ok ? r->trusted : NULL;
}

void mf_reader_set_chain(struct mf_reader *r, mf_chain_fn fn, void *ctx)
{
    r->chain = fn;
    r->chain_ctx = ctx;
}

int mf_reader_index_only(const struct mf_reader *r)
{
    return r->index_only;
}

uint64_t mf_reader_chain_messages(const struct mf_reader *r)
{
    return mf_index_check_chain_messages(r->check);
}

const uint8_t *mf_reader_manifest_hash(const struct mf_reader *r)
{
    return r->manifest_hash;
}

uint64_t mf_reader_archive_bytes(const struct mf_reader *r)
{
    return r->archive_bytes;
}

int mf_reader_rewind(struct mf_reader *r, struct mf_error *err)
{
    (void)err;
    r->seg = 0;
    r->ended = 0;
    mf_free(r->segbuf);
    r->segbuf = NULL;
    mf_idx_dec_feed(r->dec, NULL, 0, "index");
    return 0;
}

/* Loads index segment r->seg again, re-checking its digest. */
static int load_segment(struct mf_reader *r, struct mf_error *err)
{
    const struct mf_member_info *mi = &r->m.members[1 + r->seg];
    uint8_t *comp;
    uint8_t dg[MF_DIGEST_BYTES];
    size_t rlen;
    comp = mf_malloc((size_t)mi->size + 1);
    if (comp == NULL)
        return mf_err_nomem(err);
    if (mf_pread_all(r->src, comp, (size_t)mi->size, r->pos[1 + r->seg].off, mi->name, err) < 0) {
        mf_free(comp);
        return -1;
    }
    crypto_generichash(dg, sizeof dg, comp, (size_t)mi->size, NULL, 0);
    if (sodium_memcmp(dg, mi->digest, MF_DIGEST_BYTES) != 0) {
        mf_free(comp);
        return mf_err(err, MF_ECORRUPT, "member %s changed after it was verified", mi->name);
    }
    mf_free(r->segbuf);
    r->segbuf = NULL;
    if (mf_frame_decompress_alloc(r->dctx, comp, (size_t)mi->size, MF_INDEX_SEGMENT_MAX,
                                  &r->segbuf, &rlen, err) < 0) {
        mf_free(comp);
        return -1;
    }
    mf_free(comp);
    snprintf(r->segname, sizeof r->segname, "%s", mi->name);
    mf_idx_dec_feed(r->dec, r->segbuf, rlen, r->segname);
    r->seg++;
    return 0;
}

int mf_reader_next(struct mf_reader *r, struct mf_record *rec, struct mf_error *err)
{
    for (;;) {
        int k;
        if (r->ended)
            return 0;
        k = mf_idx_dec_next(r->dec, rec, err);
        if (k < 0)
            return -1;
        if (k > 0) {
            if (rec->type == MF_REC_END)
                r->ended = 1;
            return 1;
        }
        if (r->seg >= r->m.nindex)
            return mf_err(err, MF_ECORRUPT, "index ends without END");
        if (load_segment(r, err) < 0)
            return -1;
    }
}

/* Decoded bytes of a frame, from the cache or read, checked and decoded. */
static const uint8_t *get_frame(struct mf_reader *r, uint32_t id, struct mf_error *err)
{
    const struct mf_frame_loc *f;
    const struct mf_member_info *mi;
    uint8_t h[MF_HASH_BYTES];
    uint8_t *raw;
    const uint8_t *c = mf_frame_cache_get(r->cache, id);
    if (c != NULL)
        return c;
    if (id >= r->nframes) {
        mf_err(err, MF_ECORRUPT, "reference to unknown frame %u", id);
        return NULL;
    }
    f = &r->frames[id];
    mi = &r->m.members[r->m.nindex + f->pack];
    if (mf_pread_all(r->src, r->cbuf, f->csize, r->pos[r->m.nindex + f->pack].off + f->offset,
                     mi->name, err) < 0)
        return NULL;
    mf_hash(MF_HK_FRAME, h, r->cbuf, f->csize);
    if (sodium_memcmp(h, f->hash, MF_HASH_BYTES) != 0) {
        mf_err(err, MF_ECORRUPT, "frame %u of %s does not match its hash", id, mi->name);
        return NULL;
    }
    raw = mf_malloc(f->rsize);
    if (raw == NULL) {
        mf_err_nomem(err);
        return NULL;
    }
    if (mf_frame_decompress(r->dctx, r->cbuf, f->csize, raw, f->rsize, err) < 0) {
        mf_free(raw);
        mf_err_ctx(err, "frame %u of %s", id, mi->name);
        return NULL;
    }
    mf_frame_cache_put(r->cache, id, raw, f->rsize);
    return raw;
}

/* The bytes of one reference: from a frame, or through the chain source. */
static const uint8_t *ref_bytes(struct mf_reader *r, const struct mf_blobref *ref,
                                struct mf_error *err)
{
    const uint8_t *f;
    if (ref->loc == MF_LOC_CHAIN) {
        if (r->chain == NULL) {
            mf_err(err, MF_ECHAIN, "a message refers to content of the base chain, which is not "
                                   "at hand");
            return NULL;
        }
        if (r->chainbuf == NULL && (r->chainbuf = mf_malloc(MF_BLOB_MAX)) == NULL) {
            mf_err_nomem(err);
            return NULL;
        }
        if (ref->len > MF_BLOB_MAX ||
            r->chain(r->chain_ctx, ref->chain_guid, ref->chain_uid, ref->chain_offset,
                     r->chainbuf, (size_t)ref->len, err) < 0)
            return NULL;
        return r->chainbuf;
    }
    if (r->index_only) {
        mf_err(err, MF_EUSAGE, "message data of an index file (or an archive opened for its "
                               "index only) cannot be read");
        return NULL;
    }
    f = get_frame(r, ref->frame, err);
    if (f == NULL)
        return NULL;
    if ((uint64_t)ref->offset + ref->len > r->frames[ref->frame].rsize) {
        mf_err(err, MF_ECORRUPT, "blob reference past the end of frame %u", ref->frame);
        return NULL;
    }
    return f + ref->offset;
}

int mf_reader_emit(struct mf_reader *r, const struct mf_blobref *refs, uint32_t nrefs,
                   uint64_t size, const uint8_t *hash, mf_sink_fn sink, void *ctx,
                   struct mf_error *err)
{
    struct mf_hasher h;
    uint64_t total = 0;
    uint8_t got[MF_HASH_BYTES];
    if (hash != NULL)
        mf_hash_init(&h, MF_HK_MESSAGE);
    for (uint32_t i = 0; i < nrefs; i++) {
        const uint8_t *b = ref_bytes(r, &refs[i], err);
        uint8_t id[MF_HASH_BYTES];
        if (b == NULL)
            return -1;
        if (hash != NULL || (refs[i].flags & MF_REF_HAS_ID)) {
            mf_hash(MF_HK_BLOB, id, b, (size_t)refs[i].len);
            if ((refs[i].flags & MF_REF_HAS_ID) &&
                sodium_memcmp(id, refs[i].id, MF_HASH_BYTES) != 0) {
                if (refs[i].loc == MF_LOC_CHAIN)
                    return mf_err(err, MF_ECHAIN, "content of the base chain (uid %u, offset "
                                                  "%llu) differs from what the delta expects",
                                  refs[i].chain_uid, (unsigned long long)refs[i].chain_offset);
                return mf_err(err, MF_ECORRUPT, "blob in frame %u does not match its id",
                              refs[i].frame);
            }
            if (hash != NULL)
                mf_message_hash_add(&h, id, refs[i].len);
        }
        if (sink != NULL && sink(ctx, b, (size_t)refs[i].len, err) < 0)
            return -1;
        total += refs[i].len;
    }
    if (total != size)
        return mf_err(err, MF_ECORRUPT, "blobs add up to %llu bytes, expected %llu",
                      (unsigned long long)total, (unsigned long long)size);
    if (hash != NULL) {
        mf_hash_final(&h, got);
        if (sodium_memcmp(got, hash, MF_HASH_BYTES) != 0)
            return mf_err(err, MF_ECORRUPT, "message content does not match its hash");
    }
    return 0;
}

static int has_chain_ref(const struct mf_blobref *refs, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (refs[i].loc == MF_LOC_CHAIN)
            return 1;
    return 0;
}

int mf_reader_verify_content(struct mf_reader *r, void (*progress)(void *, uint64_t, uint64_t),
                             void *ctx, uint64_t *skipped, struct mf_error *err)
{
    struct mf_record rec;
    uint64_t done = 0, n = 0;
    int k;
    if (skipped != NULL)
        *skipped = 0;
    if (mf_reader_rewind(r, err) < 0)
        return -1;
    while ((k = mf_reader_next(r, &rec, err)) > 0) {
        if (rec.type == MF_REC_MESSAGE) {
            const struct mf_rec_message *m = &rec.u.message;
            if (r->chain == NULL && has_chain_ref(m->refs, m->nrefs)) {
                /* the frames it uses are still checked */
                for (uint32_t i = 0; i < m->nrefs; i++)
                    if (m->refs[i].loc == MF_LOC_FRAME &&
                        mf_reader_emit(r, &m->refs[i], 1, m->refs[i].len, NULL, NULL, NULL,
                                       err) < 0)
                        return mf_err_ctx(err, "message uid %u", m->uid);
                if (skipped != NULL)
                    (*skipped)++;
                continue;
            }
            if (mf_reader_emit(r, m->refs, m->nrefs, m->size, m->hash, NULL, NULL, err) < 0)
                return mf_err_ctx(err, "message uid %u", m->uid);
            done += m->size;
            if (progress != NULL && (++n & 255) == 0)
                progress(ctx, done, r->header.message_bytes);
        } else if (rec.type == MF_REC_EXTRA) {
            const struct mf_rec_extra *x = &rec.u.extra;
            if (mf_reader_emit(r, x->refs, x->nrefs, x->size, NULL, NULL, NULL, err) < 0)
                return mf_err_ctx(err, "extra file %.*s", (int)x->path.n, x->path.p);
        }
    }
    if (progress != NULL)
        progress(ctx, done, r->header.message_bytes);
    return k < 0 ? -1 : 0;
}

void mf_reader_free(struct mf_reader **rp)
{
    struct mf_reader *r = *rp;
    if (r == NULL)
        return;
    *rp = NULL;
    if (r->own_in && r->in_fd >= 0)
        close(r->in_fd);
    if (r->spool_fd >= 0)
        close(r->spool_fd);
    mf_manifest_clear(&r->m);
    mf_free(r->pos);
    mf_index_check_free(&r->check);
    mf_idx_dec_free(&r->dec);
    mf_free(r->segbuf);
    if (r->dctx != NULL)
        mf_frame_dctx_free(r->dctx);
    mf_frame_cache_free(&r->cache);
    mf_free(r->cbuf);
    mf_free(r->chainbuf);
    mf_free(r);
}
