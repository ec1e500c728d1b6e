/* nmq_mqtt_equal — are two packets the same, as a peer at a given level
 * would see them?
 *
 * The round-trip tests and the fuzzer check decode(encode(p)) == p with it.
 * "The same" is by meaning, not by struct bytes: lists compare element by
 * element whether a side holds them as an array or as a raw wire block,
 * optional strings compare only when their flag says they are there, and
 * what a level does not carry (properties and most reason codes before 5.0,
 * session present and subscription options beyond QoS before 3.1.1 / 5.0)
 * is not looked at.
 */
#include "nmq_mqtt_wire.h"

typedef bool (*s_eq_fn)(unsigned level, const nmq_mqtt_packet_t *a, const nmq_mqtt_packet_t *b);

static bool s_props_eq(unsigned level, const nmq_mqtt_props_t *a, const nmq_mqtt_props_t *b)
{
    return level < NMQ_MQTT_V5 || nmq_mqtt_props_equal(a, b);
}

static bool s_opt_eq(bool there, nmq_mqtt_slice_t a, nmq_mqtt_slice_t b)
{
    return !there || nmq_slice_eq(a, b);
}

static bool s_connect(unsigned level, const nmq_mqtt_packet_t *pa, const nmq_mqtt_packet_t *pb)
{
    const nmq_mqtt_connect_t *a = &pa->u.connect, *b = &pb->u.connect;
    return a->level == b->level && (level == NMQ_MQTT_V5 || a->bridge == b->bridge) &&
           a->clean_start == b->clean_start && a->will == b->will && a->will_qos == b->will_qos &&
           a->will_retain == b->will_retain && a->has_username == b->has_username &&
           a->has_password == b->has_password && a->keep_alive == b->keep_alive &&
           nmq_slice_eq(a->client_id, b->client_id) && s_props_eq(level, &a->props, &b->props) &&
           s_opt_eq(a->will, a->will_topic, b->will_topic) && s_opt_eq(a->will, a->will_payload, b->will_payload) &&
           (!a->will || s_props_eq(level, &a->will_props, &b->will_props)) &&
           s_opt_eq(a->has_username, a->username, b->username) &&
           s_opt_eq(a->has_password, a->password, b->password);
}

static bool s_connack(unsigned level, const nmq_mqtt_packet_t *pa, const nmq_mqtt_packet_t *pb)
{
    const nmq_mqtt_connack_t *a = &pa->u.connack, *b = &pb->u.connack;
    return (level == NMQ_MQTT_V31 || a->session_present == b->session_present) && a->reason == b->reason &&
           s_props_eq(level, &a->props, &b->props);
}

static bool s_publish(unsigned level, const nmq_mqtt_packet_t *pa, const nmq_mqtt_packet_t *pb)
{
    const nmq_mqtt_publish_t *a = &pa->u.publish, *b = &pb->u.publish;
    return a->qos == b->qos && a->dup == b->dup && a->retain == b->retain &&
           (!a->qos || a->packet_id == b->packet_id) && nmq_slice_eq(a->topic, b->topic) &&
           nmq_slice_eq(a->payload, b->payload) && s_props_eq(level, &a->props, &b->props);
}

/* Reason code and properties, as acks, DISCONNECT and AUTH carry them in 5.0. */
static bool s_tail_eq(unsigned level, uint8_t ra, uint8_t rb, const nmq_mqtt_props_t *a, const nmq_mqtt_props_t *b)
{
    return level < NMQ_MQTT_V5 || (ra == rb && nmq_mqtt_props_equal(a, b));
}

static bool s_ack(unsigned level, const nmq_mqtt_packet_t *pa, const nmq_mqtt_packet_t *pb)
{
    const nmq_mqtt_ack_t *a = &pa->u.ack, *b = &pb->u.ack;
    return a->packet_id == b->packet_id && s_tail_eq(level, a->reason, b->reason, &a->props, &b->props);
}

static bool s_disconnect(unsigned level, const nmq_mqtt_packet_t *pa, const nmq_mqtt_packet_t *pb)
{
    const nmq_mqtt_disconnect_t *a = &pa->u.disconnect, *b = &pb->u.disconnect;
    return s_tail_eq(level, a->reason, b->reason, &a->props, &b->props);
}

static bool s_sub_eq(unsigned level, const nmq_mqtt_sub_t *a, const nmq_mqtt_sub_t *b)
{
    return nmq_slice_eq(a->filter, b->filter) && a->qos == b->qos &&
           (level < NMQ_MQTT_V5 || (a->no_local == b->no_local && a->retain_as_published == b->retain_as_published &&
                                    a->retain_handling == b->retain_handling));
}

static bool s_subscribe(unsigned level, const nmq_mqtt_packet_t *pa, const nmq_mqtt_packet_t *pb)
{
    const nmq_mqtt_subscribe_t *a = &pa->u.subscribe, *b = &pb->u.subscribe;
    nmq_mqtt_iter_t ia = { 0, 0 }, ib = { 0, 0 };
    nmq_mqtt_sub_t ea, eb;
    if (a->packet_id != b->packet_id || a->count != b->count || !s_props_eq(level, &a->props, &b->props))
        return false;
    while (nmq_mqtt_sub_next(a, &ia, &ea))
        if (!nmq_mqtt_sub_next(b, &ib, &eb) || !s_sub_eq(level, &ea, &eb))
            return false;
    return ia.idx == a->count;
}

static bool s_unsubscribe(unsigned level, const nmq_mqtt_packet_t *pa, const nmq_mqtt_packet_t *pb)
{
    const nmq_mqtt_unsubscribe_t *a = &pa->u.unsubscribe, *b = &pb->u.unsubscribe;
    nmq_mqtt_iter_t ia = { 0, 0 }, ib = { 0, 0 };
    nmq_mqtt_slice_t fa, fb;
    if (a->packet_id != b->packet_id || a->count != b->count || !s_props_eq(level, &a->props, &b->props))
        return false;
    while (nmq_mqtt_unsub_next(a, &ia, &fa))
        if (!nmq_mqtt_unsub_next(b, &ib, &fb) || !nmq_slice_eq(fa, fb))
            return false;
    return ia.idx == a->count;
}

static bool s_suback(unsigned level, const nmq_mqtt_packet_t *pa, const nmq_mqtt_packet_t *pb)
{
    const nmq_mqtt_suback_t *a = &pa->u.suback, *b = &pb->u.suback;
    bool no_codes = pa->type == NMQ_MQTT_UNSUBACK && level < NMQ_MQTT_V5;
    return a->packet_id == b->packet_id && (no_codes || nmq_slice_eq(a->codes, b->codes)) &&
           s_props_eq(level, &a->props, &b->props);
}

static bool s_empty(unsigned level, const nmq_mqtt_packet_t *a, const nmq_mqtt_packet_t *b)
{
    return true;
}

static const s_eq_fn s_eq[16] = NMQ_MQTT_LAYOUT_TABLE(s_);

bool nmq_mqtt_packet_equal(unsigned level, const nmq_mqtt_packet_t *a, const nmq_mqtt_packet_t *b)
{
    return a->type == b->type && a->type < 16 && s_eq[a->type] && s_eq[a->type](level, a, b);
}
