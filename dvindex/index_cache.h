/* index_cache.h: reading fields of Dovecot's cache file (dovecot.index.cache)
 * for messages of an index state (index_read.h), the way Dovecot looks them
 * up: the index record's "cache" extension holds the offset of the
 * message's newest cache record, valid only while the extension's reset_id
 * equals the cache file's file_seq; records chain to older ones through
 * prev_offset. The file is read with pread, never mapped: a live Dovecot may
 * purge it under us, and a stale or damaged cache only means "not cached". */
#ifndef MF_DVINDEX_INDEX_CACHE_H
#define MF_DVINDEX_INDEX_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "index_read.h"

struct mf_ixc {
    int fd;
    uint64_t size;        /* file size when opened */
    uint32_t file_seq;
    char **names;         /* the file's fields, in file order */
    uint32_t *sizes;      /* fixed size, or UINT32_MAX for variable */
    uint32_t nfields;
    const uint8_t *cache_ext_recs;  /* the index's cache offsets, or NULL */
    uint16_t cache_ext_rec_size;
};

/* Opens `name` in dirfd (no symlinks) for lookups against ix. Returns 1
 * when the cache is usable for ix, 0 when there is none, it belongs to
 * another index or generation, or it is damaged (c is then empty; freeing
 * it is still right), -1 on memory exhaustion. */
int mf_ixc_open(struct mf_ixc *c, int dirfd, const char *name, const struct mf_ix *ix,
                struct mf_error *err) MF_WUR;
void mf_ixc_close(struct mf_ixc *c);

/* The file index of field `name`, or -1 if the file has no such field. */
long mf_ixc_field(const struct mf_ixc *c, const char *name);

/* Copies the newest value of fixed-size field `field` of message i (an index
 * into ix->msgs) into out (outlen must be the field's size). Returns 1 when
 * found, 0 when not cached or the records are damaged. */
int mf_ixc_lookup(const struct mf_ixc *c, size_t i, long field, void *out, size_t outlen);

/* Appends one cache record per value of the fixed 4-byte field `field` at
 * the end of the cache file, as a Dovecot cache transaction does, under
 * the file's lock (tried, waited for at most timeout seconds): offsets[i]
 * gets the record of values[i], *file_seq the file's sequence, for the
 * index's "cache" extension records that make them visible. Returns 1 when
 * appended, 0 when the cache cannot take them (absent, another generation,
 * no such field, busy), -1 on an I/O error. */
int mf_ixc_append_u32(int dirfd, const char *name, const struct mf_ix *ix, const char *field,
                      const uint32_t *values, size_t n, uint32_t *offsets, uint32_t *file_seq,
                      int timeout, struct mf_error *err) MF_WUR;

#endif
