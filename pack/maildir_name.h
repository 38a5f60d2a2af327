/* maildir_name.h: the Maildir file name grammar
 *   <base>[,<key>=<value>]*[:2,<flags>]
 * as Dovecot and Courier write it: the base name (everything before ':'),
 * ,S= and ,W= sizes, system flag letters, keyword letters a-z, and the
 * order in which Dovecot hands out UIDs to files it has not seen. */
#ifndef MF_MAILDIR_NAME_H
#define MF_MAILDIR_NAME_H

#include <stddef.h>
#include <stdint.h>

struct mf_maildir_name {
    size_t base_len;      /* bytes of the base name (up to ':' or the end) */
    int has_info;         /* ":2," present */
    uint8_t flags;        /* MF_FLAG_* from D F R S T */
    uint32_t kw_letters;  /* bit i = letter 'a' + i */
    char other[64];       /* other info letters (e.g. "P"), NUL-terminated */
    int64_t size_s;       /* ,S= value or -1 */
    int64_t size_w;       /* ,W= value or -1 */
};

/* Parses a file name; never fails (unknown parts are simply not set). */
void mf_maildir_name_parse(const char *name, size_t len, struct mf_maildir_name *out);
/* Compares two names as Dovecot orders files that have no UID yet
 * (maildir_filename_sort_cmp): seconds, then M microseconds, then bytes. */
int mf_maildir_name_cmp(const char *a, const char *b);
/* Base-name equality (up to ':' or the end). */
int mf_maildir_base_eq(const char *a, size_t alen, const char *b, size_t blen);

#endif
