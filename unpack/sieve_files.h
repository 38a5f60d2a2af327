/* sieve_files.h: Sieve scripts in a user's home (<home>/sieve/<name>, the
 * active one linked from <home>/.dovecot.sieve), written so that a kill at
 * any point leaves each of them either absent or complete and never leaves
 * a directory or link to root: everything is made under a temporary name,
 * given to the owner, then linked or renamed to its name in one step. A
 * rerun removes the temporary names a killed run left. */
#ifndef MF_SIEVE_FILES_H
#define MF_SIEVE_FILES_H

#include <stddef.h>
#include <stdint.h>

#include "../format/error.h"
#include "target.h"

/* Opens (creating it if missing) the sieve directory below home: 1 with
 * *dir_r set, 0 when "sieve" is there but no directory of its own (a link,
 * a file), -1 on error. */
int mf_sieve_dir(int home, const struct mf_owner *own, int *dir_r, struct mf_error *err) MF_WUR;

/* How a script or the link turned out. */
enum mf_sieve_result {
    MF_SIEVE_WRITTEN = 0,   /* written (or replaced) */
    MF_SIEVE_SAME,          /* there already with this content (a rerun) */
    MF_SIEVE_KEPT           /* there already, different, kept (replace == 0) */
};

/* Writes script `name` into dir: when one is there already, replace says
 * whether it is replaced. nosync: no fsync. */
int mf_sieve_put(int dir, const char *name, const uint8_t *data, size_t len,
                 const struct mf_owner *own, int replace, int nosync,
                 enum mf_sieve_result *res, struct mf_error *err) MF_WUR;
/* Points <home>/.dovecot.sieve at sieve/<name>, the same way. */
int mf_sieve_activate(int home, const char *name, const struct mf_owner *own, int replace,
                      enum mf_sieve_result *res, struct mf_error *err) MF_WUR;

#endif
