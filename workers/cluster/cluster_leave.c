/* cluster_leave — a live node leaving its cluster, as seed 000 describes
 * (case A): `nemomq-admin cluster leave node=N [-k] [-i S] [-t S]`, run on N
 * or on any member (which passes it to N in a LEAVE message).
 *
 * N's cluster worker tells its acceptors to stop the MQTT listeners (and with
 * -k to disconnect their clients), and its migration worker to move every
 * queue to the running members (workers/migration/).  When the migration
 * worker says LEFT, N takes itself out of the membership, tells the others,
 * and stops the node (SIGTERM to its supervisor), as VerneMQ's node exits once
 * its queues are gone.  A node that left runs alone when started again.
 */
#include "cluster.h"
#include "nmq_batch.h"
#include "nmq_log.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define S_STOP_DELAY_MS 500   /* let the membership change reach the others */

typedef struct {
    bool kill;
    unsigned interval, timeout;
    char **nodes;
    size_t nnodes;
} s_leave_t;

static void s_tell(cluster_t *c, const char *id, size_t len, void *arg)
{
    const s_leave_t *l = arg;
    nmq_batch_t *b = nmq_batch_new();
    Nmq__Op *op = nmq_batch_op(b, BROKER_OP_LEAVE);
    op->has_kill = op->has_interval = op->has_timeout = true;
    op->kill = l->kill;
    op->interval = l->interval;
    op->timeout = l->timeout;
    op->n_nodes = l->nnodes;
    op->nodes = l->nodes;
    nmq_batch_send(b, c->bridge, id, len);
    op->n_nodes = 0;
    op->nodes = NULL;
    nmq_batch_destroy(&b);
}

int cluster_leave_start(cluster_t *c, bool kill, unsigned interval, unsigned timeout, char *why, size_t len)
{
    char *nodes[64];
    size_t n = 0;
    for (size_t i = 0; i < c->npeers && n < 64; i++)
        if (c->peers[i]->state == CLUSTER_LINK_UP)
            nodes[n++] = c->peers[i]->name;
    if (!n) {
        snprintf(why, len, "no other node of the cluster is running: there is nowhere to move the queues");
        return -1;
    }
    if (!cluster_bridge_has_migration(c)) {
        snprintf(why, len, "the migration worker is not running");
        return -1;
    }
    s_leave_t l = { kill, interval ? interval : 5, timeout, nodes, n };
    cluster_bridge_each_local(c, 'a', s_tell, &l);
    cluster_bridge_each_local(c, 'g', s_tell, &l);
    if (!c->leaving)
        nmq_warn("cluster: leaving the cluster: MQTT listeners stopped%s; moving the queues to %zu nodes "
                 "(online sessions too after %u s)", kill ? ", clients disconnected" : "", n, timeout);
    c->leaving = true;
    snprintf(why, len, "%s stops its MQTT listeners%s and moves its queues to the other nodes; progress every %u s "
             "in its console.log, the online sessions too after %u s; then it stops", c->self,
             kill ? " and disconnects its clients" : "", l.interval, timeout);
    return 0;
}

int cluster_leave_ask(cluster_t *c, cluster_peer_t *p, bool kill, unsigned interval, unsigned timeout)
{
    if (p->state != CLUSTER_LINK_UP)
        return -1;
    Nmq__ClusterMsg m;
    cluster_msg_init(c, &m, CLUSTER_MSG_LEAVE);
    m.has_kill = m.has_interval = m.has_timeout = true;
    m.kill = kill;
    m.interval = interval;
    m.timeout = timeout;
    nmq_info("cluster: asking %s to leave the cluster", p->name);
    return cluster_send_peer(c, p, &m);
}

void cluster_leave_on_msg(cluster_t *c, cluster_peer_t *p, const Nmq__ClusterMsg *m)
{
    if (!p)
        return;   /* only a member may make us leave */
    char why[512];
    nmq_info("cluster: %s asks this node to leave the cluster", p->name);
    if (cluster_leave_start(c, m->kill, m->interval, m->has_timeout ? m->timeout : 60, why, sizeof why) < 0)
        nmq_error("cluster: cannot leave: %s", why);
}

void cluster_leave_done(cluster_t *c)
{
    if (!c->leaving || c->leave_stop_ms)
        return;
    nmq_warn("cluster: every queue moved: this node leaves the cluster and stops");
    cluster_members_remove(&c->members, c->self);
    cluster_msg_announce(c);     /* on the links still open: the others learn it now */
    c->leave_stop_ms = cluster_now_ms() + S_STOP_DELAY_MS;
}

int cluster_leave_tick(cluster_t *c, int64_t now)
{
    if (!c->leave_stop_ms)
        return -1;
    if (now < c->leave_stop_ms)
        return (int)(c->leave_stop_ms - now);
    c->leave_stop_ms = INT64_MAX;
    cluster_msg_announce(c);     /* once more, for a link that was busy */
    cluster_members_changed(c);  /* saved; the links close */
    kill(getppid(), SIGTERM);   /* the supervisor stops the node in order */
    return -1;
}
