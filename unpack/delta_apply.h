/* delta_apply.h: applying one user's part of a delta archive to the store
 * the target holds (spec 14.6), record by record as the archive is walked:
 * renamed mailboxes moved, new messages added (their content read from the
 * delta or, for chain references, from the store itself), flag changes
 * merged, and, once every addition is in, expunges, removed mailboxes,
 * subscriptions, Sieve scripts and the state file. Safe while Dovecot
 * runs (dbox_append.c); every step can be repeated after an interruption. */
#ifndef MF_DELTA_APPLY_H
#define MF_DELTA_APPLY_H

#include "../format/archive_read.h"
#include "../format/error.h"
#include "target.h"
#include "unpacker.h"

struct mf_apply;

struct mf_apply_ctx {
    struct mf_reader *r;
    const struct mf_unpack_opts *o;
    struct mf_unpack_stats *st;
    mf_unpack_note_fn note;
    void *note_ctx;
};

/* t is the user's opened target, holding the delta's base (or in the middle
 * of applying this delta: resume). The apply takes t over. */
/* merge: c->r is a full archive whose messages are added to an existing
 * store where missing (by message GUID); nothing there is changed or removed. */
int mf_apply_begin(struct mf_apply **a_r, const struct mf_apply_ctx *c, const char *user,
                   const struct mf_owner *own, struct mf_target *t, int resume, int merge,
                   struct mf_error *err) MF_WUR;
int mf_apply_extra(struct mf_apply *a, const struct mf_rec_extra *x, struct mf_error *err) MF_WUR;
int mf_apply_mailbox(struct mf_apply *a, const struct mf_rec_mailbox *m,
                     struct mf_error *err) MF_WUR;
int mf_apply_mailbox_delta(struct mf_apply *a, const struct mf_rec_mailbox_delta *d,
                           struct mf_error *err) MF_WUR;
int mf_apply_message(struct mf_apply *a, const struct mf_rec_message *m,
                     struct mf_error *err) MF_WUR;
int mf_apply_flags(struct mf_apply *a, const struct mf_rec_flags *f, struct mf_error *err) MF_WUR;
int mf_apply_expunge(struct mf_apply *a, const struct mf_rec_expunge *e,
                     struct mf_error *err) MF_WUR;
int mf_apply_mailbox_end(struct mf_apply *a, struct mf_error *err) MF_WUR;
int mf_apply_mailbox_gone(struct mf_apply *a, const struct mf_rec_mailbox_gone *g,
                          struct mf_error *err) MF_WUR;
/* After USER_END: the deferred changes, then the state file. */
int mf_apply_end(struct mf_apply *a, struct mf_error *err) MF_WUR;
void mf_apply_free(struct mf_apply **a);

/* The state file of a target root: what was applied last, and whether a
 * delta is being applied. */
struct mf_target_state_info {
    char archive[33];    /* id of the archive last applied completely */
    char manifest[65];   /* its manifest hash, or "" */
    char applying[33];   /* id of a delta being applied, or "" */
    char format[8];      /* sdbox or mdbox */
    char partial[256];   /* the mailbox of a one-mailbox restore, or "" */
    char user[256];      /* the user whose store it is, or "" */
};
void mf_state_info(const char *text, struct mf_target_state_info *si);

#endif
