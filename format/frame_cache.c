/* frame_cache.c: a small LRU of decoded frames (a few dozen entries). */
#include "frame_cache.h"
#include "mem.h"

#include <string.h>

#define SLOTS 64

struct slot {
    uint32_t id;
    uint8_t *data;
    size_t len;
    uint64_t used;
};

struct mf_frame_cache {
    struct slot s[SLOTS];
    size_t n;
    size_t bytes, budget;
    uint64_t clock;
};

struct mf_frame_cache *mf_frame_cache_new(size_t budget)
{
    struct mf_frame_cache *c = mf_calloc(1, sizeof *c);
    if (c != NULL)
        c->budget = budget;
    return c;
}

void mf_frame_cache_free(struct mf_frame_cache **cp)
{
    struct mf_frame_cache *c = *cp;
    if (c == NULL)
        return;
    *cp = NULL;
    for (size_t i = 0; i < c->n; i++)
        mf_free(c->s[i].data);
    mf_free(c);
}

const uint8_t *mf_frame_cache_get(struct mf_frame_cache *c, uint32_t id)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->s[i].id == id) {
            c->s[i].used = ++c->clock;
            return c->s[i].data;
        }
    return NULL;
}

static void evict_one(struct mf_frame_cache *c)
{
    size_t old = 0;
    for (size_t i = 1; i < c->n; i++)
        if (c->s[i].used < c->s[old].used)
            old = i;
    c->bytes -= c->s[old].len;
    mf_free(c->s[old].data);
    c->s[old] = c->s[--c->n];
}

int mf_frame_cache_put(struct mf_frame_cache *c, uint32_t id, uint8_t *data, size_t len)
{
    while (c->n > 0 && (c->n == SLOTS || c->bytes + len > c->budget))
        evict_one(c);
    c->s[c->n].id = id;
    c->s[c->n].data = data;
    c->s[c->n].len = len;
    c->s[c->n].used = ++c->clock;
    c->n++;
    c->bytes += len;
    return 0;
}
