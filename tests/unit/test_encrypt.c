/* test_encrypt.c: archive encryption (format/encrypt.c, spec 15.1): a file
 * key sealed to a recipient opens only with that recipient's secret key, and
 * a sealed segment or frame opens only with the same key, kind, number and
 * archive id, and not at all once one byte of it changed. */
#include <sodium.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../format/encrypt.h"
#include "../../format/mem.h"
#include "tap.h"

static int keypair(const char *dir, const char *name, struct mf_pubkey *pk, struct mf_seckey **sk)
{
    char pub[512], sec[512];
    struct mf_error err;
    snprintf(pub, sizeof pub, "%s/%s.pub", dir, name);
    snprintf(sec, sizeof sec, "%s/%s.key", dir, name);
    return mf_keygen(pub, sec, NULL, &err) == 0 && mf_pubkey_load(pub, pk, &err) == 0 &&
                   mf_seckey_load(sec, NULL, NULL, sk, &err) == 0
               ? 0
               : -1;
}

int main(void)
{
    char dir[] = "/tmp/mf-test-encrypt.XXXXXX";
    struct mf_pubkey pa, pb;
    struct mf_seckey *sa = NULL, *sb = NULL;
    struct mf_filekey *k = NULL, *k2 = NULL, *other = NULL, *none = NULL;
    struct mf_error err;
    uint8_t wrapped[MF_WRAPPED_KEY_BYTES], id[MF_ARCHIVE_ID_BYTES], id2[MF_ARCHIVE_ID_BYTES];
    uint8_t plain[1000], buf[1000 + MF_SEAL_TAG_BYTES], out[1000 + MF_SEAL_TAG_BYTES];
    char cmd[600];

    if (mf_crypto_init(&err) < 0 || mkdtemp(dir) == NULL)
        return 1;
    ok(keypair(dir, "a", &pa, &sa) == 0 && keypair(dir, "b", &pb, &sb) == 0, "two key pairs");
    ok(mf_filekey_new(&k, &err) == 0 && mf_filekey_new(&other, &err) == 0, "file keys");
    ok(mf_filekey_wrap(k, &pa, wrapped, &err) == 0, "sealed to a");
    ok(mf_filekey_unwrap(wrapped, sa, &k2, &err) == 0, "a's secret key opens it");
    ok(mf_filekey_unwrap(wrapped, sb, &none, &err) < 0 && err.cls == MF_ESIG && none == NULL,
       "b's does not (signature class): %s", err.msg);
    wrapped[40] ^= 1;
    ok(mf_filekey_unwrap(wrapped, sa, &none, &err) < 0 && err.cls == MF_ESIG && none == NULL,
       "a changed sealed key does not open");

    randombytes_buf(plain, sizeof plain);
    randombytes_buf(id, sizeof id);
    memcpy(id2, id, sizeof id);
    id2[0] ^= 0x80;
    memcpy(buf, plain, sizeof plain);
    mf_seal(k, id, MF_SEAL_FRAME, 7, buf, sizeof plain);
    ok(memcmp(buf, plain, sizeof plain) != 0, "sealing changes the bytes");
    ok(mf_unseal(k2, id, MF_SEAL_FRAME, 7, buf, sizeof buf, out, &err) == 0 &&
           memcmp(out, plain, sizeof plain) == 0,
       "the unwrapped key opens the frame, byte for byte");
    ok(mf_unseal(k2, id, MF_SEAL_FRAME, 8, buf, sizeof buf, out, &err) < 0 &&
           err.cls == MF_ECORRUPT,
       "not as another frame (nonce from the frame id)");
    ok(mf_unseal(k2, id, MF_SEAL_INDEX, 7, buf, sizeof buf, out, &err) < 0,
       "not as an index segment of the same number");
    ok(mf_unseal(k2, id2, MF_SEAL_FRAME, 7, buf, sizeof buf, out, &err) < 0,
       "not in another archive (archive id as associated data)");
    ok(mf_unseal(other, id, MF_SEAL_FRAME, 7, buf, sizeof buf, out, &err) < 0,
       "not with another file key");
    for (size_t at = 0; at < sizeof buf; at += 97) {
        buf[at] ^= 0x10;
        if (mf_unseal(k2, id, MF_SEAL_FRAME, 7, buf, sizeof buf, out, &err) == 0) {
            ok(0, "a changed byte at %zu opened", at);
            break;
        }
        buf[at] ^= 0x10;
    }
    ok(1, "a byte changed anywhere (ciphertext or tag) never opens");
    ok(mf_unseal(k2, id, MF_SEAL_FRAME, 7, buf, sizeof buf - 1, out, &err) < 0,
       "a truncated frame does not open");
    memcpy(out, buf, sizeof buf);
    ok(mf_unseal(k2, id, MF_SEAL_FRAME, 7, out, sizeof buf, out, &err) == 0 &&
           memcmp(out, plain, sizeof plain) == 0,
       "opening in place works");

    mf_filekey_free(&k);
    mf_filekey_free(&k2);
    mf_filekey_free(&other);
    mf_seckey_free(&sa);
    mf_seckey_free(&sb);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        diag("could not remove %s", dir);
    return done_testing();
}
