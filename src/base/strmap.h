/* strmap.h -- a hash map from strings to pointers (open addressing, linear
 * probing, deletion by backward shift: no tombstones).  The keys are not
 * copied: each must live as long as its entry. */
#ifndef TEND_STRMAP_H
#define TEND_STRMAP_H

#include <stddef.h>

struct strmap {
    struct strmap_slot {
        const char *key;
        void *val;
    } *slots;
    size_t n, cap;  /* entries, slots (0 or a power of two) */
};

/* The value of `key`, or NULL. */
void *strmap_get(const struct strmap *m, const char *key);
/* Set `key` to `val` (not NULL), replacing any value it had. */
void strmap_put(struct strmap *m, const char *key, void *val);
/* Remove `key`; its value, or NULL when it was not there. */
void *strmap_del(struct strmap *m, const char *key);
/* Remove every entry (the table's memory is kept). */
void strmap_clear(struct strmap *m);
/* Free the table (not the keys or values). */
void strmap_free(struct strmap *m);

#endif
