/* fuzz_pubkey.c: feeds the input, as the content of a minisign public key
 * file (key.pub), to mf_pubkey_parse (format/sign.c); also through
 * mf_pubkey_load on a scratch file, as `-p FILE` reads it. Both must agree. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"

static int one_input(const uint8_t *data, size_t size)
{
    struct mf_pubkey a, b;
    struct mf_error err;
    int ra, rb;
    char id[17];
    fz_crypto_init();
    ra = mf_pubkey_parse((const char *)data, size, &a, &err);
    if (ra == 0)
        mf_keyid_str(id, a.keyid);
    fz_put("key.pub", data, size);
    rb = mf_pubkey_load(fz_path("key.pub"), &b, &err);
    if (ra == 0 && rb == 0 && memcmp(&a, &b, sizeof a) != 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_guard g;
    int r = one_input(fz_guard_copy(&g, data, size), size);
    fz_guard_free(&g);
    return r;
}
