/* check_mqtt_connect — CONNECT and CONNACK at 3.1 (MQIsdp), 3.1.1 and 5.0:
 * valid packets with every field and property, every malformed form the
 * specs name, the level learnt from the CONNECT, and what the broker sends
 * back for each error (CONNACK, or a bare close in 3.x [MQTT-3.1.4-1]). */
#include "mqtt_test.h"

#define V31 "10 { L'MQIsdp' 03 "
#define V311 "10 { L'MQTT' 04 "
#define V5 "10 { L'MQTT' 05 "

static const mqtt_case_t s_connect[] = {
    /* valid */
    { "connect_v31_min", L31, SRV, V31 "02 00 3c L'cid' }", OK, 0 },
    { "connect_v311_min", L311, SRV, V311 "02 00 3c L'cid' }", OK, 0 },
    { "connect_v5_min", L5, SRV, V5 "02 00 3c 00 L'cid' }", OK, 0 },
    { "connect_v31_full", L31, SRV, V31 "ee 00 3c L'cid' L'w/t' L'bye' L'user' L'pass' }", OK, 0 },
    { "connect_v311_full", L311, SRV, V311 "ee 00 3c L'cid' L'w/t' L'bye' L'user' L'pass' }", OK, 0 },
    { "connect_v311_will_qos2", L311, SRV, V311 "16 00 3c L'cid' L'w/t' [ 00 ff ] }", OK, 0 },
    { "connect_v5_full", L5, SRV,
      V5 "ee 00 3c { 11 00 00 00 0a 21 00 10 22 00 05 27 00 01 00 00 17 01 19 01 26 L'k' L'v' 26 L'k' L'v2' "
         "15 L'SCRAM' 16 [ 01 02 ] } L'cid' { 18 00 00 00 05 01 01 02 00 00 00 3c 03 L'text/plain' 08 L'r/t' "
         "09 [ 00 01 ] 26 L'a' L'b' } L'w/t' L'bye' L'user' [ 00 ff 00 ] }",
      OK, 0 },
    { "connect_v5_password_without_username", L5, SRV, V5 "42 00 3c 00 L'cid' L'pw' }", OK, 0 },
    { "connect_v311_empty_client_id_clean", L311, SRV, V311 "02 00 00 L'' }", OK, 0 },
    { "connect_v5_empty_client_id_not_clean", L5, SRV, V5 "00 00 00 00 L'' }", OK, 0 },
    { "connect_v31_empty_client_id", L31, SRV, V31 "00 00 00 L'' }", OK, 0 },
    { "connect_v311_bridge", L311, SRV, "10 { L'MQTT' 84 02 00 3c L'bridge' }", OK, 0 },
    { "connect_v31_bridge", L31, SRV, "10 { L'MQIsdp' 83 02 00 3c L'bridge' }", OK, 0 },
    { "connect_utf8_client_id", L311, SRV, V311 "02 00 3c [ 63 c3 a9 e2 82 ac f0 9f 98 80 ] }", OK, 0 },
    { "connect_client_id_bom", L311, SRV, V311 "02 00 3c [ ef bb bf 61 ] }", OK, 0 },
    { "connect_long_client_id", L311, SRV, V311 "02 00 3c [ *300:61 ] }", OK, 0 },
    { "connect_password_binary", L311, SRV, V311 "c2 00 3c L'cid' L'u' [ 00 ff c0 80 ] }", OK, 0 },
    /* protocol name and level [MQTT-3.1.2-1] [MQTT-3.1.2-2] */
    { "connect_protocol_name", L311, SRV, "10 { L'MQTX' 04 02 00 3c L'cid' }", E(PROTOCOL_NAME), 0 },
    { "connect_protocol_name_case", L311, SRV, "10 { L'mqtt' 04 02 00 3c L'cid' }", E(PROTOCOL_NAME), 0 },
    { "connect_protocol_name_truncated", L311, SRV, "10 { 00 04 'MQ' }", E(TRUNCATED), 0 },
    { "connect_level_missing", L311, SRV, "10 { L'MQTT' }", E(TRUNCATED), 0 },
    { "connect_level_unsupported", L311, SRV, "10 { L'MQTT' 06 02 00 3c L'cid' }", E(PROTOCOL_VERSION), 0 },
    { "connect_level_zero", L311, SRV, "10 { L'MQTT' 00 02 00 3c L'cid' }", E(PROTOCOL_VERSION), 0 },
    { "connect_mqtt_level_3", L31, SRV, "10 { L'MQTT' 03 02 00 3c L'cid' }", E(PROTOCOL_VERSION), 0 },
    { "connect_mqisdp_level_4", L311, SRV, "10 { L'MQIsdp' 04 02 00 3c L'cid' }", E(PROTOCOL_VERSION), 0 },
    { "connect_v5_bridge_bit", L5, SRV, "10 { L'MQTT' 85 02 00 3c 00 L'cid' }", E(PROTOCOL_VERSION), 0 },
    /* fixed header [MQTT-2.2.2-1] [MQTT-2.1.3-1] */
    { "connect_header_flags", L311, SRV, "11 { L'MQTT' 04 02 00 3c L'cid' }", E(HEADER_FLAGS), 0 },
    /* connect flags */
    { "connect_reserved_flag_v31", L31, SRV, V31 "03 00 3c L'cid' }", E(CONNECT_RESERVED), 0 },
    { "connect_reserved_flag_v311", L311, SRV, V311 "03 00 3c L'cid' }", E(CONNECT_RESERVED), 0 },
    { "connect_reserved_flag_v5", L5, SRV, V5 "03 00 3c 00 L'cid' }", E(CONNECT_RESERVED), 0 },
    { "connect_will_qos_without_will", L311, SRV, V311 "0a 00 3c L'cid' }", E(WILL_FLAGS), 0 },
    { "connect_will_qos_without_will_v5", L5, SRV, V5 "12 00 3c 00 L'cid' }", E(WILL_FLAGS), 0 },
    { "connect_will_retain_without_will", L311, SRV, V311 "22 00 3c L'cid' }", E(WILL_FLAGS), 0 },
    { "connect_will_qos3", L311, SRV, V311 "1e 00 3c L'cid' L'w' L'x' }", E(WILL_QOS), 0 },
    { "connect_will_qos3_v5", L5, SRV, V5 "1e 00 3c 00 L'cid' 00 L'w' L'x' }", E(WILL_QOS), 0 },
    { "connect_password_without_username", L311, SRV, V311 "42 00 3c L'cid' L'pw' }", E(PASSWORD_FLAG), 0 },
    { "connect_password_without_username_v31", L31, SRV, V31 "42 00 3c L'cid' L'pw' }", E(PASSWORD_FLAG), 0 },
    /* the payload holds exactly what the flags say, in order [MQTT-3.1.3-1] */
    { "connect_will_fields_missing", L311, SRV, V311 "06 00 3c L'cid' }", E(TRUNCATED), 0 },
    { "connect_will_payload_missing", L311, SRV, V311 "06 00 3c L'cid' L'w/t' }", E(TRUNCATED), 0 },
    { "connect_will_fields_unflagged", L311, SRV, V311 "02 00 3c L'cid' L'w/t' L'bye' }", E(TRAILING_BYTES), 0 },
    { "connect_username_missing", L311, SRV, V311 "82 00 3c L'cid' }", E(TRUNCATED), 0 },
    { "connect_username_unflagged", L311, SRV, V311 "02 00 3c L'cid' L'user' }", E(TRAILING_BYTES), 0 },
    { "connect_password_missing", L311, SRV, V311 "c2 00 3c L'cid' L'user' }", E(TRUNCATED), 0 },
    { "connect_password_unflagged", L311, SRV, V311 "82 00 3c L'cid' L'user' L'pw' }", E(TRAILING_BYTES), 0 },
    { "connect_will_fields_missing_v5", L5, SRV, V5 "06 00 3c 00 L'cid' }", E(TRUNCATED), 0 },
    { "connect_will_fields_unflagged_v5", L5, SRV, V5 "02 00 3c 00 L'cid' 00 L'w/t' L'bye' }", E(TRAILING_BYTES), 0 },
    { "connect_will_retain_without_will_v5", L5, SRV, V5 "22 00 3c 00 L'cid' }", E(WILL_FLAGS), 0 },
    { "connect_username_missing_v5", L5, SRV, V5 "82 00 3c 00 L'cid' }", E(TRUNCATED), 0 },
    { "connect_username_unflagged_v5", L5, SRV, V5 "02 00 3c 00 L'cid' L'user' }", E(TRAILING_BYTES), 0 },
    { "connect_password_missing_v5", L5, SRV, V5 "42 00 3c 00 L'cid' }", E(TRUNCATED), 0 },
    { "connect_password_unflagged_v5", L5, SRV, V5 "82 00 3c 00 L'cid' L'user' L'pw' }", E(TRAILING_BYTES), 0 },
    { "connect_client_id_missing_v5", L5, SRV, V5 "02 00 3c 00 }", E(TRUNCATED), 0 },
    { "connect_keep_alive_missing", L311, SRV, V311 "02 00 }", E(TRUNCATED), 0 },
    { "connect_client_id_missing", L311, SRV, V311 "02 00 3c }", E(TRUNCATED), 0 },
    { "connect_client_id_truncated", L311, SRV, V311 "02 00 3c 00 05 'ab' }", E(TRUNCATED), 0 },
    { "connect_trailing_byte", L311, SRV, V311 "02 00 3c L'cid' 00 }", E(TRAILING_BYTES), 0 },
    /* strings [MQTT-1.5.3-1] [MQTT-1.5.3-2] [MQTT-3.1.3-4] [MQTT-3.1.3-10] [MQTT-3.1.3-11] */
    { "connect_client_id_bad_utf8", L311, SRV, V311 "02 00 3c [ 63 c3 28 ] }", E(UTF8), 0 },
    { "connect_client_id_nul", L311, SRV, V311 "02 00 3c [ 61 00 ] }", E(UTF8_NUL), 0 },
    { "connect_client_id_surrogate", L5, SRV, V5 "02 00 3c 00 [ ed a0 80 ] }", E(UTF8_SURROGATE), 0 },
    { "connect_will_topic_bad_utf8", L311, SRV, V311 "06 00 3c L'cid' [ ff ] L'x' }", E(UTF8), 0 },
    { "connect_will_topic_wildcard", L311, SRV, V311 "06 00 3c L'cid' L'a/#' L'x' }", E(TOPIC_NAME), 0 },
    { "connect_will_topic_empty", L5, SRV, V5 "06 00 3c 00 L'cid' 00 L'' L'x' }", E(TOPIC_NAME), 0 },
    { "connect_username_bad_utf8", L311, SRV, V311 "82 00 3c L'cid' [ c0 80 ] }", E(UTF8), 0 },
    { "connect_will_topic_bad_utf8_v5", L5, SRV, V5 "06 00 3c 00 L'cid' 00 [ 61 ed a0 80 ] L'x' }",
      E(UTF8_SURROGATE), 0 },
    { "connect_username_bad_utf8_v5", L5, SRV, V5 "82 00 3c 00 L'cid' [ e0 80 80 ] }", E(UTF8), 0 },
    { "connect_username_nul", L5, SRV, V5 "82 00 3c 00 L'cid' [ 00 ] }", E(UTF8_NUL), 0 },
    /* client id [MQTT-3.1.3-7] [MQTT-3.1.3-8] */
    { "connect_v311_empty_client_id_not_clean", L311, SRV, V311 "00 00 3c L'' }", E(CLIENT_ID), 0 },
    /* 5.0 properties [MQTT-2.2.2-1] and their table */
    { "connect_v5_property_length_missing", L5, SRV, V5 "02 00 3c L'cid' }", E(TRUNCATED), 0 },
    { "connect_v5_property_length_overrun", L5, SRV, V5 "02 00 3c 09 11 00 00 00 0a }", E(TRUNCATED), 0 },
    { "connect_v5_prop_not_allowed", L5, SRV, V5 "02 00 3c { 23 00 01 } L'cid' }", E(PROP_PACKET), 0 },
    { "connect_v5_prop_unknown", L5, SRV, V5 "02 00 3c { 05 00 } L'cid' }", E(PROP_UNKNOWN), 0 },
    { "connect_v5_prop_twice", L5, SRV, V5 "02 00 3c { 11 00 00 00 01 11 00 00 00 02 } L'cid' }",
      E(PROP_TWICE), 0 },
    { "connect_v5_receive_maximum_zero", L5, SRV, V5 "02 00 3c { 21 00 00 } L'cid' }", E(PROP_VALUE), 0 },
    { "connect_v5_maximum_packet_size_zero", L5, SRV, V5 "02 00 3c { 27 00 00 00 00 } L'cid' }",
      E(PROP_VALUE), 0 },
    { "connect_v5_request_problem_info_2", L5, SRV, V5 "02 00 3c { 17 02 } L'cid' }", E(PROP_VALUE), 0 },
    { "connect_v5_request_response_info_2", L5, SRV, V5 "02 00 3c { 19 02 } L'cid' }", E(PROP_VALUE), 0 },
    { "connect_v5_auth_data_without_method", L5, SRV, V5 "02 00 3c { 16 [ 01 ] } L'cid' }", E(AUTH_DATA), 0 },
    { "connect_v5_auth_method_bad_utf8", L5, SRV, V5 "02 00 3c { 15 [ ff ] } L'cid' }", E(UTF8), 0 },
    { "connect_v5_user_property_bad_utf8", L5, SRV, V5 "02 00 3c { 26 L'k' [ ed a0 80 ] } L'cid' }",
      E(UTF8_SURROGATE), 0 },
    { "connect_v5_will_delay_in_connect", L5, SRV, V5 "02 00 3c { 18 00 00 00 01 } L'cid' }", E(PROP_PACKET), 0 },
    { "connect_v5_session_expiry_in_will", L5, SRV, V5 "06 00 3c 00 L'cid' { 11 00 00 00 01 } L'w' L'x' }",
      E(PROP_PACKET), 0 },
    { "connect_v5_will_payload_format_2", L5, SRV, V5 "06 00 3c 00 L'cid' { 01 02 } L'w' L'x' }",
      E(PROP_VALUE), 0 },
    { "connect_v5_will_response_topic_wildcard", L5, SRV, V5 "06 00 3c 00 L'cid' { 08 L'r/+' } L'w' L'x' }",
      E(PROP_VALUE), 0 },
    { "connect_v5_will_content_type_bad_utf8", L5, SRV, V5 "06 00 3c 00 L'cid' { 03 [ c3 ] } L'w' L'x' }",
      E(UTF8), 0 },
    { "connect_v5_will_delay_twice", L5, SRV,
      V5 "06 00 3c 00 L'cid' { 18 00 00 00 01 18 00 00 00 01 } L'w' L'x' }", E(PROP_TWICE), 0 },
};

MQTT_CASES(s_connect)

static const mqtt_case_t s_connack[] = {
    { "connack_v3_accepted", L3X, CLI, "20 { 00 00 }", OK, 0 },
    { "connack_v311_session_present", L311, CLI, "20 { 01 00 }", OK, 0 },
    { "connack_v31_reserved_byte_ignored", L31, CLI, "20 { 01 00 }", OK, 0 },
    { "connack_v3_refused_5", L3X, CLI, "20 { 00 05 }", OK, 0 },
    { "connack_v3_return_code_6", L3X, CLI, "20 { 00 06 }", E(REASON_CODE), 0 },
    { "connack_v311_reserved_flags", L311, CLI, "20 { 02 00 }", E(CONNACK_FLAGS), 0 },
    { "connack_v311_session_present_refused", L311, CLI, "20 { 01 05 }", E(SESSION_PRESENT), 0 },
    { "connack_v3_truncated", L3X, CLI, "20 { 00 }", E(TRUNCATED), 0 },
    { "connack_v3_trailing", L3X, CLI, "20 { 00 00 00 }", E(TRAILING_BYTES), 0 },
    { "connack_header_flags", LALL, CLI, "21 { 00 00 00 }", E(HEADER_FLAGS), 0 },
    { "connack_to_server", LALL, SRV, "20 { 00 00 00 }", E(DIRECTION), 0 },
    { "connack_v5_success", L5, CLI, "20 { 00 00 00 }", OK, 0 },
    { "connack_v5_not_authorized", L5, CLI, "20 { 00 87 00 }", OK, 0 },
    { "connack_v5_every_property", L5, CLI,
      "20 { 01 00 { 11 00 00 00 3c 21 00 14 24 01 25 00 27 00 00 10 00 12 L'auto-1' 22 00 0a 1f L'why' "
      "26 L'k' L'v' 28 01 29 00 2a 01 13 00 1e 1a L'resp' 1c L'other' 15 L'm' 16 [ 01 ] } }",
      OK, 0 },
    { "connack_v5_property_length_missing", L5, CLI, "20 { 00 00 }", E(TRUNCATED), 0 },
    { "connack_v5_reserved_flags", L5, CLI, "20 { 80 00 00 }", E(CONNACK_FLAGS), 0 },
    { "connack_v5_session_present_refused", L5, CLI, "20 { 01 85 00 }", E(SESSION_PRESENT), 0 },
    { "connack_v5_reason_not_for_connack", L5, CLI, "20 { 00 10 00 }", E(REASON_CODE), 0 },
    { "connack_v5_reason_reserved", L5, CLI, "20 { 00 03 00 }", E(REASON_CODE), 0 },
    { "connack_v5_client_property", L5, CLI, "20 { 00 00 { 17 01 } }", E(PROP_PACKET), 0 },
    { "connack_v5_maximum_qos_2", L5, CLI, "20 { 00 00 { 24 02 } }", E(PROP_VALUE), 0 },
    { "connack_v5_retain_available_2", L5, CLI, "20 { 00 00 { 25 02 } }", E(PROP_VALUE), 0 },
    { "connack_v5_receive_maximum_zero", L5, CLI, "20 { 00 00 { 21 00 00 } }", E(PROP_VALUE), 0 },
    { "connack_v5_assigned_id_twice", L5, CLI, "20 { 00 00 { 12 L'a' 12 L'b' } }", E(PROP_TWICE), 0 },
};

MQTT_CASES(s_connack)

/* Fields land where they belong, and strings point into the buffer. */
START_TEST(test_connect_fields_v311)
{
    nmq_mqtt_decoder_t d;
    nmq_mqtt_packet_t p;
    mqtt_decode_ok(SRV, 0, V311 "ee 01 2c L'cid' L'w/t' L'bye' L'user' L'pass' }", &p, &d);
    const nmq_mqtt_connect_t *c = &p.u.connect;
    const uint8_t *buf = mqtt_buf();
    ck_assert_uint_eq(p.type, NMQ_MQTT_CONNECT);
    ck_assert_uint_eq(c->level, 4);
    ck_assert_uint_eq(d.level, 4);
    ck_assert(d.connected);
    ck_assert(c->clean_start && c->will && c->will_retain && c->has_username && c->has_password);
    ck_assert_uint_eq(c->will_qos, 1);
    ck_assert_uint_eq(c->keep_alive, 300);
    ck_assert_ptr_eq(c->client_id.ptr, buf + 14);
    ck_assert_uint_eq(c->client_id.len, 3);
    ck_assert_mem_eq(c->will_topic.ptr, "w/t", 3);
    ck_assert_mem_eq(c->will_payload.ptr, "bye", 3);
    ck_assert_mem_eq(c->username.ptr, "user", 4);
    ck_assert_mem_eq(c->password.ptr, "pass", 4);
    ck_assert(!c->props.present && !c->props.n_user);
}
END_TEST

START_TEST(test_connect_fields_v5)
{
    nmq_mqtt_decoder_t d;
    nmq_mqtt_packet_t p;
    nmq_mqtt_iter_t it = { 0, 0 };
    nmq_mqtt_pair_t kv;
    mqtt_decode_ok(SRV, 0, s_connect[6].spec, &p, &d);
    const nmq_mqtt_connect_t *c = &p.u.connect;
    ck_assert_uint_eq(d.level, 5);
    ck_assert(nmq_mqtt_props_has(&c->props, NMQ_PROP_SESSION_EXPIRY));
    ck_assert_uint_eq(c->props.session_expiry, 10);
    ck_assert_uint_eq(c->props.receive_maximum, 16);
    ck_assert_uint_eq(c->props.topic_alias_maximum, 5);
    ck_assert_uint_eq(c->props.maximum_packet_size, 65536);
    ck_assert_uint_eq(c->props.request_problem_info, 1);
    ck_assert_mem_eq(c->props.auth_method.ptr, "SCRAM", 5);
    ck_assert_uint_eq(c->props.auth_data.len, 2);
    ck_assert_uint_eq(c->props.n_user, 2);
    ck_assert(nmq_mqtt_user_next(&c->props, &it, &kv));
    ck_assert_mem_eq(kv.value.ptr, "v", 1);
    ck_assert(nmq_mqtt_user_next(&c->props, &it, &kv));
    ck_assert_uint_eq(kv.value.len, 2);
    ck_assert(!nmq_mqtt_user_next(&c->props, &it, &kv));
    ck_assert_uint_eq(c->will_props.will_delay, 5);
    ck_assert_uint_eq(c->will_props.payload_format, 1);
    ck_assert_uint_eq(c->will_props.message_expiry, 60);
    ck_assert_mem_eq(c->will_props.response_topic.ptr, "r/t", 3);
    ck_assert_uint_eq(c->will_props.n_user, 1);
    ck_assert_uint_eq(c->password.len, 3);
}
END_TEST

/* The BOM is a character like any other [MQTT-1.5.3-3] [MQTT-1.5.4-3]. */
START_TEST(test_connect_bom_not_stripped)
{
    nmq_mqtt_decoder_t d;
    nmq_mqtt_packet_t p;
    mqtt_decode_ok(SRV, 0, V311 "02 00 3c [ ef bb bf 61 ] }", &p, &d);
    ck_assert_uint_eq(p.u.connect.client_id.len, 4);
    ck_assert_mem_eq(p.u.connect.client_id.ptr, "\xef\xbb\xbf" "a", 4);
}
END_TEST

START_TEST(test_connect_bridge_flag)
{
    nmq_mqtt_decoder_t d;
    nmq_mqtt_packet_t p;
    mqtt_decode_ok(SRV, 0, "10 { L'MQTT' 84 02 00 3c L'bridge' }", &p, &d);
    ck_assert_uint_eq(p.u.connect.level, 4);
    ck_assert_uint_eq(p.u.connect.bridge, 1);
    ck_assert_uint_eq(d.level, 4);
}
END_TEST

/* The level comes from the CONNECT, and the rest of the connection is read
 * at it: the 5.0-only AUTH is a reserved type after a 3.1.1 CONNECT. */
START_TEST(test_connect_learns_level)
{
    static const char *first[] = { V31 "02 00 3c L'c' }", V311 "02 00 3c L'c' }", V5 "02 00 3c 00 L'c' }" };
    static const unsigned want[] = { 3, 4, 5 };
    uint8_t buf[64];
    nmq_mqtt_packet_t p;
    for (int i = 0; i < 3; i++) {
        nmq_mqtt_decoder_t d;
        size_t n = mqtt_spec(first[i], buf);
        nmq_mqtt_decoder_init(&d, NMQ_MQTT_ROLE_SERVER, 0, 0);
        ck_assert_uint_eq(d.level, 0);
        ck_assert_uint_eq(nmq_mqtt_decode(&d, buf, n, &p).status, NMQ_MQTT_OK);
        ck_assert_uint_eq(d.level, want[i]);
        n = mqtt_spec("f0 { 18 00 }", buf);
        nmq_mqtt_result_t r = nmq_mqtt_decode(&d, buf, n, &p);
        ck_assert_uint_eq(r.status, want[i] == 5 ? NMQ_MQTT_OK : NMQ_MQTT_ERROR);
        if (want[i] != 5)
            ck_assert_uint_eq(r.err, NMQ_MQTT_E_PACKET_TYPE);
    }
}
END_TEST

/* [MQTT-3.1.0-1] first packet CONNECT; [MQTT-3.1.0-2] only one. */
START_TEST(test_connect_first_and_only)
{
    uint8_t buf[64];
    nmq_mqtt_packet_t p;
    nmq_mqtt_decoder_t d;
    size_t n = mqtt_spec("c0 00", buf);
    nmq_mqtt_decoder_init(&d, NMQ_MQTT_ROLE_SERVER, 0, 0);
    ck_assert_uint_eq(nmq_mqtt_decode(&d, buf, n, &p).err, NMQ_MQTT_E_NOT_CONNECT);
    ck_assert_uint_eq(nmq_mqtt_outcome(&d).send, 0);
    n = mqtt_spec(V311 "02 00 3c L'c' }", buf);
    nmq_mqtt_decoder_init(&d, NMQ_MQTT_ROLE_SERVER, 0, 0);
    ck_assert_uint_eq(nmq_mqtt_decode(&d, buf, n, &p).status, NMQ_MQTT_OK);
    ck_assert_uint_eq(nmq_mqtt_decode(&d, buf, n, &p).err, NMQ_MQTT_E_SECOND_CONNECT);
    ck_assert_uint_eq(nmq_mqtt_outcome(&d).send, 0);
    n = mqtt_spec(V5 "02 00 3c 00 L'c' }", buf);
    nmq_mqtt_decoder_init(&d, NMQ_MQTT_ROLE_SERVER, 0, 0);
    ck_assert_uint_eq(nmq_mqtt_decode(&d, buf, n, &p).status, NMQ_MQTT_OK);
    ck_assert_uint_eq(nmq_mqtt_decode(&d, buf, n, &p).err, NMQ_MQTT_E_SECOND_CONNECT);
    nmq_mqtt_outcome_t o = nmq_mqtt_outcome(&d);
    ck_assert(o.send == NMQ_MQTT_DISCONNECT && o.reason == 0x82);
}
END_TEST

/* What a server sends for a bad CONNECT. */
typedef struct {
    const char *spec;
    uint8_t send, level, reason;
} s_outcome_t;

static const s_outcome_t s_outcomes[] = {
    { "10 { L'MQTT' 06 02 00 3c L'c' }", NMQ_MQTT_CONNACK, 4, 0x01 },    /* [MQTT-3.1.2-2] */
    { "10 { L'MQIsdp' 04 02 00 3c L'c' }", NMQ_MQTT_CONNACK, 4, 0x01 },
    { V311 "00 00 3c L'' }", NMQ_MQTT_CONNACK, 4, 0x02 },                /* [MQTT-3.1.3-8] */
    { "10 { L'HTTP' 04 02 00 3c L'c' }", 0, 0, 0 },                       /* [MQTT-3.1.2-1] */
    { V311 "03 00 3c L'c' }", 0, 4, 0 },                                  /* [MQTT-3.1.4-1] */
    { V31 "1e 00 3c L'c' L'w' L'x' }", 0, 3, 0 },
    { V311 "02 00 3c [ ff ] }", 0, 4, 0 },
    { V5 "03 00 3c 00 L'c' }", NMQ_MQTT_CONNACK, 5, 0x81 },
    { V5 "02 00 3c { 11 00 00 00 01 11 00 00 00 02 } L'c' }", NMQ_MQTT_CONNACK, 5, 0x82 },
    { V5 "06 00 3c 00 L'c' 00 L'w/#' L'x' }", NMQ_MQTT_CONNACK, 5, 0x90 },
    { V5 "02 00 3c 00 [ 00 ] }", NMQ_MQTT_CONNACK, 5, 0x81 },
};

START_TEST(test_connect_outcome)
{
    const s_outcome_t *o = &s_outcomes[_i];
    nmq_mqtt_decoder_t d;
    ck_assert_int_ne(mqtt_decode_err(SRV, 0, o->spec, &d), OK);
    nmq_mqtt_outcome_t got = nmq_mqtt_outcome(&d);
    ck_assert_msg(got.send == o->send && got.reason == o->reason && (!o->send || got.level == o->level),
                  "%s: send %u level %u reason 0x%02x", o->spec, got.send, got.level, got.reason);
}
END_TEST

/* The encoder writes what the specs' examples show. */
START_TEST(test_connect_encode_bytes)
{
    uint8_t buf[128], want[128];
    nmq_mqtt_connect_t c;
    memset(&c, 0, sizeof c);
    nmq_mqtt_props_clear(&c.props);
    nmq_mqtt_props_clear(&c.will_props);
    c.clean_start = 1;
    c.keep_alive = 60;
    c.client_id = NMQ_MQTT_SLICE("cid");
    size_t n = mqtt_spec(V311 "02 00 3c L'cid' }", want);
    ck_assert_uint_eq(nmq_mqtt_encode_connect(buf, sizeof buf, 4, &c), n);
    ck_assert_mem_eq(buf, want, n);
    n = mqtt_spec(V31 "02 00 3c L'cid' }", want);
    ck_assert_uint_eq(nmq_mqtt_encode_connect(buf, sizeof buf, 3, &c), n);
    ck_assert_mem_eq(buf, want, n);
    c.props.present = 1ull << NMQ_PROP_SESSION_EXPIRY;
    c.props.session_expiry = 10;
    n = mqtt_spec(V5 "02 00 3c { 11 00 00 00 0a } L'cid' }", want);
    ck_assert_uint_eq(nmq_mqtt_encode_connect(buf, sizeof buf, 5, &c), n);
    ck_assert_mem_eq(buf, want, n);
    /* what the decoder refuses, the encoder refuses */
    c.props.present = 1ull << NMQ_PROP_TOPIC_ALIAS;
    c.props.topic_alias = 1;
    ck_assert_uint_eq(nmq_mqtt_encode_connect(buf, sizeof buf, 5, &c), 0);
    nmq_mqtt_props_clear(&c.props);
    c.will_qos = 3;
    c.will = 1;
    ck_assert_uint_eq(nmq_mqtt_encode_connect(buf, sizeof buf, 4, &c), 0);
    c.will_qos = 0;
    c.will = 0;
    c.has_password = 1;
    ck_assert_uint_eq(nmq_mqtt_encode_connect(buf, sizeof buf, 4, &c), 0);
    ck_assert_uint_gt(nmq_mqtt_encode_connect(buf, sizeof buf, 5, &c), 0);
    ck_assert_uint_eq(nmq_mqtt_encode_connect(buf, sizeof buf, 6, &c), 0);
}
END_TEST

START_TEST(test_connack_encode_bytes)
{
    uint8_t buf[64];
    nmq_mqtt_connack_t a;
    nmq_mqtt_props_clear(&a.props);
    a.session_present = 1;
    a.reason = 0;
    ck_assert_uint_eq(nmq_mqtt_encode_connack(buf, sizeof buf, 4, &a), 4);
    ck_assert_mem_eq(buf, "\x20\x02\x01\x00", 4);
    ck_assert_uint_eq(nmq_mqtt_encode_connack(buf, sizeof buf, 3, &a), 4);
    ck_assert_mem_eq(buf, "\x20\x02\x00\x00", 4);
    ck_assert_uint_eq(nmq_mqtt_encode_connack(buf, sizeof buf, 5, &a), 5);
    ck_assert_mem_eq(buf, "\x20\x03\x01\x00\x00", 5);
    a.session_present = 0;
    a.props.present = 1ull << NMQ_PROP_MAXIMUM_QOS;
    a.props.maximum_qos = 1;
    ck_assert_uint_eq(nmq_mqtt_encode_connack(buf, sizeof buf, 5, &a), 7);
    ck_assert_mem_eq(buf, "\x20\x05\x00\x00\x02\x24\x01", 7);
    a.reason = 0x87;
    a.session_present = 1;                  /* [MQTT-3.2.2-6] refused */
    ck_assert_uint_eq(nmq_mqtt_encode_connack(buf, sizeof buf, 5, &a), 0);
    a.session_present = 0;
    a.reason = 0x10;                        /* not a CONNACK reason code */
    ck_assert_uint_eq(nmq_mqtt_encode_connack(buf, sizeof buf, 5, &a), 0);
    a.reason = 6;                           /* not a 3.1.1 return code */
    ck_assert_uint_eq(nmq_mqtt_encode_connack(buf, sizeof buf, 4, &a), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mqtt_connect");
    s_connect_add(s, "connect");
    s_connack_add(s, "connack");
    TCase *tc = tcase_create("connect");
    tcase_add_test(tc, test_connect_fields_v311);
    tcase_add_test(tc, test_connect_fields_v5);
    tcase_add_test(tc, test_connect_bom_not_stripped);
    tcase_add_test(tc, test_connect_bridge_flag);
    tcase_add_test(tc, test_connect_learns_level);
    tcase_add_test(tc, test_connect_first_and_only);
    tcase_add_loop_test(tc, test_connect_outcome, 0, MQTT_N(s_outcomes));
    tcase_add_test(tc, test_connect_encode_bytes);
    suite_add_tcase(s, tc);
    tc = tcase_create("connack");
    tcase_add_test(tc, test_connack_encode_bytes);
    suite_add_tcase(s, tc);
    return mqtt_run_suite(s);
}
