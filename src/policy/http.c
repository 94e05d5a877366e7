/*
 * http.c — oslo.policy's HttpCheck and HttpsCheck: POST the target, the
 * credentials and the rule name to a URL built from the check, and accept
 * when the response body is True (optionally in double quotes).
 *
 * Design: a small blocking HTTP/1.1 client over a socket and OpenSSL,
 * written for this one request rather than pulling in libcurl, because what
 * must match is not "an HTTP client" but python-requests' exact behaviour:
 * how it normalises and re-quotes the URL (urllib3's parse_url and
 * requests' requote_uri), the form or JSON body oslo.policy builds (json.dumps
 * with Python's separators and escapes, then urlencode), which redirects it
 * follows and how they change the method, and that the status code does not
 * matter. Each call opens one connection ("Connection: close"); the socket
 * has send/receive timeouts of remote_timeout seconds, which oslo.policy
 * 4.0.0 does not have (it waits forever) and later releases added.
 *
 * Not reproduced: internationalised host names (IDNA), proxies from the
 * environment, cookies, response charsets other than ASCII-compatible ones
 * (the body is compared as bytes), and gzip (keel asks for identity).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "policy_int.h"

/* requests' Session.max_redirects */
#define MAX_REDIRECTS 30
/* A response larger than this is refused (the decision needs four bytes). */
#define MAX_RESPONSE (1 << 24)

typedef struct {
    char *scheme, *auth, *host, *path, *query, *fragment;
    int port; /* -1: none */
} url_t;

static void url_free(url_t *u)
{
    keel__free(u->scheme);
    keel__free(u->auth);
    keel__free(u->host);
    keel__free(u->path);
    keel__free(u->query);
    keel__free(u->fragment);
    memset(u, 0, sizeof(*u));
}

static char *dupn(const char *s, size_t n)
{
    return keel__strndup(s, n);
}

static bool in_set(char c, const char *set)
{
    return c != '\0' && strchr(set, c) != NULL;
}

#define UNRESERVED "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-~"
#define SUB_DELIMS "!$&'()*+,;="
#define USERINFO_CHARS UNRESERVED SUB_DELIMS ":"
#define PATH_CHARS USERINFO_CHARS "@/"
#define QUERY_CHARS PATH_CHARS "?"

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int hexv(char c)
{
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* urllib3's _encode_invalid_chars(): uppercase existing %XX escapes and, when
 * every '%' is such an escape, keep them; percent-encode everything else
 * outside the allowed set. */
static char *encode_invalid(const char *s, const char *allowed)
{
    if (s == NULL)
        return NULL;
    char *t = keel__strdup(s);
    if (t == NULL)
        return NULL;
    size_t n = strlen(t), escapes = 0, percents = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i] != '%')
            continue;
        percents++;
        if (i + 2 < n && is_hex(t[i + 1]) && is_hex(t[i + 2])) {
            escapes++;
            for (int k = 1; k <= 2; k++)
                if (t[i + k] >= 'a' && t[i + k] <= 'f')
                    t[i + k] = (char)(t[i + k] - 32);
        }
    }
    bool encoded = escapes == percents;
    keel_buf_t b;
    keel_buf_init(&b);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        unsigned char c = (unsigned char)t[i];
        if ((encoded && c == '%') || (c < 128 && in_set((char)c, allowed)))
            rc = keel_buf_putc(&b, (char)c);
        else
            rc = keel_buf_printf(&b, "%%%02X", c);
    }
    keel__free(t);
    if (rc != 0) {
        keel_buf_free(&b);
        return NULL;
    }
    return keel_buf_steal(&b);
}

/* urllib3's _remove_path_dot_segments() */
static char *remove_dot_segments(const char *path)
{
    size_t n = strlen(path);
    const char **seg = keel__calloc(n + 2, sizeof(char *));
    size_t *len = keel__calloc(n + 2, sizeof(size_t));
    if (seg == NULL || len == NULL) {
        keel__free(seg);
        keel__free(len);
        return NULL;
    }
    size_t out = 0;
    const char *p = path;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t l = slash ? (size_t)(slash - p) : strlen(p);
        if (l == 1 && p[0] == '.') {
        } else if (l == 2 && p[0] == '.' && p[1] == '.') {
            if (out)
                out--;
        } else {
            seg[out] = p;
            len[out++] = l;
        }
        if (slash == NULL)
            break;
        p = slash + 1;
    }
    keel_buf_t b;
    keel_buf_init(&b);
    bool lead = path[0] == '/' && (out == 0 || len[0] > 0);
    bool trail = n >= 2 && ((path[n - 1] == '.' && path[n - 2] == '/') ||
                            (n >= 3 && path[n - 1] == '.' && path[n - 2] == '.' && path[n - 3] == '/'));
    int rc = 0;
    bool first = true;
    if (lead) {
        first = false;
    }
    for (size_t i = 0; i < out && rc == 0; i++) {
        if (!first)
            rc = keel_buf_putc(&b, '/');
        first = false;
        if (rc == 0)
            rc = keel_buf_append(&b, seg[i], len[i]);
    }
    if (rc == 0 && trail)
        rc = keel_buf_putc(&b, '/');
    if (rc == 0 && lead && out == 0 && !trail)
        rc = keel_buf_putc(&b, '/');
    keel__free(seg);
    keel__free(len);
    if (rc != 0) {
        keel_buf_free(&b);
        return NULL;
    }
    return keel_buf_steal(&b);
}

/* urllib3's parse_url() for an http(s) URL. Returns 0 or KEEL_EINVAL. */
static int parse_url(const char *url, url_t *u)
{
    memset(u, 0, sizeof(*u));
    u->port = -1;
    const char *p = url;
    /* ^([a-zA-Z][a-zA-Z0-9+.-]*): */
    const char *q = p;
    if ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z')) {
        while ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || in_set(*q, "+.-"))
            q++;
        if (*q == ':') {
            u->scheme = dupn(p, (size_t)(q - p));
            if (u->scheme == NULL)
                return KEEL_ENOMEM;
            for (char *c = u->scheme; *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                    *c = (char)(*c + 32);
            p = q + 1;
        }
    }
    if (p[0] == '/' && p[1] == '/') {
        p += 2;
        size_t al = strcspn(p, "\\/?#");
        char *authority = dupn(p, al);
        if (authority == NULL)
            return KEEL_ENOMEM;
        p += al;
        char *at = strrchr(authority, '@');
        char *hp = authority;
        if (at) {
            *at = '\0';
            if (authority[0]) {
                u->auth = encode_invalid(authority, USERINFO_CHARS);
                if (u->auth == NULL) {
                    keel__free(authority);
                    return KEEL_ENOMEM;
                }
            }
            hp = at + 1;
        }
        /* host: [v6] or reg-name/IPv4 (no []%:/?# except %XX), then :port */
        char *colon = NULL;
        if (hp[0] == '[') {
            char *end = strchr(hp, ']');
            if (end == NULL) {
                keel__free(authority);
                return KEEL_EINVAL;
            }
            colon = end[1] == ':' ? end + 1 : NULL;
            if (end[1] != '\0' && end[1] != ':') {
                keel__free(authority);
                return KEEL_EINVAL;
            }
        } else {
            for (char *c = hp; *c; c++) {
                if (*c == ':') {
                    colon = c;
                    break;
                }
                if (in_set(*c, "[]/?#") || (*c == '%' && !(is_hex(c[1]) && is_hex(c[2])))) {
                    keel__free(authority);
                    return KEEL_EINVAL;
                }
            }
        }
        if (colon) {
            *colon = '\0';
            const char *ps = colon + 1;
            size_t pl = strlen(ps);
            if (pl > 5 || strspn(ps, "0123456789") != pl) {
                keel__free(authority);
                return KEEL_EINVAL;
            }
            if (pl > 0) {
                u->port = atoi(ps);
                if (u->port > 65535) {
                    keel__free(authority);
                    return KEEL_EINVAL;
                }
            }
        }
        u->host = keel__strdup(hp);
        keel__free(authority);
        if (u->host == NULL)
            return KEEL_ENOMEM;
        for (char *c = u->host; *c; c++) {
            if ((unsigned char)*c >= 0x80)
                return KEEL_ENOTSUP; /* IDNA */
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c + 32);
        }
    }
    size_t pl = strcspn(p, "?#");
    if (pl > 0) {
        char *raw = dupn(p, pl);
        char *clean = raw ? remove_dot_segments(raw) : NULL;
        keel__free(raw);
        u->path = clean ? encode_invalid(clean, PATH_CHARS) : NULL;
        keel__free(clean);
        if (u->path == NULL)
            return KEEL_ENOMEM;
    }
    p += pl;
    if (*p == '?') {
        p++;
        size_t ql = strcspn(p, "#");
        char *raw = dupn(p, ql);
        u->query = raw ? encode_invalid(raw, QUERY_CHARS) : NULL;
        keel__free(raw);
        if (u->query == NULL)
            return KEEL_ENOMEM;
        p += ql;
    }
    if (*p == '#') {
        u->fragment = encode_invalid(p + 1, QUERY_CHARS);
        if (u->fragment == NULL)
            return KEEL_ENOMEM;
    }
    return 0;
}

/* requests' requote_uri(): unquote unreserved escapes, then quote what is
 * neither reserved nor unreserved. */
static char *requote(const char *uri)
{
    keel_buf_t un, out;
    keel_buf_init(&un);
    keel_buf_init(&out);
    bool invalid = false;
    size_t n = strlen(uri);
    for (size_t i = 0; i < n; i++) {
        if (uri[i] == '%' && i + 2 < n && isalnum((unsigned char)uri[i + 1]) && isalnum((unsigned char)uri[i + 2])) {
            if (!is_hex(uri[i + 1]) || !is_hex(uri[i + 2])) {
                invalid = true;
                break;
            }
            char c = (char)(hexv(uri[i + 1]) * 16 + hexv(uri[i + 2]));
            if (in_set(c, UNRESERVED)) {
                keel_buf_putc(&un, c);
                i += 2;
                continue;
            }
        }
        keel_buf_putc(&un, uri[i]);
    }
    const char *src = invalid ? uri : (un.base ? un.base : "");
    const char *safe = invalid ? "!#$&'()*+,/:;=?@[]~" : "!#$%&'()*+,/:;=?@[]~";
    for (const char *c = src; *c; c++) {
        unsigned char ch = (unsigned char)*c;
        if ((ch < 128 && (isalnum(ch) || in_set((char)ch, "_.-~"))) || (ch < 128 && in_set((char)ch, safe)))
            keel_buf_putc(&out, (char)ch);
        else
            keel_buf_printf(&out, "%%%02X", ch);
    }
    keel_buf_free(&un);
    return keel_buf_steal(&out);
}

/* requests' PreparedRequest.prepare_url(); *out is the final URL text. */
int keel__pol_http_prepare_url(const char *raw, char **out, const char **why)
{
    while (*raw && strchr(" \t\n\r\f\v", *raw))
        raw++;
    url_t u;
    int rc = parse_url(raw, &u);
    if (rc == KEEL_ENOTSUP) {
        *why = "keel does not support internationalised host names";
        url_free(&u);
        return KEEL_EVALUE;
    }
    if (rc != 0 || u.scheme == NULL || u.host == NULL || u.host[0] == '\0' || u.host[0] == '*' || u.host[0] == '.') {
        url_free(&u);
        if (rc == KEEL_ENOMEM)
            return rc;
        *why = "InvalidURL: no host supplied or invalid URL";
        return KEEL_EVALUE;
    }
    keel_buf_t b;
    keel_buf_init(&b);
    keel_buf_printf(&b, "%s://", u.scheme);
    if (u.auth)
        keel_buf_printf(&b, "%s@", u.auth);
    keel_buf_puts(&b, u.host);
    if (u.port > 0)
        keel_buf_printf(&b, ":%d", u.port);
    keel_buf_puts(&b, u.path && u.path[0] ? u.path : "/");
    if (u.path && u.path[0] && u.path[0] != '/') {
        /* urlunsplit puts a '/' before a relative path after a netloc */
        keel_buf_reset(&b);
        keel_buf_printf(&b, "%s://%s%s%s", u.scheme, u.auth ? u.auth : "", u.auth ? "@" : "", u.host);
        if (u.port > 0)
            keel_buf_printf(&b, ":%d", u.port);
        keel_buf_printf(&b, "/%s", u.path);
    }
    if (u.query && u.query[0])
        keel_buf_printf(&b, "?%s", u.query);
    if (u.fragment && u.fragment[0])
        keel_buf_printf(&b, "#%s", u.fragment);
    url_free(&u);
    *out = requote(b.base ? b.base : "");
    keel_buf_free(&b);
    return *out ? 0 : KEEL_ENOMEM;
}

/* ---- payload ---------------------------------------------------------- */

/* urlencode's quote_plus with safe='' */
static int quote_plus(keel_buf_t *b, const char *s, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 128 && (isalnum(c) || in_set((char)c, "_.-~")))
            rc = keel_buf_putc(b, (char)c);
        else if (c == ' ')
            rc = keel_buf_putc(b, '+');
        else
            rc = keel_buf_printf(b, "%%%02X", c);
    }
    return rc;
}

static int dumps(keel_buf_t *b, const json_t *v)
{
    keel__pol_sbuf_t s;
    keel__pol_sbuf_init(&s, NULL, 0);
    int rc = keel__pol_json_dumps(&s, v, 0);
    if (rc == 0)
        rc = keel_buf_append(b, s.base ? s.base : "", s.len);
    keel__pol_sbuf_free(&s);
    return rc;
}

/* HttpCheck._construct_payload() */
static int build_body(keel__eval_t *ev, keel_buf_t *body, const char **ctype)
{
    json_t *creds = json_deep_copy(ev->creds);
    json_t *rule = ev->current_rule ? json_string(ev->current_rule) : json_null();
    json_t *target = json_deep_copy(ev->target);
    int rc = (creds && rule && target) ? 0 : KEEL_ENOMEM;
    /* enforce() has set creds['system'] = creds['system_scope']. */
    if (rc == 0 && ev->system && json_object_set(creds, "system", (json_t *)ev->system) != 0)
        rc = KEEL_ENOMEM;
    bool form =
        ev->opts == NULL || ev->opts->remote_content_type == NULL || strcmp(ev->opts->remote_content_type, "application/json") != 0;
    if (rc == 0 && form) {
        *ctype = "application/x-www-form-urlencoded";
        const char *names[] = {"rule", "target", "credentials"};
        json_t *vals[] = {rule, target, creds};
        for (int i = 0; i < 3 && rc == 0; i++) {
            keel_buf_t j;
            keel_buf_init(&j);
            rc = dumps(&j, vals[i]);
            if (rc == 0 && i)
                rc = keel_buf_putc(body, '&');
            if (rc == 0)
                rc = keel_buf_printf(body, "%s=", names[i]);
            if (rc == 0)
                rc = quote_plus(body, j.base ? j.base : "", j.len);
            keel_buf_free(&j);
        }
    } else if (rc == 0) {
        *ctype = "application/json";
        json_t *obj = json_pack("{s:O,s:O,s:O}", "rule", rule, "target", target, "credentials", creds);
        rc = obj ? dumps(body, obj) : KEEL_ENOMEM;
        json_decref(obj);
    }
    json_decref(creds);
    json_decref(rule);
    json_decref(target);
    return rc;
}

/* ---- transport -------------------------------------------------------- */

typedef struct {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
} conn_t;

static void conn_close(conn_t *c)
{
    if (c->ssl) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    if (c->ctx)
        SSL_CTX_free(c->ctx);
    if (c->fd >= 0)
        close(c->fd);
    c->ssl = NULL;
    c->ctx = NULL;
    c->fd = -1;
}

static int set_timeouts(int fd, double secs)
{
    if (secs <= 0)
        return 0;
    struct timeval tv = {(time_t)secs, (suseconds_t)((secs - (double)(time_t)secs) * 1e6)};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0)
        return -1;
    return 0;
}

static int tcp_connect(const char *host, int port, double timeout, const char **why)
{
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    char h[256];
    size_t hl = strlen(host);
    if (hl >= sizeof(h)) {
        *why = "ConnectionError: host name too long";
        return -1;
    }
    memcpy(h, host, hl + 1);
    if (h[0] == '[') {
        memmove(h, h + 1, hl);
        char *e = strchr(h, ']');
        if (e)
            *e = '\0';
    }
    if (getaddrinfo(h, portstr, &hints, &res) != 0) {
        *why = "ConnectionError: the host name does not resolve";
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        int fl = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
        int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc != 0 && errno == EINPROGRESS) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            rc = poll(&pfd, 1, timeout > 0 ? (int)(timeout * 1000) : -1);
            if (rc == 1) {
                int err = 0;
                socklen_t el = sizeof(err);
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
                rc = err == 0 ? 0 : -1;
                errno = err;
            } else {
                rc = -1;
                errno = rc == 0 ? ETIMEDOUT : errno;
            }
        }
        if (rc == 0) {
            fcntl(fd, F_SETFL, fl);
            set_timeouts(fd, timeout);
            break;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        *why = "ConnectionError: cannot connect to the policy server";
    return fd;
}

static bool readable_file(const char *path)
{
    return access(path, R_OK) == 0;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* HttpsCheck's file checks and requests' verify/cert handling. */
static int tls_start(conn_t *c, const char *host, const keel_policy_opts_t *o, const char **why)
{
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (c->ctx == NULL)
        return KEEL_ENOMEM;
    const char *cert = o ? o->remote_ssl_client_crt_file : NULL;
    const char *key = o ? o->remote_ssl_client_key_file : NULL;
    if (cert && cert[0]) {
        if (SSL_CTX_use_certificate_chain_file(c->ctx, cert) != 1 ||
            SSL_CTX_use_PrivateKey_file(c->ctx, key && key[0] ? key : cert, SSL_FILETYPE_PEM) != 1) {
            *why = "SSLError: cannot load the client certificate or key";
            return KEEL_EVALUE;
        }
    }
    bool verify = o && o->remote_ssl_verify_server_crt;
    if (verify) {
        const char *ca = o->remote_ssl_ca_crt_file;
        if (ca && ca[0]) {
            if (SSL_CTX_load_verify_locations(c->ctx, ca, NULL) != 1) {
                *why = "SSLError: cannot load the CA certificate file";
                return KEEL_EVALUE;
            }
        } else if (SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
            *why = "SSLError: no default CA certificates";
            return KEEL_EVALUE;
        }
        SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
    }
    c->ssl = SSL_new(c->ctx);
    if (c->ssl == NULL)
        return KEEL_ENOMEM;
    SSL_set_fd(c->ssl, c->fd);
    char h[256];
    snprintf(h, sizeof(h), "%s", host[0] == '[' ? host + 1 : host);
    char *br = strchr(h, ']');
    if (br)
        *br = '\0';
    unsigned char addr[16];
    bool is_ip = inet_pton(AF_INET, h, addr) == 1 || inet_pton(AF_INET6, h, addr) == 1;
    if (!is_ip)
        SSL_set_tlsext_host_name(c->ssl, h);
    if (verify) {
        X509_VERIFY_PARAM *param = SSL_get0_param(c->ssl);
        if (is_ip)
            X509_VERIFY_PARAM_set1_ip_asc(param, h);
        else
            X509_VERIFY_PARAM_set1_host(param, h, 0);
    }
    if (SSL_connect(c->ssl) != 1) {
        *why = verify ? "SSLError: certificate verify failed or handshake failed" : "SSLError: TLS handshake failed";
        return KEEL_EVALUE;
    }
    return 0;
}

static int send_all(conn_t *c, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = c->ssl ? SSL_write(c->ssl, p, (int)(n > INT32_MAX ? INT32_MAX : n)) : send(c->fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) {
            if (!c->ssl && w < 0 && errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads until the peer closes or max bytes; returns -1 on error/timeout. */
static ssize_t recv_some(conn_t *c, char *buf, size_t n)
{
    for (;;) {
        ssize_t r = c->ssl ? SSL_read(c->ssl, buf, (int)n) : recv(c->fd, buf, n, 0);
        if (r >= 0)
            return r;
        if (c->ssl) {
            int e = SSL_get_error(c->ssl, (int)r);
            if (e == SSL_ERROR_ZERO_RETURN)
                return 0;
            return -1;
        }
        if (errno != EINTR)
            return -1;
    }
}

typedef struct {
    int status;
    char *location;
    keel_buf_t body;
} response_t;

static const char *header_value(const char *headers, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    for (const char *line = headers; line && *line;) {
        const char *eol = strstr(line, "\r\n");
        if (eol == NULL)
            break;
        if ((size_t)(eol - line) > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            const char *e = eol;
            while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            *len = (size_t)(e - v);
            return v;
        }
        line = eol + 2;
    }
    return NULL;
}

/* Reads one response (skipping 1xx) with Content-Length, chunked or
 * close-delimited body. */
static int read_response(conn_t *c, bool head_like, response_t *r, const char **why)
{
    keel_buf_t in;
    keel_buf_init(&in);
    char tmp[4096];
    int rc = KEEL_EVALUE;
    size_t hend;
    for (;;) {
        char *e = in.base ? strstr(in.base, "\r\n\r\n") : NULL;
        while (e == NULL) {
            ssize_t got = recv_some(c, tmp, sizeof(tmp));
            if (got <= 0 || in.len > MAX_RESPONSE) {
                *why = got < 0 ? "ReadTimeout or ConnectionError while reading the response"
                               : "ConnectionError: the server closed the connection";
                goto out;
            }
            if (keel_buf_append(&in, tmp, (size_t)got) != 0) {
                rc = KEEL_ENOMEM;
                goto out;
            }
            e = strstr(in.base, "\r\n\r\n");
        }
        hend = (size_t)(e - in.base) + 4;
        if (sscanf(in.base, "HTTP/%*d.%*d %d", &r->status) != 1) {
            *why = "ConnectionError: not an HTTP response";
            goto out;
        }
        if (r->status >= 100 && r->status < 200) {
            memmove(in.base, in.base + hend, in.len - hend);
            in.len -= hend;
            in.base[in.len] = '\0';
            continue;
        }
        break;
    }
    {
        char *headers = keel__strndup(in.base, hend);
        if (headers == NULL) {
            rc = KEEL_ENOMEM;
            goto out;
        }
        size_t vl;
        const char *loc = header_value(headers, "Location", &vl);
        if (loc)
            r->location = keel__strndup(loc, vl);
        const char *te = header_value(headers, "Transfer-Encoding", &vl);
        bool chunked = te && vl >= 7 && strncasecmp(te + vl - 7, "chunked", 7) == 0;
        const char *cl = header_value(headers, "Content-Length", &vl);
        long long length = cl ? strtoll(cl, NULL, 10) : -1;
        keel__free(headers);
        size_t have = in.len - hend;
        const char *p = in.base + hend;
        if (head_like || r->status == 204 || r->status == 304) {
            rc = 0;
            goto out;
        }
        if (chunked) {
            /* Gather everything, then decode the chunks. */
            keel_buf_t raw;
            keel_buf_init(&raw);
            keel_buf_append(&raw, p, have);
            for (;;) {
                /* Done when a 0-size chunk and the final CRLF are in. */
                bool done = false;
                size_t pos = 0;
                keel_buf_reset(&r->body);
                while (raw.base && pos < raw.len) {
                    char *end;
                    unsigned long sz = strtoul(raw.base + pos, &end, 16);
                    char *crlf = strstr(raw.base + pos, "\r\n");
                    if (crlf == NULL || end == raw.base + pos)
                        break;
                    size_t data = (size_t)(crlf - raw.base) + 2;
                    if (sz == 0) {
                        done = strstr(raw.base + data - 2, "\r\n\r\n") != NULL || raw.len >= data + 2;
                        break;
                    }
                    if (data + sz + 2 > raw.len)
                        break;
                    keel_buf_append(&r->body, raw.base + data, sz);
                    pos = data + sz + 2;
                }
                if (done)
                    break;
                ssize_t got = recv_some(c, tmp, sizeof(tmp));
                if (got <= 0 || raw.len > MAX_RESPONSE) {
                    keel_buf_free(&raw);
                    *why = "ChunkedEncodingError: the response ended early";
                    goto out;
                }
                keel_buf_append(&raw, tmp, (size_t)got);
            }
            keel_buf_free(&raw);
            rc = 0;
            goto out;
        }
        if (length >= 0) {
            if (length > MAX_RESPONSE) {
                *why = "the response is too large";
                goto out;
            }
            keel_buf_append(&r->body, p, have < (size_t)length ? have : (size_t)length);
            while (r->body.len < (size_t)length) {
                ssize_t got = recv_some(c, tmp, sizeof(tmp));
                if (got <= 0) {
                    *why = "ConnectionError: the response ended early";
                    goto out;
                }
                size_t take = (size_t)got;
                if (r->body.len + take > (size_t)length)
                    take = (size_t)length - r->body.len;
                keel_buf_append(&r->body, tmp, take);
            }
            rc = 0;
            goto out;
        }
        keel_buf_append(&r->body, p, have);
        for (;;) {
            ssize_t got = recv_some(c, tmp, sizeof(tmp));
            if (got == 0)
                break;
            if (got < 0 || r->body.len > MAX_RESPONSE) {
                *why = "ReadTimeout or ConnectionError while reading the response";
                goto out;
            }
            keel_buf_append(&r->body, tmp, (size_t)got);
        }
        rc = 0;
    }
out:
    keel_buf_free(&in);
    return rc;
}

/* One request/response over a new connection to url (already prepared). */
static int exchange(keel__eval_t *ev, const char *url, const char *method, const char *ctype, const keel_buf_t *body, response_t *r,
                    const char **why)
{
    url_t u;
    int rc = parse_url(url, &u);
    if (rc != 0 || u.host == NULL) {
        url_free(&u);
        *why = "InvalidURL";
        return rc == KEEL_ENOMEM ? rc : KEEL_EVALUE;
    }
    bool https = strcmp(u.scheme, "https") == 0;
    int port = u.port > 0 ? u.port : (https ? 443 : 80);
    double timeout = ev->opts ? ev->opts->remote_timeout : 60;
    conn_t c = {.fd = -1};
    c.fd = tcp_connect(u.host, port, timeout, why);
    if (c.fd < 0) {
        url_free(&u);
        return KEEL_EVALUE;
    }
    if (https) {
        rc = tls_start(&c, u.host, ev->opts, why);
        if (rc != 0) {
            conn_close(&c);
            url_free(&u);
            return rc;
        }
    }
    /* requests sends PreparedRequest.path_url: path (or "/") and "?query". */
    keel_buf_t req;
    keel_buf_init(&req);
    keel_buf_printf(&req, "%s %s%s%s HTTP/1.1\r\nHost: %s", method, u.path && u.path[0] ? u.path : "/",
                    u.query && u.query[0] ? "?" : "", u.query && u.query[0] ? u.query : "", u.host);
    if (u.port > 0 && u.port != (https ? 443 : 80))
        keel_buf_printf(&req, ":%d", u.port);
    keel_buf_puts(&req, "\r\nUser-Agent: keel-policy\r\nAccept-Encoding: identity\r\nAccept: */*\r\nConnection: close\r\n");
    if (body) {
        keel_buf_printf(&req, "Content-Length: %zu\r\nContent-Type: %s\r\n", body->len, ctype);
    }
    if (u.auth) {
        /* get_auth_from_url(): user and password, percent-decoded, as Basic auth. */
        keel_buf_t cred;
        keel_buf_init(&cred);
        const char *a = u.auth;
        bool has_colon = strchr(a, ':') != NULL;
        for (const char *p = a; *p; p++) {
            if (*p == '%' && is_hex(p[1]) && is_hex(p[2])) {
                keel_buf_putc(&cred, (char)(hexv(p[1]) * 16 + hexv(p[2])));
                p += 2;
            } else {
                keel_buf_putc(&cred, *p);
            }
        }
        if (!has_colon)
            keel_buf_reset(&cred); /* no password: requests falls back to ("", "") */
        if (cred.len > 0 && cred.len < 2048) {
            unsigned char enc[3000];
            int el = EVP_EncodeBlock(enc, (const unsigned char *)cred.base, (int)cred.len);
            keel_buf_printf(&req, "Authorization: Basic %.*s\r\n", el, (const char *)enc);
        }
        keel_buf_free(&cred);
    }
    keel_buf_puts(&req, "\r\n");
    if (body)
        keel_buf_append(&req, body->base ? body->base : "", body->len);
    if (send_all(&c, req.base, req.len) != 0) {
        *why = "ConnectionError: cannot send the request";
        rc = KEEL_EVALUE;
    } else {
        rc = read_response(&c, strcmp(method, "HEAD") == 0, r, why);
    }
    keel_buf_free(&req);
    conn_close(&c);
    url_free(&u);
    return rc;
}

/* urljoin(base, location) for the redirect cases requests meets. */
static char *join_location(const char *base, const char *loc)
{
    keel_buf_t b;
    keel_buf_init(&b);
    url_t u;
    if (parse_url(base, &u) != 0) {
        url_free(&u);
        return NULL;
    }
    const char *colon = strchr(loc, ':');
    const char *slash = strchr(loc, '/');
    if (colon && (slash == NULL || colon < slash)) {
        keel_buf_puts(&b, loc); /* absolute */
    } else if (loc[0] == '/' && loc[1] == '/') {
        keel_buf_printf(&b, "%s:%s", u.scheme, loc);
    } else {
        keel_buf_printf(&b, "%s://%s", u.scheme, u.host);
        if (u.port > 0)
            keel_buf_printf(&b, ":%d", u.port);
        if (loc[0] == '/') {
            keel_buf_puts(&b, loc);
        } else {
            const char *path = u.path && u.path[0] ? u.path : "/";
            const char *last = strrchr(path, '/');
            keel_buf_append(&b, path, last ? (size_t)(last - path) + 1 : 0);
            keel_buf_puts(&b, loc);
        }
    }
    url_free(&u);
    char *joined = keel_buf_steal(&b);
    char *out = joined ? requote(joined) : NULL;
    keel__free(joined);
    return out;
}

int keel__pol_http_check(keel__eval_t *ev, const keel__leaf_t *leaf, const char *url, size_t urllen)
{
    const char *why = NULL;
    const keel_policy_opts_t *o = ev->opts;
    if (leaf->https && o) {
        /* HttpsCheck refuses configured files that are missing or unreadable. */
        const char *cert = o->remote_ssl_client_crt_file, *key = o->remote_ssl_client_key_file;
        if (cert && cert[0] && !(exists(cert) && readable_file(cert))) {
            ev->why = "RuntimeError: Unable to find or access ssl cert_file";
            return KEEL_EVALUE;
        }
        if (key && key[0] && !(exists(key) && readable_file(key))) {
            ev->why = "RuntimeError: Unable to find or access ssl key_file";
            return KEEL_EVALUE;
        }
        if (o->remote_ssl_verify_server_crt && o->remote_ssl_ca_crt_file && o->remote_ssl_ca_crt_file[0] &&
            !exists(o->remote_ssl_ca_crt_file)) {
            ev->why = "RuntimeError: Unable to find ca cert_file";
            return KEEL_EVALUE;
        }
    }
    char *raw = keel__strndup(url, urllen);
    if (raw == NULL)
        return KEEL_ENOMEM;
    char *prepared = NULL;
    int rc = keel__pol_http_prepare_url(raw, &prepared, &why);
    keel__free(raw);
    if (rc != 0) {
        ev->why = why;
        return rc;
    }
    keel_buf_t body;
    keel_buf_init(&body);
    const char *ctype = NULL;
    rc = build_body(ev, &body, &ctype);
    const char *method = "POST";
    bool send_body = true;
    int result = 0;
    for (int hops = 0; rc == 0; hops++) {
        response_t r = {0};
        keel_buf_init(&r.body);
        rc = exchange(ev, prepared, method, ctype, send_body ? &body : NULL, &r, &why);
        bool redirect =
            rc == 0 && r.location && (r.status == 301 || r.status == 302 || r.status == 303 || r.status == 307 || r.status == 308);
        if (redirect) {
            if (hops + 1 > MAX_REDIRECTS) {
                why = "TooManyRedirects: Exceeded 30 redirects.";
                rc = KEEL_EVALUE;
            } else {
                /* rebuild_method(): 303 and 302 become GET, 301 POST becomes GET. */
                if ((r.status == 303 && strcmp(method, "HEAD") != 0) || (r.status == 302 && strcmp(method, "HEAD") != 0) ||
                    (r.status == 301 && strcmp(method, "POST") == 0))
                    method = "GET";
                if (r.status != 307 && r.status != 308)
                    send_body = false;
                char *next = join_location(prepared, r.location);
                keel__free(prepared);
                prepared = next;
                if (prepared == NULL)
                    rc = KEEL_ENOMEM;
            }
        } else if (rc == 0) {
            /* r.text.lstrip('"').rstrip('"') == 'True' */
            const char *s = r.body.base ? r.body.base : "";
            size_t n = r.body.len;
            while (n > 0 && s[0] == '"') {
                s++;
                n--;
            }
            while (n > 0 && s[n - 1] == '"')
                n--;
            result = n == 4 && memcmp(s, "True", 4) == 0;
        }
        keel__free(r.location);
        keel_buf_free(&r.body);
        if (!redirect)
            break;
    }
    keel_buf_free(&body);
    keel__free(prepared);
    if (rc == KEEL_EVALUE)
        ev->why = why ? why : "ConnectionError";
    return rc < 0 ? rc : result;
}
