/* index_codec.h: the index, a stream of typed records that describes users,
 * mailboxes, messages, extra files and where every blob of every message is
 * stored (spec/FORMAT.md, "Index"). Encoders append whole records to a
 * buffer; the decoder walks a segment record by record and hands out
 * borrowed views that stay valid until the next call. Every count, length
 * and value is checked against limits.h. Cross-record consistency (refs
 * inside frames, UID order, counts) is checked by archive_read.c. */
#ifndef MF_INDEX_CODEC_H
#define MF_INDEX_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"
#include "limits.h"

enum mf_rec_type {
    MF_REC_HEADER = 0x01,
    MF_REC_PACK = 0x02,
    MF_REC_USER = 0x10,
    MF_REC_EXTRA = 0x11,
    MF_REC_USER_END = 0x12,
    MF_REC_MAILBOX = 0x20,
    MF_REC_MESSAGE = 0x21,
    MF_REC_MAILBOX_END = 0x22,
    MF_REC_MAILBOX_DELTA = 0x30,  /* delta archives only (spec 14) */
    MF_REC_EXPUNGE = 0x31,
    MF_REC_FLAGS = 0x32,
    MF_REC_MAILBOX_GONE = 0x33,
    MF_REC_USER_GONE = 0x34,
    MF_REC_END = 0x7f
};

struct mf_str {
    const char *p;  /* not NUL-terminated when borrowed from a record */
    size_t n;
};

/* System flags, as Dovecot's index stores them. */
#define MF_FLAG_ANSWERED 0x01
#define MF_FLAG_FLAGGED 0x02
#define MF_FLAG_DELETED 0x04
#define MF_FLAG_SEEN 0x08
#define MF_FLAG_DRAFT 0x10
#define MF_FLAGS_ALL 0x1f

#define MF_REF_HAS_ID 0x01
#define MF_LOC_FRAME 1   /* in a frame of this archive */
#define MF_LOC_CHAIN 2   /* in a message of the base state (delta archives) */

struct mf_blobref {
    uint8_t flags;
    uint8_t id[MF_HASH_BYTES];
    uint64_t len;
    uint8_t loc;
    uint32_t frame;   /* MF_LOC_FRAME: global frame id (0-based, see PACK records) */
    uint32_t offset;  /* MF_LOC_FRAME: byte offset in the frame's raw content */
    /* MF_LOC_CHAIN: the blob is bytes chain_offset.. of message chain_uid of the
     * base mailbox with GUID chain_guid */
    uint8_t chain_guid[MF_GUID_BYTES];
    uint32_t chain_uid;
    uint64_t chain_offset;
};

struct mf_rec_header {
    uint8_t kind;  /* enum mf_kind */
    uint8_t archive_id[MF_ARCHIVE_ID_BYTES];
    uint64_t users, mailboxes, messages, extras, packs, frames, refs;
    uint64_t message_bytes;  /* sum of message sizes */
    uint64_t blob_bytes;     /* sum of distinct blob lengths stored in this archive */
};

struct mf_frame_info {
    uint32_t id;  /* global frame id */
    uint64_t csize;
    uint64_t rsize;
    uint8_t codec;  /* 1 = zstd */
    uint8_t hash[MF_HASH_BYTES];
};

struct mf_rec_pack {
    uint32_t pack;
    uint32_t nframes;
    const struct mf_frame_info *frames;
};

#define MF_USER_FLAG_NONE 0

struct mf_rec_user {
    struct mf_str name;
    struct mf_str source;
    uint64_t uid, gid;
    struct mf_str owner;
    struct mf_str group;
};

struct mf_rec_user_end {
    uint64_t nmailboxes, nmessages, nextras;
};

enum mf_extra_role {
    MF_EXTRA_SIEVE_SCRIPT = 1,  /* path = script file name */
    MF_EXTRA_SIEVE_ACTIVE = 2,  /* target = name of the active script */
    MF_EXTRA_FILE = 3,          /* other per-user file, kept for the record */
    MF_EXTRA_SUBSCRIPTIONS = 4  /* the subscription list: names, levels TAB-joined, one a line */
};

struct mf_rec_extra {
    uint8_t role;
    struct mf_str path;
    uint32_t mode;
    int64_t mtime;
    uint64_t size;
    struct mf_str target;
    uint32_t nrefs;
    const struct mf_blobref *refs;
};

enum mf_name_encoding { MF_NAME_ASCII = 0, MF_NAME_MUTF7 = 1, MF_NAME_UTF8 = 2 };
enum mf_layout { MF_LAYOUT_MAILDIRPP = 1, MF_LAYOUT_FS = 2, MF_LAYOUT_COURIER = 3 };

#define MF_MBOX_SUBSCRIBED 0x01
#define MF_MBOX_INBOX 0x02
#define MF_MBOX_GUID_DERIVED 0x04  /* no GUID at the source: derived deterministically */
#define MF_MBOX_FLAGS_ALL 0x07

struct mf_rec_mailbox {
    struct mf_str stored;          /* directory name as found at the source */
    uint32_t ncomponents;
    const struct mf_str *components;  /* decoded hierarchy, UTF-8 */
    uint8_t encoding;              /* enum mf_name_encoding of `stored` */
    uint8_t layout;                /* enum mf_layout */
    uint8_t guid[MF_GUID_BYTES];
    uint32_t uidvalidity;
    uint32_t uidnext;
    uint32_t flags;
    uint32_t nkeywords;
    const struct mf_str *keywords;
};

struct mf_rec_mailbox_end {
    uint64_t nmessages;            /* MESSAGE records since the MAILBOX record */
    uint8_t state[MF_HASH_BYTES];  /* state hash of the mailbox (spec: "State hash") */
};

#define MF_SRC_NEW 1
#define MF_SRC_CUR 2

struct mf_rec_message {
    uint32_t uid;
    uint8_t flags;
    struct mf_str other_flags;  /* Maildir info letters with no IMAP meaning, e.g. "P" */
    uint32_t nkeywords;
    const uint32_t *keywords;   /* indexes into the mailbox's keyword list, ascending */
    struct mf_str guid;
    int64_t received;
    int64_t saved;
    uint64_t size;
    uint64_t vsize;
    struct mf_str pop3_uidl;
    uint32_t pop3_order;        /* 0 = none */
    uint8_t source_dir;         /* MF_SRC_NEW or MF_SRC_CUR */
    struct mf_str source_name;
    uint8_t hash[MF_HASH_BYTES];
    uint32_t nrefs;
    const struct mf_blobref *refs;
};

struct mf_rec_end {
    uint64_t records;  /* records before END, all segments */
};

enum mf_delta_kind {
    MF_DELTA_CHANGES = 0,  /* the base mailbox of this GUID, changed */
    MF_DELTA_NEW = 1,      /* not in the base: complete */
    MF_DELTA_RESET = 2     /* new UIDVALIDITY: complete, replaces the base mailbox */
};

struct mf_rec_mailbox_delta {
    uint8_t kind;          /* enum mf_delta_kind */
    struct mf_str base_stored;
    uint32_t base_uidvalidity, base_uidnext;
};

struct mf_uid_range {
    uint32_t first, count;
};

struct mf_rec_expunge {
    uint32_t nranges;
    const struct mf_uid_range *ranges;
};

struct mf_rec_flags {
    uint32_t uid;
    uint8_t old_flags, new_flags;
    struct mf_str other_flags;
    uint32_t nadded, nremoved;
    const uint32_t *added, *removed;  /* keyword indexes, ascending */
};

struct mf_rec_mailbox_gone {
    uint8_t guid[MF_GUID_BYTES];
    struct mf_str base_stored;
};

struct mf_rec_user_gone {
    struct mf_str name;
};

struct mf_record {
    enum mf_rec_type type;
    union {
        struct mf_rec_header header;
        struct mf_rec_pack pack;
        struct mf_rec_user user;
        struct mf_rec_user_end user_end;
        struct mf_rec_extra extra;
        struct mf_rec_mailbox mailbox;
        struct mf_rec_message message;
        struct mf_rec_mailbox_end mailbox_end;
        struct mf_rec_end end;
        struct mf_rec_mailbox_delta mailbox_delta;
        struct mf_rec_expunge expunge;
        struct mf_rec_flags flags;
        struct mf_rec_mailbox_gone mailbox_gone;
        struct mf_rec_user_gone user_gone;
    } u;
};

/* Encoders: append one complete record (type, length, payload). They use
 * `scratch` for the payload. Return -1 only on out-of-memory. */
int mf_enc_header(struct mf_buf *out, struct mf_buf *scratch, const struct mf_rec_header *h);
int mf_enc_pack(struct mf_buf *out, struct mf_buf *scratch, const struct mf_rec_pack *p);
int mf_enc_user(struct mf_buf *out, struct mf_buf *scratch, const struct mf_rec_user *u);
int mf_enc_user_end(struct mf_buf *out, struct mf_buf *scratch, const struct mf_rec_user_end *u);
int mf_enc_extra(struct mf_buf *out, struct mf_buf *scratch, const struct mf_rec_extra *x);
int mf_enc_mailbox(struct mf_buf *out, struct mf_buf *scratch, const struct mf_rec_mailbox *m);
int mf_enc_message(struct mf_buf *out, struct mf_buf *scratch, const struct mf_rec_message *m);
int mf_enc_mailbox_end(struct mf_buf *out, struct mf_buf *scratch,
                       const struct mf_rec_mailbox_end *m);
int mf_enc_end(struct mf_buf *out, struct mf_buf *scratch, const struct mf_rec_end *e);
int mf_enc_mailbox_delta(struct mf_buf *out, struct mf_buf *scratch,
                         const struct mf_rec_mailbox_delta *d);
int mf_enc_expunge(struct mf_buf *out, struct mf_buf *scratch, const struct mf_rec_expunge *e);
int mf_enc_flags(struct mf_buf *out, struct mf_buf *scratch, const struct mf_rec_flags *f);
int mf_enc_mailbox_gone(struct mf_buf *out, struct mf_buf *scratch,
                        const struct mf_rec_mailbox_gone *g);
int mf_enc_user_gone(struct mf_buf *out, struct mf_buf *scratch, const struct mf_rec_user_gone *g);

struct mf_idx_dec;
int mf_idx_dec_new(struct mf_idx_dec **d_r, struct mf_error *err) MF_WUR;
void mf_idx_dec_free(struct mf_idx_dec **d);
/* Hands the decoder the raw bytes of one segment (borrowed until the next
 * feed). `name` is used in error messages. */
void mf_idx_dec_feed(struct mf_idx_dec *d, const uint8_t *p, size_t n, const char *name);
/* 1 with the next record, 0 when the segment is used up, -1 on a malformed
 * record (MF_ECORRUPT naming segment and offset). */
int mf_idx_dec_next(struct mf_idx_dec *d, struct mf_record *rec, struct mf_error *err) MF_WUR;

/* Helpers shared by writers and readers. */
int mf_str_eq(struct mf_str a, const char *b);
/* Valid UTF-8 with no control characters (C0, DEL, C1). */
int mf_utf8_printable(const char *p, size_t n);
/* The message hash (spec section 7): keyed BLAKE2b-256 over, for each blob
 * in order, its blob id and its length as a uv. */
void mf_message_hash(const struct mf_blobref *refs, uint32_t nrefs, uint8_t out[MF_HASH_BYTES]);
/* Incremental form for readers that compute blob ids as they go. */
struct mf_hasher;
void mf_message_hash_add(struct mf_hasher *h, const uint8_t id[MF_HASH_BYTES], uint64_t len);

/* The state hash of a mailbox (spec: "State hash"): start with
 * mf_hash_init(h, MF_HK_STATE), add messages in UID order with their keyword
 * names sorted bytewise, finish with mf_hash_final. */
void mf_state_add(struct mf_hasher *h, uint32_t uid, uint8_t flags, const struct mf_str *kw_sorted,
                  size_t nkw, struct mf_str guid);

#endif
