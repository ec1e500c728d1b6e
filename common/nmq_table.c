/* nmq_table — see nmq_table.h.  Cells are kept as strings; widths are worked
 * out at render time. */
#include "nmq_table.h"
#include "nmq_strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct nmq_table {
    int ncols;
    char **columns;     /* names without the '#' */
    bool *numeric;
    char **cells;       /* row-major */
    int ncells, cap;
};

nmq_table_t *nmq_table_new(const char *const *columns, int ncols)
{
    nmq_table_t *t = calloc(1, sizeof *t);
    t->ncols = ncols;
    t->columns = calloc((size_t)ncols, sizeof *t->columns);
    t->numeric = calloc((size_t)ncols, sizeof *t->numeric);
    for (int i = 0; i < ncols; i++) {
        t->numeric[i] = columns[i][0] == '#';
        t->columns[i] = strdup(columns[i] + t->numeric[i]);
    }
    return t;
}

void nmq_table_destroy(nmq_table_t **self_p)
{
    nmq_table_t *t = *self_p;
    if (!t)
        return;
    for (int i = 0; i < t->ncols; i++)
        free(t->columns[i]);
    for (int i = 0; i < t->ncells; i++)
        free(t->cells[i]);
    free(t->columns);
    free(t->numeric);
    free(t->cells);
    free(t);
    *self_p = NULL;
}

void nmq_table_cell(nmq_table_t *t, const char *fmt, ...)
{
    if (t->ncells == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 32;
        t->cells = realloc(t->cells, (size_t)t->cap * sizeof *t->cells);
    }
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&t->cells[t->ncells], fmt, ap) < 0)
        t->cells[t->ncells] = strdup("");
    va_end(ap);
    t->ncells++;
}

int nmq_table_rows(const nmq_table_t *t) { return t->ncells / t->ncols; }

static void s_render_json(const nmq_table_t *t, nmq_strbuf_t *b)
{
    nmq_strbuf_puts(b, "[");
    for (int r = 0; r < nmq_table_rows(t); r++) {
        nmq_strbuf_puts(b, r ? ",\n {" : "{");
        for (int c = 0; c < t->ncols; c++) {
            const char *v = t->cells[r * t->ncols + c];
            if (c)
                nmq_strbuf_puts(b, ", ");
            nmq_strbuf_json_string(b, t->columns[c]);
            nmq_strbuf_puts(b, ": ");
            if (t->numeric[c] && v[0] && strspn(v, "-0123456789.") == strlen(v) && strpbrk(v, "0123456789"))
                nmq_strbuf_puts(b, v);
            else
                nmq_strbuf_json_string(b, v);
        }
        nmq_strbuf_puts(b, "}");
    }
    nmq_strbuf_puts(b, "]\n");
}

static void s_rule(nmq_strbuf_t *b, const int *width, int ncols)
{
    for (int c = 0; c < ncols; c++) {
        nmq_strbuf_puts(b, "+");
        for (int i = 0; i < width[c] + 2; i++)
            nmq_strbuf_puts(b, "-");
    }
    nmq_strbuf_puts(b, "+\n");
}

static void s_row(nmq_strbuf_t *b, const nmq_table_t *t, char *const *cells, const int *width,
                  bool header)
{
    for (int c = 0; c < t->ncols; c++) {
        bool right = t->numeric[c] && !header;
        nmq_strbuf_printf(b, right ? "| %*s " : "| %-*s ", width[c], cells[c]);
    }
    nmq_strbuf_puts(b, "|\n");
}

char *nmq_table_render(const nmq_table_t *t, bool json)
{
    nmq_strbuf_t b = { 0 };
    if (json) {
        s_render_json(t, &b);
        return nmq_strbuf_take(&b);
    }
    int *width = calloc((size_t)t->ncols, sizeof *width);
    for (int c = 0; c < t->ncols; c++)
        width[c] = (int)strlen(t->columns[c]);
    for (int i = 0; i < t->ncells; i++) {
        int len = (int)strlen(t->cells[i]);
        if (len > width[i % t->ncols])
            width[i % t->ncols] = len;
    }
    s_rule(&b, width, t->ncols);
    s_row(&b, t, t->columns, width, true);
    s_rule(&b, width, t->ncols);
    for (int r = 0; r < nmq_table_rows(t); r++)
        s_row(&b, t, t->cells + r * t->ncols, width, false);
    s_rule(&b, width, t->ncols);
    free(width);
    return nmq_strbuf_take(&b);
}
