/*
 * logger.c — the lines oslo.rootwrap logs and the syslog writer they go to.
 *
 * oslo-rootwrap logs through Python's logging with a SysLogHandler on
 * /dev/log: no timestamp, no hostname, "<PRI>ident: message" and a NUL, one
 * datagram per record (a stream socket if datagrams are refused). keel
 * writes the same bytes, so a syslog daemon files keel's lines where it
 * filed Python's. When nothing listens on the socket Python prints a
 * traceback per record; keel drops the line, as syslog(3) would.
 */
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "pycompat/pystr.h"
#include "rootwrap_int.h"

struct keel_rootwrap_syslog_s {
    char *path;
    char *ident;
    int64_t facility;
    bool unusable;
    int level;
    int fd;
    int type;
};

int keel_rootwrap_syslog_open(keel_rootwrap_syslog_t **out, const char *path, const char *ident, const keel_rootwrap_config_t *cfg)
{
    keel_rootwrap_syslog_t *s = keel__calloc(1, sizeof(*s));
    if (!s)
        return KEEL_ENOMEM;
    s->path = keel__strdup(path ? path : "/dev/log");
    s->ident = keel__strdup(ident);
    if (!s->path || !s->ident) {
        keel_rootwrap_syslog_close(s);
        return KEEL_ENOMEM;
    }
    s->facility = cfg->syslog_facility;
    s->unusable = cfg->syslog_facility_unusable;
    s->level = cfg->syslog_level;
    s->fd = -1;
    *out = s;
    return 0;
}

void keel_rootwrap_syslog_close(keel_rootwrap_syslog_t *s)
{
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    keel__free(s->path);
    keel__free(s->ident);
    keel__free(s);
}

/* SysLogHandler._connect_unixsocket(): a datagram socket, else a stream one. */
static int connect_log(keel_rootwrap_syslog_t *s)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(s->path) >= sizeof(sa.sun_path))
        return -1;
    strcpy(sa.sun_path, s->path);
    int types[2] = {SOCK_DGRAM, SOCK_STREAM};
    for (int i = 0; i < 2; i++) {
        int fd = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
            s->fd = fd;
            s->type = types[i];
            return 0;
        }
        close(fd);
    }
    return -1;
}

/* SysLogHandler.mapPriority() then priority_names: the syslog severity of a level. */
static int severity(int level)
{
    switch (level) {
    case KEEL_ROOTWRAP_LOG_DEBUG:
        return 7;
    case KEEL_ROOTWRAP_LOG_INFO:
        return 6;
    case KEEL_ROOTWRAP_LOG_ERROR:
        return 3;
    case KEEL_ROOTWRAP_LOG_CRITICAL:
        return 2;
    default:
        return 4; /* "warning" */
    }
}

void keel_rootwrap_syslog_log(void *logger, int level, const char *msg)
{
    keel_rootwrap_syslog_t *s = logger;
    if (!s || level < s->level || s->unusable)
        return;
    keel_buf_t line;
    keel_buf_init(&line);
    /* encodePriority(): (facility << 3) | priority, with Python's integers. */
    long long pri = (long long)((uint64_t)s->facility << 3) | severity(level);
    const char *base = strrchr(s->ident, '/');
    int rc = keel_buf_printf(&line, "<%lld>%s: %s", pri, base ? base + 1 : s->ident, msg);
    if (rc == 0)
        rc = keel_buf_append(&line, "", 1); /* append_nul */
    if (rc == 0 && (s->fd >= 0 || connect_log(s) == 0)) {
        int flags = MSG_NOSIGNAL;
        if (send(s->fd, line.base, line.len, flags) < 0) {
            /* emit(): on error, reconnect once and resend. */
            close(s->fd);
            s->fd = -1;
            if (connect_log(s) == 0 && send(s->fd, line.base, line.len, flags) < 0) {
                close(s->fd);
                s->fd = -1;
            }
        }
    }
    keel_buf_free(&line);
}

int keel_rootwrap_executing_message(const keel_rootwrap_match_t *m, char *const *envp, keel_buf_t *out)
{
    if (!envp)
        envp = keel__rw_environ();
    /* _getlogin(): os.getlogin(), else the first of USER, USERNAME, LOGNAME that is set and not empty. */
    const char *login = getlogin();
    if (!login) {
        static const char *const vars[] = {"USER", "USERNAME", "LOGNAME"};
        for (size_t i = 0; i < 3 && !login; i++) {
            const char *v = keel__rw_getenv(envp, vars[i]);
            if (v && *v)
                login = v;
        }
    }
    struct passwd pw, *res = NULL;
    char buf[4096];
    if (getpwuid_r(getuid(), &pw, buf, sizeof(buf), &res) != 0 || !res)
        return KEEL_EINVAL;
    int rc = keel_buf_putc(out, '(');
    if (rc == 0)
        rc = login ? keel__py_put_escaped(out, login, strlen(login)) : keel_buf_puts(out, "None");
    if (rc == 0)
        rc = keel_buf_printf(out, " > %s) Executing [", res->pw_name);
    for (size_t i = 0; rc == 0 && i < m->argc; i++) {
        if (i)
            rc = keel_buf_puts(out, ", ");
        if (rc == 0)
            rc = keel__py_repr_str(out, m->argv[i], strlen(m->argv[i]), 0);
    }
    if (rc == 0)
        rc = keel_buf_puts(out, "] (filter match = ");
    if (rc == 0)
        rc = keel__py_put_escaped(out, m->filter_name, strlen(m->filter_name));
    return rc ? rc : keel_buf_putc(out, ')');
}
