/* nmq_admin_client — see nmq_admin_client.h.  A DEALER with a short linger:
 * an admin call never hangs a shell script for longer than its timeout. */
#include "nmq_admin_client.h"
#include "nmq_ctl.h"
#include "nmq_paths.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

nmq_config_t *nmq_admin_locate(const char *path, char *err, size_t errlen)
{
    nmq_config_t *cfg = nmq_config_new();
    if (nmq_config_load_file(cfg, path, NULL, NULL, err, errlen) == 0)
        return cfg;
    FILE *f = fopen(path, "r");
    if (!f) {
        nmq_config_destroy(&cfg);
        return NULL;
    }
    static const char *const keys[] = { "nodename", "platform_data_dir" };
    char line[NMQ_CONF_PATH_MAX + 64];
    char located[2 * sizeof line] = "";
    while (fgets(line, sizeof line, f)) {
        size_t skip = strspn(line, " \t");
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            size_t n = strlen(keys[i]);
            if (!strncmp(line + skip, keys[i], n) && strchr(" \t=", line[skip + n]))
                strncat(located, line + skip, sizeof located - strlen(located) - 2);
        }
    }
    fclose(f);
    nmq_config_destroy(&cfg);
    cfg = nmq_config_new();
    char err2[256];
    if (nmq_config_load_string(cfg, located, path, NULL, NULL, err2, sizeof err2) < 0)
        nmq_config_destroy(&cfg);
    return cfg;
}

static int s_not_running(const nmq_config_t *cfg, char **out, char **err, const char *why)
{
    *out = strdup("");
    if (asprintf(err, "Node %s is not running (%s)\n", cfg->nodename, why) < 0)
        *err = NULL;
    return NMQ_ADMIN_NOT_RUNNING;
}

int nmq_admin_call(const nmq_config_t *cfg, int argc, char **argv, bool json, int timeout_ms,
                   char **out, char **err)
{
    char endpoint[NMQ_CONF_PATH_MAX + 64];
    struct stat st;
    if (nmq_paths_control_endpoint(cfg, endpoint, sizeof endpoint) < 0)
        return s_not_running(cfg, out, err, "platform_data_dir too long");
    if (stat(endpoint + 6, &st) < 0)
        return s_not_running(cfg, out, err, "no control socket");

    void *ctx = zmq_ctx_new();
    void *sock = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    int status = NMQ_ADMIN_NOT_RUNNING;
    *out = *err = NULL;
    if (zmq_connect(sock, endpoint) == 0) {
        Nmq__Ctl req = NMQ__CTL__INIT;
        req.has_cmd = req.has_json = true;
        req.cmd = NMQ_CTL_ADMIN;
        req.json = json;
        req.n_args = (size_t)argc;
        req.args = argv;
        zmq_pollitem_t item = { .socket = sock, .events = ZMQ_POLLIN };
        if (nmq_ctl_send(sock, NULL, 0, &req) == 0 && zmq_poll(&item, 1, timeout_ms) > 0) {
            Nmq__Ctl *rep = nmq_ctl_recv(sock, 0, NULL, NULL);
            if (rep && rep->cmd == NMQ_CTL_ADMIN_REPLY) {
                status = rep->status;
                *out = strdup(rep->out ? rep->out : "");
                *err = strdup(rep->err ? rep->err : "");
            }
            if (rep)
                nmq__ctl__free_unpacked(rep, NULL);
        }
    }
    zmq_close(sock);
    zmq_ctx_term(ctx);
    if (status == NMQ_ADMIN_NOT_RUNNING && !*err)
        return s_not_running(cfg, out, err, "no answer from its control socket");
    return status;
}
