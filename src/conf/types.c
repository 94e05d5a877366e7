/*
 * types.c — option text to typed values, as oslo_config/types.py (9.0)
 * converts it: String, Boolean, Integer, Float, Port, IPAddress, Hostname,
 * HostAddress, URI (in uri.c), List and Dict.
 *
 * Design choice: follow the Python line by line rather than the spirit of
 * each type. oslo.config calls Python builtins — int(), float(),
 * str.strip(), str.lower(), len(), re.search(), socket.inet_pton() — so the
 * accepted language is theirs: int(" ٣_0 ") is 30, "abc\n" is a hostname
 * because '$' matches before a final newline, and a list item that fails
 * is glued to the next comma part and tried again. Each type is one static
 * function named for it; the builtins it leans on live beside it: int() and
 * float() in pynum.c, re in pyre.c, str in pystr.c. Reasons are oslo's
 * ValueError texts, so a keel service fails with the message an operator
 * would search for.
 *
 * Text is (pointer, length) and never read past its length. Items of lists
 * and dicts are substrings of the validated input, so merging parts again
 * needs no copying: "a" + "," + "b" is the input from a's start to b's end.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pycompat/pynum.h"
#include "pycompat/pystr.h"
#include "regex.h"
#include "types.h"
#include "uri.h"

/* Row used when the caller passes none: no constraints at all. */
static const keel_conf_opt_t no_constraints;

/* ------------------------------------------------------------------------
 * Reasons
 */

/* Python's '%g' of a double, in the C locale. */
static int put_g(keel_buf_t *b, double d)
{
    char text[40];
    locale_t c = keel__c_locale();
    locale_t old = c ? uselocale(c) : (locale_t)0;
    snprintf(text, sizeof(text), "%g", d);
    if (c)
        uselocale(old);
    return keel_buf_puts(b, text);
}

/*
 * Appends a reason in oslo.config's words to why (which may be NULL) and
 * returns KEEL_EVALUE, or KEEL_ENOMEM if the reason could not be stored.
 * Conversions take their arguments in order: %s (const char *, size_t)
 * text as is, %r (const char *, size_t) Python's repr() of text, %c (const
 * char *) a C string, %g (double) as Python's '%g', %d (long long).
 */
static int reason(keel_buf_t *why, const char *fmt, ...)
{
    if (why == NULL)
        return KEEL_EVALUE;
    size_t mark = why->len;
    va_list ap;
    va_start(ap, fmt);
    int rc = 0;
    for (const char *f = fmt; rc == 0 && *f; f++) {
        if (*f != '%' || f[1] == '\0') {
            size_t n = strcspn(f + 1, "%") + 1;
            rc = keel_buf_append(why, f, n);
            f += n - 1;
            continue;
        }
        const char *p;
        size_t n;
        switch (*++f) {
        case 's':
            p = va_arg(ap, const char *);
            n = va_arg(ap, size_t);
            rc = keel_buf_append(why, p, n);
            break;
        case 'r':
            p = va_arg(ap, const char *);
            n = va_arg(ap, size_t);
            rc = keel__py_repr_str(why, p, n, KEEL__PY_REPR_HEX_BYTES);
            break;
        case 'c':
            rc = keel_buf_puts(why, va_arg(ap, const char *));
            break;
        case 'g':
            rc = put_g(why, va_arg(ap, double));
            break;
        case 'd':
            rc = keel_buf_printf(why, "%lld", va_arg(ap, long long));
            break;
        default:
            rc = keel_buf_putc(why, *f);
            break;
        }
    }
    va_end(ap);
    if (rc != 0) {
        why->len = mark;
        if (why->base)
            why->base[mark] = '\0';
        return rc;
    }
    return KEEL_EVALUE;
}

/* Truncates why back to mark: the reason of an attempt that was retried. */
static void forget_reason(keel_buf_t *why, size_t mark)
{
    if (why != NULL && why->base != NULL) {
        why->len = mark;
        why->base[mark] = '\0';
    }
}

static int make_str(keel_conf_value_t *out, const char *s, size_t len)
{
    char *copy = keel__strndup(s, len);
    if (copy == NULL)
        return KEEL_ENOMEM;
    *out = (keel_conf_value_t){.kind = KEEL_CONF_VSTR, .len = len, .u.s = copy};
    return 0;
}

/* ------------------------------------------------------------------------
 * Small ASCII helpers (Python's own int() and float() are in pynum.c)
 */

static bool ascii_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* s[0..len) equals word (lowercase ASCII) ignoring ASCII case. */
static bool ascii_ieq(const char *s, size_t len, const char *word)
{
    if (strlen(word) != len)
        return false;
    for (size_t k = 0; k < len; k++) {
        char c = s[k];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c + 32);
        if (c != word[k])
            return false;
    }
    return true;
}

/* Python's str.strip() == '': Number returns None for blank text. */
static bool is_blank(const char *s, size_t len)
{
    size_t b = 0, e = len;
    keel__py_strip(s, &b, &e);
    return b == e;
}

/* Exact int < double and int > double, as Python compares int with float. */
static bool int_lt(int64_t v, double d)
{
    if (isnan(d))
        return false;
    if (d >= 9223372036854775808.0)
        return true;
    if (d <= -9223372036854775808.0)
        return false;
    return v < (int64_t)ceil(d);
}

static bool int_gt(int64_t v, double d)
{
    if (isnan(d))
        return false;
    if (d >= 9223372036854775808.0)
        return false;
    if (d < -9223372036854775808.0)
        return true;
    return v > (int64_t)floor(d);
}

/* ------------------------------------------------------------------------
 * String and Boolean
 */

/*
 * The subject as re.IGNORECASE sees it: Python lowers each subject
 * character (simple mapping) before comparing, so U+0130 matches [a-z],
 * and it adds 'i' ~ U+0131 to Unicode's case equivalences; PCRE2's case
 * folding alone has neither. Lowering first (U+0131 to 'i' too), then
 * matching caselessly, gives Python's answer for every pattern that does
 * not itself spell U+0130 or U+0131.
 */
static int lower_subject(const char *s, size_t len, keel_buf_t *out)
{
    int rc = keel_buf_reserve(out, len);
    for (size_t i = 0; rc == 0 && i < len;) {
        uint32_t cp;
        size_t k = keel__utf8_decode(s + i, len - i, &cp);
        if (k == 0)
            return KEEL_EVALUE; /* validated by the caller; never reached */
        rc = keel__utf8_put(out, cp == 0x131 ? 'i' : keel__py_tolower_simple(cp));
        i += k;
    }
    return rc;
}

/* re.search(opt->regex, value), compiled with re.IGNORECASE if asked. */
static int string_regex(const keel_conf_opt_t *opt, const char *s, size_t len, keel_buf_t *why)
{
    pcre2_code *re;
    size_t mark = why ? why->len : 0;
    bool fold = (opt->flags & KEEL_CONF_IGNORE_CASE) != 0;
    size_t plen = strlen(opt->regex);
    int rc = keel__conf_re_compile(opt->regex, plen, fold ? KEEL__CONF_RE_IGNORECASE : 0, &re, why);
    if (rc == KEEL_EINVAL) { /* oslo would have failed building the type */
        forget_reason(why, mark);
        return reason(why, "invalid regex %r", opt->regex, plen);
    }
    if (rc != 0)
        return rc;
    keel_buf_t lowered;
    keel_buf_init(&lowered);
    if (fold && (rc = lower_subject(s, len, &lowered)) == 0)
        rc = keel__conf_re_match(re, lowered.base, lowered.len, false, NULL, 0);
    else if (!fold)
        rc = keel__conf_re_match(re, s, len, false, NULL, 0);
    keel_buf_free(&lowered);
    pcre2_code_free(re);
    if (rc == 0)
        return reason(why, "Value %r doesn't match regex %r", s, len, opt->regex, plen);
    return rc < 0 ? rc : 0;
}

/* value in choices, or value.lower() in [c.lower() for c in choices]. */
static int string_choices(const keel_conf_opt_t *opt, const char *s, size_t len, keel_buf_t *why)
{
    bool fold = (opt->flags & KEEL_CONF_IGNORE_CASE) != 0;
    keel_buf_t lv, lc;
    keel_buf_init(&lv);
    keel_buf_init(&lc);
    int rc = fold ? keel__py_lower(&lv, s, len) : 0;
    bool found = false;
    for (const char *const *c = opt->choices; rc == 0 && !found && *c; c++) {
        if (!fold) {
            found = strlen(*c) == len && memcmp(*c, s, len) == 0;
            continue;
        }
        keel_buf_reset(&lc);
        rc = keel__py_lower(&lc, *c, strlen(*c));
        found = rc == 0 && lc.len == lv.len && (lv.len == 0 || memcmp(lc.base, lv.base, lv.len) == 0);
    }
    keel_buf_free(&lv);
    keel_buf_free(&lc);
    if (rc != 0 || found)
        return rc;
    if (why == NULL)
        return KEEL_EVALUE;
    /* 'Valid values are [%s], but found %s' % (', '.join(choices), repr(value)) */
    size_t mark = why->len;
    rc = keel_buf_puts(why, "Valid values are [");
    for (const char *const *c = opt->choices; rc == 0 && *c; c++)
        rc = keel_buf_printf(why, "%s%s", c == opt->choices ? "" : ", ", *c);
    rc = rc ? rc : reason(why, "], but found %r", s, len);
    if (rc == KEEL_ENOMEM)
        forget_reason(why, mark);
    return rc;
}

/* types.String */
static int convert_string(const keel_conf_opt_t *opt, const char *s, size_t len, keel_conf_value_t *out, keel_buf_t *why)
{
    if ((opt->flags & KEEL_CONF_QUOTES) && len > 0 && (s[0] == '"' || s[0] == '\'')) {
        if (len == 1 || s[len - 1] != s[0])
            return reason(why, "Non-closed quote: %s", s, len);
        s++;
        len -= 2;
    }
    if (opt->max_length > 0 && keel__utf8_length(s, len) > opt->max_length)
        return reason(why, "Value '%s' exceeds maximum length %d", s, len, (long long)opt->max_length);
    int rc;
    if (opt->regex != NULL) {
        if (opt->regex[0] != '\0' && opt->choices != NULL && opt->choices[0] != NULL)
            return reason(why, "'choices' and 'regex' cannot both be specified");
        if ((rc = string_regex(opt, s, len, why)) != 0)
            return rc;
    }
    /* A choices array that is empty ({NULL}) rejects everything, as an
     * empty choices list does in oslo.config. */
    if (opt->choices != NULL && (rc = string_choices(opt, s, len, why)) != 0)
        return rc;
    return make_str(out, s, len);
}

/* types.Boolean: value.lower() in TRUE_VALUES / FALSE_VALUES. No
 * non-ASCII character lowers to a letter of those words. */
static int convert_bool(const keel_conf_opt_t *opt, const char *s, size_t len, keel_conf_value_t *out, keel_buf_t *why)
{
    static const char *const words[] = {"true", "1", "on", "yes", "false", "0", "off", "no"};
    for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
        if (ascii_ieq(s, len, words[w])) {
            *out = (keel_conf_value_t){.kind = KEEL_CONF_VBOOL, .u.b = w < 4};
            return 0;
        }
    }
    return reason(why, "Unexpected boolean value %r", s, len);
}

/* ------------------------------------------------------------------------
 * Integer, Port, Float
 */

/*
 * Number.__call__ with choices: 'Valid values are %r, but found %g' with
 * the choices' OrderedDict repr. Choices are decimal strings in the row;
 * one that is no integer can match nothing and is left out.
 */
static int int_choices(const keel_conf_opt_t *opt, int64_t v, keel_buf_t *why)
{
    size_t n = 0;
    for (const char *const *c = opt->choices; *c; c++)
        n++;
    int64_t *vals = keel__calloc(n ? n : 1, sizeof(*vals));
    if (vals == NULL)
        return KEEL_ENOMEM;
    size_t m = 0;
    int rc = 0;
    bool found = false;
    for (const char *const *c = opt->choices; rc == 0 && *c; c++) {
        int64_t x;
        rc = keel__py_int(*c, strlen(*c), &x);
        if (rc == KEEL_EVALUE || rc == KEEL_ERANGE) {
            rc = 0;
            continue;
        }
        if (rc != 0)
            break;
        found = found || x == v;
        bool dup = false;
        for (size_t k = 0; k < m; k++)
            dup = dup || vals[k] == x;
        if (!dup)
            vals[m++] = x;
    }
    if (rc == 0 && !found && why == NULL)
        rc = KEEL_EVALUE;
    if (rc == 0 && !found) {
        size_t mark = why->len;
        rc = keel_buf_puts(why, m ? "Valid values are OrderedDict([" : "Valid values are OrderedDict(");
        for (size_t k = 0; rc == 0 && k < m; k++)
            rc = keel_buf_printf(why, "%s(%" PRId64 ", None)", k ? ", " : "", vals[k]);
        rc = rc ? rc : reason(why, m ? "]), but found %g" : "), but found %g", (double)v);
        if (rc == KEEL_ENOMEM)
            forget_reason(why, mark);
    }
    keel__free(vals);
    return rc;
}

/*
 * types.Integer and types.Port (which is Integer with min 0 and max 65535
 * unless the row says otherwise). Blank text is None; with choices only
 * membership counts, as in Number.__call__.
 */
static int convert_integer(const keel_conf_opt_t *opt, bool port, const char *s, size_t len, keel_conf_value_t *out,
                           keel_buf_t *why)
{
    if (is_blank(s, len))
        return 0; /* VNONE */
    int64_t v;
    int rc = keel__py_int(s, len, &v);
    if (rc == KEEL_EVALUE)
        return reason(why, "invalid literal for int() with base 10: %r", s, len);
    if (rc == KEEL_ERANGE)
        return reason(why, "Integer value %s is out of range (keel integers are 64-bit)", s, len);
    if (rc != 0)
        return rc;
    if (opt->choices != NULL) {
        if ((rc = int_choices(opt, v, why)) != 0)
            return rc;
    } else {
        bool has_min = (opt->flags & KEEL_CONF_HAS_MIN) || port;
        bool has_max = (opt->flags & KEEL_CONF_HAS_MAX) || port;
        double min = (opt->flags & KEEL_CONF_HAS_MIN) ? opt->min : 0;
        double max = (opt->flags & KEEL_CONF_HAS_MAX) ? opt->max : 65535;
        if (has_min && int_lt(v, min))
            return reason(why, "Should be greater than or equal to %g", min);
        if (has_max && int_gt(v, max))
            return reason(why, "Should be less than or equal to %g", max);
    }
    *out = (keel_conf_value_t){.kind = KEEL_CONF_VINT, .u.i = v};
    return 0;
}

/* types.Float: blank is None; NaN passes min and max, as in Python. */
static int convert_float(const keel_conf_opt_t *opt, const char *s, size_t len, keel_conf_value_t *out, keel_buf_t *why)
{
    if (is_blank(s, len))
        return 0; /* VNONE */
    double v;
    int rc = keel__py_float(s, len, &v);
    if (rc == KEEL_EVALUE)
        return reason(why, "could not convert string to float: %r", s, len);
    if (rc != 0)
        return rc;
    if ((opt->flags & KEEL_CONF_HAS_MIN) && v < opt->min)
        return reason(why, "Should be greater than or equal to %g", opt->min);
    if ((opt->flags & KEEL_CONF_HAS_MAX) && v > opt->max)
        return reason(why, "Should be less than or equal to %g", opt->max);
    *out = (keel_conf_value_t){.kind = KEEL_CONF_VFLOAT, .u.f = v};
    return 0;
}

/* ------------------------------------------------------------------------
 * IPAddress, Hostname, HostAddress
 */

/* glibc's inet_pton(AF_INET): exactly four dotted decimal bytes, no
 * leading zeros (netaddr.valid_ipv4 with INET_PTON calls it). */
static bool inet_pton4(const char *s, size_t len)
{
    int octets = 0;
    bool saw_digit = false;
    unsigned cur = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (ascii_digit(c)) {
            if (saw_digit && cur == 0)
                return false;
            cur = cur * 10 + (unsigned)(c - '0');
            if (cur > 255)
                return false;
            if (!saw_digit) {
                if (++octets > 4)
                    return false;
                saw_digit = true;
            }
        } else if (c == '.' && saw_digit) {
            if (octets == 4)
                return false;
            cur = 0;
            saw_digit = false;
        } else {
            return false;
        }
    }
    return octets == 4;
}

static int hex_value(char c)
{
    if (ascii_digit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* glibc's inet_pton(AF_INET6): up to eight groups of 1-4 hex digits, one
 * "::" standing for at least one zero group, an optional dotted IPv4 tail,
 * no zone. */
static bool inet_pton6(const char *s, size_t len)
{
    size_t i = 0, bytes = 0, xdigits = 0, tok = 0;
    bool colonp = false;
    unsigned val = 0;
    if (len == 0)
        return false;
    if (s[0] == ':' && (len < 2 || s[1] != ':'))
        return false;
    if (s[0] == ':')
        i = 1;
    tok = i;
    while (i < len) {
        char c = s[i++];
        int d = hex_value(c);
        if (d >= 0) {
            if (xdigits == 4)
                return false;
            val = (val << 4) | (unsigned)d;
            xdigits++;
            continue;
        }
        if (c == ':') {
            tok = i;
            if (xdigits == 0) {
                if (colonp)
                    return false;
                colonp = true;
                continue;
            }
            if (i == len || bytes + 2 > 16)
                return false;
            bytes += 2;
            xdigits = 0;
            val = 0;
            continue;
        }
        if (c == '.' && bytes + 4 <= 16 && inet_pton4(s + tok, len - tok)) {
            bytes += 4;
            xdigits = 0;
            i = len;
            break;
        }
        return false;
    }
    if (xdigits > 0) {
        if (bytes + 2 > 16)
            return false;
        bytes += 2;
    }
    if (colonp)
        return bytes < 16; /* "::" must stand for at least one group */
    return bytes == 16;
}

/* IPAddress(version)(value); 0 or KEEL_EVALUE with oslo's reason. */
static int check_ip(const keel_conf_opt_t *opt, const char *s, size_t len, keel_buf_t *why)
{
    if (opt->ip_version != 0 && opt->ip_version != 4 && opt->ip_version != 6)
        return reason(why, "%d is not a valid IP version.", (long long)opt->ip_version);
    if (len == 0)
        return reason(why, "IP address cannot be an empty string");
    if (opt->ip_version == 4)
        return inet_pton4(s, len) ? 0 : reason(why, "%s is not an IPv4 address", s, len);
    if (opt->ip_version == 6)
        return inet_pton6(s, len) ? 0 : reason(why, "%s is not an IPv6 address", s, len);
    if (inet_pton4(s, len) || inet_pton6(s, len))
        return 0;
    return reason(why, "%s is not IPv4 or IPv6 address", s, len);
}

/* types.IPAddress: the value is the text unchanged. */
static int convert_ip(const keel_conf_opt_t *opt, const char *s, size_t len, keel_conf_value_t *out, keel_buf_t *why)
{
    int rc = check_ip(opt, s, len, why);
    return rc ? rc : make_str(out, s, len);
}

/*
 * Hostname.HOSTNAME_REGEX, '(?!-)[A-Z0-9-]{1,63}(?<!-)$' under
 * re.IGNORECASE, matched against one label. Python's case folding lets four
 * non-ASCII letters into [A-Z] (U+0130, U+0131, U+017F, U+212A), and '$'
 * also matches before a final "\n", which the label may therefore end with.
 */
static bool hostname_char(uint32_t cp)
{
    if (cp < 128)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') || cp == '-';
    return cp == 0x130 || cp == 0x131 || cp == 0x17F || cp == 0x212A;
}

static bool hostname_label(const char *s, size_t len)
{
    if (len > 0 && s[len - 1] == '\n')
        len--;
    if (len == 0 || s[0] == '-' || s[len - 1] == '-')
        return false;
    size_t count = 0;
    for (size_t i = 0; i < len; count++) {
        uint32_t cp;
        size_t k = keel__utf8_decode(s + i, len - i, &cp);
        if (k == 0 || !hostname_char(cp) || count == 63)
            return false;
        i += k;
    }
    return true;
}

/* Hostname()(value) without the result: 0 and *len_out = the length of
 * the value it returns (a trailing dot dropped), or KEEL_EVALUE. */
static int check_hostname(const char *s, size_t len, size_t *len_out, keel_buf_t *why)
{
    size_t chars = keel__utf8_length(s, len);
    if (chars == 0)
        return reason(why, "Cannot have an empty hostname");
    if (chars > 253)
        return reason(why, "hostname is greater than 253 characters: %s", s, len);
    if (s[len - 1] == '.')
        len--;
    /* re.search('[a-zA-Z-]', value.split(".")[-1]) */
    size_t tld = len;
    while (tld > 0 && s[tld - 1] != '.')
        tld--;
    bool alpha = false;
    for (size_t i = tld; i < len && !alpha; i++)
        alpha = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '-';
    if (!alpha)
        return reason(why,
                      "%s contains no non-numeric characters in the top-level domain part of the host name and is "
                      "invalid",
                      s, len);
    for (size_t b = 0;;) {
        const char *dot = memchr(s + b, '.', len - b);
        size_t e = dot ? (size_t)(dot - s) : len;
        if (!hostname_label(s + b, e - b))
            return reason(why, "%s is an invalid hostname", s, len);
        if (dot == NULL)
            break;
        b = e + 1;
    }
    *len_out = len;
    return 0;
}

/* types.Hostname */
static int convert_hostname(const keel_conf_opt_t *opt, const char *s, size_t len, keel_conf_value_t *out, keel_buf_t *why)
{
    size_t n;
    int rc = check_hostname(s, len, &n, why);
    return rc ? rc : make_str(out, s, n);
}

/* types.HostAddress: an IP address of the row's version, else a hostname. */
static int convert_host(const keel_conf_opt_t *opt, const char *s, size_t len, keel_conf_value_t *out, keel_buf_t *why)
{
    size_t n = len;
    if (opt->ip_version != 0 && opt->ip_version != 4 && opt->ip_version != 6)
        return check_ip(opt, s, len, why);
    if (check_ip(opt, s, len, NULL) != 0 && check_hostname(s, len, &n, NULL) != 0)
        return reason(why, "%s is not a valid host address", s, len);
    return make_str(out, s, n);
}

/* types.URI: the text itself, once rfc3986 and the row accept it. */
static int convert_uri(const keel_conf_opt_t *opt, const char *s, size_t len, keel_conf_value_t *out, keel_buf_t *why)
{
    int rc = keel__conf_check_uri(opt, s, len, why);
    return rc ? rc : make_str(out, s, len);
}

/* One value of a scalar type (the item types of List and Dict). */
static int convert_scalar(const keel_conf_opt_t *opt, keel_conf_type_t type, const char *s, size_t len, keel_conf_value_t *out,
                          keel_buf_t *why)
{
    switch (type) {
    case KEEL_CONF_STRING:
        return convert_string(opt, s, len, out, why);
    case KEEL_CONF_BOOL:
        return convert_bool(opt, s, len, out, why);
    case KEEL_CONF_INT:
        return convert_integer(opt, false, s, len, out, why);
    case KEEL_CONF_PORT:
        return convert_integer(opt, true, s, len, out, why);
    case KEEL_CONF_FLOAT:
        return convert_float(opt, s, len, out, why);
    case KEEL_CONF_IP:
        return convert_ip(opt, s, len, out, why);
    case KEEL_CONF_HOSTNAME:
        return convert_hostname(opt, s, len, out, why);
    case KEEL_CONF_HOST:
        return convert_host(opt, s, len, out, why);
    case KEEL_CONF_URI:
        return convert_uri(opt, s, len, out, why);
    default:
        return reason(why, "item_type must be a scalar type, not %c", keel_conf_type_name(type));
    }
}

/* ------------------------------------------------------------------------
 * List and Dict
 */

/* The items a list or dict is being built from; moved into the value at the end. */
typedef struct {
    keel_conf_value_t *items;
    size_t len, cap;
} items_t;

/* Moves *item to the end of v; takes it even on error (then frees it). */
static int items_push(items_t *v, keel_conf_value_t *item)
{
    if (v->len == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 8;
        keel_conf_value_t *p = keel__realloc(v->items, cap * sizeof(*p));
        if (p == NULL) {
            keel__conf_value_clear(item);
            return KEEL_ENOMEM;
        }
        v->items = p;
        v->cap = cap;
    }
    v->items[v->len++] = *item;
    *item = (keel_conf_value_t){.kind = KEEL_CONF_VNONE};
    return 0;
}

static void items_free(items_t *v)
{
    for (size_t i = 0; i < v->len; i++)
        keel__conf_value_clear(&v->items[i]);
    keel__free(v->items);
    *v = (items_t){0};
}

/* Hands the items to out as a list (n = len) or dict (n = len / 2). */
static void items_finish(items_t *v, keel_conf_vkind_t kind, keel_conf_value_t *out)
{
    *out = (keel_conf_value_t){.kind = kind, .len = kind == KEEL_CONF_VDICT ? v->len / 2 : v->len, .u.items = v->items};
    *v = (items_t){0};
}

/* The end of the comma part starting at pos, within [pos, e]. */
static size_t part_end(const char *s, size_t pos, size_t e)
{
    const char *comma = memchr(s + pos, ',', e - pos);
    return comma ? (size_t)(comma - s) : e;
}

/*
 * Strips, then checks and removes the bounds of a List ("[", "]") or
 * Dict ("{", "}") when the row asks for them. Narrows [*b, *e).
 */
static int strip_bounds(const keel_conf_opt_t *opt, const char *s, size_t *b, size_t *e, char open, char close, keel_buf_t *why)
{
    if (!(opt->flags & KEEL_CONF_BOUNDS))
        return 0;
    if (*b == *e || s[*b] != open)
        return reason(why, open == '[' ? "Value should start with \"[\"" : "Value should start with \"{\"");
    if (s[*e - 1] != close)
        return reason(why, open == '[' ? "Value should end with \"]\"" : "Value should end with \"}\"");
    (*b)++;
    (*e)--;
    return 0;
}

/*
 * types.List: strip, drop trailing commas, bounds, split on ','. An item
 * that fails is retried with the next part appended (with its comma) until
 * it converts or no part is left; the reason reported is the last one.
 */
static int convert_list(const keel_conf_opt_t *opt, const char *s, size_t len, keel_conf_value_t *out, keel_buf_t *why)
{
    size_t b = 0, e = len;
    keel__py_strip(s, &b, &e);
    while (e > b && s[e - 1] == ',')
        e--;
    int rc = strip_bounds(opt, s, &b, &e, '[', ']', why);
    if (rc != 0)
        return rc;
    items_t items = {0};
    size_t mark = why ? why->len : 0;
    for (size_t pos = b; rc == 0 && b < e;) {
        size_t end = part_end(s, pos, e);
        keel_conf_value_t item = {.kind = KEEL_CONF_VNONE};
        for (;;) {
            size_t ib = pos, ie = end;
            keel__py_strip(s, &ib, &ie);
            rc = convert_scalar(opt, opt->item_type, s + ib, ie - ib, &item, why);
            if (rc != KEEL_EVALUE || end == e)
                break;
            forget_reason(why, mark);
            end = part_end(s, end + 1, e);
        }
        if (rc == 0)
            rc = items_push(&items, &item);
        if (rc != 0 || end == e)
            break;
        pos = end + 1;
    }
    if (rc != 0) {
        items_free(&items);
        return rc;
    }
    items_finish(&items, KEEL_CONF_VLIST, out);
    return 0;
}

/* One "key:value" attempt of Dict.__call__; the key is [*kb, *ke). */
static int dict_pair(const keel_conf_opt_t *opt, const char *s, size_t pos, size_t end, size_t *kb, size_t *ke,
                     keel_conf_value_t *value, keel_buf_t *why)
{
    const char *colon = memchr(s + pos, ':', end - pos);
    if (colon == NULL)
        return reason(why, "Value should be NAME:VALUE pairs separated by \",\"");
    size_t c = (size_t)(colon - s), vb = c + 1, ve = end;
    *kb = pos;
    *ke = c;
    keel__py_strip(s, kb, ke);
    keel__py_strip(s, &vb, &ve);
    return convert_scalar(opt, opt->item_type, s + vb, ve - vb, value, why);
}

/* Whether key [kb, ke) is already among the dict's keys. */
static bool dict_has(const items_t *items, const char *key, size_t len)
{
    for (size_t i = 0; i < items->len; i += 2)
        if (items->items[i].len == len && memcmp(items->items[i].u.s, key, len) == 0)
            return true;
    return false;
}

/*
 * types.Dict: strip, bounds, split on ','; each part is "key:value" with
 * the value of the row's item type; a failing part is glued to the next as
 * in List. Empty and repeated keys are errors.
 */
static int convert_dict(const keel_conf_opt_t *opt, const char *s, size_t len, keel_conf_value_t *out, keel_buf_t *why)
{
    size_t b = 0, e = len;
    keel__py_strip(s, &b, &e);
    int rc = strip_bounds(opt, s, &b, &e, '{', '}', why);
    if (rc != 0)
        return rc;
    items_t items = {0};
    size_t mark = why ? why->len : 0;
    for (size_t pos = b; rc == 0 && b < e;) {
        size_t end = part_end(s, pos, e), kb, ke;
        keel_conf_value_t key = {.kind = KEEL_CONF_VNONE}, value = {.kind = KEEL_CONF_VNONE};
        for (;;) {
            rc = dict_pair(opt, s, pos, end, &kb, &ke, &value, why);
            if (rc != KEEL_EVALUE || end == e)
                break;
            forget_reason(why, mark);
            end = part_end(s, end + 1, e);
        }
        if (rc == 0 && kb == ke)
            rc = reason(why, "Key name should not be empty");
        if (rc == 0 && dict_has(&items, s + kb, ke - kb))
            rc = reason(why, "Duplicate key %s", s + kb, ke - kb);
        if (rc == 0)
            rc = make_str(&key, s + kb, ke - kb);
        if (rc == 0)
            rc = items_push(&items, &key);
        if (rc == 0)
            rc = items_push(&items, &value);
        keel__conf_value_clear(&key);
        keel__conf_value_clear(&value);
        if (rc != 0 || end == e)
            break;
        pos = end + 1;
    }
    if (rc != 0) {
        items_free(&items);
        return rc;
    }
    items_finish(&items, KEEL_CONF_VDICT, out);
    return 0;
}

int keel__conf_convert(const keel_conf_opt_t *opt, keel_conf_type_t type, const char *text, size_t len, keel_conf_value_t *out,
                       keel_buf_t *why)
{
    *out = (keel_conf_value_t){.kind = KEEL_CONF_VNONE};
    if (opt == NULL)
        opt = &no_constraints;
    if (text == NULL) {
        if (len != 0)
            return KEEL_EINVAL;
        text = "";
    }
    if (!keel__utf8_valid(text, len))
        return reason(why, "Value is not valid UTF-8");
    switch (type) {
    case KEEL_CONF_LIST:
        return convert_list(opt, text, len, out, why);
    case KEEL_CONF_DICT:
        return convert_dict(opt, text, len, out, why);
    case KEEL_CONF_MULTI:
        return KEEL_EINVAL; /* the caller converts each item (types.h) */
    default:
        if ((unsigned)type >= KEEL_CONF_TYPE_COUNT_)
            return KEEL_EINVAL;
        return convert_scalar(opt, type, text, len, out, why);
    }
}
