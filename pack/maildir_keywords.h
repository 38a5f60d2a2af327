/* maildir_keywords.h: Dovecot's dovecot-keywords file ("<index> <name>"
 * lines, index 0..25 = file name letters a..z). */
#ifndef MF_MAILDIR_KEYWORDS_H
#define MF_MAILDIR_KEYWORDS_H

#include <stddef.h>

#include "maildir_uidlist.h"

#define MF_MAILDIR_LETTERS 26

struct mf_maildir_keywords {
    char *name[MF_MAILDIR_LETTERS];  /* NULL where the letter is not defined */
};

/* Never fails on bad content (warns); -1 only on out-of-memory. */
int mf_keywords_parse(const char *data, size_t len, const char *file, mf_warn_fn warn, void *ctx,
                      struct mf_maildir_keywords *out);
void mf_keywords_free(struct mf_maildir_keywords *k);
/* A keyword name as IMAP allows it: an atom without "(){ %*"\]" and controls. */
int mf_keyword_valid(const char *s, size_t n);

#endif
