/* fuzz_frame.c: zstd frames with the archive's limits (format/frame.c). The
 * input is one frame as a pack holds it: mf_frame_decompress_alloc must
 * refuse anything but exactly one frame that declares a content size of at
 * most MF_FRAME_RAW_MAX with a window within that of an index segment
 * (2^24), and mf_frame_decompress, which allows a pack frame's 2^22, must
 * fill exactly the size asked for or refuse the window. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "../../format/frame.h"
#include "../../format/limits.h"
#include "../../format/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct ZSTD_DCtx_s *d;
    struct mf_error err;
    uint8_t *out = NULL;
    size_t len = 0;
    if (d == NULL && (d = mf_frame_dctx_new(MF_FRAME_WINDOWLOG_MAX)) == NULL)
        abort();
    if (mf_frame_decompress_alloc(d, data, size, MF_FRAME_RAW_MAX, &out, &len, &err) == 0) {
        uint8_t *again;
        if (len > MF_FRAME_RAW_MAX)
            abort();
        again = malloc(len + 1);
        if (again == NULL)
            abort();
        if (mf_frame_decompress(d, data, size, again, len, &err) < 0) {
            /* an index segment may ask for a window up to 2^24, a pack frame
             * only up to 2^22: otherwise the two decoders agree */
            if (strstr(err.msg, "window") == NULL)
                abort();
            free(again);
            mf_free(out);
            return 0;
        }
        if (len > 0 && memcmp(again, out, len) != 0)
            abort();
        if (len > 0 && mf_frame_decompress(d, data, size, again, len - 1, &err) == 0)
            abort();  /* a frame never fits a smaller buffer */
        free(again);
        mf_free(out);
    }
    return 0;
}
