/* index_read.c: Dovecot index state = main index + log replay.
 *
 * Main index (dovecot.index): base header (120+ bytes: 0 major 7, 2 u16
 * base_header_size, 4 header_size, 8 record_size, 12 compat_flags, 16
 * indexid, 24 uid_validity, 28 next_uid, 32 messages_count, 60
 * log_file_seq, 64 tail offset, 68 head offset), then extension headers
 * from the 8-aligned end of the base header (u32 hdr_size, u32 reset_id,
 * u16 record_offset, u16 record_size, u16 record_align, u16 name_size, name,
 * 8-alignment, data[hdr_size], 8-alignment), then messages_count records of
 * record_size bytes (u32 uid, u8 flags, extension data at record_offset).
 * The "keywords" extension's header lists names (u32 count, count x {u32,
 * u32 name offset}, NUL-terminated names) and its record is a bitmask. */
#include "index_read.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../format/buf.h"
#include "../format/fsutil.h"
#include "../format/mem.h"
#include "index_log.h"

#define INDEX_MAX (512u * 1024 * 1024)
#define LOG_MAX (1024u * 1024 * 1024)
#define ALIGN8(x) (((x) + 7) & ~(size_t)7)

void mf_ix_init(struct mf_ix *ix)
{
    memset(ix, 0, sizeof *ix);
}

void mf_ix_free(struct mf_ix *ix)
{
    mf_free(ix->msgs);
    for (size_t i = 0; i < ix->nkw; i++)
        mf_free(ix->kw[i]);
    mf_free(ix->kw);
    mf_free(ix->kwbits);
    for (size_t i = 0; i < ix->next; i++) {
        mf_free(ix->ext[i].hdr);
        mf_free(ix->ext[i].recs);
    }
    mf_free(ix->ext);
    memset(ix, 0, sizeof *ix);
}

uint32_t mf_ix_uid_validity(const struct mf_ix *ix)
{
    return mf_load_u32le(ix->hdr + 24);
}

uint32_t mf_ix_next_uid(const struct mf_ix *ix)
{
    uint32_t n = mf_load_u32le(ix->hdr + 28);
    return n == 0 ? 1 : n;
}

long mf_ix_find(const struct mf_ix *ix, uint32_t uid)
{
    size_t lo = 0, hi = ix->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ix->msgs[mid].uid == uid)
            return (long)mid;
        if (ix->msgs[mid].uid < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

int mf_ix_has_kw(const struct mf_ix *ix, size_t msg, size_t kw)
{
    if (kw >= ix->nkw || ix->kwwords == 0)
        return 0;
    return (ix->kwbits[msg * ix->kwwords + kw / 64] >> (kw % 64)) & 1;
}

const struct mf_ix_ext *mf_ix_ext_get(const struct mf_ix *ix, const char *name)
{
    for (size_t i = 0; i < ix->next; i++)
        if (strcmp(ix->ext[i].name, name) == 0)
            return &ix->ext[i];
    return NULL;
}

const uint8_t *mf_ix_rec(const struct mf_ix_ext *e, size_t i)
{
    return e->recs + i * e->rec_size;
}

/* ---- growing the state ---- */

static int grow_msgs(struct mf_ix *ix, size_t need)
{
    size_t nc;
    if (need <= ix->cap)
        return 0;
    nc = ix->cap == 0 ? 64 : ix->cap;
    while (nc < need)
        nc *= 2;
    {
        struct mf_ix_msg *nm = mf_realloc(ix->msgs, nc * sizeof *nm);
        if (nm == NULL)
            return -1;
        ix->msgs = nm;
    }
    for (size_t i = 0; i < ix->next; i++) {
        struct mf_ix_ext *e = &ix->ext[i];
        uint8_t *nr;
        if (e->rec_size == 0)
            continue;
        nr = mf_realloc(e->recs, nc * e->rec_size);
        if (nr == NULL)
            return -1;
        e->recs = nr;
    }
    if (ix->kwwords > 0) {
        uint64_t *nb = mf_realloc(ix->kwbits, nc * ix->kwwords * sizeof *nb);
        if (nb == NULL)
            return -1;
        ix->kwbits = nb;
    }
    ix->cap = nc;
    return 0;
}

static int add_kw_name(struct mf_ix *ix, const char *name, size_t len, size_t *idx)
{
    char **nk;
    for (size_t i = 0; i < ix->nkw; i++)
        if (strlen(ix->kw[i]) == len && memcmp(ix->kw[i], name, len) == 0) {
            *idx = i;
            return 0;
        }
    if ((ix->nkw + 64) / 64 > ix->kwwords) {
        size_t nw = ix->kwwords + 1;
        uint64_t *nb = mf_calloc((ix->cap ? ix->cap : 1) * nw, sizeof *nb);
        if (nb == NULL)
            return -1;
        for (size_t m = 0; m < ix->n; m++)
            for (size_t w = 0; w < ix->kwwords; w++)
                nb[m * nw + w] = ix->kwbits[m * ix->kwwords + w];
        mf_free(ix->kwbits);
        ix->kwbits = nb;
        ix->kwwords = nw;
    }
    nk = mf_realloc(ix->kw, (ix->nkw + 1) * sizeof *nk);
    if (nk == NULL)
        return -1;
    ix->kw = nk;
    ix->kw[ix->nkw] = mf_strndup(name, len);
    if (ix->kw[ix->nkw] == NULL)
        return -1;
    *idx = ix->nkw++;
    return 0;
}

static void set_kw(struct mf_ix *ix, size_t m, size_t k, int on)
{
    uint64_t bit = 1ull << (k % 64);
    if (on)
        ix->kwbits[m * ix->kwwords + k / 64] |= bit;
    else
        ix->kwbits[m * ix->kwwords + k / 64] &= ~bit;
}

static struct mf_ix_ext *add_ext(struct mf_ix *ix, const char *name, size_t nl, uint32_t reset_id,
                                 uint32_t hdr_size, uint16_t rec_size, uint16_t rec_align)
{
    struct mf_ix_ext *ne, *e;
    if (nl == 0 || nl > MF_IX_EXT_NAME_MAX || hdr_size > (16u << 20))
        return NULL;
    ne = mf_realloc(ix->ext, (ix->next + 1) * sizeof *ne);
    if (ne == NULL)
        return NULL;
    ix->ext = ne;
    e = &ix->ext[ix->next];
    memset(e, 0, sizeof *e);
    memcpy(e->name, name, nl);
    e->reset_id = reset_id;
    e->hdr_size = hdr_size;
    e->rec_size = rec_size;
    e->rec_align = rec_align;
    e->hdr = mf_calloc(hdr_size ? hdr_size : 1, 1);
    if (e->hdr == NULL)
        return NULL;
    if (rec_size > 0) {
        e->recs = mf_calloc((ix->cap ? ix->cap : 1), rec_size);
        if (e->recs == NULL) {
            mf_free(e->hdr);
            return NULL;
        }
    }
    ix->next++;
    return e;
}

static int resize_ext(struct mf_ix *ix, struct mf_ix_ext *e, uint32_t hdr_size, uint16_t rec_size)
{
    if (hdr_size != e->hdr_size) {
        uint8_t *nh;
        if (hdr_size > (16u << 20))
            return -1;
        nh = mf_calloc(hdr_size ? hdr_size : 1, 1);
        if (nh == NULL)
            return -1;
        memcpy(nh, e->hdr, hdr_size < e->hdr_size ? hdr_size : e->hdr_size);
        mf_free(e->hdr);
        e->hdr = nh;
        e->hdr_size = hdr_size;
    }
    if (rec_size != e->rec_size) {
        uint8_t *nr = mf_calloc((ix->cap ? ix->cap : 1), rec_size ? rec_size : 1);
        size_t keep = rec_size < e->rec_size ? rec_size : e->rec_size;
        if (nr == NULL)
            return -1;
        for (size_t m = 0; m < ix->n && keep > 0; m++)
            memcpy(nr + m * rec_size, e->recs + m * e->rec_size, keep);
        mf_free(e->recs);
        e->recs = nr;
        e->rec_size = rec_size;
    }
    return 0;
}

static void remove_msg(struct mf_ix *ix, size_t i)
{
    size_t tail = ix->n - i - 1;
    memmove(&ix->msgs[i], &ix->msgs[i + 1], tail * sizeof *ix->msgs);
    for (size_t k = 0; k < ix->next; k++) {
        struct mf_ix_ext *e = &ix->ext[k];
        if (e->rec_size > 0)
            memmove(e->recs + i * e->rec_size, e->recs + (i + 1) * e->rec_size,
                    tail * e->rec_size);
    }
    if (ix->kwwords > 0)
        memmove(ix->kwbits + i * ix->kwwords, ix->kwbits + (i + 1) * ix->kwwords,
                tail * ix->kwwords * sizeof *ix->kwbits);
    ix->n--;
}

/* ---- the main index file ---- */

#define CORRUPT(...) mf_err(err, MF_ECORRUPT, __VA_ARGS__)

static int load_main_index(const uint8_t *p, size_t len, struct mf_ix *ix, struct mf_error *err)
{
    uint32_t base, hsize, rsize, count;
    size_t off;
    size_t kw_ext = (size_t)-1, kw_rec_off = 0, kw_rec_size = 0;
    struct {
        size_t idx;
        uint16_t rec_off;
    } map[256];
    size_t nmap = 0;
    if (len < 120 || p[0] != 7)
        return CORRUPT("dovecot.index: unsupported version or too short");
    base = mf_load_u16le(p + 2);
    hsize = mf_load_u32le(p + 4);
    rsize = mf_load_u32le(p + 8);
    count = mf_load_u32le(p + 32);
    if (base < 120 || hsize < base || hsize > len || rsize < 8 || (p[12] & 1) == 0)
        return CORRUPT("dovecot.index: bad header");
    if ((uint64_t)count * rsize > len - hsize)
        return CORRUPT("dovecot.index: records past the end of the file");
    memcpy(ix->hdr, p, 120);
    ix->indexid = mf_load_u32le(p + 16);
    off = ALIGN8(base);
    while (off + 16 <= hsize) {
        uint32_t ehs = mf_load_u32le(p + off), reset = mf_load_u32le(p + off + 4);
        uint16_t roff = mf_load_u16le(p + off + 8), rsz = mf_load_u16le(p + off + 10);
        uint16_t ralign = mf_load_u16le(p + off + 12), nl = mf_load_u16le(p + off + 14);
        size_t data = off + ALIGN8(16 + (size_t)nl);
        struct mf_ix_ext *e;
        if (nl == 0 || nl > MF_IX_EXT_NAME_MAX || data + ehs > hsize ||
            (size_t)roff + rsz > rsize || nmap == 256)
            return CORRUPT("dovecot.index: bad extension header");
        e = add_ext(ix, (const char *)p + off + 16, nl, reset, ehs, rsz, ralign);
        if (e == NULL)
            return mf_err_nomem(err);
        memcpy(e->hdr, p + data, ehs);
        map[nmap].idx = ix->next - 1;
        map[nmap].rec_off = roff;
        nmap++;
        if (strcmp(e->name, "keywords") == 0) {
            kw_ext = ix->next - 1;
            kw_rec_off = roff;
            kw_rec_size = rsz;
        }
        off = data + ALIGN8(ehs);
    }
    if (kw_ext != (size_t)-1) {
        const struct mf_ix_ext *e = &ix->ext[kw_ext];
        uint32_t kc = e->hdr_size >= 4 ? mf_load_u32le(e->hdr) : 0;
        size_t names = 4 + (size_t)kc * 8;
        if (names > e->hdr_size)
            return CORRUPT("dovecot.index: bad keywords header");
        for (uint32_t k = 0; k < kc; k++) {
            uint32_t no = mf_load_u32le(e->hdr + 4 + 8 * k + 4);
            const char *nm = (const char *)e->hdr + names + no;
            size_t idx, nmax = e->hdr_size - names;
            if (no >= nmax || memchr(nm, '\0', nmax - no) == NULL)
                return CORRUPT("dovecot.index: bad keyword name");
            if (add_kw_name(ix, nm, strlen(nm), &idx) < 0)
                return mf_err_nomem(err);
        }
    }
    if (grow_msgs(ix, count) < 0)
        return mf_err_nomem(err);
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *rec = p + hsize + (size_t)i * rsize;
        ix->msgs[i].uid = mf_load_u32le(rec);
        ix->msgs[i].flags = rec[4];
        if (i > 0 && ix->msgs[i].uid <= ix->msgs[i - 1].uid)
            return CORRUPT("dovecot.index: UIDs not ascending");
        for (size_t k = 0; k < nmap; k++) {
            struct mf_ix_ext *e = &ix->ext[map[k].idx];
            if (e->rec_size > 0)
                memcpy(e->recs + (size_t)i * e->rec_size, rec + map[k].rec_off, e->rec_size);
        }
        if (ix->kwwords > 0) {
            memset(ix->kwbits + (size_t)i * ix->kwwords, 0, ix->kwwords * sizeof *ix->kwbits);
            for (size_t b = 0; b < kw_rec_size * 8 && b < ix->nkw; b++)
                if (rec[kw_rec_off + b / 8] & (1u << (b % 8)))
                    set_kw(ix, i, b, 1);
        }
        ix->n = i + 1;
    }
    return 0;
}

/* ---- log replay ---- */

struct replay {
    struct mf_ix *ix;
    struct mf_ix_ext *cur;  /* extension selected by the last intro */
    int cur_ignore;
    uint16_t cur_rec_size;
};

static int apply(struct replay *rp, uint32_t type, const uint8_t *b, size_t n,
                 struct mf_error *err)
{
    struct mf_ix *ix = rp->ix;
    uint32_t t = type & MF_LOG_TYPE_MASK;
    int external = (type & MF_LOG_EXTERNAL) != 0;
    size_t off = 0;
    switch (t) {
    case MF_LOG_APPEND:
        for (; off + 8 <= n; off += 8) {
            uint32_t uid = mf_load_u32le(b + off);
            if (uid < mf_ix_next_uid(ix) || uid == 0)
                return CORRUPT("append of UID %u below next UID %u", uid, mf_ix_next_uid(ix));
            /* UIDs stay ascending (mf_ix_find relies on it) even after an index whose
             * next_uid lies, and next_uid (uid + 1) cannot wrap to 0 */
            if ((ix->n > 0 && uid <= ix->msgs[ix->n - 1].uid) || uid == UINT32_MAX)
                return CORRUPT("append of UID %u after UID %u", uid,
                               ix->n > 0 ? ix->msgs[ix->n - 1].uid : 0);
            if (grow_msgs(ix, ix->n + 1) < 0)
                return mf_err_nomem(err);
            ix->msgs[ix->n].uid = uid;
            ix->msgs[ix->n].flags = b[off + 4];
            for (size_t k = 0; k < ix->next; k++)
                if (ix->ext[k].rec_size > 0)
                    memset(ix->ext[k].recs + ix->n * ix->ext[k].rec_size, 0, ix->ext[k].rec_size);
            if (ix->kwwords > 0)
                memset(ix->kwbits + ix->n * ix->kwwords, 0, ix->kwwords * sizeof *ix->kwbits);
            ix->n++;
            mf_store_u32le(ix->hdr + 28, uid + 1);
        }
        return 0;
    case MF_LOG_FLAG_UPDATE:
        for (; off + 12 <= n; off += 12) {
            uint32_t u1 = mf_load_u32le(b + off), u2 = mf_load_u32le(b + off + 4);
            uint8_t add = b[off + 8], rem = b[off + 9];
            for (size_t i = 0; i < ix->n; i++)
                if (ix->msgs[i].uid >= u1 && ix->msgs[i].uid <= u2)
                    ix->msgs[i].flags = (uint8_t)((ix->msgs[i].flags & ~rem) | add);
        }
        return 0;
    case MF_LOG_HEADER_UPDATE:
        while (off + 4 <= n) {
            uint16_t o = mf_load_u16le(b + off), sz = mf_load_u16le(b + off + 2);
            uint32_t before = mf_ix_next_uid(ix);
            if (off + 4 + sz > n || (size_t)o + sz > 120)
                return CORRUPT("header update outside the header");
            if (o != 64)
                memcpy(ix->hdr + o, b + off + 4, sz);
            if (mf_load_u32le(ix->hdr + 28) < before)
                mf_store_u32le(ix->hdr + 28, before);  /* next_uid never goes down */
            off += (4 + sz + 3) & ~(size_t)3;
        }
        return 0;
    case MF_LOG_EXT_INTRO: {
        uint32_t id, reset, hs;
        uint16_t rs, ra, nl;
        if (n < 20)
            return CORRUPT("short extension introduction");
        id = mf_load_u32le(b);
        reset = mf_load_u32le(b + 4);
        hs = mf_load_u32le(b + 8);
        rs = mf_load_u16le(b + 12);
        ra = mf_load_u16le(b + 14);
        nl = mf_load_u16le(b + 18);
        if ((size_t)nl > n - 20)
            return CORRUPT("extension name past the record");
        rp->cur = NULL;
        if (id != 0xffffffffu) {
            if (id >= ix->next)
                return CORRUPT("extension introduction for unknown id %u", id);
            rp->cur = &ix->ext[id];
        } else {
            for (size_t k = 0; k < ix->next; k++)
                if (strlen(ix->ext[k].name) == nl && memcmp(ix->ext[k].name, b + 20, nl) == 0)
                    rp->cur = &ix->ext[k];
            if (rp->cur == NULL) {
                rp->cur = add_ext(ix, (const char *)b + 20, nl, reset, hs, rs, ra);
                if (rp->cur == NULL)
                    return nl == 0 || nl > MF_IX_EXT_NAME_MAX ? CORRUPT("bad extension name")
                                                              : mf_err_nomem(err);
                rp->cur_ignore = 0;
                rp->cur_rec_size = rs;
                return 0;
            }
        }
        rp->cur_rec_size = rs;
        if (rp->cur->reset_id != reset) {
            rp->cur_ignore = 1;
            return 0;
        }
        rp->cur_ignore = 0;
        if (resize_ext(ix, rp->cur, hs, rs) < 0)
            return mf_err_nomem(err);
        return 0;
    }
    case MF_LOG_EXT_RESET:
        if (rp->cur == NULL || n < 8)
            return CORRUPT("extension reset without introduction");
        rp->cur->reset_id = mf_load_u32le(b);
        if (b[4] == 0) {
            memset(rp->cur->hdr, 0, rp->cur->hdr_size);
            if (rp->cur->rec_size > 0)
                memset(rp->cur->recs, 0, ix->n * rp->cur->rec_size);
        }
        rp->cur_ignore = 0;
        return 0;
    case MF_LOG_EXT_HDR_UPDATE:
    case 0x00010000u: {  /* EXT_HDR_UPDATE32 */
        int wide = t != MF_LOG_EXT_HDR_UPDATE;
        if (rp->cur == NULL)
            return CORRUPT("extension header updated without introduction");
        while (off + (wide ? 8 : 4) <= n) {
            uint32_t o = wide ? mf_load_u32le(b + off) : mf_load_u16le(b + off);
            uint32_t sz = wide ? mf_load_u32le(b + off + 4) : mf_load_u16le(b + off + 2);
            size_t h = wide ? 8 : 4;
            if (off + h + sz > n)
                return CORRUPT("extension header update past the record");
            if (!rp->cur_ignore) {
                if ((uint64_t)o + sz > rp->cur->hdr_size)
                    return CORRUPT("extension header update outside the header");
                memcpy(rp->cur->hdr + o, b + off + h, sz);
            }
            off += (h + sz + 3) & ~(size_t)3;
        }
        return 0;
    }
    case MF_LOG_EXT_REC_UPDATE: {
        size_t step;
        if (rp->cur == NULL)
            return CORRUPT("extension record updated without introduction");
        step = (4 + (size_t)rp->cur_rec_size + 3) & ~(size_t)3;
        for (; off + 4 + rp->cur_rec_size <= n; off += step) {
            long i = mf_ix_find(ix, mf_load_u32le(b + off));
            size_t k = rp->cur_rec_size < rp->cur->rec_size ? rp->cur_rec_size : rp->cur->rec_size;
            if (!rp->cur_ignore && i >= 0 && k > 0)  /* rec_size 0: recs is NULL */
                memcpy(rp->cur->recs + (size_t)i * rp->cur->rec_size, b + off + 4, k);
        }
        return 0;
    }
    case MF_LOG_EXT_ATOMIC_INC:
        if (rp->cur == NULL)
            return CORRUPT("extension counter updated without introduction");
        for (; off + 8 <= n; off += 8) {
            long i = mf_ix_find(ix, mf_load_u32le(b + off));
            int32_t diff = (int32_t)mf_load_u32le(b + off + 4);
            uint8_t *r;
            uint64_t v = 0;
            if (rp->cur_ignore || i < 0 || rp->cur->rec_size == 0 || rp->cur->rec_size > 8)
                continue;
            r = rp->cur->recs + (size_t)i * rp->cur->rec_size;
            for (int q = rp->cur->rec_size - 1; q >= 0; q--)
                v = (v << 8) | r[q];
            v += (uint64_t)(int64_t)diff;
            for (int q = 0; q < rp->cur->rec_size; q++)
                r[q] = (uint8_t)(v >> (8 * q));
        }
        return 0;
    case MF_LOG_KEYWORD_UPDATE: {
        uint8_t mod;
        uint16_t nl;
        size_t k, start;
        if (n < 4)
            return CORRUPT("short keyword update");
        mod = b[0];
        nl = mf_load_u16le(b + 2);
        if (nl == 0 || 4 + (size_t)nl > n)
            return CORRUPT("bad keyword update");
        if (mf_ix_ext_get(ix, "keywords") == NULL) {
            /* add_ext moves the extension array: keep the current one by position */
            size_t cur = rp->cur != NULL ? (size_t)(rp->cur - ix->ext) : 0;
            if (add_ext(ix, "keywords", 8, 0, 0, 0, 0) == NULL)
                return mf_err_nomem(err);
            if (rp->cur != NULL)
                rp->cur = &ix->ext[cur];
        }
        if (add_kw_name(ix, (const char *)b + 4, nl, &k) < 0)
            return mf_err_nomem(err);
        start = (4 + (size_t)nl + 3) & ~(size_t)3;
        for (off = start; off + 8 <= n; off += 8) {
            uint32_t u1 = mf_load_u32le(b + off), u2 = mf_load_u32le(b + off + 4);
            for (size_t i = 0; i < ix->n; i++)
                if (ix->msgs[i].uid >= u1 && ix->msgs[i].uid <= u2)
                    set_kw(ix, i, k, mod == 0);
        }
        return 0;
    }
    case MF_LOG_KEYWORD_RESET:
        for (; off + 8 <= n; off += 8) {
            uint32_t u1 = mf_load_u32le(b + off), u2 = mf_load_u32le(b + off + 4);
            for (size_t i = 0; i < ix->n && ix->kwwords > 0; i++)
                if (ix->msgs[i].uid >= u1 && ix->msgs[i].uid <= u2)
                    memset(ix->kwbits + i * ix->kwwords, 0, ix->kwwords * sizeof *ix->kwbits);
        }
        return 0;
    case MF_LOG_EXPUNGE:
        if (external)
            for (; off + 8 <= n; off += 8) {
                uint32_t u1 = mf_load_u32le(b + off), u2 = mf_load_u32le(b + off + 4);
                for (size_t i = ix->n; i > 0; i--)
                    if (ix->msgs[i - 1].uid >= u1 && ix->msgs[i - 1].uid <= u2)
                        remove_msg(ix, i - 1);
            }
        return 0;
    case MF_LOG_EXPUNGE_GUID:
        if (external)
            for (; off + 20 <= n; off += 20) {
                long i = mf_ix_find(ix, mf_load_u32le(b + off));
                if (i >= 0)
                    remove_msg(ix, (size_t)i);
            }
        return 0;
    case MF_LOG_INDEX_DELETED:
        ix->deleted = 1;
        return 0;
    case MF_LOG_INDEX_UNDELETED:
        ix->deleted = 0;
        return 0;
    case MF_LOG_MODSEQ_UPDATE:
    case MF_LOG_BOUNDARY:
    case MF_LOG_ATTRIBUTE_UPDATE:
        return 0;
    default:
        return CORRUPT("unknown transaction record type 0x%x", t);
    }
}

struct logfile {
    uint8_t *p;
    size_t len;
    uint32_t hdr_size, indexid, seq, prev_seq, prev_off;
    int present;
};

static int read_log(int dirfd, const char *name, int fd, struct logfile *lf, struct mf_error *err)
{
    int own = 0;
    memset(lf, 0, sizeof *lf);
    if (fd < 0) {
        fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return errno == ENOENT ? 0 : mf_err_sys(err, MF_EIO, errno, "%s", name);
        own = 1;
        if (mf_read_fd(fd, name, LOG_MAX, &lf->p, &lf->len, err) < 0) {
            close(fd);
            return -1;
        }
        close(fd);
    } else {
        struct stat st;
        if (fstat(fd, &st) < 0)
            return mf_err_sys(err, MF_EIO, errno, "%s", name);
        if ((uint64_t)st.st_size > LOG_MAX)
            return mf_err(err, MF_ECORRUPT, "%s is too large", name);
        lf->p = mf_malloc((size_t)st.st_size + 1);
        if (lf->p == NULL)
            return mf_err_nomem(err);
        lf->len = (size_t)st.st_size;
        if (mf_pread_all(fd, lf->p, lf->len, 0, name, err) < 0) {
            mf_free(lf->p);
            lf->p = NULL;
            return -1;
        }
    }
    (void)own;
    if (lf->len < 24 || lf->p[0] != 1)
        return mf_err(err, MF_ECORRUPT, "%s: unsupported log version or too short", name);
    lf->hdr_size = mf_load_u16le(lf->p + 2);
    lf->indexid = mf_load_u32le(lf->p + 4);
    lf->seq = mf_load_u32le(lf->p + 8);
    lf->prev_seq = mf_load_u32le(lf->p + 12);
    lf->prev_off = mf_load_u32le(lf->p + 16);
    if (lf->hdr_size < 24 || lf->hdr_size > lf->len || lf->indexid == 0 ||
        (lf->hdr_size > 32 && (lf->p[32] & 1) == 0))
        return mf_err(err, MF_ECORRUPT, "%s: bad or corrupted log header", name);
    lf->present = 1;
    return 0;
}

/* Replays records of lf from `start`. Returns the end of the last complete
 * record; tracks the tail offset (12.4 step 5) when `track` is set. */
static int replay(struct replay *rp, const struct logfile *lf, size_t start, int locked,
                  int track, uint64_t *end_r, uint64_t *tail, const char *name,
                  struct mf_error *err)
{
    size_t pos = start;
    while (pos + 8 <= lf->len) {
        uint32_t size = mf_log_size_decode(lf->p + pos), type;
        if (size < 12 || size % 4 != 0 || size > lf->len - pos) {
            if (locked)
                return mf_err(err, MF_ECORRUPT, "%s: unfinished record at offset %zu", name, pos);
            break;
        }
        type = mf_load_u32le(lf->p + pos + 4);
        if ((type & MF_LOG_TYPE_MASK) == MF_LOG_BOUNDARY && size >= 12) {
            uint32_t tsize = mf_load_u32le(lf->p + pos + 8);
            if (tsize > lf->len - pos) {
                if (locked)
                    return mf_err(err, MF_ECORRUPT, "%s: unfinished transaction at offset %zu",
                                  name, pos);
                break;
            }
        }
        if (track) {
            if ((type & MF_LOG_TYPE_MASK) == MF_LOG_HEADER_UPDATE && size >= 16 &&
                mf_load_u16le(lf->p + pos + 8) == 64)
                *tail = mf_load_u32le(lf->p + pos + 12);
            else if ((type & MF_LOG_EXTERNAL) && *tail == pos)
                *tail = pos + size;
        }
        if (apply(rp, type, lf->p + pos + 8, size - 8, err) < 0)
            return mf_err_ctx(err, "%s offset %zu", name, pos);
        pos += size;
    }
    *end_r = pos;
    return 0;
}

int mf_ix_load(int dirfd, const char *prefix, int logfd, int locked, struct mf_ix *ix,
               struct mf_error *err)
{
    char name[256], name2[256];
    struct logfile log, log2;
    struct replay rp;
    uint8_t *idx = NULL;
    size_t idxlen = 0;
    int fd, have_index = 0, r = -1;
    uint64_t end = 0, tail = 0;
    mf_ix_init(ix);
    memset(&rp, 0, sizeof rp);
    memset(&log, 0, sizeof log);
    memset(&log2, 0, sizeof log2);
    rp.ix = ix;
    fd = openat(dirfd, prefix, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        int k = mf_read_fd(fd, prefix, INDEX_MAX, &idx, &idxlen, err);
        close(fd);
        if (k < 0)
            return -1;
        if (load_main_index(idx, idxlen, ix, err) < 0)
            goto out;
        have_index = 1;
    } else if (errno != ENOENT) {
        return mf_err_sys(err, MF_EIO, errno, "%s", prefix);
    }
    snprintf(name, sizeof name, "%s.log", prefix);
    snprintf(name2, sizeof name2, "%s.log.2", prefix);
    if (read_log(dirfd, name, logfd, &log, err) < 0 || read_log(dirfd, name2, -1, &log2, err) < 0)
        goto out;
    if (!log.present) {
        r = 0;  /* no log: the index alone (or nothing) */
        goto out;
    }
    if (have_index && log.indexid != ix->indexid) {
        mf_err(err, MF_ECORRUPT, "%s: indexid differs from dovecot.index", name);
        goto out;
    }
    if (log2.present && log2.seq == log.seq)
        log2.present = 0;  /* the rotation race: the same file twice */
    if (have_index) {
        uint32_t seq = mf_load_u32le(ix->hdr + 60), head = mf_load_u32le(ix->hdr + 68);
        tail = mf_load_u32le(ix->hdr + 64);
        if (seq == log.seq) {
            if (head < log.hdr_size || head > log.len) {
                mf_err(err, MF_ECORRUPT, "%s: index points outside the log", name);
                goto out;
            }
            if (replay(&rp, &log, head, locked, 1, &end, &tail, name, err) < 0)
                goto out;
        } else if (log2.present && seq == log2.seq && log.prev_seq == log2.seq) {
            uint64_t e2;
            if (head < log2.hdr_size || head > log2.len ||
                replay(&rp, &log2, head, 0, 0, &e2, &tail, name2, err) < 0) {
                if (err->cls == MF_OK)
                    mf_err(err, MF_ECORRUPT, "%s: index points outside the log", name2);
                goto out;
            }
            tail = log.hdr_size;
            if (replay(&rp, &log, log.hdr_size, locked, 1, &end, &tail, name, err) < 0)
                goto out;
        } else {
            mf_err(err, MF_ECORRUPT, "%s: the log the index needs (seq %u) is gone", name, seq);
            goto out;
        }
    } else {
        tail = log.hdr_size;
        if (log.prev_seq != 0) {
            uint64_t e2;
            if (!log2.present || log2.prev_seq != 0 || log.prev_seq != log2.seq) {
                mf_err(err, MF_ECORRUPT, "%s: no index and the log is not a reset point", name);
                goto out;
            }
            if (replay(&rp, &log2, log2.hdr_size, 0, 0, &e2, &tail, name2, err) < 0)
                goto out;
            tail = log.hdr_size;
        }
        if (replay(&rp, &log, log.hdr_size, locked, 1, &end, &tail, name, err) < 0)
            goto out;
    }
    ix->indexid = log.indexid;
    ix->log_seq = log.seq;
    ix->log_end = end;
    ix->log_tail = tail;
    r = 0;
out:
    mf_free(idx);
    mf_free(log.p);
    mf_free(log2.p);
    if (r < 0)
        mf_ix_free(ix);
    return r;
}

int mf_ix_lock(int dirfd, const char *logname, int timeout_secs, struct mf_error *err)
{
    time_t deadline = time(NULL) + timeout_secs;
    for (;;) {
        struct flock fl;
        struct stat a, b;
        int fd = openat(dirfd, logname, O_RDWR | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return mf_err_sys(err, MF_EIO, errno, "open %s", logname);
        memset(&fl, 0, sizeof fl);
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        while (fcntl(fd, F_SETLK, &fl) < 0) {
            if (errno != EACCES && errno != EAGAIN && errno != EINTR) {
                int e = errno;
                close(fd);
                return mf_err_sys(err, MF_EIO, e, "lock %s", logname);
            }
            if (time(NULL) >= deadline) {
                close(fd);
                return mf_err(err, MF_ETARGET, "timed out waiting for Dovecot's lock on %s",
                              logname);
            }
            {
                struct timespec ts = {0, 20 * 1000 * 1000};
                nanosleep(&ts, NULL);
            }
        }
        /* the log may have been rotated between open and lock */
        if (fstat(fd, &a) == 0 && fstatat(dirfd, logname, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
            a.st_ino == b.st_ino && a.st_dev == b.st_dev)
            return fd;
        close(fd);
        if (time(NULL) >= deadline)
            return mf_err(err, MF_ETARGET, "%s keeps changing under the lock", logname);
    }
}

int mf_ix_append(int logfd, uint64_t expect_end, const void *p, size_t n, struct mf_error *err)
{
    struct stat st;
    ssize_t w;
    if (fstat(logfd, &st) < 0)
        return mf_err_sys(err, MF_EIO, errno, "stat log");
    if ((uint64_t)st.st_size != expect_end)
        return mf_err(err, MF_ECORRUPT, "the log does not end where its last record ends");
    w = write(logfd, p, n);
    if (w < 0 || (size_t)w != n) {
        int e = w < 0 ? errno : ENOSPC;
        if (ftruncate(logfd, (off_t)expect_end) < 0) {
            /* nothing more to do: Dovecot will see garbage and repair */
        }
        return mf_err_sys(err, MF_EIO, e, "append to log");
    }
    if (fdatasync(logfd) < 0)
        return mf_err_sys(err, MF_EIO, errno, "sync log");
    return 0;
}
