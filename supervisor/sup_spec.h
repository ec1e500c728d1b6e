/* sup_spec — the node's child specs and the pure rules of supervision, in the
 * manner of OTP: what each role is, how many of it run, whether it comes back
 * when it exits (permanent | transient | temporary), what else restarts with it
 * (one_for_one | rest_for_one), how long it gets to stop, and the restart
 * intensity that stops a node instead of letting it restart forever.
 *
 * No I/O here: sup_node.c acts on these answers, check_sup_spec.c tests them.
 */
#ifndef SUP_SPEC_H
#define SUP_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "nmq_config.h"

typedef enum { SUP_PERMANENT, SUP_TRANSIENT, SUP_TEMPORARY } sup_restart_t;
typedef enum { SUP_ONE_FOR_ONE, SUP_REST_FOR_ONE } sup_strategy_t;

#define SUP_COUNT_ONE ((size_t)-1)

typedef struct sup_spec {
    const char *role;
    size_t count_field;        /* offsetof an int in nmq_config_t, or SUP_COUNT_ONE */
    sup_restart_t restart;
    sup_strategy_t strategy;   /* what else restarts when this one crashes */
    int shutdown_ms;           /* 0: supervisor.shutdown_timeout */
    bool listener;             /* inherits the listening sockets */
} sup_spec_t;

/* The node's children, in start order (dependencies first, acceptors last). */
const sup_spec_t *sup_specs(int *n);
const sup_spec_t *sup_spec_find(const char *role);
int sup_spec_count(const sup_spec_t *spec, const nmq_config_t *cfg);
const char *sup_restart_name(sup_restart_t r);
const char *sup_strategy_name(sup_strategy_t s);

/* How a child ended, from its wait status. */
typedef enum {
    SUP_EXIT_NORMAL,    /* exit 0 */
    SUP_EXIT_ABNORMAL,  /* non-zero exit or a signal */
    SUP_EXIT_FATAL      /* NMQ_EXIT_CONFIG: restarting cannot help; the node stops */
} sup_exit_t;

sup_exit_t sup_exit_kind(int wait_status);
/* Should a child of this restart type come back after this exit? */
bool sup_restart_wanted(sup_restart_t restart, sup_exit_t kind);

/* Which children restart when child `crashed` of `n` (in start order, each with
 * its spec's strategy) dies: writes indices to out, returns how many.  The
 * crashed child is always first. */
int sup_restart_set(const sup_strategy_t *strategies, int n, int crashed, int *out);

/* Restart intensity: more than max restarts within period_ms stops the node. */
typedef struct {
    int max;
    int64_t period_ms;
    int64_t *stamps;           /* ring of the last max+1 restart times */
    int count, head;
} sup_intensity_t;

void sup_intensity_init(sup_intensity_t *it, int max, int period_s);
void sup_intensity_fini(sup_intensity_t *it);
/* Change the limits, keeping the recent history. */
void sup_intensity_reset_limits(sup_intensity_t *it, int max, int period_s);
/* Record a restart at now_ms; true when the limit is exceeded. */
bool sup_intensity_add(sup_intensity_t *it, int64_t now_ms);
/* Restarts recorded within the period ending at now_ms. */
int sup_intensity_recent(const sup_intensity_t *it, int64_t now_ms);

#endif
