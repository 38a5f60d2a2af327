/* users.c: collecting, discovering and ordering the users to pack. */
#include "users.h"

#include <dirent.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../format/fsutil.h"
#include "../format/index_codec.h"
#include "../format/limits.h"
#include "../format/mem.h"

int mf_users_add(struct mf_user_list *l, const char *name, const char *maildir,
                 struct mf_error *err)
{
    if (l->n == l->cap) {
        size_t nc = l->cap == 0 ? 16 : l->cap * 2;
        struct mf_user_src *nv = mf_realloc(l->v, nc * sizeof *nv);
        if (nv == NULL)
            return mf_err_nomem(err);
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n].name = mf_strdup(name);
    l->v[l->n].maildir = mf_strdup(maildir);
    if (l->v[l->n].name == NULL || l->v[l->n].maildir == NULL) {
        mf_free(l->v[l->n].name);
        mf_free(l->v[l->n].maildir);
        return mf_err_nomem(err);
    }
    l->n++;
    return 0;
}

int mf_users_add_arg(struct mf_user_list *l, const char *arg, struct mf_error *err)
{
    const char *eq = strchr(arg, '=');
    char *name;
    int r;
    if (eq == NULL || eq == arg || eq[1] == '\0')
        return mf_err(err, MF_EUSAGE, "expected USER=MAILDIR, got '%s'", arg);
    name = mf_strndup(arg, (size_t)(eq - arg));
    if (name == NULL)
        return mf_err_nomem(err);
    r = mf_users_add(l, name, eq + 1, err);
    mf_free(name);
    return r;
}

int mf_users_load_file(struct mf_user_list *l, const char *path, struct mf_error *err)
{
    uint8_t *data;
    size_t len, off = 0, lineno = 0;
    if (mf_read_file(path, 256u << 20, 0, &data, &len, err) < 0)
        return -1;
    while (off < len) {
        char *line = (char *)data + off, *nl = memchr(line, '\n', len - off), *sep;
        size_t n = nl != NULL ? (size_t)(nl - line) : len - off;
        off += n + 1;
        lineno++;
        line[n] = '\0';
        if (n > 0 && line[n - 1] == '\r')
            line[--n] = '\0';
        if (n == 0 || line[0] == '#')
            continue;
        sep = strchr(line, '\t');
        if (sep == NULL)
            sep = strchr(line, ' ');
        if (sep == NULL) {
            mf_free(data);
            return mf_err(err, MF_EUSAGE, "%s line %zu: expected 'user<TAB>maildir'", path,
                          lineno);
        }
        *sep++ = '\0';
        while (*sep == '\t' || *sep == ' ')
            sep++;
        if (mf_users_add(l, line, sep, err) < 0) {
            mf_free(data);
            return -1;
        }
    }
    mf_free(data);
    return 0;
}

struct walk {
    char *seg[64];
    size_t nseg;
    char dom[256], loc[256], whole[256];
};

static int walk(struct mf_user_list *l, struct walk *w, size_t i, const char *path,
                struct mf_error *err)
{
    char next[4096];
    const char *s;
    DIR *d;
    struct dirent *de;
    if (i == w->nseg) {
        struct stat st;
        char user[600];
        if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
            return 0;
        if (w->whole[0] != '\0')
            snprintf(user, sizeof user, "%s", w->whole);
        else if (w->dom[0] != '\0')
            snprintf(user, sizeof user, "%s@%s", w->loc, w->dom);
        else
            snprintf(user, sizeof user, "%s", w->loc);
        return mf_users_add(l, user, path, err);
    }
    s = w->seg[i];
    if (strcmp(s, "%d") != 0 && strcmp(s, "%n") != 0 && strcmp(s, "%u") != 0) {
        if (strchr(s, '%') != NULL)
            return mf_err(err, MF_EUSAGE,
                          "--layout: a path part must be literal or exactly %%d, %%n or %%u");
        snprintf(next, sizeof next, "%s/%s", path, s);
        return walk(l, w, i + 1, next, err);
    }
    d = opendir(path[0] ? path : "/");
    if (d == NULL)
        return 0;
    while ((de = readdir(d)) != NULL) {
        char *slot;
        if (de->d_name[0] == '.' || strlen(de->d_name) >= 256)
            continue;
        slot = s[1] == 'd' ? w->dom : s[1] == 'n' ? w->loc : w->whole;
        snprintf(slot, 256, "%s", de->d_name);
        snprintf(next, sizeof next, "%s/%s", path, de->d_name);
        if (walk(l, w, i + 1, next, err) < 0) {
            closedir(d);
            return -1;
        }
    }
    closedir(d);
    return 0;
}

int mf_users_discover(struct mf_user_list *l, const char *tmpl, struct mf_error *err)
{
    struct walk w;
    char *copy = mf_strdup(tmpl), *save = NULL, *t;
    int r;
    memset(&w, 0, sizeof w);
    if (copy == NULL)
        return mf_err_nomem(err);
    if (tmpl[0] != '/' || (strstr(tmpl, "%n") == NULL && strstr(tmpl, "%u") == NULL)) {
        mf_free(copy);
        return mf_err(err, MF_EUSAGE, "--layout must be an absolute path with %%n or %%u");
    }
    for (t = strtok_r(copy, "/", &save); t != NULL && w.nseg < 64; t = strtok_r(NULL, "/", &save))
        w.seg[w.nseg++] = t;
    r = walk(l, &w, 0, "", err);
    mf_free(copy);
    return r;
}

static int cmp_user(const void *a, const void *b)
{
    return strcmp(((const struct mf_user_src *)a)->name, ((const struct mf_user_src *)b)->name);
}

int mf_users_finish(struct mf_user_list *l, struct mf_error *err)
{
    for (size_t i = 0; i < l->n; i++) {
        size_t n = strlen(l->v[i].name);
        if (n == 0 || n > MF_USER_NAME_MAX || !mf_utf8_printable(l->v[i].name, n) ||
            strchr(l->v[i].name, '/') != NULL || strcmp(l->v[i].name, ".") == 0 ||
            strcmp(l->v[i].name, "..") == 0)
            return mf_err(err, MF_EUSAGE, "invalid user name '%s'", l->v[i].name);
    }
    qsort(l->v, l->n, sizeof *l->v, cmp_user);
    for (size_t i = 1; i < l->n; i++)
        if (strcmp(l->v[i - 1].name, l->v[i].name) == 0)
            return mf_err(err, MF_EUSAGE, "user %s is given twice", l->v[i].name);
    return 0;
}

unsigned mf_user_shard_of(const char *name, unsigned n)
{
    static const char key[] = "mailferry/1/shard";
    uint8_t h[32];
    uint64_t v = 0;
    crypto_generichash(h, sizeof h, (const unsigned char *)name, strlen(name),
                       (const unsigned char *)key, sizeof key - 1);
    for (int i = 7; i >= 0; i--)
        v = v << 8 | h[i];
    return (unsigned)(v % n) + 1;
}

int mf_users_shard(struct mf_user_list *l, unsigned i, unsigned n, struct mf_error *err)
{
    size_t kept = 0;
    if (n == 0 || i == 0 || i > n)
        return mf_err(err, MF_EUSAGE, "shard %u/%u: give I/N with 1 <= I <= N", i, n);
    for (size_t k = 0; k < l->n; k++) {
        if (mf_user_shard_of(l->v[k].name, n) == i) {
            l->v[kept++] = l->v[k];
        } else {
            mf_free(l->v[k].name);
            mf_free(l->v[k].maildir);
        }
    }
    l->n = kept;
    return 0;
}

void mf_users_free(struct mf_user_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        mf_free(l->v[i].name);
        mf_free(l->v[i].maildir);
    }
    mf_free(l->v);
    memset(l, 0, sizeof *l);
}
