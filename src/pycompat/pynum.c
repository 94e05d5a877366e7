/*
 * pynum.c — Python's int(str) and float(str) over UTF-8 text (see pynum.h).
 *
 * Design choice: follow CPython's own two steps. The mapping to ASCII
 * (_PyUnicode_TransformDecimalAndSpaceToASCII) is one function of a code
 * point; int() applies it as it reads, so it needs no copy of the text,
 * while float() maps into a scratch copy and checks the ASCII grammar of
 * _Py_string_to_number_with_underscores + _Py_dg_strtod there. The numeric
 * value of a float is left to strtod_l() in the C locale on text the
 * grammar has already accepted, since both it and Python's dtoa round
 * correctly.
 */
#include "pynum.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pystr.h"

/* Python's Py_ISSPACE: the ASCII whitespace int() and float() skip. */
static bool ascii_space(int c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static bool ascii_digit(int c)
{
    return c >= '0' && c <= '9';
}

/*
 * One code point through _PyUnicode_TransformDecimalAndSpaceToASCII: below
 * 127 it stays, other whitespace becomes ' ', other decimal digits their
 * ASCII digit, and anything else '?', which no number grammar accepts.
 */
static int ascii_number_char(uint32_t cp)
{
    if (cp < 127)
        return (int)cp;
    if (keel__py_isspace(cp))
        return ' ';
    int d = keel__py_decimal(cp);
    return d >= 0 ? '0' + d : '?';
}

/* ---- int ------------------------------------------------------------------ */

/* The next mapped character of s, advancing *i; 0 at the end of the text
 * (so a NUL in the text is read as '?', which it is as good as). */
static int int_char(const char *s, size_t len, size_t *i)
{
    if (*i >= len)
        return 0;
    uint32_t cp;
    *i += keel__py_next_cp(s + *i, len - *i, &cp);
    int c = ascii_number_char(cp);
    return c == 0 ? '?' : c;
}

void keel__py_parse_int(const char *s, size_t len, keel__py_int_t *out)
{
    memset(out, 0, sizeof(*out));
    size_t i = 0;
    int c = int_char(s, len, &i);
    while (ascii_space(c))
        c = int_char(s, len, &i);
    if (c == '+' || c == '-') {
        out->negative = c == '-';
        c = int_char(s, len, &i);
    }
    if (!ascii_digit(c)) { /* a leading '_' too */
        out->status = KEEL__PY_INT_INVALID;
        return;
    }
    uint64_t v = 0;
    bool big = false;
    int prev = 0;
    while (c == '_' || ascii_digit(c)) {
        if (c == '_') {
            if (prev == '_') {
                out->status = KEEL__PY_INT_INVALID;
                return;
            }
        } else {
            out->digits++;
            if (!big) {
                if (v > (UINT64_MAX - 9) / 10)
                    big = true;
                else
                    v = v * 10 + (uint64_t)(c - '0');
            }
        }
        prev = c;
        c = int_char(s, len, &i);
    }
    if (prev == '_') {
        out->status = KEEL__PY_INT_INVALID;
        return;
    }
    while (ascii_space(c))
        c = int_char(s, len, &i);
    out->trailing_junk = c != 0;
    if (out->digits > 4300) {
        out->status = KEEL__PY_INT_TOO_LONG;
        return;
    }
    if (out->trailing_junk) {
        out->status = KEEL__PY_INT_INVALID;
        return;
    }
    if (big || v > (out->negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX)) {
        out->saturated = true;
        out->value = out->negative ? INT64_MIN : INT64_MAX;
    } else {
        out->value = out->negative ? (int64_t)(0 - v) : (int64_t)v;
    }
    if (out->value == 0)
        out->negative = false;
}

int keel__py_int_error(keel_buf_t *b, const char *s, size_t len, const keel__py_int_t *r)
{
    if (r->status == KEEL__PY_INT_TOO_LONG)
        return keel_buf_printf(b,
                               "Exceeds the limit (4300 digits) for integer string conversion: value has %zu digits; use "
                               "sys.set_int_max_str_digits() to increase the limit",
                               r->digits);
    /* "%.200R": the repr is cut after 200 characters. */
    keel_buf_t rep;
    keel_buf_init(&rep);
    int rc = keel__py_repr_str(&rep, s, len, 0);
    if (rc == 0) {
        size_t i = 0, chars = 0;
        uint32_t cp;
        while (i < rep.len && chars < 200) {
            i += keel__py_next_cp(rep.base + i, rep.len - i, &cp);
            chars++;
        }
        rc = keel_buf_puts(b, "invalid literal for int() with base 10: ");
        if (rc == 0)
            rc = keel_buf_append(b, rep.base, i);
    }
    keel_buf_free(&rep);
    return rc;
}

int keel__py_int(const char *s, size_t len, int64_t *out)
{
    keel__py_int_t r;
    keel__py_parse_int(s, len, &r);
    if (r.status == KEEL__PY_INT_TOO_LONG)
        return r.trailing_junk ? KEEL_EVALUE : KEEL_ERANGE;
    if (r.status != KEEL__PY_INT_OK)
        return KEEL_EVALUE;
    if (r.saturated)
        return KEEL_ERANGE;
    *out = r.value;
    return 0;
}

/* ---- float ---------------------------------------------------------------- */

/*
 * The text mapped to ASCII, ending after the first '?'. out needs len + 1
 * bytes; returns the length written (NUL-terminated).
 */
static size_t to_ascii_number(const char *s, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        i += keel__py_next_cp(s + i, len - i, &cp);
        int c = ascii_number_char(cp);
        out[n++] = (char)c;
        if (c == '?')
            break;
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
