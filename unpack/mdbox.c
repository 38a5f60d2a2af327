/* mdbox.c: multi-dbox: storage/m.<file id> files holding many messages,
 * storage/dovecot.map.index.log (map UID -> file, offset, size, refcount)
 * and one dovecot.index.log per mailbox (UID -> map UID, save date, GUID).
 * A message that appears in several mailboxes of the user with the same
 * content, GUID, received date and POP3 data is stored once and referenced
 * from each, as Dovecot's own copies are. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../format/blobset.h"
#include "../format/fsutil.h"
#include "../format/hash.h"
#include "../format/mem.h"
#include "dbox.h"
#include "dbox_file.h"
#include "../dvindex/index_log.h"
#include "sha1.h"

struct map_ent {
    uint32_t file_id;
    uint32_t offset;
    uint32_t size;
    uint16_t refcount;
};

struct mdbox_priv {
    int storagefd;
    int filefd;
    uint32_t file_id;     /* current m.N, 0 = none open */
    uint64_t file_size;
    struct map_ent *map;  /* index = map uid - 1 */
    size_t nmap, map_cap;
    struct mf_blobset *copies;  /* identity key -> map uid (in loc.frame) */
    uint32_t map_uidvalidity;
    struct mf_buf buf;
};

static int md_sink(void *ctx, const void *p, size_t n, struct mf_error *err)
{
    struct mdbox_priv *m = ctx;
    if (m->buf.len + n > 256 * 1024 && m->buf.len > 0) {
        if (mf_write_all(m->filefd, m->buf.p, m->buf.len, "m file", err) < 0)
            return -1;
        mf_buf_reset(&m->buf);
    }
    if (n >= 256 * 1024)
        return mf_write_all(m->filefd, p, n, "m file", err);
    return mf_buf_append(&m->buf, p, n) < 0 ? mf_err_nomem(err) : 0;
}

static void md_free(struct mf_dbox *d)
{
    struct mdbox_priv *m = d->priv;
    if (m == NULL)
        return;
    if (m->storagefd >= 0)
        close(m->storagefd);
    if (m->filefd >= 0)
        close(m->filefd);
    mf_free(m->map);
    mf_blobset_free(&m->copies);
    mf_buf_free(&m->buf);
    mf_free(m);
    d->priv = NULL;
}

static int md_user_begin(struct mf_dbox *d, struct mf_error *err)
{
    struct mdbox_priv *m = mf_calloc(1, sizeof *m);
    if (m == NULL)
        return mf_err_nomem(err);
    m->storagefd = m->filefd = -1;
    mf_buf_init(&m->buf);
    d->priv = m;
    m->copies = mf_blobset_new();
    if (m->copies == NULL)
        return mf_err_nomem(err);
    m->map_uidvalidity = (uint32_t)d->o.now != 0 ? (uint32_t)d->o.now : 1;
    return mf_dbox_mkdirs(d, d->rootfd, "storage", &m->storagefd, err);
}

static int md_mailbox_begin(struct mf_dbox *d, const struct mf_dbox_mailbox *mb,
                            struct mf_error *err)
{
    return mf_dbox_begin_mailbox_dir(d, mb, err);
}

static int close_file(struct mdbox_priv *m, struct mf_error *err)
{
    int r = 0;
    if (m->filefd < 0)
        return 0;
    if (m->buf.len > 0)
        r = mf_write_all(m->filefd, m->buf.p, m->buf.len, "m file", err);
    mf_buf_reset(&m->buf);
    if (close(m->filefd) < 0 && r == 0)
        r = mf_err_sys(err, MF_EIO, errno, "close m.%u", m->file_id);
    m->filefd = -1;
    return r;
}

static void identity_key(const struct mf_dbox_msg *msg, uint8_t out[MF_HASH_BYTES])
{
    struct mf_hasher h;
    struct mf_buf b;
    mf_buf_init(&b);
    mf_buf_append(&b, msg->hash, MF_HASH_BYTES);
    mf_buf_sv(&b, msg->received);
    mf_buf_uv(&b, msg->pop3_order);
    mf_buf_uv(&b, msg->vsize);
    mf_buf_str(&b, msg->guid, msg->guid_len);
    mf_buf_str(&b, msg->uidl, msg->uidl_len);
    mf_hash_init(&h, MF_HK_STATE);
    mf_hash_update(&h, b.p, b.len);
    mf_hash_final(&h, out);
    mf_buf_free(&b);
}

static int md_message(struct mf_dbox *d, const struct mf_dbox_msg *msg, struct mf_error *err)
{
    struct mdbox_priv *m = d->priv;
    struct mf_dbox_rec *rec;
    struct mf_dbox_meta meta;
    struct mf_blobloc loc;
    uint8_t key[MF_HASH_BYTES];
    uint64_t start;
    size_t metalen;
    identity_key(msg, key);
    if (mf_dbox_add_rec(d, msg, &rec, err) < 0)
        return -1;
    mf_guid128(msg->guid, msg->guid_len, rec->guid128);
    if (mf_blobset_get(m->copies, key, &loc) && m->map[loc.frame - 1].refcount < 0xffff) {
        /* the same message again in another mailbox: one more reference */
        rec->map_uid = loc.frame;
        m->map[loc.frame - 1].refcount++;
        return 0;
    }
    memset(&meta, 0, sizeof meta);
    meta.received = msg->received;
    meta.vsize = msg->vsize;
    meta.uidl = msg->uidl;
    meta.uidl_len = msg->uidl_len;
    meta.pop3_order = msg->pop3_order;
    meta.guid = msg->guid;
    meta.guid_len = msg->guid_len;
    meta.mailbox = d->mb.storage;
    meta.mailbox_len = strlen(d->mb.storage);
    metalen = 4 + 64 + msg->uidl_len + msg->guid_len + meta.mailbox_len;
    if (m->filefd >= 0 &&
        m->file_size + MF_DBOX_MSG_HDR + msg->size + metalen > d->o.rotate_size &&
        close_file(m, err) < 0)
        return -1;
    if (m->filefd < 0) {
        char name[32];
        if (m->file_id == UINT32_MAX)
            return mf_err(err, MF_ETARGET, "too many mdbox files");
        m->file_id++;
        snprintf(name, sizeof name, "m.%u", m->file_id);
        m->filefd = mf_dbox_create(d, m->storagefd, name, err);
        if (m->filefd < 0)
            return -1;
        mf_dbox_file_header(&m->buf, d->o.now);
        m->file_size = m->buf.len;
    }
    start = m->file_size;
    mf_dbox_msg_header(&m->buf, msg->size);
    if (mf_reader_emit(msg->reader, msg->refs, msg->nrefs, msg->size, msg->hash, md_sink, m,
                       err) < 0)
        return -1;
    {
        size_t mark = m->buf.len;
        mf_dbox_metadata(&m->buf, &meta);
        metalen = m->buf.len - mark;
    }
    if (m->buf.oom)
        return mf_err_nomem(err);
    m->file_size = start + MF_DBOX_MSG_HDR + msg->size + metalen;
    if (m->file_size > UINT32_MAX)
        return mf_err(err, MF_ETARGET, "mdbox file larger than 4 GiB");
    if (m->nmap == m->map_cap) {
        size_t nc = m->map_cap == 0 ? 256 : m->map_cap * 2;
        struct map_ent *nm = mf_realloc(m->map, nc * sizeof *nm);
        if (nm == NULL)
            return mf_err_nomem(err);
        m->map = nm;
        m->map_cap = nc;
    }
    m->map[m->nmap].file_id = m->file_id;
    m->map[m->nmap].offset = (uint32_t)start;
    m->map[m->nmap].size = (uint32_t)(m->file_size - start);
    m->map[m->nmap].refcount = 1;
    m->nmap++;
    rec->map_uid = (uint32_t)m->nmap;
    loc.frame = rec->map_uid;
    loc.offset = 0;
    loc.len = 0;
    if (mf_blobset_put(m->copies, key, &loc) < 0)
        return mf_err_nomem(err);
    d->bytes += MF_DBOX_MSG_HDR + msg->size + metalen;
    return 0;
}

static int md_mailbox_end(struct mf_dbox *d, struct mf_error *err)
{
    struct mdbox_priv *m = d->priv;
    struct mf_log log;
    uint8_t hdr[24];
    uint32_t now32 = (uint32_t)d->o.now;
    int r;
    mf_log_init(&log);
    mf_log_header(&log, now32 != 0 ? now32 : 1, 1, now32, 1);
    mf_log_hdr_u32(&log, MF_HDR_UID_VALIDITY, d->mb.uidvalidity);
    memset(hdr, 0, sizeof hdr);
    mf_store_u32le(hdr, m->map_uidvalidity);
    memcpy(hdr + 4, d->mb.guid, 16);
    hdr[20] = (uint8_t)((d->have_uidl ? 0x01 : 0) | (d->have_order ? 0x02 : 0));
    mf_log_ext_intro(&log, "mdbox-hdr", 0, 24, 0, 0);
    mf_log_ext_hdr(&log, 0, hdr, 24);
    mf_dbox_log_messages(d, &log);
    if (d->nrecs > 0) {
        mf_log_ext_intro(&log, "mdbox", 0, 0, 8, 4);
        mf_log_begin(&log, MF_LOG_EXT_REC_UPDATE);
        for (size_t i = 0; i < d->nrecs; i++) {
            mf_buf_u32le(&log.b, d->recs[i].uid);
            mf_buf_u32le(&log.b, d->recs[i].map_uid);
            mf_buf_u32le(&log.b, d->recs[i].saved);
        }
        mf_log_end(&log);
        mf_log_ext_intro(&log, "guid", 0, 0, 16, 1);
        mf_log_begin(&log, MF_LOG_EXT_REC_UPDATE);
        for (size_t i = 0; i < d->nrecs; i++) {
            mf_buf_u32le(&log.b, d->recs[i].uid);
            mf_buf_append(&log.b, d->recs[i].guid128, 16);
        }
        mf_log_end(&log);
    }
    mf_dbox_log_finish(d, &log);
    r = log.b.oom ? mf_err_nomem(err)
                  : mf_dbox_write_file(d, d->boxfd, "dovecot.index.log", log.b.p, log.b.len, err);
    mf_log_free(&log);
    mf_dbox_end_mailbox_state(d);
    return r;
}

static int md_user_end(struct mf_dbox *d, struct mf_error *err)
{
    struct mdbox_priv *m = d->priv;
    struct mf_log log;
    uint8_t hdr[8];
    uint32_t now32 = (uint32_t)d->o.now;
    int r;
    if (close_file(m, err) < 0)
        return -1;
    mf_log_init(&log);
    mf_log_header(&log, now32 != 0 ? now32 : 1, 1, now32, 1);
    mf_log_hdr_u32(&log, MF_HDR_UID_VALIDITY, m->map_uidvalidity);
    mf_log_ext_intro(&log, "map", 0, 8, 12, 4);
    mf_store_u32le(hdr, m->file_id);
    mf_store_u32le(hdr + 4, 0);
    mf_log_ext_hdr(&log, 0, hdr, 8);
    mf_log_ext_intro(&log, "ref", 0, 0, 2, 2);
    if (m->nmap > 0) {
        mf_log_begin(&log, MF_LOG_APPEND);
        for (size_t i = 0; i < m->nmap; i++) {
            mf_buf_u32le(&log.b, (uint32_t)(i + 1));
            mf_buf_u32le(&log.b, 0);
        }
        mf_log_end(&log);
        mf_log_ext_intro(&log, "map", 0, 8, 12, 4);
        mf_log_begin(&log, MF_LOG_EXT_REC_UPDATE);
        for (size_t i = 0; i < m->nmap; i++) {
            mf_buf_u32le(&log.b, (uint32_t)(i + 1));
            mf_buf_u32le(&log.b, m->map[i].file_id);
            mf_buf_u32le(&log.b, m->map[i].offset);
            mf_buf_u32le(&log.b, m->map[i].size);
        }
        mf_log_end(&log);
        mf_log_ext_intro(&log, "ref", 0, 0, 2, 2);
        mf_log_begin(&log, MF_LOG_EXT_REC_UPDATE);
        for (size_t i = 0; i < m->nmap; i++) {
            mf_buf_u32le(&log.b, (uint32_t)(i + 1));
            mf_buf_u16le(&log.b, m->map[i].refcount);
            mf_buf_u16le(&log.b, 0);
        }
        mf_log_end(&log);
    }
    mf_log_tail(&log);
    r = log.b.oom ? mf_err_nomem(err)
                  : mf_dbox_write_file(d, m->storagefd, "dovecot.map.index.log", log.b.p,
                                       log.b.len, err);
    mf_log_free(&log);
    return r;
}

const struct mf_dbox_layout mf_mdbox_layout = {
    "mdbox", md_user_begin, md_mailbox_begin, md_message, md_mailbox_end, md_user_end, md_free,
};
