/* tree.h: read-only access to a user's Maildir as a tree of names, so that
 * discovery and planning work the same on a live file system (tree_fs.c)
 * and on a tarball read into memory (tree_tar.c). */
#ifndef MF_TREE_H
#define MF_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "../format/error.h"
#include "src_fs.h"

struct mf_tree;

struct mf_tree_ops {
    /* Entries of directory `rel` ("" = the root); a missing one is empty. */
    int (*list)(struct mf_tree *t, const char *rel, struct mf_ents *out, struct mf_error *err);
    /* A small regular file; *exists_r = 0 when absent. */
    int (*read)(struct mf_tree *t, const char *rel, size_t max, uint8_t **data_r, size_t *len_r,
                int *exists_r, struct mf_error *err);
    int (*is_dir)(struct mf_tree *t, const char *rel);
    /* Target of a symbolic link (NUL-terminated); length, or -1. */
    long (*readlink)(struct mf_tree *t, const char *rel, char *buf, size_t cap);
    /* A descriptor of directory `rel` for reading Dovecot's index files, or
     * -1 (a tarball has none). */
    int (*open_dir)(struct mf_tree *t, const char *rel);
};

struct mf_tree {
    const struct mf_tree_ops *ops;
};

struct mf_tree_fs {
    struct mf_tree base;
    int rootfd;
};

void mf_tree_fs_init(struct mf_tree_fs *t, int rootfd);

#endif
