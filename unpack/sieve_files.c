/* sieve_files.c: Sieve scripts and the active link, each made under a
 * temporary name and put in place in one step. */
#include "sieve_files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../format/fsutil.h"
#include "../format/mem.h"

#define DIR_TMP_PREFIX ".sieve.mailferry-new."
#define SCRIPT_TMP ".mailferry-new.script"
#define LINK_TMP ".mailferry-new.dovecot.sieve"

/* Empty directories a killed run made for "sieve" and did not rename. */
static void remove_dir_leftovers(int home)
{
    DIR *d = mf_opendir_at(home);
    struct dirent *de;
    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        if (strncmp(de->d_name, DIR_TMP_PREFIX, strlen(DIR_TMP_PREFIX)) == 0 &&
            fstatat(home, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
            unlinkat(home, de->d_name, AT_REMOVEDIR);   /* only if empty */
    }
    closedir(d);
}

int mf_sieve_dir(int home, const struct mf_owner *own, int *dir_r, struct mf_error *err)
{
    char tmp[64];
    int fd;
    *dir_r = -1;
    remove_dir_leftovers(home);
    for (int tries = 0; tries < 2; tries++) {
        fd = openat(home, "sieve", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) {
            *dir_r = fd;
            return 1;
        }
        if (errno != ENOENT)
            return 0;   /* a link, a file, or not ours to enter */
        /* made aside and given to the owner first: a kill never leaves a
         * "sieve" directory that belongs to root */
        snprintf(tmp, sizeof tmp, DIR_TMP_PREFIX "%ld", (long)getpid());
        unlinkat(home, tmp, AT_REMOVEDIR);
        if (mkdirat(home, tmp, 0700) < 0)
            return mf_err_sys(err, MF_EIO, errno, "create the sieve directory");
        fd = openat(home, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || (own->set && fchown(fd, own->uid, own->gid) < 0) ||
            fchmod(fd, own->dir_mode) < 0) {
            int e = errno;
            if (fd >= 0)
                close(fd);
            unlinkat(home, tmp, AT_REMOVEDIR);
            return mf_err_sys(err, MF_EIO, e, "chown the sieve directory");
        }
        if (renameat(home, tmp, home, "sieve") == 0) {
            *dir_r = fd;
            return 1;
        }
        /* made meanwhile by someone else: use theirs */
        close(fd);
        unlinkat(home, tmp, AT_REMOVEDIR);
    }
    return 0;
}

/* Whether file `name` in dir holds exactly data. */
static int same_content(int dir, const char *name, const uint8_t *data, size_t len)
{
    int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    uint8_t *have = NULL;
    size_t n = 0;
    struct mf_error e;
    int same;
    if (fd < 0)
        return 0;
    mf_err_clear(&e);
    same = mf_read_fd(fd, name, len + 1, &have, &n, &e) == 0 && n == len &&
           (len == 0 || memcmp(have, data, len) == 0);
    close(fd);
    mf_free(have);
    return same;
}

int mf_sieve_put(int dir, const char *name, const uint8_t *data, size_t len,
                 const struct mf_owner *own, int replace, int nosync,
                 enum mf_sieve_result *res, struct mf_error *err)
{
    struct stat st;
    int fd;
    *res = MF_SIEVE_WRITTEN;
    if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (same_content(dir, name, data, len)) {
            *res = MF_SIEVE_SAME;
            return 0;
        }
        if (!replace) {
            *res = MF_SIEVE_KEPT;
            return 0;
        }
    }
    unlinkat(dir, SCRIPT_TMP, 0);   /* a killed run's */
    fd = openat(dir, SCRIPT_TMP, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                own->file_mode);
    if (fd < 0)
        return mf_err_sys(err, MF_EIO, errno, "Sieve script %s", name);
    if ((own->set && fchown(fd, own->uid, own->gid) < 0) ||
        mf_write_all(fd, data, len, name, err) < 0 || (!nosync && fsync(fd) < 0)) {
        int e = errno;
        close(fd);
        unlinkat(dir, SCRIPT_TMP, 0);
        return err->cls != MF_OK ? -1 : mf_err_sys(err, MF_EIO, e, "Sieve script %s", name);
    }
    if (close(fd) < 0) {
        int e = errno;
        unlinkat(dir, SCRIPT_TMP, 0);
        return mf_err_sys(err, MF_EIO, e, "Sieve script %s", name);
    }
    if (replace ? renameat(dir, SCRIPT_TMP, dir, name) == 0
                : linkat(dir, SCRIPT_TMP, dir, name, 0) == 0) {
        unlinkat(dir, SCRIPT_TMP, 0);   /* linked: the temporary name goes */
        return 0;
    }
    {
        int e = errno;
        unlinkat(dir, SCRIPT_TMP, 0);
        if (!replace && e == EEXIST) {
            *res = same_content(dir, name, data, len) ? MF_SIEVE_SAME : MF_SIEVE_KEPT;
            return 0;
        }
        return mf_err_sys(err, MF_EIO, e, "Sieve script %s", name);
    }
}

/* Whether <home>/.dovecot.sieve is a link to target. */
static int same_link(int home, const char *target)
{
    char have[400];
    ssize_t n = readlinkat(home, ".dovecot.sieve", have, sizeof have);
    return n >= 0 && (size_t)n == strlen(target) && memcmp(have, target, (size_t)n) == 0;
}

int mf_sieve_activate(int home, const char *name, const struct mf_owner *own, int replace,
                      enum mf_sieve_result *res, struct mf_error *err)
{
    char target[300];
    struct stat st;
    int r;
    *res = MF_SIEVE_WRITTEN;
    if (snprintf(target, sizeof target, "sieve/%s", name) >= (int)sizeof target)
        return mf_err(err, MF_ETARGET, "Sieve script name too long");
    if (fstatat(home, ".dovecot.sieve", &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (same_link(home, target)) {
            *res = MF_SIEVE_SAME;
            return 0;
        }
        if (!replace) {
            *res = MF_SIEVE_KEPT;
            return 0;
        }
    }
    unlinkat(home, LINK_TMP, 0);   /* a killed run's */
    if (symlinkat(target, home, LINK_TMP) < 0)
        return mf_err_sys(err, MF_EIO, errno, "set the active Sieve script");
    if (own->set && fchownat(home, LINK_TMP, own->uid, own->gid, AT_SYMLINK_NOFOLLOW) < 0) {
        int e = errno;
        unlinkat(home, LINK_TMP, 0);
        return mf_err_sys(err, MF_EIO, e, "chown .dovecot.sieve");
    }
    /* linkat without AT_SYMLINK_FOLLOW links the symbolic link itself */
    r = replace ? renameat(home, LINK_TMP, home, ".dovecot.sieve")
                : linkat(home, LINK_TMP, home, ".dovecot.sieve", 0);
    {
        int e = errno;
        unlinkat(home, LINK_TMP, 0);
        if (r == 0)
            return 0;
        if (!replace && e == EEXIST) {
            *res = same_link(home, target) ? MF_SIEVE_SAME : MF_SIEVE_KEPT;
            return 0;
        }
        return mf_err_sys(err, MF_EIO, e, "set the active Sieve script");
    }
}
