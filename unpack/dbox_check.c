/* dbox_check.c: a dbox store compared with an archive chain's state. The
 * store is only read: its index state (dovecot.index + logs, as Dovecot
 * would compute it), the dbox metadata of each message, the sdbox save-date
 * cache, and the message bytes. UIDs the target gave other values (the
 * uidmap lines of its state file) are followed. */
#include "dbox_check.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../dvindex/index_cache.h"
#include "../format/fsutil.h"
#include "../format/hash.h"
#include "../format/mem.h"
#include "dbox_read.h"
#include "sha1.h"
#include "target.h"

struct uidmap {
    uint8_t guid[16];
    uint32_t src, dst;
};

struct check {
    const char *user;
    mf_check_fn report;
    void *ctx;
    struct mf_check_counts *counts;
    struct uidmap *map;
    size_t nmap;
};

static void diff(struct check *c, const char *mailbox, uint32_t uid, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void diff(struct check *c, const char *mailbox, uint32_t uid, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->counts->differences++;
    if (c->report != NULL)
        c->report(c->ctx, c->user, mailbox, uid, msg);
}

static uint32_t mapped(const struct check *c, const uint8_t guid[16], uint32_t uid)
{
    for (size_t i = c->nmap; i-- > 0;)
        if (c->map[i].src == uid && memcmp(c->map[i].guid, guid, 16) == 0)
            return c->map[i].dst;
    return uid;
}

/* The state file's format and UID map. */
static int read_state(struct check *c, int rootfd, int *mdbox, struct mf_error *err)
{
    uint8_t *data;
    size_t len;
    int fd = openat(rootfd, MF_STATE_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    *mdbox = fstatat(rootfd, "storage", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
    if (fd < 0)
        return 0;
    if (mf_read_fd(fd, MF_STATE_FILE, 1u << 24, &data, &len, err) < 0) {
        close(fd);
        return -1;
    }
    close(fd);
    for (size_t off = 0; off < len;) {
        const char *l = (const char *)data + off, *nl = memchr(l, '\n', len - off);
        size_t n = nl != NULL ? (size_t)(nl - l) : len - off;
        char line[200], g[33];
        unsigned long src, dst;
        off += n + 1;
        if (n >= sizeof line)
            continue;
        memcpy(line, l, n);
        line[n] = 0;
        if (strcmp(line, "format mdbox") == 0)
            *mdbox = 1;
        else if (strcmp(line, "format sdbox") == 0)
            *mdbox = 0;
        else if (sscanf(line, "uidmap %32s %lu %lu", g, &src, &dst) == 3) {
            struct uidmap *nv = mf_realloc(c->map, (c->nmap + 1) * sizeof *nv);
            if (nv == NULL) {
                mf_free(data);
                return mf_err_nomem(err);
            }
            c->map = nv;
            if (mf_unhex(nv[c->nmap].guid, 16, g, strlen(g)) == 0) {
                nv[c->nmap].src = (uint32_t)src;
                nv[c->nmap].dst = (uint32_t)dst;
                c->nmap++;
            }
        }
    }
    mf_free(data);
    return 0;
}

static int has_kw(const struct mf_ix *ix, size_t i, const char *name)
{
    for (size_t k = 0; k < ix->nkw; k++)
        if (strcmp(ix->kw[k], name) == 0)
            return mf_ix_has_kw(ix, i, k);
    return 0;
}

static int archive_has_kw(const struct mf_base_mailbox *mb, const struct mf_base_msg *m,
                          const char *name)
{
    for (uint32_t k = 0; k < m->nkw; k++)
        if (strcmp(mb->kw[m->kw[k]], name) == 0)
            return 1;
    return 0;
}

/* One difference per keyword, named, either way. */
static void check_keywords(struct check *c, const struct mf_base_mailbox *mb, const char *name,
                           const struct mf_base_msg *m, const struct mf_ix *ix, size_t i)
{
    for (uint32_t k = 0; k < m->nkw; k++)
        if (!has_kw(ix, i, mb->kw[m->kw[k]]))
            diff(c, name, m->uid, "keyword %s missing on the target", mb->kw[m->kw[k]]);
    for (size_t k = 0; k < ix->nkw; k++)
        if (mf_ix_has_kw(ix, i, k) && !archive_has_kw(mb, m, ix->kw[k]))
            diff(c, name, m->uid, "keyword %s on the target only", ix->kw[k]);
}

/* System flags by name ("\Seen \Flagged", or "none"). */
static const char *flag_names(unsigned flags, char *buf, size_t cap)
{
    static const char *const names[] = {"\\Answered", "\\Flagged", "\\Deleted", "\\Seen",
                                        "\\Draft"};
    size_t n = 0;
    buf[0] = '\0';
    for (unsigned b = 0; b < 5; b++)
        if (flags & (1u << b))
            n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s%s", n ? " " : "",
                                  names[b]);
    return n ? buf : "none";
}

/* Every byte, blob by blob, against the blob ids. */
static int check_content(struct check *c, const char *name, const struct mf_base_msg *m,
                         const struct mf_tmsg *tm, uint8_t *buf, struct mf_error *err)
{
    uint64_t off = 0;
    for (uint32_t k = 0; k < m->nblobs; k++) {
        uint8_t id[MF_HASH_BYTES];
        if (m->blobs[k].len > MF_BLOB_MAX || off + m->blobs[k].len > tm->size)
            break;
        if (mf_tmsg_read(tm, off, buf, m->blobs[k].len, err) < 0)
            return -1;
        mf_hash(MF_HK_BLOB, id, buf, m->blobs[k].len);
        if (memcmp(id, m->blobs[k].id, MF_HASH_BYTES) != 0) {
            diff(c, name, m->uid, "content differs at byte %" PRIu64, off);
            return 0;
        }
        off += m->blobs[k].len;
    }
    return 0;
}

static int check_mailbox(struct check *c, struct mf_tstore *ts, const struct mf_base_mailbox *mb,
                         int quick, uint8_t *buf, struct mf_error *err)
{
    struct mf_tbox *b = mf_tstore_find(ts, mb->guid);
    const struct mf_ix *ix;
    const struct mf_ix_ext *mdx;
    struct mf_ixc cache;
    long save_field = -1;
    uint8_t *seen = NULL;
    int r = -1;
    const char *name = mb->stored[0] != '\0' ? mb->stored : "INBOX";
    c->counts->mailboxes++;
    if (b == NULL) {
        diff(c, name, 0, "mailbox missing on the target");
        return 0;
    }
    if ((ix = mf_tbox_state(ts, b, 1, err)) == NULL)
        return -1;
    if (mf_ix_uid_validity(ix) != mb->uidvalidity)
        diff(c, name, 0, "UIDVALIDITY %u, the archive has %u", mf_ix_uid_validity(ix),
             mb->uidvalidity);
    if (mf_ix_next_uid(ix) < mb->uidnext)
        diff(c, name, 0, "UIDNEXT %u, below the archive's %u", mf_ix_next_uid(ix),
             mb->uidnext);
    memset(&cache, 0, sizeof cache);
    cache.fd = -1;
    if (!ts->mdbox) {
        int dfd = mf_open_dir_below(ts->rootfd, b->rel);
        if (dfd >= 0) {
            if (mf_ixc_open(&cache, dfd, "dovecot.index.cache", ix, err) < 0) {
                close(dfd);
                return -1;
            }
            save_field = mf_ixc_field(&cache, "date.save");
            close(dfd);
        }
    }
    mdx = mf_ix_ext_get(ix, "mdbox");
    seen = mf_calloc(ix->n + 1, 1);
    if (seen == NULL) {
        mf_err_nomem(err);
        goto out;
    }
    for (size_t k = 0; k < mb->n; k++) {
        const struct mf_base_msg *m = &mb->msgs[k];
        uint32_t uid = mapped(c, mb->guid, m->uid);
        long i = mf_ix_find(ix, uid);
        struct mf_tmsg tm;
        int64_t saved = -1;
        int got;
        c->counts->messages++;
        if (i < 0) {
            diff(c, name, m->uid, "message missing on the target");
            continue;
        }
        seen[i] = 1;
        if ((ix->msgs[i].flags & 0x1f) != m->flags) {
            char a[64], t[64];
            diff(c, name, m->uid, "flags %s on the target, %s in the archive",
                 flag_names(ix->msgs[i].flags & 0x1f, t, sizeof t),
                 flag_names(m->flags, a, sizeof a));
        }
        check_keywords(c, mb, name, m, ix, (size_t)i);
        got = mf_tmsg_open(ts, b, uid, &tm, err);
        if (got < 0)
            goto out;
        if (got == 0) {
            diff(c, name, m->uid, "its mail file is missing");
            continue;
        }
        if (strcmp(tm.guid, m->guid) != 0)
            diff(c, name, m->uid, "GUID %s, the archive has %s", tm.guid, m->guid);
        if (tm.received != m->received)
            diff(c, name, m->uid, "received date %lld, the archive has %lld",
                 (long long)tm.received, (long long)m->received);
        if (tm.size != m->size)
            diff(c, name, m->uid, "size %" PRIu64 ", the archive has %" PRIu64, tm.size,
                 m->size);
        if (tm.vsize != m->vsize)
            diff(c, name, m->uid, "virtual size %" PRIu64 ", the archive has %" PRIu64,
                 tm.vsize, m->vsize);
        if (strcmp(tm.uidl, m->uidl) != 0 || tm.pop3_order != m->pop3_order)
            diff(c, name, m->uid, "POP3 UIDL/order %s/%u, the archive has %s/%u", tm.uidl,
                 tm.pop3_order, m->uidl, m->pop3_order);
        if (ts->mdbox && mdx != NULL && mdx->rec_size >= 8)
            saved = mf_load_u32le(mf_ix_rec(mdx, (size_t)i) + 4);
        else if (save_field >= 0) {
            uint8_t v[4];
            if (mf_ixc_lookup(&cache, (size_t)i, save_field, v, sizeof v) == 1)
                saved = mf_load_u32le(v);
        }
        if (saved < 0) {
            struct stat st;
            if (fstat(tm.fd, &st) == 0)
                saved = (int64_t)st.st_ctime;   /* what Dovecot reports without a cached date */
        }
        if (m->saved > 0 && saved != m->saved)
            diff(c, name, m->uid, "save date %lld, the archive has %lld",
                 (long long)saved, (long long)m->saved);
        if (!quick && tm.size == m->size && check_content(c, name, m, &tm, buf, err) < 0) {
            mf_tmsg_close(&tm);
            goto out;
        }
        mf_tmsg_close(&tm);
    }
    for (size_t i = 0; i < ix->n; i++)
        if (!seen[i]) {
            c->counts->extra++;
            diff(c, name, ix->msgs[i].uid, "on the target only (UID %u)", ix->msgs[i].uid);
        }
    r = 0;
out:
    mf_free(seen);
    mf_ixc_close(&cache);
    return r;
}

int mf_check_user(const struct mf_base_user *u, const char *root, int quick, mf_check_fn report,
                  void *ctx, struct mf_check_counts *counts, struct mf_error *err)
{
    struct check c;
    struct mf_tstore ts;
    uint8_t *buf = NULL;
    int rootfd, mdbox, r = -1;
    memset(&c, 0, sizeof c);
    c.user = u->name;
    c.report = report;
    c.ctx = ctx;
    c.counts = counts;
    rootfd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (rootfd < 0) {
        if (errno != ENOENT)
            return mf_err_sys(err, MF_EIO, errno, "%s", root);
        diff(&c, "", 0, "no store at %s", root);
        return 0;
    }
    if (read_state(&c, rootfd, &mdbox, err) < 0 || mf_tstore_open(&ts, rootfd, mdbox, err) < 0) {
        close(rootfd);
        mf_free(c.map);
        return -1;
    }
    buf = mf_malloc(MF_BLOB_MAX);
    if (buf == NULL) {
        mf_err_nomem(err);
        goto out;
    }
    for (size_t i = 0; i < u->nmb; i++)
        if (check_mailbox(&c, &ts, &u->mb[i], quick, buf, err) < 0)
            goto out;
    for (size_t i = 0; i < ts.n; i++) {
        int expected = 0;
        if (ts.v[i].rel[0] == '\0')
            continue;
        for (size_t k = 0; k < u->nmb && !expected; k++)
            expected = memcmp(u->mb[k].guid, ts.v[i].guid, 16) == 0;
        if (!expected) {
            counts->extra++;
            diff(&c, ts.v[i].storage, 0, "mailbox on the target only");
        }
    }
    r = 0;
out:
    mf_free(buf);
    mf_tstore_close(&ts);
    close(rootfd);
    mf_free(c.map);
    return r;
}
