/* sign.h: Ed25519 keys and signatures in minisign's file formats, so that
 * `minisign -Vm MANIFEST -p key.pub` checks a mailferry archive and keys made
 * by `minisign -G` sign mailferry archives (spec/FORMAT.md, "Keys and
 * signatures"). Secret keys live in sodium_malloc memory and are wiped. */
#ifndef MF_SIGN_H
#define MF_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"

#define MF_KEYID_BYTES 8
#define MF_TRUSTED_COMMENT_MAX 8192

struct mf_pubkey {
    uint8_t keyid[MF_KEYID_BYTES];
    uint8_t pk[32];
};

struct mf_seckey {
    uint8_t keyid[MF_KEYID_BYTES];
    uint8_t sk[64];
};

/* Asks for a password: fills buf (NUL-terminated) and returns 0, or -1. */
typedef int (*mf_password_fn)(const char *prompt, char *buf, size_t cap, void *ctx);

/* Must run once before any other function of the library. */
int mf_crypto_init(struct mf_error *err) MF_WUR;

int mf_pubkey_parse(const char *text, size_t len, struct mf_pubkey *pk,
                    struct mf_error *err) MF_WUR;
int mf_pubkey_load(const char *path, struct mf_pubkey *pk, struct mf_error *err) MF_WUR;

/* Loads a secret key file. The file must not be accessible by group or
 * others. An encrypted key asks `pw` for its password. */
int mf_seckey_load(const char *path, mf_password_fn pw, void *pw_ctx, struct mf_seckey **sk_r,
                   struct mf_error *err) MF_WUR;
/* Wipes and frees; NULL is a no-op. */
void mf_seckey_free(struct mf_seckey **sk);
/* Parses a secret key file's bytes (used by mf_seckey_load and the fuzzer). */
int mf_seckey_parse(const uint8_t *text, size_t len, mf_password_fn pw, void *pw_ctx,
                    struct mf_seckey **sk_r, struct mf_error *err) MF_WUR;

/* Creates a key pair. `password` NULL writes an unencrypted secret key.
 * The secret key file is created with O_EXCL and mode 0600. */
int mf_keygen(const char *pub_path, const char *sec_path, const char *password,
              struct mf_error *err) MF_WUR;

/* Key id as minisign prints it (uppercase hex of the little-endian value). */
void mf_keyid_str(char out[17], const uint8_t keyid[MF_KEYID_BYTES]);

/* Produces a minisign signature file (algorithm ED) for msg. */
int mf_sign(const struct mf_seckey *sk, const uint8_t *msg, size_t len,
            const char *trusted_comment, struct mf_buf *out, struct mf_error *err) MF_WUR;

/* Checks a signature file against the trusted keys. On success returns 0,
 * copies the trusted comment and the index of the key that matched.
 * Failures are MF_ESIG with a message naming the key ids involved. */
int mf_verify(const struct mf_pubkey *keys, size_t nkeys, const uint8_t *msg, size_t len,
              const uint8_t *sig, size_t siglen, char trusted_r[MF_TRUSTED_COMMENT_MAX + 1],
              size_t *which_r, struct mf_error *err) MF_WUR;

#endif
