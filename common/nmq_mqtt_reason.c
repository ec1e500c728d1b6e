/* nmq_mqtt_reason — reason codes, decoder errors, and the one place where a
 * protocol error becomes what the broker sends before it closes.
 *
 * The reason code table is section 2.4 of the 5.0 spec with each packet's
 * "sent by" column: a code is valid on a packet only from the side the spec
 * lets send it there ([MQTT-3.2.2-8], [MQTT-3.4.2-1], ... [MQTT-3.15.2-1]).
 * The error table (NMQ_MQTT_ERRORS in nmq_mqtt.h) carries, for every way a
 * packet can be wrong, the 5.0 reason code and the 3.x CONNACK return code if
 * 3.1.1 has one for it; nmq_mqtt_outcome() adds the state (level known, CONNECT
 * done, which end we are) and decides between CONNACK, DISCONNECT and a bare
 * close, as 3.1.1 [MQTT-3.1.4-1] [MQTT-4.8.0-1] and 5.0 section 4.13 say.
 */
#include "nmq_mqtt.h"

#define P(type) NMQ_MQTT_BIT(NMQ_MQTT_##type)
#define CA P(CONNACK)
#define PA (P(PUBACK) | P(PUBREC))
#define PR (P(PUBREL) | P(PUBCOMP))
#define SA P(SUBACK)
#define UA P(UNSUBACK)
#define DI P(DISCONNECT)
#define AU P(AUTH)

typedef struct {
    const char *name;
    uint16_t by_client;         /* packets a client may put it in */
    uint16_t by_server;
} s_reason_t;

static const s_reason_t s_reasons[256] = {
    [0x00] = { "Success", PA | PR | DI, CA | PA | PR | SA | UA | DI | AU },
    [0x01] = { "Granted QoS 1", 0, SA },
    [0x02] = { "Granted QoS 2", 0, SA },
    [0x04] = { "Disconnect with Will Message", DI, 0 },
    [0x10] = { "No matching subscribers", PA, PA },
    [0x11] = { "No subscription existed", 0, UA },
    [0x18] = { "Continue authentication", AU, AU },
    [0x19] = { "Re-authenticate", AU, 0 },
    [0x80] = { "Unspecified error", PA | DI, CA | PA | SA | UA | DI },
    [0x81] = { "Malformed Packet", DI, CA | DI },
    [0x82] = { "Protocol Error", DI, CA | DI },
    [0x83] = { "Implementation specific error", PA | DI, CA | PA | SA | UA | DI },
    [0x84] = { "Unsupported Protocol Version", 0, CA },
    [0x85] = { "Client Identifier not valid", 0, CA },
    [0x86] = { "Bad User Name or Password", 0, CA },
    [0x87] = { "Not authorized", PA, CA | PA | SA | UA | DI },
    [0x88] = { "Server unavailable", 0, CA },
    [0x89] = { "Server busy", 0, CA | DI },
    [0x8A] = { "Banned", 0, CA },
    [0x8B] = { "Server shutting down", 0, DI },
    [0x8C] = { "Bad authentication method", 0, CA | DI },
    [0x8D] = { "Keep Alive timeout", 0, DI },
    [0x8E] = { "Session taken over", 0, DI },
    [0x8F] = { "Topic Filter invalid", 0, SA | UA | DI },
    [0x90] = { "Topic Name invalid", PA | DI, CA | PA | DI },
    [0x91] = { "Packet Identifier in use", PA, PA | SA | UA },
    [0x92] = { "Packet Identifier not found", PR, PR },
    [0x93] = { "Receive Maximum exceeded", DI, DI },
    [0x94] = { "Topic Alias invalid", DI, DI },
    [0x95] = { "Packet too large", DI, CA | DI },
    [0x96] = { "Message rate too high", DI, DI },
    [0x97] = { "Quota exceeded", PA | DI, CA | PA | SA | DI },
    [0x98] = { "Administrative action", DI, DI },
    [0x99] = { "Payload format invalid", PA | DI, CA | PA | DI },
    [0x9A] = { "Retain not supported", 0, CA | DI },
    [0x9B] = { "QoS not supported", 0, CA | DI },
    [0x9C] = { "Use another server", 0, CA | DI },
    [0x9D] = { "Server moved", 0, CA | DI },
    [0x9E] = { "Shared Subscriptions not supported", 0, SA | DI },
    [0x9F] = { "Connection rate exceeded", 0, CA | DI },
    [0xA0] = { "Maximum connect time", 0, DI },
    [0xA1] = { "Subscription Identifiers not supported", 0, SA | DI },
    [0xA2] = { "Wildcard Subscriptions not supported", 0, SA | DI },
};

/* 3.x: CONNACK return codes 0..5 [MQTT-3.2.2-6], SUBACK 0, 1, 2 and 0x80
 * [MQTT-3.9.3-2]; no other packet carries one. */
static bool s_reason_ok_v3(unsigned type, uint8_t code)
{
    if (type == NMQ_MQTT_CONNACK)
        return code <= 5;
    if (type == NMQ_MQTT_SUBACK)
        return code <= 2 || code == 0x80;
    return false;
}

bool nmq_mqtt_reason_ok(unsigned level, nmq_mqtt_role_t role, unsigned type, uint8_t code)
{
    if (level < NMQ_MQTT_V5)
        return s_reason_ok_v3(type, code);
    const s_reason_t *r = &s_reasons[code];
    uint16_t peer = role == NMQ_MQTT_ROLE_SERVER ? r->by_client : r->by_server;
    return r->name && type < 16 && (peer & NMQ_MQTT_BIT(type));
}

const char *nmq_mqtt_reason_name(uint8_t code)
{
    return s_reasons[code].name ? s_reasons[code].name : "reserved reason code";
}

typedef struct {
    const char *text;
    uint8_t rc;                 /* 5.0 reason code */
    uint8_t rc3;                /* 3.x CONNACK return code; 0: close without one */
} s_err_t;

static const s_err_t s_errs[NMQ_MQTT_E_COUNT] = {
#define NMQ_MQTT_ERR_ROW(name, rc_, rc3_, text_) [NMQ_MQTT_E_##name] = { #name ": " text_, rc_, rc3_ },
    NMQ_MQTT_ERRORS(NMQ_MQTT_ERR_ROW)
#undef NMQ_MQTT_ERR_ROW
};

const char *nmq_mqtt_err_str(nmq_mqtt_err_t e)
{
    return (unsigned)e < NMQ_MQTT_E_COUNT ? s_errs[e].text : "unknown error";
}

uint8_t nmq_mqtt_err_reason(nmq_mqtt_err_t e)
{
    return (unsigned)e < NMQ_MQTT_E_COUNT ? s_errs[e].rc : 0x80;
}

/* A server answers a bad CONNECT with a CONNACK when the level is known to be
 * 5 (any reason), or in 3.x only for the two cases that have a return code:
 * an unsupported level [MQTT-3.1.2-2] (sent in the 3.1.1 form, as the level
 * asked for is one we do not speak) and a rejected client id [MQTT-3.1.3-8].
 * Anything else about a 3.x CONNECT closes without one [MQTT-3.1.4-1]. */
static nmq_mqtt_outcome_t s_connect_outcome(unsigned level, const s_err_t *e)
{
    if (level == NMQ_MQTT_V5)
        return (nmq_mqtt_outcome_t){ NMQ_MQTT_CONNACK, NMQ_MQTT_V5, e->rc };
    if (e->rc3)
        return (nmq_mqtt_outcome_t){ NMQ_MQTT_CONNACK, level ? (uint8_t)level : NMQ_MQTT_V311, e->rc3 };
    return (nmq_mqtt_outcome_t){ 0, (uint8_t)level, 0 };
}

nmq_mqtt_outcome_t nmq_mqtt_outcome(const nmq_mqtt_decoder_t *d)
{
    const s_err_t *e = &s_errs[d->err < NMQ_MQTT_E_COUNT ? d->err : NMQ_MQTT_E_PROTOCOL_NAME];
    if (d->err == NMQ_MQTT_E_OK)
        return (nmq_mqtt_outcome_t){ 0, d->level, 0 };
    if (d->role == NMQ_MQTT_ROLE_SERVER && !d->connected)
        return s_connect_outcome(d->level, e);
    if (d->level == NMQ_MQTT_V5)
        return (nmq_mqtt_outcome_t){ NMQ_MQTT_DISCONNECT, NMQ_MQTT_V5, e->rc };
    return (nmq_mqtt_outcome_t){ 0, d->level, 0 };
}

const char *nmq_mqtt_type_name(unsigned type)
{
    static const char *const names[16] = {
        "RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
        "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH",
    };
    return type < 16 ? names[type] : "RESERVED";
}
