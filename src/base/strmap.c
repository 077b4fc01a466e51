/* strmap.c -- the string hash map of strmap.h. */
#include "base/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

/* FNV-1a: short names, few collisions, no setup. */
static size_t hash(const char *s)
{
    uint64_t h = 14695981039346656037ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)(h ^ (h >> 32));
}

/* The slot holding `key`, or the empty slot where it would go. */
static struct strmap_slot *slot_of(const struct strmap *m, const char *key)
{
    size_t mask = m->cap - 1;
    for (size_t i = hash(key) & mask;; i = (i + 1) & mask) {
        struct strmap_slot *s = &m->slots[i];
        if (!s->key || strcmp(s->key, key) == 0)
            return s;
    }
}

void *strmap_get(const struct strmap *m, const char *key)
{
    return m->cap ? slot_of(m, key)->val : NULL;
}

static void grow(struct strmap *m)
{
    struct strmap old = *m;
    m->cap = old.cap ? old.cap * 2 : 16;
    m->slots = xcalloc(m->cap, sizeof *m->slots);
    m->n = 0;
    for (size_t i = 0; i < old.cap; i++)
        if (old.slots[i].key)
            strmap_put(m, old.slots[i].key, old.slots[i].val);
    free(old.slots);
}

void strmap_put(struct strmap *m, const char *key, void *val)
{
    if ((m->n + 1) * 4 > m->cap * 3)  /* at most 3/4 full */
        grow(m);
    struct strmap_slot *s = slot_of(m, key);
    if (!s->key)
        m->n++;
    s->key = key;
    s->val = val;
}

void *strmap_del(struct strmap *m, const char *key)
{
    if (!m->cap)
        return NULL;
    struct strmap_slot *s = slot_of(m, key);
    if (!s->key)
        return NULL;
    void *val = s->val;
    /* shift back every later entry of the run that could have sat here */
    size_t mask = m->cap - 1, hole = (size_t)(s - m->slots);
    for (size_t i = (hole + 1) & mask; m->slots[i].key; i = (i + 1) & mask) {
        size_t home = hash(m->slots[i].key) & mask;
        /* entry i may move to the hole unless its home lies in (hole, i] */
        if (((i - home) & mask) >= ((i - hole) & mask)) {
            m->slots[hole] = m->slots[i];
            hole = i;
        }
    }
    m->slots[hole].key = NULL;
    m->slots[hole].val = NULL;
    m->n--;
    return val;
}

void strmap_clear(struct strmap *m)
{
    if (m->cap)
        memset(m->slots, 0, m->cap * sizeof *m->slots);
    m->n = 0;
}

void strmap_free(struct strmap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->n = m->cap = 0;
}
