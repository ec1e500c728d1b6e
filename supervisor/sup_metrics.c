/* sup_metrics — see sup_metrics.h.  A linear table: a node has a few dozen
 * metric names, and the table is read on an admin request or a $SYS tick. */
#include "sup_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sup_metric_t *s_find(sup_metrics_t *self, const char *name)
{
    for (size_t i = 0; i < self->n; i++)
        if (!strcmp(self->m[i].name, name))
            return &self->m[i];
    return NULL;
}

const sup_metric_t *sup_metrics_get(const sup_metrics_t *self, const char *name)
{
    return s_find((sup_metrics_t *)self, name);
}

static sup_metric_t *s_slot(sup_metrics_t *self, const char *name, bool gauge)
{
    sup_metric_t *m = s_find(self, name);
    if (m)
        return m;
    if (self->n == self->cap) {
        self->cap = self->cap ? self->cap * 2 : 32;
        self->m = realloc(self->m, self->cap * sizeof *self->m);
        if (!self->m)
            abort();
    }
    m = &self->m[self->n++];
    snprintf(m->name, sizeof m->name, "%s", name);
    m->value = 0;
    m->gauge = gauge;
    return m;
}

void sup_metrics_set(sup_metrics_t *self, const char *name, uint64_t value, bool gauge)
{
    sup_metric_t *m = s_slot(self, name, gauge);
    m->value = value;
    m->gauge = gauge;
}

void sup_metrics_add(sup_metrics_t *dst, const sup_metrics_t *src, bool counters_only)
{
    for (size_t i = 0; i < src->n; i++) {
        if (counters_only && src->m[i].gauge)
            continue;
        s_slot(dst, src->m[i].name, src->m[i].gauge)->value += src->m[i].value;
    }
}

void sup_metrics_clear(sup_metrics_t *self) { self->n = 0; }

void sup_metrics_free(sup_metrics_t *self)
{
    free(self->m);
    self->m = NULL;
    self->n = self->cap = 0;
}

static int s_cmp(const void *a, const void *b)
{
    return strcmp(((const sup_metric_t *)a)->name, ((const sup_metric_t *)b)->name);
}

void sup_metrics_sort(sup_metrics_t *self)
{
    if (self->n > 1)
        qsort(self->m, self->n, sizeof *self->m, s_cmp);
}
