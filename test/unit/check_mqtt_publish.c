/* check_mqtt_publish — PUBLISH at 3.1, 3.1.1 and 5.0: flags, topic names,
 * packet ids, every PUBLISH property from each side, payloads up to a 4-byte
 * remaining length, zero copy and zero allocation on decode, and the header +
 * iovec encoder. */
#include "mqtt_test.h"

#include <stdio.h>

static const mqtt_case_t s_publish[] = {
    /* valid */
    { "publish_qos0", L3X, SRV, "30 { L'a/b' 'hi' }", OK, 0 },
    { "publish_qos0_v5", L5, SRV, "30 { L'a/b' 00 'hi' }", OK, 0 },
    { "publish_qos1", L3X, SRV, "32 { L'a/b' 00 01 'hi' }", OK, 0 },
    { "publish_qos1_v5", L5, SRV, "32 { L'a/b' 00 01 00 'hi' }", OK, 0 },
    { "publish_qos2_dup_retain", L3X, SRV, "3d { L'a/b' 12 34 'x' }", OK, 0 },
    { "publish_qos2_dup_retain_v5", L5, SRV, "3d { L'a/b' 12 34 00 'x' }", OK, 0 },
    { "publish_from_server", L3X, CLI, "33 { L'a/b' 00 07 'x' }", OK, 0 },
    { "publish_empty_payload", L3X, SRV, "31 { L'a' }", OK, 0 },
    { "publish_empty_payload_v5", L5, SRV, "31 { L'a' 00 }", OK, 0 },
    { "publish_utf8_topic", L3X, SRV, "30 { [ 63 61 66 c3 a9 2f e2 82 ac 2f f0 9f 98 80 ] 'x' }", OK, 0 },
    { "publish_dollar_topic", L3X, SRV, "30 { L'$SYS/x' }", OK, 0 },
    { "publish_empty_levels", L3X, SRV, "30 { L'//a//' }", OK, 0 },
    { "publish_binary_payload", L3X, SRV, "30 { L'a' 00 ff 00 c0 80 }", OK, 0 },
    { "publish_payload_3byte_length", L3X, SRV, "30 { L'a' *20000:61 }", OK, 0 },
    { "publish_v5_client_properties", L5, SRV,
      "32 { L'a/b' 00 01 { 01 01 02 00 00 00 3c 03 L'text/plain' 08 L'reply/to' 09 [ 00 01 02 ] 23 00 07 "
      "26 L'k' L'v' 26 L'k' L'v' } 'payload' }",
      OK, 0 },
    { "publish_v5_alias_and_empty_topic", L5, SRV, "30 { L'' { 23 00 01 } 'x' }", OK, 0 },
    { "publish_v5_server_subscription_ids", L5, CLI, "30 { L'a' { 0b 01 0b 80 01 0b ff ff ff 7f } 'x' }", OK, 0 },
    /* flags [MQTT-3.3.1-4] [MQTT-3.3.1-2] */
    { "publish_qos3", LALL, SRV, "36 { L'a' 00 01 00 }", E(QOS), 0 },
    { "publish_qos3_dup", LALL, SRV, "3f { L'a' 00 01 00 }", E(QOS), 0 },
    { "publish_dup_qos0", LALL, SRV, "38 { L'a' 00 }", E(DUP_QOS0), 0 },
    /* topic name [MQTT-3.3.2-1] [MQTT-3.3.2-2] [MQTT-4.7.3-1] */
    { "publish_topic_plus", LALL, SRV, "30 { L'a/+' 00 }", E(TOPIC_NAME), 0 },
    { "publish_topic_hash", LALL, SRV, "30 { L'a/#' 00 }", E(TOPIC_NAME), 0 },
    { "publish_topic_wildcard_in_level", LALL, SRV, "30 { L'a#b' 00 }", E(TOPIC_NAME), 0 },
    { "publish_topic_empty", L3X, SRV, "30 { L'' 'x' }", E(TOPIC_NAME), 0 },
    { "publish_topic_empty_v5", L5, SRV, "30 { L'' 00 'x' }", E(TOPIC_MISSING), 0 },
    { "publish_topic_missing", LALL, SRV, "30 { 00 }", E(TRUNCATED), 0 },
    { "publish_topic_truncated", LALL, SRV, "30 { 00 05 'ab' }", E(TRUNCATED), 0 },
    { "publish_topic_bad_utf8", LALL, SRV, "30 { [ 61 ff ] 00 }", E(UTF8), 0 },
    { "publish_topic_overlong", LALL, SRV, "30 { [ c0 af ] 00 }", E(UTF8), 0 },
    { "publish_topic_nul", LALL, SRV, "30 { [ 61 00 62 ] 00 }", E(UTF8_NUL), 0 },
    { "publish_topic_surrogate", LALL, SRV, "30 { [ 61 ed bf bf ] 00 }", E(UTF8_SURROGATE), 0 },
    /* packet identifier [MQTT-2.3.1-1] [MQTT-2.2.1-3] [MQTT-2.3.1-5] */
    { "publish_packet_id_zero", LALL, SRV, "32 { L'a' 00 00 00 }", E(PACKET_ID), 0 },
    { "publish_packet_id_zero_qos2", LALL, CLI, "34 { L'a' 00 00 00 }", E(PACKET_ID), 0 },
    { "publish_packet_id_missing", LALL, SRV, "32 { L'a' 00 }", E(TRUNCATED), 0 },
    { "publish_qos0_no_packet_id", LALL, SRV, "30 { L'a' 00 00 }", OK, 0 },
    /* 5.0 properties */
    { "publish_v5_property_length_missing", L5, SRV, "30 { L'a' }", E(TRUNCATED), 0 },
    { "publish_v5_subscription_id_from_client", L5, SRV, "30 { L'a' { 0b 01 } }", E(PROP_SENDER), 0 },
    { "publish_v5_subscription_id_zero", L5, CLI, "30 { L'a' { 0b 00 } }", E(PROP_VALUE), 0 },
    { "publish_v5_subscription_id_5_bytes", L5, CLI, "30 { L'a' { 0b 80 80 80 80 01 } }", E(VARINT), 0 },
    { "publish_v5_subscription_id_not_minimal", L5, CLI, "30 { L'a' { 0b 81 00 } }", E(VARINT), 0 },
    { "publish_v5_topic_alias_zero", L5, SRV, "30 { L'a' { 23 00 00 } }", E(TOPIC_ALIAS), 0 },
    { "publish_v5_topic_alias_twice", L5, SRV, "30 { L'a' { 23 00 01 23 00 02 } }", E(PROP_TWICE), 0 },
    { "publish_v5_payload_format_2", L5, SRV, "30 { L'a' { 01 02 } }", E(PROP_VALUE), 0 },
    { "publish_v5_message_expiry_twice", L5, SRV, "30 { L'a' { 02 00 00 00 01 02 00 00 00 01 } }",
      E(PROP_TWICE), 0 },
    { "publish_v5_response_topic_wildcard", L5, SRV, "30 { L'a' { 08 L'r/#' } }", E(PROP_VALUE), 0 },
    { "publish_v5_response_topic_empty", L5, SRV, "30 { L'a' { 08 L'' } }", E(PROP_VALUE), 0 },
    { "publish_v5_response_topic_bad_utf8", L5, SRV, "30 { L'a' { 08 [ ff ] } }", E(UTF8), 0 },
    { "publish_v5_content_type_bad_utf8", L5, SRV, "30 { L'a' { 03 [ e2 82 ] } }", E(UTF8), 0 },
    { "publish_v5_correlation_data_truncated", L5, SRV, "30 { L'a' { 09 00 09 01 } }", E(TRUNCATED), 0 },
    { "publish_v5_user_property_value_bad_utf8", L5, SRV, "30 { L'a' { 26 L'k' [ ff ] } }", E(UTF8), 0 },
    { "publish_v5_user_property_key_nul", L5, SRV, "30 { L'a' { 26 [ 00 ] L'v' } }", E(UTF8_NUL), 0 },
    { "publish_v5_reason_string", L5, SRV, "30 { L'a' { 1f L'x' } }", E(PROP_PACKET), 0 },
    { "publish_v5_session_expiry", L5, SRV, "30 { L'a' { 11 00 00 00 01 } }", E(PROP_PACKET), 0 },
    { "publish_v5_will_delay", L5, SRV, "30 { L'a' { 18 00 00 00 01 } }", E(PROP_PACKET), 0 },
    { "publish_v5_property_unknown", L5, SRV, "30 { L'a' { 7f 00 } }", E(PROP_UNKNOWN), 0 },
    { "publish_v5_property_id_multibyte", L5, SRV, "30 { L'a' { 81 00 } }", E(PROP_UNKNOWN), 0 },
    /* size */
    { "publish_too_large", LALL, SRV, "30 { L'a/b' 00 'hello-world' }", E(TOO_LARGE), 10 },
    { "publish_at_limit", L3X, SRV, "30 { L'a/b' 'hello' }", OK, 12 },
};

MQTT_CASES(s_publish)

START_TEST(test_publish_fields_zero_copy)
{
    nmq_mqtt_decoder_t d;
    nmq_mqtt_packet_t p;
    size_t n = mqtt_decode_ok(SRV, 4, "3b { L'a/b' 12 34 'hello' }", &p, &d);
    const uint8_t *buf = mqtt_buf();
    const nmq_mqtt_publish_t *m = &p.u.publish;
    ck_assert_uint_eq(n, 14);
    ck_assert(m->qos == 1 && m->dup == 1 && m->retain == 1);
    ck_assert_uint_eq(m->packet_id, 0x1234);
    ck_assert_ptr_eq(m->topic.ptr, buf + 4);
    ck_assert_uint_eq(m->topic.len, 3);
    ck_assert_ptr_eq(m->payload.ptr, buf + 9);
    ck_assert_uint_eq(m->payload.len, 5);
    ck_assert(nmq_mqtt_props_empty(&m->props));
}
END_TEST

START_TEST(test_publish_v5_properties)
{
    nmq_mqtt_decoder_t d;
    nmq_mqtt_packet_t p;
    nmq_mqtt_iter_t it = { 0, 0 };
    nmq_mqtt_pair_t kv;
    uint32_t id;
    mqtt_decode_ok(SRV, 5, s_publish[14].spec, &p, &d);
    const nmq_mqtt_props_t *pr = &p.u.publish.props;
    ck_assert_uint_eq(pr->payload_format, 1);
    ck_assert_uint_eq(pr->message_expiry, 60);
    ck_assert_mem_eq(pr->content_type.ptr, "text/plain", 10);
    ck_assert_mem_eq(pr->response_topic.ptr, "reply/to", 8);
    ck_assert_uint_eq(pr->correlation_data.len, 3);
    ck_assert_uint_eq(pr->topic_alias, 7);
    ck_assert_uint_eq(pr->n_user, 2);          /* repeats, in order [MQTT-3.3.2-18] */
    while (nmq_mqtt_user_next(pr, &it, &kv))
        ck_assert(kv.key.len == 1 && kv.value.len == 1);
    ck_assert_uint_eq(it.idx, 2);
    ck_assert_mem_eq(p.u.publish.payload.ptr, "payload", 7);

    mqtt_decode_ok(CLI, 5, "30 { L'a' { 0b 01 26 L'k' L'v' 0b 80 01 0b ff ff ff 7f } 'x' }", &p, &d);
    pr = &p.u.publish.props;
    ck_assert_uint_eq(pr->n_sub_id, 3);
    ck_assert_uint_eq(pr->subscription_id, 1);
    it = (nmq_mqtt_iter_t){ 0, 0 };
    static const uint32_t want[] = { 1, 128, 268435455 };
    for (int i = 0; i < 3; i++) {
        ck_assert(nmq_mqtt_sub_id_next(pr, &it, &id));
        ck_assert_uint_eq(id, want[i]);
    }
    ck_assert(!nmq_mqtt_sub_id_next(pr, &it, &id));
}
END_TEST

/* Remaining lengths of 1 to 4 bytes, the last one 2 MB of payload. */
START_TEST(test_publish_remaining_length_sizes)
{
    static const uint32_t payload[] = { 0, 120, 200, 16000, 16400, 2097000, 2097200 };
    static const unsigned rl_bytes[] = { 1, 1, 2, 2, 3, 3, 4 };
    uint8_t *buf = malloc(2100000), *data = calloc(1, 2100000);
    for (int i = 0; i < 7; i++) {
        nmq_mqtt_publish_t m = { .qos = 0, .topic = NMQ_MQTT_SLICE("t") };
        nmq_mqtt_props_clear(&m.props);
        m.payload = (nmq_mqtt_slice_t){ data, payload[i] };
        size_t n = nmq_mqtt_encode_publish(buf, 2100000, 4, &m);
        ck_assert_uint_eq(n, 1 + rl_bytes[i] + 3 + payload[i]);
        nmq_mqtt_decoder_t d;
        nmq_mqtt_packet_t p;
        nmq_mqtt_decoder_init(&d, NMQ_MQTT_ROLE_SERVER, 4, 0);
        nmq_mqtt_result_t r = nmq_mqtt_decode(&d, buf, n, &p);
        ck_assert_uint_eq(r.status, NMQ_MQTT_OK);
        ck_assert_uint_eq(p.u.publish.payload.len, payload[i]);
    }
    free(buf);
    free(data);
}
END_TEST

START_TEST(test_publish_encode_bytes)
{
    uint8_t buf[64];
    nmq_mqtt_publish_t m = { .qos = 1, .packet_id = 10, .topic = NMQ_MQTT_SLICE("a/b"),
                             .payload = NMQ_MQTT_SLICE("hi") };
    nmq_mqtt_props_clear(&m.props);
    ck_assert_uint_eq(nmq_mqtt_encode_publish(buf, sizeof buf, 4, &m), 11);
    ck_assert_mem_eq(buf, "\x32\x09\x00\x03" "a/b" "\x00\x0a" "hi", 11);
    ck_assert_uint_eq(nmq_mqtt_encode_publish(buf, sizeof buf, 5, &m), 12);
    ck_assert_mem_eq(buf, "\x32\x0a\x00\x03" "a/b" "\x00\x0a\x00" "hi", 12);
    m.props.present = 1ull << NMQ_PROP_TOPIC_ALIAS;
    m.props.topic_alias = 2;
    ck_assert_uint_eq(nmq_mqtt_encode_publish(buf, sizeof buf, 5, &m), 15);
    ck_assert_mem_eq(buf, "\x32\x0d\x00\x03" "a/b" "\x00\x0a\x03\x23\x00\x02" "hi", 15);
    ck_assert_uint_eq(nmq_mqtt_encode_publish(buf, sizeof buf, 4, &m), 11);   /* no properties in 3.1.1 */
}
END_TEST

/* What the decoder refuses, the encoder does not write. */
START_TEST(test_publish_encode_refuses)
{
    uint8_t buf[64];
    nmq_mqtt_publish_t m = { .qos = 3, .packet_id = 1, .topic = NMQ_MQTT_SLICE("a") };
    nmq_mqtt_props_clear(&m.props);
    ck_assert_uint_eq(nmq_mqtt_encode_publish(buf, sizeof buf, 4, &m), 0);
    m.qos = 0;
    m.dup = 1;
    ck_assert_uint_eq(nmq_mqtt_encode_publish(buf, sizeof buf, 4, &m), 0);
    m.dup = 0;
    m.qos = 1;
    m.packet_id = 0;
    ck_assert_uint_eq(nmq_mqtt_encode_publish(buf, sizeof buf, 4, &m), 0);
    m.packet_id = 1;
    m.props.present = 1ull << NMQ_PROP_SESSION_EXPIRY;
    ck_assert_uint_eq(nmq_mqtt_encode_publish(buf, sizeof buf, 5, &m), 0);
    m.props.present = 1ull << NMQ_PROP_TOPIC_ALIAS;
    m.props.topic_alias = 0;
    ck_assert_uint_eq(nmq_mqtt_encode_publish(buf, sizeof buf, 5, &m), 0);
    nmq_mqtt_props_clear(&m.props);
    m.topic = (nmq_mqtt_slice_t){ buf, 70000 };
    ck_assert_uint_eq(nmq_mqtt_encode_publish(NULL, 0, 4, &m), 0);
    m.topic = (nmq_mqtt_slice_t){ NULL, 0 };                  /* empty: only with an alias */
    ck_assert_uint_eq(nmq_mqtt_encode_publish(buf, sizeof buf, 4, &m), 0);
    ck_assert_uint_eq(nmq_mqtt_encode_publish(buf, sizeof buf, 5, &m), 0);
    m.props.present = 1ull << NMQ_PROP_TOPIC_ALIAS;
    m.props.topic_alias = 3;
    ck_assert_uint_gt(nmq_mqtt_encode_publish(buf, sizeof buf, 5, &m), 0);
}
END_TEST

/* A payload of 268435455 - header bytes is the most a packet holds. */
START_TEST(test_publish_encode_max_remaining)
{
    nmq_mqtt_publish_t m = { .qos = 0, .topic = NMQ_MQTT_SLICE("t") };
    nmq_mqtt_props_clear(&m.props);
    m.payload = (nmq_mqtt_slice_t){ (const uint8_t *)"", NMQ_MQTT_MAX_REMAINING - 3 };
    ck_assert_uint_eq(nmq_mqtt_encode_publish(NULL, 0, 4, &m), NMQ_MQTT_MAX_PACKET);
    ck_assert_uint_eq(nmq_mqtt_encode_publish_header(NULL, 0, 4, &m), 8);
    m.payload.len++;
    ck_assert_uint_eq(nmq_mqtt_encode_publish(NULL, 0, 4, &m), 0);
    ck_assert_uint_eq(nmq_mqtt_encode_publish_header(NULL, 0, 4, &m), 0);
}
END_TEST

START_TEST(test_publish_header_iov)
{
    uint8_t hdr[64], whole[128];
    struct iovec iov[2];
    nmq_mqtt_publish_t m = { .qos = 2, .packet_id = 9, .retain = 1, .topic = NMQ_MQTT_SLICE("x/y"),
                             .payload = NMQ_MQTT_SLICE("the payload") };
    nmq_mqtt_props_clear(&m.props);
    for (unsigned level = 3; level <= 5; level++) {
        size_t n = nmq_mqtt_encode_publish(whole, sizeof whole, level, &m);
        ck_assert_int_eq(nmq_mqtt_encode_publish_iov(iov, hdr, sizeof hdr, level, &m), 2);
        ck_assert_ptr_eq(iov[1].iov_base, m.payload.ptr);
        ck_assert_uint_eq(iov[0].iov_len + iov[1].iov_len, n);
        ck_assert_mem_eq(iov[0].iov_base, whole, iov[0].iov_len);
        ck_assert_int_eq(nmq_mqtt_encode_publish_iov(iov, hdr, 3, level, &m), 0);
    }
    m.payload.len = 0;
    ck_assert_int_eq(nmq_mqtt_encode_publish_iov(iov, hdr, sizeof hdr, 4, &m), 1);
}
END_TEST

/* Decoding a PUBLISH allocates nothing: malloc is counted while it runs. */
static int s_counting;
static unsigned long s_allocs;
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);

void *malloc(size_t n)
{
    s_allocs += s_counting;
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
    s_allocs += s_counting;
    return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
    s_allocs += s_counting;
    return __libc_realloc(p, n);
}

START_TEST(test_publish_decode_allocates_nothing)
{
    static const char *specs[] = { "32 { L'a/b' 00 01 'hi' }",
                                   "32 { L'a/b' 00 01 { 01 01 23 00 07 26 L'k' L'v' 26 L'k' L'v' } 'p' }" };
    uint8_t buf[128];
    for (int i = 0; i < 2; i++) {
        size_t n = mqtt_spec(specs[i], buf);
        nmq_mqtt_decoder_t d;
        nmq_mqtt_packet_t p;
        nmq_mqtt_iter_t it = { 0, 0 };
        nmq_mqtt_pair_t kv;
        uint8_t out[128];
        nmq_mqtt_decoder_init(&d, NMQ_MQTT_ROLE_SERVER, 4 + (unsigned)i, 0);
        int bad = 0;
        s_counting = 1;     /* Check's own ck_assert allocates: none in here */
        for (int k = 0; k < 1000; k++) {
            bad |= nmq_mqtt_decode(&d, buf, n, &p).status != NMQ_MQTT_OK;
            while (nmq_mqtt_user_next(&p.u.publish.props, &it, &kv))
                ;
            bad |= nmq_mqtt_encode_publish(out, sizeof out, 4 + (unsigned)i, &p.u.publish) != n;
        }
        s_counting = 0;
        ck_assert(!bad);
        ck_assert_uint_eq(s_allocs, 0);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mqtt_publish");
    s_publish_add(s, "publish");
    TCase *tc = tcase_create("publish");
    tcase_add_test(tc, test_publish_fields_zero_copy);
    tcase_add_test(tc, test_publish_v5_properties);
    tcase_add_test(tc, test_publish_remaining_length_sizes);
    tcase_add_test(tc, test_publish_encode_bytes);
    tcase_add_test(tc, test_publish_encode_refuses);
    tcase_add_test(tc, test_publish_encode_max_remaining);
    tcase_add_test(tc, test_publish_header_iov);
    tcase_add_test(tc, test_publish_decode_allocates_nothing);
    suite_add_tcase(s, tc);
    return mqtt_run_suite(s);
}
