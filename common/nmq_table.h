/* nmq_table — the rows nemomq-admin prints, as a text table in the style of
 * VerneMQ's clique output or as JSON (`--json`): one builder, two renderings,
 * so every admin command gets machine output for free.  A column named with a
 * leading '#' holds numbers (JSON numbers, right-aligned in text). */
#ifndef NMQ_TABLE_H
#define NMQ_TABLE_H

#include <stdbool.h>

typedef struct nmq_table nmq_table_t;

nmq_table_t *nmq_table_new(const char *const *columns, int ncols);
void nmq_table_destroy(nmq_table_t **self_p);
/* Append one cell to the current row; a row is complete after ncols cells. */
void nmq_table_cell(nmq_table_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int nmq_table_rows(const nmq_table_t *self);
/* The whole table; caller frees. */
char *nmq_table_render(const nmq_table_t *self, bool json);

#endif
