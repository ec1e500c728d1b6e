/* sup_spec — see sup_spec.h.
 *
 * The table is the node's shape from DESIGN.md.  Every role is one_for_one:
 * workers hold no state another worker depends on in memory (acceptors resync
 * their routing replica from metadata, queues live in LMDB), so one crash never
 * needs to take its neighbours down.  rest_for_one is supported for the role
 * that one day needs it and is covered by the unit tests.
 */
#include "sup_spec.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static const sup_spec_t s_specs[] = {
    /* role        count                                            restart        strategy          shutdown listener */
    { "portmap",   SUP_COUNT_ONE,                                   SUP_PERMANENT, SUP_ONE_FOR_ONE,  2000,    false },
    { "metadata",  SUP_COUNT_ONE,                                   SUP_PERMANENT, SUP_ONE_FOR_ONE,  0,       false },
    { "queue",     offsetof(nmq_config_t, queue_shards),             SUP_PERMANENT, SUP_ONE_FOR_ONE,  0,       false },
    { "cluster",   SUP_COUNT_ONE,                                   SUP_PERMANENT, SUP_ONE_FOR_ONE,  0,       false },
    { "migration", SUP_COUNT_ONE,                                   SUP_PERMANENT, SUP_ONE_FOR_ONE,  0,       false },
    { "acceptor",  offsetof(nmq_config_t, listener_nr_of_acceptors), SUP_PERMANENT, SUP_ONE_FOR_ONE,  0,       true  },
};

const sup_spec_t *sup_specs(int *n)
{
    *n = (int)(sizeof s_specs / sizeof s_specs[0]);
    return s_specs;
}

const sup_spec_t *sup_spec_find(const char *role)
{
    for (size_t i = 0; i < sizeof s_specs / sizeof s_specs[0]; i++)
        if (!strcmp(s_specs[i].role, role))
            return &s_specs[i];
    return NULL;
}

int sup_spec_count(const sup_spec_t *spec, const nmq_config_t *cfg)
{
    if (spec->count_field == SUP_COUNT_ONE)
        return 1;
    return *(const int *)((const char *)cfg + spec->count_field);
}

const char *sup_restart_name(sup_restart_t r)
{
    static const char *const names[] = { "permanent", "transient", "temporary" };
    return names[r];
}

const char *sup_strategy_name(sup_strategy_t s)
{
    static const char *const names[] = { "one_for_one", "rest_for_one" };
    return names[s];
}

sup_exit_t sup_exit_kind(int wait_status)
{
    if (WIFEXITED(wait_status)) {
        if (WEXITSTATUS(wait_status) == 0)
            return SUP_EXIT_NORMAL;
        if (WEXITSTATUS(wait_status) == NMQ_EXIT_CONFIG)
            return SUP_EXIT_FATAL;
    }
    return SUP_EXIT_ABNORMAL;
}

bool sup_restart_wanted(sup_restart_t restart, sup_exit_t kind)
{
    static const bool table[3][3] = {
        /*                 NORMAL ABNORMAL FATAL */
        [SUP_PERMANENT] = { true,  true,   false },
        [SUP_TRANSIENT] = { false, true,   false },
        [SUP_TEMPORARY] = { false, false,  false },
    };
    return table[restart][kind];
}

int sup_restart_set(const sup_strategy_t *strategies, int n, int crashed, int *out)
{
    int k = 0;
    out[k++] = crashed;
    if (strategies[crashed] == SUP_REST_FOR_ONE)
        for (int i = crashed + 1; i < n; i++)
            out[k++] = i;
    return k;
}

void sup_intensity_init(sup_intensity_t *it, int max, int period_s)
{
    memset(it, 0, sizeof *it);
    sup_intensity_reset_limits(it, max, period_s);
}

void sup_intensity_fini(sup_intensity_t *it)
{
    free(it->stamps);
    it->stamps = NULL;
}

void sup_intensity_reset_limits(sup_intensity_t *it, int max, int period_s)
{
    /* Carry the newest stamps over, oldest first, into a ring of the new size. */
    int ring = it->max + 1;
    int keep = it->count < max + 1 ? it->count : max + 1;
    int64_t *stamps = calloc((size_t)max + 1, sizeof *stamps);
    for (int i = 0; i < keep; i++)
        stamps[i] = it->stamps[(it->head - keep + i + ring) % ring];
    free(it->stamps);
    it->stamps = stamps;
    it->count = keep;
    it->head = keep % (max + 1);
    it->max = max;
    it->period_ms = (int64_t)period_s * 1000;
}

int sup_intensity_recent(const sup_intensity_t *it, int64_t now_ms)
{
    int recent = 0;
    for (int i = 0; i < it->count; i++)
        if (now_ms - it->stamps[i] < it->period_ms)
            recent++;
    return recent;
}

bool sup_intensity_add(sup_intensity_t *it, int64_t now_ms)
{
    it->stamps[it->head] = now_ms;
    it->head = (it->head + 1) % (it->max + 1);
    if (it->count < it->max + 1)
        it->count++;
    return sup_intensity_recent(it, now_ms) > it->max;
}
