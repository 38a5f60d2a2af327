/* mem.h: the one allocation path of the project, with checked size
 * arithmetic and a test hook that fails the Nth allocation. */
#ifndef MF_MEM_H
#define MF_MEM_H

#include <stddef.h>
#include <stdint.h>

void *mf_malloc(size_t n);
void *mf_calloc(size_t count, size_t size);
void *mf_realloc(void *p, size_t n);
char *mf_strdup(const char *s);
char *mf_strndup(const char *s, size_t n);
void mf_free(void *p);

/* Test hook: when n > 0, the nth allocation from now on fails (returns NULL).
 * 0 disables. Read from the environment variable MF_FAIL_ALLOC at start-up by
 * the CLI; unit tests call it directly. */
void mf_mem_fail_after(unsigned long n);

/* Checked arithmetic: return 0 and store the result, or -1 on overflow. */
static inline int mf_add_size(size_t a, size_t b, size_t *r)
{
    if (a > SIZE_MAX - b)
        return -1;
    *r = a + b;
    return 0;
}

static inline int mf_mul_size(size_t a, size_t b, size_t *r)
{
    if (b != 0 && a > SIZE_MAX / b)
        return -1;
    *r = a * b;
    return 0;
}

static inline int mf_add_u64(uint64_t a, uint64_t b, uint64_t *r)
{
    if (a > UINT64_MAX - b)
        return -1;
    *r = a + b;
    return 0;
}

#endif
