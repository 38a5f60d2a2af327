/* maildir_keywords.c: a reader of dovecot-keywords. */
#include "maildir_keywords.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../format/limits.h"
#include "../format/mem.h"

int mf_keyword_valid(const char *s, size_t n)
{
    if (n == 0 || n > MF_KEYWORD_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
            return 0;
    }
    return 1;
}

int mf_keywords_parse(const char *data, size_t len, const char *file, mf_warn_fn warn, void *ctx,
                      struct mf_maildir_keywords *out)
{
    /* As Dovecot reads it: a line whose name was seen before (in any case)
     * is ignored; a later line for a defined index replaces the name. */
    char *seen[64];
    size_t nseen = 0, off = 0, lineno = 0;
    int r = 0;
    memset(out, 0, sizeof *out);
    while (off < len) {
        const char *l = data + off, *nl = memchr(l, '\n', len - off), *sp;
        size_t n = nl != NULL ? (size_t)(nl - l) : len - off, nlen;
        unsigned idx = 0;
        size_t i = 0;
        int dup = 0;
        off += n + 1;
        lineno++;
        if (n == 0)
            continue;
        while (i < n && l[i] >= '0' && l[i] <= '9' && idx < 1000)
            idx = idx * 10 + (unsigned)(l[i++] - '0');
        sp = i > 0 && i < n && l[i] == ' ' ? l + i : NULL;
        nlen = sp != NULL ? n - i - 1 : 0;
        if (sp == NULL || idx >= MF_MAILDIR_LETTERS || !mf_keyword_valid(sp + 1, nlen)) {
            if (warn != NULL)
                warn(ctx, file, lineno, "invalid keyword line ignored");
            continue;
        }
        for (size_t k = 0; k < nseen; k++)
            dup |= strlen(seen[k]) == nlen && strncasecmp(seen[k], sp + 1, nlen) == 0;
        if (dup) {
            if (warn != NULL)
                warn(ctx, file, lineno, "keyword defined again; the line is ignored");
            continue;
        }
        if (out->name[idx] != NULL) {
            if (warn != NULL)
                warn(ctx, file, lineno, "keyword index defined twice; the later line wins");
            mf_free(out->name[idx]);
        }
        out->name[idx] = mf_strndup(sp + 1, nlen);
        if (out->name[idx] == NULL) {
            r = -1;
            break;
        }
        if (nseen < sizeof seen / sizeof seen[0]) {
            /* the name stays seen even if a later line replaces it */
            char *copy = mf_strdup(out->name[idx]);
            if (copy == NULL) {
                r = -1;
                break;
            }
            seen[nseen++] = copy;
        }
    }
    for (size_t k = 0; k < nseen; k++)
        mf_free(seen[k]);
    if (r < 0)
        mf_keywords_free(out);
    return r;
}

void mf_keywords_free(struct mf_maildir_keywords *k)
{
    for (int i = 0; i < MF_MAILDIR_LETTERS; i++)
        mf_free(k->name[i]);
    memset(k, 0, sizeof *k);
}
