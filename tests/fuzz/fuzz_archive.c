/* fuzz_archive.c: a signed archive assembled from fuzzed members, to reach
 * what the container target cannot get past the member digests: the index
 * checks, the record walk and frame access of the validating reader
 * (format/archive_read.c, index_check.c, frame.c, frame_cache.c).
 * The input is split into parts (u32le length + bytes, see fuzz_util.h).
 * Part 0 is a MANIFEST whose header lines (archive id, kind, created, host,
 * tool, chain, base) are kept; its member list is replaced. Every later part
 * is "<member name>\n<data>": members in archive order, FORMAT first. The
 * data of an "index/..." member is a raw index segment, compressed here
 * into one zstd frame; other members are taken as they are. The harness
 * writes FORMAT, MANIFEST (with the right sizes and digests), a signature by
 * the spec test key (spec/vectors/test.key) and the other members into a pax
 * tar with the library's writer, then opens it as fuzz_container does. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "../../format/archive_read.h"
#include "../../format/container.h"
#include "../../format/frame.h"
#include "../../format/hash.h"
#include "../../format/manifest.h"

#include "../../format/mem.h"

#include <sodium.h>
#include <zstd.h>

/* spec/vectors/test.key: the unencrypted secret key of the test pair */
#define FZ_TEST_KEY                                                                              \
    "untrusted comment: minisign encrypted secret key\n"                                       \
    "RWQAAEIyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAGkOzjuONSs/UqPC1" \
    "2RLheYA383xB5gbZMHlr+qST4rAZrXLKDgqvQnIqebn80s5hBcNmE90R+Whqi+/Yvu1+ZPtV/aIBqlAH2wHLhL/" \
    "Ax0jTVpD5AFWrrx5GRipMg46oSYdS+Nfvaag=\n"

#define FZ_MEMBERS_MAX 64

struct part {
    char name[MF_MEMBER_NAME_MAX + 1];
    const uint8_t *p;
    size_t n;
};

static struct mf_pubkey pub;
static struct mf_seckey *sec;
static ZSTD_CCtx *cctx;

static void setup(void)
{
    static const char pubtext[] = FZ_TEST_PUB;
    static const char sectext[] = FZ_TEST_KEY;
    struct mf_error err;
    fz_crypto_init();
    if (sec != NULL)
        return;
    if (mf_pubkey_parse(pubtext, sizeof pubtext - 1, &pub, &err) < 0 ||
        mf_seckey_parse((const uint8_t *)sectext, sizeof sectext - 1, NULL, NULL, &sec, &err) < 0)
        abort();
    cctx = mf_frame_cctx_new(3);
    if (cctx == NULL)
        abort();
}

/* The writer refuses some names (not UTF-8, say): then there is no archive. */
static int write_member(struct mf_tar_writer *w, const char *name, const void *p, size_t n)
{
    struct mf_error err;
    return mf_tarw_member(w, name, n, &err) < 0 || mf_tarw_data(w, p, n, &err) < 0 ? -1 : 0;
}

/* Builds the archive file; 0, or -1 when the parts cannot make one. */
static int build(const uint8_t *data, size_t size)
{
    struct mf_manifest m;
    struct mf_error err;
    struct part parts[FZ_MEMBERS_MAX];
    struct mf_buf comp[FZ_MEMBERS_MAX];
    struct mf_buf text, sig;
    struct mf_tar_writer *w = NULL;
    const uint8_t *man;
    size_t manlen, nparts = 0;
    char tc[MF_TRUSTED_COMMENT_MAX + 1];
    int rc = -1, fd;
    mf_manifest_init(&m);
    mf_buf_init(&text);
    mf_buf_init(&sig);
    fz_take(&data, &size, &man, &manlen, NULL);
    while (size > 0 && nparts < FZ_MEMBERS_MAX) {
        const uint8_t *p, *nl;
        size_t n, k;
        fz_take(&data, &size, &p, &n, NULL);
        nl = memchr(p, '\n', n);
        if (nl == NULL)
            continue;
        k = (size_t)(nl - p);
        if (k == 0 || k > MF_MEMBER_NAME_MAX || memchr(p, '\0', k) != NULL)
            continue;
        memcpy(parts[nparts].name, p, k);
        parts[nparts].name[k] = '\0';
        parts[nparts].p = nl + 1;
        parts[nparts].n = n - k - 1;
        mf_buf_init(&comp[nparts]);
        nparts++;
    }
    if (nparts == 0 || mf_manifest_parse(man, manlen, &m, &err) < 0)
        goto out;
    /* one plaintext file: the harness signs for a key the reader trusts,
     * but holds no recipient key and writes no volumes */
    m.encrypted = 0;
    m.nrecipients = 0;
    mf_free(m.volumes);
    m.volumes = NULL;
    m.nvolumes = 0;
    mf_free(m.members);
    m.members = mf_calloc(nparts, sizeof *m.members);
    if (m.members == NULL)
        abort();
    m.nmembers = nparts;
    m.nindex = m.npacks = 0;
    for (size_t i = 0; i < nparts; i++) {
        struct mf_member_info *mi = &m.members[i];
        if (strncmp(parts[i].name, "index/", 6) == 0) {
            if (mf_frame_compress(cctx, parts[i].p, parts[i].n, &comp[i], &err) < 0)
                abort();
            parts[i].p = comp[i].p;
            parts[i].n = comp[i].len;
            m.nindex++;
        } else if (strncmp(parts[i].name, "packs/", 6) == 0) {
            m.npacks++;
        }
        strcpy(mi->name, parts[i].name);
        mi->size = parts[i].n;
        crypto_generichash(mi->digest, sizeof mi->digest, parts[i].p, parts[i].n, NULL, 0);
    }
    if (mf_manifest_encode(&m, &text, &err) < 0)
        goto out;
    mf_manifest_trusted_comment(&m, tc, sizeof tc);
    if (mf_sign(sec, text.p, text.len, tc, &sig, &err) < 0)
        abort();
    fd = open(fz_path("a.mfa"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        abort();
    if (mf_tarw_open(&w, fd, 1704067200, &err) < 0)
        abort();
    rc = write_member(w, parts[0].name, parts[0].p, parts[0].n);
    if (rc == 0)
        rc = write_member(w, MF_MEMBER_MANIFEST, text.p, text.len);
    if (rc == 0)
        rc = write_member(w, MF_MEMBER_SIG, sig.p, sig.len);
    for (size_t i = 1; rc == 0 && i < nparts; i++)
        rc = write_member(w, parts[i].name, parts[i].p, parts[i].n);
    if (rc == 0 && mf_tarw_close(w, &err) < 0)
        abort();
    mf_tarw_free(&w);
    close(fd);
out:
    for (size_t i = 0; i < nparts; i++)
        mf_buf_free(&comp[i]);
    mf_buf_free(&text);
    mf_buf_free(&sig);
    mf_manifest_clear(&m);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mf_reader_opts o;
    struct mf_reader *r = NULL;
    struct mf_error err;
    struct mf_record rec;
    int k;
    setup();
    if (build(data, size) < 0)
        return 0;
    memset(&o, 0, sizeof o);
    o.keys = &pub;
    o.nkeys = 1;
    o.tmpdir = fz_path("");
    if (mf_reader_open(&r, fz_path("a.mfa"), &o, &err) < 0) {
        if (r != NULL || err.cls == MF_OK || err.cls == MF_EINTERNAL || err.cls == MF_ESIG)
            abort();  /* the harness signed it properly: never a signature error */
        return 0;
    }
    if (mf_reader_signer(r) == NULL)
        abort();
    while ((k = mf_reader_next(r, &rec, &err)) > 0)
        ;
    if (k == 0)
        if (mf_reader_verify_content(r, NULL, NULL, NULL, &err) < 0 && err.cls == MF_EINTERNAL)
            abort();
    mf_reader_free(&r);
    return 0;
}
