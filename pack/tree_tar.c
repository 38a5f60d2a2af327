/* tree_tar.c: an in-memory tree of a tarball's entries, through libarchive. */
#include "tree_tar.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../format/mem.h"

#define META_MAX (16u * 1024 * 1024)

static int is_metadata(const char *parent, const char *name)
{
    static const char *const names[] = {
        "dovecot-uidlist", "dovecot-keywords", "subscriptions", "courierimapuiddb",
        "courierimapsubscribed", "courierpop3dsizelist", ".dovecot.sieve", NULL};
    for (int i = 0; names[i] != NULL; i++)
        if (strcmp(name, names[i]) == 0)
            return 1;
    return strcmp(parent, "courierimapkeywords") == 0 || strcmp(parent, "sieve") == 0;
}

static int name_cmp(const char *a, const char *b, size_t blen)
{
    size_t al = strlen(a);
    int c = memcmp(a, b, al < blen ? al : blen);
    return c != 0 ? c : (al < blen ? -1 : al > blen);
}

/* Finds a child. While loading (create), the last component of an entry is
 * appended without a search (kids are sorted and de-duplicated afterwards);
 * directories are searched from the most recent. After loading (sorted), a
 * binary search. */
static struct mf_tar_node *child(struct mf_tar_node *n, const char *name, size_t len, int create,
                                 int last)
{
    struct mf_tar_node *c, **nk;
    if (!create) {
        size_t lo = 0, hi = n->nkids;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            int k = name_cmp(n->kids[mid]->name, name, len);
            if (k == 0)
                return n->kids[mid];
            if (k < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        return NULL;
    }
    if (!last)
        for (size_t i = n->nkids; i > 0; i--)
            if (n->kids[i - 1]->type == MF_ENT_DIR && name_cmp(n->kids[i - 1]->name, name, len) == 0)
                return n->kids[i - 1];
    if (n->nkids == n->cap) {
        size_t nc = n->cap == 0 ? 8 : n->cap * 2;
        nk = mf_realloc(n->kids, nc * sizeof *nk);
        if (nk == NULL)
            return NULL;
        n->kids = nk;
        n->cap = nc;
    }
    c = mf_calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->name = mf_strndup(name, len);
    if (c->name == NULL) {
        mf_free(c);
        return NULL;
    }
    c->type = MF_ENT_DIR;
    n->kids[n->nkids++] = c;
    return c;
}

/* Walks (and with create, makes) the nodes of a path; ".." never resolves. */
static struct mf_tar_node *walk(struct mf_tar_node *root, const char *path, int create)
{
    struct mf_tar_node *n = root;
    const char *p = path;
    while (*p == '/' || (p[0] == '.' && p[1] == '/'))
        p += *p == '/' ? 1 : 2;
    while (*p != '\0' && n != NULL) {
        size_t len = strcspn(p, "/");
        if (len == 0 || (len == 1 && p[0] == '.')) {
            p += len + (p[len] == '/');
            continue;
        }
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return NULL;
        n = child(n, p, len, create, p[len] == '\0' || p[len + strspn(p + len, "/")] == '\0');
        p += len;
        if (*p == '/')
            p++;
    }
    return n;
}

struct mf_tar_node *mf_tartree_find(struct mf_tartree *t, const char *path)
{
    return walk(&t->root, path, 0);
}

static struct archive *open_tar(const char *path, struct mf_error *err)
{
    struct archive *a = archive_read_new();
    if (a == NULL) {
        mf_err_nomem(err);
        return NULL;
    }
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
        mf_err(err, MF_EIO, "%s: %s", path, archive_error_string(a));
        archive_read_free(a);
        return NULL;
    }
    return a;
}

static int cmp_node(const void *a, const void *b)
{
    const struct mf_tar_node *x = *(struct mf_tar_node *const *)a;
    const struct mf_tar_node *y = *(struct mf_tar_node *const *)b;
    int c = strcmp(x->name, y->name);
    /* equal names: keep their order of appearance (a later entry replaces) */
    return c != 0 ? c : (x < y ? -1 : x > y);
}

static void free_node(struct mf_tar_node *n);

/* Sorts every directory's children and merges duplicates (the later wins,
 * except that a directory keeps the children both entries had). */
static void finish_node(struct mf_tar_node *n)
{
    size_t k = 0;
    if (n->nkids > 1)
        qsort(n->kids, n->nkids, sizeof *n->kids, cmp_node);
    for (size_t i = 0; i < n->nkids; i++) {
        if (k > 0 && strcmp(n->kids[k - 1]->name, n->kids[i]->name) == 0) {
            struct mf_tar_node *old = n->kids[k - 1], *nw = n->kids[i];
            if (old->type == MF_ENT_DIR && nw->type == MF_ENT_DIR) {
                /* move the new one's children under the old one */
                for (size_t j = 0; j < nw->nkids; j++) {
                    struct mf_tar_node **nk = mf_realloc(old->kids, (old->nkids + 1) * sizeof *nk);
                    if (nk == NULL)
                        break;
                    old->kids = nk;
                    old->kids[old->nkids++] = nw->kids[j];
                    nw->kids[j] = NULL;
                }
                nw->nkids = 0;
                free_node(nw);
                mf_free(nw);
                continue;
            }
            free_node(old);
            mf_free(old);
            n->kids[k - 1] = nw;
            continue;
        }
        n->kids[k++] = n->kids[i];
    }
    n->nkids = k;
    n->cap = k > n->cap ? k : n->cap;
    for (size_t i = 0; i < n->nkids; i++)
        if (n->kids[i]->type == MF_ENT_DIR)
            finish_node(n->kids[i]);
}

int mf_tartree_load(struct mf_tartree *t, const char *path, struct mf_error *err)
{
    struct archive *a;
    struct archive_entry *e;
    int rc;
    memset(t, 0, sizeof *t);
    t->root.type = MF_ENT_DIR;
    a = open_tar(path, err);
    if (a == NULL)
        return -1;
    while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(e), *slash;
        struct mf_tar_node *n;
        mode_t ft = archive_entry_filetype(e);
        if (name == NULL)
            continue;
        n = walk(&t->root, name, 1);
        if (n == NULL) {
            if (strstr(name, "..") != NULL)
                continue;  /* a path with "..": ignored */
            archive_read_free(a);
            return mf_err_nomem(err);
        }
        t->entries++;
        n->type = archive_entry_hardlink(e) != NULL ? MF_ENT_OTHER
                  : ft == AE_IFREG ? MF_ENT_FILE : ft == AE_IFDIR ? MF_ENT_DIR
                  : ft == AE_IFLNK ? MF_ENT_LINK : MF_ENT_OTHER;
        n->size = (uint64_t)archive_entry_size(e);
        n->mtime = archive_entry_mtime(e);
        n->ctime = archive_entry_ctime_is_set(e) ? archive_entry_ctime(e) : n->mtime;
        n->uid = (uint32_t)archive_entry_uid(e);
        n->gid = (uint32_t)archive_entry_gid(e);
        slash = strrchr(name, '/');
        if (n->type == MF_ENT_LINK && archive_entry_symlink(e) != NULL) {
            mf_free(n->data);
            n->data = (uint8_t *)mf_strdup(archive_entry_symlink(e));
            n->len = n->data != NULL ? strlen((char *)n->data) : 0;
        }
        if (n->type == MF_ENT_FILE && n->size <= META_MAX) {
            char parent[256] = "";
            const char *base = slash != NULL ? slash + 1 : name;
            if (slash != NULL) {
                const char *ps = slash;
                while (ps > name && ps[-1] != '/')
                    ps--;
                snprintf(parent, sizeof parent, "%.*s", (int)(slash - ps), ps);
            }
            if (is_metadata(parent, base)) {
                uint8_t *d = mf_malloc((size_t)n->size + 1);
                la_ssize_t got;
                if (d == NULL) {
                    archive_read_free(a);
                    return mf_err_nomem(err);
                }
                got = archive_read_data(a, d, (size_t)n->size);
                if (got < 0 || (uint64_t)got != n->size) {
                    mf_free(d);
                    mf_err(err, MF_EIO, "%s: reading %s: %s", path, name,
                           got < 0 ? archive_error_string(a) : "short read");
                    archive_read_free(a);
                    return -1;
                }
                d[n->size] = 0;
                mf_free(n->data);
                n->data = d;
                n->len = (size_t)n->size;
            }
        }
    }
    if (rc != ARCHIVE_EOF) {
        mf_err(err, MF_EIO, "%s: %s", path, archive_error_string(a));
        archive_read_free(a);
        return -1;
    }
    archive_read_free(a);
    finish_node(&t->root);
    return 0;
}

static void free_node(struct mf_tar_node *n)
{
    for (size_t i = 0; i < n->nkids; i++) {
        if (n->kids[i] == NULL)
            continue;
        free_node(n->kids[i]);
        mf_free(n->kids[i]);
    }
    mf_free(n->kids);
    mf_free(n->name);
    mf_free(n->data);
}

void mf_tartree_free(struct mf_tartree *t)
{
    free_node(&t->root);
    memset(t, 0, sizeof *t);
}

int mf_tartree_visit(struct mf_tartree *t, const char *path, mf_tar_visit_fn fn, void *ctx,
                     struct mf_error *err)
{
    struct archive *a = open_tar(path, err);
    struct archive_entry *e;
    int rc;
    if (a == NULL)
        return -1;
    while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(e);
        struct mf_tar_node *n = name != NULL ? walk(&t->root, name, 0) : NULL;
        if (n == NULL || n->user == NULL || n->type != MF_ENT_FILE)
            continue;
        if (fn(ctx, n, a, err) < 0) {
            archive_read_free(a);
            return -1;
        }
    }
    if (rc != ARCHIVE_EOF) {
        mf_err(err, MF_EIO, "%s: %s", path, archive_error_string(a));
        archive_read_free(a);
        return -1;
    }
    archive_read_free(a);
    return 0;
}

/* ---- the tree interface over a node ---- */

static int tt_list(struct mf_tree *t, const char *rel, struct mf_ents *out, struct mf_error *err)
{
    struct mf_tar_node *n = walk(((struct mf_tree_tar *)t)->root, rel, 0);
    memset(out, 0, sizeof *out);
    if (n == NULL || n->type != MF_ENT_DIR)
        return 0;
    out->v = mf_calloc(n->nkids ? n->nkids : 1, sizeof *out->v);
    if (out->v == NULL)
        return mf_err_nomem(err);
    out->cap = n->nkids;
    for (size_t i = 0; i < n->nkids; i++) {
        out->v[i].name = mf_strdup(n->kids[i]->name);
        if (out->v[i].name == NULL) {
            mf_ents_free(out);
            return mf_err_nomem(err);
        }
        out->v[i].type = n->kids[i]->type;
        out->n++;
    }
    return 0;
}

static int tt_read(struct mf_tree *t, const char *rel, size_t max, uint8_t **data_r, size_t *len_r,
                   int *exists_r, struct mf_error *err)
{
    struct mf_tar_node *n = walk(((struct mf_tree_tar *)t)->root, rel, 0);
    *exists_r = 0;
    *data_r = NULL;
    *len_r = 0;
    if (n == NULL)
        return 0;
    if (n->type != MF_ENT_FILE || n->data == NULL)
        return mf_err(err, MF_EIO, "%s is not a regular file", rel);
    if (n->len > max)
        return mf_err(err, MF_EIO, "%s is too large", rel);
    *data_r = mf_malloc(n->len + 1);
    if (*data_r == NULL)
        return mf_err_nomem(err);
    memcpy(*data_r, n->data, n->len);
    (*data_r)[n->len] = 0;
    *len_r = n->len;
    *exists_r = 1;
    return 0;
}

static int tt_is_dir(struct mf_tree *t, const char *rel)
{
    struct mf_tar_node *n = walk(((struct mf_tree_tar *)t)->root, rel, 0);
    return n != NULL && n->type == MF_ENT_DIR;
}

static long tt_readlink(struct mf_tree *t, const char *rel, char *buf, size_t cap)
{
    struct mf_tar_node *n = walk(((struct mf_tree_tar *)t)->root, rel, 0);
    if (n == NULL || n->type != MF_ENT_LINK || n->data == NULL || cap == 0)
        return -1;
    snprintf(buf, cap, "%s", (const char *)n->data);
    return (long)strlen(buf);
}

static int tt_open_dir(struct mf_tree *t, const char *rel)
{
    (void)t;
    (void)rel;
    return -1;
}

static const struct mf_tree_ops tar_ops = {tt_list, tt_read, tt_is_dir, tt_readlink, tt_open_dir};

void mf_tree_tar_init(struct mf_tree_tar *v, struct mf_tar_node *root)
{
    v->base.ops = &tar_ops;
    v->root = root;
}
