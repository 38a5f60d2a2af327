/* unpacker.h: materializing the users of a validated archive as Dovecot
 * dbox stores, one user at a time: stage, write mail files and index logs,
 * sync, move into place, record what was applied; Sieve scripts after. */
#ifndef MF_UNPACKER_H
#define MF_UNPACKER_H

#include <stdint.h>

#include "../format/archive_read.h"
#include "../format/error.h"
#include "dbox.h"
#include "target.h"

struct mf_owner_rule {
    char *user;
    struct mf_owner owner;
};

struct mf_unpack_opts {
    const char *tmpl;                   /* e.g. /var/vmail/%d/%n/sdbox */
    const struct mf_dbox_layout *layout;
    int format_given;                   /* --format was given (else a delta takes the target's) */
    char (*later)[33];                  /* ids (hex) of archives after this one in the chain */
    size_t nlater;
    struct mf_owner owner;              /* default owner and modes */
    struct mf_owner shared;             /* directories shared by several users */
    struct mf_owner_rule *owner_rules;  /* per user, from --owner-map */
    size_t nowner_rules;
    int nosync, dry_run;
    int merge;                          /* add what is missing to existing stores (by GUID) */
    char sep;                           /* target hierarchy separator */
    int utf8;                           /* target stores names in UTF-8 */
    char **users;                       /* only these users (NULL = all) */
    size_t nusers;
    const char *mailbox;                /* only this mailbox (NULL = all) */
    uint64_t rotate_size;
    const char *home_tmpl;              /* where Sieve scripts go; NULL = parent of the root */
    int home_shared;                    /* the root's parent is not per user */
    int no_sieve;
};

struct mf_unpack_stats {
    uint64_t users, users_current, mailboxes, messages, message_bytes;
    uint64_t files, bytes_written, renamed, sieve;
    uint64_t skipped;                   /* items not written (see the notes): exit 1 */
    uint64_t need_bytes, need_inodes;   /* dry run estimate */
};

typedef void (*mf_unpack_progress_fn)(void *ctx, const struct mf_unpack_stats *st);
/* A remark for the operator: a translated name, a skipped script, ... */
typedef void (*mf_unpack_note_fn)(void *ctx, const char *user, const char *msg);

/* What is checked before anything is written, over every archive given:
 * each selected user's name and target path (no empty, . or .. part; no two
 * user names mapped to one directory by the template), with --home each home
 * that gets Sieve scripts (no link below the template's fixed prefix), and
 * every message GUID and POP3 UIDL (no control character: they become dbox
 * metadata lines). */
int mf_unpack_precheck(struct mf_reader **readers, size_t n, const struct mf_unpack_opts *o,
                       struct mf_error *err) MF_WUR;
int mf_unpack(struct mf_reader *r, const struct mf_unpack_opts *o, mf_unpack_progress_fn progress,
              mf_unpack_note_fn note, void *ctx, struct mf_unpack_stats *st,
              struct mf_error *err) MF_WUR;

#endif
