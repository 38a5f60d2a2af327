/* frame.h: zstd frames with hard limits. A frame is one complete zstd frame
 * that declares its content size; decoding checks the size, the window and
 * that exactly one frame is present, so a small input can never expand
 * beyond what the index declared (spec/FORMAT.md, "Packs and frames"). */
#ifndef MF_FRAME_H
#define MF_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"

struct ZSTD_CCtx_s;
struct ZSTD_DCtx_s;

struct ZSTD_CCtx_s *mf_frame_cctx_new(int level);
void mf_frame_cctx_free(struct ZSTD_CCtx_s *c);
struct ZSTD_DCtx_s *mf_frame_dctx_new(int window_log_max);
void mf_frame_dctx_free(struct ZSTD_DCtx_s *d);

/* Appends one frame compressing raw[0..n) to out. */
int mf_frame_compress(struct ZSTD_CCtx_s *c, const void *raw, size_t n, struct mf_buf *out,
                      struct mf_error *err) MF_WUR;
/* Decodes exactly one frame of csize bytes into dst, which must receive
 * exactly rsize bytes. */
int mf_frame_decompress(struct ZSTD_DCtx_s *d, const void *src, size_t csize, void *dst,
                        size_t rsize, struct mf_error *err) MF_WUR;
/* Decodes one frame whose content size must be declared and at most `max`;
 * allocates the result. */
int mf_frame_decompress_alloc(struct ZSTD_DCtx_s *d, const void *src, size_t csize, size_t max,
                              uint8_t **out_r, size_t *len_r, struct mf_error *err) MF_WUR;

#endif
