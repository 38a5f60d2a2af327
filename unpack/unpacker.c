/* unpacker.c: the walk over a validated archive that writes dbox stores. */
#include "unpacker.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "../format/fsutil.h"
#include "../format/hash.h"
#include "../format/mem.h"
#include "delta_apply.h"
#include "mailbox_names.h"
#include "sieve_files.h"

struct sieve_file {
    char *name;
    uint8_t *data;
    size_t len;
    int active;      /* role 2: a link to `name` */
};

/* A user written completely into its staging directory, waiting for the
 * batch sync that makes it durable before it is moved into place. */
struct staged {
    struct mf_target t;
    char *user;
    struct mf_owner own;
    struct sieve_file *sieve;
    size_t nsieve;
};

#define BATCH_BYTES (256u * 1024 * 1024)
#define BATCH_USERS 64

struct run {
    struct mf_reader *r;
    const struct mf_unpack_opts *o;
    mf_unpack_progress_fn progress;
    mf_unpack_note_fn note;
    void *ctx;
    struct mf_unpack_stats *st;
    /* current user */
    int active;           /* writing this user */
    char *user;
    struct mf_owner own;
    struct mf_target t;
    struct mf_dbox *d;
    int in_mailbox;       /* a mailbox is being written */
    char **used;          /* storage names used for this user */
    size_t nused;
    char **subscribed;
    size_t nsub;
    struct sieve_file *sieve;
    size_t nsieve;
    char **kw;            /* keyword names of the current mailbox */
    uint32_t nkw;
    struct mf_buf name, display;
    struct staged *pending;
    size_t npending, pending_cap;
    uint64_t pending_bytes;
    /* delta archives: what to do with each user, in archive order */
    uint8_t *ucls;
    size_t nucls, ui;
    struct mf_apply *apply;
    struct mf_buf subs;    /* the user's subscription list (EXTRA role 4) */
    int have_subs;
    size_t mb_matched;     /* mailboxes selected (--mailbox) for the current user */
    size_t mb_matched_all;
    uint8_t *user_seen;    /* per o->users: found in the archive */
};

/* What a delta does to each user's target (decided before any write). */
enum user_class { U_SKIP, U_NEW, U_APPLY, U_RESUME, U_CURRENT };

static void note(struct run *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct run *x, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    if (x->note == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    x->note(x->ctx, x->user != NULL ? x->user : "", msg);
}

static void note_user(struct run *x, const char *user, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void note_user(struct run *x, const char *user, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    if (x->note == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    x->note(x->ctx, user, msg);
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        mf_free(v[i]);
    mf_free(v);
}

static void user_clear(struct run *x)
{
    mf_buf_reset(&x->subs);
    x->have_subs = 0;
    mf_dbox_free(&x->d);
    mf_target_close(&x->t);
    free_strv(x->used, x->nused);
    free_strv(x->subscribed, x->nsub);
    free_strv(x->kw, x->nkw);
    for (size_t i = 0; i < x->nsieve; i++) {
        mf_free(x->sieve[i].name);
        mf_free(x->sieve[i].data);
    }
    mf_free(x->sieve);
    mf_free(x->user);
    x->used = x->subscribed = x->kw = NULL;
    x->nused = x->nsub = x->nsieve = 0;
    x->nkw = 0;
    x->sieve = NULL;
    x->user = NULL;
    x->active = 0;
    x->in_mailbox = 0;
}

static int push_str(char ***v, size_t *n, const char *s, size_t len)
{
    char **nv = mf_realloc(*v, (*n + 1) * sizeof *nv);
    if (nv == NULL)
        return -1;
    *v = nv;
    nv[*n] = mf_strndup(s, len);
    if (nv[*n] == NULL)
        return -1;
    (*n)++;
    return 0;
}

static int selected_user(const struct mf_unpack_opts *o, struct mf_str name)
{
    if (o->users == NULL)
        return 1;
    for (size_t i = 0; i < o->nusers; i++)
        if (mf_str_eq(name, o->users[i]))
            return 1;
    return 0;
}

static int user_name_ok(struct mf_str n)
{
    if (n.n == 0 || memchr(n.p, '/', n.n) != NULL || mf_str_eq(n, ".") || mf_str_eq(n, ".."))
        return 0;
    return 1;
}

static void state_text(struct run *x, struct mf_buf *b)
{
    const struct mf_manifest *m = mf_reader_manifest(x->r);
    char id[33], mh[65];
    mf_hex(id, m->archive_id, sizeof m->archive_id);
    mf_hex(mh, mf_reader_manifest_hash(x->r), MF_HASH_BYTES);
    mf_buf_printf(b, "mailferry-state 1\narchive %s\nmanifest %s\nchain %" PRIu64 "\nkind %s\n"
                     "format %s\nuser %s\napplied %lld\n",
                  id, mh, m->chain, mf_kind_name(m->kind), x->o->layout->name, x->user,
                  (long long)time(NULL));
    if (x->o->mailbox != NULL)
        mf_buf_printf(b, "partial %s\n", x->o->mailbox);   /* a one-mailbox restore */
}

/* "archive <hex>" line of a state file, or NULL */
static int state_archive(const char *text, char out[33])
{
    const char *p = text != NULL ? strstr(text, "\narchive ") : NULL;
    if (p == NULL || strlen(p + 9) < 32)
        return -1;
    memcpy(out, p + 9, 32);
    out[32] = '\0';
    return 0;
}

/* Whether the target holds an archive given after this one in the chain. */
static int holds_later(const struct mf_unpack_opts *o, const char *archive)
{
    for (size_t i = 0; i < o->nlater; i++)
        if (strcmp(o->later[i], archive) == 0)
            return 1;
    return 0;
}

static int begin_user(struct run *x, const struct mf_rec_user *u, struct mf_error *err)
{
    const struct mf_unpack_opts *o = x->o;
    struct mf_dbox_opts dopts;
    char id[33], have[33];
    x->user = mf_strndup(u->name.p, u->name.n);
    if (x->user == NULL)
        return mf_err_nomem(err);
    if (!user_name_ok(u->name))
        return mf_err(err, MF_ECORRUPT, "user name %s cannot name a directory", x->user);
    x->own = o->owner;
    for (size_t i = 0; i < o->nowner_rules; i++)
        if (strcmp(o->owner_rules[i].user, x->user) == 0)
            x->own = o->owner_rules[i].owner;
    if (o->dry_run) {
        x->st->users++;
        return 0;
    }
    if (mf_target_open(&x->t, o->tmpl, x->user, &x->own, &o->shared, err) < 0)
        return -1;
    mf_hex(id, mf_reader_manifest(x->r)->archive_id, MF_ARCHIVE_ID_BYTES);
    if (x->t.state == MF_TARGET_APPLIED) {
        struct mf_target_state_info si;
        mf_state_info(x->t.state_text, &si);
        if (si.format[0] != '\0' && strcmp(si.format, o->layout->name) != 0)
            return mf_err(err, MF_ETARGET, "%s holds a %s store; this unpack writes %s",
                          x->t.path, si.format, o->layout->name);
        if (si.user[0] != '\0' && strcmp(si.user, x->user) != 0)
            return mf_err(err, MF_ETARGET, "%s holds the store of user %s, not of %s: the target "
                                           "template maps both to one directory",
                          x->t.path, si.user, x->user);
        if (strcmp(si.partial, o->mailbox != NULL ? o->mailbox : "") != 0)
            return mf_err(err, MF_ETARGET,
                          si.partial[0] != '\0'
                              ? "%s holds only mailbox %s (a --mailbox restore); move it away "
                                "to restore more"
                              : "%s holds a whole store already%s; restore the mailbox into "
                                "another --to and move it over with doveadm",
                          x->t.path, si.partial[0] != '\0' ? si.partial : "");
        if (state_archive(x->t.state_text, have) == 0 &&
            (strcmp(have, id) == 0 || (si.applying[0] == '\0' && holds_later(o, have)))) {
            note(x, "%s already holds this archive%s; nothing to do", x->t.path,
                 strcmp(have, id) == 0 ? "" : " (or a later one of the chain)");
            x->st->users_current++;
            mf_target_close(&x->t);
            return 0;
        }
        return mf_err(err, MF_ETARGET,
                      "%s already holds a store from archive %s; apply a delta archive to it, or "
                      "move it away",
                      x->t.path, state_archive(x->t.state_text, have) == 0 ? have : "(unknown)");
    }
    if (x->t.state == MF_TARGET_FOREIGN)
        return mf_err(err, MF_ETARGET, "%s exists and is not empty; refusing to overwrite it",
                      x->t.path);
    if (mf_target_stage(&x->t, &x->own, err) < 0)
        return -1;
    memset(&dopts, 0, sizeof dopts);
    dopts.uid = x->own.uid;
    dopts.gid = x->own.gid;
    dopts.chown = x->own.set;
    dopts.dir_mode = x->own.dir_mode;
    dopts.file_mode = x->own.file_mode;
    dopts.rotate_size = o->rotate_size;
    dopts.now = (int64_t)time(NULL);
    if (mf_dbox_new(&x->d, o->layout, x->t.stagefd, &dopts, err) < 0 ||
        o->layout->user_begin(x->d, err) < 0)
        return -1;
    x->active = 1;
    x->st->users++;
    return 0;
}

static int mailbox_selected(const struct mf_unpack_opts *o, const struct mf_buf *display)
{
    return o->mailbox == NULL ||
           (strlen(o->mailbox) == display->len && memcmp(o->mailbox, display->p, display->len) == 0);
}

static int begin_mailbox(struct run *x, const struct mf_rec_mailbox *m, struct mf_error *err)
{
    struct mf_dbox_mailbox mb;
    int translated;
    free_strv(x->kw, x->nkw);
    x->kw = NULL;
    x->nkw = 0;
    if (mf_storage_name(m, x->o->sep, x->o->utf8, &x->name, &x->display, &translated, err) < 0)
        return mf_err_ctx(err, "user %s", x->user);
    mf_buf_u8(&x->name, 0);
    x->name.len--;
    mf_buf_u8(&x->display, 0);
    x->display.len--;
    if (!mailbox_selected(x->o, &x->display))
        return 0;
    /* two archived names that end up the same on the target */
    for (size_t tries = 2;; tries++) {
        int clash = 0;
        for (size_t i = 0; i < x->nused; i++)
            clash |= strcmp(x->used[i], (const char *)x->name.p) == 0;
        if (!clash)
            break;
        if (strcmp((const char *)x->name.p, "INBOX") == 0 || tries > 1000)
            return mf_err(err, MF_ECORRUPT, "user %s: two mailboxes named %s", x->user,
                          (const char *)x->name.p);
        {
            char suffix[16];
            size_t base = x->name.len;
            while (base > 0 && x->name.p[base - 1] != '_' && tries > 2)
                base--;
            if (tries > 2 && base > 0)
                x->name.len = base - 1;
            snprintf(suffix, sizeof suffix, "_%zu", tries);
            mf_buf_puts(&x->name, suffix);
            mf_buf_puts(&x->display, suffix);
            mf_buf_u8(&x->name, 0);
            x->name.len--;
            mf_buf_u8(&x->display, 0);
            x->display.len--;
            translated = 1;
        }
    }
    if (translated) {
        x->st->renamed++;
        note(x, "mailbox stored as %.*s is named %s on the target", (int)m->stored.n,
             m->stored.p, (const char *)x->display.p);
    }
    if (push_str(&x->used, &x->nused, (const char *)x->name.p, x->name.len) < 0)
        return mf_err_nomem(err);
    if ((m->flags & MF_MBOX_SUBSCRIBED) &&
        push_str(&x->subscribed, &x->nsub, (const char *)x->name.p, x->name.len) < 0)
        return mf_err_nomem(err);
    x->kw = mf_calloc(m->nkeywords ? m->nkeywords : 1, sizeof *x->kw);
    if (x->kw == NULL)
        return mf_err_nomem(err);
    for (uint32_t i = 0; i < m->nkeywords; i++) {
        x->kw[i] = mf_strndup(m->keywords[i].p, m->keywords[i].n);
        if (x->kw[i] == NULL)
            return mf_err_nomem(err);
        x->nkw = i + 1;
    }
    x->st->mailboxes++;
    x->mb_matched++;
    x->in_mailbox = 1;
    if (x->o->dry_run) {
        x->st->need_inodes += 3;
        return 0;
    }
    memset(&mb, 0, sizeof mb);
    mb.storage = (const char *)x->name.p;
    memcpy(mb.guid, m->guid, 16);
    mb.uidvalidity = m->uidvalidity;
    mb.uidnext = m->uidnext;
    mb.keywords = x->kw;
    mb.nkeywords = x->nkw;
    return x->o->layout->mailbox_begin(x->d, &mb, err);
}

static int message(struct run *x, const struct mf_rec_message *m, struct mf_error *err)
{
    struct mf_dbox_msg dm;
    x->st->messages++;
    x->st->message_bytes += m->size;
    if (x->o->dry_run) {
        /* check the content as unpack would, without writing it */
        x->st->need_bytes += m->size + 256;
        x->st->need_inodes += x->o->layout == &mf_sdbox_layout ? 1 : 0;
        return mf_reader_emit(x->r, m->refs, m->nrefs, m->size, m->hash, NULL, NULL, err);
    }
    memset(&dm, 0, sizeof dm);
    dm.uid = m->uid;
    dm.flags = m->flags;
    dm.kw = m->keywords;
    dm.nkw = m->nkeywords;
    dm.guid = m->guid.p;
    dm.guid_len = m->guid.n;
    dm.received = m->received;
    dm.saved = m->saved;
    dm.size = m->size;
    dm.vsize = m->vsize;
    dm.uidl = m->pop3_uidl.p;
    dm.uidl_len = m->pop3_uidl.n;
    dm.pop3_order = m->pop3_order;
    dm.hash = m->hash;
    dm.recent = m->source_dir == MF_SRC_NEW;
    dm.reader = x->r;
    dm.refs = m->refs;
    dm.nrefs = m->nrefs;
    if (x->o->layout->message(x->d, &dm, err) < 0)
        return mf_err_ctx(err, "user %s, mailbox %s, uid %u", x->user,
                          (const char *)x->display.p, m->uid);
    return 0;
}

static int sieve_name_ok(struct mf_str n)
{
    return n.n > 0 && n.n <= 255 && memchr(n.p, '/', n.n) == NULL && !mf_str_eq(n, ".") &&
           !mf_str_eq(n, "..") && mf_utf8_printable(n.p, n.n);
}

static int buf_sink(void *ctx, const void *p, size_t n, struct mf_error *err)
{
    return mf_buf_append(ctx, p, n) < 0 ? mf_err_nomem(err) : 0;
}

static int collect_extra(struct run *x, const struct mf_rec_extra *e, struct mf_error *err)
{
    struct sieve_file *ns, *f;
    struct mf_buf data;
    if (e->role == MF_EXTRA_SUBSCRIPTIONS) {
        mf_buf_reset(&x->subs);
        x->have_subs = 1;
        return mf_reader_emit(x->r, e->refs, e->nrefs, e->size, NULL, buf_sink, &x->subs, err);
    }
    if (x->o->no_sieve || e->role == MF_EXTRA_FILE)
        return 0;
    if (!sieve_name_ok(e->role == MF_EXTRA_SIEVE_ACTIVE ? e->target : e->path)) {
        note(x, "Sieve script with an unusable name skipped");
        x->st->skipped++;
        return 0;
    }
    ns = mf_realloc(x->sieve, (x->nsieve + 1) * sizeof *ns);
    if (ns == NULL)
        return mf_err_nomem(err);
    x->sieve = ns;
    f = &ns[x->nsieve];
    memset(f, 0, sizeof *f);
    mf_buf_init(&data);
    if (e->role == MF_EXTRA_SIEVE_ACTIVE) {
        f->name = mf_strndup(e->target.p, e->target.n);
        f->active = 1;
    } else {
        f->name = mf_strndup(e->path.p, e->path.n);
        if (mf_reader_emit(x->r, e->refs, e->nrefs, e->size, NULL, buf_sink, &data, err) < 0) {
            mf_free(f->name);
            mf_buf_free(&data);
            return -1;
        }
        f->data = mf_buf_steal(&data, &f->len);
    }
    if (f->name == NULL)
        return mf_err_nomem(err);
    x->nsieve++;
    return 0;
}

/* Sieve scripts go to <home>/sieve/, the active one linked from
 * <home>/.dovecot.sieve; existing files are never replaced. Written before
 * the user's store is moved into place (a store in place is a complete
 * user, scripts included), each script made aside and linked to its name,
 * so a rerun after a kill finds each one absent or complete and only adds
 * what is missing. */
static int write_sieve(struct run *x, struct staged *u, struct mf_error *err)
{
    int home = -1, dir = -1, k;
    struct mf_error herr;
    if (u->nsieve == 0)
        return 0;
    mf_err_clear(&herr);
    if (x->o->home_tmpl != NULL) {
        /* below the template's fixed prefix, no link is followed */
        if (mf_template_open_dir(x->o->home_tmpl, u->user, &home, &herr) < 0) {
            note_user(x, u->user, "%s; %zu Sieve scripts skipped", herr.msg, u->nsieve);
            x->st->skipped += u->nsieve;
            return 0;
        }
    } else if (x->o->home_shared) {
        note_user(x, u->user,
                  "%zu Sieve scripts not written: the mail root's parent is shared by several "
                  "users; give --home TEMPLATE", u->nsieve);
        x->st->skipped += u->nsieve;
        return 0;
    } else {
        home = openat(u->t.parentfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (home < 0) {
        note_user(x, u->user, "no home directory for Sieve scripts; %zu skipped", u->nsieve);
        x->st->skipped += u->nsieve;
        return 0;
    }
    k = mf_sieve_dir(home, &u->own, &dir, err);
    if (k < 0) {
        close(home);
        return -1;
    }
    if (k == 0) {
        note_user(x, u->user, "cannot use the sieve directory (a link or not a directory); scripts skipped");
        x->st->skipped += u->nsieve;
        close(home);
        return 0;
    }
    for (size_t i = 0; i < u->nsieve; i++) {
        struct sieve_file *f = &u->sieve[i];
        enum mf_sieve_result res;
        if (f->active) {
            if (mf_sieve_activate(home, f->name, &u->own, 0, &res, err) < 0) {
                note_user(x, u->user, "cannot set the active Sieve script: %s", err->msg);
                mf_err_clear(err);
                x->st->skipped++;
                continue;
            }
            if (res == MF_SIEVE_KEPT) {
                note_user(x, u->user, ".dovecot.sieve exists already; the active script stays as it is");
                continue;
            }
        } else {
            if (mf_sieve_put(dir, f->name, f->data, f->len, &u->own, 0, 1, &res, err) < 0) {
                close(dir);
                close(home);
                return -1;
            }
            if (res == MF_SIEVE_KEPT) {
                note_user(x, u->user, "Sieve script %s exists already; kept as it is", f->name);
                continue;
            }
        }
        x->st->sieve++;
    }
    /* the scripts are made durable with the stores (one sync of the file
     * system); a home elsewhere is synced here */
    if (!x->o->nosync) {
        struct stat hs, ts;
        if (fstat(home, &hs) == 0 && fstat(u->t.parentfd, &ts) == 0 && hs.st_dev != ts.st_dev &&
            syncfs(home) < 0) {
            int e = errno;
            close(dir);
            close(home);
            return mf_err_sys(err, MF_EIO, e, "sync the Sieve scripts");
        }
    }
    close(dir);
    close(home);
    return 0;
}

static void staged_free(struct staged *u)
{
    mf_target_close(&u->t);
    for (size_t i = 0; i < u->nsieve; i++) {
        mf_free(u->sieve[i].name);
        mf_free(u->sieve[i].data);
    }
    mf_free(u->sieve);
    mf_free(u->user);
}

/* Every user's Sieve scripts, then one sync for the whole batch, then every
 * user moved into place in order: the move is the last step, so a user in
 * place is complete and a rerun after a kill has nothing to finish. */
static int flush_commits(struct run *x, struct mf_error *err)
{
    int r = 0;
    size_t ready = 0;
    if (x->npending == 0)
        return 0;
    while (r == 0 && ready < x->npending)
        if (write_sieve(x, &x->pending[ready], err) < 0)
            r = -1;
        else
            ready++;
    if (ready > 0 && !x->o->nosync && mf_target_sync(&x->pending[0].t, err) < 0) {
        r = -1;
        ready = 0;
    }
    for (size_t i = 0; i < x->npending; i++) {
        struct staged *u = &x->pending[i];
        if (i < ready && mf_target_commit(&u->t, x->o->nosync, err) < 0) {
            r = -1;
            ready = i;
        }
        staged_free(u);
    }
    x->npending = 0;
    x->pending_bytes = 0;
    return r;
}

/* The current user is complete in its staging directory: queue it. */
static int stage_done(struct run *x, struct mf_error *err)
{
    struct staged *u;
    if (x->npending == x->pending_cap) {
        size_t nc = x->pending_cap == 0 ? 16 : x->pending_cap * 2;
        struct staged *np = mf_realloc(x->pending, nc * sizeof *np);
        if (np == NULL)
            return mf_err_nomem(err);
        x->pending = np;
        x->pending_cap = nc;
    }
    u = &x->pending[x->npending++];
    u->t = x->t;
    u->user = x->user;
    u->own = x->own;
    u->sieve = x->sieve;
    u->nsieve = x->nsieve;
    memset(&x->t, 0, sizeof x->t);
    x->t.parentfd = x->t.stagefd = -1;
    x->user = NULL;
    x->sieve = NULL;
    x->nsieve = 0;
    x->pending_bytes += x->d->bytes;
    if (x->pending_bytes >= BATCH_BYTES || x->npending >= BATCH_USERS)
        return flush_commits(x, err);
    return 0;
}

static int end_user(struct run *x, struct mf_error *err)
{
    struct mf_buf state;
    int r;
    x->mb_matched_all += x->mb_matched;
    if (x->active && x->o->mailbox != NULL && x->mb_matched == 0) {
        /* nothing of this user to restore: no empty store left behind */
        note(x, "no mailbox %s; nothing written for this user", x->o->mailbox);
        mf_target_abort(&x->t);
        x->st->users--;
        x->active = 0;
    }
    x->mb_matched = 0;
    if (!x->active)
        return 0;
    if (x->o->mailbox != NULL)
        x->have_subs = 0;   /* one mailbox restored: its own subscription only */
    if (x->have_subs) {
        /* the server's own list, names of missing mailboxes included; kept
         * as mailferry-subscriptions too, the base of later deltas' merges */
        struct mf_buf content;
        int r2;
        mf_buf_init(&content);
        mf_buf_puts(&content, "V\t2\n\n");
        r2 = mf_subs_translate((const char *)x->subs.p, x->subs.len, x->o->sep, x->o->utf8,
                               &content, err);
        if (r2 == 0 && content.len > 5)
            r2 = mf_dbox_write_file(x->d, x->t.stagefd, "subscriptions", content.p, content.len,
                                    err);
        if (r2 == 0)
            r2 = mf_dbox_write_file(x->d, x->t.stagefd, MF_SUBS_BASE_FILE, x->subs.p, x->subs.len,
                                    err);
        mf_buf_free(&content);
        if (r2 < 0)
            return -1;
    }
    if (x->o->layout->user_end(x->d, err) < 0 ||
        mf_dbox_write_root_files(x->d, x->have_subs ? NULL : x->subscribed,
                                 x->have_subs ? 0 : x->nsub, err) < 0)
        return -1;
    mf_buf_init(&state);
    state_text(x, &state);
    r = state.oom ? mf_err_nomem(err)
                  : mf_dbox_write_file(x->d, x->t.stagefd, MF_STATE_FILE, state.p, state.len, err);
    mf_buf_free(&state);
    if (r < 0)
        return -1;
    x->st->files += x->d->files;
    x->st->bytes_written += x->d->bytes;
    return stage_done(x, err);
}

/* Free space and inodes where the stores would go (the nearest existing
 * directory of the template's fixed prefix). */
static int check_room(const char *tmpl, const struct mf_unpack_stats *st, struct mf_error *err)
{
    struct statvfs vfs;
    size_t n = strcspn(tmpl, "%");
    char *path = mf_strndup(tmpl, n);
    int r = 0;
    if (path == NULL)
        return mf_err_nomem(err);
    while (statvfs(path[0] != '\0' ? path : "/", &vfs) < 0) {
        char *s = strrchr(path, '/');
        if (s == NULL)
            break;
        *s = '\0';
    }
    if (statvfs(path[0] != '\0' ? path : "/", &vfs) == 0) {
        uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
        if (avail < st->need_bytes || (vfs.f_files > 0 && vfs.f_favail < st->need_inodes))
            r = mf_err(err, MF_ETARGET,
                       "not enough room under %s: %" PRIu64 " bytes and %" PRIu64
                       " inodes needed, %" PRIu64 " bytes and %" PRIu64 " inodes free",
                       path[0] != '\0' ? path : "/", st->need_bytes, st->need_inodes, avail,
                       (uint64_t)vfs.f_favail);
    }
    mf_free(path);
    return r;
}

/* Delta archives: each selected user's target must hold the delta's base
 * (or the delta, or be in the middle of applying it), or not exist when the
 * user is new. Checked for every user before anything is written; the first
 * refusal is the error, naming both archives. */
static int delta_prepass(struct run *x, struct mf_error *err)
{
    const struct mf_manifest *m = mf_reader_manifest(x->r);
    struct mf_record rec;
    char id[33], base[33], bmh[65], first[1024] = "";
    size_t refused = 0, cap = 0;
    int k, cls = U_SKIP, absent = 0;
    char *user = NULL;
    mf_hex(id, m->archive_id, sizeof m->archive_id);
    mf_hex(base, m->base_id, sizeof m->base_id);
    mf_hex(bmh, m->base_manifest, MF_HASH_BYTES);
    if (mf_reader_rewind(x->r, err) < 0)
        return -1;
    while ((k = mf_reader_next(x->r, &rec, err)) > 0) {
        if (rec.type == MF_REC_USER) {
            struct mf_target t;
            uint8_t *nv;
            memset(&t, 0, sizeof t);
            t.parentfd = t.stagefd = -1;
            mf_free(user);
            user = mf_strndup(rec.u.user.name.p, rec.u.user.name.n);
            if (user == NULL)
                return mf_err_nomem(err);
            cls = U_SKIP;
            absent = 0;
            if (selected_user(x->o, rec.u.user.name) && user_name_ok(rec.u.user.name)) {
                if (mf_target_probe(&t, x->o->tmpl, user, err) < 0) {
                    mf_target_close(&t);
                    mf_free(user);
                    return -1;
                }
                if (t.state == MF_TARGET_ABSENT) {
                    cls = U_NEW;
                    absent = 1;
                } else if (t.state == MF_TARGET_APPLIED) {
                    struct mf_target_state_info si;
                    mf_state_info(t.state_text, &si);
                    if (si.user[0] != '\0' && strcmp(si.user, user) != 0) {
                        if (refused++ == 0)
                            snprintf(first, sizeof first, "%s holds the store of user %s, not of "
                                     "%s: the target template maps both to one directory",
                                     t.path, si.user, user);
                    } else if (si.partial[0] != '\0') {
                        if (refused++ == 0)
                            snprintf(first, sizeof first, "%s holds only mailbox %s (a --mailbox "
                                     "restore); a delta needs the whole store", t.path, si.partial);
                    } else if (x->o->format_given && si.format[0] != '\0' &&
                               strcmp(si.format, x->o->layout->name) != 0) {
                        if (refused++ == 0)
                            snprintf(first, sizeof first, "%s holds a %s store, not %s", t.path,
                                     si.format, x->o->layout->name);
                    } else if (strcmp(si.applying, id) == 0)
                        cls = U_RESUME;
                    else if (si.applying[0] == '\0' &&
                             (strcmp(si.archive, id) == 0 || holds_later(x->o, si.archive)))
                        cls = U_CURRENT;
                    else if (si.applying[0] == '\0' && strcmp(si.archive, base) == 0 &&
                             strcmp(si.manifest, bmh) == 0)
                        cls = U_APPLY;
                    else if (si.applying[0] == '\0' && strcmp(si.archive, base) == 0) {
                        /* the base's id, but not its manifest (spec 14.1, 14.6) */
                        if (refused++ == 0)
                            snprintf(first, sizeof first,
                                     "%s holds archive %s with manifest hash %s, but this delta "
                                     "(%s) applies to archive %s with manifest hash %s", t.path,
                                     si.archive, si.manifest[0] != '\0' ? si.manifest : "(none)",
                                     id, base, bmh);
                    } else if (refused++ == 0)
                        snprintf(first, sizeof first,
                                 si.applying[0] != '\0'
                                     ? "%s is in the middle of applying delta %s; run that "
                                       "delta again first (this one is %s)"
                                     : "%s holds archive %s, but this delta (%s) applies to "
                                       "archive %s",
                                 t.path, si.applying[0] != '\0' ? si.applying : si.archive, id,
                                 base);
                } else if (refused++ == 0) {
                    snprintf(first, sizeof first, "%s exists and was not made by mailferry",
                             t.path);
                }
                mf_target_close(&t);
            }
            if (x->nucls == cap) {
                cap = cap ? cap * 2 : 64;
                nv = mf_realloc(x->ucls, cap);
                if (nv == NULL) {
                    mf_free(user);
                    return mf_err_nomem(err);
                }
                x->ucls = nv;
            }
            x->ucls[x->nucls++] = (uint8_t)cls;
        } else if (rec.type == MF_REC_MAILBOX_DELTA && absent &&
                   rec.u.mailbox_delta.kind != MF_DELTA_NEW && cls == U_NEW) {
            x->ucls[x->nucls - 1] = U_SKIP;
            if (refused++ == 0)
                snprintf(first, sizeof first,
                         "user %s has no store on the target, but this delta (%s) changes one; "
                         "unpack the chain from its full archive first", user, id);
            cls = U_SKIP;
        }
    }
    mf_free(user);
    if (k < 0)
        return -1;
    if (refused > 0)
        return mf_err(err, MF_ECHAIN, "%s%s", first,
                      refused > 1 ? " (and other users alike); nothing was written" :
                                    "; nothing was written");
    return 0;
}

/* Delta records of a user whose store is changed in place. */
static int apply_record(struct run *x, const struct mf_record *rec, struct mf_error *err)
{
    switch (rec->type) {
    case MF_REC_EXTRA: return mf_apply_extra(x->apply, &rec->u.extra, err);
    case MF_REC_MAILBOX: return mf_apply_mailbox(x->apply, &rec->u.mailbox, err);
    case MF_REC_MAILBOX_DELTA: return mf_apply_mailbox_delta(x->apply, &rec->u.mailbox_delta, err);
    case MF_REC_MESSAGE: return mf_apply_message(x->apply, &rec->u.message, err);
    case MF_REC_FLAGS: return mf_apply_flags(x->apply, &rec->u.flags, err);
    case MF_REC_EXPUNGE: return mf_apply_expunge(x->apply, &rec->u.expunge, err);
    case MF_REC_MAILBOX_END: return mf_apply_mailbox_end(x->apply, err);
    case MF_REC_MAILBOX_GONE: return mf_apply_mailbox_gone(x->apply, &rec->u.mailbox_gone, err);
    case MF_REC_USER_END: {
        int r = mf_apply_end(x->apply, err);
        mf_apply_free(&x->apply);
        return r;
    }
    default: return 0;
    }
}

/* --merge: a full archive onto a store that exists is merged into it (even
 * one that holds this archive may have lost messages since): U_APPLY; onto
 * nothing, a normal unpack: U_NEW; -1 on error. */
static int merge_class(struct run *x, const struct mf_rec_user *u, struct mf_error *err)
{
    struct mf_target t;
    char *name = mf_strndup(u->name.p, u->name.n);
    int cls;
    if (name == NULL)
        return mf_err_nomem(err);
    if (!user_name_ok(u->name)) {
        mf_free(name);
        return U_NEW;   /* refused by the normal path with its message */
    }
    if (mf_target_probe(&t, x->o->tmpl, name, err) < 0) {
        mf_target_close(&t);
        mf_free(name);
        return -1;
    }
    cls = t.state == MF_TARGET_ABSENT ? U_NEW : U_APPLY;
    mf_target_close(&t);
    mf_free(name);
    return cls;
}

static int begin_apply(struct run *x, const struct mf_rec_user *u, int resume, int merge,
                       struct mf_error *err)
{
    struct mf_apply_ctx c;
    struct mf_owner own = x->o->owner;
    struct mf_target t;
    char *name = mf_strndup(u->name.p, u->name.n);
    int r;
    if (name == NULL)
        return mf_err_nomem(err);
    for (size_t i = 0; i < x->o->nowner_rules; i++)
        if (strcmp(x->o->owner_rules[i].user, name) == 0)
            own = x->o->owner_rules[i].owner;
    memset(&t, 0, sizeof t);
    t.parentfd = t.stagefd = -1;
    if (mf_target_open(&t, x->o->tmpl, name, &own, &x->o->shared, err) < 0) {
        mf_target_close(&t);
        mf_free(name);
        return -1;
    }
    c.r = x->r;
    c.o = x->o;
    c.st = x->st;
    c.note = x->note;
    c.note_ctx = x->ctx;
    r = mf_apply_begin(&x->apply, &c, name, &own, &t, resume, merge, err);
    mf_target_close(&t);
    mf_free(name);
    return r;
}

/* ---- the checks made before anything is written ---- */

struct user_path {
    char *path;     /* the expanded target template */
    char *name;
};

static int cmp_user_path(const void *a, const void *b)
{
    const struct user_path *x = a, *y = b;
    int c = strcmp(x->path, y->path);
    return c != 0 ? c : strcmp(x->name, y->name);
}

/* Whether a string has a byte that would end or forge a dbox metadata line. */
static int has_control(struct mf_str s)
{
    for (size_t i = 0; i < s.n; i++)
        if ((unsigned char)s.p[i] < 0x20 || (unsigned char)s.p[i] == 0x7f)
            return 1;
    return 0;
}

/* A user's home (--home) is refused when a link is on its way. */
static int check_home(const struct mf_unpack_opts *o, const char *user, struct mf_error *err)
{
    int fd;
    if (mf_template_open_dir(o->home_tmpl, user, &fd, err) < 0)
        return mf_err_ctx(err, "user %s: home (--home)", user);
    if (fd >= 0)
        close(fd);
    return 0;
}

int mf_unpack_precheck(struct mf_reader **readers, size_t n, const struct mf_unpack_opts *o,
                       struct mf_error *err)
{
    struct user_path *v = NULL;
    size_t nv = 0, cap = 0;
    int rc = -1, k = 0, per_user = mf_target_per_user(o->tmpl, strlen(o->tmpl));
    for (size_t i = 0; i < n; i++) {
        struct mf_record rec;
        char *user = NULL;
        int selected = 0, sieve = 0;
        if (mf_reader_rewind(readers[i], err) < 0)
            goto out;
        while ((k = mf_reader_next(readers[i], &rec, err)) > 0) {
            if (rec.type == MF_REC_USER) {
                mf_free(user);
                user = mf_strndup(rec.u.user.name.p, rec.u.user.name.n);
                if (user == NULL) {
                    k = mf_err_nomem(err);
                    break;
                }
                selected = selected_user(o, rec.u.user.name);
                sieve = 0;
                if (!selected)
                    continue;
                if (!user_name_ok(rec.u.user.name)) {
                    k = mf_err(err, MF_ECORRUPT, "user name %s cannot name a directory", user);
                    break;
                }
                if (nv == cap) {
                    size_t nc = cap == 0 ? 64 : cap * 2;
                    struct user_path *nw = mf_realloc(v, nc * sizeof *nw);
                    if (nw == NULL) {
                        k = mf_err_nomem(err);
                        break;
                    }
                    v = nw;
                    cap = nc;
                }
                if (mf_target_check(o->tmpl, user, &v[nv].path, err) < 0) {
                    k = -1;
                    break;
                }
                if ((v[nv].name = mf_strdup(user)) == NULL) {
                    mf_free(v[nv].path);
                    k = mf_err_nomem(err);
                    break;
                }
                nv++;
            } else if (rec.type == MF_REC_EXTRA && selected &&
                       (rec.u.extra.role == MF_EXTRA_SIEVE_SCRIPT ||
                        rec.u.extra.role == MF_EXTRA_SIEVE_ACTIVE)) {
                sieve = 1;
            } else if (rec.type == MF_REC_USER_END && selected && sieve && !o->no_sieve &&
                       o->home_tmpl != NULL) {
                if (check_home(o, user, err) < 0) {
                    k = -1;
                    break;
                }
            } else if (rec.type == MF_REC_MESSAGE) {
                /* both become lines of the dbox metadata block */
                const struct mf_rec_message *m = &rec.u.message;
                if (has_control(m->guid) || has_control(m->pop3_uidl)) {
                    k = mf_err(err, MF_ECORRUPT, "user %s: message uid %u: its %s has a control "
                                                 "character", user != NULL ? user : "?", m->uid,
                               has_control(m->guid) ? "GUID" : "POP3 UIDL");
                    break;
                }
            }
        }
        mf_free(user);
        if (k < 0 || mf_reader_rewind(readers[i], err) < 0)
            goto out;
    }
    /* two user names the template maps to one directory: the second would
     * take or overwrite the first one's store */
    if (nv > 1)
        qsort(v, nv, sizeof *v, cmp_user_path);
    for (size_t i = 1; per_user && i < nv; i++)
        if (strcmp(v[i - 1].path, v[i].path) == 0 && strcmp(v[i - 1].name, v[i].name) != 0) {
            mf_err(err, MF_EUSAGE, "users %s and %s both have the target %s: the template %s "
                                   "does not tell them apart; nothing was written",
                   v[i - 1].name, v[i].name, v[i].path, o->tmpl);
            goto out;
        }
    rc = 0;
out:
    for (size_t i = 0; i < nv; i++) {
        mf_free(v[i].path);
        mf_free(v[i].name);
    }
    mf_free(v);
    return rc;
}

int mf_unpack(struct mf_reader *r, const struct mf_unpack_opts *o, mf_unpack_progress_fn progress,
              mf_unpack_note_fn notefn, void *ctx, struct mf_unpack_stats *st,
              struct mf_error *err)
{
    struct run x;
    struct mf_record rec;
    int k, skipping = 0, rc = 0;
    memset(&x, 0, sizeof x);
    memset(st, 0, sizeof *st);
    x.r = r;
    x.o = o;
    x.progress = progress;
    x.note = notefn;
    x.ctx = ctx;
    x.st = st;
    x.t.parentfd = x.t.stagefd = -1;
    mf_buf_init(&x.name);
    mf_buf_init(&x.display);
    mf_buf_init(&x.subs);
    int delta = mf_reader_manifest(r)->kind == MF_KIND_DELTA;
    if (!mf_target_per_user(o->tmpl, strlen(o->tmpl)) && mf_reader_header(r)->users > 1 &&
        o->nusers != 1)
        return mf_err(err, MF_EUSAGE,
                      "the target template %s names one place for %" PRIu64 " users; use %%u or "
                      "%%n in it (or restore one user with --users)",
                      o->tmpl, mf_reader_header(r)->users);
    if (delta && delta_prepass(&x, err) < 0) {
        mf_free(x.ucls);
        return -1;
    }
    if (o->nusers > 0 && (x.user_seen = mf_calloc(o->nusers, 1)) == NULL) {
        mf_free(x.ucls);
        return mf_err_nomem(err);
    }
    if (mf_reader_rewind(r, err) < 0) {
        mf_free(x.ucls);
        return -1;
    }
    while (rc == 0 && (k = mf_reader_next(r, &rec, err)) > 0) {
        if (x.apply != NULL) {
            rc = apply_record(&x, &rec, err);
            if (rec.type == MF_REC_MESSAGE && progress != NULL)
                progress(ctx, st);
            continue;
        }
        switch (rec.type) {
        case MF_REC_USER: {
            int cls = delta ? x.ucls[x.ui++] : U_NEW;
            for (size_t i = 0; i < o->nusers && x.user_seen != NULL; i++)
                if (mf_str_eq(rec.u.user.name, o->users[i]))
                    x.user_seen[i] = 1;
            skipping = cls == U_SKIP || !selected_user(o, rec.u.user.name);
            if (!skipping && cls == U_CURRENT) {
                note_user(&x, "", "%.*s: the target holds this delta already; nothing to do",
                          (int)rec.u.user.name.n, rec.u.user.name.p);
                x.st->users_current++;
                skipping = 1;
            } else if (!skipping && (cls == U_APPLY || cls == U_RESUME)) {
                if (o->dry_run) {
                    x.st->users++;
                    skipping = 1;   /* counted below through its records */
                } else {
                    rc = begin_apply(&x, &rec.u.user, cls == U_RESUME, 0, err);
                }
            } else if (!skipping && !delta && o->merge && !o->dry_run &&
                       (cls = merge_class(&x, &rec.u.user, err)) != U_NEW) {
                if (cls < 0)
                    rc = -1;
                else
                    rc = begin_apply(&x, &rec.u.user, 0, 1, err);
            } else if (!skipping) {
                rc = begin_user(&x, &rec.u.user, err);
                skipping = rc == 0 && !x.active && !o->dry_run;
            }
            break;
        }
        case MF_REC_EXTRA:
            if (!skipping && (x.active || o->dry_run))
                rc = collect_extra(&x, &rec.u.extra, err);
            break;
        case MF_REC_MAILBOX:
            if (!skipping)
                rc = begin_mailbox(&x, &rec.u.mailbox, err);
            break;
        case MF_REC_MESSAGE:
            if (!skipping && x.in_mailbox) {
                rc = message(&x, &rec.u.message, err);
                if (progress != NULL)
                    progress(ctx, st);
            }
            break;
        case MF_REC_USER_GONE:
            if (selected_user(o, rec.u.user_gone.name)) {
                char *name = mf_strndup(rec.u.user_gone.name.p, rec.u.user_gone.name.n);
                if (name == NULL) {
                    rc = mf_err_nomem(err);
                    break;
                }
                note_user(&x, name, "not at the source any more; its store on the target "
                                    "is kept");
                mf_free(name);
            }
            break;
        case MF_REC_MAILBOX_END:
            if (!skipping && x.in_mailbox && !o->dry_run)
                rc = o->layout->mailbox_end(x.d, err);
            x.in_mailbox = 0;
            break;
        case MF_REC_USER_END:
            if (!skipping)
                rc = end_user(&x, err);
            user_clear(&x);
            skipping = 0;
            break;
        default:
            break;
        }
    }
    if (rc == 0 && k < 0)
        rc = -1;
    if (rc < 0)
        mf_target_abort(&x.t);
    mf_apply_free(&x.apply);
    mf_free(x.ucls);
    user_clear(&x);
    for (size_t i = 0; rc == 0 && i < o->nusers; i++)
        if (!x.user_seen[i]) {
            note_user(&x, o->users[i], "not in the archive");
            st->skipped++;
        }
    mf_free(x.user_seen);
    if (rc == 0 && o->mailbox != NULL && x.mb_matched_all == 0)
        rc = mf_err(err, MF_EUSAGE, "no mailbox named %s in the archive%s", o->mailbox,
                    o->nusers > 0 ? " for the users given" : "");
    /* users staged completely are committed even when a later one failed */
    {
        struct mf_error ferr;
        mf_err_clear(&ferr);
        if (flush_commits(&x, rc < 0 ? &ferr : err) < 0 && rc == 0)
            rc = -1;
    }
    mf_free(x.pending);
    mf_buf_free(&x.name);
    mf_buf_free(&x.display);
    mf_buf_free(&x.subs);
    if (rc == 0 && o->dry_run)
        rc = check_room(o->tmpl, st, err);
    return rc;
}
