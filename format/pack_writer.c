/* pack_writer.c: frame building, parallel compression and pack spooling. */
#include "pack_writer.h"
#include "frame.h"
#include "fsutil.h"
#include "hash.h"
#include "mem.h"
#include "pool.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

struct job {
    struct mf_packw *owner;
    uint32_t id;
    uint8_t *raw;
    size_t rlen;
    struct mf_buf out;
    uint8_t hash[MF_HASH_BYTES];
    struct mf_error err;
    int failed;
};

struct builder {
    uint8_t *raw;
    size_t len;
    uint32_t id;
    int open;
};

struct mf_packw {
    int level;
    size_t target[MF_PACKW_KINDS];
    size_t pack_target;
    struct builder b[MF_PACKW_KINDS];
    uint32_t next_id;
    struct mf_pool *pool;
    pthread_mutex_t cctx_mu;
    ZSTD_CCtx **cctx_free;
    size_t ncctx_free, cctx_cap;
    int spool;
    uint64_t spool_len;
    struct mf_packw_pack *packs;
    size_t npacks, packs_cap;
    int pack_open;
    struct mf_hasher pack_hash;
    size_t frames_cap;  /* capacity of the open pack's frames array */
    uint64_t compressed;
    const struct mf_filekey *seal;  /* NULL: not encrypted */
    uint8_t archive_id[MF_ARCHIVE_ID_BYTES];
};

static ZSTD_CCtx *cctx_get(struct mf_packw *p)
{
    ZSTD_CCtx *c = NULL;
    pthread_mutex_lock(&p->cctx_mu);
    if (p->ncctx_free > 0)
        c = p->cctx_free[--p->ncctx_free];
    pthread_mutex_unlock(&p->cctx_mu);
    return c != NULL ? c : mf_frame_cctx_new(p->level);
}

static void cctx_put(struct mf_packw *p, ZSTD_CCtx *c)
{
    pthread_mutex_lock(&p->cctx_mu);
    if (p->ncctx_free < p->cctx_cap) {
        p->cctx_free[p->ncctx_free++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&p->cctx_mu);
    if (c != NULL)
        mf_frame_cctx_free(c);
}

static void compress_job(void *arg)
{
    struct job *j = arg;
    ZSTD_CCtx *c = cctx_get(j->owner);
    if (c == NULL) {
        j->failed = 1;
        mf_err_nomem(&j->err);
        return;
    }
    if (mf_frame_compress(c, j->raw, j->rlen, &j->out, &j->err) < 0) {
        j->failed = 1;
    } else {
        /* the frame hash is of the compressed bytes; encryption wraps them */
        mf_hash(MF_HK_FRAME, j->hash, j->out.p, j->out.len);
        if (j->owner->seal != NULL) {
            size_t n = j->out.len;
            if (mf_buf_reserve(&j->out, MF_SEAL_TAG_BYTES) < 0) {
                j->failed = 1;
                mf_err_nomem(&j->err);
            } else {
                mf_seal(j->owner->seal, j->owner->archive_id, MF_SEAL_FRAME, j->id, j->out.p, n);
                j->out.len = n + MF_SEAL_TAG_BYTES;
            }
        }
    }
    cctx_put(j->owner, c);
}

static void job_free(struct job *j)
{
    if (j == NULL)
        return;
    mf_free(j->raw);
    mf_buf_free(&j->out);
    mf_free(j);
}

int mf_packw_open(struct mf_packw **p_r, int level, int threads, const char *tmpdir,
                  const size_t frame_target[MF_PACKW_KINDS], size_t pack_target,
                  struct mf_error *err)
{
    struct mf_packw *p = mf_calloc(1, sizeof *p);
    *p_r = NULL;
    if (p == NULL)
        return mf_err_nomem(err);
    p->level = level;
    p->spool = -1;
    for (int k = 0; k < MF_PACKW_KINDS; k++) {
        p->target[k] = frame_target[k];
        if (p->target[k] == 0 || p->target[k] > MF_FRAME_RAW_MAX)
            p->target[k] = MF_BODY_FRAME_TARGET;
    }
    p->pack_target = pack_target == 0 ? MF_PACK_TARGET : pack_target;
    if (p->pack_target > MF_PACK_MAX / 2)
        p->pack_target = MF_PACK_MAX / 2;
    pthread_mutex_init(&p->cctx_mu, NULL);
    p->cctx_cap = (size_t)(threads > 0 ? threads : 1) + 1;
    p->cctx_free = mf_calloc(p->cctx_cap, sizeof *p->cctx_free);
    if (p->cctx_free == NULL) {
        mf_packw_free(&p);
        return mf_err_nomem(err);
    }
    if (mf_pool_create(&p->pool, threads, (size_t)(threads > 0 ? 2 * threads + 2 : 1), err) < 0) {
        mf_packw_free(&p);
        return -1;
    }
    p->spool = mf_spool_open(tmpdir, err);
    if (p->spool < 0) {
        mf_packw_free(&p);
        return -1;
    }
    *p_r = p;
    return 0;
}

static int open_pack(struct mf_packw *p, struct mf_error *err)
{
    struct mf_packw_pack *pk;
    if (p->npacks == p->packs_cap) {
        size_t ncap = p->packs_cap == 0 ? 16 : p->packs_cap * 2;
        struct mf_packw_pack *np = mf_realloc(p->packs, ncap * sizeof *np);
        if (np == NULL)
            return mf_err_nomem(err);
        p->packs = np;
        p->packs_cap = ncap;
    }
    pk = &p->packs[p->npacks++];
    memset(pk, 0, sizeof *pk);
    pk->spool_off = p->spool_len;
    mf_hash_init_digest(&p->pack_hash);
    p->frames_cap = 0;
    p->pack_open = 1;
    return 0;
}

static void close_pack(struct mf_packw *p)
{
    struct mf_packw_pack *pk = &p->packs[p->npacks - 1];
    mf_hash_final(&p->pack_hash, pk->digest);
    p->pack_open = 0;
}

/* Writes one finished job to the spool and the open pack. */
static int emit(struct mf_packw *p, struct job *j, struct mf_error *err)
{
    struct mf_packw_pack *pk;
    struct mf_frame_info *fi;
    if (j->failed) {
        *err = j->err;
        return -1;
    }
    if (!p->pack_open && open_pack(p, err) < 0)
        return -1;
    pk = &p->packs[p->npacks - 1];
    if (pk->nframes == p->frames_cap) {
        size_t ncap = p->frames_cap == 0 ? 64 : p->frames_cap * 2;
        struct mf_frame_info *nf = mf_realloc(pk->frames, ncap * sizeof *nf);
        if (nf == NULL)
            return mf_err_nomem(err);
        pk->frames = nf;
        p->frames_cap = ncap;
    }
    if (mf_write_all(p->spool, j->out.p, j->out.len, "pack spool", err) < 0)
        return -1;
    mf_hash_update(&p->pack_hash, j->out.p, j->out.len);
    fi = &pk->frames[pk->nframes++];
    fi->id = j->id;
    fi->csize = j->out.len - (p->seal != NULL ? MF_SEAL_TAG_BYTES : 0);
    fi->rsize = j->rlen;
    fi->codec = 1;
    memcpy(fi->hash, j->hash, MF_HASH_BYTES);
    pk->size += j->out.len;
    p->spool_len += j->out.len;
    p->compressed += fi->csize;
    if (pk->size >= p->pack_target || pk->nframes >= MF_FRAMES_PER_PACK_MAX)
        close_pack(p);
    return 0;
}

static int collect_one(struct mf_packw *p, struct mf_error *err)
{
    struct job *j = mf_pool_collect(p->pool);
    int r;
    if (j == NULL)
        return 0;
    r = emit(p, j, err);
    job_free(j);
    return r;
}

static int seal(struct mf_packw *p, int kind, struct mf_error *err)
{
    struct builder *b = &p->b[kind];
    struct job *j;
    if (!b->open)
        return 0;
    j = mf_calloc(1, sizeof *j);
    if (j == NULL)
        return mf_err_nomem(err);
    j->owner = p;
    j->id = b->id;
    j->raw = b->raw;
    j->rlen = b->len;
    b->raw = NULL;
    b->len = 0;
    b->open = 0;
    while (mf_pool_full(p->pool))
        if (collect_one(p, err) < 0) {
            job_free(j);
            return -1;
        }
    mf_pool_submit(p->pool, compress_job, j);
    return 0;
}

void mf_packw_set_seal(struct mf_packw *p, const struct mf_filekey *key,
                       const uint8_t archive_id[MF_ARCHIVE_ID_BYTES])
{
    p->seal = key;
    memcpy(p->archive_id, archive_id, MF_ARCHIVE_ID_BYTES);
}

int mf_packw_add(struct mf_packw *p, int kind, const void *data, size_t n, uint32_t *frame_r,
                 uint32_t *offset_r, struct mf_error *err)
{
    struct builder *b;
    if (kind < 0 || kind >= MF_PACKW_KINDS || n > MF_BLOB_MAX)
        return mf_err(err, MF_EINTERNAL, "pack writer: bad blob");
    b = &p->b[kind];
    if (b->open && b->len + n > p->target[kind] && b->len > 0 && seal(p, kind, err) < 0)
        return -1;
    if (!b->open) {
        size_t cap = p->target[kind] > n ? p->target[kind] : n;
        if (p->next_id == UINT32_MAX - 1)
            return mf_err(err, MF_EUSAGE, "too many frames for one archive");
        b->raw = mf_malloc(cap);
        if (b->raw == NULL)
            return mf_err_nomem(err);
        b->id = p->next_id++;
        b->len = 0;
        b->open = 1;
    }
    memcpy(b->raw + b->len, data, n);
    *frame_r = b->id;
    *offset_r = (uint32_t)b->len;
    b->len += n;
    if (b->len >= p->target[kind])
        return seal(p, kind, err);
    return 0;
}

int mf_packw_flush(struct mf_packw *p, struct mf_error *err)
{
    for (int k = 0; k < MF_PACKW_KINDS; k++)
        if (seal(p, k, err) < 0)
            return -1;
    while (mf_pool_pending(p->pool) > 0)
        if (collect_one(p, err) < 0)
            return -1;
    if (p->pack_open)
        close_pack(p);
    return 0;
}

size_t mf_packw_npacks(const struct mf_packw *p)
{
    return p->npacks;
}

const struct mf_packw_pack *mf_packw_pack(const struct mf_packw *p, size_t i)
{
    return &p->packs[i];
}

uint32_t mf_packw_nframes(const struct mf_packw *p)
{
    return p->next_id;
}

uint64_t mf_packw_compressed_bytes(const struct mf_packw *p)
{
    return p->compressed;
}

int mf_packw_spool_fd(const struct mf_packw *p)
{
    return p->spool;
}

void mf_packw_free(struct mf_packw **pp)
{
    struct mf_packw *p = *pp;
    if (p == NULL)
        return;
    *pp = NULL;
    if (p->pool != NULL) {
        struct job *j;
        while ((j = mf_pool_collect(p->pool)) != NULL)
            job_free(j);
        mf_pool_destroy(&p->pool);
    }
    for (int k = 0; k < MF_PACKW_KINDS; k++)
        mf_free(p->b[k].raw);
    for (size_t i = 0; i < p->ncctx_free; i++)
        mf_frame_cctx_free(p->cctx_free[i]);
    mf_free(p->cctx_free);
    pthread_mutex_destroy(&p->cctx_mu);
    for (size_t i = 0; i < p->npacks; i++)
        mf_free(p->packs[i].frames);
    mf_free(p->packs);
    if (p->spool >= 0)
        close(p->spool);
    mf_free(p);
}
