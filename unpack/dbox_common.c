/* dbox_common.c: what sdbox and mdbox share: creating directories and files
 * below the staging root (never through a symbolic link, owner and mode set
 * as asked), per-message bookkeeping, the APPEND and KEYWORD_UPDATE records,
 * the closing header updates, `subscriptions` and dovecot-uidvalidity. */
#include "dbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../format/fsutil.h"
#include "../format/mem.h"
#include "../dvindex/index_log.h"

int mf_dbox_new(struct mf_dbox **d_r, const struct mf_dbox_layout *layout, int rootfd,
                const struct mf_dbox_opts *o, struct mf_error *err)
{
    struct mf_dbox *d = mf_calloc(1, sizeof *d);
    *d_r = NULL;
    if (d == NULL)
        return mf_err_nomem(err);
    d->layout = layout;
    d->o = *o;
    d->rootfd = rootfd;
    d->boxfd = -1;
    mf_buf_init(&d->scratch);
    *d_r = d;
    return 0;
}

void mf_dbox_free(struct mf_dbox **dp)
{
    struct mf_dbox *d = *dp;
    if (d == NULL)
        return;
    *dp = NULL;
    if (d->layout->free_priv != NULL)
        d->layout->free_priv(d);
    if (d->boxfd >= 0)
        close(d->boxfd);
    mf_free(d->mb_storage);
    mf_free(d->recs);
    mf_free(d->kwpool);
    mf_buf_free(&d->scratch);
    mf_free(d);
}

static int own(struct mf_dbox *d, int fd, mode_t mode, const char *what, struct mf_error *err)
{
    if (d->o.chown && fchown(fd, d->o.uid, d->o.gid) < 0)
        return mf_err_sys(err, MF_EIO, errno, "chown %s", what);
    if (fchmod(fd, mode) < 0)
        return mf_err_sys(err, MF_EIO, errno, "chmod %s", what);
    return 0;
}

int mf_dbox_mkdirs(struct mf_dbox *d, int base, const char *rel, int *fd_r, struct mf_error *err)
{
    int fd = openat(base, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const char *p = rel;
    *fd_r = -1;
    if (fd < 0)
        return mf_err_sys(err, MF_EIO, errno, "open staging directory");
    while (*p != '\0') {
        char comp[1024];
        size_t n = strcspn(p, "/");
        int nfd;
        if (n == 0) {
            p++;
            continue;
        }
        if (n >= sizeof comp) {
            close(fd);
            return mf_err(err, MF_ETARGET, "path component too long in %s", rel);
        }
        memcpy(comp, p, n);
        comp[n] = '\0';
        if (mkdirat(fd, comp, 0700) == 0) {
            nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (nfd >= 0 && own(d, nfd, d->o.dir_mode, comp, err) < 0) {
                close(nfd);
                close(fd);
                return -1;
            }
        } else if (errno == EEXIST) {
            nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        } else {
            int e = errno;
            close(fd);
            return mf_err_sys(err, MF_EIO, e, "mkdir %s", comp);
        }
        close(fd);
        if (nfd < 0)
            return mf_err_sys(err, MF_ETARGET, errno, "open %s", comp);
        fd = nfd;
        p += n;
    }
    *fd_r = fd;
    return 0;
}

int mf_dbox_create(struct mf_dbox *d, int dirfd, const char *name, struct mf_error *err)
{
    /* the command clears the umask, so the mode is exactly file_mode */
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    d->o.file_mode);
    if (fd < 0)
        return mf_err_sys(err, MF_EIO, errno, "create %s", name);
    if (d->o.chown && fchown(fd, d->o.uid, d->o.gid) < 0) {
        int e = errno;
        close(fd);
        return mf_err_sys(err, MF_EIO, e, "chown %s", name);
    }
    d->files++;
    return fd;
}

int mf_dbox_write_file(struct mf_dbox *d, int dirfd, const char *name, const void *p, size_t n,
                       struct mf_error *err)
{
    int fd = mf_dbox_create(d, dirfd, name, err);
    if (fd < 0)
        return -1;
    if (mf_write_all(fd, p, n, name, err) < 0) {
        close(fd);
        return -1;
    }
    if (close(fd) < 0)
        return mf_err_sys(err, MF_EIO, errno, "close %s", name);
    d->bytes += n;
    return 0;
}

int mf_dbox_add_rec(struct mf_dbox *d, const struct mf_dbox_msg *m, struct mf_dbox_rec **rec_r,
                    struct mf_error *err)
{
    struct mf_dbox_rec *r;
    if (d->nrecs == d->recs_cap) {
        size_t nc = d->recs_cap == 0 ? 256 : d->recs_cap * 2;
        struct mf_dbox_rec *nr = mf_realloc(d->recs, nc * sizeof *nr);
        if (nr == NULL)
            return mf_err_nomem(err);
        d->recs = nr;
        d->recs_cap = nc;
    }
    if (d->nkwpool + m->nkw > d->kwpool_cap) {
        size_t nc = d->kwpool_cap == 0 ? 256 : d->kwpool_cap * 2;
        uint32_t *np;
        while (nc < d->nkwpool + m->nkw)
            nc *= 2;
        np = mf_realloc(d->kwpool, nc * sizeof *np);
        if (np == NULL)
            return mf_err_nomem(err);
        d->kwpool = np;
        d->kwpool_cap = nc;
    }
    r = &d->recs[d->nrecs++];
    memset(r, 0, sizeof *r);
    r->uid = m->uid;
    r->flags = m->flags;
    r->kw_off = (uint32_t)d->nkwpool;
    r->nkw = m->nkw;
    if (m->nkw > 0)
        memcpy(d->kwpool + d->nkwpool, m->kw, m->nkw * sizeof *m->kw);
    d->nkwpool += m->nkw;
    r->saved = m->saved < 0 ? 0 : m->saved > UINT32_MAX ? UINT32_MAX : (uint32_t)m->saved;
    if (!m->recent)
        d->recent_from = 0;
    else if (d->recent_from == 0)
        d->recent_from = m->uid;
    if (m->uidl_len > 0)
        d->have_uidl = 1;
    if (m->pop3_order > 0)
        d->have_order = 1;
    *rec_r = r;
    return 0;
}

void mf_dbox_log_messages(struct mf_dbox *d, struct mf_log *log)
{
    if (d->nrecs == 0)
        return;
    mf_log_begin(log, MF_LOG_APPEND);
    for (size_t i = 0; i < d->nrecs; i++) {
        mf_buf_u32le(&log->b, d->recs[i].uid);
        mf_buf_u8(&log->b, d->recs[i].flags);
        mf_buf_u8(&log->b, 0);
        mf_buf_u16le(&log->b, 0);
    }
    mf_log_end(log);
    /* one KEYWORD_UPDATE per keyword, over runs of consecutive messages */
    for (uint32_t k = 0; k < d->mb.nkeywords; k++) {
        const char *name = d->mb.keywords[k];
        size_t nl = strlen(name);
        int started = 0, in_run = 0;
        uint32_t run_start = 0, run_end = 0;
        for (size_t i = 0; i <= d->nrecs; i++) {
            int has = 0;
            if (i < d->nrecs)
                for (uint32_t q = 0; q < d->recs[i].nkw; q++)
                    has |= d->kwpool[d->recs[i].kw_off + q] == k;
            if (has && !in_run) {
                in_run = 1;
                run_start = d->recs[i].uid;
            }
            if (has)
                run_end = d->recs[i].uid;
            if ((!has || i == d->nrecs) && in_run) {
                if (!started) {
                    mf_log_begin(log, MF_LOG_KEYWORD_UPDATE);
                    mf_buf_u8(&log->b, 0);  /* add */
                    mf_buf_u8(&log->b, 0);
                    mf_buf_u16le(&log->b, (uint16_t)nl);
                    mf_buf_append(&log->b, name, nl);
                    while ((log->b.len - log->rec_start) % 4 != 0)
                        mf_buf_u8(&log->b, 0);
                    started = 1;
                }
                mf_buf_u32le(&log->b, run_start);
                mf_buf_u32le(&log->b, run_end);
                in_run = 0;
            }
        }
        if (started)
            mf_log_end(log);
    }
}

void mf_dbox_log_finish(struct mf_dbox *d, struct mf_log *log)
{
    uint32_t last = d->nrecs > 0 ? d->recs[d->nrecs - 1].uid : 0;
    uint32_t next = d->mb.uidnext > last ? d->mb.uidnext : last + 1;
    if (next > last + 1)
        mf_log_hdr_u32(log, MF_HDR_NEXT_UID, next);
    /* \Recent as the Maildir had it: the messages still in new/ at the end */
    mf_log_hdr_u32(log, MF_HDR_FIRST_RECENT_UID, d->recent_from != 0 ? d->recent_from : next);
    mf_log_tail(log);
}

int mf_dbox_begin_mailbox_dir(struct mf_dbox *d, const struct mf_dbox_mailbox *mb,
                              struct mf_error *err)
{
    char *rel;
    size_t n = strlen(mb->storage) + sizeof "mailboxes//dbox-Mails";
    rel = mf_malloc(n);
    if (rel == NULL)
        return mf_err_nomem(err);
    snprintf(rel, n, "mailboxes/%s/dbox-Mails", mb->storage);
    if (mf_dbox_mkdirs(d, d->rootfd, rel, &d->boxfd, err) < 0) {
        mf_free(rel);
        return -1;
    }
    mf_free(rel);
    d->mb = *mb;
    mf_free(d->mb_storage);
    d->mb_storage = mf_strdup(mb->storage);
    if (d->mb_storage == NULL)
        return mf_err_nomem(err);
    d->mb.storage = d->mb_storage;
    d->nrecs = 0;
    d->nkwpool = 0;
    d->have_uidl = d->have_order = 0;
    d->recent_from = 0;
    if (mb->uidvalidity > d->max_uidvalidity)
        d->max_uidvalidity = mb->uidvalidity;
    return 0;
}

void mf_dbox_end_mailbox_state(struct mf_dbox *d)
{
    if (d->boxfd >= 0)
        close(d->boxfd);
    d->boxfd = -1;
}

int mf_dbox_write_root_files(struct mf_dbox *d, char **subscribed, size_t nsub,
                             struct mf_error *err)
{
    struct mf_buf b;
    char name[64];
    int r = 0;
    mf_buf_init(&b);
    /* subscriptions, version 2: names split on '/', TAB-joined */
    mf_buf_append(&b, "V\t2\n\n", 5);
    for (size_t i = 0; i < nsub; i++) {
        for (const char *p = subscribed[i]; *p != '\0'; p++)
            mf_buf_u8(&b, *p == '/' ? '\t' : (uint8_t)*p);
        mf_buf_u8(&b, '\n');
    }
    if (b.oom) {
        mf_buf_free(&b);
        return mf_err_nomem(err);
    }
    if (nsub > 0)
        r = mf_dbox_write_file(d, d->rootfd, "subscriptions", b.p, b.len, err);
    mf_buf_free(&b);
    if (r < 0 || d->max_uidvalidity == 0)
        return r;
    /* dovecot-uidvalidity: the highest value used, so Dovecot never reuses it */
    snprintf(name, sizeof name, "%08x", d->max_uidvalidity);
    if (mf_dbox_write_file(d, d->rootfd, "dovecot-uidvalidity", name, 8, err) < 0)
        return -1;
    snprintf(name, sizeof name, "dovecot-uidvalidity.%08x", d->max_uidvalidity);
    {
        int fd = mf_dbox_create(d, d->rootfd, name, err);
        if (fd < 0)
            return -1;
        fchmod(fd, d->o.file_mode & 0444);   /* read-only, as Dovecot makes it */
        close(fd);
    }
    return 0;
}
