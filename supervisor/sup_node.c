/* sup_node — the supervisor's life: start, supervise, reload, stop.
 *
 * Shape (nginx's master, OTP's supervisor):
 * - Signals arrive on a signalfd and are handled in the loop, never in a
 *   handler: SIGCHLD reaps, SIGTERM/SIGINT stop the node, SIGHUP reloads.
 * - Children start from the spec table in order, one role at a time, each role
 *   fully READY before the next starts; listeners' acceptors come last.  They
 *   stop in reverse order, each group within its shutdown timeout, then SIGKILL.
 * - A child is fork + exec of this same binary with its role in the environment,
 *   so every worker starts clean (no inherited ZeroMQ context, no LMDB handle).
 * - Liveness: any message from a worker is a heartbeat; one silent for three
 *   intervals is killed and handled as a crash.  Every restart counts against
 *   the restart intensity; exceeding it stops the node with a log line naming
 *   the child and the limit.
 * - Reload builds the new config first and keeps the old one when the new one
 *   is invalid; keys that cannot change on a running node keep their old value
 *   with a warning; the acceptor pool grows or shrinks to the new count without
 *   touching the acceptors that stay.
 */
#include "sup_node.h"
#include "nmq_ctl.h"
#include "nmq_log.h"
#include "nmq_paths.h"
#include "nmq_worker.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#define SUP_START_TIMEOUT_MS 15000
#define SUP_MISSED_BEATS 3

extern char **environ;

int64_t sup_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *sup_child_state_name(sup_child_state_t s)
{
    static const char *const names[] = { "starting", "running", "stopping", "down" };
    return names[s];
}

static bool s_child_single(const sup_child_t *c) { return c->spec->count_field == SUP_COUNT_ONE; }

/* "acceptor 0" or "metadata": how logs and titles name a child. */
static const char *s_child_name(const sup_child_t *c)
{
    static char buf[64];
    if (s_child_single(c))
        snprintf(buf, sizeof buf, "%s", c->spec->role);
    else
        snprintf(buf, sizeof buf, "%s %d", c->spec->role, c->slot);
    return buf;
}

/* --- spawning --------------------------------------------------------------- */

typedef struct {
    char *argv[2];
    char **envp;
    int nenv;
} s_exec_t;

static void s_env_add(s_exec_t *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_env_add(s_exec_t *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&x->envp[x->nenv], fmt, ap) >= 0)
        x->nenv++;
    va_end(ap);
}

/* Everything the child needs is built here, before fork: between fork and exec
 * a child of this multi-threaded process may only call async-signal-safe code. */
static int s_exec_prepare(sup_node_t *node, const sup_child_t *c, s_exec_t *x)
{
    int n = 0;
    while (environ[n])
        n++;
    x->envp = calloc((size_t)n + 16, sizeof *x->envp);
    x->nenv = 0;
    for (int i = 0; i < n; i++)
        if (strncmp(environ[i], "NMQ_", 4) != 0)
            x->envp[x->nenv++] = strdup(environ[i]);
    s_env_add(x, "%s=%s", NMQ_ENV_ROLE, c->spec->role);
    s_env_add(x, "%s=%d", NMQ_ENV_SLOT, c->slot);
    s_env_add(x, "%s=%s", NMQ_ENV_CONTROL, node->workers_ep);
    s_env_add(x, "%s=%s", NMQ_ENV_NODENAME, node->cfg->nodename);
    if (node->console)
        s_env_add(x, "NMQ_CONSOLE=1");
    if (c->spec->listener && node->nlisteners > 0) {
        nmq_strbuf_t b = { 0 };
        for (int i = 0; i < node->nlisteners; i++)
            nmq_strbuf_printf(&b, "%s%s=%s=%d", i ? ";" : "", node->listeners[i].name,
                              node->listeners[i].addr, 3 + i);
        s_env_add(x, "%s=%s", NMQ_ENV_LISTEN_FDS, b.data);
        nmq_strbuf_free(&b);
    }
    if (asprintf(&x->argv[0], "nemomq: %s (%s)", s_child_name(c), node->cfg->nodename) < 0)
        return -1;
    x->argv[1] = NULL;
    return 0;
}

static void s_exec_free(s_exec_t *x)
{
    for (int i = 0; i < x->nenv; i++)
        free(x->envp[i]);
    free(x->envp);
    free(x->argv[0]);
}

static void s_child_exec(sup_node_t *node, const sup_child_t *c, s_exec_t *x, pid_t parent)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    if (node->daemon) {
        dup2(node->devnull_fd, STDIN_FILENO);
        dup2(node->devnull_fd, STDOUT_FILENO);
        dup2(node->devnull_fd, STDERR_FILENO);
    }
    int nl = c->spec->listener ? node->nlisteners : 0;
    int high[NMQ_MAX_LISTENERS];
    for (int i = 0; i < nl; i++)
        high[i] = fcntl(node->listeners[i].fd, F_DUPFD_CLOEXEC, 3 + NMQ_MAX_LISTENERS + 64);
    for (int i = 0; i < nl; i++)
        dup2(high[i], 3 + i);   /* dup2 leaves the new fd without CLOEXEC */
    close_range(3 + (unsigned)nl, ~0U, 0);
    execve(node->self_exe, x->argv, x->envp);
    _exit(127);
}

static int s_spawn(sup_node_t *node, sup_child_t *c)
{
    s_exec_t x = { 0 };
    if (s_exec_prepare(node, c, &x) < 0) {
        s_exec_free(&x);
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
        s_child_exec(node, c, &x, parent);
    s_exec_free(&x);
    if (pid < 0) {
        nmq_error("cannot fork %s: %s", s_child_name(c), strerror(errno));
        return -1;
    }
    c->pid = pid;
    c->state = SUP_CHILD_STARTING;
    c->started_ms = c->last_seen_ms = sup_now_ms();
    c->info[0] = '\0';
    nmq_debug("started %s, pid %d", s_child_name(c), (int)pid);
    return 0;
}

/* --- the child table ------------------------------------------------------------ */

static sup_child_t *s_child_by_pid(sup_node_t *node, pid_t pid)
{
    for (int i = 0; i < node->nchildren; i++)
        if (node->children[i].pid == pid)
            return &node->children[i];
    return NULL;
}

/* Insert a child after the last one of its spec, keeping start order. */
static sup_child_t *s_child_add(sup_node_t *node, const sup_spec_t *spec, int slot)
{
    if (node->nchildren == node->cap_children) {
        node->cap_children = node->cap_children ? node->cap_children * 2 : 32;
        node->children = realloc(node->children, (size_t)node->cap_children * sizeof *node->children);
    }
    int at = node->nchildren;
    for (int i = 0; i < node->nchildren; i++)
        if (node->children[i].spec > spec) {
            at = i;
            break;
        }
    memmove(&node->children[at + 1], &node->children[at],
            (size_t)(node->nchildren - at) * sizeof *node->children);
    node->nchildren++;
    sup_child_t *c = &node->children[at];
    memset(c, 0, sizeof *c);
    c->spec = spec;
    c->slot = slot;
    c->state = SUP_CHILD_DOWN;
    return c;
}

static void s_child_remove(sup_node_t *node, sup_child_t *c)
{
    sup_metrics_free(&c->metrics);
    int at = (int)(c - node->children);
    memmove(&node->children[at], &node->children[at + 1],
            (size_t)(node->nchildren - at - 1) * sizeof *node->children);
    node->nchildren--;
}

static int s_shutdown_ms(const sup_node_t *node, const sup_child_t *c)
{
    return c->spec->shutdown_ms ? c->spec->shutdown_ms : node->cfg->supervisor_shutdown_timeout;
}

static void s_send_cmd(sup_node_t *node, const sup_child_t *c, unsigned cmd, bool with_config)
{
    char id[32];
    snprintf(id, sizeof id, "w%d", (int)c->pid);
    Nmq__Ctl msg = NMQ__CTL__INIT;
    msg.has_cmd = true;
    msg.cmd = cmd;
    char *dump = NULL;
    if (with_config) {
        dump = nmq_config_dump(node->cfg);
        msg.config = dump;
        msg.has_generation = true;
        msg.generation = node->generation;
    }
    if (cmd == NMQ_CTL_HEARTBEAT) {
        msg.has_seq = true;
        msg.seq = node->hb_seq;
    }
    if (nmq_ctl_send(node->workers_sock, id, strlen(id), &msg) < 0 && cmd == NMQ_CTL_STOP)
        kill(c->pid, SIGTERM);   /* not connected yet: the worker treats SIGTERM as STOP */
    free(dump);
}

static void s_stop_child(sup_node_t *node, sup_child_t *c)
{
    if (!c->pid || c->state == SUP_CHILD_STOPPING)
        return;
    c->state = SUP_CHILD_STOPPING;
    c->stop_deadline_ms = sup_now_ms() + s_shutdown_ms(node, c);
    s_send_cmd(node, c, NMQ_CTL_STOP, false);
}

/* --- exits and restarts -------------------------------------------------------------- */

static void s_log_exit(const sup_child_t *c, int status)
{
    if (WIFSIGNALED(status))
        nmq_log(c->state == SUP_CHILD_STOPPING ? NMQ_LOG_INFO : NMQ_LOG_WARNING,
                "%s (pid %d) killed by signal %d (%s)", s_child_name(c), (int)c->pid,
                WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        nmq_log(WEXITSTATUS(status) ? NMQ_LOG_WARNING : NMQ_LOG_INFO,
                "%s (pid %d) exited with status %d", s_child_name(c), (int)c->pid,
                WEXITSTATUS(status));
}

static void s_restart_siblings(sup_node_t *node, int crashed)
{
    sup_strategy_t *strategies = calloc((size_t)node->nchildren, sizeof *strategies);
    int *set = calloc((size_t)node->nchildren, sizeof *set);
    for (int i = 0; i < node->nchildren; i++)
        strategies[i] = node->children[i].spec->strategy;
    int n = sup_restart_set(strategies, node->nchildren, crashed, set);
    for (int i = 1; i < n; i++) {
        sup_child_t *sib = &node->children[set[i]];
        if (sib->pid && !sib->retire) {
            sib->restart_pending = true;
            s_stop_child(node, sib);
        }
    }
    free(strategies);
    free(set);
}

static void s_child_exited(sup_node_t *node, sup_child_t *c, int status)
{
    s_log_exit(c, status);
    sup_metrics_add(&node->retired, &c->metrics, true);
    sup_metrics_clear(&c->metrics);
    c->pid = 0;
    c->state = SUP_CHILD_DOWN;
    if (node->shutting_down)
        return;
    if (c->retire) {
        nmq_info("%s retired", s_child_name(c));
        s_child_remove(node, c);
        return;
    }
    if (c->restart_pending) {
        c->restart_pending = false;
        c->restarts++;
        s_spawn(node, c);
        return;
    }
    sup_exit_t kind = sup_exit_kind(status);
    if (kind == SUP_EXIT_FATAL) {
        nmq_error("%s exited with status %d (fatal: restarting cannot help)", s_child_name(c),
                  NMQ_EXIT_CONFIG);
        sup_node_shutdown(node, 1, "a child failed fatally");
        return;
    }
    if (!sup_restart_wanted(c->spec->restart, kind)) {
        nmq_info("%s is %s: not restarted", s_child_name(c), sup_restart_name(c->spec->restart));
        return;
    }
    if (sup_intensity_add(&node->intensity, sup_now_ms())) {
        nmq_error("%s crashed: more than supervisor.max_restarts = %d restarts within "
                  "supervisor.max_restart_period = %d s; stopping the node",
                  s_child_name(c), node->cfg->supervisor_max_restarts,
                  node->cfg->supervisor_max_restart_period);
        sup_node_shutdown(node, 1, "restart intensity exceeded");
        return;
    }
    c->restarts++;
    nmq_info("restarting %s (%s, restart %u)", s_child_name(c),
             sup_strategy_name(c->spec->strategy), c->restarts);
    s_restart_siblings(node, (int)(c - node->children));
    s_spawn(node, c);
}

static void s_reap(sup_node_t *node)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        sup_child_t *c = s_child_by_pid(node, pid);
        if (c)
            s_child_exited(node, c, status);
    }
}

/* --- config -------------------------------------------------------------------- */

static void s_warn_ignored(const char *file, int line, const char *key, const char *msg, void *arg)
{
    nmq_warn("%s:%d: %s: %s", file, line, key, msg);
}

typedef struct {
    const nmq_config_t *old;
    nmq_config_t *next;
} s_diff_t;

/* Keys that cannot change on a running node keep their old value. */
static void s_keep_restart_only(const nmq_config_key_t *key, const char *name, void *arg)
{
    s_diff_t *d = arg;
    if (key && (key->flags & NMQ_CONF_LIVE)) {
        nmq_info("config: %s changed", name);
        return;
    }
    nmq_warn("config: %s changed in %s: takes effect after a restart of the node", name,
             d->old->source);
    if (key && key->type != NMQ_CT_LISTENER) {
        char value[NMQ_CONF_PATH_MAX];
        char err[256];
        if (nmq_config_get(d->old, name, value, sizeof value) == 0)
            nmq_config_set(d->next, name, value, false, err, sizeof err);
    }
}

static void s_resize_pools(sup_node_t *node);

/* Put a validated config in place and tell everyone. */
static void s_apply(sup_node_t *node, nmq_config_t *next)
{
    s_diff_t d = { node->cfg, next };
    nmq_config_diff(node->cfg, next, s_keep_restart_only, &d);
    memcpy(next->listeners, node->cfg->listeners, sizeof next->listeners);
    next->nr_listeners = node->cfg->nr_listeners;

    nmq_config_destroy(&node->cfg);
    node->cfg = next;
    node->generation++;
    char err[512];
    if (nmq_log_open(node->cfg, node->console, err, sizeof err) < 0)
        nmq_warn("%s", err);
    sup_intensity_reset_limits(&node->intensity, node->cfg->supervisor_max_restarts,
                               node->cfg->supervisor_max_restart_period);
    for (int i = 0; i < node->nchildren; i++)
        if (node->children[i].pid && node->children[i].state != SUP_CHILD_STOPPING)
            s_send_cmd(node, &node->children[i], NMQ_CTL_RELOAD, true);
    s_resize_pools(node);
    nmq_info("config generation %llu in place", (unsigned long long)node->generation);
}

int sup_node_reload(sup_node_t *node, char *err, size_t errlen)
{
    nmq_config_t *next = nmq_config_new();
    if (nmq_config_load_file(next, node->cfg->source, s_warn_ignored, NULL, err, errlen) < 0) {
        nmq_error("reload refused, the running config stays: %s", err);
        nmq_config_destroy(&next);
        return -1;
    }
    s_apply(node, next);
    return 0;
}

int sup_node_set(sup_node_t *node, const char *key, const char *value, char *err, size_t errlen)
{
    nmq_config_t *next = nmq_config_dup(node->cfg);
    if (nmq_config_set(next, key, value, true, err, errlen) < 0) {
        nmq_config_destroy(&next);
        return -1;
    }
    s_apply(node, next);
    return 0;
}

/* Grow or shrink each role to its configured count: new slots take the lowest
 * free numbers; a shrink retires the highest slots and leaves the others be. */
static void s_resize_pools(sup_node_t *node)
{
    int nspecs;
    const sup_spec_t *specs = sup_specs(&nspecs);
    for (int s = 0; s < nspecs && !node->shutting_down; s++) {
        int want = sup_spec_count(&specs[s], node->cfg);
        int have = 0;
        for (int i = 0; i < node->nchildren; i++)
            if (node->children[i].spec == &specs[s] && !node->children[i].retire)
                have++;
        for (int slot = 0; have < want; slot++) {
            bool used = false;
            for (int i = 0; i < node->nchildren; i++)
                if (node->children[i].spec == &specs[s] && node->children[i].slot == slot)
                    used = true;
            if (!used) {
                nmq_info("%s pool grows: slot %d", specs[s].role, slot);
                s_spawn(node, s_child_add(node, &specs[s], slot));
                have++;
            }
        }
        for (int i = node->nchildren - 1; i >= 0 && have > want; i--) {
            sup_child_t *c = &node->children[i];
            if (c->spec != &specs[s] || c->retire)
                continue;
            nmq_info("%s pool shrinks: retiring slot %d", specs[s].role, c->slot);
            c->retire = true;
            have--;
            if (c->pid)
                s_stop_child(node, c);
            else
                s_child_remove(node, c);
        }
    }
}

/* --- messages ------------------------------------------------------------------------ */

static void s_on_worker_msg(sup_node_t *node, sup_child_t *c, const Nmq__Ctl *msg)
{
    c->last_seen_ms = sup_now_ms();
    if (msg->info)
        snprintf(c->info, sizeof c->info, "%s", msg->info);
    if (msg->n_metrics) {
        sup_metrics_clear(&c->metrics);
        for (size_t i = 0; i < msg->n_metrics; i++)
            if (msg->metrics[i]->name)
                sup_metrics_set(&c->metrics, msg->metrics[i]->name, msg->metrics[i]->value,
                                msg->metrics[i]->gauge);
    }
    switch (msg->cmd) {
    case NMQ_CTL_HELLO:
        if (!msg->role || strcmp(msg->role, c->spec->role) || (int)msg->slot != c->slot)
            nmq_warn("%s (pid %d) said HELLO as %s %u", s_child_name(c), (int)c->pid,
                     msg->role ? msg->role : "?", msg->slot);
        s_send_cmd(node, c, NMQ_CTL_WELCOME, true);
        break;
    case NMQ_CTL_READY:
        if (c->state == SUP_CHILD_STARTING)
            c->state = SUP_CHILD_RUNNING;
        nmq_info("%s (pid %d) ready", s_child_name(c), (int)c->pid);
        break;
    default:
        break;   /* HEARTBEAT: last_seen above is the point */
    }
}

static void s_on_workers(sup_node_t *node)
{
    for (;;) {
        char id[64];
        size_t idlen = sizeof id - 1;
        Nmq__Ctl *msg = nmq_ctl_recv(node->workers_sock, ZMQ_DONTWAIT, id, &idlen);
        if (!msg) {
            if (errno == EAGAIN)
                return;
            continue;
        }
        id[idlen] = '\0';
        sup_child_t *c = id[0] == 'w' ? s_child_by_pid(node, (pid_t)atoi(id + 1)) : NULL;
        if (!c)
            nmq_debug("control: %s from unknown peer %s", nmq_ctl_cmd_name(msg->cmd), id);
        else if (!nmq_ctl_cmd_allowed(msg->cmd, NMQ_CTL_FROM_WORKER))
            nmq_warn("control: %s may not send %s", s_child_name(c), nmq_ctl_cmd_name(msg->cmd));
        else if (msg->cmd == NMQ_CTL_QUERY_REPLY) {
            c->last_seen_ms = sup_now_ms();
            sup_query_reply(node, msg);   /* it keeps msg */
            continue;
        } else
            s_on_worker_msg(node, c, msg);
        nmq__ctl__free_unpacked(msg, NULL);
    }
}

static void s_on_admin(sup_node_t *node)
{
    for (;;) {
        char id[256];
        size_t idlen = sizeof id;
        Nmq__Ctl *msg = nmq_ctl_recv(node->control_sock, ZMQ_DONTWAIT, id, &idlen);
        if (!msg) {
            if (errno == EAGAIN)
                return;
            continue;
        }
        Nmq__Ctl reply = NMQ__CTL__INIT;
        reply.has_cmd = reply.has_status = true;
        reply.cmd = NMQ_CTL_ADMIN_REPLY;
        nmq_strbuf_t out = { 0 }, err = { 0 };
        memcpy(node->admin_ctx.id, id, idlen);
        node->admin_ctx.id_len = idlen;
        node->admin_ctx.json = msg->json;
        if (!nmq_ctl_cmd_allowed(msg->cmd, NMQ_CTL_FROM_ADMIN)) {
            nmq_strbuf_printf(&err, "control: %s is not an admin request\n", nmq_ctl_cmd_name(msg->cmd));
            reply.status = 2;
        } else {
            reply.status = sup_admin_handle(node, (int)msg->n_args, msg->args, msg->json, &out, &err);
        }
        reply.out = out.data ? out.data : "";
        reply.err = err.data ? err.data : "";
        if (reply.status != SUP_ADMIN_DEFERRED)   /* else a query answers later */
            nmq_ctl_send(node->control_sock, id, idlen, &reply);
        nmq_strbuf_free(&out);
        nmq_strbuf_free(&err);
        nmq__ctl__free_unpacked(msg, NULL);
    }
}

static void s_on_signals(sup_node_t *node)
{
    struct signalfd_siginfo si;
    while (read(node->sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        switch (si.ssi_signo) {
        case SIGCHLD:
            s_reap(node);
            break;
        case SIGHUP: {
            char err[512];
            nmq_info("SIGHUP: reloading %s", node->cfg->source);
            sup_node_reload(node, err, sizeof err);
            break;
        }
        default:
            sup_node_shutdown(node, 0, strsignal((int)si.ssi_signo));
            break;
        }
    }
}

/* --- timers: heartbeats, liveness, stop deadlines, shutdown progress ------------------- */

static void s_check_liveness(sup_node_t *node, int64_t now)
{
    int64_t limit = (int64_t)SUP_MISSED_BEATS * node->cfg->supervisor_heartbeat_interval;
    for (int i = 0; i < node->nchildren; i++) {
        sup_child_t *c = &node->children[i];
        if (!c->pid)
            continue;
        if (c->state == SUP_CHILD_STOPPING) {
            if (now >= c->stop_deadline_ms) {
                nmq_warn("%s (pid %d) did not stop within %d ms: killing it", s_child_name(c),
                         (int)c->pid, s_shutdown_ms(node, c));
                kill(c->pid, SIGKILL);
                c->stop_deadline_ms = now + 60000;   /* once */
            }
            continue;
        }
        int64_t allowed = c->state == SUP_CHILD_STARTING && limit < SUP_START_TIMEOUT_MS
                              ? SUP_START_TIMEOUT_MS : limit;
        if (now - c->last_seen_ms > allowed) {
            nmq_warn("%s (pid %d) silent for %lld ms (%d heartbeat intervals): killing it",
                     s_child_name(c), (int)c->pid, (long long)(now - c->last_seen_ms),
                     SUP_MISSED_BEATS);
            kill(c->pid, SIGKILL);
            c->last_seen_ms = now;   /* the reaper takes it from here */
        }
    }
}

/* Stop the last group that still has children, then the one before it. */
static void s_shutdown_step(sup_node_t *node)
{
    for (int i = node->nchildren - 1; i >= 0; i--) {
        const sup_spec_t *spec = node->children[i].spec;
        bool any = false;
        for (int j = 0; j < node->nchildren; j++)
            if (node->children[j].spec == spec && node->children[j].pid) {
                any = true;
                s_stop_child(node, &node->children[j]);
            }
        if (any)
            return;
    }
}

static bool s_all_down(const sup_node_t *node)
{
    for (int i = 0; i < node->nchildren; i++)
        if (node->children[i].pid)
            return false;
    return true;
}

void sup_node_metrics(const sup_node_t *node, sup_metrics_t *out)
{
    sup_metrics_clear(out);
    sup_metrics_add(out, &node->retired, false);
    for (int i = 0; i < node->nchildren; i++)
        sup_metrics_add(out, &node->children[i].metrics, false);
    sup_metrics_sort(out);
}

/* $SYS: the supervisor only counts; the first running acceptor publishes. */
static void s_systree(sup_node_t *node, int64_t now)
{
    const nmq_config_t *cfg = node->cfg;
    if (!cfg->systree_enabled || cfg->systree_interval <= 0 || now < node->next_systree_ms)
        return;
    node->next_systree_ms = now + cfg->systree_interval;
    const sup_child_t *to = NULL;
    for (int i = 0; i < node->nchildren && !to; i++)
        if (node->children[i].spec->listener && node->children[i].state == SUP_CHILD_RUNNING)
            to = &node->children[i];
    if (!to)
        return;
    sup_metrics_t all = { 0 };
    sup_node_metrics(node, &all);
    Nmq__Metric *items = calloc(all.n ? all.n : 1, sizeof *items);
    Nmq__Metric **ptrs = calloc(all.n ? all.n : 1, sizeof *ptrs);
    for (size_t i = 0; i < all.n; i++) {
        nmq__metric__init(&items[i]);
        items[i].name = all.m[i].name;
        items[i].has_value = items[i].has_gauge = true;
        items[i].value = all.m[i].value;
        items[i].gauge = all.m[i].gauge;
        ptrs[i] = &items[i];
    }
    Nmq__Ctl msg = NMQ__CTL__INIT;
    msg.has_cmd = true;
    msg.cmd = NMQ_CTL_SYSTREE;
    msg.n_metrics = all.n;
    msg.metrics = ptrs;
    char id[32];
    snprintf(id, sizeof id, "w%d", (int)to->pid);
    nmq_ctl_send(node->workers_sock, id, strlen(id), &msg);
    free(items);
    free(ptrs);
    sup_metrics_free(&all);
}

static void s_timers(sup_node_t *node)
{
    int64_t now = sup_now_ms();
    s_systree(node, now);
    sup_query_timers(node, now);
    if (now >= node->next_heartbeat_ms) {
        node->hb_seq++;
        for (int i = 0; i < node->nchildren; i++)
            if (node->children[i].pid && node->children[i].state != SUP_CHILD_STARTING)
                s_send_cmd(node, &node->children[i], NMQ_CTL_HEARTBEAT, false);
        node->next_heartbeat_ms = now + node->cfg->supervisor_heartbeat_interval;
    }
    s_check_liveness(node, now);
    if (node->shutting_down)
        s_shutdown_step(node);
}

static void s_poll_once(sup_node_t *node, long timeout_ms)
{
    zmq_pollitem_t items[] = {
        { .fd = node->sig_fd, .events = ZMQ_POLLIN },
        { .socket = node->workers_sock, .events = ZMQ_POLLIN },
        { .socket = node->control_sock, .events = ZMQ_POLLIN },
    };
    int rc = zmq_poll(items, 3, timeout_ms);
    if (rc > 0) {
        if (items[0].revents)
            s_on_signals(node);
        if (items[1].revents)
            s_on_workers(node);
        if (items[2].revents)
            s_on_admin(node);
    }
    s_timers(node);
}

void sup_node_shutdown(sup_node_t *node, int status, const char *why)
{
    if (node->shutting_down)
        return;
    node->shutting_down = true;
    node->exit_status = status;
    nmq_info("stopping the node (%s)", why);
    s_shutdown_step(node);
}

/* --- start-up ------------------------------------------------------------------------------ */

/* Hold an exclusive flock on path for the node's life and write our pid in it. */
static int s_lock(const char *path, int *fd_out, const char *what)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "nemomq: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        nmq_error("%s is already running on this host (pid %s, lock %s): not starting a second one",
                  what, pid[0] ? pid : "?", path);
        close(fd);
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
        nmq_warn("cannot write pid to %s: %s", path, strerror(errno));
    *fd_out = fd;
    return 0;
}

static int s_prepare_dirs(sup_node_t *node)
{
    const nmq_config_t *cfg = node->cfg;
    const char *dirs[] = { cfg->platform_data_dir, cfg->platform_log_dir };
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
        if (nmq_mkdir_p(dirs[i], 0755) < 0) {
            nmq_error("cannot create %s: %s", dirs[i], strerror(errno));
            return -1;
        }
    const char *files[] = { cfg->log_console_file, cfg->log_error_file };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char dir[NMQ_CONF_PATH_MAX];
        snprintf(dir, sizeof dir, "%s", files[i]);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = '\0';
            nmq_mkdir_p(dir, 0755);
        }
    }
    if (nmq_paths_run_dir(cfg, node->run_dir, sizeof node->run_dir) < 0 ||
        nmq_mkdir_p(node->run_dir, 0700) < 0 || chmod(node->run_dir, 0700) < 0) {
        nmq_error("cannot create the run directory %s: %s", node->run_dir, strerror(errno));
        return -1;
    }
    if (nmq_paths_pid_file(cfg, node->pid_file, sizeof node->pid_file) < 0 ||
        nmq_paths_workers_endpoint(cfg, node->workers_ep, sizeof node->workers_ep) < 0 ||
        nmq_paths_control_endpoint(cfg, node->control_ep, sizeof node->control_ep) < 0) {
        nmq_error("platform_data_dir %s is too long for the control sockets (at most about 90 bytes)",
                  cfg->platform_data_dir);
        return -1;
    }
    return 0;
}

static void *s_bind(sup_node_t *node, const char *endpoint)
{
    void *sock = zmq_socket(node->zctx, ZMQ_ROUTER);
    int one = 1, linger = 0;
    zmq_setsockopt(sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    unlink(endpoint + 6);   /* a socket file left by a node that was killed -9 */
    if (zmq_bind(sock, endpoint) < 0) {
        nmq_error("cannot bind %s: %s", endpoint, zmq_strerror(errno));
        zmq_close(sock);
        return NULL;
    }
    return sock;
}

static int s_open_control(sup_node_t *node)
{
    node->zctx = zmq_ctx_new();
    node->workers_sock = s_bind(node, node->workers_ep);
    node->control_sock = node->workers_sock ? s_bind(node, node->control_ep) : NULL;
    return node->control_sock ? 0 : -1;
}

static int s_open_signals(sup_node_t *node)
{
    sigset_t set;
    sigemptyset(&set);
    int sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaddset(&set, sigs[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    node->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return node->sig_fd < 0 ? -1 : 0;
}

/* Start the children role by role, each role ready before the next. */
static int s_start_children(sup_node_t *node)
{
    int nspecs;
    const sup_spec_t *specs = sup_specs(&nspecs);
    for (int s = 0; s < nspecs; s++) {
        int count = sup_spec_count(&specs[s], node->cfg);
        for (int slot = 0; slot < count; slot++)
            if (s_spawn(node, s_child_add(node, &specs[s], slot)) < 0)
                return -1;
        int64_t deadline = sup_now_ms() + SUP_START_TIMEOUT_MS;
        for (;;) {
            bool ready = true;
            for (int i = 0; i < node->nchildren; i++)
                if (node->children[i].spec == &specs[s] && node->children[i].state != SUP_CHILD_RUNNING)
                    ready = false;
            if (ready)
                break;
            if (node->shutting_down)
                return -1;
            if (sup_now_ms() > deadline) {
                nmq_error("%s workers not ready within %d ms", specs[s].role, SUP_START_TIMEOUT_MS);
                return -1;
            }
            s_poll_once(node, 100);
        }
    }
    return 0;
}

static int s_load_config(sup_node_t *node)
{
    const char *path = getenv("NMQ_CONFIG");
    char err[1024];
    node->cfg = nmq_config_new();
    if (!path || nmq_config_load_file(node->cfg, path, s_warn_ignored, NULL, err, sizeof err) < 0) {
        fprintf(stderr, "nemomq: %s\n", path ? err : "NMQ_CONFIG not set: start nodes with `nemomq console` or `nemomq start`");
        return -1;
    }
    return 0;
}

/* Every ipc socket file of the node: ours, and the workers' (whose processes
 * are gone by now, some perhaps by kill -9). */
static void s_remove_sockets(const char *run_dir)
{
    DIR *d = opendir(run_dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n > 5 && !strcmp(e->d_name + n - 5, ".sock")) {
            char path[NMQ_CONF_PATH_MAX + 300];
            snprintf(path, sizeof path, "%s/%s", run_dir, e->d_name);
            unlink(path);
        }
    }
    if (d)
        closedir(d);
}

static void s_cleanup(sup_node_t *node)
{
    if (node->control_sock)
        zmq_close(node->control_sock);
    if (node->workers_sock)
        zmq_close(node->workers_sock);
    if (node->zctx)
        zmq_ctx_term(node->zctx);
    if (node->run_dir[0])
        s_remove_sockets(node->run_dir);
    sup_listen_close(node);
    if (node->data_lock_fd >= 0) {
        unlink(node->pid_file);
        close(node->data_lock_fd);
    }
    if (node->lock_fd >= 0)
        close(node->lock_fd);
    if (node->sig_fd >= 0)
        close(node->sig_fd);
    if (node->devnull_fd >= 0)
        close(node->devnull_fd);
    sup_intensity_fini(&node->intensity);
    for (int i = 0; i < node->nchildren; i++)
        sup_metrics_free(&node->children[i].metrics);
    sup_metrics_free(&node->retired);
    sup_query_free_all(node);
    free(node->children);
    nmq_config_destroy(&node->cfg);
}

int sup_node_main(void)
{
    sup_node_t node_storage = { 0 }, *node = &node_storage;
    node->lock_fd = node->data_lock_fd = node->sig_fd = node->devnull_fd = -1;
    node->console = getenv("NMQ_CONSOLE") != NULL;
    node->daemon = getenv("NMQ_DAEMON") != NULL;
    nmq_log_identity("supervisor", -1);
    if (s_load_config(node) < 0) {
        s_cleanup(node);
        return NMQ_EXIT_CONFIG;
    }
    char err[1024];

    ssize_t n = readlink("/proc/self/exe", node->self_exe, sizeof node->self_exe - 1);
    node->self_exe[n > 0 ? n : 0] = '\0';
    node->devnull_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    node->started_ms = sup_now_ms();
    node->started_wall = time(NULL);
    node->generation = 1;
    sup_intensity_init(&node->intensity, node->cfg->supervisor_max_restarts,
                       node->cfg->supervisor_max_restart_period);

    char lock_path[NMQ_CONF_PATH_MAX + 64];
    char what[NMQ_CONF_STR_MAX + 16];
    snprintf(what, sizeof what, "node %s", node->cfg->nodename);
    int status = 1;
    if (s_open_signals(node) < 0 || s_prepare_dirs(node) < 0)
        goto out;
    if (nmq_log_open(node->cfg, node->console || node->daemon, err, sizeof err) < 0)
        fprintf(stderr, "nemomq: %s (logging to stderr only)\n", err);
    if (
        nmq_paths_node_lock(node->cfg, lock_path, sizeof lock_path) < 0 ||
        s_lock(lock_path, &node->lock_fd, what) < 0 ||
        s_lock(node->pid_file, &node->data_lock_fd, "a node using this platform_data_dir") < 0)
        goto out;
    if (sup_listen_open(node, err, sizeof err) < 0) {
        nmq_error("%s", err);
        goto out;
    }
    if (s_open_control(node) < 0)
        goto out;
    nmq_info("node %s starting (config %s, pid %d)", node->cfg->nodename, node->cfg->source,
             (int)getpid());
    node->next_heartbeat_ms = sup_now_ms() + node->cfg->supervisor_heartbeat_interval;
    if (s_start_children(node) < 0) {
        sup_node_shutdown(node, 1, "start-up failed");
    } else {
        nmq_info("node %s started: %d workers", node->cfg->nodename, node->nchildren);
        if (node->daemon) {
            /* The starter reads our stderr until now; from here on, files only. */
            dup2(node->devnull_fd, STDERR_FILENO);
            nmq_log_open(node->cfg, false, err, sizeof err);
        }
    }
    while (!(node->shutting_down && s_all_down(node)))
        s_poll_once(node, 100);
    status = node->exit_status;
    nmq_info("node %s stopped", node->cfg->nodename);
out:
    s_cleanup(node);
    return status;
}
