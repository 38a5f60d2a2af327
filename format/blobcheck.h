/* blobcheck.h: the blobs a reader has already checked. A reference names its
 * bytes by (frame, offset, length); once those bytes were hashed and gave a
 * blob id, the table remembers that id, so a later reference to the same place
 * needs no hashing: its id is known, and a message hash can be computed from
 * it. Only a reader puts entries here, and only for bytes it hashed itself
 * from a frame whose hash it checked; references to a base chain are never
 * entered. Open addressing with linear probing; the table grows by doubling
 * up to a byte budget and then takes no more entries (the caller hashes those
 * blobs as before). Internal to format/. */
#ifndef MF_BLOBCHECK_H
#define MF_BLOBCHECK_H

#include <stddef.h>
#include <stdint.h>

#include "limits.h"

struct mf_blobcheck;

/* A table that never holds more than about max_bytes; NULL on out-of-memory. */
struct mf_blobcheck *mf_blobcheck_new(size_t max_bytes);
void mf_blobcheck_free(struct mf_blobcheck **t);
/* The id the bytes at (frame, offset, len) hashed to, or NULL. */
const uint8_t *mf_blobcheck_get(const struct mf_blobcheck *t, uint32_t frame, uint32_t offset,
                                uint32_t len);
/* Records that the bytes at (frame, offset, len) hash to id. Returns 1 when
 * recorded (or already there with that id), 0 when the table is full or could
 * not grow (nothing recorded; not an error), -1 when the place is already
 * recorded with another id (nothing changed). */
int mf_blobcheck_put(struct mf_blobcheck *t, uint32_t frame, uint32_t offset, uint32_t len,
                     const uint8_t id[MF_HASH_BYTES]);
size_t mf_blobcheck_count(const struct mf_blobcheck *t);
/* Bytes the table's slots take now. */
size_t mf_blobcheck_bytes(const struct mf_blobcheck *t);

#endif
