/*
 * keel-rootwrap — oslo-rootwrap in C: `keel-rootwrap CONFIG COMMAND [ARGS...]`
 * runs COMMAND as root (or the filter's user) when a filter of CONFIG's
 * filters_path allows it, with oslo-rootwrap's exit statuses and messages.
 *
 * The order of events is oslo_rootwrap/cmd.py's: arguments, config (exit
 * 97), file limit, syslog, filters, match (96 / 99), run. Where
 * oslo-rootwrap would die with a Python traceback (exit 1), keel-rootwrap
 * prints one line saying why and exits 1 too. Without use_syslog,
 * warnings go to stderr in Python logging's default format.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keel/rootwrap.h"

extern char **environ;

static const char *execname;

/* print("%s: %s" % (execname, message), file=sys.stderr) */
static void say(const char *msg, size_t len)
{
    fprintf(stderr, "%s: ", execname);
    fwrite(msg, 1, len, stderr);
    fputc('\n', stderr);
    fflush(stderr);
}

/* logging.warning() with no handler: basicConfig's "LEVEL:root:message" on stderr. */
static void log_stderr(void *data, int level, const char *msg)
{
    if (level < KEEL_ROOTWRAP_LOG_WARNING)
        return;
    fprintf(stderr, "%s:root:%s\n", level >= KEEL_ROOTWRAP_LOG_ERROR ? "ERROR" : "WARNING", msg);
    fflush(stderr);
}

int main(int argc, char **argv)
{
    execname = argc > 0 ? argv[0] : "keel-rootwrap";
    if (argc < 3) {
        static const char msg[] = "No command specified";
        say(msg, sizeof(msg) - 1);
        return KEEL_ROOTWRAP_RC_NOCOMMAND;
    }
    const char *configfile = argv[1];
    int status = 1;
    keel_rootwrap_config_t cfg;
    keel_rootwrap_syslog_t *sys = NULL;
    keel_rootwrap_filters_t *filters = NULL;
    keel_rootwrap_match_t m;
    memset(&m, 0, sizeof(m));
    keel_buf_t msg, why;
    keel_buf_init(&msg);
    keel_buf_init(&why);

    int rc = keel_rootwrap_config_load(&cfg, configfile, environ, &msg, NULL);
    if (rc == KEEL_EPARSE || rc == KEEL_EVALUE) {
        say(msg.base, msg.len);
        status = KEEL_ROOTWRAP_RC_BADCONFIG;
        goto out;
    }
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", execname, keel_strerror(rc));
        goto out;
    }
    if (keel_rootwrap_limit_files(&cfg, &why) != 0) {
        say(why.base, why.len);
        goto out;
    }
    keel_rootwrap_log_fn log = log_stderr;
    if (cfg.use_syslog) {
        if (keel_rootwrap_syslog_open(&sys, NULL, execname, &cfg) != 0)
            goto out;
        log = keel_rootwrap_syslog_log;
    }
    rc = keel_rootwrap_filters_load(&filters, cfg.filters_path, cfg.n_filters_path, log, sys, &why);
    if (rc == 0)
        rc = keel_rootwrap_match(filters, cfg.exec_dirs, cfg.n_exec_dirs, environ, argv + 2, (size_t)argc - 2, &m, &why);
    if (rc != 0) {
        if (why.len)
            say(why.base, why.len);
        else
            fprintf(stderr, "%s: %s\n", execname, keel_strerror(rc));
        goto out;
    }
    if (m.decision != KEEL_ROOTWRAP_ALLOWED) {
        keel_rootwrap_refusal_message(&m, &msg);
        say(msg.base, msg.len);
        if (cfg.use_syslog)
            keel_rootwrap_syslog_log(sys, KEEL_ROOTWRAP_LOG_ERROR, msg.base);
        status = m.decision == KEEL_ROOTWRAP_NOT_EXECUTABLE ? KEEL_ROOTWRAP_RC_NOEXECFOUND : KEEL_ROOTWRAP_RC_UNAUTHORIZED;
        goto out;
    }
    if (cfg.use_syslog) {
        keel_buf_reset(&msg);
        if (keel_rootwrap_executing_message(&m, environ, &msg) != 0) {
            static const char nouser[] = "the real user id has no name (oslo.rootwrap fails here)";
            say(nouser, sizeof(nouser) - 1);
            goto out;
        }
        keel_rootwrap_syslog_log(sys, KEEL_ROOTWRAP_LOG_INFO, msg.base);
    }
    rc = keel_rootwrap_run(&m, &status, &why);
    if (rc != 0) {
        say(why.base, why.len);
        status = 1;
    }
out:
    keel_rootwrap_match_free(&m);
    keel_rootwrap_filters_free(filters);
    keel_rootwrap_syslog_close(sys);
    keel_rootwrap_config_free(&cfg);
    keel_buf_free(&msg);
    keel_buf_free(&why);
    return status;
}
