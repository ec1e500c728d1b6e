/* bench_client — the MQTT client side of a load connection.
 *
 * Every packet is encoded and decoded by the project's codec (nmq_mqtt.h);
 * this file only holds the client's state machine:
 *
 *   TCP up -> CONNECT -> CONNACK -> (subscribers) SUBSCRIBE -> SUBACK -> UP
 *
 * A publisher keeps at most `window` QoS 1/2 messages unacknowledged (capped
 * by a 5.0 broker's Receive Maximum); packet ids in flight are one bit each
 * in a 64 Ki-bit map, so an ack for an id never sent is noticed.  At QoS 0
 * the window is how many messages one loop turn writes, and TCP's own
 * backpressure paces the publisher: nothing more is written while the
 * previous write is still blocked.  In rate mode each publisher has its own
 * schedule, offset so that the publishers together send evenly.
 *
 * Every payload starts with the run tag, the publisher's number, a sequence
 * number and the CLOCK_MONOTONIC time of the write, little-endian; the rest
 * is filler.  A subscriber checks the tag (another run's messages are
 * strays), hands publisher and sequence to its tracker, and records the
 * latency of first copies sent during the measured window.
 */
#include "bench_loop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void s_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void s_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t s_get(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

bool bench_client_send(bench_loop_t *L, bench_conn_t *c, const nmq_mqtt_packet_t *p)
{
    size_t room = 0;
    uint8_t *at = bench_conn_reserve(c, 64);
    room = c->wcap - c->wlen;
    size_t n = nmq_mqtt_encode(at, room, (unsigned)L->cfg->level, p);
    if (n > room) {
        at = bench_conn_reserve(c, n);
        n = nmq_mqtt_encode(at, n, (unsigned)L->cfg->level, p);
    }
    if (!n) {
        /* what we build is always encodable; if not, the tool is wrong */
        fprintf(stderr, "nemomq-bench: internal error: cannot encode %s\n", nmq_mqtt_type_name(p->type));
        abort();
    }
    c->wlen += (uint32_t)n;
    bench_conn_mark(L, c);
    return true;
}

bool bench_client_connected(bench_loop_t *L, bench_conn_t *c)
{
    char cid[48];
    int n = snprintf(cid, sizeof cid, "nb%08x-%d", L->cfg->tag, c->g);
    nmq_mqtt_packet_t p = { .type = NMQ_MQTT_CONNECT };
    nmq_mqtt_connect_t *k = &p.u.connect;
    k->level = (uint8_t)L->cfg->level;
    k->clean_start = 1;
    k->keep_alive = (uint16_t)L->cfg->keepalive;
    k->client_id = (nmq_mqtt_slice_t){ (const uint8_t *)cid, (uint32_t)n };
    nmq_mqtt_props_clear(&k->props);
    nmq_mqtt_props_clear(&k->will_props);
    nmq_mqtt_decoder_init(&c->dec, NMQ_MQTT_ROLE_CLIENT, (unsigned)L->cfg->level, 0);
    c->state = BENCH_ST_CONNACK;
    bench_client_send(L, c, &p);
    return bench_conn_flush(L, c);
}

static bool s_subscribe(bench_loop_t *L, bench_conn_t *c)
{
    char filter[256];
    int n = bench_plan_filter(L->cfg, c->index, filter, sizeof filter);
    nmq_mqtt_sub_t e = { .filter = { (const uint8_t *)filter, (uint32_t)n }, .qos = (uint8_t)L->cfg->qos };
    nmq_mqtt_packet_t p = { .type = NMQ_MQTT_SUBSCRIBE };
    p.u.subscribe.packet_id = 1;
    p.u.subscribe.count = 1;
    p.u.subscribe.subs = &e;
    nmq_mqtt_props_clear(&p.u.subscribe.props);
    c->state = BENCH_ST_SUBACK;
    return bench_client_send(L, c, &p);
}

static bool s_ack(bench_loop_t *L, bench_conn_t *c, unsigned type, uint16_t id)
{
    nmq_mqtt_packet_t p = { .type = (uint8_t)type };
    p.u.ack.packet_id = id;
    nmq_mqtt_props_clear(&p.u.ack.props);
    return bench_client_send(L, c, &p);
}

static bool s_connack(bench_loop_t *L, bench_conn_t *c, const nmq_mqtt_connack_t *a)
{
    const bench_cfg_t *cfg = L->cfg;
    if (c->state != BENCH_ST_CONNACK) {
        bench_conn_close(L, c, "CONNACK out of place");
        return false;
    }
    if (a->reason) {
        bench_conn_close(L, c, "CONNACK refused the connection: 0x%02x %s", a->reason,
                         cfg->level >= NMQ_MQTT_V5 ? nmq_mqtt_reason_name(a->reason) : "");
        return false;
    }
    bench_hist_record(&L->st.hs, L->now - c->t_start);
    if (L->now > L->st.c.t_last_connack)
        L->st.c.t_last_connack = L->now;
    c->window = (uint32_t)cfg->window;
    if (nmq_mqtt_props_has(&a->props, NMQ_PROP_RECEIVE_MAXIMUM) && a->props.receive_maximum < c->window)
        c->window = a->props.receive_maximum;
    if (nmq_mqtt_props_has(&a->props, NMQ_PROP_MAXIMUM_QOS) && a->props.maximum_qos < cfg->qos) {
        bench_conn_close(L, c, "the broker takes QoS %u at most", a->props.maximum_qos);
        return false;
    }
    if (c->kind == BENCH_SUB)
        return s_subscribe(L, c);
    c->state = BENCH_ST_UP;
    bench_loop_settled(L, c, true);
    return true;
}

static bool s_suback(bench_loop_t *L, bench_conn_t *c, const nmq_mqtt_suback_t *a)
{
    if (c->state != BENCH_ST_SUBACK || a->packet_id != 1 || a->codes.len != 1) {
        bench_conn_close(L, c, "SUBACK out of place");
        return false;
    }
    if (a->codes.ptr[0] >= 0x80) {
        bench_conn_close(L, c, "SUBACK refused the subscription: 0x%02x", a->codes.ptr[0]);
        return false;
    }
    c->state = BENCH_ST_UP;
    bench_loop_settled(L, c, true);
    return true;
}

/* A $share member hears part of each publisher's sequence: in order is
 * judged by what this member got before, not by the whole group. */
static bench_seq_verdict_t s_member_order(bench_loop_t *L, bench_conn_t *c, uint32_t pub, uint64_t seq)
{
    if (!c->high && !(c->high = calloc((size_t)L->cfg->n_pubs, sizeof *c->high)))
        abort();
    if (seq + 1 < c->high[pub])
        return BENCH_SEQ_LATE;
    c->high[pub] = seq + 1;
    return BENCH_SEQ_NEW;
}

static bool s_delivery(bench_loop_t *L, bench_conn_t *c, const nmq_mqtt_publish_t *m)
{
    bench_counts_t *k = &L->st.c;
    const uint8_t *b = m->payload.ptr;
    bench_seq_verdict_t v = BENCH_SEQ_STRAY;
    if (c->track && m->payload.len >= BENCH_PAYLOAD_HDR && s_get(b, 4) == L->cfg->tag) {
        uint32_t pub = (uint32_t)s_get(b + 4, 4);
        uint64_t seq = s_get(b + 8, 8);
        v = bench_tracker_see(c->track, pub, seq);
        if (L->cfg->scn->shared && v != BENCH_SEQ_STRAY && v != BENCH_SEQ_DUP)
            v = s_member_order(L, c, pub, seq);
    }
    if (v == BENCH_SEQ_STRAY) {
        k->stray++;
    } else {
        uint64_t sent_at = s_get(b + 16, 8);
        k->received++;
        if (L->now >= L->t_warm && L->now < L->t_end)
            k->recv_window++;
        if (v == BENCH_SEQ_DUP) {
            k->dup++;
        } else {
            k->unique++;
            k->ooo += v == BENCH_SEQ_LATE;
            if (sent_at >= L->t_warm && sent_at < L->t_end)
                bench_hist_record(&L->st.lat, L->now > sent_at ? L->now - sent_at : 0);
        }
    }
    if (m->qos == 1)
        return s_ack(L, c, NMQ_MQTT_PUBACK, m->packet_id);
    if (m->qos == 2)
        return s_ack(L, c, NMQ_MQTT_PUBREC, m->packet_id);
    return true;
}

static bool s_in_flight(const bench_conn_t *c, uint16_t id)
{
    return c->pids && (c->pids[id / 64] >> (id % 64) & 1);
}

/* PUBACK, or PUBCOMP at QoS 2: the message is done. */
static bool s_complete(bench_loop_t *L, bench_conn_t *c, uint16_t id)
{
    if (!s_in_flight(c, id)) {
        bench_counts_error(&L->st.c, "publisher %d: ack for packet id %u, which is not in flight",
                           c->index, id);
        L->st.c.proto_err++;
        return true;
    }
    c->pids[id / 64] &= ~(1ull << (id % 64));
    c->inflight--;
    L->st.c.acked++;
    return true;
}

bool bench_client_packet(bench_loop_t *L, bench_conn_t *c, const nmq_mqtt_packet_t *p)
{
    switch (p->type) {
    case NMQ_MQTT_CONNACK:
        return s_connack(L, c, &p->u.connack);
    case NMQ_MQTT_SUBACK:
        return s_suback(L, c, &p->u.suback);
    case NMQ_MQTT_PUBLISH:
        return s_delivery(L, c, &p->u.publish);
    case NMQ_MQTT_PUBACK:
    case NMQ_MQTT_PUBCOMP:
        return s_complete(L, c, p->u.ack.packet_id);
    case NMQ_MQTT_PUBREC:
        if (!s_in_flight(c, p->u.ack.packet_id)) {
            L->st.c.proto_err++;
            bench_counts_error(&L->st.c, "publisher %d: PUBREC for packet id %u, which is not in flight",
                               c->index, p->u.ack.packet_id);
        }
        return s_ack(L, c, NMQ_MQTT_PUBREL, p->u.ack.packet_id);
    case NMQ_MQTT_PUBREL:
        return s_ack(L, c, NMQ_MQTT_PUBCOMP, p->u.ack.packet_id);
    case NMQ_MQTT_PINGRESP:
        return true;
    case NMQ_MQTT_DISCONNECT:
        bench_conn_close(L, c, "the broker sent DISCONNECT 0x%02x %s", p->u.disconnect.reason,
                         nmq_mqtt_reason_name(p->u.disconnect.reason));
        return false;
    default:
        bench_conn_close(L, c, "unexpected %s from the broker", nmq_mqtt_type_name(p->type));
        return false;
    }
}

static uint16_t s_next_pid(bench_conn_t *c)
{
    if (!c->pids && !(c->pids = calloc(65536 / 64, sizeof *c->pids)))
        abort();
    for (;;) {
        uint16_t id = ++c->next_pid;
        if (id && !s_in_flight(c, id)) {
            c->pids[id / 64] |= 1ull << (id % 64);
            return id;
        }
    }
}

static void s_publish_one(bench_loop_t *L, bench_conn_t *c)
{
    const bench_cfg_t *cfg = L->cfg;
    nmq_mqtt_packet_t p = { .type = NMQ_MQTT_PUBLISH };
    nmq_mqtt_publish_t *m = &p.u.publish;
    s_put32(L->payload, cfg->tag);
    s_put32(L->payload + 4, (uint32_t)c->index);
    s_put64(L->payload + 8, c->seq++);
    s_put64(L->payload + 16, L->now);
    m->qos = (uint8_t)cfg->qos;
    m->topic = (nmq_mqtt_slice_t){ (const uint8_t *)c->topic, (uint32_t)strlen(c->topic) };
    m->payload = (nmq_mqtt_slice_t){ L->payload, (uint32_t)cfg->payload };
    nmq_mqtt_props_clear(&m->props);
    if (m->qos) {
        m->packet_id = s_next_pid(c);
        c->inflight++;
    }
    bench_client_send(L, c, &p);
    L->st.c.sent++;
    if (L->now >= L->t_warm && L->now < L->t_end)
        L->st.c.sent_window++;
}

bool bench_client_publish(bench_loop_t *L, bench_conn_t *c)
{
    const bench_cfg_t *cfg = L->cfg;
    if (c->state != BENCH_ST_UP || L->now < L->t0 || L->now >= L->t_end)
        return true;
    uint32_t budget;
    if (cfg->qos)
        budget = c->inflight < c->window ? c->window - c->inflight : 0;
    else
        budget = c->woff < c->wlen ? 0 : c->window;    /* still blocked: wait */
    uint32_t n = 0;
    for (; n < budget; n++) {
        if (cfg->rate > 0) {
            if (c->next_due > L->now)
                break;
            c->next_due += L->interval;
        }
        s_publish_one(L, c);
    }
    return n ? bench_conn_flush(L, c) : true;
}

bool bench_client_ping(bench_loop_t *L, bench_conn_t *c)
{
    nmq_mqtt_packet_t p = { .type = NMQ_MQTT_PINGREQ };
    return bench_client_send(L, c, &p);
}

void bench_client_disconnect(bench_loop_t *L, bench_conn_t *c)
{
    if (c->state != BENCH_ST_UP) {
        bench_conn_close(L, c, NULL);
        return;
    }
    nmq_mqtt_packet_t p = { .type = NMQ_MQTT_DISCONNECT };
    nmq_mqtt_props_clear(&p.u.disconnect.props);
    bench_client_send(L, c, &p);
    (void)bench_conn_flush(L, c);
    bench_conn_close(L, c, NULL);
}
