/* mail_split.h: cuts a message into blobs for deduplication, byte-exact:
 * the header block, then the body; in MIME multipart bodies every leaf part
 * body of at least MF_PART_MIN bytes becomes its own blob run, so the same
 * attachment in different messages is stored once. Cut points never change
 * the bytes: the segments cover the message exactly, in order. */
#ifndef MF_MAIL_SPLIT_H
#define MF_MAIL_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "../format/archive_write.h"

#define MF_PART_MIN 4096

struct mf_segment {
    size_t off, len;
    enum mf_blob_kind kind;
};

struct mf_segments {
    struct mf_segment *v;
    size_t n, cap;
};

/* Fills segs (reset first). Each segment is at most MF_BLOB_MAX bytes.
 * -1 only on out-of-memory. */
int mf_split_message(const uint8_t *p, size_t n, struct mf_segments *segs);
void mf_segments_free(struct mf_segments *segs);
/* Offset just after the header block (after the first empty line), or n. */
size_t mf_header_end(const uint8_t *p, size_t n);

#endif
