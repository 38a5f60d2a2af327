/* fuzz_dvcache.c: Dovecot's cache file (dvindex/index_cache.c). The input is
 * split (u32le length + bytes, see fuzz_util.h) into dovecot.index, then
 * dovecot.index.log, then the rest is dovecot.index.cache; an empty part
 * means the file is absent. The index state is loaded with mf_ix_load (the
 * cache is only read for a state that loads), the cache opened with
 * mf_ixc_open, and every fixed-size field of every message looked up with
 * mf_ixc_lookup, as the packer reads date.save. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "../../dvindex/index_cache.h"
#include "../../dvindex/index_read.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *idx, *log;
    size_t idxlen, loglen;
    struct mf_ix ix;
    struct mf_ixc c;
    struct mf_error err;
    int dir = fz_dir();
    fz_dir_clear();
    fz_take(&data, &size, &idx, &idxlen, NULL);
    fz_take(&data, &size, &log, &loglen, NULL);
    if (idxlen > 0)
        fz_put("dovecot.index", idx, idxlen);
    if (loglen > 0)
        fz_put("dovecot.index.log", log, loglen);
    if (size > 0)
        fz_put("dovecot.index.cache", data, size);
    if (mf_ix_load(dir, "dovecot.index", -1, 0, &ix, &err) < 0) {
        mf_ix_free(&ix);
        return 0;
    }
    memset(&c, 0, sizeof c);
    c.fd = -1;
    if (mf_ixc_open(&c, dir, "dovecot.index.cache", &ix, &err) > 0) {
        uint8_t buf[1024];
        (void)mf_ixc_field(&c, "date.save");
        (void)mf_ixc_field(&c, "no.such.field");
        for (uint32_t f = 0; f < c.nfields; f++) {
            if (mf_ixc_field(&c, c.names[f]) < 0)
                abort();  /* every field of the file is found by its name */
            if (c.sizes[f] == UINT32_MAX || c.sizes[f] > sizeof buf)
                continue;
            for (size_t i = 0; i < ix.n; i++)
                (void)mf_ixc_lookup(&c, i, (long)f, buf, c.sizes[f]);
        }
    }
    mf_ixc_close(&c);
    mf_ix_free(&ix);
    return 0;
}
