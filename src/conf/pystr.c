/*
 * pystr.c — the few pieces of Python's str and float behaviour that decide
 * oslo.config's results: which characters strip() removes, len() in code
 * points, and repr() of strings and floats (interpolating a list option
 * substitutes "['a', 'b']", so the quoting rules matter).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pystr.h"

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
    switch (cp) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D:
    case 0x1C: case 0x1D: case 0x1E: case 0x1F: case 0x20:
    case 0x85: case 0xA0: case 0x1680:
    case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
        return true;
    default:
        return cp >= 0x2000 && cp <= 0x200A;
    }
}

/* Length of the whitespace character that ends at s[end), or 0. */
static size_t space_before(const char *s, size_t begin, size_t end)
{
    size_t start = end;
    while (start > begin && start > end - 4 && ((unsigned char)s[start - 1] & 0xC0) == 0x80)
        start--;
    if (start > begin)
        start--;
    uint32_t cp;
    size_t n = keel__utf8_decode(s + start, end - start, &cp);
    return (n == end - start && keel__py_isspace(cp)) ? n : 0;
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

/* CPython's Py_UNICODE_ISPRINTABLE, approximated for what config text holds:
 * controls, separators other than space, surrogates and unassigned private
 * planes are escaped. */
static bool py_isprintable(uint32_t cp)
{
    if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0))
        return false;
    if (cp == 0xAD) /* soft hyphen: category Cf */
        return false;
    if (cp == 0x2028 || cp == 0x2029 || (cp >= 0x2000 && cp <= 0x200F) || (cp >= 0x202A && cp <= 0x202F) ||
        (cp >= 0x205F && cp <= 0x206F) || cp == 0x3000 || cp == 0x1680 || cp == 0xFEFF || cp == 0x180E)
        return false;
    if (cp == 0x85 || cp == 0xA0)
        return false;
    if (cp >= 0xE000 && cp <= 0xF8FF)
        return false;
    if (cp >= 0xFFF0 && cp <= 0xFFFF && cp != 0xFFFC && cp != 0xFFFD)
        return false;
    if (cp >= 0xF0000)
        return false;
    return true;
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
        else if (py_isprintable(cp))
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

int keel__py_repr_float(keel_buf_t *b, double f)
{
    if (isnan(f))
        return keel_buf_puts(b, "nan");
    if (isinf(f))
        return keel_buf_puts(b, f < 0 ? "-inf" : "inf");
    /* Python's repr is the shortest digit string that reads back exactly;
     * find it by trying precisions upward, as David Gay's mode 0 yields. */
    char digits[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(digits, sizeof(digits), "%.*e", prec - 1, f);
        if (strtod(digits, NULL) == f)
            break;
    }
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
