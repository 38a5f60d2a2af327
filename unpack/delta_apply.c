/* delta_apply.c: one user's delta against the store on the target.
 *
 * Order of work (all additions before any removal, so that content a new
 * message shares with a moved or removed one can still be read):
 *   per mailbox, as its records arrive: find it by GUID, move it if the
 *     source renamed it, create it if new, park the old one if reset; write
 *     the new messages under temporary names; at MAILBOX_END commit them
 *     with the flag changes in one transaction;
 *   at the user's end: expunges, removed mailboxes, the old halves of reset
 *     mailboxes, the list index refresh, subscriptions, Sieve scripts, and
 *     last the state file naming the delta.
 * The state file says "applying <delta>" meanwhile; a rerun repeats every
 * step: additions already there are recognized by GUID (under whatever UID
 * they got) before their content is read, expunges and removals of what is
 * gone are no-ops, flag merges are idempotent, and what a killed run left
 * that nothing refers to is removed. */
#include "delta_apply.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../format/fsutil.h"
#include "../format/hash.h"
#include "../format/mem.h"
#include "dbox_append.h"
#include "dbox_read.h"
#include "mailbox_names.h"
#include "sieve_files.h"
#include "sha1.h"

#define LOCK_TIMEOUT 60
/* Dovecot's subscriptions dotlock (subscription-file.c): waited for up to
 * 120 s, taken over as stale when it has not changed for 30 s. The lock
 * file holds the new list, not a process id, so its age is all there is to
 * go by; a lock left by a killed run is stale after 30 s, within the wait. */
#define SUBS_LOCK_WAIT 120
#define SUBS_LOCK_STALE 30

struct uidmap_ent {
    uint8_t guid[16];
    uint32_t src, dst;
};

struct parked {
    uint8_t guid[16];
    char *storage;         /* where it was */
    int reset_old;         /* the old half of a reset mailbox: removed at the end */
    uint32_t base_uidnext; /* reset_old: messages from here on came from the target */
};

struct pend_exp {
    uint8_t guid[16];
    struct mf_uid_range *r;
    uint32_t n;
};

/* A message of the target's mailbox by GUID (a resumed delta). */
struct had_ent {
    uint8_t guid[16];
    uint32_t uid;
};

struct sieve_new {
    char *name;
    uint8_t *data;
    size_t len;
    int active;
};

struct mf_apply {
    struct mf_apply_ctx c;
    char *user;
    struct mf_owner own;
    struct mf_target t;
    int rootfd;
    struct mf_tstore ts;
    struct mf_append_opts ao;
    char *state_text;
    struct uidmap_ent *map;
    size_t nmap;
    int dirty_tree;
    /* the current mailbox */
    int in_mb, skip_mb;
    uint8_t guid[16];
    uint32_t uidvalidity, uidnext, mb_flags;
    char *stored;
    char **kw;
    uint32_t nkw;
    struct mf_buf storage, display;
    uint8_t kind;
    uint32_t base_uidnext;
    struct mf_batch batch;
    struct mf_rec_mailbox_delta md;
    char *base_stored;
    /* deferred to the end */
    struct pend_exp *exp;
    size_t nexp;
    uint8_t (*gone)[16];
    size_t ngone;
    struct parked *parked;
    size_t nparked;
    struct mf_buf subs;            /* the source's new subscription list, if it changed */
    int have_subs;
    struct sieve_new *sieve;
    size_t nsieve;
    /* the message last read for chain references */
    struct mf_tmsg cm;
    uint8_t cm_guid[16];
    uint32_t cm_uid;
    /* counts for notes */
    uint64_t added, remapped, flag_changes, expunged;
    /* merge mode: the current target mailbox's message GUIDs (128-bit), sorted */
    int merge;
    uint8_t (*have)[16];
    size_t nhave;
    uint64_t already;
    /* a resumed delta: the current mailbox's messages that a killed run may
     * have added (sorted by GUID), and whether the UID map grew */
    struct had_ent *had;
    size_t nhad;
    int map_dirty;
};

static void note(struct mf_apply *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct mf_apply *a, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    if (a->c.note == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    a->c.note(a->c.note_ctx, a->user, msg);
}

static void guid_hex(char out[33], const uint8_t g[16])
{
    mf_hex(out, g, 16);
}

/* ---- the state file ---- */

static const char *state_line(const char *text, const char *key, size_t *len)
{
    size_t kl = strlen(key);
    for (const char *p = text; p != NULL && *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);
        if (n > kl && memcmp(p, key, kl) == 0 && p[kl] == ' ') {
            *len = n - kl - 1;
            return p + kl + 1;
        }
        p = nl != NULL ? nl + 1 : NULL;
    }
    return NULL;
}

void mf_state_info(const char *text, struct mf_target_state_info *si)
{
    const char *v;
    size_t n;
    memset(si, 0, sizeof *si);
    if (text == NULL)
        return;
    if ((v = state_line(text, "archive", &n)) != NULL && n >= 32)
        memcpy(si->archive, v, 32);
    if ((v = state_line(text, "manifest", &n)) != NULL && n >= 64)
        memcpy(si->manifest, v, 64);
    if ((v = state_line(text, "applying", &n)) != NULL && n >= 32)
        memcpy(si->applying, v, 32);
    if ((v = state_line(text, "format", &n)) != NULL && n < sizeof si->format)
        memcpy(si->format, v, n);
    if ((v = state_line(text, "partial", &n)) != NULL && n < sizeof si->partial)
        memcpy(si->partial, v, n);
    if ((v = state_line(text, "user", &n)) != NULL && n < sizeof si->user)
        memcpy(si->user, v, n);
}

static int load_uidmap(struct mf_apply *a, struct mf_error *err)
{
    for (const char *p = a->state_text; p != NULL && *p != '\0';) {
        const char *nl = strchr(p, '\n');
        char g[33];
        unsigned long src, dst;
        if (sscanf(p, "uidmap %32s %lu %lu", g, &src, &dst) == 3 && strlen(g) == 32) {
            struct uidmap_ent *nv = mf_realloc(a->map, (a->nmap + 1) * sizeof *nv);
            if (nv == NULL)
                return mf_err_nomem(err);
            a->map = nv;
            if (mf_unhex(nv[a->nmap].guid, 16, g, 32) == 0) {
                nv[a->nmap].src = (uint32_t)src;
                nv[a->nmap].dst = (uint32_t)dst;
                a->nmap++;
            }
        }
        p = nl != NULL ? nl + 1 : NULL;
    }
    return 0;
}

static uint32_t map_uid(const struct mf_apply *a, const uint8_t guid[16], uint32_t src)
{
    for (size_t i = a->nmap; i-- > 0;)
        if (a->map[i].src == src && memcmp(a->map[i].guid, guid, 16) == 0)
            return a->map[i].dst;
    return src;
}

/* Writes the state file: the lines of the old one that describe the store,
 * then either "applying" (during) or the delta as the archive (at the end),
 * and the UID map. */
static int write_state(struct mf_apply *a, int done, struct mf_error *err)
{
    const struct mf_manifest *m = mf_reader_manifest(a->c.r);
    struct mf_buf b;
    char id[33], mh[65], g[33];
    const char *keep[] = {"format", "user"};
    int fd, r = 0;
    mf_hex(id, m->archive_id, sizeof m->archive_id);
    mf_hex(mh, mf_reader_manifest_hash(a->c.r), MF_HASH_BYTES);
    mf_buf_init(&b);
    mf_buf_puts(&b, "mailferry-state 1\n");
    if (done) {
        mf_buf_printf(&b, "archive %s\nmanifest %s\nchain %" PRIu64 "\nkind %s\n", id, mh,
                      m->chain, mf_kind_name(m->kind));
    } else {
        const char *lines[] = {"archive", "manifest", "chain", "kind"};
        for (size_t i = 0; i < 4; i++) {
            size_t n;
            const char *v = state_line(a->state_text, lines[i], &n);
            if (v != NULL)
                mf_buf_printf(&b, "%s %.*s\n", lines[i], (int)n, v);
        }
        mf_buf_printf(&b, "applying %s %s\n", id, mh);
    }
    for (size_t i = 0; i < 2; i++) {
        size_t n;
        const char *v = state_line(a->state_text, keep[i], &n);
        if (v != NULL)
            mf_buf_printf(&b, "%s %.*s\n", keep[i], (int)n, v);
        else if (i == 0)
            mf_buf_printf(&b, "format %s\n", a->ts.mdbox ? "mdbox" : "sdbox");
        else
            mf_buf_printf(&b, "user %s\n", a->user);
    }
    mf_buf_printf(&b, "applied %lld\n", (long long)time(NULL));
    for (size_t i = 0; i < a->nmap; i++) {
        guid_hex(g, a->map[i].guid);
        mf_buf_printf(&b, "uidmap %s %u %u\n", g, a->map[i].src, a->map[i].dst);
    }
    if (b.oom) {
        mf_buf_free(&b);
        return mf_err_nomem(err);
    }
    unlinkat(a->rootfd, MF_STATE_FILE ".tmp", 0);
    fd = openat(a->rootfd, MF_STATE_FILE ".tmp", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                a->own.file_mode);
    if (fd < 0) {
        mf_buf_free(&b);
        return mf_err_sys(err, MF_EIO, errno, "%s/%s", a->t.path, MF_STATE_FILE);
    }
    if ((a->own.set && fchown(fd, a->own.uid, a->own.gid) < 0) ||
        mf_write_all(fd, b.p, b.len, MF_STATE_FILE, err) < 0 ||
        (!a->ao.nosync && fsync(fd) < 0)) {
        if (err->cls == MF_OK)
            mf_err_sys(err, MF_EIO, errno, "%s", MF_STATE_FILE);
        r = -1;
    }
    close(fd);
    if (r == 0 && renameat(a->rootfd, MF_STATE_FILE ".tmp", a->rootfd, MF_STATE_FILE) < 0)
        r = mf_err_sys(err, MF_EIO, errno, "rename %s", MF_STATE_FILE);
    if (r == 0 && !a->ao.nosync && fsync(a->rootfd) < 0)
        r = mf_err_sys(err, MF_EIO, errno, "sync %s", a->t.path);
    if (r == 0) {
        mf_free(a->state_text);
        a->state_text = mf_strndup((const char *)b.p, b.len);
        if (a->state_text == NULL)
            r = mf_err_nomem(err);
    }
    mf_buf_free(&b);
    return r;
}

/* ---- reading content of the chain from the store ---- */

static struct parked *parked_reset(struct mf_apply *a, const uint8_t guid[16])
{
    for (size_t i = 0; i < a->nparked; i++)
        if (a->parked[i].reset_old && memcmp(a->parked[i].guid, guid, 16) == 0)
            return &a->parked[i];
    return NULL;
}

static struct mf_tbox *find_storage(struct mf_apply *a, const char *rel)
{
    for (size_t i = 0; i < a->ts.n; i++)
        if (a->ts.v[i].rel != NULL && a->ts.v[i].rel[0] != '\0' && strcmp(a->ts.v[i].rel, rel) == 0)
            return &a->ts.v[i];
    return NULL;
}

static struct mf_tbox *parked_box(struct mf_apply *a, const struct parked *p)
{
    char rel[64], g[33];
    guid_hex(g, p->guid);
    snprintf(rel, sizeof rel, ".mailferry-%s.%s", p->reset_old ? "old" : "move", g);
    return find_storage(a, rel);
}

static int chain_read(void *ctx, const uint8_t guid[MF_GUID_BYTES], uint32_t uid, uint64_t offset,
                      uint8_t *buf, size_t len, struct mf_error *err)
{
    struct mf_apply *a = ctx;
    if (a->cm.fd < 0 || a->cm_uid != uid || memcmp(a->cm_guid, guid, 16) != 0) {
        struct parked *p = parked_reset(a, guid);
        struct mf_tbox *b = p != NULL ? parked_box(a, p) : mf_tstore_find(&a->ts, guid);
        char g[33];
        int k;
        mf_tmsg_close(&a->cm);
        guid_hex(g, guid);
        if (b == NULL)
            return mf_err(err, MF_ECHAIN, "the target has no mailbox %s any more, whose content "
                                          "a new message shares", g);
        k = mf_tmsg_open(&a->ts, b, p != NULL ? uid : map_uid(a, guid, uid), &a->cm, err);
        if (k < 0)
            return -1;
        if (k == 0)
            return mf_err(err, MF_ECHAIN, "the target no longer has message %u of mailbox %s "
                                          "(expunged there?), whose content a new message shares",
                          uid, b->storage);
        memcpy(a->cm_guid, guid, 16);
        a->cm_uid = uid;
    }
    return mf_tmsg_read(&a->cm, offset, buf, len, err);
}

/* ---- begin ---- */

/* Mailboxes a killed run was building aside (.mailferry-new.*) or had taken
 * out of mailboxes/ to remove (.mailferry-deleted.*): nothing refers to them
 * (a new mailbox is created again, a removed one was gone from mailboxes/
 * already). Only directories of these names of our own are removed, never
 * through a symbolic link. */
static void remove_leftovers(struct mf_apply *a)
{
    static const char *const prefixes[] = {".mailferry-new.", ".mailferry-deleted."};
    DIR *d = mf_opendir_at(a->rootfd);
    struct dirent *de;
    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        struct mf_error e;
        int ours = 0;
        for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
            ours |= strncmp(de->d_name, prefixes[i], strlen(prefixes[i])) == 0;
        if (!ours || fstatat(a->rootfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            !S_ISDIR(st.st_mode))
            continue;
        mf_err_clear(&e);
        if (mf_remove_tree_at(a->rootfd, de->d_name, &e) == 0)
            note(a, "removed %s, left by an interrupted run", de->d_name);
    }
    closedir(d);
}

int mf_apply_begin(struct mf_apply **a_r, const struct mf_apply_ctx *c, const char *user,
                   const struct mf_owner *own, struct mf_target *t, int resume, int merge,
                   struct mf_error *err)
{
    struct mf_apply *a = mf_calloc(1, sizeof *a);
    struct mf_target_state_info si;
    *a_r = NULL;
    if (a == NULL)
        return mf_err_nomem(err);
    a->c = *c;
    a->own = *own;
    a->t = *t;
    memset(t, 0, sizeof *t);
    t->parentfd = t->stagefd = -1;
    a->rootfd = -1;
    a->cm.fd = -1;
    mf_batch_init(&a->batch);
    mf_buf_init(&a->subs);
    mf_buf_init(&a->storage);
    mf_buf_init(&a->display);
    a->user = mf_strdup(user);
    a->state_text = a->t.state_text;
    a->t.state_text = NULL;
    *a_r = a;
    if (a->user == NULL)
        return mf_err_nomem(err);
    a->rootfd = openat(a->t.parentfd, a->t.leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (a->rootfd < 0)
        return mf_err_sys(err, MF_ETARGET, errno, "%s", a->t.path);
    remove_leftovers(a);
    mf_state_info(a->state_text, &si);
    a->ao.own = &a->own;
    a->ao.nosync = c->o->nosync;
    a->ao.lock_timeout = LOCK_TIMEOUT;
    a->ao.now = (int64_t)time(NULL);
    a->ao.resume = resume || merge;
    a->merge = merge;
    if (load_uidmap(a, err) < 0 ||
        mf_tstore_open(&a->ts, a->rootfd,
                       si.format[0] != '\0' ? strcmp(si.format, "mdbox") == 0
                                            : strcmp(c->o->layout->name, "mdbox") == 0,
                       err) < 0)
        return -1;
    if (!resume && write_state(a, 0, err) < 0)
        return -1;
    mf_reader_set_chain(c->r, chain_read, a);
    return 0;
}

/* ---- extras ---- */

static int buf_sink(void *ctx, const void *p, size_t n, struct mf_error *err)
{
    return mf_buf_append(ctx, p, n) < 0 ? mf_err_nomem(err) : 0;
}

int mf_apply_extra(struct mf_apply *a, const struct mf_rec_extra *x, struct mf_error *err)
{
    struct sieve_new *nv, *s;
    struct mf_str name = x->role == MF_EXTRA_SIEVE_ACTIVE ? x->target : x->path;
    struct mf_buf data;
    if (x->role == MF_EXTRA_SUBSCRIPTIONS) {
        mf_buf_reset(&a->subs);
        a->have_subs = 1;
        return mf_reader_emit(a->c.r, x->refs, x->nrefs, x->size, NULL, buf_sink, &a->subs, err);
    }
    if (a->c.o->no_sieve || x->role == MF_EXTRA_FILE)
        return 0;
    if (name.n == 0 || name.n > 255 || memchr(name.p, '/', name.n) != NULL ||
        mf_str_eq(name, ".") || mf_str_eq(name, "..") || !mf_utf8_printable(name.p, name.n)) {
        note(a, "Sieve script with an unusable name skipped");
        a->c.st->skipped++;
        return 0;
    }
    nv = mf_realloc(a->sieve, (a->nsieve + 1) * sizeof *nv);
    if (nv == NULL)
        return mf_err_nomem(err);
    a->sieve = nv;
    s = &nv[a->nsieve];
    memset(s, 0, sizeof *s);
    s->active = x->role == MF_EXTRA_SIEVE_ACTIVE;
    if ((s->name = mf_strndup(name.p, name.n)) == NULL)
        return mf_err_nomem(err);
    a->nsieve++;
    if (!s->active) {
        mf_buf_init(&data);
        if (mf_reader_emit(a->c.r, x->refs, x->nrefs, x->size, NULL, buf_sink, &data, err) < 0) {
            mf_buf_free(&data);
            return -1;
        }
        s->data = mf_buf_steal(&data, &s->len);
    }
    return 0;
}

/* ---- mailboxes ---- */

static void mailbox_clear(struct mf_apply *a)
{
    for (uint32_t i = 0; i < a->nkw; i++)
        mf_free(a->kw[i]);
    mf_free(a->kw);
    a->kw = NULL;
    a->nkw = 0;
    mf_free(a->stored);
    mf_free(a->base_stored);
    a->stored = a->base_stored = NULL;
    mf_free(a->had);
    a->had = NULL;
    a->nhad = 0;
    mf_batch_free(&a->batch);
    mf_batch_init(&a->batch);
    a->in_mb = a->skip_mb = 0;
}

static int cmp_guid16(const void *x, const void *y)
{
    return memcmp(x, y, 16);
}

static int place(struct mf_apply *a, struct mf_tbox **bp, struct mf_error *err);

/* Merge: the target mailbox of this GUID, else of this name, else a new
 * one; and the GUIDs of the messages it holds. */
static int merge_mailbox(struct mf_apply *a, struct mf_error *err)
{
    struct mf_tbox *b = mf_tstore_find(&a->ts, a->guid);
    const struct mf_ix *ix;
    const struct mf_ix_ext *g;
    a->nhave = 0;
    if (b == NULL)
        for (size_t i = 0; i < a->ts.n && b == NULL; i++)
            if (a->ts.v[i].rel[0] != '\0' &&
                strcmp(a->ts.v[i].storage, (const char *)a->storage.p) == 0)
                b = &a->ts.v[i];
    if (b != NULL)
        memcpy(a->guid, b->guid, 16);   /* the target's own mailbox, whatever its GUID */
    else if (place(a, &b, err) < 0)
        return mf_err_ctx(err, "user %s, mailbox %s", a->user, (const char *)a->display.p);
    a->batch.uidnext = a->uidnext;
    if ((ix = mf_tbox_state(&a->ts, b, 1, err)) == NULL)
        return -1;
    mf_free(a->have);
    a->have = mf_calloc(ix->n + 1, sizeof *a->have);
    if (a->have == NULL)
        return mf_err_nomem(err);
    g = mf_ix_ext_get(ix, "guid");
    for (size_t i = 0; i < ix->n; i++) {
        if (a->ts.mdbox && g != NULL && g->rec_size >= 16) {
            memcpy(a->have[a->nhave++], mf_ix_rec(g, i), 16);
        } else {
            struct mf_tmsg tm;
            int k = mf_tmsg_open(&a->ts, b, ix->msgs[i].uid, &tm, err);
            if (k < 0)
                return -1;
            if (k > 0) {
                mf_guid128(tm.guid, strlen(tm.guid), a->have[a->nhave++]);
                mf_tmsg_close(&tm);
            }
        }
    }
    if (a->nhave > 1)
        qsort(a->have, a->nhave, sizeof *a->have, cmp_guid16);
    return 0;
}

int mf_apply_mailbox(struct mf_apply *a, const struct mf_rec_mailbox *m, struct mf_error *err)
{
    int translated;
    mailbox_clear(a);
    a->in_mb = 1;
    memcpy(a->guid, m->guid, 16);
    a->uidvalidity = m->uidvalidity;
    a->uidnext = m->uidnext;
    a->mb_flags = m->flags;
    a->stored = mf_strndup(m->stored.p, m->stored.n);
    a->kw = mf_calloc(m->nkeywords ? m->nkeywords : 1, sizeof *a->kw);
    if (a->stored == NULL || a->kw == NULL)
        return mf_err_nomem(err);
    for (uint32_t i = 0; i < m->nkeywords; i++) {
        if ((a->kw[i] = mf_strndup(m->keywords[i].p, m->keywords[i].n)) == NULL)
            return mf_err_nomem(err);
        a->nkw = i + 1;
    }
    if (mf_storage_name(m, a->c.o->sep, a->c.o->utf8, &a->storage, &a->display, &translated,
                        err) < 0)
        return mf_err_ctx(err, "user %s", a->user);
    mf_buf_u8(&a->storage, 0);
    a->storage.len--;
    mf_buf_u8(&a->display, 0);
    a->display.len--;
    if (a->c.o->mailbox != NULL && strcmp(a->c.o->mailbox, (const char *)a->display.p) != 0)
        a->skip_mb = 1;
    if (!a->skip_mb)
        a->c.st->mailboxes++;
    return a->merge && !a->skip_mb ? merge_mailbox(a, err) : 0;
}

/* Moves whatever mailbox is at `storage` out of the way (it is renamed or
 * removed later in this delta, or put back at the end). */
static int clear_place(struct mf_apply *a, const char *storage, const uint8_t guid[16],
                       struct mf_error *err)
{
    for (size_t i = 0; i < a->ts.n; i++) {
        struct mf_tbox *b = &a->ts.v[i];
        char rel[64], g[33];
        struct parked *nv;
        if (b->storage == NULL || strcmp(b->storage, storage) != 0 ||
            memcmp(b->guid, guid, 16) == 0)
            continue;
        guid_hex(g, b->guid);
        snprintf(rel, sizeof rel, ".mailferry-move.%s", g);
        if (renameat(a->rootfd, b->rel, a->rootfd, rel) < 0)
            return mf_err_sys(err, MF_ETARGET, errno, "move %s aside", b->rel);
        nv = mf_realloc(a->parked, (a->nparked + 1) * sizeof *nv);
        if (nv == NULL)
            return mf_err_nomem(err);
        a->parked = nv;
        memset(&nv[a->nparked], 0, sizeof *nv);
        memcpy(nv[a->nparked].guid, b->guid, 16);
        nv[a->nparked].storage = b->storage;
        a->nparked++;
        mf_free(b->rel);
        b->rel = mf_strdup(rel);
        b->storage = mf_strdup("");
        if (b->rel == NULL || b->storage == NULL)
            return mf_err_nomem(err);
        a->dirty_tree = 1;
    }
    return 0;
}

static int place(struct mf_apply *a, struct mf_tbox **bp, struct mf_error *err)
{
    const char *storage = (const char *)a->storage.p;
    struct mf_tbox *b = *bp;
    uint8_t guid[16];
    if (b != NULL && strcmp(b->storage, storage) == 0)
        return 0;
    if (clear_place(a, storage, a->guid, err) < 0)
        return -1;
    memcpy(guid, a->guid, 16);
    if (b == NULL) {
        if (mf_box_create(&a->ts, storage, guid, a->uidvalidity, &a->ao, bp, err) < 0)
            return -1;
    } else {
        /* b may have moved in the array: find it again by GUID */
        b = mf_tstore_find(&a->ts, guid);
        if (b == NULL)
            return mf_err(err, MF_EINTERNAL, "mailbox lost");
        if (mf_box_move(&a->ts, b, storage, &a->ao, err) < 0)
            return -1;
        *bp = b;
    }
    a->dirty_tree = 1;
    return 0;
}

static int cmp_had(const void *x, const void *y)
{
    return memcmp(((const struct had_ent *)x)->guid, ((const struct had_ent *)y)->guid, 16);
}

/* A resumed delta: the GUIDs of mailbox b's messages from UID `from` on
 * (the messages the target got after the base: a killed run's additions
 * among them, under the source's UIDs or new ones). Looked up before a new
 * message's content is read, so that one added already is neither read
 * (its content may be shared with a message expunged since) nor added
 * again. */
static int resume_scan(struct mf_apply *a, struct mf_tbox *b, uint32_t from,
                       struct mf_error *err)
{
    const struct mf_ix *ix;
    const struct mf_ix_ext *g;
    uint8_t bguid[16];
    size_t n = 0;
    mf_free(a->had);
    a->had = NULL;
    a->nhad = 0;
    memcpy(bguid, b->guid, 16);
    if ((ix = mf_tbox_state(&a->ts, b, 1, err)) == NULL)
        return -1;
    for (size_t i = 0; i < ix->n; i++)
        n += ix->msgs[i].uid >= from;
    if (n == 0)
        return 0;
    a->had = mf_calloc(n, sizeof *a->had);
    if (a->had == NULL)
        return mf_err_nomem(err);
    g = mf_ix_ext_get(ix, "guid");
    for (size_t i = 0; i < ix->n && a->nhad < n; i++) {
        uint32_t uid = ix->msgs[i].uid;
        if (uid < from)
            continue;
        if (a->ts.mdbox && g != NULL && g->rec_size >= 16) {
            memcpy(a->had[a->nhad].guid, mf_ix_rec(g, i), 16);
            a->had[a->nhad++].uid = uid;
        } else {
            struct mf_tmsg tm;
            struct mf_tbox *cur = mf_tstore_find(&a->ts, bguid);
            int k = cur != NULL ? mf_tmsg_open(&a->ts, cur, uid, &tm, err) : 0;
            if (k < 0)
                return -1;
            if (k > 0) {
                mf_guid128(tm.guid, strlen(tm.guid), a->had[a->nhad].guid);
                a->had[a->nhad++].uid = uid;
                mf_tmsg_close(&tm);
            }
        }
    }
    if (a->nhad > 1)
        qsort(a->had, a->nhad, sizeof *a->had, cmp_had);
    return 0;
}

int mf_apply_mailbox_delta(struct mf_apply *a, const struct mf_rec_mailbox_delta *d,
                           struct mf_error *err)
{
    struct mf_tbox *b;
    int renamed_at_source;
    a->kind = d->kind;
    a->base_uidnext = d->base_uidnext;
    a->base_stored = mf_strndup(d->base_stored.p, d->base_stored.n);
    if (a->base_stored == NULL)
        return mf_err_nomem(err);
    if (a->skip_mb)
        return 0;
    renamed_at_source = d->kind != MF_DELTA_NEW && strcmp(a->base_stored, a->stored) != 0;
    b = mf_tstore_find(&a->ts, a->guid);
    if (d->kind == MF_DELTA_RESET && b != NULL && parked_reset(a, a->guid) == NULL) {
        /* park the old generation; its target-only messages come over later */
        char rel[64], g[33];
        struct parked *nv = mf_realloc(a->parked, (a->nparked + 1) * sizeof *nv);
        if (nv == NULL)
            return mf_err_nomem(err);
        a->parked = nv;
        guid_hex(g, a->guid);
        snprintf(rel, sizeof rel, ".mailferry-old.%s", g);
        if (renameat(a->rootfd, b->rel, a->rootfd, rel) < 0)
            return mf_err_sys(err, MF_ETARGET, errno, "move %s aside", b->rel);
        memset(&nv[a->nparked], 0, sizeof *nv);
        memcpy(nv[a->nparked].guid, a->guid, 16);
        nv[a->nparked].storage = b->storage;
        nv[a->nparked].reset_old = 1;
        nv[a->nparked].base_uidnext = d->base_uidnext;
        a->nparked++;
        mf_free(b->rel);
        b->rel = mf_strdup(rel);
        b->storage = mf_strdup("");
        memset(b->guid, 0, 16);   /* found through `parked` from now on */
        if (b->rel == NULL || b->storage == NULL)
            return mf_err_nomem(err);
        b = NULL;
        a->dirty_tree = 1;
        note(a, "mailbox %s was reset at the source (new UIDVALIDITY); replaced",
             (const char *)a->display.p);
    }
    if (b != NULL && strcmp(b->storage, (const char *)a->storage.p) != 0 && !renamed_at_source &&
        d->kind == MF_DELTA_CHANGES) {
        /* the target renamed it since: its name stays */
        note(a, "mailbox %s is named %s on the target; kept so", (const char *)a->display.p,
             b->storage);
        mf_buf_reset(&a->storage);
        mf_buf_puts(&a->storage, b->storage);
        mf_buf_u8(&a->storage, 0);
        a->storage.len--;
    }
    if (b == NULL && d->kind == MF_DELTA_CHANGES)
        note(a, "mailbox %s is not on the target any more; created again with the new messages",
             (const char *)a->display.p);
    if (place(a, &b, err) < 0)
        return mf_err_ctx(err, "user %s, mailbox %s", a->user, (const char *)a->display.p);
    a->batch.uidnext = a->uidnext;
    if (a->ao.resume && !a->merge && b != NULL &&
        resume_scan(a, b, d->kind == MF_DELTA_CHANGES ? d->base_uidnext : 1, err) < 0)
        return mf_err_ctx(err, "user %s, mailbox %s", a->user, (const char *)a->display.p);
    return 0;
}

/* A resumed delta: whether a killed run added message m already; its UID
 * there goes into the UID map when it is not the source's. */
static int added_already(struct mf_apply *a, const struct mf_rec_message *m, int *yes,
                         struct mf_error *err)
{
    struct had_ent key, *h;
    *yes = 0;
    if (a->nhad == 0)
        return 0;
    mf_guid128(m->guid.p, m->guid.n, key.guid);
    h = bsearch(&key, a->had, a->nhad, sizeof *a->had, cmp_had);
    if (h == NULL)
        return 0;
    *yes = 1;
    if (h->uid != m->uid && map_uid(a, a->guid, m->uid) != h->uid) {
        struct uidmap_ent *nv = mf_realloc(a->map, (a->nmap + 1) * sizeof *nv);
        if (nv == NULL)
            return mf_err_nomem(err);
        a->map = nv;
        memcpy(nv[a->nmap].guid, a->guid, 16);
        nv[a->nmap].src = m->uid;
        nv[a->nmap].dst = h->uid;
        a->nmap++;
        a->map_dirty = 1;
    }
    return 0;
}

int mf_apply_message(struct mf_apply *a, const struct mf_rec_message *m, struct mf_error *err)
{
    struct mf_batch *bt = &a->batch;
    struct mf_newmsg *nv, *nm;
    struct mf_tbox *b;
    uint32_t *kw = NULL;
    size_t gl;
    if (a->skip_mb)
        return 0;
    if (a->merge) {
        uint8_t g[16];
        mf_guid128(m->guid.p, m->guid.n, g);
        if (a->nhave > 0 && bsearch(g, a->have, a->nhave, sizeof *a->have, cmp_guid16) != NULL) {
            a->already++;   /* the target has it */
            return 0;
        }
    } else {
        int yes;
        if (added_already(a, m, &yes, err) < 0)
            return -1;
        if (yes) {
            a->already++;   /* a killed run of this delta added it */
            return 0;
        }
    }
    b = mf_tstore_find(&a->ts, a->guid);
    if (b == NULL)
        return mf_err(err, MF_EINTERNAL, "mailbox vanished while being written");
    nv = mf_realloc(bt->msgs, (bt->n + 1) * sizeof *nv);
    if (nv == NULL)
        return mf_err_nomem(err);
    bt->msgs = nv;
    nm = &nv[bt->n];
    memset(nm, 0, sizeof *nm);
    nm->src_uid = m->uid;
    nm->flags = m->flags;
    nm->saved = m->saved < 0 ? 0 : m->saved > UINT32_MAX ? UINT32_MAX : (uint32_t)m->saved;
    gl = m->guid.n < sizeof nm->guid ? m->guid.n : sizeof nm->guid - 1;
    memcpy(nm->guid, m->guid.p, gl);
    mf_guid128(m->guid.p, m->guid.n, nm->guid128);
    if (m->nkeywords > 0) {
        kw = mf_calloc(m->nkeywords, sizeof *kw);
        if (kw == NULL)
            return mf_err_nomem(err);
        for (uint32_t i = 0; i < m->nkeywords; i++)
            if (m->keywords[i] >= a->nkw ||
                mf_batch_kw(bt, a->kw[m->keywords[i]], strlen(a->kw[m->keywords[i]]), &kw[i]) < 0) {
                mf_free(kw);
                return mf_err_nomem(err);
            }
        if (mf_batch_kwidx(bt, kw, m->nkeywords, &nm->kw_off) < 0) {
            mf_free(kw);
            return mf_err_nomem(err);
        }
        nm->nkw = m->nkeywords;
        mf_free(kw);
    }
    if (mf_batch_msg_begin(&a->ts, b, bt, m->size, &a->ao, a->c.o->rotate_size, err) < 0 ||
        mf_reader_emit(a->c.r, m->refs, m->nrefs, m->size, m->hash, mf_batch_msg_sink, bt,
                       err) < 0 ||
        mf_batch_msg_end(bt, nm, m->received, m->vsize, m->pop3_uidl.p, m->pop3_uidl.n,
                         m->pop3_order, (const char *)a->storage.p, err) < 0) {
        mf_batch_discard(&a->ts, b, bt);
        return mf_err_ctx(err, "user %s, mailbox %s, uid %u", a->user,
                          (const char *)a->display.p, m->uid);
    }
    bt->n++;
    a->c.st->messages++;
    a->c.st->message_bytes += m->size;
    a->c.st->bytes_written += m->size;
    a->c.st->files += a->ts.mdbox ? 0 : 1;
    return 0;
}

int mf_apply_flags(struct mf_apply *a, const struct mf_rec_flags *f, struct mf_error *err)
{
    struct mf_batch *bt = &a->batch;
    struct mf_flagchg *nv, *fc;
    uint32_t tmp[64], *v = tmp;
    if (a->skip_mb)
        return 0;
    nv = mf_realloc(bt->flags, (bt->nflags + 1) * sizeof *nv);
    if (nv == NULL)
        return mf_err_nomem(err);
    bt->flags = nv;
    fc = &nv[bt->nflags];
    memset(fc, 0, sizeof *fc);
    fc->uid = map_uid(a, a->guid, f->uid);
    fc->old_flags = f->old_flags;
    fc->new_flags = f->new_flags;
    if (f->nadded + f->nremoved > 64 &&
        (v = mf_calloc(f->nadded + f->nremoved, sizeof *v)) == NULL)
        return mf_err_nomem(err);
    for (uint32_t i = 0; i < f->nadded + f->nremoved; i++) {
        uint32_t k = i < f->nadded ? f->added[i] : f->removed[i - f->nadded];
        if (k >= a->nkw || mf_batch_kw(bt, a->kw[k], strlen(a->kw[k]), &v[i]) < 0) {
            if (v != tmp)
                mf_free(v);
            return k >= a->nkw ? mf_err(err, MF_ECORRUPT, "flag change keyword out of range")
                               : mf_err_nomem(err);
        }
    }
    if (mf_batch_kwidx(bt, v, f->nadded, &fc->add_off) < 0 ||
        mf_batch_kwidx(bt, v + f->nadded, f->nremoved, &fc->rem_off) < 0) {
        if (v != tmp)
            mf_free(v);
        return mf_err_nomem(err);
    }
    fc->nadd = f->nadded;
    fc->nrem = f->nremoved;
    if (v != tmp)
        mf_free(v);
    bt->nflags++;
    a->flag_changes++;
    return 0;
}

int mf_apply_expunge(struct mf_apply *a, const struct mf_rec_expunge *e, struct mf_error *err)
{
    struct pend_exp *nv;
    if (a->skip_mb)
        return 0;
    nv = mf_realloc(a->exp, (a->nexp + 1) * sizeof *nv);
    if (nv == NULL)
        return mf_err_nomem(err);
    a->exp = nv;
    memcpy(nv[a->nexp].guid, a->guid, 16);
    nv[a->nexp].n = e->nranges;
    nv[a->nexp].r = mf_calloc(e->nranges, sizeof *nv[a->nexp].r);
    if (nv[a->nexp].r == NULL)
        return mf_err_nomem(err);
    memcpy(nv[a->nexp].r, e->ranges, e->nranges * sizeof *e->ranges);
    a->nexp++;
    return 0;
}

static int remember_uids(struct mf_apply *a, const struct mf_batch *bt, struct mf_error *err)
{
    for (size_t i = 0; i < bt->n; i++) {
        const struct mf_newmsg *nm = &bt->msgs[i];
        struct uidmap_ent *nv;
        if (nm->uid == 0 || nm->uid == nm->src_uid)
            continue;
        nv = mf_realloc(a->map, (a->nmap + 1) * sizeof *nv);
        if (nv == NULL)
            return mf_err_nomem(err);
        a->map = nv;
        memcpy(nv[a->nmap].guid, a->guid, 16);
        nv[a->nmap].src = nm->src_uid;
        nv[a->nmap].dst = nm->uid;
        a->nmap++;
    }
    return 0;
}

/* Messages the target received in a mailbox that the source reset: copied
 * into the new generation with new UIDs. */
static int carry_over(struct mf_apply *a, struct parked *p, struct mf_tbox **nb,
                      struct mf_error *err)
{
    struct mf_tbox *old = parked_box(a, p);
    const struct mf_ix *ix;
    struct mf_batch bt;
    uint8_t *buf = NULL;
    int r = -1;
    size_t n = 0;
    if (old == NULL)
        return 0;
    if ((ix = mf_tbox_state(&a->ts, old, 1, err)) == NULL)
        return -1;
    mf_batch_init(&bt);
    buf = mf_malloc(1u << 20);
    if (buf == NULL)
        return mf_err_nomem(err);
    for (size_t i = 0; i < ix->n; i++) {
        struct mf_tmsg tm;
        struct mf_newmsg *nv, *nm;
        int k;
        if (ix->msgs[i].uid < p->base_uidnext)
            continue;
        old = parked_box(a, p);
        k = mf_tmsg_open(&a->ts, old, ix->msgs[i].uid, &tm, err);
        if (k <= 0) {
            if (k < 0)
                goto out;
            continue;
        }
        nv = mf_realloc(bt.msgs, (bt.n + 1) * sizeof *nv);
        if (nv == NULL) {
            mf_tmsg_close(&tm);
            mf_err_nomem(err);
            goto out;
        }
        bt.msgs = nv;
        nm = &nv[bt.n];
        memset(nm, 0, sizeof *nm);
        nm->src_uid = 0;   /* always a new UID */
        nm->flags = ix->msgs[i].flags & 0x1f;
        nm->saved = (uint32_t)a->ao.now;
        memcpy(nm->guid, tm.guid, sizeof nm->guid);
        mf_guid128(tm.guid, strlen(tm.guid), nm->guid128);
        *nb = mf_tstore_find(&a->ts, a->guid);
        if (mf_batch_msg_begin(&a->ts, *nb, &bt, tm.size, &a->ao, a->c.o->rotate_size, err) < 0) {
            mf_tmsg_close(&tm);
            goto out;
        }
        for (uint64_t off = 0; off < tm.size;) {
            size_t len = tm.size - off > (1u << 20) ? (1u << 20) : (size_t)(tm.size - off);
            if (mf_tmsg_read(&tm, off, buf, len, err) < 0 ||
                mf_batch_msg_sink(&bt, buf, len, err) < 0) {
                mf_tmsg_close(&tm);
                goto out;
            }
            off += len;
        }
        if (mf_batch_msg_end(&bt, nm, tm.received, tm.vsize, tm.uidl, strlen(tm.uidl),
                             tm.pop3_order, (const char *)a->storage.p, err) < 0) {
            mf_tmsg_close(&tm);
            goto out;
        }
        mf_tmsg_close(&tm);
        bt.n++;
        n++;
    }
    *nb = mf_tstore_find(&a->ts, a->guid);
    if (n > 0 && (*nb == NULL || mf_box_commit(&a->ts, *nb, &bt, &a->ao, err) < 0))
        goto out;
    if (n > 0)
        note(a, "%zu messages the target received in %s after the base kept, with new UIDs", n,
             (const char *)a->display.p);
    r = 0;
out:
    if (r < 0 && *nb != NULL)
        mf_batch_discard(&a->ts, *nb, &bt);
    mf_batch_free(&bt);
    mf_free(buf);
    return r;
}

int mf_apply_mailbox_end(struct mf_apply *a, struct mf_error *err)
{
    struct mf_tbox *b;
    struct parked *p;
    int r = 0;
    if (!a->in_mb || a->skip_mb) {
        mailbox_clear(a);
        return 0;
    }
    mf_tmsg_close(&a->cm);
    b = mf_tstore_find(&a->ts, a->guid);
    if (b == NULL) {
        mailbox_clear(a);
        return mf_err(err, MF_EINTERNAL, "mailbox vanished while being written");
    }
    if (a->batch.n > 0 || a->batch.nflags > 0 || a->uidnext > 0) {
        if (mf_box_commit(&a->ts, b, &a->batch, &a->ao, err) < 0) {
            b = mf_tstore_find(&a->ts, a->guid);
            if (b != NULL)
                mf_batch_discard(&a->ts, b, &a->batch);
            mailbox_clear(a);
            return mf_err_ctx(err, "user %s, mailbox %s", a->user, (const char *)a->display.p);
        }
        a->added += a->batch.n - a->batch.already;
        if (a->batch.remapped > 0) {
            a->remapped += a->batch.remapped;
            note(a, "%zu new messages of %s got new UIDs: the target had used theirs",
                 a->batch.remapped, (const char *)a->display.p);
            r = remember_uids(a, &a->batch, err);
            a->map_dirty |= r == 0;
        }
    }
    if (r == 0 && a->map_dirty) {
        r = write_state(a, 0, err);
        a->map_dirty = 0;
    }
    if (r == 0 && a->kind == MF_DELTA_RESET && (p = parked_reset(a, a->guid)) != NULL)
        r = carry_over(a, p, &b, err);
    mailbox_clear(a);
    return r;
}

int mf_apply_mailbox_gone(struct mf_apply *a, const struct mf_rec_mailbox_gone *g,
                          struct mf_error *err)
{
    uint8_t(*nv)[16] = mf_realloc(a->gone, (a->ngone + 1) * sizeof *nv);
    if (nv == NULL)
        return mf_err_nomem(err);
    a->gone = nv;
    memcpy(nv[a->ngone], g->guid, 16);
    a->ngone++;
    return 0;
}

/* ---- the end: removals, subscriptions, Sieve, state ---- */

static int do_expunges(struct mf_apply *a, struct mf_error *err)
{
    for (size_t i = 0; i < a->nexp; i++) {
        struct mf_tbox *b = mf_tstore_find(&a->ts, a->exp[i].guid);
        uint32_t *uids;
        size_t n = 0, cap = 0, done;
        if (b == NULL)
            continue;
        for (uint32_t k = 0; k < a->exp[i].n; k++)
            cap += a->exp[i].r[k].count;
        if (cap > 100000000)
            return mf_err(err, MF_ECORRUPT, "implausible expunge ranges");
        uids = mf_calloc(cap ? cap : 1, sizeof *uids);
        if (uids == NULL)
            return mf_err_nomem(err);
        for (uint32_t k = 0; k < a->exp[i].n; k++)
            for (uint32_t u = 0; u < a->exp[i].r[k].count; u++)
                uids[n++] = map_uid(a, a->exp[i].guid, a->exp[i].r[k].first + u);
        if (mf_box_expunge(&a->ts, b, uids, n, &a->ao, &done, err) < 0) {
            mf_free(uids);
            return mf_err_ctx(err, "user %s, mailbox %s", a->user, b->storage);
        }
        a->expunged += done;
        mf_free(uids);
    }
    return 0;
}

static int do_removals(struct mf_apply *a, struct mf_error *err)
{
    for (size_t i = 0; i < a->ngone; i++) {
        struct mf_tbox *b = mf_tstore_find(&a->ts, a->gone[i]);
        const char *name = NULL;
        char g[33];
        if (b == NULL)
            continue;
        guid_hex(g, a->gone[i]);
        for (size_t k = 0; k < a->nparked && name == NULL; k++)
            if (memcmp(a->parked[k].guid, a->gone[i], 16) == 0)
                name = a->parked[k].storage;   /* moved aside meanwhile */
        if (name == NULL)
            name = b->storage[0] != '\0' ? b->storage : g;
        note(a, "mailbox %s removed (as at the source)", name);
        if (mf_box_delete(&a->ts, b, &a->ao, err) < 0)
            return mf_err_ctx(err, "user %s", a->user);
        a->dirty_tree = 1;
    }
    for (size_t i = 0; i < a->nparked; i++) {
        struct parked *p = &a->parked[i];
        struct mf_tbox *b = parked_box(a, p);
        if (b == NULL)
            continue;
        if (p->reset_old) {
            memcpy(b->guid, p->guid, 16);   /* so that the delete finds its messages */
            if (mf_box_delete(&a->ts, b, &a->ao, err) < 0)
                return mf_err_ctx(err, "user %s", a->user);
            continue;
        }
        /* moved aside for a rename and not claimed since: back to its name,
         * or to a free one next to it */
        {
            struct mf_buf name;
            int k = 1;
            mf_buf_init(&name);
            mf_buf_puts(&name, p->storage);
            mf_buf_u8(&name, 0);
            for (;;) {
                char *rel = mf_malloc(name.len + sizeof "mailboxes//dbox-Mails");
                struct stat st;
                int taken;
                if (rel == NULL) {
                    mf_buf_free(&name);
                    return mf_err_nomem(err);
                }
                sprintf(rel, "mailboxes/%s/dbox-Mails", (const char *)name.p);
                taken = fstatat(a->rootfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0;
                mf_free(rel);
                if (!taken || k > 100)
                    break;
                mf_buf_reset(&name);
                mf_buf_printf(&name, "%s_%d", p->storage, ++k);
                mf_buf_u8(&name, 0);
            }
            if (mf_box_move(&a->ts, b, (const char *)name.p, &a->ao, err) < 0) {
                mf_buf_free(&name);
                return -1;
            }
            if (strcmp((const char *)name.p, p->storage) != 0)
                note(a, "mailbox %s of the target kept as %s (its name is taken now)", p->storage,
                     (const char *)name.p);
            mf_buf_free(&name);
        }
    }
    return 0;
}

/* The lines of a subscriptions file (after the version 2 header), or of a
 * translated list: one entry per line. */
static int has_line(const struct mf_buf *b, size_t from, const char *l, size_t n)
{
    for (size_t o = from; o < b->len;) {
        const uint8_t *nl = memchr(b->p + o, '\n', b->len - o);
        size_t k = nl != NULL ? (size_t)(nl - (b->p + o)) : b->len - o;
        if (k == n && memcmp(b->p + o, l, n) == 0)
            return 1;
        o += k + 1;
    }
    return 0;
}

static size_t body_start(const struct mf_buf *b)
{
    if (b->len >= 4 && memcmp(b->p, "V\t2\n", 4) == 0) {
        const uint8_t *nl = memchr(b->p + 4, '\n', b->len - 4);   /* the empty line */
        return nl != NULL ? (size_t)(nl - b->p) + 1 : b->len;
    }
    return 0;
}

static int read_root_file(struct mf_apply *a, const char *name, struct mf_buf *out, int *exists,
                          struct mf_error *err)
{
    uint8_t *data;
    size_t len;
    int fd = openat(a->rootfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    *exists = fd >= 0;
    if (fd < 0)
        return errno == ENOENT ? 0 : mf_err_sys(err, MF_EIO, errno, "%s/%s", a->t.path, name);
    if (mf_read_fd(fd, name, 16u << 20, &data, &len, err) < 0) {
        close(fd);
        return -1;
    }
    close(fd);
    mf_buf_append(out, data, len);
    mf_free(data);
    return out->oom ? mf_err_nomem(err) : 0;
}

/* The three-way merge of subscriptions: a name the source subscribed or
 * unsubscribed since the base follows the source; every other name stays as
 * the target has it. Written under Dovecot's dotlock (the new content goes
 * into the lock file, which is then renamed over the file). */
static int do_subscriptions(struct mf_apply *a, struct mf_error *err)
{
    struct mf_buf baseraw, base, src, tgt, out;
    int have_base, have_tgt, fd = -1, r = -1;
    size_t tb;
    time_t deadline = time(NULL) + SUBS_LOCK_WAIT;
    int waited = 0;
    if (!a->have_subs)
        return 0;   /* unchanged at the source: the target's stay */
    mf_buf_init(&baseraw);
    mf_buf_init(&base);
    mf_buf_init(&src);
    mf_buf_init(&tgt);
    mf_buf_init(&out);
    if (read_root_file(a, MF_SUBS_BASE_FILE, &baseraw, &have_base, err) < 0 ||
        read_root_file(a, "subscriptions", &tgt, &have_tgt, err) < 0 ||
        mf_subs_translate((const char *)baseraw.p, baseraw.len, a->c.o->sep, a->c.o->utf8, &base,
                          err) < 0 ||
        mf_subs_translate((const char *)a->subs.p, a->subs.len, a->c.o->sep, a->c.o->utf8, &src,
                          err) < 0)
        goto out;
    tb = body_start(&tgt);
    if (!have_base) {
        /* no record of the source's earlier list: the target's is the base */
        mf_buf_append(&base, tgt.p + tb, tgt.len - tb);
    }
    mf_buf_puts(&out, "V\t2\n\n");
    for (int pass = 0; pass < 2; pass++) {
        const struct mf_buf *from = pass == 0 ? &tgt : &src;
        size_t o = pass == 0 ? tb : 0;
        while (o < from->len) {
            const char *l = (const char *)from->p + o;
            const uint8_t *nl = memchr(from->p + o, '\n', from->len - o);
            size_t n = nl != NULL ? (size_t)((const uint8_t *)nl - from->p) - o : from->len - o;
            int in_b = has_line(&base, 0, l, n), in_s = has_line(&src, 0, l, n);
            int in_t = has_line(&tgt, tb, l, n);
            int keep = a->merge ? (in_s || in_t) : in_b != in_s ? in_s : in_t;
            o += n + 1;
            if (n == 0 || !keep || has_line(&out, 5, l, n))
                continue;
            mf_buf_append(&out, l, n);
            mf_buf_u8(&out, '\n');
        }
    }
    if (out.oom) {
        mf_err_nomem(err);
        goto out;
    }
    for (;;) {
        fd = openat(a->rootfd, "subscriptions.lock",
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, a->own.file_mode);
        if (fd >= 0 || errno != EEXIST)
            break;
        {
            struct stat st;
            if (fstatat(a->rootfd, "subscriptions.lock", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                time(NULL) - st.st_mtime > SUBS_LOCK_STALE) {
                unlinkat(a->rootfd, "subscriptions.lock", 0);   /* stale */
                continue;
            }
        }
        if (!waited++)
            note(a, "subscriptions.lock exists; waiting for it to go or to be stale (%d s "
                    "unchanged)", SUBS_LOCK_STALE);
        if (time(NULL) >= deadline) {
            mf_err(err, MF_ETARGET, "%s/subscriptions is locked (still after %d s)", a->t.path,
                   SUBS_LOCK_WAIT);
            goto out;
        }
        {
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    if (fd < 0) {
        mf_err_sys(err, MF_EIO, errno, "%s/subscriptions.lock", a->t.path);
        goto out;
    }
    if ((a->own.set && fchown(fd, a->own.uid, a->own.gid) < 0) ||
        mf_write_all(fd, out.p, out.len, "subscriptions", err) < 0 ||
        (!a->ao.nosync && fsync(fd) < 0) ||
        renameat(a->rootfd, "subscriptions.lock", a->rootfd, "subscriptions") < 0) {
        if (err->cls == MF_OK)
            mf_err_sys(err, MF_EIO, errno, "%s/subscriptions", a->t.path);
        unlinkat(a->rootfd, "subscriptions.lock", 0);
        goto out;
    }
    close(fd);
    fd = -1;
    /* the new base of the next merge */
    unlinkat(a->rootfd, MF_SUBS_BASE_FILE ".tmp", 0);
    fd = openat(a->rootfd, MF_SUBS_BASE_FILE ".tmp",
                O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, a->own.file_mode);
    if (fd < 0 || (a->own.set && fchown(fd, a->own.uid, a->own.gid) < 0) ||
        mf_write_all(fd, a->subs.p, a->subs.len, MF_SUBS_BASE_FILE, err) < 0 ||
        renameat(a->rootfd, MF_SUBS_BASE_FILE ".tmp", a->rootfd, MF_SUBS_BASE_FILE) < 0) {
        if (err->cls == MF_OK)
            mf_err_sys(err, MF_EIO, errno, "%s/%s", a->t.path, MF_SUBS_BASE_FILE);
        goto out;
    }
    r = 0;
out:
    if (fd >= 0)
        close(fd);
    mf_buf_free(&baseraw);
    mf_buf_free(&base);
    mf_buf_free(&src);
    mf_buf_free(&tgt);
    mf_buf_free(&out);
    return r;
}

/* Changed Sieve scripts replace the target's; the active link is set. */
static int do_sieve(struct mf_apply *a, struct mf_error *err)
{
    int home = -1, dir;
    struct mf_error herr;
    if (a->nsieve == 0)
        return 0;
    mf_err_clear(&herr);
    if (a->c.o->home_tmpl != NULL) {
        /* below the template's fixed prefix, no link is followed */
        if (mf_template_open_dir(a->c.o->home_tmpl, a->user, &home, &herr) < 0) {
            note(a, "%s; %zu Sieve files skipped", herr.msg, a->nsieve);
            a->c.st->skipped += a->nsieve;
            return 0;
        }
    } else if (a->c.o->home_shared) {
        note(a, "%zu changed Sieve files not written: the mail root's parent is shared by "
                "several users; give --home TEMPLATE", a->nsieve);
        a->c.st->skipped += a->nsieve;
        return 0;
    } else {
        home = openat(a->t.parentfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (home < 0) {
        note(a, "no home directory for Sieve scripts; %zu skipped", a->nsieve);
        a->c.st->skipped += a->nsieve;
        return 0;
    }
    {
        int k = mf_sieve_dir(home, &a->own, &dir, err);
        if (k < 0) {
            close(home);
            return -1;
        }
        if (k == 0) {
            note(a, "cannot use the sieve directory; %zu Sieve files skipped", a->nsieve);
            a->c.st->skipped += a->nsieve;
            close(home);
            return 0;
        }
    }
    for (size_t i = 0; i < a->nsieve; i++) {
        struct sieve_new *s = &a->sieve[i];
        enum mf_sieve_result res;
        /* merging: what the target has stays; else the source's replaces it */
        if (s->active) {
            if (mf_sieve_activate(home, s->name, &a->own, !a->merge, &res, err) < 0) {
                note(a, "cannot set the active Sieve script: %s", err->msg);
                mf_err_clear(err);
                a->c.st->skipped++;
                continue;
            }
            if (res == MF_SIEVE_KEPT)
                continue;   /* the target's active script stays */
        } else {
            if (mf_sieve_put(dir, s->name, s->data, s->len, &a->own, !a->merge, a->ao.nosync,
                             &res, err) < 0) {
                close(dir);
                close(home);
                return -1;
            }
            if (res == MF_SIEVE_KEPT) {
                note(a, "Sieve script %s exists on the target; kept as it is", s->name);
                continue;
            }
        }
        a->c.st->sieve++;
    }
    close(dir);
    close(home);
    return 0;
}

int mf_apply_end(struct mf_apply *a, struct mf_error *err)
{
    mf_tmsg_close(&a->cm);
    mf_reader_set_chain(a->c.r, NULL, NULL);
    if (do_expunges(a, err) < 0 || do_removals(a, err) < 0)
        return -1;
    if (a->dirty_tree && mf_list_refresh(a->rootfd, LOCK_TIMEOUT, err) < 0)
        return mf_err_ctx(err, "user %s: mailbox list index", a->user);
    if (do_subscriptions(a, err) < 0 || do_sieve(a, err) < 0 || write_state(a, 1, err) < 0)
        return mf_err_ctx(err, "user %s", a->user);
    a->c.st->users++;
    if (a->merge)
        note(a, "merged: %" PRIu64 " messages added, %" PRIu64 " there already", a->added,
             a->already);
    else if (a->added + a->flag_changes + a->expunged > 0 || a->remapped > 0)
        note(a, "%" PRIu64 " messages added, %" PRIu64 " flag changes, %" PRIu64 " expunged",
             a->added, a->flag_changes, a->expunged);
    return 0;
}

void mf_apply_free(struct mf_apply **ap)
{
    struct mf_apply *a = *ap;
    if (a == NULL)
        return;
    *ap = NULL;
    mf_reader_set_chain(a->c.r, NULL, NULL);
    mf_tmsg_close(&a->cm);
    mailbox_clear(a);
    mf_batch_free(&a->batch);
    mf_buf_free(&a->storage);
    mf_buf_free(&a->display);
    mf_tstore_close(&a->ts);
    if (a->rootfd >= 0)
        close(a->rootfd);
    mf_target_close(&a->t);
    for (size_t i = 0; i < a->nexp; i++)
        mf_free(a->exp[i].r);
    mf_free(a->exp);
    mf_free(a->gone);
    for (size_t i = 0; i < a->nparked; i++)
        mf_free(a->parked[i].storage);
    mf_free(a->parked);
    mf_buf_free(&a->subs);
    for (size_t i = 0; i < a->nsieve; i++) {
        mf_free(a->sieve[i].name);
        mf_free(a->sieve[i].data);
    }
    mf_free(a->sieve);
    mf_free(a->map);
    mf_free(a->have);
    mf_free(a->had);
    mf_free(a->state_text);
    mf_free(a->user);
    mf_free(a);
}
