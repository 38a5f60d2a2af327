/* dbox_append.c: locked changes to existing dbox mailboxes (reference notes
 * 12.2 to 12.7). Lock order: mdbox map log, then the mailbox log; locks are
 * tried, never waited for in the kernel, so no lock cycle can form with
 * Dovecot. Every record is EXTERNAL: the mail files are already in place. */
#include "dbox_append.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../dvindex/index_cache.h"
#include "../dvindex/index_log.h"
#include "../format/fsutil.h"
#include "../format/mem.h"
#include "dbox_cache.h"
#include "dbox_file.h"
#include "sha1.h"
#include "target.h"

#define WBUF_FLUSH (256u * 1024)

static unsigned tmp_counter;

void mf_batch_init(struct mf_batch *b)
{
    memset(b, 0, sizeof *b);
    b->fd = -1;
    mf_buf_init(&b->wbuf);
}

void mf_batch_free(struct mf_batch *b)
{
    if (b->fd >= 0)
        close(b->fd);
    for (uint32_t i = 0; i < b->nkw; i++)
        mf_free(b->kwnames[i]);
    mf_free(b->kwnames);
    mf_free(b->msgs);
    mf_free(b->flags);
    mf_free(b->kwidx);
    for (size_t i = 0; i < b->ntmpfiles; i++)
        mf_free(b->tmpfiles[i]);
    mf_free(b->tmpfiles);
    mf_free(b->tmpsizes);
    mf_buf_free(&b->wbuf);
    memset(b, 0, sizeof *b);
    b->fd = -1;
}

int mf_batch_kw(struct mf_batch *b, const char *name, size_t len, uint32_t *idx)
{
    char **nv;
    for (uint32_t i = 0; i < b->nkw; i++)
        if (strlen(b->kwnames[i]) == len && memcmp(b->kwnames[i], name, len) == 0) {
            *idx = i;
            return 0;
        }
    nv = mf_realloc(b->kwnames, (b->nkw + 1) * sizeof *nv);
    if (nv == NULL)
        return -1;
    b->kwnames = nv;
    if ((nv[b->nkw] = mf_strndup(name, len)) == NULL)
        return -1;
    *idx = b->nkw++;
    return 0;
}

int mf_batch_kwidx(struct mf_batch *b, const uint32_t *v, uint32_t n, uint32_t *off)
{
    uint32_t *nv = mf_realloc(b->kwidx, (b->nkwidx + n + 1) * sizeof *nv);
    if (nv == NULL)
        return -1;
    b->kwidx = nv;
    memcpy(nv + b->nkwidx, v, n * sizeof *v);
    *off = (uint32_t)b->nkwidx;
    b->nkwidx += n;
    return 0;
}

/* ---- files ---- */

static int own_fd(const struct mf_append_opts *o, int fd, mode_t mode, struct mf_error *err)
{
    if (o->own->set && fchown(fd, o->own->uid, o->own->gid) < 0)
        return mf_err_sys(err, MF_EIO, errno, "chown");
    if (fchmod(fd, mode) < 0)
        return mf_err_sys(err, MF_EIO, errno, "chmod");
    return 0;
}

static int create_file(const struct mf_append_opts *o, int dirfd, const char *name,
                       struct mf_error *err)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    o->own->file_mode);
    if (fd < 0)
        return mf_err_sys(err, MF_EIO, errno, "create %s", name);
    if (own_fd(o, fd, o->own->file_mode, err) < 0) {
        close(fd);
        unlinkat(dirfd, name, 0);
        return -1;
    }
    return fd;
}

/* mkdir -p of rel below base with the owner and mode; returns its fd. */
static int mkdirs(const struct mf_append_opts *o, int base, const char *rel,
                  struct mf_error *err)
{
    int fd = openat(base, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const char *p = rel;
    if (fd < 0)
        return mf_err_sys(err, MF_EIO, errno, "open directory");
    while (*p != '\0') {
        char comp[256];
        size_t n = strcspn(p, "/");
        int nfd;
        if (n == 0) {
            p++;
            continue;
        }
        if (n >= sizeof comp || (n == 2 && p[0] == '.' && p[1] == '.') ||
            (n == 1 && p[0] == '.')) {
            close(fd);
            return mf_err(err, MF_ETARGET, "unusable path %s", rel);
        }
        memcpy(comp, p, n);
        comp[n] = '\0';
        /* made aside (in base: not in mailboxes/, where Dovecot would list
         * it) and renamed into place with its owner: never root's */
        nfd = mf_mkdir_owned(fd, comp, base, o->own, comp, err);
        close(fd);
        if (nfd < 0)
            return -1;
        fd = nfd;
        p += n;
    }
    return fd;
}

static void temp_name(char *out, size_t cap, const char *prefix, int64_t now)
{
    snprintf(out, cap, "%s%lld.P%dQ%uM0.mailferry", prefix, (long long)now, (int)getpid(),
             tmp_counter++);
}

static int wflush(struct mf_batch *b, struct mf_error *err)
{
    if (b->wbuf.len > 0 && mf_write_all(b->fd, b->wbuf.p, b->wbuf.len, "mail file", err) < 0)
        return -1;
    mf_buf_reset(&b->wbuf);
    return 0;
}

static int close_storage_file(struct mf_batch *b, struct mf_error *err)
{
    int r = 0;
    if (b->fd < 0)
        return 0;
    r = wflush(b, err);
    if (close(b->fd) < 0 && r == 0)
        r = mf_err_sys(err, MF_EIO, errno, "close mail file");
    b->fd = -1;
    return r;
}

int mf_batch_msg_begin(struct mf_tstore *ts, struct mf_tbox *bx, struct mf_batch *b,
                       uint64_t size, const struct mf_append_opts *o, uint64_t rotate,
                       struct mf_error *err)
{
    int dfd;
    if (!ts->mdbox) {
        dfd = mf_open_dir_below(ts->rootfd, bx->rel);
        if (dfd < 0)
            return mf_err_sys(err, MF_EIO, errno, "%s", bx->rel);
        temp_name(b->curtmp, sizeof b->curtmp, ".temp.", o->now);
        b->fd = create_file(o, dfd, b->curtmp, err);
        close(dfd);
        if (b->fd < 0)
            return -1;
        mf_buf_reset(&b->wbuf);
        mf_dbox_file_header(&b->wbuf, o->now);
        b->msg_start = b->wbuf.len;
    } else {
        uint64_t cur = b->ntmpfiles > 0 ? b->tmpsizes[b->ntmpfiles - 1] : 0;
        if (b->fd < 0 || cur + MF_DBOX_MSG_HDR + size + 512 > rotate) {
            char name[64], **nv;
            uint64_t *ns;
            if (close_storage_file(b, err) < 0)
                return -1;
            dfd = mf_open_dir_below(ts->rootfd, "storage");
            if (dfd < 0)
                return mf_err_sys(err, MF_EIO, errno, "storage");
            temp_name(name, sizeof name, ".temp.", o->now);
            b->fd = create_file(o, dfd, name, err);
            close(dfd);
            if (b->fd < 0)
                return -1;
            nv = mf_realloc(b->tmpfiles, (b->ntmpfiles + 1) * sizeof *nv);
            ns = nv != NULL ? mf_realloc(b->tmpsizes, (b->ntmpfiles + 1) * sizeof *ns) : NULL;
            if (nv != NULL)
                b->tmpfiles = nv;
            if (ns == NULL)
                return mf_err_nomem(err);
            b->tmpsizes = ns;
            if ((b->tmpfiles[b->ntmpfiles] = mf_strdup(name)) == NULL)
                return mf_err_nomem(err);
            mf_buf_reset(&b->wbuf);
            mf_dbox_file_header(&b->wbuf, o->now);
            b->tmpsizes[b->ntmpfiles] = b->wbuf.len;
            b->ntmpfiles++;
        }
        b->msg_start = b->tmpsizes[b->ntmpfiles - 1];
    }
    b->msg_size = size;
    mf_dbox_msg_header(&b->wbuf, size);
    return b->wbuf.oom ? mf_err_nomem(err) : 0;
}

int mf_batch_msg_sink(void *ctx, const void *p, size_t n, struct mf_error *err)
{
    struct mf_batch *b = ctx;
    if (b->wbuf.len + n > WBUF_FLUSH && wflush(b, err) < 0)
        return -1;
    if (n >= WBUF_FLUSH)
        return mf_write_all(b->fd, p, n, "mail file", err);
    return mf_buf_append(&b->wbuf, p, n) < 0 ? mf_err_nomem(err) : 0;
}

int mf_batch_msg_end(struct mf_batch *b, struct mf_newmsg *nm, int64_t received, uint64_t vsize,
                     const char *uidl, size_t uidl_len, uint32_t pop3_order, const char *storage,
                     struct mf_error *err)
{
    struct mf_dbox_meta meta;
    int mdbox = b->ntmpfiles > 0;
    size_t mark = b->wbuf.len;
    memset(&meta, 0, sizeof meta);
    meta.received = received;
    meta.vsize = vsize;
    meta.uidl = uidl;
    meta.uidl_len = uidl_len;
    meta.pop3_order = pop3_order;
    meta.guid = nm->guid;
    meta.guid_len = strlen(nm->guid);
    if (mdbox) {
        meta.mailbox = storage;
        meta.mailbox_len = strlen(storage);
    }
    mf_dbox_metadata(&b->wbuf, &meta);
    if (b->wbuf.oom)
        return mf_err_nomem(err);
    nm->have_uidl = uidl_len > 0;
    nm->have_order = pop3_order > 0;
    if (!mdbox) {
        /* sdbox: the whole file is the message */
        int r = wflush(b, err);
        if (close(b->fd) < 0 && r == 0)
            r = mf_err_sys(err, MF_EIO, errno, "close %s", b->curtmp);
        b->fd = -1;
        memcpy(nm->tmpname, b->curtmp, sizeof nm->tmpname);
        b->curtmp[0] = '\0';
        return r;
    }
    /* mdbox: header, bytes and metadata (the metadata is still in the buffer) */
    nm->tmpfile = (uint32_t)(b->ntmpfiles - 1);
    nm->offset = (uint32_t)b->msg_start;
    nm->size = (uint32_t)(MF_DBOX_MSG_HDR + b->msg_size + (b->wbuf.len - mark));
    b->tmpsizes[b->ntmpfiles - 1] += nm->size;
    if (b->tmpsizes[b->ntmpfiles - 1] > UINT32_MAX)
        return mf_err(err, MF_ETARGET, "mdbox file larger than 4 GiB");
    return 0;
}

int mf_msgfiles_close(struct mf_batch *b, struct mf_error *err)
{
    return close_storage_file(b, err);
}

void mf_batch_discard(struct mf_tstore *ts, struct mf_tbox *bx, struct mf_batch *b)
{
    int dfd;
    if (b->fd >= 0) {
        close(b->fd);
        b->fd = -1;
    }
    if (!ts->mdbox) {
        dfd = mf_open_dir_below(ts->rootfd, bx->rel);
        if (dfd < 0)
            return;
        for (size_t i = 0; i < b->n; i++)
            if (b->msgs[i].tmpname[0] != '\0')
                unlinkat(dfd, b->msgs[i].tmpname, 0);
        if (b->curtmp[0] != '\0')
            unlinkat(dfd, b->curtmp, 0);
        close(dfd);
    } else {
        dfd = mf_open_dir_below(ts->rootfd, "storage");
        if (dfd < 0)
            return;
        for (size_t i = 0; i < b->ntmpfiles; i++)
            unlinkat(dfd, b->tmpfiles[i], 0);
        close(dfd);
    }
}

/* ---- index transactions ---- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static long ix_kw(const struct mf_ix *ix, const char *name)
{
    for (size_t i = 0; i < ix->nkw; i++)
        if (strcmp(ix->kw[i], name) == 0)
            return (long)i;
    return -1;
}

/* KEYWORD_UPDATE (add or remove) of `name` over sorted uids, as runs. */
static void log_keyword(struct mf_log *l, int remove, const char *name, uint32_t *uids, size_t n)
{
    size_t nl = strlen(name);
    if (n == 0)
        return;
    qsort(uids, n, sizeof *uids, cmp_u32);
    mf_log_begin(l, MF_LOG_KEYWORD_UPDATE);
    mf_buf_u8(&l->b, remove ? 1 : 0);
    mf_buf_u8(&l->b, 0);
    mf_buf_u16le(&l->b, (uint16_t)nl);
    mf_buf_append(&l->b, name, nl);
    while ((l->b.len - l->rec_start) % 4 != 0)
        mf_buf_u8(&l->b, 0);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && uids[j + 1] == uids[j] + 1)
            j++;
        mf_buf_u32le(&l->b, uids[i]);
        mf_buf_u32le(&l->b, uids[j]);
        i = j + 1;
    }
    mf_log_end(l);
}

static int cmp_newmsg_uid(const void *a, const void *b)
{
    const struct mf_newmsg *x = a, *y = b;
    uint64_t xu = x->uid ? x->uid : (uint64_t)UINT32_MAX + 1, yu = y->uid ? y->uid : (uint64_t)UINT32_MAX + 1;
    return xu < yu ? -1 : xu > yu;
}

/* UIDs: the source's when the target has not used it (it is at least the
 * mailbox's next UID), else the next free ones, as dsync does. On a rerun,
 * a message already there under its UID (same GUID) is not added again. */
/* On a rerun: messages there already under their source UID with the same
 * GUID (marked with uid UINT32_MAX). Read before any lock is taken: reading
 * an index opens its log, and closing that would drop a held fcntl lock. */
static int find_already(struct mf_tstore *ts, struct mf_tbox *bx, struct mf_batch *b,
                        struct mf_error *err)
{
    const struct mf_ix *ix = mf_tbox_state(ts, bx, 1, err);
    if (ix == NULL)
        return -1;
    for (size_t i = 0; i < b->n; i++) {
        struct mf_newmsg *nm = &b->msgs[i];
        struct mf_tmsg tm;
        int k;
        nm->uid = 0;
        if (mf_ix_find(ix, nm->src_uid) < 0)
            continue;
        k = mf_tmsg_open(ts, bx, nm->src_uid, &tm, err);
        if (k < 0)
            return -1;
        if (k > 0 && strcmp(tm.guid, nm->guid) == 0)
            nm->uid = UINT32_MAX;
        if (k > 0)
            mf_tmsg_close(&tm);
    }
    return 0;
}

static int assign_uids(struct mf_tstore *ts, struct mf_tbox *bx, const struct mf_ix *ix,
                       struct mf_batch *b, const struct mf_append_opts *o, struct mf_error *err)
{
    uint32_t next = mf_ix_next_uid(ix);
    (void)ts;
    (void)o;
    if (next == 0)
        next = 1;
    for (size_t i = 0; i < b->n; i++) {
        struct mf_newmsg *nm = &b->msgs[i];
        if (nm->uid == 0 && nm->src_uid >= next && nm->src_uid < UINT32_MAX - 1) {
            nm->uid = nm->src_uid;
            next = nm->uid + 1;
        }
    }
    for (size_t i = 0; i < b->n; i++) {
        struct mf_newmsg *nm = &b->msgs[i];
        if (nm->uid == 0) {
            if (next >= UINT32_MAX - 1)
                return mf_err(err, MF_ETARGET, "%s: UIDs exhausted", bx->storage);
            nm->uid = next++;
            b->remapped++;
        }
    }
    for (size_t i = 0; i < b->n; i++)
        if (b->msgs[i].uid == UINT32_MAX) {
            b->msgs[i].uid = 0;
            b->already++;
        }
    /* APPEND records go in ascending UID order; those not added last */
    if (b->n > 1)
        qsort(b->msgs, b->n, sizeof *b->msgs, cmp_newmsg_uid);
    return 0;
}

static int log_appends(struct mf_log *l, struct mf_batch *b, const struct mf_ix *ix,
                       const char *hdrext, struct mf_error *err)
{
    size_t n = 0;
    uint32_t last = 0;
    int uidl = 0, order = 0;
    for (size_t i = 0; i < b->n; i++)
        if (b->msgs[i].uid != 0) {
            n++;
            uidl |= b->msgs[i].have_uidl;
            order |= b->msgs[i].have_order;
        }
    if (n == 0)
        return 0;
    mf_log_begin(l, MF_LOG_APPEND);
    for (size_t i = 0; i < b->n; i++)
        if (b->msgs[i].uid != 0) {
            mf_buf_u32le(&l->b, b->msgs[i].uid);
            mf_buf_u8(&l->b, b->msgs[i].flags);
            mf_buf_u8(&l->b, 0);
            mf_buf_u16le(&l->b, 0);
            last = b->msgs[i].uid;
        }
    mf_log_end(l);
    for (uint32_t k = 0; k < b->nkw; k++) {
        uint32_t *uids = mf_calloc(n, sizeof *uids);
        size_t m = 0;
        if (uids == NULL)
            return mf_err_nomem(err);
        for (size_t i = 0; i < b->n; i++)
            if (b->msgs[i].uid != 0)
                for (uint32_t q = 0; q < b->msgs[i].nkw; q++)
                    if (b->kwidx[b->msgs[i].kw_off + q] == k)
                        uids[m++] = b->msgs[i].uid;
        log_keyword(l, 0, b->kwnames[k], uids, m);
        mf_free(uids);
    }
    /* POP3 data present: the header flags Dovecot checks before reading it */
    {
        const struct mf_ix_ext *h = mf_ix_ext_get(ix, hdrext);
        if (h != NULL && h->hdr_size >= 21) {
            uint8_t want = (uint8_t)(h->hdr[20] | (uidl ? 1 : 0) | (order ? 2 : 0));
            if (want != h->hdr[20]) {
                mf_log_ext_intro(l, hdrext, h->reset_id, h->hdr_size, h->rec_size,
                                 h->rec_align);
                mf_log_ext_hdr(l, 20, &want, 1);
            }
        }
        h = mf_ix_ext_get(ix, "hdr-pop3-uidl");
        if (uidl && h != NULL && h->hdr_size >= 4) {
            uint8_t v[4];
            uint32_t hi = mf_load_u32le(h->hdr);
            for (size_t i = 0; i < b->n; i++)
                if (b->msgs[i].uid != 0 && b->msgs[i].have_uidl && b->msgs[i].uid > hi)
                    hi = b->msgs[i].uid;
            mf_store_u32le(v, hi);
            mf_log_ext_intro(l, "hdr-pop3-uidl", h->reset_id, h->hdr_size, h->rec_size,
                             h->rec_align);
            mf_log_ext_hdr(l, 0, v, 4);
        }
    }
    (void)last;
    return 0;
}

/* Source flag changes merged into the target's current flags: only what
 * changed at the source is applied; the target's own changes stay. */
static int log_flag_changes(struct mf_log *l, struct mf_batch *b, const struct mf_ix *ix,
                            struct mf_error *err)
{
    int started = 0;
    for (size_t i = 0; i < b->nflags; i++) {
        const struct mf_flagchg *f = &b->flags[i];
        long at = mf_ix_find(ix, f->uid);
        uint8_t cur, changed, want, add, rem;
        if (at < 0)
            continue;
        cur = ix->msgs[at].flags & 0x1f;
        changed = f->old_flags ^ f->new_flags;
        want = (uint8_t)((cur & ~changed) | (f->new_flags & changed));
        add = want & ~cur & 0x1f;
        rem = cur & ~want & 0x1f;
        if (add == 0 && rem == 0)
            continue;
        if (!started) {
            mf_log_begin(l, MF_LOG_FLAG_UPDATE);
            started = 1;
        }
        mf_buf_u32le(&l->b, f->uid);
        mf_buf_u32le(&l->b, f->uid);
        mf_buf_u8(&l->b, add);
        mf_buf_u8(&l->b, rem);
        mf_buf_u8(&l->b, 0);
        mf_buf_u8(&l->b, 0);
    }
    if (started)
        mf_log_end(l);
    /* keywords: set what the source set, clear what it cleared */
    for (uint32_t k = 0; k < b->nkw; k++) {
        long tk = ix_kw(ix, b->kwnames[k]);
        uint32_t *addu = mf_calloc(b->nflags + 1, sizeof *addu);
        uint32_t *remu = mf_calloc(b->nflags + 1, sizeof *remu);
        size_t na = 0, nr = 0;
        if (addu == NULL || remu == NULL) {
            mf_free(addu);
            mf_free(remu);
            return mf_err_nomem(err);
        }
        for (size_t i = 0; i < b->nflags; i++) {
            const struct mf_flagchg *f = &b->flags[i];
            long at = mf_ix_find(ix, f->uid);
            int has;
            if (at < 0)
                continue;
            has = tk >= 0 && mf_ix_has_kw(ix, (size_t)at, (size_t)tk);
            for (uint32_t q = 0; q < f->nadd; q++)
                if (b->kwidx[f->add_off + q] == k && !has)
                    addu[na++] = f->uid;
            for (uint32_t q = 0; q < f->nrem; q++)
                if (b->kwidx[f->rem_off + q] == k && has)
                    remu[nr++] = f->uid;
        }
        log_keyword(l, 0, b->kwnames[k], addu, na);
        log_keyword(l, 1, b->kwnames[k], remu, nr);
        mf_free(addu);
        mf_free(remu);
    }
    return 0;
}

static void log_next_uid(struct mf_log *l, const struct mf_ix *ix, const struct mf_batch *b)
{
    uint32_t next = mf_ix_next_uid(ix), want = b->uidnext;
    for (size_t i = 0; i < b->n; i++)
        if (b->msgs[i].uid != 0 && b->msgs[i].uid + 1 > want)
            want = b->msgs[i].uid + 1;
    if (want > next)
        mf_log_hdr_u32(l, MF_HDR_NEXT_UID, want);
}

/* Appends l's records as one transaction through the locked descriptor. */
static int append_txn(int logfd, const struct mf_ix *ix, struct mf_log *l, struct mf_error *err)
{
    struct mf_buf t;
    int n, r;
    if (l->b.len == 0)
        return 0;
    mf_buf_init(&t);
    n = mf_log_transaction(l, &t);
    r = n < 0 ? mf_err_nomem(err) : mf_ix_append(logfd, ix->log_end, t.p, t.len, err);
    mf_buf_free(&t);
    return r;
}

/* The end of a mailbox's transaction, sdbox and mdbox alike: the flag
 * changes and the next UID join the appends already in l, the whole is
 * appended to dovecot.index.log, and the log lock is let go. */
static int finish_mailbox_txn(struct mf_log *l, struct mf_batch *b, const struct mf_ix *ix,
                              int *lockfd, struct mf_error *err)
{
    if (log_flag_changes(l, b, ix, err) < 0)
        return -1;
    log_next_uid(l, ix, b);
    if (append_txn(*lockfd, ix, l, err) < 0)
        return -1;
    close(*lockfd);
    *lockfd = -1;
    return 0;
}

static int lock_and_load(int dirfd, const char *prefix, int timeout, struct mf_ix *ix,
                         struct mf_error *err)
{
    char logname[64];
    int fd;
    snprintf(logname, sizeof logname, "%s.log", prefix);
    fd = mf_ix_lock(dirfd, logname, timeout, err);
    if (fd < 0)
        return -1;
    mf_ix_init(ix);
    if (mf_ix_load(dirfd, prefix, fd, 1, ix, err) < 0) {
        close(fd);
        mf_ix_free(ix);
        mf_ix_init(ix);
        return -1;
    }
    return fd;
}

static int sync_dir(int fd, const struct mf_append_opts *o, struct mf_error *err)
{
    if (!o->nosync && fsync(fd) < 0)
        return mf_err_sys(err, MF_EIO, errno, "sync directory");
    return 0;
}

/* Links a new message's temporary file to u.<uid>. A u.<uid> that is there
 * already although the index does not have that UID and it is not below the
 * index's next UID is what a killed run left: Dovecot itself links u.N only
 * while it holds the log lock (which the caller holds now) and appends the
 * UID before it lets go, so no one refers to such a file. It is replaced;
 * anything else there is an error (EEXIST). */
static int link_message(int dfd, const char *tmpname, const char *name, const struct mf_ix *ix,
                        uint32_t uid)
{
    struct stat st;
    if (linkat(dfd, tmpname, dfd, name, 0) == 0)
        return 0;
    if (errno != EEXIST || mf_ix_find(ix, uid) >= 0 || uid < mf_ix_next_uid(ix) ||
        fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode)) {
        errno = EEXIST;
        return -1;
    }
    if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
        return -1;
    return linkat(dfd, tmpname, dfd, name, 0);
}

/* ---- sdbox ---- */

static int sd_commit(struct mf_tstore *ts, struct mf_tbox *bx, struct mf_batch *b,
                     const struct mf_append_opts *o, struct mf_error *err)
{
    struct mf_ix ix, pre;
    struct mf_log l;
    uint32_t *offsets = NULL, file_seq = 0;
    int dfd = mf_open_dir_below(ts->rootfd, bx->rel), lockfd = -1, cached = 0, r = -1;
    size_t nnew = 0, ncached = 0;
    if (dfd < 0)
        return mf_err_sys(err, MF_EIO, errno, "%s", bx->rel);
    mf_log_init(&l);
    mf_ix_init(&ix);
    mf_ix_init(&pre);
    /* save dates: appended to Dovecot's cache first, under its own lock;
     * only for the messages this commit adds (not those a killed run added) */
    for (size_t i = 0; i < b->n; i++) {
        b->msgs[i].cache_off = 0;
        nnew += b->msgs[i].uid != UINT32_MAX;
    }
    if (nnew > 0 && mf_ix_load(dfd, "dovecot.index", -1, 0, &pre, err) == 0) {
        uint32_t *dates = mf_calloc(nnew, sizeof *dates);
        size_t k = 0;
        offsets = mf_calloc(nnew, sizeof *offsets);
        if (dates == NULL || offsets == NULL) {
            mf_free(dates);
            r = mf_err_nomem(err);
            goto out;
        }
        for (size_t i = 0; i < b->n; i++)
            if (b->msgs[i].uid != UINT32_MAX)
                dates[k++] = b->msgs[i].saved;
        cached = mf_ixc_append_u32(dfd, "dovecot.index.cache", &pre, "date.save", dates, nnew,
                                   offsets, &file_seq, o->lock_timeout, err);
        mf_free(dates);
        if (cached < 0)
            goto out;
        k = 0;
        for (size_t i = 0; i < b->n; i++)
            if (b->msgs[i].uid != UINT32_MAX) {
                b->msgs[i].cache_off = cached > 0 ? offsets[k] : 0;
                k++;
            }
    }
    mf_err_clear(err);
    lockfd = lock_and_load(dfd, "dovecot.index", o->lock_timeout, &ix, err);
    if (lockfd < 0)
        goto out;
    if (assign_uids(ts, bx, &ix, b, o, err) < 0)
        goto out;
    for (size_t i = 0; i < b->n; i++) {
        char name[32];
        if (b->msgs[i].uid == 0)
            continue;
        snprintf(name, sizeof name, "u.%u", b->msgs[i].uid);
        if (link_message(dfd, b->msgs[i].tmpname, name, &ix, b->msgs[i].uid) < 0) {
            mf_err_sys(err, MF_ETARGET, errno, "%s/%s", bx->rel, name);
            for (size_t k = 0; k < i; k++)
                if (b->msgs[k].uid != 0) {
                    snprintf(name, sizeof name, "u.%u", b->msgs[k].uid);
                    unlinkat(dfd, name, 0);
                }
            goto out;
        }
    }
    if (log_appends(&l, b, &ix, "dbox-hdr", err) < 0)
        goto out;
    for (size_t i = 0; cached > 0 && i < b->n; i++)
        ncached += b->msgs[i].uid != 0 && b->msgs[i].cache_off != 0;
    if (ncached > 0) {
        /* never an empty record: Dovecot calls the log corrupted */
        mf_log_ext_intro(&l, "cache", file_seq, 0, 4, 4);
        mf_log_begin(&l, MF_LOG_EXT_REC_UPDATE);
        for (size_t i = 0; i < b->n; i++)
            if (b->msgs[i].uid != 0 && b->msgs[i].cache_off != 0) {
                mf_buf_u32le(&l.b, b->msgs[i].uid);
                mf_buf_u32le(&l.b, b->msgs[i].cache_off);
            }
        mf_log_end(&l);
    }
    if (finish_mailbox_txn(&l, b, &ix, &lockfd, err) < 0)
        goto out;
    if (sync_dir(dfd, o, err) < 0)
        goto out;
    for (size_t i = 0; i < b->n; i++)
        unlinkat(dfd, b->msgs[i].tmpname, 0);
    r = 0;
out:
    if (lockfd >= 0)
        close(lockfd);
    close(dfd);
    mf_free(offsets);
    mf_ix_free(&ix);
    mf_ix_free(&pre);
    mf_log_free(&l);
    return r;
}

/* ---- mdbox ---- */

/* The map's highest file id. Under the map lock, a storage file m.N above it
 * is what a writer killed between naming its file and committing the map
 * left (Dovecot names new m.N files only under that lock, from this value,
 * and overwrites such a file too): it is removed, so that no m.N on disk is
 * unknown to the map (doveadm force-resync would take its mail in again). */
static uint32_t map_highest_file_id(int sfd, const struct mf_ix *map)
{
    const struct mf_ix_ext *e = mf_ix_ext_get(map, "map");
    uint32_t hi = e != NULL && e->hdr_size >= 4 ? mf_load_u32le(e->hdr) : 0;
    DIR *d = mf_opendir_at(sfd);
    struct dirent *de;
    if (d == NULL)
        return hi;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] == 'm' && de->d_name[1] == '.') {
            struct stat st;
            char *end;
            unsigned long v = strtoul(de->d_name + 2, &end, 10);
            if (*end == '\0' && v > hi && v < UINT32_MAX &&
                fstatat(sfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
                unlinkat(sfd, de->d_name, 0);
        }
    closedir(d);
    return hi;
}

static int md_commit(struct mf_tstore *ts, struct mf_tbox *bx, struct mf_batch *b,
                     const struct mf_append_opts *o, struct mf_error *err)
{
    struct mf_ix map, ix;
    struct mf_log l;
    const struct mf_ix_ext *me, *re;
    uint32_t *file_ids = NULL, *map_uids = NULL, hi, next;
    int sfd = mf_open_dir_below(ts->rootfd, "storage"), dfd = -1, maplock = -1, lockfd = -1;
    int r = -1;
    size_t added = 0;
    mf_ix_init(&map);
    mf_ix_init(&ix);
    mf_log_init(&l);
    if (sfd < 0)
        return mf_err_sys(err, MF_EIO, errno, "storage");
    dfd = mf_open_dir_below(ts->rootfd, bx->rel);
    if (dfd < 0) {
        mf_err_sys(err, MF_EIO, errno, "%s", bx->rel);
        goto out;
    }
    if (mf_msgfiles_close(b, err) < 0)
        goto out;
    /* the map first, then the mailbox (Dovecot's order) */
    maplock = lock_and_load(sfd, "dovecot.map.index", o->lock_timeout, &map, err);
    if (maplock < 0)
        goto out;
    lockfd = lock_and_load(dfd, "dovecot.index", o->lock_timeout, &ix, err);
    if (lockfd < 0)
        goto out;
    {
        const struct mf_ix_ext *h = mf_ix_ext_get(&ix, "mdbox-hdr");
        if (h == NULL || h->hdr_size < 4 || mf_load_u32le(h->hdr) != mf_ix_uid_validity(&map)) {
            mf_err(err, MF_ETARGET, "%s: its map UIDVALIDITY differs from the storage's "
                                    "(run doveadm force-resync first)", bx->storage);
            goto out;
        }
    }
    if (assign_uids(ts, bx, &ix, b, o, err) < 0)
        goto out;
    for (size_t i = 0; i < b->n; i++)
        added += b->msgs[i].uid != 0;
    file_ids = mf_calloc(b->ntmpfiles + 1, sizeof *file_ids);
    map_uids = mf_calloc(b->n + 1, sizeof *map_uids);
    if (file_ids == NULL || map_uids == NULL) {
        mf_err_nomem(err);
        goto out;
    }
    hi = map_highest_file_id(sfd, &map);
    for (size_t i = 0; i < b->ntmpfiles && added > 0; i++) {
        char name[32];
        for (;;) {
            if (hi >= UINT32_MAX - 1) {
                mf_err(err, MF_ETARGET, "mdbox file ids exhausted");
                goto out;
            }
            file_ids[i] = ++hi;
            snprintf(name, sizeof name, "m.%u", hi);
            if (linkat(sfd, b->tmpfiles[i], sfd, name, 0) == 0)
                break;
            if (errno != EEXIST) {
                mf_err_sys(err, MF_EIO, errno, "storage/%s", name);
                goto out;
            }
        }
    }
    /* map: the new messages, their places, refcount 1, the highest file id */
    me = mf_ix_ext_get(&map, "map");
    re = mf_ix_ext_get(&map, "ref");
    next = mf_ix_next_uid(&map) ? mf_ix_next_uid(&map) : 1;
    if (added > 0) {
        uint8_t h4[4];
        mf_log_begin(&l, MF_LOG_APPEND);
        for (size_t i = 0; i < b->n; i++)
            if (b->msgs[i].uid != 0) {
                map_uids[i] = next++;
                mf_buf_u32le(&l.b, map_uids[i]);
                mf_buf_u32le(&l.b, 0);
            }
        mf_log_end(&l);
        mf_log_ext_intro(&l, "map", me != NULL ? me->reset_id : 0, me != NULL ? me->hdr_size : 8,
                         12, 4);
        mf_log_begin(&l, MF_LOG_EXT_REC_UPDATE);
        for (size_t i = 0; i < b->n; i++)
            if (b->msgs[i].uid != 0) {
                mf_buf_u32le(&l.b, map_uids[i]);
                mf_buf_u32le(&l.b, file_ids[b->msgs[i].tmpfile]);
                mf_buf_u32le(&l.b, b->msgs[i].offset);
                mf_buf_u32le(&l.b, b->msgs[i].size);
            }
        mf_log_end(&l);
        mf_store_u32le(h4, hi);
        mf_log_ext_hdr(&l, 0, h4, 4);
        mf_log_ext_intro(&l, "ref", re != NULL ? re->reset_id : 0, 0, 2, 2);
        mf_log_begin(&l, MF_LOG_EXT_REC_UPDATE);
        for (size_t i = 0; i < b->n; i++)
            if (b->msgs[i].uid != 0) {
                mf_buf_u32le(&l.b, map_uids[i]);
                mf_buf_u16le(&l.b, 1);
                mf_buf_u16le(&l.b, 0);
            }
        mf_log_end(&l);
        if (append_txn(maplock, &map, &l, err) < 0)
            goto out;
        mf_buf_reset(&l.b);
    }
    /* the mailbox: UIDs, map UIDs with save dates, GUIDs, keywords, flags */
    if (log_appends(&l, b, &ix, "mdbox-hdr", err) < 0)
        goto out;
    if (added > 0) {
        const struct mf_ix_ext *e = mf_ix_ext_get(&ix, "mdbox"), *g = mf_ix_ext_get(&ix, "guid");
        mf_log_ext_intro(&l, "mdbox", e != NULL ? e->reset_id : 0, 0, 8, 4);
        mf_log_begin(&l, MF_LOG_EXT_REC_UPDATE);
        for (size_t i = 0; i < b->n; i++)
            if (b->msgs[i].uid != 0) {
                mf_buf_u32le(&l.b, b->msgs[i].uid);
                mf_buf_u32le(&l.b, map_uids[i]);
                mf_buf_u32le(&l.b, b->msgs[i].saved);
            }
        mf_log_end(&l);
        mf_log_ext_intro(&l, "guid", g != NULL ? g->reset_id : 0, 0, 16, 1);
        mf_log_begin(&l, MF_LOG_EXT_REC_UPDATE);
        for (size_t i = 0; i < b->n; i++)
            if (b->msgs[i].uid != 0) {
                mf_buf_u32le(&l.b, b->msgs[i].uid);
                mf_buf_append(&l.b, b->msgs[i].guid128, 16);
            }
        mf_log_end(&l);
    }
    if (finish_mailbox_txn(&l, b, &ix, &lockfd, err) < 0)
        goto out;
    if (sync_dir(sfd, o, err) < 0)
        goto out;
    for (size_t i = 0; i < b->ntmpfiles; i++)
        unlinkat(sfd, b->tmpfiles[i], 0);
    r = 0;
out:
    if (lockfd >= 0)
        close(lockfd);
    if (maplock >= 0)
        close(maplock);
    if (dfd >= 0)
        close(dfd);
    close(sfd);
    mf_free(file_ids);
    mf_free(map_uids);
    mf_ix_free(&map);
    mf_ix_free(&ix);
    mf_log_free(&l);
    return r;
}

int mf_box_commit(struct mf_tstore *ts, struct mf_tbox *bx, struct mf_batch *b,
                  const struct mf_append_opts *o, struct mf_error *err)
{
    int r;
    if (b->n > 0 && !o->nosync && syncfs(ts->rootfd) < 0)
        return mf_err_sys(err, MF_EIO, errno, "sync new messages");
    for (size_t i = 0; i < b->n; i++)
        b->msgs[i].uid = 0;
    if (o->resume && b->n > 0 && find_already(ts, bx, b, err) < 0)
        return -1;
    r = ts->mdbox ? md_commit(ts, bx, b, o, err) : sd_commit(ts, bx, b, o, err);
    mf_tstore_forget(ts);
    return r;
}

/* ---- expunges ---- */

int mf_box_expunge(struct mf_tstore *ts, struct mf_tbox *bx, const uint32_t *uids, size_t n,
                   const struct mf_append_opts *o, size_t *done, struct mf_error *err)
{
    struct mf_ix ix, map;
    struct mf_log l;
    int dfd = mf_open_dir_below(ts->rootfd, bx->rel), sfd = -1, lockfd = -1, maplock = -1;
    int r = -1;
    uint32_t *map_uids = NULL;
    size_t nmap = 0;
    *done = 0;
    mf_ix_init(&ix);
    mf_ix_init(&map);
    mf_log_init(&l);
    if (dfd < 0)
        return mf_err_sys(err, MF_EIO, errno, "%s", bx->rel);
    if (ts->mdbox) {
        sfd = mf_open_dir_below(ts->rootfd, "storage");
        if (sfd < 0) {
            mf_err_sys(err, MF_EIO, errno, "storage");
            goto out;
        }
        maplock = lock_and_load(sfd, "dovecot.map.index", o->lock_timeout, &map, err);
        if (maplock < 0)
            goto out;
    }
    lockfd = lock_and_load(dfd, "dovecot.index", o->lock_timeout, &ix, err);
    if (lockfd < 0)
        goto out;
    map_uids = mf_calloc(n + 1, sizeof *map_uids);
    if (map_uids == NULL) {
        mf_err_nomem(err);
        goto out;
    }
    {
        const struct mf_ix_ext *g = mf_ix_ext_get(&ix, "guid"), *e = mf_ix_ext_get(&ix, "mdbox");
        int started = 0;
        for (size_t i = 0; i < n; i++) {
            long at = mf_ix_find(&ix, uids[i]);
            uint8_t guid[16];
            if (at < 0)
                continue;
            memset(guid, 0, sizeof guid);
            if (ts->mdbox && g != NULL && g->rec_size >= 16)
                memcpy(guid, mf_ix_rec(g, (size_t)at), 16);
            if (ts->mdbox && e != NULL && e->rec_size >= 4)
                map_uids[nmap++] = mf_load_u32le(mf_ix_rec(e, (size_t)at));
            if (!started) {
                mf_log_begin(&l, MF_LOG_EXPUNGE_GUID);
                started = 1;
            }
            mf_buf_u32le(&l.b, uids[i]);
            mf_buf_append(&l.b, guid, 16);
            (*done)++;
        }
        if (started)
            mf_log_end(&l);
    }
    if (append_txn(lockfd, &ix, &l, err) < 0)
        goto out;
    close(lockfd);
    lockfd = -1;
    if (ts->mdbox && nmap > 0) {
        /* the mailbox record first: a crash between the two leaves a
         * refcount too high (a message kept), never too low */
        const struct mf_ix_ext *re = mf_ix_ext_get(&map, "ref");
        mf_buf_reset(&l.b);
        mf_log_ext_intro(&l, "ref", re != NULL ? re->reset_id : 0, 0, 2, 2);
        mf_log_begin(&l, MF_LOG_EXT_ATOMIC_INC);
        for (size_t i = 0; i < nmap; i++) {
            mf_buf_u32le(&l.b, map_uids[i]);
            mf_buf_u32le(&l.b, (uint32_t)-1);
        }
        mf_log_end(&l);
        if (append_txn(maplock, &map, &l, err) < 0)
            goto out;
    }
    if (!ts->mdbox)
        for (size_t i = 0; i < n; i++) {
            char name[32];
            snprintf(name, sizeof name, "u.%u", uids[i]);
            unlinkat(dfd, name, 0);
        }
    r = sync_dir(dfd, o, err);
out:
    if (lockfd >= 0)
        close(lockfd);
    if (maplock >= 0)
        close(maplock);
    if (sfd >= 0)
        close(sfd);
    close(dfd);
    mf_free(map_uids);
    mf_ix_free(&ix);
    mf_ix_free(&map);
    mf_log_free(&l);
    mf_tstore_forget(ts);
    return r;
}

/* ---- creating, moving and removing mailboxes ---- */

static struct mf_tbox *register_box(struct mf_tstore *ts, const char *rel, const char *storage,
                                    const uint8_t guid[16], struct mf_error *err)
{
    struct mf_tbox *nv = mf_realloc(ts->v, (ts->n + 1) * sizeof *nv), *b;
    if (nv == NULL) {
        mf_err_nomem(err);
        return NULL;
    }
    ts->v = nv;
    b = &nv[ts->n];
    memset(b, 0, sizeof *b);
    memcpy(b->guid, guid, 16);
    b->rel = mf_strdup(rel);
    b->storage = mf_strdup(storage);
    mf_ix_init(&b->ix);
    if (b->rel == NULL || b->storage == NULL) {
        mf_free(b->rel);
        mf_free(b->storage);
        mf_err_nomem(err);
        return NULL;
    }
    ts->n++;
    return b;
}

static char *box_rel(const char *storage)
{
    size_t n = strlen(storage) + sizeof "mailboxes//dbox-Mails";
    char *p = mf_malloc(n);
    if (p != NULL)
        snprintf(p, n, "mailboxes/%s/dbox-Mails", storage);
    return p;
}

/* Removes empty directories from mailboxes/<storage> up to mailboxes/. */
static void prune(int rootfd, const char *storage)
{
    char *p = mf_malloc(strlen(storage) + sizeof "mailboxes/");
    if (p == NULL)
        return;
    sprintf(p, "mailboxes/%s", storage);
    for (;;) {
        char *slash = strrchr(p, '/');
        if (unlinkat(rootfd, p, AT_REMOVEDIR) < 0 || slash == NULL ||
            strcmp(p, "mailboxes") == 0)
            break;
        *slash = '\0';
        if (strcmp(p, "mailboxes") == 0)
            break;
    }
    mf_free(p);
}

int mf_box_create(struct mf_tstore *ts, const char *storage, const uint8_t guid[16],
                  uint32_t uidvalidity, const struct mf_append_opts *o, struct mf_tbox **b_r,
                  struct mf_error *err)
{
    struct mf_log l;
    uint8_t hdr[24];
    char tmp[80], *rel = box_rel(storage), *parent;
    uint32_t now32 = (uint32_t)o->now != 0 ? (uint32_t)o->now : 1;
    int tfd = -1, pfd = -1, r = -1;
    *b_r = NULL;
    if (rel == NULL)
        return mf_err_nomem(err);
    mf_log_init(&l);
    memset(hdr, 0, sizeof hdr);
    if (ts->mdbox) {
        const struct mf_ix *map = mf_tstore_map(ts, 1, err);
        if (map == NULL)
            goto out;
        mf_store_u32le(hdr, mf_ix_uid_validity(map));
    }
    memcpy(hdr + 4, guid, 16);
    mf_log_header(&l, now32, 1, now32, 1);
    mf_log_hdr_u32(&l, MF_HDR_UID_VALIDITY, uidvalidity);
    mf_log_ext_intro(&l, ts->mdbox ? "mdbox-hdr" : "dbox-hdr", 0, 24, 0, 0);
    mf_log_ext_hdr(&l, 0, hdr, 24);
    if (!ts->mdbox)
        mf_dbox_cache_log(&l, now32, NULL, 0);   /* the cache that will hold save dates */
    mf_log_tail(&l);
    if (l.b.oom) {
        mf_err_nomem(err);
        goto out;
    }
    /* built aside, then renamed into place in one step */
    temp_name(tmp, sizeof tmp, ".mailferry-new.", o->now);
    if (mkdirat(ts->rootfd, tmp, 0700) < 0) {
        mf_err_sys(err, MF_EIO, errno, "mkdir %s", tmp);
        goto out;
    }
    tfd = openat(ts->rootfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (tfd < 0 || own_fd(o, tfd, o->own->dir_mode, err) < 0) {
        if (tfd < 0)
            mf_err_sys(err, MF_EIO, errno, "%s", tmp);
        goto out_rm;
    }
    if (!ts->mdbox) {
        struct mf_buf cache;
        int fd = create_file(o, tfd, "dovecot.index.cache", err);
        if (fd < 0)
            goto out_rm;
        mf_buf_init(&cache);
        mf_dbox_cache_build(&cache, now32, now32, now32, NULL, 0);
        if (cache.oom || mf_write_all(fd, cache.p, cache.len, "dovecot.index.cache", err) < 0) {
            if (cache.oom)
                mf_err_nomem(err);
            mf_buf_free(&cache);
            close(fd);
            goto out_rm;
        }
        mf_buf_free(&cache);
        close(fd);
    }
    {
        int fd = create_file(o, tfd, "dovecot.index.log", err);
        if (fd < 0)
            goto out_rm;
        if (mf_write_all(fd, l.b.p, l.b.len, "dovecot.index.log", err) < 0 ||
            (!o->nosync && fsync(fd) < 0)) {
            close(fd);
            goto out_rm;
        }
        close(fd);
    }
    parent = mf_strndup(rel, strlen(rel) - strlen("/dbox-Mails"));
    if (parent == NULL) {
        mf_err_nomem(err);
        goto out_rm;
    }
    pfd = mkdirs(o, ts->rootfd, parent, err);
    mf_free(parent);
    if (pfd < 0)
        goto out_rm;
    if (renameat(ts->rootfd, tmp, pfd, "dbox-Mails") < 0) {
        mf_err_sys(err, MF_ETARGET, errno, "%s", rel);
        goto out_rm;
    }
    if (sync_dir(pfd, o, err) < 0)
        goto out;
    *b_r = register_box(ts, rel, storage, guid, err);
    if (*b_r != NULL)
        (*b_r)->map_uid_validity = mf_load_u32le(hdr);
    r = *b_r != NULL ? 0 : -1;
    goto out;
out_rm:
    {
        struct mf_error e2;
        if (mf_remove_tree_at(ts->rootfd, tmp, &e2) < 0) {
            /* left for the administrator: named in the error */
        }
    }
out:
    if (tfd >= 0)
        close(tfd);
    if (pfd >= 0)
        close(pfd);
    mf_free(rel);
    mf_log_free(&l);
    return r;
}

int mf_box_move(struct mf_tstore *ts, struct mf_tbox *b, const char *storage,
                const struct mf_append_opts *o, struct mf_error *err)
{
    char *rel = box_rel(storage), *parent, *old_storage = b->storage;
    int pfd, sfd;
    if (rel == NULL)
        return mf_err_nomem(err);
    parent = mf_strndup(rel, strlen(rel) - strlen("/dbox-Mails"));
    if (parent == NULL) {
        mf_free(rel);
        return mf_err_nomem(err);
    }
    pfd = mkdirs(o, ts->rootfd, parent, err);
    mf_free(parent);
    if (pfd < 0) {
        mf_free(rel);
        return -1;
    }
    sfd = openat(ts->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sfd < 0 || renameat(ts->rootfd, b->rel, pfd, "dbox-Mails") < 0) {
        int e = errno;
        if (sfd >= 0)
            close(sfd);
        close(pfd);
        mf_free(rel);
        return mf_err_sys(err, MF_ETARGET, e, "rename %s to %s", b->rel, storage);
    }
    close(sfd);
    if (sync_dir(pfd, o, err) < 0) {
        close(pfd);
        mf_free(rel);
        return -1;
    }
    close(pfd);
    if (old_storage[0] != '\0')
        prune(ts->rootfd, old_storage);
    mf_free(b->rel);
    b->rel = rel;
    b->storage = mf_strdup(storage);
    mf_free(old_storage);
    return b->storage == NULL ? mf_err_nomem(err) : 0;
}

int mf_box_delete(struct mf_tstore *ts, struct mf_tbox *b, const struct mf_append_opts *o,
                  struct mf_error *err)
{
    const struct mf_ix *ix = mf_tbox_state(ts, b, 1, err);
    struct mf_ix cur;
    struct mf_log l;
    char tmp[80];
    int dfd, lockfd;
    if (ix == NULL)
        return -1;
    if (ts->mdbox && ix->n > 0) {
        /* release its messages in the map first */
        uint32_t *uids = mf_calloc(ix->n, sizeof *uids);
        size_t done, n = ix->n;
        if (uids == NULL)
            return mf_err_nomem(err);
        for (size_t i = 0; i < n; i++)
            uids[i] = ix->msgs[i].uid;
        if (mf_box_expunge(ts, b, uids, n, o, &done, err) < 0) {
            mf_free(uids);
            return -1;
        }
        mf_free(uids);
    }
    dfd = mf_open_dir_below(ts->rootfd, b->rel);
    if (dfd < 0)
        return mf_err_sys(err, MF_EIO, errno, "%s", b->rel);
    lockfd = lock_and_load(dfd, "dovecot.index", o->lock_timeout, &cur, err);
    if (lockfd < 0) {
        close(dfd);
        return -1;
    }
    mf_log_init(&l);
    mf_log_begin(&l, MF_LOG_INDEX_DELETED);
    mf_buf_u32le(&l.b, 0);
    mf_log_end(&l);
    if (append_txn(lockfd, &cur, &l, err) < 0) {
        close(lockfd);
        close(dfd);
        mf_ix_free(&cur);
        mf_log_free(&l);
        return -1;
    }
    mf_log_free(&l);
    mf_ix_free(&cur);
    /* still holding the lock: out of mailboxes/, then gone */
    temp_name(tmp, sizeof tmp, ".mailferry-deleted.", o->now);
    if (renameat(ts->rootfd, b->rel, ts->rootfd, tmp) < 0) {
        int e = errno;
        close(lockfd);
        close(dfd);
        return mf_err_sys(err, MF_EIO, e, "rename %s", b->rel);
    }
    close(lockfd);
    close(dfd);
    if (mf_remove_tree_at(ts->rootfd, tmp, err) < 0)
        return -1;
    if (b->storage[0] != '\0')
        prune(ts->rootfd, b->storage);
    memset(b->guid, 0, sizeof b->guid);
    b->rel[0] = '\0';       /* gone: found by neither GUID nor place */
    b->storage[0] = '\0';
    mf_tstore_forget(ts);
    return 0;
}

int mf_list_refresh(int rootfd, int lock_timeout, struct mf_error *err)
{
    struct mf_ix ix;
    struct mf_log l;
    const struct mf_ix_ext *e;
    struct stat st;
    uint8_t one = 1;
    int fd, r;
    if (fstatat(rootfd, "dovecot.list.index.log", &st, AT_SYMLINK_NOFOLLOW) < 0)
        return 0;
    fd = lock_and_load(rootfd, "dovecot.list.index", lock_timeout, &ix, err);
    if (fd < 0)
        return -1;
    e = mf_ix_ext_get(&ix, "list");
    if (e == NULL) {
        close(fd);
        mf_ix_free(&ix);
        return 0;
    }
    mf_log_init(&l);
    mf_log_ext_intro(&l, "list", e->reset_id, e->hdr_size, e->rec_size, e->rec_align);
    mf_log_ext_hdr(&l, 0, &one, 1);
    r = append_txn(fd, &ix, &l, err);
    close(fd);
    mf_ix_free(&ix);
    mf_log_free(&l);
    return r;
}
