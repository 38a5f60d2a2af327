/* target.h: where a user's store goes and how it gets there atomically.
 * The template's fixed prefix (before the first %) is the administrator's
 * and may contain symbolic links; every directory below it is opened with
 * O_NOFOLLOW, so a planted link can never redirect a write. A user's store
 * is written into a staging directory next to its final place, synced, and
 * renamed into place in one step. */
#ifndef MF_TARGET_H
#define MF_TARGET_H

#include <stdint.h>
#include <sys/types.h>

#include "../format/error.h"

struct mf_owner {
    int set;        /* chown what is created */
    uid_t uid;
    gid_t gid;
    mode_t dir_mode, file_mode;
};

enum mf_target_state {
    MF_TARGET_ABSENT = 0,   /* nothing there, or an empty directory */
    MF_TARGET_APPLIED,      /* holds a store made by mailferry (state file) */
    MF_TARGET_FOREIGN       /* holds something else */
};

struct mf_target {
    char *path;         /* the user's mail root */
    int parentfd;
    char *leaf;
    char *stage;        /* staging directory name in parentfd, NULL if none */
    int stagefd;
    enum mf_target_state state;
    char *state_text;   /* content of the state file, if any */
};

/* Expands %u %n %d (and %Lu etc. for lowercase, %% for %) as Dovecot does. */
int mf_target_expand(const char *tmpl, const char *user, char **out, struct mf_error *err) MF_WUR;
/* Whether the first n bytes of a template differ per user (hold %u or %n). */
int mf_target_per_user(const char *tmpl, size_t n);
/* Expands the template for a user into *path_r (the caller frees it) and
 * checks the parts below the fixed prefix: none empty (a variable that
 * expands to nothing), "." or "..". Touches no file. */
int mf_target_check(const char *tmpl, const char *user, char **path_r, struct mf_error *err) MF_WUR;
/* Opens the directory a template names for a user without following a link
 * below the fixed prefix. 0 with *fd_r the directory, or -1 when something
 * on the way does not exist; -1 with err for a link (target), a part that is
 * not a directory or a bad part (target), or another failure (io). */
int mf_template_open_dir(const char *tmpl, const char *user, int *fd_r,
                         struct mf_error *err) MF_WUR;
/* Opens directory `name` of dirfd (never through a link), creating it with
 * the owner and mode of own if it is missing. A directory is created under a
 * temporary name, ".<name>.mailferry-mkdir" in tmpfd (dirfd when -1; another
 * directory of the same file system where a reader such as Dovecot's mailbox
 * list does not look), and renamed into place once it has its owner and
 * mode, so a run killed halfway never leaves one with the wrong owner under
 * `name` (the next run that creates `name` removes the temporary one). `what`
 * names it in errors: io when it cannot be created, target when something
 * else is in the way. Returns the directory's fd, or -1. */
int mf_mkdir_owned(int dirfd, const char *name, int tmpfd, const struct mf_owner *own,
                   const char *what, struct mf_error *err) MF_WUR;
/* Resolves the parent of the user's root (creating missing directories
 * below the fixed prefix with the owner and mode: own for the user's own
 * directories, shared (if not NULL) for those above the template's first
 * per-user part) and inspects the root. */
int mf_target_open(struct mf_target *t, const char *tmpl, const char *user,
                   const struct mf_owner *own, const struct mf_owner *shared,
                   struct mf_error *err) MF_WUR;
/* The same without creating anything: a missing directory on the way means
 * the target is absent. */
int mf_target_probe(struct mf_target *t, const char *tmpl, const char *user,
                    struct mf_error *err) MF_WUR;
int mf_target_stage(struct mf_target *t, const struct mf_owner *own, struct mf_error *err) MF_WUR;
/* Makes everything written so far on the target's file system durable
 * (syncfs): one call covers every staged user on that file system. */
int mf_target_sync(struct mf_target *t, struct mf_error *err) MF_WUR;
/* Renames the staging directory into place (after mf_target_sync), then
 * syncs the parent directory unless nosync. */
int mf_target_commit(struct mf_target *t, int nosync, struct mf_error *err) MF_WUR;
/* Removes the staging directory, if any. */
void mf_target_abort(struct mf_target *t);
void mf_target_close(struct mf_target *t);

#define MF_STATE_FILE "mailferry-state"
/* The source's subscription list as last applied: the base of the merge a
 * delta does (the target's own subscriptions may have changed since). */
#define MF_SUBS_BASE_FILE "mailferry-subscriptions"

#endif
