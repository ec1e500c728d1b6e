/* check_mqtt_misc — PINGREQ, PINGRESP, DISCONNECT and AUTH at 3.1, 3.1.1 and
 * 5.0; the rules of the fixed header every packet shares (reserved types,
 * remaining length, maximum packet size); and the table that turns a decode
 * error into what the broker sends. */
#include "mqtt_test.h"

static const mqtt_case_t s_ping[] = {
    { "pingreq", LALL, SRV, "c0 00", OK, 0 },
    { "pingreq_header_flags", LALL, SRV, "c1 00", E(HEADER_FLAGS), 0 },
    { "pingreq_trailing", LALL, SRV, "c0 { 00 }", E(TRAILING_BYTES), 0 },
    { "pingreq_from_server", LALL, CLI, "c0 00", E(DIRECTION), 0 },
    { "pingresp", LALL, CLI, "d0 00", OK, 0 },
    { "pingresp_header_flags", LALL, CLI, "d8 00", E(HEADER_FLAGS), 0 },
    { "pingresp_trailing", LALL, CLI, "d0 { 00 00 }", E(TRAILING_BYTES), 0 },
    { "pingresp_to_server", LALL, SRV, "d0 00", E(DIRECTION), 0 },
};

MQTT_CASES(s_ping)

static const mqtt_case_t s_disconnect[] = {
    { "disconnect", LALL, SRV, "e0 00", OK, 0 },
    { "disconnect_header_flags", LALL, SRV, "e1 00", E(HEADER_FLAGS), 0 },
    { "disconnect_header_flags_8", LALL, SRV, "e8 00", E(HEADER_FLAGS), 0 },
    { "disconnect_v3_trailing", L3X, SRV, "e0 { 00 }", E(TRAILING_BYTES), 0 },
    { "disconnect_v3_from_server", L3X, CLI, "e0 00", E(DIRECTION), 0 },
    { "disconnect_v5_from_server", L5, CLI, "e0 { 8e }", OK, 0 },
    { "disconnect_v5_reason_only", L5, SRV, "e0 { 00 }", OK, 0 },
    { "disconnect_v5_with_will", L5, SRV, "e0 { 04 }", OK, 0 },
    { "disconnect_v5_with_will_from_server", L5, CLI, "e0 { 04 }", E(REASON_CODE), 0 },
    { "disconnect_v5_taken_over_from_client", L5, SRV, "e0 { 8e }", E(REASON_CODE), 0 },
    { "disconnect_v5_code_01", L5, SRV, "e0 { 01 }", E(REASON_CODE), 0 },
    { "disconnect_v5_properties", L5, SRV, "e0 { 00 { 11 00 00 00 05 1f L'bye' 26 L'k' L'v' } }", OK, 0 },
    { "disconnect_v5_server_reference", L5, CLI, "e0 { 9c { 1c L'other:1883' } }", OK, 0 },
    { "disconnect_v5_session_expiry_from_server", L5, CLI, "e0 { 8b { 11 00 00 00 05 } }", E(PROP_SENDER), 0 },
    { "disconnect_v5_property_not_allowed", L5, SRV, "e0 { 00 { 23 00 01 } }", E(PROP_PACKET), 0 },
    { "disconnect_v5_session_expiry_twice", L5, SRV, "e0 { 00 { 11 00 00 00 05 11 00 00 00 05 } }",
      E(PROP_TWICE), 0 },
    { "disconnect_v5_trailing", L5, SRV, "e0 { 00 00 00 }", E(TRAILING_BYTES), 0 },
    { "disconnect_v5_property_overrun", L5, SRV, "e0 { 00 03 11 00 }", E(TRUNCATED), 0 },
};

MQTT_CASES(s_disconnect)

static const mqtt_case_t s_auth[] = {
    { "auth_continue", L5, SRV, "f0 { 18 { 15 L'SCRAM-SHA-1' 16 [ 01 02 03 ] } }", OK, 0 },
    { "auth_continue_from_server", L5, CLI, "f0 { 18 { 15 L'SCRAM-SHA-1' 16 [ 01 ] 1f L'more' } }", OK, 0 },
    { "auth_reauthenticate", L5, SRV, "f0 { 19 { 15 L'SCRAM-SHA-1' } }", OK, 0 },
    { "auth_reauthenticate_from_server", L5, CLI, "f0 { 19 { 15 L'm' } }", E(REASON_CODE), 0 },
    { "auth_success_from_server", L5, CLI, "f0 00", OK, 0 },
    { "auth_success_from_client", L5, SRV, "f0 00", E(REASON_CODE), 0 },
    { "auth_code_80", L5, SRV, "f0 { 80 }", E(REASON_CODE), 0 },
    { "auth_header_flags", L5, SRV, "f1 { 18 00 }", E(HEADER_FLAGS), 0 },
    { "auth_data_without_method", L5, SRV, "f0 { 18 { 16 [ 01 ] } }", E(AUTH_DATA), 0 },
    { "auth_method_twice", L5, SRV, "f0 { 18 { 15 L'a' 15 L'a' } }", E(PROP_TWICE), 0 },
    { "auth_property_not_allowed", L5, SRV, "f0 { 18 { 11 00 00 00 01 } }", E(PROP_PACKET), 0 },
    { "auth_method_bad_utf8", L5, SRV, "f0 { 18 { 15 [ c3 ] } }", E(UTF8), 0 },
    { "auth_v3_reserved_type", L3X, SRV, "f0 00", E(PACKET_TYPE), 0 },
};

MQTT_CASES(s_auth)

/* The fixed header, whatever the type [MQTT-1.5.5-1] [MQTT-2.2.2-2] [MQTT-2.1.3-1]. */
static const mqtt_case_t s_header[] = {
    { "reserved_type_0", LALL, SRV, "00 00", E(PACKET_TYPE), 0 },
    { "reserved_type_0_from_server", LALL, CLI, "00 00", E(PACKET_TYPE), 0 },
    { "remaining_length_5_bytes", LALL, SRV, "30 ff ff ff ff 7f", E(REMAINING_LENGTH), 0 },
    { "remaining_length_4_continued", LALL, SRV, "30 80 80 80 80", E(REMAINING_LENGTH), 0 },
    { "remaining_length_not_minimal_2", LALL, SRV, "c0 80 00", E(REMAINING_LENGTH), 0 },
    { "remaining_length_not_minimal_4", LALL, SRV, "e0 80 80 80 00", E(REMAINING_LENGTH), 0 },
    { "remaining_length_over_max_packet", LALL, SRV, "30 { L'a' *200:61 }", E(TOO_LARGE), 100 },
    { "remaining_length_at_max_packet", L3X, SRV, "30 { L'a' *95:61 }", OK, 100 },
    { "remaining_length_one_over", L3X, SRV, "30 { L'a' *96:61 }", E(TOO_LARGE), 100 },
    { "remaining_length_huge_header_only", LALL, SRV, "30 ff ff ff 7f", E(TOO_LARGE), 1000000 },
    { "remaining_length_short", LALL, SRV, "c0 { 00 }", E(TRAILING_BYTES), 0 },
};

MQTT_CASES(s_header)

/* The largest remaining length waits for its body instead of failing. */
START_TEST(test_header_max_remaining_waits)
{
    uint8_t b[5] = { 0x30, 0xff, 0xff, 0xff, 0x7f };
    nmq_mqtt_decoder_t d;
    nmq_mqtt_packet_t p;
    nmq_mqtt_decoder_init(&d, NMQ_MQTT_ROLE_SERVER, 4, 0);
    nmq_mqtt_result_t r = nmq_mqtt_decode(&d, b, 5, &p);
    ck_assert_uint_eq(r.status, NMQ_MQTT_NEED_MORE);
    ck_assert_uint_eq(r.size, NMQ_MQTT_MAX_PACKET);
}
END_TEST

START_TEST(test_disconnect_fields)
{
    nmq_mqtt_decoder_t d;
    nmq_mqtt_packet_t p;
    mqtt_decode_ok(CLI, 5, "e0 { 9c { 1c L'other:1883' } }", &p, &d);
    ck_assert_uint_eq(p.u.disconnect.reason, 0x9c);
    ck_assert_mem_eq(p.u.disconnect.props.server_reference.ptr, "other:1883", 10);
    mqtt_decode_ok(SRV, 5, "e0 00", &p, &d);
    ck_assert_uint_eq(p.u.disconnect.reason, 0);
    ck_assert(nmq_mqtt_props_empty(&p.u.disconnect.props));
    mqtt_decode_ok(SRV, 5, "f0 { 18 { 15 L'SCRAM' 16 [ 01 02 03 ] } }", &p, &d);
    ck_assert_uint_eq(p.type, NMQ_MQTT_AUTH);
    ck_assert_uint_eq(p.u.disconnect.reason, 0x18);
    ck_assert_uint_eq(p.u.disconnect.props.auth_data.len, 3);
}
END_TEST

START_TEST(test_misc_encode_bytes)
{
    uint8_t buf[64];
    nmq_mqtt_disconnect_t x = { .reason = 0 };
    nmq_mqtt_props_clear(&x.props);
    ck_assert_uint_eq(nmq_mqtt_encode_ping(buf, sizeof buf, NMQ_MQTT_PINGREQ), 2);
    ck_assert_mem_eq(buf, "\xc0\x00", 2);
    ck_assert_uint_eq(nmq_mqtt_encode_ping(buf, sizeof buf, NMQ_MQTT_PINGRESP), 2);
    ck_assert_mem_eq(buf, "\xd0\x00", 2);
    ck_assert_uint_eq(nmq_mqtt_encode_ping(buf, sizeof buf, NMQ_MQTT_PUBACK), 0);
    ck_assert_uint_eq(nmq_mqtt_encode_disconnect(buf, sizeof buf, 4, NMQ_MQTT_DISCONNECT, &x), 2);
    ck_assert_mem_eq(buf, "\xe0\x00", 2);
    ck_assert_uint_eq(nmq_mqtt_encode_disconnect(buf, sizeof buf, 5, NMQ_MQTT_DISCONNECT, &x), 2);
    x.reason = 0x8e;
    ck_assert_uint_eq(nmq_mqtt_encode_disconnect(buf, sizeof buf, 5, NMQ_MQTT_DISCONNECT, &x), 3);
    ck_assert_mem_eq(buf, "\xe0\x01\x8e", 3);
    x.props.present = 1ull << NMQ_PROP_SESSION_EXPIRY;   /* never from a server, but from a client */
    x.props.session_expiry = 1;
    ck_assert_uint_eq(nmq_mqtt_encode_disconnect(buf, sizeof buf, 5, NMQ_MQTT_DISCONNECT, &x), 9);
    ck_assert_uint_eq(nmq_mqtt_encode_disconnect(buf, sizeof buf, 4, NMQ_MQTT_DISCONNECT, &x), 0);
    x.reason = 0x18;
    nmq_mqtt_props_clear(&x.props);
    ck_assert_uint_eq(nmq_mqtt_encode_disconnect(buf, sizeof buf, 5, NMQ_MQTT_AUTH, &x), 3);
    ck_assert_mem_eq(buf, "\xf0\x01\x18", 3);
    ck_assert_uint_eq(nmq_mqtt_encode_disconnect(buf, sizeof buf, 4, NMQ_MQTT_AUTH, &x), 0);
    ck_assert_uint_eq(nmq_mqtt_encode_disconnect(buf, sizeof buf, 5, NMQ_MQTT_PINGREQ, &x), 0);
}
END_TEST

/* --- outcomes ------------------------------------------------------------------ */

typedef struct {
    const char *name;
    unsigned role, level;       /* level 0: the CONNECT is decoded first */
    const char *spec;
    uint8_t send, reason;
} s_outcome_t;

static const s_outcome_t s_outcomes[] = {
    { "v311_malformed_closes", SRV, 4, "36 { L'a' 00 01 }", 0, 0 },
    { "v31_malformed_closes", SRV, 3, "30 { L'a/#' }", 0, 0 },
    { "v311_too_large_closes", SRV, 4, "30 ff ff ff 7f", 0, 0 },
    { "v5_malformed_disconnects", SRV, 5, "36 { L'a' 00 01 00 }", NMQ_MQTT_DISCONNECT, 0x81 },
    { "v5_protocol_error_disconnects", SRV, 5, "32 { L'a' 00 00 00 }", NMQ_MQTT_DISCONNECT, 0x82 },
    { "v5_topic_name_invalid", SRV, 5, "30 { L'a/+' 00 }", NMQ_MQTT_DISCONNECT, 0x90 },
    { "v5_topic_alias_invalid", SRV, 5, "30 { L'a' { 23 00 00 } }", NMQ_MQTT_DISCONNECT, 0x94 },
    { "v5_too_large", SRV, 5, "30 ff ff ff 7f", NMQ_MQTT_DISCONNECT, 0x95 },
    { "v5_client_side_disconnects", CLI, 5, "20 { 00 10 00 }", NMQ_MQTT_DISCONNECT, 0x82 },
    { "v311_client_side_closes", CLI, 4, "20 { 00 09 }", 0, 0 },
    { "v5_connect_too_large_closes", SRV, 0, "10 ff ff ff 7f", 0, 0 },
    { "first_packet_not_connect", SRV, 0, "30 { L'a' }", 0, 0 },
};

START_TEST(test_outcome)
{
    const s_outcome_t *o = &s_outcomes[_i];
    uint8_t *buf = mqtt_buf();
    size_t n = mqtt_spec(o->spec, buf);
    nmq_mqtt_decoder_t d;
    nmq_mqtt_packet_t p;
    nmq_mqtt_decoder_init(&d, (nmq_mqtt_role_t)o->role, o->level, 1000000);
    ck_assert_uint_eq(nmq_mqtt_decode(&d, buf, n, &p).status, NMQ_MQTT_ERROR);
    nmq_mqtt_outcome_t got = nmq_mqtt_outcome(&d);
    ck_assert_msg(got.send == o->send && got.reason == o->reason, "%s: send %u reason 0x%02x", o->name, got.send,
                  got.reason);
    if (got.send)
        ck_assert_uint_eq(got.level, 5);
}
END_TEST

/* Every error has a text and a reason code that a CONNACK or DISCONNECT
 * may carry; only the two 3.1.1 CONNACK cases have a return code. */
START_TEST(test_error_table)
{
    for (int e = 1; e < NMQ_MQTT_E_COUNT; e++) {
        uint8_t rc = nmq_mqtt_err_reason((nmq_mqtt_err_t)e);
        ck_assert_msg(strlen(nmq_mqtt_err_str((nmq_mqtt_err_t)e)) > 10, "error %d", e);
        ck_assert_msg(rc >= 0x80, "error %d: 0x%02x", e, rc);
        ck_assert_msg(nmq_mqtt_reason_ok(5, NMQ_MQTT_ROLE_CLIENT, NMQ_MQTT_DISCONNECT, rc) ||
                          nmq_mqtt_reason_ok(5, NMQ_MQTT_ROLE_CLIENT, NMQ_MQTT_CONNACK, rc),
                      "error %d: 0x%02x is not a reason a server sends", e, rc);
        ck_assert_str_ne(nmq_mqtt_reason_name(rc), "reserved reason code");
    }
    ck_assert_str_eq(nmq_mqtt_err_str(NMQ_MQTT_E_COUNT), "unknown error");
    ck_assert_str_eq(nmq_mqtt_type_name(NMQ_MQTT_AUTH), "AUTH");
    ck_assert_str_eq(nmq_mqtt_type_name(99), "RESERVED");
    ck_assert_str_eq(nmq_mqtt_reason_name(0x03), "reserved reason code");
}
END_TEST

/* An error sticks: the connection is over. */
START_TEST(test_error_sticks)
{
    uint8_t bad[2] = { 0x00, 0x00 }, good[2] = { 0xc0, 0x00 };
    nmq_mqtt_decoder_t d;
    nmq_mqtt_packet_t p;
    nmq_mqtt_decoder_init(&d, NMQ_MQTT_ROLE_SERVER, 4, 0);
    ck_assert_uint_eq(nmq_mqtt_decode(&d, bad, 2, &p).err, NMQ_MQTT_E_PACKET_TYPE);
    nmq_mqtt_result_t r = nmq_mqtt_decode(&d, good, 2, &p);
    ck_assert_uint_eq(r.status, NMQ_MQTT_ERROR);
    ck_assert_uint_eq(r.err, NMQ_MQTT_E_PACKET_TYPE);
    ck_assert_uint_eq(d.err_type, 0);
    nmq_mqtt_decoder_init(&d, NMQ_MQTT_ROLE_SERVER, 4, 0);
    ck_assert_uint_eq(nmq_mqtt_decode(&d, good, 2, &p).status, NMQ_MQTT_OK);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mqtt_misc");
    s_ping_add(s, "ping");
    s_disconnect_add(s, "disconnect");
    s_auth_add(s, "auth");
    s_header_add(s, "fixed header");
    TCase *tc = tcase_create("misc");
    tcase_add_test(tc, test_header_max_remaining_waits);
    tcase_add_test(tc, test_disconnect_fields);
    tcase_add_test(tc, test_misc_encode_bytes);
    tcase_add_loop_test(tc, test_outcome, 0, MQTT_N(s_outcomes));
    tcase_add_test(tc, test_error_table);
    tcase_add_test(tc, test_error_sticks);
    suite_add_tcase(s, tc);
    return mqtt_run_suite(s);
}
