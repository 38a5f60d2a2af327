/* maildir_folders.c: discovery of a Maildir user's mailboxes. */
#include "maildir_folders.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../format/buf.h"
#include "../format/index_codec.h"
#include "../format/mem.h"
#include "../format/mutf7.h"
#include "src_fs.h"
#include "subscriptions.h"

#define FS_DEPTH_MAX 64

int mf_decode_component(const char *raw, size_t n, char **out, unsigned char *enc)
{
    struct mf_buf b;
    int high = 0, amp = 0;
    *out = NULL;
    for (size_t i = 0; i < n; i++) {
        high |= (unsigned char)raw[i] >= 0x80;
        amp |= raw[i] == '&';
    }
    if (n == 0 || n > MF_MAILBOX_COMPONENT_MAX)
        return -1;
    if (high || !amp) {
        if (!mf_utf8_printable(raw, n))
            return -1;
        *enc = high ? MF_NAME_UTF8 : MF_NAME_ASCII;
        *out = mf_strndup(raw, n);
        return *out == NULL ? -1 : 0;
    }
    mf_buf_init(&b);
    if (mf_mutf7_decode(raw, n, &b) < 0 || b.len == 0 || b.len > MF_MAILBOX_COMPONENT_MAX ||
        !mf_utf8_printable((const char *)b.p, b.len)) {
        mf_buf_free(&b);
        /* not valid modified UTF-7: the name is taken literally */
        if (!mf_utf8_printable(raw, n))
            return -1;
        *enc = MF_NAME_ASCII;
        *out = mf_strndup(raw, n);
        return *out == NULL ? -1 : 0;
    }
    *enc = MF_NAME_MUTF7;
    *out = mf_strndup((const char *)b.p, b.len);
    mf_buf_free(&b);
    return *out == NULL ? -1 : 0;
}

static void skipped(struct mf_folders *f, const char *path, const char *why)
{
    f->skipped++;
    if (f->skip != NULL)
        f->skip(f->skip_ctx, path, why);
}

static int add_mailbox(struct mf_folders *f, size_t *cap, const char *dir, const char *stored,
                       const char *const *rawcomp, size_t ncomp, int inbox,
                       struct mf_error *err)
{
    struct mf_plan_mailbox *mb;
    if (ncomp == 0 || ncomp > MF_MAILBOX_COMPONENTS_MAX || strlen(stored) > MF_MAILBOX_NAME_MAX) {
        skipped(f, dir, "folder name too long or too deep");
        return 0;
    }
    if (f->n == *cap) {
        size_t nc = *cap == 0 ? 16 : *cap * 2;
        struct mf_plan_mailbox *nv = mf_realloc(f->v, nc * sizeof *nv);
        if (nv == NULL)
            return mf_err_nomem(err);
        f->v = nv;
        *cap = nc;
    }
    mb = &f->v[f->n];
    memset(mb, 0, sizeof *mb);
    mb->dir = mf_strdup(dir);
    mb->stored = mf_strdup(stored);
    mb->comp = mf_calloc(ncomp, sizeof *mb->comp);
    if (mb->dir == NULL || mb->stored == NULL || mb->comp == NULL) {
        mf_plan_mailbox_free(mb);
        return mf_err_nomem(err);
    }
    mb->inbox = inbox;
    mb->courier = f->courier;
    mb->layout = (uint8_t)(f->courier ? MF_LAYOUT_COURIER : f->layout);
    for (size_t i = 0; i < ncomp; i++) {
        unsigned char enc = MF_NAME_ASCII;
        if (inbox) {
            mb->comp[i] = mf_strdup(rawcomp[i]);
        } else if (mf_decode_component(rawcomp[i], strlen(rawcomp[i]), &mb->comp[i], &enc) < 0) {
            mb->ncomp = (uint32_t)i;
            mf_plan_mailbox_free(mb);
            if (errno == ENOMEM)
                return mf_err_nomem(err);
            skipped(f, dir, "folder name is not valid text");
            return 0;
        }
        if (mb->comp[i] == NULL) {
            mb->ncomp = (uint32_t)i;
            mf_plan_mailbox_free(mb);
            return mf_err_nomem(err);
        }
        if (enc > mb->encoding)
            mb->encoding = enc;
        mb->ncomp = (uint32_t)(i + 1);
    }
    if (!inbox && mb->ncomp == 1 && strcasecmp(mb->comp[0], "INBOX") == 0) {
        mf_plan_mailbox_free(mb);
        skipped(f, dir, "folder name collides with INBOX");
        return 0;
    }
    f->n++;
    return 0;
}

static void note_link(const char *name, struct mf_folders *f)
{
    skipped(f, name, "symbolic link or special file, not followed");
}

static int maildirpp(struct mf_tree *tree, struct mf_ents *root, struct mf_folders *f, size_t *cap,
                     struct mf_error *err)
{
    (void)tree;
    for (size_t i = 0; i < root->n; i++) {
        const char *name = root->v[i].name;
        char *copy, *comp[MF_MAILBOX_COMPONENTS_MAX + 1];
        size_t nc = 0, len = strlen(name);
        int bad = 0, r;
        if (name[0] != '.' || len < 2)
            continue;
        if (root->v[i].type != MF_ENT_DIR) {
            if (root->v[i].type == MF_ENT_LINK)
                note_link(name, f);
            continue;
        }
        copy = mf_strdup(name + 1);
        if (copy == NULL)
            return mf_err_nomem(err);
        for (char *p = copy, *dot; p != NULL; p = dot) {
            dot = strchr(p, '.');
            if (dot != NULL)
                *dot++ = '\0';
            if (*p == '\0' || nc >= MF_MAILBOX_COMPONENTS_MAX) {
                bad = 1;
                break;
            }
            comp[nc++] = p;
        }
        if (bad) {
            skipped(f, name, "folder name has empty or too many parts");
            mf_free(copy);
            continue;
        }
        r = add_mailbox(f, cap, name, name, (const char *const *)comp, nc, 0, err);
        mf_free(copy);
        if (r < 0)
            return -1;
    }
    return 0;
}

static int is_special_fs(const char *n)
{
    return strcmp(n, "cur") == 0 || strcmp(n, "new") == 0 || strcmp(n, "tmp") == 0 ||
           n[0] == '.';
}

static int fs_walk(struct mf_tree *tree, const char *rel, const char **comp, size_t depth,
                   struct mf_folders *f, size_t *cap, mf_warn_fn warn, void *ctx,
                   const char *where, struct mf_error *err)
{
    struct mf_ents ents;
    int r = 0;
    if (depth >= FS_DEPTH_MAX)
        return 0;
    if (tree->ops->list(tree, rel, &ents, err) < 0)
        return -1;
    for (size_t i = 0; i < ents.n && r == 0; i++) {
        const char *name = ents.v[i].name;
        char *path;
        size_t pl;
        if (is_special_fs(name) || ents.v[i].type == MF_ENT_FILE)
            continue;
        if (ents.v[i].type != MF_ENT_DIR) {
            note_link(name, f);
            continue;
        }
        pl = strlen(rel) + strlen(name) + 2;
        path = mf_malloc(pl);
        if (path == NULL) {
            r = mf_err_nomem(err);
            break;
        }
        snprintf(path, pl, "%s%s%s", rel, rel[0] ? "/" : "", name);
        comp[depth] = name;
        {
            char *curp = mf_malloc(pl + 4);
            if (curp == NULL) {
                mf_free(path);
                r = mf_err_nomem(err);
                break;
            }
            snprintf(curp, pl + 4, "%s/cur", path);
            if (tree->ops->is_dir(tree, curp))
                r = add_mailbox(f, cap, path, path, comp, depth + 1, 0, err);
            mf_free(curp);
        }
        if (r == 0)
            r = fs_walk(tree, path, comp, depth + 1, f, cap, warn, ctx, where, err);
        mf_free(path);
    }
    mf_ents_free(&ents);
    return r;
}

static int cmp_stored(const void *a, const void *b)
{
    const struct mf_plan_mailbox *x = a, *y = b;
    return strcmp(x->stored, y->stored);
}

static int same_name(const struct mf_plan_mailbox *mb, const struct mf_sub_name *s)
{
    if (s->ncomp == 1 && strcasecmp(s->comp[0], "INBOX") == 0)
        return mb->inbox;
    if (mb->inbox || s->ncomp != mb->ncomp)
        return 0;
    for (size_t i = 0; i < s->ncomp; i++) {
        char *dec = NULL;
        unsigned char enc;
        int eq;
        if (mf_decode_component(s->comp[i], strlen(s->comp[i]), &dec, &enc) < 0)
            return 0;
        eq = strcmp(dec, mb->comp[i]) == 0;
        mf_free(dec);
        if (!eq)
            return 0;
    }
    return 1;
}

/* Adds the names to the subscription list: decoded to UTF-8, levels
 * TAB-joined, Courier's INBOX. prefix removed, each name once. */
static int subs_list(struct mf_folders *f, const struct mf_subs *subs, int courier)
{
    struct mf_buf b;
    mf_buf_init(&b);
    if (f->subs_text != NULL)
        mf_buf_append(&b, f->subs_text, f->subs_len);
    for (size_t i = 0; i < subs->n; i++) {
        const struct mf_sub_name *s = &subs->names[i];
        size_t first = courier && s->ncomp > 1 && strcmp(s->comp[0], "INBOX") == 0, start = b.len;
        int bad = 0;
        if (s->ncomp == 0)
            continue;
        for (size_t c = first; c < s->ncomp && !bad; c++) {
            char *dec = NULL;
            unsigned char enc;
            if (c > first)
                mf_buf_u8(&b, '\t');
            if (s->ncomp == 1 && strcasecmp(s->comp[0], "INBOX") == 0) {
                mf_buf_puts(&b, "INBOX");
                continue;
            }
            if (mf_decode_component(s->comp[c], strlen(s->comp[c]), &dec, &enc) < 0) {
                bad = 1;
                continue;
            }
            mf_buf_puts(&b, dec);
            mf_free(dec);
        }
        mf_buf_u8(&b, '\n');
        if (bad) {
            b.len = start;
            continue;
        }
        /* once */
        for (size_t o = 0; o < start;) {
            const uint8_t *nl = memchr(b.p + o, '\n', start - o);
            size_t n = (size_t)(nl - (b.p + o)) + 1;
            if (n == b.len - start && memcmp(b.p + o, b.p + start, n) == 0) {
                b.len = start;
                break;
            }
            o += n;
        }
    }
    if (b.oom) {
        mf_buf_free(&b);
        return -1;
    }
    mf_free(f->subs_text);
    f->subs_text = (char *)mf_buf_steal(&b, &f->subs_len);
    if (f->subs_text == NULL)
        f->subs_text = mf_strdup("");
    return f->subs_text == NULL ? -1 : 0;
}

static int apply_subscriptions(struct mf_tree *tree, struct mf_folders *f, const char *where,
                               mf_warn_fn warn, void *ctx, struct mf_error *err)
{
    const char *files[2] = {"subscriptions", "courierimapsubscribed"};
    for (int k = 0; k < 2; k++) {
        uint8_t *data;
        size_t len;
        int exists;
        struct mf_subs subs;
        if (tree->ops->read(tree, files[k], 16u << 20, &data, &len, &exists, err) < 0) {
            warn(ctx, where, 0, err->msg);
            continue;
        }
        if (!exists)
            continue;
        if ((k == 0 ? mf_subs_parse_dovecot((const char *)data, len,
                                            f->layout == MF_LAYOUT_FS ? '/' : '.', &subs)
                    : mf_subs_parse_courier((const char *)data, len, &subs)) < 0) {
            mf_free(data);
            return mf_err_nomem(err);
        }
        mf_free(data);
        for (size_t i = 0; i < subs.n; i++)
            for (size_t m = 0; m < f->n; m++)
                if (same_name(&f->v[m], &subs.names[i]))
                    f->v[m].subscribed = 1;
        if (subs_list(f, &subs, k == 1) < 0) {
            mf_subs_free(&subs);
            return mf_err_nomem(err);
        }
        mf_subs_free(&subs);
    }
    return 0;
}

int mf_folders_discover(struct mf_tree *tree, const char *where, int layout, mf_warn_fn warn,
                        mf_folder_skip_fn skip, void *ctx, struct mf_folders *f,
                        struct mf_error *err)
{
    struct mf_ents root;
    size_t cap = 0;
    const char *inbox[1] = {"INBOX"};
    int dotdirs = 0, fsdirs = 0;
    memset(f, 0, sizeof *f);
    f->skip = skip;
    f->skip_ctx = ctx;
    if (tree->ops->list(tree, "", &root, err) < 0)
        return -1;
    for (size_t i = 0; i < root.n; i++) {
        const char *n = root.v[i].name;
        if (strcmp(n, "courierimapuiddb") == 0 || strcmp(n, "courierimapsubscribed") == 0 ||
            strcmp(n, "courierimapkeywords") == 0)
            f->courier = 1;
        if (root.v[i].type == MF_ENT_DIR && n[0] == '.' && strlen(n) > 1)
            dotdirs++;
        else if (root.v[i].type == MF_ENT_DIR && !is_special_fs(n) &&
                 strncmp(n, "courierimap", 11) != 0)
            fsdirs++;
    }
    f->layout = layout != MF_LAYOUT_AUTO ? layout
                : (dotdirs == 0 && fsdirs > 0) ? MF_LAYOUT_FS : MF_LAYOUT_MAILDIRPP;
    if (f->courier)
        f->layout = MF_LAYOUT_MAILDIRPP;
    if (add_mailbox(f, &cap, "", "", inbox, 1, 1, err) < 0)
        goto fail;
    if (f->layout == MF_LAYOUT_FS) {
        const char *comp[FS_DEPTH_MAX];
        if (fs_walk(tree, "", comp, 0, f, &cap, warn, ctx, where, err) < 0)
            goto fail;
    } else if (maildirpp(tree, &root, f, &cap, err) < 0) {
        goto fail;
    }
    mf_ents_free(&root);
    qsort(f->v, f->n, sizeof *f->v, cmp_stored);
    return apply_subscriptions(tree, f, where, warn, ctx, err);
fail:
    mf_ents_free(&root);
    mf_folders_free(f);
    return -1;
}

void mf_folders_free(struct mf_folders *f)
{
    for (size_t i = 0; i < f->n; i++)
        mf_plan_mailbox_free(&f->v[i]);
    mf_free(f->v);
    mf_free(f->subs_text);
    memset(f, 0, sizeof *f);
}
