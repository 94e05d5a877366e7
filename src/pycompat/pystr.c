/*
 * pystr.c — CPython 3.11's str behaviour over UTF-8 bytes (see pystr.h):
 * decoding as surrogateescape does, the str.isX() properties, lower() and
 * upper() with their multi-character and final-sigma rules, strip(), and
 * repr() of str and float.
 *
 * Unicode properties come from pyunicode_tables.h, generated from CPython
 * itself rather than from the Unicode data files: the question is never
 * "what does Unicode say" but "what does the Python under the oslo library
 * do". Text producers write through a keel__py_put_fn, staged in a small
 * buffer on the stack, so the policy module's stack-backed buffers and
 * everyone else's keel_buf_t share one implementation.
 */
#include "pystr.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyunicode_tables.h"

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ---- UTF-8 ------------------------------------------------------------ */

size_t keel__utf8_decode(const char *s, size_t len, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    if (len == 0)
        return 0;
    unsigned c = u[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t n;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((u[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (u[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return n;
}

size_t keel__py_next_cp(const char *s, size_t len, uint32_t *cp)
{
    size_t n = keel__utf8_decode(s, len, cp);
    if (n == 0) {
        *cp = 0xDC00 + (unsigned char)s[0];
        n = 1;
    }
    return n;
}

size_t keel__py_next_cp_surrogatepass(const char *s, size_t len, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    if (len >= 3 && u[0] == 0xED && (u[1] & 0xE0) == 0xA0 && (u[2] & 0xC0) == 0x80) {
        *cp = 0xD000 | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
        return 3;
    }
    return keel__py_next_cp(s, len, cp);
}

size_t keel__utf8_invalid_at(const char *s, size_t len)
{
    size_t i = 0;
    uint32_t cp;
    while (i < len) {
        size_t n = keel__utf8_decode(s + i, len - i, &cp);
        if (n == 0)
            return i;
        i += n;
    }
    return len;
}

bool keel__utf8_valid(const char *s, size_t len)
{
    return keel__utf8_invalid_at(s, len) == len;
}

size_t keel__utf8_length(const char *s, size_t len)
{
    size_t count = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            count++;
    return count;
}

size_t keel__utf8_encode(char out[4], uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

int keel__utf8_put(keel_buf_t *b, uint32_t cp)
{
    char u[4];
    return keel_buf_append(b, u, keel__utf8_encode(u, cp));
}

/* ---- Unicode properties ----------------------------------------------- */

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

#define IN_TABLE(t, cp) in_ranges((t), COUNT_OF(t), (cp))

bool keel__py_isspace(uint32_t cp)
{
    if (cp < 0x80)
        return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F);
    return IN_TABLE(py_space, cp);
}

bool keel__py_isprintable(uint32_t cp)
{
    if (cp < 0x80)
        return cp >= 0x20 && cp < 0x7F;
    return !IN_TABLE(py_nonprintable, cp);
}

bool keel__py_isalnum(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9');
    return IN_TABLE(py_alnum, cp);
}

int keel__py_decimal(uint32_t cp)
{
    if (cp >= '0' && cp <= '9')
        return (int)(cp - '0');
    size_t lo = 0, hi = COUNT_OF(py_decimal_zero);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < py_decimal_zero[mid])
            hi = mid;
        else if (cp > py_decimal_zero[mid] + 9)
            lo = mid + 1;
        else
            return (int)(cp - py_decimal_zero[mid]);
    }
    return -1;
}

bool keel__py_isdecimal(uint32_t cp)
{
    return keel__py_decimal(cp) >= 0;
}

bool keel__py_is_id_start(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_';
    return IN_TABLE(py_xid_start, cp);
}

bool keel__py_is_id_continue(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') || cp == '_';
    return IN_TABLE(py_xid_continue, cp);
}

bool keel__py_isidentifier(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = keel__utf8_decode(s + i, len - i, &cp);
        if (n == 0 || !(i == 0 ? keel__py_is_id_start(cp) : keel__py_is_id_continue(cp)))
            return false;
        i += n;
    }
    return true;
}

const uint32_t (*keel__py_table(int which, size_t *n))[2]
{
    _Static_assert(sizeof(struct py_range) == 2 * sizeof(uint32_t), "py_range is a pair");
    if (which == KEEL__PY_TABLE_ALNUM) {
        *n = COUNT_OF(py_alnum);
        return (const uint32_t(*)[2])py_alnum;
    }
    *n = COUNT_OF(py_space);
    return (const uint32_t(*)[2])py_space;
}

/* ---- output staging ------------------------------------------------------ */

/* Bytes on their way to a keel__py_put_fn, handed over in chunks. */
typedef struct {
    keel__py_put_fn put;
    void *sink;
    int rc;
    size_t n;
    char buf[256];
} out_t;

static void out_flush(out_t *o)
{
    if (o->rc == 0 && o->n > 0)
        o->rc = o->put(o->sink, o->buf, o->n);
    o->n = 0;
}

static void out_bytes(out_t *o, const char *p, size_t n)
{
    if (o->n + n > sizeof(o->buf))
        out_flush(o);
    if (o->rc != 0)
        return;
    if (n > sizeof(o->buf)) {
        o->rc = o->put(o->sink, p, n);
        return;
    }
    memcpy(o->buf + o->n, p, n);
    o->n += n;
}

static void out_char(out_t *o, char c)
{
    out_bytes(o, &c, 1);
}

static void out_cp(out_t *o, uint32_t cp)
{
    char u[4];
    out_bytes(o, u, keel__utf8_encode(u, cp));
}

/* Starts an out_t; the staging buffer itself is left unset. */
static void out_init(out_t *o, keel__py_put_fn put, void *sink)
{
    o->put = put;
    o->sink = sink;
    o->rc = 0;
    o->n = 0;
}

static int out_done(out_t *o)
{
    out_flush(o);
    return o->rc;
}

int keel__py_buf_put(void *sink, const char *p, size_t n)
{
    return keel_buf_append(sink, p, n);
}

/* Runs a producer into a keel_buf_t; on failure the buffer is as it was. */
static int buf_result(keel_buf_t *b, size_t mark, int rc)
{
    if (rc != 0 && b->len > mark) {
        b->len = mark;
        b->base[mark] = '\0';
    }
    return rc;
}

/* ---- case ---------------------------------------------------------------- */

/* Maps cp through a table of runs (sorted, disjoint). */
static uint32_t map_runs(const struct py_case_run *runs, size_t n, uint32_t cp)
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
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
    return IN_TABLE(py_cased, cp);
}

static bool is_case_ignorable(uint32_t cp)
{
    if (cp < 0x80)
        return cp == '\'' || cp == '.' || cp == ':' || cp == '^' || cp == '`';
    return IN_TABLE(py_case_ignorable, cp);
}

/*
 * The look-ahead half of CPython's final-sigma rule (handle_capital_sigma):
 * a U+03A3 that follows a cased letter lowers to U+03C2 unless a cased
 * letter follows it too, case-ignorable code points skipped both ways.
 */
static bool no_cased_after(const char *s, size_t len, size_t j)
{
    while (j < len) {
        uint32_t cp;
        j += keel__py_next_cp(s + j, len - j, &cp);
        if (!is_case_ignorable(cp))
            return !is_cased(cp);
    }
    return true;
}

int keel__py_lower_to(keel__py_put_fn put, void *sink, const char *s, size_t len)
{
    out_t o;
    out_init(&o, put, sink);
    /* Whether the last code point that was not case-ignorable is cased: the
     * look-behind half of the final sigma rule, kept while walking forward. */
    bool prev_cased = false;
    for (size_t i = 0; i < len && o.rc == 0;) {
        uint32_t cp;
        size_t n = keel__utf8_decode(s + i, len - i, &cp);
        if (n == 0) { /* not UTF-8: U+DC00 + byte, which lower() keeps */
            out_bytes(&o, s + i, 1);
            prev_cased = false;
            i++;
            continue;
        }
        if (cp < 0x80)
            out_char(&o, (char)(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp));
        else if (cp == 0x130) /* LATIN CAPITAL I WITH DOT: "i" + COMBINING DOT ABOVE */
            out_bytes(&o, "i\xCC\x87", 3);
        else if (cp == 0x3A3)
            out_cp(&o, prev_cased && no_cased_after(s, len, i + n) ? 0x3C2 : 0x3C3);
        else
            out_cp(&o, lower_one(cp));
        if (!is_case_ignorable(cp))
            prev_cased = is_cased(cp);
        i += n;
    }
    return out_done(&o);
}

int keel__py_lower(keel_buf_t *b, const char *s, size_t len)
{
    return buf_result(b, b->len, keel__py_lower_to(keel__py_buf_put, b, s, len));
}

int keel__py_upper(keel_buf_t *b, const char *s, size_t len)
{
    out_t o;
    out_init(&o, keel__py_buf_put, b);
    size_t mark = b->len;
    for (size_t i = 0; i < len && o.rc == 0;) {
        uint32_t cp;
        size_t n = keel__utf8_decode(s + i, len - i, &cp);
        if (n == 0) { /* not UTF-8: kept */
            out_bytes(&o, s + i, 1);
            i++;
            continue;
        }
        i += n;
        if (cp < 0x80) {
            out_char(&o, (char)((cp >= 'a' && cp <= 'z') ? cp - 32 : cp));
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
            for (int k = 0; k < 3 && py_upper_multi[lo].to[k]; k++)
                out_cp(&o, py_upper_multi[lo].to[k]);
            continue;
        }
        out_cp(&o, map_runs(py_upper, COUNT_OF(py_upper), cp));
    }
    return buf_result(b, mark, out_done(&o));
}

/* ---- strip --------------------------------------------------------------- */

/* Decodes the character that ends at s[end), not looking before begin:
 * the longest valid UTF-8 sequence, else the last byte as surrogateescape
 * reads it. Returns its length. */
static size_t prev_cp(const char *s, size_t begin, size_t end, uint32_t *cp)
{
    for (size_t n = 4; n >= 2; n--) {
        if (end - begin >= n && keel__utf8_decode(s + end - n, n, cp) == n)
            return n;
    }
    unsigned char c = (unsigned char)s[end - 1];
    *cp = c < 0x80 ? c : 0xDC00 + c;
    return 1;
}

void keel__py_lstrip(const char *s, size_t *begin, size_t end)
{
    while (*begin < end) {
        uint32_t cp;
        size_t n = keel__py_next_cp(s + *begin, end - *begin, &cp);
        if (!keel__py_isspace(cp))
            break;
        *begin += n;
    }
}

void keel__py_rstrip(const char *s, size_t begin, size_t *end)
{
    while (*end > begin) {
        uint32_t cp;
        size_t n = prev_cp(s, begin, *end, &cp);
        if (!keel__py_isspace(cp))
            break;
        *end -= n;
    }
}

void keel__py_strip(const char *s, size_t *begin, size_t *end)
{
    keel__py_lstrip(s, begin, *end);
    keel__py_rstrip(s, *begin, end);
}

/* ---- repr ---------------------------------------------------------------- */

/* \xNN, \uNNNN or \UNNNNNNNN, as repr() escapes a code point. */
static void out_escape(out_t *o, uint32_t cp)
{
    static const char hexdig[] = "0123456789abcdef";
    char e[10];
    size_t n = cp <= 0xFF ? 2 : cp <= 0xFFFF ? 4 : 8;
    e[0] = '\\';
    e[1] = n == 2 ? 'x' : n == 4 ? 'u' : 'U';
    for (size_t k = 0; k < n; k++)
        e[2 + k] = hexdig[(cp >> (4 * (n - 1 - k))) & 0xF];
    out_bytes(o, e, n + 2);
}

int keel__py_repr_to(keel__py_put_fn put, void *sink, const char *s, size_t len, unsigned flags)
{
    out_t o;
    out_init(&o, put, sink);
    bool has_single = memchr(s, '\'', len) != NULL;
    bool has_double = memchr(s, '"', len) != NULL;
    char quote = (has_single && !has_double) ? '"' : '\'';
    out_char(&o, quote);
    for (size_t i = 0; i < len && o.rc == 0;) {
        uint32_t cp;
        size_t n = (flags & KEEL__PY_REPR_SURROGATEPASS) ? keel__py_next_cp_surrogatepass(s + i, len - i, &cp)
                                                         : keel__py_next_cp(s + i, len - i, &cp);
        if (cp == (uint32_t)quote || cp == '\\') {
            char e[2] = {'\\', (char)cp};
            out_bytes(&o, e, 2);
        } else if (cp == '\t') {
            out_bytes(&o, "\\t", 2);
        } else if (cp == '\n') {
            out_bytes(&o, "\\n", 2);
        } else if (cp == '\r') {
            out_bytes(&o, "\\r", 2);
        } else if (cp < 0x20 || cp == 0x7F) {
            out_escape(&o, cp);
        } else if (cp < 0x7F) {
            out_char(&o, (char)cp);
        } else if (!(flags & KEEL__PY_REPR_ASCII_ONLY) && keel__py_isprintable(cp)) {
            out_bytes(&o, s + i, n);
        } else if (n == 1 && cp >= 0xDC80 && (flags & KEEL__PY_REPR_HEX_BYTES)) {
            out_escape(&o, cp - 0xDC00);
        } else {
            out_escape(&o, cp);
        }
        i += n;
    }
    out_char(&o, quote);
    return out_done(&o);
}

int keel__py_repr_str(keel_buf_t *b, const char *s, size_t len, unsigned flags)
{
    return keel__py_repr_to(keel__py_buf_put, b, s, len, flags);
}

int keel__py_put_escaped(keel_buf_t *b, const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = keel__utf8_decode(s + i, len - i, &cp);
        int rc = n ? keel_buf_append(b, s + i, n) : keel_buf_printf(b, "\\udc%02x", (unsigned char)s[i]);
        if (rc != 0)
            return rc;
        i += n ? n : 1;
    }
    return 0;
}

/* ---- float --------------------------------------------------------------- */

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

/*
 * The shortest digits of f (finite, > 0) that read back exactly, as David
 * Gay's dtoa mode 0 gives them to repr(): found by trying "%.*e" precisions
 * upward, formatted and read in the C locale so a program's setlocale()
 * cannot turn '.' into ','. Stores the digits without trailing zeros
 * (NUL-terminated) and returns the decimal exponent of the first one.
 */
static int shortest_digits(double f, char digits[24])
{
    char text[40];
    locale_t c = keel__c_locale();
    locale_t old = c ? uselocale(c) : (locale_t)0;
    for (int prec = 0; prec < 17; prec++) {
        snprintf(text, sizeof(text), "%.*e", prec, f);
        if (strtod(text, NULL) == f)
            break;
    }
    if (c)
        uselocale(old);
    size_t m = 0;
    const char *p = text;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[m++] = *p;
    while (m > 1 && digits[m - 1] == '0')
        m--;
    digits[m] = '\0';
    return atoi(p + 1);
}

size_t keel__py_float_text(char out[KEEL__PY_FLOAT_TEXT_MAX], double f, bool add_dot0)
{
    size_t o = 0;
    if (isnan(f))
        return (size_t)snprintf(out, KEEL__PY_FLOAT_TEXT_MAX, "nan");
    if (signbit(f)) {
        out[o++] = '-';
        f = -f;
    }
    if (isinf(f))
        return o + (size_t)snprintf(out + o, KEEL__PY_FLOAT_TEXT_MAX - o, "inf");
    if (f == 0)
        return o + (size_t)snprintf(out + o, KEEL__PY_FLOAT_TEXT_MAX - o, add_dot0 ? "0.0" : "0");
    char d[24];
    int exp = shortest_digits(f, d);
    size_t m = strlen(d);
    if (exp < -4 || exp >= 16) {
        /* scientific: d[.ddd]e±XX with at least two exponent digits */
        out[o++] = d[0];
        if (m > 1) {
            out[o++] = '.';
            memcpy(out + o, d + 1, m - 1);
            o += m - 1;
        }
        return o + (size_t)snprintf(out + o, KEEL__PY_FLOAT_TEXT_MAX - o, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    }
    if (exp < 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int k = 0; k < -exp - 1; k++)
            out[o++] = '0';
        memcpy(out + o, d, m);
        o += m;
    } else {
        /* 0 <= exp < 16: the integer part is d[0..exp], zero-padded. */
        for (int k = 0; k <= exp; k++)
            out[o++] = (size_t)k < m ? d[k] : '0';
        if ((size_t)exp + 1 < m) {
            out[o++] = '.';
            memcpy(out + o, d + exp + 1, m - (size_t)exp - 1);
            o += m - (size_t)exp - 1;
        } else if (add_dot0) {
            out[o++] = '.';
            out[o++] = '0';
        }
    }
    out[o] = '\0';
    return o;
}

int keel__py_repr_float(keel_buf_t *b, double f)
{
    char text[KEEL__PY_FLOAT_TEXT_MAX];
    size_t n = keel__py_float_text(text, f, true);
    return keel_buf_append(b, text, n);
}
