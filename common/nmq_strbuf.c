/* nmq_strbuf — see nmq_strbuf.h. */
#include "nmq_strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void s_reserve(nmq_strbuf_t *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data)
        abort();
    b->data = data;
    b->cap = cap;
}

void nmq_strbuf_append(nmq_strbuf_t *b, const char *s, size_t n)
{
    s_reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void nmq_strbuf_puts(nmq_strbuf_t *b, const char *s) { nmq_strbuf_append(b, s, strlen(s)); }

void nmq_strbuf_printf(nmq_strbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    s_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void nmq_strbuf_json_string(nmq_strbuf_t *b, const char *s)
{
    nmq_strbuf_append(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            nmq_strbuf_printf(b, "\\%c", *p);
        else if (*p < 0x20)
            nmq_strbuf_printf(b, "\\u%04x", *p);
        else
            nmq_strbuf_append(b, (const char *)p, 1);
    }
    nmq_strbuf_append(b, "\"", 1);
}

char *nmq_strbuf_take(nmq_strbuf_t *b)
{
    char *s = b->data ? b->data : strdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return s;
}

void nmq_strbuf_free(nmq_strbuf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
