/* frame_cache.h: decoded frames kept for reuse, least recently used first
 * out, within a byte budget. Internal to format/. */
#ifndef MF_FRAME_CACHE_H
#define MF_FRAME_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct mf_frame_cache;

struct mf_frame_cache *mf_frame_cache_new(size_t budget);
void mf_frame_cache_free(struct mf_frame_cache **c);
/* Cached bytes of frame `id`, or NULL. */
const uint8_t *mf_frame_cache_get(struct mf_frame_cache *c, uint32_t id);
/* Takes ownership of data (allocated with mf_malloc); -1 on out-of-memory
 * (data is then freed). */
int mf_frame_cache_put(struct mf_frame_cache *c, uint32_t id, uint8_t *data, size_t len);

#endif
