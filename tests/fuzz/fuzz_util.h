/* fuzz_util.h: helpers shared by the fuzz targets in tests/fuzz: a private
 * scratch directory (made once per process, removed at exit) for parsers
 * that only read files, one-time library set-up, and a splitter that cuts
 * one fuzz input into several length-prefixed parts. Header-only so each
 * target stays one translation unit (built by clang for libFuzzer and by the
 * project's compiler with replay_main.c for `make check`). */
#ifndef MF_FUZZ_UTIL_H
#define MF_FUZZ_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../format/error.h"
#include "../../format/sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The public half of spec/vectors/test.pub and test.key: the test key pair
 * the spec vectors are signed with (published, not a secret). */
#define FZ_TEST_PUB                                                       \
    "untrusted comment: minisign public key CF4A8DE38EB3431A\n"           \
    "RWQaQ7OO441Kz3Iqebn80s5hBcNmE90R+Whqi+/Yvu1+ZPtV/aIBqlAH\n"

static char fz_dir_path[4096];
static int fz_dir_fd = -1;

_Noreturn static inline void fz_abort(const char *what)
{
    fprintf(stderr, "fuzz harness: %s: %s\n", what, strerror(errno));
    abort();
}

static inline void fz_dir_clear(void)
{
    DIR *d;
    struct dirent *e;
    int fd;
    if (fz_dir_fd < 0)
        return;
    fd = dup(fz_dir_fd);
    if (fd < 0 || (d = fdopendir(fd)) == NULL)
        fz_abort("open scratch directory");
    rewinddir(d);  /* the duplicate shares the position of earlier walks */
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            (void)unlinkat(fz_dir_fd, e->d_name, 0);
    closedir(d);
}

static inline void fz_dir_remove(void)
{
    if (fz_dir_fd < 0)
        return;
    fz_dir_clear();
    close(fz_dir_fd);
    fz_dir_fd = -1;
    (void)rmdir(fz_dir_path);
}

/* The scratch directory's descriptor (emptied by the caller as needed). */
static inline int fz_dir(void)
{
    if (fz_dir_fd < 0) {
        const char *t = getenv("TMPDIR");
        if (t == NULL || t[0] == '\0')
            t = "/tmp";
        snprintf(fz_dir_path, sizeof fz_dir_path, "%s/mf-fuzz.XXXXXX", t);
        if (mkdtemp(fz_dir_path) == NULL)
            fz_abort("mkdtemp");
        fz_dir_fd = open(fz_dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fz_dir_fd < 0)
            fz_abort("open scratch directory");
        atexit(fz_dir_remove);
    }
    return fz_dir_fd;
}

/* Writes (replaces) file `name` in the scratch directory. */
static inline void fz_put(const char *name, const void *p, size_t n)
{
    int fd = openat(fz_dir(), name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const uint8_t *b = p;
    if (fd < 0)
        fz_abort("create scratch file");
    while (n > 0) {
        ssize_t k = write(fd, b, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            fz_abort("write scratch file");
        b += k;
        n -= (size_t)k;
    }
    if (close(fd) < 0)
        fz_abort("close scratch file");
}

/* Full path of a scratch file (static buffer). */
static inline const char *fz_path(const char *name)
{
    static char path[4096 + 256];
    (void)fz_dir();
    snprintf(path, sizeof path, "%s/%s", fz_dir_path, name);
    return path;
}

static inline void fz_crypto_init(void)
{
    static int done;
    struct mf_error err;
    if (!done) {
        if (mf_crypto_init(&err) < 0) {
            fprintf(stderr, "fuzz harness: %s\n", err.msg);
            abort();
        }
        done = 1;
    }
}

/* Takes the next part of a split input: a u32le length (clamped to what is
 * left), then that many bytes. With fewer than 4 bytes left the part is
 * empty. `present_r` says whether a length was there at all. */
static inline void fz_take(const uint8_t **p, size_t *n, const uint8_t **part, size_t *len,
                    int *present_r)
{
    size_t want;
    *part = *p;
    *len = 0;
    if (present_r != NULL)
        *present_r = *n >= 4;
    if (*n < 4) {
        *p += *n;
        *n = 0;
        return;
    }
    want = (size_t)(*p)[0] | (size_t)(*p)[1] << 8 | (size_t)(*p)[2] << 16 | (size_t)(*p)[3] << 24;
    *p += 4;
    *n -= 4;
    if (want > *n)
        want = *n;
    *part = *p;
    *len = want;
    *p += want;
    *n -= want;
}

/* A copy of p[0..n) that ends exactly where an inaccessible page begins, for
 * parsers that take (data, len): a read past the end faults even when it is
 * done by uninstrumented libc code (strtoul, sscanf), which ASan misses. */
struct fz_guard {
    uint8_t *map;
    size_t maplen;
};

static inline const uint8_t *fz_guard_copy(struct fz_guard *g, const uint8_t *p, size_t n)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    size_t body = (n + pg - 1) / pg * pg;
    uint8_t *d;
    g->maplen = body + pg;
    g->map = mmap(NULL, g->maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g->map == MAP_FAILED || mprotect(g->map + body, pg, PROT_NONE) < 0)
        fz_abort("mmap");
    d = g->map + body - n;
    if (n > 0)
        memcpy(d, p, n);
    return d;
}

static inline void fz_guard_free(struct fz_guard *g)
{
    munmap(g->map, g->maplen);
    g->map = NULL;
}

/* A NUL-terminated heap copy (abort on exhaustion: not the parser's fault). */
static inline char *fz_strndup(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s == NULL)
        fz_abort("malloc");
    if (n > 0)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

#endif
