/*
 * main.c — keeld, keel's AMQP 0-9-1 broker. Reads its options with
 * keel_conf (--config-file, --port, --bind-host, --data-dir, and the
 * [broker] group), runs one broker on one libuv loop in the foreground,
 * and stops cleanly on SIGINT or SIGTERM.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "keel/broker.h"
#include "keel/conf.h"
#include "keel/log.h"

static uv_signal_t sigint, sigterm;

static void on_stop(uv_signal_t *h, int signum)
{
    keel_broker_t *b = h->data;
    KEEL_LOG_INFO(keel_log_get("keeld"), "signal %d: closing connections and stopping", signum);
    keel_broker_close(b, NULL, NULL);
    uv_close((uv_handle_t *)&sigint, NULL);
    uv_close((uv_handle_t *)&sigterm, NULL);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    keel_conf_t *conf;
    if (keel_conf_new(&conf) != 0 || keel_broker_register_opts(conf) != 0 || keel_log_register_opts(conf) != 0) {
        fprintf(stderr, "keeld: out of memory\n");
        return 1;
    }
    keel_conf_setup_t setup = {.project = "keel",
                               .prog = "keeld",
                               .version = KEEL_VERSION,
                               .description = "keeld: an AMQP 0-9-1 broker that RabbitMQ's clients use unchanged."};
    int rc = keel_conf_parse(conf, argc, argv, &setup);
    if (rc == KEEL_EEXIT) {
        keel_conf_free(conf);
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr, "keeld: %s\n", keel_conf_error(conf));
        keel_conf_free(conf);
        return rc == KEEL_EUSAGE ? 2 : 1;
    }
    rc = keel_log_setup(conf, "keeld");
    if (rc != 0) {
        fprintf(stderr, "keeld: logging: %s\n", keel_conf_error(conf)[0] ? keel_conf_error(conf) : keel_strerror(rc));
        keel_conf_free(conf);
        return 1;
    }
    keel_log_t *log = keel_log_get("keeld");
    keel_log_opt_values(conf, log, KEEL_LOG_LEVEL_DEBUG);
    keel_broker_opts_t opts;
    keel_broker_opts_from_conf(conf, &opts);
    uv_loop_t *loop = uv_default_loop();
    keel_broker_t *b;
    rc = keel_broker_new(&b, loop, &opts);
    if (rc != 0) {
        fprintf(stderr, "keeld: cannot start: %s\n", keel_strerror(rc));
        keel_conf_free(conf);
        return 1;
    }
    rc = keel_broker_listen(b);
    if (rc != 0) {
        fprintf(stderr, "keeld: cannot listen on %s:%u: %s\n", opts.bind_host, opts.port, uv_strerror(rc));
        keel_broker_close(b, NULL, NULL);
        uv_run(loop, UV_RUN_DEFAULT);
        keel_broker_free(b);
        keel_conf_free(conf);
        return 1;
    }
    char control[512];
    keel_broker_control_path(keel_broker_port(b), control, sizeof(control));
    rc = keel_broker_control_listen(b, control);
    if (rc != 0)
        KEEL_LOG_WARNING(log, "no control socket at %s (%s): `keel add_user` and friends will not reach this broker", control,
                         keel_strerror(rc));
    KEEL_LOG_INFO(log, "started keeld %s, listening on %s:%u (control socket %s)", KEEL_VERSION, opts.bind_host,
                  keel_broker_port(b), control);
    uv_signal_init(loop, &sigint);
    uv_signal_init(loop, &sigterm);
    sigint.data = sigterm.data = b;
    uv_signal_start(&sigint, on_stop, SIGINT);
    uv_signal_start(&sigterm, on_stop, SIGTERM);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_walk(loop, close_walk, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    keel_broker_free(b);
    keel_conf_free(conf);
    uv_loop_close(loop);
    return 0;
}
