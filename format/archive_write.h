/* archive_write.h: the public writer. A producer (pack/, or a test tool)
 * describes users, extra files, mailboxes and messages in index order and
 * hands over each message as an ordered list of blobs; the writer hashes,
 * deduplicates, compresses on worker threads, spools, and on finish emits the
 * signed archive in one pass to a descriptor (a file or a pipe). */
#ifndef MF_ARCHIVE_WRITE_H
#define MF_ARCHIVE_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "index_codec.h"
#include "manifest.h"
#include "sign.h"

enum mf_blob_kind {
    MF_BLOB_HEADER = 0,  /* a message header block */
    MF_BLOB_TEXT = 1,    /* body text, MIME structure */
    MF_BLOB_PART = 2     /* a large MIME part body (attachments) */
};
#define MF_BLOB_KINDS 3

struct mf_writer_opts {
    int level;             /* zstd level; 0 = default (3) */
    int threads;           /* compression threads; < 0 = one per CPU */
    const char *tmpdir;    /* spool directory; NULL = $TMPDIR or /tmp */
    const char *host;      /* source host label; NULL = gethostname() */
    size_t frame_target[MF_BLOB_KINDS];  /* raw bytes per frame; 0 = defaults */
    size_t pack_target;    /* compressed bytes per pack member; 0 = default */
    /* Fixed id and time for reproducible test vectors; all-zero id = random. */
    uint8_t fixed_id[MF_ARCHIVE_ID_BYTES];
    int64_t fixed_created;
    /* A delta archive (spec 14): its base and the base's chain number. */
    int delta;
    uint8_t base_id[MF_ARCHIVE_ID_BYTES];
    uint8_t base_manifest[MF_HASH_BYTES];
    uint64_t base_chain;
    /* Encryption (spec 15.1): every index segment and frame is encrypted to
     * these keys (their X25519 images); none = not encrypted. */
    const struct mf_pubkey *recipients;
    size_t nrecipients;
    /* Volumes (spec 15.2): 0 = one file; otherwise at most this many bytes
     * per volume (>= MF_VOLUME_SIZE_MIN), written by finish_volumes. */
    uint64_t volume_size;
};

struct mf_writer_stats {
    uint64_t users, mailboxes, messages, extras;
    uint64_t message_bytes;  /* bytes of every message, as given */
    uint64_t blob_refs;
    uint64_t stored_bytes;   /* raw bytes of distinct blobs, before compression */
    uint64_t dedup_bytes;    /* bytes not stored again thanks to deduplication */
    uint64_t compressed_bytes;
    uint64_t frames, packs;
    uint64_t archive_bytes;  /* after finish: bytes written (all volumes) */
    uint64_t volumes;        /* after finish: volumes written (1 when not split) */
};

struct mf_writer;

int mf_writer_open(struct mf_writer **w_r, const struct mf_writer_opts *o,
                   struct mf_error *err) MF_WUR;
/* Index order: user (extras) (mailbox (message)* end_mailbox)* end_user, ...
 * Users in strictly ascending byte order of name; mailboxes of a user in
 * strictly ascending byte order of stored name; messages by ascending UID.
 * Strings are copied; counts, hashes and refs are filled in by the writer. */
int mf_writer_begin_user(struct mf_writer *w, const struct mf_rec_user *u,
                         struct mf_error *err) MF_WUR;
int mf_writer_extra(struct mf_writer *w, const struct mf_rec_extra *x, const void *content,
                    size_t len, struct mf_error *err) MF_WUR;
int mf_writer_begin_mailbox(struct mf_writer *w, const struct mf_rec_mailbox *m,
                            struct mf_error *err) MF_WUR;
int mf_writer_begin_message(struct mf_writer *w, const struct mf_rec_message *m,
                            struct mf_error *err) MF_WUR;
/* Appends one blob (at most MF_BLOB_MAX bytes) to the current message. */
int mf_writer_blob(struct mf_writer *w, enum mf_blob_kind kind, const void *p, size_t n,
                   struct mf_error *err) MF_WUR;
/* Abandons the current message (it vanished while being read). */
void mf_writer_abort_message(struct mf_writer *w);
/* The same as mf_writer_blob with the blob id already computed (by a worker
 * thread): id = keyed BLAKE2b-256 of the blob (spec section 7). */
int mf_writer_blob_id(struct mf_writer *w, enum mf_blob_kind kind, const void *p, size_t n,
                      const uint8_t id[MF_HASH_BYTES], struct mf_error *err) MF_WUR;

/* Sets the virtual size of the current message (before end_message), when
 * it was not known at begin_message. */
void mf_writer_set_vsize(struct mf_writer *w, uint64_t vsize);
int mf_writer_end_message(struct mf_writer *w, struct mf_error *err) MF_WUR;
int mf_writer_end_mailbox(struct mf_writer *w, struct mf_error *err) MF_WUR;
int mf_writer_end_user(struct mf_writer *w, struct mf_error *err) MF_WUR;
/* Delta archives (spec 14.3). After begin_mailbox comes mailbox_delta; a
 * message may use blobs of the base chain (chain_blob, instead of blob);
 * after the messages come flags records (ascending UID) and at most one
 * expunge; set_state gives the mailbox's state hash at delta time (the
 * writer cannot compute it: unchanged messages are not in the delta) before
 * end_mailbox. mailbox_gone follows the user's last mailbox, user_gone the
 * last user. */
int mf_writer_mailbox_delta(struct mf_writer *w, const struct mf_rec_mailbox_delta *d,
                            struct mf_error *err) MF_WUR;
int mf_writer_chain_blob(struct mf_writer *w, const uint8_t id[MF_HASH_BYTES], size_t n,
                         const uint8_t guid[MF_GUID_BYTES], uint32_t uid, uint64_t offset,
                         struct mf_error *err) MF_WUR;
int mf_writer_flags(struct mf_writer *w, const struct mf_rec_flags *f, struct mf_error *err) MF_WUR;
int mf_writer_expunge(struct mf_writer *w, const struct mf_rec_expunge *e,
                      struct mf_error *err) MF_WUR;
void mf_writer_set_state(struct mf_writer *w, const uint8_t state[MF_HASH_BYTES]);
int mf_writer_mailbox_gone(struct mf_writer *w, const struct mf_rec_mailbox_gone *g,
                           struct mf_error *err) MF_WUR;
int mf_writer_user_gone(struct mf_writer *w, const struct mf_rec_user_gone *g,
                        struct mf_error *err) MF_WUR;
/* Whether a blob with this id is stored in this archive already. */
int mf_writer_has_blob(const struct mf_writer *w, const uint8_t id[MF_HASH_BYTES]);

/* Content stored ahead of its index record, for sources that cannot be read
 * in index order (a tarball): store a message's blobs between
 * content_begin and content_end at any time before finish, keep the
 * resulting mf_content, then emit the record with mf_writer_message_content
 * in index order. */
struct mf_content {
    struct mf_blobref *refs;
    uint32_t nrefs;
    uint64_t size;
    uint8_t hash[MF_HASH_BYTES];
};
int mf_writer_content_begin(struct mf_writer *w, struct mf_error *err) MF_WUR;
int mf_writer_content_blob(struct mf_writer *w, enum mf_blob_kind kind, const void *p, size_t n,
                           struct mf_error *err) MF_WUR;
int mf_writer_content_end(struct mf_writer *w, struct mf_content *out,
                          struct mf_error *err) MF_WUR;
void mf_content_free(struct mf_content *c);
/* Emits a message record (in place of begin/blob/end_message). */
int mf_writer_message_content(struct mf_writer *w, const struct mf_rec_message *m,
                              const struct mf_content *c, struct mf_error *err) MF_WUR;

/* Completes the archive and writes it to out_fd, signed with sk. */
int mf_writer_finish(struct mf_writer *w, int out_fd, const struct mf_seckey *sk,
                     struct mf_error *err) MF_WUR;
/* The same, and also its index file (spec 14.7) to index_fd. */
int mf_writer_finish_with_index(struct mf_writer *w, int out_fd, int index_fd,
                                const struct mf_seckey *sk, struct mf_error *err) MF_WUR;
/* Completes a split archive (opts.volume_size): asks `open_volume` for the
 * descriptor of volume i (1-based) of n just before writing it; the caller
 * closes them. index_fd as for finish_with_index (-1: none). */
typedef int (*mf_volume_open_fn)(void *ctx, size_t i, size_t n, int *fd_r,
                                 struct mf_error *err);
int mf_writer_finish_volumes(struct mf_writer *w, mf_volume_open_fn open_volume, void *ctx,
                             int index_fd, const struct mf_seckey *sk,
                             struct mf_error *err) MF_WUR;
void mf_writer_stats(const struct mf_writer *w, struct mf_writer_stats *st);
/* The manifest written by finish (valid until free). */
const struct mf_manifest *mf_writer_manifest(const struct mf_writer *w);
void mf_writer_free(struct mf_writer **w);

/* The exact bytes of the FORMAT member. */
extern const char mf_format_text[];

#endif
