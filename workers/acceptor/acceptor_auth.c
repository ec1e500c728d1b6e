/* acceptor_auth — who may connect, publish and subscribe: VerneMQ's
 * allow_anonymous, vmq_passwd and vmq_acl, over common/nmq_passwd and
 * common/nmq_acl.
 *
 * Each acceptor loads the files itself and re-reads them every
 * *_reload_interval seconds; a file that cannot be read or parsed keeps the
 * last good table (and at start an empty one: nobody is let in by a broken
 * file, never everybody).
 */
#include "acceptor.h"
#include "nmq_acl.h"
#include "nmq_log.h"
#include "nmq_passwd.h"

#include <stdlib.h>
#include <string.h>

static nmq_passwd_t *s_passwd;
static nmq_acl_t *s_acl;
static int64_t s_next_passwd_ms, s_next_acl_ms;

int acc_auth_start(acceptor_t *a)
{
    char err[512];
    if (a->cfg->plugins_vmq_passwd) {
        s_passwd = nmq_passwd_new(a->cfg->vmq_passwd_password_file);
        if (nmq_passwd_load(s_passwd, err, sizeof err) < 0)
            nmq_warn("vmq_passwd: %s: no user can log in until it is fixed", err);
    }
    if (a->cfg->plugins_vmq_acl) {
        s_acl = nmq_acl_new(a->cfg->vmq_acl_acl_file);
        if (nmq_acl_load(s_acl, err, sizeof err) < 0)
            nmq_warn("vmq_acl: %s: every publish and subscribe is refused until it is fixed", err);
    }
    return 0;
}

void acc_auth_stop(acceptor_t *a)
{
    nmq_passwd_destroy(&s_passwd);
    nmq_acl_destroy(&s_acl);
}

/* Re-read what changed; called about once a second. */
void acc_auth_timer(acceptor_t *a, int64_t now)
{
    char err[512];
    if (s_passwd && a->cfg->vmq_passwd_password_reload_interval > 0 && now >= s_next_passwd_ms) {
        int rc = nmq_passwd_reload(s_passwd, err, sizeof err);
        if (rc > 0)
            nmq_info("vmq_passwd: reloaded %zu users", nmq_passwd_count(s_passwd));
        else if (rc < 0)
            nmq_warn("vmq_passwd: %s (keeping the last good file)", err);
        s_next_passwd_ms = now + (int64_t)a->cfg->vmq_passwd_password_reload_interval * 1000;
    }
    if (s_acl && a->cfg->vmq_acl_acl_reload_interval > 0 && now >= s_next_acl_ms) {
        int rc = nmq_acl_reload(s_acl, err, sizeof err);
        if (rc > 0)
            nmq_info("vmq_acl: reloaded %zu rules", nmq_acl_count(s_acl));
        else if (rc < 0)
            nmq_warn("vmq_acl: %s (keeping the last good rules)", err);
        s_next_acl_ms = now + (int64_t)a->cfg->vmq_acl_acl_reload_interval * 1000;
    }
}

uint8_t acc_auth_connect(acceptor_t *a, const char *username, const uint8_t *password, size_t len,
                         bool has_password)
{
    if (a->cfg->allow_anonymous)
        return 0;
    if (!username)
        return 0x87;   /* not authorized: anonymous clients are not allowed */
    if (!s_passwd || !has_password)
        return 0x86;
    return nmq_passwd_check(s_passwd, username, password, len) == NMQ_PASSWD_OK ? 0 : 0x86;
}

static bool s_acl_allows(acceptor_t *a, const acc_conn_t *c, const char *topic, int access)
{
    if (!s_acl)
        return true;
    const char *mp = strcmp(a->cfg->listener_mountpoint, "off") ? a->cfg->listener_mountpoint : "";
    return nmq_acl_check(s_acl, c->client_id, c->username, mp, topic, access);
}

bool acc_auth_publish(acceptor_t *a, const acc_conn_t *c, const char *topic)
{
    return s_acl_allows(a, c, topic, NMQ_ACL_WRITE);
}

bool acc_auth_subscribe(acceptor_t *a, const acc_conn_t *c, const char *filter)
{
    return s_acl_allows(a, c, filter, NMQ_ACL_READ);
}
