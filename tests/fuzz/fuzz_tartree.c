/* fuzz_tartree.c: a store backup for `pack --from-tar`. The input is written
 * to a scratch file and read with mf_tartree_load (pack/tree_tar.c, through
 * libarchive: any tar flavour or compression it recognises); the tree must
 * come out sorted without duplicates, and a few Maildir paths are looked up
 * with mf_tartree_find. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "../../pack/tree_tar.h"

static void check(const struct mf_tar_node *n, unsigned depth)
{
    if (depth > 4096)
        abort();
    for (size_t i = 0; i < n->nkids; i++) {
        if (n->kids[i] == NULL || n->kids[i]->name == NULL)
            abort();
        if (i > 0 && strcmp(n->kids[i - 1]->name, n->kids[i]->name) >= 0)
            abort();  /* children sorted, de-duplicated */
        check(n->kids[i], depth + 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const paths[] = {
        "Maildir", "Maildir/dovecot-uidlist", "Maildir/cur", "Maildir/.Work/courierimapuiddb",
        "", "a/b/c", NULL};
    struct mf_tartree t;
    struct mf_error err;
    fz_put("store.tar", data, size);
    memset(&t, 0, sizeof t);
    if (mf_tartree_load(&t, fz_path("store.tar"), &err) == 0) {
        check(&t.root, 0);
        for (int i = 0; paths[i] != NULL; i++)
            (void)mf_tartree_find(&t, paths[i]);
    }
    mf_tartree_free(&t);
    return 0;
}
