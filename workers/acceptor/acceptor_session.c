/* acceptor_session — the MQTT session state machine of one connection, for
 * 3.1, 3.1.1 and 5.0, one handler per packet type (s_packets).
 *
 * The acceptor owns the protocol; the session's durable state does not live
 * here.  Outbound state (queue, in-flight window, packet ids, DUP on
 * redelivery) belongs to the client's queue worker, so an acceptor crash loses
 * nothing; the acceptor turns DELIVER ops into PUBLISH packets and client acks
 * into ACK ops.  Inbound, a QoS 1/2 PUBLISH is acknowledged only when every
 * queue worker it was appended to has committed it (APPENDED), and PUBACKs go
 * out in the order the PUBLISHes came in [MQTT-4.6.0-2].
 *
 * Decoding is zero copy: a decoded packet points into the read buffer, so a
 * handler copies what it keeps (into the outgoing batch, or the connection).
 */
#include "acceptor.h"
#include "nmq_broker_ops.h"
#include "nmq_hashmap.h"
#include "nmq_log.h"
#include "nmq_topic_validate.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

typedef void (s_packet_fn)(acceptor_t *a, acc_conn_t *c, const nmq_mqtt_packet_t *p);

/* --- writing packets -------------------------------------------------------------- */

static void s_send(acceptor_t *a, acc_conn_t *c, const nmq_mqtt_packet_t *p)
{
    size_t need = nmq_mqtt_encode(NULL, 0, c->level, p);
    uint8_t *buf = need ? acc_conn_reserve(a, c, need) : NULL;
    if (!buf || nmq_mqtt_encode(buf, need, c->level, p) != need) {
        nmq_warn("client %s: cannot encode %s", c->client_id ? c->client_id : acc_conn_peer(c),
                 nmq_mqtt_type_name(p->type));
        return;
    }
    acc_conn_commit(a, c, need);
}

/* A Reason String (5.0) for a failure.  CONNACK and DISCONNECT may always
 * carry one; other packets only when the client asked for problem
 * information [MQTT-3.1.2-29]. */
static void s_reason_string(const acc_conn_t *c, nmq_mqtt_props_t *props, unsigned type, uint8_t reason,
                            const char *why)
{
    bool always = type == NMQ_MQTT_CONNACK || type == NMQ_MQTT_DISCONNECT;
    if (c->level != NMQ_MQTT_V5 || reason < 0x80 || (!always && !c->request_problem_info))
        return;
    const char *text = why ? why : nmq_mqtt_reason_name(reason);
    props->present |= 1ull << NMQ_PROP_REASON_STRING;
    props->reason_string = (nmq_mqtt_slice_t){ (const uint8_t *)text, (uint32_t)strlen(text) };
}

static void s_send_ack(acceptor_t *a, acc_conn_t *c, unsigned type, uint16_t packet_id, uint8_t reason)
{
    nmq_mqtt_packet_t p = { .type = (uint8_t)type };
    p.u.ack.packet_id = packet_id;
    p.u.ack.reason = c->level == NMQ_MQTT_V5 ? reason : 0;
    s_reason_string(c, &p.u.ack.props, type, reason, NULL);
    s_send(a, c, &p);
}

static uint64_t *s_counter_sent(acceptor_t *a, unsigned type)
{
    uint64_t *const table[16] = {
        [NMQ_MQTT_PUBACK] = &a->c.mqtt_puback_sent,
        [NMQ_MQTT_PUBREC] = &a->c.mqtt_pubrec_sent,
        [NMQ_MQTT_PUBREL] = &a->c.mqtt_pubrel_sent,
        [NMQ_MQTT_PUBCOMP] = &a->c.mqtt_pubcomp_sent,
    };
    return table[type & 15];
}

static void s_ack(acceptor_t *a, acc_conn_t *c, unsigned type, uint16_t packet_id, uint8_t reason)
{
    s_send_ack(a, c, type, packet_id, reason);
    uint64_t *n = s_counter_sent(a, type);
    if (n)
        (*n)++;
}

void acc_session_disconnect(acceptor_t *a, acc_conn_t *c, uint8_t reason)
{
    acc_session_disconnect_why(a, c, reason, NULL);
}

void acc_session_disconnect_why(acceptor_t *a, acc_conn_t *c, uint8_t reason, const char *why)
{
    if (c->level == NMQ_MQTT_V5 && c->state == ACC_CONN_ONLINE) {
        nmq_mqtt_packet_t p = { .type = NMQ_MQTT_DISCONNECT };
        p.u.disconnect.reason = reason;
        s_reason_string(c, &p.u.disconnect.props, NMQ_MQTT_DISCONNECT, reason, why);
        s_send(a, c, &p);
        a->c.mqtt_disconnect_sent++;
    }
    acc_conn_close_after_flush(a, c);
}

static void s_connack(acceptor_t *a, acc_conn_t *c, bool present, uint8_t reason,
                      const char *assigned_id, const char *why)
{
    nmq_mqtt_packet_t p = { .type = NMQ_MQTT_CONNACK };
    p.u.connack.session_present = present;
    p.u.connack.reason = reason;
    nmq_mqtt_props_t *pr = &p.u.connack.props;
    if (c->level == NMQ_MQTT_V5 && reason == 0) {
        const nmq_config_t *cfg = a->cfg;
        pr->present = (1ull << NMQ_PROP_RECEIVE_MAXIMUM) | (1ull << NMQ_PROP_RETAIN_AVAILABLE) |
                      (1ull << NMQ_PROP_WILDCARD_SUB_AVAILABLE) | (1ull << NMQ_PROP_SUB_ID_AVAILABLE) |
                      (1ull << NMQ_PROP_SHARED_SUB_AVAILABLE) | (1ull << NMQ_PROP_TOPIC_ALIAS_MAXIMUM);
        pr->receive_maximum = (uint16_t)cfg->receive_max_client;
        pr->retain_available = pr->wildcard_sub_available = pr->sub_id_available = 1;
        pr->shared_sub_available = 1;
        pr->topic_alias_maximum = (uint16_t)cfg->topic_alias_max_client;
        if (cfg->max_message_size > 0) {
            pr->present |= 1ull << NMQ_PROP_MAXIMUM_PACKET_SIZE;
            pr->maximum_packet_size = (uint32_t)cfg->max_message_size;
        }
        if (assigned_id) {
            pr->present |= 1ull << NMQ_PROP_ASSIGNED_CLIENT_ID;
            pr->assigned_client_id = (nmq_mqtt_slice_t){ (const uint8_t *)assigned_id, (uint32_t)strlen(assigned_id) };
        }
    } else if (c->level == NMQ_MQTT_V5) {
        s_reason_string(c, pr, NMQ_MQTT_CONNACK, reason, why);
    } else if (reason >= 0x80) {
        /* 5.0 reason codes have 3.x return codes (refused: 1..5) */
        static const struct { uint8_t v5, v3; } map[] = {
            { 0x84, 1 }, { 0x85, 2 }, { 0x88, 3 }, { 0x89, 3 }, { 0x97, 3 }, { 0x86, 4 }, { 0x87, 5 },
        };
        uint8_t rc = 3;
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
            if (map[i].v5 == reason)
                rc = map[i].v3;
        p.u.connack.reason = rc;
    }
    s_send(a, c, &p);
    a->c.mqtt_connack_sent++;
}

/* --- CONNECT ------------------------------------------------------------------------- */

static char *s_strndup(const nmq_mqtt_slice_t *s)
{
    char *d = malloc(s->len + 1);
    if (d) {
        memcpy(d, s->ptr, s->len);
        d[s->len] = '\0';
    }
    return d;
}

static void s_refuse(acceptor_t *a, acc_conn_t *c, uint8_t reason, const char *why)
{
    nmq_info("CONNECT from %s refused (0x%02x): %s", acc_conn_peer(c), reason, why);
    s_connack(a, c, false, reason, NULL, why);
    acc_conn_close_after_flush(a, c);
}

static void s_keep_will(acc_conn_t *c, const nmq_mqtt_connect_t *cn)
{
    if (!cn->will)
        return;
    acc_will_t *w = calloc(1, sizeof *w);
    w->topic = s_strndup(&cn->will_topic);
    w->payload = malloc(cn->will_payload.len + 1);
    memcpy(w->payload, cn->will_payload.ptr, cn->will_payload.len);
    w->payload_len = cn->will_payload.len;
    w->qos = cn->will_qos;
    w->retain = cn->will_retain;
    if (nmq_mqtt_props_has(&cn->will_props, NMQ_PROP_WILL_DELAY))
        w->delay = cn->will_props.will_delay;
    c->will = w;
}

static void s_free_will(acc_conn_t *c)
{
    if (!c->will)
        return;
    free(c->will->topic);
    free(c->will->payload);
    free(c->will->props);
    free(c->will);
    c->will = NULL;
}

/* A session that starts clean, or ends without persisting, loses its
 * subscriptions.  Sent on this acceptor's metadata DEALER, so it is applied
 * before any SUBSCRIBE the same client sends through this acceptor next. */
static void s_drop_subscriptions(acceptor_t *a, acc_conn_t *c)
{
    nmq_batch_t *b = acc_to_meta(a);
    Nmq__Op *op = nmq_batch_op(b, BROKER_OP_UNSUBSCRIBE_ALL);
    op->client_id = nmq_batch_strdup(b, c->client_id, strlen(c->client_id));
}

static void s_online(acceptor_t *a, acc_conn_t *c, bool present);

static void s_on_connect(acceptor_t *a, acc_conn_t *c, const nmq_mqtt_packet_t *p)
{
    const nmq_mqtt_connect_t *cn = &p->u.connect;
    const nmq_config_t *cfg = a->cfg;
    a->c.mqtt_connect_received++;
    c->level = cn->level;
    char assigned[40] = "";
    if (cn->client_id.len == 0) {
        if (cn->level == NMQ_MQTT_V31 || !cn->clean_start)
            return s_refuse(a, c, 0x85, "empty client id");
        uint8_t rnd[12];
        if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
            memset(rnd, 0, sizeof rnd);
        int n = snprintf(assigned, sizeof assigned, "nmq-");
        for (size_t i = 0; i < sizeof rnd; i++)
            n += snprintf(assigned + n, sizeof assigned - (size_t)n, "%02x", rnd[i]);
        c->client_id = strdup(assigned);
    } else {
        if (cn->client_id.len > (uint32_t)cfg->max_client_id_size)
            return s_refuse(a, c, 0x85, "client id longer than max_client_id_size");
        c->client_id = s_strndup(&cn->client_id);
    }
    if (cn->has_username)
        c->username = s_strndup(&cn->username);
    uint8_t auth = acc_auth_connect(a, c->username, cn->password.ptr, cn->password.len, cn->has_password);
    if (auth)
        return s_refuse(a, c, auth, auth == 0x87 ? "anonymous clients are not allowed" : "bad user name or password");
    if (a->netsplit && !cfg->allow_register_during_netsplit) {
        a->c.netsplit_refused++;
        return s_refuse(a, c, 0x88, "the cluster is split (netsplit) and allow_register_during_netsplit is off");
    }
    if (cn->will) {
        char *wt = s_strndup(&cn->will_topic);
        bool ok = acc_auth_publish(a, c, wt);
        free(wt);
        if (!ok)
            return s_refuse(a, c, 0x87, "the will topic is not allowed by vmq_acl");
    }
    c->keep_alive = cn->keep_alive;
    c->receive_max = 65535;
    c->session_expiry = 0;
    if (cn->level == NMQ_MQTT_V5) {
        const nmq_mqtt_props_t *pr = &cn->props;
        if (nmq_mqtt_props_has(pr, NMQ_PROP_SESSION_EXPIRY))
            c->session_expiry = pr->session_expiry;
        if (nmq_mqtt_props_has(pr, NMQ_PROP_RECEIVE_MAXIMUM))
            c->receive_max = pr->receive_maximum;
        if (nmq_mqtt_props_has(pr, NMQ_PROP_MAXIMUM_PACKET_SIZE))
            c->max_packet_out = pr->maximum_packet_size;
        c->request_problem_info = nmq_mqtt_props_has(pr, NMQ_PROP_REQUEST_PROBLEM_INFO)
                                      ? pr->request_problem_info : 1;
        if (nmq_mqtt_props_has(pr, NMQ_PROP_AUTH_METHOD))
            return s_refuse(a, c, 0x8C, "enhanced authentication is not supported");
        c->alias_max_in = (uint16_t)cfg->topic_alias_max_client;
        if (nmq_mqtt_props_has(pr, NMQ_PROP_TOPIC_ALIAS_MAXIMUM))
            c->alias_max_out = pr->topic_alias_maximum < cfg->topic_alias_max_broker
                                   ? pr->topic_alias_maximum : (uint16_t)cfg->topic_alias_max_broker;
    } else if (!cn->clean_start) {
        /* 3.x persistent sessions last persistent_client_expiration (0: never) */
        c->session_expiry = cfg->persistent_client_expiration
                                ? (uint32_t)cfg->persistent_client_expiration
                                : BROKER_SESSION_NEVER_EXPIRES;
    }
    s_keep_will(c, cn);

    nmq_batch_t *b = acc_to_queue(a, acc_shard_of(a, c->client_id, strlen(c->client_id)));
    Nmq__Op *op = nmq_batch_op(b, BROKER_OP_ATTACH);
    op->client_id = nmq_batch_strdup(b, c->client_id, strlen(c->client_id));
    op->conn = acc_conn_ref(a, b, c);
    op->has_clean_start = op->has_session_expiry = op->has_receive_max = op->has_level = true;
    op->clean_start = cn->clean_start;
    op->session_expiry = c->session_expiry;
    op->receive_max = c->receive_max;
    op->level = cn->level;
    if (c->username)
        op->username = nmq_batch_strdup(b, c->username, strlen(c->username));
    const char *peer = acc_conn_peer(c);
    op->peer = nmq_batch_strdup(b, peer, strlen(peer));
    if (cn->clean_start)
        s_drop_subscriptions(a, c);
    c->state = ACC_CONN_ATTACHING;
    c->attach_sent = true;
    c->deadline_ms = 0;
    if (assigned[0])
        c->assigned_id = true;
    /* A clean start has no session to wait for: whatever the client id had,
     * here or on another node, the ATTACH discards (and the queue worker
     * takes it before anything this connection sends next: same pipe), so
     * CONNACK goes at once and the input loop goes on with what follows the
     * CONNECT; no ATTACHED comes for it.  A session that may resume waits
     * for the queue worker to say whether it is present. */
    if (cn->clean_start)
        s_online(a, c, false);
}

/* CONNACK: the connection is the client's session from here on. */
static void s_online(acceptor_t *a, acc_conn_t *c, bool present)
{
    s_connack(a, c, present, 0, c->assigned_id ? c->client_id : NULL, NULL);
    c->state = ACC_CONN_ONLINE;
    c->last_rx_ms = (int64_t)acc_now_ms();
    c->deadline_ms = c->keep_alive ? c->last_rx_ms + (int64_t)c->keep_alive * 1500 : 0;
    nmq_debug("client %s connected from %s (level %u, session present %d)", c->client_id, acc_conn_peer(c),
              c->level, present);
}

void acc_session_attached(acceptor_t *a, acc_conn_t *c, bool present)
{
    if (c->state != ACC_CONN_ATTACHING)
        return;   /* a clean start, online since its CONNECT */
    s_online(a, c, present);
    acc_session_input(a, c);   /* what the client sent behind its CONNECT */
}

void acc_session_queue_restarted(acceptor_t *a, int shard)
{
    for (int fd = 0; fd < a->max_fds; fd++) {
        acc_conn_t *c = a->conns[fd];
        if (!c || !c->attach_sent || c->state == ACC_CONN_CLOSING)
            continue;
        if (acc_shard_of(a, c->client_id, strlen(c->client_id)) != shard && !c->pending)
            continue;
        /* an internal failover, not the client's end: no will; its session
         * resumes from the store when it reconnects */
        c->clean_disconnect = true;
        c->kicked = true;   /* and its subscriptions stay */
        acc_session_disconnect(a, c, 0x89);   /* server busy */
    }
}

void acc_session_kick(acceptor_t *a, acc_conn_t *c, unsigned reason)
{
    nmq_info("client %s (%s): session taken over", c->client_id ? c->client_id : "-", acc_conn_peer(c));
    c->kicked = true;
    acc_session_disconnect(a, c, (uint8_t)reason);
}

/* --- PUBLISH in ------------------------------------------------------------------------ */

static int s_topic_depth(const uint8_t *t, uint32_t len)
{
    int depth = 1;
    for (uint32_t i = 0; i < len; i++)
        depth += t[i] == '/';
    return depth;
}

/* Send the acks whose PUBLISHes are complete, in arrival order. */
static void s_ack_ready(acceptor_t *a, acc_conn_t *c)
{
    while (c->pending && c->pending->shards_left == 0) {
        acc_pending_t *p = c->pending;
        c->pending = p->next;
        s_ack(a, c, p->qos == 1 ? NMQ_MQTT_PUBACK : NMQ_MQTT_PUBREC, p->packet_id, 0);
        if (p->qos == 1 && c->inflight_in)
            c->inflight_in--;   /* QoS 2 counts until its PUBCOMP */
        free(p);
    }
}

void acc_session_appended(acceptor_t *a, acc_conn_t *c, uint64_t req)
{
    for (acc_pending_t *p = c->pending; p; p = p->next)
        if (p->req == req && p->shards_left > 0) {
            p->shards_left--;
            break;
        }
    s_ack_ready(a, c);
}

static bool s_qos2_seen(acc_conn_t *c, uint16_t id)
{
    for (uint16_t i = 0; i < c->nqos2_in; i++)
        if (c->qos2_in[i] == id)
            return true;
    return false;
}

static void s_qos2_add(acc_conn_t *c, uint16_t id)
{
    if (c->nqos2_in == c->cap_qos2_in) {
        c->cap_qos2_in = c->cap_qos2_in ? (uint16_t)(c->cap_qos2_in * 2) : 8;
        c->qos2_in = realloc(c->qos2_in, c->cap_qos2_in * sizeof *c->qos2_in);
    }
    c->qos2_in[c->nqos2_in++] = id;
}

static void s_qos2_remove(acc_conn_t *c, uint16_t id)
{
    for (uint16_t i = 0; i < c->nqos2_in; i++)
        if (c->qos2_in[i] == id) {
            c->qos2_in[i] = c->qos2_in[--c->nqos2_in];
            return;
        }
}

/* Resolve an inbound topic alias (5.0): returns the topic or NULL with the
 * DISCONNECT reason in *reason. */
static const char *s_alias(acc_conn_t *c, const nmq_mqtt_publish_t *pub, size_t *len, uint8_t *reason)
{
    if (!nmq_mqtt_props_has(&pub->props, NMQ_PROP_TOPIC_ALIAS)) {
        *len = pub->topic.len;
        return (const char *)pub->topic.ptr;
    }
    uint16_t alias = pub->props.topic_alias;
    if (alias == 0 || alias > c->alias_max_in) {
        *reason = 0x94;   /* topic alias invalid */
        return NULL;
    }
    if (!c->aliases_in)
        c->aliases_in = calloc((size_t)c->alias_max_in + 1, sizeof *c->aliases_in);
    if (pub->topic.len > 0) {
        free(c->aliases_in[alias]);
        c->aliases_in[alias] = s_strndup(&pub->topic);
    }
    if (!c->aliases_in[alias]) {
        *reason = 0x82;   /* an alias never set */
        return NULL;
    }
    *len = strlen(c->aliases_in[alias]);
    return c->aliases_in[alias];
}

/* Route a message and retain it when asked; returns the shards it went to. */
/* MQTT 5 publish properties travel with a message as a wire-encoded carrier:
 * a QoS 0 PUBLISH to topic "p" holding them, which the codec both writes and
 * reads back.  Left out: the topic alias (per connection), subscription
 * identifiers (per subscriber) and the message expiry (carried as an absolute
 * time, rewritten at delivery).  Returns the size, 0 when nothing is left. */
static size_t s_props_pack(const nmq_mqtt_props_t *in, uint8_t *buf, size_t cap)
{
    nmq_mqtt_publish_t carrier = { .topic = NMQ_MQTT_SLICE("p") };
    carrier.props = *in;
    carrier.props.present &= ~((1ull << NMQ_PROP_TOPIC_ALIAS) | (1ull << NMQ_PROP_MESSAGE_EXPIRY) |
                               (1ull << NMQ_PROP_SUBSCRIPTION_ID));
    carrier.props.n_sub_id = 0;
    carrier.props.sub_ids = NULL;
    if (carrier.props.present == 0 && carrier.props.n_user == 0)
        return 0;
    size_t n = nmq_mqtt_encode_publish_header(buf, cap, NMQ_MQTT_V5, &carrier);
    return n <= cap ? n : 0;
}

static bool s_props_unpack(const uint8_t *blob, size_t len, nmq_mqtt_props_t *out)
{
    nmq_mqtt_decoder_t d;
    nmq_mqtt_packet_t p;
    nmq_mqtt_decoder_init(&d, NMQ_MQTT_ROLE_CLIENT, NMQ_MQTT_V5, 0);
    nmq_mqtt_result_t r = nmq_mqtt_decode(&d, blob, len, &p);
    if (r.status != NMQ_MQTT_OK || p.type != NMQ_MQTT_PUBLISH)
        return false;
    *out = p.u.publish.props;
    return true;
}

static int s_route(acceptor_t *a, acc_conn_t *c, uint64_t req, const char *topic, size_t topic_len,
                   uint8_t qos, bool retain, const uint8_t *payload, size_t len, uint32_t expiry,
                   const char *publisher, const nmq_mqtt_props_t *props)
{
    Nmq__Msg msg = NMQ__MSG__INIT;
    uint8_t carrier[8192];
    size_t carrier_len = props ? s_props_pack(props, carrier, sizeof carrier) : 0;
    if (carrier_len) {
        msg.has_props = true;
        msg.props.data = carrier;
        msg.props.len = carrier_len;
    }
    char *t = strndup(topic, topic_len);
    msg.has_id = msg.has_qos = msg.has_retain = msg.has_published_at_ms = true;
    msg.id = ((uint64_t)a->slot << 48) | ++a->next_msg;
    msg.topic = t;
    msg.qos = qos;
    msg.retain = retain;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    msg.published_at_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
    if (expiry) {
        msg.has_expires_at_ms = true;
        msg.expires_at_ms = msg.published_at_ms + (uint64_t)expiry * 1000;
    }
    msg.publisher = (char *)publisher;
    if (retain) {
        nmq_batch_t *b = acc_to_meta(a);
        Nmq__Op *op = nmq_batch_op(b, BROKER_OP_RETAIN);
        Nmq__Msg *m = nmq_batch_alloc(b, sizeof *m);
        *m = msg;
        m->topic = nmq_batch_strdup(b, topic, topic_len);
        m->publisher = NULL;
        if (carrier_len) {
            m->props.data = nmq_batch_alloc(b, carrier_len);
            memcpy(m->props.data, carrier, carrier_len);
        }
        m->has_payload_frame = true;
        m->payload_frame = nmq_batch_payload(b, payload, len);
        op->msg = m;
    }
    int shards = acc_routes_publish(a, req, c, &msg, payload, len);
    free(t);
    return shards;
}

static void s_on_publish(acceptor_t *a, acc_conn_t *c, const nmq_mqtt_packet_t *p)
{
    const nmq_mqtt_publish_t *pub = &p->u.publish;
    a->c.mqtt_publish_received++;
    uint8_t reason = 0;
    size_t topic_len;
    const char *topic = s_alias(c, pub, &topic_len, &reason);
    if (!topic)
        return acc_session_disconnect(a, c, reason);
    char *tcopy = strndup(topic, topic_len);
    bool allowed = !(topic_len >= 4 && !memcmp(topic, "$SYS", 4)) &&
                   s_topic_depth((const uint8_t *)topic, (uint32_t)topic_len) <= a->cfg->topic_max_depth &&
                   acc_auth_publish(a, c, tcopy);
    free(tcopy);
    if (!allowed) {
        /* clients do not write $SYS, topics deeper than topic_max_depth, or
         * what vmq_acl refuses: 3.x is disconnected, 5.0 told 0x87 */
        a->c.mqtt_publish_auth_error++;
        if (c->level < NMQ_MQTT_V5)
            return acc_conn_close(a, c, "PUBLISH to a topic it may not use");
        if (pub->qos > 0)
            s_ack(a, c, pub->qos == 1 ? NMQ_MQTT_PUBACK : NMQ_MQTT_PUBREC, pub->packet_id, 0x87);
        return;
    }
    if (pub->qos == 2 && s_qos2_seen(c, pub->packet_id)) {
        s_ack(a, c, NMQ_MQTT_PUBREC, pub->packet_id, 0);   /* a resent PUBLISH: once is enough */
        return;
    }
    if (a->netsplit && !a->cfg->allow_publish_during_netsplit) {
        /* as VerneMQ: not taken while the cluster is split; 5.0 is told, a
         * 3.x publisher gets no ack and sends it again later */
        a->c.netsplit_refused++;
        if (c->level == NMQ_MQTT_V5 && pub->qos > 0)
            s_ack(a, c, pub->qos == 1 ? NMQ_MQTT_PUBACK : NMQ_MQTT_PUBREC, pub->packet_id, 0x80);
        return;
    }
    if (pub->qos > 0 && c->level == NMQ_MQTT_V5 && c->inflight_in >= (uint32_t)a->cfg->receive_max_client)
        return acc_session_disconnect(a, c, 0x93);   /* receive maximum exceeded [MQTT-3.3.4-7] */
    if (pub->qos > 0)
        c->inflight_in++;
    uint32_t expiry = nmq_mqtt_props_has(&pub->props, NMQ_PROP_MESSAGE_EXPIRY) ? pub->props.message_expiry : 0;
    uint64_t req = ++a->next_req;
    int shards = s_route(a, c, req, topic, topic_len, pub->qos, pub->retain, pub->payload.ptr,
                         pub->payload.len, expiry, c->client_id,
                         c->level == NMQ_MQTT_V5 ? &pub->props : NULL);
    if (pub->qos == 0)
        return;
    if (pub->qos == 2)
        s_qos2_add(c, pub->packet_id);
    acc_pending_t *pend = calloc(1, sizeof *pend);
    pend->req = req;
    pend->packet_id = pub->packet_id;
    pend->qos = pub->qos;
    pend->shards_left = (uint16_t)shards;
    acc_pending_t **tail = &c->pending;
    while (*tail)
        tail = &(*tail)->next;
    *tail = pend;
    s_ack_ready(a, c);
}

/* --- acks from the client ----------------------------------------------------------------- */

static void s_forward_ack(acceptor_t *a, acc_conn_t *c, unsigned type, uint16_t packet_id)
{
    /* PUBACK and PUBCOMP end a delivery; one that leaves the client's window
     * at least half free releases nothing the queue worker waits for, so it
     * may wait for company.  A PUBREC waits for our PUBREL: it goes now. */
    bool ends = type != NMQ_MQTT_PUBREC;
    size_t window = broker_delivery_window(c->receive_max, a->cfg->max_inflight_messages,
                                           a->cfg->receive_max_broker, c->level);
    bool lazy = ends && (size_t)c->inflight_out * 2 < window;
    if (ends && c->inflight_out)
        c->inflight_out--;
    int shard = acc_shard_of(a, c->client_id, strlen(c->client_id));
    nmq_batch_t *b = lazy ? acc_to_queue_lazy(a, shard) : acc_to_queue(a, shard);
    Nmq__Op *op = nmq_batch_op(b, BROKER_OP_ACK);
    op->client_id = nmq_batch_strdup(b, c->client_id, strlen(c->client_id));
    op->conn = acc_conn_ref(a, b, c);
    op->has_packet_id = op->has_ack_type = true;
    op->packet_id = packet_id;
    op->ack_type = type;
}

static void s_on_puback(acceptor_t *a, acc_conn_t *c, const nmq_mqtt_packet_t *p)
{
    uint64_t *const received[16] = {
        [NMQ_MQTT_PUBACK] = &a->c.mqtt_puback_received,
        [NMQ_MQTT_PUBREC] = &a->c.mqtt_pubrec_received,
        [NMQ_MQTT_PUBCOMP] = &a->c.mqtt_pubcomp_received,
    };
    (*received[p->type])++;
    s_forward_ack(a, c, p->type, p->u.ack.packet_id);
}

static void s_on_pubrel(acceptor_t *a, acc_conn_t *c, const nmq_mqtt_packet_t *p)
{
    a->c.mqtt_pubrel_received++;
    bool known = s_qos2_seen(c, p->u.ack.packet_id);
    s_qos2_remove(c, p->u.ack.packet_id);
    if (known && c->inflight_in)
        c->inflight_in--;
    /* 0x92: packet identifier not found (5.0); 3.x completes it all the same */
    s_ack(a, c, NMQ_MQTT_PUBCOMP, p->u.ack.packet_id, known ? 0 : 0x92);
}

/* --- SUBSCRIBE / UNSUBSCRIBE -------------------------------------------------------------- */

/* The (UN)SUBSCRIBE a connection's input waits for, as kept in 32 bits (0: none). */
static uint32_t s_sub_wait_id(uint64_t req) { return (uint32_t)req ? (uint32_t)req : 1; }

static Nmq__Op *s_meta_request(acceptor_t *a, acc_conn_t *c, broker_op_t code, uint16_t packet_id,
                               size_t n)
{
    nmq_batch_t *b = acc_to_meta(a);
    Nmq__Op *op = nmq_batch_op(b, code);
    op->client_id = nmq_batch_strdup(b, c->client_id, strlen(c->client_id));
    op->conn = acc_conn_ref(a, b, c);
    op->has_packet_id = op->has_req = op->has_level = true;
    op->packet_id = packet_id;
    op->req = ++a->next_req;
    op->level = c->level;
    c->sub_wait_req = s_sub_wait_id(op->req);   /* the input waits for the answer */
    c->sub_wait_s = (uint32_t)(acc_now_ms() / 1000);
    op->subs = nmq_batch_alloc(b, n * sizeof *op->subs);
    return op;
}

static Nmq__Subscription *s_sub(nmq_batch_t *b, const nmq_mqtt_slice_t *filter)
{
    Nmq__Subscription *s = nmq_batch_alloc(b, sizeof *s);
    nmq__subscription__init(s);
    /* the codec validated the filter; this only splits "$share/group/filter" */
    nmq_topic_share_t share;
    nmq_topic_filter_check(filter->ptr, filter->len, &share);
    s->filter = nmq_batch_strdup(b, (const char *)share.filter, share.filter_len);
    s->group = nmq_batch_strdup(b, share.group ? (const char *)share.group : "", share.group_len);
    return s;
}

static void s_on_subscribe(acceptor_t *a, acc_conn_t *c, const nmq_mqtt_packet_t *p)
{
    const nmq_mqtt_subscribe_t *sub = &p->u.subscribe;
    a->c.mqtt_subscribe_received++;
    Nmq__Op *op = s_meta_request(a, c, BROKER_OP_SUBSCRIBE, sub->packet_id, sub->count);
    uint32_t sub_id = sub->props.n_sub_id ? sub->props.subscription_id : 0;   /* a list property: counted */
    nmq_mqtt_iter_t it = { 0 };
    nmq_mqtt_sub_t e;
    while (nmq_mqtt_sub_next(sub, &it, &e)) {
        Nmq__Subscription *s = s_sub(acc_to_meta(a), &e.filter);
        s->has_qos = s->has_no_local = s->has_retain_as_published = s->has_retain_handling = true;
        s->qos = e.qos;
        s->no_local = e.no_local;
        s->retain_as_published = e.retain_as_published;
        s->retain_handling = e.retain_handling;
        if (sub_id) {
            s->has_sub_id = true;
            s->sub_id = sub_id;
        }
        /* refused here, each in its own SUBACK slot: the metadata worker
         * answers a QoS above 2 with that code (3.x turns it into 0x80) */
        if (s_topic_depth((const uint8_t *)s->filter, (uint32_t)strlen(s->filter)) > a->cfg->topic_max_depth)
            s->qos = 0x8F;   /* topic filter invalid */
        else if (!acc_auth_subscribe(a, c, s->filter)) {
            s->qos = 0x87;   /* not authorized */
            a->c.mqtt_subscribe_auth_error++;
        } else if (a->netsplit && !a->cfg->allow_subscribe_during_netsplit) {
            s->qos = 0x80;   /* the cluster is split */
            a->c.netsplit_refused++;
        }
        op->subs[op->n_subs++] = s;
    }
}

static void s_on_unsubscribe(acceptor_t *a, acc_conn_t *c, const nmq_mqtt_packet_t *p)
{
    const nmq_mqtt_unsubscribe_t *un = &p->u.unsubscribe;
    a->c.mqtt_unsubscribe_received++;
    if (a->netsplit && !a->cfg->allow_unsubscribe_during_netsplit) {
        /* 5.0 answers 0x80 for each filter; 3.1.1 has no refusal: no UNSUBACK */
        a->c.netsplit_refused++;
        if (c->level < NMQ_MQTT_V5)
            return;
        Nmq__Op refused = NMQ__OP__INIT;
        uint32_t codes[256];
        refused.op = BROKER_OP_UNSUBSCRIBED;
        refused.packet_id = un->packet_id;
        refused.n_codes = un->count < 256 ? un->count : 256;
        for (size_t i = 0; i < refused.n_codes; i++)
            codes[i] = 0x80;
        refused.codes = codes;
        Nmq__ConnRef ref = NMQ__CONN_REF__INIT;
        ref.has_conn = true;
        ref.conn = c->id;
        refused.conn = &ref;
        acc_session_subscribed(a, &refused);
        return;
    }
    Nmq__Op *op = s_meta_request(a, c, BROKER_OP_UNSUBSCRIBE, un->packet_id, un->count);
    nmq_mqtt_iter_t it = { 0 };
    nmq_mqtt_slice_t f;
    while (nmq_mqtt_unsub_next(un, &it, &f))
        op->subs[op->n_subs++] = s_sub(acc_to_meta(a), &f);
}

void acc_session_subscribed(acceptor_t *a, const Nmq__Op *op)
{
    acc_conn_t *c = op->conn && op->conn->has_conn ? acc_conn_find(a, op->conn->conn) : NULL;
    if (!c || c->state != ACC_CONN_ONLINE)
        return;
    bool sub = op->op == BROKER_OP_SUBSCRIBED;
    uint8_t codes[256];
    size_t n = op->n_codes < sizeof codes ? op->n_codes : sizeof codes;
    for (size_t i = 0; i < n; i++) {
        uint8_t rc = (uint8_t)op->codes[i];
        /* 3.1.1 knows only 0x80 for a refused subscription */
        codes[i] = c->level < NMQ_MQTT_V5 && rc >= 0x80 ? 0x80 : rc;
    }
    nmq_mqtt_packet_t p = { .type = sub ? NMQ_MQTT_SUBACK : NMQ_MQTT_UNSUBACK };
    p.u.suback.packet_id = (uint16_t)op->packet_id;
    p.u.suback.codes = (nmq_mqtt_slice_t){ codes, (uint32_t)(c->level < NMQ_MQTT_V5 && !sub ? 0 : n) };
    s_send(a, c, &p);
    if (sub)
        a->c.mqtt_suback_sent++;
    else
        a->c.mqtt_unsuback_sent++;
    /* an answer from the metadata worker: what the client sent behind its
     * request goes on (a refusal made here has no req, and the input loop
     * that made it is still running) */
    if (op->has_req && c->sub_wait_req && c->sub_wait_req == s_sub_wait_id(op->req))
        acc_session_resume(a, c);
}

void acc_session_resume(acceptor_t *a, acc_conn_t *c)
{
    c->sub_wait_req = 0;
    acc_session_input(a, c);
}

/* --- the rest ----------------------------------------------------------------------------------- */

static void s_on_pingreq(acceptor_t *a, acc_conn_t *c, const nmq_mqtt_packet_t *p)
{
    a->c.mqtt_pingreq_received++;
    nmq_mqtt_packet_t r = { .type = NMQ_MQTT_PINGRESP };
    s_send(a, c, &r);
    a->c.mqtt_pingresp_sent++;
}

static void s_on_disconnect(acceptor_t *a, acc_conn_t *c, const nmq_mqtt_packet_t *p)
{
    a->c.mqtt_disconnect_received++;
    const nmq_mqtt_disconnect_t *d = &p->u.disconnect;
    if (nmq_mqtt_props_has(&d->props, NMQ_PROP_SESSION_EXPIRY)) {
        if (c->session_expiry == 0 && d->props.session_expiry != 0)
            return acc_session_disconnect(a, c, 0x82);   /* [MQTT-3.14.2-2] */
        c->session_expiry = d->props.session_expiry;
    }
    /* 0x04 "disconnect with will message" keeps the will; any other normal
     * DISCONNECT discards it [MQTT-3.14.4-3] */
    c->clean_disconnect = d->reason != 0x04;
    acc_conn_close_after_flush(a, c);
}

static void s_on_auth(acceptor_t *a, acc_conn_t *c, const nmq_mqtt_packet_t *p)
{
    acc_session_disconnect(a, c, 0x8C);   /* bad authentication method: none offered */
}

static s_packet_fn *const s_packets[16] = {
    [NMQ_MQTT_CONNECT] = s_on_connect,
    [NMQ_MQTT_PUBLISH] = s_on_publish,
    [NMQ_MQTT_PUBACK] = s_on_puback,
    [NMQ_MQTT_PUBREC] = s_on_puback,
    [NMQ_MQTT_PUBREL] = s_on_pubrel,
    [NMQ_MQTT_PUBCOMP] = s_on_puback,
    [NMQ_MQTT_SUBSCRIBE] = s_on_subscribe,
    [NMQ_MQTT_UNSUBSCRIBE] = s_on_unsubscribe,
    [NMQ_MQTT_PINGREQ] = s_on_pingreq,
    [NMQ_MQTT_DISCONNECT] = s_on_disconnect,
    [NMQ_MQTT_AUTH] = s_on_auth,
};

static void s_protocol_error(acceptor_t *a, acc_conn_t *c)
{
    nmq_mqtt_outcome_t out = nmq_mqtt_outcome(&c->dec);
    nmq_info("client %s (%s): %s", c->client_id ? c->client_id : "-", acc_conn_peer(c),
             nmq_mqtt_err_str((nmq_mqtt_err_t)c->dec.err));
    if (c->dec.err == NMQ_MQTT_E_TOO_LARGE)
        a->c.mqtt_invalid_msg_size_error++;
    const char *why = nmq_mqtt_err_str((nmq_mqtt_err_t)c->dec.err);
    if (out.send == NMQ_MQTT_CONNACK) {
        c->level = out.level;
        s_connack(a, c, false, out.reason, NULL, why);
    } else if (out.send == NMQ_MQTT_DISCONNECT && c->state == ACC_CONN_ONLINE) {
        acc_session_disconnect_why(a, c, out.reason, why);
        return;
    }
    acc_conn_close_after_flush(a, c);
}

void acc_session_input(acceptor_t *a, acc_conn_t *c)
{
    size_t off = 0;
    int fd = c->fd;
    while (off < c->rlen && (c->state == ACC_CONN_NEW || (c->state == ACC_CONN_ONLINE && !c->sub_wait_req))) {
        if (a->turn_routed >= ACC_TURN_ROUTES) {
            acc_net_hold_input(a, c);   /* the rest next turn */
            break;
        }
        nmq_mqtt_packet_t p;
        nmq_mqtt_result_t r = nmq_mqtt_decode(&c->dec, c->rbuf + off, c->rlen - off, &p);
        if (r.status == NMQ_MQTT_NEED_MORE)
            break;
        if (r.status == NMQ_MQTT_ERROR) {
            s_protocol_error(a, c);
            return;
        }
        off += r.size;
        if (c->state == ACC_CONN_NEW && p.type != NMQ_MQTT_CONNECT)
            break;   /* the decoder refuses this already; belt and braces */
        s_packets[p.type & 15](a, c, &p);
        if (a->conns[fd] != c)
            return;   /* the handler closed it */
        if (acc_links_pressure(a)) {
            acc_net_hold_input(a, c);   /* a queue worker is behind: the rest waits */
            break;
        }
    }
    if (off > 0 && a->conns[fd] == c) {
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
        if (c->rlen == 0) {
            free(c->rbuf);   /* an idle connection holds no buffer */
            c->rbuf = NULL;
            c->rcap = 0;
        }
    }
}

/* --- deliveries ------------------------------------------------------------------------------- */

/* Broker-to-client topic aliases (5.0): the first PUBLISH on a topic sets an
 * alias, later ones send the alias and an empty topic.  When every alias is
 * taken, the next one in turn is given to the new topic. */
static void s_alias_out(acc_conn_t *c, nmq_mqtt_publish_t *pub)
{
    if (!c->aliases_out) {
        c->aliases_out = calloc((size_t)c->alias_max_out + 1, sizeof *c->aliases_out);
        c->alias_out_map = nmq_hashmap_new(0);
    }
    uintptr_t alias = (uintptr_t)nmq_hashmap_get(c->alias_out_map, pub->topic.ptr, pub->topic.len);
    if (alias) {
        pub->topic.len = 0;
    } else {
        alias = c->alias_next % c->alias_max_out + 1;
        c->alias_next = (uint16_t)alias;
        char *old = c->aliases_out[alias];
        if (old) {
            nmq_hashmap_remove(c->alias_out_map, old, strlen(old));
            free(old);
        }
        c->aliases_out[alias] = strndup((const char *)pub->topic.ptr, pub->topic.len);
        nmq_hashmap_put(c->alias_out_map, pub->topic.ptr, pub->topic.len, (void *)alias);
    }
    pub->props.present |= 1ull << NMQ_PROP_TOPIC_ALIAS;
    pub->props.topic_alias = (uint16_t)alias;
}

void acc_session_deliver(acceptor_t *a, acc_conn_t *c, const Nmq__Op *op, const uint8_t *payload, size_t len)
{
    const Nmq__Msg *m = op->msg;
    if (!m || c->state != ACC_CONN_ONLINE)
        return;
    if (m->qos == 0 && c->wlen - c->woff > ACC_WBUF_HIGH) {
        /* a slow reader: QoS 0 is what may be lost, the acceptor's memory is
         * not; QoS 1/2 are bounded by the queue worker's in-flight window */
        a->c.queue_message_drop++;
        return;
    }
    if (m->qos && c->inflight_out < UINT16_MAX)
        c->inflight_out++;
    nmq_mqtt_publish_t pub = { 0 };
    pub.qos = (uint8_t)m->qos;
    pub.dup = op->dup;
    pub.retain = m->retain;
    pub.packet_id = pub.qos ? (uint16_t)op->packet_id : 0;
    pub.topic = (nmq_mqtt_slice_t){ (const uint8_t *)m->topic, (uint32_t)strlen(m->topic) };
    pub.payload = (nmq_mqtt_slice_t){ payload, (uint32_t)len };
    uint32_t sub_ids[32];
    if (c->level == NMQ_MQTT_V5) {
        if (m->has_props && !s_props_unpack(m->props.data, m->props.len, &pub.props))
            nmq_warn("message %llu: unreadable properties dropped", (unsigned long long)m->id);
        if (m->has_expires_at_ms && op->has_remaining_expiry) {
            pub.props.present |= 1ull << NMQ_PROP_MESSAGE_EXPIRY;
            pub.props.message_expiry = op->remaining_expiry;
        }
        if (op->n_recipients == 1 && op->recipients[0]->n_sub_ids) {
            size_t n = op->recipients[0]->n_sub_ids < 32 ? op->recipients[0]->n_sub_ids : 32;
            for (size_t i = 0; i < n; i++)
                sub_ids[i] = op->recipients[0]->sub_ids[i];
            pub.props.n_sub_id = (uint32_t)n;
            pub.props.sub_ids = sub_ids;
        }
    }
    if (c->alias_max_out)
        s_alias_out(c, &pub);
    uint8_t hdr[512];
    size_t need = nmq_mqtt_encode_publish_header(hdr, sizeof hdr, c->level, &pub);
    if (need == 0 || need > sizeof hdr) {
        uint8_t *big = malloc(need ? need : 1);
        need = need ? nmq_mqtt_encode_publish_header(big, need, c->level, &pub) : 0;
        if (need)
            acc_conn_write(a, c, big, need);
        free(big);
    } else {
        acc_conn_write(a, c, hdr, need);
    }
    if (need == 0 || (c->max_packet_out && need + len > c->max_packet_out)) {
        /* too large for this client [MQTT-3.1.2-24]: dropped as if delivered */
        if (need)
            c->wlen -= need;
        if (pub.qos)
            s_forward_ack(a, c, pub.qos == 1 ? NMQ_MQTT_PUBACK : NMQ_MQTT_PUBCOMP, pub.packet_id);
        return;
    }
    acc_conn_write(a, c, payload, len);
    a->c.mqtt_publish_sent++;
}

void acc_session_pubrel(acceptor_t *a, acc_conn_t *c, uint16_t packet_id)
{
    if (c->state == ACC_CONN_ONLINE)
        s_ack(a, c, NMQ_MQTT_PUBREL, packet_id, 0);
}

/* --- $SYS ----------------------------------------------------------------------------------------- */

void acc_session_systree(acceptor_t *a, const Nmq__Ctl *msg)
{
    for (size_t i = 0; i < msg->n_metrics; i++) {
        const Nmq__Metric *m = msg->metrics[i];
        if (!m->name)
            continue;
        /* VerneMQ's mapping: mqtt_publish_received -> $SYS/<node>/mqtt/publish/received */
        char topic[512], value[32];
        int n = snprintf(topic, sizeof topic, "$SYS/%s/%s", a->cfg->nodename, m->name);
        if (n <= 0 || (size_t)n >= sizeof topic)
            continue;
        for (char *p = topic + strlen(a->cfg->nodename) + 6; *p; p++)
            if (*p == '_')
                *p = '/';
        int len = snprintf(value, sizeof value, "%llu", (unsigned long long)m->value);
        s_route(a, NULL, ++a->next_req, topic, (size_t)n, 0, false, (const uint8_t *)value, (size_t)len,
                0, NULL, NULL);
    }
}

/* --- the end of a connection --------------------------------------------------------------------- */

/* An MQTT 5 will with a delay goes with the DETACH to the queue worker,
 * which holds it and drops it if the session resumes in time. */
static bool s_will_delayed(acceptor_t *a, acc_conn_t *c, nmq_batch_t *b, Nmq__Op *detach)
{
    acc_will_t *w = c->will;
    if (!w || c->clean_disconnect || c->level != NMQ_MQTT_V5 || w->delay == 0 || c->session_expiry == 0)
        return false;
    Nmq__Msg *m = nmq_batch_alloc(b, sizeof *m);
    nmq__msg__init(m);
    m->has_id = m->has_qos = m->has_retain = true;
    m->id = ((uint64_t)a->slot << 48) | ++a->next_msg;
    m->topic = nmq_batch_strdup(b, w->topic, strlen(w->topic));
    m->qos = w->qos;
    m->retain = w->retain;
    m->has_payload_frame = true;
    m->payload_frame = nmq_batch_payload(b, w->payload, w->payload_len);
    detach->msg = m;
    detach->has_will_delay = true;
    detach->will_delay = w->delay;
    return true;
}

void acc_session_route(acceptor_t *a, const char *client_id, const Nmq__Msg *m, const uint8_t *payload,
                       size_t len)
{
    s_route(a, NULL, ++a->next_req, m->topic, strlen(m->topic), (uint8_t)m->qos, m->retain, payload, len,
            0, client_id, NULL);
}

void acc_session_closed(acceptor_t *a, acc_conn_t *c)
{
    bool will_handed_over = false;
    if (c->attach_sent) {
        nmq_batch_t *b = acc_to_queue(a, acc_shard_of(a, c->client_id, strlen(c->client_id)));
        Nmq__Op *op = nmq_batch_op(b, BROKER_OP_DETACH);
        op->client_id = nmq_batch_strdup(b, c->client_id, strlen(c->client_id));
        op->conn = acc_conn_ref(a, b, c);
        op->has_session_expiry = c->level == NMQ_MQTT_V5;   /* 5.0 may change it at DISCONNECT */
        op->session_expiry = c->session_expiry;
        will_handed_over = s_will_delayed(a, c, b, op);
        if (c->session_expiry == 0 && !c->kicked)
            s_drop_subscriptions(a, c);
    }
    if (c->will && !c->clean_disconnect && c->attach_sent && !will_handed_over) {
        acc_will_t *w = c->will;
        s_route(a, c, ++a->next_req, w->topic, strlen(w->topic), w->qos, w->retain, w->payload,
                w->payload_len, 0, c->client_id, NULL);
    }
    s_free_will(c);
    while (c->pending) {
        acc_pending_t *p = c->pending;
        c->pending = p->next;
        free(p);
    }
    if (c->aliases_in) {
        for (unsigned i = 0; i <= c->alias_max_in; i++)
            free(c->aliases_in[i]);
        free(c->aliases_in);
    }
    if (c->aliases_out) {
        for (unsigned i = 0; i <= c->alias_max_out; i++)
            free(c->aliases_out[i]);
        free(c->aliases_out);
        nmq_hashmap_destroy(&c->alias_out_map);
    }
    free(c->qos2_in);
    free(c->client_id);
    free(c->username);
}
