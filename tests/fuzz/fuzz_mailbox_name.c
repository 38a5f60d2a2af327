/* fuzz_mailbox_name.c: on-disk mailbox name components, as directory names
 * of a Maildir++ or LAYOUT=fs store give them: the input goes to
 * mf_decode_component (pack/maildir_folders.c: UTF-8, ASCII or modified
 * UTF-7) and to mf_mutf7_decode (format/mutf7.c). A name decoded from
 * mUTF-7 must encode again (mf_mutf7_encode) to text that decodes to the same
 * name; whatever comes out is printable UTF-8. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "../../format/index_codec.h"
#include "../../format/mutf7.h"
#include "../../pack/maildir_folders.h"

static int one_input(const uint8_t *data, size_t size)
{
    char *name = NULL;
    unsigned char enc = 0xff;
    struct mf_buf a, b, c;
    mf_buf_init(&a);
    mf_buf_init(&b);
    mf_buf_init(&c);
    if (mf_decode_component((const char *)data, size, &name, &enc) == 0) {
        if (name == NULL || !mf_utf8_printable(name, strlen(name)) || enc > MF_NAME_UTF8)
            abort();
        if (enc == MF_NAME_MUTF7) {
            if (mf_mutf7_encode(name, strlen(name), &a) < 0 ||
                mf_mutf7_decode((const char *)a.p, a.len, &b) < 0 || b.len != strlen(name) ||
                memcmp(b.p, name, b.len) != 0)
                abort();  /* decode and encode agree */
        }
    }
    free(name);
    (void)mf_mutf7_decode((const char *)data, size, &c);
    mf_buf_free(&a);
    mf_buf_free(&b);
    mf_buf_free(&c);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_guard g;
    int r = one_input(fz_guard_copy(&g, data, size), size);
    fz_guard_free(&g);
    return r;
}
