/* queue — "nemomq: queue N": the queues of the client ids that hash to slot
 * N (broker_shard_of), their in-flight windows and packet ids, and their
 * durable copy in this worker's own LMDB environment (<data dir>/queue.N).
 * The files of the role are listed in queue_worker.h.
 *
 * Sockets: a ROUTER (queue.N.sock) every acceptor connects to, a DEALER to
 * the metadata worker (subscriptions of sessions that end, presence, CLAIM and
 * its answers, HANDOFF), and a DEALER to the cluster worker (sessions moving
 * between nodes, and APPENDs from other nodes' publishers).
 */
#include "queue_worker.h"
#include "roles.h"
#include "nmq_ctl.h"
#include "nmq_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#define QUEUE_EXPIRY_SWEEP_MS 1000
/* Batches that may wait in each direction between an acceptor and this
 * worker (see ACC_QUEUE_HWM).  Bounded both ways, so a flood costs bounded
 * memory and latency: when this worker falls behind, acceptors stop reading
 * their publishers; when an acceptor falls behind, this worker keeps its
 * batch (ZMQ_ROUTER_MANDATORY answers EAGAIN) and stops reading acceptors. */
#define QUEUE_RECV_HWM 16
#define QUEUE_SEND_HWM 16

static void s_on_router(nmq_worker_t *w, void *arg, short revents)
{
    queue_worker_t *q = nmq_worker_data(w);
    /* bounded in time: the turn's commit and deliveries come after this */
    int64_t until = queue_now_ms() + 20;
    for (int i = 0; i < 1024 && !queue_ops_backlogged(q) && queue_now_ms() < until; i++) {
        if (nmq_batch_recv(q->in, q->router, true) < 0)
            break;
        queue_ops_dispatch(q, q->in);
        nmq_batch_in_close(q->in);
    }
}

void queue_block(queue_worker_t *q, bool blocked)
{
    if (blocked == q->blocked)
        return;
    q->blocked = blocked;
    if (blocked)
        nmq_worker_unwatch_socket(q->w, q->router);
    else
        nmq_worker_watch_socket(q->w, q->router, ZMQ_POLLIN, s_on_router, NULL);
}

/* The metadata and cluster workers' DEALERs: the same op table. */
static void s_on_dealer(nmq_worker_t *w, void *arg, short revents)
{
    queue_worker_t *q = nmq_worker_data(w);
    for (int i = 0; i < 256; i++) {
        if (nmq_batch_recv(q->in, arg, false) < 0)
            break;
        queue_ops_dispatch(q, q->in);
        nmq_batch_in_close(q->in);
    }
}

static int s_open(queue_worker_t *q)
{
    char path[NMQ_CONF_PATH_MAX + 32], err[512];
    snprintf(path, sizeof path, "%s/queue.%d", q->cfg->platform_data_dir, q->slot);
    queue_store_opts_t opts = { .path = path, .sync = q->cfg->message_store_sync };
    q->store = queue_store_open(&opts, err, sizeof err);
    if (!q->store) {
        nmq_error("cannot open the queue store %s: %s", path, err);
        return -1;
    }
    queue_limits_t lim;
    queue_limits_from_config(&lim, q->cfg);
    q->shard = queue_shard_new(&lim, q->store, queue_now_ms(), err, sizeof err);
    if (!q->shard) {
        nmq_error("cannot load the queue store %s: %s", path, err);
        return -1;
    }
    nmq_info("queue store %s: %zu sessions", path, queue_shard_size(q->shard));
    return 0;
}

static int s_start(nmq_worker_t *w)
{
    queue_worker_t *q = calloc(1, sizeof *q);
    nmq_worker_set_data(w, q);
    q->w = w;
    q->cfg = nmq_worker_config(w);
    q->slot = nmq_worker_slot(w);
    q->in = calloc(1, sizeof *q->in);
    q->meta_out = nmq_batch_new();
    q->cluster_out = nmq_batch_new();
    q->attached = nmq_hashmap_new(NMQ_HASHMAP_BORROW_KEYS);   /* key: the attach's client_id */
    if (s_open(q) < 0)
        return 1;
    char name[32], id[32];
    snprintf(name, sizeof name, "queue.%d.sock", q->slot);
    snprintf(id, sizeof id, "q%d.%d", q->slot, (int)getpid());
    /* what acceptors send waits in a bounded pipe: when we fall behind, they
     * stop reading their publishers (acceptor_links.c) */
    q->router = nmq_batch_socket(nmq_worker_zctx(w), q->cfg, ZMQ_ROUTER, name, true, NULL, QUEUE_SEND_HWM,
                                 QUEUE_RECV_HWM);
    q->meta = nmq_batch_socket(nmq_worker_zctx(w), q->cfg, ZMQ_DEALER, "meta.sock", false, id, 0, 0);
    q->cluster = nmq_batch_socket(nmq_worker_zctx(w), q->cfg, ZMQ_DEALER, "cluster.sock", false, id, 0, 0);
    if (!q->router || !q->meta || !q->cluster)
        return 1;
    int one = 1;
    zmq_setsockopt(q->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    nmq_worker_watch_socket(w, q->router, ZMQ_POLLIN, s_on_router, NULL);
    nmq_worker_watch_socket(w, q->meta, ZMQ_POLLIN, s_on_dealer, q->meta);
    nmq_worker_watch_socket(w, q->cluster, ZMQ_POLLIN, s_on_dealer, q->cluster);
    /* whoever this shard had online before a restart is not any more */
    Nmq__Op *reset = nmq_batch_op(q->meta_out, BROKER_OP_PRESENCE_RESET);
    reset->has_shard = reset->has_shards = true;
    reset->shard = (uint32_t)q->slot;
    reset->shards = (uint32_t)q->cfg->queue_shards;
    return 0;
}

static void s_reload(nmq_worker_t *w, const nmq_config_t *old)
{
    queue_worker_t *q = nmq_worker_data(w);
    queue_limits_t lim;
    queue_limits_from_config(&lim, q->cfg);
    queue_shard_set_limits(q->shard, &lim);
}

static int s_tick(nmq_worker_t *w)
{
    queue_worker_t *q = nmq_worker_data(w);
    int64_t now = queue_now_ms();
    if (now >= q->next_expiry_ms) {
        queue_ops_expire(q, now);
        queue_ops_wills(q, now, false);
        queue_ops_retry(q, now);
        q->next_expiry_ms = now + QUEUE_EXPIRY_SWEEP_MS;
    }
    int move = queue_move_tick(q, now);
    if (queue_ops_flush(q))
        return 0;   /* backlogs left: another turn right away */
    if (q->blocked)
        return 1;   /* try the waiting batch again soon */
    int sweep = (int)(q->next_expiry_ms - now);
    return move < sweep ? move : sweep;
}

static void s_status(nmq_worker_t *w, char *buf, size_t len)
{
    const queue_worker_t *q = nmq_worker_data(w);
    if (!q || !q->shard)
        return;
    const queue_counters_t *c = queue_shard_counters(q->shard);
    snprintf(buf, len, "sessions %zu, online %zu, in %llu, out %llu, drop %llu",
             queue_shard_size(q->shard), nmq_hashmap_size(q->attached),
             (unsigned long long)c->message_in, (unsigned long long)c->message_out,
             (unsigned long long)c->message_drop);
}

static void s_metrics(nmq_worker_t *w)
{
    const queue_worker_t *q = nmq_worker_data(w);
    if (!q || !q->shard)
        return;
    const queue_counters_t *c = queue_shard_counters(q->shard);
    nmq_worker_metric(w, "queue_message_in", c->message_in, false);
    nmq_worker_metric(w, "queue_message_out", c->message_out, false);
    nmq_worker_metric(w, "queue_message_drop", c->message_drop, false);
    nmq_worker_metric(w, "queue_message_expired", c->message_expired, false);
    nmq_worker_metric(w, "queue_message_unhandled", c->message_unhandled, false);
    nmq_worker_metric(w, "queue_processes", queue_shard_size(q->shard), true);
    nmq_worker_metric(w, "queue_publish_paced", q->c_paced, false);
}

static void s_control(nmq_worker_t *w, const Nmq__Ctl *msg)
{
    queue_worker_t *q = nmq_worker_data(w);
    if (q && q->shard && msg->cmd == NMQ_CTL_QUERY)
        queue_ops_query(q, msg);
}

static void s_destroy(nmq_worker_t *w)
{
    queue_worker_t *q = nmq_worker_data(w);
    if (!q)
        return;
    queue_pace_stop(q);   /* parked publishers get their answers in the last flush */
    if (q->shard && q->router) {
        queue_ops_wills(q, 0, true);   /* the node stops: held wills are due now */
        queue_ops_flush(q);
    }
    size_t cursor = 0;
    const void *key;
    size_t klen;
    void *value;
    while (q->attached && nmq_hashmap_next(q->attached, &cursor, &key, &klen, &value)) {
        queue_attach_t *at = value;
        free(at->username);
        free(at);
    }
    nmq_hashmap_destroy(&q->attached);
    queue_shard_destroy(&q->shard);
    queue_store_close(&q->store);
    for (int i = 0; i < q->npeers; i++)
        nmq_batch_destroy(&q->peers[i].out);
    nmq_batch_destroy(&q->meta_out);
    nmq_batch_destroy(&q->cluster_out);
    if (q->router)
        zmq_close(q->router);
    if (q->meta)
        zmq_close(q->meta);
    if (q->cluster)
        zmq_close(q->cluster);
    queue_move_stop(q);
    free(q->dirty);
    if (q->in)
        nmq_batch_in_free(q->in);
    free(q->in);
    free(q);
}

static const nmq_role_t s_role = {
    .name = "queue",
    .start = s_start,
    .reload = s_reload,
    .tick = s_tick,
    .destroy = s_destroy,
    .status = s_status,
    .metrics = s_metrics,
    .control = s_control,
};

int queue_main(void) { return nmq_worker_main(&s_role); }
