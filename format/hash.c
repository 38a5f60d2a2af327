/* hash.c: keyed BLAKE2b for the three hash kinds and hex helpers. */
#include "hash.h"

#include <string.h>

static const char *const kind_keys[] = {
    "mailferry/1/blob",
    "mailferry/1/frame",
    "mailferry/1/message",
    "mailferry/1/mailbox-guid",
    "mailferry/1/state",
};

void mf_hash_init(struct mf_hasher *h, enum mf_hash_kind kind)
{
    const char *key = kind_keys[kind];
    h->outlen = MF_HASH_BYTES;
    crypto_generichash_init(&h->st, (const unsigned char *)key, strlen(key), MF_HASH_BYTES);
}

void mf_hash_init_digest(struct mf_hasher *h)
{
    h->outlen = MF_DIGEST_BYTES;
    crypto_generichash_init(&h->st, NULL, 0, MF_DIGEST_BYTES);
}

void mf_hash_update(struct mf_hasher *h, const void *p, size_t n)
{
    crypto_generichash_update(&h->st, p, n);
}

void mf_hash_final(struct mf_hasher *h, uint8_t *out)
{
    crypto_generichash_final(&h->st, out, h->outlen);
}

void mf_hash(enum mf_hash_kind kind, uint8_t out[MF_HASH_BYTES], const void *p, size_t n)
{
    struct mf_hasher h;
    mf_hash_init(&h, kind);
    mf_hash_update(&h, p, n);
    mf_hash_final(&h, out);
}

void mf_hex(char *out, const uint8_t *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int mf_unhex(uint8_t *out, size_t n, const char *in, size_t inlen)
{
    if (inlen != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}
