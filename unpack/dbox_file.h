/* dbox_file.h: the dbox mail file format shared by sdbox (u.N, one message)
 * and mdbox (m.N, many messages):
 *   file header line  "2 M1e C<create time hex>\n"
 *   per message:      30-byte header: 01 02 'N' ' ' <8 spaces> ' ' <16 hex size> '\n',
 *                     the message bytes unchanged,
 *                     metadata: 0A 01 03 0A, then "<key><value>\n" lines
 *                     (R received hex, V virtual size hex, P POP3 UIDL,
 *                     O POP3 order decimal, G GUID, B mailbox for mdbox),
 *                     and an empty line. */
#ifndef MF_DBOX_FILE_H
#define MF_DBOX_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "../format/buf.h"

#define MF_DBOX_MSG_HDR 30

struct mf_dbox_meta {
    int64_t received;
    uint64_t vsize;
    const char *uidl;     /* NULL or "" = none */
    size_t uidl_len;
    uint32_t pop3_order;  /* 0 = none */
    const char *guid;
    size_t guid_len;
    const char *mailbox;  /* mdbox: storage name of the mailbox; NULL for sdbox */
    size_t mailbox_len;
};

/* "2 M1e C<hex>\n" */
void mf_dbox_file_header(struct mf_buf *b, int64_t created);
void mf_dbox_msg_header(struct mf_buf *b, uint64_t size);
void mf_dbox_metadata(struct mf_buf *b, const struct mf_dbox_meta *m);

#endif
