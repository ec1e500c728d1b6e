/* nmq_config — the node's configuration: one declared table of keys.
 *
 * The file format and key names are VerneMQ's (`key = value` lines, `#`
 * comments).  Every key nemomq understands is one row of the table in
 * nmq_config_table.c: name, type, default, bounds, flags (live, ...), the field of
 * nmq_config_t it fills, and one line of documentation.  Everything else is
 * derived from that table: parsing, `show`/`set` in nemomq-admin, the normalized
 * dump the supervisor sends to its workers, conf/nemomq.conf and nemomq.conf(5).
 *
 * Keys VerneMQ has that mean nothing here (erlang.*, leveldb.*, graphite_*,
 * vmq_diversity.*, ...) are warned about once each and ignored, so a
 * vernemq.conf loads.  A key that is neither ours nor VerneMQ's, or a bad value,
 * is an error "file:line: key: why" and the node does not start.
 *
 * Pure code: no I/O except reading the file named to nmq_config_load_file().
 */
#ifndef NMQ_CONFIG_H
#define NMQ_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NMQ_CONF_STR_MAX   256     /* names, cookies, addresses, enum words */
#define NMQ_CONF_PATH_MAX  1024
#define NMQ_MAX_LISTENERS  16

/* Exit status of a process that refuses to start over a bad config
 * (sysexits.h EX_CONFIG); the supervisor never restarts a child that exits so,
 * and the systemd unit lists it in RestartPreventExitStatus. */
#define NMQ_EXIT_CONFIG 78

typedef enum {
    NMQ_LOG_DEBUG, NMQ_LOG_INFO, NMQ_LOG_WARNING, NMQ_LOG_ERROR
} nmq_log_level_t;

/* One `listener.<kind>.<name> = ip:port` line (kind "tcp" for now). */
typedef struct {
    char kind[16];
    char name[64];
    char host[NMQ_CONF_STR_MAX];       /* numeric IPv4/IPv6 or a host name */
    uint16_t port;
} nmq_listener_conf_t;

typedef struct nmq_config {
    char source[NMQ_CONF_PATH_MAX];    /* absolute path of the file read, "" if none */

    /* node */
    char nodename[NMQ_CONF_STR_MAX];            /* nodename = nemomq@127.0.0.1 */
    char distributed_cookie[NMQ_CONF_STR_MAX];  /* distributed_cookie = vmq */
    char platform_data_dir[NMQ_CONF_PATH_MAX];  /* absolute after load */
    char platform_log_dir[NMQ_CONF_PATH_MAX];   /* absolute after load */

    /* logging */
    char log_console[16];                       /* off | file | console | both */
    nmq_log_level_t log_console_level;
    char log_console_file[NMQ_CONF_PATH_MAX];   /* absolute after load */
    char log_error_file[NMQ_CONF_PATH_MAX];     /* absolute after load; "" = off */

    /* supervisor */
    int supervisor_max_restarts;                /* supervisor.max_restarts = 10 */
    int supervisor_max_restart_period;          /* seconds, = 10 */
    int supervisor_heartbeat_interval;          /* milliseconds, = 1000 */
    int supervisor_shutdown_timeout;            /* milliseconds per child, = 5000 */

    /* listeners */
    nmq_listener_conf_t listeners[NMQ_MAX_LISTENERS];
    int nr_listeners;
    char listener_vmq_clustering[NMQ_CONF_STR_MAX]; /* ip:port */
    bool listener_vmq_encryption;               /* CURVE on the cluster links (on) */
    int portmap_port;                           /* portmap.port = 4369 (epmd's) */
    int listener_nr_of_acceptors;               /* listener.nr_of_acceptors = 2 */
    int listener_max_connections;               /* -1 = unlimited */
    int queue_shards;                           /* queue_shards: number of queue workers */

    /* MQTT behaviour (used from the single-node issue on) */
    bool allow_anonymous;
    bool allow_register_during_netsplit;
    bool allow_publish_during_netsplit;
    bool allow_subscribe_during_netsplit;
    bool allow_unsubscribe_during_netsplit;
    bool allow_multiple_sessions;
    int retry_interval;                         /* seconds */
    int max_client_id_size;
    int max_inflight_messages;
    int max_online_messages;                    /* -1 = unlimited */
    int max_offline_messages;                   /* -1 = unlimited */
    int64_t max_message_size;                   /* bytes, 0 = unlimited */
    bool upgrade_outgoing_qos;
    int topic_max_depth;
    int64_t persistent_client_expiration;       /* seconds, 0 = never */
    int64_t max_last_will_delay;                /* seconds, -1 = what the client asks */
    int receive_max_client;
    int receive_max_broker;
    int topic_alias_max_client;
    int topic_alias_max_broker;
    int mqtt_connect_timeout;                   /* milliseconds */
    char queue_type[16];                        /* fifo | lifo */
    char shared_subscription_policy[32];        /* prefer_local | local_only | random */
    bool systree_enabled;
    int systree_interval;                       /* milliseconds, 0 = off */
    char listener_mountpoint[NMQ_CONF_STR_MAX]; /* "off" = none */
    bool plugins_vmq_passwd;
    bool plugins_vmq_acl;
    char vmq_passwd_password_file[NMQ_CONF_PATH_MAX];
    int vmq_passwd_password_reload_interval;    /* seconds */
    char vmq_acl_acl_file[NMQ_CONF_PATH_MAX];
    int vmq_acl_acl_reload_interval;            /* seconds */
    bool message_store_sync;                    /* message_store.sync */
} nmq_config_t;

/* Value types of the table; each has one parse and one format function. */
typedef enum {
    NMQ_CT_BOOL,      /* on | off (also true/false, yes/no) */
    NMQ_CT_INT,       /* decimal, with min/max; keys with min -1 accept -1 = unlimited */
    NMQ_CT_BYTES,     /* 1024, 64KB, 10MB, 1GB (multiples of 1024) */
    NMQ_CT_DURATION,  /* seconds: 30, 30s, 1h, 1d, 1w, 1m, 1y with VerneMQ's arithmetic
                       * (m = 4 weeks, y = 48 weeks), or the key's word ("never", "client") */
    NMQ_CT_STRING,
    NMQ_CT_PATH,      /* relative paths resolve against the config file's directory */
    NMQ_CT_ENUM,      /* one word of a fixed list */
    NMQ_CT_ADDR,      /* ip:port */
    NMQ_CT_LOGLEVEL,  /* debug | info | warning | error */
    NMQ_CT_LISTENER   /* pattern key listener.tcp.<name> = ip:port */
} nmq_conf_type_t;

#define NMQ_CONF_LIVE    0x01  /* `nemomq-admin set` and reload apply it to a running node */
#define NMQ_CONF_HIDDEN  0x02  /* left out of conf/nemomq.conf (still documented in the man page) */

typedef struct nmq_config_key {
    const char *name;          /* "listener.nr_of_acceptors"; "listener.tcp.$name" for patterns */
    nmq_conf_type_t type;
    size_t offset;             /* offsetof(nmq_config_t, field) */
    size_t size;               /* sizeof the field (LISTENER: of one nmq_listener_conf_t) */
    const char *default_value; /* as it would be written in the file */
    int64_t min, max;          /* INT, BYTES, DURATION bounds */
    const char *const *choices;/* ENUM: NULL-terminated */
    unsigned flags;
    const char *doc;           /* one line */
    /* Added with the implementation; rows use designated initializers. */
    const char *section;       /* set on the first key of a group: the group's title */
    const char *special;       /* a word read as special_value: INT/BYTES/DURATION
                                * ("never" = 0, "client" = -1, "infinity" = -1), PATH
                                * ("off" = ""); printed as the word when special_value
                                * lies outside min..max (always for PATH) */
    int64_t special_value;
    const char *(*check)(const char *value); /* optional: NULL if fine, else why not */
} nmq_config_key_t;

/* One family of VerneMQ keys that nemomq reads, warns about once and ignores. */
typedef struct {
    const char *pattern;       /* fnmatch(3) pattern over the key: "erlang.*" */
    const char *why;           /* the warning's reason */
} nmq_config_ignored_t;

/* Called once per VerneMQ key that nemomq ignores (file, line, key, message). */
typedef void (*nmq_config_warn_fn)(const char *file, int line, const char *key,
                                   const char *msg, void *arg);

nmq_config_t *nmq_config_new(void);                       /* every key at its default */
void nmq_config_destroy(nmq_config_t **self_p);
nmq_config_t *nmq_config_dup(const nmq_config_t *self);

/* Read a file on top of the defaults.  0 on success; -1 with err set to
 * "file:line: key: why" (or "file: why" when it cannot be read).  Sets source.
 * A load is all or nothing: on error self is left as it was.  The first
 * listener.tcp.<name> line of a load replaces the listeners set before it (the
 * default listener), later ones add or replace by name.  Relative paths resolve
 * against the directory of the file, absolute after load. */
int nmq_config_load_file(nmq_config_t *self, const char *path,
                         nmq_config_warn_fn warn, void *warn_arg,
                         char *err, size_t errlen);
/* The same over text already in memory; `origin` names it in messages and its
 * directory resolves relative paths (NULL: relative to the current directory). */
int nmq_config_load_string(nmq_config_t *self, const char *text, const char *origin,
                           nmq_config_warn_fn warn, void *warn_arg,
                           char *err, size_t errlen);

/* Set one key from its text form.  With live_only, keys without NMQ_CONF_LIVE are
 * refused ("key: cannot be changed on a running node").  0 ok, -1 err ("key: why").
 * Relative paths resolve against the directory of self->source (cwd if none). */
int nmq_config_set(nmq_config_t *self, const char *key, const char *value,
                   bool live_only, char *err, size_t errlen);
/* The text form of one key's value (canonical: what dump writes); -1 if the
 * key is unknown, names no listener that exists, or buf is too small. */
int nmq_config_get(const nmq_config_t *self, const char *key, char *buf, size_t len);

/* The table, for tools that list keys; NULL-name-terminated. */
const nmq_config_key_t *nmq_config_table(void);
/* The row of a key as written in a file ("listener.tcp.default" gives the
 * "listener.tcp.$name" row); NULL for unknown and ignored VerneMQ keys. */
const nmq_config_key_t *nmq_config_lookup(const char *key);
/* The VerneMQ key families ignored with a warning; NULL-pattern-terminated. */
const nmq_config_ignored_t *nmq_config_ignored(void);
/* "bool", "int", "bytes", ... for docs and `nemomq-admin config show`. */
const char *nmq_config_type_name(nmq_conf_type_t type);

/* Every key's current value as "key = value\n" lines, listeners included,
 * loadable again with nmq_config_load_string() to an equal config.  malloc'd. */
char *nmq_config_dump(const nmq_config_t *self);

/* Keys whose values differ between a and b, one call each. */
void nmq_config_diff(const nmq_config_t *a, const nmq_config_t *b,
                     void (*fn)(const nmq_config_key_t *key, const char *name, void *arg),
                     void *arg);

/* conf/nemomq.conf: every non-hidden key with its doc line and default. malloc'd. */
char *nmq_config_render_conf(void);
/* nemomq.conf(5) in roff, every key, generated from the table. malloc'd. */
char *nmq_config_render_man(void);

const char *nmq_log_level_name(nmq_log_level_t level);

#endif
