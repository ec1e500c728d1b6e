/* check_mqtt_subscribe — SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK at 3.1,
 * 3.1.1 and 5.0: topic filters and their wildcards, $share/, subscription
 * options and their reserved bits, reason / return codes, the list
 * iterators, and the encoders. */
#include "mqtt_test.h"

static const mqtt_case_t s_subscribe[] = {
    /* valid */
    { "subscribe_one", L3X, SRV, "82 { 00 01 L'a/b' 01 }", OK, 0 },
    { "subscribe_one_v5", L5, SRV, "82 { 00 01 00 L'a/b' 01 }", OK, 0 },
    { "subscribe_wildcards", L3X, SRV, "82 { 00 0a L'a/+/c' 00 L'#' 02 L'+' 01 L'a/#' 00 L'+/+' 00 L'/' 00 }", OK, 0 },
    { "subscribe_wildcards_v5", L5, SRV, "82 { 00 0a 00 L'a/+/c' 00 L'#' 02 L'+/#' 01 L'$SYS/#' 00 }", OK, 0 },
    { "subscribe_v5_options", L5, SRV, "82 { 00 01 00 L'a' 2d L'b' 1e }", OK, 0 },
    { "subscribe_v5_subscription_id", L5, SRV, "82 { 00 01 { 0b ff ff ff 7f 26 L'k' L'v' } L'a' 00 }", OK, 0 },
    { "subscribe_share", L3X, SRV, "82 { 00 01 L'$share/g/a/#' 01 }", OK, 0 },
    { "subscribe_share_v5", L5, SRV, "82 { 00 01 00 L'$share/g/+' 1a }", OK, 0 },
    { "subscribe_utf8_filter", L3X, SRV, "82 { 00 01 [ c3 a9 2f 2b 2f f0 9f 98 80 ] 00 }", OK, 0 },
    { "subscribe_v31_dup", L31, SRV, "8a { 00 01 L'a' 00 }", OK, 0 },
    /* fixed header [MQTT-3.8.1-1] */
    { "subscribe_header_flags_0", LALL, SRV, "80 { 00 01 00 L'a' 00 }", E(HEADER_FLAGS), 0 },
    { "subscribe_header_flags_3", LALL, SRV, "83 { 00 01 00 L'a' 00 }", E(HEADER_FLAGS), 0 },
    { "subscribe_header_dup", L4UP, SRV, "8a { 00 01 00 L'a' 00 }", E(HEADER_FLAGS), 0 },
    { "subscribe_from_server", LALL, CLI, "82 { 00 01 00 L'a' 00 }", E(DIRECTION), 0 },
    /* packet id and payload [MQTT-2.3.1-1] [MQTT-3.8.3-3] (3.1.1) [MQTT-3.8.3-2] (5.0) */
    { "subscribe_packet_id_zero", L3X, SRV, "82 { 00 00 L'a' 00 }", E(PACKET_ID), 0 },
    { "subscribe_packet_id_zero_v5", L5, SRV, "82 { 00 00 00 L'a' 00 }", E(PACKET_ID), 0 },
    { "subscribe_no_filter", L3X, SRV, "82 { 00 01 }", E(NO_ENTRIES), 0 },
    { "subscribe_no_filter_v5", L5, SRV, "82 { 00 01 00 }", E(NO_ENTRIES), 0 },
    { "subscribe_options_missing", L3X, SRV, "82 { 00 01 L'a' }", E(TRUNCATED), 0 },
    { "subscribe_filter_truncated", L3X, SRV, "82 { 00 01 00 09 'a' }", E(TRUNCATED), 0 },
    /* options [MQTT-3-8.3-4] (3.1.1), [MQTT-3.8.3-4] [MQTT-3.8.3-5] (5.0) */
    { "subscribe_qos3", L3X, SRV, "82 { 00 01 L'a' 03 }", E(SUB_QOS), 0 },
    { "subscribe_qos3_v5", L5, SRV, "82 { 00 01 00 L'a' 03 }", E(SUB_QOS), 0 },
    { "subscribe_v3_reserved_bit2", L3X, SRV, "82 { 00 01 L'a' 04 }", E(SUB_OPTIONS), 0 },
    { "subscribe_v3_reserved_bit7", L3X, SRV, "82 { 00 01 L'a' 80 }", E(SUB_OPTIONS), 0 },
    { "subscribe_v5_reserved_bit6", L5, SRV, "82 { 00 01 00 L'a' 40 }", E(SUB_OPTIONS), 0 },
    { "subscribe_v5_reserved_bit7", L5, SRV, "82 { 00 01 00 L'a' 81 }", E(SUB_OPTIONS), 0 },
    { "subscribe_v5_retain_handling_3", L5, SRV, "82 { 00 01 00 L'a' 30 }", E(RETAIN_HANDLING), 0 },
    { "subscribe_v5_no_local_shared", L5, SRV, "82 { 00 01 00 L'$share/g/a' 04 }", E(SHARE_NO_LOCAL), 0 },
    /* filters [MQTT-3.8.3-1] [MQTT-4.7.1-1] [MQTT-4.7.1-2] [MQTT-4.7.3-1] [MQTT-4.8.2-1] [MQTT-4.8.2-2] */
    { "subscribe_filter_empty", L3X, SRV, "82 { 00 01 L'' 00 }", E(FILTER), 0 },
    { "subscribe_filter_empty_v5", L5, SRV, "82 { 00 01 00 L'' 00 }", E(FILTER), 0 },
    { "subscribe_filter_hash_not_last", L3X, SRV, "82 { 00 01 L'a/#/b' 00 }", E(FILTER), 0 },
    { "subscribe_filter_hash_not_last_v5", L5, SRV, "82 { 00 01 00 L'a/#/b' 00 }", E(FILTER), 0 },
    { "subscribe_filter_hash_in_level", L3X, SRV, "82 { 00 01 L'a#' 00 }", E(FILTER), 0 },
    { "subscribe_filter_hash_in_level_v5", L5, SRV, "82 { 00 01 00 L'a#' 00 }", E(FILTER), 0 },
    { "subscribe_filter_plus_in_level", L3X, SRV, "82 { 00 01 L'a+' 00 }", E(FILTER), 0 },
    { "subscribe_filter_plus_in_level_v5", L5, SRV, "82 { 00 01 00 L'a+' 00 }", E(FILTER), 0 },
    { "subscribe_filter_plus_leading", L3X, SRV, "82 { 00 01 L'+a/b' 00 }", E(FILTER), 0 },
    { "subscribe_filter_plus_leading_v5", L5, SRV, "82 { 00 01 00 L'+a/b' 00 }", E(FILTER), 0 },
    { "subscribe_filter_bad_utf8", L3X, SRV, "82 { 00 01 [ 61 ff ] 00 }", E(UTF8), 0 },
    { "subscribe_filter_bad_utf8_v5", L5, SRV, "82 { 00 01 00 [ 61 ff ] 00 }", E(UTF8), 0 },
    { "subscribe_filter_nul", L3X, SRV, "82 { 00 01 [ 61 00 ] 00 }", E(UTF8_NUL), 0 },
    { "subscribe_filter_nul_v5", L5, SRV, "82 { 00 01 00 [ 61 00 ] 00 }", E(UTF8_NUL), 0 },
    { "subscribe_filter_surrogate", L3X, SRV, "82 { 00 01 [ ed a0 80 ] 00 }", E(UTF8_SURROGATE), 0 },
    { "subscribe_filter_surrogate_v5", L5, SRV, "82 { 00 01 00 [ ed a0 80 ] 00 }", E(UTF8_SURROGATE), 0 },
    { "subscribe_second_filter_bad", L3X, SRV, "82 { 00 01 L'ok' 00 L'a/#/' 00 }", E(FILTER), 0 },
    { "subscribe_share_empty_name", L3X, SRV, "82 { 00 01 L'$share//a' 00 }", E(SHARE), 0 },
    { "subscribe_share_empty_name_v5", L5, SRV, "82 { 00 01 00 L'$share//a' 00 }", E(SHARE), 0 },
    { "subscribe_share_no_filter", L3X, SRV, "82 { 00 01 L'$share/g' 00 }", E(SHARE), 0 },
    { "subscribe_share_no_filter_v5", L5, SRV, "82 { 00 01 00 L'$share/g' 00 }", E(SHARE), 0 },
    { "subscribe_share_empty_filter", L3X, SRV, "82 { 00 01 L'$share/g/' 00 }", E(SHARE), 0 },
    { "subscribe_share_empty_filter_v5", L5, SRV, "82 { 00 01 00 L'$share/g/' 00 }", E(SHARE), 0 },
    { "subscribe_share_wildcard_name", L3X, SRV, "82 { 00 01 L'$share/g+/a' 00 }", E(SHARE), 0 },
    { "subscribe_share_wildcard_name_v5", L5, SRV, "82 { 00 01 00 L'$share/g+/a' 00 }", E(SHARE), 0 },
    { "subscribe_share_bad_filter", L3X, SRV, "82 { 00 01 L'$share/g/a#' 00 }", E(FILTER), 0 },
    { "subscribe_share_bad_filter_v5", L5, SRV, "82 { 00 01 00 L'$share/g/a#' 00 }", E(FILTER), 0 },
    /* 5.0 properties */
    { "subscribe_v5_property_length_missing", L5, SRV, "82 { 00 01 }", E(TRUNCATED), 0 },
    { "subscribe_v5_subscription_id_zero", L5, SRV, "82 { 00 01 { 0b 00 } L'a' 00 }", E(PROP_VALUE), 0 },
    { "subscribe_v5_subscription_id_twice", L5, SRV, "82 { 00 01 { 0b 01 0b 02 } L'a' 00 }", E(PROP_TWICE), 0 },
    { "subscribe_v5_property_not_allowed", L5, SRV, "82 { 00 01 { 23 00 01 } L'a' 00 }", E(PROP_PACKET), 0 },
    { "subscribe_v5_reason_string", L5, SRV, "82 { 00 01 { 1f L'x' } L'a' 00 }", E(PROP_PACKET), 0 },
};

MQTT_CASES(s_subscribe)

static const mqtt_case_t s_suback[] = {
    { "suback_v3", L311, CLI, "90 { 00 01 00 01 02 80 }", OK, 0 },
    { "suback_v31", L31, CLI, "90 { 00 01 00 01 02 }", OK, 0 },
    { "suback_v3_return_code_3", L3X, CLI, "90 { 00 01 03 }", E(REASON_CODE), 0 },
    { "suback_v3_return_code_81", L3X, CLI, "90 { 00 01 00 81 }", E(REASON_CODE), 0 },
    { "suback_v5_every_code", L5, CLI, "90 { 00 01 00 00 01 02 80 83 87 8f 91 97 9e a1 a2 }", OK, 0 },
    { "suback_v5_code_04", L5, CLI, "90 { 00 01 00 04 }", E(REASON_CODE), 0 },
    { "suback_v5_code_92", L5, CLI, "90 { 00 01 00 92 }", E(REASON_CODE), 0 },
    { "suback_v5_properties", L5, CLI, "90 { 00 01 { 1f L'partly' 26 L'k' L'v' } 00 80 }", OK, 0 },
    { "suback_v5_subscription_id", L5, CLI, "90 { 00 01 { 0b 01 } 00 }", E(PROP_PACKET), 0 },
    { "suback_no_codes", L3X, CLI, "90 { 00 01 }", E(NO_ENTRIES), 0 },
    { "suback_no_codes_v5", L5, CLI, "90 { 00 01 00 }", E(NO_ENTRIES), 0 },
    { "suback_packet_id_zero", LALL, CLI, "90 { 00 00 00 00 }", E(PACKET_ID), 0 },
    { "suback_header_flags", LALL, CLI, "92 { 00 01 00 00 }", E(HEADER_FLAGS), 0 },
    { "suback_to_server", LALL, SRV, "90 { 00 01 00 00 }", E(DIRECTION), 0 },
};

MQTT_CASES(s_suback)

static const mqtt_case_t s_unsubscribe[] = {
    { "unsubscribe_one", L3X, SRV, "a2 { 00 01 L'a/b' }", OK, 0 },
    { "unsubscribe_one_v5", L5, SRV, "a2 { 00 01 00 L'a/b' }", OK, 0 },
    { "unsubscribe_many", L3X, SRV, "a2 { 00 07 L'a/+' L'#' L'$share/g/x' L'/' }", OK, 0 },
    { "unsubscribe_v5_user_property", L5, SRV, "a2 { 00 01 { 26 L'k' L'v' } L'a' }", OK, 0 },
    { "unsubscribe_v31_dup", L31, SRV, "aa { 00 01 L'a' }", OK, 0 },
    { "unsubscribe_header_flags", LALL, SRV, "a0 { 00 01 00 L'a' }", E(HEADER_FLAGS), 0 },
    { "unsubscribe_header_dup", L4UP, SRV, "aa { 00 01 00 L'a' }", E(HEADER_FLAGS), 0 },
    { "unsubscribe_from_server", LALL, CLI, "a2 { 00 01 00 L'a' }", E(DIRECTION), 0 },
    { "unsubscribe_packet_id_zero", LALL, SRV, "a2 { 00 00 00 L'a' }", E(PACKET_ID), 0 },
    { "unsubscribe_no_filter", L3X, SRV, "a2 { 00 01 }", E(NO_ENTRIES), 0 },
    { "unsubscribe_no_filter_v5", L5, SRV, "a2 { 00 01 00 }", E(NO_ENTRIES), 0 },
    { "unsubscribe_filter_empty", L3X, SRV, "a2 { 00 01 L'' }", E(FILTER), 0 },
    { "unsubscribe_filter_empty_v5", L5, SRV, "a2 { 00 01 00 L'' }", E(FILTER), 0 },
    { "unsubscribe_filter_bad_wildcard", L3X, SRV, "a2 { 00 01 L'a/#/b' }", E(FILTER), 0 },
    { "unsubscribe_filter_bad_wildcard_v5", L5, SRV, "a2 { 00 01 00 L'a/#/b' }", E(FILTER), 0 },
    { "unsubscribe_filter_bad_utf8", L3X, SRV, "a2 { 00 01 [ ff ] }", E(UTF8), 0 },
    { "unsubscribe_filter_bad_utf8_v5", L5, SRV, "a2 { 00 01 00 [ ff ] }", E(UTF8), 0 },
    { "unsubscribe_filter_truncated", L3X, SRV, "a2 { 00 01 00 04 'a' }", E(TRUNCATED), 0 },
    { "unsubscribe_share_bad", L3X, SRV, "a2 { 00 01 L'$share//a' }", E(SHARE), 0 },
    { "unsubscribe_share_bad_v5", L5, SRV, "a2 { 00 01 00 L'$share//a' }", E(SHARE), 0 },
    { "unsubscribe_v5_subscription_id", L5, SRV, "a2 { 00 01 { 0b 01 } L'a' }", E(PROP_PACKET), 0 },
};

MQTT_CASES(s_unsubscribe)

static const mqtt_case_t s_unsuback[] = {
    { "unsuback_v3", L3X, CLI, "b0 { 00 01 }", OK, 0 },
    { "unsuback_v3_trailing", L3X, CLI, "b0 { 00 01 00 }", E(TRAILING_BYTES), 0 },
    { "unsuback_v5_every_code", L5, CLI, "b0 { 00 01 00 00 11 80 83 87 8f 91 }", OK, 0 },
    { "unsuback_v5_properties", L5, CLI, "b0 { 00 01 { 1f L'x' } 11 }", OK, 0 },
    { "unsuback_v5_no_codes", L5, CLI, "b0 { 00 01 00 }", E(NO_ENTRIES), 0 },
    { "unsuback_v5_code_01", L5, CLI, "b0 { 00 01 00 01 }", E(REASON_CODE), 0 },
    { "unsuback_v5_code_97", L5, CLI, "b0 { 00 01 00 97 }", E(REASON_CODE), 0 },
    { "unsuback_packet_id_zero", LALL, CLI, "b0 { 00 00 00 00 }", E(PACKET_ID), 0 },
    { "unsuback_header_flags", LALL, CLI, "b2 { 00 01 00 00 }", E(HEADER_FLAGS), 0 },
    { "unsuback_to_server", LALL, SRV, "b0 { 00 01 00 00 }", E(DIRECTION), 0 },
};

MQTT_CASES(s_unsuback)

START_TEST(test_subscribe_iterate)
{
    nmq_mqtt_decoder_t d;
    nmq_mqtt_packet_t p;
    nmq_mqtt_iter_t it = { 0, 0 };
    nmq_mqtt_sub_t e;
    mqtt_decode_ok(SRV, 5, "82 { 00 09 { 0b 05 } L'a/+' 2d L'$share/g/#' 1a L'b' 00 }", &p, &d);
    const nmq_mqtt_subscribe_t *s = &p.u.subscribe;
    ck_assert_uint_eq(s->packet_id, 9);
    ck_assert_uint_eq(s->count, 3);
    ck_assert_uint_eq(s->props.subscription_id, 5);
    ck_assert(nmq_mqtt_sub_next(s, &it, &e));
    ck_assert_mem_eq(e.filter.ptr, "a/+", 3);
    ck_assert(e.qos == 1 && e.no_local && e.retain_as_published && e.retain_handling == 2);
    ck_assert(nmq_mqtt_sub_next(s, &it, &e));
    ck_assert_uint_eq(e.filter.len, 10);
    ck_assert(e.qos == 2 && !e.no_local && e.retain_as_published && e.retain_handling == 1);
    ck_assert(nmq_mqtt_sub_next(s, &it, &e));
    ck_assert(e.qos == 0 && e.filter.len == 1);
    ck_assert(!nmq_mqtt_sub_next(s, &it, &e));
}
END_TEST

START_TEST(test_unsubscribe_iterate)
{
    nmq_mqtt_decoder_t d;
    nmq_mqtt_packet_t p;
    nmq_mqtt_iter_t it = { 0, 0 };
    nmq_mqtt_slice_t f;
    mqtt_decode_ok(SRV, 4, "a2 { 00 02 L'a/+' L'#' }", &p, &d);
    ck_assert_uint_eq(p.u.unsubscribe.count, 2);
    ck_assert(nmq_mqtt_unsub_next(&p.u.unsubscribe, &it, &f) && f.len == 3);
    ck_assert(nmq_mqtt_unsub_next(&p.u.unsubscribe, &it, &f) && f.len == 1 && f.ptr[0] == '#');
    ck_assert(!nmq_mqtt_unsub_next(&p.u.unsubscribe, &it, &f));
}
END_TEST

START_TEST(test_subscribe_encode_bytes)
{
    uint8_t buf[64], want[64];
    nmq_mqtt_sub_t subs[2] = { { NMQ_MQTT_SLICE("a/+"), 1, 1, 1, 2 }, { NMQ_MQTT_SLICE("#"), 2, 0, 0, 0 } };
    nmq_mqtt_subscribe_t s = { .packet_id = 3, .count = 2, .subs = subs };
    nmq_mqtt_props_clear(&s.props);
    size_t n = mqtt_spec("82 { 00 03 L'a/+' 01 L'#' 02 }", want);
    ck_assert_uint_eq(nmq_mqtt_encode_subscribe(buf, sizeof buf, 4, &s), n);
    ck_assert_mem_eq(buf, want, n);
    n = mqtt_spec("82 { 00 03 00 L'a/+' 2d L'#' 02 }", want);
    ck_assert_uint_eq(nmq_mqtt_encode_subscribe(buf, sizeof buf, 5, &s), n);
    ck_assert_mem_eq(buf, want, n);
    subs[1].retain_handling = 3;
    ck_assert_uint_eq(nmq_mqtt_encode_subscribe(buf, sizeof buf, 5, &s), 0);
    subs[1].retain_handling = 0;
    s.count = 0;
    ck_assert_uint_eq(nmq_mqtt_encode_subscribe(buf, sizeof buf, 5, &s), 0);
}
END_TEST

START_TEST(test_suback_encode_bytes)
{
    uint8_t buf[64];
    nmq_mqtt_suback_t a = { .packet_id = 3, .codes = { (const uint8_t *)"\x01\x80", 2 } };
    nmq_mqtt_props_clear(&a.props);
    ck_assert_uint_eq(nmq_mqtt_encode_suback(buf, sizeof buf, 4, NMQ_MQTT_SUBACK, &a), 6);
    ck_assert_mem_eq(buf, "\x90\x04\x00\x03\x01\x80", 6);
    ck_assert_uint_eq(nmq_mqtt_encode_suback(buf, sizeof buf, 5, NMQ_MQTT_SUBACK, &a), 7);
    ck_assert_mem_eq(buf, "\x90\x05\x00\x03\x00\x01\x80", 7);
    ck_assert_uint_eq(nmq_mqtt_encode_suback(buf, sizeof buf, 4, NMQ_MQTT_UNSUBACK, &a), 4);
    ck_assert_mem_eq(buf, "\xb0\x02\x00\x03", 4);
    ck_assert_uint_eq(nmq_mqtt_encode_suback(buf, sizeof buf, 5, NMQ_MQTT_UNSUBACK, &a), 0);  /* 0x01 */
    a.codes = (nmq_mqtt_slice_t){ (const uint8_t *)"\x11", 1 };
    ck_assert_uint_eq(nmq_mqtt_encode_suback(buf, sizeof buf, 5, NMQ_MQTT_UNSUBACK, &a), 6);
    ck_assert_mem_eq(buf, "\xb0\x04\x00\x03\x00\x11", 6);
    a.codes = (nmq_mqtt_slice_t){ (const uint8_t *)"\x83", 1 };
    ck_assert_uint_eq(nmq_mqtt_encode_suback(buf, sizeof buf, 4, NMQ_MQTT_SUBACK, &a), 0);
}
END_TEST

START_TEST(test_unsubscribe_encode_bytes)
{
    uint8_t buf[64], want[64];
    nmq_mqtt_slice_t f[2] = { NMQ_MQTT_SLICE("a/b"), NMQ_MQTT_SLICE("c") };
    nmq_mqtt_unsubscribe_t u = { .packet_id = 0x102, .count = 2, .filters = f };
    nmq_mqtt_props_clear(&u.props);
    size_t n = mqtt_spec("a2 { 01 02 L'a/b' L'c' }", want);
    ck_assert_uint_eq(nmq_mqtt_encode_unsubscribe(buf, sizeof buf, 4, &u), n);
    ck_assert_mem_eq(buf, want, n);
    u.packet_id = 0;
    ck_assert_uint_eq(nmq_mqtt_encode_unsubscribe(buf, sizeof buf, 4, &u), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mqtt_subscribe");
    s_subscribe_add(s, "subscribe");
    s_suback_add(s, "suback");
    s_unsubscribe_add(s, "unsubscribe");
    s_unsuback_add(s, "unsuback");
    TCase *tc = tcase_create("lists");
    tcase_add_test(tc, test_subscribe_iterate);
    tcase_add_test(tc, test_unsubscribe_iterate);
    tcase_add_test(tc, test_subscribe_encode_bytes);
    tcase_add_test(tc, test_suback_encode_bytes);
    tcase_add_test(tc, test_unsubscribe_encode_bytes);
    suite_add_tcase(s, tc);
    return mqtt_run_suite(s);
}
