/* index_log.h: records of Dovecot's transaction log
 * (dovecot.index.log, storage/dovecot.map.index.log), the only index file
 * mailferry writes. Layouts from Dovecot 2.3's mail-transaction-log.h; every
 * record is flagged EXTERNAL ("already done in the mail storage"). */
#ifndef MF_DVINDEX_INDEX_LOG_H
#define MF_DVINDEX_INDEX_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "../format/buf.h"

#define MF_LOG_HDR_SIZE 40
#define MF_LOG_EXTERNAL 0x10000000u
#define MF_LOG_APPEND 0x00000002u
#define MF_LOG_FLAG_UPDATE 0x00000004u
#define MF_LOG_HEADER_UPDATE 0x00000020u
#define MF_LOG_EXT_INTRO 0x00000040u
#define MF_LOG_EXT_RESET 0x00000080u
#define MF_LOG_EXT_HDR_UPDATE 0x00000100u
#define MF_LOG_EXT_REC_UPDATE 0x00000200u
#define MF_LOG_KEYWORD_UPDATE 0x00000400u
#define MF_LOG_KEYWORD_RESET 0x00000800u
#define MF_LOG_EXT_ATOMIC_INC 0x00001000u
#define MF_LOG_EXPUNGE 0x0000cd91u
#define MF_LOG_EXPUNGE_GUID 0x0000ed90u
#define MF_LOG_MODSEQ_UPDATE 0x00008000u
#define MF_LOG_INDEX_DELETED 0x00020000u
#define MF_LOG_INDEX_UNDELETED 0x00040000u
#define MF_LOG_BOUNDARY 0x00080000u
#define MF_LOG_ATTRIBUTE_UPDATE 0x00100000u
#define MF_LOG_TYPE_MASK 0x0fffffffu

/* Base index header offsets used by HEADER_UPDATE. */
#define MF_HDR_UID_VALIDITY 24
#define MF_HDR_NEXT_UID 28
#define MF_HDR_FIRST_RECENT_UID 48
#define MF_HDR_TAIL_OFFSET 64

/* Size field encoding: 4 bytes, 7 bits each of size/4, top bit set. */
void mf_log_size_encode(uint8_t out[4], uint32_t size);
/* Decodes; 0 when a byte lacks its top bit (unfinished record). */
uint32_t mf_log_size_decode(const uint8_t in[4]);

/* A log being built in memory. */
struct mf_log {
    struct mf_buf b;
    size_t rec_start;
};

void mf_log_init(struct mf_log *l);
void mf_log_free(struct mf_log *l);
/* The 40-byte file header. */
void mf_log_header(struct mf_log *l, uint32_t indexid, uint32_t file_seq, uint32_t create_stamp,
                   uint64_t initial_modseq);
/* Record framing: begin, add body bytes with the helpers, end (pads to 4).
 * A record left without body bytes is dropped by end: Dovecot takes an empty
 * record for a corrupted log. */
void mf_log_begin(struct mf_log *l, uint32_t type);
void mf_log_end(struct mf_log *l);
/* Common records. */
void mf_log_hdr_u32(struct mf_log *l, uint16_t offset, uint32_t value);
void mf_log_ext_intro(struct mf_log *l, const char *name, uint32_t reset_id, uint32_t hdr_size,
                      uint16_t rec_size, uint16_t rec_align);
void mf_log_ext_hdr(struct mf_log *l, uint16_t offset, const void *data, uint16_t size);
/* The closing HEADER_UPDATE of log_file_tail_offset = size after it. */
void mf_log_tail(struct mf_log *l);
/* The records built in l (no file header) as one transaction to append to
 * a log: with a BOUNDARY first when there are two or more (as Dovecot
 * writes them, so that readers wait for the whole). Returns the number of
 * records, or -1 when out of memory. */
int mf_log_transaction(const struct mf_log *l, struct mf_buf *out);

#endif
