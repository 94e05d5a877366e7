/*
 * Transport URLs, parsed as oslo_messaging.TransportURL.parse() parses them
 * on Debian 12's Python 3.11: first urllib.parse.urlparse() (scheme, the
 * "//" netloc up to the first of "/?#", the fragment and query split off,
 * the bracket checks), then oslo's own walk over the netloc (split at ',',
 * credentials split at the last '@' then the first ':', IPv6 brackets, the
 * port through int()). Every step is a separate function named after the
 * Python it follows, because the differential test
 * (tests/interop/messaging_url_diff.py) holds each quirk to the reference.
 *
 * Text is handled as UTF-8 bytes. Where Python works on code points the
 * result is the same for valid UTF-8 input, with two deliberate gaps:
 * int() accepts only ASCII digits and whitespace here, and urlsplit's NFKC
 * check of non-ASCII netlocs is not made.
 */
#include <string.h>

#include "messaging_int.h"

#define WHY_NO_SCHEME "No scheme specified"
#define WHY_IPV6 "Invalid IPv6 URL"
#define WHY_IPV4_BRACKETS "An IPv4 address cannot be in brackets"
#define WHY_IPFUTURE "IPvFuture address is invalid"
#define WHY_NOT_IP "Bracketed host does not appear to be an IPv4 or IPv6 address"
#define WHY_PORT "Invalid port"
#define WHY_PORT_RANGE "Port does not fit in 64 bits"

/* ---- Python helpers ---- */

static bool is_ascii_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_ascii_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_hex(unsigned char c)
{
    return is_ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int hex_value(unsigned char c)
{
    if (is_ascii_digit(c))
        return c - '0';
    return (c | 0x20) - 'a' + 10;
}

/* str.isspace() for ASCII: the C whitespace plus the four separators 0x1c-0x1f. */
static bool py_isspace(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

int keel__messaging_pyint(const char *s, size_t len, int64_t *out)
{
    size_t i = 0, end = len;
    while (i < end && py_isspace((unsigned char)s[i]))
        i++;
    while (end > i && py_isspace((unsigned char)s[end - 1]))
        end--;
    bool neg = false;
    if (i < end && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i == end || !is_ascii_digit((unsigned char)s[i]))
        return KEEL_EVALUE;
    uint64_t v = 0;
    bool prev_underscore = false;
    for (; i < end; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '_') {
            /* int() allows single underscores between digits only. */
            if (prev_underscore)
                return KEEL_EVALUE;
            prev_underscore = true;
            continue;
        }
        if (!is_ascii_digit(c))
            return KEEL_EVALUE;
        prev_underscore = false;
        if (v > (UINT64_MAX - 9) / 10)
            return KEEL_ERANGE;
        v = v * 10 + (uint64_t)(c - '0');
    }
    if (prev_underscore)
        return KEEL_EVALUE;
    if (v > (uint64_t)INT64_MAX + (neg ? 1u : 0u))
        return KEEL_ERANGE;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/*
 * Appends bytes decoded as Python's bytes.decode('utf-8', 'replace') does:
 * each maximal ill-formed subsequence becomes one U+FFFD.
 */
static int append_utf8_replace(keel_buf_t *b, const unsigned char *p, size_t n)
{
    static const char fffd[] = "\xef\xbf\xbd";
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        if (c < 0x80) {
            if (keel_buf_putc(b, (char)c) != 0)
                return KEEL_ENOMEM;
            i++;
            continue;
        }
        size_t need;
        unsigned char lo = 0x80, hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf)
            need = 1;
        else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            if (c == 0xe0)
                lo = 0xa0;
            else if (c == 0xed)
                hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            if (c == 0xf0)
                lo = 0x90;
            else if (c == 0xf4)
                hi = 0x8f;
        } else {
            if (keel_buf_puts(b, fffd) != 0)
                return KEEL_ENOMEM;
            i++;
            continue;
        }
        size_t j = 1;
        while (j <= need && i + j < n) {
            unsigned char cc = p[i + j];
            /* Only the first continuation byte has a narrowed range. */
            if (j == 1 ? (cc < lo || cc > hi) : (cc < 0x80 || cc > 0xbf))
                break;
            j++;
        }
        if (j == need + 1) {
            if (keel_buf_append(b, p + i, j) != 0)
                return KEEL_ENOMEM;
        } else if (keel_buf_puts(b, fffd) != 0) {
            return KEEL_ENOMEM;
        }
        i += j;
    }
    return 0;
}

/*
 * urllib.parse.unquote(): only runs of ASCII characters are unquoted; the
 * bytes of each run's %XX escapes are decoded as UTF-8 with 'replace'.
 * plus_as_space gives unquote_plus() (query names and values).
 */
int keel__messaging_unquote(const char *s, size_t len, bool plus_as_space, char **out)
{
    keel_buf_t b, run;
    keel_buf_init(&b);
    keel_buf_init(&run);
    int rc = keel_buf_reserve(&b, len);
    size_t i = 0;
    while (rc == 0 && i < len) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            rc = keel_buf_putc(&b, (char)c);
            i++;
            continue;
        }
        /* One maximal ASCII run. */
        keel_buf_reset(&run);
        while (rc == 0 && i < len && (unsigned char)s[i] < 0x80) {
            c = (unsigned char)s[i];
            if (c == '%' && i + 2 < len && is_hex((unsigned char)s[i + 1]) && is_hex((unsigned char)s[i + 2])) {
                rc = keel_buf_putc(&run, (char)(hex_value((unsigned char)s[i + 1]) * 16 + hex_value((unsigned char)s[i + 2])));
                i += 3;
            } else {
                rc = keel_buf_putc(&run, plus_as_space && c == '+' ? ' ' : (char)c);
                i++;
            }
        }
        if (rc == 0)
            rc = append_utf8_replace(&b, (const unsigned char *)run.base, run.len);
    }
    keel_buf_free(&run);
    if (rc == 0 && (*out = keel_buf_steal(&b)) == NULL)
        rc = KEEL_ENOMEM;
    keel_buf_free(&b);
    return rc;
}

/* urllib.parse.quote(s, safe): bytes outside A-Z a-z 0-9 "_.-~" and safe become %XX (upper case). */
int keel__messaging_quote(keel_buf_t *b, const char *s, const char *safe, bool plus)
{
    static const char digits[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        int rc;
        if (is_ascii_alpha(c) || is_ascii_digit(c) || c == '_' || c == '.' || c == '-' || c == '~' ||
            (safe && c != 0 && strchr(safe, c)))
            rc = keel_buf_putc(b, (char)c);
        else if (plus && c == ' ')
            rc = keel_buf_putc(b, '+');
        else
            rc = keel_buf_printf(b, "%%%c%c", digits[c >> 4], digits[c & 15]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- ipaddress: the checks urlsplit makes on the first bracketed host ---- */

/* ipaddress.IPv4Address: four decimal octets, no leading zeros, each <= 255. */
static bool ipv4_valid(const char *s, size_t len)
{
    size_t i = 0;
    for (int octet = 0; octet < 4; octet++) {
        size_t start = i;
        while (i < len && s[i] != '.')
            i++;
        size_t n = i - start;
        if (n == 0 || n > 3)
            return false;
        for (size_t k = start; k < i; k++)
            if (!is_ascii_digit((unsigned char)s[k]))
                return false;
        if (n > 1 && s[start] == '0')
            return false;
        int v = 0;
        for (size_t k = start; k < i; k++)
            v = v * 10 + (s[k] - '0');
        if (v > 255)
            return false;
        if (octet < 3) {
            if (i == len)
                return false;
            i++; /* the '.' */
        }
    }
    return i == len;
}

static bool hextet_valid(const char *s, size_t n)
{
    if (n == 0 || n > 4)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_hex((unsigned char)s[i]))
            return false;
    return true;
}

/*
 * ipaddress.IPv6Address(): an optional "%scope", then _ip_int_from_string()
 * step by step — at least 3 ':'-parts, a dotted IPv4 last part standing for
 * two hextets, at most 9 parts, at most one "::", and 1-4 hex digits in
 * every hextet that is parsed.
 */
static bool ipv6_valid(const char *s, size_t len)
{
    static const char zero[] = "0";
    const char *pct = memchr(s, '%', len);
    if (pct != NULL) {
        size_t scope_len = len - (size_t)(pct - s) - 1;
        if (scope_len == 0 || memchr(pct + 1, '%', scope_len) != NULL)
            return false;
        len = (size_t)(pct - s);
    }
    if (len == 0)
        return false;
    const char *part[10];
    size_t plen[10], n = 0, i = 0;
    for (;;) {
        size_t st = i;
        while (i < len && s[i] != ':')
            i++;
        if (n == 10)
            return false; /* more than 9 parts can never be valid */
        part[n] = s + st;
        plen[n++] = i - st;
        if (i == len)
            break;
        i++;
    }
    if (n < 3)
        return false;
    if (memchr(part[n - 1], '.', plen[n - 1]) != NULL) {
        if (!ipv4_valid(part[n - 1], plen[n - 1]) || n == 10)
            return false;
        /* Two valid hextets take its place; their value does not matter here. */
        part[n - 1] = part[n] = zero;
        plen[n - 1] = plen[n] = 1;
        n++;
    }
    if (n > 9)
        return false;
    size_t skip = SIZE_MAX;
    for (size_t k = 1; k + 1 < n; k++)
        if (plen[k] == 0) {
            if (skip != SIZE_MAX)
                return false;
            skip = k;
        }
    size_t hi, lo;
    if (skip != SIZE_MAX) {
        hi = skip;
        lo = n - skip - 1;
        if (plen[0] == 0 && --hi != 0)
            return false;
        if (plen[n - 1] == 0 && --lo != 0)
            return false;
        if (hi + lo >= 8)
            return false;
    } else {
        if (n != 8 || plen[0] == 0 || plen[n - 1] == 0)
            return false;
        hi = n;
        lo = 0;
    }
    for (size_t k = 0; k < hi; k++)
        if (!hextet_valid(part[k], plen[k]))
            return false;
    for (size_t k = n - lo; k < n; k++)
        if (!hextet_valid(part[k], plen[k]))
            return false;
    return true;
}

/* urllib.parse._check_bracketed_host(). */
static const char *check_bracketed_host(const char *s, size_t len)
{
    if (len > 0 && s[0] == 'v') {
        /* \Av[a-fA-F0-9]+\..+\Z */
        size_t i = 1;
        while (i < len && is_hex((unsigned char)s[i]))
            i++;
        if (i == 1 || i >= len || s[i] != '.' || i + 1 >= len)
            return WHY_IPFUTURE;
        return NULL;
    }
    if (ipv4_valid(s, len))
        return WHY_IPV4_BRACKETS;
    return ipv6_valid(s, len) ? NULL : WHY_NOT_IP;
}

/* ---- the URL ---- */

void keel_messaging_url_free(keel_messaging_url_t *url)
{
    if (url == NULL)
        return;
    keel__free(url->transport);
    keel__free(url->virtual_host);
    for (size_t i = 0; i < url->nhosts; i++) {
        keel__free(url->hosts[i].hostname);
        keel__free(url->hosts[i].username);
        keel__free(url->hosts[i].password);
    }
    keel__free(url->hosts);
    for (size_t i = 0; i < url->nquery; i++) {
        keel__free(url->query[i].key);
        keel__free(url->query[i].value);
    }
    keel__free(url->query);
    keel__free(url);
}

/* urllib.parse.parse_qs() then oslo's ','.join() of each key's values. */
static int parse_query(keel_messaging_url_t *url, const char *q, size_t len)
{
    size_t i = 0;
    while (i <= len && len > 0) {
        size_t st = i;
        while (i < len && q[i] != '&')
            i++;
        const char *f = q + st;
        size_t flen = i - st;
        i++;
        const char *eq = flen ? memchr(f, '=', flen) : NULL;
        /* Empty fields, fields without '=' and blank values are dropped. */
        if (eq == NULL || eq == f + flen - 1)
            continue;
        char *key = NULL, *value = NULL;
        if (keel__messaging_unquote(f, (size_t)(eq - f), true, &key) != 0 ||
            keel__messaging_unquote(eq + 1, (size_t)(f + flen - eq - 1), true, &value) != 0) {
            keel__free(key);
            return KEEL_ENOMEM;
        }
        keel_messaging_url_query_t *found = NULL;
        for (size_t k = 0; k < url->nquery; k++)
            if (strcmp(url->query[k].key, key) == 0)
                found = &url->query[k];
        if (found != NULL) {
            keel_buf_t b;
            keel_buf_init(&b);
            int rc = keel_buf_printf(&b, "%s,%s", found->value, value);
            keel__free(key);
            keel__free(value);
            if (rc != 0) {
                keel_buf_free(&b);
                return KEEL_ENOMEM;
            }
            char *joined = keel_buf_steal(&b);
            keel_buf_free(&b);
            if (joined == NULL)
                return KEEL_ENOMEM;
            keel__free(found->value);
            found->value = joined;
            continue;
        }
        keel_messaging_url_query_t *grown = keel__realloc(url->query, (url->nquery + 1) * sizeof(*grown));
        if (grown == NULL) {
            keel__free(key);
            keel__free(value);
            return KEEL_ENOMEM;
        }
        url->query = grown;
        url->query[url->nquery++] = (keel_messaging_url_query_t){.key = key, .value = value};
    }
    return 0;
}

/* One netloc item, as the loop body of TransportURL.parse(). */
static int parse_host(keel_messaging_url_host_t *h, const char *s, size_t len, const char **why)
{
    const char *hn = s;
    size_t hnlen = len;
    const char *at = NULL;
    for (size_t i = len; i > 0; i--)
        if (s[i - 1] == '@') {
            at = s + i - 1;
            break;
        }
    if (at != NULL) {
        size_t ulen = (size_t)(at - s);
        const char *colon = memchr(s, ':', ulen);
        if (colon != NULL) {
            if (keel__messaging_unquote(colon + 1, (size_t)(at - colon - 1), false, &h->password) != 0)
                return KEEL_ENOMEM;
            ulen = (size_t)(colon - s);
        }
        if (keel__messaging_unquote(s, ulen, false, &h->username) != 0)
            return KEEL_ENOMEM;
        hn = at + 1;
        hnlen = len - (size_t)(hn - s);
    }
    const char *port = NULL;
    size_t portlen = 0;
    bool has_port_text = false;
    if (hnlen == 0) {
        /* hostname stays NULL */
    } else if (hn[0] == '[') {
        const char *close = memchr(hn, ']', hnlen);
        if (close == NULL) {
            *why = WHY_IPV6;
            return KEEL_MESSAGING_EURL;
        }
        const char *ptext = close;
        size_t ptlen = hnlen - (size_t)(close - hn);
        const char *colon = memchr(ptext, ':', ptlen);
        if (colon != NULL) {
            port = colon + 1;
            portlen = ptlen - (size_t)(colon + 1 - ptext);
            has_port_text = true;
        }
        if ((h->hostname = keel__strndup(hn + 1, (size_t)(close - hn - 1))) == NULL)
            return KEEL_ENOMEM;
    } else {
        const char *colon = memchr(hn, ':', hnlen);
        size_t namelen = hnlen;
        if (colon != NULL) {
            port = colon + 1;
            portlen = hnlen - (size_t)(colon + 1 - hn);
            has_port_text = true;
            namelen = (size_t)(colon - hn);
        }
        if ((h->hostname = keel__strndup(hn, namelen)) == NULL)
            return KEEL_ENOMEM;
    }
    if (has_port_text && portlen > 0) {
        int rc = keel__messaging_pyint(port, portlen, &h->port);
        if (rc == KEEL_ENOMEM)
            return rc;
        if (rc != 0) {
            *why = rc == KEEL_ERANGE ? WHY_PORT_RANGE : WHY_PORT;
            return KEEL_MESSAGING_EURL;
        }
        h->has_port = true;
    }
    return 0;
}

/*
 * urlsplit()'s bracket checks (Debian's 3.11.2 has the backported
 * _check_bracketed_netloc): '[' and ']' must come together, and when they
 * do, the host after the netloc's last '@' must be a bracketed IPv6 or
 * IPvFuture literal with nothing before the '[' and only a ":port" after
 * the ']'. The other hosts of a multi-host netloc are not checked here.
 */
static const char *check_netloc(const char *n, size_t len)
{
    const char *open = memchr(n, '[', len);
    const char *close = memchr(n, ']', len);
    if ((open == NULL) != (close == NULL))
        return WHY_IPV6;
    if (open == NULL)
        return NULL;
    const char *hp = n;
    for (size_t i = len; i > 0; i--)
        if (n[i - 1] == '@') {
            hp = n + i;
            break;
        }
    size_t hplen = len - (size_t)(hp - n);
    const char *br = memchr(hp, '[', hplen);
    if (br == NULL) {
        const char *colon = memchr(hp, ':', hplen);
        return check_bracketed_host(hp, colon ? (size_t)(colon - hp) : hplen);
    }
    if (br != hp)
        return WHY_IPV6;
    const char *start = br + 1;
    size_t rest = hplen - 1;
    const char *end = memchr(start, ']', rest);
    if (end != NULL && end + 1 < hp + hplen && end[1] != ':')
        return WHY_IPV6;
    return check_bracketed_host(start, end ? (size_t)(end - start) : rest);
}

/* urllib.parse.uses_params */
static bool uses_params(const char *scheme)
{
    static const char *const schemes[] = {"",     "ftp",   "hdl", "prospero", "http", "imap", "https", "shttp",
                                          "rtsp", "rtspu", "sip", "sips",     "mms",  "sftp", "tel",   NULL};
    for (const char *const *p = schemes; *p; p++)
        if (strcmp(*p, scheme) == 0)
            return true;
    return false;
}

static int parse_url(keel_buf_t *text, keel_messaging_url_t *url, const char **why)
{
    char *s = text->base;
    size_t len = text->len;
    /* Scheme: ASCII letter first, then letters, digits, "+-." up to ':'. */
    const char *colon = memchr(s, ':', len);
    bool scheme_ok = colon != NULL && colon > s && is_ascii_alpha((unsigned char)s[0]);
    for (const char *p = s; scheme_ok && p < colon; p++)
        if (!is_ascii_alpha((unsigned char)*p) && !is_ascii_digit((unsigned char)*p) && *p != '+' && *p != '-' && *p != '.')
            scheme_ok = false;
    if (!scheme_ok) {
        *why = WHY_NO_SCHEME;
        return KEEL_MESSAGING_EURL;
    }
    size_t slen = (size_t)(colon - s);
    if ((url->transport = keel__strndup(s, slen)) == NULL)
        return KEEL_ENOMEM;
    for (char *p = url->transport; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p + 32);
    const char *rest = colon + 1;
    const char *end = s + len;
    const char *netloc = rest;
    size_t netlen = 0;
    if (end - rest >= 2 && rest[0] == '/' && rest[1] == '/') {
        netloc = rest + 2;
        const char *p = netloc;
        while (p < end && *p != '/' && *p != '?' && *p != '#')
            p++;
        netlen = (size_t)(p - netloc);
        rest = p;
        if ((*why = check_netloc(netloc, netlen)) != NULL)
            return KEEL_MESSAGING_EURL;
    }
    const char *hash = memchr(rest, '#', (size_t)(end - rest));
    if (hash != NULL)
        end = hash;
    const char *qmark = memchr(rest, '?', (size_t)(end - rest));
    const char *path_end = qmark ? qmark : end;
    if (uses_params(url->transport)) {
        /* urlparse() cuts ";params" off the path's last segment for these schemes. */
        const char *seg = rest;
        for (const char *p = rest; p < path_end; p++)
            if (*p == '/')
                seg = p;
        const char *semi = memchr(seg, ';', (size_t)(path_end - seg));
        if (semi != NULL)
            path_end = semi;
    }
    if (qmark != NULL) {
        int rc = parse_query(url, qmark + 1, (size_t)(end - qmark - 1));
        if (rc != 0)
            return rc;
    }
    if (path_end > rest && rest[0] == '/') {
        if (keel__messaging_unquote(rest + 1, (size_t)(path_end - rest - 1), false, &url->virtual_host) != 0)
            return KEEL_ENOMEM;
    }
    size_t i = 0;
    while (i < netlen) {
        size_t st = i;
        while (i < netlen && netloc[i] != ',')
            i++;
        size_t hlen = i - st;
        const char *h = netloc + st;
        i++;
        if (hlen == 0)
            continue;
        keel_messaging_url_host_t *grown = keel__realloc(url->hosts, (url->nhosts + 1) * sizeof(*grown));
        if (grown == NULL)
            return KEEL_ENOMEM;
        url->hosts = grown;
        url->hosts[url->nhosts] = (keel_messaging_url_host_t){0};
        url->nhosts++;
        int rc = parse_host(&url->hosts[url->nhosts - 1], h, hlen, why);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int keel_messaging_url_parse(const char *text, keel_messaging_url_t **out, const char **why)
{
    const char *why_local = NULL;
    if (why == NULL)
        why = &why_local;
    *why = NULL;
    if (text == NULL || out == NULL)
        return KEEL_EINVAL;
    /*
     * urlsplit() first strips leading C0 controls and spaces and removes
     * every tab, CR and LF.
     */
    while (*text && (unsigned char)*text <= ' ')
        text++;
    keel_buf_t b;
    keel_buf_init(&b);
    for (const char *p = text; *p; p++)
        if (*p != '\t' && *p != '\r' && *p != '\n' && keel_buf_putc(&b, *p) != 0) {
            keel_buf_free(&b);
            return KEEL_ENOMEM;
        }
    if (keel_buf_reserve(&b, 1) != 0) {
        keel_buf_free(&b);
        return KEEL_ENOMEM;
    }
    keel_messaging_url_t *url = keel__calloc(1, sizeof(*url));
    int rc = url ? parse_url(&b, url, why) : KEEL_ENOMEM;
    keel_buf_free(&b);
    if (rc != 0) {
        keel_messaging_url_free(url);
        return rc;
    }
    *out = url;
    return 0;
}

int keel_messaging_url_format(const keel_messaging_url_t *url, bool mask_password, keel_buf_t *out)
{
    int rc = keel_buf_printf(out, "%s://", url->transport);
    for (size_t i = 0; rc == 0 && i < url->nhosts; i++) {
        const keel_messaging_url_host_t *h = &url->hosts[i];
        if (i > 0)
            rc = keel_buf_putc(out, ',');
        if (rc == 0 && (h->username || h->password)) {
            if (h->username)
                rc = keel__messaging_quote(out, h->username, "", false);
            if (rc == 0 && h->password) {
                rc = keel_buf_putc(out, ':');
                if (rc == 0)
                    rc = mask_password ? keel_buf_puts(out, "****") : keel__messaging_quote(out, h->password, "", false);
            }
            if (rc == 0)
                rc = keel_buf_putc(out, '@');
        }
        if (rc == 0 && h->hostname && *h->hostname)
            rc = strchr(h->hostname, ':') ? keel_buf_printf(out, "[%s]", h->hostname) : keel_buf_puts(out, h->hostname);
        if (rc == 0 && h->has_port)
            rc = keel_buf_printf(out, ":%lld", (long long)h->port);
    }
    if (rc == 0)
        rc = keel_buf_putc(out, '/');
    if (rc == 0 && url->virtual_host && *url->virtual_host)
        rc = keel__messaging_quote(out, url->virtual_host, "/", false);
    for (size_t i = 0; rc == 0 && i < url->nquery; i++) {
        rc = keel_buf_putc(out, i == 0 ? '?' : '&');
        if (rc == 0)
            rc = keel__messaging_quote(out, url->query[i].key, "", true);
        if (rc == 0)
            rc = keel_buf_putc(out, '=');
        if (rc == 0)
            rc = keel__messaging_quote(out, url->query[i].value, "", true);
    }
    return rc;
}

const char *keel_messaging_url_query_get(const keel_messaging_url_t *url, const char *key)
{
    for (size_t i = 0; i < url->nquery; i++)
        if (strcmp(url->query[i].key, key) == 0)
            return url->query[i].value;
    return NULL;
}

int keel_messaging_url_broker(const keel_messaging_url_t *url, size_t i, keel_messaging_broker_t *out)
{
    static const keel_messaging_url_host_t none = {0};
    const keel_messaging_url_host_t *h;
    if (url->nhosts == 0 && i == 0)
        h = &none;
    else if (i < url->nhosts)
        h = &url->hosts[i];
    else
        return KEEL_ERANGE;
    /* kombu reads `host.port or 5672`, so 0 is the default too. */
    int64_t port = h->has_port && h->port != 0 ? h->port : 5672;
    if (port < 1 || port > 65535)
        return KEEL_ERANGE;
    out->hostname = h->hostname && *h->hostname ? h->hostname : "localhost";
    out->port = (uint16_t)port;
    out->username = h->username && *h->username ? h->username : "guest";
    out->password = h->password && *h->password ? h->password : "guest";
    out->virtual_host = url->virtual_host && *url->virtual_host ? url->virtual_host : "/";
    return 0;
}
