/* nmq_topic_validate — is this a valid topic name / topic filter (MQTT 5.0
 * section 4.7, 3.1.1 section 4.7), and is the filter a shared subscription
 * ($share/{ShareName}/{filter}, 5.0 section 4.8.2, also taken from 3.1.1
 * clients as VerneMQ does)?
 *
 * Structure only: the codec has already checked the bytes are UTF-8 without
 * U+0000, so these run on bytes.  Used by the codec on every PUBLISH topic,
 * will topic, response topic and SUBSCRIBE / UNSUBSCRIBE filter, and by the
 * broker for topics it builds itself.
 */
#ifndef NMQ_TOPIC_VALIDATE_H
#define NMQ_TOPIC_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    NMQ_TOPIC_OK = 0,
    NMQ_TOPIC_EMPTY,            /* [MQTT-4.7.3-1] */
    NMQ_TOPIC_TOO_LONG,         /* over 65535 bytes [MQTT-4.7.3-3] */
    NMQ_TOPIC_WILDCARD,         /* '+' or '#' in a topic name [MQTT-4.7.0-1] */
    NMQ_TOPIC_BAD_MULTI,        /* '#' not a whole, last level [MQTT-4.7.1-1] */
    NMQ_TOPIC_BAD_SINGLE,       /* '+' not a whole level [MQTT-4.7.1-2] */
    NMQ_TOPIC_BAD_SHARE,        /* $share/ with no ShareName, a wildcard in it, or no filter */
} nmq_topic_status_t;

/* A shared subscription split up; group_len is 0 for an ordinary filter, and
 * then filter is the whole of it. */
typedef struct {
    const uint8_t *group;
    size_t group_len;
    const uint8_t *filter;
    size_t filter_len;
} nmq_topic_share_t;

nmq_topic_status_t nmq_topic_name_check(const uint8_t *s, size_t len);
/* share may be NULL. */
nmq_topic_status_t nmq_topic_filter_check(const uint8_t *s, size_t len, nmq_topic_share_t *share);
const char *nmq_topic_status_str(nmq_topic_status_t st);

#endif
