/*
 * tls.c — TLS for the client: OpenSSL driven through two memory BIOs, so
 * the socket stays a plain libuv stream. Ciphertext read from the socket is
 * fed into the read BIO; SSL_read yields plaintext; plaintext handed to
 * SSL_write comes out of the write BIO as ciphertext that the connection
 * writes with its other output, in the same one write per loop turn.
 *
 * OpenSSL allocates with its own allocator: replacing it is process-wide
 * (CRYPTO_set_mem_functions) and would take it from every other user of
 * OpenSSL in the program.
 */
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "client_int.h"

struct keel__ctls_ctx_s {
    SSL_CTX *ctx;
};

struct keel__ctls_s {
    SSL *ssl;
    BIO *rbio; /* network -> SSL; owned by ssl */
    BIO *wbio; /* SSL -> network; owned by ssl */
};

int keel__ctls_ctx_new(keel__ctls_ctx_t **out, const keel_client_opts_t *o)
{
    int rc = KEEL_ENOMEM;
    keel__ctls_ctx_t *t = keel__calloc(1, sizeof(*t));
    if (t == NULL)
        return KEEL_ENOMEM;
    t->ctx = SSL_CTX_new(TLS_client_method());
    if (t->ctx == NULL)
        goto fail_ctx;
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    rc = KEEL_EIO;
    if (o->ssl_ca_file != NULL) {
        if (SSL_CTX_load_verify_locations(t->ctx, o->ssl_ca_file, NULL) != 1)
            goto fail_files;
    } else if (SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
        goto fail_files;
    }
    if (o->ssl_cert_file != NULL) {
        if (SSL_CTX_use_certificate_chain_file(t->ctx, o->ssl_cert_file) != 1)
            goto fail_files;
        const char *key = o->ssl_key_file ? o->ssl_key_file : o->ssl_cert_file;
        if (SSL_CTX_use_PrivateKey_file(t->ctx, key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(t->ctx) != 1)
            goto fail_files;
    }
    SSL_CTX_set_verify(t->ctx, o->ssl_verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    *out = t;
    return 0;

fail_files:
    SSL_CTX_free(t->ctx);
fail_ctx:
    ERR_clear_error();
    keel__free(t);
    return rc;
}

void keel__ctls_ctx_free(keel__ctls_ctx_t *t)
{
    if (t == NULL)
        return;
    SSL_CTX_free(t->ctx);
    keel__free(t);
}

static bool is_ip_literal(const char *s)
{
    unsigned char addr[16];
    return inet_pton(AF_INET, s, addr) == 1 || inet_pton(AF_INET6, s, addr) == 1;
}

int keel__ctls_new(keel__ctls_t **out, keel__ctls_ctx_t *ctx, const char *server_name, bool verify)
{
    keel__ctls_t *t = keel__calloc(1, sizeof(*t));
    if (t == NULL)
        return KEEL_ENOMEM;
    t->ssl = SSL_new(ctx->ctx);
    if (t->ssl == NULL)
        goto fail_ssl;
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (t->rbio == NULL || t->wbio == NULL) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        goto fail_bio;
    }
    /* an empty read BIO means "want more", not end of file */
    BIO_set_mem_eof_return(t->rbio, -1);
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    SSL_set_connect_state(t->ssl);
    if (server_name != NULL && server_name[0] != '\0') {
        /* SNI carries names only (RFC 6066); an address is checked against the IP SANs */
        bool literal = is_ip_literal(server_name);
        if (!literal && SSL_set_tlsext_host_name(t->ssl, server_name) != 1)
            goto fail_bio;
        if (verify) {
            int ok =
                literal ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), server_name) : SSL_set1_host(t->ssl, server_name);
            if (ok != 1)
                goto fail_bio;
        }
    }
    *out = t;
    return 0;

fail_bio:
    SSL_free(t->ssl);
fail_ssl:
    ERR_clear_error();
    keel__free(t);
    return KEEL_ENOMEM;
}

void keel__ctls_free(keel__ctls_t *t)
{
    if (t == NULL)
        return;
    SSL_free(t->ssl);
    keel__free(t);
}

int keel__ctls_feed(keel__ctls_t *t, const void *data, size_t len)
{
    while (len > 0) {
        int n = BIO_write(t->rbio, data, len > INT32_MAX ? INT32_MAX : (int)len);
        if (n <= 0)
            return KEEL_ENOMEM;
        data = (const char *)data + n;
        len -= (size_t)n;
    }
    return 0;
}

int keel__ctls_handshake(keel__ctls_t *t, char *why, size_t why_len)
{
    int r = SSL_do_handshake(t->ssl);
    if (r == 1)
        return 0;
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return KEEL_EAGAIN;
    long v = SSL_get_verify_result(t->ssl);
    int rc = KEEL_EPROTO;
    if (v != X509_V_OK) {
        snprintf(why, why_len, "certificate verify failed: %s", X509_verify_cert_error_string(v));
        rc = KEEL_EACCES;
    } else {
        unsigned long err = ERR_peek_last_error();
        if (err != 0)
            ERR_error_string_n(err, why, why_len);
        else
            snprintf(why, why_len, "TLS handshake failed");
    }
    ERR_clear_error();
    return rc;
}

long keel__ctls_read(keel__ctls_t *t, uint8_t *buf, size_t cap)
{
    int n = SSL_read(t->ssl, buf, cap > INT32_MAX ? INT32_MAX : (int)cap);
    if (n > 0)
        return n;
    int e = SSL_get_error(t->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    ERR_clear_error();
    return e == SSL_ERROR_ZERO_RETURN ? KEEL_EOF : KEEL_EPROTO;
}

int keel__ctls_write(keel__ctls_t *t, const void *data, size_t len)
{
    while (len > 0) {
        int n = SSL_write(t->ssl, data, len > INT32_MAX ? INT32_MAX : (int)len);
        if (n <= 0) {
            ERR_clear_error();
            return KEEL_EPROTO;
        }
        data = (const char *)data + n;
        len -= (size_t)n;
    }
    return 0;
}

int keel__ctls_drain(keel__ctls_t *t, keel_buf_t *out)
{
    size_t pending;
    while ((pending = BIO_ctrl_pending(t->wbio)) > 0) {
        if (keel_buf_reserve(out, pending) != 0)
            return KEEL_ENOMEM;
        int n = BIO_read(t->wbio, out->base + out->len, (int)pending);
        if (n <= 0)
            break;
        out->len += (size_t)n;
        out->base[out->len] = '\0';
    }
    return 0;
}
