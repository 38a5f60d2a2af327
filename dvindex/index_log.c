/* index_log.c: building dovecot.index.log records.
 *
 * Log header (40 bytes): u8 major 1, u8 minor 3, u16 hdr_size 40, u32 indexid,
 * u32 file_seq, u32 prev_file_seq, u32 prev_file_offset, u32 create_stamp,
 * u64 initial_modseq, u8 compat_flags (1 = little-endian), 3 unused, u32 unused.
 * Record: u32 encoded size (header + body), u32 type | EXTERNAL, body padded
 * to 4 bytes. */
#include "index_log.h"

#include <string.h>

void mf_log_size_encode(uint8_t out[4], uint32_t size)
{
    uint32_t n = size / 4;
    out[0] = (uint8_t)(0x80 | ((n >> 21) & 0x7f));
    out[1] = (uint8_t)(0x80 | ((n >> 14) & 0x7f));
    out[2] = (uint8_t)(0x80 | ((n >> 7) & 0x7f));
    out[3] = (uint8_t)(0x80 | (n & 0x7f));
}

uint32_t mf_log_size_decode(const uint8_t in[4])
{
    uint32_t n = 0;
    for (int i = 0; i < 4; i++) {
        if ((in[i] & 0x80) == 0)
            return 0;
        n = (n << 7) | (in[i] & 0x7f);
    }
    return n * 4;
}

void mf_log_init(struct mf_log *l)
{
    mf_buf_init(&l->b);
    l->rec_start = 0;
}

void mf_log_free(struct mf_log *l)
{
    mf_buf_free(&l->b);
}

void mf_log_header(struct mf_log *l, uint32_t indexid, uint32_t file_seq, uint32_t create_stamp,
                   uint64_t initial_modseq)
{
    mf_buf_u8(&l->b, 1);
    mf_buf_u8(&l->b, 3);
    mf_buf_u16le(&l->b, MF_LOG_HDR_SIZE);
    mf_buf_u32le(&l->b, indexid);
    mf_buf_u32le(&l->b, file_seq);
    mf_buf_u32le(&l->b, 0);
    mf_buf_u32le(&l->b, 0);
    mf_buf_u32le(&l->b, create_stamp);
    mf_buf_u64le(&l->b, initial_modseq);
    mf_buf_u8(&l->b, 1);
    mf_buf_u8(&l->b, 0);
    mf_buf_u8(&l->b, 0);
    mf_buf_u8(&l->b, 0);
    mf_buf_u32le(&l->b, 0);
}

void mf_log_begin(struct mf_log *l, uint32_t type)
{
    l->rec_start = l->b.len;
    mf_buf_u32le(&l->b, 0);  /* size, filled by end */
    mf_buf_u32le(&l->b, type | MF_LOG_EXTERNAL);
}

void mf_log_end(struct mf_log *l)
{
    if (!l->b.oom && l->b.len == l->rec_start + 8) {
        /* nothing in it: no record at all (Dovecot calls a log with an
         * empty record corrupted) */
        l->b.len = l->rec_start;
        return;
    }
    while ((l->b.len - l->rec_start) % 4 != 0)
        mf_buf_u8(&l->b, 0);
    if (!l->b.oom)
        mf_log_size_encode(l->b.p + l->rec_start, (uint32_t)(l->b.len - l->rec_start));
}

void mf_log_hdr_u32(struct mf_log *l, uint16_t offset, uint32_t value)
{
    mf_log_begin(l, MF_LOG_HEADER_UPDATE);
    mf_buf_u16le(&l->b, offset);
    mf_buf_u16le(&l->b, 4);
    mf_buf_u32le(&l->b, value);
    mf_log_end(l);
}

void mf_log_ext_intro(struct mf_log *l, const char *name, uint32_t reset_id, uint32_t hdr_size,
                      uint16_t rec_size, uint16_t rec_align)
{
    size_t n = strlen(name);
    mf_log_begin(l, MF_LOG_EXT_INTRO);
    mf_buf_u32le(&l->b, 0xffffffffu);
    mf_buf_u32le(&l->b, reset_id);
    mf_buf_u32le(&l->b, hdr_size);
    mf_buf_u16le(&l->b, rec_size);
    mf_buf_u16le(&l->b, rec_align);
    mf_buf_u16le(&l->b, 0);
    mf_buf_u16le(&l->b, (uint16_t)n);
    mf_buf_append(&l->b, name, n);
    mf_log_end(l);
}

void mf_log_ext_hdr(struct mf_log *l, uint16_t offset, const void *data, uint16_t size)
{
    mf_log_begin(l, MF_LOG_EXT_HDR_UPDATE);
    mf_buf_u16le(&l->b, offset);
    mf_buf_u16le(&l->b, size);
    mf_buf_append(&l->b, data, size);
    mf_log_end(l);
}

void mf_log_tail(struct mf_log *l)
{
    mf_log_hdr_u32(l, MF_HDR_TAIL_OFFSET, (uint32_t)(l->b.len + 16));
}

int mf_log_transaction(const struct mf_log *l, struct mf_buf *out)
{
    size_t off = 0;
    int n = 0;
    if (l->b.oom)
        return -1;
    while (off + 8 <= l->b.len) {
        uint32_t size = mf_log_size_decode(l->b.p + off);
        if (size < 8 || off + size > l->b.len)
            return -1;
        off += size;
        n++;
    }
    mf_buf_reset(out);
    if (n >= 2) {
        uint8_t enc[4];
        mf_log_size_encode(enc, 12);
        mf_buf_append(out, enc, 4);
        mf_buf_u32le(out, MF_LOG_BOUNDARY | MF_LOG_EXTERNAL);
        mf_buf_u32le(out, (uint32_t)(l->b.len + 12));
    }
    mf_buf_append(out, l->b.p, l->b.len);
    return out->oom ? -1 : n;
}
