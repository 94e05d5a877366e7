/*
 * test_tls.c — src/client/tls.c: AMQP over TLS to keeld through a TLS
 * terminating proxy on the test's loop (OpenSSL server side, memory BIOs,
 * plaintext forwarded to keeld). A throwaway CA, server and client
 * certificates are made with the openssl command line in a temp dir.
 * Checks: a verified connection carries messages both ways, a server the
 * CA did not sign or a wrong host name is refused (and verify off accepts
 * it), a server requiring a client certificate gets ours.
 */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include "client_testlib.h"

static char dir[256];
static char ca[300], other_ca[300], srv_cert[300], srv_key[300], cli_cert[300], cli_key[300];

static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return system(cmd);
}

/* A CA, a server certificate for localhost/127.0.0.1, a client certificate, another CA. */
static int make_certs(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/keel-client-tls-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
    snprintf(other_ca, sizeof(other_ca), "%s/other-ca.pem", dir);
    snprintf(srv_cert, sizeof(srv_cert), "%s/server.pem", dir);
    snprintf(srv_key, sizeof(srv_key), "%s/server.key", dir);
    snprintf(cli_cert, sizeof(cli_cert), "%s/client.pem", dir);
    snprintf(cli_key, sizeof(cli_key), "%s/client.key", dir);
    const char *ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    int rc = 0;
    rc |= sh("cd %s && openssl req -x509 %s -keyout ca.key -out ca.pem -days 2 -subj /CN=keel-test-ca 2>/dev/null", dir, ec);
    rc |=
        sh("cd %s && openssl req -x509 %s -keyout other-ca.key -out other-ca.pem -days 2 -subj /CN=other-ca 2>/dev/null", dir, ec);
    rc |= sh("cd %s && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.ext", dir);
    rc |= sh("cd %s && openssl req %s -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null", dir, ec);
    rc |= sh("cd %s && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 "
             "-extfile san.ext 2>/dev/null",
             dir);
    rc |= sh("cd %s && openssl req %s -keyout client.key -out client.csr -subj /CN=keel-client 2>/dev/null", dir, ec);
    rc |= sh("cd %s && openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2 "
             "2>/dev/null",
             dir);
    return rc == 0 ? 0 : -1;
}

static int remove_certs(void **state)
{
    sh("rm -rf %s", dir);
    return 0;
}

/* ---- the TLS proxy ---- */

typedef struct {
    uv_loop_t *loop;
    uv_tcp_t listener;
    SSL_CTX *ctx;
    uint16_t port, backend;
    int accepted, handshakes, failed_handshakes;
} proxy_t;

typedef struct {
    proxy_t *p;
    uv_tcp_t front, back;
    uv_connect_t creq;
    SSL *ssl;
    BIO *rbio, *wbio;
    bool back_up, closing, handshake_done;
    keel_buf_t to_back; /* plaintext waiting for the backend connection */
    int handles;
} pconn_t;

static void px_handle_closed(uv_handle_t *h)
{
    pconn_t *pc = h->data;
    if (--pc->handles == 0) {
        SSL_free(pc->ssl);
        keel_buf_free(&pc->to_back);
        free(pc);
    }
}

static void px_close(pconn_t *pc)
{
    if (pc->closing)
        return;
    pc->closing = true;
    uv_close((uv_handle_t *)&pc->front, px_handle_closed);
    uv_close((uv_handle_t *)&pc->back, px_handle_closed);
}

static void px_written(uv_write_t *w, int status)
{
    free(w->data);
    free(w);
}

static void px_write(uv_tcp_t *t, const void *data, size_t len)
{
    if (len == 0)
        return;
    uv_write_t *w = malloc(sizeof(*w));
    w->data = malloc(len);
    memcpy(w->data, data, len);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    if (uv_write(w, (uv_stream_t *)t, &b, 1, px_written) != 0) {
        free(w->data);
        free(w);
    }
}

/* Sends the ciphertext OpenSSL produced to the client. */
static void px_drain(pconn_t *pc)
{
    char buf[16384];
    int n;
    while ((n = BIO_read(pc->wbio, buf, sizeof(buf))) > 0)
        px_write(&pc->front, buf, (size_t)n);
}

static void px_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
    static char buf[65536];
    *b = uv_buf_init(buf, sizeof(buf));
}

static void px_front_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    pconn_t *pc = s->data;
    if (n < 0) {
        px_close(pc);
        return;
    }
    BIO_write(pc->rbio, b->base, (int)n);
    if (!pc->handshake_done) {
        int r = SSL_do_handshake(pc->ssl);
        px_drain(pc);
        if (r != 1) {
            int e = SSL_get_error(pc->ssl, r);
            if (e != SSL_ERROR_WANT_READ) {
                pc->p->failed_handshakes++;
                ERR_clear_error();
                px_close(pc);
            }
            return;
        }
        pc->handshake_done = true;
        pc->p->handshakes++;
    }
    char plain[65536];
    int got;
    while ((got = SSL_read(pc->ssl, plain, sizeof(plain))) > 0) {
        if (pc->back_up)
            px_write(&pc->back, plain, (size_t)got);
        else
            keel_buf_append(&pc->to_back, plain, (size_t)got);
    }
    px_drain(pc);
}

static void px_back_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    pconn_t *pc = s->data;
    if (n < 0) {
        px_close(pc);
        return;
    }
    SSL_write(pc->ssl, b->base, (int)n);
    px_drain(pc);
}

static void px_back_connected(uv_connect_t *req, int status)
{
    pconn_t *pc = req->data;
    if (pc->closing)
        return;
    if (status != 0) {
        px_close(pc);
        return;
    }
    pc->back_up = true;
    px_write(&pc->back, pc->to_back.base, pc->to_back.len);
    keel_buf_reset(&pc->to_back);
    uv_read_start((uv_stream_t *)&pc->back, px_alloc, px_back_read);
}

static void px_on_conn(uv_stream_t *server, int status)
{
    proxy_t *p = server->data;
    pconn_t *pc = calloc(1, sizeof(*pc));
    pc->p = p;
    keel_buf_init(&pc->to_back);
    uv_tcp_init(p->loop, &pc->front);
    uv_tcp_init(p->loop, &pc->back);
    pc->front.data = pc->back.data = pc->creq.data = pc;
    pc->handles = 2;
    pc->ssl = SSL_new(p->ctx);
    pc->rbio = BIO_new(BIO_s_mem());
    pc->wbio = BIO_new(BIO_s_mem());
    SSL_set_bio(pc->ssl, pc->rbio, pc->wbio);
    SSL_set_accept_state(pc->ssl);
    if (uv_accept(server, (uv_stream_t *)&pc->front) != 0) {
        px_close(pc);
        return;
    }
    p->accepted++;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", p->backend, &a);
    uv_tcp_connect(&pc->creq, &pc->back, (const struct sockaddr *)&a, px_back_connected);
    uv_read_start((uv_stream_t *)&pc->front, px_alloc, px_front_read);
}

static void proxy_start(proxy_t *p, uv_loop_t *loop, uint16_t backend, bool require_client_cert)
{
    memset(p, 0, sizeof(*p));
    p->loop = loop;
    p->backend = backend;
    p->ctx = SSL_CTX_new(TLS_server_method());
    assert_int_equal(SSL_CTX_use_certificate_file(p->ctx, srv_cert, SSL_FILETYPE_PEM), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey_file(p->ctx, srv_key, SSL_FILETYPE_PEM), 1);
    if (require_client_cert) {
        assert_int_equal(SSL_CTX_load_verify_locations(p->ctx, ca, NULL), 1);
        SSL_CTX_set_verify(p->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    uv_tcp_init(loop, &p->listener);
    p->listener.data = p;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    assert_int_equal(uv_tcp_bind(&p->listener, (const struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&p->listener, 16, px_on_conn), 0);
    struct sockaddr_in got;
    int len = sizeof(got);
    uv_tcp_getsockname(&p->listener, (struct sockaddr *)&got, &len);
    p->port = ntohs(got.sin_port);
}

static void proxy_stop(proxy_t *p)
{
    uv_close((uv_handle_t *)&p->listener, NULL);
    uv_run(p->loop, UV_RUN_NOWAIT);
    SSL_CTX_free(p->ctx);
}

/* ---- tests ---- */

typedef struct {
    uv_loop_t loop;
    keel_broker_t *broker;
    proxy_t proxy;
    tl_events_t ev;
} fx_t;

static fx_t *fx_new(bool require_client_cert)
{
    fx_t *f = calloc(1, sizeof(*f));
    uv_loop_init(&f->loop);
    f->broker = tl_broker_start(&f->loop, 0);
    proxy_start(&f->proxy, &f->loop, keel_broker_port(f->broker), require_client_cert);
    return f;
}

static void fx_free(fx_t *f)
{
    proxy_stop(&f->proxy);
    tl_broker_stop(&f->loop, f->broker);
    tl_loop_close(&f->loop);
    free(f);
}

static void tls_opts(fx_t *f, keel_client_opts_t *o, keel_client_host_t *h, const char *host)
{
    tl_opts(o, h, f->proxy.port, &f->ev);
    h->host = host;
    o->ssl = true;
    o->ssl_ca_file = ca;
    o->max_retries = 1;
}

static int connect_status(fx_t *f, const keel_client_opts_t *o, keel_client_t **out)
{
    keel_client_t *c = NULL;
    assert_int_equal(keel_client_new(&c, &f->loop, o), 0);
    tl_done_t d = {0};
    assert_int_equal(keel_client_connect(c, tl_client_cb, &d), 0);
    assert_true(tl_run_until(&f->loop, &d.done, 5000));
    if (out != NULL && d.status == 0) {
        *out = c;
    } else {
        tl_client_close(&f->loop, c);
        if (out)
            *out = NULL;
    }
    return d.status;
}

static void test_tls_verified_connection_carries_messages(void **state)
{
    fx_t *f = fx_new(false);
    keel_client_opts_t o;
    keel_client_host_t h;
    tls_opts(f, &o, &h, "localhost");
    keel_client_t *c;
    assert_int_equal(connect_status(f, &o, &c), 0);
    assert_int_equal(f->proxy.handshakes, 1);
    keel_client_channel_t *ch = tl_channel(&f->loop, c);
    keel_client_queue_t q = {.name = "secret"};
    tl_op_t op = {0};
    assert_int_equal(keel_client_queue_declare(ch, &q, tl_queue_cb, &op), 0);
    assert_int_equal(tl_wait_op(&f->loop, &op), 0);
    tl_consumer_t cons = {.ack = true};
    keel_client_consume_t co = {.queue = "secret"};
    assert_int_equal(keel_client_consume(ch, &co, tl_deliver_cb, NULL, &cons, NULL), 0);
    assert_int_equal(keel_client_confirm_select(ch, NULL, NULL), 0);
    tl_confirms_t t = {0};
    static uint8_t big[300000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i % 253);
    keel_client_publish_t p = {.routing_key = "secret", .body = big, .body_len = sizeof(big)};
    for (int i = 0; i < 20; i++)
        assert_int_equal(keel_client_publish(ch, &p, tl_confirm_cb, &t), 0);
    assert_true(tl_run_until_count(&f->loop, &cons.count, 20, 10000));
    for (int i = 0; i < 20; i++)
        assert_memory_equal(cons.msgs[i]->body, big, sizeof(big));
    for (int i = 0; i < 100 && t.acked < 20; i++)
        tl_run_for(&f->loop, 10);
    assert_int_equal(t.acked, 20);
    tl_consumer_free(&cons);
    tl_client_close(&f->loop, c);
    fx_free(f);
}

static void test_tls_address_literal_is_checked_against_ip_san(void **state)
{
    fx_t *f = fx_new(false);
    keel_client_opts_t o;
    keel_client_host_t h;
    tls_opts(f, &o, &h, "127.0.0.1");
    keel_client_t *c;
    assert_int_equal(connect_status(f, &o, &c), 0);
    tl_client_close(&f->loop, c);
    fx_free(f);
}

static void test_tls_unknown_ca_is_refused(void **state)
{
    fx_t *f = fx_new(false);
    keel_client_opts_t o;
    keel_client_host_t h;
    tls_opts(f, &o, &h, "localhost");
    o.ssl_ca_file = other_ca;
    assert_int_equal(connect_status(f, &o, NULL), KEEL_EACCES);
    assert_int_equal(f->ev.connect_failed, 1);
    /* verify off: the same server is accepted */
    o.ssl_verify = false;
    keel_client_t *c;
    assert_int_equal(connect_status(f, &o, &c), 0);
    tl_client_close(&f->loop, c);
    fx_free(f);
}

static void test_tls_wrong_host_name_is_refused(void **state)
{
    fx_t *f = fx_new(false);
    keel_client_opts_t o;
    keel_client_host_t h;
    tls_opts(f, &o, &h, "127.0.0.1");
    o.ssl_server_name = "rabbit.example.org";
    assert_int_equal(connect_status(f, &o, NULL), KEEL_EACCES);
    fx_free(f);
}

static void test_tls_client_certificate_is_presented(void **state)
{
    fx_t *f = fx_new(true);
    keel_client_opts_t o;
    keel_client_host_t h;
    tls_opts(f, &o, &h, "localhost");
    /* without one the server refuses the handshake */
    assert_int_not_equal(connect_status(f, &o, NULL), 0);
    o.ssl_cert_file = cli_cert;
    o.ssl_key_file = cli_key;
    keel_client_t *c;
    assert_int_equal(connect_status(f, &o, &c), 0);
    tl_client_close(&f->loop, c);
    fx_free(f);
}

static void test_tls_plain_server_fails_the_handshake(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    keel_broker_t *b = tl_broker_start(&loop, 0);
    tl_events_t ev = {0};
    keel_client_opts_t o;
    keel_client_host_t h;
    tl_opts(&o, &h, keel_broker_port(b), &ev);
    o.ssl = true;
    o.ssl_ca_file = ca;
    o.max_retries = 1;
    keel_client_t *c = NULL;
    assert_int_equal(keel_client_new(&c, &loop, &o), 0);
    tl_done_t d = {0};
    assert_int_equal(keel_client_connect(c, tl_client_cb, &d), 0);
    assert_true(tl_run_until(&loop, &d.done, 5000));
    assert_int_not_equal(d.status, 0);
    tl_client_close(&loop, c);
    tl_broker_stop(&loop, b);
    tl_loop_close(&loop);
}

int main(void)
{
    tl_quiet();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_verified_connection_carries_messages),
        cmocka_unit_test(test_tls_address_literal_is_checked_against_ip_san),
        cmocka_unit_test(test_tls_unknown_ca_is_refused),
        cmocka_unit_test(test_tls_wrong_host_name_is_refused),
        cmocka_unit_test(test_tls_client_certificate_is_presented),
        cmocka_unit_test(test_tls_plain_server_fails_the_handshake),
    };
    return cmocka_run_group_tests_name("client/tls.c", tests, make_certs, remove_certs);
}
