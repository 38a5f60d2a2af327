/* ixdump.c: prints the state of a Dovecot index (main index + logs) as
 * mailferry's reader computes it, for comparing with doveadm in tests:
 *   ixdump DIR [PREFIX]      (PREFIX defaults to dovecot.index)
 * Output: "uidvalidity N", "nextuid N", then "uid FLAGS keywords..." lines
 * and "ext NAME hdr=HEX" lines. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../../format/hash.h"
#include "../../dvindex/index_read.h"

int main(int argc, char **argv)
{
    struct mf_ix ix;
    struct mf_error err;
    int dir;
    if (argc < 2)
        return 2;
    dir = open(argv[1], O_RDONLY | O_DIRECTORY);
    if (dir < 0) {
        perror(argv[1]);
        return 1;
    }
    if (mf_ix_load(dir, argc > 2 ? argv[2] : "dovecot.index", -1, 0, &ix, &err) < 0) {
        fprintf(stderr, "ixdump: %s\n", err.msg);
        return 1;
    }
    printf("uidvalidity %u\nnextuid %u\nmessages %zu\n", mf_ix_uid_validity(&ix),
           mf_ix_next_uid(&ix), ix.n);
    for (size_t i = 0; i < ix.n; i++) {
        printf("uid %u flags %u", ix.msgs[i].uid, ix.msgs[i].flags);
        for (size_t k = 0; k < ix.nkw; k++)
            if (mf_ix_has_kw(&ix, i, k))
                printf(" %s", ix.kw[k]);
        printf("\n");
    }
    for (size_t e = 0; e < ix.next; e++) {
        char hex[2 * 64 + 1];
        mf_hex(hex, ix.ext[e].hdr, ix.ext[e].hdr_size > 64 ? 64 : ix.ext[e].hdr_size);
        printf("ext %s reset %u rec %u hdr %s\n", ix.ext[e].name, ix.ext[e].reset_id,
               ix.ext[e].rec_size, hex);
    }
    printf("log seq %u end %llu tail %llu\n", ix.log_seq, (unsigned long long)ix.log_end,
           (unsigned long long)ix.log_tail);
    mf_ix_free(&ix);
    close(dir);
    return 0;
}
