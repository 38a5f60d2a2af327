/* container.c: libarchive pax writer and reader with exact data offsets.
 *
 * Offsets: the reader feeds libarchive from its own buffer and remembers the
 * input offset of that buffer. For an uncompressed tar libarchive hands out
 * member data as pointers into the caller's buffer, so the input offset of
 * every data block is known exactly. A block that is not inside our buffer
 * marks the member "not addressable"; the caller then keeps a copy. */
#include "container.h"
#include "fsutil.h"
#include "mem.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_BUF (256 * 1024)

struct mf_tar_writer {
    struct archive *a;
    int fd;
    int64_t mtime;
    uint64_t bytes;
    int io_errno;
};

static la_ssize_t w_write(struct archive *a, void *ctx, const void *buf, size_t n)
{
    struct mf_tar_writer *w = ctx;
    const uint8_t *p = buf;
    size_t left = n;
    (void)a;
    while (left > 0) {
        ssize_t k = write(w->fd, p, left);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            w->io_errno = errno;
            return -1;
        }
        p += k;
        left -= (size_t)k;
    }
    w->bytes += n;
    return (la_ssize_t)n;
}

static int w_fail(struct mf_tar_writer *w, struct mf_error *err, const char *what)
{
    if (w->io_errno != 0)
        return mf_err_sys(err, MF_EIO, w->io_errno, "writing the archive (%s)", what);
    return mf_err(err, MF_EIO, "writing the archive (%s): %s", what,
                  archive_error_string(w->a) ? archive_error_string(w->a) : "failed");
}

int mf_tarw_open(struct mf_tar_writer **w_r, int fd, int64_t mtime, struct mf_error *err)
{
    struct mf_tar_writer *w = mf_calloc(1, sizeof *w);
    *w_r = NULL;
    if (w == NULL)
        return mf_err_nomem(err);
    w->fd = fd;
    w->mtime = mtime;
    w->a = archive_write_new();
    if (w->a == NULL) {
        mf_free(w);
        return mf_err_nomem(err);
    }
    if (archive_write_set_format_pax_restricted(w->a) != ARCHIVE_OK ||
        archive_write_add_filter_none(w->a) != ARCHIVE_OK ||
        archive_write_open(w->a, w, NULL, w_write, NULL) != ARCHIVE_OK) {
        int r = w_fail(w, err, "open");
        archive_write_free(w->a);
        mf_free(w);
        return r;
    }
    *w_r = w;
    return 0;
}

int mf_tarw_member(struct mf_tar_writer *w, const char *name, uint64_t size,
                   struct mf_error *err)
{
    struct archive_entry *e = archive_entry_new();
    int r;
    if (e == NULL)
        return mf_err_nomem(err);
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0444);
    archive_entry_set_size(e, (la_int64_t)size);
    archive_entry_set_mtime(e, w->mtime, 0);
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    r = archive_write_header(w->a, e);
    archive_entry_free(e);
    if (r != ARCHIVE_OK)
        return w_fail(w, err, name);
    return 0;
}

int mf_tarw_data(struct mf_tar_writer *w, const void *p, size_t n, struct mf_error *err)
{
    const uint8_t *c = p;
    while (n > 0) {
        la_ssize_t k = archive_write_data(w->a, c, n);
        if (k <= 0)
            return w_fail(w, err, "data");
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

int mf_tarw_close(struct mf_tar_writer *w, struct mf_error *err)
{
    if (archive_write_close(w->a) != ARCHIVE_OK)
        return w_fail(w, err, "end of archive");
    return 0;
}

uint64_t mf_tarw_bytes(const struct mf_tar_writer *w)
{
    return w->bytes;
}

void mf_tarw_free(struct mf_tar_writer **wp)
{
    struct mf_tar_writer *w = *wp;
    if (w == NULL)
        return;
    *wp = NULL;
    archive_write_free(w->a);
    mf_free(w);
}

struct mf_tar_reader {
    struct archive *a;
    int fd;
    int spool_fd;
    uint8_t *buf;
    uint64_t buf_off;   /* input offset of buf[0] */
    size_t buf_len;
    uint64_t next_off;  /* input offset after the last byte read */
    int io_errno;
    int spool_errno;
    /* current member */
    int64_t data_off;
    uint64_t data_expect;  /* offset the next data block should start at */
    int addressable;
    int first_block;
    int at_eof;
};

static la_ssize_t r_read(struct archive *a, void *ctx, const void **out)
{
    struct mf_tar_reader *r = ctx;
    ssize_t n;
    (void)a;
    for (;;) {
        n = read(r->fd, r->buf, READ_BUF);
        if (n >= 0 || errno != EINTR)
            break;
    }
    if (n < 0) {
        r->io_errno = errno;
        return -1;
    }
    if (n > 0 && r->spool_fd >= 0) {
        struct mf_error e;
        if (mf_write_all(r->spool_fd, r->buf, (size_t)n, "spool", &e) < 0) {
            r->spool_errno = errno != 0 ? errno : EIO;
            return -1;
        }
    }
    r->buf_off = r->next_off;
    r->buf_len = (size_t)n;
    r->next_off += (uint64_t)n;
    *out = r->buf;
    return n;
}

static int r_fail(struct mf_tar_reader *r, struct mf_error *err, const char *what)
{
    const char *msg = archive_error_string(r->a);
    if (r->io_errno != 0)
        return mf_err_sys(err, MF_EIO, r->io_errno, "reading the archive");
    if (r->spool_errno != 0)
        return mf_err_sys(err, MF_EIO, r->spool_errno, "writing the spool copy of the archive");
    if (msg != NULL && strstr(msg, "runcated") != NULL)
        return mf_err(err, MF_ECORRUPT, "archive is truncated (%s)", what);
    return mf_err(err, MF_ECORRUPT, "damaged tar structure (%s): %s", what,
                  msg != NULL ? msg : "unreadable");
}

int mf_tarr_open(struct mf_tar_reader **r_r, int fd, int spool_fd, struct mf_error *err)
{
    struct mf_tar_reader *r = mf_calloc(1, sizeof *r);
    *r_r = NULL;
    if (r == NULL)
        return mf_err_nomem(err);
    r->fd = fd;
    r->spool_fd = spool_fd;
    r->buf = mf_malloc(READ_BUF);
    r->a = archive_read_new();
    if (r->buf == NULL || r->a == NULL) {
        if (r->a != NULL)
            archive_read_free(r->a);
        mf_free(r->buf);
        mf_free(r);
        return mf_err_nomem(err);
    }
    if (archive_read_support_format_tar(r->a) != ARCHIVE_OK ||
        archive_read_support_filter_none(r->a) != ARCHIVE_OK ||
        archive_read_open(r->a, r, NULL, r_read, NULL) != ARCHIVE_OK) {
        int rc = r_fail(r, err, "start");
        if (rc < 0 && err->cls == MF_ECORRUPT)
            mf_err(err, MF_ECORRUPT, "not a tar archive");
        archive_read_free(r->a);
        mf_free(r->buf);
        mf_free(r);
        return -1;
    }
    *r_r = r;
    return 0;
}

int mf_tarr_next(struct mf_tar_reader *r, char *name, size_t namecap, uint64_t *size_r,
                 struct mf_error *err)
{
    struct archive_entry *e;
    const char *path;
    int rc = archive_read_next_header(r->a, &e);
    if (rc == ARCHIVE_EOF) {
        r->at_eof = 1;
        return 0;
    }
    if (rc != ARCHIVE_OK) {
        if (r->io_errno == 0 && r->spool_errno == 0) {
            const char *msg = archive_error_string(r->a);
            if (msg != NULL && (strstr(msg, "runcated") != NULL || strstr(msg, "Damaged") != NULL))
                return mf_err(err, MF_ECORRUPT, "archive is truncated or damaged after %llu bytes",
                              (unsigned long long)r->next_off);
        }
        return r_fail(r, err, "member header");
    }
    path = archive_entry_pathname(e);
    if (path == NULL)
        return mf_err(err, MF_ECORRUPT, "tar member without a name");
    if (strlen(path) >= namecap)
        return mf_err(err, MF_ECORRUPT, "tar member name too long: %.64s...", path);
    strcpy(name, path);
    if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e) != NULL ||
        archive_entry_symlink(e) != NULL)
        return mf_err(err, MF_ECORRUPT, "tar member %s is not a regular file", name);
    if (!archive_entry_size_is_set(e) || archive_entry_size(e) < 0)
        return mf_err(err, MF_ECORRUPT, "tar member %s has no size", name);
    *size_r = (uint64_t)archive_entry_size(e);
    r->data_off = -1;
    r->addressable = 1;
    r->first_block = 1;
    return 1;
}

int mf_tarr_data(struct mf_tar_reader *r, const void **p_r, size_t *n_r, struct mf_error *err)
{
    const void *p;
    size_t n;
    la_int64_t off;
    int rc = archive_read_data_block(r->a, &p, &n, &off);
    if (rc == ARCHIVE_EOF)
        return 0;
    if (rc != ARCHIVE_OK)
        return r_fail(r, err, "member data");
    if (n == 0)
        return mf_tarr_data(r, p_r, n_r, err);
    if ((const uint8_t *)p >= r->buf && (const uint8_t *)p + n <= r->buf + r->buf_len) {
        uint64_t fo = r->buf_off + (uint64_t)((const uint8_t *)p - r->buf);
        if (r->first_block) {
            r->data_off = (int64_t)fo;
            r->data_expect = fo;
        }
        if (fo != r->data_expect)
            r->addressable = 0;
        r->data_expect = fo + n;
    } else {
        r->addressable = 0;
    }
    r->first_block = 0;
    *p_r = p;
    *n_r = n;
    return 1;
}

int64_t mf_tarr_data_offset(const struct mf_tar_reader *r)
{
    return r->addressable ? r->data_off : -1;
}

uint64_t mf_tarr_bytes(const struct mf_tar_reader *r)
{
    return r->next_off;
}

/* Bytes [from, end of input) must exist for at least 1024 bytes and be zero. */
int mf_tarr_finish(struct mf_tar_reader *r, struct mf_error *err)
{
    la_int64_t endpos = archive_read_header_position(r->a);
    uint64_t zeros = 0, pos;
    uint8_t *tmp = r->buf;
    int src = r->spool_fd >= 0 ? r->spool_fd : r->fd;
    if (!r->at_eof || endpos < 0)
        return mf_err(err, MF_EINTERNAL, "tar reader finished before the end");
    /* Already-read bytes after the end marker position. */
    pos = (uint64_t)endpos;
    while (pos < r->next_off) {
        size_t want = r->next_off - pos > READ_BUF ? READ_BUF : (size_t)(r->next_off - pos);
        if (mf_pread_all(src, tmp, want, pos, "archive", err) < 0)
            return -1;
        for (size_t i = 0; i < want; i++)
            if (tmp[i] != 0)
                return mf_err(err, MF_ECORRUPT, "data after the end of the archive");
        pos += want;
        zeros += want;
    }
    /* The rest of the input. */
    for (;;) {
        ssize_t n = read(r->fd, tmp, READ_BUF);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return mf_err_sys(err, MF_EIO, errno, "reading the archive");
        }
        if (n == 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            if (tmp[i] != 0)
                return mf_err(err, MF_ECORRUPT, "data after the end of the archive");
        zeros += (uint64_t)n;
        r->next_off += (uint64_t)n;
    }
    if (zeros < 1024)
        return mf_err(err, MF_ECORRUPT,
                      "archive is truncated: the tar end-of-archive marker is missing");
    return 0;
}

void mf_tarr_free(struct mf_tar_reader **rp)
{
    struct mf_tar_reader *r = *rp;
    if (r == NULL)
        return;
    *rp = NULL;
    archive_read_free(r->a);
    mf_free(r->buf);
    mf_free(r);
}
