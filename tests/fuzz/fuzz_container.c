/* fuzz_container.c: whole archive bytes. The input is written to a scratch
 * file and opened with the validating reader mf_reader_open
 * (format/archive_read.c: the pax tar reader in container.c, FORMAT,
 * MANIFEST, signature, member digests, index segments, end of archive),
 * first with the spec test key (spec/vectors/test.pub) trusted, so that
 * variants of spec/vectors/tiny.mfa get past the signature, then unsigned
 * (hashes only, as `ls` without -p). An archive that opens is walked record
 * by record and read in full (mf_reader_verify_content), twice. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "../../format/archive_read.h"

static void walk(struct mf_reader *r)
{
    struct mf_error err;
    struct mf_record rec;
    int k;
    for (int pass = 0; pass < 2; pass++) {
        if (mf_reader_rewind(r, &err) < 0)
            return;
        while ((k = mf_reader_next(r, &rec, &err)) > 0)
            ;
        if (k < 0)
            return;
    }
    if (mf_reader_verify_content(r, NULL, NULL, NULL, &err) < 0)
        return;
    (void)mf_reader_signer(r);
    (void)mf_reader_trusted_comment(r);
    (void)mf_reader_archive_bytes(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct mf_pubkey key;
    static int have_key;
    struct mf_reader_opts o;
    struct mf_reader *r = NULL;
    struct mf_error err;
    fz_crypto_init();
    if (!have_key) {
        static const char pub[] = FZ_TEST_PUB;
        if (mf_pubkey_parse(pub, sizeof pub - 1, &key, &err) < 0)
            abort();
        have_key = 1;
    }
    fz_put("a.mfa", data, size);
    for (int mode = 0; mode < 2; mode++) {
        memset(&o, 0, sizeof o);
        if (mode == 0) {
            o.keys = &key;
            o.nkeys = 1;
        } else {
            o.allow_unsigned = 1;
        }
        o.tmpdir = fz_path("");
        if (mf_reader_open(&r, fz_path("a.mfa"), &o, &err) == 0) {
            if (r == NULL || mf_reader_manifest(r) == NULL || mf_reader_header(r) == NULL)
                abort();
            walk(r);
            mf_reader_free(&r);
        } else if (r != NULL || err.cls == MF_OK || err.cls == MF_EINTERNAL) {
            abort();  /* a refusal leaves no reader and names a real class */
        }
    }
    return 0;
}
