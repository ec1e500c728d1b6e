/* bench_scenario — the scenarios, and the plan of a run: who connects where.
 *
 * A scenario is one row of data: which counts it takes, its defaults, and
 * what its subscribers listen to.  Everything else follows from the row:
 *
 *   topic of publisher i     <prefix>/<i>
 *   filter of subscriber j   <prefix>/+ (sees all), <prefix>/0 (fanout, exact)
 *                            <prefix>/<j> (p2p), $share/nb<tag>/<prefix>/+ (shared)
 *   deliveries per message   S when every subscriber sees every publisher,
 *                            1 for p2p and for one $share group
 *
 * Connections are numbered g = 0..total-1, subscribers first, then
 * publishers (idle connections for conn), and dealt round robin over the load
 * processes, except $share members, which all live in process 0 so that one
 * tracker there sees every copy of every message and finds duplicates across
 * members.  Source addresses are dealt round robin too: one (source, broker)
 * pair has about 28k ephemeral ports, and the kernel's search for a free one
 * slows down as they fill up (40k connections from 2 sources cost 12 s of
 * system time, from 8 sources 2.7 s), so the default is one source per 5000.
 */
#include "bench.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static const bench_scenario_t s_scenarios[] = {
    { "fanin", "P publishers to S subscribers of a wildcard (default 100 -> 1)",
      BENCH_C_PUBS | BENCH_C_SUBS, 100, 1, BENCH_SEES_ALL, 0, 0 },
    { "fanout", "1 publisher to S subscribers of its topic (default 1 -> 1000)",
      BENCH_C_SUBS, 1, 1000, BENCH_SEES_ALL, 1, 0 },
    { "p2p", "N pairs, one topic each (default 100)",
      BENCH_C_PAIRS, 100, 100, BENCH_SEES_OWN, 1, 0 },
    { "shared", "P publishers to one $share group of S members (default 10 -> 10)",
      BENCH_C_PUBS | BENCH_C_SUBS, 10, 10, BENCH_SEES_ALL, 0, 1 },
    { "conn", "open C connections, hold them (default 1000)",
      BENCH_C_CONNS, 0, 1000, BENCH_SEES_NONE, 0, 0 },
};

#define N_SCENARIOS (sizeof s_scenarios / sizeof s_scenarios[0])
#define PORTS_PER_SOURCE 5000       /* of ~28k ephemeral ports: the kernel finds a free one fast */

const bench_scenario_t *bench_scenario_find(const char *name)
{
    for (size_t i = 0; i < N_SCENARIOS; i++)
        if (!strcmp(s_scenarios[i].name, name))
            return &s_scenarios[i];
    return NULL;
}

void bench_scenario_list(FILE *out)
{
    for (size_t i = 0; i < N_SCENARIOS; i++)
        fprintf(out, "  %-8s %s\n", s_scenarios[i].name, s_scenarios[i].doc);
}

static int s_pick(int given, int dflt)
{
    return given >= 0 ? given : dflt;
}

static int s_raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
        (void)getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur > 1u << 30 ? 1 << 30 : (int)rl.rlim_cur;
}

static uint32_t s_random_tag(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)getpid() << 40);
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (uint32_t)x | 1u;
}

bool bench_plan(bench_cfg_t *cfg)
{
    const bench_scenario_t *s = cfg->scn;
    switch (s->sees) {
    case BENCH_SEES_NONE:
        cfg->n_idle = s_pick(cfg->conns, s->subs);
        break;
    case BENCH_SEES_OWN:
        cfg->n_pubs = cfg->n_subs = s_pick(cfg->pairs, s->pubs);
        break;
    default:
        cfg->n_pubs = s_pick(cfg->pubs, s->pubs);
        cfg->n_subs = s_pick(cfg->subs, s->subs);
        break;
    }
    cfg->total = cfg->n_subs + cfg->n_pubs + cfg->n_idle;
    if (cfg->total < 1 || (s->sees != BENCH_SEES_NONE && (cfg->n_pubs < 1 || cfg->n_subs < 1))) {
        fprintf(stderr, "nemomq-bench: %s needs at least one publisher and one subscriber\n", s->name);
        return false;
    }
    cfg->mult = (s->sees == BENCH_SEES_ALL && !s->shared) ? (uint64_t)cfg->n_subs : 1;

    cfg->fd_limit = s_raise_fd_limit();
    int per_proc = cfg->fd_limit - 32;      /* epoll, control socket, stdio, slack */
    if (per_proc < 1) {
        fprintf(stderr, "nemomq-bench: the file limit (%d) leaves no room for connections\n", cfg->fd_limit);
        return false;
    }
    if (cfg->jobs == 0)
        cfg->jobs = (cfg->total + per_proc - 1) / per_proc;
    if (cfg->jobs > cfg->total)
        cfg->jobs = cfg->total;
    int most = (cfg->total + cfg->jobs - 1) / cfg->jobs;
    if (s->shared && cfg->n_subs + (cfg->n_pubs + cfg->jobs - 1) / cfg->jobs > most)
        most = cfg->n_subs + (cfg->n_pubs + cfg->jobs - 1) / cfg->jobs;
    if (most > per_proc) {
        fprintf(stderr, "nemomq-bench: %d connections in one process, but a process may open %d files "
                "here: use -j %d or more%s\n", most, cfg->fd_limit, (cfg->total + per_proc - 1) / per_proc,
                s->shared ? " (all $share members live in process 0)" : "");
        return false;
    }

    if (cfg->sources == 0) {
        int most_per_host = 0;
        for (int k = 0; k < 2; k++) {
            int n = k ? cfg->n_pubs : cfg->n_subs + cfg->n_idle;
            int hosts = k ? cfg->n_pub_hosts : cfg->n_sub_hosts;
            if ((n + hosts - 1) / hosts > most_per_host)
                most_per_host = (n + hosts - 1) / hosts;
        }
        cfg->sources = (most_per_host + PORTS_PER_SOURCE - 1) / PORTS_PER_SOURCE;
    }
    if (cfg->sources > 254) {
        fprintf(stderr, "nemomq-bench: at most 254 source addresses (127.0.0.1-127.0.0.254)\n");
        return false;
    }

    cfg->tag = s_random_tag();
    if (cfg->topic)
        snprintf(cfg->prefix, sizeof cfg->prefix, "%s", cfg->topic);
    else
        snprintf(cfg->prefix, sizeof cfg->prefix, "nmqbench/%08x", cfg->tag);
    return true;
}

bench_kind_t bench_plan_kind(const bench_cfg_t *cfg, int g, int *index)
{
    if (g < cfg->n_subs) {
        *index = g;
        return BENCH_SUB;
    }
    g -= cfg->n_subs;
    if (g < cfg->n_pubs) {
        *index = g;
        return BENCH_PUB;
    }
    *index = g - cfg->n_pubs;
    return BENCH_IDLE;
}

int bench_plan_owner(const bench_cfg_t *cfg, int g)
{
    if (cfg->scn->shared && g < cfg->n_subs)
        return 0;
    return g % cfg->jobs;
}

int bench_plan_topic(const bench_cfg_t *cfg, int pub, char *buf, size_t cap)
{
    return snprintf(buf, cap, "%s/%d", cfg->prefix, pub);
}

int bench_plan_filter(const bench_cfg_t *cfg, int sub, char *buf, size_t cap)
{
    const bench_scenario_t *s = cfg->scn;
    if (s->shared)
        return snprintf(buf, cap, "$share/nb%08x/%s/+", cfg->tag, cfg->prefix);
    if (s->sees == BENCH_SEES_OWN)
        return snprintf(buf, cap, "%s/%d", cfg->prefix, sub);
    if (s->exact)
        return snprintf(buf, cap, "%s/0", cfg->prefix);
    return snprintf(buf, cap, "%s/+", cfg->prefix);
}

int bench_plan_group(const bench_cfg_t *cfg, int sub, int *first, int *n)
{
    if (cfg->scn->sees == BENCH_SEES_OWN) {
        *first = sub;
        *n = 1;
    } else {
        *first = 0;
        *n = cfg->n_pubs;
    }
    return cfg->scn->shared ? 0 : sub;
}

int bench_plan_groups(const bench_cfg_t *cfg)
{
    return cfg->scn->shared ? 1 : cfg->n_subs;
}

const bench_host_t *bench_plan_host(const bench_cfg_t *cfg, int g)
{
    int i;
    if (bench_plan_kind(cfg, g, &i) == BENCH_PUB)
        return &cfg->pub_hosts[i % cfg->n_pub_hosts];
    return &cfg->sub_hosts[i % cfg->n_sub_hosts];
}

uint32_t bench_plan_source(const bench_cfg_t *cfg, int g)
{
    if (cfg->sources <= 1)
        return 0;
    return htonl(INADDR_LOOPBACK + 1u * (uint32_t)(g % cfg->sources));
}
