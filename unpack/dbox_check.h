/* dbox_check.h: reading a user's dbox store back (its index files as
 * Dovecot keeps them, and its mail files) and comparing it with what an
 * archive chain says the user has: mailboxes by GUID (UIDVALIDITY, UIDNEXT),
 * and every message's UID, flags, keywords, GUID, received and save dates,
 * POP3 UIDL and order, sizes and (unless quick) every byte. It automates the
 * check migration guides ask administrators to do by hand, before and after
 * cutover. */
#ifndef MF_DBOX_CHECK_H
#define MF_DBOX_CHECK_H

#include <stdint.h>

#include "../format/error.h"
#include "../pack/base_state.h"

struct mf_check_counts {
    uint64_t mailboxes, messages, differences, extra;
};

/* One difference: mailbox is the archive's stored name (or the target's
 * storage name for an extra mailbox), uid 0 for a mailbox-level one. */
typedef void (*mf_check_fn)(void *ctx, const char *user, const char *mailbox, uint32_t uid,
                            const char *what);

/* Compares the expected state of one user with the store at root (a path).
 * quick: no content check. */
int mf_check_user(const struct mf_base_user *u, const char *root, int quick, mf_check_fn report,
                  void *ctx, struct mf_check_counts *counts, struct mf_error *err) MF_WUR;

#endif
