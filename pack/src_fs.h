/* src_fs.h: read-only access to a user's Maildir tree that never follows a
 * symbolic link below the root and never writes: directories are opened
 * component by component with O_NOFOLLOW, files with O_NOFOLLOW|O_NOATIME. */
#ifndef MF_SRC_FS_H
#define MF_SRC_FS_H

#include <stddef.h>
#include <stdint.h>

#include "../format/error.h"
#include "../format/fsutil.h"

enum mf_ent_type { MF_ENT_FILE, MF_ENT_DIR, MF_ENT_LINK, MF_ENT_OTHER };

struct mf_ent {
    char *name;
    enum mf_ent_type type;
};

struct mf_ents {
    struct mf_ent *v;
    size_t n, cap;
};

void mf_ents_free(struct mf_ents *e);
/* Opens `rel` (a '/'-separated path below dirfd, "" = dirfd itself) as a
 * directory. Returns the fd, or -1 with errno set (ELOOP/ENOTDIR for links). */
/* Lists a directory (not "." or ".."). ENOENT yields an empty list and 0. */
int mf_list_dir(int base, const char *rel, struct mf_ents *out, struct mf_error *err) MF_WUR;
/* Reads a small regular file below dirfd. *exists_r = 0 (and 0 returned)
 * when it does not exist. Symlinks and special files are refused (MF_EIO). */
int mf_read_below(int base, const char *rel, size_t max, uint8_t **data_r, size_t *len_r,
                  int *exists_r, struct mf_error *err) MF_WUR;
/* Opens a file for reading without following links or touching atime. */
int mf_open_file_at(int base, const char *name);
/* Does `rel` below dirfd name a directory (not a link)? */
int mf_is_dir_below(int base, const char *rel);

#endif
