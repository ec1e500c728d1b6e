/* sup_query — see sup_query.h. */
#include "sup_query.h"
#include "sup_node.h"
#include "nmq_ctl.h"
#include "nmq_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define SUP_QUERY_TIMEOUT_MS 5000

static uint64_t s_next_id;

sup_query_t *sup_query_start(sup_node_t *node, const char *const *roles, const char *const *args,
                             size_t nargs, sup_query_done_fn *done)
{
    sup_query_t *q = calloc(1, sizeof *q);
    q->id = ++s_next_id;
    memcpy(q->admin_id, node->admin_ctx.id, node->admin_ctx.id_len);
    q->admin_len = node->admin_ctx.id_len;
    q->json = node->admin_ctx.json;
    q->deadline_ms = sup_now_ms() + SUP_QUERY_TIMEOUT_MS;
    q->done = done;
    Nmq__Ctl msg = NMQ__CTL__INIT;
    msg.has_cmd = msg.has_query = true;
    msg.cmd = NMQ_CTL_QUERY;
    msg.query = q->id;
    msg.n_args = nargs;
    msg.args = (char **)args;
    for (int i = 0; i < node->nchildren; i++) {
        const sup_child_t *c = &node->children[i];
        bool wanted = false;
        for (const char *const *r = roles; *r; r++)
            wanted |= !strcmp(*r, c->spec->role);
        if (!wanted || c->state != SUP_CHILD_RUNNING)
            continue;
        char id[32];
        snprintf(id, sizeof id, "w%d", (int)c->pid);
        if (nmq_ctl_send(node->workers_sock, id, strlen(id), &msg) == 0)
            q->waiting++;
    }
    if (q->waiting == 0) {
        free(q);
        return NULL;
    }
    q->next = node->queries;
    node->queries = q;
    return q;
}

static void s_free(sup_query_t *q)
{
    for (size_t i = 0; i < q->nreplies; i++)
        nmq__ctl__free_unpacked(q->replies[i], NULL);
    for (size_t i = 0; i < sizeof q->filters / sizeof q->filters[0]; i++)
        free(q->filters[i]);
    free(q->replies);
    free(q);
}

static void s_finish(sup_node_t *node, sup_query_t *q)
{
    for (sup_query_t **p = &node->queries; *p; p = &(*p)->next)
        if (*p == q) {
            *p = q->next;
            break;
        }
    nmq_strbuf_t out = { 0 }, err = { 0 };
    Nmq__Ctl reply = NMQ__CTL__INIT;
    reply.has_cmd = reply.has_status = true;
    reply.cmd = NMQ_CTL_ADMIN_REPLY;
    reply.status = q->done(node, q, &out, &err);
    reply.out = out.data ? out.data : "";
    reply.err = err.data ? err.data : "";
    nmq_ctl_send(node->control_sock, q->admin_id, q->admin_len, &reply);
    nmq_strbuf_free(&out);
    nmq_strbuf_free(&err);
    s_free(q);
}

void sup_query_reply(sup_node_t *node, Nmq__Ctl *msg)
{
    for (sup_query_t *q = node->queries; q; q = q->next)
        if (q->id == msg->query) {
            q->replies = realloc(q->replies, (q->nreplies + 1) * sizeof *q->replies);
            q->replies[q->nreplies++] = msg;
            if (--q->waiting == 0)
                s_finish(node, q);
            return;
        }
    nmq__ctl__free_unpacked(msg, NULL);   /* an answer after its deadline */
}

void sup_query_timers(sup_node_t *node, int64_t now)
{
    for (sup_query_t *q = node->queries, *next; q; q = next) {
        next = q->next;
        if (now >= q->deadline_ms) {
            nmq_warn("query %llu: %d workers did not answer within %d ms", (unsigned long long)q->id,
                     q->waiting, SUP_QUERY_TIMEOUT_MS);
            s_finish(node, q);
        }
    }
}

void sup_query_free_all(sup_node_t *node)
{
    while (node->queries) {
        sup_query_t *q = node->queries;
        node->queries = q->next;
        s_free(q);
    }
}
