/* check_mqtt_acks — PUBACK, PUBREC, PUBREL and PUBCOMP at 3.1, 3.1.1 and
 * 5.0.  The four share a layout, so most cases are written once with "@@"
 * for the first byte and run for each type they name; the reason codes each
 * type takes are restated here from the spec's tables (3-4 to 3-7) and every
 * byte value is tried against them. */
#include "mqtt_test.h"

#include <stdio.h>

#define PUBACK_BIT 1
#define PUBREC_BIT 2
#define PUBREL_BIT 4
#define PUBCOMP_BIT 8
#define ALL4 15

static const uint8_t s_first[4] = { 0x40, 0x50, 0x62, 0x70 };
static const char *const s_names[4] = { "puback", "pubrec", "pubrel", "pubcomp" };

typedef struct {
    const char *name;
    uint8_t types;
    mqtt_case_t c;
} s_template_t;

static const s_template_t s_templates[] = {
    { "v3", ALL4, { 0, L3X, SRV, "@@ { 00 01 }", OK, 0 } },
    { "v3_from_server", ALL4, { 0, L3X, CLI, "@@ { ff ff }", OK, 0 } },
    { "v5_short_form", ALL4, { 0, L5, SRV, "@@ { 00 01 }", OK, 0 } },
    { "v5_reason_only", ALL4, { 0, L5, CLI, "@@ { 00 01 00 }", OK, 0 } },
    { "v5_reason_and_properties", ALL4,
      { 0, L5, SRV, "@@ { 00 01 00 { 1f L'fine' 26 L'k' L'v' 26 L'k' L'w' } }", OK, 0 } },
    { "v5_empty_properties", ALL4, { 0, L5, SRV, "@@ { 00 01 00 00 }", OK, 0 } },
    { "packet_id_zero", ALL4, { 0, LALL, SRV, "@@ { 00 00 }", E(PACKET_ID), 0 } },
    { "truncated", ALL4, { 0, LALL, SRV, "@@ { 00 }", E(TRUNCATED), 0 } },
    { "empty", ALL4, { 0, LALL, CLI, "@@ 00", E(TRUNCATED), 0 } },
    { "v3_trailing", ALL4, { 0, L3X, SRV, "@@ { 00 01 00 }", E(TRAILING_BYTES), 0 } },
    { "v5_trailing", ALL4, { 0, L5, SRV, "@@ { 00 01 00 00 ff }", E(TRAILING_BYTES), 0 } },
    { "v5_property_length_overrun", ALL4, { 0, L5, SRV, "@@ { 00 01 00 05 1f 00 01 }", E(TRUNCATED), 0 } },
    { "v5_property_not_allowed", ALL4, { 0, L5, SRV, "@@ { 00 01 00 { 23 00 01 } }", E(PROP_PACKET), 0 } },
    { "v5_reason_string_twice", ALL4,
      { 0, L5, SRV, "@@ { 00 01 00 { 1f L'a' 1f L'b' } }", E(PROP_TWICE), 0 } },
    { "v5_reason_string_bad_utf8", ALL4, { 0, L5, CLI, "@@ { 00 01 00 { 1f [ ff ] } }", E(UTF8), 0 } },
    { "v5_granted_qos_code", ALL4, { 0, L5, SRV, "@@ { 00 01 01 }", E(REASON_CODE), 0 } },
    { "v5_reserved_code", ALL4, { 0, L5, CLI, "@@ { 00 01 ff }", E(REASON_CODE), 0 } },
    { "v5_no_matching_subscribers", PUBACK_BIT | PUBREC_BIT, { 0, L5, CLI, "@@ { 00 01 10 }", OK, 0 } },
    { "v5_quota_exceeded", PUBACK_BIT | PUBREC_BIT, { 0, L5, SRV, "@@ { 00 01 97 }", OK, 0 } },
    { "v5_identifier_not_found", PUBREL_BIT | PUBCOMP_BIT, { 0, L5, SRV, "@@ { 00 01 92 }", OK, 0 } },
    { "v5_no_subscribers_on_pubrel", PUBREL_BIT | PUBCOMP_BIT, { 0, L5, SRV, "@@ { 00 01 10 }", E(REASON_CODE), 0 } },
    { "header_flags", PUBACK_BIT, { 0, LALL, SRV, "41 { 00 01 }", E(HEADER_FLAGS), 0 } },
    { "header_flags", PUBREC_BIT, { 0, LALL, SRV, "52 { 00 01 }", E(HEADER_FLAGS), 0 } },
    { "header_flags", PUBREL_BIT, { 0, LALL, SRV, "60 { 00 01 }", E(HEADER_FLAGS), 0 } },
    { "header_flags_bit2", PUBREL_BIT, { 0, LALL, SRV, "66 { 00 01 }", E(HEADER_FLAGS), 0 } },
    { "header_flags", PUBCOMP_BIT, { 0, LALL, SRV, "78 { 00 01 }", E(HEADER_FLAGS), 0 } },
    { "v31_dup_on_resend", PUBREL_BIT, { 0, L31, SRV, "6a { 00 01 }", OK, 0 } },
    { "dup_on_resend", PUBREL_BIT, { 0, L4UP, SRV, "6a { 00 01 }", E(HEADER_FLAGS), 0 } },
};

/* The templates for each type they name, written out at start-up. */
#define N_ACK_CASES 128
static mqtt_case_t s_acks[N_ACK_CASES];
static char s_text[N_ACK_CASES][2][160];

static void s_expand(void)
{
    int n = 0;
    for (size_t i = 0; i < sizeof s_templates / sizeof s_templates[0]; i++) {
        for (int t = 0; t < 4; t++) {
            if (!(s_templates[i].types & (1 << t)))
                continue;
            if (n >= N_ACK_CASES)
                abort();
            const char *at = strstr(s_templates[i].c.spec, "@@");
            snprintf(s_text[n][0], sizeof s_text[n][0], "%s_%s", s_names[t], s_templates[i].name);
            if (at)
                snprintf(s_text[n][1], sizeof s_text[n][1], "%02x%s", s_first[t], at + 2);
            else
                snprintf(s_text[n][1], sizeof s_text[n][1], "%s", s_templates[i].c.spec);
            s_acks[n] = s_templates[i].c;
            s_acks[n].name = s_text[n][0];
            s_acks[n].spec = s_text[n][1];
            n++;
        }
    }
}

MQTT_CASES(s_acks)

/* Table 3-4 (PUBACK), 3-5 (PUBREC), 3-6 (PUBREL), 3-7 (PUBCOMP). */
static const char *const s_codes[4] = {
    "\x00\x10\x80\x83\x87\x90\x91\x97\x99",
    "\x00\x10\x80\x83\x87\x90\x91\x97\x99",
    "\x00\x92",
    "\x00\x92",
};
static const size_t s_ncodes[4] = { 9, 9, 2, 2 };

/* [MQTT-3.4.2-1] [MQTT-3.5.2-1] [MQTT-3.6.2-1] [MQTT-3.7.2-1] */
START_TEST(test_ack_reason_codes)
{
    int t = _i;
    for (unsigned code = 0; code < 256; code++) {
        uint8_t buf[5] = { s_first[t], 3, 0, 1, (uint8_t)code };
        bool want = memchr(s_codes[t], (int)code, s_ncodes[t]) != NULL;
        for (int role = 0; role < 2; role++) {
            nmq_mqtt_decoder_t d;
            nmq_mqtt_packet_t p;
            nmq_mqtt_decoder_init(&d, (nmq_mqtt_role_t)role, 5, 0);
            nmq_mqtt_result_t r = nmq_mqtt_decode(&d, buf, 5, &p);
            ck_assert_msg((r.status == NMQ_MQTT_OK) == want, "%s code 0x%02x", s_names[t], code);
            if (want)
                ck_assert_uint_eq(p.u.ack.reason, code);
            else
                ck_assert_uint_eq(r.err, NMQ_MQTT_E_REASON_CODE);
        }
    }
}
END_TEST

START_TEST(test_ack_fields)
{
    nmq_mqtt_decoder_t d;
    nmq_mqtt_packet_t p;
    mqtt_decode_ok(SRV, 5, "50 { 12 34 87 { 1f L'denied' } }", &p, &d);
    ck_assert_uint_eq(p.type, NMQ_MQTT_PUBREC);
    ck_assert_uint_eq(p.u.ack.packet_id, 0x1234);
    ck_assert_uint_eq(p.u.ack.reason, 0x87);
    ck_assert_mem_eq(p.u.ack.props.reason_string.ptr, "denied", 6);
    mqtt_decode_ok(CLI, 4, "70 { ab cd }", &p, &d);
    ck_assert_uint_eq(p.type, NMQ_MQTT_PUBCOMP);
    ck_assert_uint_eq(p.u.ack.packet_id, 0xabcd);
    ck_assert_uint_eq(p.u.ack.reason, 0);
}
END_TEST

/* Success without properties takes the 2-byte form in 5.0 too. */
START_TEST(test_ack_encode_bytes)
{
    uint8_t buf[64];
    nmq_mqtt_ack_t a = { .packet_id = 7, .reason = 0 };
    nmq_mqtt_props_clear(&a.props);
    for (int t = 0; t < 4; t++) {
        unsigned type = s_first[t] >> 4;
        uint8_t want[4] = { s_first[t], 2, 0, 7 };
        ck_assert_uint_eq(nmq_mqtt_encode_ack(buf, sizeof buf, 4, type, &a), 4);
        ck_assert_mem_eq(buf, want, 4);
        ck_assert_uint_eq(nmq_mqtt_encode_ack(buf, sizeof buf, 5, type, &a), 4);
        ck_assert_mem_eq(buf, want, 4);
    }
    a.reason = 0x92;
    ck_assert_uint_eq(nmq_mqtt_encode_ack(buf, sizeof buf, 5, NMQ_MQTT_PUBREL, &a), 5);
    ck_assert_mem_eq(buf, "\x62\x03\x00\x07\x92", 5);
    ck_assert_uint_eq(nmq_mqtt_encode_ack(buf, sizeof buf, 5, NMQ_MQTT_PUBACK, &a), 0);
    ck_assert_uint_eq(nmq_mqtt_encode_ack(buf, sizeof buf, 4, NMQ_MQTT_PUBREL, &a), 0);
    a.reason = 0;
    a.props.present = 1ull << NMQ_PROP_REASON_STRING;
    a.props.reason_string = NMQ_MQTT_SLICE("ok");
    ck_assert_uint_eq(nmq_mqtt_encode_ack(buf, sizeof buf, 5, NMQ_MQTT_PUBACK, &a), 11);
    ck_assert_mem_eq(buf, "\x40\x09\x00\x07\x00\x05\x1f\x00\x02ok", 11);
    a.packet_id = 0;
    ck_assert_uint_eq(nmq_mqtt_encode_ack(buf, sizeof buf, 5, NMQ_MQTT_PUBACK, &a), 0);
    a.packet_id = 1;
    ck_assert_uint_eq(nmq_mqtt_encode_ack(buf, sizeof buf, 5, NMQ_MQTT_SUBACK, &a), 0);
}
END_TEST

int main(void)
{
    s_expand();
    Suite *s = suite_create("mqtt_acks");
    s_acks_add(s, "acks");
    TCase *tc = tcase_create("acks");
    tcase_add_loop_test(tc, test_ack_reason_codes, 0, 4);
    tcase_add_test(tc, test_ack_fields);
    tcase_add_test(tc, test_ack_encode_bytes);
    suite_add_tcase(s, tc);
    return mqtt_run_suite(s);
}
