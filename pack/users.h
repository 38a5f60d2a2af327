/* users.h: the list of users to pack: USER=MAILDIR arguments, a --users
 * file of "user<TAB>maildir" lines, or discovery of a virtual-hosting tree
 * from a --layout template such as "/var/vmail/%d/%n/Maildir". */
#ifndef MF_USERS_H
#define MF_USERS_H

#include <stddef.h>

#include "../format/error.h"

struct mf_user_src {
    char *name;
    char *maildir;
};

struct mf_user_list {
    struct mf_user_src *v;
    size_t n, cap;
};

int mf_users_add(struct mf_user_list *l, const char *name, const char *maildir,
                 struct mf_error *err) MF_WUR;
/* "user=path" */
int mf_users_add_arg(struct mf_user_list *l, const char *arg, struct mf_error *err) MF_WUR;
int mf_users_load_file(struct mf_user_list *l, const char *path, struct mf_error *err) MF_WUR;
int mf_users_discover(struct mf_user_list *l, const char *tmpl, struct mf_error *err) MF_WUR;
/* Sorts by name and refuses duplicates and invalid names. */
int mf_users_finish(struct mf_user_list *l, struct mf_error *err) MF_WUR;
/* Keeps the users of shard i (1..n): those whose keyed BLAKE2b-256 of the
 * name (key "mailferry/1/shard"), first 8 bytes read little-endian, is
 * i - 1 modulo n. Stable: a user's shard depends only on its name and n. */
int mf_users_shard(struct mf_user_list *l, unsigned i, unsigned n, struct mf_error *err) MF_WUR;
/* The shard (1..n) of a user name. */
unsigned mf_user_shard_of(const char *name, unsigned n);
void mf_users_free(struct mf_user_list *l);

#endif
