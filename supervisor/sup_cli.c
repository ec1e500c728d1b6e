/* sup_cli — `nemomq COMMAND [-c FILE]`, VerneMQ's `vernemq` commands.
 *
 * console and start validate the config first (a bad one exits 78 here, before
 * anything forks), then exec this binary as "nemomq: supervisor" so that `ps`
 * shows the node by its role.  start runs the supervisor detached (setsid) and
 * reads its stderr through a pipe until the supervisor says it is up by closing
 * it: a node that cannot start says why on the terminal of whoever started it.
 * stop sends SIGTERM to the pid in the run directory and waits until the
 * supervisor, which stops its workers first, is gone.
 */
#include "sup_cli.h"
#include "nmq_admin_client.h"
#include "nmq_config.h"
#include "nmq_paths.h"
#include "nmq_worker.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef NMQ_VERSION
#define NMQ_VERSION "0.1.0"
#endif
#define SUP_CLI_STOP_WAIT_MS 120000

typedef struct {
    const char *config;     /* -c FILE */
    int argc;               /* words after the command */
    char **argv;
} sup_cli_t;

typedef int (sup_cli_fn)(sup_cli_t *cli);
static sup_cli_fn s_console, s_start, s_stop, s_restart, s_ping, s_config, s_version, s_help;

static const struct {
    const char *name;
    sup_cli_fn *fn;
    const char *usage;
} s_cmds[] = {
    { "console", s_console, "console               run the node in the foreground, logs on stderr" },
    { "start",   s_start,   "start                 start the node in the background" },
    { "stop",    s_stop,    "stop                  stop the node and wait until it is gone" },
    { "restart", s_restart, "restart               stop, then start" },
    { "ping",    s_ping,    "ping                  answer pong when the node is up" },
    { "config",  s_config,  "config check [FILE]   validate a config file without starting anything\n"
                            "  config doc [--man]    the config table as nemomq.conf (or nemomq.conf(5))" },
    { "version", s_version, "version               print the version" },
    { "help",    s_help,    "help                  this text" },
};

static void s_usage(FILE *f)
{
    fprintf(f, "Usage: nemomq [-c FILE] COMMAND\n\nCommands:\n");
    for (size_t i = 0; i < sizeof s_cmds / sizeof s_cmds[0]; i++)
        fprintf(f, "  %s\n", s_cmds[i].usage);
    fprintf(f, "\nFILE defaults to %s.\n", nmq_paths_default_config());
}

static int s_help(sup_cli_t *cli)
{
    s_usage(stdout);
    return 0;
}

static int s_version(sup_cli_t *cli)
{
    printf("nemomq %s\n", NMQ_VERSION);
    return 0;
}

static void s_print_warning(const char *file, int line, const char *key, const char *msg, void *arg)
{
    fprintf(stderr, "%s:%d: %s: %s\n", file, line, key, msg);
}

/* Load cli->config; on error print it and return NULL (the caller exits 78). */
static nmq_config_t *s_load(const char *path, bool warnings)
{
    nmq_config_t *cfg = nmq_config_new();
    char err[1024];
    if (nmq_config_load_file(cfg, path, warnings ? s_print_warning : NULL, NULL, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        nmq_config_destroy(&cfg);
    }
    return cfg;
}

/* For commands that only need to find a running node (stop, ping): a config
 * broken since the node started must not keep an operator from stopping it. */
static nmq_config_t *s_locate(const char *path)
{
    char err[1024];
    nmq_config_t *cfg = nmq_admin_locate(path, err, sizeof err);
    if (!cfg)
        fprintf(stderr, "%s\n", err);
    return cfg;
}

static int s_config(sup_cli_t *cli)
{
    const char *sub = cli->argc > 0 ? cli->argv[0] : "";
    if (!strcmp(sub, "check")) {
        const char *path = cli->argc > 1 ? cli->argv[1] : cli->config;
        nmq_config_t *cfg = s_load(path, true);
        if (!cfg)
            return NMQ_EXIT_CONFIG;
        printf("config OK: %s\n", cfg->source);
        nmq_config_destroy(&cfg);
        return 0;
    }
    if (!strcmp(sub, "doc")) {
        bool man = cli->argc > 1 && !strcmp(cli->argv[1], "--man");
        char *text = man ? nmq_config_render_man() : nmq_config_render_conf();
        fputs(text, stdout);
        free(text);
        return 0;
    }
    fprintf(stderr, "Usage: nemomq config check [FILE] | config doc [--man]\n");
    return 2;
}

/* Replace this process with the supervisor of the node configured in path. */
static int s_exec_supervisor(const char *path, const nmq_config_t *cfg, bool console, bool daemon)
{
    char abs[PATH_MAX];
    if (!realpath(path, abs)) {
        fprintf(stderr, "nemomq: %s: %s\n", path, strerror(errno));
        return NMQ_EXIT_CONFIG;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return 1;
    self[n] = '\0';
    setenv(NMQ_ENV_ROLE, "supervisor", 1);
    setenv("NMQ_CONFIG", abs, 1);
    if (console)
        setenv("NMQ_CONSOLE", "1", 1);
    if (daemon)
        setenv("NMQ_DAEMON", "1", 1);
    char title[NMQ_CONF_STR_MAX + 32];
    snprintf(title, sizeof title, "nemomq: supervisor (%s)", cfg->nodename);
    char *argv[] = { title, NULL };
    execv(self, argv);
    fprintf(stderr, "nemomq: exec %s: %s\n", self, strerror(errno));
    return 1;
}

static bool s_is_up(const nmq_config_t *cfg)
{
    char *out = NULL, *err = NULL;
    char *words[] = { "ping" };
    int st = nmq_admin_call(cfg, 1, words, false, 2000, &out, &err);
    free(out);
    free(err);
    return st == 0;
}

static int s_console(sup_cli_t *cli)
{
    nmq_config_t *cfg = s_load(cli->config, false);
    if (!cfg)
        return NMQ_EXIT_CONFIG;
    return s_exec_supervisor(cli->config, cfg, true, false);
}

static int s_start(sup_cli_t *cli)
{
    nmq_config_t *cfg = s_load(cli->config, false);
    if (!cfg)
        return NMQ_EXIT_CONFIG;
    if (s_is_up(cfg)) {
        fprintf(stderr, "Node %s is already running!\n", cfg->nodename);
        nmq_config_destroy(&cfg);
        return 1;
    }
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return 1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, STDIN_FILENO);
        dup2(devnull, STDOUT_FILENO);
        dup2(pipefd[1], STDERR_FILENO);
        _exit(s_exec_supervisor(cli->config, cfg, false, true));
    }
    close(pipefd[1]);
    char buf[4096];
    ssize_t n;
    while ((n = read(pipefd[0], buf, sizeof buf)) != 0)
        if (n > 0 && write(STDERR_FILENO, buf, (size_t)n) < 0)
            break;
    close(pipefd[0]);
    int status = 0;
    int rc = 1;
    if (waitpid(pid, &status, WNOHANG) == pid)
        rc = WIFEXITED(status) && WEXITSTATUS(status) ? WEXITSTATUS(status) : 1;
    else if (s_is_up(cfg))
        rc = 0;
    else
        fprintf(stderr, "nemomq: node %s started but does not answer pings\n", cfg->nodename);
    nmq_config_destroy(&cfg);
    return rc;
}

/* The supervisor's pid, if the pid file names a live "nemomq: supervisor". */
static pid_t s_running_pid(const nmq_config_t *cfg)
{
    char path[NMQ_CONF_PATH_MAX + 32], buf[64] = "", proc[64], cmd[64] = "";
    if (nmq_paths_pid_file(cfg, path, sizeof path) < 0)
        return 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    if (!fgets(buf, sizeof buf, f))
        buf[0] = '\0';
    fclose(f);
    pid_t pid = (pid_t)atoi(buf);
    if (pid <= 0)
        return 0;
    snprintf(proc, sizeof proc, "/proc/%d/cmdline", (int)pid);
    f = fopen(proc, "r");
    if (!f)
        return 0;
    size_t n = fread(cmd, 1, sizeof cmd - 1, f);
    cmd[n] = '\0';
    fclose(f);
    return strncmp(cmd, "nemomq: supervisor", 18) == 0 ? pid : 0;
}

static int s_stop_node(const nmq_config_t *cfg, bool quiet_if_down)
{
    pid_t pid = s_running_pid(cfg);
    if (!pid) {
        if (!quiet_if_down)
            fprintf(stderr, "Node %s is not running!\n", cfg->nodename);
        return 1;
    }
    kill(pid, SIGTERM);
    for (int waited = 0; waited < SUP_CLI_STOP_WAIT_MS; waited += 50) {
        if (kill(pid, 0) < 0 && errno == ESRCH)
            return 0;
        usleep(50 * 1000);
    }
    fprintf(stderr, "nemomq: node %s (pid %d) did not stop within %d s\n", cfg->nodename, (int)pid,
            SUP_CLI_STOP_WAIT_MS / 1000);
    return 1;
}

static int s_stop(sup_cli_t *cli)
{
    nmq_config_t *cfg = s_locate(cli->config);
    if (!cfg)
        return NMQ_EXIT_CONFIG;
    int rc = s_stop_node(cfg, false);
    if (rc == 0)
        printf("ok\n");
    nmq_config_destroy(&cfg);
    return rc;
}

static int s_restart(sup_cli_t *cli)
{
    nmq_config_t *cfg = s_locate(cli->config);
    if (!cfg)
        return NMQ_EXIT_CONFIG;
    s_stop_node(cfg, true);
    nmq_config_destroy(&cfg);
    return s_start(cli);
}

static int s_ping(sup_cli_t *cli)
{
    nmq_config_t *cfg = s_locate(cli->config);
    if (!cfg)
        return NMQ_EXIT_CONFIG;
    int rc = s_is_up(cfg) ? 0 : 1;
    if (rc == 0)
        printf("pong\n");
    else
        fprintf(stderr, "Node '%s' not responding to pings.\n", cfg->nodename);
    nmq_config_destroy(&cfg);
    return rc;
}

int sup_cli_main(int argc, char **argv)
{
    sup_cli_t cli = { .config = NULL };
    char **words = calloc((size_t)argc + 1, sizeof *words);
    int nwords = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-c") && i + 1 < argc)
            cli.config = argv[++i];
        else if (!strncmp(argv[i], "--config=", 9))
            cli.config = argv[i] + 9;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            words[nwords++] = "help";
        else
            words[nwords++] = argv[i];
    }
    if (!cli.config)
        cli.config = nmq_paths_default_config();
    int rc = 2;
    bool found = false;
    for (size_t i = 0; nwords > 0 && i < sizeof s_cmds / sizeof s_cmds[0]; i++)
        if (!strcmp(s_cmds[i].name, words[0])) {
            cli.argc = nwords - 1;
            cli.argv = words + 1;
            rc = s_cmds[i].fn(&cli);
            found = true;
            break;
        }
    if (!found) {
        if (nwords > 0)
            fprintf(stderr, "nemomq: unknown command '%s'\n", words[0]);
        s_usage(stderr);
    }
    free(words);
    return rc;
}
