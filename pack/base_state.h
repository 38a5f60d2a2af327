/* base_state.h: the state of the source at a base archive (spec 14.2),
 * rebuilt from the chain's indexes (a full archive or its index file, then
 * each delta), one user at a time in ascending name order, so that memory
 * holds one user. A delta packer compares each user's Maildir with it. */
#ifndef MF_BASE_STATE_H
#define MF_BASE_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "../format/archive_files.h"
#include "../format/archive_read.h"
#include "../format/error.h"

struct mf_base_blob {
    uint8_t id[MF_HASH_BYTES];
    uint32_t len;
};

struct mf_base_msg {
    uint32_t uid;
    uint8_t flags;
    uint8_t source_dir;
    char *other;
    uint32_t *kw;          /* indexes into the mailbox's kw, ascending */
    uint32_t nkw;
    char *guid;
    int64_t received, saved;
    uint64_t size, vsize;
    char *uidl;
    uint32_t pop3_order;
    char *source_name;
    uint8_t hash[MF_HASH_BYTES];
    struct mf_base_blob *blobs;
    uint32_t nblobs;
};

struct mf_base_mailbox {
    uint8_t guid[MF_GUID_BYTES];
    char *stored;
    uint32_t uidvalidity, uidnext, flags;
    char **kw;
    uint32_t nkw;
    struct mf_base_msg *msgs;  /* ascending UID */
    size_t n, cap;
    int seen;                  /* scratch for the packer */
};

struct mf_base_extra {
    uint8_t role;
    char *path, *target;
    uint64_t size;
    uint8_t content[MF_HASH_BYTES];  /* message hash of its blobs */
};

struct mf_base_user {
    char *name;
    struct mf_base_mailbox *mb;
    size_t nmb;
    struct mf_base_extra *extras;
    size_t nextras;
};

struct mf_base_chain;

/* Opens the chain: a[0] a full archive or its index file, each next one
 * a delta (or index file) of the one before. Only the indexes are read and
 * validated; keys are the trusted keys (and ro->dkeys open encrypted ones). */
int mf_base_open(struct mf_base_chain **c_r, const struct mf_archive_files *a, size_t npaths,
                 const struct mf_reader_opts *ro, struct mf_error *err) MF_WUR;
void mf_base_close(struct mf_base_chain **c);
/* The last archive of the chain: the base of the delta being packed. */
const struct mf_manifest *mf_base_manifest(const struct mf_base_chain *c);
const uint8_t *mf_base_manifest_hash(const struct mf_base_chain *c);
/* The next user of the base state in ascending name order: 1 and *u_r
 * (the caller's, free with mf_base_user_free), or 0 when there are no more. */
int mf_base_next_user(struct mf_base_chain *c, struct mf_base_user **u_r,
                      struct mf_error *err) MF_WUR;
void mf_base_user_free(struct mf_base_user *u);

/* Lookups in one user's state. */
struct mf_base_mailbox *mf_base_mailbox_by_guid(struct mf_base_user *u,
                                                const uint8_t guid[MF_GUID_BYTES]);
struct mf_base_msg *mf_base_msg_by_uid(struct mf_base_mailbox *mb, uint32_t uid);

#endif
