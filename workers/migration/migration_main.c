/* migration — "nemomq: migration": moves this node's queues to the other
 * nodes when it leaves the cluster (seed 000, case A).
 *
 * The cluster worker says LEAVE {kill, interval, timeout, nodes} (after the
 * acceptors stopped listening, and with -k disconnected their clients).  The
 * migration worker has every queue worker MIGRATE its sessions to those nodes,
 * round robin: offline sessions at once, online ones as their clients go.
 * Each queue worker reports PROGRESS {moved, left}; every `interval` seconds a
 * line in the log says how far it got (tail -f console.log, as VerneMQ says).
 * After `timeout` seconds MIGRATE comes again with force: the online sessions
 * go too, their connections kicked.  When no queue worker holds a session any
 * more, LEFT goes to the cluster worker, which takes the node out of the
 * cluster and stops it.
 *
 * Sockets: a DEALER to cluster.sock and one to each queue worker's ROUTER,
 * all with the routing id "g.<pid>"; HELLO to the cluster worker every second
 * so that it knows where we are.
 *
 * A session taken over by a client connecting to another node moves without
 * this worker: the queue workers do it directly (queue_move.c).
 */
#include "roles.h"
#include "nmq_batch.h"
#include "nmq_log.h"
#include "nmq_worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define MIG_MAX_SHARDS 64
#define MIG_HELLO_MS   1000

typedef struct {
    nmq_worker_t *w;
    const nmq_config_t *cfg;
    char id[32];
    void *cluster;
    void *queues[MIG_MAX_SHARDS];
    int nshards;
    nmq_batch_in_t in;
    int64_t next_hello_ms;
    /* a leave under way */
    bool leaving, forced, left_sent;
    unsigned interval, timeout;
    char **nodes;
    size_t nnodes;
    int64_t started_ms, next_progress_ms, deadline_ms;
    struct {
        bool reported;
        uint64_t moved, left;
    } shard[MIG_MAX_SHARDS];
    uint64_t migrated;
} mig_t;

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void s_send_op(mig_t *g, void *sock, broker_op_t code, bool force)
{
    nmq_batch_t *b = nmq_batch_new();
    Nmq__Op *op = nmq_batch_op(b, code);
    if (code == BROKER_OP_MIGRATE) {
        op->n_nodes = g->nnodes;
        op->nodes = g->nodes;
        op->has_force = true;
        op->force = force;
    }
    nmq_batch_send(b, sock, NULL, 0);
    op->n_nodes = 0;
    op->nodes = NULL;
    nmq_batch_destroy(&b);
}

static void s_migrate_all(mig_t *g, bool force)
{
    for (int i = 0; i < g->nshards; i++)
        s_send_op(g, g->queues[i], BROKER_OP_MIGRATE, force);
}

/* --- what arrives ---------------------------------------------------------------- */

static void s_leave(mig_t *g, const Nmq__Op *op)
{
    for (size_t i = 0; i < g->nnodes; i++)
        free(g->nodes[i]);
    free(g->nodes);
    g->nodes = calloc(op->n_nodes ? op->n_nodes : 1, sizeof *g->nodes);
    for (size_t i = 0; i < op->n_nodes; i++)
        g->nodes[i] = strdup(op->nodes[i]);
    g->nnodes = op->n_nodes;
    g->interval = op->interval ? op->interval : 5;
    g->timeout = op->timeout;
    int64_t now = s_now_ms();
    if (!g->leaving)
        g->started_ms = now;
    g->leaving = true;
    g->forced = g->left_sent = false;
    g->next_progress_ms = now + (int64_t)g->interval * 1000;
    g->deadline_ms = now + (int64_t)g->timeout * 1000;
    memset(g->shard, 0, sizeof g->shard);
    nmq_info("cluster leave: migrating the queues of %d queue workers to %zu nodes", g->nshards, g->nnodes);
    s_migrate_all(g, g->timeout == 0);
    g->forced = g->timeout == 0;
}

static void s_progress(mig_t *g, const Nmq__Op *op)
{
    if (!g->leaving || op->shard >= (uint32_t)g->nshards)
        return;
    g->shard[op->shard].reported = true;
    g->shard[op->shard].moved = op->moved;
    g->shard[op->shard].left = op->left;
}

static void s_on_socket(nmq_worker_t *w, void *sock, short revents)
{
    mig_t *g = nmq_worker_data(w);
    for (int i = 0; i < 256; i++) {
        if (nmq_batch_recv(&g->in, sock, false) < 0)
            break;
        for (size_t k = 0; k < g->in.batch->n_ops; k++) {
            const Nmq__Op *op = g->in.batch->ops[k];
            if (op->op == BROKER_OP_LEAVE)
                s_leave(g, op);
            else if (op->op == BROKER_OP_PROGRESS)
                s_progress(g, op);
            else if (op->op != BROKER_OP_HELLO)
                nmq_warn("ignored op %u: not one the migration worker receives", op->op);
        }
        nmq_batch_in_close(&g->in);
    }
}

/* --- the role -------------------------------------------------------------------------- */

static void s_totals(const mig_t *g, uint64_t *moved, uint64_t *left, int *reported)
{
    *moved = *left = 0;
    *reported = 0;
    for (int i = 0; i < g->nshards; i++) {
        *moved += g->shard[i].moved;
        *left += g->shard[i].left;
        *reported += g->shard[i].reported;
    }
}

static int s_tick(nmq_worker_t *w)
{
    mig_t *g = nmq_worker_data(w);
    int64_t now = s_now_ms();
    if (now >= g->next_hello_ms) {
        s_send_op(g, g->cluster, BROKER_OP_HELLO, false);
        g->next_hello_ms = now + MIG_HELLO_MS;
    }
    if (!g->leaving || g->left_sent)
        return (int)(g->next_hello_ms - now);
    uint64_t moved, left;
    int reported;
    s_totals(g, &moved, &left, &reported);
    bool done = reported == g->nshards && left == 0;
    if (now >= g->next_progress_ms || done) {
        nmq_info("cluster leave: %llu queues migrated, %llu left, %lld s in%s", (unsigned long long)moved,
                 (unsigned long long)left, (long long)((now - g->started_ms) / 1000),
                 g->forced ? " (online ones too)" : "");
        g->next_progress_ms = now + (int64_t)g->interval * 1000;
    }
    if (!g->forced && now >= g->deadline_ms) {
        nmq_warn("cluster leave: %u s passed with %llu queues left: moving the online ones too", g->timeout,
                 (unsigned long long)left);
        s_migrate_all(g, true);
        g->forced = true;
    }
    if (done) {
        nmq_info("cluster leave: all queues migrated (%llu)", (unsigned long long)moved);
        g->migrated = moved;
        s_send_op(g, g->cluster, BROKER_OP_LEFT, false);
        g->left_sent = true;
    }
    return 100;
}

static int s_start(nmq_worker_t *w)
{
    mig_t *g = calloc(1, sizeof *g);
    nmq_worker_set_data(w, g);
    g->w = w;
    g->cfg = nmq_worker_config(w);
    snprintf(g->id, sizeof g->id, "g.%d", (int)getpid());
    g->nshards = g->cfg->queue_shards < MIG_MAX_SHARDS ? g->cfg->queue_shards : MIG_MAX_SHARDS;
    void *zctx = nmq_worker_zctx(w);
    g->cluster = nmq_batch_socket(zctx, g->cfg, ZMQ_DEALER, "cluster.sock", false, g->id, 0, 0);
    if (!g->cluster)
        return 1;
    nmq_worker_watch_socket(w, g->cluster, ZMQ_POLLIN, s_on_socket, g->cluster);
    for (int i = 0; i < g->nshards; i++) {
        char name[32];
        snprintf(name, sizeof name, "queue.%d.sock", i);
        g->queues[i] = nmq_batch_socket(zctx, g->cfg, ZMQ_DEALER, name, false, g->id, 0, 0);
        if (!g->queues[i])
            return 1;
        nmq_worker_watch_socket(w, g->queues[i], ZMQ_POLLIN, s_on_socket, g->queues[i]);
    }
    return 0;
}

static void s_status(nmq_worker_t *w, char *buf, size_t len)
{
    const mig_t *g = nmq_worker_data(w);
    if (!g)
        return;
    if (!g->leaving) {
        snprintf(buf, len, "idle");
        return;
    }
    uint64_t moved, left;
    int reported;
    s_totals(g, &moved, &left, &reported);
    snprintf(buf, len, "cluster leave: %llu queues migrated, %llu left", (unsigned long long)moved,
             (unsigned long long)left);
}

static void s_metrics(nmq_worker_t *w)
{
    const mig_t *g = nmq_worker_data(w);
    if (!g)
        return;
    uint64_t moved, left;
    int reported;
    s_totals(g, &moved, &left, &reported);
    nmq_worker_metric(w, "cluster_leave_queues_migrated", moved, false);
    nmq_worker_metric(w, "cluster_leave_queues_left", left, true);
}

static void s_destroy(nmq_worker_t *w)
{
    mig_t *g = nmq_worker_data(w);
    if (!g)
        return;
    for (int i = 0; i < g->nshards; i++)
        if (g->queues[i])
            zmq_close(g->queues[i]);
    if (g->cluster)
        zmq_close(g->cluster);
    for (size_t i = 0; i < g->nnodes; i++)
        free(g->nodes[i]);
    free(g->nodes);
    nmq_batch_in_free(&g->in);
    free(g);
}

static const nmq_role_t s_role = {
    .name = "migration",
    .start = s_start,
    .tick = s_tick,
    .destroy = s_destroy,
    .status = s_status,
    .metrics = s_metrics,
};

int migration_main(void) { return nmq_worker_main(&s_role); }
