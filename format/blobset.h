/* blobset.h: the deduplication set of the writer: blob id -> where the blob
 * is stored (frame id, offset, length). Open addressing on the id's first
 * bytes (ids are uniformly distributed hashes), full 32-byte ids compared. */
#ifndef MF_BLOBSET_H
#define MF_BLOBSET_H

#include <stddef.h>
#include <stdint.h>

#include "limits.h"

struct mf_blobloc {
    uint32_t frame;
    uint32_t offset;
    uint32_t len;
};

struct mf_blobset;

struct mf_blobset *mf_blobset_new(void);
void mf_blobset_free(struct mf_blobset **s);
/* Returns 1 and fills *loc if present, 0 if not. */
int mf_blobset_get(const struct mf_blobset *s, const uint8_t id[MF_HASH_BYTES],
                   struct mf_blobloc *loc);
/* Inserts (the id must not be present); -1 on out-of-memory. */
int mf_blobset_put(struct mf_blobset *s, const uint8_t id[MF_HASH_BYTES],
                   const struct mf_blobloc *loc);
size_t mf_blobset_count(const struct mf_blobset *s);

#endif
