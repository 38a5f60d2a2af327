/* mailbox_names.h: from an archived mailbox name (decoded components) to
 * the storage name in the target dbox: INBOX stays INBOX; a component that
 * holds the target's hierarchy separator, a '/', or is "." / ".." or
 * "dbox-Mails" is translated (the offending characters become '_', as
 * dsync's alt char does); components are encoded in modified UTF-7 unless
 * the target uses UTF-8 names. */
#ifndef MF_MAILBOX_NAMES_H
#define MF_MAILBOX_NAMES_H

#include "../format/buf.h"
#include "../format/error.h"
#include "../format/index_codec.h"

/* out receives the storage name (components joined by '/'); display the
 * name as the target's clients will see it (UTF-8, joined by sep). */
int mf_storage_name(const struct mf_rec_mailbox *m, char sep, int utf8, struct mf_buf *out,
                    struct mf_buf *display, int *translated, struct mf_error *err) MF_WUR;

/* A subscription list (spec: EXTRA role 4: UTF-8 names, levels TAB-joined,
 * one a line) as the lines of the target's `subscriptions` file (storage
 * names, levels TAB-joined), appended to out. */
int mf_subs_translate(const char *list, size_t len, char sep, int utf8, struct mf_buf *out,
                      struct mf_error *err) MF_WUR;

#endif
