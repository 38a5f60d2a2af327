/* src_fs.c: careful read-only file-system access for the packer. */
#include "src_fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../format/fsutil.h"
#include "../format/mem.h"

void mf_ents_free(struct mf_ents *e)
{
    for (size_t i = 0; i < e->n; i++)
        mf_free(e->v[i].name);
    mf_free(e->v);
    memset(e, 0, sizeof *e);
}

int mf_is_dir_below(int base, const char *rel)
{
    int fd = mf_open_dir_below(base, rel);
    if (fd < 0)
        return 0;
    close(fd);
    return 1;
}

int mf_list_dir(int base, const char *rel, struct mf_ents *out, struct mf_error *err)
{
    int fd = mf_open_dir_below(base, rel);
    DIR *d;
    struct dirent *de;
    memset(out, 0, sizeof *out);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return mf_err_sys(err, MF_EIO, errno, "%s", rel[0] ? rel : ".");
    }
    d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return mf_err_sys(err, MF_EIO, errno, "%s", rel);
    }
    for (;;) {
        struct mf_ent *e;
        errno = 0;
        de = readdir(d);
        if (de == NULL) {
            if (errno != 0) {
                int er = errno;
                closedir(d);
                mf_ents_free(out);
                return mf_err_sys(err, MF_EIO, er, "reading directory %s", rel);
            }
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (out->n == out->cap) {
            size_t nc = out->cap == 0 ? 64 : out->cap * 2;
            struct mf_ent *nv = mf_realloc(out->v, nc * sizeof *nv);
            if (nv == NULL) {
                closedir(d);
                mf_ents_free(out);
                return mf_err_nomem(err);
            }
            out->v = nv;
            out->cap = nc;
        }
        e = &out->v[out->n];
        e->name = mf_strdup(de->d_name);
        if (e->name == NULL) {
            closedir(d);
            mf_ents_free(out);
            return mf_err_nomem(err);
        }
        switch (de->d_type) {
        case DT_REG: e->type = MF_ENT_FILE; break;
        case DT_DIR: e->type = MF_ENT_DIR; break;
        case DT_LNK: e->type = MF_ENT_LINK; break;
        case DT_UNKNOWN: {
            struct stat st;
            if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                e->type = MF_ENT_OTHER;
            else
                e->type = S_ISREG(st.st_mode) ? MF_ENT_FILE : S_ISDIR(st.st_mode) ? MF_ENT_DIR
                          : S_ISLNK(st.st_mode) ? MF_ENT_LINK : MF_ENT_OTHER;
            break;
        }
        default: e->type = MF_ENT_OTHER; break;
        }
        out->n++;
    }
    closedir(d);
    return 0;
}

int mf_open_file_at(int base, const char *name)
{
    int fd = openat(base, name, O_RDONLY | O_NOFOLLOW | O_NOATIME | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && errno == EPERM)  /* O_NOATIME needs ownership */
        fd = openat(base, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    return fd;
}

int mf_read_below(int base, const char *rel, size_t max, uint8_t **data_r, size_t *len_r,
                  int *exists_r, struct mf_error *err)
{
    const char *slash = strrchr(rel, '/');
    int dfd = base, fd, r;
    struct stat st;
    *exists_r = 0;
    *data_r = NULL;
    *len_r = 0;
    if (slash != NULL) {
        char *dir = mf_strndup(rel, (size_t)(slash - rel));
        if (dir == NULL)
            return mf_err_nomem(err);
        dfd = mf_open_dir_below(base, dir);
        mf_free(dir);
        if (dfd < 0)
            return errno == ENOENT ? 0 : mf_err_sys(err, MF_EIO, errno, "%s", rel);
    }
    fd = mf_open_file_at(dfd, slash != NULL ? slash + 1 : rel);
    if (dfd != base)
        close(dfd);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        if (errno == ELOOP) {
            mf_err(err, MF_EIO, "%s is a symbolic link; not followed", rel);
            err->sys = ELOOP;
            return -1;
        }
        return mf_err_sys(err, MF_EIO, errno, "%s", rel);
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        mf_err(err, MF_EIO, "%s is not a regular file", rel);
        err->sys = EINVAL;
        return -1;
    }
    r = mf_read_fd(fd, rel, max, data_r, len_r, err);
    close(fd);
    if (r == 0)
        *exists_r = 1;
    return r;
}
