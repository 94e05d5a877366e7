/*
 * pynum.c — Python's int(str) and float(str), which oslo.config's Integer,
 * Port and Float call, over UTF-8 text.
 *
 * Design choice: follow CPython's own two steps. First
 * _PyUnicode_TransformDecimalAndSpaceToASCII maps the text to ASCII
 * (Unicode digits to '0'..'9', Unicode spaces to ' ', anything else ends
 * it), then the ASCII grammar of PyLong_FromString or of
 * _Py_string_to_number_with_underscores + _Py_dg_strtod decides. The
 * numeric value of a float is left to strtod_l() in the C locale on text
 * the grammar has already accepted, since both it and Python's dtoa round
 * correctly.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pynum.h"
#include "pystr.h"

/* Python's Py_ISSPACE: the ASCII whitespace int() and float() skip. */
static bool ascii_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static bool ascii_digit(char c)
{
    return c >= '0' && c <= '9';
}

/*
 * CPython's _PyUnicode_TransformDecimalAndSpaceToASCII, the first step of
 * int(str) and float(str): code points below 127 stay, other whitespace
 * becomes ' ', other decimal digits (category Nd) become ASCII digits, and
 * anything else ends the text with '?', which no grammar accepts. out needs
 * len + 1 bytes; returns the length written (NUL-terminated).
 */
static size_t to_ascii_number(const char *s, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = keel__utf8_decode(s + i, len - i, &cp);
        if (k == 0) {
            out[n++] = '?';
            break;
        }
        i += k;
        if (cp < 127) {
            out[n++] = (char)cp;
        } else if (keel__py_isspace(cp)) {
            out[n++] = ' ';
        } else {
            int d = keel__py_decimal(cp);
            if (d < 0) {
                out[n++] = '?';
                break;
            }
            out[n++] = (char)('0' + d);
        }
    }
    out[n] = '\0';
    return n;
}

/*
 * A scratch copy for number text: on the stack when short. Numbers in
 * config files are short; a long one costs one allocation.
 */
typedef struct {
    char small[72];
    char *p;
} scratch_t;

static char *scratch_get(scratch_t *sc, size_t len)
{
    sc->p = len < sizeof(sc->small) ? sc->small : keel__malloc(len + 1);
    return sc->p;
}

static void scratch_put(scratch_t *sc)
{
    if (sc->p != sc->small)
        keel__free(sc->p);
}

/*
 * PyLong_FromString(base=10) on transformed text: whitespace, a sign,
 * digits with single underscores between them, whitespace. Returns 0,
 * KEEL_EVALUE (not an integer) or KEEL_ERANGE (an integer beyond int64,
 * which Python would accept as a bignum).
 */
static int parse_int_ascii(const char *p, size_t n, int64_t *out)
{
    size_t i = 0;
    while (i < n && ascii_space(p[i]))
        i++;
    bool neg = false;
    if (i < n && (p[i] == '+' || p[i] == '-'))
        neg = p[i++] == '-';
    uint64_t mag = 0;
    bool over = false;
    size_t digits = 0;
    char prev = '_'; /* a leading underscore is an error too */
    for (; i < n && (ascii_digit(p[i]) || p[i] == '_'); prev = p[i++]) {
        if (p[i] == '_') {
            if (prev == '_')
                return KEEL_EVALUE;
            continue;
        }
        unsigned d = (unsigned)(p[i] - '0');
        digits++;
        if (mag > (UINT64_MAX - d) / 10)
            over = true;
        else
            mag = mag * 10 + d;
    }
    if (digits == 0 || prev == '_')
        return KEEL_EVALUE;
    while (i < n && ascii_space(p[i]))
        i++;
    if (i != n)
        return KEEL_EVALUE;
    if (over || mag > (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX))
        return KEEL_ERANGE;
    *out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    return 0;
}

int keel__py_int(const char *s, size_t len, int64_t *out)
{
    scratch_t sc;
    char *buf = scratch_get(&sc, len);
    if (buf == NULL)
        return KEEL_ENOMEM;
    size_t n = to_ascii_number(s, len, buf);
    int rc = parse_int_ascii(buf, n, out);
    scratch_put(&sc);
    return rc;
}

/* Case-insensitive ASCII prefix test within [i, n). */
static bool has_word(const char *p, size_t i, size_t n, const char *word)
{
    size_t w = strlen(word);
    if (n - i < w)
        return false;
    for (size_t k = 0; k < w; k++) {
        char c = p[i + k];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c + 32);
        if (c != word[k])
            return false;
    }
    return true;
}

/*
 * float() on transformed text, NUL-terminated in a writable buffer:
 * _Py_string_to_number_with_underscores (underscores only between digits,
 * checked over the whole text, then removed), whitespace stripped, then
 * the grammar of _Py_dg_strtod or _Py_parse_inf_or_nan, all of it.
 */
static int parse_float_ascii(char *p, size_t n, double *out)
{
    if (memchr(p, '_', n) != NULL) {
        size_t w = 0;
        char prev = '\0';
        for (size_t i = 0; i < n; prev = p[i++]) {
            if (p[i] == '_') {
                if (!ascii_digit(prev))
                    return KEEL_EVALUE;
                continue;
            }
            if (prev == '_' && !ascii_digit(p[i]))
                return KEEL_EVALUE;
            p[w++] = p[i];
        }
        if (prev == '_')
            return KEEL_EVALUE;
        n = w;
        p[n] = '\0';
    }
    size_t b = 0, e = n;
    while (b < e && ascii_space(p[b]))
        b++;
    while (e > b && ascii_space(p[e - 1]))
        e--;
    size_t i = b;
    bool neg = false;
    if (i < e && (p[i] == '+' || p[i] == '-'))
        neg = p[i++] == '-';
    size_t before = 0, after = 0;
    while (i < e && ascii_digit(p[i]))
        i++, before++;
    if (i < e && p[i] == '.') {
        i++;
        while (i < e && ascii_digit(p[i]))
            i++, after++;
    }
    if (before + after == 0) {
        /* Not a number: perhaps inf, infinity or nan, in any case. */
        i = b + (p[b] == '+' || p[b] == '-');
        if (has_word(p, i, e, "inf")) {
            i += 3;
            if (has_word(p, i, e, "inity"))
                i += 5;
            if (i != e)
                return KEEL_EVALUE;
            *out = neg ? -HUGE_VAL : HUGE_VAL;
            return 0;
        }
        if (has_word(p, i, e, "nan") && i + 3 == e) {
            *out = neg ? -NAN : NAN;
            return 0;
        }
        return KEEL_EVALUE;
    }
    if (i < e && (p[i] == 'e' || p[i] == 'E')) {
        /* An exponent counts only with digits; "1e" stops before 'e'. */
        size_t j = i + 1;
        if (j < e && (p[j] == '+' || p[j] == '-'))
            j++;
        if (j < e && ascii_digit(p[j])) {
            while (j < e && ascii_digit(p[j]))
                j++;
            i = j;
        }
    }
    if (i != e)
        return KEEL_EVALUE;
    locale_t c = keel__c_locale();
    if (c == (locale_t)0)
        return KEEL_ENOMEM;
    p[e] = '\0'; /* the text is now exactly the grammar above */
    *out = strtod_l(p + b, NULL, c);
    return 0;
}

int keel__py_float(const char *s, size_t len, double *out)
{
    scratch_t sc;
    char *buf = scratch_get(&sc, len);
    if (buf == NULL)
        return KEEL_ENOMEM;
    size_t n = to_ascii_number(s, len, buf);
    int rc = parse_float_ascii(buf, n, out);
    scratch_put(&sc);
    return rc;
}
