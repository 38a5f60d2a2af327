/* fuzz_dvindex.c: Dovecot index files (dvindex/index_read.c). The input is
 * split (u32le length + bytes, see fuzz_util.h) into dovecot.index, then
 * dovecot.index.log.2, then the rest is dovecot.index.log; an empty part
 * means the file is absent. They are written to a scratch directory and
 * loaded with mf_ix_load, as the unpacker reads a store and the packer a
 * Maildir, once unlocked and once "locked" through an open .log descriptor
 * (the writer's stricter mode); the state is then queried. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "../../dvindex/index_read.h"

static void query(const struct mf_ix *ix)
{
    (void)mf_ix_uid_validity(ix);
    (void)mf_ix_next_uid(ix);
    for (size_t i = 0; i < ix->n; i++) {
        long at = mf_ix_find(ix, ix->msgs[i].uid);
        if (at < 0 || ix->msgs[(size_t)at].uid != ix->msgs[i].uid)
            abort();  /* every message is found by its UID */
        for (size_t k = 0; k < ix->nkw; k++)
            (void)mf_ix_has_kw(ix, i, k);
    }
    for (size_t e = 0; e < ix->next; e++) {
        const struct mf_ix_ext *x = mf_ix_ext_get(ix, ix->ext[e].name);
        if (x == NULL)
            abort();
        if (x->rec_size > 0 && x->recs != NULL)
            for (size_t i = 0; i < ix->n; i++) {
                const uint8_t *r = mf_ix_rec(x, i);
                volatile uint8_t sink = 0;
                for (uint16_t b = 0; b < x->rec_size; b++)
                    sink ^= r[b];
                (void)sink;
            }
    }
    (void)mf_ix_find(ix, 0);
    (void)mf_ix_find(ix, UINT32_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *idx, *log2;
    size_t idxlen, log2len;
    struct mf_ix ix;
    struct mf_error err;
    int dir = fz_dir();
    fz_dir_clear();
    fz_take(&data, &size, &idx, &idxlen, NULL);
    fz_take(&data, &size, &log2, &log2len, NULL);
    if (idxlen > 0)
        fz_put("dovecot.index", idx, idxlen);
    if (log2len > 0)
        fz_put("dovecot.index.log.2", log2, log2len);
    if (size > 0)
        fz_put("dovecot.index.log", data, size);
    if (mf_ix_load(dir, "dovecot.index", -1, 0, &ix, &err) == 0)
        query(&ix);
    mf_ix_free(&ix);
    if (size > 0) {
        int fd = openat(dir, "dovecot.index.log", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            abort();
        if (mf_ix_load(dir, "dovecot.index", fd, 1, &ix, &err) == 0)
            query(&ix);
        mf_ix_free(&ix);
        close(fd);
    }
    return 0;
}
