/* courier.h: Courier-IMAP's metadata: courierimapkeywords/ (the :list file
 * plus per-message update files), courierimapsubscribed and
 * courierpop3dsizelist. (courierimapuiddb is a version 1 uidlist, read by
 * maildir_uidlist.c.) Pure parsers over file contents. */
#ifndef MF_COURIER_H
#define MF_COURIER_H

#include <stddef.h>
#include <stdint.h>

#include "maildir_uidlist.h"

struct mf_courier_kwmsg {
    char *base;
    uint32_t *kw;     /* indexes into names */
    uint32_t nkw;
    long long seq;    /* which update it came from: -1 :list, N for .N.base, LLONG_MAX plain */
};

struct mf_courier_keywords {
    char **names;
    uint32_t nnames;
    struct mf_courier_kwmsg *msgs;
    size_t nmsgs;
    size_t cap;
};

void mf_courier_kw_init(struct mf_courier_keywords *k);
void mf_courier_kw_free(struct mf_courier_keywords *k);
/* The :list file: names, an empty line, then "<base>:<i> <j> ..." lines. */
int mf_courier_kw_list(struct mf_courier_keywords *k, const char *data, size_t len,
                       const char *file, mf_warn_fn warn, void *ctx);
/* One update file named `fname` (either "<base>" or ".<N>.<base>") whose
 * content lists keyword names one per line; an empty file clears them. */
int mf_courier_kw_update(struct mf_courier_keywords *k, const char *fname, const char *data,
                         size_t len);
/* Sorts the per-message entries (call once, after every update). */
void mf_courier_kw_finish(struct mf_courier_keywords *k);
/* Keywords of a base name after all updates, or NULL (after finish). */
const struct mf_courier_kwmsg *mf_courier_kw_find(const struct mf_courier_keywords *k,
                                                  const char *base, size_t n);

struct mf_courier_pop3 {
    char *base;
    char *uidl;
    uint32_t order;  /* line number, 1-based */
};

/* courierpop3dsizelist: optional "/<version> ..." header, then
 * "<file name> <size> [<uid>[:<uidvalidity>[:...]]]" lines. UIDL as Courier
 * shows it: UID<uid>-<uidv>, UID<uid>, or the escaped file name. */
int mf_courier_pop3_parse(const char *data, size_t len, const char *file, mf_warn_fn warn,
                          void *ctx, struct mf_courier_pop3 **out, size_t *n);
void mf_courier_pop3_free(struct mf_courier_pop3 *p, size_t n);

#endif
