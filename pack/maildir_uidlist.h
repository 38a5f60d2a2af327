/* maildir_uidlist.h: Dovecot's dovecot-uidlist, versions 1 and 3, and
 * Courier's courierimapuiddb (which is a version 1 uidlist). Parsing follows
 * Dovecot's reader: at the first broken line the records read so far are
 * kept and the rest is ignored, with a warning naming the file and line. */
#ifndef MF_MAILDIR_UIDLIST_H
#define MF_MAILDIR_UIDLIST_H

#include <stddef.h>
#include <stdint.h>

#include "../format/error.h"
#include "../format/limits.h"

struct mf_uidlist_rec {
    uint32_t uid;
    char *base;          /* base file name (up to ':') */
    char *guid;          /* G value, or NULL */
    char *pop3_uidl;     /* P value (may be ""), or NULL when absent */
    uint32_t pop3_order; /* O value, or 0 */
    int64_t size_s, size_w;  /* S and W values, or -1 */
};

struct mf_uidlist {
    int version;         /* 1 or 3; 0 when absent */
    uint32_t uidvalidity;
    uint32_t next_uid;   /* max(N, last uid + 1) */
    int have_guid;
    uint8_t guid[MF_GUID_BYTES];
    size_t n;
    struct mf_uidlist_rec *recs;  /* ascending uid */
    size_t *by_base;              /* record indexes sorted by base name (built on demand) */
};

/* Called for each problem found: file, line (1-based) and a message. */
typedef void (*mf_warn_fn)(void *ctx, const char *file, size_t line, const char *msg);

/* Parses the bytes of a uidlist. Never fails on bad content (warns instead);
 * -1 only on out-of-memory. `courier` selects courierimapuiddb rules. */
int mf_uidlist_parse(const char *data, size_t len, const char *file, mf_warn_fn warn, void *ctx,
                     struct mf_uidlist *out);
void mf_uidlist_free(struct mf_uidlist *u);
/* Record of a base name, or NULL. Uses a lazily built index. */
const struct mf_uidlist_rec *mf_uidlist_find(struct mf_uidlist *u, const char *base, size_t n);

#endif
