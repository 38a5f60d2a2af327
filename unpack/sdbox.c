/* sdbox.c: single-dbox: mailboxes/<name>/dbox-Mails/u.<uid>, one message
 * per file, plus one dovecot.index.log per mailbox (UIDVALIDITY, mailbox
 * GUID and POP3 flags in the dbox-hdr extension, APPEND, keywords, UIDNEXT)
 * and a one-field dovecot.index.cache holding the save dates. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../format/fsutil.h"
#include "../format/mem.h"
#include "dbox.h"
#include "dbox_cache.h"
#include "dbox_file.h"
#include "../dvindex/index_log.h"

#define FILEBUF (256u * 1024)

struct filebuf {
    int fd;
    struct mf_buf b;
    uint64_t written;
};

static int fb_flush(struct filebuf *f, struct mf_error *err)
{
    if (f->b.len > 0 && mf_write_all(f->fd, f->b.p, f->b.len, "mail file", err) < 0)
        return -1;
    f->written += f->b.len;
    mf_buf_reset(&f->b);
    return 0;
}

static int fb_sink(void *ctx, const void *p, size_t n, struct mf_error *err)
{
    struct filebuf *f = ctx;
    if (f->b.len + n > FILEBUF && fb_flush(f, err) < 0)
        return -1;
    if (n >= FILEBUF) {
        if (mf_write_all(f->fd, p, n, "mail file", err) < 0)
            return -1;
        f->written += n;
        return 0;
    }
    if (mf_buf_append(&f->b, p, n) < 0)
        return mf_err_nomem(err);
    return 0;
}

static int sd_user_begin(struct mf_dbox *d, struct mf_error *err)
{
    (void)d;
    (void)err;
    return 0;
}

static int sd_mailbox_begin(struct mf_dbox *d, const struct mf_dbox_mailbox *mb,
                            struct mf_error *err)
{
    return mf_dbox_begin_mailbox_dir(d, mb, err);
}

static int sd_message(struct mf_dbox *d, const struct mf_dbox_msg *m, struct mf_error *err)
{
    struct filebuf f;
    struct mf_dbox_meta meta;
    struct mf_dbox_rec *rec;
    char name[32];
    int r = -1;
    snprintf(name, sizeof name, "u.%u", m->uid);
    f.fd = mf_dbox_create(d, d->boxfd, name, err);
    if (f.fd < 0)
        return -1;
    f.written = 0;
    mf_buf_init(&f.b);
    mf_dbox_file_header(&f.b, d->o.now);
    mf_dbox_msg_header(&f.b, m->size);
    if (mf_reader_emit(m->reader, m->refs, m->nrefs, m->size, m->hash, fb_sink, &f, err) < 0)
        goto out;
    memset(&meta, 0, sizeof meta);
    meta.received = m->received;
    meta.vsize = m->vsize;
    meta.uidl = m->uidl;
    meta.uidl_len = m->uidl_len;
    meta.pop3_order = m->pop3_order;
    meta.guid = m->guid;
    meta.guid_len = m->guid_len;
    mf_dbox_metadata(&f.b, &meta);
    if (f.b.oom) {
        mf_err_nomem(err);
        goto out;
    }
    if (fb_flush(&f, err) < 0)
        goto out;
    if (mf_dbox_add_rec(d, m, &rec, err) < 0)
        goto out;
    d->bytes += f.written;
    r = 0;
out:
    mf_buf_free(&f.b);
    if (close(f.fd) < 0 && r == 0)
        r = mf_err_sys(err, MF_EIO, errno, "close %s", name);
    return r;
}

static int sd_mailbox_end(struct mf_dbox *d, struct mf_error *err)
{
    struct mf_log log;
    uint8_t hdr[24];
    uint32_t now32 = (uint32_t)d->o.now, file_seq = now32 != 0 ? now32 : 1;
    int r = 0;
    mf_log_init(&log);
    mf_log_header(&log, now32 != 0 ? now32 : 1, 1, now32, 1);
    mf_log_hdr_u32(&log, MF_HDR_UID_VALIDITY, d->mb.uidvalidity);
    memset(hdr, 0, sizeof hdr);
    memcpy(hdr + 4, d->mb.guid, 16);
    hdr[20] = (uint8_t)((d->have_uidl ? 0x01 : 0) | (d->have_order ? 0x02 : 0));
    mf_log_ext_intro(&log, "dbox-hdr", 0, 24, 0, 0);
    mf_log_ext_hdr(&log, 0, hdr, 24);
    mf_dbox_log_messages(d, &log);
    {
        /* save dates through a minimal cache file (also for an empty
         * mailbox, so that messages added later can have theirs) */
        uint32_t *uids = mf_calloc(d->nrecs ? d->nrecs : 1, sizeof *uids);
        uint32_t *dates = mf_calloc(d->nrecs ? d->nrecs : 1, sizeof *dates);
        struct mf_buf cache;
        if (uids == NULL || dates == NULL) {
            mf_free(uids);
            mf_free(dates);
            mf_log_free(&log);
            return mf_err_nomem(err);
        }
        for (size_t i = 0; i < d->nrecs; i++) {
            uids[i] = d->recs[i].uid;
            dates[i] = d->recs[i].saved;
        }
        mf_buf_init(&cache);
        mf_dbox_cache_build(&cache, now32 != 0 ? now32 : 1, file_seq, now32, dates, d->nrecs);
        mf_dbox_cache_log(&log, file_seq, uids, d->nrecs);
        r = cache.oom ? mf_err_nomem(err)
                      : mf_dbox_write_file(d, d->boxfd, "dovecot.index.cache", cache.p, cache.len,
                                           err);
        mf_buf_free(&cache);
        mf_free(uids);
        mf_free(dates);
    }
    mf_dbox_log_finish(d, &log);
    if (r == 0)
        r = log.b.oom ? mf_err_nomem(err)
                      : mf_dbox_write_file(d, d->boxfd, "dovecot.index.log", log.b.p, log.b.len,
                                           err);
    mf_log_free(&log);
    mf_dbox_end_mailbox_state(d);
    return r;
}

static int sd_user_end(struct mf_dbox *d, struct mf_error *err)
{
    (void)d;
    (void)err;
    return 0;
}

const struct mf_dbox_layout mf_sdbox_layout = {
    "sdbox", sd_user_begin, sd_mailbox_begin, sd_message, sd_mailbox_end, sd_user_end, NULL,
};
