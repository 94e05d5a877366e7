/*
 * keel/rootwrap.h — oslo.rootwrap in C: run chosen commands as root,
 * checked against the same rootwrap.conf and *.filters files.
 *
 * The decisions are oslo.rootwrap 6.3.1's, down to its quirks: files are
 * read as Python's configparser.RawConfigParser reads them, filters are
 * tried in the order Python would load them (directory order of each
 * filters_path entry, then a built-in "privsep-helper" filter), and the
 * ten filter classes match as filters.py does. Where oslo.rootwrap would
 * stop with a Python traceback (a filter file without [Filters], a filter
 * line with too few fields, ...) keel returns KEEL_EINVAL with a message
 * saying which file and line, and keel-rootwrap exits 1 as Python does.
 *
 * Strings are NUL-terminated bytes. Arguments need not be UTF-8: keel
 * treats undecodable bytes as Python's surrogateescape does.
 */
#ifndef KEEL_ROOTWRAP_H
#define KEEL_ROOTWRAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "keel/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exit statuses of keel-rootwrap: the numbers oslo-rootwrap uses. */
enum {
    KEEL_ROOTWRAP_RC_NOEXECFOUND = 96,  /* a filter matched, its executable is missing */
    KEEL_ROOTWRAP_RC_BADCONFIG = 97,    /* rootwrap.conf cannot be used */
    KEEL_ROOTWRAP_RC_NOCOMMAND = 98,    /* no command given */
    KEEL_ROOTWRAP_RC_UNAUTHORIZED = 99, /* no filter allows the command */
    KEEL_ROOTWRAP_SIGNAL_BASE = 128     /* exit status = 128 + signal for a killed command */
};

/* Python logging levels, as syslog_log_level names them. */
enum {
    KEEL_ROOTWRAP_LOG_NOTSET = 0,
    KEEL_ROOTWRAP_LOG_DEBUG = 10,
    KEEL_ROOTWRAP_LOG_INFO = 20,
    KEEL_ROOTWRAP_LOG_WARNING = 30,
    KEEL_ROOTWRAP_LOG_ERROR = 40,
    KEEL_ROOTWRAP_LOG_CRITICAL = 50
};

/*
 * rootwrap.conf, the [DEFAULT] options oslo.rootwrap reads. Filled by
 * keel_rootwrap_config_load(), released by keel_rootwrap_config_free().
 */
typedef struct keel_rootwrap_config_s {
    char **filters_path; /* filters_path split on ",", nothing stripped */
    size_t n_filters_path;
    char **exec_dirs; /* exec_dirs split on ","; without it, $PATH split on ":" */
    size_t n_exec_dirs;
    bool use_syslog;
    /*
     * The syslog facility number, as logging.handlers.SysLogHandler has it
     * (LOG_DAEMON is 3, "local0" is 16). Python also accepts the name of any
     * attribute of SysLogHandler; when that is not a number,
     * syslog_facility_unusable is set and nothing can be sent to syslog.
     */
    int64_t syslog_facility;
    bool syslog_facility_unusable;
    int syslog_level;       /* KEEL_ROOTWRAP_LOG_*; ERROR by default */
    int64_t daemon_timeout; /* seconds; 600 by default (saturated if huge) */
    int64_t rlimit_nofile;  /* 1024 by default (saturated if huge) */
} keel_rootwrap_config_t;

/**
 * Reads rootwrap.conf at path as oslo.rootwrap does. envp is the
 * environment whose PATH stands in for a missing exec_dirs (NULL: the
 * process environment). Returns 0; KEEL_ENOMEM; or, with cfg left empty:
 *  - KEEL_EPARSE: msg gets "Incorrect configuration file: PATH" (a missing
 *    file, bad lines, duplicates, no filters_path);
 *  - KEEL_EVALUE: msg gets "Incorrect value in PATH: WHY" (an unknown
 *    facility or level, a number that is not one, a file not in UTF-8).
 * These are oslo-rootwrap's messages, for exit status 97. detail (may be
 * NULL) gets the precise reason, "PATH:LINE: ...". msg and detail are
 * appended to; the caller owns them.
 */
int keel_rootwrap_config_load(keel_rootwrap_config_t *cfg, const char *path, char *const *envp, keel_buf_t *msg,
                              keel_buf_t *detail);

/** Releases what the config holds and zeroes it; a zeroed config is a no-op. */
void keel_rootwrap_config_free(keel_rootwrap_config_t *cfg);

/*
 * Logging. oslo.rootwrap logs through Python's logging: unknown filter
 * classes at WARNING, executed commands at INFO, refusals at ERROR. The
 * library hands those lines to a callback; the program sends them to
 * syslog or stderr as oslo-rootwrap would.
 */
typedef void (*keel_rootwrap_log_fn)(void *data, int level, const char *msg);

/** The filters loaded from the filters_path directories. Opaque. */
typedef struct keel_rootwrap_filters_s keel_rootwrap_filters_t;

/**
 * Loads every file (names not starting with ".") of each directory in
 * dirs, in readdir order, as wrapper.load_filters() does, and appends the
 * built-in privsep-helper filter. Unknown filter classes are skipped with
 * a WARNING through log (may be NULL). Returns 0 and *out (release with
 * keel_rootwrap_filters_free); KEEL_ENOMEM; or KEEL_EINVAL when
 * oslo.rootwrap would fail with an exception (a file that is not INI, has
 * no [Filters] section, a filter with too few fields, ...), with the
 * reason appended to why (may be NULL) as "FILE:LINE: ...".
 */
int keel_rootwrap_filters_load(keel_rootwrap_filters_t **out, char *const *dirs, size_t ndirs, keel_rootwrap_log_fn log,
                               void *log_data, keel_buf_t *why);

void keel_rootwrap_filters_free(keel_rootwrap_filters_t *f);

/** Number of filters, the built-in one included. */
size_t keel_rootwrap_filters_count(const keel_rootwrap_filters_t *f);

/** What keel_rootwrap_match() decided. */
typedef enum {
    KEEL_ROOTWRAP_ALLOWED = 0,        /* run argv as run_as */
    KEEL_ROOTWRAP_NOT_EXECUTABLE = 1, /* a filter matched but its executable was not found */
    KEEL_ROOTWRAP_UNAUTHORIZED = 2    /* no filter matched */
} keel_rootwrap_decision_t;

/*
 * The outcome of matching one command line. Strings that name the filter
 * are borrowed from the filters and live as long as they do; argv, envp
 * and userargs belong to the match (keel_rootwrap_match_free()).
 */
typedef struct keel_rootwrap_match_s {
    keel_rootwrap_decision_t decision;
    const char *filter_name;  /* the option name in the filter file; NULL if UNAUTHORIZED */
    const char *filter_class; /* "CommandFilter", ...; NULL if UNAUTHORIZED */
    const char *exec_path;    /* the filter's executable as written (the NOT_EXECUTABLE message) */
    const char *run_as;       /* user to run as (ALLOWED) */
    char **argv;              /* ALLOWED: the command to execute, NULL-terminated */
    size_t argc;
    char **envp; /* ALLOWED: the child's environment (EnvFilter), or NULL to keep the wrapper's */
    /*
     * The user's arguments after matching. EnvFilter drops a leading "env"
     * from the list it is given, and oslo.rootwrap's messages print the list
     * as that left it. NULL-terminated.
     */
    char **userargs;
    size_t n_userargs;
} keel_rootwrap_match_t;

/**
 * Decides whether userargs[0..n) may run, as wrapper.match_filter() plus
 * get_command() and get_environment() do. exec_dirs is where relative
 * executables are looked up; envp is the wrapper's environment (PATH for
 * KillFilter, the base EnvFilter adds to; NULL: the process environment).
 * Returns 0 with the decision in *out (release with
 * keel_rootwrap_match_free, even for a refusal); KEEL_ENOMEM; or
 * KEEL_EINVAL when oslo.rootwrap would fail with an exception (why gets
 * the reason), in which case *out holds nothing.
 */
int keel_rootwrap_match(const keel_rootwrap_filters_t *f, char *const *exec_dirs, size_t n_exec_dirs, char *const *envp,
                        char *const *userargs, size_t n, keel_rootwrap_match_t *out, keel_buf_t *why);

/** Releases what a match owns; zeroes it. */
void keel_rootwrap_match_free(keel_rootwrap_match_t *m);

/**
 * Appends oslo-rootwrap's message for a refusal: "Unauthorized command: A
 * B (no filter matched)" or "Executable not found: PATH (filter match =
 * NAME)", with bytes that are not UTF-8 shown as \udcXX. Returns 0,
 * KEEL_ENOMEM, or KEEL_EINVAL for an ALLOWED match.
 */
int keel_rootwrap_refusal_message(const keel_rootwrap_match_t *m, keel_buf_t *out);

/**
 * Appends the INFO line oslo.rootwrap logs before running an allowed
 * command: "(LOGIN > USER) Executing ['/bin/cat', 'x'] (filter match =
 * cat)". LOGIN is getlogin(), else $USER, $USERNAME or $LOGNAME from envp
 * (NULL: the process environment), else None; USER names the real uid.
 * Returns 0, KEEL_ENOMEM, or KEEL_EINVAL if the real uid has no name.
 */
int keel_rootwrap_executing_message(const keel_rootwrap_match_t *m, char *const *envp, keel_buf_t *out);

/*
 * Running an allowed command, as oslo.rootwrap's Popen does: argv[0] as
 * the match gives it (searched in the child environment's PATH only if it
 * has no "/", as Python's subprocess does), the match's environment or
 * this process's, only descriptors 0-2 open, SIGPIPE and SIGXFSZ back to
 * their defaults, and setuid() to run_as unless it is "root" (oslo.rootwrap
 * changes the user only: group and supplementary groups stay the
 * wrapper's). No shell is involved at any point.
 */

/**
 * Starts the command. fds are the child's stdin, stdout and stderr (-1
 * keeps this process's). Returns 0 and *pid (the caller waits for it);
 * KEEL_ENOMEM; KEEL_EINVAL if run_as names no user; or -errno if the
 * command could not be executed (nothing is left running). why gets the
 * reason on failure.
 */
int keel_rootwrap_spawn(const keel_rootwrap_match_t *m, const int fds[3], pid_t *pid, keel_buf_t *why);

/**
 * Runs the command with this process's stdin, stdout and stderr and waits
 * for it. While it runs, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1 and
 * SIGUSR2 sent to this process with kill() are passed on to it (signals
 * from the terminal already reach it through its process group). *status
 * is what keel-rootwrap exits with: the command's exit status, or 128 + the
 * signal that killed it. Returns 0 or as keel_rootwrap_spawn().
 */
int keel_rootwrap_run(const keel_rootwrap_match_t *m, int *status, keel_buf_t *why);

/**
 * Runs the command with pipes, as the daemon does: feeds it in[0..inlen)
 * (in may be NULL: stdin is closed at once) and collects its stdout and
 * stderr, appended to out and err. *returncode is subprocess's
 * returncode: the exit status, or minus the signal that killed it.
 * Returns 0 or as keel_rootwrap_spawn().
 */
int keel_rootwrap_capture(const keel_rootwrap_match_t *m, const void *in, size_t inlen, int *returncode, keel_buf_t *out,
                          keel_buf_t *err, keel_buf_t *why);

/**
 * Lowers the soft RLIMIT_NOFILE to cfg->rlimit_nofile when it is higher,
 * closing the descriptors at or above the new limit first, as
 * oslo-rootwrap does at start-up. Returns 0 or, when Python would fail
 * (a limit so low the listing's own descriptor is in the way, or one
 * setrlimit() refuses), a negative error with why set.
 */
int keel_rootwrap_limit_files(const keel_rootwrap_config_t *cfg, keel_buf_t *why);

/*
 * Syslog as Python's logging.handlers.SysLogHandler writes it: one
 * datagram (or, failing that, a stream write) per line to /dev/log,
 * "<PRI>IDENT: MESSAGE\0" with PRI = facility * 8 + severity and no
 * timestamp. Lines below cfg->syslog_level are dropped. When the socket is
 * missing the line is dropped (Python prints a "Logging error" traceback).
 */
typedef struct keel_rootwrap_syslog_s keel_rootwrap_syslog_t;

/**
 * Prepares a logger; path is the socket (NULL: "/dev/log"), ident the
 * program name (oslo-rootwrap uses the basename of argv[0]). Returns 0 and
 * *out (release with keel_rootwrap_syslog_close) or KEEL_ENOMEM. Never
 * fails because the socket is absent.
 */
int keel_rootwrap_syslog_open(keel_rootwrap_syslog_t **out, const char *path, const char *ident, const keel_rootwrap_config_t *cfg);

/** Logs one line at a KEEL_ROOTWRAP_LOG_* level; a keel_rootwrap_log_fn with data = the logger. */
void keel_rootwrap_syslog_log(void *logger, int level, const char *msg);

void keel_rootwrap_syslog_close(keel_rootwrap_syslog_t *s);

/*
 * Daemon mode, like oslo-rootwrap-daemon: one privileged process keeps the
 * filters loaded and runs allowed commands for clients, so a service pays
 * for neither a start-up nor a filter load per command. The protocol is
 * keel's own (docs/rootwrap.md): a UNIX socket in a fresh 0700 directory
 * owned by the user who ran sudo (SUDO_UID) or root, a 32-byte random
 * token printed on the daemon's stdout, and a peer uid check. Refused
 * commands come back as status 96 or 99 with empty output, as
 * oslo-rootwrap-daemon returns them.
 */
typedef struct keel_rootwrap_daemon_s keel_rootwrap_daemon_t;

/**
 * Creates the private directory, the listening socket and the token.
 * cfg, filters and log (may be NULL) are borrowed and must outlive the
 * daemon. Returns 0 and *out (release with keel_rootwrap_daemon_free), or
 * an error with why set.
 */
int keel_rootwrap_daemon_new(keel_rootwrap_daemon_t **out, const keel_rootwrap_config_t *cfg,
                             const keel_rootwrap_filters_t *filters, keel_rootwrap_syslog_t *log, keel_buf_t *why);

/** The socket path; lives as long as the daemon. */
const char *keel_rootwrap_daemon_socket(const keel_rootwrap_daemon_t *d);

/** The token as 64 lower-case hex digits; lives as long as the daemon. */
const char *keel_rootwrap_daemon_token(const keel_rootwrap_daemon_t *d);

/**
 * Serves clients, one thread per connection, until cfg->daemon_timeout
 * seconds pass with no request (none running), a client asks for a
 * shutdown, or keel_rootwrap_daemon_stop() is called. The socket is gone
 * when it returns. Returns 0 or -errno.
 */
int keel_rootwrap_daemon_serve(keel_rootwrap_daemon_t *d);

/** Makes keel_rootwrap_daemon_serve() return; async-signal-safe. */
void keel_rootwrap_daemon_stop(keel_rootwrap_daemon_t *d);

/** Waits for running requests, removes the socket and directory, frees. NULL is a no-op. */
void keel_rootwrap_daemon_free(keel_rootwrap_daemon_t *d);

/** A client of the daemon. Opaque; one request at a time (calls are serialised). */
typedef struct keel_rootwrap_client_s keel_rootwrap_client_t;

/**
 * A client that starts the daemon with daemon_argv (searched in $PATH;
 * usually {"sudo", "keel-rootwrap-daemon", "/etc/nova/rootwrap.conf",
 * NULL}) at the first request, and again when the daemon has gone away,
 * retrying that request once, as oslo_rootwrap.client.Client does.
 * daemon_argv is copied. Returns 0 and *out, KEEL_EINVAL or KEEL_ENOMEM.
 */
int keel_rootwrap_client_new(keel_rootwrap_client_t **out, char *const *daemon_argv);

/**
 * A client of a daemon already running, given the two lines it printed:
 * the socket path and the hex token. Returns 0 and *out, KEEL_EINVAL for a
 * malformed token, or KEEL_ENOMEM.
 */
int keel_rootwrap_client_connect(keel_rootwrap_client_t **out, const char *socket_path, const char *token_hex);

/** What a command gave back. Init before use; free after. */
typedef struct keel_rootwrap_result_s {
    int returncode; /* the command's exit status, minus the signal that killed it, or 96 / 99 */
    keel_buf_t out; /* its stdout */
    keel_buf_t err; /* its stderr; or why the daemon could not run it */
} keel_rootwrap_result_t;

void keel_rootwrap_result_init(keel_rootwrap_result_t *r);
void keel_rootwrap_result_free(keel_rootwrap_result_t *r);

/**
 * Runs argv[0..argc) through the daemon, feeding it in[0..inlen) on stdin
 * (in NULL: stdin closed at once). Returns 0 with res filled (a refusal is
 * returncode 96 or 99, not an error); KEEL_EINVAL when the daemon could
 * not run an allowed command (res->err says why: unknown run_as user,
 * executable that cannot be executed, ...) or for bad arguments; or a
 * transport error (-errno, KEEL_EACCES for a wrong token, KEEL_EPROTO,
 * KEEL_ECONNREFUSED when the daemon would not start, with res->err saying
 * why). res is reset first; the caller owns it.
 */
int keel_rootwrap_execute(keel_rootwrap_client_t *c, char *const *argv, size_t argc, const void *in, size_t inlen,
                          keel_rootwrap_result_t *res);

/** Closes the connection; a daemon this client started is asked to stop and reaped. NULL is a no-op. */
void keel_rootwrap_client_free(keel_rootwrap_client_t *c);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_ROOTWRAP_H */
