/* hash.h: BLAKE2b hashing with domain separation. Blob ids, frame hashes and
 * message hashes are BLAKE2b-256 keyed with a distinct constant per kind, so
 * a value of one kind can never be accepted as another. Member digests are
 * plain BLAKE2b-512 (the value `b2sum` prints). */
#ifndef MF_HASH_H
#define MF_HASH_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>

#include "limits.h"

enum mf_hash_kind {
    MF_HK_BLOB = 0,     /* key "mailferry/1/blob" */
    MF_HK_FRAME = 1,    /* key "mailferry/1/frame" */
    MF_HK_MESSAGE = 2,  /* key "mailferry/1/message" */
    MF_HK_GUID = 3,     /* key "mailferry/1/mailbox-guid" */
    MF_HK_STATE = 4     /* key "mailferry/1/state" */
};

struct mf_hasher {
    crypto_generichash_state st;
    size_t outlen;
};

void mf_hash_init(struct mf_hasher *h, enum mf_hash_kind kind);
void mf_hash_init_digest(struct mf_hasher *h);  /* unkeyed BLAKE2b-512 */
void mf_hash_update(struct mf_hasher *h, const void *p, size_t n);
void mf_hash_final(struct mf_hasher *h, uint8_t *out);
void mf_hash(enum mf_hash_kind kind, uint8_t out[MF_HASH_BYTES], const void *p, size_t n);

/* Lowercase hex; out must hold 2*n+1 bytes. */
void mf_hex(char *out, const uint8_t *in, size_t n);
/* Parses exactly 2*n hex digits (either case); -1 on anything else. */
int mf_unhex(uint8_t *out, size_t n, const char *in, size_t inlen);

#endif
