/* index_cache.c: field lookups in dovecot.index.cache (Dovecot 2.x, major
 * version 1, 64-bit uoff_t).
 *
 * Header (32 bytes): u8 major 1, u8 sizeof(uoff_t) 8, u8 minor, u8 unused,
 *   u32 indexid, u32 file_seq, u32 continued_record_count, u32
 *   record_count, u32 unused, u32 deleted_record_count, u32
 *   field_header_offset (log size encoding).
 * Field headers chain through next_offset (log size encoding); the last one
 *   lists every field: u32 next_offset, u32 size, u32 count, u32
 *   last_used[count], u32 size[count] (UINT32_MAX = variable), u8
 *   type[count], u8 decision[count], NUL-terminated names.
 * Record: u32 prev_offset, u32 size (header included), then fields
 *   {u32 file field index, [u32 size if variable], data padded to 4}. */
#include "index_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../format/buf.h"
#include "../format/mem.h"
#include "index_log.h"

#define HDR_SIZE 32
#define FIELDS_MAX 1024           /* Dovecot registers a few dozen */
#define FIELD_HDR_MAX (1u << 20)
#define RECORD_MAX (16u << 20)    /* a record holding a cached body part */
#define CHAIN_MAX 256             /* records per message followed */

static int pread_exact(int fd, void *p, size_t n, uint64_t off)
{
    size_t done = 0;
    while (done < n) {
        ssize_t k = pread(fd, (uint8_t *)p + done, n - done, (off_t)(off + done));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        done += (size_t)k;
    }
    return 0;
}

static void fields_free(struct mf_ixc *c)
{
    for (uint32_t i = 0; i < c->nfields; i++)
        mf_free(c->names[i]);
    mf_free(c->names);
    mf_free(c->sizes);
    c->names = NULL;
    c->sizes = NULL;
    c->nfields = 0;
}

/* Reads the newest field header. 1 ok, 0 damaged, -1 out of memory. */
static int read_fields(struct mf_ixc *c, uint32_t off)
{
    uint8_t h[12], *buf;
    uint32_t size, count, last = 0;
    const uint8_t *names, *end;
    for (int hops = 0; off != 0; hops++) {
        if (hops > 1000 || off < HDR_SIZE || (uint64_t)off + 12 > c->size ||
            pread_exact(c->fd, h, 12, off) < 0)
            return 0;
        last = off;
        off = mf_log_size_decode(h);
        if (off != 0 && off <= last)
            return 0;   /* v2.2+ files only grow: a loop or damage */
    }
    if (last == 0 || pread_exact(c->fd, h, 12, last) < 0)
        return 0;
    size = mf_load_u32le(h + 4);
    count = mf_load_u32le(h + 8);
    if (count > FIELDS_MAX || size > FIELD_HDR_MAX || size < 12 + 10 * count ||
        (uint64_t)last + size > c->size)
        return 0;
    buf = mf_malloc(size ? size : 1);
    if (buf == NULL)
        return -1;
    if (pread_exact(c->fd, buf, size, last) < 0) {
        mf_free(buf);
        return 0;
    }
    c->names = mf_calloc(count ? count : 1, sizeof *c->names);
    c->sizes = mf_calloc(count ? count : 1, sizeof *c->sizes);
    if (c->names == NULL || c->sizes == NULL) {
        mf_free(buf);
        return -1;
    }
    names = buf + 12 + 10 * (size_t)count;
    end = buf + size;
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *nul = memchr(names, 0, (size_t)(end - names));
        if (nul == NULL) {
            mf_free(buf);
            return 0;
        }
        c->sizes[i] = mf_load_u32le(buf + 12 + 4 * (size_t)count + 4 * i);
        c->names[i] = mf_strndup((const char *)names, (size_t)(nul - names));
        if (c->names[i] == NULL) {
            mf_free(buf);
            return -1;
        }
        c->nfields = i + 1;
        names = nul + 1;
    }
    mf_free(buf);
    return 1;
}

/* Reads the header and fields through fd (which c then owns). */
static int init_fd(struct mf_ixc *c, int fd, const struct mf_ix *ix, struct mf_error *err)
{
    uint8_t h[HDR_SIZE];
    struct stat st;
    const struct mf_ix_ext *e = mf_ix_ext_get(ix, "cache");
    int r;
    memset(c, 0, sizeof *c);
    c->fd = fd;
    if (e == NULL || e->rec_size < 4)
        goto unusable;   /* (a mailbox without messages has no records yet) */
    if (fstat(c->fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < HDR_SIZE ||
        pread_exact(c->fd, h, HDR_SIZE, 0) < 0)
        goto unusable;
    c->size = (uint64_t)st.st_size;
    c->file_seq = mf_load_u32le(h + 8);
    if (h[0] != 1 || h[1] != 8 || mf_load_u32le(h + 4) != ix->indexid ||
        c->file_seq != e->reset_id)
        goto unusable;
    r = read_fields(c, mf_log_size_decode(h + 28));
    if (r < 0) {
        mf_ixc_close(c);
        return mf_err_nomem(err);
    }
    if (r == 0)
        goto unusable;
    c->cache_ext_recs = e->recs;
    c->cache_ext_rec_size = e->rec_size;
    return 1;
unusable:
    mf_ixc_close(c);
    return 0;
}

int mf_ixc_open(struct mf_ixc *c, int dirfd, const char *name, const struct mf_ix *ix,
                struct mf_error *err)
{
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    memset(c, 0, sizeof *c);
    c->fd = -1;
    if (fd < 0)
        return 0;
    return init_fd(c, fd, ix, err);
}

void mf_ixc_close(struct mf_ixc *c)
{
    if (c->fd >= 0)
        close(c->fd);
    fields_free(c);
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

long mf_ixc_field(const struct mf_ixc *c, const char *name)
{
    for (uint32_t i = 0; i < c->nfields; i++)
        if (strcmp(c->names[i], name) == 0)
            return (long)i;
    return -1;
}

int mf_ixc_lookup(const struct mf_ixc *c, size_t i, long field, void *out, size_t outlen)
{
    uint8_t rh[8], *rec = NULL;
    uint32_t off;
    int found = 0;
    if (c->fd < 0 || field < 0 || (uint32_t)field >= c->nfields ||
        c->sizes[field] != outlen || c->cache_ext_recs == NULL)
        return 0;
    off = mf_load_u32le(c->cache_ext_recs + i * c->cache_ext_rec_size);
    for (int hops = 0; off != 0 && !found && hops < CHAIN_MAX; hops++) {
        uint32_t size, pos = 8;
        if (off < HDR_SIZE || (uint64_t)off + 8 > c->size || pread_exact(c->fd, rh, 8, off) < 0)
            break;
        size = mf_load_u32le(rh + 4);
        if (size < 8 || size > RECORD_MAX || (uint64_t)off + size > c->size)
            break;
        mf_free(rec);
        rec = mf_malloc(size);
        if (rec == NULL || pread_exact(c->fd, rec, size, off) < 0)
            break;
        while (pos + 4 <= size) {
            uint32_t f = mf_load_u32le(rec + pos), dsize;
            pos += 4;
            if (f >= c->nfields)
                goto done;
            dsize = c->sizes[f];
            if (dsize == UINT32_MAX) {
                if (pos + 4 > size)
                    goto done;
                dsize = mf_load_u32le(rec + pos);
                pos += 4;
            }
            if (size - pos < dsize)
                goto done;
            if (f == (uint32_t)field) {
                memcpy(out, rec + pos, outlen);
                found = 1;
                break;
            }
            pos += (dsize + 3) & ~3u;
        }
        off = mf_load_u32le(rh);
    }
done:
    mf_free(rec);
    return found;
}

int mf_ixc_append_u32(int dirfd, const char *name, const struct mf_ix *ix, const char *field,
                      const uint32_t *values, size_t n, uint32_t *offsets, uint32_t *file_seq,
                      int timeout, struct mf_error *err)
{
    struct mf_ixc c;
    struct flock fl;
    struct stat st;
    struct mf_buf b;
    uint8_t h[4];
    time_t deadline = time(NULL) + timeout;
    long f;
    int fd, r = 0;
    uint64_t end;
    if (n == 0)
        return 0;
    fd = openat(dirfd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return 0;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    while (fcntl(fd, F_SETLK, &fl) < 0) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        if ((errno != EACCES && errno != EAGAIN && errno != EINTR) || time(NULL) >= deadline) {
            close(fd);
            return 0;
        }
        nanosleep(&ts, NULL);
    }
    /* the header and fields, read through the locked descriptor (closing
     * any other descriptor of the file would drop the fcntl lock) */
    if (init_fd(&c, fd, ix, err) <= 0 || (f = mf_ixc_field(&c, field)) < 0 || c.sizes[f] != 4 ||
        fstat(fd, &st) < 0 || (uint64_t)st.st_size + 16 * n > UINT32_MAX) {
        mf_ixc_close(&c);   /* closes fd, and so unlocks */
        return 0;
    }
    *file_seq = c.file_seq;
    c.fd = -1;
    mf_ixc_close(&c);
    end = (uint64_t)st.st_size;
    mf_buf_init(&b);
    for (size_t i = 0; i < n; i++) {
        offsets[i] = (uint32_t)(end + 16 * i);
        mf_buf_u32le(&b, 0);          /* prev_offset: a message's first record */
        mf_buf_u32le(&b, 16);         /* size */
        mf_buf_u32le(&b, (uint32_t)f);
        mf_buf_u32le(&b, values[i]);
    }
    if (b.oom) {
        r = mf_err_nomem(err);
    } else if (pwrite(fd, b.p, b.len, (off_t)end) != (ssize_t)b.len) {
        r = mf_err_sys(err, MF_EIO, errno, "append to %s", name);
        if (ftruncate(fd, (off_t)end) < 0) {
            /* a partial tail is never referenced by the index */
        }
    } else {
        /* record_count (header offset 16) counts messages with records */
        if (pread(fd, h, 4, 16) == 4) {
            mf_store_u32le(h, mf_load_u32le(h) + (uint32_t)n);
            if (pwrite(fd, h, 4, 16) != 4) {
                /* informational only */
            }
        }
        r = fdatasync(fd) < 0 ? mf_err_sys(err, MF_EIO, errno, "sync %s", name) : 1;
    }
    mf_buf_free(&b);
    close(fd);
    return r;
}
