/* sign.c: minisign-compatible key files and ED signatures.
 *
 * Public key file:  "untrusted comment: ...\n" + base64("Ed" | keyid[8] | pk[32]) "\n"
 * Secret key file:  "untrusted comment: ...\n" + base64(sig_alg "Ed" | kdf_alg "Sc" or 00 00 |
 *                   chk_alg "B2" | salt[32] | opslimit le64 | memlimit le64 |
 *                   keyid[8] | sk[64] | chk[32]) "\n"; with "Sc" the last 104 bytes are
 *                   XORed with scrypt(password, salt, opslimit, memlimit);
 *                   chk = BLAKE2b-256("Ed" | keyid | sk).
 * Signature file:   untrusted comment line, base64("ED" | keyid | Ed25519(BLAKE2b-512(msg))),
 *                   "trusted comment: <text>", base64(Ed25519(sig | text)). */
#include "sign.h"
#include "fsutil.h"
#include "mem.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COMMENT_PREFIX "untrusted comment: "
#define TRUSTED_PREFIX "trusted comment: "
#define COMMENT_MAX 1024
#define PUB_BYTES (2 + MF_KEYID_BYTES + 32)
#define SIGSTRUCT_BYTES (2 + MF_KEYID_BYTES + 64)
#define KEYNUM_SK_BYTES (MF_KEYID_BYTES + 64 + 32)
#define SECSTRUCT_BYTES (2 + 2 + 2 + 32 + 8 + 8 + KEYNUM_SK_BYTES)
#define KDF_OPSLIMIT 33554432ull
#define KDF_MEMLIMIT 67108864ull
/* Refuse absurd KDF costs from a hostile key file (minisign writes at most 1 GiB). */
#define KDF_MEMLIMIT_MAX (2ull * 1024 * 1024 * 1024)
#define KDF_OPSLIMIT_MAX (1ull << 32)

int mf_crypto_init(struct mf_error *err)
{
    if (sodium_init() < 0)
        return mf_err(err, MF_EINTERNAL, "libsodium failed to initialise");
    return 0;
}

void mf_keyid_str(char out[17], const uint8_t keyid[MF_KEYID_BYTES])
{
    snprintf(out, 17, "%016" PRIX64, mf_load_u64le(keyid));
}

/* Splits text into lines; returns the number found (at most max). A line
 * excludes its LF and a trailing CR. */
static size_t split_lines(const char *text, size_t len, const char **lines, size_t *lens,
                          size_t max)
{
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= len && n < max; i++) {
        if (i == len || text[i] == '\n') {
            size_t l = i - start;
            if (i == len && l == 0)
                break;
            if (l > 0 && text[start + l - 1] == '\r')
                l--;
            lines[n] = text + start;
            lens[n] = l;
            n++;
            start = i + 1;
        }
    }
    return n;
}

static int b64_decode_exact(uint8_t *out, size_t outlen, const char *in, size_t inlen)
{
    size_t got = 0;
    if (inlen > 4 * ((outlen + 2) / 3) + 4)
        return -1;
    if (sodium_base642bin(out, outlen, in, inlen, NULL, &got, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return -1;
    return got == outlen ? 0 : -1;
}

static int has_prefix(const char *line, size_t len, const char *prefix)
{
    size_t pl = strlen(prefix);
    return len >= pl && memcmp(line, prefix, pl) == 0;
}

int mf_pubkey_parse(const char *text, size_t len, struct mf_pubkey *pk, struct mf_error *err)
{
    const char *lines[2];
    size_t lens[2];
    uint8_t raw[PUB_BYTES];
    size_t n = split_lines(text, len, lines, lens, 2);
    const char *b64;
    size_t b64len;
    if (n == 2) {
        if (!has_prefix(lines[0], lens[0], COMMENT_PREFIX) || lens[0] > COMMENT_MAX)
            return mf_err(err, MF_EUSAGE, "public key: first line must be an untrusted comment");
        b64 = lines[1];
        b64len = lens[1];
    } else if (n == 1) {
        b64 = lines[0];  /* a bare base64 key, as minisign -P takes it */
        b64len = lens[0];
    } else {
        return mf_err(err, MF_EUSAGE, "public key: expected a comment line and a key line");
    }
    if (b64_decode_exact(raw, sizeof raw, b64, b64len) < 0)
        return mf_err(err, MF_EUSAGE, "public key: not a base64 minisign public key");
    if (memcmp(raw, "Ed", 2) != 0)
        return mf_err(err, MF_EUSAGE, "public key: unsupported signature algorithm");
    memcpy(pk->keyid, raw + 2, MF_KEYID_BYTES);
    memcpy(pk->pk, raw + 2 + MF_KEYID_BYTES, 32);
    return 0;
}

int mf_pubkey_load(const char *path, struct mf_pubkey *pk, struct mf_error *err)
{
    uint8_t *data;
    size_t len;
    int r;
    if (mf_read_file(path, 4096, 0, &data, &len, err) < 0)
        return -1;
    r = mf_pubkey_parse((const char *)data, len, pk, err);
    mf_free(data);
    if (r < 0)
        mf_err_ctx(err, "%s", path);
    return r;
}

static void seckey_chk(uint8_t chk[32], const uint8_t keyid[8], const uint8_t sk[64])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 32);
    crypto_generichash_update(&st, (const unsigned char *)"Ed", 2);
    crypto_generichash_update(&st, keyid, 8);
    crypto_generichash_update(&st, sk, 64);
    crypto_generichash_final(&st, chk, 32);
}

void mf_seckey_free(struct mf_seckey **skp)
{
    if (*skp != NULL) {
        sodium_free(*skp);  /* sodium_free wipes before releasing */
        *skp = NULL;
    }
}

int mf_seckey_parse(const uint8_t *text, size_t len, mf_password_fn pw, void *pw_ctx,
                    struct mf_seckey **sk_r, struct mf_error *err)
{
    const char *lines[2];
    size_t lens[2];
    uint8_t *raw;
    struct mf_seckey *sk;
    int r = -1;
    size_t n = split_lines((const char *)text, len, lines, lens, 2);
    *sk_r = NULL;
    if (n != 2 || !has_prefix(lines[0], lens[0], COMMENT_PREFIX) || lens[0] > COMMENT_MAX)
        return mf_err(err, MF_EUSAGE, "secret key: expected a comment line and a key line");
    raw = sodium_malloc(SECSTRUCT_BYTES);
    sk = sodium_malloc(sizeof *sk);
    if (raw == NULL || sk == NULL) {
        if (raw != NULL)
            sodium_free(raw);
        if (sk != NULL)
            sodium_free(sk);
        return mf_err_nomem(err);
    }
    if (b64_decode_exact(raw, SECSTRUCT_BYTES, lines[1], lens[1]) < 0) {
        mf_err(err, MF_EUSAGE, "secret key: not a base64 minisign secret key");
        goto out;
    }
    if (memcmp(raw, "Ed", 2) != 0) {
        mf_err(err, MF_EUSAGE, "secret key: unsupported signature algorithm");
        goto out;
    }
    if (memcmp(raw + 4, "B2", 2) != 0) {
        mf_err(err, MF_EUSAGE, "secret key: unsupported checksum algorithm");
        goto out;
    }
    uint8_t *keynum_sk = raw + 2 + 2 + 2 + 32 + 8 + 8;
    uint8_t chk[32];
    if (memcmp(raw + 2, "Sc", 2) == 0) {
        uint64_t ops = mf_load_u64le(raw + 38), mem = mf_load_u64le(raw + 46);
        char *pass = sodium_malloc(1025);
        uint8_t *stream = sodium_malloc(KEYNUM_SK_BYTES);
        if (pass == NULL || stream == NULL) {
            if (pass != NULL)
                sodium_free(pass);
            if (stream != NULL)
                sodium_free(stream);
            mf_err_nomem(err);
            goto out;
        }
        if (ops > KDF_OPSLIMIT_MAX || mem > KDF_MEMLIMIT_MAX) {
            mf_err(err, MF_EUSAGE, "secret key: key derivation parameters out of range");
        } else if (pw == NULL || pw("Password: ", pass, 1025, pw_ctx) < 0) {
            mf_err(err, MF_ESIG, "secret key is password-protected and no password was given");
        } else if (crypto_pwhash_scryptsalsa208sha256(stream, KEYNUM_SK_BYTES, pass, strlen(pass),
                                                      raw + 6, ops, (size_t)mem) != 0) {
            mf_err(err, MF_ENOMEM, "secret key: key derivation needs more memory");
        } else {
            for (size_t i = 0; i < KEYNUM_SK_BYTES; i++)
                keynum_sk[i] ^= stream[i];
            seckey_chk(chk, keynum_sk, keynum_sk + 8);
            if (sodium_memcmp(chk, keynum_sk + 72, 32) != 0)
                mf_err(err, MF_ESIG, "wrong password for that secret key");
            else
                r = 0;
        }
        sodium_free(pass);
        sodium_free(stream);
        if (r < 0)
            goto out;
    } else if (raw[2] == 0 && raw[3] == 0) {
        /* Unencrypted (minisign -W). minisign leaves chk zero; accept that or a valid one. */
        static const uint8_t zero[32];
        seckey_chk(chk, keynum_sk, keynum_sk + 8);
        if (sodium_memcmp(keynum_sk + 72, zero, 32) != 0 &&
            sodium_memcmp(chk, keynum_sk + 72, 32) != 0) {
            mf_err(err, MF_EUSAGE, "secret key: checksum mismatch (damaged key file)");
            goto out;
        }
        r = 0;
    } else {
        mf_err(err, MF_EUSAGE, "secret key: unsupported key derivation function");
        goto out;
    }
    memcpy(sk->keyid, keynum_sk, 8);
    memcpy(sk->sk, keynum_sk + 8, 64);
    sodium_memzero(chk, sizeof chk);
    *sk_r = sk;
    sk = NULL;
    r = 0;
out:
    sodium_free(raw);
    if (sk != NULL)
        sodium_free(sk);
    return r;
}

int mf_seckey_load(const char *path, mf_password_fn pw, void *pw_ctx, struct mf_seckey **sk_r,
                   struct mf_error *err)
{
    struct stat st;
    uint8_t *data;
    size_t len;
    int r;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    *sk_r = NULL;
    if (fd < 0)
        return mf_err_sys(err, MF_EIO, errno, "secret key %s", path);
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return mf_err(err, MF_EUSAGE, "secret key %s: not a regular file", path);
    }
    if ((st.st_mode & 077) != 0) {
        close(fd);
        return mf_err(err, MF_EUSAGE,
                      "secret key %s is accessible by group or others (mode %04o); "
                      "run: chmod 600 %s",
                      path, (unsigned)(st.st_mode & 07777), path);
    }
    r = mf_read_fd(fd, path, 4096, &data, &len, err);
    close(fd);
    if (r < 0)
        return -1;
    r = mf_seckey_parse(data, len, pw, pw_ctx, sk_r, err);
    sodium_memzero(data, len);
    mf_free(data);
    if (r < 0)
        mf_err_ctx(err, "%s", path);
    return r;
}

static int put_b64_line(struct mf_buf *b, const uint8_t *bin, size_t n)
{
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    if (mf_buf_reserve(b, cap + 1) < 0)
        return -1;
    sodium_bin2base64((char *)b->p + b->len, cap, bin, n, sodium_base64_VARIANT_ORIGINAL);
    b->len += strlen((char *)b->p + b->len);
    mf_buf_u8(b, '\n');
    return b->oom ? -1 : 0;
}

int mf_keygen(const char *pub_path, const char *sec_path, const char *password,
              struct mf_error *err)
{
    uint8_t *sec = sodium_malloc(SECSTRUCT_BYTES);
    uint8_t pub[PUB_BYTES];
    char idstr[17];
    struct mf_buf out;
    int r = -1;
    if (sec == NULL)
        return mf_err_nomem(err);
    mf_buf_init(&out);
    memset(sec, 0, SECSTRUCT_BYTES);
    uint8_t *keynum_sk = sec + 2 + 2 + 2 + 32 + 8 + 8;
    randombytes_buf(keynum_sk, 8);
    crypto_sign_keypair(pub + 2 + 8, keynum_sk + 8);
    memcpy(pub, "Ed", 2);
    memcpy(pub + 2, keynum_sk, 8);
    memcpy(sec, "Ed", 2);
    memcpy(sec + 4, "B2", 2);
    seckey_chk(keynum_sk + 72, keynum_sk, keynum_sk + 8);
    if (password != NULL) {
        uint8_t *stream = sodium_malloc(KEYNUM_SK_BYTES);
        if (stream == NULL) {
            mf_err_nomem(err);
            goto out;
        }
        memcpy(sec + 2, "Sc", 2);
        randombytes_buf(sec + 6, 32);
        mf_store_u64le(sec + 38, KDF_OPSLIMIT);
        mf_store_u64le(sec + 46, KDF_MEMLIMIT);
        if (crypto_pwhash_scryptsalsa208sha256(stream, KEYNUM_SK_BYTES, password,
                                               strlen(password), sec + 6, KDF_OPSLIMIT,
                                               KDF_MEMLIMIT) != 0) {
            sodium_free(stream);
            mf_err(err, MF_ENOMEM, "key derivation needs more memory");
            goto out;
        }
        for (size_t i = 0; i < KEYNUM_SK_BYTES; i++)
            keynum_sk[i] ^= stream[i];
        sodium_free(stream);
    }
    mf_keyid_str(idstr, pub + 2);
    mf_buf_puts(&out, COMMENT_PREFIX "minisign encrypted secret key\n");
    if (put_b64_line(&out, sec, SECSTRUCT_BYTES) < 0) {
        mf_err_nomem(err);
        goto out;
    }
    if (mf_write_new_file(sec_path, out.p, out.len, 0600, err) < 0)
        goto out;
    sodium_memzero(out.p, out.len);
    mf_buf_reset(&out);
    mf_buf_printf(&out, COMMENT_PREFIX "minisign public key %" PRIX64 "\n",
                  mf_load_u64le(pub + 2));
    if (put_b64_line(&out, pub, sizeof pub) < 0) {
        mf_err_nomem(err);
        unlink(sec_path);
        goto out;
    }
    if (mf_write_new_file(pub_path, out.p, out.len, 0644, err) < 0) {
        unlink(sec_path);
        goto out;
    }
    r = 0;
out:
    if (out.p != NULL)
        sodium_memzero(out.p, out.cap);
    mf_buf_free(&out);
    sodium_free(sec);
    return r;
}

int mf_sign(const struct mf_seckey *sk, const uint8_t *msg, size_t len,
            const char *trusted_comment, struct mf_buf *out, struct mf_error *err)
{
    uint8_t digest[64];
    uint8_t sigstruct[SIGSTRUCT_BYTES];
    uint8_t global[64];
    size_t tlen = strlen(trusted_comment);
    uint8_t *tbuf;
    if (tlen > MF_TRUSTED_COMMENT_MAX || memchr(trusted_comment, '\n', tlen) != NULL)
        return mf_err(err, MF_EINTERNAL, "trusted comment too long or multi-line");
    crypto_generichash(digest, sizeof digest, msg, len, NULL, 0);
    memcpy(sigstruct, "ED", 2);
    memcpy(sigstruct + 2, sk->keyid, 8);
    crypto_sign_detached(sigstruct + 10, NULL, digest, sizeof digest, sk->sk);
    tbuf = mf_malloc(64 + tlen);
    if (tbuf == NULL)
        return mf_err_nomem(err);
    memcpy(tbuf, sigstruct + 10, 64);
    memcpy(tbuf + 64, trusted_comment, tlen);
    crypto_sign_detached(global, NULL, tbuf, 64 + tlen, sk->sk);
    mf_free(tbuf);
    mf_buf_puts(out, COMMENT_PREFIX "signature from mailferry secret key\n");
    put_b64_line(out, sigstruct, sizeof sigstruct);
    mf_buf_printf(out, TRUSTED_PREFIX "%s\n", trusted_comment);
    put_b64_line(out, global, sizeof global);
    return out->oom ? mf_err_nomem(err) : 0;
}

int mf_verify(const struct mf_pubkey *keys, size_t nkeys, const uint8_t *msg, size_t len,
              const uint8_t *sig, size_t siglen, char trusted_r[MF_TRUSTED_COMMENT_MAX + 1],
              size_t *which_r, struct mf_error *err)
{
    const char *lines[4];
    size_t lens[4];
    uint8_t sigstruct[SIGSTRUCT_BYTES];
    uint8_t global[64];
    uint8_t digest[64];
    const char *tc;
    size_t tclen, n, k;
    uint8_t *tbuf;
    int ok;
    trusted_r[0] = '\0';
    if (memchr(sig, '\0', siglen) != NULL)
        return mf_err(err, MF_ESIG, "signature file is not text");
    n = split_lines((const char *)sig, siglen, lines, lens, 4);
    if (n != 4 || !has_prefix(lines[0], lens[0], COMMENT_PREFIX) ||
        !has_prefix(lines[2], lens[2], TRUSTED_PREFIX))
        return mf_err(err, MF_ESIG, "signature file is malformed (expected four minisign lines)");
    if (b64_decode_exact(sigstruct, sizeof sigstruct, lines[1], lens[1]) < 0 ||
        b64_decode_exact(global, sizeof global, lines[3], lens[3]) < 0)
        return mf_err(err, MF_ESIG, "signature file is malformed (bad base64)");
    if (memcmp(sigstruct, "ED", 2) != 0)
        return mf_err(err, MF_ESIG, "unsupported signature algorithm (mailferry requires "
                                    "prehashed ED signatures)");
    tc = lines[2] + strlen(TRUSTED_PREFIX);
    tclen = lens[2] - strlen(TRUSTED_PREFIX);
    if (tclen > MF_TRUSTED_COMMENT_MAX)
        return mf_err(err, MF_ESIG, "trusted comment too long");
    for (k = 0; k < nkeys; k++)
        if (memcmp(keys[k].keyid, sigstruct + 2, 8) == 0)
            break;
    if (k == nkeys) {
        char got[17], want[17];
        mf_keyid_str(got, sigstruct + 2);
        if (nkeys == 1) {
            mf_keyid_str(want, keys[0].keyid);
            return mf_err(err, MF_ESIG, "signed by key %s, but the trusted key is %s", got, want);
        }
        return mf_err(err, MF_ESIG, "signed by key %s, which is not among the %zu trusted keys",
                      got, nkeys);
    }
    crypto_generichash(digest, sizeof digest, msg, len, NULL, 0);
    if (crypto_sign_verify_detached(sigstruct + 10, digest, sizeof digest, keys[k].pk) != 0) {
        char id[17];
        mf_keyid_str(id, keys[k].keyid);
        return mf_err(err, MF_ESIG, "signature by key %s does not match the manifest", id);
    }
    tbuf = mf_malloc(64 + tclen);
    if (tbuf == NULL)
        return mf_err_nomem(err);
    memcpy(tbuf, sigstruct + 10, 64);
    memcpy(tbuf + 64, tc, tclen);
    ok = crypto_sign_verify_detached(global, tbuf, 64 + tclen, keys[k].pk) == 0;
    mf_free(tbuf);
    if (!ok)
        return mf_err(err, MF_ESIG, "trusted comment signature does not verify");
    memcpy(trusted_r, tc, tclen);
    trusted_r[tclen] = '\0';
    if (which_r != NULL)
        *which_r = k;
    return 0;
}
