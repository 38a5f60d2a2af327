/* archive_read.h: the public reader. Opening an archive runs the whole
 * validation pass in the order spec/FORMAT.md states:
 *   FORMAT, MANIFEST, signature (by a trusted key), manifest syntax, then
 *   every member in manifest order (name, size, BLAKE2b-512), the index
 *   (structure, limits, references, counts), and the end of the tar.
 * Nothing from the archive is handed to the caller before that pass has
 * succeeded. Afterwards the caller walks the index records again and reads
 * message bytes by reference; each frame is re-checked against its hash
 * before it is decompressed, and each message against its hash. Input that
 * is not a regular file (a pipe) is copied to a spool file during the pass. */
#ifndef MF_ARCHIVE_READ_H
#define MF_ARCHIVE_READ_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "index_codec.h"
#include "manifest.h"
#include "sign.h"

struct mf_reader_opts {
    const struct mf_pubkey *keys;  /* trusted keys */
    size_t nkeys;
    int allow_unsigned;            /* with no keys: check hashes only (ls without -p) */
    const char *tmpdir;            /* for the spool; NULL = $TMPDIR or /tmp */
    /* progress of the validation pass: bytes read so far, total if known */
    void (*progress)(void *ctx, uint64_t done, uint64_t total);
    void *progress_ctx;
    /* Validate up to the last index member and stop there: for reading an
     * archive's state only, and for index files (spec 14.7), which end there.
     * Message data cannot be read then. */
    int index_only;
    /* Secret keys for encrypted archives (spec 15.1): the first that is a
     * recipient opens the file key. */
    const struct mf_seckey *const *dkeys;
    size_t ndkeys;
    /* Accept what can be checked without reading the index: an encrypted
     * archive without a recipient key, or some of its volumes. The reader
     * then checks the container (signature, manifest, member digests) and
     * mf_reader_container_only says so; the index cannot be walked. */
    int container_ok;
};

struct mf_reader;

/* path "-" reads standard input. */
int mf_reader_open(struct mf_reader **r_r, const char *path, const struct mf_reader_opts *o,
                   struct mf_error *err) MF_WUR;
/* The volumes of one archive (spec 15.2), in order: all of them, or (with
 * index_only) those up to the last index segment, or (with container_ok)
 * any consecutive run. A missing, swapped or foreign volume is named. */
int mf_reader_open_volumes(struct mf_reader **r_r, const char *const *paths, size_t npaths,
                           const struct mf_reader_opts *o, struct mf_error *err) MF_WUR;
/* 1 when only the container was checked (see container_ok), with the reason. */
int mf_reader_container_only(const struct mf_reader *r, const char **why);
/* The volumes that were read (1-based, first .. last) of `total` (1 when the
 * archive is one file). */
void mf_reader_volumes(const struct mf_reader *r, size_t *first, size_t *last, size_t *total);
const struct mf_manifest *mf_reader_manifest(const struct mf_reader *r);
const struct mf_rec_header *mf_reader_header(const struct mf_reader *r);
/* Key id (16 hex) of the key that signed, or NULL when not checked. */
const char *mf_reader_signer(const struct mf_reader *r);
const char *mf_reader_trusted_comment(const struct mf_reader *r);
/* BLAKE2b-256 of the MANIFEST bytes (how a delta names its base). */
const uint8_t *mf_reader_manifest_hash(const struct mf_reader *r);
uint64_t mf_reader_archive_bytes(const struct mf_reader *r);

/* Restarts the walk over the index records. */
int mf_reader_rewind(struct mf_reader *r, struct mf_error *err) MF_WUR;
/* 1 with the next record (borrowed until the next call), 0 after END. */
int mf_reader_next(struct mf_reader *r, struct mf_record *rec, struct mf_error *err) MF_WUR;

/* Receives message bytes in order; returns 0 or -1 (with err filled). */
typedef int (*mf_sink_fn)(void *ctx, const void *p, size_t n, struct mf_error *err);
/* Supplies the bytes of a chain reference (a delta's blob held by the base
 * state: bytes offset..offset+len-1 of message uid of mailbox guid) into buf.
 * The reader checks them against the blob id. Returns 0 or -1. */
typedef int (*mf_chain_fn)(void *ctx, const uint8_t guid[MF_GUID_BYTES], uint32_t uid,
                           uint64_t offset, uint8_t *buf, size_t len, struct mf_error *err);
/* Where mf_reader_emit gets chain references from (none by default: then
 * they are an error). */
void mf_reader_set_chain(struct mf_reader *r, mf_chain_fn fn, void *ctx);
/* Whether this archive is an index file or was opened index-only. */
int mf_reader_index_only(const struct mf_reader *r);
/* Messages of a delta with at least one chain reference. */
uint64_t mf_reader_chain_messages(const struct mf_reader *r);
/* Streams the blobs of refs to sink and checks the whole against `hash`
 * (a message hash; NULL skips the check, for extras). */
int mf_reader_emit(struct mf_reader *r, const struct mf_blobref *refs, uint32_t nrefs,
                   uint64_t size, const uint8_t *hash, mf_sink_fn sink, void *ctx,
                   struct mf_error *err) MF_WUR;
/* Reads every message and extra once: all frames decode and every message
 * matches its hash. Messages of a delta that reference the chain are checked
 * only if a chain source is set; otherwise they are counted in *skipped
 * (may be NULL). */
int mf_reader_verify_content(struct mf_reader *r, void (*progress)(void *, uint64_t, uint64_t),
                             void *ctx, uint64_t *skipped, struct mf_error *err) MF_WUR;
void mf_reader_free(struct mf_reader **r);

#endif
