/* acceptor_remote — subscribers on other nodes, and the copies of a PUBLISH
 * that go to them.
 *
 * The metadata worker's feed names a remote subscriber's node (DELTA and
 * SNAPSHOT ops with `node`, meta_repl.c); each remote node gets a trie of its
 * own here, beside the local one in acceptor_routes.c.  A PUBLISH is matched
 * against each: a node with matches gets one FORWARD op carrying the message
 * once and its recipients, in a batch per node per loop turn, sent to the
 * cluster worker (cluster.sock), which hands it to that node's cluster worker,
 * which APPENDs it to its queue workers.
 *
 * Shared subscriptions span the cluster: the members of a (group, filter) on
 * every node are ranked by shared_subscription_policy, as in VerneMQ
 * (nmq_topic_trie.h lists the ranks), and one of the best is picked at random:
 *   prefer_local  local online, local offline, then remote members;
 *   local_only    local members only;
 *   random        every member, online ones (remote ones count as online) first.
 *
 * A QoS 1/2 copy carries the publisher's request and connection: the other
 * node's cluster worker answers APPENDED once its queue workers committed it,
 * and the publisher's PUBACK/PUBREC waits for that as for a local shard, so a
 * publisher never runs ahead of the link.  A link that is down, or a node that
 * does not answer in time, is answered for by our cluster worker (the copy is
 * counted as dropped, cluster_bridge.c).
 */
#include "acceptor.h"
#include "nmq_hashmap.h"
#include "nmq_log.h"
#include "nmq_topic_trie.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char *name;
    nmq_trie_t *trie, *building;
    nmq_trie_result_t res;
    nmq_batch_t *out;
    Nmq__Op *op;                 /* this PUBLISH's FORWARD to the node */
} s_node_t;

static s_node_t *s_nodes;
static size_t s_n;
static uint64_t s_req;                 /* the PUBLISH being routed, for its FORWARDs */
static const acc_conn_t *s_from;
static acceptor_t *s_acceptor;
static uint64_t s_rng = 0x2545F4914F6CDD1Dull;

static s_node_t *s_node(const char *name, bool add)
{
    for (size_t i = 0; i < s_n; i++)
        if (!strcmp(s_nodes[i].name, name))
            return &s_nodes[i];
    if (!add)
        return NULL;
    s_nodes = realloc(s_nodes, (s_n + 1) * sizeof *s_nodes);
    s_node_t *n = &s_nodes[s_n++];
    memset(n, 0, sizeof *n);
    n->name = strdup(name);
    n->trie = nmq_trie_new();
    n->out = nmq_batch_new();
    return n;
}

/* --- the replica ------------------------------------------------------------------- */

void acc_remote_apply(acceptor_t *a, const Nmq__Op *op, bool building)
{
    s_node_t *n = s_node(op->node, true);
    if (building && !n->building)
        n->building = nmq_trie_new();
    acc_routes_apply_subs(building ? n->building : n->trie, op);
}

void acc_remote_snapshot_begin(acceptor_t *a)
{
    for (size_t i = 0; i < s_n; i++) {
        nmq_trie_destroy(&s_nodes[i].building);
        s_nodes[i].building = nmq_trie_new();
    }
}

void acc_remote_snapshot_commit(acceptor_t *a)
{
    for (size_t i = 0; i < s_n; i++) {
        s_node_t *n = &s_nodes[i];
        nmq_trie_destroy(&n->trie);
        n->trie = n->building ? n->building : nmq_trie_new();
        n->building = NULL;
    }
}

size_t acc_remote_count(void)
{
    size_t total = 0;
    for (size_t i = 0; i < s_n; i++)
        total += nmq_trie_count(s_nodes[i].trie);
    return total;
}

/* --- fan-out ------------------------------------------------------------------------ */

static Nmq__Op *s_forward(s_node_t *n, const Nmq__Msg *msg, const uint8_t *payload, size_t len, size_t cap)
{
    if (n->op)
        return n->op;
    nmq_batch_t *b = n->out;
    Nmq__Op *op = nmq_batch_op(b, BROKER_OP_FORWARD);
    op->node = nmq_batch_strdup(b, n->name, strlen(n->name));
    op->msg = nmq_batch_msg(b, msg, payload, len);
    op->recipients = nmq_batch_alloc(b, cap * sizeof *op->recipients);
    if (msg->qos > 0 && s_from) {
        op->has_req = true;
        op->req = s_req;
        op->conn = acc_conn_ref(s_acceptor, b, s_from);
    }
    n->op = op;
    return op;
}

static void s_recipient(s_node_t *n, Nmq__Op *op, const char *client, size_t clen, uint8_t qos, bool rap,
                        const uint32_t *sub_ids, size_t n_sub_ids)
{
    op->recipients[op->n_recipients++] = nmq_batch_recipient(n->out, client, clen, qos, rap, sub_ids, n_sub_ids);
}

/* The shares of every node's match, for acc_remote_pick. */
static size_t s_cap(const s_node_t *n) { return n->res.n_recipients + n->res.n_shares + 1; }

size_t acc_remote_match(acceptor_t *a, uint64_t req, const acc_conn_t *from, const Nmq__Msg *msg,
                        const uint8_t *payload, size_t len, const char *pub, size_t pub_len)
{
    size_t total = 0;
    s_req = req;
    s_from = from;
    s_acceptor = a;
    size_t tlen = strlen(msg->topic);
    for (size_t i = 0; i < s_n; i++) {
        s_node_t *n = &s_nodes[i];
        n->op = NULL;
        n->res.n_recipients = n->res.n_shares = 0;
        if (!nmq_trie_count(n->trie))
            continue;
        nmq_trie_match(n->trie, msg->topic, tlen, pub, pub_len, &n->res);
        for (size_t k = 0; k < n->res.n_recipients; k++) {
            const nmq_trie_recipient_t *r = &n->res.recipients[k];
            Nmq__Op *op = s_forward(n, msg, payload, len, s_cap(n));
            s_recipient(n, op, r->client_id, r->client_id_len, r->qos, r->retain_as_published, r->sub_ids,
                        r->n_sub_ids);
        }
        total += n->res.n_recipients + n->res.n_shares;
    }
    return total;
}

/* --- shared subscriptions across the nodes ------------------------------------------------- */

typedef struct {
    const nmq_trie_entry_t *e;
    s_node_t *node;              /* NULL: here */
    unsigned rank;
} s_cand_t;

static bool s_same(const nmq_trie_share_t *x, const char *group, size_t glen, const char *filter, size_t flen)
{
    return x->group_len == glen && x->filter_len == flen && !memcmp(x->group, group, glen) &&
           !memcmp(x->filter, filter, flen);
}

static unsigned s_rank(const char *policy, bool local, bool online)
{
    if (!strcmp(policy, "local_only"))
        return local ? (online ? 2 : 1) : 0;
    if (!strcmp(policy, "random"))
        return online || !local ? 2 : 1;
    return local ? (online ? 4 : 3) : 2;   /* prefer_local */
}

/* Pick the member for one (group, filter) among the local share (may be NULL)
 * and every remote node's share of the same key; a remote pick is added to
 * its node's FORWARD.  Returns the local member picked, or NULL. */
static const nmq_trie_entry_t *s_pick(acceptor_t *a, const nmq_trie_share_t *local, const char *group,
                                      size_t glen, const char *filter, size_t flen, const Nmq__Msg *msg, const uint8_t *payload, size_t len,
                                      acc_online_fn *online, s_cand_t **cands, size_t *cap)
{
    const char *policy = a->cfg->shared_subscription_policy;
    size_t nc = 0;
    size_t need = local ? local->n_members : 0;
    for (size_t i = 0; i < s_n; i++)
        for (size_t k = 0; k < s_nodes[i].res.n_shares; k++)
            if (s_same(&s_nodes[i].res.shares[k], group, glen, filter, flen))
                need += s_nodes[i].res.shares[k].n_members;
    if (need > *cap) {
        *cap = need * 2;
        *cands = realloc(*cands, *cap * sizeof **cands);
    }
    unsigned best = 0;
    if (local)
        for (size_t k = 0; k < local->n_members; k++) {
            const nmq_trie_entry_t *e = local->members[k];
            unsigned r = s_rank(policy, true, online(e));
            (*cands)[nc++] = (s_cand_t){ e, NULL, r };
            best = r > best ? r : best;
        }
    for (size_t i = 0; i < s_n; i++)
        for (size_t k = 0; k < s_nodes[i].res.n_shares; k++) {
            const nmq_trie_share_t *sh = &s_nodes[i].res.shares[k];
            if (!s_same(sh, group, glen, filter, flen))
                continue;
            for (size_t j = 0; j < sh->n_members; j++) {
                unsigned r = s_rank(policy, false, true);
                (*cands)[nc++] = (s_cand_t){ sh->members[j], &s_nodes[i], r };
                best = r > best ? r : best;
            }
        }
    if (!best)
        return NULL;
    size_t nbest = 0;
    for (size_t i = 0; i < nc; i++)
        nbest += (*cands)[i].rank == best;
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    size_t want = (size_t)(s_rng % nbest);
    for (size_t i = 0; i < nc; i++) {
        if ((*cands)[i].rank != best || want--)
            continue;
        s_cand_t *c = &(*cands)[i];
        if (!c->node)
            return c->e;
        Nmq__Op *op = s_forward(c->node, msg, payload, len, s_cap(c->node));
        uint32_t sid = c->e->opts.sub_id;
        s_recipient(c->node, op, c->e->client_id, c->e->client_id_len, c->e->opts.qos,
                    c->e->opts.retain_as_published, &sid, sid ? 1 : 0);
        return NULL;
    }
    return NULL;
}

/* Every (group, filter) that matched, here or elsewhere: one member each.
 * pick_local is called for a local member chosen. */
void acc_remote_shares(acceptor_t *a, const nmq_trie_result_t *local, const Nmq__Msg *msg,
                       const uint8_t *payload, size_t len, acc_online_fn *online, acc_pick_local_fn *pick_local,
                       void *arg)
{
    static s_cand_t *cands;
    static size_t cap;
    for (size_t i = 0; i < local->n_shares; i++) {
        const nmq_trie_share_t *sh = &local->shares[i];
        const nmq_trie_entry_t *e = s_pick(a, sh, sh->group, sh->group_len, sh->filter, sh->filter_len, msg,
                                           payload, len, online, &cands, &cap);
        if (e)
            pick_local(a, e, arg);
    }
    /* keys matched on other nodes only */
    for (size_t i = 0; i < s_n; i++)
        for (size_t k = 0; k < s_nodes[i].res.n_shares; k++) {
            const nmq_trie_share_t *sh = &s_nodes[i].res.shares[k];
            bool seen = false;
            for (size_t j = 0; j < local->n_shares && !seen; j++)
                seen = s_same(&local->shares[j], sh->group, sh->group_len, sh->filter, sh->filter_len);
            for (size_t p = 0; p < i && !seen; p++)
                for (size_t q = 0; q < s_nodes[p].res.n_shares && !seen; q++)
                    seen = s_same(&s_nodes[p].res.shares[q], sh->group, sh->group_len, sh->filter, sh->filter_len);
            for (size_t q = 0; q < k && !seen; q++)
                seen = s_same(&s_nodes[i].res.shares[q], sh->group, sh->group_len, sh->filter, sh->filter_len);
            if (!seen)
                s_pick(a, NULL, sh->group, sh->group_len, sh->filter, sh->filter_len, msg, payload, len,
                       online, &cands, &cap);
        }
}

int acc_remote_forwarded(void)
{
    int n = 0;
    for (size_t i = 0; i < s_n; i++)
        n += s_nodes[i].op != NULL;
    return n;
}

/* --- the cluster worker ------------------------------------------------------------------------- */

void acc_remote_flush(acceptor_t *a)
{
    for (size_t i = 0; i < s_n; i++)
        if (nmq_batch_count(s_nodes[i].out) && a->cluster)
            nmq_batch_send(s_nodes[i].out, a->cluster, NULL, 0);
}

void acc_remote_stop(acceptor_t *a)
{
    for (size_t i = 0; i < s_n; i++) {
        free(s_nodes[i].name);
        nmq_trie_destroy(&s_nodes[i].trie);
        nmq_trie_destroy(&s_nodes[i].building);
        nmq_trie_result_free(&s_nodes[i].res);
        nmq_batch_destroy(&s_nodes[i].out);
    }
    free(s_nodes);
    s_nodes = NULL;
    s_n = 0;
}
