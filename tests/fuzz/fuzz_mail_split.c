/* fuzz_mail_split.c: feeds the input, as one message, to the MIME splitter
 * mf_split_message (pack/mail_split.c) and checks its promise: the segments
 * cover the message exactly, in order, none empty (except for an empty
 * message) and none over MF_BLOB_MAX; and mf_header_end stays inside. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "../../pack/mail_split.h"

static int one_input(const uint8_t *data, size_t size)
{
    struct mf_segments segs;
    size_t at = 0;
    memset(&segs, 0, sizeof segs);
    if (mf_header_end(data, size) > size)
        abort();
    if (mf_split_message(data, size, &segs) < 0) {
        mf_segments_free(&segs);
        return 0;
    }
    for (size_t i = 0; i < segs.n; i++) {
        if (segs.v[i].off != at || segs.v[i].len > MF_BLOB_MAX || (segs.v[i].len == 0 && size > 0))
            abort();
        at += segs.v[i].len;
    }
    if (at != size)
        abort();
    mf_segments_free(&segs);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_guard g;
    int r = one_input(fz_guard_copy(&g, data, size), size);
    fz_guard_free(&g);
    return r;
}
