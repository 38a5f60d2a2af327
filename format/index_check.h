/* index_check.h: consistency of the record stream as a whole: the grammar
 * (HEADER, PACK*, (USER EXTRA* (MAILBOX MESSAGE* MAILBOX_END)* USER_END)*, END;
 * for a delta the records of spec section 14.3),
 * ordering and uniqueness, every blob reference inside a known frame, counts
 * that match, and the frame table the reader needs for random access. */
#ifndef MF_INDEX_CHECK_H
#define MF_INDEX_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "index_codec.h"
#include "manifest.h"

struct mf_frame_loc {
    uint32_t pack;     /* 1-based */
    uint64_t offset;   /* within the pack member */
    uint32_t csize;
    uint32_t rsize;
    uint8_t hash[MF_HASH_BYTES];
    uint8_t present;
};

struct mf_index_check;

int mf_index_check_new(struct mf_index_check **c_r, const struct mf_manifest *m,
                       struct mf_error *err) MF_WUR;
void mf_index_check_free(struct mf_index_check **c);
/* Checks one record in stream order. */
int mf_index_check_record(struct mf_index_check *c, const struct mf_record *rec,
                          struct mf_error *err) MF_WUR;
/* After the last segment: the stream must have ended with END. */
int mf_index_check_done(struct mf_index_check *c, struct mf_error *err) MF_WUR;
const struct mf_rec_header *mf_index_check_header(const struct mf_index_check *c);
/* Messages of a delta with at least one reference to the base chain. */
uint64_t mf_index_check_chain_messages(const struct mf_index_check *c);
/* The frame table (valid after the PACK records); ownership stays. */
const struct mf_frame_loc *mf_index_check_frames(const struct mf_index_check *c, size_t *n_r);

#endif
