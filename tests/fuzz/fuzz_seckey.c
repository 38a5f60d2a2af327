/* fuzz_seckey.c: feeds the input, as the content of a minisign secret key
 * file, to mf_seckey_parse (format/sign.c) with no password available (so
 * an encrypted key stops before the deliberately slow scrypt step; its
 * parameters are still range-checked). A key it accepts signs a message
 * with mf_sign, as `pack -s` would. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"

static int one_input(const uint8_t *data, size_t size)
{
    struct mf_seckey *sk = NULL;
    struct mf_error err;
    fz_crypto_init();
    if (mf_seckey_parse(data, size, NULL, NULL, &sk, &err) == 0) {
        struct mf_buf sig;
        if (sk == NULL)
            abort();
        mf_buf_init(&sig);
        if (mf_sign(sk, data, size, "fuzz", &sig, &err) < 0)
            abort();
        mf_buf_free(&sig);
    } else if (sk != NULL) {
        abort();
    }
    mf_seckey_free(&sk);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_guard g;
    int r = one_input(fz_guard_copy(&g, data, size), size);
    fz_guard_free(&g);
    return r;
}
