/* fuzz_courier_pop3.c: feeds the input, as the content of Courier's
 * courierpop3dsizelist, to mf_courier_pop3_parse (pack/courier.c) and checks
 * the entries it returns (base names and UIDLs are NUL-terminated strings,
 * line numbers ascend). */
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
    struct mf_courier_pop3 *p = NULL;
    size_t n = 0;
    if (mf_courier_pop3_parse((const char *)data, size, "courierpop3dsizelist", warn_quiet, NULL,
                              &p, &n) == 0) {
        size_t total = 0;
        for (size_t i = 0; i < n; i++) {
            if (p[i].base == NULL || p[i].uidl == NULL)
                abort();
            total += strlen(p[i].base) + strlen(p[i].uidl);
            if (i > 0 && p[i].order <= p[i - 1].order)
                abort();  /* entries keep the file's line order */
        }
        (void)total;
    }
    mf_courier_pop3_free(p, n);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_guard g;
    int r = one_input(fz_guard_copy(&g, data, size), size);
    fz_guard_free(&g);
    return r;
}
