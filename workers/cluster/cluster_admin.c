/* cluster_admin — nemomq-admin's `cluster ...` commands, as the cluster
 * worker answers them.
 *
 * The supervisor forwards the command (a QUERY whose args are the verb and
 * the operator's own key=value words) and prints what comes back: a table, or
 * for a change "Done" or the error.  One row per verb below.  `join` is the
 * one that takes time (the port mapper, a handshake, a round trip to the
 * discovery node): the query is answered when it is done, or failed by
 * CLUSTER_JOIN_MS, within the supervisor's 5 s for a query.
 *
 * A node joins only with an empty history, as in VerneMQ (non_empty_node,
 * seed 000): a node that has been in a cluster before (it has records of
 * other nodes) refuses unless --force, which merges the cluster it knew into
 * the one it joins.  `leave` here is VerneMQ's case B, a stopped node removed
 * from the membership everywhere; a live node's leave, with queue migration,
 * is not here yet and is refused with that reason.
 */
#include "cluster.h"
#include "nmq_log.h"
#include "control.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (s_verb_fn)(cluster_t *c, const Nmq__Ctl *msg);

static s_verb_fn s_show, s_status, s_join, s_leave;

static const struct {
    const char *verb;
    s_verb_fn *fn;
} s_verbs[] = {
    { "show", s_show },
    { "status", s_status },
    { "join", s_join },
    { "leave", s_leave },
};

static const char *s_arg(const Nmq__Ctl *msg, const char *key)
{
    size_t n = strlen(key);
    for (size_t i = 1; i < msg->n_args; i++)
        if (!strncmp(msg->args[i], key, n))
            return msg->args[i] + n;
    return NULL;
}

static bool s_flag(const Nmq__Ctl *msg, const char *a, const char *b)
{
    for (size_t i = 1; i < msg->n_args; i++)
        if (!strcmp(msg->args[i], a) || !strcmp(msg->args[i], b))
            return true;
    return false;
}

/* "-i 5": the number after the flag, or dflt. */
static unsigned s_number(const Nmq__Ctl *msg, const char *flag, unsigned dflt)
{
    for (size_t i = 1; i + 1 < msg->n_args; i++)
        if (!strcmp(msg->args[i], flag))
            return (unsigned)strtoul(msg->args[i + 1], NULL, 10);
    return dflt;
}

static void s_fail(cluster_t *c, uint64_t query, int status, const char *why)
{
    nmq_worker_reply_query(c->w, query, status, why, NULL, 0, NULL, 0);
}

void cluster_admin_query(cluster_t *c, const Nmq__Ctl *msg)
{
    const char *verb = msg->n_args ? msg->args[0] : "";
    for (size_t i = 0; i < sizeof s_verbs / sizeof s_verbs[0]; i++)
        if (!strcmp(verb, s_verbs[i].verb)) {
            s_verbs[i].fn(c, msg);
            return;
        }
    s_fail(c, msg->query, 2, "unknown cluster query");
}

/* --- show and status ------------------------------------------------------------------------ */

/* Answer with rows: cells[r * ncols + c], strdup'ed, freed here. */
static void s_reply_cells(cluster_t *c, uint64_t query, const char *const *cols, size_t ncols, char **cells,
                          size_t nrows)
{
    nmq_worker_reply_query(c->w, query, 0, "", cols, ncols, cells, nrows);
    for (size_t i = 0; i < nrows * ncols; i++)
        free(cells[i]);
    free(cells);
}

/* The nodes of our cluster, sorted: ourselves, and the other active members
 * while we are one.  A copy, so sorting leaves the membership as it is. */
static cluster_members_t s_view(const cluster_t *c)
{
    cluster_members_t v = { 0 };
    const cluster_member_t *self = cluster_members_find(&c->members, c->self);
    bool member = !self || cluster_member_active(self);
    for (size_t i = 0; i < c->members.n; i++) {
        const cluster_member_t *r = &c->members.v[i];
        if (!strcmp(r->name, c->self) || (member && cluster_member_active(r)))
            cluster_members_apply(&v, r);
    }
    if (!self) {
        cluster_member_t me = { .version = 1 };
        snprintf(me.name, sizeof me.name, "%s", c->self);
        snprintf(me.addr, sizeof me.addr, "%s", c->self_addr);
        cluster_members_apply(&v, &me);
    }
    cluster_members_sort(&v);
    return v;
}

static bool s_running(const cluster_t *c, const char *name, int64_t now)
{
    if (!strcmp(name, c->self))
        return true;
    const cluster_peer_t *p = cluster_peer_find(c, name);
    return p && cluster_peer_running(p, now);
}

/* VerneMQ's `cluster show`: Node, Running. */
static void s_show(cluster_t *c, const Nmq__Ctl *msg)
{
    static const char *const cols[] = { "Node", "Running" };
    int64_t now = cluster_now_ms();
    cluster_members_t v = s_view(c);
    char **cells = calloc(v.n * 2 + 1, sizeof *cells);
    for (size_t i = 0; i < v.n; i++) {
        cells[2 * i] = strdup(v.v[i].name);
        cells[2 * i + 1] = strdup(s_running(c, v.v[i].name, now) ? "true" : "false");
    }
    s_reply_cells(c, msg->query, cols, 2, cells, v.n);
    cluster_members_fini(&v);
}

/* Each node's link as this node sees it. */
static void s_status(cluster_t *c, const Nmq__Ctl *msg)
{
    static const char *const cols[] = { "node", "running", "address", "link", "last_heard", "#version", "problem" };
    enum { NCOLS = sizeof cols / sizeof cols[0] };
    int64_t now = cluster_now_ms();
    cluster_members_t v = s_view(c);
    char **cells = calloc(v.n * NCOLS + 1, sizeof *cells);
    for (size_t i = 0; i < v.n; i++) {
        const cluster_member_t *m = &v.v[i];
        const cluster_peer_t *p = cluster_peer_find(c, m->name);
        bool self = !strcmp(m->name, c->self);
        char heard[32], version[24];
        if (self || !p || !p->heard_ms)
            snprintf(heard, sizeof heard, "%s", self ? "-" : "never");
        else
            snprintf(heard, sizeof heard, "%.1fs ago", (double)(now - p->heard_ms) / 1000.0);
        snprintf(version, sizeof version, "%llu", (unsigned long long)m->version);
        const char *row[NCOLS] = {
            m->name,
            s_running(c, m->name, now) ? "true" : "false",
            self ? c->self_addr : p ? p->addr : m->addr,
            self ? (c->bind_error[0] ? "not listening" : "self") : p ? cluster_link_state_name(p->state) : "none",
            heard,
            version,
            self ? c->bind_error : p ? p->problem : "",
        };
        for (size_t k = 0; k < NCOLS; k++)
            cells[i * NCOLS + k] = strdup(row[k]);
    }
    s_reply_cells(c, msg->query, cols, NCOLS, cells, v.n);
    cluster_members_fini(&v);
}

/* --- join --------------------------------------------------------------------------------------- */

static void s_join_finish(cluster_t *c, int status, const char *why)
{
    cluster_join_t *j = c->join;
    if (!j)
        return;
    c->join = NULL;
    if (status)
        nmq_warn("cluster: join through %s failed: %s", j->target, why);
    else
        nmq_info("cluster: joined the cluster of %s", j->target);
    portmap_lookup_cancel(&j->lookup);
    s_fail(c, j->query, status, why);
    free(j);
    cluster_link_sync(c);   /* the target stays a peer only if it is a member now */
}

void cluster_join_abort(cluster_t *c, const char *why) { s_join_finish(c, 1, why); }

static bool s_is_target(const cluster_t *c, const cluster_peer_t *p)
{
    return c->join && !strcmp(c->join->target, p->name);
}

void cluster_join_link_up(cluster_t *c, cluster_peer_t *p)
{
    if (!s_is_target(c, p) || c->join->sent)
        return;
    Nmq__ClusterMsg m;
    cluster_msg_init(c, &m, CLUSTER_MSG_JOIN);
    m.members = cluster_members_to_msg(&c->members, &m.n_members);
    if (cluster_send_peer(c, p, &m) == 0)
        c->join->sent = true;
    cluster_members_msg_free(m.members, m.n_members);
}

void cluster_join_link_failed(cluster_t *c, cluster_peer_t *p)
{
    if (s_is_target(c, p))
        s_join_finish(c, 1, p->problem);
}

void cluster_join_reply(cluster_t *c, cluster_peer_t *p, const Nmq__ClusterMsg *m)
{
    if (!s_is_target(c, p) || !c->join->sent)
        return;
    if (!m->has_status || m->status != 0) {
        char why[NMQ_CONF_STR_MAX * 2];
        snprintf(why, sizeof why, "%s refused: %s", p->name, m->error && *m->error ? m->error : "no reason given");
        s_join_finish(c, 1, why);
        return;
    }
    /* we asked: its view is ours now, whoever was in our list before */
    cluster_members_from_msg(&c->members, m->members, m->n_members);
    if (!cluster_member_active(cluster_members_find(&c->members, c->self)))
        cluster_members_admit(&c->members, c->self, c->self_addr, 0);
    c->removed_logged = false;
    cluster_members_changed(c);
    cluster_msg_announce(c);
    s_join_finish(c, 0, "");
}

static void s_join_resolved(void *arg, int port, const char *err)
{
    cluster_t *c = arg;
    cluster_join_t *j = c->join;
    j->lookup = NULL;
    char why[PORTMAP_LINE_MAX + NMQ_CONF_STR_MAX + 64];
    if (port <= 0) {
        snprintf(why, sizeof why, "cannot find %s: %s", j->target, err);
        s_join_finish(c, 1, why);
        return;
    }
    char name[PORTMAP_NAME_MAX + 1], host[NMQ_CONF_STR_MAX], addr[NMQ_CONF_STR_MAX + 16];
    portmap_split_nodename(j->target, name, sizeof name, host, sizeof host);
    snprintf(addr, sizeof addr, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    cluster_peer_t *p = cluster_peer_add(c, j->target, addr);
    if (p->state == CLUSTER_LINK_UP) {
        cluster_join_link_up(c, p);
        return;
    }
    if (strlen(addr) < sizeof p->addr)
        memcpy(p->addr, addr, strlen(addr) + 1);
    p->refused = false;
    p->failures = 0;
    p->backoff_ms = 0;
    p->next_try_ms = cluster_now_ms();   /* dialed by the next tick */
}

static void s_join(cluster_t *c, const Nmq__Ctl *msg)
{
    const char *target = s_arg(msg, "discovery-node=");
    bool force = s_flag(msg, "--force", "-f");
    char name[PORTMAP_NAME_MAX + 1], host[NMQ_CONF_STR_MAX], why[1024], others[600];
    if (!target || portmap_split_nodename(target, name, sizeof name, host, sizeof host) < 0) {
        s_fail(c, msg->query, 2, "discovery-node must be a node name, name@host (e.g. nemomq@10.0.0.2)");
        return;
    }
    if (c->join) {
        s_fail(c, msg->query, 1, "a join is already in progress");
        return;
    }
    if (!strcmp(target, c->self)) {
        snprintf(why, sizeof why, "%s is this node", target);
        s_fail(c, msg->query, 1, why);
        return;
    }
    const cluster_member_t *self = cluster_members_find(&c->members, c->self);
    if (cluster_member_active(self) && cluster_member_active(cluster_members_find(&c->members, target))) {
        snprintf(why, sizeof why, "this node is already in a cluster with %s", target);
        s_fail(c, msg->query, 1, why);
        return;
    }
    if (!force && cluster_members_has_history(&c->members, c->self)) {
        cluster_members_others(&c->members, c->self, others, sizeof others);
        snprintf(why, sizeof why,
                 "non_empty_node: this node has a cluster history (%s%s); only a node with an empty history "
                 "joins a cluster.  Add --force to join anyway: the nodes it knew join too.",
                 others[0] ? "members: " : "it was removed from a cluster", others);
        s_fail(c, msg->query, 1, why);
        return;
    }
    if (c->bind_error[0]) {
        snprintf(why, sizeof why, "this node's cluster listener is not up: %s", c->bind_error);
        s_fail(c, msg->query, 1, why);
        return;
    }
    cluster_join_t *j = calloc(1, sizeof *j);
    j->query = msg->query;
    j->force = force;
    j->deadline_ms = cluster_now_ms() + CLUSTER_JOIN_MS;
    snprintf(j->target, sizeof j->target, "%s", target);
    c->join = j;
    nmq_info("cluster: joining the cluster of %s%s", target, force ? " (forced)" : "");
    j->lookup = portmap_lookup_start(c->w, host, (uint16_t)c->cfg->portmap_port, name, CLUSTER_JOIN_MS / 2,
                                     s_join_resolved, c, why, sizeof why);
    if (!j->lookup) {
        char msgtext[sizeof why + NMQ_CONF_STR_MAX + 64];
        snprintf(msgtext, sizeof msgtext, "cannot ask the port mapper on %s:%d: %s", host, c->cfg->portmap_port,
                 why);
        s_join_finish(c, 1, msgtext);
    }
}

int cluster_join_tick(cluster_t *c, int64_t now)
{
    if (!c->join)
        return -1;
    int left = portmap_lookup_expire(&c->join->lookup, now);
    if (!c->join)
        return -1;   /* the lookup's failure ended it */
    if (now >= c->join->deadline_ms) {
        char why[NMQ_CONF_STR_MAX + 400];
        const cluster_peer_t *p = cluster_peer_find(c, c->join->target);
        snprintf(why, sizeof why, "no answer from %s within %d ms%s%s", c->join->target, CLUSTER_JOIN_MS,
                 p && p->problem[0] ? ": " : "", p ? p->problem : "");
        s_join_finish(c, 1, why);
        return -1;
    }
    int until = (int)(c->join->deadline_ms - now);
    return left >= 0 && left < until ? left : until;
}

/* --- leave (a stopped node) ------------------------------------------------------------------- */

static void s_leave(cluster_t *c, const Nmq__Ctl *msg)
{
    const char *node = s_arg(msg, "node=");
    char why[NMQ_CONF_STR_MAX * 2 + 200];
    if (!node || !*node) {
        s_fail(c, msg->query, 2, "Usage: nemomq-admin cluster leave node=NAME@HOST");
        return;
    }
    bool kill = s_flag(msg, "-k", "--kill");
    unsigned interval = s_number(msg, "-i", 5), timeout = s_number(msg, "-t", 60);
    if (!strcmp(node, c->self)) {
        if (cluster_leave_start(c, kill, interval, timeout, why, sizeof why) < 0) {
            s_fail(c, msg->query, 1, why);
            return;
        }
        s_fail(c, msg->query, 0, why);
        return;
    }
    if (!cluster_member_active(cluster_members_find(&c->members, node))) {
        snprintf(why, sizeof why, "%s is not a member of this node's cluster", node);
        s_fail(c, msg->query, 1, why);
        return;
    }
    cluster_peer_t *p = cluster_peer_find(c, node);
    if (p && cluster_peer_running(p, cluster_now_ms())) {
        /* a live node: it does the leaving itself (cluster_leave.c) */
        if (cluster_leave_ask(c, p, kill, interval, timeout) < 0) {
            snprintf(why, sizeof why, "%s is running but its link is not up: try again", node);
            s_fail(c, msg->query, 1, why);
            return;
        }
        snprintf(why, sizeof why,
                 "%s stops its MQTT listeners%s and moves its queues to the other nodes; progress every %u s "
                 "in its console.log, the online sessions too after %u s; then it stops", node,
                 kill ? " and disconnects its clients" : "", interval, timeout);
        s_fail(c, msg->query, 0, why);
        return;
    }
    cluster_members_remove(&c->members, node);
    nmq_warn("cluster: %s removed from the cluster (cluster leave of a stopped node); its offline messages are "
             "lost", node);
    cluster_members_changed(c);
    cluster_msg_announce(c);
    s_fail(c, msg->query, 0, "");
}
