/*
 * pystr.c — the few pieces of Python's str and float behaviour that decide
 * oslo.config's results: which characters strip() removes, len() in code
 * points, what int()/float() take as a digit, lower() for case-insensitive
 * choices, and repr() of strings and floats (interpolating a list option
 * substitutes "['a', 'b']", so the quoting rules matter).
 *
 * Unicode properties come from pyunicode_tables.h, generated from CPython
 * itself rather than from the Unicode data files: the question is never
 * "what does Unicode say" but "what does the Python under oslo.config do".
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pystr.h"
#include "pyunicode_tables.h"

size_t keel__utf8_decode(const char *s, size_t len, uint32_t *cp)
{
    const unsigned char *p = (const unsigned char *)s;
    if (len == 0)
        return 0;
    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    }
    size_t n;
    uint32_t c, min;
    if ((p[0] & 0xE0) == 0xC0) {
        n = 2, c = p[0] & 0x1F, min = 0x80;
    } else if ((p[0] & 0xF0) == 0xE0) {
        n = 3, c = p[0] & 0x0F, min = 0x800;
    } else if ((p[0] & 0xF8) == 0xF0) {
        n = 4, c = p[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (p[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return n;
}

bool keel__utf8_valid(const char *s, size_t len)
{
    size_t i = 0;
    uint32_t cp;
    while (i < len) {
        size_t n = keel__utf8_decode(s + i, len - i, &cp);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

size_t keel__utf8_length(const char *s, size_t len)
{
    size_t count = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            count++;
    return count;
}

bool keel__py_isspace(uint32_t cp)
{
    /* CPython's _PyUnicode_IsWhitespace: bidirectional types WS, B, S and
     * category Zs. */
    if (cp <= 0x20)
        return (cp >= 0x09 && cp <= 0x0D) || cp >= 0x1C;
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* Length of the whitespace character that ends at s[end), or 0. A UTF-8
 * character is at most 4 bytes, so look back over at most 3 continuation
 * bytes (counted from end, so short strings need no special case). */
static size_t space_before(const char *s, size_t begin, size_t end)
{
    size_t start = end;
    while (start > begin && end - start < 3 && ((unsigned char)s[start - 1] & 0xC0) == 0x80)
        start--;
    if (start > begin)
        start--;
    uint32_t cp;
    size_t n = keel__utf8_decode(s + start, end - start, &cp);
    return (n != 0 && n == end - start && keel__py_isspace(cp)) ? n : 0;
}

void keel__py_lstrip(const char *s, size_t *begin, size_t end)
{
    while (*begin < end) {
        uint32_t cp;
        size_t n = keel__utf8_decode(s + *begin, end - *begin, &cp);
        if (n == 0 || !keel__py_isspace(cp))
            break;
        *begin += n;
    }
}

void keel__py_rstrip(const char *s, size_t begin, size_t *end)
{
    while (*end > begin) {
        size_t n = space_before(s, begin, *end);
        if (n == 0)
            break;
        *end -= n;
    }
}

void keel__py_strip(const char *s, size_t *begin, size_t *end)
{
    keel__py_lstrip(s, begin, *end);
    keel__py_rstrip(s, *begin, end);
}

/* Binary search of closed, sorted, disjoint ranges. */
static bool in_ranges(const struct py_range *r, size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < r[mid].first)
            hi = mid;
        else if (cp > r[mid].last)
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

bool keel__py_isprintable(uint32_t cp)
{
    return !in_ranges(py_nonprintable, COUNT_OF(py_nonprintable), cp);
}

int keel__py_decimal(uint32_t cp)
{
    if (cp >= '0' && cp <= '9')
        return (int)(cp - '0');
    if (cp < 0x660)
        return -1;
    size_t lo = 0, hi = COUNT_OF(py_decimal_zero);
    while (lo < hi) { /* last zero <= cp */
        size_t mid = lo + (hi - lo) / 2;
        if (py_decimal_zero[mid] <= cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || cp - py_decimal_zero[lo - 1] > 9)
        return -1;
    return (int)(cp - py_decimal_zero[lo - 1]);
}

/* Maps cp through a table of runs (sorted, non-overlapping). */
static uint32_t map_runs(const struct py_lower_run *runs, size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < runs[mid].first)
            hi = mid;
        else if (cp > runs[mid].last)
            lo = mid + 1;
        else
            return (cp - runs[mid].first) % runs[mid].stride == 0 ? (uint32_t)((int32_t)cp + runs[mid].delta) : cp;
    }
    return cp;
}

/* lower() of one code point other than U+0130 and U+03A3. */
static uint32_t lower_one(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
    return map_runs(py_lower, COUNT_OF(py_lower), cp);
}

uint32_t keel__py_tolower_simple(uint32_t cp)
{
    return cp == 0x130 ? 'i' : lower_one(cp);
}

static bool is_cased(uint32_t cp)
{
    return in_ranges(py_cased, COUNT_OF(py_cased), cp);
}

static bool is_case_ignorable(uint32_t cp)
{
    return in_ranges(py_case_ignorable, COUNT_OF(py_case_ignorable), cp);
}

/* CPython's handle_capital_sigma: U+03A3 at i lowers to final sigma when a
 * cased letter precedes it and none follows (case-ignorables skipped). */
static bool final_sigma(const char *s, size_t len, size_t i, size_t n)
{
    size_t j = i;
    uint32_t cp = 0;
    bool found = false;
    while (j > 0) {
        size_t start = j - 1;
        while (start > 0 && ((unsigned char)s[start] & 0xC0) == 0x80)
            start--;
        if (keel__utf8_decode(s + start, j - start, &cp) == 0)
            return false;
        j = start;
        if (!is_case_ignorable(cp)) {
            found = true;
            break;
        }
    }
    if (!found || !is_cased(cp))
        return false;
    for (j = i + n; j < len;) {
        size_t m = keel__utf8_decode(s + j, len - j, &cp);
        if (m == 0)
            return false;
        if (!is_case_ignorable(cp))
            return !is_cased(cp);
        j += m;
    }
    return true;
}

int keel__utf8_put(keel_buf_t *b, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp, n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12)), u[1] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18)), u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
    }
    return keel_buf_append(b, u, n);
}

int keel__py_lower(keel_buf_t *b, const char *s, size_t len)
{
    size_t mark = b->len;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < len;) {
        uint32_t cp;
        size_t n = keel__utf8_decode(s + i, len - i, &cp);
        if (n == 0) { /* not reached for validated text; keep the byte */
            rc = keel_buf_append(b, s + i, 1);
            i++;
            continue;
        }
        if (cp == 0x130) /* LATIN CAPITAL I WITH DOT: "i" + COMBINING DOT ABOVE */
            rc = keel_buf_puts(b, "i\xCC\x87");
        else if (cp == 0x3A3)
            rc = keel__utf8_put(b, final_sigma(s, len, i, n) ? 0x3C2 : 0x3C3);
        else
            rc = keel__utf8_put(b, lower_one(cp));
        i += n;
    }
    if (rc != 0) { /* leave the buffer as it was, as other appends do */
        b->len = mark;
        if (b->base)
            b->base[mark] = '\0';
    }
    return rc;
}

int keel__py_upper(keel_buf_t *b, const char *s, size_t len)
{
    size_t mark = b->len;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < len;) {
        uint32_t cp;
        size_t n = keel__utf8_decode(s + i, len - i, &cp);
        if (n == 0) { /* not reached for validated text; keep the byte */
            rc = keel_buf_append(b, s + i, 1);
            i++;
            continue;
        }
        i += n;
        if (cp < 0x80) {
            rc = keel_buf_putc(b, (char)((cp >= 'a' && cp <= 'z') ? cp - 32 : cp));
            continue;
        }
        /* a few letters become two or three (German sharp s is "SS") */
        size_t lo = 0, hi = COUNT_OF(py_upper_multi);
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (py_upper_multi[mid].cp < cp)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < COUNT_OF(py_upper_multi) && py_upper_multi[lo].cp == cp) {
            for (int k = 0; rc == 0 && k < 3 && py_upper_multi[lo].to[k]; k++)
                rc = keel__utf8_put(b, py_upper_multi[lo].to[k]);
            continue;
        }
        rc = keel__utf8_put(b, map_runs(py_upper, COUNT_OF(py_upper), cp));
    }
    if (rc != 0) {
        b->len = mark;
        if (b->base)
            b->base[mark] = '\0';
    }
    return rc;
}

int keel__py_repr_str(keel_buf_t *b, const char *s, size_t len)
{
    bool has_single = memchr(s, '\'', len) != NULL;
    bool has_double = memchr(s, '"', len) != NULL;
    char quote = (has_single && !has_double) ? '"' : '\'';
    int rc = keel_buf_putc(b, quote);
    for (size_t i = 0; rc == 0 && i < len;) {
        uint32_t cp;
        size_t n = keel__utf8_decode(s + i, len - i, &cp);
        if (n == 0) { /* not reached for validated text; keep bytes visible */
            rc = keel_buf_printf(b, "\\x%02x", (unsigned char)s[i]);
            i++;
            continue;
        }
        if (cp == (uint32_t)quote || cp == '\\')
            rc = keel_buf_printf(b, "\\%c", (char)cp);
        else if (cp == '\t')
            rc = keel_buf_puts(b, "\\t");
        else if (cp == '\n')
            rc = keel_buf_puts(b, "\\n");
        else if (cp == '\r')
            rc = keel_buf_puts(b, "\\r");
        else if (keel__py_isprintable(cp))
            rc = keel_buf_append(b, s + i, n);
        else if (cp < 0x100)
            rc = keel_buf_printf(b, "\\x%02x", cp);
        else if (cp < 0x10000)
            rc = keel_buf_printf(b, "\\u%04x", cp);
        else
            rc = keel_buf_printf(b, "\\U%08x", cp);
        i += n;
    }
    return rc ? rc : keel_buf_putc(b, quote);
}

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void make_c_locale(void)
{
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

locale_t keel__c_locale(void)
{
    pthread_once(&c_locale_once, make_c_locale);
    return c_locale;
}

/* The shortest "%.*e" text of f that reads back exactly, formatted and read
 * in the C locale so a program's setlocale() cannot turn '.' into ','. */
static void shortest_e(char *digits, size_t size, double f)
{
    locale_t c = keel__c_locale();
    locale_t old = c ? uselocale(c) : (locale_t)0;
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(digits, size, "%.*e", prec - 1, f);
        if (strtod(digits, NULL) == f)
            break;
    }
    if (c)
        uselocale(old);
}

int keel__py_repr_float(keel_buf_t *b, double f)
{
    if (isnan(f))
        return keel_buf_puts(b, "nan");
    if (isinf(f))
        return keel_buf_puts(b, f < 0 ? "-inf" : "inf");
    /* Python's repr is the shortest digit string that reads back exactly;
     * find it by trying precisions upward, as David Gay's mode 0 yields. */
    char digits[40];
    shortest_e(digits, sizeof(digits), f);
    /* digits is d[.ddd]e±XX; pull mantissa digits and exponent apart. */
    char mant[24];
    size_t m = 0;
    const char *p = digits;
    bool neg = false;
    if (*p == '-') {
        neg = true;
        p++;
    }
    for (; *p && *p != 'e'; p++)
        if (*p != '.')
            mant[m++] = *p;
    mant[m] = '\0';
    int exp = atoi(p + 1);
    while (m > 1 && mant[m - 1] == '0')
        mant[--m] = '\0';
    int rc = neg ? keel_buf_putc(b, '-') : 0;
    if (rc)
        return rc;
    if (exp < -4 || exp >= 16) {
        /* scientific: d[.ddd]e±XX with at least two exponent digits */
        rc = keel_buf_putc(b, mant[0]);
        if (rc == 0 && m > 1)
            rc = keel_buf_printf(b, ".%s", mant + 1);
        return rc ? rc : keel_buf_printf(b, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    }
    if (exp < 0) {
        rc = keel_buf_puts(b, "0.");
        for (int i = 0; rc == 0 && i < -exp - 1; i++)
            rc = keel_buf_putc(b, '0');
        return rc ? rc : keel_buf_puts(b, mant);
    }
    /* 0 <= exp < 16: integer part is mant[0..exp], zero-padded. */
    for (int i = 0; rc == 0 && i <= exp; i++)
        rc = keel_buf_putc(b, (size_t)i < m ? mant[i] : '0');
    if (rc)
        return rc;
    if ((size_t)exp + 1 < m)
        return keel_buf_printf(b, ".%s", mant + exp + 1);
    return keel_buf_puts(b, ".0");
}
