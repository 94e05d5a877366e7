/*
 * daemon.c — keel's rootwrap daemon: one privileged process that keeps
 * the filters loaded and runs allowed commands for clients on a UNIX
 * socket, so a service pays for matching and fork/exec only.
 *
 * Design: the socket lives in a fresh 0700 directory owned by the user
 * who started the daemon through sudo (SUDO_UID), or root; a client
 * proves itself with a 32-byte random token the daemon printed on its
 * stdout, compared in constant time, and the daemon also checks the
 * peer's uid (SO_PEERCRED). oslo-rootwrap-daemon's equivalent is a 0755
 * directory, a 0666 socket and multiprocessing's HMAC challenge.
 *
 * One thread per connection, as Python's multiprocessing manager has; the
 * accepting thread also keeps the idle timer: after daemon_timeout seconds
 * without a request and with none running, the daemon removes its socket
 * and returns. Decisions and their log lines are oslo-rootwrap-daemon's:
 * refusals come back as status 96 or 99 with empty output.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "rootwrap_int.h"
#include "wire.h"

struct keel_rootwrap_daemon_s {
    const keel_rootwrap_config_t *cfg;
    const keel_rootwrap_filters_t *filters;
    keel_rootwrap_syslog_t *log;
    char dir[64];
    char sock[96];
    unsigned char token[KEEL__RW_TOKEN_LEN];
    char token_hex[2 * KEEL__RW_TOKEN_LEN + 1];
    uid_t client_uid;
    int listen_fd;
    int stop_pipe[2];
    pthread_mutex_t lock; /* guards last_activity and the logger */
    struct timespec last_activity;
    atomic_int active; /* requests being served */
    atomic_int threads;
    keel_vec_t conns; /* open connection descriptors, as (void *)(intptr_t)fd; under lock */
};

static void now(struct timespec *t)
{
    clock_gettime(CLOCK_MONOTONIC, t);
}

static void touch(keel_rootwrap_daemon_t *d)
{
    pthread_mutex_lock(&d->lock);
    now(&d->last_activity);
    pthread_mutex_unlock(&d->lock);
}

static void dlog(keel_rootwrap_daemon_t *d, int level, const char *msg)
{
    if (!d->log)
        return;
    pthread_mutex_lock(&d->lock);
    keel_rootwrap_syslog_log(d->log, level, msg);
    pthread_mutex_unlock(&d->lock);
}

/* The user allowed to connect besides root: who ran sudo, if anybody. */
static void sudo_owner(uid_t *uid, gid_t *gid)
{
    *uid = getuid();
    *gid = getgid();
    const char *u = getenv("SUDO_UID"), *g = getenv("SUDO_GID");
    if (u && *uid == 0) {
        char *end;
        long v = strtol(u, &end, 10);
        if (*end == '\0' && v > 0)
            *uid = (uid_t)v;
        if (g) {
            v = strtol(g, &end, 10);
            if (*end == '\0' && v >= 0)
                *gid = (gid_t)v;
        }
    }
}

int keel_rootwrap_daemon_new(keel_rootwrap_daemon_t **out, const keel_rootwrap_config_t *cfg,
                             const keel_rootwrap_filters_t *filters, keel_rootwrap_syslog_t *log, keel_buf_t *why)
{
    keel_rootwrap_daemon_t *d = keel__calloc(1, sizeof(*d));
    if (!d)
        return KEEL_ENOMEM;
    d->cfg = cfg;
    d->filters = filters;
    d->log = log;
    d->listen_fd = -1;
    d->stop_pipe[0] = d->stop_pipe[1] = -1;
    pthread_mutex_init(&d->lock, NULL);
    keel_vec_init(&d->conns);
    now(&d->last_activity);
    int rc = 0;
    gid_t gid;
    sudo_owner(&d->client_uid, &gid);

    if (getrandom(d->token, sizeof(d->token), 0) != (ssize_t)sizeof(d->token)) {
        rc = keel_from_errno(errno);
        goto fail;
    }
    for (size_t i = 0; i < sizeof(d->token); i++)
        snprintf(d->token_hex + 2 * i, 3, "%02x", d->token[i]);
    const char *tmp = getenv("TMPDIR");
    if (!tmp || tmp[0] != '/' || strlen(tmp) > 40)
        tmp = "/tmp";
    snprintf(d->dir, sizeof(d->dir), "%s/keel-rootwrap-XXXXXX", tmp);
    if (!mkdtemp(d->dir)) {
        rc = keel_from_errno(errno);
        d->dir[0] = '\0';
        goto fail;
    }
    snprintf(d->sock, sizeof(d->sock), "%s/rootwrap.sock", d->dir);
    if (pipe2(d->stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        rc = keel_from_errno(errno);
        goto fail;
    }
    d->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (d->listen_fd < 0) {
        rc = keel_from_errno(errno);
        goto fail;
    }
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, d->sock, strlen(d->sock) + 1); /* d->sock is at most 80 bytes */
    mode_t old = umask(077);
    int b = bind(d->listen_fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (b != 0 || listen(d->listen_fd, 64) != 0) {
        rc = keel_from_errno(errno);
        goto fail;
    }
    /* The directory and socket belong to the client user; nobody else can even reach the socket. */
    if (chown(d->sock, d->client_uid, gid) != 0 || chown(d->dir, d->client_uid, gid) != 0) {
        rc = keel_from_errno(errno);
        goto fail;
    }
    *out = d;
    return 0;
fail:
    if (why)
        keel_buf_printf(why, "cannot set up the daemon socket: %s", keel_strerror(rc));
    keel_rootwrap_daemon_free(d);
    return rc;
}

const char *keel_rootwrap_daemon_socket(const keel_rootwrap_daemon_t *d)
{
    return d->sock;
}

const char *keel_rootwrap_daemon_token(const keel_rootwrap_daemon_t *d)
{
    return d->token_hex;
}

void keel_rootwrap_daemon_stop(keel_rootwrap_daemon_t *d)
{
    /* Async-signal-safe: a signal handler may call this. */
    char c = 's';
    ssize_t w = write(d->stop_pipe[1], &c, 1);
    (void)w;
}

void keel_rootwrap_daemon_free(keel_rootwrap_daemon_t *d)
{
    if (!d)
        return;
    if (d->listen_fd >= 0)
        close(d->listen_fd);
    if (d->sock[0])
        unlink(d->sock);
    if (d->dir[0])
        rmdir(d->dir);
    for (int i = 0; i < 2; i++)
        if (d->stop_pipe[i] >= 0)
            close(d->stop_pipe[i]);
    /* Wake connection threads blocked on idle clients, then wait until the last one has gone. */
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < d->conns.len; i++)
        shutdown((int)(intptr_t)d->conns.items[i], SHUT_RDWR);
    pthread_mutex_unlock(&d->lock);
    while (atomic_load(&d->threads) > 0)
        usleep(1000);
    keel_vec_free(&d->conns);
    pthread_mutex_destroy(&d->lock);
    keel__free(d);
}

typedef struct {
    keel_rootwrap_daemon_t *d;
    int fd;
} conn_t;

static void conn_remove(keel_rootwrap_daemon_t *d, int fd)
{
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < d->conns.len; i++) {
        if ((int)(intptr_t)d->conns.items[i] == fd) {
            d->conns.items[i] = d->conns.items[--d->conns.len];
            break;
        }
    }
    pthread_mutex_unlock(&d->lock);
}

static bool token_ok(const unsigned char *a, const unsigned char *b)
{
    unsigned char diff = 0;
    for (size_t i = 0; i < KEEL__RW_TOKEN_LEN; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

/* Reads one run request: the arguments and the optional stdin. */
static int read_request(int fd, keel__rw_strv_t *args, keel_buf_t *in, bool *has_in)
{
    uint32_t argc;
    int rc = keel__rw_read_u32(fd, &argc);
    if (rc != 0)
        return rc;
    if (argc == 0 || argc > KEEL__RW_MAX_ARGS)
        return KEEL_EPROTO;
    keel_buf_t arg;
    keel_buf_init(&arg);
    size_t total = 0;
    for (uint32_t i = 0; i < argc && rc == 0; i++) {
        rc = keel__rw_read_bytes(fd, KEEL__RW_MAX_ARG, &arg);
        if (rc == 0 && memchr(arg.base, '\0', arg.len))
            rc = KEEL_EPROTO; /* argv cannot hold a NUL byte */
        total += arg.len;
        if (rc == 0 && total > KEEL__RW_MAX_ARGS_TOTAL)
            rc = KEEL_EPROTO;
        if (rc == 0)
            rc = keel__rw_strv_pushn(args, arg.base, arg.len);
    }
    keel_buf_free(&arg);
    uint32_t flag = 0;
    if (rc == 0)
        rc = keel__rw_read_u32(fd, &flag);
    if (rc == 0 && flag > 1)
        rc = KEEL_EPROTO;
    *has_in = flag == 1;
    if (rc == 0)
        rc = keel__rw_read_bytes(fd, KEEL__RW_MAX_STDIN, in);
    return rc == KEEL_EOF ? KEEL_EPROTO : rc;
}

static int send_reply(int fd, uint32_t status, int32_t code, const keel_buf_t *out, const keel_buf_t *err)
{
    keel_buf_t r;
    keel_buf_init(&r);
    int rc = keel__rw_put_u32(&r, status);
    if (rc == 0)
        rc = keel__rw_put_u32(&r, (uint32_t)code);
    if (rc == 0)
        rc = keel__rw_put_bytes(&r, out->base ? out->base : "", out->len);
    if (rc == 0)
        rc = keel__rw_put_bytes(&r, err->base ? err->base : "", err->len);
    if (rc == 0)
        rc = keel__rw_write_all(fd, r.base, r.len);
    keel_buf_free(&r);
    return rc;
}

/* RootwrapClass.run_one_command(): decide, log, run with pipes. */
static int run_one(keel_rootwrap_daemon_t *d, int fd, keel__rw_strv_t *args, const keel_buf_t *in, bool has_in)
{
    keel_rootwrap_match_t m;
    keel_buf_t out, err, why, line;
    keel_buf_init(&out);
    keel_buf_init(&err);
    keel_buf_init(&why);
    keel_buf_init(&line);
    uint32_t status = KEEL__RW_ST_DONE;
    int32_t code = 0;
    const keel_rootwrap_config_t *cfg = d->cfg;
    int rc = keel_rootwrap_match(d->filters, cfg->exec_dirs, cfg->n_exec_dirs, NULL, args->v, args->n, &m, &why);
    if (rc == 0 && m.decision != KEEL_ROOTWRAP_ALLOWED) {
        /* Logged with the arguments as matching left them (EnvFilter drops "env"). */
        bool noexec = m.decision == KEEL_ROOTWRAP_NOT_EXECUTABLE;
        keel_buf_puts(&line, noexec ? "Executable not found for: " : "Unauthorized command: ");
        for (size_t i = 0; i < m.n_userargs; i++) {
            if (i)
                keel_buf_putc(&line, ' ');
            keel_buf_puts(&line, m.userargs[i]);
        }
        if (!noexec)
            keel_buf_puts(&line, " (no filter matched)");
        dlog(d, KEEL_ROOTWRAP_LOG_WARNING, line.base);
        code = noexec ? KEEL_ROOTWRAP_RC_NOEXECFOUND : KEEL_ROOTWRAP_RC_UNAUTHORIZED;
    } else if (rc == 0) {
        if (d->log && keel_rootwrap_executing_message(&m, NULL, &line) == 0)
            dlog(d, KEEL_ROOTWRAP_LOG_INFO, line.base);
        int returncode = 0;
        rc = keel_rootwrap_capture(&m, has_in ? in->base : NULL, has_in ? in->len : 0, &returncode, &out, &err, &why);
        code = returncode;
    }
    if (rc != 0 && rc != KEEL_ENOMEM) {
        /* Where oslo-rootwrap-daemon would send a Python traceback: say why. */
        status = KEEL__RW_ST_FAILED;
        code = 1;
        keel_buf_reset(&out);
        keel_buf_reset(&err);
        keel_buf_append(&err, why.base ? why.base : keel_strerror(rc), why.len ? why.len : strlen(keel_strerror(rc)));
        rc = 0;
    }
    if (rc == 0)
        rc = send_reply(fd, status, code, &out, &err);
    keel_rootwrap_match_free(&m);
    keel_buf_free(&out);
    keel_buf_free(&err);
    keel_buf_free(&why);
    keel_buf_free(&line);
    return rc;
}

static void *serve_conn(void *arg)
{
    conn_t *c = arg;
    keel_rootwrap_daemon_t *d = c->d;
    int fd = c->fd;
    keel__free(c);
    unsigned char hello[4 + KEEL__RW_TOKEN_LEN];
    struct ucred cred;
    socklen_t cl = sizeof(cred);
    bool peer_ok = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0 && (cred.uid == 0 || cred.uid == d->client_uid);
    if (!peer_ok || keel__rw_read_all(fd, hello, sizeof(hello)) != 0 || memcmp(hello, KEEL__RW_MAGIC, 4) != 0 ||
        !token_ok(hello + 4, d->token) || keel__rw_write_all(fd, KEEL__RW_OK, 4) != 0)
        goto out;
    for (;;) {
        uint32_t type;
        if (keel__rw_read_u32(fd, &type) != 0)
            break;
        if (type == KEEL__RW_REQ_SHUTDOWN) {
            keel__rw_write_all(fd, KEEL__RW_OK, 4);
            keel_rootwrap_daemon_stop(d);
            break;
        }
        if (type != KEEL__RW_REQ_RUN)
            break;
        keel__rw_strv_t args;
        keel__rw_strv_init(&args);
        keel_buf_t in;
        keel_buf_init(&in);
        bool has_in = false;
        atomic_fetch_add(&d->active, 1);
        touch(d);
        int rc = read_request(fd, &args, &in, &has_in);
        if (rc == 0)
            rc = run_one(d, fd, &args, &in, has_in);
        touch(d);
        atomic_fetch_sub(&d->active, 1);
        keel__rw_strv_free(&args);
        keel_buf_free(&in);
        if (rc != 0)
            break;
    }
out:
    conn_remove(d, fd);
    close(fd);
    atomic_fetch_sub(&d->threads, 1);
    return NULL;
}

int keel_rootwrap_daemon_serve(keel_rootwrap_daemon_t *d)
{
    dlog(d, KEEL_ROOTWRAP_LOG_INFO, "Starting rootwrap daemon main loop");
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = 0;
    for (;;) {
        /* Idle timer: last request + daemon_timeout, re-armed while requests run. */
        struct timespec t, last;
        now(&t);
        pthread_mutex_lock(&d->lock);
        last = d->last_activity;
        pthread_mutex_unlock(&d->lock);
        double idle = (double)(t.tv_sec - last.tv_sec) + (double)(t.tv_nsec - last.tv_nsec) / 1e9;
        double left = (double)d->cfg->daemon_timeout - idle;
        if (atomic_load(&d->active) > 0)
            left = d->cfg->daemon_timeout > 0 ? (double)d->cfg->daemon_timeout : 1.0;
        else if (left <= 0)
            break;
        int ms = left > 3600 ? 3600 * 1000 : (int)(left * 1000) + 1;
        struct pollfd pf[2] = {{d->listen_fd, POLLIN, 0}, {d->stop_pipe[0], POLLIN, 0}};
        int n = poll(pf, 2, ms);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = keel_from_errno(errno);
            break;
        }
        if (pf[1].revents)
            break;
        if (!(pf[0].revents & POLLIN))
            continue;
        int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        conn_t *c = keel__malloc(sizeof(*c));
        pthread_t th;
        if (!c) {
            close(fd);
            continue;
        }
        c->d = d;
        c->fd = fd;
        pthread_mutex_lock(&d->lock);
        int pushed = keel_vec_push(&d->conns, (void *)(intptr_t)fd);
        pthread_mutex_unlock(&d->lock);
        atomic_fetch_add(&d->threads, 1);
        if (pushed != 0 || pthread_create(&th, &attr, serve_conn, c) != 0) {
            conn_remove(d, fd);
            atomic_fetch_sub(&d->threads, 1);
            close(fd);
            keel__free(c);
        }
    }
    pthread_attr_destroy(&attr);
    /* No new connections; the socket disappears now, the rest in _free(). */
    close(d->listen_fd);
    d->listen_fd = -1;
    unlink(d->sock);
    return rc;
}
