/* fuzz_uidlist.c: feeds the input, as the whole content of a dovecot-uidlist
 * (versions 1 and 3) or of Courier's courierimapuiddb, to mf_uidlist_parse
 * (pack/maildir_uidlist.c), then looks up every record's base name and a
 * few other names through mf_uidlist_find and checks that the records come
 * out in ascending UID order, as the header promises. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "../../pack/maildir_uidlist.h"

static void warn_quiet(void *ctx, const char *file, size_t line, const char *msg)
{
    (void)file;
    (void)line;
    (void)msg;
    ++*(size_t *)ctx;
}

static int one_input(const uint8_t *data, size_t size)
{
    struct mf_uidlist u;
    size_t warnings = 0;
    memset(&u, 0, sizeof u);
    if (mf_uidlist_parse((const char *)data, size, "dovecot-uidlist", warn_quiet, &warnings,
                         &u) < 0) {
        mf_uidlist_free(&u);
        return 0;
    }
    for (size_t i = 0; i < u.n; i++) {
        const struct mf_uidlist_rec *r = u.recs[i].base != NULL
            ? mf_uidlist_find(&u, u.recs[i].base, strlen(u.recs[i].base)) : NULL;
        if (u.recs[i].base != NULL && r == NULL)
            abort();  /* a parsed base name must be found again */
        if (i > 0 && u.recs[i].uid <= u.recs[i - 1].uid)
            abort();  /* records must be in ascending UID order */
        if (u.next_uid != 0 && u.recs[i].uid >= u.next_uid)
            abort();  /* next_uid is max(N, last uid + 1) */
    }
    (void)mf_uidlist_find(&u, "", 0);
    (void)mf_uidlist_find(&u, "1704067200.M1P1.host", 20);
    mf_uidlist_free(&u);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_guard g;
    int r = one_input(fz_guard_copy(&g, data, size), size);
    fz_guard_free(&g);
    return r;
}
