/* target.c: template expansion, safe directory walking, staging, commit. */
#include "target.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../format/buf.h"
#include "../format/fsutil.h"
#include "../format/mem.h"

int mf_target_expand(const char *tmpl, const char *user, char **out, struct mf_error *err)
{
    struct mf_buf b;
    const char *at = strrchr(user, '@');
    size_t nlen = at != NULL ? (size_t)(at - user) : strlen(user);
    mf_buf_init(&b);
    for (const char *p = tmpl; *p != '\0'; p++) {
        int lower = 0;
        const char *v;
        size_t vl;
        if (*p != '%') {
            mf_buf_u8(&b, (uint8_t)*p);
            continue;
        }
        p++;
        if (*p == 'L') {
            lower = 1;
            p++;
        }
        switch (*p) {
        case '%': v = "%"; vl = 1; break;
        case 'u': v = user; vl = strlen(user); break;
        case 'n': v = user; vl = nlen; break;
        case 'd': v = at != NULL ? at + 1 : ""; vl = strlen(v); break;
        default:
            mf_buf_free(&b);
            return mf_err(err, MF_EUSAGE, "target template: unknown variable %%%c (use %%u %%n %%d)",
                          *p != '\0' ? *p : ' ');
        }
        for (size_t i = 0; i < vl; i++)
            mf_buf_u8(&b, (uint8_t)(lower ? tolower((unsigned char)v[i]) : v[i]));
    }
    mf_buf_u8(&b, 0);
    if (b.oom)
        return mf_err_nomem(err);
    *out = (char *)b.p;
    return 0;
}

int mf_target_per_user(const char *tmpl, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (tmpl[i] != '%')
            continue;
        i++;
        if (tmpl[i] == 'L' && i + 1 < n)
            i++;
        if (tmpl[i] == 'u' || tmpl[i] == 'n')
            return 1;
    }
    return 0;
}

static int fixed_prefix_len(const char *tmpl)
{
    const char *pct = strchr(tmpl, '%');
    size_t n = pct != NULL ? (size_t)(pct - tmpl) : strlen(tmpl);
    while (n > 0 && tmpl[n - 1] != '/')
        n--;
    return (int)n;
}

static int owned_dir(int fd, const struct mf_owner *own, struct mf_error *err, const char *what)
{
    if (own->set && fchown(fd, own->uid, own->gid) < 0)
        return mf_err_sys(err, MF_EIO, errno, "chown %s", what);
    if (fchmod(fd, own->dir_mode) < 0)
        return mf_err_sys(err, MF_EIO, errno, "chmod %s", what);
    return 0;
}

/* mf_mkdir_owned's temporary name: ".<name>" MKDIR_SUFFIX */
#define MKDIR_SUFFIX ".mailferry-mkdir"

static int bad_component(const char *c, size_t n)
{
    return n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.');
}

static void read_state(struct mf_target *t)
{
    int root = openat(t->parentfd, t->leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int fd;
    uint8_t *data;
    size_t len;
    struct mf_error e;
    DIR *d;
    struct dirent *de;
    int empty = 1;
    if (root < 0) {
        t->state = MF_TARGET_ABSENT;
        return;
    }
    fd = openat(root, MF_STATE_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        if (mf_read_fd(fd, MF_STATE_FILE, 1 << 20, &data, &len, &e) == 0)
            t->state_text = (char *)data;
        close(fd);
        close(root);
        t->state = MF_TARGET_APPLIED;
        return;
    }
    d = fdopendir(root);
    if (d == NULL) {
        close(root);
        t->state = MF_TARGET_FOREIGN;
        return;
    }
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            empty = 0;
            break;
        }
    closedir(d);
    t->state = empty ? MF_TARGET_ABSENT : MF_TARGET_FOREIGN;
}

/* Removes staging directories a crashed run left next to the target, and
 * the (empty) directories it was making (mf_mkdir_owned): also in the home,
 * where the sieve directory is made. */
static void remove_stale_stages(struct mf_target *t)
{
    DIR *d = mf_opendir_at(t->parentfd);
    struct dirent *de;
    char prefix[512];
    struct mf_error e;
    if (d == NULL)
        return;
    snprintf(prefix, sizeof prefix, ".%s.mailferry-stage.", t->leaf);
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
            if (mf_remove_tree_at(t->parentfd, de->d_name, &e) < 0)
                continue; /* best effort: a later run tries again */
        if (de->d_name[0] == '.' && n > sizeof MKDIR_SUFFIX &&
            strcmp(de->d_name + n - (sizeof MKDIR_SUFFIX - 1), MKDIR_SUFFIX) == 0)
            unlinkat(t->parentfd, de->d_name, AT_REMOVEDIR);   /* only if empty */
    }
    closedir(d);
}

/* A template's expansion for a user, its parts below the fixed prefix
 * checked: none may be empty, "." or "..". *rest_r (if not NULL) is a copy of
 * those parts, to be split at '/'; *base_r the offset of that copy in *path_r. */
static int expand_checked(const char *tmpl, const char *user, char **path_r, char **rest_r,
                          size_t *base_r, struct mf_error *err)
{
    int pl = fixed_prefix_len(tmpl);
    size_t base = pl > 1 ? (size_t)pl : 1, trail = 0, n;
    char *path, *p;
    *path_r = NULL;
    if (rest_r != NULL)
        *rest_r = NULL;
    if (tmpl[0] != '/')
        return mf_err(err, MF_EUSAGE, "the target template must be an absolute path");
    if (mf_target_expand(tmpl, user, &path, err) < 0)
        return -1;
    /* slashes that end the template itself are no part; those a variable left
     * empty are */
    for (n = strlen(tmpl); n > base && tmpl[n - 1] == '/'; n--)
        trail++;
    n = strlen(path);
    while (trail-- > 0 && n > base && path[n - 1] == '/')
        n--;
    for (p = path + base;;) {
        size_t cl = strcspn(p, "/");
        if (p + cl > path + n)
            cl = (size_t)(path + n - p);
        if (bad_component(p, cl)) {
            mf_err(err, MF_ETARGET, "target path %s has an empty, . or .. part", path);
            mf_free(path);
            return -1;
        }
        if (p + cl >= path + n)
            break;
        p += cl + 1;
    }
    if (rest_r != NULL && (*rest_r = mf_strndup(path + base, n - base)) == NULL) {
        mf_free(path);
        return mf_err_nomem(err);
    }
    *path_r = path;
    if (base_r != NULL)
        *base_r = base;
    return 0;
}

int mf_target_check(const char *tmpl, const char *user, char **path_r, struct mf_error *err)
{
    return expand_checked(tmpl, user, path_r, NULL, NULL, err);
}

int mf_mkdir_owned(int dirfd, const char *name, int tmpfd, const struct mf_owner *own,
                   const char *what, struct mf_error *err)
{
    char tmp[256];
    snprintf(tmp, sizeof tmp, ".%.200s" MKDIR_SUFFIX, name);
    if (tmpfd < 0)
        tmpfd = dirfd;
    for (int tries = 0; tries < 100; tries++) {
        struct stat a, b;
        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), e;
        if (fd >= 0)
            return fd;
        if (errno == ELOOP || errno == ENOTDIR)
            return mf_err(err, MF_ETARGET, "refusing %s: a symbolic link or not a directory",
                          what);
        if (errno != ENOENT)
            return mf_err_sys(err, MF_EIO, errno, "%s", what);
        if (mkdirat(tmpfd, tmp, 0700) < 0) {
            if (errno != EEXIST)
                return mf_err_sys(err, MF_EIO, errno, "cannot create %s", what);
            /* left by a run killed before its rename (empty): removed */
            if (unlinkat(tmpfd, tmp, AT_REMOVEDIR) < 0 && errno != ENOENT)
                return mf_err_sys(err, MF_ETARGET, errno, "cannot create %s: %s is in the way",
                                  what, tmp);
            continue;
        }
        fd = openat(tmpfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ENOENT)
                continue;   /* another run took it away meanwhile */
            return mf_err_sys(err, MF_EIO, errno, "cannot create %s", what);
        }
        if (owned_dir(fd, own, err, what) < 0) {
            close(fd);
            unlinkat(tmpfd, tmp, AT_REMOVEDIR);
            return -1;
        }
        if (renameat2(tmpfd, tmp, dirfd, name, RENAME_NOREPLACE) < 0 &&
            (errno != EINVAL || renameat(tmpfd, tmp, dirfd, name) < 0)) {
            e = errno;
            close(fd);
            if (e == ENOENT)
                continue;   /* another run took it away meanwhile */
            unlinkat(tmpfd, tmp, AT_REMOVEDIR);
            if (e == EEXIST || e == ENOTEMPTY)
                continue;   /* made meanwhile by another run: opened above */
            return mf_err_sys(err, MF_EIO, e, "cannot create %s", what);
        }
        /* the directory now there is the one given its owner */
        if (fstat(fd, &a) == 0 && fstatat(dirfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
            a.st_dev == b.st_dev && a.st_ino == b.st_ino)
            return fd;
        close(fd);
    }
    return mf_err(err, MF_ETARGET, "cannot create %s: it keeps changing", what);
}

int mf_template_open_dir(const char *tmpl, const char *user, int *fd_r, struct mf_error *err)
{
    char *path, *rest, *comp, *next;
    size_t base;
    int fd;
    *fd_r = -1;
    if (expand_checked(tmpl, user, &path, &rest, &base, err) < 0)
        return -1;
    {
        /* the administrator's fixed prefix, links and all */
        char *prefix = mf_strndup(path, base > 1 ? base - 1 : 1);
        if (prefix == NULL) {
            mf_free(rest);
            mf_free(path);
            return mf_err_nomem(err);
        }
        fd = open(prefix, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        mf_free(prefix);
    }
    for (comp = rest; fd >= 0 && comp != NULL; comp = next) {
        int nfd;
        struct stat st;
        next = strchr(comp, '/');
        if (next != NULL)
            *next++ = '\0';
        nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (nfd < 0 && errno != ENOENT) {
            int e = errno, r;
            if (fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
                r = mf_err(err, MF_ETARGET, "refusing %s: %s is a symbolic link", path, comp);
            else
                r = mf_err_sys(err, e == ENOTDIR ? MF_ETARGET : MF_EIO, e, "%s: %s", path,
                               comp);
            close(fd);
            mf_free(rest);
            mf_free(path);
            return r;
        }
        close(fd);
        fd = nfd;
    }
    mf_free(rest);
    mf_free(path);
    *fd_r = fd;   /* -1: something on the way does not exist */
    return 0;
}

static int target_open(struct mf_target *t, const char *tmpl, const char *user,
                       const struct mf_owner *own, const struct mf_owner *shared, int create,
                       struct mf_error *err)
{
    int pl = fixed_prefix_len(tmpl), fd;
    char *rest, *comp, *next;
    size_t base;
    const char *tcomp = tmpl + (pl > 1 ? pl : 1);   /* the template part of comp */
    struct stat st;
    memset(t, 0, sizeof *t);
    t->parentfd = t->stagefd = -1;
    if (expand_checked(tmpl, user, &t->path, &rest, &base, err) < 0)
        return -1;
    /* the administrator's fixed prefix */
    {
        char *prefix = mf_strndup(tmpl, pl > 1 ? (size_t)pl - 1 : 1);
        if (prefix == NULL) {
            mf_free(rest);
            return mf_err_nomem(err);
        }
        if (create && mf_mkdirs(prefix, 0755, err) < 0) {
            mf_free(prefix);
            mf_free(rest);
            return -1;
        }
        fd = open(prefix, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 && !create && errno == ENOENT) {
            mf_free(prefix);
            mf_free(rest);
            t->state = MF_TARGET_ABSENT;   /* nothing of it exists yet */
            return 0;
        }
        if (fd < 0) {
            int e = errno;
            mf_err_sys(err, MF_EIO, e, "%s", prefix);
            mf_free(prefix);
            mf_free(rest);
            return -1;
        }
        mf_free(prefix);
    }
    /* the user's part, component by component, never through a link */
    for (comp = rest;; comp = next) {
        next = strchr(comp, '/');
        if (next == NULL)
            break;  /* comp is the leaf */
        *next++ = '\0';
        {
            /* a directory above the per-user part is shared by users who may
             * have different owners: it gets the shared owner */
            size_t tl = strcspn(tcomp, "/");
            int per_user = mf_target_per_user(tcomp, tl);
            const struct mf_owner *o = per_user || shared == NULL ? own : shared;
            char what[4096];
            int nfd;
            tcomp += tl + (tcomp[tl] == '/');
            /* what: the path up to and including comp */
            snprintf(what, sizeof what, "%.*s", (int)(base + (size_t)(next - 1 - rest)), t->path);
            if (fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
                close(fd);
                mf_err(err, MF_ETARGET, "refusing target %s: %s is a symbolic link", t->path,
                       comp);
                mf_free(rest);
                return -1;
            }
            if (!create && fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT) {
                close(fd);
                mf_free(rest);
                t->state = MF_TARGET_ABSENT;
                return 0;
            }
            if (create) {
                nfd = mf_mkdir_owned(fd, comp, -1, o, what, err);
                close(fd);
                if (nfd < 0) {
                    mf_err_ctx(err, "target %s", t->path);
                    mf_free(rest);
                    return -1;
                }
            } else {
                int e;
                nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                e = errno;
                close(fd);
                if (nfd < 0) {
                    mf_err_sys(err, MF_ETARGET, e, "refusing target %s: %s", t->path, comp);
                    mf_free(rest);
                    return -1;
                }
            }
            fd = nfd;
        }
    }
    t->leaf = mf_strdup(comp);
    mf_free(rest);
    if (t->leaf == NULL) {
        close(fd);
        return mf_err_nomem(err);
    }
    t->parentfd = fd;
    if (fstatat(fd, t->leaf, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode))
        return mf_err(err, MF_ETARGET, "refusing target %s: it exists and is not a directory%s",
                      t->path, S_ISLNK(st.st_mode) ? " (a symbolic link)" : "");
    remove_stale_stages(t);
    read_state(t);
    return 0;
}

int mf_target_open(struct mf_target *t, const char *tmpl, const char *user,
                   const struct mf_owner *own, const struct mf_owner *shared,
                   struct mf_error *err)
{
    return target_open(t, tmpl, user, own, shared, 1, err);
}

int mf_target_probe(struct mf_target *t, const char *tmpl, const char *user, struct mf_error *err)
{
    struct mf_owner none;
    memset(&none, 0, sizeof none);
    return target_open(t, tmpl, user, &none, NULL, 0, err);
}

int mf_target_stage(struct mf_target *t, const struct mf_owner *own, struct mf_error *err)
{
    char name[600];
    uint32_t rnd = randombytes_random();
    snprintf(name, sizeof name, ".%s.mailferry-stage.%ld.%08x", t->leaf, (long)getpid(), rnd);
    if (mkdirat(t->parentfd, name, 0700) < 0)
        return mf_err_sys(err, MF_EIO, errno, "cannot create staging directory next to %s",
                          t->path);
    t->stage = mf_strdup(name);
    if (t->stage == NULL) {
        unlinkat(t->parentfd, name, AT_REMOVEDIR);
        return mf_err_nomem(err);
    }
    t->stagefd = openat(t->parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (t->stagefd < 0)
        return mf_err_sys(err, MF_EIO, errno, "open staging directory");
    return owned_dir(t->stagefd, own, err, "staging directory");
}

int mf_target_sync(struct mf_target *t, struct mf_error *err)
{
    if (syncfs(t->stagefd) < 0)
        return mf_err_sys(err, MF_EIO, errno, "sync %s", t->path);
    return 0;
}

int mf_target_commit(struct mf_target *t, int nosync, struct mf_error *err)
{
    if (t->state == MF_TARGET_ABSENT)
        unlinkat(t->parentfd, t->leaf, AT_REMOVEDIR);  /* an empty directory may be there */
    if (renameat(t->parentfd, t->stage, t->parentfd, t->leaf) < 0)
        return mf_err_sys(err, MF_ETARGET, errno, "cannot move the new store into place at %s",
                          t->path);
    mf_free(t->stage);
    t->stage = NULL;
    if (!nosync && fsync(t->parentfd) < 0)
        return mf_err_sys(err, MF_EIO, errno, "sync the directory of %s", t->path);
    return 0;
}

void mf_target_abort(struct mf_target *t)
{
    struct mf_error e;
    if (t->stage != NULL && t->parentfd >= 0)
        if (mf_remove_tree_at(t->parentfd, t->stage, &e) < 0) {
            /* left for the next run, which removes stale staging directories */
        }
    mf_free(t->stage);
    t->stage = NULL;
}

void mf_target_close(struct mf_target *t)
{
    mf_target_abort(t);
    if (t->stagefd >= 0)
        close(t->stagefd);
    if (t->parentfd >= 0)
        close(t->parentfd);
    mf_free(t->path);
    mf_free(t->leaf);
    mf_free(t->state_text);
    memset(t, 0, sizeof *t);
    t->parentfd = t->stagefd = -1;
}
