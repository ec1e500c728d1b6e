/* sup_admin — nemomq-admin's commands, answered by the supervisor.
 *
 * The grammar is VerneMQ's vmq-admin (clique): command words, then
 * `key=value` arguments and `--flag[=value]` / `-f` flags.  Each command is one
 * row of s_commands: its words, the arguments and flags it takes, a usage line
 * and a handler.  Anything not in the table gets the usage on stderr and exit
 * status 2, so a script never mistakes a typo for success.  Every table-shaped
 * answer goes through nmq_table, which gives `--json` to all commands alike.
 */
#include "sup_node.h"
#include "nmq_log.h"
#include "nmq_table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SUP_ADMIN_MAX_WORDS 3
#define SUP_ADMIN_MAX_PARAMS 8

typedef struct {
    int argc;          /* arguments after the command words */
    char **argv;
    bool json;
} sup_admin_req_t;

typedef int (sup_admin_fn)(sup_node_t *node, const sup_admin_req_t *req, nmq_strbuf_t *out,
                           nmq_strbuf_t *err);

typedef struct {
    const char *words[SUP_ADMIN_MAX_WORDS];
    /* accepted arguments: "key=" takes key=value, "--flag" a flag, "-x N" a
     * flag followed by a number, "*" any key=value */
    const char *params[SUP_ADMIN_MAX_PARAMS];
    const char *usage;
    const char *doc;
    sup_admin_fn *fn;
} sup_admin_cmd_t;

static sup_admin_fn s_ping, s_status, s_workers, s_show, s_set, s_reload, s_help, s_metrics_show;
static sup_admin_fn s_session_show, s_session_disconnect;
static sup_admin_fn s_cluster_join, s_cluster_leave, s_cluster_show, s_cluster_status;

static const sup_admin_cmd_t s_commands[] = {
    { { "ping" },    { NULL }, "ping", "answer pong when the node is up", s_ping },
    { { "status" },  { NULL }, "status", "the node: name, pid, uptime, config, workers", s_status },
    { { "workers" }, { NULL }, "workers", "the process tree: role, slot, pid, state, restarts, uptime", s_workers },
    { { "show" },    { "*" },  "show KEY [KEY ...]", "the running value of config keys", s_show },
    { { "set" },     { "*" },  "set KEY=VALUE [KEY=VALUE ...]", "change live config keys on the running node", s_set },
    { { "reload" },  { NULL }, "reload", "re-read the config file (same as SIGHUP)", s_reload },
    { { "metrics", "show" }, { NULL }, "metrics show", "the node's counters and gauges (VerneMQ's names)", s_metrics_show },
    { { "session", "show" }, { "--limit=", "--client_id=", "--is_online=", "--user=" },
      "session show [--limit=N] [--client_id=X] [--is_online=true|false] [--user=U]",
      "sessions: client id, online, user, peer, protocol, queue size, subscriptions", s_session_show },
    { { "session", "disconnect" }, { "client-id=", "-c", "--cleanup" },
      "session disconnect client-id=X [-c|--cleanup]",
      "disconnect a client (5.0: 0x98); -c also deletes its session and subscriptions", s_session_disconnect },
    { { "cluster", "join" }, { "discovery-node=", "--force", "-f" },
      "cluster join discovery-node=NAME@HOST [--force]",
      "join the cluster of NAME@HOST (a node with a cluster history only with --force)", s_cluster_join },
    { { "cluster", "leave" }, { "node=", "-k", "-i N", "-t N" }, "cluster leave node=NAME@HOST [-k] [-i N] [-t N]",
      "a live node stops its listeners (-k: and its clients), moves its queues to the other nodes (progress "
      "every -i s in its log; after -t s, default 60, the online ones too) and stops; a stopped node is "
      "removed (its offline messages are lost)", s_cluster_leave },
    { { "cluster", "show" }, { NULL }, "cluster show", "the cluster's nodes and whether each is running",
      s_cluster_show },
    { { "cluster", "status" }, { NULL }, "cluster status",
      "each node's link as this node sees it: address, state, last heard, problem", s_cluster_status },
    { { "help" },    { NULL }, "help", "this list", s_help },
};
#define SUP_ADMIN_NCMDS ((int)(sizeof s_commands / sizeof s_commands[0]))

static int s_nwords(const sup_admin_cmd_t *cmd)
{
    int n = 0;
    while (n < SUP_ADMIN_MAX_WORDS && cmd->words[n])
        n++;
    return n;
}

static void s_usage(nmq_strbuf_t *b)
{
    nmq_strbuf_puts(b, "Usage: nemomq-admin [-c FILE] [--json] COMMAND [ARGS]\n\nCommands:\n");
    for (int i = 0; i < SUP_ADMIN_NCMDS; i++)
        nmq_strbuf_printf(b, "  %-32s %s\n", s_commands[i].usage, s_commands[i].doc);
}

static int s_help(sup_node_t *node, const sup_admin_req_t *req, nmq_strbuf_t *out, nmq_strbuf_t *err)
{
    s_usage(out);
    return 0;
}

/* Longest command whose words open argv. */
static const sup_admin_cmd_t *s_match(int argc, char **argv)
{
    const sup_admin_cmd_t *best = NULL;
    int best_n = 0;
    for (int i = 0; i < SUP_ADMIN_NCMDS; i++) {
        int n = s_nwords(&s_commands[i]);
        if (n > argc || n <= best_n)
            continue;
        int k = 0;
        while (k < n && !strcmp(s_commands[i].words[k], argv[k]))
            k++;
        if (k == n) {
            best = &s_commands[i];
            best_n = n;
        }
    }
    return best;
}

/* 0 refused, 1 accepted, 2 accepted and the next argument is its number */
static int s_param_ok(const sup_admin_cmd_t *cmd, const char *arg)
{
    size_t keylen = strcspn(arg, "=");
    for (int i = 0; i < SUP_ADMIN_MAX_PARAMS && cmd->params[i]; i++) {
        const char *p = cmd->params[i];
        if (!strcmp(p, "*") && arg[0] != '-')
            return true;
        size_t flag = strcspn(p, " ");
        if (p[flag] == ' ' && strlen(arg) == flag && !strncmp(p, arg, flag))
            return 2;
        size_t plen = strlen(p);   /* p[keylen] only when p is that long */
        if (plen >= keylen && plen == keylen + (p[keylen] == '=') && !strncmp(p, arg, keylen))
            return true;
    }
    return false;
}

int sup_admin_handle(sup_node_t *node, int argc, char **argv, bool json, nmq_strbuf_t *out,
                     nmq_strbuf_t *err)
{
    const sup_admin_cmd_t *cmd = argc > 0 ? s_match(argc, argv) : NULL;
    if (!cmd) {
        if (argc > 0)
            nmq_strbuf_printf(err, "nemomq-admin: unknown command '%s'\n", argv[0]);
        s_usage(err);
        return 2;
    }
    int nw = s_nwords(cmd);
    for (int i = nw; i < argc; i++) {
        int ok = s_param_ok(cmd, argv[i]);
        if (ok == 2 && (i + 1 >= argc || !argv[i + 1][0] || strspn(argv[i + 1], "0123456789") != strlen(argv[i + 1]))) {
            nmq_strbuf_printf(err, "nemomq-admin: %s: %s needs a number of seconds\nUsage: nemomq-admin %s\n",
                              cmd->words[0], argv[i], cmd->usage);
            return 2;
        }
        if (!ok) {
            nmq_strbuf_printf(err, "nemomq-admin: %s: unknown argument '%s'\nUsage: nemomq-admin %s\n",
                              cmd->words[0], argv[i], cmd->usage);
            return 2;
        }
        i += ok == 2;
    }
    sup_admin_req_t req = { argc - nw, argv + nw, json };
    return cmd->fn(node, &req, out, err);
}

/* --- handlers ------------------------------------------------------------------ */

static int s_ping(sup_node_t *node, const sup_admin_req_t *req, nmq_strbuf_t *out, nmq_strbuf_t *err)
{
    nmq_strbuf_puts(out, "pong\n");
    return 0;
}

static void s_uptime(char *buf, size_t len, int64_t since_ms)
{
    int64_t s = (sup_now_ms() - since_ms) / 1000;
    if (s >= 86400)
        snprintf(buf, len, "%lldd%02lldh%02lldm", (long long)(s / 86400), (long long)(s % 86400 / 3600),
                 (long long)(s % 3600 / 60));
    else
        snprintf(buf, len, "%02lld:%02lld:%02lld", (long long)(s / 3600), (long long)(s % 3600 / 60),
                 (long long)(s % 60));
}

static void s_emit(nmq_table_t *t, const sup_admin_req_t *req, nmq_strbuf_t *out)
{
    char *text = nmq_table_render(t, req->json);
    nmq_strbuf_puts(out, text);
    free(text);
}

static int s_status(sup_node_t *node, const sup_admin_req_t *req, nmq_strbuf_t *out, nmq_strbuf_t *err)
{
    static const char *const cols[] = { "node", "#pid", "uptime", "config", "#generation",
                                        "#workers", "#running", "#restarts", "platform_data_dir" };
    int running = 0;
    unsigned restarts = 0;
    for (int i = 0; i < node->nchildren; i++) {
        running += node->children[i].state == SUP_CHILD_RUNNING;
        restarts += node->children[i].restarts;
    }
    char up[32];
    s_uptime(up, sizeof up, node->started_ms);
    nmq_table_t *t = nmq_table_new(cols, 9);
    nmq_table_cell(t, "%s", node->cfg->nodename);
    nmq_table_cell(t, "%d", (int)getpid());
    nmq_table_cell(t, "%s", up);
    nmq_table_cell(t, "%s", node->cfg->source);
    nmq_table_cell(t, "%llu", (unsigned long long)node->generation);
    nmq_table_cell(t, "%d", node->nchildren);
    nmq_table_cell(t, "%d", running);
    nmq_table_cell(t, "%u", restarts);
    nmq_table_cell(t, "%s", node->cfg->platform_data_dir);
    s_emit(t, req, out);
    nmq_table_destroy(&t);
    return 0;
}

static int s_workers(sup_node_t *node, const sup_admin_req_t *req, nmq_strbuf_t *out, nmq_strbuf_t *err)
{
    static const char *const cols[] = { "role", "slot", "#pid", "state", "#restarts", "uptime", "info" };
    nmq_table_t *t = nmq_table_new(cols, 7);
    char up[32];
    s_uptime(up, sizeof up, node->started_ms);
    nmq_table_cell(t, "supervisor");
    nmq_table_cell(t, "-");
    nmq_table_cell(t, "%d", (int)getpid());
    nmq_table_cell(t, "%s", node->shutting_down ? "stopping" : "running");
    nmq_table_cell(t, "0");
    nmq_table_cell(t, "%s", up);
    nmq_table_cell(t, "generation %llu", (unsigned long long)node->generation);
    for (int i = 0; i < node->nchildren; i++) {
        const sup_child_t *c = &node->children[i];
        if (c->pid)
            s_uptime(up, sizeof up, c->started_ms);
        nmq_table_cell(t, "%s", c->spec->role);
        nmq_table_cell(t, "%d", c->slot);
        nmq_table_cell(t, "%d", (int)c->pid);
        nmq_table_cell(t, "%s", sup_child_state_name(c->state));
        nmq_table_cell(t, "%u", c->restarts);
        nmq_table_cell(t, "%s", c->pid ? up : "-");
        nmq_table_cell(t, "%s", c->info);
    }
    s_emit(t, req, out);
    nmq_table_destroy(&t);
    return 0;
}

static int s_show(sup_node_t *node, const sup_admin_req_t *req, nmq_strbuf_t *out, nmq_strbuf_t *err)
{
    if (req->argc == 0) {
        nmq_strbuf_puts(err, "Usage: nemomq-admin show KEY [KEY ...]\n");
        return 2;
    }
    static const char *const cols[] = { "key", "value" };
    nmq_table_t *t = nmq_table_new(cols, 2);
    int status = 0;
    for (int i = 0; i < req->argc; i++) {
        char value[NMQ_CONF_PATH_MAX];
        if (nmq_config_get(node->cfg, req->argv[i], value, sizeof value) < 0) {
            nmq_strbuf_printf(err, "nemomq-admin: show: unknown config key '%s'\n", req->argv[i]);
            status = 2;
            continue;
        }
        nmq_table_cell(t, "%s", req->argv[i]);
        nmq_table_cell(t, "%s", value);
    }
    if (status == 0)
        s_emit(t, req, out);
    nmq_table_destroy(&t);
    return status;
}

static int s_set(sup_node_t *node, const sup_admin_req_t *req, nmq_strbuf_t *out, nmq_strbuf_t *err)
{
    if (req->argc == 0) {
        nmq_strbuf_puts(err, "Usage: nemomq-admin set KEY=VALUE [KEY=VALUE ...]\n");
        return 2;
    }
    for (int i = 0; i < req->argc; i++) {
        char *eq = strchr(req->argv[i], '=');
        if (!eq) {
            nmq_strbuf_printf(err, "nemomq-admin: set: '%s' is not KEY=VALUE\n", req->argv[i]);
            return 2;
        }
        *eq = '\0';
        char why[512];
        if (!nmq_config_lookup(req->argv[i])) {
            nmq_strbuf_printf(err, "nemomq-admin: set: unknown config key '%s'\n", req->argv[i]);
            return 2;
        }
        if (sup_node_set(node, req->argv[i], eq + 1, why, sizeof why) < 0) {
            nmq_strbuf_printf(err, "nemomq-admin: set: %s\n", why);
            return 1;
        }
        nmq_info("admin: set %s = %s", req->argv[i], eq + 1);
    }
    nmq_strbuf_puts(out, "Done\n");
    return 0;
}

/* VerneMQ prints "counter.mqtt_publish_received = 12"; --json a table. */
static int s_metrics_show(sup_node_t *node, const sup_admin_req_t *req, nmq_strbuf_t *out, nmq_strbuf_t *err)
{
    sup_metrics_t all = { 0 };
    sup_node_metrics(node, &all);
    if (req->json) {
        static const char *const cols[] = { "type", "name", "#value" };
        nmq_table_t *t = nmq_table_new(cols, 3);
        for (size_t i = 0; i < all.n; i++) {
            nmq_table_cell(t, "%s", all.m[i].gauge ? "gauge" : "counter");
            nmq_table_cell(t, "%s", all.m[i].name);
            nmq_table_cell(t, "%llu", (unsigned long long)all.m[i].value);
        }
        s_emit(t, req, out);
        nmq_table_destroy(&t);
    } else {
        for (size_t i = 0; i < all.n; i++)
            nmq_strbuf_printf(out, "%s.%s = %llu\n", all.m[i].gauge ? "gauge" : "counter", all.m[i].name,
                              (unsigned long long)all.m[i].value);
    }
    sup_metrics_free(&all);
    return 0;
}

/* --- sessions: answered by the queue workers and the metadata worker ------------ */

static const char *s_arg(const sup_admin_req_t *req, const char *key)
{
    size_t n = strlen(key);
    for (int i = 0; i < req->argc; i++)
        if (!strncmp(req->argv[i], key, n))
            return req->argv[i] + n;
    return NULL;
}

static bool s_flag(const sup_admin_req_t *req, const char *a, const char *b)
{
    for (int i = 0; i < req->argc; i++)
        if (!strcmp(req->argv[i], a) || !strcmp(req->argv[i], b))
            return true;
    return false;
}

static const char *s_subscriptions_of(const sup_query_t *q, const char *client)
{
    for (size_t r = 0; r < q->nreplies; r++) {
        const Nmq__Ctl *m = q->replies[r];
        if (m->n_columns != 3 || strcmp(m->columns[1], "subscriptions"))
            continue;
        for (size_t i = 0; i < m->n_rows; i++)
            if (m->rows[i]->n_cells == 3 && !strcmp(m->rows[i]->cells[0], client))
                return m->rows[i]->cells[1];
    }
    return "";
}

/* filters[]: client_id, is_online, user, as given */
static bool s_session_wanted(const sup_query_t *q, char *const *cells)
{
    const char *values[3] = { cells[0], cells[1], cells[2] };
    for (int f = 0; f < 3; f++)
        if (q->filters[f] && strcmp(q->filters[f], values[f]))
            return false;
    return true;
}

static int s_session_show_done(sup_node_t *node, sup_query_t *q, nmq_strbuf_t *out, nmq_strbuf_t *err)
{
    static const char *const cols[] = { "client_id", "is_online", "user", "peer", "#protocol",
                                        "#queue_size", "persistent", "subscriptions", "node" };
    nmq_table_t *t = nmq_table_new(cols, 9);
    int shown = 0;
    const char *self = node->cfg->nodename;
    for (size_t r = 0; r < q->nreplies; r++) {
        const Nmq__Ctl *m = q->replies[r];
        if (m->n_columns != 7)
            continue;   /* the metadata worker's reply, joined below */
        for (size_t i = 0; i < m->n_rows && (q->limit <= 0 || shown < q->limit); i++) {
            char *const *cells = m->rows[i]->cells;
            if (m->rows[i]->n_cells != 7 || !s_session_wanted(q, cells))
                continue;
            for (int c = 0; c < 7; c++)
                nmq_table_cell(t, "%s", cells[c]);
            nmq_table_cell(t, "%s", s_subscriptions_of(q, cells[0]));
            nmq_table_cell(t, "%s", self);
            shown++;
        }
    }
    /* sessions on other nodes: what the replicated registrations say (their
     * state is that node's to tell: "-") */
    for (size_t r = 0; r < q->nreplies; r++) {
        const Nmq__Ctl *m = q->replies[r];
        if (m->n_columns != 3 || strcmp(m->columns[2], "node"))
            continue;
        for (size_t i = 0; i < m->n_rows && (q->limit <= 0 || shown < q->limit); i++) {
            char *const *cells = m->rows[i]->cells;
            if (m->rows[i]->n_cells != 3 || !strcmp(cells[2], self))
                continue;
            if ((q->filters[0] && strcmp(q->filters[0], cells[0])) || q->filters[1] || q->filters[2])
                continue;   /* online and user are not known here */
            nmq_table_cell(t, "%s", cells[0]);
            for (int c = 0; c < 6; c++)
                nmq_table_cell(t, "%s", "-");
            nmq_table_cell(t, "%s", cells[1]);
            nmq_table_cell(t, "%s", cells[2]);
            shown++;
        }
    }
    sup_admin_req_t req = { 0, NULL, q->json };
    s_emit(t, &req, out);
    nmq_table_destroy(&t);
    if (q->waiting > 0)
        nmq_strbuf_printf(err, "nemomq-admin: %d workers did not answer in time: the list may be partial\n",
                          q->waiting);
    return 0;
}

static int s_session_show(sup_node_t *node, const sup_admin_req_t *req, nmq_strbuf_t *out, nmq_strbuf_t *err)
{
    static const char *const roles[] = { "queue", "metadata", NULL };
    static const char *const ask_queue[] = { "sessions" };
    sup_query_t *q = sup_query_start(node, roles, ask_queue, 1, s_session_show_done);
    if (!q) {
        nmq_strbuf_puts(err, "nemomq-admin: no queue worker is running\n");
        return 1;
    }
    /* both roles answer "sessions" with their part: queue workers the
     * sessions, the metadata worker each client's subscriptions */
    static const char *const keys[] = { "--client_id=", "--is_online=", "--user=" };
    for (int f = 0; f < 3; f++) {
        const char *v = s_arg(req, keys[f]);
        q->filters[f] = v ? strdup(v) : NULL;
    }
    const char *limit = s_arg(req, "--limit=");
    q->limit = limit ? atoi(limit) : 0;
    return SUP_ADMIN_DEFERRED;
}

static int s_session_disconnect_done(sup_node_t *node, sup_query_t *q, nmq_strbuf_t *out, nmq_strbuf_t *err)
{
    for (size_t r = 0; r < q->nreplies; r++)
        if (q->replies[r]->status == 0) {
            nmq_strbuf_puts(out, "Done\n");
            return 0;
        }
    nmq_strbuf_printf(err, "nemomq-admin: session disconnect: no session for client-id %s\n", q->filters[0]);
    return 1;
}

static int s_session_disconnect(sup_node_t *node, const sup_admin_req_t *req, nmq_strbuf_t *out,
                                nmq_strbuf_t *err)
{
    const char *cid = s_arg(req, "client-id=");
    if (!cid || !*cid) {
        nmq_strbuf_puts(err, "Usage: nemomq-admin session disconnect client-id=X [-c|--cleanup]\n");
        return 2;
    }
    static const char *const roles[] = { "queue", NULL };
    const char *args[] = { "disconnect", cid, s_flag(req, "-c", "--cleanup") ? "cleanup" : "keep" };
    sup_query_t *q = sup_query_start(node, roles, args, 3, s_session_disconnect_done);
    if (!q) {
        nmq_strbuf_puts(err, "nemomq-admin: no queue worker is running\n");
        return 1;
    }
    q->filters[0] = strdup(cid);
    return SUP_ADMIN_DEFERRED;
}

static int s_reload(sup_node_t *node, const sup_admin_req_t *req, nmq_strbuf_t *out, nmq_strbuf_t *err)
{
    char why[1024];
    if (sup_node_reload(node, why, sizeof why) < 0) {
        nmq_strbuf_printf(err, "nemomq-admin: reload refused, the running config stays: %s\n", why);
        return 1;
    }
    nmq_strbuf_printf(out, "Done: config generation %llu\n", (unsigned long long)node->generation);
    return 0;
}

/* --- cluster: answered by the cluster worker ----------------------------------- */

/* Its rows as they come, or "Done" for a change. */
static int s_cluster_done(sup_node_t *node, sup_query_t *q, nmq_strbuf_t *out, nmq_strbuf_t *err)
{
    if (q->nreplies == 0) {
        nmq_strbuf_puts(err, "nemomq-admin: the cluster worker did not answer in time\n");
        return 1;
    }
    const Nmq__Ctl *m = q->replies[0];
    if (m->status != 0) {
        nmq_strbuf_printf(err, "nemomq-admin: cluster %s: %s\n", q->filters[0], m->err ? m->err : "failed");
        return m->status;
    }
    if (m->n_columns == 0) {
        if (m->err && m->err[0])
            nmq_strbuf_printf(out, "Done: %s\n", m->err);
        else
            nmq_strbuf_puts(out, "Done\n");
        return 0;
    }
    nmq_table_t *t = nmq_table_new((const char *const *)m->columns, (int)m->n_columns);
    for (size_t i = 0; i < m->n_rows; i++)
        for (size_t c = 0; c < m->n_columns; c++)
            nmq_table_cell(t, "%s", c < m->rows[i]->n_cells ? m->rows[i]->cells[c] : "");
    sup_admin_req_t req = { 0, NULL, q->json };
    s_emit(t, &req, out);
    nmq_table_destroy(&t);
    return 0;
}

/* The verb and the operator's words go to the cluster worker as they are. */
static int s_cluster(sup_node_t *node, const sup_admin_req_t *req, const char *verb, nmq_strbuf_t *err)
{
    static const char *const roles[] = { "cluster", NULL };
    const char **args = calloc((size_t)req->argc + 1, sizeof *args);
    args[0] = verb;
    for (int i = 0; i < req->argc; i++)
        args[i + 1] = req->argv[i];
    sup_query_t *q = sup_query_start(node, roles, args, (size_t)req->argc + 1, s_cluster_done);
    free(args);
    if (!q) {
        nmq_strbuf_puts(err, "nemomq-admin: the cluster worker is not running\n");
        return 1;
    }
    q->filters[0] = strdup(verb);
    return SUP_ADMIN_DEFERRED;
}

static int s_cluster_join(sup_node_t *node, const sup_admin_req_t *req, nmq_strbuf_t *out, nmq_strbuf_t *err)
{
    return s_cluster(node, req, "join", err);
}

static int s_cluster_leave(sup_node_t *node, const sup_admin_req_t *req, nmq_strbuf_t *out, nmq_strbuf_t *err)
{
    return s_cluster(node, req, "leave", err);
}

static int s_cluster_show(sup_node_t *node, const sup_admin_req_t *req, nmq_strbuf_t *out, nmq_strbuf_t *err)
{
    return s_cluster(node, req, "show", err);
}

static int s_cluster_status(sup_node_t *node, const sup_admin_req_t *req, nmq_strbuf_t *out, nmq_strbuf_t *err)
{
    return s_cluster(node, req, "status", err);
}
