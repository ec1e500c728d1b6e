/* nmq_mqtt — the MQTT 3.1 / 3.1.1 / 5.0 codec: bytes to packets and back.
 *
 * Pure code with no I/O and no allocation, shared by the acceptors (server
 * side), the cluster link and nemomq-bench (client side).  It is the broker's
 * first line of defence, so decoding is strict: every wire-format MUST of the
 * specs is checked, and a violation comes back as an nmq_mqtt_err_t that maps
 * in one place (nmq_mqtt_outcome) to what the broker sends before it closes.
 *
 * Decoding is incremental and zero copy.  nmq_mqtt_decode() looks at the bytes
 * the caller has (a packet split anywhere, or many packets in one buffer) and
 * answers NEED_MORE (with the size the packet needs, learnt as soon as the
 * remaining length is complete and checked against the maximum packet size
 * before the body is waited for), OK with one packet and the bytes it took, or
 * ERROR.  Strings and binary fields of a decoded packet are slices into the
 * caller's buffer: keep the bytes while the packet is used.  Lists (user
 * properties, subscription identifiers, SUBSCRIBE entries, UNSUBSCRIBE filters)
 * stay as raw wire blocks, validated once and walked with iterators.
 *
 * Encoding writes into a caller's buffer and returns the packet's size; when
 * that is more than the buffer, nothing is written and the caller sizes up.
 * nmq_mqtt_encode_publish_iov() leaves a PUBLISH payload where it is, so the
 * acceptor writes many packets with one writev().  A list to encode is either
 * a decoded raw block (forwarding copies it as received, in order) or an array
 * the caller built.  Every property goes through the one table in
 * nmq_mqtt_props.c (id, type, the packets and senders that allow it, whether it
 * repeats, its range), for decoding, validation and encoding alike.
 */
#ifndef NMQ_MQTT_H
#define NMQ_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Protocol levels.  0 is "unknown": a server-side decoder learns the level
 * from the CONNECT that opens the connection. */
enum {
    NMQ_MQTT_LEVEL_UNKNOWN = 0,
    NMQ_MQTT_V31 = 3,           /* protocol name "MQIsdp" */
    NMQ_MQTT_V311 = 4,          /* "MQTT" */
    NMQ_MQTT_V5 = 5,            /* "MQTT" */
};

/* Control packet types: the high nibble of the first byte. */
typedef enum {
    NMQ_MQTT_CONNECT = 1,
    NMQ_MQTT_CONNACK = 2,
    NMQ_MQTT_PUBLISH = 3,
    NMQ_MQTT_PUBACK = 4,
    NMQ_MQTT_PUBREC = 5,
    NMQ_MQTT_PUBREL = 6,
    NMQ_MQTT_PUBCOMP = 7,
    NMQ_MQTT_SUBSCRIBE = 8,
    NMQ_MQTT_SUBACK = 9,
    NMQ_MQTT_UNSUBSCRIBE = 10,
    NMQ_MQTT_UNSUBACK = 11,
    NMQ_MQTT_PINGREQ = 12,
    NMQ_MQTT_PINGRESP = 13,
    NMQ_MQTT_DISCONNECT = 14,
    NMQ_MQTT_AUTH = 15,         /* 5.0 only */
} nmq_mqtt_type_t;

/* Property contexts are packet types, plus 0 for the will properties of a
 * CONNECT (type 0 is reserved on the wire, so the bit is free). */
#define NMQ_MQTT_WILL_PROPS 0
#define NMQ_MQTT_BIT(type) (1u << (type))

/* Which end of the connection a decoder sits at.  A server decodes what
 * clients send and a client what servers send; some rules depend on it. */
typedef enum {
    NMQ_MQTT_ROLE_SERVER = 0,
    NMQ_MQTT_ROLE_CLIENT = 1,
} nmq_mqtt_role_t;

/* Largest remaining length the 4-byte variable integer can carry, and so the
 * largest packet: 1 + 4 + 268435455. */
#define NMQ_MQTT_MAX_REMAINING 268435455u
#define NMQ_MQTT_MAX_PACKET (NMQ_MQTT_MAX_REMAINING + 5u)

/* Bytes in the caller's buffer: never owned, never NUL-terminated. */
typedef struct {
    const uint8_t *ptr;
    uint32_t len;
} nmq_mqtt_slice_t;

#define NMQ_MQTT_SLICE(s) ((nmq_mqtt_slice_t){ (const uint8_t *)(s), (uint32_t)(sizeof(s) - 1) })

typedef struct {
    nmq_mqtt_slice_t key;
    nmq_mqtt_slice_t value;
} nmq_mqtt_pair_t;

/* --- properties (5.0) --------------------------------------------------------- */

typedef enum {
    NMQ_PROP_PAYLOAD_FORMAT = 0x01,
    NMQ_PROP_MESSAGE_EXPIRY = 0x02,
    NMQ_PROP_CONTENT_TYPE = 0x03,
    NMQ_PROP_RESPONSE_TOPIC = 0x08,
    NMQ_PROP_CORRELATION_DATA = 0x09,
    NMQ_PROP_SUBSCRIPTION_ID = 0x0B,
    NMQ_PROP_SESSION_EXPIRY = 0x11,
    NMQ_PROP_ASSIGNED_CLIENT_ID = 0x12,
    NMQ_PROP_SERVER_KEEP_ALIVE = 0x13,
    NMQ_PROP_AUTH_METHOD = 0x15,
    NMQ_PROP_AUTH_DATA = 0x16,
    NMQ_PROP_REQUEST_PROBLEM_INFO = 0x17,
    NMQ_PROP_WILL_DELAY = 0x18,
    NMQ_PROP_REQUEST_RESPONSE_INFO = 0x19,
    NMQ_PROP_RESPONSE_INFO = 0x1A,
    NMQ_PROP_SERVER_REFERENCE = 0x1C,
    NMQ_PROP_REASON_STRING = 0x1F,
    NMQ_PROP_RECEIVE_MAXIMUM = 0x21,
    NMQ_PROP_TOPIC_ALIAS_MAXIMUM = 0x22,
    NMQ_PROP_TOPIC_ALIAS = 0x23,
    NMQ_PROP_MAXIMUM_QOS = 0x24,
    NMQ_PROP_RETAIN_AVAILABLE = 0x25,
    NMQ_PROP_USER = 0x26,
    NMQ_PROP_MAXIMUM_PACKET_SIZE = 0x27,
    NMQ_PROP_WILDCARD_SUB_AVAILABLE = 0x28,
    NMQ_PROP_SUB_ID_AVAILABLE = 0x29,
    NMQ_PROP_SHARED_SUB_AVAILABLE = 0x2A,
} nmq_mqtt_prop_id_t;

/* The properties of one packet.  A single-valued property is there when its
 * bit (1 << id) is set in `present`; its field is meaningless otherwise.
 * User properties and subscription identifiers repeat: `n_user` / `n_sub_id`
 * say how many, and they are walked with nmq_mqtt_user_next() /
 * nmq_mqtt_sub_id_next() from `user` / `sub_ids` when the caller set those
 * arrays (to encode), otherwise from `block`, the raw property block the
 * decoder saw.  `subscription_id` repeats the first identifier, for SUBSCRIBE.
 * Clear with nmq_mqtt_props_clear() before filling one by hand. */
typedef struct nmq_mqtt_props {
    uint64_t present;
    uint32_t message_expiry;
    uint32_t session_expiry;
    uint32_t will_delay;
    uint32_t maximum_packet_size;
    uint32_t subscription_id;
    uint16_t server_keep_alive;
    uint16_t receive_maximum;
    uint16_t topic_alias_maximum;
    uint16_t topic_alias;
    uint8_t payload_format;
    uint8_t request_problem_info;
    uint8_t request_response_info;
    uint8_t maximum_qos;
    uint8_t retain_available;
    uint8_t wildcard_sub_available;
    uint8_t sub_id_available;
    uint8_t shared_sub_available;
    uint32_t n_user;
    uint32_t n_sub_id;
    nmq_mqtt_slice_t content_type;
    nmq_mqtt_slice_t response_topic;
    nmq_mqtt_slice_t correlation_data;
    nmq_mqtt_slice_t assigned_client_id;
    nmq_mqtt_slice_t auth_method;
    nmq_mqtt_slice_t auth_data;
    nmq_mqtt_slice_t response_info;
    nmq_mqtt_slice_t server_reference;
    nmq_mqtt_slice_t reason_string;
    nmq_mqtt_slice_t block;
    const nmq_mqtt_pair_t *user;
    const uint32_t *sub_ids;
} nmq_mqtt_props_t;

static inline bool nmq_mqtt_props_has(const nmq_mqtt_props_t *p, nmq_mqtt_prop_id_t id)
{
    return (p->present >> id) & 1u;
}

void nmq_mqtt_props_clear(nmq_mqtt_props_t *p);
/* No property at all, single or repeated. */
bool nmq_mqtt_props_empty(const nmq_mqtt_props_t *p);

/* Property types, as in section 2.2.2.2 of the 5.0 spec. */
typedef enum {
    NMQ_PT_BYTE = 1,
    NMQ_PT_U16,
    NMQ_PT_U32,
    NMQ_PT_VARINT,
    NMQ_PT_STRING,
    NMQ_PT_BINARY,
    NMQ_PT_PAIR,
} nmq_mqtt_prop_type_t;

/* One row of the property table (read-only; for logs, docs and tests). */
typedef struct nmq_mqtt_prop_info {
    uint8_t id;
    uint8_t type;               /* nmq_mqtt_prop_type_t */
    uint8_t flags;              /* NMQ_PF_* */
    uint8_t range_err;          /* nmq_mqtt_err_t for a value out of range or, for a
                                 * topic, not a valid topic name */
    uint16_t by_client;         /* NMQ_MQTT_BIT(context) a client may send it in */
    uint16_t by_server;         /* ... and a server */
    uint32_t min, max;          /* range of an integer value */
    uint16_t offset;            /* of its field in nmq_mqtt_props_t */
    const char *name;
} nmq_mqtt_prop_info_t;

#define NMQ_PF_LIST 0x01            /* counted, walked with an iterator */
#define NMQ_PF_REPEAT 0x02          /* may appear many times in any packet */
#define NMQ_PF_REPEAT_PUBLISH 0x04  /* may appear many times in a PUBLISH */
#define NMQ_PF_TOPIC 0x08           /* a topic name: no wildcards, not empty */

/* The row of a property id, or NULL for an id no property has (ids run
 * from 1 to NMQ_PROP_ID_MAX). */
#define NMQ_PROP_ID_MAX 0x2A
const nmq_mqtt_prop_info_t *nmq_mqtt_prop_info(unsigned id);

/* Iterators over lists; start with `nmq_mqtt_iter_t it = { 0, 0 }`.  Each
 * returns false when the list is done. */
typedef struct {
    uint32_t pos;
    uint32_t idx;
} nmq_mqtt_iter_t;

bool nmq_mqtt_user_next(const nmq_mqtt_props_t *p, nmq_mqtt_iter_t *it, nmq_mqtt_pair_t *out);
bool nmq_mqtt_sub_id_next(const nmq_mqtt_props_t *p, nmq_mqtt_iter_t *it, uint32_t *out);

/* --- packets ----------------------------------------------------------------- */

typedef struct {
    uint8_t level;              /* 3, 4 or 5 */
    uint8_t bridge;             /* level byte had 0x80 set (mosquitto/VerneMQ bridges, 3.x) */
    uint8_t clean_start;        /* CleanSession in 3.x */
    uint8_t will;               /* will flag: will_topic / will_payload / will_props set */
    uint8_t will_qos;
    uint8_t will_retain;
    uint8_t has_username;
    uint8_t has_password;
    uint16_t keep_alive;
    nmq_mqtt_slice_t client_id;
    nmq_mqtt_slice_t will_topic;
    nmq_mqtt_slice_t will_payload;
    nmq_mqtt_slice_t username;
    nmq_mqtt_slice_t password;
    nmq_mqtt_props_t props;
    nmq_mqtt_props_t will_props;
} nmq_mqtt_connect_t;

typedef struct {
    uint8_t session_present;
    uint8_t reason;             /* 3.x return code or 5.0 reason code */
    nmq_mqtt_props_t props;
} nmq_mqtt_connack_t;

typedef struct {
    uint8_t qos;
    uint8_t dup;
    uint8_t retain;
    uint16_t packet_id;         /* 0 for QoS 0 */
    nmq_mqtt_slice_t topic;     /* empty in 5.0 when a topic alias stands for it */
    nmq_mqtt_slice_t payload;
    nmq_mqtt_props_t props;
} nmq_mqtt_publish_t;

/* PUBACK, PUBREC, PUBREL, PUBCOMP. */
typedef struct {
    uint16_t packet_id;
    uint8_t reason;             /* 5.0; 0 in 3.x */
    nmq_mqtt_props_t props;
} nmq_mqtt_ack_t;

/* One SUBSCRIBE entry. */
typedef struct {
    nmq_mqtt_slice_t filter;
    uint8_t qos;                /* maximum QoS */
    uint8_t no_local;           /* 5.0 options; 0 in 3.x */
    uint8_t retain_as_published;
    uint8_t retain_handling;
} nmq_mqtt_sub_t;

/* SUBSCRIBE: walk the entries with nmq_mqtt_sub_next(); to encode, set
 * `subs` (count entries) or leave the decoded `raw` payload. */
typedef struct {
    uint16_t packet_id;
    uint32_t count;
    nmq_mqtt_slice_t raw;
    const nmq_mqtt_sub_t *subs;
    nmq_mqtt_props_t props;
} nmq_mqtt_subscribe_t;

/* UNSUBSCRIBE: the same with bare filters. */
typedef struct {
    uint16_t packet_id;
    uint32_t count;
    nmq_mqtt_slice_t raw;
    const nmq_mqtt_slice_t *filters;
    nmq_mqtt_props_t props;
} nmq_mqtt_unsubscribe_t;

/* SUBACK and UNSUBACK: one reason code a filter (none in a 3.x UNSUBACK). */
typedef struct {
    uint16_t packet_id;
    nmq_mqtt_slice_t codes;
    nmq_mqtt_props_t props;
} nmq_mqtt_suback_t;

/* DISCONNECT and AUTH (and nothing for PINGREQ / PINGRESP). */
typedef struct {
    uint8_t reason;
    nmq_mqtt_props_t props;
} nmq_mqtt_disconnect_t;

typedef struct {
    uint8_t type;               /* nmq_mqtt_type_t */
    uint8_t flags;              /* low nibble of the first byte, as received */
    union {
        nmq_mqtt_connect_t connect;
        nmq_mqtt_connack_t connack;
        nmq_mqtt_publish_t publish;
        nmq_mqtt_ack_t ack;
        nmq_mqtt_subscribe_t subscribe;
        nmq_mqtt_unsubscribe_t unsubscribe;
        nmq_mqtt_suback_t suback;
        nmq_mqtt_disconnect_t disconnect;
    } u;
} nmq_mqtt_packet_t;

bool nmq_mqtt_sub_next(const nmq_mqtt_subscribe_t *s, nmq_mqtt_iter_t *it, nmq_mqtt_sub_t *out);
bool nmq_mqtt_unsub_next(const nmq_mqtt_unsubscribe_t *u, nmq_mqtt_iter_t *it, nmq_mqtt_slice_t *out);

const char *nmq_mqtt_type_name(unsigned type);

/* --- errors and what the broker does about them ---------------------------------
 * X(name, 5.0 reason code, 3.x CONNACK return code or 0 for "close without
 * a CONNACK", text for the log). */
#define NMQ_MQTT_ERRORS(X) \
    X(OK,               0x00, 0, "no error") \
    X(PACKET_TYPE,      0x81, 0, "reserved packet type") \
    X(HEADER_FLAGS,     0x81, 0, "fixed-header flags not as the spec sets them") \
    X(REMAINING_LENGTH, 0x81, 0, "remaining length over 4 bytes or not minimally encoded") \
    X(TOO_LARGE,        0x95, 0, "packet larger than the maximum packet size") \
    X(NOT_CONNECT,      0x82, 0, "first packet is not CONNECT") \
    X(SECOND_CONNECT,   0x82, 0, "second CONNECT on the connection") \
    X(DIRECTION,        0x82, 0, "packet type this side never receives") \
    X(TRUNCATED,        0x81, 0, "field runs past the end of the packet") \
    X(TRAILING_BYTES,   0x81, 0, "bytes left after the last field") \
    X(VARINT,           0x81, 0, "variable byte integer over 4 bytes or not minimal") \
    X(PROTOCOL_NAME,    0x81, 0, "protocol name is neither MQTT nor MQIsdp") \
    X(PROTOCOL_VERSION, 0x84, 1, "unsupported protocol level") \
    X(CONNECT_RESERVED, 0x81, 0, "CONNECT reserved flag set") \
    X(WILL_FLAGS,       0x81, 0, "will QoS or will retain set without the will flag") \
    X(WILL_QOS,         0x81, 0, "will QoS 3") \
    X(PASSWORD_FLAG,    0x81, 0, "password flag without user name flag") \
    X(CLIENT_ID,        0x85, 2, "empty client identifier with clean session 0") \
    X(UTF8,             0x81, 0, "string is not well-formed UTF-8") \
    X(UTF8_NUL,         0x81, 0, "string holds U+0000") \
    X(UTF8_SURROGATE,   0x81, 0, "string holds a UTF-16 surrogate") \
    X(QOS,              0x81, 0, "PUBLISH QoS 3") \
    X(DUP_QOS0,         0x81, 0, "DUP set on a QoS 0 PUBLISH") \
    X(TOPIC_NAME,       0x90, 0, "topic name empty or holding a wildcard") \
    X(TOPIC_MISSING,    0x82, 0, "empty topic name without a topic alias") \
    X(PACKET_ID,        0x82, 0, "packet identifier 0") \
    X(NO_ENTRIES,       0x82, 0, "no topic filter or reason code in the payload") \
    X(FILTER,           0x81, 0, "topic filter empty or with a misplaced wildcard") \
    X(SHARE,            0x81, 0, "malformed $share/ topic filter") \
    X(SHARE_NO_LOCAL,   0x82, 0, "No Local set on a shared subscription") \
    X(SUB_OPTIONS,      0x81, 0, "reserved bits set in subscription options") \
    X(SUB_QOS,          0x82, 0, "subscription maximum QoS 3") \
    X(RETAIN_HANDLING,  0x82, 0, "retain handling 3") \
    X(REASON_CODE,      0x82, 0, "reason code not allowed on this packet or from this side") \
    X(CONNACK_FLAGS,    0x81, 0, "reserved CONNACK flags set") \
    X(SESSION_PRESENT,  0x82, 0, "session present with a failure reason code") \
    X(PROP_UNKNOWN,     0x81, 0, "unknown property identifier") \
    X(PROP_PACKET,      0x81, 0, "property not allowed on this packet") \
    X(PROP_SENDER,      0x82, 0, "property this side may not send") \
    X(PROP_TWICE,       0x82, 0, "property given more than once") \
    X(PROP_VALUE,       0x82, 0, "property value out of range") \
    X(TOPIC_ALIAS,      0x94, 0, "topic alias 0") \
    X(AUTH_DATA,        0x82, 0, "authentication data without authentication method")

typedef enum {
#define NMQ_MQTT_ERR_ENUM(name, rc, rc3, text) NMQ_MQTT_E_##name,
    NMQ_MQTT_ERRORS(NMQ_MQTT_ERR_ENUM)
#undef NMQ_MQTT_ERR_ENUM
    NMQ_MQTT_E_COUNT
} nmq_mqtt_err_t;

const char *nmq_mqtt_err_str(nmq_mqtt_err_t e);       /* "TOPIC_NAME: topic name empty ..." */
uint8_t nmq_mqtt_err_reason(nmq_mqtt_err_t e);        /* 5.0 reason code */

/* Reason codes (5.0): is `code` one `type` may carry when sent by `role`'s
 * peer (a server checks what clients send)?  For 3.x CONNACK / SUBACK return
 * codes the level decides. */
bool nmq_mqtt_reason_ok(unsigned level, nmq_mqtt_role_t role, unsigned type, uint8_t code);
const char *nmq_mqtt_reason_name(uint8_t code);

/* --- decoding ------------------------------------------------------------------ */

typedef struct {
    uint32_t max_packet;        /* whole-packet limit in bytes; 0: the protocol's */
    uint8_t role;               /* nmq_mqtt_role_t */
    uint8_t level;              /* 0 until a server sees the CONNECT */
    uint8_t connected;          /* server: the CONNECT was decoded */
    uint8_t err;                /* nmq_mqtt_err_t once decoding failed: it sticks */
    uint8_t err_type;           /* the packet type that failed */
} nmq_mqtt_decoder_t;

/* A server passes level 0 to learn it from the CONNECT (any other level means
 * the CONNECT was seen already); a client passes the level it connected with. */
void nmq_mqtt_decoder_init(nmq_mqtt_decoder_t *d, nmq_mqtt_role_t role, unsigned level,
                           uint32_t max_packet);

typedef enum {
    NMQ_MQTT_OK = 0,
    NMQ_MQTT_NEED_MORE = 1,
    NMQ_MQTT_ERROR = 2,
} nmq_mqtt_status_t;

typedef struct {
    uint8_t status;             /* nmq_mqtt_status_t */
    uint8_t err;                /* nmq_mqtt_err_t, with ERROR */
    uint32_t size;              /* OK: bytes consumed.  NEED_MORE: bytes the
                                 * buffer must hold (the whole packet once its
                                 * length is known, else at least len + 1) */
} nmq_mqtt_result_t;

/* Decode the packet at the start of buf[0..len).  Errors stick: a decoder
 * that failed answers the same error until it is initialised again, and the
 * connection is to be closed after nmq_mqtt_outcome(). */
nmq_mqtt_result_t nmq_mqtt_decode(nmq_mqtt_decoder_t *d, const uint8_t *buf, size_t len,
                                  nmq_mqtt_packet_t *out);

/* What to send before closing, for the error a decoder stopped on:
 * `send` is 0 (close at once), NMQ_MQTT_CONNACK or NMQ_MQTT_DISCONNECT, to
 * be encoded at `level` with `reason` (a 3.x return code when level < 5).
 * A 5.0 server that has not sent its CONNACK yet (an AUTH exchange) turns a
 * DISCONNECT into a CONNACK with the same reason [MQTT-3.14.0-1]. */
typedef struct {
    uint8_t send;
    uint8_t level;
    uint8_t reason;
} nmq_mqtt_outcome_t;

nmq_mqtt_outcome_t nmq_mqtt_outcome(const nmq_mqtt_decoder_t *d);

/* --- encoding -------------------------------------------------------------------
 * Each returns the size of the packet.  When that is more than cap nothing
 * is written (so buf = NULL, cap = 0 asks for the size).  0 means the packet
 * cannot be encoded: a string over 65535 bytes, a packet over the protocol's
 * maximum, a property or reason code the packet does not take, QoS 3. */
size_t nmq_mqtt_encode(uint8_t *buf, size_t cap, unsigned level, const nmq_mqtt_packet_t *p);
size_t nmq_mqtt_encode_connect(uint8_t *buf, size_t cap, unsigned level, const nmq_mqtt_connect_t *c);
size_t nmq_mqtt_encode_connack(uint8_t *buf, size_t cap, unsigned level, const nmq_mqtt_connack_t *c);
size_t nmq_mqtt_encode_publish(uint8_t *buf, size_t cap, unsigned level, const nmq_mqtt_publish_t *p);
size_t nmq_mqtt_encode_ack(uint8_t *buf, size_t cap, unsigned level, unsigned type, const nmq_mqtt_ack_t *a);
size_t nmq_mqtt_encode_subscribe(uint8_t *buf, size_t cap, unsigned level, const nmq_mqtt_subscribe_t *s);
size_t nmq_mqtt_encode_unsubscribe(uint8_t *buf, size_t cap, unsigned level, const nmq_mqtt_unsubscribe_t *u);
/* SUBACK or UNSUBACK */
size_t nmq_mqtt_encode_suback(uint8_t *buf, size_t cap, unsigned level, unsigned type, const nmq_mqtt_suback_t *s);
/* DISCONNECT or AUTH */
size_t nmq_mqtt_encode_disconnect(uint8_t *buf, size_t cap, unsigned level, unsigned type,
                                  const nmq_mqtt_disconnect_t *d);
/* PINGREQ or PINGRESP */
size_t nmq_mqtt_encode_ping(uint8_t *buf, size_t cap, unsigned type);

/* Everything of a PUBLISH but its payload (fixed header with the full
 * remaining length, topic, packet id, properties); at most 5 + 2 + 65535 + 2 +
 * properties bytes, typically a few dozen. */
size_t nmq_mqtt_encode_publish_header(uint8_t *buf, size_t cap, unsigned level, const nmq_mqtt_publish_t *p);
/* The header into hdr[0..cap) and the two iovecs to write: the header and the
 * payload where it lies.  Returns the number of iovecs used (1 when the
 * payload is empty, 2 otherwise), 0 when the header did not fit or the packet
 * cannot be encoded. */
int nmq_mqtt_encode_publish_iov(struct iovec iov[2], uint8_t *hdr, size_t cap, unsigned level,
                                const nmq_mqtt_publish_t *p);

/* --- comparison (round-trip tests, the fuzzer) -------------------------------------
 * Same packet as seen at `level`: fields, present properties, and every list
 * element in order, however each side holds its lists. */
bool nmq_mqtt_packet_equal(unsigned level, const nmq_mqtt_packet_t *a, const nmq_mqtt_packet_t *b);
bool nmq_mqtt_props_equal(const nmq_mqtt_props_t *a, const nmq_mqtt_props_t *b);

#endif
