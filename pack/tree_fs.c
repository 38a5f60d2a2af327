/* tree_fs.c: the tree interface over a live file system, below a root
 * directory descriptor, never following symbolic links. */
#include "tree.h"

#include <string.h>
#include <unistd.h>

static int fs_list(struct mf_tree *t, const char *rel, struct mf_ents *out, struct mf_error *err)
{
    return mf_list_dir(((struct mf_tree_fs *)t)->rootfd, rel, out, err);
}

static int fs_read(struct mf_tree *t, const char *rel, size_t max, uint8_t **data_r,
                   size_t *len_r, int *exists_r, struct mf_error *err)
{
    return mf_read_below(((struct mf_tree_fs *)t)->rootfd, rel, max, data_r, len_r, exists_r, err);
}

static int fs_is_dir(struct mf_tree *t, const char *rel)
{
    return mf_is_dir_below(((struct mf_tree_fs *)t)->rootfd, rel);
}

static long fs_readlink(struct mf_tree *t, const char *rel, char *buf, size_t cap)
{
    ssize_t n;
    if (cap == 0 || strchr(rel, '/') != NULL)
        return -1;
    n = readlinkat(((struct mf_tree_fs *)t)->rootfd, rel, buf, cap - 1);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return (long)n;
}

static int fs_open_dir(struct mf_tree *t, const char *rel)
{
    return mf_open_dir_below(((struct mf_tree_fs *)t)->rootfd, rel);
}

static const struct mf_tree_ops fs_ops = {fs_list, fs_read, fs_is_dir, fs_readlink, fs_open_dir};

void mf_tree_fs_init(struct mf_tree_fs *t, int rootfd)
{
    t->base.ops = &fs_ops;
    t->rootfd = rootfd;
}
