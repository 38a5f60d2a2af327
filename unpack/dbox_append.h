/* dbox_append.h: changing a mailbox of a dbox store that Dovecot may be
 * using, the way Dovecot itself does (reference notes, section 12): message
 * files are written first under temporary names, then, under Dovecot's
 * transaction log lock (and, for mdbox, the map's first), UIDs are
 * assigned from the index's current state, the files are linked into place
 * and one transaction is appended to the log with a single write. Flag
 * changes merge with what the target has; expunges and mailbox removals
 * write Dovecot's own records before any file goes. */
#ifndef MF_DBOX_APPEND_H
#define MF_DBOX_APPEND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../format/buf.h"
#include "../format/error.h"
#include "../format/index_codec.h"
#include "dbox_read.h"

struct mf_owner;

/* A message written under a temporary name, waiting for its UID. */
struct mf_newmsg {
    uint32_t src_uid;     /* its UID at the source */
    uint32_t uid;         /* its UID on the target, set by the commit (0 = not added) */
    uint8_t flags;
    uint32_t kw_off, nkw; /* keyword name indexes, in the batch's kwidx pool */
    uint32_t saved;
    uint32_t cache_off;   /* sdbox: its save date's record in dovecot.index.cache, 0 = none */
    uint8_t guid128[16];  /* mdbox */
    char guid[256];       /* the message GUID, to recognize it on a rerun */
    int have_uidl, have_order;
    /* sdbox: its temporary file in the mailbox directory */
    char tmpname[64];
    /* mdbox: temporary storage file number, offset of its header, size with metadata */
    uint32_t tmpfile, offset, size;
};

/* A source flag change to merge into the target (spec 14.6). */
struct mf_flagchg {
    uint32_t uid;                 /* target UID */
    uint8_t old_flags, new_flags;
    uint32_t add_off, nadd, rem_off, nrem;  /* keyword name indexes in kwidx */
};

/* What one commit adds and changes in one mailbox. */
struct mf_batch {
    char **kwnames;               /* keyword names used by the batch */
    uint32_t nkw;
    struct mf_newmsg *msgs;
    size_t n;
    struct mf_flagchg *flags;
    size_t nflags;
    uint32_t *kwidx;              /* pool of indexes into kwnames */
    size_t nkwidx;
    uint32_t uidnext;             /* the source mailbox's UIDNEXT (0: none) */
    uint32_t keep_from;           /* messages at or above this source UID keep it if free */
    char **tmpfiles;              /* mdbox: temporary storage files, by number */
    uint64_t *tmpsizes;
    size_t ntmpfiles;
    /* the message being written */
    int fd;                       /* sdbox: its file; mdbox: the open storage file */
    uint64_t msg_start, msg_size;
    char curtmp[64];
    struct mf_buf wbuf;
    /* results */
    size_t remapped;              /* messages that got another UID than at the source */
    size_t already;               /* found on the target already (a rerun) */
};

void mf_batch_init(struct mf_batch *b);
void mf_batch_free(struct mf_batch *b);
int mf_batch_kw(struct mf_batch *b, const char *name, size_t len, uint32_t *idx) MF_WUR;
int mf_batch_kwidx(struct mf_batch *b, const uint32_t *v, uint32_t n, uint32_t *off) MF_WUR;

/* Options of the writes: owner and modes of new files, and syncing. */
struct mf_append_opts {
    const struct mf_owner *own;
    int nosync;
    int lock_timeout;
    int64_t now;
    int resume;                   /* a rerun: look for messages added already */
};

/* Commits a batch to mailbox b: assigns UIDs (the source's when free, else
 * the next free ones), links the files, appends the transaction. */
int mf_box_commit(struct mf_tstore *ts, struct mf_tbox *b, struct mf_batch *batch,
                  const struct mf_append_opts *o, struct mf_error *err) MF_WUR;
/* Expunges target UIDs of mailbox b that are still there. */
int mf_box_expunge(struct mf_tstore *ts, struct mf_tbox *b, const uint32_t *uids, size_t n,
                   const struct mf_append_opts *o, size_t *done, struct mf_error *err) MF_WUR;
/* Creates an empty mailbox `storage` (a path below mailboxes/) with this GUID
 * and UIDVALIDITY, and registers it in ts. */
int mf_box_create(struct mf_tstore *ts, const char *storage, const uint8_t guid[16],
                  uint32_t uidvalidity, const struct mf_append_opts *o, struct mf_tbox **b_r,
                  struct mf_error *err) MF_WUR;
/* Removes mailbox b (expunging its messages first), as Dovecot's delete does. */
int mf_box_delete(struct mf_tstore *ts, struct mf_tbox *b, const struct mf_append_opts *o,
                  struct mf_error *err) MF_WUR;
/* Moves mailbox b's directory to mailboxes/<storage>/dbox-Mails. */
int mf_box_move(struct mf_tstore *ts, struct mf_tbox *b, const char *storage,
                const struct mf_append_opts *o, struct mf_error *err) MF_WUR;
/* Sets the mailbox list index's refresh flag, so running Dovecot processes
 * see created, renamed and removed mailboxes (no list index: nothing to do). */
int mf_list_refresh(int rootfd, int lock_timeout, struct mf_error *err) MF_WUR;

/* New message files, written before the commit: sdbox one temporary file
 * per message in the mailbox directory, mdbox temporary storage files
 * (rotated at `rotate` bytes). begin, then the bytes through the sink, then
 * end with the metadata; nm gets the file fields. */
int mf_batch_msg_begin(struct mf_tstore *ts, struct mf_tbox *b, struct mf_batch *batch,
                       uint64_t size, const struct mf_append_opts *o, uint64_t rotate,
                       struct mf_error *err) MF_WUR;
int mf_batch_msg_sink(void *batch, const void *p, size_t n, struct mf_error *err);
int mf_batch_msg_end(struct mf_batch *batch, struct mf_newmsg *nm, int64_t received,
                     uint64_t vsize, const char *uidl, size_t uidl_len, uint32_t pop3_order,
                     const char *storage, struct mf_error *err) MF_WUR;
/* Closes the open storage file (mdbox) before a commit. */
int mf_msgfiles_close(struct mf_batch *batch, struct mf_error *err) MF_WUR;
/* Removes temporary files of a batch that was not committed. */
void mf_batch_discard(struct mf_tstore *ts, struct mf_tbox *b, struct mf_batch *batch);

#endif
