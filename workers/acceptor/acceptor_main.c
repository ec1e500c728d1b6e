/* acceptor — "nemomq: acceptor N": owns MQTT connections.
 *
 * Every acceptor inherits all of the node's listening sockets from the
 * supervisor and accepts from them directly; the kernel hands each connection
 * to one of them.  Its loop turn: epoll events and incoming batches are
 * handled, then (in tick) every connection with output is written once and
 * every destination's batch is sent once.  The files of the role are listed
 * in acceptor.h.
 */
#include "acceptor.h"
#include "roles.h"
#include "nmq_log.h"
#include "nmq_ctl.h"
#include "nmq_topic_trie.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int s_start(nmq_worker_t *w)
{
    acceptor_t *a = calloc(1, sizeof *a);
    if (!a)
        return 1;
    nmq_worker_set_data(w, a);
    a->w = w;
    a->cfg = nmq_worker_config(w);
    a->slot = nmq_worker_slot(w);
    a->epfd = -1;
    snprintf(a->id, sizeof a->id, "a%d.%d", a->slot, (int)getpid());
    if (acc_auth_start(a) || acc_net_start(a) || acc_links_start(a) || acc_routes_start(a))
        return 1;
    return 0;
}

static int s_tick(nmq_worker_t *w)
{
    acceptor_t *a = nmq_worker_data(w);
    acc_net_flush(a);
    acc_links_flush(a);
    bool held = a->nheld && !a->congested && acc_net_resume_held(a);
    if (a->nheld) {   /* what the held input produced goes out this turn too */
        acc_net_flush(a);
        acc_links_flush(a);
    }
    int64_t now = (int64_t)acc_now_ms();
    if (now >= a->next_timer_ms) {
        acc_net_timers(a, now);
        acc_routes_timer(a, now);
        acc_auth_timer(a, now);
        acc_links_timer(a);
        acc_links_flush(a);
        a->next_timer_ms = now + 1000;
    }
    if (a->congested)
        return 2;   /* try the held batch again soon */
    if (held)
        return 0;   /* input still waits: another turn at once (heartbeats go between) */
    int lazy = acc_links_lazy_ms(a, now);   /* deferred acks (ACC_ACK_DELAY_MS) */
    int timer = (int)(a->next_timer_ms - now);
    return lazy >= 0 && lazy < timer ? lazy : timer;
}

static void s_stop(nmq_worker_t *w)
{
    acceptor_t *a = nmq_worker_data(w);
    acc_net_stop(a);
    for (int fd = 0; fd < a->max_fds; fd++)
        if (a->conns[fd]) {
            acc_session_disconnect(a, a->conns[fd], 0x8B);   /* server shutting down */
        }
    acc_net_flush(a);
    for (int fd = 0; fd < a->max_fds; fd++)
        if (a->conns[fd])
            acc_conn_close(a, a->conns[fd], NULL);
    acc_links_flush(a);
    nmq_worker_exit(w, 0);
}

static void s_status(nmq_worker_t *w, char *buf, size_t len)
{
    const acceptor_t *a = nmq_worker_data(w);
    if (!a)
        return;
    snprintf(buf, len, "connections %d, routes %zu (seq %llu%s), published %llu, delivered %llu",
             a->nconns, a->routes ? nmq_trie_count(a->routes) : 0, (unsigned long long)a->routes_seq,
             a->routes_synced ? "" : ", syncing", (unsigned long long)a->c.mqtt_publish_received,
             (unsigned long long)a->c.mqtt_publish_sent);
}

/* VerneMQ's metric names over acc_counters_t: one row each. */
#define ACC_COUNTER(name) { #name, offsetof(acc_counters_t, name) }
static const struct {
    const char *name;
    size_t offset;
} s_counters[] = {
    ACC_COUNTER(socket_open), ACC_COUNTER(socket_close), ACC_COUNTER(bytes_received),
    ACC_COUNTER(bytes_sent), ACC_COUNTER(mqtt_connect_received), ACC_COUNTER(mqtt_connack_sent),
    ACC_COUNTER(mqtt_publish_received), ACC_COUNTER(mqtt_publish_sent),
    ACC_COUNTER(mqtt_puback_received), ACC_COUNTER(mqtt_puback_sent),
    ACC_COUNTER(mqtt_pubrec_received), ACC_COUNTER(mqtt_pubrec_sent),
    ACC_COUNTER(mqtt_pubrel_received), ACC_COUNTER(mqtt_pubrel_sent),
    ACC_COUNTER(mqtt_pubcomp_received), ACC_COUNTER(mqtt_pubcomp_sent),
    ACC_COUNTER(mqtt_subscribe_received), ACC_COUNTER(mqtt_suback_sent),
    ACC_COUNTER(mqtt_unsubscribe_received), ACC_COUNTER(mqtt_unsuback_sent),
    ACC_COUNTER(mqtt_pingreq_received), ACC_COUNTER(mqtt_pingresp_sent),
    ACC_COUNTER(mqtt_disconnect_received), ACC_COUNTER(mqtt_disconnect_sent),
    ACC_COUNTER(mqtt_invalid_msg_size_error), ACC_COUNTER(mqtt_publish_auth_error),
    ACC_COUNTER(mqtt_subscribe_auth_error), ACC_COUNTER(client_keepalive_expired),
    ACC_COUNTER(router_matches_local), ACC_COUNTER(router_matches_remote), ACC_COUNTER(queue_message_drop), ACC_COUNTER(netsplit_refused),
};

static void s_metrics(nmq_worker_t *w)
{
    const acceptor_t *a = nmq_worker_data(w);
    if (!a)
        return;
    for (size_t i = 0; i < sizeof s_counters / sizeof s_counters[0]; i++)
        nmq_worker_metric(w, s_counters[i].name,
                          *(const uint64_t *)((const char *)&a->c + s_counters[i].offset), false);
    nmq_worker_metric(w, "active_mqtt_connections", (uint64_t)a->nconns, true);
}

static void s_control(nmq_worker_t *w, const Nmq__Ctl *msg)
{
    acceptor_t *a = nmq_worker_data(w);
    if (a && msg->cmd == NMQ_CTL_SYSTREE)
        acc_session_systree(a, msg);
}

static void s_destroy(nmq_worker_t *w)
{
    acceptor_t *a = nmq_worker_data(w);
    if (!a)
        return;
    acc_routes_stop(a);
    acc_links_stop(a);
    acc_auth_stop(a);
    if (a->epfd >= 0)
        close(a->epfd);
    free(a->conns);
    free(a->gens);
    free(a->held);
    free(a);
}

static const nmq_role_t s_role = {
    .name = "acceptor",
    .start = s_start,
    .stop = s_stop,
    .tick = s_tick,
    .destroy = s_destroy,
    .status = s_status,
    .metrics = s_metrics,
    .control = s_control,
};

int acceptor_main(void) { return nmq_worker_main(&s_role); }
