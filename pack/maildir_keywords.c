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
    size_t off = 0, lineno = 0;
    memset(out, 0, sizeof *out);
    while (off < len) {
        const char *l = data + off, *nl = memchr(l, '\n', len - off), *sp;
        size_t n = nl != NULL ? (size_t)(nl - l) : len - off;
        unsigned idx = 0;
        size_t i = 0;
        off += n + 1;
        lineno++;
        if (n == 0)
            continue;
        while (i < n && l[i] >= '0' && l[i] <= '9' && idx < 1000)
            idx = idx * 10 + (unsigned)(l[i++] - '0');
        sp = i > 0 && i < n && l[i] == ' ' ? l + i : NULL;
        if (sp == NULL || idx >= MF_MAILDIR_LETTERS || !mf_keyword_valid(sp + 1, n - i - 1)) {
            if (warn != NULL)
                warn(ctx, file, lineno, "invalid keyword line ignored");
            continue;
        }
        if (out->name[idx] != NULL) {
            if (warn != NULL)
                warn(ctx, file, lineno, "keyword index defined twice; the later line wins");
            mf_free(out->name[idx]);
        }
        out->name[idx] = mf_strndup(sp + 1, n - i - 1);
        if (out->name[idx] == NULL) {
            mf_keywords_free(out);
            return -1;
        }
    }
    /* Names are case-insensitive: a second spelling of a name is dropped. */
    for (int a = 0; a < MF_MAILDIR_LETTERS; a++)
        for (int b = a + 1; b < MF_MAILDIR_LETTERS; b++)
            if (out->name[a] != NULL && out->name[b] != NULL &&
                strcasecmp(out->name[a], out->name[b]) == 0) {
                if (warn != NULL)
                    warn(ctx, file, 0, "the same keyword is defined twice; keeping the first");
                mf_free(out->name[b]);
                out->name[b] = NULL;
            }
    return 0;
}

void mf_keywords_free(struct mf_maildir_keywords *k)
{
    for (int i = 0; i < MF_MAILDIR_LETTERS; i++)
        mf_free(k->name[i]);
    memset(k, 0, sizeof *k);
}
