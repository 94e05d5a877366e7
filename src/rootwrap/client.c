/*
 * client.c — the C client of keel's rootwrap daemon, the counterpart of
 * oslo_rootwrap.client.Client: keel_rootwrap_execute() sends a command
 * line and gets back its exit status, stdout and stderr.
 *
 * Design: a client either starts the daemon itself (usually through sudo)
 * on first use and again if the daemon has gone (idle timeout, crash),
 * retrying the request once as oslo's client does, or attaches to a daemon
 * someone else started. One connection per client, one request at a time
 * (a mutex); services that want parallel requests make several clients.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rootwrap_int.h"
#include "wire.h"

struct keel_rootwrap_client_s {
    pthread_mutex_t lock;
    keel__rw_strv_t daemon_argv; /* empty when attached */
    pid_t daemon_pid;            /* 0 when not started by us */
    char *sock;
    unsigned char token[KEEL__RW_TOKEN_LEN];
    int fd; /* -1 when not connected */
};

void keel_rootwrap_result_init(keel_rootwrap_result_t *r)
{
    r->returncode = 0;
    keel_buf_init(&r->out);
    keel_buf_init(&r->err);
}

void keel_rootwrap_result_free(keel_rootwrap_result_t *r)
{
    keel_buf_free(&r->out);
    keel_buf_free(&r->err);
    r->returncode = 0;
}

static int parse_token(const char *hex, unsigned char *token)
{
    if (strlen(hex) != 2 * KEEL__RW_TOKEN_LEN)
        return KEEL_EINVAL;
    for (size_t i = 0; i < KEEL__RW_TOKEN_LEN; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = hex[2 * i + (size_t)k];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0)
                return KEEL_EINVAL;
            v = v * 16 + (unsigned)d;
        }
        token[i] = (unsigned char)v;
    }
    return 0;
}

static int client_alloc(keel_rootwrap_client_t **out)
{
    keel_rootwrap_client_t *c = keel__calloc(1, sizeof(*c));
    if (!c)
        return KEEL_ENOMEM;
    pthread_mutex_init(&c->lock, NULL);
    keel__rw_strv_init(&c->daemon_argv);
    c->fd = -1;
    *out = c;
    return 0;
}

int keel_rootwrap_client_connect(keel_rootwrap_client_t **out, const char *socket_path, const char *token_hex)
{
    keel_rootwrap_client_t *c = NULL;
    int rc = client_alloc(&c);
    if (rc != 0)
        return rc;
    c->sock = keel__strdup(socket_path);
    rc = !c->sock ? KEEL_ENOMEM : parse_token(token_hex, c->token);
    if (rc != 0) {
        keel_rootwrap_client_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int keel_rootwrap_client_new(keel_rootwrap_client_t **out, char *const *daemon_argv)
{
    if (!daemon_argv || !daemon_argv[0])
        return KEEL_EINVAL;
    keel_rootwrap_client_t *c = NULL;
    int rc = client_alloc(&c);
    for (size_t i = 0; rc == 0 && daemon_argv[i]; i++)
        rc = keel__rw_strv_push(&c->daemon_argv, daemon_argv[i]);
    if (rc != 0) {
        keel_rootwrap_client_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* Reads one "\n"-terminated line of the daemon's announcement. */
static int read_line(int fd, keel_buf_t *line)
{
    keel_buf_reset(line);
    for (;;) {
        char ch;
        ssize_t n = read(fd, &ch, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return KEEL_EPROTO;
        if (ch == '\n')
            return keel_buf_reserve(line, 0);
        int rc = keel_buf_putc(line, ch);
        if (rc != 0)
            return rc;
        if (line->len > 4096)
            return KEEL_EPROTO;
    }
}

/* Starts the daemon and reads its socket path and token from its stdout. */
static int start_daemon(keel_rootwrap_client_t *c, keel_buf_t *why)
{
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0)
        return keel_from_errno(errno);
    if (pipe2(err, O_CLOEXEC) != 0) {
        int e = errno;
        close(out[0]);
        close(out[1]);
        return keel_from_errno(e);
    }
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        signal(SIGPIPE, SIG_DFL);
        execvp(c->daemon_argv.v[0], c->daemon_argv.v);
        dprintf(2, "%s: %s\n", c->daemon_argv.v[0], strerror(errno));
        _exit(127);
    }
    int fork_errno = errno;
    close(out[1]);
    close(err[1]);
    if (pid < 0) {
        close(out[0]);
        close(err[0]);
        return keel_from_errno(fork_errno);
    }
    keel_buf_t path, token;
    keel_buf_init(&path);
    keel_buf_init(&token);
    int rc = read_line(out[0], &path);
    if (rc == 0)
        rc = read_line(out[0], &token);
    close(out[0]);
    if (rc == 0)
        rc = parse_token(token.base, c->token);
    if (rc != 0) {
        /* The daemon died or said something else: its stderr says why. */
        char buf[2048];
        ssize_t n = read(err[0], buf, sizeof(buf) - 1);
        if (why) {
            keel_buf_puts(why, "the rootwrap daemon did not start");
            if (n > 0) {
                buf[n] = '\0';
                keel_buf_printf(why, ": %s", buf);
            }
        }
        waitpid(pid, NULL, 0);
        rc = KEEL_ECONNREFUSED;
    } else {
        keel__free(c->sock);
        c->sock = keel_buf_steal(&path);
        c->daemon_pid = pid;
        if (!c->sock)
            rc = KEEL_ENOMEM;
    }
    close(err[0]);
    keel_buf_free(&path);
    keel_buf_free(&token);
    return rc;
}

static int connect_daemon(keel_rootwrap_client_t *c)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(c->sock) >= sizeof(sa.sun_path))
        return KEEL_EINVAL;
    strcpy(sa.sun_path, c->sock);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return keel_from_errno(errno);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int e = errno;
        close(fd);
        return keel_from_errno(e);
    }
    unsigned char hello[4 + KEEL__RW_TOKEN_LEN];
    memcpy(hello, KEEL__RW_MAGIC, 4);
    memcpy(hello + 4, c->token, KEEL__RW_TOKEN_LEN);
    char ok[4];
    int rc = keel__rw_write_all(fd, hello, sizeof(hello));
    if (rc == 0)
        rc = keel__rw_read_all(fd, ok, 4);
    if (rc == 0 && memcmp(ok, KEEL__RW_OK, 4) != 0)
        rc = KEEL_EACCES;
    if (rc == KEEL_EOF)
        rc = KEEL_EACCES; /* the daemon hangs up on a wrong token */
    if (rc != 0) {
        close(fd);
        return rc;
    }
    c->fd = fd;
    return 0;
}

static void disconnect(keel_rootwrap_client_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* Reaps a daemon we started if it has exited, so no zombie stays behind. */
static void reap(keel_rootwrap_client_t *c)
{
    if (c->daemon_pid > 0 && waitpid(c->daemon_pid, NULL, WNOHANG) == c->daemon_pid)
        c->daemon_pid = 0;
}

static int ensure_connected(keel_rootwrap_client_t *c, keel_buf_t *why)
{
    if (c->fd >= 0)
        return 0;
    int rc = KEEL_ECONNREFUSED;
    if (c->sock)
        rc = connect_daemon(c);
    if (rc != 0 && c->daemon_argv.n > 0) {
        reap(c);
        rc = start_daemon(c, why);
        if (rc == 0)
            rc = connect_daemon(c);
    }
    return rc;
}

static int roundtrip(keel_rootwrap_client_t *c, const keel_buf_t *req, keel_rootwrap_result_t *res, uint32_t *status)
{
    int rc = keel__rw_write_all(c->fd, req->base, req->len);
    uint32_t code = 0;
    if (rc == 0)
        rc = keel__rw_read_u32(c->fd, status);
    if (rc == 0)
        rc = keel__rw_read_u32(c->fd, &code);
    if (rc == 0)
        rc = keel__rw_read_bytes(c->fd, UINT32_MAX, &res->out);
    if (rc == 0)
        rc = keel__rw_read_bytes(c->fd, UINT32_MAX, &res->err);
    if (rc == KEEL_EOF)
        rc = KEEL_ECONNRESET;
    res->returncode = (int)(int32_t)code;
    return rc;
}

int keel_rootwrap_execute(keel_rootwrap_client_t *c, char *const *argv, size_t argc, const void *in, size_t inlen,
                          keel_rootwrap_result_t *res)
{
    if (argc == 0 || argc > KEEL__RW_MAX_ARGS || inlen > KEEL__RW_MAX_STDIN)
        return KEEL_EINVAL;
    keel_buf_t req;
    keel_buf_init(&req);
    int rc = keel__rw_put_u32(&req, KEEL__RW_REQ_RUN);
    if (rc == 0)
        rc = keel__rw_put_u32(&req, (uint32_t)argc);
    for (size_t i = 0; rc == 0 && i < argc; i++) {
        size_t len = strlen(argv[i]);
        rc = len > KEEL__RW_MAX_ARG ? KEEL_EINVAL : keel__rw_put_bytes(&req, argv[i], len);
    }
    if (rc == 0)
        rc = keel__rw_put_u32(&req, in ? 1 : 0);
    if (rc == 0)
        rc = keel__rw_put_bytes(&req, in ? in : "", in ? inlen : 0);
    if (rc != 0) {
        keel_buf_free(&req);
        return rc;
    }
    pthread_mutex_lock(&c->lock);
    keel_buf_reset(&res->out);
    keel_buf_reset(&res->err);
    uint32_t status = 0;
    rc = ensure_connected(c, &res->err);
    if (rc == 0)
        rc = roundtrip(c, &req, res, &status);
    if (rc != 0 && rc != KEEL_ENOMEM && c->daemon_argv.n > 0) {
        /* The daemon may have timed out or died: start it again and retry once. */
        disconnect(c);
        keel_buf_reset(&res->out);
        keel_buf_reset(&res->err);
        rc = ensure_connected(c, &res->err);
        if (rc == 0)
            rc = roundtrip(c, &req, res, &status);
    }
    if (rc != 0)
        disconnect(c);
    else if (status != KEEL__RW_ST_DONE)
        rc = KEEL_EINVAL;
    pthread_mutex_unlock(&c->lock);
    keel_buf_free(&req);
    return rc;
}

void keel_rootwrap_client_free(keel_rootwrap_client_t *c)
{
    if (!c)
        return;
    if (c->daemon_pid > 0) {
        /* Ask the daemon we started to stop, as oslo's client does at exit, and reap it. */
        if (ensure_connected(c, NULL) == 0) {
            keel_buf_t req;
            keel_buf_init(&req);
            char ok[4];
            if (keel__rw_put_u32(&req, KEEL__RW_REQ_SHUTDOWN) == 0 && keel__rw_write_all(c->fd, req.base, req.len) == 0)
                keel__rw_read_all(c->fd, ok, 4);
            keel_buf_free(&req);
        }
        disconnect(c);
        for (int i = 0; i < 200 && c->daemon_pid > 0; i++) {
            reap(c);
            if (c->daemon_pid > 0) {
                struct timespec ts = {0, 10 * 1000 * 1000};
                nanosleep(&ts, NULL);
            }
        }
    }
    disconnect(c);
    keel__rw_strv_free(&c->daemon_argv);
    keel__free(c->sock);
    pthread_mutex_destroy(&c->lock);
    keel__free(c);
}
