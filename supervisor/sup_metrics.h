/* sup_metrics — the node's metrics as the supervisor keeps them: the last
 * values each worker reported with its heartbeat, plus the counters of the
 * workers that exited, so that a counter of the node never goes down when a
 * worker restarts.  `metrics show` and $SYS read the sum.  Pure: tested in
 * check_sup_metrics. */
#ifndef SUP_METRICS_H
#define SUP_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char name[64];
    uint64_t value;
    bool gauge;
} sup_metric_t;

typedef struct {
    sup_metric_t *m;
    size_t n, cap;
} sup_metrics_t;

/* Set (replace) one metric. */
void sup_metrics_set(sup_metrics_t *self, const char *name, uint64_t value, bool gauge);
/* Add src into dst by name; with counters_only, gauges of src are skipped. */
void sup_metrics_add(sup_metrics_t *dst, const sup_metrics_t *src, bool counters_only);
void sup_metrics_clear(sup_metrics_t *self);
void sup_metrics_free(sup_metrics_t *self);
/* Sort by name (for output). */
void sup_metrics_sort(sup_metrics_t *self);
const sup_metric_t *sup_metrics_get(const sup_metrics_t *self, const char *name);

#endif
