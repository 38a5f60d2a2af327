/* dbox_cache.c: the one-field date.save cache for sdbox.
 *
 * Header (32 bytes): u8 major 1, u8 sizeof(uoff_t) 8, u8 minor 1, u8 0,
 *   u32 indexid, u32 file_seq, u32 continued_record_count 0, u32 record_count,
 *   u32 used_file_size, u32 deleted_record_count 0, u32 field_header_offset
 *   (log size encoding) = 32.
 * Field header at 32: u32 next_offset 0, u32 size 32, u32 fields_count 1,
 *   u32 last_used, u32 field size 4, u8 type FIXED (0), u8 decision YES (2),
 *   "date.save\0".
 * Records from 64, 16 bytes each: u32 prev_offset 0, u32 size 16,
 *   u32 field index 0, u32 save date. */
#include "dbox_cache.h"

#include <string.h>

#define FIELDS_OFF 32
#define RECORDS_OFF 64
#define REC_SIZE 16

uint32_t mf_dbox_cache_offset(size_t i)
{
    return (uint32_t)(RECORDS_OFF + REC_SIZE * i);
}

void mf_dbox_cache_build(struct mf_buf *b, uint32_t indexid, uint32_t file_seq, uint32_t now,
                         const uint32_t *save_dates, size_t n)
{
    uint8_t enc[4];
    mf_buf_u8(b, 1);
    mf_buf_u8(b, 8);
    mf_buf_u8(b, 1);
    mf_buf_u8(b, 0);
    mf_buf_u32le(b, indexid);
    mf_buf_u32le(b, file_seq);
    mf_buf_u32le(b, 0);
    mf_buf_u32le(b, (uint32_t)n);
    mf_buf_u32le(b, (uint32_t)(RECORDS_OFF + REC_SIZE * n));
    mf_buf_u32le(b, 0);
    mf_log_size_encode(enc, FIELDS_OFF);
    mf_buf_append(b, enc, 4);
    mf_buf_u32le(b, 0);
    mf_buf_u32le(b, 32);
    mf_buf_u32le(b, 1);
    mf_buf_u32le(b, now);
    mf_buf_u32le(b, 4);
    mf_buf_u8(b, 0);
    mf_buf_u8(b, 2);
    mf_buf_append(b, "date.save", 10);
    for (size_t i = 0; i < n; i++) {
        mf_buf_u32le(b, 0);
        mf_buf_u32le(b, REC_SIZE);
        mf_buf_u32le(b, 0);
        mf_buf_u32le(b, save_dates[i]);
    }
}

void mf_dbox_cache_log(struct mf_log *l, uint32_t file_seq, const uint32_t *uids, size_t n)
{
    mf_log_ext_intro(l, "cache", file_seq, 0, 4, 4);
    if (n == 0)
        return;
    mf_log_begin(l, MF_LOG_EXT_REC_UPDATE);
    for (size_t i = 0; i < n; i++) {
        mf_buf_u32le(&l->b, uids[i]);
        mf_buf_u32le(&l->b, mf_dbox_cache_offset(i));
    }
    mf_log_end(l);
}
