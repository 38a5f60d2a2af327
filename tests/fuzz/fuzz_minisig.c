/* fuzz_minisig.c: feeds the input, as the bytes of a MANIFEST.minisig
 * signature file, to mf_verify (format/sign.c), with the spec's test public
 * key trusted, a second unrelated key beside it, and a fixed message
 * (FZ_SIGNED_MSG). The seeds are real signatures of that message by the
 * test key (spec/vectors/test.key), so mutations reach every check down to
 * the trusted comment's global signature. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"

#define FZ_SIGNED_MSG "mailferry fuzz message\n"

static int one_input(const uint8_t *data, size_t size)
{
    static struct mf_pubkey keys[2];
    static int have_keys;
    struct mf_error err;
    char trusted[MF_TRUSTED_COMMENT_MAX + 1];
    size_t which = 99;
    fz_crypto_init();
    if (!have_keys) {
        static const char pub[] = FZ_TEST_PUB;
        memset(&keys[0], 0x5a, sizeof keys[0]);  /* a key that signs nothing */
        if (mf_pubkey_parse(pub, sizeof pub - 1, &keys[1], &err) < 0)
            abort();
        have_keys = 1;
    }
    for (size_t nkeys = 1; nkeys <= 2; nkeys++) {
        const struct mf_pubkey *k = nkeys == 1 ? &keys[1] : keys;
        if (mf_verify(k, nkeys, (const uint8_t *)FZ_SIGNED_MSG, sizeof FZ_SIGNED_MSG - 1, data,
                      size, trusted, &which, &err) == 0) {
            if (which >= nkeys || strlen(trusted) > MF_TRUSTED_COMMENT_MAX)
                abort();
        } else if (err.cls != MF_ESIG) {
            abort();  /* every refusal of a signature is a signature error */
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_guard g;
    int r = one_input(fz_guard_copy(&g, data, size), size);
    fz_guard_free(&g);
    return r;
}
