/* pack_writer.h: frames and pack members on the writing side. Blobs are
 * appended to an open frame of their kind; a full frame is sealed and
 * compressed on a worker thread; compressed frames are appended, in seal
 * order, to a spool file that holds every pack member back to back. Frame
 * ids are handed out when a frame is opened, so a blob's location is known
 * the moment it is added. Internal to format/. */
#ifndef MF_PACK_WRITER_H
#define MF_PACK_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "encrypt.h"
#include "error.h"
#include "index_codec.h"

#define MF_PACKW_KINDS 3

struct mf_packw_pack {
    uint64_t spool_off;  /* where the member's bytes start in the spool */
    uint64_t size;       /* bytes in the archive (frames, and tags when encrypted) */
    uint8_t digest[MF_DIGEST_BYTES];
    uint32_t nframes;
    struct mf_frame_info *frames;
};

struct mf_packw;

int mf_packw_open(struct mf_packw **p_r, int level, int threads, const char *tmpdir,
                  const size_t frame_target[MF_PACKW_KINDS], size_t pack_target,
                  struct mf_error *err) MF_WUR;
/* Encrypts every frame with key (spec 15.1) from now on; call before the
 * first add. The key must outlive the pack writer. */
void mf_packw_set_seal(struct mf_packw *p, const struct mf_filekey *key,
                       const uint8_t archive_id[MF_ARCHIVE_ID_BYTES]);
/* Stores a new blob; returns its frame id and offset. */
int mf_packw_add(struct mf_packw *p, int kind, const void *data, size_t n, uint32_t *frame_r,
                 uint32_t *offset_r, struct mf_error *err) MF_WUR;
/* Seals every open frame, waits for all compression, closes the last pack. */
int mf_packw_flush(struct mf_packw *p, struct mf_error *err) MF_WUR;
size_t mf_packw_npacks(const struct mf_packw *p);
const struct mf_packw_pack *mf_packw_pack(const struct mf_packw *p, size_t i);
uint32_t mf_packw_nframes(const struct mf_packw *p);
uint64_t mf_packw_compressed_bytes(const struct mf_packw *p);
int mf_packw_spool_fd(const struct mf_packw *p);
void mf_packw_free(struct mf_packw **p);

#endif
