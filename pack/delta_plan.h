/* delta_plan.h: what a mailbox contributes to a delta archive (spec 14.3),
 * from its plan (what the Maildir holds now) and its base state (what the
 * chain holds): the kind of change, the keyword list, which messages are
 * taken from the base unread, their flag changes, the expunged UIDs; and
 * the per-user map that lets new messages use blobs the chain holds. */
#ifndef MF_DELTA_PLAN_H
#define MF_DELTA_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "../format/index_codec.h"
#include "base_state.h"
#include "plan.h"

struct mf_mbox_delta {
    uint8_t kind;                  /* enum mf_delta_kind */
    struct mf_base_mailbox *base;  /* kinds 0 and 2; NULL for kind 1 */
    const char **kw;               /* the MAILBOX record's keywords: the plan's, then base names */
    uint32_t nkw;
    uint8_t *from_base;            /* per plan message: taken from the base, not read */
    struct mf_rec_flags *flags;    /* flag changes of base messages, ascending UID */
    size_t nflags;
    struct mf_uid_range *expunged; /* base UIDs gone */
    uint32_t nexpunged;
    size_t changed_size;           /* base messages whose name kept but S= size changed */
};

/* Plans mb (after mf_plan_mailbox) against the user's base state bu (NULL for a
 * user new since the base). */
int mf_delta_plan(struct mf_plan_mailbox *mb, struct mf_base_user *bu, struct mf_mbox_delta *d,
                  struct mf_error *err) MF_WUR;
void mf_delta_plan_free(struct mf_mbox_delta *d);

/* The state hash (spec 7) of the mailbox as the delta leaves it: the plan's
 * messages whose `present` flag is set, keywords named through d->kw. */
void mf_delta_state(const struct mf_plan_mailbox *mb, const struct mf_mbox_delta *d,
                    const uint8_t *present, uint8_t out[MF_HASH_BYTES]);
/* The state hash of a base mailbox as it is. */
void mf_base_state_hash(const struct mf_base_mailbox *bm, uint8_t out[MF_HASH_BYTES]);

/* Where each blob of one user's base state can be read back: blob id ->
 * (mailbox GUID, UID, offset in the message). */
struct mf_chain_map;
int mf_chain_map_build(struct mf_chain_map **m_r, struct mf_base_user *u,
                       struct mf_error *err) MF_WUR;
int mf_chain_map_get(const struct mf_chain_map *m, const uint8_t id[MF_HASH_BYTES], size_t len,
                     uint8_t guid[MF_GUID_BYTES], uint32_t *uid, uint64_t *offset);
void mf_chain_map_free(struct mf_chain_map **m);

#endif
