/* frame.c: bounded zstd compression and decompression of single frames. */
#include "frame.h"
#include "limits.h"
#include "mem.h"

#include <zstd.h>

ZSTD_CCtx *mf_frame_cctx_new(int level)
{
    ZSTD_CCtx *c = ZSTD_createCCtx();
    if (c == NULL)
        return NULL;
    if (ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 0)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 1))) {
        ZSTD_freeCCtx(c);
        return NULL;
    }
    return c;
}

void mf_frame_cctx_free(ZSTD_CCtx *c)
{
    ZSTD_freeCCtx(c);
}

ZSTD_DCtx *mf_frame_dctx_new(int window_log_max)
{
    ZSTD_DCtx *d = ZSTD_createDCtx();
    if (d == NULL)
        return NULL;
    if (ZSTD_isError(ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, window_log_max))) {
        ZSTD_freeDCtx(d);
        return NULL;
    }
    return d;
}

void mf_frame_dctx_free(ZSTD_DCtx *d)
{
    ZSTD_freeDCtx(d);
}

int mf_frame_compress(ZSTD_CCtx *c, const void *raw, size_t n, struct mf_buf *out,
                      struct mf_error *err)
{
    size_t bound = ZSTD_compressBound(n), r;
    if (mf_buf_reserve(out, bound) < 0)
        return mf_err_nomem(err);
    ZSTD_CCtx_reset(c, ZSTD_reset_session_only);
    if (ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(c, n)))
        return mf_err(err, MF_EINTERNAL, "zstd: cannot set frame size");
    r = ZSTD_compress2(c, out->p + out->len, bound, raw, n);
    if (ZSTD_isError(r))
        return mf_err(err, MF_EINTERNAL, "zstd compression failed: %s", ZSTD_getErrorName(r));
    out->len += r;
    return 0;
}

/* The frame header's promises: one frame, its content size declared, no
 * dictionary, a window within 2^window_log_max (the one-shot decoder does not
 * apply the context's window limit, so it is checked here). */
static int check_single_frame(const void *src, size_t csize, unsigned window_log_max,
                              unsigned long long *content, struct mf_error *err)
{
    const uint8_t *p = src;
    unsigned long long window;
    size_t fs;
    *content = ZSTD_getFrameContentSize(src, csize);
    if (*content == ZSTD_CONTENTSIZE_ERROR)
        return mf_err(err, MF_ECORRUPT, "not a zstd frame");
    if (*content == ZSTD_CONTENTSIZE_UNKNOWN)
        return mf_err(err, MF_ECORRUPT, "zstd frame does not declare its size");
    /* RFC 8878 3.1.1.1: after the magic number, the frame header descriptor
     * (bit 5 single segment, bits 1-0 dictionary id size), then the window
     * descriptor unless single segment (whose window is the content size) */
    if (csize < 6)
        return mf_err(err, MF_ECORRUPT, "zstd frame header is cut short");
    if ((p[4] & 0x03) != 0)
        return mf_err(err, MF_ECORRUPT, "zstd frame names a dictionary");
    if (p[4] & 0x20) {
        window = 0;   /* the content size, which the callers bound */
    } else {
        unsigned exponent = p[5] >> 3, mantissa = p[5] & 7;
        unsigned long long base = 1ull << (10 + exponent);
        window = base + base / 8 * mantissa;
    }
    if (window > (1ull << window_log_max))
        return mf_err(err, MF_ECORRUPT, "zstd frame asks for a %llu-byte window, the limit is %llu",
                      window, 1ull << window_log_max);
    fs = ZSTD_findFrameCompressedSize(src, csize);
    if (ZSTD_isError(fs) || fs != csize)
        return mf_err(err, MF_ECORRUPT, "zstd frame length does not match its declared size");
    return 0;
}

static int decompress(ZSTD_DCtx *d, const void *src, size_t csize, unsigned window_log_max,
                      void *dst, size_t rsize, struct mf_error *err)
{
    unsigned long long content;
    size_t r;
    if (check_single_frame(src, csize, window_log_max, &content, err) < 0)
        return -1;
    if (content != rsize)
        return mf_err(err, MF_ECORRUPT, "zstd frame holds %llu bytes, the index says %zu", content,
                      rsize);
    ZSTD_DCtx_reset(d, ZSTD_reset_session_only);
    r = ZSTD_decompressDCtx(d, dst, rsize, src, csize);
    if (ZSTD_isError(r))
        return mf_err(err, MF_ECORRUPT, "zstd frame does not decode: %s", ZSTD_getErrorName(r));
    if (r != rsize)
        return mf_err(err, MF_ECORRUPT, "zstd frame decoded to %zu bytes, expected %zu", r, rsize);
    return 0;
}

int mf_frame_decompress(ZSTD_DCtx *d, const void *src, size_t csize, void *dst, size_t rsize,
                        struct mf_error *err)
{
    return decompress(d, src, csize, MF_FRAME_WINDOWLOG_MAX, dst, rsize, err);
}

int mf_frame_decompress_alloc(ZSTD_DCtx *d, const void *src, size_t csize, size_t max,
                              uint8_t **out_r, size_t *len_r, struct mf_error *err)
{
    unsigned long long content;
    uint8_t *out;
    *out_r = NULL;
    *len_r = 0;
    if (check_single_frame(src, csize, MF_SEGMENT_WINDOWLOG_MAX, &content, err) < 0)
        return -1;
    if (content > max)
        return mf_err(err, MF_ECORRUPT, "zstd frame declares %llu bytes, more than the limit %zu",
                      content, max);
    out = mf_malloc((size_t)content + 1);
    if (out == NULL)
        return mf_err_nomem(err);
    if (decompress(d, src, csize, MF_SEGMENT_WINDOWLOG_MAX, out, (size_t)content, err) < 0) {
        mf_free(out);
        return -1;
    }
    out[content] = 0;
    *out_r = out;
    *len_r = (size_t)content;
    return 0;
}
