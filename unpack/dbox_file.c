/* dbox_file.c: dbox file, message header and metadata encoders. */
#include "dbox_file.h"

#include <inttypes.h>
#include <stdio.h>

void mf_dbox_file_header(struct mf_buf *b, int64_t created)
{
    mf_buf_printf(b, "2 M1e C%" PRIx64 "\n", (uint64_t)(created < 0 ? 0 : created));
}

void mf_dbox_msg_header(struct mf_buf *b, uint64_t size)
{
    static const uint8_t magic[4] = {0x01, 0x02, 'N', ' '};
    mf_buf_append(b, magic, 4);
    mf_buf_puts(b, "        ");
    mf_buf_printf(b, " %016" PRIX64 "\n", size);
}

void mf_dbox_metadata(struct mf_buf *b, const struct mf_dbox_meta *m)
{
    static const uint8_t magic[4] = {0x0a, 0x01, 0x03, 0x0a};
    mf_buf_append(b, magic, 4);
    mf_buf_printf(b, "R%" PRIx64 "\n", (uint64_t)(m->received < 0 ? 0 : m->received));
    mf_buf_printf(b, "V%" PRIx64 "\n", m->vsize);
    if (m->uidl != NULL && m->uidl_len > 0) {
        mf_buf_u8(b, 'P');
        mf_buf_append(b, m->uidl, m->uidl_len);
        mf_buf_u8(b, '\n');
    }
    if (m->pop3_order > 0)
        mf_buf_printf(b, "O%u\n", m->pop3_order);
    mf_buf_u8(b, 'G');
    mf_buf_append(b, m->guid, m->guid_len);
    mf_buf_u8(b, '\n');
    if (m->mailbox != NULL) {
        mf_buf_u8(b, 'B');
        mf_buf_append(b, m->mailbox, m->mailbox_len);
        mf_buf_u8(b, '\n');
    }
    mf_buf_u8(b, '\n');
}
