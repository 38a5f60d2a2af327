/* subscriptions.h: the `subscriptions` file Dovecot keeps in the mail root
 * (version 1: one name per line with the storage separator; version 2:
 * "V\t2\n\n" then TAB-joined, escaped name components) and Courier's
 * courierimapsubscribed ("INBOX.Work.Sub" per line). Names come out split
 * into components, still in their on-disk encoding. */
#ifndef MF_SUBSCRIPTIONS_H
#define MF_SUBSCRIPTIONS_H

#include <stddef.h>

struct mf_sub_name {
    char **comp;
    size_t ncomp;
};

struct mf_subs {
    struct mf_sub_name *names;
    size_t n;
};

/* sep: the storage separator for version 1 files ('.' Maildir++, '/' fs). */
int mf_subs_parse_dovecot(const char *data, size_t len, char sep, struct mf_subs *out);
int mf_subs_parse_courier(const char *data, size_t len, struct mf_subs *out);
void mf_subs_free(struct mf_subs *s);

#endif
