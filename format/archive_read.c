/* archive_read.c: the validation order and random access to verified data.
 * The order of checks lives here and only here (spec/FORMAT.md,
 * "Validation order"). */
#include "archive_read.h"
#include "blobcheck.h"
#include "container.h"
#include "encrypt.h"
#include "frame.h"
#include "frame_cache.h"
#include "fsutil.h"
#include "hash.h"
#include "index_check.h"
#include "mem.h"
#include "pool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#define INDEX_MEMBER_MAX (MF_INDEX_SEGMENT_MAX + (1u << 20))
#define FRAME_CACHE_BUDGET (48u * 1024 * 1024)
#define EMIT_WINDOW (32u * 1024 * 1024)  /* bytes of a message assembled at once */
#define CHECKED_BUDGET (64u * 1024 * 1024) /* the table of blobs already checked */
#define PRECHECK_ROUND (256u * 1024)       /* distinct blobs gathered per round */

struct member_pos {
    uint64_t off;  /* data offset in the source of input `in` */
    size_t in;
};

/* One file given: the archive, or one volume of it (spec 15.2). */
struct input {
    const char *path;
    int fd;        /* the file, or standard input */
    int own;
    int spool_fd;  /* -1 when reading the file directly */
    int src;       /* where member data is read from afterwards */
};

struct mf_reader {
    struct mf_reader_opts o;
    struct input *in;
    size_t nin;
    size_t vol_first, vol_last;  /* the volumes given, 1-based (1, 1 for one file) */
    struct mf_filekey *key;      /* encrypted archives: the file key (spec 15.1) */
    int container_only;          /* the index was not decoded (no key, part of the volumes) */
    char why[1700];              /* ... and why (every recipient key id fits) */
    struct mf_manifest m;
    uint8_t manifest_hash[MF_HASH_BYTES];
    char signer[17];
    int signed_ok;
    char trusted[MF_TRUSTED_COMMENT_MAX + 1];
    struct member_pos *pos;   /* per manifest member */
    struct mf_index_check *check;
    struct mf_frame_loc *frames;
    size_t nframes;
    struct mf_rec_header header;
    uint64_t archive_bytes;
    /* record walk */
    struct mf_idx_dec *dec;
    size_t seg;          /* next index segment to load (0-based) */
    uint8_t *segbuf;     /* decoded segment */
    int ended;
    char segname[MF_MEMBER_NAME_MAX + 1];
    /* frame access */
    ZSTD_DCtx *dctx;
    struct mf_frame_cache *cache;
    uint8_t *cbuf;       /* compressed frame scratch */
    int index_only;      /* stopped after the index (option, or an index file) */
    mf_chain_fn chain;
    void *chain_ctx;
    uint8_t *chainbuf;   /* one blob read through `chain` */
    /* blobs whose bytes this reader hashed (frame references only), so that
     * a blob referenced again needs no hashing */
    struct mf_blobcheck *checked;
};

static int load_member(struct mf_tar_reader *t, const char *name, uint64_t size, size_t max,
                       uint8_t **data_r, struct mf_error *err)
{
    uint8_t *buf;
    size_t got = 0;
    const void *p;
    size_t n;
    int r;
    *data_r = NULL;
    if (size > max)
        return mf_err(err, MF_ECORRUPT, "member %s is %llu bytes, more than the %zu allowed", name,
                      (unsigned long long)size, max);
    buf = mf_malloc((size_t)size + 1);
    if (buf == NULL)
        return mf_err_nomem(err);
    while ((r = mf_tarr_data(t, &p, &n, err)) > 0) {
        if (n > size - got) {
            mf_free(buf);
            return mf_err(err, MF_ECORRUPT, "member %s longer than its header says", name);
        }
        memcpy(buf + got, p, n);
        got += n;
    }
    if (r < 0 || got != size) {
        mf_free(buf);
        if (r == 0)
            mf_err(err, MF_ECORRUPT, "member %s is truncated", name);
        return -1;
    }
    buf[size] = '\0';
    *data_r = buf;
    return 0;
}

/* Explains why member `name` appears where manifest member `want` was expected. */
static int wrong_member(const struct mf_manifest *m, size_t want, const char *name,
                        struct mf_error *err)
{
    for (size_t i = 0; i < m->nmembers; i++) {
        if (strcmp(m->members[i].name, name) != 0)
            continue;
        if (i < want)
            return mf_err(err, MF_ECORRUPT, "member %s appears twice (duplicate member)", name);
        return mf_err(err, MF_ECORRUPT,
                      "member %s out of order: expected %s first (a member is missing or the "
                      "members were reordered)",
                      name, m->members[want].name);
    }
    if (strcmp(name, MF_MEMBER_FORMAT) == 0 || strcmp(name, MF_MEMBER_MANIFEST) == 0 ||
        strcmp(name, MF_MEMBER_SIG) == 0)
        return mf_err(err, MF_ECORRUPT, "member %s appears twice (duplicate member)", name);
    return mf_err(err, MF_ECORRUPT, "unexpected member %s (not in the manifest)", name);
}

/* Index segment `number` (1-based, also its member index) from its stored
 * bytes: decrypted in place when the archive is encrypted (spec 15.1), then
 * decompressed into a new buffer. */
static int segment_bytes(struct mf_reader *r, size_t number, uint8_t *comp, size_t clen,
                         uint8_t **raw_r, size_t *rlen_r, struct mf_error *err)
{
    const char *name = r->m.members[number].name;
    if (r->key != NULL) {
        if (clen < MF_SEAL_TAG_BYTES)
            return mf_err(err, MF_ECORRUPT, "%s is shorter than its tag", name);
        if (mf_unseal(r->key, r->m.archive_id, MF_SEAL_INDEX, number, comp, clen, comp, err) < 0)
            return mf_err_ctx(err, "%s", name);
        clen -= MF_SEAL_TAG_BYTES;
    }
    if (mf_frame_decompress_alloc(r->dctx, comp, clen, MF_INDEX_SEGMENT_MAX, raw_r, rlen_r,
                                  err) < 0)
        return mf_err_ctx(err, "%s", name);
    return 0;
}

static int decode_segment(struct mf_reader *r, uint8_t *comp, size_t clen, size_t number,
                          struct mf_index_check *check, struct mf_error *err)
{
    const char *name = r->m.members[number].name;
    uint8_t *raw;
    size_t rlen;
    struct mf_record rec;
    int k;
    if (segment_bytes(r, number, comp, clen, &raw, &rlen, err) < 0)
        return -1;
    mf_idx_dec_feed(r->dec, raw, rlen, name);
    while ((k = mf_idx_dec_next(r->dec, &rec, err)) > 0)
        if (mf_index_check_record(check, &rec, err) < 0) {
            mf_err_ctx(err, "%s", name);
            k = -1;
            break;
        }
    mf_free(raw);
    return k < 0 ? -1 : 0;
}

static int hash_member_stream(struct mf_tar_reader *t, const struct mf_member_info *mi,
                              struct mf_reader *r, uint64_t *done, struct mf_error *err)
{
    struct mf_hasher h;
    uint8_t dg[MF_DIGEST_BYTES];
    const void *p;
    size_t n;
    uint64_t got = 0;
    int k;
    mf_hash_init_digest(&h);
    while ((k = mf_tarr_data(t, &p, &n, err)) > 0) {
        mf_hash_update(&h, p, n);
        got += n;
        *done += n;
        if (r->o.progress != NULL && (got & ((1u << 22) - 1)) < n)
            r->o.progress(r->o.progress_ctx, *done, 0);
    }
    if (k < 0)
        return mf_err_ctx(err, "member %s", mi->name);
    if (got != mi->size)
        return mf_err(err, MF_ECORRUPT, "member %s is truncated", mi->name);
    mf_hash_final(&h, dg);
    if (sodium_memcmp(dg, mi->digest, MF_DIGEST_BYTES) != 0)
        return mf_err(err, MF_ECORRUPT, "member %s does not match its digest (damaged or altered)",
                      mi->name);
    return 0;
}

static int check_format(const uint8_t *p, size_t n, struct mf_error *err)
{
    static const char prefix[] = "mailferry archive\nformat ";
    size_t pl = sizeof prefix - 1;
    if (n < pl || memcmp(p, prefix, pl) != 0)
        return mf_err(err, MF_ECORRUPT, "not a mailferry archive (FORMAT member not recognised)");
    if (n < pl + 2 || p[pl] != '1' || p[pl + 1] != '\n')
        return mf_err(err, MF_ECORRUPT, "unsupported mailferry archive format version");
    return 0;
}

/* The head every file of an archive opens with (spec 3, 15.2). */
struct head {
    uint8_t *format, *manifest, *sig;
    size_t format_len, manifest_len, sig_len;
};

static void head_clear(struct head *h)
{
    mf_free(h->format);
    mf_free(h->manifest);
    mf_free(h->sig);
    memset(h, 0, sizeof *h);
}

/* Steps 1 and 2 of section 10 on one file: FORMAT, MANIFEST, MANIFEST.minisig. */
static int read_head(struct mf_tar_reader *t, const struct mf_reader *r, struct head *h,
                     struct mf_error *err)
{
    char name[MF_MEMBER_NAME_MAX + 64];
    uint64_t size;
    int k = mf_tarr_next(t, name, sizeof name, &size, err);
    if (k <= 0) {
        if (k == 0)
            return mf_err(err, MF_ECORRUPT, "empty archive");
        if (err->cls == MF_ECORRUPT)
            mf_err(err, MF_ECORRUPT, "not a mailferry archive (%s)", err->msg);
        return -1;
    }
    if (strcmp(name, MF_MEMBER_FORMAT) != 0)
        return mf_err(err, MF_ECORRUPT, "not a mailferry archive (first member is %s, not FORMAT)",
                      name);
    if (load_member(t, name, size, MF_FORMAT_MAX, &h->format, err) < 0)
        return -1;
    h->format_len = (size_t)size;
    if (check_format(h->format, h->format_len, err) < 0)
        return -1;
    k = mf_tarr_next(t, name, sizeof name, &size, err);
    if (k <= 0 || strcmp(name, MF_MEMBER_MANIFEST) != 0) {
        if (k >= 0)
            mf_err(err, MF_ECORRUPT, "%s: MANIFEST missing after FORMAT",
                   k == 0 ? "archive is truncated" : "damaged archive");
        return -1;
    }
    if (load_member(t, name, size, MF_MANIFEST_MAX, &h->manifest, err) < 0)
        return -1;
    h->manifest_len = (size_t)size;
    k = mf_tarr_next(t, name, sizeof name, &size, err);
    if (k < 0)
        return -1;
    if (k > 0 && strcmp(name, MF_MEMBER_MANIFEST) == 0)
        return mf_err(err, MF_ECORRUPT, "member MANIFEST appears twice (duplicate member)");
    if (k == 0 || strcmp(name, MF_MEMBER_SIG) != 0) {
        if (r->o.nkeys > 0 || !r->o.allow_unsigned)
            return mf_err(err, MF_ESIG, "archive is not signed (no MANIFEST.minisig after "
                                        "MANIFEST)");
        return mf_err(err, MF_ECORRUPT, "MANIFEST.minisig missing");
    }
    if (load_member(t, name, size, MF_SIG_MAX, &h->sig, err) < 0)
        return -1;
    h->sig_len = (size_t)size;
    return 0;
}

/* Steps 3 and 4 on the first file: signature, manifest syntax, FORMAT
 * against the manifest. */
static int check_head(struct mf_reader *r, const struct head *h, struct mf_error *err)
{
    uint8_t dg[MF_DIGEST_BYTES];
    crypto_generichash(r->manifest_hash, MF_HASH_BYTES, h->manifest, h->manifest_len, NULL, 0);
    if (r->o.nkeys > 0) {
        size_t which;
        if (mf_verify(r->o.keys, r->o.nkeys, h->manifest, h->manifest_len, h->sig, h->sig_len,
                      r->trusted, &which, err) < 0)
            return -1;
        mf_keyid_str(r->signer, r->o.keys[which].keyid);
        r->signed_ok = 1;
    } else if (!r->o.allow_unsigned) {
        return mf_err(err, MF_EUSAGE, "no trusted public key given");
    }
    if (mf_manifest_parse(h->manifest, h->manifest_len, &r->m, err) < 0)
        return -1;
    if (r->signed_ok) {
        char tc[MF_TRUSTED_COMMENT_MAX + 1];
        mf_manifest_trusted_comment(&r->m, tc, sizeof tc);
        if (strcmp(tc, r->trusted) != 0)
            return mf_err(err, MF_ESIG, "trusted comment does not describe this manifest");
    }
    crypto_generichash(dg, sizeof dg, h->format, h->format_len, NULL, 0);
    if (h->format_len != r->m.members[0].size ||
        sodium_memcmp(dg, r->m.members[0].digest, MF_DIGEST_BYTES) != 0)
        return mf_err(err, MF_ECORRUPT, "member FORMAT does not match its digest (damaged or "
                                        "altered)");
    return 0;
}

/* The file key of an encrypted archive from the first of the caller's
 * secret keys that is a recipient; without one, either the container alone
 * is checked (when the caller allows it) or the archive is refused. */
static int open_file_key(struct mf_reader *r, struct mf_error *err)
{
    char want[MF_RECIPIENTS_MAX * 18 + 1], have[256];
    size_t wl = 0, hl = 0;
    for (size_t i = 0; i < r->o.ndkeys; i++)
        for (size_t j = 0; j < r->m.nrecipients; j++)
            if (memcmp(r->o.dkeys[i]->keyid, r->m.recipients[j].keyid, MF_KEYID_BYTES) == 0)
                return mf_filekey_unwrap(r->m.recipients[j].wrapped, r->o.dkeys[i], &r->key,
                                         err);
    want[0] = have[0] = '\0';
    for (size_t j = 0; j < r->m.nrecipients && wl + 18 < sizeof want; j++) {
        mf_keyid_str(want + wl, r->m.recipients[j].keyid);
        wl += 16;
        if (j + 1 < r->m.nrecipients)
            want[wl++] = ',', want[wl++] = ' ', want[wl] = '\0';
    }
    for (size_t i = 0; i < r->o.ndkeys && hl + 19 < sizeof have; i++) {
        if (i > 0)
            have[hl++] = ',', have[hl++] = ' ';
        mf_keyid_str(have + hl, r->o.dkeys[i]->keyid);
        hl += 16;
    }
    if (r->o.ndkeys == 0)
        snprintf(r->why, sizeof r->why, "the archive is encrypted (to %s %s) and no secret key "
                                        "was given", r->m.nrecipients > 1 ? "keys" : "key", want);
    else
        snprintf(r->why, sizeof r->why, "the archive is encrypted to %s %s, not to %s %s",
                 r->m.nrecipients > 1 ? "keys" : "key", want, r->o.ndkeys > 1 ? "keys" : "key",
                 have);
    /* a key that was given and does not open it is an error even when the
     * container alone would do */
    if (!r->o.container_ok || r->o.ndkeys > 0)
        return mf_err(err, MF_ESIG, "%s%s", r->why,
                      r->o.ndkeys == 0 ? " (give a recipient's secret key with -k)" : "");
    r->container_only = 1;
    return 0;
}

static int open_input(struct mf_reader *r, struct input *in, const char *path,
                      struct mf_error *err)
{
    struct stat st;
    in->path = path;
    in->spool_fd = -1;
    if (strcmp(path, "-") == 0) {
        in->fd = STDIN_FILENO;
    } else {
        in->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (in->fd < 0)   /* the caller names the archive; a volume is named here */
            return r->nin > 1 ? mf_err_sys(err, MF_EIO, errno, "%s", path)
                              : mf_err_sys(err, MF_EIO, errno, "cannot open");
        in->own = 1;
    }
    if (fstat(in->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        in->spool_fd = mf_spool_open(r->o.tmpdir, err);
        if (in->spool_fd < 0)
            return -1;
    }
    in->src = in->spool_fd >= 0 ? in->spool_fd : in->fd;
    return 0;
}

/* Where the volume in file k of the inputs starts: checks that the file
 * opens with the same head as the first, and that its first member opens a
 * volume. Returns that volume (1-based) and leaves its first member's header
 * read (name, size); 0 for a file with no member after the head. */
static int locate_volume(struct mf_reader *r, struct mf_tar_reader *t, size_t k,
                         struct head *first, size_t *vol_r, char *name, size_t namecap,
                         uint64_t *size_r, struct mf_error *err)
{
    struct head h = {0};
    size_t j;
    int n;
    *vol_r = 0;
    if (k == 0) {
        if (read_head(t, r, first, err) < 0 || check_head(r, first, err) < 0)
            return -1;
    } else if (read_head(t, r, &h, err) < 0) {
        head_clear(&h);
        return -1;
    }
    if (k > 0 && (h.manifest_len != first->manifest_len ||
                  memcmp(h.manifest, first->manifest, h.manifest_len) != 0 ||
                  h.format_len != first->format_len ||
                  memcmp(h.format, first->format, h.format_len) != 0)) {
        struct mf_manifest other;
        struct mf_error e2;
        const char *what = "another archive";
        memset(&other, 0, sizeof other);
        if (mf_manifest_parse(h.manifest, h.manifest_len, &other, &e2) == 0 &&
            memcmp(other.archive_id, r->m.archive_id, MF_ARCHIVE_ID_BYTES) == 0)
            what = "this archive with another manifest (altered)";
        mf_manifest_clear(&other);
        head_clear(&h);
        return mf_err(err, MF_ECORRUPT, "%s belongs to %s, not to %s", r->in[k].path, what,
                      r->in[0].path);
    }
    if (k > 0 && (h.sig_len != first->sig_len || memcmp(h.sig, first->sig, h.sig_len) != 0)) {
        head_clear(&h);
        return mf_err(err, MF_ESIG, "%s: MANIFEST.minisig differs from that of %s",
                      r->in[k].path, r->in[0].path);
    }
    head_clear(&h);
    n = mf_tarr_next(t, name, namecap, size_r, err);
    if (n <= 0)
        return n;
    for (j = 1; j < r->m.nmembers; j++)
        if (strcmp(r->m.members[j].name, name) == 0)
            break;
    if (j == r->m.nmembers)
        return wrong_member(&r->m, 1, name, err);   /* a second head member, or a stranger */
    if (r->m.nvolumes == 0) {
        *vol_r = 1;
        if (j != 1)
            return wrong_member(&r->m, 1, name, err);
        return 1;
    }
    *vol_r = mf_manifest_volume_of(&r->m, j);
    if (r->m.volumes[*vol_r - 1].first != j)
        return mf_err(err, MF_ECORRUPT, "%s: member %s out of order: volume %zu starts with %s",
                      r->in[k].path, name, *vol_r, r->m.members[r->m.volumes[*vol_r - 1].first].name);
    return 1;
}

/* Step 5 for one member whose header was read: size, digest, and for an
 * index segment (when the index is read) its records. */
static int check_member(struct mf_reader *r, struct mf_tar_reader *t, size_t i, size_t k,
                        const char *name, uint64_t size, uint64_t *done, struct mf_error *err)
{
    const struct mf_member_info *mi = &r->m.members[i];
    int64_t off;
    if (strcmp(name, mi->name) != 0)
        return wrong_member(&r->m, i, name, err);
    if (size != mi->size)
        return mf_err(err, MF_ECORRUPT, "member %s is %llu bytes, the manifest says %llu", name,
                      (unsigned long long)size, (unsigned long long)mi->size);
    if (i <= r->m.nindex && !r->container_only) {
        uint8_t *data;
        uint8_t dg[MF_DIGEST_BYTES];
        int rc;
        if (load_member(t, name, size, INDEX_MEMBER_MAX, &data, err) < 0)
            return -1;
        *done += size;
        crypto_generichash(dg, sizeof dg, data, (size_t)size, NULL, 0);
        if (sodium_memcmp(dg, mi->digest, MF_DIGEST_BYTES) != 0) {
            mf_free(data);
            return mf_err(err, MF_ECORRUPT, "member %s does not match its digest (damaged or "
                                            "altered)", name);
        }
        rc = decode_segment(r, data, (size_t)size, i, r->check, err);
        mf_free(data);
        if (rc < 0 || (i == r->m.nindex && mf_index_check_done(r->check, err) < 0))
            return -1;
    } else if (hash_member_stream(t, mi, r, done, err) < 0) {
        return -1;
    }
    off = mf_tarr_data_offset(t);
    if (off < 0 && size > 0)
        return mf_err(err, MF_ECORRUPT, "member %s: unsupported tar layout (data not contiguous)",
                      name);
    r->pos[i].off = (uint64_t)(off < 0 ? 0 : off);
    r->pos[i].in = k;
    return 0;
}

/* Step 6: nothing after the last member of a file but the end-of-archive
 * marker. */
static int check_end(struct mf_reader *r, struct mf_tar_reader *t, size_t last,
                     struct mf_error *err)
{
    char name[MF_MEMBER_NAME_MAX + 64];
    uint64_t size;
    int k = mf_tarr_next(t, name, sizeof name, &size, err);
    if (k < 0)
        return -1;
    if (k > 0) {
        wrong_member(&r->m, last + 1, name, err);
        if (strstr(err->msg, "out of order") != NULL)
            mf_err(err, MF_ECORRUPT, "unexpected member %s after the last one%s", name,
                   r->m.nvolumes > 0 ? " of its volume" : "");
        return -1;
    }
    return mf_tarr_finish(t, err);
}

/* Section 10 over the files given: each is the archive or one of its
 * volumes, in order. */
static int validate(struct mf_reader *r, struct mf_error *err)
{
    struct mf_tar_reader *t = NULL;
    struct head first = {0};
    char name[MF_MEMBER_NAME_MAX + 64];
    uint64_t size, done = 0;
    size_t nvol = 1, want = 0;
    int rc = -1;

    for (size_t k = 0; k < r->nin; k++) {
        size_t vol, lo, hi;
        int n;
        if (mf_tarr_open(&t, r->in[k].fd, r->in[k].spool_fd, err) < 0)
            goto out;
        n = locate_volume(r, t, k, &first, &vol, name, sizeof name, &size, err);
        if (n < 0)
            goto out;
        if (k == 0) {
            nvol = r->m.nvolumes > 0 ? r->m.nvolumes : 1;
            if (r->pos == NULL && ((r->pos = mf_calloc(r->m.nmembers, sizeof *r->pos)) == NULL ||
                                   mf_index_check_new(&r->check, &r->m, err) < 0 ||
                                   mf_idx_dec_new(&r->dec, err) < 0)) {
                if (r->pos == NULL)
                    mf_err_nomem(err);
                goto out;
            }
            if (r->m.encrypted && open_file_key(r, err) < 0)
                goto out;
            r->vol_first = n > 0 ? vol : 1;
            want = r->vol_first;
            if (want != 1 && !r->o.container_ok) {
                mf_err(err, MF_ECORRUPT, "volume 1 of %zu is missing (%s is volume %zu)", nvol,
                       r->in[0].path, want);
                goto out;
            }
            if (want != 1 && !r->container_only) {
                r->container_only = 1;
                snprintf(r->why, sizeof r->why, "only volume %zu of %zu was given", want, nvol);
            }
        }
        if (n == 0) {
            mf_err(err, MF_ECORRUPT, "%s is truncated: member %s is missing", r->in[k].path,
                   r->m.members[nvol > 1 ? r->m.volumes[want - 1].first : 1].name);
            goto out;
        }
        if (vol != want) {
            if (vol > want)
                mf_err(err, MF_ECORRUPT, "volume %zu of %zu is missing (%s is volume %zu)", want,
                       nvol, r->in[k].path, vol);
            else
                mf_err(err, MF_ECORRUPT, "%s is volume %zu of %zu again or out of order "
                                         "(volume %zu was expected)",
                       r->in[k].path, vol, nvol, want);
            goto out;
        }
        lo = nvol > 1 ? r->m.volumes[vol - 1].first : 1;
        hi = nvol > 1 ? lo + r->m.volumes[vol - 1].count : r->m.nmembers;
        for (size_t i = lo; i < hi; i++) {
            if (i > r->m.nindex && r->o.index_only && !r->container_only) {
                /* the state is all the caller wants; an index file (spec
                 * 14.7) ends here */
                r->index_only = 1;
                break;
            }
            if (i > lo) {
                n = mf_tarr_next(t, name, sizeof name, &size, err);
                if (n < 0)
                    goto out;
                if (n == 0) {
                    mf_err(err, MF_ECORRUPT, "archive is truncated: member %s is missing",
                           r->m.members[i].name);
                    goto out;
                }
            }
            if (check_member(r, t, i, k, name, size, &done, err) < 0) {
                if (r->nin > 1)
                    mf_err_ctx(err, "%s", r->in[k].path);
                goto out;
            }
        }
        if (!r->index_only && check_end(r, t, hi - 1, err) < 0)
            goto out;
        if (r->o.index_only && !r->container_only && hi > r->m.nindex)
            r->index_only = 1;
        r->archive_bytes += mf_tarr_bytes(t);
        mf_tarr_free(&t);
        r->vol_last = vol;
        want = vol + 1;
        if (r->index_only)
            break;   /* the volumes after the index are not needed */
        if (k + 1 == r->nin && want <= nvol) {
            if (!r->o.container_ok) {
                mf_err(err, MF_ECORRUPT, "volume %zu of %zu is missing (after %s)", want, nvol,
                       r->in[k].path);
                goto out;
            }
            if (!r->container_only) {
                r->container_only = 1;
                snprintf(r->why, sizeof r->why, "only volumes %zu to %zu of %zu were given",
                         r->vol_first, r->vol_last, nvol);
            }
        }
    }
    if (!r->container_only) {
        r->header = *mf_index_check_header(r->check);
        r->frames = (struct mf_frame_loc *)mf_index_check_frames(r->check, &r->nframes);
    }
    rc = 0;
out:
    mf_tarr_free(&t);
    head_clear(&first);
    return rc;
}

int mf_reader_open_volumes(struct mf_reader **r_r, const char *const *paths, size_t npaths,
                           const struct mf_reader_opts *o, struct mf_error *err)
{
    struct mf_reader *r;
    *r_r = NULL;
    if (npaths == 0 || npaths > MF_VOLUMES_MAX)
        return mf_err(err, MF_EUSAGE, "%zu files given for one archive", npaths);
    if ((r = mf_calloc(1, sizeof *r)) == NULL)
        return mf_err_nomem(err);
    r->o = *o;
    if (r->o.tmpdir == NULL)
        r->o.tmpdir = mf_tmpdir();
    r->in = mf_calloc(npaths, sizeof *r->in);
    if (r->in == NULL) {
        mf_free(r);
        return mf_err_nomem(err);
    }
    for (size_t k = 0; k < npaths; k++)
        r->in[k].fd = r->in[k].spool_fd = -1;
    r->nin = npaths;
    for (size_t k = 0; k < npaths; k++)
        if (open_input(r, &r->in[k], paths[k], err) < 0) {
            mf_reader_free(&r);
            return -1;
        }
    r->dctx = mf_frame_dctx_new(MF_SEGMENT_WINDOWLOG_MAX);
    r->cache = mf_frame_cache_new(FRAME_CACHE_BUDGET);
    r->cbuf = mf_malloc(MF_FRAME_CSIZE_MAX + MF_SEAL_TAG_BYTES);
    r->checked = mf_blobcheck_new(CHECKED_BUDGET);
    if (r->dctx == NULL || r->cache == NULL || r->cbuf == NULL || r->checked == NULL) {
        mf_reader_free(&r);
        return mf_err_nomem(err);
    }
    if (validate(r, err) < 0) {
        mf_reader_free(&r);
        return -1;
    }
    *r_r = r;
    return 0;
}

int mf_reader_open(struct mf_reader **r_r, const char *path, const struct mf_reader_opts *o,
                   struct mf_error *err)
{
    return mf_reader_open_volumes(r_r, &path, 1, o, err);
}

int mf_reader_container_only(const struct mf_reader *r, const char **why)
{
    if (why != NULL)
        *why = r->container_only ? r->why : NULL;
    return r->container_only;
}

void mf_reader_volumes(const struct mf_reader *r, size_t *first, size_t *last, size_t *total)
{
    *first = r->vol_first;
    *last = r->vol_last;
    *total = r->m.nvolumes > 0 ? r->m.nvolumes : 1;
}

const struct mf_manifest *mf_reader_manifest(const struct mf_reader *r)
{
    return &r->m;
}

const struct mf_rec_header *mf_reader_header(const struct mf_reader *r)
{
    return &r->header;
}

const char *mf_reader_signer(const struct mf_reader *r)
{
    return r->signed_ok ? r->signer : NULL;
}

const char *mf_reader_trusted_comment(const struct mf_reader *r)
{
    return r->signed_ok ? r->trusted : NULL;
}

void mf_reader_set_chain(struct mf_reader *r, mf_chain_fn fn, void *ctx)
{
    r->chain = fn;
    r->chain_ctx = ctx;
}

int mf_reader_index_only(const struct mf_reader *r)
{
    return r->index_only;
}

uint64_t mf_reader_chain_messages(const struct mf_reader *r)
{
    return mf_index_check_chain_messages(r->check);
}

const uint8_t *mf_reader_manifest_hash(const struct mf_reader *r)
{
    return r->manifest_hash;
}

uint64_t mf_reader_archive_bytes(const struct mf_reader *r)
{
    return r->archive_bytes;
}

int mf_reader_rewind(struct mf_reader *r, struct mf_error *err)
{
    if (r->container_only)
        return mf_err(err, MF_EUSAGE, "the index cannot be read: %s", r->why);
    r->seg = 0;
    r->ended = 0;
    mf_free(r->segbuf);
    r->segbuf = NULL;
    mf_idx_dec_feed(r->dec, NULL, 0, "index");
    return 0;
}

/* Loads index segment r->seg again, re-checking its digest. */
static int load_segment(struct mf_reader *r, struct mf_error *err)
{
    const struct mf_member_info *mi = &r->m.members[1 + r->seg];
    uint8_t *comp;
    uint8_t dg[MF_DIGEST_BYTES];
    size_t rlen;
    comp = mf_malloc((size_t)mi->size + 1);
    if (comp == NULL)
        return mf_err_nomem(err);
    if (mf_pread_all(r->in[r->pos[1 + r->seg].in].src, comp, (size_t)mi->size,
                     r->pos[1 + r->seg].off, mi->name, err) < 0) {
        mf_free(comp);
        return -1;
    }
    crypto_generichash(dg, sizeof dg, comp, (size_t)mi->size, NULL, 0);
    if (sodium_memcmp(dg, mi->digest, MF_DIGEST_BYTES) != 0) {
        mf_free(comp);
        return mf_err(err, MF_ECORRUPT, "member %s changed after it was verified", mi->name);
    }
    mf_free(r->segbuf);
    r->segbuf = NULL;
    if (segment_bytes(r, 1 + r->seg, comp, (size_t)mi->size, &r->segbuf, &rlen, err) < 0) {
        mf_free(comp);
        return -1;
    }
    mf_free(comp);
    snprintf(r->segname, sizeof r->segname, "%s", mi->name);
    mf_idx_dec_feed(r->dec, r->segbuf, rlen, r->segname);
    r->seg++;
    return 0;
}

int mf_reader_next(struct mf_reader *r, struct mf_record *rec, struct mf_error *err)
{
    if (r->container_only)
        return mf_err(err, MF_EUSAGE, "the index cannot be read: %s", r->why);
    for (;;) {
        int k;
        if (r->ended)
            return 0;
        k = mf_idx_dec_next(r->dec, rec, err);
        if (k < 0)
            return -1;
        if (k > 0) {
            if (rec->type == MF_REC_END)
                r->ended = 1;
            return 1;
        }
        if (r->seg >= r->m.nindex)
            return mf_err(err, MF_ECORRUPT, "index ends without END");
        if (load_segment(r, err) < 0)
            return -1;
    }
}

/* Decoded bytes of a frame, from the cache or read, checked and decoded. */
static const uint8_t *get_frame(struct mf_reader *r, uint32_t id, struct mf_error *err)
{
    const struct mf_frame_loc *f;
    const struct mf_member_info *mi;
    uint8_t h[MF_HASH_BYTES];
    uint8_t *raw;
    size_t stored;
    const uint8_t *c = mf_frame_cache_get(r->cache, id);
    if (c != NULL)
        return c;
    if (id >= r->nframes) {
        mf_err(err, MF_ECORRUPT, "reference to unknown frame %u", id);
        return NULL;
    }
    f = &r->frames[id];
    mi = &r->m.members[r->m.nindex + f->pack];
    stored = f->csize + (r->key != NULL ? MF_SEAL_TAG_BYTES : 0);
    if (mf_pread_all(r->in[r->pos[r->m.nindex + f->pack].in].src, r->cbuf, stored,
                     r->pos[r->m.nindex + f->pack].off + f->offset, mi->name, err) < 0)
        return NULL;
    /* authenticate and decrypt (spec 15.1), then the frame hash */
    if (r->key != NULL &&
        mf_unseal(r->key, r->m.archive_id, MF_SEAL_FRAME, id, r->cbuf, stored, r->cbuf, err) < 0) {
        mf_err_ctx(err, "frame %u of %s", id, mi->name);
        return NULL;
    }
    mf_hash(MF_HK_FRAME, h, r->cbuf, f->csize);
    if (sodium_memcmp(h, f->hash, MF_HASH_BYTES) != 0) {
        mf_err(err, MF_ECORRUPT, "frame %u of %s does not match its hash", id, mi->name);
        return NULL;
    }
    raw = mf_malloc(f->rsize);
    if (raw == NULL) {
        mf_err_nomem(err);
        return NULL;
    }
    if (mf_frame_decompress(r->dctx, r->cbuf, f->csize, raw, f->rsize, err) < 0) {
        mf_free(raw);
        mf_err_ctx(err, "frame %u of %s", id, mi->name);
        return NULL;
    }
    mf_frame_cache_put(r->cache, id, raw, f->rsize);
    return raw;
}

/* The bytes of one reference: from a frame, or through the chain source. */
static const uint8_t *ref_bytes(struct mf_reader *r, const struct mf_blobref *ref,
                                struct mf_error *err)
{
    const uint8_t *f;
    if (ref->loc == MF_LOC_CHAIN) {
        if (r->chain == NULL) {
            mf_err(err, MF_ECHAIN, "a message refers to content of the base chain, which is not "
                                   "at hand");
            return NULL;
        }
        if (r->chainbuf == NULL && (r->chainbuf = mf_malloc(MF_BLOB_MAX)) == NULL) {
            mf_err_nomem(err);
            return NULL;
        }
        if (ref->len > MF_BLOB_MAX ||
            r->chain(r->chain_ctx, ref->chain_guid, ref->chain_uid, ref->chain_offset,
                     r->chainbuf, (size_t)ref->len, err) < 0)
            return NULL;
        return r->chainbuf;
    }
    if (r->index_only) {
        mf_err(err, MF_EUSAGE, "message data of an index file (or an archive opened for its "
                               "index only) cannot be read");
        return NULL;
    }
    f = get_frame(r, ref->frame, err);
    if (f == NULL)
        return NULL;
    if ((uint64_t)ref->offset + ref->len > r->frames[ref->frame].rsize) {
        mf_err(err, MF_ECORRUPT, "blob reference past the end of frame %u", ref->frame);
        return NULL;
    }
    return f + ref->offset;
}

/* The id of a frame reference whose bytes this reader already hashed (and,
 * when the reference carries an id, found equal to it), or NULL: the bytes
 * must then be hashed. Chain references are never in the table. */
static const uint8_t *checked_id(const struct mf_reader *r, const struct mf_blobref *ref)
{
    const uint8_t *id;
    if (ref->loc != MF_LOC_FRAME || ref->len > MF_BLOB_MAX)
        return NULL;
    id = mf_blobcheck_get(r->checked, ref->frame, ref->offset, (uint32_t)ref->len);
    if (id != NULL && (ref->flags & MF_REF_HAS_ID) && sodium_memcmp(id, ref->id, MF_HASH_BYTES) != 0)
        return NULL;  /* hashed again, so the mismatch is named as before */
    return id;
}

/* One reference's bytes, checked against its blob id, added to the message
 * hash and handed to the sink. `known` is its id from the table of checked
 * blobs, or NULL; b may be NULL when known is set and there is no sink. */
static int emit_one(struct mf_reader *r, const struct mf_blobref *ref, const uint8_t *b,
                    const uint8_t *known, struct mf_hasher *h, mf_sink_fn sink, void *ctx,
                    struct mf_error *err)
{
    uint8_t id[MF_HASH_BYTES];
    if (known != NULL) {
        if (h != NULL)
            mf_message_hash_add(h, known, ref->len);
    } else if (h != NULL || (ref->flags & MF_REF_HAS_ID)) {
        mf_hash(MF_HK_BLOB, id, b, (size_t)ref->len);
        if ((ref->flags & MF_REF_HAS_ID) && sodium_memcmp(id, ref->id, MF_HASH_BYTES) != 0) {
            if (ref->loc == MF_LOC_CHAIN)
                return mf_err(err, MF_ECHAIN, "content of the base chain (uid %u, offset %llu) "
                                              "differs from what the delta expects",
                              ref->chain_uid, (unsigned long long)ref->chain_offset);
            return mf_err(err, MF_ECORRUPT, "blob in frame %u does not match its id", ref->frame);
        }
        /* these bytes, from a frame checked against its hash, give this id */
        if (ref->loc == MF_LOC_FRAME)
            (void)mf_blobcheck_put(r->checked, ref->frame, ref->offset, (uint32_t)ref->len, id);
        if (h != NULL)
            mf_message_hash_add(h, id, ref->len);
    }
    if (sink != NULL && sink(ctx, b, (size_t)ref->len, err) < 0)
        return -1;
    return 0;
}

struct ref_place {
    uint32_t frame;   /* UINT32_MAX for a chain reference */
    uint32_t i;       /* index in the window */
    uint64_t at;      /* offset in the window buffer */
};

static int cmp_place(const void *a, const void *b)
{
    const struct ref_place *x = a, *y = b;
    if (x->frame != y->frame)
        return x->frame < y->frame ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Would reading refs[0..n) in order make the frame cache thrash? True when the
 * distinct frames they touch do not fit in it together. `pl` is scratch of n.
 * Without a sink, references already checked are not read. */
static int would_thrash(const struct mf_reader *r, const struct mf_blobref *refs, uint32_t n,
                        int bytes_needed, struct ref_place *pl)
{
    uint64_t bytes = 0;
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++)
        if (refs[i].loc == MF_LOC_FRAME && refs[i].frame < r->nframes &&
            (bytes_needed || checked_id(r, &refs[i]) == NULL))
            pl[k++].frame = refs[i].frame;
    if (k <= 1)
        return 0;
    qsort(pl, k, sizeof *pl, cmp_place);
    for (uint32_t i = 0; i < k; i++)
        if (i == 0 || pl[i].frame != pl[i - 1].frame)
            bytes += r->frames[pl[i].frame].rsize;
    return bytes > FRAME_CACHE_BUDGET;
}

/* refs[0..n) (at most EMIT_WINDOW bytes) assembled in a buffer frame by
 * frame, so each frame is decoded once however the references interleave,
 * then emitted in order. */
static int emit_assembled(struct mf_reader *r, const struct mf_blobref *refs, uint32_t n,
                          uint64_t bytes, struct ref_place *pl, struct mf_hasher *h,
                          mf_sink_fn sink, void *ctx, struct mf_error *err)
{
    uint8_t *buf = mf_malloc(bytes > 0 ? (size_t)bytes : 1);
    uint64_t at = 0;
    int rc = 0;
    if (buf == NULL)
        return mf_err_nomem(err);
    for (uint32_t i = 0; i < n; i++) {
        pl[i].frame = refs[i].loc == MF_LOC_FRAME ? refs[i].frame : UINT32_MAX;
        pl[i].i = i;
        pl[i].at = at;
        at += refs[i].len;
    }
    qsort(pl, n, sizeof *pl, cmp_place);
    for (uint32_t k = 0; k < n && rc == 0; k++) {
        const uint8_t *b;
        if (sink == NULL && checked_id(r, &refs[pl[k].i]) != NULL)
            continue;
        b = ref_bytes(r, &refs[pl[k].i], err);
        if (b == NULL)
            rc = -1;
        else
            memcpy(buf + pl[k].at, b, (size_t)refs[pl[k].i].len);
    }
    at = 0;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        rc = emit_one(r, &refs[i], buf + at, checked_id(r, &refs[i]), h, sink, ctx, err);
        at += refs[i].len;
    }
    mf_free(buf);
    return rc;
}

int mf_reader_emit(struct mf_reader *r, const struct mf_blobref *refs, uint32_t nrefs,
                   uint64_t size, const uint8_t *hash, mf_sink_fn sink, void *ctx,
                   struct mf_error *err)
{
    struct mf_hasher h;
    struct ref_place *pl = NULL;
    uint64_t total = 0;
    uint8_t got[MF_HASH_BYTES];
    uint32_t i = 0;
    if (r->container_only)
        return mf_err(err, MF_EUSAGE, "message data cannot be read: %s", r->why);
    if (hash != NULL)
        mf_hash_init(&h, MF_HK_MESSAGE);
    /* windows of at most EMIT_WINDOW bytes; one whose frames do not fit in the
     * cache together is assembled frame by frame (spec 11: bounded work per
     * reference however an archive interleaves them) */
    while (i < nrefs) {
        uint32_t n = 0;
        uint64_t bytes = 0;
        int rc = 0;
        while (i + n < nrefs && refs[i + n].len <= MF_BLOB_MAX &&
               (n == 0 || bytes + refs[i + n].len <= EMIT_WINDOW)) {
            bytes += refs[i + n].len;
            n++;
        }
        if (n == 0) {
            mf_free(pl);
            return mf_err(err, MF_ECORRUPT, "blob reference of %llu bytes, more than a blob holds",
                          (unsigned long long)refs[i].len);
        }
        if (n > 1 && pl == NULL && (pl = mf_calloc(nrefs, sizeof *pl)) == NULL)
            return mf_err_nomem(err);
        if (n > 1 && would_thrash(r, refs + i, n, sink != NULL, pl)) {
            rc = emit_assembled(r, refs + i, n, bytes, pl, hash != NULL ? &h : NULL, sink, ctx,
                                err);
        } else {
            for (uint32_t k = 0; k < n && rc == 0; k++) {
                const uint8_t *known = checked_id(r, &refs[i + k]);
                const uint8_t *b = NULL;
                /* a checked blob is read only to be handed on */
                if ((known == NULL || sink != NULL) && (b = ref_bytes(r, &refs[i + k], err)) == NULL)
                    rc = -1;
                else
                    rc = emit_one(r, &refs[i + k], b, known, hash != NULL ? &h : NULL, sink, ctx,
                                  err);
            }
        }
        if (rc < 0) {
            mf_free(pl);
            return -1;
        }
        total += bytes;
        i += n;
    }
    mf_free(pl);
    if (total != size)
        return mf_err(err, MF_ECORRUPT, "blobs add up to %llu bytes, expected %llu",
                      (unsigned long long)total, (unsigned long long)size);
    if (hash != NULL) {
        mf_hash_final(&h, got);
        if (sodium_memcmp(got, hash, MF_HASH_BYTES) != 0)
            return mf_err(err, MF_ECORRUPT, "message content does not match its hash");
    }
    return 0;
}

static int has_chain_ref(const struct mf_blobref *refs, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (refs[i].loc == MF_LOC_CHAIN)
            return 1;
    return 0;
}

/* Checking ahead, for verify: the blobs the index refers to are gathered
 * (each place once), and the frames that hold them are read, authenticated,
 * checked against their hashes, decoded and their blobs hashed on worker
 * threads, frame after frame in archive order. What comes out goes into the
 * table of checked blobs: each place with the id its bytes hash to. Nothing
 * here decides or reports anything: a frame that fails is left out, and the
 * walk over the records that follows reads it again the ordinary way and
 * names what is wrong with it, at the first message that uses it, as without
 * this step. */
struct place {
    uint32_t frame, offset, len;
};

struct precheck_job {
    struct mf_reader *r;
    uint32_t frame;
    const struct place *p;        /* the places in this frame */
    size_t n;
    uint8_t (*ids)[MF_HASH_BYTES];  /* out: the id of each */
    int ok;
    /* the slot's own buffers */
    uint8_t *cbuf, *raw;
    ZSTD_DCtx *dctx;
};

static void precheck_frame(void *arg)
{
    struct precheck_job *j = arg;
    struct mf_reader *r = j->r;
    const struct mf_frame_loc *f = &r->frames[j->frame];
    size_t m = r->m.nindex + f->pack;
    size_t stored = f->csize + (r->key != NULL ? MF_SEAL_TAG_BYTES : 0);
    uint8_t h[MF_HASH_BYTES];
    struct mf_error e;
    j->ok = 0;
    if (mf_pread_all(r->in[r->pos[m].in].src, j->cbuf, stored, r->pos[m].off + f->offset,
                     r->m.members[m].name, &e) < 0)
        return;
    if (r->key != NULL && mf_unseal(r->key, r->m.archive_id, MF_SEAL_FRAME, j->frame, j->cbuf,
                                    stored, j->cbuf, &e) < 0)
        return;
    mf_hash(MF_HK_FRAME, h, j->cbuf, f->csize);
    if (sodium_memcmp(h, f->hash, MF_HASH_BYTES) != 0)
        return;
    if (mf_frame_decompress(j->dctx, j->cbuf, f->csize, j->raw, f->rsize, &e) < 0)
        return;
    for (size_t i = 0; i < j->n; i++)
        mf_hash(MF_HK_BLOB, j->ids[i], j->raw + j->p[i].offset, j->p[i].len);
    j->ok = 1;
}

static int cmp_places(const void *a, const void *b)
{
    const struct place *x = a, *y = b;
    if (x->frame != y->frame)
        return x->frame < y->frame ? -1 : 1;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return x->len < y->len ? -1 : x->len > y->len;
}

static size_t unique_places(struct place *p, size_t n)
{
    size_t k = 0;
    if (n == 0)
        return 0;
    qsort(p, n, sizeof *p, cmp_places);
    for (size_t i = 1; i < n; i++)
        if (cmp_places(&p[k], &p[i]) != 0)
            p[++k] = p[i];
    return k + 1;
}

/* Adds the frame references of refs not yet in the table; 0 when the list is
 * full (then it is sorted and without repeats). */
static int gather(struct mf_reader *r, const struct mf_blobref *refs, uint32_t nrefs,
                  struct place *p, size_t *n, size_t cap)
{
    for (uint32_t i = 0; i < nrefs; i++) {
        const struct mf_blobref *ref = &refs[i];
        if (ref->loc != MF_LOC_FRAME || ref->len == 0 || ref->len > MF_BLOB_MAX ||
            ref->frame >= r->nframes ||
            (uint64_t)ref->offset + ref->len > r->frames[ref->frame].rsize ||
            mf_blobcheck_get(r->checked, ref->frame, ref->offset, (uint32_t)ref->len) != NULL)
            continue;
        if (*n == 2 * cap) {
            *n = unique_places(p, *n);
            if (*n >= cap)
                return 0;
        }
        p[*n].frame = ref->frame;
        p[*n].offset = ref->offset;
        p[*n].len = (uint32_t)ref->len;
        (*n)++;
    }
    return 1;
}

/* Checks p[0..n) (sorted, no repeats) frame by frame on the pool and enters
 * what checks out into the table. 0 when the table took all of it. */
static int precheck_places(struct mf_reader *r, struct mf_pool *pool, struct precheck_job *slots,
                           size_t nslots, const struct place *p, size_t n,
                           uint8_t (*ids)[MF_HASH_BYTES], uint64_t *checked_bytes,
                           uint64_t total_bytes, void (*progress)(void *, uint64_t, uint64_t),
                           void *ctx)
{
    size_t i = 0, next_slot = 0;
    int full = 0;
    while (i < n || mf_pool_pending(pool) > 0) {
        if (i < n && !full && !mf_pool_full(pool)) {
            struct precheck_job *j = &slots[next_slot];
            size_t k = i;
            next_slot = (next_slot + 1) % nslots;
            while (k < n && p[k].frame == p[i].frame)
                k++;
            j->frame = p[i].frame;
            j->p = p + i;
            j->n = k - i;
            j->ids = ids + i;
            i = k;
            mf_pool_submit(pool, precheck_frame, j);
            continue;
        }
        struct precheck_job *j = mf_pool_collect(pool);
        if (j == NULL)
            break;
        if (j->ok && !full)
            for (size_t k = 0; k < j->n; k++) {
                if (mf_blobcheck_put(r->checked, j->frame, j->p[k].offset, j->p[k].len,
                                     j->ids[k]) == 0) {
                    full = 1;   /* the rest is hashed during the walk */
                    break;
                }
                *checked_bytes += j->p[k].len;
            }
        if (progress != NULL && total_bytes > 0 && *checked_bytes <= total_bytes)
            progress(ctx, (uint64_t)((double)(r->header.message_bytes / 2) *
                                     (double)*checked_bytes / (double)total_bytes),
                     r->header.message_bytes);
    }
    return full ? -1 : 0;
}

/* The whole step: rounds of at most PRECHECK_ROUND places, gathered in index
 * order. Out of memory, it checks less or nothing: the walk hashes the rest.
 * Progress goes up to half the message bytes; returns how far it went. */
static uint64_t precheck(struct mf_reader *r, void (*progress)(void *, uint64_t, uint64_t),
                         void *ctx)
{
    struct mf_pool *pool = NULL;
    struct precheck_job *slots = NULL;
    struct place *p = NULL;
    uint8_t (*ids)[MF_HASH_BYTES] = NULL;
    struct mf_record rec;
    struct mf_error e;
    size_t nslots, n = 0;
    int nthreads = mf_cpu_count(), k = 1;
    uint64_t checked_bytes = 0;

    if (r->index_only || r->nframes == 0 || mf_reader_rewind(r, &e) < 0)
        return 0;
    nslots = (size_t)nthreads + 2;
    slots = mf_calloc(nslots, sizeof *slots);
    p = mf_calloc(2 * (size_t)PRECHECK_ROUND, sizeof *p);
    ids = mf_calloc(2 * (size_t)PRECHECK_ROUND, sizeof *ids);
    if (slots == NULL || p == NULL || ids == NULL)
        goto out;
    for (size_t i = 0; i < nslots; i++) {
        slots[i].r = r;
        slots[i].cbuf = mf_malloc(MF_FRAME_CSIZE_MAX + MF_SEAL_TAG_BYTES);
        slots[i].raw = mf_malloc(MF_FRAME_RAW_MAX);
        slots[i].dctx = mf_frame_dctx_new(MF_FRAME_WINDOWLOG_MAX);
        if (slots[i].cbuf == NULL || slots[i].raw == NULL || slots[i].dctx == NULL)
            goto out;
    }
    if (mf_pool_create(&pool, nthreads, nslots, &e) < 0)
        goto out;
    while (k > 0) {
        int room = 1;
        while (room && (k = mf_reader_next(r, &rec, &e)) > 0) {
            if (rec.type == MF_REC_MESSAGE)
                room = gather(r, rec.u.message.refs, rec.u.message.nrefs, p, &n,
                              PRECHECK_ROUND);
            else if (rec.type == MF_REC_EXTRA)
                room = gather(r, rec.u.extra.refs, rec.u.extra.nrefs, p, &n, PRECHECK_ROUND);
        }
        if (k < 0)
            break;   /* the walk will say what is wrong */
        n = unique_places(p, n);
        if (precheck_places(r, pool, slots, nslots, p, n, ids, &checked_bytes,
                            r->header.blob_bytes, progress, ctx) < 0)
            break;
        n = 0;
    }
out:
    mf_pool_destroy(&pool);
    for (size_t i = 0; slots != NULL && i < nslots; i++) {
        mf_free(slots[i].cbuf);
        mf_free(slots[i].raw);
        if (slots[i].dctx != NULL)
            mf_frame_dctx_free(slots[i].dctx);
    }
    mf_free(slots);
    mf_free(p);
    mf_free(ids);
    if (checked_bytes > r->header.blob_bytes || r->header.blob_bytes == 0)
        return 0;
    return (uint64_t)((double)(r->header.message_bytes / 2) * (double)checked_bytes /
                      (double)r->header.blob_bytes);
}

int mf_reader_verify_content(struct mf_reader *r, void (*progress)(void *, uint64_t, uint64_t),
                             void *ctx, uint64_t *skipped, struct mf_error *err)
{
    struct mf_record rec;
    uint64_t done = 0, n = 0, base, total = r->header.message_bytes;
    int k;
    if (skipped != NULL)
        *skipped = 0;
    if (r->container_only)
        return mf_err(err, MF_EUSAGE, "the index cannot be read: %s", r->why);
    base = precheck(r, progress, ctx);
    if (mf_reader_rewind(r, err) < 0)
        return -1;
    while ((k = mf_reader_next(r, &rec, err)) > 0) {
        if (rec.type == MF_REC_MESSAGE) {
            const struct mf_rec_message *m = &rec.u.message;
            if (r->chain == NULL && has_chain_ref(m->refs, m->nrefs)) {
                /* the frames it uses are still checked */
                for (uint32_t i = 0; i < m->nrefs; i++)
                    if (m->refs[i].loc == MF_LOC_FRAME &&
                        mf_reader_emit(r, &m->refs[i], 1, m->refs[i].len, NULL, NULL, NULL,
                                       err) < 0)
                        return mf_err_ctx(err, "message uid %u", m->uid);
                if (skipped != NULL)
                    (*skipped)++;
                continue;
            }
            if (mf_reader_emit(r, m->refs, m->nrefs, m->size, m->hash, NULL, NULL, err) < 0)
                return mf_err_ctx(err, "message uid %u", m->uid);
            done += m->size;
            if (progress != NULL && (++n & 255) == 0 && done <= total)
                progress(ctx, base + (uint64_t)((double)(total - base) * (double)done /
                                                (double)total), total);
        } else if (rec.type == MF_REC_EXTRA) {
            const struct mf_rec_extra *x = &rec.u.extra;
            if (mf_reader_emit(r, x->refs, x->nrefs, x->size, NULL, NULL, NULL, err) < 0)
                return mf_err_ctx(err, "extra file %.*s", (int)x->path.n, x->path.p);
        }
    }
    if (progress != NULL)
        progress(ctx, done, total);
    return k < 0 ? -1 : 0;
}

void mf_reader_free(struct mf_reader **rp)
{
    struct mf_reader *r = *rp;
    if (r == NULL)
        return;
    *rp = NULL;
    for (size_t k = 0; r->in != NULL && k < r->nin; k++) {
        if (r->in[k].own && r->in[k].fd >= 0)
            close(r->in[k].fd);
        if (r->in[k].spool_fd >= 0)
            close(r->in[k].spool_fd);
    }
    mf_free(r->in);
    mf_filekey_free(&r->key);
    mf_manifest_clear(&r->m);
    mf_free(r->pos);
    mf_index_check_free(&r->check);
    mf_idx_dec_free(&r->dec);
    mf_free(r->segbuf);
    if (r->dctx != NULL)
        mf_frame_dctx_free(r->dctx);
    mf_frame_cache_free(&r->cache);
    mf_free(r->cbuf);
    mf_free(r->chainbuf);
    mf_blobcheck_free(&r->checked);
    mf_free(r);
}
