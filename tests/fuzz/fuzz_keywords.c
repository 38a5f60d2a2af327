/* fuzz_keywords.c: feeds the input, as the content of a Dovecot
 * dovecot-keywords file, to mf_keywords_parse (pack/maildir_keywords.c) and
 * checks that every name it keeps passes mf_keyword_valid; also runs
 * mf_keyword_valid on the raw input. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "../../pack/maildir_keywords.h"

static void warn_quiet(void *ctx, const char *file, size_t line, const char *msg)
{
    (void)ctx;
    (void)file;
    (void)line;
    (void)msg;
}

static int one_input(const uint8_t *data, size_t size)
{
    struct mf_maildir_keywords k;
    memset(&k, 0, sizeof k);
    if (mf_keywords_parse((const char *)data, size, "dovecot-keywords", warn_quiet, NULL, &k) == 0)
        for (int i = 0; i < MF_MAILDIR_LETTERS; i++)
            if (k.name[i] != NULL && !mf_keyword_valid(k.name[i], strlen(k.name[i])))
                abort();  /* only valid keyword names may be kept */
    mf_keywords_free(&k);
    (void)mf_keyword_valid((const char *)data, size);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_guard g;
    int r = one_input(fz_guard_copy(&g, data, size), size);
    fz_guard_free(&g);
    return r;
}
