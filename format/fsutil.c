/* fsutil.c: bounded reads, full writes, spool files, fsync and tree removal. */
#include "fsutil.h"
#include "mem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int mf_read_fd(int fd, const char *what, size_t max, uint8_t **data_r, size_t *len_r,
               struct mf_error *err)
{
    size_t cap = 4096, len = 0;
    uint8_t *p = mf_malloc(cap + 1);
    *data_r = NULL;
    *len_r = 0;
    if (p == NULL)
        return mf_err_nomem(err);
    for (;;) {
        ssize_t n;
        if (len == cap) {
            uint8_t *np;
            if (cap >= max + 1) {
                mf_free(p);
                return mf_err(err, MF_ECORRUPT, "%s: larger than %zu bytes", what, max);
            }
            cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            np = mf_realloc(p, cap + 1);
            if (np == NULL) {
                mf_free(p);
                return mf_err_nomem(err);
            }
            p = np;
        }
        n = read(fd, p + len, cap - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            mf_free(p);
            return mf_err_sys(err, MF_EIO, e, "%s: read", what);
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max) {
            mf_free(p);
            return mf_err(err, MF_ECORRUPT, "%s: larger than %zu bytes", what, max);
        }
    }
    p[len] = '\0';
    *data_r = p;
    *len_r = len;
    return 0;
}

int mf_read_file(const char *path, size_t max, int nofollow, uint8_t **data_r, size_t *len_r,
                 struct mf_error *err)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0));
    int r;
    if (fd < 0)
        return mf_err_sys(err, MF_EIO, errno, "%s", path);
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return mf_err(err, MF_EIO, "%s: not a regular file", path);
    }
    r = mf_read_fd(fd, path, max, data_r, len_r, err);
    close(fd);
    return r;
}

int mf_write_all(int fd, const void *p, size_t n, const char *what, struct mf_error *err)
{
    const uint8_t *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return mf_err_sys(err, MF_EIO, errno, "%s: write", what);
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int mf_pread_all(int fd, void *p, size_t n, uint64_t off, const char *what,
                 struct mf_error *err)
{
    uint8_t *c = p;
    while (n > 0) {
        ssize_t r = pread(fd, c, n, (off_t)off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return mf_err_sys(err, MF_EIO, errno, "%s: read", what);
        }
        if (r == 0)
            return mf_err(err, MF_ECORRUPT, "%s: unexpected end of file", what);
        c += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

const char *mf_tmpdir(void)
{
    const char *t = getenv("TMPDIR");
    return (t != NULL && t[0] == '/') ? t : "/tmp";
}

int mf_spool_open(const char *dir, struct mf_error *err)
{
    int fd;
    char *tmpl;
    size_t n;
#ifdef O_TMPFILE
    fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
#endif
    n = strlen(dir) + sizeof "/.mailferry-spool.XXXXXX";
    tmpl = mf_malloc(n);
    if (tmpl == NULL)
        return mf_err_nomem(err);
    snprintf(tmpl, n, "%s/.mailferry-spool.XXXXXX", dir);
    fd = mkostemp(tmpl, O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        mf_free(tmpl);
        return mf_err_sys(err, MF_EIO, e, "cannot create a temporary file in %s", dir);
    }
    unlink(tmpl);
    mf_free(tmpl);
    return fd;
}

int mf_write_new_file(const char *path, const void *data, size_t len, mode_t mode,
                      struct mf_error *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return mf_err_sys(err, MF_EIO, errno, "%s", path);
    if (fchmod(fd, mode) < 0 || mf_write_all(fd, data, len, path, err) < 0 || fsync(fd) < 0) {
        if (err->cls == MF_OK)
            mf_err_sys(err, MF_EIO, errno, "%s", path);
        close(fd);
        unlink(path);
        return -1;
    }
    if (close(fd) < 0) {
        unlink(path);
        return mf_err_sys(err, MF_EIO, errno, "%s: close", path);
    }
    return 0;
}

int mf_fsync_path(const char *path, struct mf_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mf_err_sys(err, MF_EIO, errno, "%s", path);
    if (fsync(fd) < 0 && errno != EINVAL) {
        int e = errno;
        close(fd);
        return mf_err_sys(err, MF_EIO, e, "%s: fsync", path);
    }
    close(fd);
    return 0;
}

int mf_fsync_parent(const char *path, struct mf_error *err)
{
    char *copy = mf_strdup(path);
    int r;
    if (copy == NULL)
        return mf_err_nomem(err);
    r = mf_fsync_path(dirname(copy), err);
    mf_free(copy);
    return r;
}

int mf_mkdirs(const char *path, mode_t mode, struct mf_error *err)
{
    char *copy = mf_strdup(path);
    size_t n;
    if (copy == NULL)
        return mf_err_nomem(err);
    n = strlen(copy);
    for (size_t i = 1; i <= n; i++) {
        if (copy[i] == '/' || copy[i] == '\0') {
            char saved = copy[i];
            copy[i] = '\0';
            if (mkdir(copy, mode) < 0 && errno != EEXIST) {
                int e = errno;
                mf_err_sys(err, MF_EIO, e, "mkdir %s", copy);
                mf_free(copy);
                return -1;
            }
            copy[i] = saved;
        }
    }
    mf_free(copy);
    return 0;
}

int mf_remove_tree_at(int parent, const char *name, struct mf_error *err)
{
    struct stat st;
    int fd;
    DIR *d;
    struct dirent *de;
    int r = 0;
    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            return 0;
        return mf_err_sys(err, MF_EIO, errno, "stat %s", name);
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(parent, name, 0) < 0 && errno != ENOENT)
            return mf_err_sys(err, MF_EIO, errno, "unlink %s", name);
        return 0;
    }
    fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return mf_err_sys(err, MF_EIO, errno, "open %s", name);
    d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return mf_err_sys(err, MF_EIO, errno, "opendir %s", name);
    }
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (mf_remove_tree_at(dirfd(d), de->d_name, err) < 0) {
            r = -1;
            break;
        }
    }
    closedir(d);
    if (r == 0 && unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return mf_err_sys(err, MF_EIO, errno, "rmdir %s", name);
    return r;
}

int mf_remove_tree(const char *path, struct mf_error *err)
{
    return mf_remove_tree_at(AT_FDCWD, path, err);
}

DIR *mf_opendir_at(int dirfd)
{
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL && fd >= 0) {
        int e = errno;
        close(fd);
        errno = e;
    }
    return d;
}

int mf_open_dir_below(int base, const char *rel)
{
    /* a fresh open file description: a dup() would share the directory offset */
    int fd = openat(base, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const char *p = rel;
    if (fd < 0)
        return -1;
    while (*p != '\0') {
        char comp[256];
        size_t n = strcspn(p, "/");
        int nfd;
        if (n == 0) {
            p++;
            continue;
        }
        if (n >= sizeof comp || (n == 2 && p[0] == '.' && p[1] == '.')) {
            close(fd);
            errno = EINVAL;
            return -1;
        }
        memcpy(comp, p, n);
        comp[n] = '\0';
        nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(fd);
        if (nfd < 0)
            return -1;
        fd = nfd;
        p += n;
    }
    return fd;
}
