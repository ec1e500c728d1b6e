/* nmq_utf8 — UTF-8 validation by MQTT's rules (3.1.1 section 1.5.3, 5.0
 * section 1.5.4): well-formed per RFC 3629 (no overlong forms, nothing past
 * U+10FFFF, no UTF-16 surrogates U+D800..U+DFFF) and no U+0000.  The control
 * characters and non-characters the specs say SHOULD NOT appear are let
 * through: refusing them is a policy, not a wire rule.
 *
 * Topics and client ids are nearly always ASCII, so the check runs eight
 * bytes at a time until it meets a byte that is zero or has its top bit set.
 */
#ifndef NMQ_UTF8_H
#define NMQ_UTF8_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    NMQ_UTF8_OK = 0,
    NMQ_UTF8_ILL_FORMED,        /* bad lead or continuation byte, overlong, > U+10FFFF, cut short */
    NMQ_UTF8_NUL,               /* U+0000 */
    NMQ_UTF8_SURROGATE,         /* U+D800..U+DFFF encoded as three bytes */
} nmq_utf8_status_t;

nmq_utf8_status_t nmq_utf8_check(const uint8_t *s, size_t len);

#endif
