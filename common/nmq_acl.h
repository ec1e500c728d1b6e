/* nmq_acl — VerneMQ's vmq_acl: may this client publish to a topic, or
 * subscribe to a filter?  Asked by the acceptors on PUBLISH (topic, WRITE),
 * on SUBSCRIBE (each filter, READ) and for a will message (topic, WRITE).
 *
 * The file is VerneMQ's vmq.acl (mosquitto's acl_file without `deny`):
 *   # comment
 *   topic [read|write] <filter>     before any `user` line: every client,
 *                                   anonymous or not; after one: that user
 *   user <username>                 starts that user's section
 *   pattern [read|write] <filter>   every client, wherever it appears, with
 *                                   whole levels %c, %u, %m replaced by the
 *                                   client id, username and mountpoint
 * No read/write means both (`readwrite` is taken too).  Filters may use + and
 * #.  Like VerneMQ, %c/%u/%m are only replaced when they are a whole level
 * ("a/%c/b", not "a/x%c"), $-topics get no special treatment (`topic #`, the
 * shipped default, allows everything), and a bad line fails the whole load:
 * the previous rules stay and the error names file and line.
 *
 * Substitutions can never widen access: a substituted level is compared as
 * literal text, so a client id "+" or "#" is not a wildcard and one with a
 * "/" matches no level; a pattern is not applied at all when a value it uses
 * contains + # or /, when it uses %u and the client is anonymous, or when the
 * client id or username it uses is empty.
 *
 * SUBSCRIBE: the filter is allowed when some READ rule covers it, i.e. every
 * topic the filter matches is matched by the rule ("a/+" is covered by "a/+",
 * "a/#" and "#", not by "a/b"; "a/#" only by "a/#" or "#").  VerneMQ walks the
 * filter through its topic matcher, which agrees except that it lets a rule's
 * "+" take a filter's "#" ("a/#" passing "a/+"); we refuse that widening.  The
 * caller strips a shared subscription's "$share/<group>/" first.
 */
#ifndef NMQ_ACL_H
#define NMQ_ACL_H

#include <stdbool.h>
#include <stddef.h>

typedef struct nmq_acl nmq_acl_t;

typedef enum {
    NMQ_ACL_READ = 1,       /* SUBSCRIBE */
    NMQ_ACL_WRITE = 2,      /* PUBLISH, will */
} nmq_acl_access_t;

/* Rules for the file at path (NULL: only nmq_acl_load_string); no I/O yet,
 * and until a load succeeds there are no rules: everything is denied. */
nmq_acl_t *nmq_acl_new(const char *path);
void nmq_acl_destroy(nmq_acl_t **self_p);

/* Read the file now (start-up, an operator's reload).  0 loaded; -1 with err
 * set, and the rules are what they were. */
int nmq_acl_load(nmq_acl_t *self, char *err, size_t errlen);

/* For the periodic poll (vmq_acl.acl_reload_interval): reads the file only if
 * it changed (inode, size, mtime) and has not been modified in the last
 * second.  1 reloaded; 0 nothing to do (a failure already reported is not
 * reported again until the file changes); -1 with err set, rules kept. */
int nmq_acl_reload(nmq_acl_t *self, char *err, size_t errlen);

/* The same from text (tests); origin names it in errors. */
int nmq_acl_load_string(nmq_acl_t *self, const char *text, const char *origin,
                        char *err, size_t errlen);

/* Number of topic and pattern rules (a `topic` line without read/write counts once). */
size_t nmq_acl_count(const nmq_acl_t *self);

/* username NULL: anonymous.  mountpoint NULL is "" (the default one).
 * topic: the PUBLISH topic or SUBSCRIBE filter, without the mountpoint. */
bool nmq_acl_check(const nmq_acl_t *self, const char *client_id, const char *username,
                   const char *mountpoint, const char *topic, nmq_acl_access_t access);

#endif
