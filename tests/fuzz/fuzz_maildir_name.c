/* fuzz_maildir_name.c: Maildir file names (pack/maildir_name.c). The input
 * up to the first newline is one name, the rest another. Each goes through
 * mf_maildir_name_parse (checked: base length within the name, flags within
 * the system flag bits, `other` terminated), and the pair through
 * mf_maildir_name_cmp (checked: antisymmetric, zero against itself) and
 * mf_maildir_base_eq. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "../../format/index_codec.h"
#include "../../pack/maildir_name.h"

static void parse_one(const char *s, size_t n)
{
    struct mf_maildir_name m;
    mf_maildir_name_parse(s, n, &m);
    if (m.base_len > n || (m.flags & ~MF_FLAGS_ALL) != 0 ||
        memchr(m.other, '\0', sizeof m.other) == NULL)
        abort();
    if (m.has_info && (m.base_len + 3 > n || s[m.base_len] != ':'))
        abort();
}

static int sign_of(int v)
{
    return (v > 0) - (v < 0);
}

static int one_input(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t alen = nl != NULL ? (size_t)(nl - data) : size;
    size_t blen = nl != NULL ? size - alen - 1 : 0;
    char *a = fz_strndup(data, alen);
    char *b = fz_strndup(nl != NULL ? nl + 1 : data + size, blen);
    parse_one((const char *)data, alen);
    parse_one(nl != NULL ? (const char *)nl + 1 : "", blen);
    /* the comparison works on C strings: cut at the first NUL */
    if (mf_maildir_name_cmp(a, a) != 0 || mf_maildir_name_cmp(b, b) != 0)
        abort();
    if (sign_of(mf_maildir_name_cmp(a, b)) != -sign_of(mf_maildir_name_cmp(b, a)))
        abort();
    if (mf_maildir_base_eq(a, strlen(a), b, strlen(b)) !=
        mf_maildir_base_eq(b, strlen(b), a, strlen(a)))
        abort();
    free(a);
    free(b);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_guard g;
    int r = one_input(fz_guard_copy(&g, data, size), size);
    fz_guard_free(&g);
    return r;
}
