/* blobset.c: an open-addressing hash table of blob ids with linear probing. */
#include "blobset.h"
#include "mem.h"

#include <string.h>

struct entry {
    uint8_t id[MF_HASH_BYTES];
    struct mf_blobloc loc;
    uint32_t used;
};

struct mf_blobset {
    struct entry *tab;
    size_t cap;  /* power of two */
    size_t count;
};

static size_t slot_of(const uint8_t *id, size_t cap)
{
    uint64_t h;
    memcpy(&h, id, sizeof h);
    return (size_t)h & (cap - 1);
}

struct mf_blobset *mf_blobset_new(void)
{
    struct mf_blobset *s = mf_calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->cap = 1024;
    s->tab = mf_calloc(s->cap, sizeof *s->tab);
    if (s->tab == NULL) {
        mf_free(s);
        return NULL;
    }
    return s;
}

void mf_blobset_free(struct mf_blobset **sp)
{
    if (*sp == NULL)
        return;
    mf_free((*sp)->tab);
    mf_free(*sp);
    *sp = NULL;
}

int mf_blobset_get(const struct mf_blobset *s, const uint8_t id[MF_HASH_BYTES],
                   struct mf_blobloc *loc)
{
    size_t i = slot_of(id, s->cap);
    while (s->tab[i].used) {
        if (memcmp(s->tab[i].id, id, MF_HASH_BYTES) == 0) {
            *loc = s->tab[i].loc;
            return 1;
        }
        i = (i + 1) & (s->cap - 1);
    }
    return 0;
}

static void insert(struct entry *tab, size_t cap, const struct entry *e)
{
    size_t i = slot_of(e->id, cap);
    while (tab[i].used)
        i = (i + 1) & (cap - 1);
    tab[i] = *e;
}

int mf_blobset_put(struct mf_blobset *s, const uint8_t id[MF_HASH_BYTES],
                   const struct mf_blobloc *loc)
{
    struct entry e;
    if ((s->count + 1) * 10 > s->cap * 7) {
        size_t ncap = s->cap * 2;
        struct entry *nt = mf_calloc(ncap, sizeof *nt);
        if (nt == NULL)
            return -1;
        for (size_t i = 0; i < s->cap; i++)
            if (s->tab[i].used)
                insert(nt, ncap, &s->tab[i]);
        mf_free(s->tab);
        s->tab = nt;
        s->cap = ncap;
    }
    memcpy(e.id, id, MF_HASH_BYTES);
    e.loc = *loc;
    e.used = 1;
    insert(s->tab, s->cap, &e);
    s->count++;
    return 0;
}

size_t mf_blobset_count(const struct mf_blobset *s)
{
    return s->count;
}
