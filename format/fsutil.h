/* fsutil.h: small, careful file-system helpers: bounded reads, full writes,
 * anonymous spool files, directory sync, atomic publication. */
#ifndef MF_FSUTIL_H
#define MF_FSUTIL_H

#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/* Reads a whole regular file of at most `max` bytes. `nofollow` refuses a
 * symbolic link as the last component. The result is NUL-terminated (not
 * counted in *len_r). */
int mf_read_file(const char *path, size_t max, int nofollow, uint8_t **data_r, size_t *len_r,
                 struct mf_error *err) MF_WUR;
/* Same on a descriptor that is already open (reads from the current offset). */
int mf_read_fd(int fd, const char *what, size_t max, uint8_t **data_r, size_t *len_r,
               struct mf_error *err) MF_WUR;

int mf_write_all(int fd, const void *p, size_t n, const char *what, struct mf_error *err) MF_WUR;
int mf_pread_all(int fd, void *p, size_t n, uint64_t off, const char *what,
                 struct mf_error *err) MF_WUR;

/* Opens an unnamed read-write file in `dir` (O_TMPFILE, else mkstemp+unlink). */
int mf_spool_open(const char *dir, struct mf_error *err) MF_WUR;
/* The directory for temporary files: $TMPDIR or /tmp. */
const char *mf_tmpdir(void);

/* Creates `path` with O_EXCL and mode, writes data, fsyncs, closes. */
int mf_write_new_file(const char *path, const void *data, size_t len, mode_t mode,
                      struct mf_error *err) MF_WUR;

int mf_fsync_path(const char *path, struct mf_error *err) MF_WUR;
/* fsync of the directory that holds `path`. */
int mf_fsync_parent(const char *path, struct mf_error *err) MF_WUR;
/* mkdir -p with the given mode for every directory it creates. */
int mf_mkdirs(const char *path, mode_t mode, struct mf_error *err) MF_WUR;
/* Removes a tree under a directory descriptor without following symlinks. */
int mf_remove_tree_at(int dirfd, const char *name, struct mf_error *err) MF_WUR;
int mf_remove_tree(const char *path, struct mf_error *err) MF_WUR;

/* Opens directory rel below base, never through a symbolic link and never
 * through "..": -1 with errno set otherwise. */
int mf_open_dir_below(int base, const char *rel);
/* A directory stream over dirfd's directory, with an open file description
 * of its own (the caller keeps dirfd); NULL with errno set on failure. */
DIR *mf_opendir_at(int dirfd);

#endif
