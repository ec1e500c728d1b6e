/* nmq_hashmap — see nmq_hashmap.h.  The load factor stays between 1/8 and
 * 3/4 (the table halves when it empties, so a map that once held a burst
 * does not keep its memory forever). */
#include "nmq_hashmap.h"

#include <string.h>

#include "nmq_alloc.h"

#define MIN_CAP 2

typedef struct nmq_hashmap_slot {
    uint64_t hash;
    const void *key;
    size_t len;
    void *value;            /* NULL: an empty slot */
} s_slot_t;

/* --- the hash ------------------------------------------------------------- */

#define P0 0xa0761d6478bd642full
#define P1 0xe7037ed1a0b428dbull
#define P2 0x8ebc6af09c88c6e3ull

static inline uint64_t s_r8(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t s_r4(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint64_t s_mix(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

uint64_t nmq_hash(const void *key, size_t len)
{
    const uint8_t *p = key;
    uint64_t seed = P0 ^ s_mix(P0 ^ len, P1);
    uint64_t a = 0, b = 0;
    if (len <= 16) {
        if (len >= 4) {
            size_t q = (len >> 3) << 2;
            a = (s_r4(p) << 32) | s_r4(p + q);
            b = (s_r4(p + len - 4) << 32) | s_r4(p + len - 4 - q);
        } else if (len > 0) {
            a = ((uint64_t)p[0] << 16) | ((uint64_t)p[len >> 1] << 8) | p[len - 1];
        }
    } else {
        size_t i = len;
        for (; i > 16; i -= 16, p += 16)
            seed = s_mix(s_r8(p) ^ P1, s_r8(p + 8) ^ seed);
        a = s_r8(p + i - 16);
        b = s_r8(p + i - 8);
    }
    return s_mix(P1 ^ len, s_mix(a ^ P1, b ^ seed) ^ P2);
}

/* --- the table ------------------------------------------------------------ */

void nmq_hashmap_init(nmq_hashmap_t *self, unsigned flags)
{
    *self = (nmq_hashmap_t){ .flags_ = flags };
}

nmq_hashmap_t *nmq_hashmap_new(unsigned flags)
{
    nmq_hashmap_t *self = nmq_xmalloc(sizeof *self);
    nmq_hashmap_init(self, flags);
    return self;
}

static bool s_owns_keys(const nmq_hashmap_t *self) { return !(self->flags_ & NMQ_HASHMAP_BORROW_KEYS); }

void nmq_hashmap_fini(nmq_hashmap_t *self)
{
    if (s_owns_keys(self))
        for (size_t i = 0; i < self->cap_; i++)
            if (self->slots_[i].value)
                free((void *)self->slots_[i].key);
    free(self->slots_);
    nmq_hashmap_init(self, self->flags_);
}

void nmq_hashmap_destroy(nmq_hashmap_t **self_p)
{
    if (!*self_p)
        return;
    nmq_hashmap_fini(*self_p);
    free(*self_p);
    *self_p = NULL;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t s_find(const nmq_hashmap_t *self, uint64_t h, const void *key, size_t len)
{
    size_t mask = self->cap_ - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const s_slot_t *s = &self->slots_[i];
        if (!s->value || (s->hash == h && s->len == len && !memcmp(s->key, key, len)))
            return i;
    }
}

static void s_resize(nmq_hashmap_t *self, size_t cap)
{
    s_slot_t *old = self->slots_;
    size_t old_cap = self->cap_;
    self->slots_ = nmq_xcalloc(cap, sizeof *self->slots_);
    self->cap_ = cap;
    size_t mask = cap - 1;
    for (size_t i = 0; i < old_cap; i++) {
        if (!old[i].value)
            continue;
        size_t j = old[i].hash & mask;
        while (self->slots_[j].value)
            j = (j + 1) & mask;
        self->slots_[j] = old[i];
    }
    free(old);
}

void *nmq_hashmap_get(const nmq_hashmap_t *self, const void *key, size_t len)
{
    if (!self->count_)
        return NULL;
    return self->slots_[s_find(self, nmq_hash(key, len), key, len)].value;
}

void *nmq_hashmap_put(nmq_hashmap_t *self, const void *key, size_t len, void *value)
{
    if (!value)
        abort();    /* NULL means absent: storing it is a caller bug */
    if ((self->count_ + 1) * 4 > self->cap_ * 3)
        s_resize(self, self->cap_ ? self->cap_ * 2 : MIN_CAP);
    uint64_t h = nmq_hash(key, len);
    s_slot_t *s = &self->slots_[s_find(self, h, key, len)];
    void *old = s->value;
    if (!old) {
        if (s_owns_keys(self)) {
            char *copy = nmq_xmalloc(len + 1);
            memcpy(copy, key, len);
            copy[len] = '\0';
            key = copy;
        }
        *s = (s_slot_t){ h, key, len, NULL };
        self->count_++;
    }
    s->value = value;
    return old;
}

void *nmq_hashmap_remove(nmq_hashmap_t *self, const void *key, size_t len)
{
    if (!self->count_)
        return NULL;
    size_t i = s_find(self, nmq_hash(key, len), key, len);
    void *old = self->slots_[i].value;
    if (!old)
        return NULL;
    if (s_owns_keys(self))
        free((void *)self->slots_[i].key);
    /* Backward shift: pull later members of the probe run into the hole
     * unless their home lies cyclically in (hole, j]. */
    size_t mask = self->cap_ - 1;
    for (size_t j = (i + 1) & mask; self->slots_[j].value; j = (j + 1) & mask) {
        size_t home = self->slots_[j].hash & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            self->slots_[i] = self->slots_[j];
            i = j;
        }
    }
    self->slots_[i].value = NULL;
    self->count_--;
    if (self->cap_ > MIN_CAP && self->count_ * 8 < self->cap_)
        s_resize(self, self->cap_ / 2);
    return old;
}

size_t nmq_hashmap_size(const nmq_hashmap_t *self) { return self->count_; }

bool nmq_hashmap_next(const nmq_hashmap_t *self, size_t *cursor,
                      const void **key, size_t *len, void **value)
{
    for (size_t i = *cursor; i < self->cap_; i++) {
        const s_slot_t *s = &self->slots_[i];
        if (!s->value)
            continue;
        if (key)
            *key = s->key;
        if (len)
            *len = s->len;
        *value = s->value;
        *cursor = i + 1;
        return true;
    }
    *cursor = self->cap_;
    return false;
}
