/* dbox_read.c: finding a target store's mailboxes and reading its messages.
 *
 * A mailbox is a directory `mailboxes/<storage>/dbox-Mails` holding its
 * index files; its GUID is bytes 4..19 of the dbox-hdr (sdbox) or mdbox-hdr
 * (mdbox) extension header, whose bytes 0..3 are (mdbox) the map's
 * UIDVALIDITY. sdbox keeps message uid in u.<uid>; mdbox in storage/m.<file
 * id> at the offset the map gives for the mailbox's map UID. A dbox file
 * starts with a header line ("2 M<msg header size hex> ..."), each message
 * with a 30-byte header ending in its size (16 hex digits), then the bytes,
 * then metadata lines after 0A 01 03 0A, up to an empty line. */
#include "dbox_read.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../format/buf.h"
#include "../format/fsutil.h"
#include "../format/mem.h"

#define SCAN_DEPTH_MAX 64
#define META_MAX 8192

static int add_box(struct mf_tstore *ts, const char *rel, const char *storage, size_t *cap,
                   struct mf_error *err)
{
    struct mf_ix ix;
    struct mf_error e;
    const struct mf_ix_ext *hdr;
    int dfd = mf_open_dir_below(ts->rootfd, rel);
    struct mf_tbox *b;
    if (dfd < 0)
        return 0;
    mf_err_clear(&e);
    mf_ix_init(&ix);
    if (mf_ix_load(dfd, "dovecot.index", -1, 0, &ix, &e) < 0) {
        close(dfd);
        mf_ix_free(&ix);
        return e.cls == MF_ENOMEM ? mf_err_nomem(err) : 0;  /* unreadable: not ours to touch */
    }
    close(dfd);
    hdr = mf_ix_ext_get(&ix, ts->mdbox ? "mdbox-hdr" : "dbox-hdr");
    if (hdr == NULL || hdr->hdr_size < 20) {
        mf_ix_free(&ix);
        return 0;
    }
    if (ts->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 32;
        struct mf_tbox *nv = mf_realloc(ts->v, nc * sizeof *nv);
        if (nv == NULL) {
            mf_ix_free(&ix);
            return mf_err_nomem(err);
        }
        ts->v = nv;
        *cap = nc;
    }
    b = &ts->v[ts->n];
    memset(b, 0, sizeof *b);
    memcpy(b->guid, hdr->hdr + 4, 16);
    b->map_uid_validity = mf_load_u32le(hdr->hdr);
    b->rel = mf_strdup(rel);
    b->storage = mf_strdup(storage);
    mf_ix_free(&ix);
    if (b->rel == NULL || b->storage == NULL) {
        mf_free(b->rel);
        mf_free(b->storage);
        return mf_err_nomem(err);
    }
    mf_ix_init(&b->ix);
    ts->n++;
    return 0;
}

/* Walks mailboxes/<storage>/ for dbox-Mails directories. */
static int scan(struct mf_tstore *ts, struct mf_buf *storage, int depth, size_t *cap,
                struct mf_error *err)
{
    struct mf_buf rel;
    int fd, r = 0;
    DIR *d;
    struct dirent *de;
    if (depth > SCAN_DEPTH_MAX)
        return 0;
    mf_buf_init(&rel);
    mf_buf_printf(&rel, "mailboxes%s%.*s", storage->len ? "/" : "", (int)storage->len,
                  (const char *)storage->p);
    mf_buf_u8(&rel, 0);
    if (rel.oom) {
        mf_buf_free(&rel);
        return mf_err_nomem(err);
    }
    fd = mf_open_dir_below(ts->rootfd, (const char *)rel.p);
    if (fd < 0 || (d = fdopendir(fd)) == NULL) {
        if (fd >= 0)
            close(fd);
        mf_buf_free(&rel);
        return 0;
    }
    while (r == 0 && (de = readdir(d)) != NULL) {
        size_t keep = storage->len;
        if (de->d_name[0] == '.' && (de->d_name[1] == '\0' || strcmp(de->d_name, "..") == 0))
            continue;
        if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
            continue;
        if (strcmp(de->d_name, "dbox-Mails") == 0) {
            char *mrel = mf_malloc(rel.len + sizeof "/dbox-Mails");
            char *st = mf_strndup((const char *)storage->p, storage->len);
            if (mrel == NULL || st == NULL) {
                mf_free(mrel);
                mf_free(st);
                r = mf_err_nomem(err);
                break;
            }
            snprintf(mrel, rel.len + sizeof "/dbox-Mails", "%s/dbox-Mails", (const char *)rel.p);
            r = add_box(ts, mrel, st, cap, err);
            mf_free(mrel);
            mf_free(st);
            continue;
        }
        if (storage->len > 0)
            mf_buf_u8(storage, '/');
        mf_buf_puts(storage, de->d_name);
        if (storage->oom) {
            r = mf_err_nomem(err);
            break;
        }
        r = scan(ts, storage, depth + 1, cap, err);
        storage->len = keep;
    }
    closedir(d);
    mf_buf_free(&rel);
    return r;
}

/* dbox-Mails directories parked at the root by an interrupted rename:
 * `.mailferry-move.<n>` (their storage name is recorded in the state). */
static int scan_parked(struct mf_tstore *ts, size_t *cap, struct mf_error *err)
{
    DIR *d = mf_opendir_at(ts->rootfd);
    struct dirent *de;
    int r = 0;
    if (d == NULL)
        return 0;
    while (r == 0 && (de = readdir(d)) != NULL)
        if (strncmp(de->d_name, ".mailferry-move.", 16) == 0)
            r = add_box(ts, de->d_name, "", cap, err);
    closedir(d);
    return r;
}

int mf_tstore_open(struct mf_tstore *ts, int rootfd, int mdbox, struct mf_error *err)
{
    struct mf_buf storage;
    size_t cap = 0;
    int r;
    memset(ts, 0, sizeof *ts);
    ts->rootfd = rootfd;
    ts->mdbox = mdbox;
    mf_ix_init(&ts->map);
    mf_buf_init(&storage);
    r = scan(ts, &storage, 0, &cap, err);
    mf_buf_free(&storage);
    if (r == 0)
        r = scan_parked(ts, &cap, err);
    if (r < 0)
        mf_tstore_close(ts);
    return r;
}

void mf_tstore_forget(struct mf_tstore *ts)
{
    for (size_t i = 0; i < ts->n; i++)
        if (ts->v[i].ix_loaded) {
            mf_ix_free(&ts->v[i].ix);
            mf_ix_init(&ts->v[i].ix);
            ts->v[i].ix_loaded = 0;
        }
    if (ts->map_loaded) {
        mf_ix_free(&ts->map);
        mf_ix_init(&ts->map);
        ts->map_loaded = 0;
    }
}

void mf_tstore_close(struct mf_tstore *ts)
{
    mf_tstore_forget(ts);
    for (size_t i = 0; i < ts->n; i++) {
        mf_free(ts->v[i].rel);
        mf_free(ts->v[i].storage);
    }
    mf_free(ts->v);
    ts->v = NULL;
    ts->n = 0;
}

struct mf_tbox *mf_tstore_find(struct mf_tstore *ts, const uint8_t guid[16])
{
    for (size_t i = 0; i < ts->n; i++)
        if (memcmp(ts->v[i].guid, guid, 16) == 0)
            return &ts->v[i];
    return NULL;
}

const struct mf_ix *mf_tbox_state(struct mf_tstore *ts, struct mf_tbox *b, int reload,
                                  struct mf_error *err)
{
    int fd;
    if (b->ix_loaded && !reload)
        return &b->ix;
    if (b->ix_loaded)
        mf_ix_free(&b->ix);
    b->ix_loaded = 0;
    mf_ix_init(&b->ix);
    fd = mf_open_dir_below(ts->rootfd, b->rel);
    if (fd < 0) {
        mf_err_sys(err, MF_EIO, errno, "%s", b->rel);
        return NULL;
    }
    if (mf_ix_load(fd, "dovecot.index", -1, 0, &b->ix, err) < 0) {
        close(fd);
        mf_err_ctx(err, "%s", b->rel);
        return NULL;
    }
    close(fd);
    b->ix_loaded = 1;
    return &b->ix;
}

const struct mf_ix *mf_tstore_map(struct mf_tstore *ts, int reload, struct mf_error *err)
{
    int fd;
    if (ts->map_loaded && !reload)
        return &ts->map;
    if (ts->map_loaded)
        mf_ix_free(&ts->map);
    ts->map_loaded = 0;
    mf_ix_init(&ts->map);
    fd = mf_open_dir_below(ts->rootfd, "storage");
    if (fd < 0) {
        mf_err_sys(err, MF_EIO, errno, "storage");
        return NULL;
    }
    if (mf_ix_load(fd, "dovecot.map.index", -1, 0, &ts->map, err) < 0) {
        close(fd);
        mf_err_ctx(err, "storage/dovecot.map.index");
        return NULL;
    }
    close(fd);
    ts->map_loaded = 1;
    return &ts->map;
}

static uint64_t hexval(const char *p, size_t n, int *ok)
{
    uint64_t v = 0;
    *ok = n > 0;
    for (size_t i = 0; i < n; i++) {
        int c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint64_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint64_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint64_t)(c - 'A' + 10);
        else
            *ok = 0;
    }
    return v;
}

/* The 30-byte message header at off: the message's size. */
static int msg_header(int fd, uint64_t off, uint64_t *size, struct mf_error *err)
{
    uint8_t h[30];
    int ok;
    if (mf_pread_all(fd, h, sizeof h, off, "dbox file", err) < 0)
        return -1;
    if (h[0] != 0x01 || h[1] != 0x02 || h[2] != 'N' || h[29] != '\n')
        return mf_err(err, MF_ECORRUPT, "dbox file: no message header at offset %llu",
                      (unsigned long long)off);
    *size = hexval((const char *)h + 13, 16, &ok);
    if (!ok)
        return mf_err(err, MF_ECORRUPT, "dbox file: bad message size at offset %llu",
                      (unsigned long long)off);
    return 0;
}

/* Metadata lines after the message bytes. */
static void metadata(struct mf_tmsg *m)
{
    uint8_t buf[META_MAX];
    ssize_t n = pread(m->fd, buf, sizeof buf - 1, (off_t)(m->data_off + m->size));
    size_t i;
    if (n < 4 || memcmp(buf, "\n\x01\x03\n", 4) != 0)
        return;
    buf[n] = 0;
    for (i = 4; i < (size_t)n && buf[i] != '\n';) {
        char *nl = memchr(buf + i, '\n', (size_t)n - i);
        size_t len;
        int ok;
        if (nl == NULL)
            break;
        len = (size_t)(nl - (char *)buf) - i - 1;
        switch (buf[i]) {
        case 'G':
            if (len < sizeof m->guid) {
                memcpy(m->guid, buf + i + 1, len);
                m->guid[len] = 0;
            }
            break;
        case 'P':
            if (len < sizeof m->uidl) {
                memcpy(m->uidl, buf + i + 1, len);
                m->uidl[len] = 0;
            }
            break;
        case 'R':
            m->received = (int64_t)hexval((const char *)buf + i + 1, len, &ok);
            break;
        case 'V':
            m->vsize = hexval((const char *)buf + i + 1, len, &ok);
            break;
        case 'O':
            m->pop3_order = (uint32_t)strtoul((const char *)buf + i + 1, NULL, 10);
            break;
        default:
            break;
        }
        i = (size_t)(nl - (char *)buf) + 1;
    }
}

int mf_tmsg_open(struct mf_tstore *ts, struct mf_tbox *b, uint32_t uid, struct mf_tmsg *m,
                 struct mf_error *err)
{
    uint64_t off;
    memset(m, 0, sizeof *m);
    m->fd = -1;
    if (!ts->mdbox) {
        char name[32];
        uint8_t line[128];
        ssize_t n;
        int dfd = mf_open_dir_below(ts->rootfd, b->rel), ok;
        char *nl, *mfield;
        if (dfd < 0)
            return mf_err_sys(err, MF_EIO, errno, "%s", b->rel);
        snprintf(name, sizeof name, "u.%u", uid);
        m->fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        close(dfd);
        if (m->fd < 0)
            return errno == ENOENT ? 0 : mf_err_sys(err, MF_EIO, errno, "%s/%s", b->rel, name);
        n = pread(m->fd, line, sizeof line - 1, 0);
        if (n <= 0) {
            mf_tmsg_close(m);
            return mf_err(err, MF_ECORRUPT, "%s/%s: empty dbox file", b->rel, name);
        }
        line[n] = 0;
        nl = memchr(line, '\n', (size_t)n);
        mfield = strstr((char *)line, " M");
        if (nl == NULL || line[0] != '2' || mfield == NULL || mfield > nl) {
            mf_tmsg_close(m);
            return mf_err(err, MF_ECORRUPT, "%s/%s: not a dbox file", b->rel, name);
        }
        {
            size_t hl = strcspn(mfield + 2, " \n");
            uint64_t hsize = hexval(mfield + 2, hl, &ok);
            if (!ok || hsize != 30) {
                mf_tmsg_close(m);
                return mf_err(err, MF_ECORRUPT, "%s/%s: unexpected message header size",
                              b->rel, name);
            }
        }
        off = (uint64_t)(nl - (char *)line) + 1;
    } else {
        const struct mf_ix *ix = mf_tbox_state(ts, b, 0, err), *map;
        const struct mf_ix_ext *e, *me;
        const uint8_t *rec;
        uint32_t map_uid, file_id;
        long i, mi;
        char name[32];
        int sfd;
        if (ix == NULL)
            return -1;
        i = mf_ix_find(ix, uid);
        e = mf_ix_ext_get(ix, "mdbox");
        if (i < 0 || e == NULL || e->rec_size < 4)
            return 0;
        map_uid = mf_load_u32le(mf_ix_rec(e, (size_t)i));
        if ((map = mf_tstore_map(ts, 0, err)) == NULL)
            return -1;
        mi = mf_ix_find(map, map_uid);
        me = mf_ix_ext_get(map, "map");
        if (mi < 0 || me == NULL || me->rec_size < 12)
            return mf_err(err, MF_ECORRUPT, "mdbox map has no entry for map UID %u", map_uid);
        rec = mf_ix_rec(me, (size_t)mi);
        file_id = mf_load_u32le(rec);
        off = mf_load_u32le(rec + 4);
        snprintf(name, sizeof name, "m.%u", file_id);
        sfd = mf_open_dir_below(ts->rootfd, "storage");
        if (sfd < 0)
            return mf_err_sys(err, MF_EIO, errno, "storage");
        m->fd = openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        close(sfd);
        if (m->fd < 0)
            return mf_err_sys(err, MF_EIO, errno, "storage/%s", name);
    }
    if (msg_header(m->fd, off, &m->size, err) < 0) {
        mf_tmsg_close(m);
        return -1;
    }
    m->data_off = off + 30;
    metadata(m);
    return 1;
}

int mf_tmsg_read(const struct mf_tmsg *m, uint64_t offset, void *buf, size_t len,
                 struct mf_error *err)
{
    if (offset > m->size || len > m->size - offset)
        return mf_err(err, MF_ECHAIN, "content the delta refers to reaches past the end of "
                                      "the target's message");
    return mf_pread_all(m->fd, buf, len, m->data_off + offset, "dbox file", err);
}

void mf_tmsg_close(struct mf_tmsg *m)
{
    if (m->fd >= 0)
        close(m->fd);
    m->fd = -1;
}
