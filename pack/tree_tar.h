/* tree_tar.h: a Maildir store inside a tarball (a backup of /var/vmail, in
 * any compression libarchive reads), seen as a tree of names without
 * extracting it. Pass 1 (mf_tartree_load) records every entry's name, type,
 * size and times and keeps the contents of small metadata files; message
 * contents are read later, in the tarball's own order. */
#ifndef MF_TREE_TAR_H
#define MF_TREE_TAR_H

#include <stddef.h>
#include <stdint.h>

#include "../format/error.h"
#include "tree.h"

struct mf_tar_node {
    char *name;
    enum mf_ent_type type;
    uint64_t size;
    int64_t mtime, ctime;
    uint32_t uid, gid;
    uint8_t *data;           /* kept for metadata files */
    size_t len;
    struct mf_tar_node **kids;
    size_t nkids, cap;
    void *user;              /* the packer's note for this entry (a message to fill) */
};

struct mf_tartree {
    struct mf_tar_node root;
    uint64_t entries;
};

/* Reads the whole tarball once. */
int mf_tartree_load(struct mf_tartree *t, const char *path, struct mf_error *err) MF_WUR;
void mf_tartree_free(struct mf_tartree *t);
/* The node at a '/'-separated path, or NULL. */
struct mf_tar_node *mf_tartree_find(struct mf_tartree *t, const char *path);

struct mf_tree_tar {
    struct mf_tree base;
    struct mf_tar_node *root;
};

void mf_tree_tar_init(struct mf_tree_tar *v, struct mf_tar_node *root);

/* Pass 2: calls fn for every regular file whose node has a `user` note,
 * with a reader for its content. */
struct archive;
typedef int (*mf_tar_visit_fn)(void *ctx, struct mf_tar_node *node, struct archive *a,
                               struct mf_error *err);
int mf_tartree_visit(struct mf_tartree *t, const char *path, mf_tar_visit_fn fn, void *ctx,
                     struct mf_error *err) MF_WUR;

#endif
