/*
 * uri.c — oslo.config's URI type: rfc3986 1.5's parse and validation, as
 * oslo_config.types.URI runs them.
 *
 * Design choice: the component grammar is rfc3986's own regular
 * expressions (abnf_regexp.py and misc.py), rebuilt below from the RFC 3986
 * ABNF pieces in the same shape and run with PCRE2 through pyre.c. rfc3986
 * is defined by what those expressions match, including their quirks (an
 * authority "user@:80" has an empty but present host; '$' accepts one
 * trailing newline; a bare '%' zone id in "[fe80::1%eth0]" parses but fails
 * validation), and a backtracking engine with the same priorities is the
 * only way to agree with it everywhere. The expressions are compiled once,
 * on first use.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pycompat/pystr.h"
#include "regex.h"
#include "uri.h"

/* RFC 3986 character sets, spelled as rfc3986's abnf_regexp.py spells them. */
#define SUB_DELIMS_RE "!$&'()\\*+,;="
#define UNRESERVED_RE "A-Za-z0-9._~\\-"
#define PCT_ENCODED "%[A-Fa-f0-9]{2}"
#define PCHAR "([" UNRESERVED_RE SUB_DELIMS_RE ":@]|" PCT_ENCODED ")"
#define PCHAR_NC "([" UNRESERVED_RE SUB_DELIMS_RE "@]|" PCT_ENCODED ")" /* PCHAR without ':' */
#define SCHEME_RE "[a-zA-Z][a-zA-Z0-9+.-]*"

/* Appendix B, with the stricter scheme. */
#define URL_PARSING_RE                                                                                                             \
    "(?:(?P<scheme>" SCHEME_RE "):)?(?://(?P<authority>[^\\\\/?#]*))?(?P<path>[^?#]*)(?:\\?(?P<query>[^#]*))?"                     \
    "(?:#(?P<fragment>.*))?"

/* Section 3.2.2, host. */
#define REG_NAME "((?:%[0-9A-Fa-f]{2}|[" SUB_DELIMS_RE UNRESERVED_RE "])*)"
#define IPV4_RE "([0-9]{1,3}\\.){3}[0-9]{1,3}"
#define H16 "[0-9A-Fa-f]{1,4}"
#define LS32 "(" H16 ":" H16 "|" IPV4_RE ")"
#define IPV6_RE                                                                                                                    \
    "(((" H16 ":){6}" LS32 ")|(::(" H16 ":){5}" LS32 ")|((" H16 ")?::(" H16 ":){4}" LS32 ")|(((" H16 ":)?" H16 ")?::(" H16         \
    ":){3}" LS32 ")|(((" H16 ":){0,2}" H16 ")?::(" H16 ":){2}" LS32 ")|(((" H16 ":){0,3}" H16 ")?::" H16 ":" LS32 ")|(((" H16      \
    ":){0,4}" H16 ")?::" LS32 ")|(((" H16 ":){0,5}" H16 ")?::" H16 ")|(((" H16 ":){0,6}" H16 ")?::))"
#define IPV_FUTURE_RE "v[0-9A-Fa-f]+\\.[" UNRESERVED_RE SUB_DELIMS_RE ":]+"
#define ZONE_ID "(?:[" UNRESERVED_RE "]|" PCT_ENCODED ")+"
#define IPV6_ADDRZ_RFC4007_RE IPV6_RE "(?:(?:%25|%)" ZONE_ID ")?" /* RFC 4007 '%' or RFC 6874 '%25' */
#define IPV6_ADDRZ_RE IPV6_RE "(?:%25" ZONE_ID ")?"
#define IP_LITERAL_RE "\\[(" IPV6_ADDRZ_RFC4007_RE "|" IPV_FUTURE_RE ")\\]"
#define HOST_RE "(" REG_NAME "|" IPV4_RE "|" IP_LITERAL_RE ")"
#define USERINFO_RE "^([" UNRESERVED_RE SUB_DELIMS_RE ":]|" PCT_ENCODED ")+"
#define PORT_RE "[0-9]{1,5}"

/* Section 3.3, path. */
#define SEGMENT PCHAR "*"
#define SEGMENT_NZ PCHAR "+"
#define SEGMENT_NZ_NC PCHAR_NC "+"
#define PATH_ROOTLESS SEGMENT_NZ "(/" SEGMENT ")*"
#define PATH_NOSCHEME SEGMENT_NZ_NC "(/" SEGMENT ")*"
#define PATH_ABSOLUTE "/(" PATH_ROOTLESS ")?"
#define PATH_ABEMPTY "(/" SEGMENT ")*"
#define PATH_RE "^(" PATH_ABEMPTY "|" PATH_ABSOLUTE "|" PATH_NOSCHEME "|" PATH_ROOTLESS "|^$)$"

enum {
    URI_MATCHER,
    SUBAUTHORITY_MATCHER,
    HOST_MATCHER,
    IPV4_MATCHER,
    IPV6_MATCHER,
    IPV6_NO_RFC4007_MATCHER,
    PATH_MATCHER,
    N_PATTERNS
};

static const char *const pattern_text[N_PATTERNS] = {
    [URI_MATCHER] = URL_PARSING_RE,
    [SUBAUTHORITY_MATCHER] = "^(?:(?P<userinfo>" USERINFO_RE ")@)?(?P<host>" HOST_RE "):?(?P<port>" PORT_RE ")?$",
    [HOST_MATCHER] = "^" HOST_RE "$",
    [IPV4_MATCHER] = "^" IPV4_RE "$",
    [IPV6_MATCHER] = "^\\[" IPV6_ADDRZ_RFC4007_RE "\\]$",
    [IPV6_NO_RFC4007_MATCHER] = "^\\[" IPV6_ADDRZ_RE "\\]$",
    [PATH_MATCHER] = PATH_RE,
};

static pthread_mutex_t patterns_lock = PTHREAD_MUTEX_INITIALIZER;
static pcre2_code *patterns[N_PATTERNS];
/* Group numbers of the named groups used. */
static int g_scheme, g_authority, g_path, g_host;

/* Compiles the expressions on first use; a failure is retried next time. */
static int load_patterns(void)
{
    int rc = 0;
    pthread_mutex_lock(&patterns_lock);
    for (int i = 0; rc == 0 && i < N_PATTERNS; i++) {
        if (patterns[i] != NULL)
            continue;
        rc = keel__conf_re_compile(pattern_text[i], strlen(pattern_text[i]), KEEL__CONF_RE_VERBATIM, &patterns[i], NULL);
        /* The expressions are fixed: only memory can make them fail. */
        KEEL_ASSERT(rc == 0 || rc == KEEL_ENOMEM);
    }
    if (rc == 0 && g_host == 0) {
        g_scheme = pcre2_substring_number_from_name(patterns[URI_MATCHER], (PCRE2_SPTR) "scheme");
        g_authority = pcre2_substring_number_from_name(patterns[URI_MATCHER], (PCRE2_SPTR) "authority");
        g_path = pcre2_substring_number_from_name(patterns[URI_MATCHER], (PCRE2_SPTR) "path");
        g_host = pcre2_substring_number_from_name(patterns[SUBAUTHORITY_MATCHER], (PCRE2_SPTR) "host");
        KEEL_ASSERT(g_scheme > 0 && g_authority > 0 && g_path > 0 && g_host > 0);
    }
    pthread_mutex_unlock(&patterns_lock);
    return rc;
}

/* A substring that may be Python's None. */
typedef struct {
    const char *p;
    size_t len;
    bool present;
} part_t;

/* re.match(pattern, text) as a yes/no; returns 1, 0 or KEEL_ENOMEM. */
static int matches(int which, const char *s, size_t len)
{
    return keel__conf_re_match(patterns[which], s, len, true, NULL, 0);
}

/* rfc3986's valid_ipv4_host_address() for text IPv4_MATCHER accepted:
 * four runs of 1-3 ASCII digits separated by dots. */
static bool ipv4_bytes_ok(const char *s, size_t len)
{
    unsigned v = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            if (v > 255)
                return false;
            v = 0;
        } else if (s[i] >= '0' && s[i] <= '9') {
            v = v * 10 + (unsigned)(s[i] - '0');
        }
    }
    return true;
}

/*
 * The host as URIMixin.authority_info() finds it: None when there is no
 * authority, when SUBAUTHORITY_MATCHER rejects it, or when it looks like
 * IPv4 with a byte over 255 (InvalidAuthority); otherwise the host group,
 * which may be present and empty.
 */
static int authority_host(part_t authority, part_t *host)
{
    *host = (part_t){0};
    if (!authority.present)
        return 0;
    size_t ov[2 * 16];
    KEEL_ASSERT(g_host < 16);
    int m = keel__conf_re_match(patterns[SUBAUTHORITY_MATCHER], authority.p, authority.len, true, ov, 16);
    if (m <= 0)
        return m;
    if (ov[2 * g_host] == PCRE2_UNSET)
        return 0;
    part_t h = {authority.p + ov[2 * g_host], ov[2 * g_host + 1] - ov[2 * g_host], true};
    if (h.len > 0) {
        m = matches(IPV4_MATCHER, h.p, h.len);
        if (m < 0)
            return m;
        if (m == 1 && !ipv4_bytes_ok(h.p, h.len))
            return 0;
    }
    *host = h;
    return 0;
}

/* validators.host_is_valid() for a present host; 1 valid, 0 not, or < 0. */
static int host_is_valid(part_t host)
{
    int m = matches(HOST_MATCHER, host.p, host.len);
    if (m <= 0)
        return m;
    m = matches(IPV4_MATCHER, host.p, host.len);
    if (m < 0)
        return m;
    if (m == 1)
        return ipv4_bytes_ok(host.p, host.len);
    m = matches(IPV6_MATCHER, host.p, host.len);
    if (m < 0)
        return m;
    if (m == 1)
        return matches(IPV6_NO_RFC4007_MATCHER, host.p, host.len);
    return 1;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Characters rfc3986 leaves as they are (reserved and unreserved). */
static bool non_pct_encoded(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr(":/?#[]@!$&'()*+,;=._-~", c) != NULL);
}

/*
 * normalizers.encode_component(): bytes outside the reserved and unreserved
 * sets become %XX; '%' stays only if every '%' already starts a %XX (the
 * matches counted as re.findall() counts them, without overlap).
 */
static int encode_component(const char *s, size_t len, keel_buf_t *out)
{
    size_t pct = 0, encoded = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '%')
            continue;
        pct++;
        if (i + 2 < len && is_hex(s[i + 1]) && is_hex(s[i + 2])) {
            encoded++;
            i += 2;
        }
    }
    bool keep_pct = pct == encoded;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((keep_pct && c == '%') || (c < 128 && non_pct_encoded(c)))
            rc = keel_buf_putc(out, (char)c);
        else
            rc = keel_buf_printf(out, "%%%02X", c);
    }
    return rc;
}

/* Appends "a, b were ..." or "a was ..." for the set bits of names. */
static int list_components(keel_buf_t *why, const char *const *names, unsigned bits, const char *what)
{
    int n = 0, rc = 0;
    for (int i = 0; names[i] != NULL && rc == 0; i++)
        if (bits & (1u << i))
            rc = keel_buf_printf(why, "%s%s", n++ ? ", " : "", names[i]);
    return rc ? rc : keel_buf_printf(why, " %s %s", n > 1 ? "were" : "was", what);
}

static int fail(keel_buf_t *why, int rc)
{
    return rc == 0 ? KEEL_EVALUE : rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Validator.allow_schemes(*schemes): the allowed set holds the schemes
 * lowered, and the URI's scheme must be in it as written (so "HTTP://x"
 * fails against ["http"], as in rfc3986). The message lists the sorted set.
 */
static int check_scheme_allowed(const char *const *schemes, part_t scheme, keel_buf_t *why)
{
    size_t n = 0;
    while (schemes[n] != NULL)
        n++;
    int rc = 0;
    bool allowed = false;
    char **lowered = keel__calloc(n, sizeof(*lowered));
    if (lowered == NULL)
        return KEEL_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        keel_buf_t b;
        keel_buf_init(&b);
        rc = keel__py_lower(&b, schemes[i], strlen(schemes[i]));
        if (rc == 0)
            lowered[i] = keel_buf_steal(&b);
        keel_buf_free(&b);
        if (rc == 0 && lowered[i] == NULL)
            rc = KEEL_ENOMEM;
        if (rc == 0 && strlen(lowered[i]) == scheme.len && memcmp(lowered[i], scheme.p, scheme.len) == 0)
            allowed = true;
    }
    if (rc != 0 || allowed || why == NULL) {
        rc = rc ? rc : (allowed ? 0 : KEEL_EVALUE);
        goto out;
    }
    qsort(lowered, n, sizeof(*lowered), cmp_str);
    rc = keel_buf_puts(why, "scheme was required to be one of [");
    for (size_t i = 0, shown = 0; rc == 0 && i < n; i++) {
        if (i > 0 && strcmp(lowered[i], lowered[i - 1]) == 0)
            continue; /* a set: each scheme once */
        if (shown++ > 0)
            rc = keel_buf_puts(why, ", ");
        if (rc == 0)
            rc = keel__py_repr_str(why, lowered[i], strlen(lowered[i]), KEEL__PY_REPR_HEX_BYTES);
    }
    if (rc == 0)
        rc = keel_buf_puts(why, "] but was ");
    if (rc == 0)
        rc = keel__py_repr_str(why, scheme.p, scheme.len, KEEL__PY_REPR_HEX_BYTES);
    rc = fail(why, rc);
out:
    for (size_t i = 0; i < n; i++)
        keel__free(lowered[i]);
    keel__free(lowered);
    return rc;
}

int keel__conf_check_uri(const keel_conf_opt_t *opt, const char *s, size_t len, keel_buf_t *why)
{
    static const char *const names[] = {"host", "path", "scheme", NULL}; /* sorted, as rfc3986 sorts them */
    enum { HOST = 1u << 0, PATH = 1u << 1, SCHEME = 1u << 2 };
    keel_buf_t path;
    keel_buf_init(&path);
    int rc = load_patterns();
    if (rc != 0)
        return rc;

    /* uri_reference(): URI_MATCHER always matches (every part is optional). */
    size_t ov[2 * 6];
    rc = keel__conf_re_match(patterns[URI_MATCHER], s, len, true, ov, 6);
    if (rc < 0)
        return rc;
    part_t scheme = {0}, authority = {0}, host;
    if (rc == 1 && ov[2 * g_scheme] != PCRE2_UNSET && ov[2 * g_scheme + 1] > ov[2 * g_scheme])
        scheme = (part_t){s + ov[2 * g_scheme], ov[2 * g_scheme + 1] - ov[2 * g_scheme], true};
    if (rc == 1 && ov[2 * g_authority] != PCRE2_UNSET && ov[2 * g_authority + 1] > ov[2 * g_authority])
        authority = (part_t){s + ov[2 * g_authority], ov[2 * g_authority + 1] - ov[2 * g_authority], true};
    if (rc == 1 && ov[2 * g_path] != PCRE2_UNSET) {
        rc = encode_component(s + ov[2 * g_path], ov[2 * g_path + 1] - ov[2 * g_path], &path);
        if (rc != 0)
            goto out;
    }
    rc = authority_host(authority, &host);
    if (rc != 0)
        goto out;

    /* require_presence_of('scheme', 'host') */
    unsigned missing = (host.present ? 0 : HOST) | (scheme.present ? 0 : SCHEME);
    if (missing) {
        rc = fail(why, why ? list_components(why, names, missing, "required but missing") : 0);
        goto out;
    }

    /* check_validity_of('scheme', 'host', 'path'); a captured scheme always
     * passes SCHEME_MATCHER, and an empty path is None, which is valid. */
    unsigned invalid = 0;
    rc = host_is_valid(host);
    if (rc < 0)
        goto out;
    invalid |= rc ? 0 : HOST;
    if (path.len > 0) {
        rc = matches(PATH_MATCHER, path.base, path.len);
        if (rc < 0)
            goto out;
        invalid |= rc ? 0 : PATH;
    }
    if (invalid) {
        rc = fail(why, why ? list_components(why, names, invalid, "found to be invalid") : 0);
        goto out;
    }

    rc = 0;
    if (opt != NULL && opt->schemes != NULL && opt->schemes[0] != NULL) {
        rc = check_scheme_allowed(opt->schemes, scheme, why);
        if (rc != 0)
            goto out;
    }
    if (opt != NULL && opt->max_length > 0 && keel__utf8_length(s, len) > opt->max_length) {
        rc = why ? keel_buf_puts(why, "Value '") : 0;
        if (rc == 0 && why)
            rc = keel_buf_append(why, s, len);
        if (rc == 0 && why)
            rc = keel_buf_printf(why, "' exceeds maximum length %zu", opt->max_length);
        rc = fail(why, rc);
    }
out:
    keel_buf_free(&path);
    return rc;
}
