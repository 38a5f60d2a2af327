/* mutf7.h: IMAP modified UTF-7 (RFC 3501 5.1.3), the on-disk encoding of
 * Dovecot mailbox names, to and from UTF-8. A naming utility shared by pack/
 * and unpack/; it knows nothing of either store. */
#ifndef MF_MUTF7_H
#define MF_MUTF7_H

#include <stddef.h>

#include "buf.h"

/* Decodes mUTF-7 into out (UTF-8). -1 if the input is not valid mUTF-7
 * (bad base64, unterminated shift, a shift encoding only ASCII, or a
 * surrogate error). */
int mf_mutf7_decode(const char *in, size_t n, struct mf_buf *out);
/* Encodes UTF-8 (must be valid) into mUTF-7. */
int mf_mutf7_encode(const char *in, size_t n, struct mf_buf *out);

#endif
