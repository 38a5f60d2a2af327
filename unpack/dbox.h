/* dbox.h: writing one user's Dovecot dbox store into a staging directory.
 * sdbox and mdbox sit behind the same small interface (struct
 * mf_dbox_layout); unpacker.c drives it user by user, mailbox by mailbox,
 * message by message, in archive order. */
#ifndef MF_DBOX_H
#define MF_DBOX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../format/archive_read.h"
#include "../format/buf.h"
#include "../format/error.h"

struct mf_dbox_opts {
    uid_t uid;
    gid_t gid;
    int chown;            /* set owner and group on everything created */
    mode_t dir_mode, file_mode;
    uint64_t rotate_size; /* mdbox: start a new m.N beyond this size */
    int64_t now;
};

/* One message to write; content comes from the archive through `emit`. */
struct mf_dbox_msg {
    uint32_t uid;
    uint8_t flags;
    const uint32_t *kw;
    uint32_t nkw;
    const char *guid;
    size_t guid_len;
    int64_t received, saved;
    uint64_t size, vsize;
    const char *uidl;
    size_t uidl_len;
    uint32_t pop3_order;
    const uint8_t *hash;  /* message hash, identifies identical copies (mdbox) */
    int recent;           /* was in Maildir new/ (not yet seen by a client) */
    struct mf_reader *reader;
    const struct mf_blobref *refs;
    uint32_t nrefs;
};

struct mf_dbox_mailbox {
    const char *storage;  /* storage name: mUTF-7 (or UTF-8) components joined by '/' */
    uint8_t guid[16];
    uint32_t uidvalidity, uidnext;
    char **keywords;      /* names, NUL-terminated */
    uint32_t nkeywords;
};

struct mf_dbox;

struct mf_dbox_layout {
    const char *name;
    int (*user_begin)(struct mf_dbox *d, struct mf_error *err);
    int (*mailbox_begin)(struct mf_dbox *d, const struct mf_dbox_mailbox *mb,
                         struct mf_error *err);
    int (*message)(struct mf_dbox *d, const struct mf_dbox_msg *m, struct mf_error *err);
    int (*mailbox_end)(struct mf_dbox *d, struct mf_error *err);
    int (*user_end)(struct mf_dbox *d, struct mf_error *err);
    void (*free_priv)(struct mf_dbox *d);
};

extern const struct mf_dbox_layout mf_sdbox_layout;
extern const struct mf_dbox_layout mf_mdbox_layout;

/* Per-message facts every layout keeps until the mailbox ends. */
struct mf_dbox_rec {
    uint32_t uid;
    uint8_t flags;
    uint32_t kw_off, nkw;  /* into kwpool */
    uint32_t saved;
    uint32_t map_uid;      /* mdbox */
    uint8_t guid128[16];   /* mdbox */
};

struct mf_dbox {
    const struct mf_dbox_layout *layout;
    struct mf_dbox_opts o;
    int rootfd;                 /* the staging root of the user */
    /* current mailbox */
    int boxfd;                  /* .../dbox-Mails */
    struct mf_dbox_mailbox mb;
    char *mb_storage;
    struct mf_dbox_rec *recs;
    size_t nrecs, recs_cap;
    uint32_t *kwpool;
    size_t nkwpool, kwpool_cap;
    int have_uidl, have_order;
    uint32_t recent_from;       /* first UID of the trailing run of recent messages, 0 = none */
    uint32_t max_uidvalidity;
    struct mf_buf scratch;
    void *priv;                 /* layout state */
    /* totals */
    uint64_t files, bytes;
};

int mf_dbox_new(struct mf_dbox **d_r, const struct mf_dbox_layout *layout, int rootfd,
                const struct mf_dbox_opts *o, struct mf_error *err) MF_WUR;
void mf_dbox_free(struct mf_dbox **d);

/* Shared helpers for the layouts (dbox_common.c). */
int mf_dbox_mkdirs(struct mf_dbox *d, int base, const char *rel, int *fd_r,
                   struct mf_error *err) MF_WUR;
int mf_dbox_create(struct mf_dbox *d, int dirfd, const char *name, struct mf_error *err) MF_WUR;
int mf_dbox_write_file(struct mf_dbox *d, int dirfd, const char *name, const void *p, size_t n,
                       struct mf_error *err) MF_WUR;
int mf_dbox_add_rec(struct mf_dbox *d, const struct mf_dbox_msg *m, struct mf_dbox_rec **rec_r,
                    struct mf_error *err) MF_WUR;
/* Appends APPEND and KEYWORD_UPDATE records for the collected messages. */
struct mf_log;
void mf_dbox_log_messages(struct mf_dbox *d, struct mf_log *log);
/* Header updates after the messages: UIDNEXT, first_recent_uid, tail. */
void mf_dbox_log_finish(struct mf_dbox *d, struct mf_log *log);
int mf_dbox_begin_mailbox_dir(struct mf_dbox *d, const struct mf_dbox_mailbox *mb,
                              struct mf_error *err) MF_WUR;
void mf_dbox_end_mailbox_state(struct mf_dbox *d);
/* Writes `subscriptions` (version 2) and dovecot-uidvalidity files. */
int mf_dbox_write_root_files(struct mf_dbox *d, char **subscribed, size_t nsub,
                             struct mf_error *err) MF_WUR;

#endif
