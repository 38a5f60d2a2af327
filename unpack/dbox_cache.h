/* dbox_cache.h: a minimal dovecot.index.cache holding one field, date.save,
 * for every message of an sdbox mailbox. sdbox keeps the save date nowhere
 * else (it would fall back to the file's ctime, which cannot be set), so this
 * is how a migrated save date survives. Layout: Dovecot 2.3
 * lib-index/mail-cache-private.h. */
#ifndef MF_DBOX_CACHE_H
#define MF_DBOX_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "../format/buf.h"
#include "../dvindex/index_log.h"

/* Builds the cache file for n messages with the given save dates; the
 * record for message i is at mf_dbox_cache_offset(i). */
void mf_dbox_cache_build(struct mf_buf *b, uint32_t indexid, uint32_t file_seq, uint32_t now,
                         const uint32_t *save_dates, size_t n);
uint32_t mf_dbox_cache_offset(size_t i);
/* The log records that attach the cache to the index: EXT_INTRO "cache"
 * (record 4/4, reset_id = file_seq) and EXT_REC_UPDATE uid -> offset. */
void mf_dbox_cache_log(struct mf_log *l, uint32_t file_seq, const uint32_t *uids, size_t n);

#endif
