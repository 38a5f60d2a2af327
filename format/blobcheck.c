/* blobcheck.c: (frame, offset, length) -> blob id, open addressing. A slot
 * with length 0 is empty (a blob is at least one byte long). */
#include "blobcheck.h"
#include "mem.h"

#include <string.h>

struct entry {
    uint32_t frame;
    uint32_t offset;
    uint32_t len;
    uint8_t id[MF_HASH_BYTES];
};

struct mf_blobcheck {
    struct entry *tab;
    size_t cap;    /* power of two, or 0 before the first entry */
    size_t count;
    size_t max_bytes;
    int full;      /* the table may not grow again */
};

#define FIRST_CAP 1024u

static size_t slot_of(uint32_t frame, uint32_t offset, uint32_t len, size_t cap)
{
    uint64_t h = ((uint64_t)frame << 32 | offset) * 0x9E3779B97F4A7C15u;
    h ^= (uint64_t)len * 0xC2B2AE3D27D4EB4Fu;
    h ^= h >> 29;
    return (size_t)h & (cap - 1);
}

struct mf_blobcheck *mf_blobcheck_new(size_t max_bytes)
{
    struct mf_blobcheck *t = mf_calloc(1, sizeof *t);
    if (t != NULL)
        t->max_bytes = max_bytes;
    return t;
}

void mf_blobcheck_free(struct mf_blobcheck **tp)
{
    if (*tp == NULL)
        return;
    mf_free((*tp)->tab);
    mf_free(*tp);
    *tp = NULL;
}

static struct entry *find(const struct mf_blobcheck *t, uint32_t frame, uint32_t offset,
                          uint32_t len)
{
    size_t i = slot_of(frame, offset, len, t->cap);
    while (t->tab[i].len != 0) {
        const struct entry *e = &t->tab[i];
        if (e->frame == frame && e->offset == offset && e->len == len)
            return &t->tab[i];
        i = (i + 1) & (t->cap - 1);
    }
    return &t->tab[i];
}

const uint8_t *mf_blobcheck_get(const struct mf_blobcheck *t, uint32_t frame, uint32_t offset,
                                uint32_t len)
{
    const struct entry *e;
    if (t->count == 0 || len == 0)
        return NULL;
    e = find(t, frame, offset, len);
    return e->len != 0 ? e->id : NULL;
}

/* Doubles the slots (or makes the first ones); 0 when the budget or memory
 * does not allow it. */
static int grow(struct mf_blobcheck *t)
{
    size_t oldcap = t->cap, cap = t->cap == 0 ? FIRST_CAP : t->cap * 2, bytes;
    struct entry *old = t->tab, *tab;
    if (t->full || mf_mul_size(cap, sizeof *tab, &bytes) < 0 || bytes > t->max_bytes) {
        t->full = 1;
        return 0;
    }
    tab = mf_calloc(cap, sizeof *tab);
    if (tab == NULL) {
        t->full = 1;
        return 0;
    }
    t->tab = tab;
    t->cap = cap;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].len != 0)
            *find(t, old[i].frame, old[i].offset, old[i].len) = old[i];
    mf_free(old);
    return 1;
}

int mf_blobcheck_put(struct mf_blobcheck *t, uint32_t frame, uint32_t offset, uint32_t len,
                     const uint8_t id[MF_HASH_BYTES])
{
    struct entry *e;
    if (len == 0)
        return 0;
    if (t->count > 0) {
        e = find(t, frame, offset, len);
        if (e->len != 0)
            return memcmp(e->id, id, MF_HASH_BYTES) == 0 ? 1 : -1;
    }
    /* at most three quarters of the slots in use */
    if ((t->count + 1) * 4 > t->cap * 3 && !grow(t))
        return 0;
    e = find(t, frame, offset, len);
    e->frame = frame;
    e->offset = offset;
    e->len = len;
    memcpy(e->id, id, MF_HASH_BYTES);
    t->count++;
    return 1;
}

size_t mf_blobcheck_count(const struct mf_blobcheck *t)
{
    return t->count;
}

size_t mf_blobcheck_bytes(const struct mf_blobcheck *t)
{
    return t->cap * sizeof(struct entry);
}
