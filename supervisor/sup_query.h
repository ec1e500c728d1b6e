/* sup_query — admin commands whose answer lives in the workers (session show,
 * session disconnect).  The supervisor sends QUERY to the workers that know,
 * keeps the admin request open, collects each QUERY_REPLY, and answers when
 * all have replied or the deadline passes (a worker restarting must not hang
 * nemomq-admin).  The supervisor's loop never blocks on a worker. */
#ifndef SUP_QUERY_H
#define SUP_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "control.pb-c.h"
#include "nmq_strbuf.h"

struct sup_node;
typedef struct sup_query sup_query_t;

/* Turns the replies into the admin answer; returns the exit status. */
typedef int (sup_query_done_fn)(struct sup_node *node, sup_query_t *q, nmq_strbuf_t *out, nmq_strbuf_t *err);

struct sup_query {
    uint64_t id;
    char admin_id[256];            /* the nemomq-admin waiting */
    size_t admin_len;
    bool json;
    int waiting;
    int64_t deadline_ms;
    sup_query_done_fn *done;
    Nmq__Ctl **replies;
    size_t nreplies;
    char *filters[4];              /* the command's own arguments, as it parsed them */
    int limit;
    struct sup_query *next;
};

/* An admin handler returns this when it started a query. */
#define SUP_ADMIN_DEFERRED (-1000)

/* Ask every running worker of the given roles (NULL-terminated); NULL when
 * none is running.  The admin request being handled is node->admin_ctx. */
sup_query_t *sup_query_start(struct sup_node *node, const char *const *roles, const char *const *args,
                             size_t nargs, sup_query_done_fn *done);
/* A QUERY_REPLY arrived (ownership of msg passes to the query). */
void sup_query_reply(struct sup_node *node, Nmq__Ctl *msg);
/* Answer the queries whose deadline passed. */
void sup_query_timers(struct sup_node *node, int64_t now_ms);
void sup_query_free_all(struct sup_node *node);

#endif
