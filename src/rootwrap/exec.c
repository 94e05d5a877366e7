/*
 * exec.c — running an allowed command the way oslo.rootwrap's
 * subprocess.Popen does, plus what oslo-rootwrap does around it.
 *
 * Design: everything the child needs (the executable candidates, the user
 * id, the signal dispositions to restore) is prepared before fork(), so
 * the child only makes async-signal-safe calls — the daemon forks from a
 * threaded process. An exec failure travels back through a close-on-exec
 * pipe as an errno, as in CPython's _posixsubprocess, and the first
 * "interesting" errno wins as it does there.
 *
 * Unlike oslo-rootwrap, keel-rootwrap passes signals sent to it on to the
 * command: Python dies of SIGTERM and leaves the command running.
 */
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include "pycompat/pystr.h"
#include "rootwrap_int.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* The signals keel_rootwrap_run() passes on. */
static const int forwarded[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};
#define NFORWARDED (sizeof(forwarded) / sizeof(forwarded[0]))

/* What the child does between fork() and execve(), decided beforehand. */
typedef struct {
    char **candidates; /* executables to try, in order */
    char *const *argv;
    char *const *envp;
    bool change_uid;
    uid_t uid;
    int fds[3];
    int errpipe;
    const struct sigaction *restore; /* dispositions of forwarded[] to put back, or NULL */
    const sigset_t *mask;            /* the signal mask to run with */
} child_t;

/* posixpath.join(dir, name) for the executable search list. */
static int join_exec(keel__rw_strv_t *out, const char *dir, const char *name)
{
    keel_buf_t b;
    keel_buf_init(&b);
    int rc = keel_buf_puts(&b, dir);
    if (rc == 0 && b.len && b.base[b.len - 1] != '/')
        rc = keel_buf_putc(&b, '/');
    if (rc == 0)
        rc = keel_buf_puts(&b, name);
    if (rc == 0)
        rc = keel__rw_strv_push(out, b.base);
    keel_buf_free(&b);
    return rc;
}

/* subprocess: argv[0] itself if it has a "/", else each directory of the child's PATH. */
static int exec_candidates(const keel_rootwrap_match_t *m, char *const *envp, keel__rw_strv_t *out)
{
    const char *exe = m->argv[0];
    if (strchr(exe, '/'))
        return keel__rw_strv_push(out, exe);
    const char *path = keel__rw_getenv(envp, "PATH");
    if (!path)
        path = "/bin:/usr/bin"; /* os.defpath */
    keel__rw_strv_t dirs;
    keel__rw_strv_init(&dirs);
    int rc = keel__rw_strv_split(&dirs, path, strlen(path), ':');
    for (size_t i = 0; rc == 0 && i < dirs.n; i++)
        rc = join_exec(out, dirs.v[i], exe);
    keel__rw_strv_free(&dirs);
    return rc;
}

static void mark_cloexec_from(int first)
{
    if (syscall(SYS_close_range, (unsigned)first, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return;
    /* Kernels before 5.11: set the flag one descriptor at a time. */
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = first; fd < (max > 0 ? max : 1024); fd++) {
        int fl = fcntl((int)fd, F_GETFD);
        if (fl >= 0)
            fcntl((int)fd, F_SETFD, fl | FD_CLOEXEC);
    }
}

static _Noreturn void child_fail(const child_t *c, int err)
{
    ssize_t w = write(c->errpipe, &err, sizeof(err));
    (void)w;
    _exit(255);
}

/* Runs in the child: async-signal-safe calls only. */
static _Noreturn void child_main(const child_t *c)
{
    if (c->restore) {
        for (size_t i = 0; i < NFORWARDED; i++)
            sigaction(forwarded[i], &c->restore[i], NULL);
    }
    /* Python ignores these two for itself and restores them for its children. */
    signal(SIGPIPE, SIG_DFL);
    signal(SIGXFSZ, SIG_DFL);
    sigprocmask(SIG_SETMASK, c->mask, NULL);
    for (int i = 0; i < 3; i++) {
        if (c->fds[i] < 0)
            continue;
        if (c->fds[i] == i) {
            int fl = fcntl(i, F_GETFD);
            if (fl >= 0)
                fcntl(i, F_SETFD, fl & ~FD_CLOEXEC);
        } else if (dup2(c->fds[i], i) < 0) {
            child_fail(c, errno);
        }
    }
    /*
     * The raw system call: glibc's setuid() would broadcast the change to
     * every thread of the (shared-memory) parent, which is not ours to change.
     */
    if (c->change_uid && syscall(SYS_setuid, c->uid) != 0)
        child_fail(c, errno);
    mark_cloexec_from(3);
    int saved = 0;
    for (size_t i = 0; c->candidates[i]; i++) {
        execve(c->candidates[i], c->argv, c->envp);
        if (errno != ENOENT && errno != ENOTDIR && saved == 0)
            saved = errno;
    }
    child_fail(c, saved ? saved : errno);
}

/* Starts the child; restore/mask are for keel_rootwrap_run's signal handling. */
static int spawn(const keel_rootwrap_match_t *m, const int fds[3], pid_t *pid, keel_buf_t *why, const struct sigaction *restore,
                 const sigset_t *mask)
{
    if (m->decision != KEEL_ROOTWRAP_ALLOWED || !m->argv || !m->argv[0])
        return KEEL_EINVAL;
    child_t c;
    memset(&c, 0, sizeof(c));
    keel__rw_strv_t cand;
    keel__rw_strv_init(&cand);
    c.argv = m->argv;
    c.envp = m->envp ? m->envp : keel__rw_environ();
    c.restore = restore;
    c.mask = mask;
    for (int i = 0; i < 3; i++)
        c.fds[i] = fds ? fds[i] : -1;
    int rc = exec_candidates(m, c.envp, &cand);
    if (rc != 0)
        return rc;
    c.candidates = cand.v;
    if (strcmp(m->run_as, "root") != 0) {
        /* Python looks the user up in the child (pwd.getpwnam); the answer is the same here. */
        struct passwd pw, *res = NULL;
        char buf[4096];
        if (getpwnam_r(m->run_as, &pw, buf, sizeof(buf), &res) != 0 || !res) {
            if (why) {
                keel_buf_puts(why, "run_as user ");
                keel__py_put_escaped(why, m->run_as, strlen(m->run_as));
                keel_buf_puts(why, " does not exist (oslo.rootwrap fails here)");
            }
            keel__rw_strv_free(&cand);
            return KEEL_EINVAL;
        }
        c.change_uid = true;
        c.uid = res->pw_uid;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        rc = keel_from_errno(errno);
        keel__rw_strv_free(&cand);
        return rc;
    }
    c.errpipe = p[1];
    sigset_t current;
    if (!c.mask) {
        sigprocmask(SIG_SETMASK, NULL, &current);
        c.mask = &current;
    }
    /*
     * vfork(): the child borrows our memory until it execs, so starting a
     * command costs no page-table copy, which is much of keel-rootwrap's
     * budget. child_main() only calls async-signal-safe functions and
     * never returns.
     */
    pid_t child = vfork();
    if (child == 0)
        child_main(&c);
    int fork_errno = errno;
    close(p[1]);
    keel__rw_strv_free(&cand);
    if (child < 0) {
        close(p[0]);
        if (why)
            keel_buf_printf(why, "fork: %s", strerror(fork_errno));
        return keel_from_errno(fork_errno);
    }
    int err = 0;
    ssize_t n;
    do {
        n = read(p[0], &err, sizeof(err));
    } while (n < 0 && errno == EINTR);
    close(p[0]);
    if (n == (ssize_t)sizeof(err)) {
        while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
            ;
        if (why) {
            keel__py_put_escaped(why, m->argv[0], strlen(m->argv[0]));
            keel_buf_printf(why, ": %s", strerror(err));
        }
        return keel_from_errno(err);
    }
    *pid = child;
    return 0;
}

int keel_rootwrap_spawn(const keel_rootwrap_match_t *m, const int fds[3], pid_t *pid, keel_buf_t *why)
{
    return spawn(m, fds, pid, why, NULL, NULL);
}

static volatile sig_atomic_t forward_to;

static void forward_signal(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    pid_t target = (pid_t)forward_to;
    /* Only what a process sent with kill(): the terminal's signals already reach the command. */
    if (target > 0 && si->si_code <= 0 && si->si_pid != target)
        kill(target, sig);
}

static int wait_status(pid_t pid, int *status)
{
    for (;;) {
        if (waitpid(pid, status, 0) >= 0)
            return 0;
        if (errno != EINTR)
            return keel_from_errno(errno);
    }
}

int keel_rootwrap_run(const keel_rootwrap_match_t *m, int *status, keel_buf_t *why)
{
    sigset_t block, old;
    sigemptyset(&block);
    for (size_t i = 0; i < NFORWARDED; i++)
        sigaddset(&block, forwarded[i]);
    sigprocmask(SIG_BLOCK, &block, &old);
    struct sigaction saved[NFORWARDED], sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = forward_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask);
    for (size_t i = 0; i < NFORWARDED; i++)
        sigaction(forwarded[i], &sa, &saved[i]);
    pid_t pid = 0;
    int rc = spawn(m, NULL, &pid, why, saved, &old);
    int ws = 0;
    if (rc == 0) {
        forward_to = pid;
        sigprocmask(SIG_SETMASK, &old, NULL);
        rc = wait_status(pid, &ws);
        sigprocmask(SIG_BLOCK, &block, NULL);
        forward_to = 0;
    }
    for (size_t i = 0; i < NFORWARDED; i++)
        sigaction(forwarded[i], &saved[i], NULL);
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return rc;
    *status = WIFSIGNALED(ws) ? KEEL_ROOTWRAP_SIGNAL_BASE + WTERMSIG(ws) : WEXITSTATUS(ws);
    return 0;
}

/* Writes to a pipe whose reader may be gone without dying of SIGPIPE. */
static ssize_t write_nosigpipe(int fd, const void *buf, size_t len)
{
    sigset_t pipeset, old, pending;
    sigemptyset(&pipeset);
    sigaddset(&pipeset, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipeset, &old);
    sigpending(&pending);
    bool was_pending = sigismember(&pending, SIGPIPE);
    ssize_t n = write(fd, buf, len);
    int saved = errno;
    if (n < 0 && saved == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        sigtimedwait(&pipeset, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return n;
}

int keel_rootwrap_capture(const keel_rootwrap_match_t *m, const void *in, size_t inlen, int *returncode, keel_buf_t *out,
                          keel_buf_t *err, keel_buf_t *why)
{
    int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
    int rc = 0;
    if (pipe2(pin, O_CLOEXEC) != 0 || pipe2(pout, O_CLOEXEC) != 0 || pipe2(perr, O_CLOEXEC) != 0) {
        rc = keel_from_errno(errno);
        goto out;
    }
    int fds[3] = {pin[0], pout[1], perr[1]};
    pid_t pid;
    rc = spawn(m, fds, &pid, why, NULL, NULL);
    close(pin[0]);
    close(pout[1]);
    close(perr[1]);
    pin[0] = pout[1] = perr[1] = -1;
    if (rc != 0)
        goto out;
    if (!in || inlen == 0) {
        close(pin[1]);
        pin[1] = -1;
    } else {
        fcntl(pin[1], F_SETFL, fcntl(pin[1], F_GETFL) | O_NONBLOCK);
    }
    size_t written = 0;
    char buf[65536];
    while (pout[0] >= 0 || perr[0] >= 0) {
        struct pollfd pf[3];
        int n = 0, iout = -1, ierr = -1, iin = -1;
        if (pout[0] >= 0)
            pf[iout = n++] = (struct pollfd){pout[0], POLLIN, 0};
        if (perr[0] >= 0)
            pf[ierr = n++] = (struct pollfd){perr[0], POLLIN, 0};
        if (pin[1] >= 0)
            pf[iin = n++] = (struct pollfd){pin[1], POLLOUT, 0};
        if (poll(pf, (nfds_t)n, -1) < 0) {
            if (errno == EINTR)
                continue;
            rc = keel_from_errno(errno);
            break;
        }
        int *fdp[2] = {&pout[0], &perr[0]};
        keel_buf_t *dst[2] = {out, err};
        int idx[2] = {iout, ierr};
        for (int k = 0; k < 2 && rc == 0; k++) {
            if (idx[k] < 0 || !(pf[idx[k]].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t r = read(*fdp[k], buf, sizeof(buf));
            if (r > 0) {
                rc = keel_buf_append(dst[k], buf, (size_t)r);
            } else if (r == 0 || errno != EINTR) {
                close(*fdp[k]);
                *fdp[k] = -1;
            }
        }
        if (rc == 0 && iin >= 0 && (pf[iin].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t w = write_nosigpipe(pin[1], (const char *)in + written, inlen - written);
            if (w > 0)
                written += (size_t)w;
            if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == inlen) {
                close(pin[1]);
                pin[1] = -1;
            }
        }
        if (rc != 0)
            break;
    }
    int ws = 0;
    int wrc = wait_status(pid, &ws);
    if (rc == 0)
        rc = wrc;
    if (rc == 0)
        *returncode = WIFSIGNALED(ws) ? -WTERMSIG(ws) : WEXITSTATUS(ws);
out:
    for (int i = 0; i < 2; i++) {
        if (pin[i] >= 0)
            close(pin[i]);
        if (pout[i] >= 0)
            close(pout[i]);
        if (perr[i] >= 0)
            close(perr[i]);
    }
    return rc;
}

int keel_rootwrap_limit_files(const keel_rootwrap_config_t *cfg, keel_buf_t *why)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return keel_from_errno(errno);
    /* sensible = min(rlimit_nofile, soft); nothing to do unless soft is above it. */
    int64_t want = cfg->rlimit_nofile;
    if (rl.rlim_cur != RLIM_INFINITY && (int64_t)rl.rlim_cur <= want)
        return 0;
    if (want < 0) {
        if (why)
            keel_buf_printf(why, "rlimit_nofile %lld cannot be set (oslo.rootwrap fails here)", (long long)want);
        return KEEL_EINVAL;
    }
    /* Close every descriptor at or above the limit, as oslo-rootwrap does through /proc/self/fd. */
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return keel_from_errno(errno);
    int self = dirfd(d);
    int fds[1024];
    size_t n = 0;
    struct dirent *e;
    bool over = false;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        int fd = atoi(e->d_name);
        if (fd >= want) {
            if (fd == self) {
                over = true; /* Python's listing descriptor is closed by then: os.close() fails */
                continue;
            }
            if (n < sizeof(fds) / sizeof(fds[0]))
                fds[n++] = fd;
        }
    }
    closedir(d);
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
    if (over) {
        if (why)
            keel_buf_printf(why,
                            "rlimit_nofile %lld is below the descriptors needed to apply it (oslo.rootwrap "
                            "fails here)",
                            (long long)want);
        return KEEL_EINVAL;
    }
    rl.rlim_cur = (rlim_t)want;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        int e2 = errno;
        if (why)
            keel_buf_printf(why, "setrlimit(RLIMIT_NOFILE, %lld): %s", (long long)want, strerror(e2));
        return keel_from_errno(e2);
    }
    return 0;
}
