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
    char *hardlink;          /* a hard link: the path of the file it names */
    struct mf_tar_node *link;     /* that file, once resolved */
    struct mf_tar_node **linked;  /* hard links naming this file */
    size_t nlinked;
    unsigned spool_id;       /* a directory: where its Dovecot index files were spooled, or 0 */
};

struct mf_tartree {
    struct mf_tar_node root;
    uint64_t entries;
    /* Dovecot's index files of the tarball's folders, spooled to a private
     * directory (spool/<spool_id>/dovecot.index*) so that they can be read
     * like a live folder's; removed by mf_tartree_free */
    char *spool;
    int spoolfd;
    char **spool_dirs;       /* the folder path of each spool id - 1 */
    unsigned nspool;
};

/* Reads the whole tarball once. */
int mf_tartree_load(struct mf_tartree *t, const char *path, struct mf_error *err) MF_WUR;
void mf_tartree_free(struct mf_tartree *t);
/* The node at a '/'-separated path, or NULL. */
struct mf_tar_node *mf_tartree_find(struct mf_tartree *t, const char *path);

struct mf_tree_tar {
    struct mf_tree base;
    struct mf_tar_node *root;
    int spoolfd;
};

void mf_tree_tar_init(struct mf_tree_tar *v, struct mf_tar_node *root, const struct mf_tartree *t);

/* Pass 2: calls fn for every regular file whose node (or a hard link to
 * it) has a `user` note, with a reader for its content; then dup for each
 * other noted node of the same file (a hard link carries no data of its
 * own), to take over what fn made of it. */
struct archive;
typedef int (*mf_tar_visit_fn)(void *ctx, struct mf_tar_node *node, struct archive *a,
                               struct mf_error *err);
typedef int (*mf_tar_dup_fn)(void *ctx, struct mf_tar_node *from, struct mf_tar_node *to,
                             struct mf_error *err);
int mf_tartree_visit(struct mf_tartree *t, const char *path, mf_tar_visit_fn fn,
                     mf_tar_dup_fn dup, void *ctx, struct mf_error *err) MF_WUR;

#endif
