/* cluster — "nemomq: cluster": this node's links to the other nodes of its
 * cluster (the files are listed in cluster.h).
 *
 * At start it derives its keys from distributed_cookie, loads the membership
 * it saved (a restarted node dials its members by itself), restates its own
 * address when it changed, opens the ZAP handler and the ROUTER, and lets the
 * tick dial the members.  Nothing here stops the node: a listener that cannot
 * bind is retried (and said in `cluster status`), a peer that is away is
 * dialed again with backoff.  Only a store that cannot open is fatal to the
 * worker, as for the other workers that own one.
 */
#include "cluster.h"
#include "roles.h"
#include "nmq_ctl.h"
#include "nmq_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

/* The address other nodes dial: listener.vmq.clustering, with the host of
 * nodename when the listener is bound to every address. */
static void s_self_addr(cluster_t *c)
{
    const char *l = c->cfg->listener_vmq_clustering;
    const char *colon = strrchr(l, ':');
    bool wildcard = !strncmp(l, "0.0.0.0:", 8) || !strncmp(l, "[::]:", 5) || !strncmp(l, "*:", 2);
    if (wildcard && colon)
        snprintf(c->self_addr, sizeof c->self_addr, strchr(c->pm_host, ':') ? "[%s]%s" : "%s%s", c->pm_host,
                 colon);
    else
        snprintf(c->self_addr, sizeof c->self_addr, "%s", l);
}

static int s_start(nmq_worker_t *w)
{
    cluster_t *c = calloc(1, sizeof *c);
    nmq_worker_set_data(w, c);
    c->w = w;
    c->cfg = nmq_worker_config(w);
    snprintf(c->self, sizeof c->self, "%s", c->cfg->nodename);
    char name[PORTMAP_NAME_MAX + 1], err[NMQ_CONF_PATH_MAX + 128];
    if (portmap_split_nodename(c->self, name, sizeof name, c->pm_host, sizeof c->pm_host) < 0) {
        nmq_error("cluster: nodename %s is not name@host", c->self);
        return NMQ_EXIT_CONFIG;
    }
    s_self_addr(c);
    cluster_random(&c->incarnation, sizeof c->incarnation);
    if (cluster_keys_derive(c->cfg->distributed_cookie, &c->keys) < 0) {
        nmq_error("cluster: libzmq has no CURVE: the cluster links cannot be encrypted");
        return NMQ_EXIT_CONFIG;
    }
    char dir[NMQ_CONF_PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/cluster", c->cfg->platform_data_dir);
    c->store = cluster_store_open(dir, err, sizeof err);
    if (!c->store) {
        nmq_error("cluster: %s", err);
        return 1;
    }
    if (cluster_store_load(c->store, &c->members) < 0)
        return 1;
    cluster_member_t *self = cluster_members_find(&c->members, c->self);
    if (!self || (!self->left && strcmp(self->addr, c->self_addr))) {
        cluster_members_admit(&c->members, c->self, c->self_addr, 0);
        if (cluster_store_save(c->store, &c->members) < 0)
            return 1;
    } else if (self->left) {
        nmq_warn("cluster: this node was removed from its cluster (cluster leave); it runs alone.  To use it "
                 "in a cluster again, join with --force or start it with an empty %s", dir);
        c->removed_logged = true;
    }
    char others[600];
    cluster_members_others(&c->members, c->self, others, sizeof others);
    if (others[0] && cluster_member_active(cluster_members_find(&c->members, c->self)))
        nmq_info("cluster: member of a cluster with %s; dialing them", others);
    if (cluster_link_start(c) < 0 || cluster_bridge_start(c) < 0)
        return 1;
    cluster_link_sync(c);
    return 0;
}

static int s_min(int a, int b) { return a < 0 ? b : b < 0 ? a : a < b ? a : b; }

static int s_tick(nmq_worker_t *w)
{
    cluster_t *c = nmq_worker_data(w);
    int64_t now = cluster_now_ms();
    int next = cluster_link_bind_tick(c, now);
    next = s_min(next, cluster_join_tick(c, now));
    next = s_min(next, cluster_link_tick(c, now));
    next = s_min(next, cluster_bridge_tick(c, now));
    next = s_min(next, cluster_leave_tick(c, now));
    return next;
}

static void s_control(nmq_worker_t *w, const Nmq__Ctl *msg)
{
    cluster_t *c = nmq_worker_data(w);
    if (c && msg->cmd == NMQ_CTL_QUERY)
        cluster_admin_query(c, msg);
}

static size_t s_peers_running(const cluster_t *c)
{
    int64_t now = cluster_now_ms();
    size_t running = 0;
    for (size_t i = 0; i < c->npeers; i++)
        running += cluster_peer_running(c->peers[i], now);
    return running;
}

static void s_status(nmq_worker_t *w, char *buf, size_t len)
{
    const cluster_t *c = nmq_worker_data(w);
    if (!c)
        return;
    if (c->bind_error[0])
        snprintf(buf, len, "%s", c->bind_error);
    else
        snprintf(buf, len, "%s on %s, %zu of %zu nodes running", c->self, c->self_addr, s_peers_running(c) + 1,
                 c->npeers + 1);
}

static void s_metrics(nmq_worker_t *w)
{
    const cluster_t *c = nmq_worker_data(w);
    if (!c)
        return;
    nmq_worker_metric(w, "cluster_peers", c->npeers, true);
    nmq_worker_metric(w, "cluster_peers_running", s_peers_running(c), true);
    nmq_worker_metric(w, "cluster_links_refused", c->refusals, false);
    nmq_worker_metric(w, "cluster_messages_in", c->msgs_in, false);
    nmq_worker_metric(w, "cluster_messages_out", c->msgs_out, false);
    nmq_worker_metric(w, "cluster_bridge_forwarded", c->bridge_forwarded, false);
    nmq_worker_metric(w, "cluster_bridge_dropped", c->bridge_dropped, false);
}

static void s_destroy(nmq_worker_t *w)
{
    cluster_t *c = nmq_worker_data(w);
    if (!c)
        return;
    if (c->join)
        cluster_join_abort(c, "the cluster worker is stopping");
    cluster_bridge_stop(c);
    cluster_link_stop(c);
    cluster_store_close(&c->store);
    cluster_members_fini(&c->members);
    free(c);
}

static const nmq_role_t s_role = {
    .name = "cluster",
    .start = s_start,
    .tick = s_tick,
    .destroy = s_destroy,
    .status = s_status,
    .metrics = s_metrics,
    .control = s_control,
};

int cluster_main(void) { return nmq_worker_main(&s_role); }
