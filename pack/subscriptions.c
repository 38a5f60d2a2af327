/* subscriptions.c: Dovecot and Courier subscription lists. */
#include "subscriptions.h"

#include <string.h>

#include "../format/mem.h"

static int add_name(struct mf_subs *s, char **comp, size_t ncomp)
{
    struct mf_sub_name *nn = mf_realloc(s->names, (s->n + 1) * sizeof *nn);
    if (nn == NULL)
        return -1;
    s->names = nn;
    s->names[s->n].comp = comp;
    s->names[s->n].ncomp = ncomp;
    s->n++;
    return 0;
}

/* Splits l[0..n) on sep, unescaping Dovecot's \001 sequences if `esc`. */
static int split_add(struct mf_subs *s, const char *l, size_t n, char sep, int esc)
{
    char **comp = NULL;
    size_t ncomp = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || l[i] == sep) {
            char *c = mf_malloc(i - start + 1), **nc;
            size_t o = 0;
            if (c == NULL)
                goto nomem;
            for (size_t k = start; k < i; k++) {
                if (esc && l[k] == '\001' && k + 1 < i) {
                    char e = l[++k];
                    c[o++] = e == '0' ? '\0' : e == '1' ? '\001' : e == 't' ? '\t'
                             : e == 'r' ? '\r' : e == 'n' ? '\n' : e;
                } else {
                    c[o++] = l[k];
                }
            }
            c[o] = '\0';
            nc = mf_realloc(comp, (ncomp + 1) * sizeof *nc);
            if (nc == NULL) {
                mf_free(c);
                goto nomem;
            }
            comp = nc;
            comp[ncomp++] = c;
            start = i + 1;
        }
    }
    if (add_name(s, comp, ncomp) == 0)
        return 0;
nomem:
    for (size_t k = 0; k < ncomp; k++)
        mf_free(comp[k]);
    mf_free(comp);
    return -1;
}

int mf_subs_parse_dovecot(const char *data, size_t len, char sep, struct mf_subs *out)
{
    size_t off = 0;
    int v2 = 0;
    memset(out, 0, sizeof *out);
    if (len >= 5 && memcmp(data, "V\t2\n\n", 5) == 0) {
        v2 = 1;
        off = 5;
    }
    while (off < len) {
        const char *l = data + off, *nl = memchr(l, '\n', len - off);
        size_t n = nl != NULL ? (size_t)(nl - l) : len - off;
        off += n + 1;
        if (n == 0)
            continue;
        if (split_add(out, l, n, v2 ? '\t' : sep, v2) < 0) {
            mf_subs_free(out);
            return -1;
        }
    }
    return 0;
}

int mf_subs_parse_courier(const char *data, size_t len, struct mf_subs *out)
{
    size_t off = 0;
    memset(out, 0, sizeof *out);
    while (off < len) {
        const char *l = data + off, *nl = memchr(l, '\n', len - off);
        size_t n = nl != NULL ? (size_t)(nl - l) : len - off;
        off += n + 1;
        if (n == 0)
            continue;
        if (n >= 6 && memcmp(l, "INBOX.", 6) == 0) {
            l += 6;
            n -= 6;
        }
        if (split_add(out, l, n, '.', 0) < 0) {
            mf_subs_free(out);
            return -1;
        }
    }
    return 0;
}

void mf_subs_free(struct mf_subs *s)
{
    for (size_t i = 0; i < s->n; i++) {
        for (size_t k = 0; k < s->names[i].ncomp; k++)
            mf_free(s->names[i].comp[k]);
        mf_free(s->names[i].comp);
    }
    mf_free(s->names);
    memset(s, 0, sizeof *s);
}
