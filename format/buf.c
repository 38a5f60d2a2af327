/* buf.c: growable buffers, bounded cursors, varints and little-endian helpers. */
#include "buf.h"
#include "mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void mf_buf_init(struct mf_buf *b)
{
    memset(b, 0, sizeof *b);
}

void mf_buf_free(struct mf_buf *b)
{
    mf_free(b->p);
    memset(b, 0, sizeof *b);
}

void mf_buf_reset(struct mf_buf *b)
{
    b->len = 0;
    b->oom = 0;
}

int mf_buf_reserve(struct mf_buf *b, size_t extra)
{
    size_t need, cap;
    uint8_t *np;
    if (b->oom)
        return -1;
    if (mf_add_size(b->len, extra, &need) < 0) {
        b->oom = 1;
        return -1;
    }
    if (need <= b->cap)
        return 0;
    cap = b->cap < 64 ? 64 : b->cap;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    np = mf_realloc(b->p, cap);
    if (np == NULL) {
        b->oom = 1;
        return -1;
    }
    b->p = np;
    b->cap = cap;
    return 0;
}

int mf_buf_append(struct mf_buf *b, const void *d, size_t n)
{
    if (n == 0)
        return b->oom ? -1 : 0;
    if (mf_buf_reserve(b, n) < 0)
        return -1;
    memcpy(b->p + b->len, d, n);
    b->len += n;
    return 0;
}

int mf_buf_puts(struct mf_buf *b, const char *s)
{
    return mf_buf_append(b, s, strlen(s));
}

int mf_buf_printf(struct mf_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || mf_buf_reserve(b, (size_t)n + 1) < 0) {
        b->oom = 1;
        return -1;
    }
    va_start(ap, fmt);
    vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void mf_buf_u8(struct mf_buf *b, uint8_t v)
{
    mf_buf_append(b, &v, 1);
}

void mf_buf_u16le(struct mf_buf *b, uint16_t v)
{
    uint8_t t[2];
    mf_store_u16le(t, v);
    mf_buf_append(b, t, 2);
}

void mf_buf_u32le(struct mf_buf *b, uint32_t v)
{
    uint8_t t[4];
    mf_store_u32le(t, v);
    mf_buf_append(b, t, 4);
}

void mf_buf_u64le(struct mf_buf *b, uint64_t v)
{
    uint8_t t[8];
    mf_store_u64le(t, v);
    mf_buf_append(b, t, 8);
}

void mf_buf_uv(struct mf_buf *b, uint64_t v)
{
    uint8_t t[10];
    size_t n = 0;
    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        if (v != 0)
            byte |= 0x80;
        t[n++] = byte;
    } while (v != 0);
    mf_buf_append(b, t, n);
}

void mf_buf_sv(struct mf_buf *b, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    mf_buf_uv(b, z);
}

void mf_buf_str(struct mf_buf *b, const void *s, size_t n)
{
    mf_buf_uv(b, n);
    mf_buf_append(b, s, n);
}

void mf_buf_cstr(struct mf_buf *b, const char *s)
{
    mf_buf_str(b, s, s == NULL ? 0 : strlen(s));
}

uint8_t *mf_buf_steal(struct mf_buf *b, size_t *len_r)
{
    uint8_t *p = b->p;
    *len_r = b->len;
    memset(b, 0, sizeof *b);
    return p;
}

void mf_cur_init(struct mf_cur *c, const void *p, size_t len)
{
    c->p = p;
    c->len = len;
    c->off = 0;
    c->bad = 0;
}

const uint8_t *mf_cur_bytes(struct mf_cur *c, size_t n)
{
    const uint8_t *r;
    if (c->bad || c->len - c->off < n) {
        c->bad = 1;
        return NULL;
    }
    r = c->p + c->off;
    c->off += n;
    return r;
}

uint8_t mf_cur_u8(struct mf_cur *c)
{
    const uint8_t *p = mf_cur_bytes(c, 1);
    return p == NULL ? 0 : p[0];
}

uint32_t mf_cur_u32le(struct mf_cur *c)
{
    const uint8_t *p = mf_cur_bytes(c, 4);
    return p == NULL ? 0 : mf_load_u32le(p);
}

uint64_t mf_cur_uv(struct mf_cur *c)
{
    uint64_t v = 0;
    unsigned shift = 0;
    for (int i = 0; i < 10; i++) {
        const uint8_t *p = mf_cur_bytes(c, 1);
        uint64_t part;
        if (p == NULL)
            return 0;
        part = p[0] & 0x7f;
        if (i == 9 && part > 1) {
            c->bad = 1;
            return 0;
        }
        v |= part << shift;
        if ((p[0] & 0x80) == 0)
            return v;
        shift += 7;
    }
    c->bad = 1;
    return 0;
}

uint64_t mf_cur_uvmax(struct mf_cur *c, uint64_t max)
{
    uint64_t v = mf_cur_uv(c);
    if (v > max) {
        c->bad = 1;
        return 0;
    }
    return v;
}

int64_t mf_cur_sv(struct mf_cur *c)
{
    uint64_t z = mf_cur_uv(c);
    return (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
}

const uint8_t *mf_cur_str(struct mf_cur *c, size_t max, size_t *len_r)
{
    uint64_t n = mf_cur_uvmax(c, max);
    const uint8_t *p;
    *len_r = 0;
    if (c->bad)
        return NULL;
    p = mf_cur_bytes(c, (size_t)n);
    if (p != NULL)
        *len_r = (size_t)n;
    return p;
}

void mf_store_u16le(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

void mf_store_u32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void mf_store_u64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint16_t mf_load_u16le(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

uint32_t mf_load_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

uint64_t mf_load_u64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}
