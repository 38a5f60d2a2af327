/* test_blobcheck.c: the table of blobs a reader already checked
 * (format/blobcheck.c): a place (frame, offset, length) gives back the id it
 * was entered with and nothing else; another place, even one differing in a
 * single field, is unknown; a place is never entered with a second id; the
 * table grows, stops at its byte budget (taking no more entries, keeping the
 * ones it has) and treats a failed allocation the same way. */
#include <string.h>

#include "../../format/blobcheck.h"
#include "../../format/hash.h"
#include "../../format/mem.h"
#include "tap.h"

static void id_of(uint32_t n, uint8_t id[MF_HASH_BYTES])
{
    mf_hash(MF_HK_BLOB, id, &n, sizeof n);
}

/* Entry n: a place spread over the three fields. */
static void place_of(uint32_t n, uint32_t *frame, uint32_t *off, uint32_t *len)
{
    *frame = n / 7;
    *off = (n % 7) * 4096;
    *len = 1 + n % 5;
}

static int all_there(const struct mf_blobcheck *t, uint32_t count)
{
    for (uint32_t n = 0; n < count; n++) {
        uint8_t id[MF_HASH_BYTES];
        uint32_t f, o, l;
        const uint8_t *got;
        place_of(n, &f, &o, &l);
        id_of(n, id);
        got = mf_blobcheck_get(t, f, o, l);
        if (got == NULL || memcmp(got, id, MF_HASH_BYTES) != 0)
            return 0;
    }
    return 1;
}

int main(void)
{
    struct mf_blobcheck *t = mf_blobcheck_new(64u * 1024 * 1024);
    uint8_t a[MF_HASH_BYTES], b[MF_HASH_BYTES];
    const uint8_t *got;
    uint32_t n, f, o, l;
    size_t count;
    int all;

    id_of(1, a);
    id_of(2, b);
    ok(t != NULL, "a table");
    ok(mf_blobcheck_get(t, 3, 100, 50) == NULL && mf_blobcheck_count(t) == 0,
       "an empty table knows nothing");
    ok(mf_blobcheck_put(t, 3, 100, 50, a) == 1, "a place is entered");
    got = mf_blobcheck_get(t, 3, 100, 50);
    ok(got != NULL && memcmp(got, a, MF_HASH_BYTES) == 0, "and gives back its id");
    ok(mf_blobcheck_get(t, 4, 100, 50) == NULL, "another frame is unknown");
    ok(mf_blobcheck_get(t, 3, 101, 50) == NULL, "another offset is unknown");
    ok(mf_blobcheck_get(t, 3, 100, 49) == NULL && mf_blobcheck_get(t, 3, 100, 51) == NULL,
       "another length is unknown");
    ok(mf_blobcheck_put(t, 3, 100, 50, a) == 1 && mf_blobcheck_count(t) == 1,
       "entering a place again with its id changes nothing");
    ok(mf_blobcheck_put(t, 3, 100, 50, b) == -1, "a place is not entered with a second id");
    got = mf_blobcheck_get(t, 3, 100, 50);
    ok(got != NULL && memcmp(got, a, MF_HASH_BYTES) == 0 && mf_blobcheck_count(t) == 1,
       "and keeps its first");
    ok(mf_blobcheck_put(t, 3, 100, 0, a) == 0 && mf_blobcheck_get(t, 3, 100, 0) == NULL,
       "an empty blob is never entered");
    ok(mf_blobcheck_put(t, UINT32_MAX, UINT32_MAX, MF_BLOB_MAX, b) == 1 &&
           (got = mf_blobcheck_get(t, UINT32_MAX, UINT32_MAX, MF_BLOB_MAX)) != NULL &&
           memcmp(got, b, MF_HASH_BYTES) == 0,
       "the largest frame id, offset and length");
    mf_blobcheck_free(&t);
    ok(t == NULL, "freed");
    mf_blobcheck_free(&t);

    /* growth: 100,000 places, each found with its own id */
    t = mf_blobcheck_new(64u * 1024 * 1024);
    all = 1;
    for (n = 0; n < 100000; n++) {
        uint8_t id[MF_HASH_BYTES];
        place_of(n, &f, &o, &l);
        id_of(n, id);
        if (mf_blobcheck_put(t, f, o, l, id) != 1)
            all = 0;
    }
    ok(all && mf_blobcheck_count(t) == 100000, "100000 places entered as the table grows");
    ok(all_there(t, 100000), "each gives back its own id");
    ok(mf_blobcheck_bytes(t) <= 64u * 1024 * 1024, "within the budget (%zu bytes)",
       mf_blobcheck_bytes(t));
    mf_blobcheck_free(&t);

    /* a budget of 64 KiB: full after a few hundred entries, then takes no more */
    t = mf_blobcheck_new(64u * 1024);
    for (n = 0; n < 10000; n++) {
        uint8_t id[MF_HASH_BYTES];
        place_of(n, &f, &o, &l);
        id_of(n, id);
        if (mf_blobcheck_put(t, f, o, l, id) != 1)
            break;
    }
    count = mf_blobcheck_count(t);
    ok(n < 10000 && count == n && count > 100, "a small budget fills (%zu entries)", count);
    ok(mf_blobcheck_bytes(t) <= 64u * 1024, "and is kept (%zu bytes)", mf_blobcheck_bytes(t));
    place_of(n, &f, &o, &l);
    ok(mf_blobcheck_get(t, f, o, l) == NULL, "the entry that did not fit is unknown");
    ok(all_there(t, (uint32_t)count), "the entries it took are all there");
    ok(mf_blobcheck_put(t, 0, 0, 1, b) == -1, "a full table still refuses a second id");
    mf_blobcheck_free(&t);

    /* out of memory while growing: nothing entered, no error, the rest kept */
    t = mf_blobcheck_new(64u * 1024 * 1024);
    ok(mf_blobcheck_put(t, 1, 2, 3, a) == 1, "one entry");
    for (n = 0; n < 2000; n++) {
        uint8_t id[MF_HASH_BYTES];
        size_t before = mf_blobcheck_bytes(t);
        place_of(n + 1000000, &f, &o, &l);
        id_of(n + 1000000, id);
        mf_mem_fail_after(1);
        if (mf_blobcheck_put(t, f, o, l, id) == 0) {
            mf_mem_fail_after(0);
            ok(mf_blobcheck_bytes(t) == before && mf_blobcheck_get(t, f, o, l) == NULL,
               "a failed growth enters nothing (after %u entries)", n + 1);
            break;
        }
        mf_mem_fail_after(0);
    }
    ok(n < 2000, "growth failed once memory did");
    got = mf_blobcheck_get(t, 1, 2, 3);
    ok(got != NULL && memcmp(got, a, MF_HASH_BYTES) == 0, "the earlier entry is kept");
    mf_blobcheck_free(&t);
    return done_testing();
}
