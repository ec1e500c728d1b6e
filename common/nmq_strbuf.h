/* nmq_strbuf — a growable text buffer for output built piece by piece (admin
 * replies, tables, generated docs).  Allocation failure aborts: these are
 * small, and a node that cannot allocate a reply has nothing better to do. */
#ifndef NMQ_STRBUF_H
#define NMQ_STRBUF_H

#include <stddef.h>

typedef struct {
    char *data;     /* always NUL-terminated once anything was added */
    size_t len;
    size_t cap;
} nmq_strbuf_t;

void nmq_strbuf_printf(nmq_strbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void nmq_strbuf_append(nmq_strbuf_t *b, const char *s, size_t n);
void nmq_strbuf_puts(nmq_strbuf_t *b, const char *s);
/* JSON string literal of s, quotes included. */
void nmq_strbuf_json_string(nmq_strbuf_t *b, const char *s);
/* Hand the text over (caller frees); the buffer is empty again. */
char *nmq_strbuf_take(nmq_strbuf_t *b);
void nmq_strbuf_free(nmq_strbuf_t *b);

#endif
