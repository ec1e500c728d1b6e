/* check_config — unit tests of the configuration module (nmq_config).
 *
 * Config parsing is pure, so it is tested exhaustively here rather than
 * through a running node: every type with good and bad text and the exact
 * error an operator would read, the vernemq.conf of seed 004, and the
 * properties the supervisor relies on (a load is all or nothing, dump -> load
 * is a fixed point, diff compares listeners as a set).  Several tests walk the
 * table itself, so a new key is covered the day it is added.  Run from the
 * repository root: the seed file and conf/nemomq.conf are read by relative path.
 */
#include "nmq_config.h"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ORIGIN "/etc/nemomq/nemomq.conf"

typedef struct {
    int count;
    char keys[64][128];
    int lines[64];
    char last_msg[512];
} s_warnings_t;

static void s_warn(const char *file, int line, const char *key, const char *msg, void *arg)
{
    s_warnings_t *w = arg;
    if (w->count < 64) {
        snprintf(w->keys[w->count], sizeof w->keys[0], "%s", key);
        w->lines[w->count] = line;
    }
    w->count++;
    snprintf(w->last_msg, sizeof w->last_msg, "%s:%d: %s: %s", file, line, key, msg);
}

/* Load text as if it were the file ORIGIN; the error text, or "" when it loaded. */
static const char *s_load(nmq_config_t *cfg, const char *text, s_warnings_t *w)
{
    static char err[1024];
    err[0] = '\0';
    if (nmq_config_load_string(cfg, text, ORIGIN, w ? s_warn : NULL, w, err, sizeof err) < 0)
        ck_assert_msg(err[0], "a failed load must say why");
    else
        err[0] = '\0';
    return err;
}

/* set() then get(): the canonical text, or "ERR: <error>". */
static const char *s_set(nmq_config_t *cfg, const char *key, const char *value)
{
    static char out[1100];
    char err[1024];
    if (nmq_config_set(cfg, key, value, false, err, sizeof err) < 0)
        snprintf(out, sizeof out, "ERR: %s", err);
    else
        ck_assert_int_eq(nmq_config_get(cfg, key, out, sizeof out), 0);
    return out;
}

static char *s_get(const nmq_config_t *cfg, const char *key, char *buf, size_t len)
{
    ck_assert_msg(nmq_config_get(cfg, key, buf, len) == 0, "get %s", key);
    return buf;
}

/* The key a row is written as: "listener.tcp.default" for the pattern row. */
static void s_row_key(const nmq_config_key_t *k, char *buf, size_t len)
{
    const char *dollar = strstr(k->name, "$name");
    if (dollar)
        snprintf(buf, len, "%.*sdefault", (int)(dollar - k->name), k->name);
    else
        snprintf(buf, len, "%s", k->name);
}

static char *s_read(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(data);
    ck_assert_int_eq(fread(data, 1, (size_t)n, f), n);
    data[n] = '\0';
    fclose(f);
    return data;
}

/* --- the table ------------------------------------------------------------ */

START_TEST(test_defaults)
{
    nmq_config_t *c = nmq_config_new();
    char key[256], buf[2048];
    for (const nmq_config_key_t *k = nmq_config_table(); k->name; k++) {
        s_row_key(k, key, sizeof key);
        ck_assert_msg(!strcmp(s_get(c, key, buf, sizeof buf), k->default_value),
                      "%s: default '%s' prints as '%s' (write defaults canonically)",
                      k->name, k->default_value, buf);
    }
    ck_assert_str_eq(c->nodename, "nemomq@127.0.0.1");
    ck_assert_str_eq(c->distributed_cookie, "vmq");
    ck_assert_int_eq(c->nr_listeners, 1);
    ck_assert_str_eq(c->listeners[0].kind, "tcp");
    ck_assert_str_eq(c->listeners[0].name, "default");
    ck_assert_str_eq(c->listeners[0].host, "127.0.0.1");
    ck_assert_int_eq(c->listeners[0].port, 1883);
    ck_assert_str_eq(c->listener_vmq_clustering, "127.0.0.1:44053");
    ck_assert_int_eq(c->listener_nr_of_acceptors, 2);
    ck_assert_int_eq(c->listener_max_connections, 10000);
    ck_assert_int_eq(c->queue_shards, 2);
    ck_assert_int_eq(c->supervisor_heartbeat_interval, 1000);
    ck_assert_int_eq(c->log_console_level, NMQ_LOG_INFO);
    ck_assert_str_eq(c->log_console, "file");
    ck_assert_str_eq(c->log_error_file, "/var/log/nemomq/error.log");
    ck_assert(!c->allow_anonymous && c->plugins_vmq_passwd && c->systree_enabled);
    ck_assert_int_eq(c->persistent_client_expiration, 0);
    ck_assert_int_eq(c->max_last_will_delay, -1);
    ck_assert_int_eq(c->max_message_size, 0);
    ck_assert_str_eq(c->listener_mountpoint, "off");
    ck_assert_str_eq(c->source, "");
    nmq_config_destroy(&c);
    ck_assert_ptr_null(c);
}
END_TEST

START_TEST(test_table_sanity)
{
    static const char *const live[] = {
        "listener.nr_of_acceptors", "listener.max_connections", "log.console.level",
        "supervisor.max_restarts", "supervisor.max_restart_period", "allow_anonymous",
        "allow_register_during_netsplit", "allow_publish_during_netsplit",
        "allow_subscribe_during_netsplit", "allow_unsubscribe_during_netsplit",
        "retry_interval", "max_inflight_messages", "max_online_messages",
        "max_offline_messages", "max_message_size", "upgrade_outgoing_qos", "systree_enabled",
        "systree_interval", "shared_subscription_policy", "max_client_id_size",
        "topic_max_depth", "mqtt_connect_timeout", "vmq_passwd.password_reload_interval",
        "vmq_acl.acl_reload_interval", NULL
    };
    const nmq_config_key_t *t = nmq_config_table();
    int n = 0, nlive = 0;
    ck_assert_ptr_nonnull(t[0].section);
    for (const nmq_config_key_t *k = t; k->name; k++, n++) {
        for (const nmq_config_key_t *o = t; o < k; o++)
            ck_assert_msg(strcmp(o->name, k->name), "%s declared twice", k->name);
        ck_assert_msg(k->doc && k->doc[0] && !strchr(k->doc, '\n'), "%s: one doc line", k->name);
        ck_assert_msg(k->default_value, "%s: no default", k->name);
        if (k->type == NMQ_CT_INT && k->size == sizeof(int))
            ck_assert_msg(k->min >= INT_MIN && k->max <= INT_MAX && k->min <= k->max,
                          "%s: bounds do not fit its int field", k->name);
        ck_assert_ptr_eq(nmq_config_lookup(k->name), k);
        bool want_live = false;
        for (const char *const *l = live; *l; l++)
            want_live |= !strcmp(*l, k->name);
        ck_assert_msg(want_live == !!(k->flags & NMQ_CONF_LIVE), "%s: live flag", k->name);
        nlive += want_live;
    }
    ck_assert_int_eq(nlive, 24);
    ck_assert_int_eq(n, 52);
    ck_assert_str_eq(nmq_config_type_name(NMQ_CT_BYTES), "bytes");
    ck_assert_str_eq(nmq_config_type_name(NMQ_CT_LISTENER), "listener");
    ck_assert_str_eq(nmq_log_level_name(NMQ_LOG_WARNING), "warning");
    for (const nmq_config_ignored_t *i = nmq_config_ignored(); i->pattern; i++)
        ck_assert_msg(!nmq_config_lookup(i->pattern), "%s is both ours and ignored", i->pattern);
}
END_TEST

START_TEST(test_lookup)
{
    const nmq_config_key_t *k = nmq_config_lookup("listener.tcp.default");
    ck_assert_ptr_nonnull(k);
    ck_assert_int_eq(k->type, NMQ_CT_LISTENER);
    ck_assert_ptr_eq(nmq_config_lookup("listener.tcp.internal"), k);
    ck_assert_ptr_null(nmq_config_lookup("listener.tcp.max_connections"));
    ck_assert_ptr_null(nmq_config_lookup("listener.tcp.default.max_connections"));
    ck_assert_ptr_null(nmq_config_lookup("erlang.max_ports"));
    ck_assert_ptr_null(nmq_config_lookup("allow_anonymos"));
    ck_assert_ptr_nonnull(nmq_config_lookup("listener.vmq.clustering"));
    ck_assert_ptr_null(nmq_config_lookup("listener.vmq.other"));
    k = nmq_config_lookup("allow_anonymous");
    ck_assert(k && k->type == NMQ_CT_BOOL && (k->flags & NMQ_CONF_LIVE));
}
END_TEST

/* --- one test per type ------------------------------------------------------ */

START_TEST(test_bool)
{
    nmq_config_t *c = nmq_config_new();
    static const char *const on[] = { "on", "true", "yes", "ON", "Yes", NULL };
    static const char *const off[] = { "off", "false", "no", "OFF", NULL };
    for (const char *const *w = on; *w; w++) {
        ck_assert_str_eq(s_set(c, "allow_anonymous", *w), "on");
        ck_assert(c->allow_anonymous);
    }
    for (const char *const *w = off; *w; w++) {
        ck_assert_str_eq(s_set(c, "allow_anonymous", *w), "off");
        ck_assert(!c->allow_anonymous);
    }
    ck_assert_str_eq(s_set(c, "allow_anonymous", "maybe"),
                     "ERR: allow_anonymous: must be on or off, got 'maybe'");
    ck_assert_str_eq(s_set(c, "systree_enabled", "1"),
                     "ERR: systree_enabled: must be on or off, got '1'");
    ck_assert(c->systree_enabled);
    nmq_config_destroy(&c);
}
END_TEST

START_TEST(test_int)
{
    nmq_config_t *c = nmq_config_new();
    ck_assert_str_eq(s_set(c, "listener.nr_of_acceptors", "10"), "10");
    ck_assert_int_eq(c->listener_nr_of_acceptors, 10);
    ck_assert_str_eq(s_set(c, "listener.nr_of_acceptors", "256"), "256");
    ck_assert_str_eq(s_set(c, "listener.nr_of_acceptors", "1"), "1");
    ck_assert_str_eq(s_set(c, "listener.nr_of_acceptors", "+3"), "3");
    ck_assert_str_eq(s_set(c, "listener.nr_of_acceptors", "0"),
                     "ERR: listener.nr_of_acceptors: must be between 1 and 256, got 0");
    ck_assert_str_eq(s_set(c, "listener.nr_of_acceptors", "257"),
                     "ERR: listener.nr_of_acceptors: must be between 1 and 256, got 257");
    ck_assert_str_eq(s_set(c, "listener.nr_of_acceptors", "-1"),
                     "ERR: listener.nr_of_acceptors: must be between 1 and 256, got -1");
    ck_assert_str_eq(s_set(c, "listener.nr_of_acceptors", "99999999999999999999"),
                     "ERR: listener.nr_of_acceptors: must be between 1 and 256, got 99999999999999999999");
    ck_assert_str_eq(s_set(c, "listener.nr_of_acceptors", "abc"),
                     "ERR: listener.nr_of_acceptors: must be an integer, got 'abc'");
    ck_assert_str_eq(s_set(c, "listener.nr_of_acceptors", "12x"),
                     "ERR: listener.nr_of_acceptors: must be an integer, got '12x'");
    ck_assert_str_eq(s_set(c, "listener.nr_of_acceptors", "1.5"),
                     "ERR: listener.nr_of_acceptors: must be an integer, got '1.5'");
    ck_assert_int_eq(c->listener_nr_of_acceptors, 3);
    ck_assert_str_eq(s_set(c, "supervisor.heartbeat_interval", "49"),
                     "ERR: supervisor.heartbeat_interval: must be between 50 and 60000, got 49");
    ck_assert_str_eq(s_set(c, "queue_shards", "65"),
                     "ERR: queue_shards: must be between 1 and 64, got 65");
    ck_assert_str_eq(s_set(c, "systree_interval", "0"), "0");
    nmq_config_destroy(&c);
}
END_TEST

START_TEST(test_unlimited)
{
    nmq_config_t *c = nmq_config_new();
    ck_assert_str_eq(s_set(c, "max_online_messages", "-1"), "-1");
    ck_assert_int_eq(c->max_online_messages, -1);
    ck_assert_str_eq(s_set(c, "max_offline_messages", "-1"), "-1");
    ck_assert_int_eq(c->max_offline_messages, -1);
    ck_assert_str_eq(s_set(c, "max_offline_messages", "0"), "0");
    ck_assert_str_eq(s_set(c, "max_online_messages", "-2"),
                     "ERR: max_online_messages: must be between -1 and 2147483647, got -2");
    ck_assert_str_eq(s_set(c, "listener.max_connections", "-1"), "-1");
    ck_assert_int_eq(c->listener_max_connections, -1);
    ck_assert_str_eq(s_set(c, "listener.max_connections", "500"), "500");
    ck_assert_str_eq(s_set(c, "listener.max_connections", "infinity"), "-1");
    ck_assert_int_eq(c->listener_max_connections, -1);
    ck_assert_str_eq(s_set(c, "listener.max_connections", "-5"),
                     "ERR: listener.max_connections: must be between -1 and 2147483647 or infinity, got -5");
    ck_assert_str_eq(s_set(c, "max_inflight_messages", "-1"),
                     "ERR: max_inflight_messages: must be between 0 and 65535, got -1");
    ck_assert_str_eq(s_set(c, "topic_max_depth", "-1"),
                     "ERR: topic_max_depth: must be between 1 and 65535, got -1");
    nmq_config_destroy(&c);
}
END_TEST

START_TEST(test_bytes)
{
    nmq_config_t *c = nmq_config_new();
    ck_assert_str_eq(s_set(c, "max_message_size", "100"), "100");
    ck_assert_int_eq(c->max_message_size, 100);
    ck_assert_str_eq(s_set(c, "max_message_size", "1024"), "1KB");
    ck_assert_str_eq(s_set(c, "max_message_size", "64KB"), "64KB");
    ck_assert_int_eq(c->max_message_size, 65536);
    ck_assert_str_eq(s_set(c, "max_message_size", "10MB"), "10MB");
    ck_assert_int_eq(c->max_message_size, 10 * 1024 * 1024);
    ck_assert_str_eq(s_set(c, "max_message_size", "64kb"), "64KB");
    ck_assert_str_eq(s_set(c, "max_message_size", "2KiB"), "2KB");
    ck_assert_str_eq(s_set(c, "max_message_size", "1536"), "1536");
    ck_assert_str_eq(s_set(c, "max_message_size", "255MB"), "255MB");
    ck_assert_int_eq(c->max_message_size, 255LL << 20);
    ck_assert_str_eq(s_set(c, "max_message_size", "0"), "0");
    ck_assert_str_eq(s_set(c, "max_message_size", "1GB"),
                     "ERR: max_message_size: must be between 0 and 268435455, got 1GB");
    ck_assert_str_eq(s_set(c, "max_message_size", "256MB"),
                     "ERR: max_message_size: must be between 0 and 268435455, got 256MB");
    ck_assert_str_eq(s_set(c, "max_message_size", "99999999999GB"),
                     "ERR: max_message_size: must be between 0 and 268435455, got 99999999999GB");
    ck_assert_str_eq(s_set(c, "max_message_size", "10XB"),
                     "ERR: max_message_size: must be a size such as 1024, 64KB, 10MB or 1GB, got '10XB'");
    ck_assert_str_eq(s_set(c, "max_message_size", "1.5MB"),
                     "ERR: max_message_size: must be a size such as 1024, 64KB, 10MB or 1GB, got '1.5MB'");
    ck_assert_str_eq(s_set(c, "max_message_size", "MB"),
                     "ERR: max_message_size: must be a size such as 1024, 64KB, 10MB or 1GB, got 'MB'");
    ck_assert_int_eq(c->max_message_size, 0);
    nmq_config_destroy(&c);
}
END_TEST

START_TEST(test_duration)
{
    nmq_config_t *c = nmq_config_new();
    struct { const char *in, *out; int64_t secs; } ok[] = {
        { "never", "never", 0 }, { "0", "never", 0 }, { "1h", "1h", 3600 },
        { "1d", "1d", 86400 }, { "7d", "1w", 604800 }, { "1w", "1w", 604800 },
        { "1m", "1m", 28 * 86400 }, { "1y", "1y", 12 * 28 * 86400 }, { "12m", "1y", 12 * 28 * 86400 },
        { "90", "90", 90 }, { "30s", "30", 30 }, { "7200", "2h", 7200 }, { "NEVER", "never", 0 },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        ck_assert_str_eq(s_set(c, "persistent_client_expiration", ok[i].in), ok[i].out);
        ck_assert_int_eq(c->persistent_client_expiration, ok[i].secs);
    }
    ck_assert_str_eq(s_set(c, "persistent_client_expiration", "2x"),
                     "ERR: persistent_client_expiration: must be a duration such as 30, 1h, 1d, 1w, 1m or 1y or never, got '2x'");
    ck_assert_str_eq(s_set(c, "persistent_client_expiration", "h"),
                     "ERR: persistent_client_expiration: must be a duration such as 30, 1h, 1d, 1w, 1m or 1y or never, got 'h'");
    ck_assert_str_eq(s_set(c, "persistent_client_expiration", "-5"),
                     "ERR: persistent_client_expiration: must be between 1 and 4294967295 or never, got -5");
    ck_assert_str_eq(s_set(c, "persistent_client_expiration", "1000y"),
                     "ERR: persistent_client_expiration: must be between 1 and 4294967295 or never, got 1000y");

    ck_assert_str_eq(s_set(c, "max_last_will_delay", "client"), "client");
    ck_assert_int_eq(c->max_last_will_delay, -1);
    ck_assert_str_eq(s_set(c, "max_last_will_delay", "10"), "10");
    ck_assert_int_eq(c->max_last_will_delay, 10);
    ck_assert_str_eq(s_set(c, "max_last_will_delay", "0"), "0");
    ck_assert_str_eq(s_set(c, "max_last_will_delay", "-1"), "client");
    ck_assert_str_eq(s_set(c, "max_last_will_delay", "1h"), "1h");
    ck_assert_str_eq(s_set(c, "max_last_will_delay", "never"),
                     "ERR: max_last_will_delay: must be a duration such as 30, 1h, 1d, 1w, 1m or 1y or client, got 'never'");
    ck_assert_int_eq(c->max_last_will_delay, 3600);
    nmq_config_destroy(&c);
}
END_TEST

START_TEST(test_string)
{
    nmq_config_t *c = nmq_config_new();
    s_warnings_t w = { 0 };
    ck_assert_str_eq(s_set(c, "nodename", "nemomq@10.0.0.2"), "nemomq@10.0.0.2");
    ck_assert_str_eq(c->nodename, "nemomq@10.0.0.2");
    ck_assert_str_eq(s_set(c, "nodename", "VerneMQ@node-1.example.com"), "VerneMQ@node-1.example.com");
    ck_assert_str_eq(s_set(c, "nodename", "nohost"),
                     "ERR: nodename: must be name@host, e.g. nemomq@10.0.0.1");
    ck_assert_str_eq(s_set(c, "nodename", "a@"), "ERR: nodename: must be name@host, e.g. nemomq@10.0.0.1");
    ck_assert_str_eq(s_set(c, "nodename", "@b"), "ERR: nodename: must be name@host, e.g. nemomq@10.0.0.1");
    ck_assert_str_eq(s_set(c, "nodename", "a b@c"),
                     "ERR: nodename: the name before '@' may use letters, digits, '_' and '-' only");
    char long_value[400];
    memset(long_value, 'x', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = '\0';
    ck_assert_str_eq(s_set(c, "distributed_cookie", long_value),
                     "ERR: distributed_cookie: too long (at most 255 characters)");
    ck_assert_str_eq(s_set(c, "distributed_cookie", "  spaced  "), "spaced");
    ck_assert_str_eq(s_set(c, "distributed_cookie", ""), "ERR: distributed_cookie: missing value");
    ck_assert_str_eq(s_set(c, "distributed_cookie", "a #b"),
                     "ERR: distributed_cookie: ' #' would start a comment in the value");
    ck_assert_str_eq(s_set(c, "distributed_cookie", "a\nb"),
                     "ERR: distributed_cookie: control character in the value");
    ck_assert_str_eq(s_load(c, "distributed_cookie = a=b=c\nlistener.mountpoint = tenant/a/\n", &w), "");
    ck_assert_str_eq(c->distributed_cookie, "a=b=c");
    ck_assert_str_eq(c->listener_mountpoint, "tenant/a/");
    nmq_config_destroy(&c);
}
END_TEST

START_TEST(test_path)
{
    nmq_config_t *c = nmq_config_new();
    char cwd[1024], want[2048], err[1024];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_str_eq(s_load(c, "platform_data_dir = data\n"
                               "platform_log_dir = ../log/./nemomq/\n"
                               "vmq_acl.acl_file = ./a//b/../vmq.acl\n"
                               "vmq_passwd.password_file = /srv/x/../vmq.passwd\n"
                               "log.error.file = off\n", NULL), "");
    ck_assert_str_eq(c->platform_data_dir, "/etc/nemomq/data");
    ck_assert_str_eq(c->platform_log_dir, "/etc/log/nemomq");
    ck_assert_str_eq(c->vmq_acl_acl_file, "/etc/nemomq/a/vmq.acl");
    ck_assert_str_eq(c->vmq_passwd_password_file, "/srv/vmq.passwd");
    ck_assert_str_eq(c->log_error_file, "");
    ck_assert_str_eq(s_set(c, "log.error.file", "off"), "off");
    ck_assert_str_eq(s_set(c, "platform_data_dir", "/../../x"), "/x");
    /* Too long once folded, and too long to fold even if it would shrink. */
    char long_path[4000] = "/";
    for (int i = 0; i < 1500; i++)
        strcat(long_path, "a/");
    ck_assert_str_eq(s_set(c, "platform_data_dir", long_path),
                     "ERR: platform_data_dir: path too long (at most 1023 characters)");
    strcpy(long_path, "/");
    for (int i = 0; i < 700; i++)
        strcat(long_path, "x/../");
    ck_assert_str_eq(s_set(c, "platform_data_dir", long_path),
                     "ERR: platform_data_dir: path too long (at most 1023 characters)");
    ck_assert_str_eq(c->platform_data_dir, "/x");
    ck_assert_str_eq(s_set(c, "platform_data_dir", "/srv/x /"),
                     "ERR: platform_data_dir: a path cannot end with a space");

    /* No origin: relative to the current directory; a relative origin: to its directory. */
    ck_assert_int_eq(nmq_config_load_string(c, "platform_data_dir = data", NULL, NULL, NULL,
                                            err, sizeof err), 0);
    snprintf(want, sizeof want, "%s/data", cwd);
    ck_assert_str_eq(c->platform_data_dir, want);
    ck_assert_int_eq(nmq_config_load_string(c, "platform_data_dir = data", "conf/x.conf", NULL,
                                            NULL, err, sizeof err), 0);
    snprintf(want, sizeof want, "%s/conf/data", cwd);
    ck_assert_str_eq(c->platform_data_dir, want);
    ck_assert_str_eq(c->source, "");
    /* set() with no source: the current directory. */
    snprintf(want, sizeof want, "%s/pw", cwd);
    ck_assert_str_eq(s_set(c, "vmq_passwd.password_file", "pw"), want);

    /* A file: relative paths from its directory, and so are later set()s. */
    char dir[] = "/tmp/check_config.XXXXXX", path[256];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/nemomq.conf", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("vmq_acl.acl_file = acl\n", f);
    fclose(f);
    ck_assert_int_eq(nmq_config_load_file(c, path, NULL, NULL, err, sizeof err), 0);
    ck_assert_str_eq(c->source, path);
    snprintf(want, sizeof want, "%s/acl", dir);
    ck_assert_str_eq(c->vmq_acl_acl_file, want);
    snprintf(want, sizeof want, "%s/pw", dir);
    ck_assert_str_eq(s_set(c, "vmq_passwd.password_file", "pw"), want);
    unlink(path);
    rmdir(dir);
    nmq_config_destroy(&c);
}
END_TEST

START_TEST(test_enum)
{
    nmq_config_t *c = nmq_config_new();
    ck_assert_str_eq(s_set(c, "queue_type", "lifo"), "lifo");
    ck_assert_str_eq(c->queue_type, "lifo");
    ck_assert_str_eq(s_set(c, "queue_type", "stack"),
                     "ERR: queue_type: must be one of fifo, lifo, got 'stack'");
    ck_assert_str_eq(s_set(c, "shared_subscription_policy", "local_only"), "local_only");
    ck_assert_str_eq(s_set(c, "shared_subscription_policy", "random"), "random");
    ck_assert_str_eq(c->shared_subscription_policy, "random");
    ck_assert_str_eq(s_set(c, "shared_subscription_policy", "round_robin"),
                     "ERR: shared_subscription_policy: must be one of prefer_local, local_only, random, got 'round_robin'");
    ck_assert_str_eq(s_set(c, "log.console", "both"), "both");
    ck_assert_str_eq(s_set(c, "log.console", "off"), "off");
    ck_assert_str_eq(s_set(c, "log.console", "syslog"),
                     "ERR: log.console: must be one of off, file, console, both, got 'syslog'");
    nmq_config_destroy(&c);
}
END_TEST

START_TEST(test_addr)
{
    nmq_config_t *c = nmq_config_new();
    const char *k = "listener.vmq.clustering";
    ck_assert_str_eq(s_set(c, k, "0.0.0.0:44053"), "0.0.0.0:44053");
    ck_assert_str_eq(c->listener_vmq_clustering, "0.0.0.0:44053");
    ck_assert_str_eq(s_set(c, k, "[::1]:44053"), "[::1]:44053");
    ck_assert_str_eq(s_set(c, k, "[fe80::1]:1"), "[fe80::1]:1");
    ck_assert_str_eq(s_set(c, k, "node-2.example.com:65535"), "node-2.example.com:65535");
    ck_assert_str_eq(s_set(c, k, "44053"),
                     "ERR: listener.vmq.clustering: must be ip:port (IPv6 as [::1]:1883), got '44053'");
    ck_assert_str_eq(s_set(c, k, ":1883"), "ERR: listener.vmq.clustering: host is missing in ':1883'");
    ck_assert_str_eq(s_set(c, k, "[]:1883"), "ERR: listener.vmq.clustering: host is missing in '[]:1883'");
    ck_assert_str_eq(s_set(c, k, "host:0"),
                     "ERR: listener.vmq.clustering: port must be between 1 and 65535, got '0'");
    ck_assert_str_eq(s_set(c, k, "host:65536"),
                     "ERR: listener.vmq.clustering: port must be between 1 and 65535, got '65536'");
    ck_assert_str_eq(s_set(c, k, "host:"),
                     "ERR: listener.vmq.clustering: port must be between 1 and 65535, got ''");
    ck_assert_str_eq(s_set(c, k, "host:http"),
                     "ERR: listener.vmq.clustering: port must be between 1 and 65535, got 'http'");
    ck_assert_str_eq(s_set(c, k, "::1:1883"),
                     "ERR: listener.vmq.clustering: an IPv6 address is written in brackets, [::1]:1883, got '::1:1883'");
    ck_assert_str_eq(s_set(c, k, "[::1]"),
                     "ERR: listener.vmq.clustering: must be ip:port (IPv6 as [::1]:1883), got '[::1]'");
    ck_assert_str_eq(s_set(c, k, "[zz]:1"),
                     "ERR: listener.vmq.clustering: 'zz' is not an IP address or host name");
    ck_assert_str_eq(s_set(c, k, "999.1.1.1:1"),
                     "ERR: listener.vmq.clustering: '999.1.1.1' is not an IP address or host name");
    ck_assert_str_eq(s_set(c, k, "bad host:1"),
                     "ERR: listener.vmq.clustering: 'bad host' is not an IP address or host name");
    ck_assert_str_eq(c->listener_vmq_clustering, "node-2.example.com:65535");
    nmq_config_destroy(&c);
}
END_TEST

START_TEST(test_loglevel)
{
    nmq_config_t *c = nmq_config_new();
    struct { const char *in, *out; nmq_log_level_t level; } ok[] = {
        { "debug", "debug", NMQ_LOG_DEBUG }, { "info", "info", NMQ_LOG_INFO },
        { "warning", "warning", NMQ_LOG_WARNING }, { "error", "error", NMQ_LOG_ERROR },
        { "warn", "warning", NMQ_LOG_WARNING }, { "notice", "info", NMQ_LOG_INFO },
        { "critical", "error", NMQ_LOG_ERROR }, { "DEBUG", "debug", NMQ_LOG_DEBUG },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        ck_assert_str_eq(s_set(c, "log.console.level", ok[i].in), ok[i].out);
        ck_assert_int_eq(c->log_console_level, ok[i].level);
    }
    ck_assert_str_eq(s_set(c, "log.console.level", "verbose"),
                     "ERR: log.console.level: must be one of debug, info, warning, error, got 'verbose'");
    nmq_config_destroy(&c);
}
END_TEST

START_TEST(test_listeners)
{
    nmq_config_t *c = nmq_config_new();
    s_warnings_t w = { 0 };
    char buf[512];
    /* A file without listener lines keeps the default one. */
    ck_assert_str_eq(s_load(c, "allow_anonymous = on\n", &w), "");
    ck_assert_int_eq(c->nr_listeners, 1);
    /* The first listener line replaces the default; a name given again replaces its line. */
    ck_assert_str_eq(s_load(c, "listener.tcp.a = 1.2.3.4:1\n"
                               "listener.tcp.b = [::]:2\n"
                               "listener.tcp.max_connections = 5\n"
                               "listener.tcp.b.mountpoint = x\n"
                               "listener.tcp.a = 5.6.7.8:3\n", &w), "");
    ck_assert_int_eq(c->nr_listeners, 2);
    ck_assert_str_eq(c->listeners[0].name, "a");
    ck_assert_str_eq(c->listeners[0].host, "5.6.7.8");
    ck_assert_int_eq(c->listeners[0].port, 3);
    ck_assert_str_eq(c->listeners[1].kind, "tcp");
    ck_assert_str_eq(c->listeners[1].host, "::");
    ck_assert_str_eq(s_get(c, "listener.tcp.b", buf, sizeof buf), "[::]:2");
    ck_assert_int_eq(nmq_config_get(c, "listener.tcp.default", buf, sizeof buf), -1);
    ck_assert_int_eq(w.count, 2);
    /* set() adds or replaces one listener and keeps the others. */
    ck_assert_str_eq(s_set(c, "listener.tcp.c", "127.0.0.1:1884"), "127.0.0.1:1884");
    ck_assert_str_eq(s_set(c, "listener.tcp.a", "127.0.0.1:1885"), "127.0.0.1:1885");
    ck_assert_int_eq(c->nr_listeners, 3);
    ck_assert_str_eq(s_set(c, "listener.tcp.d", "127.0.0.1:0"),
                     "ERR: listener.tcp.d: port must be between 1 and 65535, got '0'");
    char name[100], text[8192] = "";
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    snprintf(buf, sizeof buf, "listener.tcp.%s", name);
    ck_assert_str_eq(s_set(c, buf, "1.1.1.1:1"),
                     "ERR: listener.tcp.nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn: "
                     "a listener name is 1 to 63 letters, digits, '_' or '-'");
    ck_assert_int_eq(c->nr_listeners, 3);
    /* At most NMQ_MAX_LISTENERS; the one too many is an error on its line. */
    for (int i = 0; i <= NMQ_MAX_LISTENERS; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "listener.tcp.l%d = 10.0.0.1:%d\n",
                 i, 1000 + i);
    ck_assert_str_eq(s_load(c, text, &w), ORIGIN ":17: listener.tcp.l16: too many listeners (at most 16)");
    ck_assert_int_eq(c->nr_listeners, 3);
    nmq_config_destroy(&c);
}
END_TEST

/* --- the file format ------------------------------------------------------------ */

START_TEST(test_format)
{
    nmq_config_t *c = nmq_config_new();
    s_warnings_t w = { 0 };
    ck_assert_str_eq(s_load(c, "# a comment\n"
                               "\n"
                               "   \t\n"
                               "  # an indented comment\n"
                               "allow_anonymous=on\n"
                               "\tretry_interval \t=\t 30   # seconds\n"
                               "distributed_cookie = s3#cret\n"
                               "max_inflight_messages = 5\r\n"
                               "max_inflight_messages = 7\n"
                               "nodename = a@b", &w), "");
    ck_assert(c->allow_anonymous);
    ck_assert_int_eq(c->retry_interval, 30);
    ck_assert_str_eq(c->distributed_cookie, "s3#cret");
    ck_assert_int_eq(c->max_inflight_messages, 7);
    ck_assert_str_eq(c->nodename, "a@b");
    ck_assert_int_eq(w.count, 0);
    ck_assert_str_eq(s_load(c, "", &w), "");
    ck_assert_str_eq(s_load(c, "\xEF\xBB\xBFmax_inflight_messages = 9\n", &w), "");
    ck_assert_int_eq(c->max_inflight_messages, 9);
    nmq_config_destroy(&c);
}
END_TEST

START_TEST(test_syntax_errors)
{
    nmq_config_t *c = nmq_config_new();
    s_warnings_t w = { 0 };
    ck_assert_str_eq(s_load(c, "# x\n\nallow_anonymous on\n", &w),
                     ORIGIN ":3: allow_anonymous on: expected 'key = value'");
    ck_assert_str_eq(s_load(c, " = on\n", &w), ORIGIN ":1: missing key before '='");
    ck_assert_str_eq(s_load(c, "allow anonymous = on\n", &w),
                     ORIGIN ":1: allow anonymous: not a key (letters, digits, '.', '_' and '-')");
    ck_assert_str_eq(s_load(c, "\nallow_anonymous =   \n", &w), ORIGIN ":2: allow_anonymous: missing value");
    ck_assert_str_eq(s_load(c, "allow_anonymous = # on\n", &w), ORIGIN ":1: allow_anonymous: missing value");
    char err[256];
    ck_assert_int_eq(nmq_config_load_string(c, "x", NULL, NULL, NULL, err, sizeof err), -1);
    ck_assert_str_eq(err, "(string):1: x: expected 'key = value'");
    nmq_config_destroy(&c);
}
END_TEST

START_TEST(test_unknown_key)
{
    nmq_config_t *c = nmq_config_new();
    s_warnings_t w = { 0 };
    ck_assert_str_eq(s_load(c, "allow_anonymous = on\nallow_anonymos = on\n", &w),
                     ORIGIN ":2: allow_anonymos: unknown key, did you mean allow_anonymous?");
    ck_assert_str_eq(s_load(c, "max_inflight_mesages = 3\n", &w),
                     ORIGIN ":1: max_inflight_mesages: unknown key, did you mean max_inflight_messages?");
    ck_assert_str_eq(s_load(c, "frobnicate = 1\n", &w), ORIGIN ":1: frobnicate: unknown key");
    ck_assert_str_eq(s_load(c, "listener.tcp = 1.2.3.4:5\n", &w), ORIGIN ":1: listener.tcp: unknown key");
    ck_assert_str_eq(s_load(c, "plugins.my_plugin = on\n", &w), ORIGIN ":1: plugins.my_plugin: unknown key");
    ck_assert(!c->allow_anonymous);
    ck_assert_int_eq(w.count, 0);
    nmq_config_destroy(&c);
}
END_TEST

START_TEST(test_ignored_warned_once)
{
    nmq_config_t *c = nmq_config_new();
    s_warnings_t w = { 0 };
    ck_assert_str_eq(s_load(c, "erlang.async_threads = 64\n"
                               "graphite_host = localhost\n"
                               "erlang.async_threads = 128\n"
                               "listener.ssl.default = 0.0.0.0:8883\n"
                               "graphite_host = other\n"
                               "log.error = on\n"
                               "accept_eula = yes\n"
                               "vmq_swc.sync_interval =\n", &w), "");
    ck_assert_int_eq(w.count, 6);
    ck_assert_str_eq(w.keys[0], "erlang.async_threads");
    ck_assert_int_eq(w.lines[0], 1);
    ck_assert_str_eq(w.keys[1], "graphite_host");
    ck_assert_str_eq(w.keys[2], "listener.ssl.default");
    ck_assert_int_eq(w.lines[2], 4);
    ck_assert_str_eq(w.keys[3], "log.error");
    ck_assert_str_eq(w.last_msg, ORIGIN ":8: vmq_swc.sync_interval: ignored: "
                                        "VerneMQ internal tuning with no counterpart in nemomq");
    /* Each load warns afresh; no callback is fine too. */
    ck_assert_str_eq(s_load(c, "erlang.async_threads = 64\n", &w), "");
    ck_assert_int_eq(w.count, 7);
    char err[256];
    ck_assert_int_eq(nmq_config_load_string(c, "leveldb.x = 1", NULL, NULL, NULL, err, sizeof err), 0);
    nmq_config_destroy(&c);
}
END_TEST

START_TEST(test_bad_value_exact)
{
    nmq_config_t *c = nmq_config_new();
    s_warnings_t w = { 0 };
    char text[1024] = "max_inflight_messages = 5\nlistener.tcp.x = 1.2.3.4:5\n";
    for (int i = 3; i < 12; i++)
        strcat(text, "# comment\n");
    strcat(text, "listener.nr_of_acceptors = 0\n");
    ck_assert_str_eq(s_load(c, text, &w),
                     "/etc/nemomq/nemomq.conf:12: listener.nr_of_acceptors: must be between 1 and 256, got 0");
    /* All or nothing: the good lines before the bad one were not applied. */
    ck_assert_int_eq(c->max_inflight_messages, 20);
    ck_assert_int_eq(c->nr_listeners, 1);
    ck_assert_str_eq(c->listeners[0].name, "default");
    nmq_config_destroy(&c);
}
END_TEST

START_TEST(test_cannot_read)
{
    nmq_config_t *c = nmq_config_new();
    char err[512];
    ck_assert_int_eq(nmq_config_load_file(c, "/nonexistent/nemomq.conf", NULL, NULL, err, sizeof err), -1);
    ck_assert_str_eq(err, "/nonexistent/nemomq.conf: cannot read: No such file or directory");
    ck_assert_int_eq(nmq_config_load_file(c, "/tmp", NULL, NULL, err, sizeof err), -1);
    ck_assert_str_eq(err, "/tmp: cannot read: Is a directory");
    ck_assert_str_eq(c->source, "");
    nmq_config_destroy(&c);
}
END_TEST

START_TEST(test_seed004)
{
    nmq_config_t *c = nmq_config_new();
    s_warnings_t w = { 0 };
    char err[512] = "";
    int rc = nmq_config_load_file(c, "test/data/seed004-vernemq.conf", s_warn, &w, err, sizeof err);
    ck_assert_msg(rc == 0, "seed 004 does not load: %s", err);
    ck_assert_int_eq(w.count, 23);
    for (int i = 0; i < w.count; i++)
        for (int j = 0; j < i; j++)
            ck_assert_str_ne(w.keys[i], w.keys[j]);
    ck_assert_int_eq(c->listener_nr_of_acceptors, 10);
    ck_assert_int_eq(c->max_online_messages, -1);
    ck_assert_int_eq(c->max_offline_messages, -1);
    ck_assert_int_eq(c->nr_listeners, 1);
    ck_assert_str_eq(c->listeners[0].name, "default");
    ck_assert_str_eq(c->listeners[0].host, "192.168.100.123");
    ck_assert_int_eq(c->listeners[0].port, 1883);
    ck_assert_str_eq(c->listener_vmq_clustering, "192.168.100.123:44053");
    ck_assert_str_eq(c->nodename, "VerneMQ@192.168.100.123");
    ck_assert_str_eq(c->distributed_cookie, "vmqaplomb");
    ck_assert(c->allow_anonymous && c->allow_register_during_netsplit &&
              c->allow_publish_during_netsplit && c->allow_subscribe_during_netsplit &&
              c->allow_unsubscribe_during_netsplit && !c->allow_multiple_sessions);
    ck_assert_int_eq(c->retry_interval, 10);
    ck_assert_int_eq(c->max_client_id_size, 512);
    ck_assert_int_eq(c->max_inflight_messages, 1000);
    ck_assert_int_eq(c->listener_max_connections, 10000);
    ck_assert_str_eq(c->shared_subscription_policy, "random");
    ck_assert_str_eq(c->vmq_acl_acl_file, "/etc/vernemq/vmq.acl");
    ck_assert_str_eq(c->log_console_file, "/var/log/vernemq/console.log");
    ck_assert_str_eq(c->log_error_file, "/var/log/vernemq/error.log");
    ck_assert_int_eq(c->systree_interval, 20000);
    ck_assert_str_eq(c->listener_mountpoint, "off");
    ck_assert_ptr_nonnull(strstr(c->source, "/test/data/seed004-vernemq.conf"));
    ck_assert_int_eq(c->source[0], '/');
    nmq_config_destroy(&c);
}
END_TEST

/* --- set and get ------------------------------------------------------------------ */

START_TEST(test_set_live_only)
{
    nmq_config_t *c = nmq_config_new();
    char err[512];
    ck_assert_int_eq(nmq_config_set(c, "nodename", "x@y", true, err, sizeof err), -1);
    ck_assert_str_eq(err, "nodename: cannot be changed on a running node");
    ck_assert_str_eq(c->nodename, "nemomq@127.0.0.1");
    ck_assert_int_eq(nmq_config_set(c, "listener.tcp.default", "1.1.1.1:1", true, err, sizeof err), -1);
    ck_assert_str_eq(err, "listener.tcp.default: cannot be changed on a running node");
    ck_assert_int_eq(nmq_config_set(c, "queue_shards", "4", true, err, sizeof err), -1);
    ck_assert_int_eq(nmq_config_set(c, "listener.nr_of_acceptors", "4", true, err, sizeof err), 0);
    ck_assert_int_eq(c->listener_nr_of_acceptors, 4);
    ck_assert_int_eq(nmq_config_set(c, "log.console.level", "debug", true, err, sizeof err), 0);
    ck_assert_int_eq(nmq_config_set(c, "erlang.max_ports", "1", false, err, sizeof err), -1);
    ck_assert_str_eq(err, "erlang.max_ports: a VerneMQ key nemomq ignores "
                          "(Erlang VM setting; nemomq is not an Erlang node)");
    ck_assert_int_eq(nmq_config_set(c, "allow_anonymos", "on", false, err, sizeof err), -1);
    ck_assert_str_eq(err, "allow_anonymos: unknown key, did you mean allow_anonymous?");
    nmq_config_destroy(&c);
}
END_TEST

/* Every key in the table: its printed value sets back to itself, and text of
 * the wrong type is refused without touching it. */
START_TEST(test_get_set_roundtrip_all)
{
    nmq_config_t *c = nmq_config_new();
    char key[256], before[2048], after[2048], err[512];
    for (const nmq_config_key_t *k = nmq_config_table(); k->name; k++) {
        s_row_key(k, key, sizeof key);
        s_get(c, key, before, sizeof before);
        ck_assert_msg(nmq_config_set(c, key, before, false, err, sizeof err) == 0, "%s: %s", key, err);
        ck_assert_str_eq(s_get(c, key, after, sizeof after), before);
        if (k->type != NMQ_CT_STRING && k->type != NMQ_CT_PATH) {
            ck_assert_msg(nmq_config_set(c, key, "@@garbage@@", false, err, sizeof err) == -1,
                          "%s took garbage", key);
            ck_assert_msg(!strncmp(err, key, strlen(key)) && !strncmp(err + strlen(key), ": ", 2),
                          "%s: error '%s' does not name the key", key, err);
            ck_assert_str_eq(s_get(c, key, after, sizeof after), before);
        }
        ck_assert_int_eq(nmq_config_get(c, key, after, strlen(before)), -1);
    }
    ck_assert_int_eq(nmq_config_get(c, "no_such_key", after, sizeof after), -1);
    ck_assert_int_eq(nmq_config_get(c, "erlang.max_ports", after, sizeof after), -1);
    nmq_config_destroy(&c);
}
END_TEST

/* --- dump and diff ------------------------------------------------------------------- */

static void s_collect(const nmq_config_key_t *key, const char *name, void *arg)
{
    char *out = arg;
    ck_assert_ptr_nonnull(key);
    ck_assert_ptr_eq(nmq_config_lookup(name), key);
    strcat(out, name);
    strcat(out, ";");
}

START_TEST(test_dump_fixed_point)
{
    nmq_config_t *c = nmq_config_new();
    char err[512], changes[4096] = "";
    ck_assert_int_eq(nmq_config_load_file(c, "test/data/seed004-vernemq.conf", NULL, NULL,
                                          err, sizeof err), 0);
    ck_assert_str_eq(s_load(c, "listener.tcp.v6 = [::1]:1884\n"
                               "listener.tcp.default = 0.0.0.0:1883\n"
                               "log.error.file = off\n"
                               "persistent_client_expiration = 2w\n"
                               "max_last_will_delay = 90\n"
                               "max_message_size = 64KB\n"
                               "log.console.level = notice\n"
                               "platform_data_dir = data\n", NULL), "");
    char *d1 = nmq_config_dump(c);
    ck_assert_ptr_nonnull(strstr(d1, "\nlistener.tcp.v6 = [::1]:1884\n"));
    ck_assert_ptr_nonnull(strstr(d1, "\nlog.error.file = off\n"));

    nmq_config_t *c2 = nmq_config_new();
    s_warnings_t w = { 0 };
    ck_assert_int_eq(nmq_config_load_string(c2, d1, NULL, s_warn, &w, err, sizeof err), 0);
    ck_assert_int_eq(w.count, 0);
    char *d2 = nmq_config_dump(c2);
    ck_assert_str_eq(d1, d2);
    nmq_config_diff(c, c2, s_collect, changes);
    ck_assert_str_eq(changes, "");

    nmq_config_t *c3 = nmq_config_dup(c);
    char *d3 = nmq_config_dump(c3);
    ck_assert_str_eq(d1, d3);
    ck_assert_str_eq(c3->source, c->source);
    nmq_config_diff(c, c3, s_collect, changes);
    ck_assert_str_eq(changes, "");

    /* The defaults are a fixed point too, and dup of them is equal. */
    nmq_config_t *d = nmq_config_new(), *e = nmq_config_new();
    char *dd = nmq_config_dump(d);
    ck_assert_int_eq(nmq_config_load_string(e, dd, NULL, NULL, NULL, err, sizeof err), 0);
    nmq_config_diff(d, e, s_collect, changes);
    ck_assert_str_eq(changes, "");
    free(dd);
    free(d1);
    free(d2);
    free(d3);
    nmq_config_destroy(&c);
    nmq_config_destroy(&c2);
    nmq_config_destroy(&c3);
    nmq_config_destroy(&d);
    nmq_config_destroy(&e);
}
END_TEST

START_TEST(test_diff)
{
    nmq_config_t *a = nmq_config_new(), *b = nmq_config_new();
    char changes[4096] = "";
    nmq_config_diff(a, b, s_collect, changes);
    ck_assert_str_eq(changes, "");
    ck_assert_str_eq(s_set(b, "allow_anonymous", "on"), "on");
    ck_assert_str_eq(s_set(b, "listener.nr_of_acceptors", "4"), "4");
    ck_assert_str_eq(s_set(b, "listener.tcp.x", "10.0.0.1:1883"), "10.0.0.1:1883");
    ck_assert_str_eq(s_set(b, "listener.tcp.default", "127.0.0.1:1884"), "127.0.0.1:1884");
    nmq_config_diff(a, b, s_collect, changes);
    ck_assert_str_eq(changes, "listener.tcp.default;listener.tcp.x;listener.nr_of_acceptors;allow_anonymous;");
    /* A listener only in a is reported too. */
    changes[0] = '\0';
    nmq_config_diff(b, a, s_collect, changes);
    ck_assert_str_eq(changes, "listener.tcp.default;listener.tcp.x;listener.nr_of_acceptors;allow_anonymous;");

    /* Listeners compare as a set: the same ones in another order are equal. */
    nmq_config_t *p = nmq_config_new(), *q = nmq_config_new();
    ck_assert_str_eq(s_load(p, "listener.tcp.p = 1.1.1.1:1\nlistener.tcp.q = 2.2.2.2:2\n", NULL), "");
    ck_assert_str_eq(s_load(q, "listener.tcp.q = 2.2.2.2:2\nlistener.tcp.p = 1.1.1.1:1\n", NULL), "");
    changes[0] = '\0';
    nmq_config_diff(p, q, s_collect, changes);
    ck_assert_str_eq(changes, "");
    nmq_config_destroy(&a);
    nmq_config_destroy(&b);
    nmq_config_destroy(&p);
    nmq_config_destroy(&q);
}
END_TEST

/* --- generated documents ------------------------------------------------------------- */

START_TEST(test_conf_in_sync)
{
    char *want = nmq_config_render_conf();
    char *have = s_read("conf/nemomq.conf");
    ck_assert_msg(have != NULL, "conf/nemomq.conf cannot be read (run the tests from the "
                                "repository root; `make docs` writes it)");
    ck_assert_msg(!strcmp(want, have), "conf/nemomq.conf is out of date with the key table in "
                                       "common/nmq_config_table.c: run `make docs`");
    free(want);
    free(have);
}
END_TEST

START_TEST(test_render_conf)
{
    char *conf = nmq_config_render_conf();
    char line[512], key[256];
    ck_assert_ptr_nonnull(strstr(conf, "`make docs`"));
    for (const nmq_config_key_t *k = nmq_config_table(); k->name; k++) {
        s_row_key(k, key, sizeof key);
        snprintf(line, sizeof line, "## Default: %s\n%s = %s\n", k->default_value, key, k->default_value);
        if (k->flags & NMQ_CONF_HIDDEN)
            ck_assert_msg(!strstr(conf, line), "%s is hidden", key);
        else
            ck_assert_msg(strstr(conf, line) != NULL, "%s missing from the conf", key);
    }
    /* The generated file loads without a word, to the defaults. */
    nmq_config_t *c = nmq_config_new(), *d = nmq_config_new();
    s_warnings_t w = { 0 };
    char changes[1024] = "";
    ck_assert_str_eq(s_load(c, conf, &w), "");
    ck_assert_int_eq(w.count, 0);
    nmq_config_diff(c, d, s_collect, changes);
    ck_assert_str_eq(changes, "");
    nmq_config_destroy(&c);
    nmq_config_destroy(&d);
    free(conf);
}
END_TEST

START_TEST(test_render_man)
{
    char *man = nmq_config_render_man();
    char want[512];
    ck_assert_ptr_nonnull(strstr(man, "\n.TH NEMOMQ.CONF 5 "));
    ck_assert_ptr_nonnull(strstr(man, "\n.SH NAME\n"));
    ck_assert_ptr_nonnull(strstr(man, "\n.SH SYNOPSIS\n"));
    ck_assert_ptr_nonnull(strstr(man, "\n.SH DESCRIPTION\n"));
    ck_assert_ptr_nonnull(strstr(man, "\n.SH IGNORED VERNEMQ KEYS\n"));
    ck_assert_ptr_nonnull(strstr(man, "\n.SH EXIT STATUS\n"));
    ck_assert_ptr_nonnull(strstr(man, "status 78 "));
    ck_assert_ptr_nonnull(strstr(man, ".BR nemomq (8),\n.BR nemomq\\-admin (8)\n"));
    for (const nmq_config_key_t *k = nmq_config_table(); k->name; k++) {
        const char *dollar = strstr(k->name, "$name");
        snprintf(want, sizeof want, "\n.TP\n.B %.*s%s\n", (int)(dollar ? dollar - k->name : (long)strlen(k->name)),
                 k->name, dollar ? "<name>" : "");
        ck_assert_msg(strstr(man, want) != NULL, "%s missing from the man page", k->name);
    }
    const char *ignored = strstr(man, "\n.SH IGNORED VERNEMQ KEYS\n");
    for (const nmq_config_ignored_t *i = nmq_config_ignored(); i->pattern; i++) {
        ck_assert_msg(strstr(ignored, i->pattern) != NULL, "%s missing from the man page", i->pattern);
        ck_assert_msg(strstr(ignored, i->why) != NULL, "'%s' missing from the man page", i->why);
    }
    for (const char *p = man; (p = strchr(p, '\n')); p++)
        ck_assert_msg(p[1] != '\'', "a line starts with a quote, a roff request");
    free(man);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_table_sanity);
    tcase_add_test(tc, test_lookup);
    tcase_add_test(tc, test_bool);
    tcase_add_test(tc, test_int);
    tcase_add_test(tc, test_unlimited);
    tcase_add_test(tc, test_bytes);
    tcase_add_test(tc, test_duration);
    tcase_add_test(tc, test_string);
    tcase_add_test(tc, test_path);
    tcase_add_test(tc, test_enum);
    tcase_add_test(tc, test_addr);
    tcase_add_test(tc, test_loglevel);
    tcase_add_test(tc, test_listeners);
    tcase_add_test(tc, test_format);
    tcase_add_test(tc, test_syntax_errors);
    tcase_add_test(tc, test_unknown_key);
    tcase_add_test(tc, test_ignored_warned_once);
    tcase_add_test(tc, test_bad_value_exact);
    tcase_add_test(tc, test_cannot_read);
    tcase_add_test(tc, test_seed004);
    tcase_add_test(tc, test_set_live_only);
    tcase_add_test(tc, test_get_set_roundtrip_all);
    tcase_add_test(tc, test_dump_fixed_point);
    tcase_add_test(tc, test_diff);
    tcase_add_test(tc, test_conf_in_sync);
    tcase_add_test(tc, test_render_conf);
    tcase_add_test(tc, test_render_man);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
