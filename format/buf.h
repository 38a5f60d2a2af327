/* buf.h: growable byte buffers for encoders, and bounded cursors for
 * decoders of untrusted bytes. Integers on disk are little-endian; counts and
 * lengths in the index are LEB128 varints (spec/FORMAT.md, "Encodings"). */
#ifndef MF_BUF_H
#define MF_BUF_H

#include <stddef.h>
#include <stdint.h>

struct mf_buf {
    uint8_t *p;
    size_t len;
    size_t cap;
    int oom;  /* sticky: set when a growth failed; every later append is a no-op */
};

void mf_buf_init(struct mf_buf *b);
void mf_buf_free(struct mf_buf *b);
void mf_buf_reset(struct mf_buf *b);
/* Ensures room for `extra` more bytes; -1 (and oom set) on failure. */
int mf_buf_reserve(struct mf_buf *b, size_t extra);
int mf_buf_append(struct mf_buf *b, const void *d, size_t n);
int mf_buf_puts(struct mf_buf *b, const char *s);
int mf_buf_printf(struct mf_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mf_buf_u8(struct mf_buf *b, uint8_t v);
void mf_buf_u16le(struct mf_buf *b, uint16_t v);
void mf_buf_u32le(struct mf_buf *b, uint32_t v);
void mf_buf_u64le(struct mf_buf *b, uint64_t v);
void mf_buf_uv(struct mf_buf *b, uint64_t v);       /* unsigned LEB128 */
void mf_buf_sv(struct mf_buf *b, int64_t v);        /* zigzag + LEB128 */
void mf_buf_str(struct mf_buf *b, const void *s, size_t n); /* uv length + bytes */
void mf_buf_cstr(struct mf_buf *b, const char *s);
/* Takes the bytes out; the buffer is left empty. Caller frees with mf_free. */
uint8_t *mf_buf_steal(struct mf_buf *b, size_t *len_r);

/* A read cursor. Every getter checks bounds; on any failure `bad` is set and
 * the getters return zero values from then on, so a decoder checks once. */
struct mf_cur {
    const uint8_t *p;
    size_t len;
    size_t off;
    int bad;
};

void mf_cur_init(struct mf_cur *c, const void *p, size_t len);
static inline size_t mf_cur_left(const struct mf_cur *c) { return c->bad ? 0 : c->len - c->off; }
uint8_t mf_cur_u8(struct mf_cur *c);
uint32_t mf_cur_u32le(struct mf_cur *c);
uint64_t mf_cur_uv(struct mf_cur *c);
/* uv with an upper bound: values above `max` set bad. */
uint64_t mf_cur_uvmax(struct mf_cur *c, uint64_t max);
int64_t mf_cur_sv(struct mf_cur *c);
/* Borrows n bytes; NULL (and bad) if fewer remain. */
const uint8_t *mf_cur_bytes(struct mf_cur *c, size_t n);
/* A length-prefixed string of at most `max` bytes; borrowed pointer. */
const uint8_t *mf_cur_str(struct mf_cur *c, size_t max, size_t *len_r);

void mf_store_u16le(uint8_t *p, uint16_t v);
void mf_store_u32le(uint8_t *p, uint32_t v);
void mf_store_u64le(uint8_t *p, uint64_t v);
uint16_t mf_load_u16le(const uint8_t *p);
uint32_t mf_load_u32le(const uint8_t *p);
uint64_t mf_load_u64le(const uint8_t *p);

#endif
