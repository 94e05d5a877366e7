/*
 * amqp_load.c — an AMQP 0-9-1 load generator built on keel's codec, for
 * comparing brokers on the same machine: producers and consumers on their
 * own threads and connections, a chosen message size, fan-out to several
 * queues, optional publisher confirms and persistence, a prefetch, and a
 * fixed-rate mode that measures end-to-end latency.
 *
 * Every message carries its producer, sequence number and send time in
 * its first 24 octets, so consumers count losses and duplicates per
 * producer and compute latency without clock skew (one machine). The
 * result is one line of key=value pairs.
 *
 *   amqp_load --port P [--producers N] [--consumers N] [--size BYTES]
 *             [--seconds S | --count N] [--fanout Q] [--confirm]
 *             [--persistent] [--prefetch N] [--rate MSGS_PER_S]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "keel/amqp.h"

#define MAX_THREADS 64
#define STAMP 24

static struct {
    const char *host;
    int port;
    int producers, consumers, fanout;
    size_t size;
    double seconds;
    long count; /* per producer; 0: run for seconds */
    bool confirm, persistent;
    int prefetch;
    double rate; /* per producer; 0: as fast as possible */
    char tag[64];
} cfg = {"127.0.0.1", 5672, 1, 1, 1, 16, 5.0, 0, false, false, 200, 0, ""};

static atomic_bool stop_producing;
static atomic_long published_total, consumed_total, lost_total, dup_total;
static atomic_long consumers_ready;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- a tiny blocking AMQP client ---- */

typedef struct {
    int fd;
    keel_buf_t out;
    uint8_t *in;
    size_t in_len, in_cap, in_off;
    uint32_t frame_max;
} client_t;

static void die(const char *what)
{
    fprintf(stderr, "amqp_load: %s\n", what);
    exit(1);
}

static void flush_out(client_t *c)
{
    size_t off = 0;
    while (off < c->out.len) {
        ssize_t n = send(c->fd, c->out.base + off, c->out.len - off, MSG_NOSIGNAL);
        if (n <= 0)
            die("send failed");
        off += (size_t)n;
    }
    keel_buf_reset(&c->out);
}

/* Reads the next frame; its payload is valid until the next call. */
static void read_frame(client_t *c, keel_amqp_frame_t *f)
{
    for (;;) {
        size_t used;
        int rc = keel_amqp_frame_parse(c->in + c->in_off, c->in_len - c->in_off, 0, f, &used, NULL);
        if (rc == 0) {
            c->in_off += used;
            return;
        }
        if (rc != KEEL_EAGAIN)
            die("bad frame from broker");
        if (c->in_off > 0) {
            memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
            c->in_len -= c->in_off;
            c->in_off = 0;
        }
        if (used > c->in_cap) {
            c->in_cap = used * 2;
            c->in = realloc(c->in, c->in_cap);
        }
        ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            die("no frame from the broker for 30 s: messages were lost or the broker stalled");
        if (n <= 0)
            die("connection closed by broker");
        c->in_len += (size_t)n;
    }
}

static void send_method(client_t *c, uint16_t ch, keel_amqp_method_t m)
{
    keel_amqp_method_encode(&c->out, ch, &m);
}

/* Waits for a given method (skipping heartbeats); fails on a close. */
static void expect(client_t *c, uint32_t id, keel_amqp_method_t *out)
{
    for (;;) {
        keel_amqp_frame_t f;
        read_frame(c, &f);
        if (f.type != KEEL_AMQP_FRAME_METHOD)
            continue;
        keel_amqp_method_t m;
        if (keel_amqp_method_decode(f.payload, f.size, &m, NULL) != 0)
            die("undecodable method");
        if (m.id == id) {
            if (out)
                *out = m;
            return;
        }
        if (m.id == KEEL_AMQP_CONNECTION_CLOSE || m.id == KEEL_AMQP_CHANNEL_CLOSE) {
            fprintf(stderr, "amqp_load: broker closed: %.*s\n", (int)m.connection_close.reply_text.len,
                    m.connection_close.reply_text.base);
            exit(1);
        }
    }
}

static void client_open(client_t *c)
{
    memset(c, 0, sizeof(*c));
    keel_buf_init(&c->out);
    c->in_cap = 1 << 20;
    c->in = malloc(c->in_cap);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg.port)};
    inet_pton(AF_INET, cfg.host, &sa.sin_addr);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        die("cannot connect");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct timeval tv = {30, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    keel_buf_append(&c->out, KEEL_AMQP_PROTOCOL_HEADER, 8);
    flush_out(c);
    expect(c, KEEL_AMQP_CONNECTION_START, NULL);
    keel_amqp_method_t so = {.id = KEEL_AMQP_CONNECTION_START_OK};
    so.connection_start_ok.mechanism = KEEL_AMQP_STR("PLAIN");
    so.connection_start_ok.response = (keel_amqp_str_t){"\0guest\0guest", 12};
    so.connection_start_ok.locale = KEEL_AMQP_STR("en_US");
    send_method(c, 0, so);
    flush_out(c);
    keel_amqp_method_t tune;
    expect(c, KEEL_AMQP_CONNECTION_TUNE, &tune);
    c->frame_max = tune.connection_tune.frame_max ? tune.connection_tune.frame_max : 131072;
    keel_amqp_method_t to = {.id = KEEL_AMQP_CONNECTION_TUNE_OK};
    to.connection_tune_ok.channel_max = tune.connection_tune.channel_max;
    to.connection_tune_ok.frame_max = c->frame_max;
    to.connection_tune_ok.heartbeat = 0;
    send_method(c, 0, to);
    keel_amqp_method_t op = {.id = KEEL_AMQP_CONNECTION_OPEN};
    op.connection_open.virtual_host = KEEL_AMQP_STR("/");
    send_method(c, 0, op);
    send_method(c, 1, (keel_amqp_method_t){.id = KEEL_AMQP_CHANNEL_OPEN});
    flush_out(c);
    expect(c, KEEL_AMQP_CONNECTION_OPEN_OK, NULL);
    expect(c, KEEL_AMQP_CHANNEL_OPEN_OK, NULL);
}

static void client_close(client_t *c)
{
    keel_amqp_method_t cl = {.id = KEEL_AMQP_CONNECTION_CLOSE};
    cl.connection_close.reply_code = 200;
    cl.connection_close.reply_text = KEEL_AMQP_STR("bye");
    send_method(c, 0, cl);
    flush_out(c);
    /* wait for close-ok: closing with unread input would reset the
     * connection, and the broker could drop publishes it has not read */
    expect(c, KEEL_AMQP_CONNECTION_CLOSE_OK, NULL);
    close(c->fd);
    keel_buf_free(&c->out);
    free(c->in);
}

/* ---- topology ---- */

static void queue_name(int i, char *out, size_t size)
{
    snprintf(out, size, "amqp_load.%s.q%d", cfg.tag, i);
}

static void setup_topology(void)
{
    client_t c;
    client_open(&c);
    char ex[128];
    snprintf(ex, sizeof(ex), "amqp_load.%s.fanout", cfg.tag);
    keel_amqp_method_t xd = {.id = KEEL_AMQP_EXCHANGE_DECLARE};
    xd.exchange_declare.exchange = keel_amqp_str(ex);
    xd.exchange_declare.type = KEEL_AMQP_STR("fanout");
    xd.exchange_declare.auto_delete = false;
    send_method(&c, 1, xd);
    flush_out(&c);
    expect(&c, KEEL_AMQP_EXCHANGE_DECLARE_OK, NULL);
    for (int i = 0; i < cfg.fanout; i++) {
        char q[128];
        queue_name(i, q, sizeof(q));
        keel_amqp_method_t qd = {.id = KEEL_AMQP_QUEUE_DECLARE};
        qd.queue_declare.queue = keel_amqp_str(q);
        qd.queue_declare.durable = cfg.persistent;
        send_method(&c, 1, qd);
        keel_amqp_method_t qb = {.id = KEEL_AMQP_QUEUE_BIND};
        qb.queue_bind.queue = keel_amqp_str(q);
        qb.queue_bind.exchange = keel_amqp_str(ex);
        send_method(&c, 1, qb);
        flush_out(&c);
        expect(&c, KEEL_AMQP_QUEUE_DECLARE_OK, NULL);
        expect(&c, KEEL_AMQP_QUEUE_BIND_OK, NULL);
    }
    client_close(&c);
}

static void teardown_topology(void)
{
    client_t c;
    client_open(&c);
    for (int i = 0; i < cfg.fanout; i++) {
        char q[128];
        queue_name(i, q, sizeof(q));
        keel_amqp_method_t qd = {.id = KEEL_AMQP_QUEUE_DELETE};
        qd.queue_delete.queue = keel_amqp_str(q);
        send_method(&c, 1, qd);
        flush_out(&c);
        expect(&c, KEEL_AMQP_QUEUE_DELETE_OK, NULL);
    }
    char ex[128];
    snprintf(ex, sizeof(ex), "amqp_load.%s.fanout", cfg.tag);
    keel_amqp_method_t xd = {.id = KEEL_AMQP_EXCHANGE_DELETE};
    xd.exchange_delete.exchange = keel_amqp_str(ex);
    send_method(&c, 1, xd);
    flush_out(&c);
    expect(&c, KEEL_AMQP_EXCHANGE_DELETE_OK, NULL);
    client_close(&c);
}

/* ---- producers ---- */

typedef struct {
    int id;
    long sent;
    pthread_t thread;
} producer_t;

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void *producer_main(void *arg)
{
    producer_t *p = arg;
    client_t c;
    client_open(&c);
    if (cfg.confirm) {
        send_method(&c, 1, (keel_amqp_method_t){.id = KEEL_AMQP_CONFIRM_SELECT});
        flush_out(&c);
        expect(&c, KEEL_AMQP_CONFIRM_SELECT_OK, NULL);
    }
    char ex[128];
    snprintf(ex, sizeof(ex), "amqp_load.%s.fanout", cfg.tag);
    size_t size = cfg.size < STAMP ? STAMP : cfg.size;
    uint8_t *body = calloc(1, size);
    keel_amqp_properties_t props = {0};
    if (cfg.persistent) {
        props.flags = KEEL_AMQP_PROP_DELIVERY_MODE;
        props.delivery_mode = 2;
    }
    keel_amqp_method_t pub = {.id = KEEL_AMQP_BASIC_PUBLISH};
    pub.basic_publish.exchange = keel_amqp_str(ex);
    uint64_t start = now_ns();
    uint64_t interval = cfg.rate > 0 ? (uint64_t)(1e9 / cfg.rate) : 0;
    long unconfirmed = 0;
    const long window = 1000;
    while (!atomic_load(&stop_producing) && (cfg.count == 0 || p->sent < cfg.count)) {
        if (interval) {
            uint64_t due = start + (uint64_t)p->sent * interval;
            uint64_t t = now_ns();
            if (t < due) {
                struct timespec ts = {(time_t)((due - t) / 1000000000u), (long)((due - t) % 1000000000u)};
                nanosleep(&ts, NULL);
            }
        }
        put64(body, (uint64_t)p->id);
        put64(body + 8, (uint64_t)p->sent);
        put64(body + 16, now_ns());
        send_method(&c, 1, pub);
        keel_amqp_content_encode(&c.out, 1, c.frame_max, &props, body, size);
        p->sent++;
        unconfirmed++;
        /* batch writes when running flat out; send each when paced */
        if (interval || c.out.len > 64 * 1024)
            flush_out(&c);
        if (cfg.confirm && unconfirmed >= window) {
            flush_out(&c);
            /* wait until the broker has confirmed up to the last one */
            for (;;) {
                keel_amqp_method_t m;
                expect(&c, KEEL_AMQP_BASIC_ACK, &m);
                if (m.basic_ack.delivery_tag >= (uint64_t)p->sent - (uint64_t)(window / 2))
                    break;
            }
            unconfirmed = window / 2;
        }
    }
    flush_out(&c);
    atomic_fetch_add(&published_total, p->sent);
    free(body);
    client_close(&c);
    return NULL;
}

/* ---- consumers ---- */

typedef struct {
    int queue;
    pthread_t thread;
    long received;
    long *next_seq; /* per producer */
    uint64_t *lat;  /* latency samples, ns */
    size_t nlat, cap_lat;
} consumer_t;

static long expected_per_queue(void)
{
    return cfg.count * cfg.producers;
}

static void *consumer_main(void *arg)
{
    consumer_t *k = arg;
    client_t c;
    client_open(&c);
    char q[128];
    queue_name(k->queue, q, sizeof(q));
    keel_amqp_method_t qos = {.id = KEEL_AMQP_BASIC_QOS};
    qos.basic_qos.prefetch_count = (uint16_t)cfg.prefetch;
    send_method(&c, 1, qos);
    keel_amqp_method_t cons = {.id = KEEL_AMQP_BASIC_CONSUME};
    cons.basic_consume.queue = keel_amqp_str(q);
    send_method(&c, 1, cons);
    flush_out(&c);
    expect(&c, KEEL_AMQP_BASIC_QOS_OK, NULL);
    expect(&c, KEEL_AMQP_BASIC_CONSUME_OK, NULL);
    atomic_fetch_add(&consumers_ready, 1);
    k->next_seq = calloc((size_t)cfg.producers, sizeof(long));
    uint64_t last_tag = 0, acked = 0;
    uint64_t body_size = 0, filled = 0;
    uint8_t stamp[STAMP];
    for (;;) {
        keel_amqp_frame_t f;
        read_frame(&c, &f);
        if (f.type == KEEL_AMQP_FRAME_METHOD) {
            keel_amqp_method_t m;
            keel_amqp_method_decode(f.payload, f.size, &m, NULL);
            if (m.id == KEEL_AMQP_BASIC_DELIVER) {
                last_tag = m.basic_deliver.delivery_tag;
                filled = 0;
            } else if (m.id == KEEL_AMQP_BASIC_CANCEL || m.id == KEEL_AMQP_CHANNEL_CLOSE) {
                break;
            }
        } else if (f.type == KEEL_AMQP_FRAME_HEADER) {
            keel_amqp_header_t h;
            keel_amqp_header_decode(f.payload, f.size, &h, NULL);
            body_size = h.body_size;
        } else if (f.type == KEEL_AMQP_FRAME_BODY) {
            if (filled < STAMP) {
                size_t n = f.size < STAMP - filled ? f.size : STAMP - filled;
                memcpy(stamp + filled, f.payload, n);
            }
            filled += f.size;
            if (filled < body_size)
                continue;
            uint64_t pid = get64(stamp), seq = get64(stamp + 8), sent = get64(stamp + 16);
            if (pid < (uint64_t)cfg.producers) {
                long want = k->next_seq[pid];
                if ((long)seq > want)
                    atomic_fetch_add(&lost_total, (long)seq - want);
                else if ((long)seq < want)
                    atomic_fetch_add(&dup_total, 1);
                if ((long)seq >= want)
                    k->next_seq[pid] = (long)seq + 1;
            }
            if (cfg.rate > 0) {
                if (k->nlat == k->cap_lat) {
                    k->cap_lat = k->cap_lat ? k->cap_lat * 2 : 4096;
                    k->lat = realloc(k->lat, k->cap_lat * sizeof(uint64_t));
                }
                k->lat[k->nlat++] = now_ns() - sent;
            }
            k->received++;
            /* ack in batches, as real consumers with prefetch do */
            if (last_tag - acked >= (uint64_t)(cfg.prefetch > 1 ? cfg.prefetch / 2 : 1)) {
                keel_amqp_method_t ack = {.id = KEEL_AMQP_BASIC_ACK};
                ack.basic_ack.delivery_tag = last_tag;
                ack.basic_ack.multiple = true;
                send_method(&c, 1, ack);
                flush_out(&c);
                acked = last_tag;
            }
            if (cfg.count > 0 && k->received >= expected_per_queue())
                break;
            if (cfg.count == 0 && atomic_load(&stop_producing) && k->received > 0) {
                /* drain what is in flight, then stop on a short idle */
            }
        }
        if (cfg.count == 0 && atomic_load(&stop_producing))
            break;
    }
    if (last_tag > acked) {
        keel_amqp_method_t ack = {.id = KEEL_AMQP_BASIC_ACK};
        ack.basic_ack.delivery_tag = last_tag;
        ack.basic_ack.multiple = true;
        send_method(&c, 1, ack);
    }
    atomic_fetch_add(&consumed_total, k->received);
    client_close(&c);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"host", 1, 0, 'H'},      {"port", 1, 0, 'p'},     {"producers", 1, 0, 'P'}, {"consumers", 1, 0, 'C'},
        {"size", 1, 0, 's'},      {"seconds", 1, 0, 't'},  {"count", 1, 0, 'n'},     {"fanout", 1, 0, 'f'},
        {"confirm", 0, 0, 'c'},   {"persistent", 0, 0, 'd'}, {"prefetch", 1, 0, 'q'}, {"rate", 1, 0, 'r'},
        {0, 0, 0, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (o) {
        case 'H': cfg.host = optarg; break;
        case 'p': cfg.port = atoi(optarg); break;
        case 'P': cfg.producers = atoi(optarg); break;
        case 'C': cfg.consumers = atoi(optarg); break;
        case 's': cfg.size = (size_t)atol(optarg); break;
        case 't': cfg.seconds = atof(optarg); break;
        case 'n': cfg.count = atol(optarg); break;
        case 'f': cfg.fanout = atoi(optarg); break;
        case 'c': cfg.confirm = true; break;
        case 'd': cfg.persistent = true; break;
        case 'q': cfg.prefetch = atoi(optarg); break;
        case 'r': cfg.rate = atof(optarg); break;
        default: fprintf(stderr, "usage: see the comment at the top of amqp_load.c\n"); return 2;
        }
    }
    if (cfg.producers < 1 || cfg.producers > MAX_THREADS || cfg.fanout < 1 || cfg.fanout > MAX_THREADS)
        die("bad thread counts");
    /* one consumer per queue: the fan-out scenario has as many as queues */
    if (cfg.consumers < cfg.fanout)
        cfg.consumers = cfg.fanout;
    snprintf(cfg.tag, sizeof(cfg.tag), "%d", (int)getpid());
    setup_topology();
    consumer_t *ks = calloc((size_t)cfg.consumers, sizeof(*ks));
    for (int i = 0; i < cfg.consumers; i++) {
        ks[i].queue = i % cfg.fanout;
        pthread_create(&ks[i].thread, NULL, consumer_main, &ks[i]);
    }
    while (atomic_load(&consumers_ready) < cfg.consumers)
        usleep(1000);
    producer_t *ps = calloc((size_t)cfg.producers, sizeof(*ps));
    uint64_t t0 = now_ns();
    for (int i = 0; i < cfg.producers; i++) {
        ps[i].id = i;
        pthread_create(&ps[i].thread, NULL, producer_main, &ps[i]);
    }
    if (cfg.count == 0) {
        usleep((useconds_t)(cfg.seconds * 1e6));
        atomic_store(&stop_producing, true);
    }
    for (int i = 0; i < cfg.producers; i++)
        pthread_join(ps[i].thread, NULL);
    uint64_t t_pub = now_ns();
    for (int i = 0; i < cfg.consumers; i++)
        pthread_join(ks[i].thread, NULL);
    uint64_t t1 = now_ns();
    double secs = (double)(t1 - t0) / 1e9;
    long pub = atomic_load(&published_total), got = atomic_load(&consumed_total);
    printf("producers=%d consumers=%d queues=%d size=%zu confirm=%d persistent=%d prefetch=%d rate=%g published=%ld consumed=%ld "
           "seconds=%.3f publish_rate=%.0f consume_rate=%.0f lost=%ld duplicates=%ld",
           cfg.producers, cfg.consumers, cfg.fanout, cfg.size, cfg.confirm, cfg.persistent, cfg.prefetch, cfg.rate, pub, got, secs,
           (double)pub / ((double)(t_pub - t0) / 1e9), (double)got / secs, atomic_load(&lost_total), atomic_load(&dup_total));
    if (cfg.rate > 0) {
        size_t n = 0;
        for (int i = 0; i < cfg.consumers; i++)
            n += ks[i].nlat;
        uint64_t *all = malloc((n ? n : 1) * sizeof(uint64_t));
        size_t k = 0;
        for (int i = 0; i < cfg.consumers; i++)
            for (size_t j = 0; j < ks[i].nlat; j++)
                all[k++] = ks[i].lat[j];
        qsort(all, n, sizeof(uint64_t), cmp_u64);
        if (n > 0)
            printf(" latency_p50_us=%.1f latency_p99_us=%.1f latency_max_us=%.1f", (double)all[n / 2] / 1e3,
                   (double)all[(size_t)((double)n * 0.99)] / 1e3, (double)all[n - 1] / 1e3);
        free(all);
    }
    putchar('\n');
    teardown_topology();
    return 0;
}
