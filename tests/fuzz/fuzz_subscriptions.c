/* fuzz_subscriptions.c: feeds the input, as the content of a subscriptions
 * file, to all three readers of pack/subscriptions.c: Dovecot's
 * `subscriptions` (version 1 with '.' and with '/' as separator, version 2)
 * through mf_subs_parse_dovecot, and Courier's courierimapsubscribed through
 * mf_subs_parse_courier; checks every name has components that are strings. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "../../pack/subscriptions.h"

static void check(const struct mf_subs *s)
{
    size_t total = 0;
    for (size_t i = 0; i < s->n; i++)
        for (size_t j = 0; j < s->names[i].ncomp; j++) {
            if (s->names[i].comp[j] == NULL)
                abort();
            total += strlen(s->names[i].comp[j]);
        }
    (void)total;
}

static int one_input(const uint8_t *data, size_t size)
{
    static const char seps[] = { '.', '/' };
    struct mf_subs s;
    for (size_t i = 0; i < sizeof seps; i++) {
        memset(&s, 0, sizeof s);
        if (mf_subs_parse_dovecot((const char *)data, size, seps[i], &s) == 0)
            check(&s);
        mf_subs_free(&s);
    }
    memset(&s, 0, sizeof s);
    if (mf_subs_parse_courier((const char *)data, size, &s) == 0)
        check(&s);
    mf_subs_free(&s);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_guard g;
    int r = one_input(fz_guard_copy(&g, data, size), size);
    fz_guard_free(&g);
    return r;
}
