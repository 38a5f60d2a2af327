/* archive_files.c: grouping command-line files into archives by a look at
 * each file's head (FORMAT and MANIFEST); the reader validates everything
 * later, so a file whose head cannot be read is simply an archive of its own. */
#include "archive_files.h"
#include "container.h"
#include "hash.h"
#include "limits.h"
#include "manifest.h"
#include "mem.h"

#include <errno.h>
#include <sodium.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The manifest hash, volume count and volume number of a file, or -1 when
 * its head does not read as an archive's. */
static int peek(const char *path, uint8_t hash[MF_HASH_BYTES], size_t *nvolumes, size_t *volume)
{
    struct mf_tar_reader *t = NULL;
    struct mf_manifest m;
    struct mf_error err;
    struct mf_buf b = {0};
    char name[MF_MEMBER_NAME_MAX + 64];
    uint64_t size;
    const void *p;
    size_t n;
    int fd, k, rc = -1;
    memset(&m, 0, sizeof m);
    if (strcmp(path, "-") == 0 || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return -1;
    if (mf_tarr_open(&t, fd, -1, &err) < 0)
        goto out;
    for (int want = 0; want < 2; want++) {
        if (mf_tarr_next(t, name, sizeof name, &size, &err) <= 0 ||
            strcmp(name, want == 0 ? MF_MEMBER_FORMAT : MF_MEMBER_MANIFEST) != 0 ||
            size > MF_MANIFEST_MAX)
            goto out;
    }
    while ((k = mf_tarr_data(t, &p, &n, &err)) > 0)
        if (mf_buf_append(&b, p, n) < 0)
            goto out;
    if (k < 0 || b.len != size || mf_manifest_parse(b.p, b.len, &m, &err) < 0)
        goto out;
    crypto_generichash(hash, MF_HASH_BYTES, b.p, b.len, NULL, 0);
    *nvolumes = m.nvolumes;
    *volume = 0;
    /* the member after MANIFEST.minisig opens the volume */
    if (mf_tarr_next(t, name, sizeof name, &size, &err) > 0 &&
        mf_tarr_next(t, name, sizeof name, &size, &err) > 0)
        for (size_t j = 1; j < m.nmembers; j++)
            if (strcmp(m.members[j].name, name) == 0)
                *volume = mf_manifest_volume_of(&m, j);
    rc = 0;
out:
    mf_manifest_clear(&m);
    mf_buf_free(&b);
    mf_tarr_free(&t);
    close(fd);
    return rc;
}

static int add_path(struct mf_archive_files *g, const char *path)
{
    char **v = mf_realloc(g->paths, (g->n + 1) * sizeof *v);
    if (v == NULL)
        return -1;
    g->paths = v;
    if ((v[g->n] = mf_strdup(path)) == NULL)
        return -1;
    g->n++;
    return 0;
}

static char *volume_name(const char *base, size_t i)
{
    size_t n = strlen(base) + 24;
    char *s = mf_malloc(n);
    if (s != NULL)
        snprintf(s, n, "%s.%03zu", base, i);
    return s;
}

/* NAME.001, NAME.002, ... for a NAME that does not exist; 0 when there are none. */
static int expand(struct mf_archive_files *g, const char *base, struct mf_error *err)
{
    struct stat st;
    for (size_t i = 1; i <= MF_VOLUMES_MAX; i++) {
        char *v = volume_name(base, i);
        int rc;
        if (v == NULL)
            return mf_err_nomem(err);
        if (stat(v, &st) < 0) {
            mf_free(v);
            break;
        }
        rc = add_path(g, v);
        mf_free(v);
        if (rc < 0)
            return mf_err_nomem(err);
    }
    return 0;
}

void mf_archive_files_free(struct mf_archive_files *a, size_t n)
{
    for (size_t i = 0; a != NULL && i < n; i++) {
        for (size_t k = 0; k < a[i].n; k++)
            mf_free(a[i].paths[k]);
        mf_free(a[i].paths);
        mf_free(a[i].label);
    }
    mf_free(a);
}

int mf_archive_files_group(char *const *args, size_t nargs, struct mf_archive_files **out,
                           size_t *nout, struct mf_error *err)
{
    struct mf_archive_files *a = mf_calloc(nargs ? nargs : 1, sizeof *a);
    uint8_t prev[MF_HASH_BYTES];
    int have_prev = 0;
    size_t n = 0;
    *out = NULL;
    *nout = 0;
    if (a == NULL)
        return mf_err_nomem(err);
    for (size_t i = 0; i < nargs; i++) {
        struct stat st;
        uint8_t h[MF_HASH_BYTES];
        size_t nvol = 0, vol = 0;
        int known;
        if (strcmp(args[i], "-") != 0 && stat(args[i], &st) < 0 && errno == ENOENT) {
            /* NAME for its volumes */
            struct mf_archive_files *g = &a[n];
            if (expand(g, args[i], err) < 0)
                goto fail;
            if (g->n > 0) {
                if ((g->label = mf_strdup(args[i])) == NULL)
                    goto nomem;
                n++;
                have_prev = 0;
                continue;
            }
        }
        known = peek(args[i], h, &nvol, &vol) == 0 && nvol > 1;
        /* a volume joins the volumes before it when it is of the same
         * archive, or could not start one (the reader then names it) */
        if (known && have_prev && (memcmp(h, prev, MF_HASH_BYTES) == 0 || vol > 1)) {
            if (add_path(&a[n - 1], args[i]) < 0)
                goto nomem;
            continue;
        }
        if (add_path(&a[n], args[i]) < 0 || (a[n].label = mf_strdup(args[i])) == NULL)
            goto nomem;
        n++;
        have_prev = known;
        if (known)
            memcpy(prev, h, MF_HASH_BYTES);
    }
    *out = a;
    *nout = n;
    return 0;
nomem:
    mf_err_nomem(err);
fail:
    mf_archive_files_free(a, nargs ? nargs : 1);
    return -1;
}
