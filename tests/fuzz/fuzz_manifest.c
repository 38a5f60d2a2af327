/* fuzz_manifest.c: feeds the input, as the bytes of a MANIFEST member, to
 * mf_manifest_parse (format/manifest.c). A manifest it accepts must encode
 * again (mf_manifest_encode), and that encoding must parse to the same
 * encoding (parse and encode agree); the trusted comment is built too. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "../../format/manifest.h"

static int one_input(const uint8_t *data, size_t size)
{
    struct mf_manifest m, m2;
    struct mf_error err;
    struct mf_buf a, b;
    char tc[MF_TRUSTED_COMMENT_MAX + 1];
    mf_manifest_init(&m);
    mf_manifest_init(&m2);
    mf_buf_init(&a);
    mf_buf_init(&b);
    if (mf_manifest_parse(data, size, &m, &err) == 0) {
        mf_manifest_trusted_comment(&m, tc, sizeof tc);
        if (mf_manifest_encode(&m, &a, &err) < 0)
            abort();  /* what the parser accepts, the encoder must write */
        if (mf_manifest_parse(a.p, a.len, &m2, &err) < 0)
            abort();  /* and the parser must accept what the encoder wrote */
        if (mf_manifest_encode(&m2, &b, &err) < 0 || a.len != b.len || memcmp(a.p, b.p, a.len) != 0)
            abort();
    }
    mf_buf_free(&a);
    mf_buf_free(&b);
    mf_manifest_clear(&m);
    mf_manifest_clear(&m2);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_guard g;
    int r = one_input(fz_guard_copy(&g, data, size), size);
    fz_guard_free(&g);
    return r;
}
