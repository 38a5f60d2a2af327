/* encrypt.h: archive encryption (spec/FORMAT.md 15.1). A random 32-byte
 * file key encrypts every index segment and every frame with
 * XChaCha20-Poly1305 (a nonce made of what is sealed and its number, the
 * archive id as associated data); the file key travels in the signed
 * manifest, sealed (crypto_box_seal) to each recipient's X25519 key, which
 * is the birational image of its Ed25519 signing key: one minisign key pair
 * per host both signs and receives. File keys live in sodium_malloc memory. */
#ifndef MF_ENCRYPT_H
#define MF_ENCRYPT_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "limits.h"
#include "sign.h"

#define MF_FILEKEY_BYTES 32
#define MF_SEAL_TAG_BYTES 16     /* added to each sealed index segment or frame */
#define MF_WRAPPED_KEY_BYTES 80  /* crypto_box_SEALBYTES + MF_FILEKEY_BYTES */
#define MF_RECIPIENTS_MAX 64
#define MF_ENCRYPTION_NAME "x25519-xchacha20poly1305"

enum mf_seal_kind { MF_SEAL_INDEX = 1, MF_SEAL_FRAME = 2 };

struct mf_filekey;

int mf_filekey_new(struct mf_filekey **k_r, struct mf_error *err) MF_WUR;
void mf_filekey_free(struct mf_filekey **k);
/* Seals the file key to a recipient's public (signing) key. */
int mf_filekey_wrap(const struct mf_filekey *k, const struct mf_pubkey *to,
                    uint8_t out[MF_WRAPPED_KEY_BYTES], struct mf_error *err) MF_WUR;
/* Opens a sealed file key with a recipient's secret key (MF_ESIG when it
 * does not open: not sealed to this key, or altered). */
int mf_filekey_unwrap(const uint8_t in[MF_WRAPPED_KEY_BYTES], const struct mf_seckey *sk,
                      struct mf_filekey **k_r, struct mf_error *err) MF_WUR;
/* Encrypts buf[0..len) in place and appends the tag: buf must hold
 * len + MF_SEAL_TAG_BYTES bytes. `number` is the index segment number
 * (1-based) or the frame id. */
void mf_seal(const struct mf_filekey *k, const uint8_t archive_id[MF_ARCHIVE_ID_BYTES],
             enum mf_seal_kind kind, uint64_t number, uint8_t *buf, size_t len);
/* Decrypts in[0..inlen) (ciphertext and tag) into out (inlen - tag bytes;
 * may equal in). MF_ECORRUPT when it does not authenticate. */
int mf_unseal(const struct mf_filekey *k, const uint8_t archive_id[MF_ARCHIVE_ID_BYTES],
              enum mf_seal_kind kind, uint64_t number, const uint8_t *in, size_t inlen,
              uint8_t *out, struct mf_error *err) MF_WUR;

#endif
