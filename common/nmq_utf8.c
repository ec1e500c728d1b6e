/* nmq_utf8 — see nmq_utf8.h.  The multi-byte forms follow table 3-7 of the
 * Unicode standard: the lead byte fixes the length and the range allowed for
 * the second byte (which is where overlongs, surrogates and code points past
 * U+10FFFF show); later bytes are plain continuation bytes. */
#include "nmq_utf8.h"

#include <string.h>

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* A lead byte: sequence length and the range of the byte after it. */
typedef struct {
    uint8_t len, lo, hi;
} s_lead_t;

static s_lead_t s_lead(uint8_t c)
{
    if (c >= 0xC2 && c <= 0xDF)
        return (s_lead_t){ 2, 0x80, 0xBF };
    if (c == 0xE0)
        return (s_lead_t){ 3, 0xA0, 0xBF };
    if (c == 0xED)
        return (s_lead_t){ 3, 0x80, 0x9F };
    if (c >= 0xE1 && c <= 0xEF)
        return (s_lead_t){ 3, 0x80, 0xBF };
    if (c == 0xF0)
        return (s_lead_t){ 4, 0x90, 0xBF };
    if (c == 0xF4)
        return (s_lead_t){ 4, 0x80, 0x8F };
    if (c >= 0xF1 && c <= 0xF3)
        return (s_lead_t){ 4, 0x80, 0xBF };
    return (s_lead_t){ 0, 0, 0 };
}

static int s_cont(uint8_t c)
{
    return (c & 0xC0) == 0x80;
}

/* One multi-byte sequence at s (left bytes remain); its length, or 0 with
 * *st set. */
static size_t s_multi(const uint8_t *s, size_t left, nmq_utf8_status_t *st)
{
    s_lead_t l = s_lead(s[0]);
    *st = NMQ_UTF8_ILL_FORMED;
    if (!l.len || left < l.len)
        return 0;
    for (size_t k = 2; k < l.len; k++)
        if (!s_cont(s[k]))
            return 0;
    if (s[1] < l.lo || s[1] > l.hi) {
        if (s[0] == 0xED && s[1] >= 0xA0 && s[1] <= 0xBF)
            *st = NMQ_UTF8_SURROGATE;
        return 0;
    }
    return l.len;
}

nmq_utf8_status_t nmq_utf8_check(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (len - i >= 8) {
            uint64_t v;
            memcpy(&v, s + i, 8);
            if (!((v | ((v - ONES) & ~v)) & HIGHS)) {
                i += 8;
                continue;
            }
        }
        if (s[i] < 0x80) {
            if (!s[i])
                return NMQ_UTF8_NUL;
            i++;
            continue;
        }
        nmq_utf8_status_t st;
        size_t n = s_multi(s + i, len - i, &st);
        if (!n)
            return st;
        i += n;
    }
    return NMQ_UTF8_OK;
}
