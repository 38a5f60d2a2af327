/* index_read.h: the current state of a Dovecot index as Dovecot itself
 * computes it: the main index file (dovecot.index, when present) and the
 * transaction log records after its position (.log.2, .log), replayed in
 * order (reference notes section 12.4). Used to read what a target store
 * holds now (delta apply, verify --against), and under Dovecot's own log
 * lock before appending records to a store Dovecot may be using. */
#ifndef MF_DVINDEX_INDEX_READ_H
#define MF_DVINDEX_INDEX_READ_H

#include <stddef.h>
#include <stdint.h>

#include "../format/error.h"

#define MF_IX_EXT_NAME_MAX 64

struct mf_ix_ext {
    char name[MF_IX_EXT_NAME_MAX + 1];
    uint32_t reset_id;
    uint32_t hdr_size;
    uint8_t *hdr;
    uint16_t rec_size, rec_align;
    uint8_t *recs;        /* rec_size bytes per message, parallel to msgs */
};

struct mf_ix_msg {
    uint32_t uid;
    uint8_t flags;
};

struct mf_ix {
    uint8_t hdr[120];     /* the base header (uid_validity at 24, next_uid at 28, ...) */
    uint32_t indexid;
    struct mf_ix_msg *msgs;
    size_t n, cap;
    char **kw;            /* keyword names in order of first use */
    size_t nkw;
    uint64_t *kwbits;     /* kwwords words per message */
    size_t kwwords;
    struct mf_ix_ext *ext;
    size_t next;
    int deleted;          /* INDEX_DELETED seen */
    /* the current log, for writers */
    uint32_t log_seq;
    uint64_t log_end;     /* end of the last complete record = file size when clean */
    uint64_t log_tail;    /* tail offset before any append (12.4 step 5) */
};

void mf_ix_init(struct mf_ix *ix);
void mf_ix_free(struct mf_ix *ix);

/* Loads `<prefix>` (main index) and `<prefix>.log`, `.log.2` from the
 * directory dirfd. logfd, if >= 0, is an open (locked) descriptor of the
 * .log to read through. A missing index and log yield an empty state
 * (returns 0 with log_seq 0). Trailing garbage at the end of the log is an
 * error when `locked` (a writer must not append after it). */
int mf_ix_load(int dirfd, const char *prefix, int logfd, int locked, struct mf_ix *ix,
               struct mf_error *err) MF_WUR;

uint32_t mf_ix_uid_validity(const struct mf_ix *ix);
uint32_t mf_ix_next_uid(const struct mf_ix *ix);
/* Index of a message by UID, or -1. */
long mf_ix_find(const struct mf_ix *ix, uint32_t uid);
int mf_ix_has_kw(const struct mf_ix *ix, size_t msg, size_t kw);
const struct mf_ix_ext *mf_ix_ext_get(const struct mf_ix *ix, const char *name);
/* Record data of extension `e` for message i (rec_size bytes). */
const uint8_t *mf_ix_rec(const struct mf_ix_ext *e, size_t i);

/* Dovecot's log lock: an exclusive fcntl lock on the whole open .log, then
 * a check that the path still names the locked file (else it was rotated:
 * retry). Waits up to timeout_secs. Returns the locked descriptor (opened
 * O_RDWR|O_APPEND); closing it releases the lock. */
int mf_ix_lock(int dirfd, const char *logname, int timeout_secs, struct mf_error *err) MF_WUR;
/* Appends one transaction with a single write; on failure the log is
 * truncated back to its previous size. */
int mf_ix_append(int logfd, uint64_t expect_end, const void *p, size_t n,
                 struct mf_error *err) MF_WUR;

#endif
