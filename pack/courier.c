/* courier.c: readers of Courier-IMAP keyword, subscription and POP3 files. */
#include "courier.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../format/mem.h"
#include "maildir_keywords.h"

void mf_courier_kw_init(struct mf_courier_keywords *k)
{
    memset(k, 0, sizeof *k);
}

void mf_courier_kw_free(struct mf_courier_keywords *k)
{
    for (uint32_t i = 0; i < k->nnames; i++)
        mf_free(k->names[i]);
    mf_free(k->names);
    for (size_t i = 0; i < k->nmsgs; i++) {
        mf_free(k->msgs[i].base);
        mf_free(k->msgs[i].kw);
    }
    mf_free(k->msgs);
    memset(k, 0, sizeof *k);
}

static int name_index(struct mf_courier_keywords *k, const char *s, size_t n, uint32_t *idx)
{
    char **nn;
    for (uint32_t i = 0; i < k->nnames; i++)
        if (strlen(k->names[i]) == n && memcmp(k->names[i], s, n) == 0) {
            *idx = i;
            return 0;
        }
    nn = mf_realloc(k->names, (k->nnames + 1) * sizeof *nn);
    if (nn == NULL)
        return -1;
    k->names = nn;
    k->names[k->nnames] = mf_strndup(s, n);
    if (k->names[k->nnames] == NULL)
        return -1;
    *idx = k->nnames++;
    return 0;
}

static struct mf_courier_kwmsg *msg_slot(struct mf_courier_keywords *k, const char *base, size_t n)
{
    for (size_t i = 0; i < k->nmsgs; i++)
        if (strlen(k->msgs[i].base) == n && memcmp(k->msgs[i].base, base, n) == 0)
            return &k->msgs[i];
    if (k->nmsgs == k->cap) {
        size_t nc = k->cap == 0 ? 32 : k->cap * 2;
        struct mf_courier_kwmsg *nm = mf_realloc(k->msgs, nc * sizeof *nm);
        if (nm == NULL)
            return NULL;
        k->msgs = nm;
        k->cap = nc;
    }
    memset(&k->msgs[k->nmsgs], 0, sizeof k->msgs[0]);
    k->msgs[k->nmsgs].base = mf_strndup(base, n);
    if (k->msgs[k->nmsgs].base == NULL)
        return NULL;
    k->msgs[k->nmsgs].seq = -2;
    return &k->msgs[k->nmsgs++];
}

static int add_kw(struct mf_courier_kwmsg *m, uint32_t idx)
{
    uint32_t *nk;
    for (uint32_t i = 0; i < m->nkw; i++)
        if (m->kw[i] == idx)
            return 0;
    nk = mf_realloc(m->kw, (m->nkw + 1) * sizeof *nk);
    if (nk == NULL)
        return -1;
    m->kw = nk;
    m->kw[m->nkw++] = idx;
    return 0;
}

int mf_courier_kw_list(struct mf_courier_keywords *k, const char *data, size_t len,
                       const char *file, mf_warn_fn warn, void *ctx)
{
    size_t off = 0, lineno = 0;
    int in_names = 1;
    uint32_t *map = NULL;  /* :list position -> name index */
    uint32_t nmap = 0;
    while (off < len) {
        const char *l = data + off, *nl = memchr(l, '\n', len - off);
        size_t n = nl != NULL ? (size_t)(nl - l) : len - off;
        off += n + 1;
        lineno++;
        if (in_names) {
            uint32_t idx, *nm;
            if (n == 0) {
                in_names = 0;
                continue;
            }
            if (!mf_keyword_valid(l, n)) {
                if (warn != NULL)
                    warn(ctx, file, lineno, "invalid keyword name ignored");
                idx = UINT32_MAX;
            } else if (name_index(k, l, n, &idx) < 0) {
                mf_free(map);
                return -1;
            }
            nm = mf_realloc(map, (nmap + 1) * sizeof *nm);
            if (nm == NULL) {
                mf_free(map);
                return -1;
            }
            map = nm;
            map[nmap++] = idx;
        } else {
            const char *colon = NULL;
            struct mf_courier_kwmsg *m;
            for (size_t i = n; i > 0; i--)
                if (l[i - 1] == ':') {
                    colon = l + i - 1;
                    break;
                }
            if (n == 0)
                continue;
            if (colon == NULL) {
                if (warn != NULL)
                    warn(ctx, file, lineno, "keyword line without ':' ignored");
                continue;
            }
            m = msg_slot(k, l, (size_t)(colon - l));
            if (m == NULL) {
                mf_free(map);
                return -1;
            }
            m->seq = -1;
            for (const char *p = colon + 1; p < l + n;) {
                /* digits within the line only: data need not be NUL-terminated */
                const char *end = p;
                unsigned long v = 0;
                while (p < l + n && *p == ' ')
                    p++;
                if (p == l + n)
                    break;
                for (end = p; end < l + n && *end >= '0' && *end <= '9'; end++)
                    if (v <= UINT32_MAX)
                        v = v * 10 + (unsigned long)(*end - '0');
                if (end == p) {
                    if (warn != NULL)
                        warn(ctx, file, lineno, "bad keyword number ignored");
                    break;
                }
                if (v < nmap && map[v] != UINT32_MAX && add_kw(m, map[v]) < 0) {
                    mf_free(map);
                    return -1;
                }
                p = end;
            }
        }
    }
    mf_free(map);
    return 0;
}

int mf_courier_kw_update(struct mf_courier_keywords *k, const char *fname, const char *data,
                         size_t len)
{
    const char *base = fname;
    long long seq = LLONG_MAX;
    struct mf_courier_kwmsg *m;
    size_t off = 0;
    if (fname[0] == ':')
        return 0;
    if (fname[0] == '.') {
        char *end;
        seq = strtoll(fname + 1, &end, 10);
        if (end == fname + 1 || *end != '.')
            return 0;
        base = end + 1;
    }
    m = msg_slot(k, base, strlen(base));
    if (m == NULL)
        return -1;
    /* a plain update wins over any numbered one; otherwise the highest number wins */
    if (m->seq >= seq && m->seq != -1)
        return 0;
    m->seq = seq;
    m->nkw = 0;
    while (off < len) {
        const char *l = data + off, *nl = memchr(l, '\n', len - off);
        size_t n = nl != NULL ? (size_t)(nl - l) : len - off;
        uint32_t idx;
        off += n + 1;
        if (n == 0 || !mf_keyword_valid(l, n))
            continue;
        if (name_index(k, l, n, &idx) < 0 || add_kw(m, idx) < 0)
            return -1;
    }
    return 0;
}

static int cmp_kwmsg(const void *a, const void *b)
{
    const struct mf_courier_kwmsg *x = a, *y = b;
    return strcmp(x->base, y->base);
}

void mf_courier_kw_finish(struct mf_courier_keywords *k)
{
    if (k->nmsgs > 1)
        qsort(k->msgs, k->nmsgs, sizeof *k->msgs, cmp_kwmsg);
}

const struct mf_courier_kwmsg *mf_courier_kw_find(const struct mf_courier_keywords *k,
                                                  const char *base, size_t n)
{
    size_t lo = 0, hi = k->nmsgs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2, ml = strlen(k->msgs[mid].base);
        int c = memcmp(k->msgs[mid].base, base, ml < n ? ml : n);
        if (c == 0 && ml != n)
            c = ml < n ? -1 : 1;
        if (c == 0)
            return &k->msgs[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static char *escaped_name(const char *s, size_t n)
{
    /* Courier's UIDL for a message without a UID: the file name with bytes
     * outside 0x21..0x7e and ' " + written as +XX */
    char *out = mf_malloc(3 * n + 1);
    size_t o = 0;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7e || c == '\'' || c == '"' || c == '+')
            o += (size_t)snprintf(out + o, 4, "+%02X", c);
        else
            out[o++] = (char)c;
    }
    out[o] = '\0';
    return out;
}

int mf_courier_pop3_parse(const char *data, size_t len, const char *file, mf_warn_fn warn,
                          void *ctx, struct mf_courier_pop3 **out, size_t *np)
{
    size_t off = 0, lineno = 0, n = 0, cap = 0;
    uint32_t order = 0;
    struct mf_courier_pop3 *v = NULL;
    *out = NULL;
    *np = 0;
    while (off < len) {
        const char *l = data + off, *nl = memchr(l, '\n', len - off);
        size_t ln = nl != NULL ? (size_t)(nl - l) : len - off;
        char line[2048], name[1024];
        unsigned long long size, uid = 0, uidv = 0;
        int fields;
        off += ln + 1;
        lineno++;
        if (ln == 0 || l[0] == '/')
            continue;  /* header line */
        if (ln >= sizeof line) {
            if (warn != NULL)
                warn(ctx, file, lineno, "line too long, ignored");
            continue;
        }
        memcpy(line, l, ln);
        line[ln] = '\0';
        fields = sscanf(line, "%1023s %llu %llu:%llu", name, &size, &uid, &uidv);
        if (fields < 2) {
            if (warn != NULL)
                warn(ctx, file, lineno, "malformed line ignored");
            continue;
        }
        if (n == cap) {
            size_t nc = cap == 0 ? 64 : cap * 2;
            struct mf_courier_pop3 *nv = mf_realloc(v, nc * sizeof *nv);
            if (nv == NULL) {
                mf_courier_pop3_free(v, n);
                return -1;
            }
            v = nv;
            cap = nc;
        }
        {
            const char *colon = strchr(name, ':');
            size_t bl = colon != NULL ? (size_t)(colon - name) : strlen(name);
            char buf[64];
            v[n].base = mf_strndup(name, bl);
            if (fields >= 3 && uid > 0) {
                if (fields >= 4 && uidv > 0)
                    snprintf(buf, sizeof buf, "UID%llu-%llu", uid, uidv);
                else
                    snprintf(buf, sizeof buf, "UID%llu", uid);
                v[n].uidl = mf_strdup(buf);
            } else {
                v[n].uidl = escaped_name(name, strlen(name));
            }
            v[n].order = ++order;
            if (v[n].base == NULL || v[n].uidl == NULL) {
                n++;
                mf_courier_pop3_free(v, n);
                return -1;
            }
            n++;
        }
    }
    *out = v;
    *np = n;
    return 0;
}

void mf_courier_pop3_free(struct mf_courier_pop3 *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        mf_free(p[i].base);
        mf_free(p[i].uidl);
    }
    mf_free(p);
}
