/* pop3_uidl.h: POP3 UIDLs computed the way Dovecot's pop3_uidl_format does
 * for messages that have no stored UIDL: %u UID, %v UIDVALIDITY, %f the
 * Maildir base file name, %g the GUID; %08Xu style width, zero padding and
 * X (lowercase hex, as Dovecot prints it) modifiers. */
#ifndef MF_POP3_UIDL_H
#define MF_POP3_UIDL_H

#include <stddef.h>
#include <stdint.h>

#include "../format/buf.h"

/* Checks a format: only %u %v %f %g %% with optional 0, width and X. */
int mf_pop3_format_valid(const char *fmt, const char **why);
int mf_pop3_uidl(const char *fmt, uint32_t uid, uint32_t uidvalidity, const char *base,
                 size_t base_len, const char *guid, struct mf_buf *out);

#endif
