/* maildir_folders.h: the mailboxes of one Maildir user: INBOX at the root,
 * Maildir++ folders (.Work.Sub) or LAYOUT=fs folders (Work/Sub), Courier's
 * variant; names decoded from modified UTF-7 or UTF-8; subscriptions from
 * `subscriptions` or courierimapsubscribed. Directories only, no messages. */
#ifndef MF_MAILDIR_FOLDERS_H
#define MF_MAILDIR_FOLDERS_H

#include <stddef.h>

#include "../format/error.h"
#include "maildir_uidlist.h"
#include "plan.h"
#include "tree.h"

enum mf_layout_opt { MF_LAYOUT_AUTO = 0 };

/* A directory left out, with the reason (path relative to the Maildir). */
typedef void (*mf_folder_skip_fn)(void *ctx, const char *path, const char *why);

struct mf_folders {
    struct mf_plan_mailbox *v;  /* sorted by stored name; INBOX first */
    size_t n;
    int courier;
    int layout;                 /* MF_LAYOUT_MAILDIRPP or MF_LAYOUT_FS */
    size_t skipped;             /* directories not taken (links, bad names) */
    mf_folder_skip_fn skip;     /* told about each of them */
    void *skip_ctx;
    /* the subscription list (spec: EXTRA role 4), NULL when the user has no
     * subscriptions file */
    char *subs_text;
    size_t subs_len;
};

/* layout: MF_LAYOUT_AUTO, MF_LAYOUT_MAILDIRPP or MF_LAYOUT_FS. `skip` is
 * called for every directory left out, with the reason. */
int mf_folders_discover(struct mf_tree *tree, const char *where, int layout, mf_warn_fn warn,
                        mf_folder_skip_fn skip, void *ctx, struct mf_folders *out,
                        struct mf_error *err) MF_WUR;
void mf_folders_free(struct mf_folders *f);
/* Decodes one on-disk name component. Returns 0 and the UTF-8 text, or -1
 * if it is not printable UTF-8 or valid text in either encoding. */
int mf_decode_component(const char *raw, size_t n, char **out, unsigned char *enc);

#endif
