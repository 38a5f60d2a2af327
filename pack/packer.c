/* packer.c: one user at a time: mailboxes, plans, messages, extras. */
#include "packer.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../format/fsutil.h"
#include "../format/hash.h"
#include "../format/pool.h"
#include "../format/index_codec.h"
#include "../format/limits.h"
#include "../format/mem.h"
#include "../dvindex/index_cache.h"
#include "base_state.h"
#include "delta_plan.h"
#include "../dvindex/index_read.h"
#include "mail_split.h"
#include "maildir_folders.h"
#include "maildir_name.h"
#include "plan.h"
#include "src_fs.h"
#include "tree_tar.h"
#include "users.h"

#include <archive.h>

#define META_MAX (64u * 1024 * 1024)
#define INMEM_MAX (64u * 1024 * 1024)
#define INFLIGHT_MAX (64u * 1024 * 1024)

/* A message read by the main thread and split and hashed by a worker. */
struct msg_job {
    struct mf_plan_msg *m;
    int64_t mtime, ctime;
    struct mf_buf data;
    struct mf_segments segs;
    uint8_t (*ids)[MF_HASH_BYTES];
    size_t ids_cap;
    uint64_t vextra;
    int oom;
    struct msg_job *next_free;
};

struct mf_packer {
    struct mf_writer *w;
    struct mf_pool *pool;
    struct msg_job *free_jobs;
    uint64_t inflight;        /* message bytes queued for hashing */
    struct mf_pack_opts o;
    mf_warn_fn warn;
    mf_pack_skip_fn skip;
    mf_pack_progress_fn progress;
    void *ctx;
    struct mf_pack_stats st;
    struct mf_buf msg;        /* message bytes */
    struct mf_segments segs;
    const char *user;
    char where[1024];
    /* delta: the current user's base state and where its blobs are */
    struct mf_base_user *base;
    struct mf_chain_map *chain;
};

static void pk_warn(void *c, const char *file, size_t line, const char *msg)
{
    struct mf_packer *pk = c;
    pk->st.warnings++;
    if (pk->warn != NULL)
        pk->warn(pk->ctx, file, line, msg);
}

static void pk_skip(struct mf_packer *pk, const char *path, const char *why)
{
    if (pk->o.report != NULL)
        fprintf(pk->o.report, "%s\t%s\tskipped: %s\n", pk->user, path, why);
    if (pk->skip != NULL)
        pk->skip(pk->ctx, pk->user, path, why);
}

static void pk_skip_folder(void *ctx, const char *path, const char *why)
{
    pk_skip(ctx, path, why);
}

static void job_destroy(struct msg_job *j)
{
    mf_buf_free(&j->data);
    mf_segments_free(&j->segs);
    mf_free(j->ids);
    mf_free(j);
}

static struct msg_job *job_get(struct mf_packer *pk)
{
    struct msg_job *j = pk->free_jobs;
    if (j != NULL) {
        pk->free_jobs = j->next_free;
    } else {
        j = mf_calloc(1, sizeof *j);
        if (j == NULL)
            return NULL;
        mf_buf_init(&j->data);
    }
    mf_buf_reset(&j->data);
    j->segs.n = 0;
    j->oom = 0;
    j->vextra = 0;
    return j;
}

static void job_put(struct mf_packer *pk, struct msg_job *j)
{
    if (j->data.cap > 8u * 1024 * 1024) {  /* do not keep huge buffers around */
        job_destroy(j);
        return;
    }
    j->next_free = pk->free_jobs;
    pk->free_jobs = j;
}

/* Abandons jobs still in the pipeline (after an error). */
static void drain_free(struct mf_packer *pk)
{
    struct msg_job *j;
    if (pk->pool == NULL)
        return;
    while ((j = mf_pool_collect(pk->pool)) != NULL)
        job_put(pk, j);
    pk->inflight = 0;
}

int mf_packer_new(struct mf_packer **pk_r, struct mf_writer *w, const struct mf_pack_opts *o,
                  mf_warn_fn warn, mf_pack_skip_fn skip, mf_pack_progress_fn progress, void *ctx,
                  struct mf_error *err)
{
    struct mf_packer *pk = mf_calloc(1, sizeof *pk);
    *pk_r = NULL;
    if (pk == NULL)
        return mf_err_nomem(err);
    pk->w = w;
    pk->o = *o;
    pk->warn = warn;
    pk->skip = skip;
    pk->progress = progress;
    pk->ctx = ctx;
    mf_buf_init(&pk->msg);
    if (mf_pool_create(&pk->pool, o->threads, (size_t)(o->threads > 0 ? 4 * o->threads : 1),
                       err) < 0) {
        mf_free(pk);
        return -1;
    }
    *pk_r = pk;
    return 0;
}

const struct mf_pack_stats *mf_packer_stats(const struct mf_packer *pk)
{
    return &pk->st;
}

void mf_packer_free(struct mf_packer **pkp)
{
    struct mf_packer *pk = *pkp;
    if (pk == NULL)
        return;
    *pkp = NULL;
    drain_free(pk);
    mf_pool_destroy(&pk->pool);
    while (pk->free_jobs != NULL) {
        struct msg_job *j = pk->free_jobs;
        pk->free_jobs = j->next_free;
        job_destroy(j);
    }
    mf_buf_free(&pk->msg);
    mf_segments_free(&pk->segs);
    mf_chain_map_free(&pk->chain);
    mf_free(pk);
}

int mf_packer_set_base(struct mf_packer *pk, struct mf_base_user *bu, struct mf_error *err)
{
    mf_chain_map_free(&pk->chain);
    pk->base = bu;
    return bu != NULL ? mf_chain_map_build(&pk->chain, bu, err) : 0;
}

static int is_msg_ent(const struct mf_ent *e)
{
    return e->type == MF_ENT_FILE || e->type == MF_ENT_LINK || e->type == MF_ENT_OTHER;
}

static int cmp_base_name(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    size_t xn = strcspn(x, ":"), yn = strcspn(y, ":"), n = xn < yn ? xn : yn;
    int c = memcmp(x, y, n);
    return c != 0 ? c : (xn < yn ? -1 : xn > yn);
}

/* The file names of two listings of one directory, the second taken after
 * the first: a file renamed while a listing runs may be missing from it
 * (readdir does not promise to return it). Each base name counts once,
 * under the name the later listing saw. */
static char **names_of(const struct mf_ents *e, const struct mf_ents *e2, size_t *n)
{
    char **v = mf_calloc(e->n + e2->n + 1, sizeof *v);
    size_t k = 0, k2;
    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < e2->n; i++)
        if (is_msg_ent(&e2->v[i]))
            v[k++] = e2->v[i].name;
    qsort(v, k, sizeof *v, cmp_base_name);
    k2 = k;
    for (size_t i = 0; i < e->n; i++) {
        char *name = e->v[i].name;
        if (is_msg_ent(&e->v[i]) && bsearch(&name, v, k2, sizeof *v, cmp_base_name) == NULL)
            v[k++] = name;
    }
    *n = k;
    return v;
}

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *r = mf_malloc(n);
    if (r != NULL)
        snprintf(r, n, "%s%s%s", a, a[0] != '\0' ? "/" : "", b);
    return r;
}

/* Reads an optional metadata file of the mailbox; a failure is a warning. */
/* Reads a metadata file of the mailbox; *data_r = NULL when it is absent.
 * Errors (unreadable, a link, too big) are the caller's to judge. */
static int read_meta(struct mf_tree *tree, const char *dir, const char *name, uint8_t **data_r,
                     size_t *len, struct mf_error *err)
{
    char *rel = join(dir, name);
    int exists = 0, r;
    *data_r = NULL;
    *len = 0;
    if (rel == NULL)
        return mf_err_nomem(err);
    r = tree->ops->read(tree, rel, META_MAX, data_r, len, &exists, err);
    mf_free(rel);
    if (r == 0 && !exists) {
        mf_free(*data_r);
        *data_r = NULL;
    }
    return r;
}

/* read_meta for a folder's own metadata: a link or special file in its
 * place is ignored with a warning (the folder is packed as Dovecot would
 * see it after rebuilding that file); other errors are returned. */
static int read_folder_meta(struct mf_packer *pk, struct mf_tree *tree, const char *dir,
                            const char *name, uint8_t **data_r, size_t *len,
                            struct mf_error *err)
{
    if (read_meta(tree, dir, name, data_r, len, err) == 0)
        return 0;
    if (err->sys != ELOOP && err->sys != EINVAL)
        return -1;
    pk_warn(pk, pk->where, 0, err->msg);
    mf_err_clear(err);
    return 0;
}

/* A folder whose cur/, new/ or metadata cannot be used as it is: a link or
 * special file leaves the folder out (listed); an unreadable one fails the
 * pack unless --skip-unreadable, which also leaves it out. Packing it with
 * guessed UIDs would silently renumber the mailbox. */
static int folder_unusable(struct mf_packer *pk, struct mf_plan_mailbox *mb, struct mf_error *err)
{
    int e = err->sys;
    int link = e == ELOOP || e == ENOTDIR;
    if (err->cls == MF_ENOMEM || (!link && !pk->o.skip_unreadable))
        return mf_err_ctx(err, "%s", pk->where);
    pk_skip(pk, mb->dir[0] ? mb->dir : ".", err->msg);
    if (link)
        pk->st.folders_skipped++;
    else
        pk->st.unreadable++;
    mf_err_clear(err);
    mb->skipped = 1;
    return 0;
}

static int load_courier_keywords(struct mf_packer *pk, struct mf_tree *tree, const char *dir,
                                 struct mf_courier_keywords *ck, int *have, struct mf_error *err)
{
    char *kdir = join(dir, "courierimapkeywords");
    struct mf_ents ents;
    size_t len;
    uint8_t *list;
    *have = 0;
    if (kdir == NULL)
        return mf_err_nomem(err);
    if (tree->ops->list(tree, kdir, &ents, err) < 0) {
        pk_warn(pk, pk->where, 0, err->msg);
        mf_free(kdir);
        return 0;
    }
    if (ents.n == 0) {
        mf_free(kdir);
        return 0;
    }
    *have = 1;
    if (read_folder_meta(pk, tree, kdir, ":list", &list, &len, err) < 0) {
        mf_ents_free(&ents);
        mf_free(kdir);
        return -1;
    }
    if (list != NULL) {
        char file[1200];
        snprintf(file, sizeof file, "%s/courierimapkeywords/:list", pk->where);
        if (mf_courier_kw_list(ck, (const char *)list, len, file, pk_warn, pk) < 0) {
            mf_free(list);
            mf_ents_free(&ents);
            mf_free(kdir);
            return mf_err_nomem(err);
        }
        mf_free(list);
    }
    for (size_t i = 0; i < ents.n; i++) {
        uint8_t *data;
        if (ents.v[i].type != MF_ENT_FILE || ents.v[i].name[0] == ':')
            continue;
        if (read_meta(tree, kdir, ents.v[i].name, &data, &len, err) < 0) {
            /* one message's keyword update: its keywords are lost, not the folder */
            pk_warn(pk, pk->where, 0, err->msg);
            mf_err_clear(err);
            continue;
        }
        if (data == NULL)
            continue;
        if (mf_courier_kw_update(ck, ents.v[i].name, (const char *)data, len) < 0) {
            mf_free(data);
            mf_ents_free(&ents);
            mf_free(kdir);
            return mf_err_nomem(err);
        }
        mf_free(data);
    }
    mf_courier_kw_finish(ck);
    mf_ents_free(&ents);
    mf_free(kdir);
    return 0;
}

/* Reads a whole message (or, for a huge one, streams it to the writer). */
static int read_message(int fd, const struct stat *st, struct mf_buf *msg, int *streamed,
                        struct mf_error *err)
{
    mf_buf_reset(msg);
    *streamed = 0;
    if ((uint64_t)st->st_size > MF_MESSAGE_MAX)
        return mf_err(err, MF_EUSAGE, "larger than the %llu byte limit",
                      (unsigned long long)MF_MESSAGE_MAX);
    if (st->st_size > (off_t)INMEM_MAX) {
        *streamed = 1;
        return 0;
    }
    if (mf_buf_reserve(msg, (size_t)st->st_size + 1) < 0)
        return mf_err_nomem(err);
    for (;;) {
        ssize_t n;
        if (mf_buf_reserve(msg, 65536) < 0)
            return mf_err_nomem(err);
        n = read(fd, msg->p + msg->len, msg->cap - msg->len);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return mf_err_sys(err, MF_EIO, errno, "read");
        }
        if (n == 0)
            break;
        msg->len += (size_t)n;
        if (msg->len > INMEM_MAX) {
            *streamed = 1;  /* grew while we read: stream the rest */
            return 0;
        }
    }
    return 0;
}

/* Line feeds not preceded by CR: what RFC822.SIZE adds to the physical size.
 * `prev` carries the last byte across pieces of one message. */
static uint64_t vsize_of(const uint8_t *p, size_t n, uint8_t *prev)
{
    uint64_t extra = 0;
    const uint8_t *q = p, *end = p + n;
    if (n == 0)
        return 0;
    while ((q = memchr(q, '\n', (size_t)(end - q))) != NULL) {
        uint8_t before = q == p ? *prev : q[-1];
        if (before != '\r')
            extra++;
        q++;
    }
    *prev = p[n - 1];
    return extra;
}

/* Streams a large message: header, then the rest in pieces. */
static int stream_message(struct mf_packer *pk, int fd, uint64_t *size, uint64_t *vextra,
                          struct mf_error *err)
{
    uint8_t *buf = mf_malloc(MF_BLOB_MAX);
    uint8_t prev = 0;
    int first = 1;
    if (buf == NULL)
        return mf_err_nomem(err);
    *size = 0;
    *vextra = 0;
    if (lseek(fd, 0, SEEK_SET) < 0) {
        mf_free(buf);
        return mf_err_sys(err, MF_EIO, errno, "seek");
    }
    for (;;) {
        size_t got = 0;
        while (got < MF_BLOB_MAX) {
            ssize_t n = read(fd, buf + got, MF_BLOB_MAX - got);
            if (n < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (n < 0) {
                mf_free(buf);
                return mf_err_sys(err, MF_EIO, errno, "read");
            }
            if (n == 0)
                break;
            got += (size_t)n;
        }
        if (got == 0)
            break;
        *vextra += vsize_of(buf, got, &prev);
        if (first) {
            size_t he = mf_header_end(buf, got);
            if (mf_writer_blob(pk->w, MF_BLOB_HEADER, buf, he, err) < 0 ||
                mf_writer_blob(pk->w, MF_BLOB_PART, buf + he, got - he, err) < 0) {
                mf_free(buf);
                return -1;
            }
            first = 0;
        } else if (mf_writer_blob(pk->w, MF_BLOB_PART, buf, got, err) < 0) {
            mf_free(buf);
            return -1;
        }
        *size += got;
        if (got < MF_BLOB_MAX)
            break;
    }
    mf_free(buf);
    return 0;
}

/* Finds a message again after its file name changed (flags or new/ -> cur/). */
static int refind(struct mf_packer *pk, int rootfd, struct mf_plan_mailbox *mb,
                  struct mf_plan_msg *m, struct mf_error *err)
{
    static const char *const dirs[2] = {"cur", "new"};
    size_t base = strcspn(m->name, ":");
    for (int d = 0; d < 2; d++) {
        char *rel = join(mb->dir, dirs[d]);
        struct mf_ents ents;
        if (rel == NULL)
            return mf_err_nomem(err);
        if (mf_list_dir(rootfd, rel, &ents, err) < 0) {
            mf_free(rel);
            return -1;
        }
        mf_free(rel);
        for (size_t i = 0; i < ents.n; i++)
            if (mf_maildir_base_eq(ents.v[i].name, strlen(ents.v[i].name), m->name, base)) {
                char *nn = mf_strdup(ents.v[i].name);
                if (nn == NULL) {
                    mf_ents_free(&ents);
                    return mf_err_nomem(err);
                }
                mf_free(m->name);
                m->name = nn;
                m->dir = d == 0 ? MF_SRC_CUR : MF_SRC_NEW;
                mf_ents_free(&ents);
                /* flags and keywords now as the renamed file says */
                if (mf_plan_msg_from_name(mb, m, err) < 0)
                    return -1;
                return 1;
            }
        mf_ents_free(&ents);
    }
    (void)pk;
    return 0;
}

/* A GUID or UIDL goes into a dbox metadata line at unpack, so the format
 * refuses control characters in it (spec 9.3); a source that has one (a file
 * name with a newline, say) sends none instead and the new server makes one. */
static struct mf_str metadata_safe(struct mf_str s)
{
    for (size_t i = 0; i < s.n; i++)
        if ((unsigned char)s.p[i] < 0x20 || s.p[i] == 0x7f) {
            s.n = 0;
            break;
        }
    return s;
}

/* A message record's fields from the plan (content fields are the writer's). */
static void message_record(const struct mf_plan_msg *m, int64_t received, int64_t saved,
                           struct mf_rec_message *rec)
{
    memset(rec, 0, sizeof *rec);
    rec->uid = m->uid;
    rec->flags = m->flags;
    rec->other_flags.p = m->other;
    rec->other_flags.n = strlen(m->other);
    rec->nkeywords = m->nkw;
    rec->keywords = m->kw;
    rec->guid = metadata_safe(mf_plan_msg_guid(m));
    rec->received = received;
    rec->saved = m->saved >= 0 ? m->saved : saved;
    if (m->uidl != NULL) {
        rec->pop3_uidl.p = m->uidl;
        rec->pop3_uidl.n = strlen(m->uidl) > MF_UIDL_MAX ? MF_UIDL_MAX : strlen(m->uidl);
        rec->pop3_uidl = metadata_safe(rec->pop3_uidl);
    }
    rec->pop3_order = m->pop3_order;
    rec->source_dir = m->dir;
    rec->source_name.p = m->name;
    rec->source_name.n = strlen(m->name) > MF_SOURCE_NAME_MAX ? MF_SOURCE_NAME_MAX
                                                              : strlen(m->name);
}

/* Worker thread: cuts a message into blobs and hashes each. */
static void hash_job(void *arg)
{
    struct msg_job *j = arg;
    uint8_t prev = 0;
    j->vextra = vsize_of(j->data.p, j->data.len, &prev);
    if (mf_split_message(j->data.p, j->data.len, &j->segs) < 0) {
        j->oom = 1;
        return;
    }
    if (j->segs.n > j->ids_cap) {
        void *n = mf_realloc(j->ids, j->segs.n * sizeof *j->ids);
        if (n == NULL) {
            j->oom = 1;
            return;
        }
        j->ids = n;
        j->ids_cap = j->segs.n;
    }
    for (size_t i = 0; i < j->segs.n; i++)
        mf_hash(MF_HK_BLOB, j->ids[i], j->data.p + j->segs.v[i].off, j->segs.v[i].len);
}

/* Main thread: hands a hashed message to the writer, in order. */
static int finish_job(struct mf_packer *pk, struct msg_job *j, struct mf_error *err)
{
    struct mf_rec_message rec;
    struct mf_plan_msg *m = j->m;
    if (j->oom)
        return mf_err_nomem(err);
    message_record(m, j->mtime, j->ctime, &rec);
    if (mf_writer_begin_message(pk->w, &rec, err) < 0)
        return -1;
    for (size_t i = 0; i < j->segs.n; i++) {
        uint8_t guid[MF_GUID_BYTES];
        uint32_t uid;
        uint64_t off;
        size_t len = j->segs.v[i].len;
        /* a blob the base chain holds (a moved or copied message, a forwarded
         * attachment) is referred to there, unless this archive has it */
        if (pk->chain != NULL && !mf_writer_has_blob(pk->w, j->ids[i]) &&
            mf_chain_map_get(pk->chain, j->ids[i], len, guid, &uid, &off)) {
            if (mf_writer_chain_blob(pk->w, j->ids[i], len, guid, uid, off, err) < 0)
                return -1;
            pk->st.chain_bytes += len;
            continue;
        }
        if (mf_writer_blob_id(pk->w, j->segs.v[i].kind, j->data.p + j->segs.v[i].off, len,
                              j->ids[i], err) < 0)
            return -1;
    }
    /* The virtual size Dovecot reports: ,W= (or the uidlist's W) when present. */
    mf_writer_set_vsize(pk->w, m->size_w >= 0 ? (uint64_t)m->size_w : j->data.len + j->vextra);
    if (mf_writer_end_message(pk->w, err) < 0)
        return -1;
    j->m->packed = 1;
    pk->st.messages++;
    pk->st.bytes += j->data.len;
    if (pk->progress != NULL)
        pk->progress(pk->ctx, &pk->st);
    return 0;
}

static int collect_one(struct mf_packer *pk, struct mf_error *err)
{
    struct msg_job *j = mf_pool_collect(pk->pool);
    int r;
    if (j == NULL)
        return 0;
    pk->inflight -= j->data.len;
    r = finish_job(pk, j, err);
    job_put(pk, j);
    return r;
}

static int collect_all(struct mf_packer *pk, struct mf_error *err)
{
    while (mf_pool_pending(pk->pool) > 0)
        if (collect_one(pk, err) < 0)
            return -1;
    return 0;
}

/* Reads a message into a job (main thread) and queues it for hashing. A
 * message too large for memory is written synchronously, after the queue. */
static int pack_message(struct mf_packer *pk, int rootfd, int curfd, int newfd,
                        struct mf_plan_mailbox *mb, struct mf_plan_msg *m, struct mf_error *err)
{
    struct stat st;
    struct msg_job *j;
    int fd = -1, streamed, e = 0;
    char path[1300];
    /* A file renamed meanwhile (a flag change, new/ -> cur/) is looked up
     * again under its new name, up to 50 times (Dovecot gives up after 10). */
    for (int tries = 0;; tries++) {
        int k, dirfd = m->dir == MF_SRC_CUR ? curfd : newfd;
        fd = dirfd >= 0 ? mf_open_file_at(dirfd, m->name) : -1;
        e = dirfd >= 0 ? errno : ENOENT;
        if (fd >= 0 || e != ENOENT || tries >= 50)
            break;
        k = refind(pk, rootfd, mb, m, err);
        if (k < 0)
            return -1;
        if (k == 0)
            break;
    }
    snprintf(path, sizeof path, "%s%s%s/%s", mb->dir, mb->dir[0] ? "/" : "",
             m->dir == MF_SRC_CUR ? "cur" : "new", m->name);
    if (fd < 0) {
        if (e == ENOENT) {
            pk->st.vanished++;
            pk_skip(pk, path, "expunged while packing");
            return 0;
        }
        if (e == ELOOP) {
            pk->st.links++;
            pk_skip(pk, path, "symbolic link, not followed");
            return 0;
        }
        if (!pk->o.skip_unreadable)
            return mf_err_sys(err, MF_EIO, e, "%s: %s", pk->where, path);
        pk->st.unreadable++;
        pk_skip(pk, path, strerror(e));
        return 0;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        pk->st.special++;
        pk_skip(pk, path, "not a regular file");
        return 0;
    }
    j = job_get(pk);
    if (j == NULL) {
        close(fd);
        return mf_err_nomem(err);
    }
    if (read_message(fd, &st, &j->data, &streamed, err) < 0) {
        close(fd);
        job_put(pk, j);
        if (err->cls == MF_EIO && pk->o.skip_unreadable) {
            pk->st.unreadable++;
            pk_skip(pk, path, err->msg);
            return 0;
        }
        return mf_err_ctx(err, "%s: %s", pk->where, path);
    }
    j->m = m;
    j->mtime = (int64_t)st.st_mtime;
    j->ctime = (int64_t)st.st_ctime;
    if (streamed) {
        struct mf_rec_message rec;
        uint64_t size = 0, vextra = 0;
        job_put(pk, j);
        if (collect_all(pk, err) < 0) {
            close(fd);
            return -1;
        }
        message_record(m, (int64_t)st.st_mtime, (int64_t)st.st_ctime, &rec);
        if (mf_writer_begin_message(pk->w, &rec, err) < 0 ||
            stream_message(pk, fd, &size, &vextra, err) < 0) {
            close(fd);
            return mf_err_ctx(err, "%s: %s", pk->where, path);
        }
        close(fd);
        mf_writer_set_vsize(pk->w, m->size_w >= 0 ? (uint64_t)m->size_w : size + vextra);
        if (mf_writer_end_message(pk->w, err) < 0)
            return -1;
        m->packed = 1;
        pk->st.messages++;
        pk->st.bytes += size;
        return 0;
    }
    close(fd);
    while (mf_pool_full(pk->pool) || (pk->inflight > INFLIGHT_MAX && mf_pool_pending(pk->pool) > 0))
        if (collect_one(pk, err) < 0) {
            job_put(pk, j);
            return -1;
        }
    pk->inflight += j->data.len;
    mf_pool_submit(pk->pool, hash_job, j);
    return 0;
}

static int cmp_msg_uid(const void *a, const void *b)
{
    const struct mf_plan_msg *const *x = a, *const *y = b;
    return (*x)->uid < (*y)->uid ? -1 : (*x)->uid > (*y)->uid;
}

/* Save dates from Dovecot's cache (dovecot.index.cache in the mailbox
 * directory), which Dovecot reports before the file's ctime: a file renamed
 * by a flag change has a new ctime but keeps its cached save date. Only an
 * index of the same UIDVALIDITY counts; anything unreadable means "not
 * cached". The index files are only read. */
static int cached_save_dates(struct mf_packer *pk, struct mf_tree *tree,
                             struct mf_plan_mailbox *mb, const struct mf_ix *ix,
                             struct mf_error *err)
{
    struct mf_ixc c;
    struct mf_plan_msg **byuid = NULL;
    int dirfd, r;
    long field;
    if (ix->n == 0 || mb->nmsgs == 0 || mf_ix_uid_validity(ix) != mb->uidvalidity ||
        (dirfd = tree->ops->open_dir(tree, mb->dir)) < 0)
        return 0;
    r = mf_ixc_open(&c, dirfd, "dovecot.index.cache", ix, err);
    close(dirfd);
    if (r <= 0 || (field = mf_ixc_field(&c, "date.save")) < 0)
        goto out;
    byuid = mf_calloc(mb->nmsgs, sizeof *byuid);
    if (byuid == NULL) {
        r = mf_err_nomem(err);
        goto out;
    }
    for (size_t i = 0; i < mb->nmsgs; i++)
        byuid[i] = &mb->msgs[i];
    qsort(byuid, mb->nmsgs, sizeof *byuid, cmp_msg_uid);
    for (size_t i = 0, j = 0; i < ix->n && j < mb->nmsgs;) {
        uint8_t v[4];
        if (ix->msgs[i].uid < byuid[j]->uid) {
            i++;
        } else if (ix->msgs[i].uid > byuid[j]->uid) {
            j++;
        } else {
            if (mf_ixc_lookup(&c, i, field, v, sizeof v) == 1) {
                byuid[j]->saved = (int64_t)mf_load_u32le(v);
                pk->st.saved_cached++;
            }
            i++;
            j++;
        }
    }
    r = 0;
out:
    mf_free(byuid);
    mf_ixc_close(&c);
    return r < 0 ? -1 : 0;
}

/* Dovecot's index of a Maildir folder (dovecot.index + log in the folder's
 * directory), read only: its UIDVALIDITY and next UID number messages the
 * uidlist does not know, and its cache holds save dates. An unusable index
 * is an empty one (Dovecot would rebuild it). */
static int load_folder_index(struct mf_tree *tree, struct mf_plan_mailbox *mb, struct mf_ix *ix,
                             struct mf_error *err)
{
    struct mf_error ierr;
    int dirfd, r;
    mf_ix_init(ix);
    if (mb->courier || (dirfd = tree->ops->open_dir(tree, mb->dir)) < 0)
        return 0;
    mf_err_clear(&ierr);
    r = mf_ix_load(dirfd, "dovecot.index", -1, 0, ix, &ierr);
    close(dirfd);
    if (r < 0) {
        mf_ix_free(ix);
        mf_ix_init(ix);
        if (ierr.cls == MF_ENOMEM)
            return mf_err_nomem(err);
    }
    return 0;
}

/* Lists the mailbox, reads its metadata and plans its messages. */
static int plan_mailbox(struct mf_packer *pk, struct mf_tree *tree, struct mf_plan_mailbox *mb,
                        struct mf_error *err)
{
    struct mf_ents newe, cure, newe2, cure2;
    char *newrel = join(mb->dir, "new"), *currel = join(mb->dir, "cur");
    struct mf_mailbox_src src;
    struct mf_courier_keywords ck;
    struct mf_courier_pop3 *pop3 = NULL;
    size_t npop3 = 0;
    uint8_t *uidlist = NULL, *uiddb = NULL, *keywords = NULL;
    size_t ulen = 0, dblen = 0, klen = 0;
    int have_ck = 0, r = -1;
    struct mf_ix ix;
    memset(&newe, 0, sizeof newe);
    memset(&cure, 0, sizeof cure);
    memset(&newe2, 0, sizeof newe2);
    memset(&cure2, 0, sizeof cure2);
    memset(&src, 0, sizeof src);
    mf_ix_init(&ix);
    mf_courier_kw_init(&ck);
    snprintf(pk->where, sizeof pk->where, "%s/%s", pk->user, mb->inbox ? "INBOX" : mb->stored);
    if (newrel == NULL || currel == NULL) {
        mf_err_nomem(err);
        goto out;
    }
    /* listing first, metadata after: records Dovecot adds meanwhile are seen */
    if (tree->ops->list(tree, newrel, &newe, err) < 0 ||
        tree->ops->list(tree, currel, &cure, err) < 0 ||
        tree->ops->list(tree, newrel, &newe2, err) < 0 ||
        tree->ops->list(tree, currel, &cure2, err) < 0 ||
        read_folder_meta(pk, tree, mb->dir, "dovecot-uidlist", &uidlist, &ulen, err) < 0 ||
        read_folder_meta(pk, tree, mb->dir, "dovecot-keywords", &keywords, &klen, err) < 0 ||
        (mb->courier &&
         (read_folder_meta(pk, tree, mb->dir, "courierimapuiddb", &uiddb, &dblen, err) < 0 ||
          load_courier_keywords(pk, tree, mb->dir, &ck, &have_ck, err) < 0))) {
        r = folder_unusable(pk, mb, err);
        goto out;
    }
    if (mb->courier) {
        if (mb->inbox) {
            size_t plen;
            uint8_t *pl;
            if (read_meta(tree, "", "courierpop3dsizelist", &pl, &plen, err) < 0) {
                /* POP3 UIDLs only: warn, keep the mail */
                pk_warn(pk, pk->where, 0, err->msg);
                mf_err_clear(err);
            }
            if (pl != NULL) {
                char file[1200];
                snprintf(file, sizeof file, "%s/courierpop3dsizelist", pk->user);
                if (mf_courier_pop3_parse((const char *)pl, plen, file, pk_warn, pk, &pop3,
                                          &npop3) < 0) {
                    mf_free(pl);
                    mf_err_nomem(err);
                    goto out;
                }
                mf_free(pl);
            }
        }
    }
    src.user = pk->user;
    src.new_names = names_of(&newe, &newe2, &src.nnew);
    src.cur_names = names_of(&cure, &cure2, &src.ncur);
    if (src.new_names == NULL || src.cur_names == NULL) {
        mf_err_nomem(err);
        goto out;
    }
    src.uidlist = (const char *)uidlist;
    src.uidlist_len = ulen;
    src.courier_uiddb = (const char *)uiddb;
    src.courier_uiddb_len = dblen;
    src.keywords = (const char *)keywords;
    src.keywords_len = klen;
    src.ckw = have_ck ? &ck : NULL;
    src.pop3 = pop3;
    src.npop3 = npop3;
    src.pop3_format = pk->o.pop3_format;
    src.where = pk->where;
    if (load_folder_index(tree, mb, &ix, err) < 0)
        goto out;
    src.index_uidvalidity = mf_ix_uid_validity(&ix);
    src.index_next_uid = mf_ix_next_uid(&ix);
    r = mf_plan_mailbox(mb, &src, pk_warn, pk, err);
    if (r == 0)
        r = cached_save_dates(pk, tree, mb, &ix, err);
out:
    mf_ix_free(&ix);
    mf_free((void *)src.new_names);
    mf_free((void *)src.cur_names);
    mf_ents_free(&newe);
    mf_ents_free(&cure);
    mf_ents_free(&newe2);
    mf_ents_free(&cure2);
    mf_free(uidlist);
    mf_free(uiddb);
    mf_free(keywords);
    mf_courier_kw_free(&ck);
    mf_courier_pop3_free(pop3, npop3);
    mf_free(newrel);
    mf_free(currel);
    return r;
}

/* The MAILBOX record of a planned mailbox. */
static int begin_mailbox_record(struct mf_packer *pk, struct mf_plan_mailbox *mb,
                                const char *const *kw, uint32_t nkw, struct mf_error *err)
{
    struct mf_rec_mailbox rec;
    struct mf_str *comps = mf_calloc(mb->ncomp, sizeof *comps);
    struct mf_str *kws = mf_calloc(nkw ? nkw : 1, sizeof *kws);
    int r;
    if (comps == NULL || kws == NULL) {
        mf_free(comps);
        mf_free(kws);
        return mf_err_nomem(err);
    }
    for (uint32_t i = 0; i < mb->ncomp; i++) {
        comps[i].p = mb->comp[i];
        comps[i].n = strlen(mb->comp[i]);
    }
    for (uint32_t i = 0; i < nkw; i++) {
        kws[i].p = kw[i];
        kws[i].n = strlen(kw[i]);
    }
    memset(&rec, 0, sizeof rec);
    rec.stored.p = mb->stored;
    rec.stored.n = strlen(mb->stored);
    rec.ncomponents = mb->ncomp;
    rec.components = comps;
    rec.encoding = mb->encoding;
    rec.layout = mb->layout;
    memcpy(rec.guid, mb->guid, 16);
    rec.uidvalidity = mb->uidvalidity;
    rec.uidnext = mb->uidnext;
    rec.flags = (mb->subscribed ? MF_MBOX_SUBSCRIBED : 0) | (mb->inbox ? MF_MBOX_INBOX : 0) |
                (mb->guid_derived ? MF_MBOX_GUID_DERIVED : 0);
    rec.nkeywords = nkw;
    rec.keywords = kws;
    r = mf_writer_begin_mailbox(pk->w, &rec, err);
    mf_free(comps);
    mf_free(kws);
    return r;
}

/* In a delta, a folder that could not be read now but is in the base: it
 * is recorded unchanged (as the base has it), never as removed. */
static int pack_kept_from_base(struct mf_packer *pk, struct mf_plan_mailbox *mb,
                               struct mf_error *err)
{
    struct mf_base_mailbox *bm = NULL;
    struct mf_rec_mailbox_delta md;
    uint8_t state[MF_HASH_BYTES];
    for (size_t i = 0; pk->base != NULL && i < pk->base->nmb; i++)
        if (!pk->base->mb[i].seen && strcmp(pk->base->mb[i].stored, mb->stored) == 0)
            bm = &pk->base->mb[i];
    if (bm == NULL)
        return 0;
    bm->seen = 1;
    memcpy(mb->guid, bm->guid, MF_GUID_BYTES);
    mb->uidvalidity = bm->uidvalidity;
    mb->uidnext = bm->uidnext;
    mb->subscribed = (bm->flags & MF_MBOX_SUBSCRIBED) != 0;
    mb->guid_derived = (bm->flags & MF_MBOX_GUID_DERIVED) != 0;
    memset(&md, 0, sizeof md);
    md.kind = MF_DELTA_CHANGES;
    md.base_stored.p = bm->stored;
    md.base_stored.n = strlen(bm->stored);
    md.base_uidvalidity = bm->uidvalidity;
    md.base_uidnext = bm->uidnext;
    mf_base_state_hash(bm, state);
    if (begin_mailbox_record(pk, mb, (const char *const *)bm->kw, bm->nkw, err) < 0 ||
        mf_writer_mailbox_delta(pk->w, &md, err) < 0)
        return -1;
    mf_writer_set_state(pk->w, state);
    if (mf_writer_end_mailbox(pk->w, err) < 0)
        return -1;
    pk->st.mailboxes++;
    return 0;
}

/* The delta records after a mailbox's new messages: flag changes, expunges,
 * and the state hash. */
static int delta_changes(struct mf_packer *pk, struct mf_plan_mailbox *mb,
                         struct mf_mbox_delta *d, struct mf_error *err)
{
    uint8_t state[MF_HASH_BYTES], *present;
    for (size_t i = 0; i < d->nflags; i++)
        if (mf_writer_flags(pk->w, &d->flags[i], err) < 0)
            return -1;
    pk->st.flag_changes += d->nflags;
    if (d->nexpunged > 0) {
        struct mf_rec_expunge e = {d->nexpunged, d->expunged};
        if (mf_writer_expunge(pk->w, &e, err) < 0)
            return -1;
        for (uint32_t i = 0; i < d->nexpunged; i++)
            pk->st.expunged += d->expunged[i].count;
    }
    present = mf_calloc(mb->nmsgs ? mb->nmsgs : 1, 1);
    if (present == NULL)
        return mf_err_nomem(err);
    for (size_t i = 0; i < mb->nmsgs; i++)
        present[i] = mb->msgs[i].packed;
    mf_delta_state(mb, d, present, state);
    mf_free(present);
    mf_writer_set_state(pk->w, state);
    return 0;
}

/* What a client will notice of this mailbox after the move (pack --report):
 * its UIDVALIDITY and where it comes from, where its POP3 UIDLs come from,
 * a name the target will have to translate, keywords Dovecot invents. */
static void report_mailbox(struct mf_packer *pk, const struct mf_plan_mailbox *mb)
{
    static const char *const uidv[] = {"?", "the uidlist (kept: clients keep their cache)",
                                       "Dovecot's index (the uidlist was lost)",
                                       "derived (no UIDVALIDITY yet: clients resync)"};
    size_t n[4] = {0, 0, 0, 0};
    FILE *f = pk->o.report;
    fprintf(f, "%s\t%s", pk->user, mb->inbox ? "INBOX" : "");
    for (uint32_t i = 0; !mb->inbox && i < mb->ncomp; i++)
        fprintf(f, "%s%s", i ? "/" : "", mb->comp[i]);
    fprintf(f, "\t%zu messages\tUIDVALIDITY %u from %s", mb->nmsgs, mb->uidvalidity,
            uidv[mb->uidv_src < 4 ? mb->uidv_src : 0]);
    if (mb->guid_derived)
        fprintf(f, "; mailbox GUID derived");
    for (size_t i = 0; i < mb->nmsgs; i++)
        n[mb->msgs[i].uidl_src < 4 ? mb->msgs[i].uidl_src : 0]++;
    fprintf(f, "; POP3 UIDLs: %zu from the uidlist, %zu from Courier, %zu computed, %zu none",
            n[MF_UIDL_UIDLIST], n[MF_UIDL_COURIER], n[MF_UIDL_COMPUTED], n[MF_UIDL_NONE]);
    for (uint32_t i = 0; !mb->inbox && i < mb->ncomp; i++)
        if (strchr(mb->comp[i], '/') != NULL || strcmp(mb->comp[i], ".") == 0 ||
            strcmp(mb->comp[i], "..") == 0 || strcmp(mb->comp[i], "dbox-Mails") == 0) {
            fprintf(f, "; name part \"%s\" will be translated on the target", mb->comp[i]);
            break;
        }
    for (uint32_t i = 0; i < mb->nkw; i++)
        if (strncmp(mb->kw[i], "unknown-", 8) == 0)
            fprintf(f, "; keyword letter without a name in dovecot-keywords: %s", mb->kw[i]);
    fputc('\n', f);
}

static int pack_mailbox_fs(struct mf_packer *pk, struct mf_tree_fs *tree,
                           struct mf_plan_mailbox *mb, struct mf_error *err)
{
    char *newrel = NULL, *currel = NULL;
    int curfd = -1, newfd = -1, r = -1;
    struct mf_mbox_delta d;
    memset(&d, 0, sizeof d);
    if (plan_mailbox(pk, &tree->base, mb, err) < 0)
        return -1;
    if (pk->o.report != NULL && !mb->skipped)
        report_mailbox(pk, mb);
    if (mb->skipped)
        return pk->o.delta ? pack_kept_from_base(pk, mb, err) : 0;
    if (pk->o.delta) {
        struct mf_rec_mailbox_delta md;
        if (mf_delta_plan(mb, pk->base, &d, err) < 0)
            return -1;
        memset(&md, 0, sizeof md);
        md.kind = d.kind;
        if (d.base != NULL) {
            md.base_stored.p = d.base->stored;
            md.base_stored.n = strlen(d.base->stored);
            md.base_uidvalidity = d.base->uidvalidity;
            md.base_uidnext = d.base->uidnext;
        }
        if (begin_mailbox_record(pk, mb, d.kw, d.nkw, err) < 0 ||
            mf_writer_mailbox_delta(pk->w, &md, err) < 0)
            goto out;
        if (d.changed_size > 0) {
            pk->st.base_conflicts += d.changed_size;
            pk_warn(pk, pk->where, 0,
                    "files differ from the base under the same UID (a rewritten uidlist?); "
                    "the base's messages are kept");
        }
    } else if (begin_mailbox_record(pk, mb, (const char *const *)mb->kw, mb->nkw, err) < 0) {
        return -1;
    }
    newrel = join(mb->dir, "new");
    currel = join(mb->dir, "cur");
    if (newrel == NULL || currel == NULL) {
        mf_err_nomem(err);
        goto out;
    }
    curfd = mf_open_dir_below(tree->rootfd, currel);
    newfd = mf_open_dir_below(tree->rootfd, newrel);
    for (size_t i = 0; i < mb->nmsgs; i++) {
        if (d.from_base != NULL && d.from_base[i]) {
            mb->msgs[i].packed = 1;   /* in the base; not read */
            pk->st.unchanged++;
            continue;
        }
        if (pack_message(pk, tree->rootfd, curfd, newfd, mb, &mb->msgs[i], err) < 0)
            goto out;
    }
    if (collect_all(pk, err) < 0)
        goto out;
    if (pk->o.delta && delta_changes(pk, mb, &d, err) < 0)
        goto out;
    if (mf_writer_end_mailbox(pk->w, err) < 0)
        goto out;
    pk->st.mailboxes++;
    r = 0;
out:
    if (r < 0)
        drain_free(pk);
    mf_delta_plan_free(&d);
    if (curfd >= 0)
        close(curfd);
    if (newfd >= 0)
        close(newfd);
    mf_free(newrel);
    mf_free(currel);
    return r;
}

static int cmp_guid_ptr(const void *a, const void *b)
{
    const struct mf_base_mailbox *const *x = a, *const *y = b;
    return memcmp((*x)->guid, (*y)->guid, MF_GUID_BYTES);
}

/* Base mailboxes no folder matched: removed at the source. */
static int mailboxes_gone(struct mf_packer *pk, struct mf_error *err)
{
    struct mf_base_mailbox **v;
    size_t n = 0;
    int r = 0;
    if (pk->base == NULL || pk->base->nmb == 0)
        return 0;
    v = mf_calloc(pk->base->nmb, sizeof *v);
    if (v == NULL)
        return mf_err_nomem(err);
    for (size_t i = 0; i < pk->base->nmb; i++)
        if (!pk->base->mb[i].seen)
            v[n++] = &pk->base->mb[i];
    qsort(v, n, sizeof *v, cmp_guid_ptr);
    for (size_t i = 0; i < n && r == 0; i++) {
        struct mf_rec_mailbox_gone g;
        memcpy(g.guid, v[i]->guid, MF_GUID_BYTES);
        g.base_stored.p = v[i]->stored;
        g.base_stored.n = strlen(v[i]->stored);
        r = mf_writer_mailbox_gone(pk->w, &g, err);
        pk->st.mailboxes_gone++;
    }
    mf_free(v);
    return r;
}

/* In a delta, whether an extra file is as the base has it (then it is left
 * out: a delta lists only new and changed extras). */
static int extra_in_base(struct mf_packer *pk, const struct mf_rec_extra *x, const uint8_t *data,
                         size_t len)
{
    struct mf_hasher h;
    uint8_t content[MF_HASH_BYTES];
    if (!pk->o.delta || pk->base == NULL)
        return 0;
    mf_hash_init(&h, MF_HK_MESSAGE);
    for (size_t off = 0; off < len; off += MF_BLOB_MAX) {
        size_t n = len - off > MF_BLOB_MAX ? MF_BLOB_MAX : len - off;
        uint8_t id[MF_HASH_BYTES];
        mf_hash(MF_HK_BLOB, id, data + off, n);
        mf_message_hash_add(&h, id, n);
    }
    mf_hash_final(&h, content);
    for (size_t i = 0; i < pk->base->nextras; i++) {
        const struct mf_base_extra *e = &pk->base->extras[i];
        if (e->role == x->role && strlen(e->path) == x->path.n &&
            (x->path.n == 0 || memcmp(e->path, x->path.p, x->path.n) == 0) &&
            strlen(e->target) == x->target.n &&
            (x->target.n == 0 || memcmp(e->target, x->target.p, x->target.n) == 0) &&
            e->size == len &&
            memcmp(e->content, content, MF_HASH_BYTES) == 0)
            return 1;
    }
    return 0;
}

/* Sieve scripts in <home>/sieve and the <home>/.dovecot.sieve link, from a
 * tree rooted at the user's home. */
static int pack_sieve(struct mf_packer *pk, struct mf_tree *home, struct mf_error *err)
{
    struct mf_ents ents;
    char target[1024];
    int r = 0;
    if (home->ops->list(home, "sieve", &ents, err) < 0) {
        pk_warn(pk, pk->user, 0, err->msg);
        memset(&ents, 0, sizeof ents);
    }
    for (size_t i = 0; i < ents.n && r == 0; i++) {
        char *rel;
        uint8_t *data;
        size_t len;
        int exists;
        struct mf_rec_extra x;
        if (ents.v[i].type != MF_ENT_FILE || ents.v[i].name[0] == '.') {
            if (ents.v[i].type == MF_ENT_LINK)
                pk_skip(pk, ents.v[i].name, "symbolic link in the sieve directory, not followed");
            continue;
        }
        rel = join("sieve", ents.v[i].name);
        if (rel == NULL) {
            r = mf_err_nomem(err);
            break;
        }
        if (home->ops->read(home, rel, MF_EXTRA_MAX, &data, &len, &exists, err) < 0 || !exists) {
            if (exists)
                pk_warn(pk, pk->user, 0, err->msg);
            mf_free(rel);
            continue;
        }
        memset(&x, 0, sizeof x);
        x.role = MF_EXTRA_SIEVE_SCRIPT;
        x.path.p = ents.v[i].name;
        x.path.n = strlen(ents.v[i].name);
        x.mode = 0600;
        if (!extra_in_base(pk, &x, data, len))
            r = mf_writer_extra(pk->w, &x, data, len, err);
        mf_free(data);
        mf_free(rel);
    }
    mf_ents_free(&ents);
    if (r == 0 && home->ops->readlink != NULL &&
        home->ops->readlink(home, ".dovecot.sieve", target, sizeof target) > 0) {
        struct mf_rec_extra x;
        const char *t = strrchr(target, '/') != NULL ? strrchr(target, '/') + 1 : target;
        memset(&x, 0, sizeof x);
        x.role = MF_EXTRA_SIEVE_ACTIVE;
        x.path.p = ".dovecot.sieve";
        x.path.n = strlen(x.path.p);
        x.mode = 0777;
        x.target.p = t;
        x.target.n = strlen(t);
        if (!extra_in_base(pk, &x, NULL, 0))
            r = mf_writer_extra(pk->w, &x, NULL, 0, err);
    }
    return r;
}

/* The subscription list as an extra file (spec: EXTRA role 4). */
static int pack_subscriptions(struct mf_packer *pk, const struct mf_folders *f,
                              struct mf_error *err)
{
    struct mf_rec_extra x;
    if (f->subs_text == NULL)
        return 0;
    memset(&x, 0, sizeof x);
    x.role = MF_EXTRA_SUBSCRIPTIONS;
    x.path.p = "subscriptions";
    x.path.n = strlen(x.path.p);
    x.mode = 0600;
    if (extra_in_base(pk, &x, (const uint8_t *)f->subs_text, f->subs_len))
        return 0;
    return mf_writer_extra(pk->w, &x, f->subs_text, f->subs_len, err);
}

/* The home directory of a Maildir: its parent when it is named "Maildir". */
static char *home_of(const char *maildir)
{
    char *copy = mf_strdup(maildir), *slash;
    size_t n;
    if (copy == NULL)
        return NULL;
    n = strlen(copy);
    while (n > 1 && copy[n - 1] == '/')
        copy[--n] = '\0';
    slash = strrchr(copy, '/');
    if (slash != NULL && strcmp(slash + 1, "Maildir") == 0)
        *(slash == copy ? slash + 1 : slash) = '\0';
    return copy;
}

static int user_record(struct mf_packer *pk, const char *user, const char *source, uint32_t uid,
                       uint32_t gid, struct mf_error *err)
{
    struct mf_rec_user u;
    struct passwd *pw = getpwuid(uid);
    struct group *gr = getgrgid(gid);
    memset(&u, 0, sizeof u);
    u.name.p = user;
    u.name.n = strlen(user);
    u.source.p = source;
    u.source.n = strlen(source);
    u.uid = uid;
    u.gid = gid;
    u.owner.p = pw != NULL ? pw->pw_name : "";
    u.owner.n = strlen(u.owner.p);
    u.group.p = gr != NULL ? gr->gr_name : "";
    u.group.n = strlen(u.group.p);
    return mf_writer_begin_user(pk->w, &u, err);
}

int mf_packer_user(struct mf_packer *pk, const char *user, const char *maildir,
                   struct mf_error *err)
{
    struct mf_folders f;
    struct mf_tree_fs tree;
    struct stat st;
    int rootfd = open(maildir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = -1;
    if (rootfd < 0)
        return mf_err_sys(err, MF_EIO, errno, "user %s: Maildir %s", user, maildir);
    pk->user = user;
    mf_tree_fs_init(&tree, rootfd);
    if (fstat(rootfd, &st) < 0) {
        close(rootfd);
        return mf_err_sys(err, MF_EIO, errno, "%s", maildir);
    }
    if (mf_folders_discover(&tree.base, user, pk->o.layout, pk_warn, pk_skip_folder, pk, &f, err) < 0) {
        close(rootfd);
        return mf_err_ctx(err, "user %s", user);
    }
    pk->st.folders_skipped += f.skipped;
    if (user_record(pk, user, maildir, st.st_uid, st.st_gid, err) < 0)
        goto out;
    if (!pk->o.no_sieve) {
        char *home = home_of(maildir);
        int homefd = home != NULL ? open(home, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
        mf_free(home);
        if (homefd >= 0) {
            struct mf_tree_fs ht;
            mf_tree_fs_init(&ht, homefd);
            r = pack_sieve(pk, &ht.base, err);
            close(homefd);
            if (r < 0)
                goto out;
            r = -1;
        }
    }
    if (pack_subscriptions(pk, &f, err) < 0)
        goto out;
    for (size_t i = 0; i < f.n; i++)
        if (pack_mailbox_fs(pk, &tree, &f.v[i], err) < 0)
            goto out;
    if (pk->o.delta && mailboxes_gone(pk, err) < 0)
        goto out;
    if (mf_writer_end_user(pk->w, err) < 0)
        goto out;
    pk->st.users++;
    r = 0;
out:
    mf_folders_free(&f);
    close(rootfd);
    return r;
}

/* ---- packing from a tarball ---- */

struct tar_msg {
    struct mf_content content;
    int have;
    int64_t mtime, ctime;
    uint64_t vextra;
};

struct tar_user {
    const struct mf_user_src *src;
    struct mf_tar_node *root, *home;
    struct mf_folders f;
    struct tar_msg **msgs;  /* per mailbox, parallel to f.v[i].msgs */
};

static char *msg_path(const struct mf_plan_mailbox *mb, const struct mf_plan_msg *m)
{
    size_t n = strlen(mb->dir) + strlen(m->name) + 8;
    char *p = mf_malloc(n);
    if (p != NULL)
        snprintf(p, n, "%s%s%s/%s", mb->dir, mb->dir[0] ? "/" : "",
                 m->dir == MF_SRC_CUR ? "cur" : "new", m->name);
    return p;
}

static struct mf_tar_node *node_below(struct mf_tar_node *root, const char *rel)
{
    struct mf_tar_node *n = root;
    const char *p = rel;
    while (n != NULL && *p != '\0') {
        size_t len = strcspn(p, "/");
        size_t lo = 0, hi = n->nkids;
        struct mf_tar_node *found = NULL;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            const char *nm = n->kids[mid]->name;
            size_t nl = strlen(nm);
            int c = memcmp(nm, p, nl < len ? nl : len);
            if (c == 0 && nl != len)
                c = nl < len ? -1 : 1;
            if (c == 0) {
                found = n->kids[mid];
                break;
            }
            if (c < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        n = found;
        p += len;
        if (*p == '/')
            p++;
    }
    return n;
}

/* Another name (a hard link) of a message already read: the same content. */
static int tar_dup(void *ctx, struct mf_tar_node *from, struct mf_tar_node *to,
                   struct mf_error *err)
{
    struct mf_packer *pk = ctx;
    struct tar_msg *f = from->user, *t = to->user;
    if (!f->have)
        return 0;
    *t = *f;
    t->content.refs = mf_calloc(f->content.nrefs ? f->content.nrefs : 1, sizeof *t->content.refs);
    if (t->content.refs == NULL) {
        t->have = 0;
        return mf_err_nomem(err);
    }
    memcpy(t->content.refs, f->content.refs, f->content.nrefs * sizeof *t->content.refs);
    pk->st.bytes += t->content.size;
    return 0;
}

static int tar_content(void *ctx, struct mf_tar_node *node, struct archive *a, struct mf_error *err)
{
    struct mf_packer *pk = ctx;
    struct tar_msg *tm = node->user;
    uint8_t prev = 0;
    mf_buf_reset(&pk->msg);
    if (node->size <= INMEM_MAX) {
        la_ssize_t got;
        if (mf_buf_reserve(&pk->msg, (size_t)node->size + 1) < 0)
            return mf_err_nomem(err);
        got = archive_read_data(a, pk->msg.p, (size_t)node->size);
        if (got < 0 || (uint64_t)got != node->size)
            return mf_err(err, MF_EIO, "reading %s from the tarball: %s", node->name,
                          got < 0 ? archive_error_string(a) : "short read");
        pk->msg.len = (size_t)got;
        if (mf_split_message(pk->msg.p, pk->msg.len, &pk->segs) < 0)
            return mf_err_nomem(err);
        if (mf_writer_content_begin(pk->w, err) < 0)
            return -1;
        for (size_t i = 0; i < pk->segs.n; i++)
            if (mf_writer_content_blob(pk->w, pk->segs.v[i].kind, pk->msg.p + pk->segs.v[i].off,
                                       pk->segs.v[i].len, err) < 0)
                return -1;
        tm->vextra = vsize_of(pk->msg.p, pk->msg.len, &prev);
    } else {
        uint8_t *buf = mf_malloc(MF_BLOB_MAX);
        int first = 1;
        if (buf == NULL)
            return mf_err_nomem(err);
        if (mf_writer_content_begin(pk->w, err) < 0) {
            mf_free(buf);
            return -1;
        }
        for (;;) {
            la_ssize_t got = archive_read_data(a, buf, MF_BLOB_MAX);
            size_t he = 0;
            if (got < 0) {
                mf_err(err, MF_EIO, "reading %s from the tarball: %s", node->name,
                       archive_error_string(a));
                mf_free(buf);
                return -1;
            }
            if (got == 0)
                break;
            tm->vextra += vsize_of(buf, (size_t)got, &prev);
            if (first) {
                he = mf_header_end(buf, (size_t)got);
                if (mf_writer_content_blob(pk->w, MF_BLOB_HEADER, buf, he, err) < 0) {
                    mf_free(buf);
                    return -1;
                }
                first = 0;
            }
            if (mf_writer_content_blob(pk->w, MF_BLOB_PART, buf + he, (size_t)got - he, err) < 0) {
                mf_free(buf);
                return -1;
            }
        }
        mf_free(buf);
    }
    if (mf_writer_content_end(pk->w, &tm->content, err) < 0)
        return -1;
    tm->have = 1;
    tm->mtime = node->mtime;
    tm->ctime = node->ctime;
    pk->st.bytes += tm->content.size;
    if (pk->progress != NULL)
        pk->progress(pk->ctx, &pk->st);
    return 0;
}

static void tar_users_free(struct tar_user *tu, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (tu[i].msgs != NULL)
            for (size_t k = 0; k < tu[i].f.n; k++) {
                if (tu[i].msgs[k] == NULL)
                    continue;
                for (size_t j = 0; j < tu[i].f.v[k].nmsgs; j++)
                    mf_content_free(&tu[i].msgs[k][j].content);
                mf_free(tu[i].msgs[k]);
            }
        mf_free(tu[i].msgs);
        mf_folders_free(&tu[i].f);
    }
    mf_free(tu);
}

static int tar_plan_user(struct mf_packer *pk, struct mf_tartree *tt, struct tar_user *u,
                         struct mf_error *err)
{
    struct mf_tree_tar view;
    char *home;
    pk->user = u->src->name;
    u->root = mf_tartree_find(tt, u->src->maildir);
    if (u->root == NULL || u->root->type != MF_ENT_DIR)
        return mf_err(err, MF_EUSAGE, "user %s: %s is not a directory in the tarball",
                      u->src->name, u->src->maildir);
    home = home_of(u->src->maildir);
    u->home = home != NULL ? mf_tartree_find(tt, home) : NULL;
    mf_free(home);
    mf_tree_tar_init(&view, u->root, tt);
    if (mf_folders_discover(&view.base, u->src->name, pk->o.layout, pk_warn, pk_skip_folder, pk,
                            &u->f, err) < 0)
        return mf_err_ctx(err, "user %s", u->src->name);
    pk->st.folders_skipped += u->f.skipped;
    u->msgs = mf_calloc(u->f.n ? u->f.n : 1, sizeof *u->msgs);
    if (u->msgs == NULL)
        return mf_err_nomem(err);
    for (size_t k = 0; k < u->f.n; k++) {
        struct mf_plan_mailbox *mb = &u->f.v[k];
        if (plan_mailbox(pk, &view.base, mb, err) < 0)
            return -1;
        if (mb->skipped)
            continue;
        if (pk->o.report != NULL)
            report_mailbox(pk, mb);
        u->msgs[k] = mf_calloc(mb->nmsgs ? mb->nmsgs : 1, sizeof *u->msgs[k]);
        if (u->msgs[k] == NULL)
            return mf_err_nomem(err);
        for (size_t j = 0; j < mb->nmsgs; j++) {
            char *rel = msg_path(mb, &mb->msgs[j]);
            struct mf_tar_node *n;
            if (rel == NULL)
                return mf_err_nomem(err);
            n = node_below(u->root, rel);
            if (n != NULL && n->type == MF_ENT_FILE)
                n->user = &u->msgs[k][j];
            mf_free(rel);
        }
    }
    return 0;
}

static int tar_emit_user(struct mf_packer *pk, const struct mf_tartree *tt, struct tar_user *u,
                         struct mf_error *err)
{
    pk->user = u->src->name;
    if (user_record(pk, u->src->name, u->src->maildir, u->root->uid, u->root->gid, err) < 0)
        return -1;
    if (!pk->o.no_sieve && u->home != NULL) {
        struct mf_tree_tar hv;
        mf_tree_tar_init(&hv, u->home, tt);
        if (pack_sieve(pk, &hv.base, err) < 0)
            return -1;
    }
    if (pack_subscriptions(pk, &u->f, err) < 0)
        return -1;
    for (size_t k = 0; k < u->f.n; k++) {
        struct mf_plan_mailbox *mb = &u->f.v[k];
        if (mb->skipped)
            continue;
        snprintf(pk->where, sizeof pk->where, "%s/%s", pk->user, mb->inbox ? "INBOX" : mb->stored);
        if (begin_mailbox_record(pk, mb, (const char *const *)mb->kw, mb->nkw, err) < 0)
            return -1;
        for (size_t j = 0; j < mb->nmsgs; j++) {
            struct tar_msg *tm = &u->msgs[k][j];
            struct mf_plan_msg *m = &mb->msgs[j];
            struct mf_rec_message rec;
            if (!tm->have) {
                char *rel = msg_path(mb, m);
                pk->st.special++;
                pk_skip(pk, rel != NULL ? rel : m->name,
                        "not a regular file in the tarball (a link?)");
                mf_free(rel);
                continue;
            }
            message_record(m, tm->mtime, tm->ctime, &rec);
            rec.vsize = m->size_w >= 0 ? (uint64_t)m->size_w : tm->content.size + tm->vextra;
            if (mf_writer_message_content(pk->w, &rec, &tm->content, err) < 0)
                return -1;
            mf_content_free(&tm->content);
            pk->st.messages++;
        }
        if (mf_writer_end_mailbox(pk->w, err) < 0)
            return -1;
        pk->st.mailboxes++;
    }
    if (mf_writer_end_user(pk->w, err) < 0)
        return -1;
    pk->st.users++;
    return 0;
}

int mf_packer_tar(struct mf_packer *pk, const char *tarpath, const struct mf_user_src *users,
                  size_t n, struct mf_error *err)
{
    struct mf_tartree tt;
    struct tar_user *tu;
    int r = -1;
    if (mf_tartree_load(&tt, tarpath, err) < 0)
        return -1;
    tu = mf_calloc(n ? n : 1, sizeof *tu);
    if (tu == NULL) {
        mf_tartree_free(&tt);
        return mf_err_nomem(err);
    }
    for (size_t i = 0; i < n; i++) {
        tu[i].src = &users[i];
        if (tar_plan_user(pk, &tt, &tu[i], err) < 0)
            goto out;
    }
    if (mf_tartree_visit(&tt, tarpath, tar_content, tar_dup, pk, err) < 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (tar_emit_user(pk, &tt, &tu[i], err) < 0)
            goto out;
    r = 0;
out:
    tar_users_free(tu, n);
    mf_tartree_free(&tt);
    return r;
}
