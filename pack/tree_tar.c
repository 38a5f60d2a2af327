/* tree_tar.c: an in-memory tree of a tarball's entries, through libarchive. */
#include "tree_tar.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../format/fsutil.h"
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

static int is_index_file(const char *name)
{
    return strcmp(name, "dovecot.index") == 0 || strcmp(name, "dovecot.index.log") == 0 ||
           strcmp(name, "dovecot.index.log.2") == 0 || strcmp(name, "dovecot.index.cache") == 0;
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
    /* The compressions a store's tarball comes in; not _all(), which would also
     * pull lz4 and external-program filters into a static build. */
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_bzip2(a);
    archive_read_support_filter_xz(a);
    archive_read_support_filter_lzma(a);
    archive_read_support_filter_lzip(a);
    archive_read_support_filter_zstd(a);
    archive_read_support_filter_compress(a);
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

/* Copies a folder's index file into the spool, under its folder's id. */
static int spool_index(struct mf_tartree *t, struct archive *a, const char *name,
                       const char *slash, struct mf_error *err)
{
    char id[16], *parent;
    unsigned sid = 0;
    int dfd, fd;
    uint8_t buf[65536];
    parent = mf_strndup(name, slash != NULL ? (size_t)(slash - name) : 0);
    if (parent == NULL)
        return mf_err_nomem(err);
    /* a tarball lists a folder's files together: search from the last */
    for (unsigned i = t->nspool; i-- > 0 && sid == 0;)
        if (strcmp(t->spool_dirs[i], parent) == 0)
            sid = i + 1;
    if (t->spool == NULL) {
        const char *tmp = mf_tmpdir();
        size_t n = strlen(tmp) + sizeof "/mailferry-tar.XXXXXX";
        t->spool = mf_malloc(n);
        if (t->spool == NULL) {
            mf_free(parent);
            return mf_err_nomem(err);
        }
        snprintf(t->spool, n, "%s/mailferry-tar.XXXXXX", tmp);
        if (mkdtemp(t->spool) == NULL || (t->spoolfd = open(t->spool, O_RDONLY | O_DIRECTORY |
                                                                           O_CLOEXEC)) < 0) {
            int e = errno;
            mf_free(t->spool);
            mf_free(parent);
            t->spool = NULL;
            return mf_err_sys(err, MF_EIO, e, "spool directory in %s", tmp);
        }
    }
    if (sid == 0) {
        char **nv = mf_realloc(t->spool_dirs, (t->nspool + 1) * sizeof *nv);
        if (nv == NULL) {
            mf_free(parent);
            return mf_err_nomem(err);
        }
        t->spool_dirs = nv;
        nv[t->nspool] = parent;
        parent = NULL;
        sid = ++t->nspool;
        snprintf(id, sizeof id, "%u", sid);
        if (mkdirat(t->spoolfd, id, 0700) < 0)
            return mf_err_sys(err, MF_EIO, errno, "%s/%s", t->spool, id);
    }
    mf_free(parent);
    snprintf(id, sizeof id, "%u", sid);
    dfd = openat(t->spoolfd, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return mf_err_sys(err, MF_EIO, errno, "%s/%s", t->spool, id);
    fd = openat(dfd, slash != NULL ? slash + 1 : name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                0600);
    close(dfd);
    if (fd < 0)
        return mf_err_sys(err, MF_EIO, errno, "spool %s", name);
    for (;;) {
        la_ssize_t got = archive_read_data(a, buf, sizeof buf);
        if (got < 0) {
            close(fd);
            return mf_err(err, MF_EIO, "reading %s: %s", name, archive_error_string(a));
        }
        if (got == 0)
            break;
        if (mf_write_all(fd, buf, (size_t)got, name, err) < 0) {
            close(fd);
            return -1;
        }
    }
    close(fd);
    return 0;
}

/* A hard link becomes another name of the file it names: same size, times
 * and (for metadata) content; one whose file is missing is left out. */
static int resolve_links(struct mf_tar_node *root, struct mf_tar_node *n, struct mf_error *err)
{
    for (size_t i = 0; i < n->nkids; i++) {
        struct mf_tar_node *k = n->kids[i], *f, **nv;
        if (k->type == MF_ENT_DIR) {
            if (resolve_links(root, k, err) < 0)
                return -1;
            continue;
        }
        if (k->hardlink == NULL)
            continue;
        f = walk(root, k->hardlink, 0);
        if (f == NULL || f == k || f->type != MF_ENT_FILE || f->hardlink != NULL) {
            k->type = MF_ENT_OTHER;
            continue;
        }
        k->link = f;
        k->size = f->size;
        k->mtime = f->mtime;
        k->ctime = f->ctime;
        k->uid = f->uid;
        k->gid = f->gid;
        if (f->data != NULL) {
            k->data = mf_malloc(f->len + 1);
            if (k->data == NULL)
                return mf_err_nomem(err);
            memcpy(k->data, f->data, f->len + 1);
            k->len = f->len;
        }
        nv = mf_realloc(f->linked, (f->nlinked + 1) * sizeof *nv);
        if (nv == NULL)
            return mf_err_nomem(err);
        f->linked = nv;
        nv[f->nlinked++] = k;
    }
    return 0;
}

int mf_tartree_load(struct mf_tartree *t, const char *path, struct mf_error *err)
{
    struct archive *a;
    struct archive_entry *e;
    int rc;
    memset(t, 0, sizeof *t);
    t->root.type = MF_ENT_DIR;
    t->spoolfd = -1;
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
        n->type = archive_entry_hardlink(e) != NULL ? MF_ENT_FILE
                  : ft == AE_IFREG ? MF_ENT_FILE : ft == AE_IFDIR ? MF_ENT_DIR
                  : ft == AE_IFLNK ? MF_ENT_LINK : MF_ENT_OTHER;
        mf_free(n->hardlink);
        n->hardlink = NULL;
        if (archive_entry_hardlink(e) != NULL &&
            (n->hardlink = mf_strdup(archive_entry_hardlink(e))) == NULL) {
            archive_read_free(a);
            return mf_err_nomem(err);
        }
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
        if (n->type == MF_ENT_FILE && n->hardlink == NULL &&
            is_index_file(slash != NULL ? slash + 1 : name) &&
            spool_index(t, a, name, slash, err) < 0) {
            archive_read_free(a);
            return -1;
        }
        if (n->type == MF_ENT_FILE && n->hardlink == NULL && n->size <= META_MAX) {
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
    for (unsigned i = 0; i < t->nspool; i++) {
        struct mf_tar_node *d = walk(&t->root, t->spool_dirs[i], 0);
        if (d != NULL && d->type == MF_ENT_DIR)
            d->spool_id = i + 1;
    }
    return resolve_links(&t->root, &t->root, err);
}

static void free_node(struct mf_tar_node *n)
{
    mf_free(n->hardlink);
    mf_free(n->linked);
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
    if (t->spoolfd >= 0)
        close(t->spoolfd);
    for (unsigned i = 0; i < t->nspool; i++)
        mf_free(t->spool_dirs[i]);
    mf_free(t->spool_dirs);
    if (t->spool != NULL) {
        struct mf_error e;
        if (mf_remove_tree(t->spool, &e) < 0) {
            /* a private temporary directory; nothing else to do */
        }
        mf_free(t->spool);
    }
    memset(t, 0, sizeof *t);
    t->spoolfd = -1;
}

int mf_tartree_visit(struct mf_tartree *t, const char *path, mf_tar_visit_fn fn,
                     mf_tar_dup_fn dup, void *ctx, struct mf_error *err)
{
    struct archive *a = open_tar(path, err);
    struct archive_entry *e;
    int rc;
    if (a == NULL)
        return -1;
    while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(e);
        struct mf_tar_node *n = name != NULL ? walk(&t->root, name, 0) : NULL, *first = NULL;
        if (n == NULL || n->type != MF_ENT_FILE || n->link != NULL)
            continue;
        /* the node that takes the content: the file's, or a link's */
        if (n->user != NULL)
            first = n;
        for (size_t i = 0; first == NULL && i < n->nlinked; i++)
            if (n->linked[i]->user != NULL)
                first = n->linked[i];
        if (first == NULL)
            continue;
        if (fn(ctx, first, a, err) < 0) {
            archive_read_free(a);
            return -1;
        }
        for (size_t i = 0; i <= n->nlinked; i++) {
            struct mf_tar_node *o = i < n->nlinked ? n->linked[i] : n;
            if (o != first && o->user != NULL && dup(ctx, first, o, err) < 0) {
                archive_read_free(a);
                return -1;
            }
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
    struct mf_tree_tar *v = (struct mf_tree_tar *)t;
    struct mf_tar_node *n = walk(v->root, rel, 0);
    char id[16];
    if (n == NULL || n->type != MF_ENT_DIR || n->spool_id == 0 || v->spoolfd < 0)
        return -1;
    snprintf(id, sizeof id, "%u", n->spool_id);
    return openat(v->spoolfd, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static const struct mf_tree_ops tar_ops = {tt_list, tt_read, tt_is_dir, tt_readlink, tt_open_dir};

void mf_tree_tar_init(struct mf_tree_tar *v, struct mf_tar_node *root, const struct mf_tartree *t)
{
    v->spoolfd = t->spoolfd;
    v->base.ops = &tar_ops;
    v->root = root;
}
