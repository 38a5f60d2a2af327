/* fuzz_courier_keywords.c: Courier's courierimapkeywords/ directory. The
 * input is split into parts (u32le length + bytes, see fuzz_util.h): the
 * first part is the ":list" file for mf_courier_kw_list; each later part is
 * an update file whose first line is its file name ("<base>" or
 * ".<N>.<base>") and the rest its content, for mf_courier_kw_update
 * (pack/courier.c). Then finish, and every message's keywords are looked up
 * again with mf_courier_kw_find and checked against the name table. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "../../pack/courier.h"

static void warn_quiet(void *ctx, const char *file, size_t line, const char *msg)
{
    (void)ctx;
    (void)file;
    (void)line;
    (void)msg;
}

static int one_input(const uint8_t *data, size_t size)
{
    struct mf_courier_keywords k;
    const uint8_t *part;
    size_t len;
    int ok = 1;
    mf_courier_kw_init(&k);
    fz_take(&data, &size, &part, &len, NULL);
    if (mf_courier_kw_list(&k, (const char *)part, len, ":list", warn_quiet, NULL) < 0)
        ok = 0;
    while (ok && size > 0) {
        const uint8_t *nl;
        char *fname;
        fz_take(&data, &size, &part, &len, NULL);
        nl = memchr(part, '\n', len);
        if (nl == NULL)
            continue;
        fname = fz_strndup(part, (size_t)(nl - part));
        if (strlen(fname) == (size_t)(nl - part) &&
            mf_courier_kw_update(&k, fname, (const char *)nl + 1, len - (size_t)(nl - part) - 1) < 0)
            ok = 0;
        free(fname);
    }
    if (ok) {
        mf_courier_kw_finish(&k);
        for (size_t i = 0; i < k.nmsgs; i++) {
            const struct mf_courier_kwmsg *m = &k.msgs[i];
            const struct mf_courier_kwmsg *f = mf_courier_kw_find(&k, m->base, strlen(m->base));
            if (f == NULL)
                abort();  /* every message entry is found by its base name */
            for (uint32_t j = 0; j < m->nkw; j++)
                if (m->kw[j] >= k.nnames)
                    abort();  /* keyword indexes point into the name table */
        }
        (void)mf_courier_kw_find(&k, "", 0);
    }
    mf_courier_kw_free(&k);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_guard g;
    int r = one_input(fz_guard_copy(&g, data, size), size);
    fz_guard_free(&g);
    return r;
}
