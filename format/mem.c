/* mem.c: allocation wrappers with a fault-injection counter for tests. */
#include "mem.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_ulong fail_countdown;

void mf_mem_fail_after(unsigned long n)
{
    atomic_store(&fail_countdown, n);
}

static int should_fail(void)
{
    unsigned long cur = atomic_load(&fail_countdown);
    while (cur != 0) {
        if (atomic_compare_exchange_weak(&fail_countdown, &cur, cur - 1))
            return cur == 1;
    }
    return 0;
}

void *mf_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    return malloc(n == 0 ? 1 : n);
}

void *mf_calloc(size_t count, size_t size)
{
    if (should_fail())
        return NULL;
    if (count == 0 || size == 0)
        return calloc(1, 1);
    return calloc(count, size);
}

void *mf_realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    return realloc(p, n == 0 ? 1 : n);
}

char *mf_strndup(const char *s, size_t n)
{
    char *d = mf_malloc(n + 1);
    if (d == NULL)
        return NULL;
    if (n > 0)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *mf_strdup(const char *s)
{
    return mf_strndup(s, strlen(s));
}

void mf_free(void *p)
{
    free(p);
}
