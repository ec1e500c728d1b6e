/* nmq_config_table — every configuration key nemomq has, one row each.
 *
 * This is the only place a key is declared: the parser, `nemomq-admin
 * show/set`, the dump sent to workers, conf/nemomq.conf and nemomq.conf(5) are
 * all derived from these rows, so adding a key is adding a row (and its field
 * in nmq_config_t).  Names, defaults and units are VerneMQ's wherever VerneMQ
 * has the key, so an operator's vernemq.conf means the same thing here.
 *
 * The second table lists the VerneMQ key families that mean nothing in nemomq:
 * they are warned about and ignored, while any other unknown key is an error,
 * so that a typo never passes silently.
 */
#include "nmq_config.h"

#include <ctype.h>
#include <limits.h>
#include <string.h>

#define K(n, t, f)                                                        \
    .name = (n), .type = (t), .offset = offsetof(nmq_config_t, f),        \
    .size = sizeof(((nmq_config_t *)0)->f)
#define LIVE    NMQ_CONF_LIVE
#define HIDDEN  NMQ_CONF_HIDDEN
#define U32_MAX 4294967295LL   /* MQTT 5 expiry and delay intervals are u32 seconds */

static const char *const s_log_console[] = { "off", "file", "console", "both", NULL };
static const char *const s_queue_types[] = { "fifo", "lifo", NULL };
static const char *const s_share_policies[] = { "prefer_local", "local_only", "random", NULL };

/* name@host, the way the cluster addresses a node (VerneMQ's VerneMQ@127.0.0.1). */
static const char *s_check_nodename(const char *value)
{
    const char *at = strchr(value, '@');
    if (!at || at == value || !at[1] || strchr(at + 1, '@'))
        return "must be name@host, e.g. nemomq@10.0.0.1";
    for (const char *p = value; p < at; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
            return "the name before '@' may use letters, digits, '_' and '-' only";
    return NULL;
}

static const nmq_config_key_t s_keys[] = {
    /* --- node --------------------------------------------------------- */
    { K("nodename", NMQ_CT_STRING, nodename), .section = "Node",
      .default_value = "nemomq@127.0.0.1", .check = s_check_nodename,
      .doc = "This node's name in the cluster, name@host; other nodes reach it by the host part." },
    { K("distributed_cookie", NMQ_CT_STRING, distributed_cookie), .default_value = "vmq",
      .doc = "Shared secret of the cluster: a node with another cookie can neither join nor exchange data." },
    { K("platform_data_dir", NMQ_CT_PATH, platform_data_dir), .default_value = "/var/lib/nemomq",
      .doc = "Directory of the node's stores (queues, offline messages, metadata)." },
    { K("platform_log_dir", NMQ_CT_PATH, platform_log_dir), .default_value = "/var/log/nemomq",
      .doc = "Directory of the node's log files." },

    /* --- logging ------------------------------------------------------ */
    { K("log.console", NMQ_CT_ENUM, log_console), .section = "Logging",
      .default_value = "file", .choices = s_log_console,
      .doc = "Where log lines go: off, file (log.console.file), console (stderr) or both." },
    { K("log.console.level", NMQ_CT_LOGLEVEL, log_console_level), .default_value = "info",
      .flags = LIVE, .doc = "Lowest level logged: debug, info, warning or error." },
    { K("log.console.file", NMQ_CT_PATH, log_console_file),
      .default_value = "/var/log/nemomq/console.log",
      .doc = "The log file when log.console is file or both." },
    { K("log.error.file", NMQ_CT_PATH, log_error_file),
      .default_value = "/var/log/nemomq/error.log", .special = "off",
      .doc = "Every warning and error once more, in a file of their own; off for none." },

    /* --- supervisor --------------------------------------------------- */
    { K("supervisor.max_restarts", NMQ_CT_INT, supervisor_max_restarts), .section = "Supervisor",
      .default_value = "10", .min = 0, .max = 10000, .flags = LIVE,
      .doc = "Restart intensity: more worker restarts than this within supervisor.max_restart_period stop the node." },
    { K("supervisor.max_restart_period", NMQ_CT_INT, supervisor_max_restart_period),
      .default_value = "10", .min = 1, .max = 3600, .flags = LIVE,
      .doc = "Window, in seconds, over which supervisor.max_restarts is counted." },
    { K("supervisor.heartbeat_interval", NMQ_CT_INT, supervisor_heartbeat_interval),
      .default_value = "1000", .min = 50, .max = 60000,
      .doc = "Milliseconds between heartbeats with each worker; a worker silent for 3 intervals is restarted." },
    { K("supervisor.shutdown_timeout", NMQ_CT_INT, supervisor_shutdown_timeout),
      .default_value = "5000", .min = 1, .max = 600000,
      .doc = "Milliseconds a worker has to stop after SIGTERM before it is killed." },

    /* --- listeners ---------------------------------------------------- */
    { .name = "listener.tcp.$name", .type = NMQ_CT_LISTENER, .section = "Listeners",
      .offset = offsetof(nmq_config_t, listeners), .size = sizeof(nmq_listener_conf_t),
      .default_value = "127.0.0.1:1883",
      .doc = "An MQTT listener, listener.tcp.<name> = ip:port; one line per name (at most 16), IPv6 as [::1]:1883." },
    { K("listener.vmq.clustering", NMQ_CT_ADDR, listener_vmq_clustering),
      .default_value = "127.0.0.1:44053",
      .doc = "Address the other nodes of the cluster connect to." },
    { K("listener.vmq.encryption", NMQ_CT_BOOL, listener_vmq_encryption), .default_value = "on",
      .doc = "Encrypt the cluster links (ZeroMQ CURVE, keys derived from distributed_cookie).  off: the links "
             "are authenticated by a password derived from the cookie, sent in clear, and nothing is "
             "encrypted; for a network you trust.  Every node of a cluster must say the same." },
    { K("portmap.port", NMQ_CT_INT, portmap_port), .default_value = "4369", .min = 1, .max = 65535,
      .doc = "TCP port of the host's port mapper (epmd's 4369) on the nodename's host: names to cluster ports." },
    { K("listener.nr_of_acceptors", NMQ_CT_INT, listener_nr_of_acceptors),
      .default_value = "2", .min = 1, .max = 256, .flags = LIVE,
      .doc = "Acceptor processes sharing the MQTT connections; processes, not Erlang acceptors, so about one per core." },
    { K("listener.max_connections", NMQ_CT_INT, listener_max_connections),
      .default_value = "10000", .min = -1, .max = INT_MAX, .flags = LIVE,
      .special = "infinity", .special_value = -1,
      .doc = "Most MQTT connections open at once on this node; -1 for no limit." },
    { K("listener.mountpoint", NMQ_CT_STRING, listener_mountpoint), .default_value = "off",
      .doc = "Topic prefix put before every client's topics, off for none." },

    /* --- authentication ----------------------------------------------- */
    { K("allow_anonymous", NMQ_CT_BOOL, allow_anonymous), .section = "Authentication",
      .default_value = "off", .flags = LIVE,
      .doc = "Let clients connect without a user name and password." },
    { K("plugins.vmq_passwd", NMQ_CT_BOOL, plugins_vmq_passwd), .default_value = "on",
      .doc = "Check user names and passwords against vmq_passwd.password_file." },
    { K("vmq_passwd.password_file", NMQ_CT_PATH, vmq_passwd_password_file),
      .default_value = "/etc/nemomq/vmq.passwd",
      .doc = "Password file, in the format of VerneMQ's vmq-passwd." },
    { K("vmq_passwd.password_reload_interval", NMQ_CT_INT, vmq_passwd_password_reload_interval),
      .default_value = "10", .min = 0, .max = 86400, .flags = LIVE,
      .doc = "Seconds between checks of the password file for changes; 0 never reloads it." },
    { K("plugins.vmq_acl", NMQ_CT_BOOL, plugins_vmq_acl), .default_value = "on",
      .doc = "Authorize publish and subscribe with the rules of vmq_acl.acl_file." },
    { K("vmq_acl.acl_file", NMQ_CT_PATH, vmq_acl_acl_file), .default_value = "/etc/nemomq/vmq.acl",
      .doc = "ACL file, in VerneMQ's format (topic, user and pattern lines)." },
    { K("vmq_acl.acl_reload_interval", NMQ_CT_INT, vmq_acl_acl_reload_interval),
      .default_value = "10", .min = 0, .max = 86400, .flags = LIVE,
      .doc = "Seconds between checks of the ACL file for changes; 0 never reloads it." },

    /* --- cluster and netsplits ---------------------------------------- */
    { K("allow_register_during_netsplit", NMQ_CT_BOOL, allow_register_during_netsplit),
      .section = "Cluster and netsplits", .default_value = "off", .flags = LIVE,
      .doc = "Accept CONNECT while the cluster is split (one client id may then have two sessions until it heals)." },
    { K("allow_publish_during_netsplit", NMQ_CT_BOOL, allow_publish_during_netsplit),
      .default_value = "off", .flags = LIVE,
      .doc = "Accept PUBLISH while the cluster is split (subscribers on unreachable nodes miss it)." },
    { K("allow_subscribe_during_netsplit", NMQ_CT_BOOL, allow_subscribe_during_netsplit),
      .default_value = "off", .flags = LIVE,
      .doc = "Accept SUBSCRIBE while the cluster is split." },
    { K("allow_unsubscribe_during_netsplit", NMQ_CT_BOOL, allow_unsubscribe_during_netsplit),
      .default_value = "off", .flags = LIVE,
      .doc = "Accept UNSUBSCRIBE while the cluster is split." },
    { K("allow_multiple_sessions", NMQ_CT_BOOL, allow_multiple_sessions), .default_value = "off",
      .doc = "Let several connections share one client id (non-standard: no session takeover)." },

    /* --- MQTT --------------------------------------------------------- */
    { K("retry_interval", NMQ_CT_INT, retry_interval), .section = "MQTT",
      .default_value = "20", .min = 1, .max = 86400, .flags = LIVE,
      .doc = "Seconds before an unacknowledged QoS 1 or 2 message is sent again." },
    { K("max_client_id_size", NMQ_CT_INT, max_client_id_size),
      .default_value = "100", .min = 1, .max = 65535, .flags = LIVE,
      .doc = "Longest client id accepted, in bytes (MQTT 3.1 allowed 23)." },
    { K("max_inflight_messages", NMQ_CT_INT, max_inflight_messages),
      .default_value = "20", .min = 0, .max = 65535, .flags = LIVE,
      .doc = "QoS 1 and 2 messages sent to a client and not yet acknowledged, at most; 0 for no limit." },
    { K("max_online_messages", NMQ_CT_INT, max_online_messages),
      .default_value = "1000", .min = -1, .max = INT_MAX, .flags = LIVE,
      .doc = "Messages queued for an online client beyond those in flight, more are dropped; -1 for no limit, 0 blocks delivery. A QoS 1/2 publisher to a client that keeps acknowledging is paced before half of this (at most 2048) is reached." },
    { K("max_offline_messages", NMQ_CT_INT, max_offline_messages),
      .default_value = "1000", .min = -1, .max = INT_MAX, .flags = LIVE,
      .doc = "QoS 1 and 2 messages kept for an offline persistent session; -1 for no limit, 0 keeps none." },
    { K("max_message_size", NMQ_CT_BYTES, max_message_size),
      .default_value = "0", .min = 0, .max = 268435455, .flags = LIVE,
      .doc = "Largest MQTT packet accepted (e.g. 64KB, 1MB); 0 for MQTT's own limit of 256MB." },
    { K("upgrade_outgoing_qos", NMQ_CT_BOOL, upgrade_outgoing_qos), .default_value = "off",
      .flags = LIVE,
      .doc = "Deliver with the subscription's QoS when it is higher than the publisher's (non-standard)." },
    { K("topic_max_depth", NMQ_CT_INT, topic_max_depth),
      .default_value = "10", .min = 1, .max = 65535, .flags = LIVE,
      .doc = "Most levels in a topic name or filter (a/b/c has 3)." },
    { K("persistent_client_expiration", NMQ_CT_DURATION, persistent_client_expiration),
      .default_value = "never", .min = 1, .max = U32_MAX, .special = "never", .special_value = 0,
      .doc = "Remove persistent sessions offline this long: 1h, 1d, 1w, 1m (4 weeks), 1y (48 weeks) or never." },
    { K("max_last_will_delay", NMQ_CT_DURATION, max_last_will_delay),
      .default_value = "client", .min = 0, .max = U32_MAX, .special = "client", .special_value = -1,
      .doc = "Longest MQTT 5 will delay granted, as a duration; client grants what the client asks." },
    { K("receive_max_client", NMQ_CT_INT, receive_max_client),
      .default_value = "65535", .min = 1, .max = 65535, .flags = HIDDEN,
      .doc = "MQTT 5 Receive Maximum announced to clients: QoS 1 and 2 publishes a client may have in flight to us." },
    { K("receive_max_broker", NMQ_CT_INT, receive_max_broker),
      .default_value = "65535", .min = 1, .max = 65535, .flags = HIDDEN,
      .doc = "QoS 1 and 2 publishes in flight to an MQTT 5 client at most, whatever larger window it allows." },
    { K("topic_alias_max_client", NMQ_CT_INT, topic_alias_max_client),
      .default_value = "0", .min = 0, .max = 65535, .flags = HIDDEN,
      .doc = "MQTT 5 topic aliases a client may use towards the broker; 0 for none." },
    { K("topic_alias_max_broker", NMQ_CT_INT, topic_alias_max_broker),
      .default_value = "0", .min = 0, .max = 65535, .flags = HIDDEN,
      .doc = "MQTT 5 topic aliases the broker uses towards a client at most; 0 for none." },
    { K("mqtt_connect_timeout", NMQ_CT_INT, mqtt_connect_timeout),
      .default_value = "5000", .min = 1, .max = 3600000, .flags = LIVE | HIDDEN,
      .doc = "Milliseconds a new connection has to send CONNECT before it is closed." },
    { K("shared_subscription_policy", NMQ_CT_ENUM, shared_subscription_policy),
      .default_value = "prefer_local", .choices = s_share_policies, .flags = LIVE,
      .doc = "Which member of a shared subscription ($share/...) gets a message: prefer_local, local_only or random." },

    /* --- queues and storage ------------------------------------------- */
    { K("queue_shards", NMQ_CT_INT, queue_shards), .section = "Queues and storage",
      .default_value = "2", .min = 1, .max = 64,
      .doc = "Queue worker processes; client queues are sharded over them by client id." },
    { K("queue_type", NMQ_CT_ENUM, queue_type), .default_value = "fifo",
      .choices = s_queue_types, .flags = HIDDEN,
      .doc = "Order in which a queue delivers: fifo or lifo." },
    { K("message_store.sync", NMQ_CT_BOOL, message_store_sync), .default_value = "off",
      .doc = "Flush offline messages to disk on each commit, so they survive a crash of the machine, not only of the node." },

    /* --- monitoring --------------------------------------------------- */
    { K("systree_enabled", NMQ_CT_BOOL, systree_enabled), .section = "Monitoring",
      .default_value = "on", .flags = LIVE,
      .doc = "Publish the node's metrics under $SYS/<nodename>/." },
    { K("systree_interval", NMQ_CT_INT, systree_interval),
      .default_value = "20000", .min = 0, .max = 86400000, .flags = LIVE,
      .doc = "Milliseconds between $SYS publications; 0 for none." },

    { .name = NULL }
};

#define R_ERLANG   "Erlang VM setting; nemomq is not an Erlang node"
#define R_PLUGIN   "VerneMQ plugin that nemomq does not have"
#define R_LISTENER "listener kind or option nemomq does not have (it has listener.tcp.<name> and listener.vmq.clustering)"
#define R_STORE    "VerneMQ storage engine setting; nemomq stores in LMDB"
#define R_INTERNAL "VerneMQ internal tuning with no counterpart in nemomq"
#define R_LOG      "VerneMQ logging option nemomq does not have"
#define R_METRICS  "metrics exporter nemomq does not have"
#define R_MQTT     "VerneMQ MQTT option nemomq does not implement"

static const nmq_config_ignored_t s_ignored[] = {
    { "erlang.*",                                R_ERLANG },
    { "accept_eula",                             "licence flag of VerneMQ's binary packages" },
    { "platform_bin_dir",                        R_ERLANG },
    { "platform_etc_dir",                        R_ERLANG },
    { "platform_lib_dir",                        R_ERLANG },
    { "metadata_plugin",                         "nemomq has one metadata store, its metadata worker" },
    { "coordinate_registrations",                R_INTERNAL },
    { "vmq_swc.*",                               R_INTERNAL },
    { "leveldb.*",                               R_STORE },
    { "vmq_generic_msg_store.*",                 R_STORE },
    { "plugins.vmq_diversity",                   R_PLUGIN },
    { "plugins.vmq_webhooks",                    R_PLUGIN },
    { "plugins.vmq_bridge",                      R_PLUGIN },
    { "plugins.vmq_http_pub",                    R_PLUGIN },
    { "plugins.vmq_pulse",                       R_PLUGIN },
    { "plugins.vmq_*.*",                         R_PLUGIN },
    { "vmq_diversity.*",                         R_PLUGIN },
    { "vmq_webhooks.*",                          R_PLUGIN },
    { "vmq_bridge.*",                            R_PLUGIN },
    { "vmq_http_pub.*",                          R_PLUGIN },
    { "vmq_pulse.*",                             R_PLUGIN },
    { "listener.ssl.*",                          R_LISTENER },
    { "listener.ws.*",                           R_LISTENER },
    { "listener.wss.*",                          R_LISTENER },
    { "listener.http.*",                         R_LISTENER },
    { "listener.https.*",                        R_LISTENER },
    { "listener.vmqs.*",                         R_LISTENER },
    { "listener.vmq.*",                          R_LISTENER },
    { "listener.tcp.*.*",                        R_LISTENER },
    { "listener.tcp.max_connections",            R_LISTENER },
    { "listener.tcp.nr_of_acceptors",            R_LISTENER },
    { "listener.tcp.mountpoint",                 R_LISTENER },
    { "listener.tcp.proxy_protocol",             R_LISTENER },
    { "listener.tcp.proxy_protocol_use_cn_as_username", R_LISTENER },
    { "listener.tcp.allowed_protocol_versions",  R_LISTENER },
    { "listener.tcp.allow_anonymous_override",   R_LISTENER },
    { "listener.tcp.buffer_sizes",               R_LISTENER },
    { "listener.tcp.active_n",                   R_LISTENER },
    { "listener.tcp.forward_connection_opts",    R_LISTENER },
    { "listener.max_connection_lifetime",        R_LISTENER },
    { "max_ws_frame_size",                       R_LISTENER },
    { "max_header_value_length",                 R_LISTENER },
    { "crl_refresh_interval",                    R_LISTENER },
    { "http_module.*",                           R_METRICS },
    { "min_apikey_length",                       R_METRICS },
    { "max_apikey_expiry_days",                  R_METRICS },
    { "graphite_*",                              R_METRICS },
    { "prometheus_namespace",                    R_METRICS },
    { "systree_qos",                             R_MQTT },
    { "systree_retain",                          R_MQTT },
    { "systree_mountpoint",                      R_MQTT },
    { "log.error",                               R_LOG },
    { "log.syslog*",                             R_LOG },
    { "log.crash*",                              R_LOG },
    { "log.sasl*",                               R_LOG },
    { "log.console.file.format",                 R_LOG },
    { "logging.*",                               R_LOG },
    { "override_max_online_messages",            R_MQTT },
    { "max_message_rate",                        R_MQTT },
    { "message_size_limit",                      R_MQTT },
    { "max_subscriptions_per_client",            R_MQTT },
    { "suppress_lwt_on_session_takeover",        R_MQTT },
    { "disconnect_on_unauthorized_publish_v3",   R_MQTT },
    { "queue_deliver_mode",                      R_MQTT },
    { "shared_subscription_timeout_action",      R_MQTT },
    { "expire_retain_cache",                     R_MQTT },
    { "subscriber_retain_mode",                  R_MQTT },
    { "trade_consistency",                       R_MQTT },
    { "default_reg_view",                        R_INTERNAL },
    { "reg_views",                               R_INTERNAL },
    { "max_drain_time",                          R_INTERNAL },
    { "max_msgs_per_drain_step",                 R_INTERNAL },
    { "queue_sup_sup_children",                  R_INTERNAL },
    { "outgoing_clustering_buffer_size",         R_INTERNAL },
    { "incoming_clustering_buffer_size",         R_INTERNAL },
    { "outgoing_clustering_flush_threshold",     R_INTERNAL },
    { "outgoing_cluster_handshake_ack_timeout",  R_INTERNAL },
    { "outgoing_connect_options",                R_INTERNAL },
    { "outgoing_connect_timeout",                R_INTERNAL },
    { "remote_enqueue_timeout",                  R_INTERNAL },
    { "cluster_ready_rpc_timeout",               R_INTERNAL },
    { "fanout.*",                                R_INTERNAL },
    { NULL, NULL }
};

const nmq_config_key_t *nmq_config_table(void) { return s_keys; }
const nmq_config_ignored_t *nmq_config_ignored(void) { return s_ignored; }
