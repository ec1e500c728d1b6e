/* check_mqtt_props — MQTT 5.0 properties against the spec's own table
 * (section 2.2.2.2, restated here rather than read from nmq_mqtt_props.c):
 * every property in every packet from each side that sends it, given once,
 * twice, out of range and cut short; the iterators; and the encoder's side
 * of the same rules. */
#include "mqtt_test.h"

#include <stdio.h>

#define B(t) (1u << NMQ_MQTT_##t)
#define WILLB 1u
#define ACKB (B(PUBACK) | B(PUBREC) | B(PUBREL) | B(PUBCOMP))

typedef struct {
    uint8_t id;
    uint16_t packets;           /* where the spec's table allows it */
    const char *value;          /* a valid value, in the test notation */
} s_prop_t;

static const s_prop_t s_spec[] = {
    { 0x01, B(PUBLISH) | WILLB, "01" },
    { 0x02, B(PUBLISH) | WILLB, "00 00 00 01" },
    { 0x03, B(PUBLISH) | WILLB, "L'x'" },
    { 0x08, B(PUBLISH) | WILLB, "L'x'" },
    { 0x09, B(PUBLISH) | WILLB, "[ 01 ]" },
    { 0x0B, B(PUBLISH) | B(SUBSCRIBE), "01" },
    { 0x11, B(CONNECT) | B(CONNACK) | B(DISCONNECT), "00 00 00 01" },
    { 0x12, B(CONNACK), "L'x'" },
    { 0x13, B(CONNACK), "00 01" },
    { 0x15, B(CONNECT) | B(CONNACK) | B(AUTH), "L'x'" },
    { 0x16, B(CONNECT) | B(CONNACK) | B(AUTH), "[ 01 ] 15 L'm'" },
    { 0x17, B(CONNECT), "01" },
    { 0x18, WILLB, "00 00 00 01" },
    { 0x19, B(CONNECT), "01" },
    { 0x1A, B(CONNACK), "L'x'" },
    { 0x1C, B(CONNACK) | B(DISCONNECT), "L'x'" },
    { 0x1F, B(CONNACK) | ACKB | B(SUBACK) | B(UNSUBACK) | B(DISCONNECT) | B(AUTH), "L'x'" },
    { 0x21, B(CONNECT) | B(CONNACK), "00 01" },
    { 0x22, B(CONNECT) | B(CONNACK), "00 01" },
    { 0x23, B(PUBLISH), "00 01" },
    { 0x24, B(CONNACK), "01" },
    { 0x25, B(CONNACK), "01" },
    { 0x26, B(CONNECT) | B(CONNACK) | B(PUBLISH) | WILLB | ACKB | B(SUBSCRIBE) | B(SUBACK) | B(UNSUBSCRIBE) |
                B(UNSUBACK) | B(DISCONNECT) | B(AUTH),
      "L'k' L'v'" },
    { 0x27, B(CONNECT) | B(CONNACK), "00 00 00 01" },
    { 0x28, B(CONNACK), "01" },
    { 0x29, B(CONNACK), "01" },
    { 0x2A, B(CONNACK), "01" },
};

/* A packet of each context with "%s" where its property block's contents
 * go, and the sides that send it. */
typedef struct {
    unsigned ctx;
    const char *fmt;
    uint8_t by_client, by_server;
} s_ctx_t;

static const s_ctx_t s_ctxs[] = {
    { NMQ_MQTT_WILL_PROPS, "10 { L'MQTT' 05 06 00 00 00 L'c' { %s } L't' L'p' }", 1, 0 },
    { NMQ_MQTT_CONNECT, "10 { L'MQTT' 05 02 00 00 { %s } L'c' }", 1, 0 },
    { NMQ_MQTT_CONNACK, "20 { 00 00 { %s } }", 0, 1 },
    { NMQ_MQTT_PUBLISH, "30 { L't' { %s } }", 1, 1 },
    { NMQ_MQTT_PUBACK, "40 { 00 01 00 { %s } }", 1, 1 },
    { NMQ_MQTT_PUBREC, "50 { 00 01 00 { %s } }", 1, 1 },
    { NMQ_MQTT_PUBREL, "62 { 00 01 00 { %s } }", 1, 1 },
    { NMQ_MQTT_PUBCOMP, "70 { 00 01 00 { %s } }", 1, 1 },
    { NMQ_MQTT_SUBSCRIBE, "82 { 00 01 { %s } L'a' 00 }", 1, 0 },
    { NMQ_MQTT_SUBACK, "90 { 00 01 { %s } 00 }", 0, 1 },
    { NMQ_MQTT_UNSUBSCRIBE, "a2 { 00 01 { %s } L'a' }", 1, 0 },
    { NMQ_MQTT_UNSUBACK, "b0 { 00 01 { %s } 00 }", 0, 1 },
    { NMQ_MQTT_DISCONNECT, "e0 { 00 { %s } }", 1, 1 },
    { NMQ_MQTT_AUTH, "f0 { 18 { %s } }", 1, 1 },
};

#define N_CTX ((int)(sizeof s_ctxs / sizeof s_ctxs[0]))

/* The direction rules: a Subscription Identifier is never in a client's
 * PUBLISH [MQTT-3.3.4-6], a Session Expiry Interval never in a server's
 * DISCONNECT [MQTT-3.14.2-2]. */
static bool s_sender_may(const s_prop_t *pr, unsigned ctx, int from_client)
{
    if (pr->id == NMQ_PROP_SUBSCRIPTION_ID && ctx == NMQ_MQTT_PUBLISH)
        return !from_client;
    if (pr->id == NMQ_PROP_SESSION_EXPIRY && ctx == NMQ_MQTT_DISCONNECT)
        return from_client;
    return true;
}

static int s_decode(const s_ctx_t *c, int from_client, const char *props)
{
    char spec[512];
    nmq_mqtt_decoder_t d;
    snprintf(spec, sizeof spec, c->fmt, props);
    return mqtt_decode_err(from_client ? SRV : CLI, 5, spec, &d);
}

/* Each property in each packet, from each side that sends the packet. */
START_TEST(test_prop_in_every_packet)
{
    const s_prop_t *pr = &s_spec[_i];
    char props[128];
    snprintf(props, sizeof props, "%02x %s", pr->id, pr->value);
    for (int k = 0; k < N_CTX; k++) {
        const s_ctx_t *c = &s_ctxs[k];
        for (int from_client = 0; from_client < 2; from_client++) {
            if (!(from_client ? c->by_client : c->by_server))
                continue;
            int want = !(pr->packets & (1u << c->ctx))          ? NMQ_MQTT_E_PROP_PACKET
                       : !s_sender_may(pr, c->ctx, from_client) ? NMQ_MQTT_E_PROP_SENDER
                                                                : NMQ_MQTT_E_OK;
            int got = s_decode(c, from_client, props);
            ck_assert_msg(got == want, "property 0x%02x in %s from %s: %s, want %s", pr->id,
                          c->ctx ? nmq_mqtt_type_name(c->ctx) : "will properties", from_client ? "client" : "server",
                          nmq_mqtt_err_str((nmq_mqtt_err_t)got), nmq_mqtt_err_str((nmq_mqtt_err_t)want));
        }
    }
}
END_TEST

/* Given twice: a Protocol Error, but for User Property, and for the
 * Subscription Identifier in a server's PUBLISH. */
START_TEST(test_prop_twice)
{
    const s_prop_t *pr = &s_spec[_i];
    char props[256];
    if (pr->id == NMQ_PROP_AUTH_DATA)
        snprintf(props, sizeof props, "16 [ 01 ] 16 [ 02 ] 15 L'm'");
    else
        snprintf(props, sizeof props, "%02x %s %02x %s", pr->id, pr->value, pr->id, pr->value);
    for (int k = 0; k < N_CTX; k++) {
        const s_ctx_t *c = &s_ctxs[k];
        for (int from_client = 0; from_client < 2; from_client++) {
            if (!(from_client ? c->by_client : c->by_server) || !(pr->packets & (1u << c->ctx)) ||
                !s_sender_may(pr, c->ctx, from_client))
                continue;
            bool may_repeat = pr->id == NMQ_PROP_USER ||
                              (pr->id == NMQ_PROP_SUBSCRIPTION_ID && c->ctx == NMQ_MQTT_PUBLISH);
            int got = s_decode(c, from_client, props);
            ck_assert_msg(got == (may_repeat ? NMQ_MQTT_E_OK : NMQ_MQTT_E_PROP_TWICE), "0x%02x twice in %s: %s",
                          pr->id, nmq_mqtt_type_name(c->ctx), nmq_mqtt_err_str((nmq_mqtt_err_t)got));
        }
    }
}
END_TEST

/* Values outside what the spec allows, and the extremes inside it. */
typedef struct {
    const char *props;
    unsigned ctx_index;         /* into s_ctxs */
    int from_client;
    int want;
} s_range_t;

static const s_range_t s_ranges[] = {
    { "01 02", 3, 1, E(PROP_VALUE) },                 /* payload format indicator */
    { "01 00", 3, 1, OK },
    { "17 02", 1, 1, E(PROP_VALUE) },                 /* request problem information */
    { "19 ff", 1, 1, E(PROP_VALUE) },                 /* request response information */
    { "24 02", 2, 0, E(PROP_VALUE) },                 /* maximum QoS */
    { "25 02", 2, 0, E(PROP_VALUE) },                 /* retain available */
    { "28 02", 2, 0, E(PROP_VALUE) },                 /* wildcard subscription available */
    { "29 02", 2, 0, E(PROP_VALUE) },                 /* subscription identifier available */
    { "2a 02", 2, 0, E(PROP_VALUE) },                 /* shared subscription available */
    { "21 00 00", 1, 1, E(PROP_VALUE) },              /* receive maximum 0 */
    { "21 ff ff", 2, 0, OK },
    { "27 00 00 00 00", 2, 0, E(PROP_VALUE) },        /* maximum packet size 0 */
    { "27 ff ff ff ff", 1, 1, OK },
    { "23 00 00", 3, 1, E(TOPIC_ALIAS) },             /* topic alias 0 [MQTT-3.3.2-8] */
    { "23 ff ff", 3, 0, OK },
    { "0b 00", 8, 1, E(PROP_VALUE) },                 /* subscription identifier 0 */
    { "0b ff ff ff 7f", 8, 1, OK },
    { "0b ff ff ff ff 01", 8, 1, E(VARINT) },
    { "11 ff ff ff ff", 12, 1, OK },                  /* session expiry: "never" */
    { "22 00 00", 1, 1, OK },                         /* topic alias maximum 0: none */
    { "13 00 00", 2, 0, OK },                         /* server keep alive 0 */
    { "08 L'a/+'", 3, 1, E(PROP_VALUE) },             /* response topic [MQTT-3.3.2-14] */
    { "02 00 00 00", 3, 1, E(TRUNCATED) },
    { "13 00", 2, 0, E(TRUNCATED) },
    { "03 00 05 'ab'", 3, 1, E(TRUNCATED) },
    { "26 L'k'", 3, 1, E(TRUNCATED) },
    { "01", 3, 1, E(TRUNCATED) },
    { "0b 80", 8, 1, E(TRUNCATED) },
    { "00", 3, 1, E(PROP_UNKNOWN) },
    { "2b 00", 3, 1, E(PROP_UNKNOWN) },
    { "ff 7f", 3, 1, E(PROP_UNKNOWN) },
};

START_TEST(test_prop_range)
{
    const s_range_t *r = &s_ranges[_i];
    int got = s_decode(&s_ctxs[r->ctx_index], r->from_client, r->props);
    ck_assert_msg(got == r->want, "'%s': %s", r->props, nmq_mqtt_err_str((nmq_mqtt_err_t)got));
}
END_TEST

START_TEST(test_prop_table_matches_spec)
{
    size_t k = 0;
    for (unsigned id = 0; id < 256; id++) {
        const nmq_mqtt_prop_info_t *row = nmq_mqtt_prop_info(id);
        if (k < sizeof s_spec / sizeof s_spec[0] && s_spec[k].id == id) {
            ck_assert_msg(row && row->id == id && row->name, "0x%02x", id);
            ck_assert_uint_eq(row->by_client | row->by_server, s_spec[k].packets);
            k++;
        } else {
            ck_assert_msg(!row, "0x%02x is no property", id);
        }
    }
    ck_assert_uint_eq(k, sizeof s_spec / sizeof s_spec[0]);
}
END_TEST

/* Lists walk from the raw block when decoded, from arrays when set. */
START_TEST(test_prop_iterators)
{
    nmq_mqtt_decoder_t d;
    nmq_mqtt_packet_t p;
    nmq_mqtt_iter_t it = { 0, 0 };
    nmq_mqtt_pair_t kv;
    mqtt_decode_ok(SRV, 5, "e0 { 00 { 26 L'a' L'1' 1f L'why' 26 L'b' L'2' 26 L'a' L'3' } }", &p, &d);
    nmq_mqtt_props_t *pr = &p.u.disconnect.props;
    static const char *const want = "a1b2a3";
    for (int i = 0; i < 3; i++) {
        ck_assert(nmq_mqtt_user_next(pr, &it, &kv));
        ck_assert(kv.key.len == 1 && kv.key.ptr[0] == want[2 * i] && kv.value.ptr[0] == want[2 * i + 1]);
    }
    ck_assert(!nmq_mqtt_user_next(pr, &it, &kv));
    nmq_mqtt_pair_t mine[1] = { { NMQ_MQTT_SLICE("z"), NMQ_MQTT_SLICE("9") } };
    pr->user = mine;
    pr->n_user = 1;
    it = (nmq_mqtt_iter_t){ 0, 0 };
    ck_assert(nmq_mqtt_user_next(pr, &it, &kv) && kv.key.ptr[0] == 'z');
    ck_assert(!nmq_mqtt_user_next(pr, &it, &kv));
    nmq_mqtt_props_clear(pr);
    it = (nmq_mqtt_iter_t){ 0, 0 };
    ck_assert(!nmq_mqtt_user_next(pr, &it, &kv));
}
END_TEST

/* Forwarding: decoded user properties are copied in order, next to new
 * subscription identifiers and a changed expiry. */
START_TEST(test_prop_forward)
{
    nmq_mqtt_decoder_t d;
    nmq_mqtt_packet_t in, out;
    uint8_t buf[256];
    uint32_t ids[2] = { 7, 300 };
    mqtt_decode_ok(SRV, 5, "30 { L'a' { 26 L'k' L'1' 02 00 00 00 3c 26 L'k' L'2' 23 00 04 } 'x' }", &in, &d);
    nmq_mqtt_publish_t fwd = in.u.publish;
    fwd.props.message_expiry = 50;
    fwd.props.present &= ~(1ull << NMQ_PROP_TOPIC_ALIAS);
    fwd.props.sub_ids = ids;
    fwd.props.n_sub_id = 2;
    size_t n = nmq_mqtt_encode_publish(buf, sizeof buf, 5, &fwd);
    ck_assert_uint_gt(n, 0);
    nmq_mqtt_decoder_init(&d, NMQ_MQTT_ROLE_CLIENT, 5, 0);
    ck_assert_uint_eq(nmq_mqtt_decode(&d, buf, n, &out).status, NMQ_MQTT_OK);
    const nmq_mqtt_props_t *pr = &out.u.publish.props;
    ck_assert_uint_eq(pr->message_expiry, 50);
    ck_assert(!nmq_mqtt_props_has(pr, NMQ_PROP_TOPIC_ALIAS));
    ck_assert_uint_eq(pr->n_sub_id, 2);
    ck_assert_uint_eq(pr->subscription_id, 7);
    ck_assert_uint_eq(pr->n_user, 2);
    nmq_mqtt_iter_t it = { 0, 0 };
    nmq_mqtt_pair_t kv;
    ck_assert(nmq_mqtt_user_next(pr, &it, &kv) && kv.value.ptr[0] == '1');
    ck_assert(nmq_mqtt_user_next(pr, &it, &kv) && kv.value.ptr[0] == '2');
}
END_TEST

/* The encoder keeps to the same table. */
START_TEST(test_prop_encode_refuses)
{
    uint8_t buf[128];
    uint32_t ids[2] = { 1, 2 };
    nmq_mqtt_subscribe_t s = { .packet_id = 1, .count = 1 };
    nmq_mqtt_sub_t e = { NMQ_MQTT_SLICE("a"), 0, 0, 0, 0 };
    s.subs = &e;
    nmq_mqtt_props_clear(&s.props);
    s.props.sub_ids = ids;
    s.props.n_sub_id = 1;
    ck_assert_uint_gt(nmq_mqtt_encode_subscribe(buf, sizeof buf, 5, &s), 0);
    s.props.n_sub_id = 2;                                 /* one at most in SUBSCRIBE */
    ck_assert_uint_eq(nmq_mqtt_encode_subscribe(buf, sizeof buf, 5, &s), 0);
    ids[0] = 0;
    s.props.n_sub_id = 1;                                 /* 0 is not an identifier */
    ck_assert_uint_eq(nmq_mqtt_encode_subscribe(buf, sizeof buf, 5, &s), 0);
    nmq_mqtt_props_clear(&s.props);
    s.props.present = 1ull << NMQ_PROP_USER;              /* lists have no present bit */
    ck_assert_uint_eq(nmq_mqtt_encode_subscribe(buf, sizeof buf, 5, &s), 0);
    s.props.present = 1ull << 0x2B;                       /* no such property */
    ck_assert_uint_eq(nmq_mqtt_encode_subscribe(buf, sizeof buf, 5, &s), 0);
    s.props.present = 1ull << NMQ_PROP_RECEIVE_MAXIMUM;   /* not in SUBSCRIBE */
    s.props.receive_maximum = 1;
    ck_assert_uint_eq(nmq_mqtt_encode_subscribe(buf, sizeof buf, 5, &s), 0);
    ck_assert_uint_gt(nmq_mqtt_encode_subscribe(buf, sizeof buf, 4, &s), 0);   /* 3.1.1 has none */
    nmq_mqtt_props_clear(&s.props);
    s.props.n_user = 1;                                   /* a count with nothing behind it */
    ck_assert_uint_eq(nmq_mqtt_encode_subscribe(buf, sizeof buf, 5, &s), 0);
}
END_TEST

START_TEST(test_prop_equal)
{
    nmq_mqtt_props_t a, b;
    nmq_mqtt_pair_t kv[2] = { { NMQ_MQTT_SLICE("k"), NMQ_MQTT_SLICE("v") },
                              { NMQ_MQTT_SLICE("k"), NMQ_MQTT_SLICE("w") } };
    nmq_mqtt_props_clear(&a);
    nmq_mqtt_props_clear(&b);
    ck_assert(nmq_mqtt_props_equal(&a, &b));
    a.present = b.present = 1ull << NMQ_PROP_CONTENT_TYPE;
    a.content_type = NMQ_MQTT_SLICE("x");
    b.content_type = NMQ_MQTT_SLICE("y");
    ck_assert(!nmq_mqtt_props_equal(&a, &b));
    b.content_type = NMQ_MQTT_SLICE("x");
    ck_assert(nmq_mqtt_props_equal(&a, &b));
    a.user = kv;
    b.user = kv + 1;
    a.n_user = b.n_user = 1;
    ck_assert(!nmq_mqtt_props_equal(&a, &b));
    b.user = kv;
    ck_assert(nmq_mqtt_props_equal(&a, &b));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mqtt_props");
    TCase *tc = tcase_create("properties v5.0");
    tcase_add_loop_test(tc, test_prop_in_every_packet, 0, (int)(sizeof s_spec / sizeof s_spec[0]));
    tcase_add_loop_test(tc, test_prop_twice, 0, (int)(sizeof s_spec / sizeof s_spec[0]));
    tcase_add_loop_test(tc, test_prop_range, 0, MQTT_N(s_ranges));
    tcase_add_test(tc, test_prop_table_matches_spec);
    tcase_add_test(tc, test_prop_iterators);
    tcase_add_test(tc, test_prop_forward);
    tcase_add_test(tc, test_prop_encode_refuses);
    tcase_add_test(tc, test_prop_equal);
    suite_add_tcase(s, tc);
    return mqtt_run_suite(s);
}
