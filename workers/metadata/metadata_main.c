/* metadata — "nemomq: metadata": subscriptions, retained messages; the source
 * of the acceptors' routing replicas (files listed in meta.h).
 *
 * Its sockets: a ROUTER (meta.sock) for requests from acceptors and queue
 * workers, a PUB (meta-pub.sock) for the delta feed.  A loop turn handles what
 * arrived; tick commits the turn's LMDB transaction, then publishes its deltas
 * and sends the replies that are ready, in that order, so nothing is announced
 * that a crash could take back.
 */
#include "meta.h"
#include "roles.h"
#include "nmq_ctl.h"
#include "nmq_log.h"
#include "nmq_hashmap.h"
#include "nmq_strbuf.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

static void s_on_router(nmq_worker_t *w, void *arg, short revents)
{
    meta_t *m = nmq_worker_data(w);
    for (int i = 0; i < 256; i++) {
        if (nmq_batch_recv(m->in, m->router, true) < 0)
            break;
        meta_dispatch(m, m->in);
        nmq_batch_in_close(m->in);
    }
}

/* REPL, DIGEST, NODES from the cluster worker (meta_repl.c) */
static void s_on_cluster(nmq_worker_t *w, void *arg, short revents)
{
    meta_t *m = nmq_worker_data(w);
    for (int i = 0; i < 256; i++) {
        if (nmq_batch_recv(m->in, m->cluster, false) < 0)
            break;
        meta_dispatch(m, m->in);
        nmq_batch_in_close(m->in);
    }
}

static int s_start(nmq_worker_t *w)
{
    meta_t *m = calloc(1, sizeof *m);
    nmq_worker_set_data(w, m);
    m->w = w;
    m->cfg = nmq_worker_config(w);
    m->subs = nmq_trie_new();
    m->retained = nmq_tindex_new();
    m->online = nmq_hashmap_new(0);
    m->deltas = nmq_batch_new();
    m->direct = nmq_batch_new();
    m->in = calloc(1, sizeof *m->in);
    m->replies_tail = &m->replies;
    if (meta_store_open(m) < 0 || meta_store_load(m) < 0)
        return 1;
    m->router = nmq_batch_socket(nmq_worker_zctx(w), m->cfg, ZMQ_ROUTER, "meta.sock", true, NULL, 0, 0);
    m->pub = nmq_batch_socket(nmq_worker_zctx(w), m->cfg, ZMQ_PUB, "meta-pub.sock", true, NULL, 0, 0);
    if (!m->router || !m->pub)
        return 1;
    nmq_worker_watch_socket(w, m->router, ZMQ_POLLIN, s_on_router, NULL);
    if (meta_repl_start(m) < 0)
        return 1;
    nmq_worker_watch_socket(w, m->cluster, ZMQ_POLLIN, s_on_cluster, NULL);
    return 0;
}

static int s_tick(nmq_worker_t *w)
{
    meta_t *m = nmq_worker_data(w);
    int64_t now = meta_now_ms();
    int next = meta_repl_tick(m, now);
    meta_store_commit(m);
    nmq_batch_send(m->deltas, m->pub, NULL, 0);
    meta_release_replies(m, now, false);
    return m->replies && next > 20 ? 20 : next;
}

static void s_status(nmq_worker_t *w, char *buf, size_t len)
{
    const meta_t *m = nmq_worker_data(w);
    if (m)
        snprintf(buf, len, "subscriptions %zu, retained %zu, sequence %llu, acceptors %d",
                 nmq_trie_count(m->subs), nmq_tindex_count(m->retained), (unsigned long long)m->seq,
                 m->nacceptors);
}

static void s_metrics(nmq_worker_t *w)
{
    const meta_t *m = nmq_worker_data(w);
    if (!m)
        return;
    nmq_worker_metric(w, "router_subscriptions", nmq_trie_count(m->subs), true);
    nmq_worker_metric(w, "retain_messages", nmq_tindex_count(m->retained), true);
}

/* QUERY "sessions" (or "subscriptions"): client id -> "filter:qos,..." for
 * session show.
 * The trie walks in no particular order: group by client in a map first. */
int meta_subs_row(const nmq_trie_entry_t *e, void *arg)
{
    nmq_hashmap_t *by_client = arg;
    nmq_strbuf_t *b = nmq_hashmap_get(by_client, e->client_id, e->client_id_len);
    if (!b) {
        b = calloc(1, sizeof *b);
        nmq_hashmap_put(by_client, e->client_id, e->client_id_len, b);
    }
    if (e->group)
        nmq_strbuf_printf(b, "%s$share/%.*s/%.*s:%u", b->len ? "," : "", (int)e->group_len, e->group,
                          (int)e->filter_len, e->filter, e->opts.qos);
    else
        nmq_strbuf_printf(b, "%s%.*s:%u", b->len ? "," : "", (int)e->filter_len, e->filter, e->opts.qos);
    return 0;
}

static void s_control(nmq_worker_t *w, const Nmq__Ctl *msg)
{
    meta_t *m = nmq_worker_data(w);
    if (!m || msg->cmd != NMQ_CTL_QUERY)
        return;
    /* "sessions" asks every worker for its part of `session show`: ours is
     * each client's subscriptions */
    if (msg->n_args < 1 || (strcmp(msg->args[0], "subscriptions") && strcmp(msg->args[0], "sessions"))) {
        nmq_worker_reply_query(w, msg->query, 2, "unknown query", NULL, 0, NULL, 0);
        return;
    }
    nmq_hashmap_t *by_client = nmq_hashmap_new(0);
    nmq_trie_each(m->subs, meta_subs_row, by_client);
    /* sessions on other nodes, from the replicated records */
    nmq_hashmap_t *remote = nmq_hashmap_new(0);
    meta_repl_remote_sessions(m, by_client, remote);
    size_t n = nmq_hashmap_size(by_client), k = 0, cursor = 0, klen;
    char **cells = calloc(3 * n + 1, sizeof *cells);
    const void *key;
    void *value;
    while (nmq_hashmap_next(by_client, &cursor, &key, &klen, &value)) {
        const char *node = nmq_hashmap_get(remote, key, klen);
        cells[k++] = strndup(key, klen);
        cells[k++] = nmq_strbuf_take(value);
        cells[k++] = strdup(node ? node : m->cfg->nodename);
        free(value);
    }
    static const char *const cols[] = { "client_id", "subscriptions", "node" };
    nmq_worker_reply_query(w, msg->query, 0, "", cols, 3, cells, n);
    for (size_t i = 0; i < k; i++)
        free(cells[i]);
    free(cells);
    nmq_hashmap_destroy(&by_client);
    nmq_hashmap_destroy(&remote);
}

static int s_free_retained(const char *topic, size_t len, void *value, void *arg)
{
    free(value);
    return 0;
}

static void s_destroy(nmq_worker_t *w)
{
    meta_t *m = nmq_worker_data(w);
    if (!m)
        return;
    if (m->env) {
        meta_store_commit(m);
        if (m->pub)
            nmq_batch_send(m->deltas, m->pub, NULL, 0);
        if (m->router)
            meta_release_replies(m, meta_now_ms(), true);
    }
    meta_repl_stop(m);
    meta_store_close(m);
    if (m->router)
        zmq_close(m->router);
    if (m->pub)
        zmq_close(m->pub);
    nmq_trie_destroy(&m->subs);
    if (m->retained)
        nmq_tindex_each(m->retained, s_free_retained, NULL);
    nmq_tindex_destroy(&m->retained);
    nmq_hashmap_destroy(&m->online);
    nmq_batch_destroy(&m->deltas);
    nmq_batch_destroy(&m->direct);
    if (m->in)
        nmq_batch_in_free(m->in);
    free(m->in);
    free(m);
}

static const nmq_role_t s_role = {
    .name = "metadata",
    .start = s_start,
    .tick = s_tick,
    .destroy = s_destroy,
    .status = s_status,
    .metrics = s_metrics,
    .control = s_control,
};

int meta_main(void) { return nmq_worker_main(&s_role); }
