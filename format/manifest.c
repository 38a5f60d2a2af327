/* manifest.c: encoder and strict parser of the MANIFEST text.
 *
 *   mailferry-manifest 1
 *   archive <32 hex>
 *   kind full|delta
 *   created <unix seconds>
 *   host <label>
 *   tool <label>
 *   chain <n>
 *   base - | base <32 hex archive id> <64 hex BLAKE2b-256 of the base MANIFEST>
 *   encryption none | encryption x25519-xchacha20poly1305
 *   recipients <n>                                  (encrypted: 1 .. 64)
 *   recipient <16 hex key id> <160 hex sealed file key>   (n lines)
 *   volumes <v>                                     (split archives only: 2 ..)
 *   volume <i> <first member number> <count>        (v lines, i = 1 .. v)
 *   members <count>
 *   member <name> <size> <128 hex BLAKE2b-512>      (count lines, archive order)
 *   end
 */
#include "manifest.h"
#include "hash.h"
#include "mem.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void mf_manifest_init(struct mf_manifest *m)
{
    memset(m, 0, sizeof *m);
}

void mf_manifest_clear(struct mf_manifest *m)
{
    mf_free(m->members);
    mf_free(m->volumes);
    memset(m, 0, sizeof *m);
}

const char *mf_kind_name(enum mf_kind k)
{
    return k == MF_KIND_DELTA ? "delta" : "full";
}

void mf_member_name(char out[MF_MEMBER_NAME_MAX + 1], const char *dir, size_t n)
{
    snprintf(out, MF_MEMBER_NAME_MAX + 1, "%s/%06zu", dir, n);
}

void mf_manifest_trusted_comment(const struct mf_manifest *m, char *out, size_t cap)
{
    char id[2 * MF_ARCHIVE_ID_BYTES + 1];
    mf_hex(id, m->archive_id, sizeof m->archive_id);
    snprintf(out, cap, "mailferry archive %s kind %s created %" PRId64, id, mf_kind_name(m->kind),
             m->created);
}

size_t mf_manifest_volume_of(const struct mf_manifest *m, size_t i)
{
    for (size_t v = 0; v < m->nvolumes; v++)
        if (i >= m->volumes[v].first && i - m->volumes[v].first < m->volumes[v].count)
            return v + 1;
    return 0;
}

static int label_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 255 || s[0] == ' ' || s[n - 1] == ' ')
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return 0;
    return 1;
}

int mf_manifest_encode(const struct mf_manifest *m, struct mf_buf *out, struct mf_error *err)
{
    char hex[2 * MF_DIGEST_BYTES + 1];
    if (!label_ok(m->host) || !label_ok(m->tool))
        return mf_err(err, MF_EINTERNAL, "manifest host or tool label is not printable ASCII");
    mf_buf_puts(out, "mailferry-manifest 1\n");
    mf_hex(hex, m->archive_id, sizeof m->archive_id);
    mf_buf_printf(out, "archive %s\nkind %s\ncreated %" PRId64 "\nhost %s\ntool %s\nchain %" PRIu64
                       "\n",
                  hex, mf_kind_name(m->kind), m->created, m->host, m->tool, m->chain);
    if (m->kind == MF_KIND_DELTA) {
        char mh[2 * MF_HASH_BYTES + 1];
        mf_hex(hex, m->base_id, sizeof m->base_id);
        mf_hex(mh, m->base_manifest, sizeof m->base_manifest);
        mf_buf_printf(out, "base %s %s\n", hex, mh);
    } else {
        mf_buf_puts(out, "base -\n");
    }
    if (m->encrypted) {
        mf_buf_printf(out, "encryption %s\nrecipients %zu\n", MF_ENCRYPTION_NAME,
                      m->nrecipients);
        for (size_t i = 0; i < m->nrecipients; i++) {
            char kid[2 * MF_KEYID_BYTES + 1], wk[2 * MF_WRAPPED_KEY_BYTES + 1];
            mf_hex(kid, m->recipients[i].keyid, MF_KEYID_BYTES);
            mf_hex(wk, m->recipients[i].wrapped, MF_WRAPPED_KEY_BYTES);
            mf_buf_printf(out, "recipient %s %s\n", kid, wk);
        }
    } else {
        mf_buf_puts(out, "encryption none\n");
    }
    if (m->nvolumes > 0) {
        mf_buf_printf(out, "volumes %zu\n", m->nvolumes);
        for (size_t v = 0; v < m->nvolumes; v++)
            mf_buf_printf(out, "volume %zu %zu %zu\n", v + 1, m->volumes[v].first + 1,
                          m->volumes[v].count);
    }
    mf_buf_printf(out, "members %zu\n", m->nmembers);
    for (size_t i = 0; i < m->nmembers; i++) {
        mf_hex(hex, m->members[i].digest, MF_DIGEST_BYTES);
        mf_buf_printf(out, "member %s %" PRIu64 " %s\n", m->members[i].name, m->members[i].size,
                      hex);
    }
    mf_buf_puts(out, "end\n");
    return out->oom ? mf_err_nomem(err) : 0;
}

/* Line reader over the manifest bytes. */
struct lines {
    const char *p;
    size_t len, off;
    size_t lineno;
};

static int next_line(struct lines *l, const char **line, size_t *n)
{
    const char *nl;
    if (l->off >= l->len)
        return 0;
    nl = memchr(l->p + l->off, '\n', l->len - l->off);
    if (nl == NULL)
        return -1;
    *line = l->p + l->off;
    *n = (size_t)(nl - *line);
    l->off += *n + 1;
    l->lineno++;
    return 1;
}

/* Matches "key " at the start; returns the value part. */
static int keyed(const char *line, size_t n, const char *key, const char **val, size_t *vlen)
{
    size_t kl = strlen(key);
    if (n <= kl || memcmp(line, key, kl) != 0 || line[kl] != ' ')
        return 0;
    *val = line + kl + 1;
    *vlen = n - kl - 1;
    return 1;
}

static int parse_u64(const char *s, size_t n, uint64_t *v)
{
    uint64_t r = 0;
    if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        if (r > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
            return -1;
        r = r * 10 + (uint64_t)(s[i] - '0');
    }
    *v = r;
    return 0;
}

static int copy_label(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        return -1;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return label_ok(dst) ? 0 : -1;
}

static int member_name_expected(const char *name, size_t n, size_t idx, size_t nindex,
                                size_t *nindex_r, size_t *npacks_r)
{
    char want[MF_MEMBER_NAME_MAX + 1];
    (void)nindex;
    if (idx == 0)
        return n == strlen(MF_MEMBER_FORMAT) && memcmp(name, MF_MEMBER_FORMAT, n) == 0 ? 0 : -1;
    /* index/000001 .. first, then packs/000001 .. */
    if (*npacks_r == 0) {
        mf_member_name(want, "index", *nindex_r + 1);
        if (n == strlen(want) && memcmp(name, want, n) == 0) {
            (*nindex_r)++;
            return 0;
        }
    }
    mf_member_name(want, "packs", *npacks_r + 1);
    if (*nindex_r > 0 && n == strlen(want) && memcmp(name, want, n) == 0) {
        (*npacks_r)++;
        return 0;
    }
    return -1;
}

int mf_manifest_parse(const uint8_t *text, size_t len, struct mf_manifest *m,
                      struct mf_error *err)
{
    struct lines l = {(const char *)text, len, 0, 0};
    const char *line, *v;
    size_t n, vl;
    uint64_t u;
    int r;
    mf_manifest_init(m);
    if (len > MF_MANIFEST_MAX)
        return mf_err(err, MF_ECORRUPT, "MANIFEST larger than the limit");
    if (memchr(text, '\0', len) != NULL)
        return mf_err(err, MF_ECORRUPT, "MANIFEST contains a NUL byte");
#define NEXT()                                                             \
    do {                                                                   \
        r = next_line(&l, &line, &n);                                      \
        if (r <= 0) {                                                      \
            mf_manifest_clear(m);                                          \
            return mf_err(err, MF_ECORRUPT, "MANIFEST ends early (line %zu)", l.lineno + 1); \
        }                                                                  \
    } while (0)
#define FAIL(...) /* the message may name a member: format it first */  \
    do {                                                                   \
        mf_err(err, MF_ECORRUPT, __VA_ARGS__);                             \
        mf_manifest_clear(m);                                              \
        return mf_err_ctx(err, "MANIFEST line %zu", l.lineno);             \
    } while (0)
    NEXT();
    if (n != strlen("mailferry-manifest 1") || memcmp(line, "mailferry-manifest 1", n) != 0)
        FAIL("not a format 1 mailferry manifest");
    NEXT();
    if (!keyed(line, n, "archive", &v, &vl) ||
        mf_unhex(m->archive_id, sizeof m->archive_id, v, vl) < 0)
        FAIL("expected 'archive <32 hex digits>'");
    NEXT();
    if (keyed(line, n, "kind", &v, &vl) && vl == 4 && memcmp(v, "full", 4) == 0)
        m->kind = MF_KIND_FULL;
    else if (keyed(line, n, "kind", &v, &vl) && vl == 5 && memcmp(v, "delta", 5) == 0)
        m->kind = MF_KIND_DELTA;
    else
        FAIL("expected 'kind full' or 'kind delta'");
    NEXT();
    if (!keyed(line, n, "created", &v, &vl) || parse_u64(v, vl, &u) < 0 || u > INT64_MAX)
        FAIL("expected 'created <seconds>'");
    m->created = (int64_t)u;
    NEXT();
    if (!keyed(line, n, "host", &v, &vl) || copy_label(m->host, sizeof m->host, v, vl) < 0)
        FAIL("expected 'host <label>'");
    NEXT();
    if (!keyed(line, n, "tool", &v, &vl) || copy_label(m->tool, sizeof m->tool, v, vl) < 0)
        FAIL("expected 'tool <label>'");
    NEXT();
    if (!keyed(line, n, "chain", &v, &vl) || parse_u64(v, vl, &m->chain) < 0)
        FAIL("expected 'chain <n>'");
    NEXT();
    if (!keyed(line, n, "base", &v, &vl))
        FAIL("expected 'base ...'");
    if (m->kind == MF_KIND_FULL) {
        if (vl != 1 || v[0] != '-' || m->chain != 0)
            FAIL("a full archive has 'base -' and chain 0");
    } else {
        if (vl != 2 * MF_ARCHIVE_ID_BYTES + 1 + 2 * MF_HASH_BYTES ||
            mf_unhex(m->base_id, MF_ARCHIVE_ID_BYTES, v, 2 * MF_ARCHIVE_ID_BYTES) < 0 ||
            v[2 * MF_ARCHIVE_ID_BYTES] != ' ' ||
            mf_unhex(m->base_manifest, MF_HASH_BYTES, v + 2 * MF_ARCHIVE_ID_BYTES + 1,
                     2 * MF_HASH_BYTES) < 0 ||
            m->chain == 0)
            FAIL("a delta has 'base <id> <manifest hash>' and chain >= 1");
    }
    NEXT();
    if (keyed(line, n, "encryption", &v, &vl) && vl == 4 && memcmp(v, "none", 4) == 0) {
        m->encrypted = 0;
    } else if (keyed(line, n, "encryption", &v, &vl) && vl == strlen(MF_ENCRYPTION_NAME) &&
               memcmp(v, MF_ENCRYPTION_NAME, vl) == 0) {
        m->encrypted = 1;
        NEXT();
        if (!keyed(line, n, "recipients", &v, &vl) || parse_u64(v, vl, &u) < 0 || u < 1 ||
            u > MF_RECIPIENTS_MAX)
            FAIL("expected 'recipients <count>' (1 .. %u)", MF_RECIPIENTS_MAX);
        m->nrecipients = (size_t)u;
        for (size_t i = 0; i < m->nrecipients; i++) {
            struct mf_recipient *rc = &m->recipients[i];
            NEXT();
            if (!keyed(line, n, "recipient", &v, &vl) ||
                vl != 2 * MF_KEYID_BYTES + 1 + 2 * MF_WRAPPED_KEY_BYTES ||
                mf_unhex(rc->keyid, MF_KEYID_BYTES, v, 2 * MF_KEYID_BYTES) < 0 ||
                v[2 * MF_KEYID_BYTES] != ' ' ||
                mf_unhex(rc->wrapped, MF_WRAPPED_KEY_BYTES, v + 2 * MF_KEYID_BYTES + 1,
                         2 * MF_WRAPPED_KEY_BYTES) < 0)
                FAIL("expected 'recipient <16 hex key id> <160 hex sealed key>'");
            for (size_t k = 0; k < i; k++)
                if (memcmp(m->recipients[k].keyid, rc->keyid, MF_KEYID_BYTES) == 0)
                    FAIL("recipient key listed twice");
        }
    } else {
        FAIL("unsupported encryption");
    }
    NEXT();
    if (keyed(line, n, "volumes", &v, &vl)) {
        if (parse_u64(v, vl, &u) < 0 || u < 2 || u > MF_VOLUMES_MAX)
            FAIL("expected 'volumes <count>' (2 .. %u)", MF_VOLUMES_MAX);
        m->nvolumes = (size_t)u;
        m->volumes = mf_calloc(m->nvolumes, sizeof *m->volumes);
        if (m->volumes == NULL) {
            mf_manifest_clear(m);
            return mf_err_nomem(err);
        }
        for (size_t i = 0; i < m->nvolumes; i++) {
            uint64_t f[3];
            const char *q;
            size_t ql, k = 0;
            NEXT();
            if (!keyed(line, n, "volume", &v, &vl))
                FAIL("expected 'volume <number> <first member> <members>'");
            for (q = v, ql = vl; k < 3; k++) {
                const char *sp = memchr(q, ' ', ql);
                size_t fl = sp == NULL ? ql : (size_t)(sp - q);
                if ((k < 2) != (sp != NULL) || parse_u64(q, fl, &f[k]) < 0)
                    break;
                if (sp != NULL) {
                    ql -= fl + 1;
                    q = sp + 1;
                }
            }
            if (k != 3 || f[0] != i + 1 || f[1] < 2 || f[1] > MF_MEMBERS_MAX || f[2] < 1 ||
                f[2] > MF_MEMBERS_MAX)
                FAIL("expected 'volume %zu <first member> <members>'", i + 1);
            if (f[1] != (i == 0 ? 2 : m->volumes[i - 1].first + m->volumes[i - 1].count + 1))
                FAIL("volume %zu does not start where volume %zu ends", i + 1, i);
            m->volumes[i].first = (size_t)f[1] - 1;
            m->volumes[i].count = (size_t)f[2];
        }
        NEXT();
    }
    if (!keyed(line, n, "members", &v, &vl) || parse_u64(v, vl, &u) < 0 || u < 2 ||
        u > MF_MEMBERS_MAX)
        FAIL("expected 'members <count>' (2 .. %u)", MF_MEMBERS_MAX);
    m->nmembers = (size_t)u;
    m->members = mf_calloc(m->nmembers, sizeof *m->members);
    if (m->members == NULL) {
        mf_manifest_clear(m);
        return mf_err_nomem(err);
    }
    for (size_t i = 0; i < m->nmembers; i++) {
        const char *sp1, *sp2;
        struct mf_member_info *mi = &m->members[i];
        NEXT();
        if (!keyed(line, n, "member", &v, &vl))
            FAIL("expected 'member <name> <size> <digest>'");
        sp1 = memchr(v, ' ', vl);
        sp2 = sp1 == NULL ? NULL : memchr(sp1 + 1, ' ', vl - (size_t)(sp1 + 1 - v));
        if (sp1 == NULL || sp2 == NULL || (size_t)(sp1 - v) > MF_MEMBER_NAME_MAX)
            FAIL("expected 'member <name> <size> <digest>'");
        if (member_name_expected(v, (size_t)(sp1 - v), i, m->nindex, &m->nindex, &m->npacks) < 0)
            FAIL("unexpected member name '%.*s' at position %zu", (int)(sp1 - v), v, i + 1);
        memcpy(mi->name, v, (size_t)(sp1 - v));
        mi->name[sp1 - v] = '\0';
        if (parse_u64(sp1 + 1, (size_t)(sp2 - sp1 - 1), &mi->size) < 0)
            FAIL("bad size for member %s", mi->name);
        if (mf_unhex(mi->digest, MF_DIGEST_BYTES, sp2 + 1, vl - (size_t)(sp2 + 1 - v)) < 0)
            FAIL("bad digest for member %s", mi->name);
        if (i == 0 && mi->size > MF_FORMAT_MAX)
            FAIL("FORMAT member too large");
        if (i > 0 && mi->size > MF_PACK_MAX)
            FAIL("member %s larger than the limit", mi->name);
    }
    if (m->nindex == 0)
        FAIL("no index segment listed");
    if (m->nvolumes > 0 &&
        m->volumes[m->nvolumes - 1].first + m->volumes[m->nvolumes - 1].count != m->nmembers)
        FAIL("the volumes do not hold exactly the %zu members", m->nmembers);
    NEXT();
    if (n != 3 || memcmp(line, "end", 3) != 0)
        FAIL("expected 'end'");
    if (l.off != len)
        FAIL("bytes after 'end'");
#undef NEXT
#undef FAIL
    return 0;
}
