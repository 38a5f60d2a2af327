/* packer.h: the pack pipeline for Maildir users on a live file system:
 * discover mailboxes, plan each one, read every message exactly once
 * (finding it again if it was renamed meanwhile, recording it as gone if it
 * was expunged), split it into blobs and hand it to the archive writer. */
#ifndef MF_PACKER_H
#define MF_PACKER_H

#include <stdint.h>
#include <stdio.h>

#include "../format/archive_write.h"
#include "../format/error.h"
#include "maildir_uidlist.h"

struct mf_pack_opts {
    const char *pop3_format;  /* --pop3-uidl-format, or NULL */
    int layout;               /* MF_LAYOUT_AUTO / MAILDIRPP / FS */
    int skip_unreadable;      /* record unreadable files instead of failing */
    int no_sieve;             /* do not look for Sieve scripts */
    int threads;              /* worker threads that split and hash messages */
    int delta;                /* the writer writes a delta (mf_packer_set_base) */
    FILE *report;             /* the client-impact report, or NULL */
};

struct mf_pack_stats {
    uint64_t users, mailboxes, messages, bytes;
    uint64_t vanished;        /* expunged while packing */
    uint64_t links;           /* symbolic links not followed */
    uint64_t special;         /* not regular files */
    uint64_t unreadable;
    uint64_t folders_skipped;
    uint64_t warnings;
    uint64_t saved_cached;    /* save dates from Dovecot's cache */
    /* delta archives */
    uint64_t unchanged;       /* messages taken from the base, not read */
    uint64_t flag_changes, expunged, mailboxes_gone, users_gone;
    uint64_t chain_bytes;     /* bytes of new messages found in the base chain */
    uint64_t base_conflicts;  /* files that differ from the base under the same UID */
};

/* Progress: called after every message with running totals. */
typedef void (*mf_pack_progress_fn)(void *ctx, const struct mf_pack_stats *st);
/* A skipped item: user, path below the Maildir, reason. */
typedef void (*mf_pack_skip_fn)(void *ctx, const char *user, const char *path, const char *why);

struct mf_packer;

int mf_packer_new(struct mf_packer **pk_r, struct mf_writer *w, const struct mf_pack_opts *o,
                  mf_warn_fn warn, mf_pack_skip_fn skip, mf_pack_progress_fn progress, void *ctx,
                  struct mf_error *err) MF_WUR;
/* For a delta archive: the user's base state (NULL for a user new since the
 * base), before each mf_packer_user. The packer borrows it until the next
 * call. */
struct mf_base_user;
int mf_packer_set_base(struct mf_packer *pk, struct mf_base_user *bu, struct mf_error *err) MF_WUR;
/* Packs one user whose Maildir is at `maildir`. Users must come in
 * ascending order of name. */
int mf_packer_user(struct mf_packer *pk, const char *user, const char *maildir,
                   struct mf_error *err) MF_WUR;
/* Packs users from a tarball (a backup of the mail store) without
 * extracting it; users[i].maildir are paths inside the tarball. */
struct mf_user_src;
int mf_packer_tar(struct mf_packer *pk, const char *tarpath, const struct mf_user_src *users,
                  size_t n, struct mf_error *err) MF_WUR;
const struct mf_pack_stats *mf_packer_stats(const struct mf_packer *pk);
void mf_packer_free(struct mf_packer **pk);

#endif
