/*
 * keel-rootwrap-daemon — oslo-rootwrap-daemon in C: `keel-rootwrap-daemon
 * CONFIG`, usually started through sudo by keel_rootwrap_client_new().
 * It reads CONFIG and the filters as keel-rootwrap does, prints the socket
 * path and the token on two lines of stdout, closes its standard streams
 * and serves until idle for daemon_timeout seconds, SIGTERM or SIGINT, or
 * a client's shutdown request.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "keel/rootwrap.h"

extern char **environ;

static keel_rootwrap_daemon_t *daemon_ptr;

static void on_signal(int sig)
{
    (void)sig;
    if (daemon_ptr)
        keel_rootwrap_daemon_stop(daemon_ptr);
}

static void log_stderr(void *data, int level, const char *msg)
{
    if (level >= KEEL_ROOTWRAP_LOG_WARNING)
        fprintf(stderr, "%s:root:%s\n", level >= KEEL_ROOTWRAP_LOG_ERROR ? "ERROR" : "WARNING", msg);
}

int main(int argc, char **argv)
{
    const char *execname = argc > 0 ? argv[0] : "keel-rootwrap-daemon";
    if (argc != 2) {
        fprintf(stderr, "%s: Extra arguments to daemon\n", execname);
        return KEEL_ROOTWRAP_RC_NOCOMMAND;
    }
    int status = 1;
    keel_rootwrap_config_t cfg;
    keel_rootwrap_syslog_t *sys = NULL;
    keel_rootwrap_filters_t *filters = NULL;
    keel_rootwrap_daemon_t *d = NULL;
    keel_buf_t msg, why;
    keel_buf_init(&msg);
    keel_buf_init(&why);
    int rc = keel_rootwrap_config_load(&cfg, argv[1], environ, &msg, NULL);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", execname, msg.len ? msg.base : keel_strerror(rc));
        status = rc == KEEL_EPARSE || rc == KEEL_EVALUE ? KEEL_ROOTWRAP_RC_BADCONFIG : 1;
        goto out;
    }
    if (keel_rootwrap_limit_files(&cfg, &why) != 0) {
        fprintf(stderr, "%s: %s\n", execname, why.base);
        goto out;
    }
    if (cfg.use_syslog && keel_rootwrap_syslog_open(&sys, NULL, execname, &cfg) != 0)
        goto out;
    rc = keel_rootwrap_filters_load(&filters, cfg.filters_path, cfg.n_filters_path, sys ? keel_rootwrap_syslog_log : log_stderr,
                                    sys, &why);
    if (rc == 0)
        rc = keel_rootwrap_daemon_new(&d, &cfg, filters, sys, &why);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", execname, why.len ? why.base : keel_strerror(rc));
        goto out;
    }
    /* A client that went away must not kill us on a write. */
    signal(SIGPIPE, SIG_IGN);
    daemon_ptr = d;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    printf("%s\n%s\n", keel_rootwrap_daemon_socket(d), keel_rootwrap_daemon_token(d));
    fflush(stdout);
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(devnull, 2);
        if (devnull > 2)
            close(devnull);
    }
    status = keel_rootwrap_daemon_serve(d) == 0 ? 0 : 1;
out:
    daemon_ptr = NULL;
    keel_rootwrap_daemon_free(d);
    keel_rootwrap_filters_free(filters);
    keel_rootwrap_syslog_close(sys);
    keel_rootwrap_config_free(&cfg);
    keel_buf_free(&msg);
    keel_buf_free(&why);
    return status;
}
