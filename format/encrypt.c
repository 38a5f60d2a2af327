/* encrypt.c: file keys, their sealing to recipients, and the AEAD of index
 * segments and frames (spec/FORMAT.md 15.1). */
#include "encrypt.h"
#include "mem.h"

#include <sodium.h>
#include <string.h>

struct mf_filekey {
    uint8_t k[MF_FILEKEY_BYTES];
};

int mf_filekey_new(struct mf_filekey **k_r, struct mf_error *err)
{
    struct mf_filekey *k = sodium_malloc(sizeof *k);
    *k_r = NULL;
    if (k == NULL)
        return mf_err_nomem(err);
    crypto_aead_xchacha20poly1305_ietf_keygen(k->k);
    *k_r = k;
    return 0;
}

void mf_filekey_free(struct mf_filekey **k)
{
    if (*k != NULL) {
        sodium_free(*k);
        *k = NULL;
    }
}

int mf_filekey_wrap(const struct mf_filekey *k, const struct mf_pubkey *to,
                    uint8_t out[MF_WRAPPED_KEY_BYTES], struct mf_error *err)
{
    uint8_t xpk[crypto_scalarmult_curve25519_BYTES];
    if (crypto_sign_ed25519_pk_to_curve25519(xpk, to->pk) != 0) {
        char id[17];
        mf_keyid_str(id, to->keyid);
        return mf_err(err, MF_EUSAGE, "public key %s cannot receive (not a valid Ed25519 point)",
                      id);
    }
    if (crypto_box_seal(out, k->k, MF_FILEKEY_BYTES, xpk) != 0)
        return mf_err(err, MF_EINTERNAL, "crypto_box_seal failed");
    return 0;
}

int mf_filekey_unwrap(const uint8_t in[MF_WRAPPED_KEY_BYTES], const struct mf_seckey *sk,
                      struct mf_filekey **k_r, struct mf_error *err)
{
    uint8_t *xsk = sodium_malloc(crypto_scalarmult_curve25519_BYTES);
    uint8_t xpk[crypto_scalarmult_curve25519_BYTES];
    struct mf_filekey *k = sodium_malloc(sizeof *k);
    int r = -1;
    *k_r = NULL;
    if (xsk == NULL || k == NULL) {
        mf_err_nomem(err);
        goto out;
    }
    if (crypto_sign_ed25519_sk_to_curve25519(xsk, sk->sk) != 0 ||
        crypto_sign_ed25519_pk_to_curve25519(xpk, sk->sk + 32) != 0) {
        mf_err(err, MF_ESIG, "the secret key cannot decrypt (not a valid Ed25519 key)");
        goto out;
    }
    if (crypto_box_seal_open(k->k, in, MF_WRAPPED_KEY_BYTES, xpk, xsk) != 0) {
        char id[17];
        mf_keyid_str(id, sk->keyid);
        mf_err(err, MF_ESIG, "the file key sealed to key %s does not open with that secret key",
               id);
        goto out;
    }
    *k_r = k;
    k = NULL;
    r = 0;
out:
    if (xsk != NULL)
        sodium_free(xsk);
    if (k != NULL)
        sodium_free(k);
    return r;
}

static void nonce_of(uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES],
                     enum mf_seal_kind kind, uint64_t number)
{
    memset(nonce, 0, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    nonce[0] = (uint8_t)kind;
    for (int i = 0; i < 8; i++)
        nonce[1 + i] = (uint8_t)(number >> (8 * i));
}

void mf_seal(const struct mf_filekey *k, const uint8_t archive_id[MF_ARCHIVE_ID_BYTES],
             enum mf_seal_kind kind, uint64_t number, uint8_t *buf, size_t len)
{
    uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
    nonce_of(nonce, kind, number);
    crypto_aead_xchacha20poly1305_ietf_encrypt(buf, NULL, buf, len, archive_id,
                                               MF_ARCHIVE_ID_BYTES, NULL, nonce, k->k);
}

int mf_unseal(const struct mf_filekey *k, const uint8_t archive_id[MF_ARCHIVE_ID_BYTES],
              enum mf_seal_kind kind, uint64_t number, const uint8_t *in, size_t inlen,
              uint8_t *out, struct mf_error *err)
{
    uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
    if (inlen < MF_SEAL_TAG_BYTES)
        return mf_err(err, MF_ECORRUPT, "encrypted %s %llu is shorter than its tag",
                      kind == MF_SEAL_INDEX ? "index segment" : "frame",
                      (unsigned long long)number);
    nonce_of(nonce, kind, number);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, in, inlen, archive_id,
                                                   MF_ARCHIVE_ID_BYTES, nonce, k->k) != 0)
        return mf_err(err, MF_ECORRUPT, "encrypted %s %llu does not authenticate (damaged, "
                                        "altered or moved)",
                      kind == MF_SEAL_INDEX ? "index segment" : "frame",
                      (unsigned long long)number);
    return 0;
}
