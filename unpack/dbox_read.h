/* dbox_read.h: reading a user's dbox store as it is on the target (written
 * by an earlier unpack, used by Dovecot since): its mailboxes found by GUID,
 * their index state, and a message's bytes and metadata. A delta uses it to
 * read content the chain refers to, to see what is there already, and to
 * carry messages over. Everything is opened below the store's root without
 * following symbolic links. */
#ifndef MF_DBOX_READ_H
#define MF_DBOX_READ_H

#include <stddef.h>
#include <stdint.h>

#include "../dvindex/index_read.h"
#include "../format/error.h"

struct mf_tbox {
    char *rel;          /* the mailbox's dbox-Mails directory, relative to the root */
    char *storage;      /* the storage name (between mailboxes/ and /dbox-Mails) */
    uint8_t guid[16];
    uint32_t map_uid_validity;  /* mdbox */
    struct mf_ix ix;    /* loaded on demand (ix_loaded) */
    int ix_loaded;
};

struct mf_tstore {
    int rootfd;
    int mdbox;
    struct mf_tbox *v;
    size_t n;
    struct mf_ix map;   /* mdbox: storage/dovecot.map.index, loaded on demand */
    int map_loaded;
};

/* Scans rootfd/mailboxes (and directories left by an interrupted rename,
 * `.mailferry-move.*` at the root) for mailboxes. */
int mf_tstore_open(struct mf_tstore *ts, int rootfd, int mdbox, struct mf_error *err) MF_WUR;
void mf_tstore_close(struct mf_tstore *ts);
struct mf_tbox *mf_tstore_find(struct mf_tstore *ts, const uint8_t guid[16]);
/* The mailbox's current index state (re-read when `reload`). */
const struct mf_ix *mf_tbox_state(struct mf_tstore *ts, struct mf_tbox *b, int reload,
                                  struct mf_error *err);
const struct mf_ix *mf_tstore_map(struct mf_tstore *ts, int reload, struct mf_error *err);
void mf_tstore_forget(struct mf_tstore *ts);  /* drop cached states after a change */

struct mf_tmsg {
    int fd;
    uint64_t data_off;  /* where the message's bytes start in the file */
    uint64_t size;
    char guid[256];     /* metadata G */
    int64_t received;   /* metadata R */
    uint64_t vsize;     /* metadata V */
    char uidl[256];     /* metadata P */
    uint32_t pop3_order;
};

/* Opens message uid of mailbox b: 1 when found, 0 when the mailbox does not
 * have it, -1 on error. */
int mf_tmsg_open(struct mf_tstore *ts, struct mf_tbox *b, uint32_t uid, struct mf_tmsg *m,
                 struct mf_error *err) MF_WUR;
int mf_tmsg_read(const struct mf_tmsg *m, uint64_t offset, void *buf, size_t len,
                 struct mf_error *err) MF_WUR;
void mf_tmsg_close(struct mf_tmsg *m);

#endif
