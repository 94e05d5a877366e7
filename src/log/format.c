/*
 * format.c — Python's %-formatting with a mapping ("%(asctime)s.%(msecs)03d"),
 * which is how oslo.log's format options are written, plus the repr() and
 * str() renderings those formats need.
 *
 * A format string is compiled once into segments; rendering walks them and
 * appends to a reused buffer. The compiler accepts exactly what
 * PyUnicode_Format accepts for a mapping argument (flags "-+ #0", width,
 * precision, one ignored h/l/L, conversions s r a d i u o x X e E f F g G c,
 * and "%%"), and additionally rejects what would fail for every record
 * (unknown keys, '*' widths, a number conversion of a text field), so a bad
 * option is reported at setup, not as lost lines.
 */
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log_int.h"
#include "pycompat/pystr.h"

_Static_assert(KEEL__LOG_K_COUNT_ <= 64, "format key bitmask must fit in uint64_t");

static const struct {
    const char *key;
    keel__log_type_t type;
    bool ctx;
} key_table[] = {
#define KEEL__LOG_KEY_ROW_(id, key, type, ctx) {key, KEEL__LOG_T_##type, ctx},
    KEEL__LOG_KEYS(KEEL__LOG_KEY_ROW_)
#undef KEEL__LOG_KEY_ROW_
};

static int find_key(const char *k, size_t len, keel__log_ns_t ns)
{
    for (int i = 0; i < KEEL__LOG_K_COUNT_; i++) {
        if (strlen(key_table[i].key) != len || memcmp(key_table[i].key, k, len) != 0)
            continue;
        if (ns == KEEL__LOG_NS_UUID && i != KEEL__LOG_K_UUID)
            continue;
        if (ns == KEEL__LOG_NS_CONTEXT && !key_table[i].ctx)
            continue;
        if (ns == KEEL__LOG_NS_RECORD && i == KEEL__LOG_K_UUID)
            continue;
        return i; /* first match: "project" is the record's in NS_RECORD */
    }
    return KEEL__LOG_K_UNKNOWN;
}

static int push_seg(keel__log_fmt_t *f, size_t *cap, keel__log_seg_t seg)
{
    if (f->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        keel__log_seg_t *p = keel__realloc(f->segs, ncap * sizeof(*p));
        if (p == NULL)
            return KEEL_ENOMEM;
        f->segs = p;
        *cap = ncap;
    }
    f->segs[f->n++] = seg;
    return 0;
}

static int compile_error(char *err, size_t errlen, const char *fmt, size_t pos, const char *what)
{
    if (err && errlen)
        snprintf(err, errlen, "%s at index %zu of '%s'", what, pos, fmt);
    return KEEL_EVALUE;
}

static bool is_text_type(keel__log_type_t t)
{
    return t == KEEL__LOG_T_STR || t == KEEL__LOG_T_STRN || t == KEEL__LOG_T_LIST || t == KEEL__LOG_T_NONE;
}

int keel__log_fmt_compile(keel__log_fmt_t *f, const char *s, keel__log_ns_t ns, char *err, size_t errlen)
{
    memset(f, 0, sizeof(*f));
    f->ns = ns;
    size_t n = strlen(s), cap = 0, lit = 0;
    if (n > UINT32_MAX / 2)
        return compile_error(err, errlen, "", 0, "format string too long");
    f->text = keel__strndup(s, n);
    if (f->text == NULL)
        return KEEL_ENOMEM;
    f->has_error_summary_s = strstr(s, "%(error_summary)s") != NULL;
    int rc = 0;
    size_t i = 0;
    while (i < n) {
        if (s[i] != '%') {
            i++;
            continue;
        }
        /* Flush the literal before this '%'. */
        if (i > lit && (rc = push_seg(f, &cap, (keel__log_seg_t){.off = lit, .len = i - lit, .key = -1})) != 0)
            goto fail;
        size_t start = i++;
        if (i >= n) {
            rc = compile_error(err, errlen, s, start, "incomplete format");
            goto fail;
        }
        if (s[i] == '%') { /* "%%": a literal '%' (the second one) */
            lit = i++;
            continue;
        }
        keel__log_seg_t seg = {.key = -1, .width = -1, .prec = -1};
        if (s[i] != '(') {
            rc = compile_error(err, errlen, s, start, "a field without a %(key) (format requires a mapping)");
            goto fail;
        }
        /* The key runs to the matching ')' (Python counts nested parens). */
        size_t kstart = ++i;
        int depth = 1;
        while (i < n && depth > 0) {
            if (s[i] == '(')
                depth++;
            else if (s[i] == ')')
                depth--;
            i++;
        }
        if (depth > 0) {
            rc = compile_error(err, errlen, s, start, "incomplete format key");
            goto fail;
        }
        seg.off = kstart;
        seg.len = i - 1 - kstart;
        seg.key = (int16_t)find_key(s + kstart, seg.len, ns);
        if (seg.key == KEEL__LOG_K_UNKNOWN && ns != KEEL__LOG_NS_CONTEXT) {
            char what[160];
            snprintf(what, sizeof(what), "unknown key '%.*s'", (int)(seg.len > 80 ? 80 : seg.len), s + kstart);
            rc = compile_error(err, errlen, s, start, what);
            goto fail;
        }
        for (; i < n; i++) {
            if (s[i] == '-')
                seg.flags |= KEEL__LOG_F_MINUS;
            else if (s[i] == '+')
                seg.flags |= KEEL__LOG_F_PLUS;
            else if (s[i] == ' ')
                seg.flags |= KEEL__LOG_F_SPACE;
            else if (s[i] == '#')
                seg.flags |= KEEL__LOG_F_ALT;
            else if (s[i] == '0')
                seg.flags |= KEEL__LOG_F_ZERO;
            else
                break;
        }
        if (i < n && s[i] == '*') {
            rc = compile_error(err, errlen, s, start, "'*' width needs positional arguments");
            goto fail;
        }
        if (i < n && s[i] >= '0' && s[i] <= '9') {
            seg.width = 0;
            for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
                if (seg.width > 100000) {
                    rc = compile_error(err, errlen, s, start, "width too big");
                    goto fail;
                }
                seg.width = seg.width * 10 + (s[i] - '0');
            }
        }
        if (i < n && s[i] == '.') {
            i++;
            seg.prec = 0;
            if (i < n && s[i] == '*') {
                rc = compile_error(err, errlen, s, start, "'*' precision needs positional arguments");
                goto fail;
            }
            for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
                if (seg.prec > 100000) {
                    rc = compile_error(err, errlen, s, start, "precision too big");
                    goto fail;
                }
                seg.prec = seg.prec * 10 + (s[i] - '0');
            }
        }
        if (i < n && (s[i] == 'h' || s[i] == 'l' || s[i] == 'L'))
            i++;
        if (i >= n) {
            rc = compile_error(err, errlen, s, start, "incomplete format");
            goto fail;
        }
        char c = s[i];
        if (strchr("sradiuoxXeEfFgGc", c) == NULL || c == '\0') {
            char what[64];
            snprintf(what, sizeof(what), "unsupported format character '%c' (0x%x)", c >= 0x20 && c < 0x7f ? c : '?',
                     (unsigned char)c);
            rc = compile_error(err, errlen, s, i, what);
            goto fail;
        }
        seg.conv = c;
        if (seg.key >= 0 && strchr("sra", c) == NULL) {
            keel__log_type_t t = key_table[seg.key].type;
            bool is_int = t == KEEL__LOG_T_INT || t == KEEL__LOG_T_BOOL;
            if (is_text_type(t) || (strchr("oxXc", c) && !is_int)) {
                char what[160];
                snprintf(what, sizeof(what), "%%%c cannot format '%s'", c, key_table[seg.key].key);
                rc = compile_error(err, errlen, s, start, what);
                goto fail;
            }
        } else if (seg.key < 0 && strchr("sra", c) == NULL) {
            /* NS_CONTEXT's unknown keys are "-": a number conversion fails in Python. */
            rc = compile_error(err, errlen, s, start, "number conversion of an unknown key");
            goto fail;
        }
        if (seg.key >= 0)
            f->uses |= 1ull << seg.key;
        if ((rc = push_seg(f, &cap, seg)) != 0)
            goto fail;
        lit = ++i;
    }
    if (n > lit && (rc = push_seg(f, &cap, (keel__log_seg_t){.off = lit, .len = n - lit, .key = -1})) != 0)
        goto fail;
    return 0;
fail:
    keel__log_fmt_free(f);
    return rc;
}

void keel__log_fmt_free(keel__log_fmt_t *f)
{
    keel__free(f->text);
    keel__free(f->segs);
    memset(f, 0, sizeof(*f));
}

/* ---- UTF-8 ---- */

/* Code points in s (an invalid byte counts as one, as surrogateescape would). */
static size_t utf8_count(const char *s, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; count++) {
        uint32_t cp;
        i += keel__py_next_cp(s + i, n - i, &cp);
    }
    return count;
}

/* Byte length of the first k code points of s. */
static size_t utf8_prefix(const char *s, size_t n, size_t k)
{
    size_t i = 0;
    while (i < n && k-- > 0) {
        uint32_t cp;
        i += keel__py_next_cp(s + i, n - i, &cp);
    }
    return i;
}

/* ---- repr() and str() ---- */

int keel__log_str_repr(const char *s, size_t len, bool ascii_only, keel_buf_t *out)
{
    return keel__py_repr_str(out, s, len, ascii_only ? KEEL__PY_REPR_ASCII_ONLY : 0);
}

/* The "C" locale, so '.' is the decimal point whatever the program set. */
static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static void make_c_locale(void)
{
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

static locale_t use_c_locale(void)
{
    pthread_once(&c_locale_once, make_c_locale);
    return c_locale ? uselocale(c_locale) : (locale_t)0;
}

static void restore_locale(locale_t old)
{
    if (old)
        uselocale(old);
}

int keel__log_float_repr(double d, keel_buf_t *out)
{
    if (isnan(d))
        return keel_buf_puts(out, "nan");
    if (isinf(d))
        return keel_buf_puts(out, d < 0 ? "-inf" : "inf");
    char buf[40], digits[24];
    locale_t old = use_c_locale();
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, sizeof(buf), "%.*e", p - 1, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    restore_locale(old);
    /* buf is [-]d[.ddd]e(+|-)xx: collect the digits and the exponent. */
    const char *p = buf;
    bool neg = *p == '-';
    if (neg)
        p++;
    size_t nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[nd++] = *p;
    int exp10 = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    int decpt = d == 0 ? 1 : exp10 + 1; /* value = 0.DIGITS * 10^decpt */
    keel_buf_t *b = out;
    int rc = neg ? keel_buf_putc(b, '-') : 0;
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            rc = rc ? rc : keel_buf_puts(b, "0.");
            for (int k = 0; k < -decpt && rc == 0; k++)
                rc = keel_buf_putc(b, '0');
            rc = rc ? rc : keel_buf_append(b, digits, nd);
        } else if ((size_t)decpt >= nd) {
            rc = rc ? rc : keel_buf_append(b, digits, nd);
            for (size_t k = nd; k < (size_t)decpt && rc == 0; k++)
                rc = keel_buf_putc(b, '0');
            rc = rc ? rc : keel_buf_puts(b, ".0");
        } else {
            rc = rc ? rc : keel_buf_append(b, digits, (size_t)decpt);
            rc = rc ? rc : keel_buf_putc(b, '.');
            rc = rc ? rc : keel_buf_append(b, digits + decpt, nd - (size_t)decpt);
        }
    } else {
        rc = rc ? rc : keel_buf_append(b, digits, 1);
        if (nd > 1) {
            rc = rc ? rc : keel_buf_putc(b, '.');
            rc = rc ? rc : keel_buf_append(b, digits + 1, nd - 1);
        }
        rc = rc ? rc : keel_buf_printf(b, "e%c%02d", decpt - 1 < 0 ? '-' : '+', abs(decpt - 1));
    }
    return rc;
}

static int val_repr(const keel__log_val_t *v, bool ascii_only, keel_buf_t *out);

static int list_str(const char *const *list, bool ascii_only, keel_buf_t *out)
{
    int rc = keel_buf_putc(out, '[');
    for (size_t k = 0; list && list[k] && rc == 0; k++) {
        if (k > 0)
            rc = keel_buf_puts(out, ", ");
        rc = rc ? rc : keel__log_str_repr(list[k], strlen(list[k]), ascii_only, out);
    }
    return rc ? rc : keel_buf_putc(out, ']');
}

int keel__log_val_str(const keel__log_val_t *v, keel_buf_t *out)
{
    switch (v->type) {
    case KEEL__LOG_T_STR:
    case KEEL__LOG_T_STRN:
        if (v->s == NULL)
            return keel_buf_puts(out, "None");
        return keel_buf_append(out, v->s, v->len);
    case KEEL__LOG_T_INT:
        return keel_buf_printf(out, "%lld", (long long)v->i);
    case KEEL__LOG_T_FLOAT:
        return keel__log_float_repr(v->f, out);
    case KEEL__LOG_T_BOOL:
        return keel_buf_puts(out, v->i ? "True" : "False");
    case KEEL__LOG_T_LIST:
        return list_str(v->list, false, out);
    case KEEL__LOG_T_NONE:
        break;
    }
    return keel_buf_puts(out, "None");
}

static int val_repr(const keel__log_val_t *v, bool ascii_only, keel_buf_t *out)
{
    if ((v->type == KEEL__LOG_T_STR || v->type == KEEL__LOG_T_STRN) && v->s)
        return keel__log_str_repr(v->s, v->len, ascii_only, out);
    if (v->type == KEEL__LOG_T_LIST)
        return list_str(v->list, ascii_only, out);
    return keel__log_val_str(v, out);
}

/* ---- rendering ---- */

static int pad(keel_buf_t *out, char c, size_t n)
{
    int rc = keel_buf_reserve(out, n);
    if (rc == 0) {
        memset(out->base + out->len, c, n);
        out->len += n;
        out->base[out->len] = '\0';
    }
    return rc;
}

/* Appends text justified in width code points, as Python pads %s. */
static int put_justified(keel_buf_t *out, const char *s, size_t len, const keel__log_seg_t *seg)
{
    size_t cps = seg->width > 0 ? utf8_count(s, len) : 0;
    size_t fill = seg->width > 0 && (size_t)seg->width > cps ? (size_t)seg->width - cps : 0;
    int rc = 0;
    if (fill && !(seg->flags & KEEL__LOG_F_MINUS))
        rc = pad(out, ' ', fill);
    rc = rc ? rc : keel_buf_append(out, s, len);
    if (rc == 0 && fill && (seg->flags & KEEL__LOG_F_MINUS))
        rc = pad(out, ' ', fill);
    return rc;
}

/* Lays out sign, prefix and digits with Python's rules for width and the 0 flag. */
static int put_number(keel_buf_t *out, const char *sign, const char *prefix, const char *body, const keel__log_seg_t *seg)
{
    size_t len = strlen(sign) + strlen(prefix) + strlen(body);
    size_t fill = seg->width > 0 && (size_t)seg->width > len ? (size_t)seg->width - len : 0;
    int rc = 0;
    bool left = seg->flags & KEEL__LOG_F_MINUS, zero = (seg->flags & KEEL__LOG_F_ZERO) && !left;
    if (fill && !left && !zero)
        rc = pad(out, ' ', fill);
    rc = rc ? rc : keel_buf_puts(out, sign);
    rc = rc ? rc : keel_buf_puts(out, prefix);
    if (rc == 0 && fill && zero)
        rc = pad(out, '0', fill);
    rc = rc ? rc : keel_buf_puts(out, body);
    if (rc == 0 && fill && left)
        rc = pad(out, ' ', fill);
    return rc;
}

static const char *sign_of(bool neg, uint8_t flags)
{
    if (neg)
        return "-";
    if (flags & KEEL__LOG_F_PLUS)
        return "+";
    if (flags & KEEL__LOG_F_SPACE)
        return " ";
    return "";
}

static int put_int(keel_buf_t *out, int64_t v, const keel__log_seg_t *seg)
{
    bool neg = v < 0;
    uint64_t mag = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    char digits[80], body[160];
    const char *prefix = "";
    switch (seg->conv) {
    case 'o':
        snprintf(digits, sizeof(digits), "%llo", (unsigned long long)mag);
        prefix = seg->flags & KEEL__LOG_F_ALT ? "0o" : "";
        break;
    case 'x':
        snprintf(digits, sizeof(digits), "%llx", (unsigned long long)mag);
        prefix = seg->flags & KEEL__LOG_F_ALT ? "0x" : "";
        break;
    case 'X':
        snprintf(digits, sizeof(digits), "%llX", (unsigned long long)mag);
        prefix = seg->flags & KEEL__LOG_F_ALT ? "0X" : "";
        break;
    default:
        snprintf(digits, sizeof(digits), "%llu", (unsigned long long)mag);
    }
    /* Precision is a minimum digit count. */
    size_t nd = strlen(digits), want = seg->prec > 0 ? (size_t)seg->prec : 0;
    if (want > 100)
        want = 100;
    size_t zeros = want > nd ? want - nd : 0;
    memset(body, '0', zeros);
    memcpy(body + zeros, digits, nd + 1);
    return put_number(out, sign_of(neg, seg->flags), prefix, body, seg);
}

static int put_float(keel_buf_t *out, double d, const keel__log_seg_t *seg)
{
    if (!isfinite(d)) {
        bool upper = seg->conv == 'E' || seg->conv == 'F' || seg->conv == 'G';
        const char *body = isnan(d) ? (upper ? "NAN" : "nan") : (upper ? "INF" : "inf");
        return put_number(out, sign_of(!isnan(d) && d < 0, seg->flags), "", body, seg);
    }
    /* Finite values: C's printf and Python agree; build the same spec without width. */
    char spec[32], body[512];
    int k = 0;
    spec[k++] = '%';
    if (seg->flags & KEEL__LOG_F_ALT)
        spec[k++] = '#';
    snprintf(spec + k, sizeof(spec) - (size_t)k, ".%d%c", seg->prec >= 0 ? (seg->prec > 300 ? 300 : seg->prec) : 6, seg->conv);
    locale_t old = use_c_locale();
    snprintf(body, sizeof(body), spec, fabs(d));
    restore_locale(old);
    return put_number(out, sign_of(signbit(d), seg->flags), "", body, seg);
}

static int64_t float_to_int(double d)
{
    if (isnan(d))
        return 0;
    if (d >= 9.2233720368547758e18)
        return INT64_MAX;
    if (d <= -9.2233720368547758e18)
        return INT64_MIN;
    return (int64_t)d; /* truncates toward zero as int() does */
}

static bool falsy(const keel__log_val_t *v)
{
    switch (v->type) {
    case KEEL__LOG_T_STR:
    case KEEL__LOG_T_STRN:
        return v->s == NULL || v->len == 0;
    case KEEL__LOG_T_INT:
    case KEEL__LOG_T_BOOL:
        return v->i == 0;
    case KEEL__LOG_T_FLOAT:
        return v->f == 0;
    case KEEL__LOG_T_LIST:
        return v->list == NULL || v->list[0] == NULL;
    case KEEL__LOG_T_NONE:
        return true;
    }
    return true;
}

static int render_field(const keel__log_seg_t *seg, keel__log_lookup_fn get, void *data, keel__log_ns_t ns, keel_buf_t *out,
                        keel_buf_t *tmp)
{
    keel__log_val_t v = {.type = KEEL__LOG_T_STR, .s = "-", .len = 1};
    if (seg->key >= 0)
        get(data, seg->key, &v);
    if (ns == KEEL__LOG_NS_CONTEXT && falsy(&v))
        v = (keel__log_val_t){.type = KEEL__LOG_T_STR, .s = "-", .len = 1};
    switch (seg->conv) {
    case 's':
    case 'r':
    case 'a': {
        const char *s;
        size_t len;
        char num[32];
        int rc;
        if (seg->conv == 's' && (v.type == KEEL__LOG_T_STR || v.type == KEEL__LOG_T_STRN)) {
            s = v.s ? v.s : "None", len = v.s ? v.len : 4; /* the common case: no copy */
        } else if (seg->conv == 's' && v.type == KEEL__LOG_T_BOOL) {
            s = v.i ? "True" : "False", len = strlen(s);
        } else if (seg->conv != 'a' && v.type == KEEL__LOG_T_INT) {
            s = num, len = (size_t)snprintf(num, sizeof(num), "%lld", (long long)v.i);
        } else {
            keel_buf_reset(tmp);
            rc = seg->conv == 's' ? keel__log_val_str(&v, tmp) : val_repr(&v, seg->conv == 'a', tmp);
            if (rc)
                return rc;
            s = tmp->base, len = tmp->len;
        }
        if (seg->prec >= 0)
            len = utf8_prefix(s, len, (size_t)seg->prec);
        return put_justified(out, s, len, seg);
    }
    case 'c':
        if (v.type == KEEL__LOG_T_INT || v.type == KEEL__LOG_T_BOOL) {
            char u[8];
            long cp = (long)v.i;
            size_t ul = 0;
            if (cp < 0 || cp > 0x10ffff)
                cp = 0xfffd;
            if (cp < 0x80) {
                u[ul++] = (char)cp;
            } else if (cp < 0x800) {
                u[ul++] = (char)(0xc0 | (cp >> 6)), u[ul++] = (char)(0x80 | (cp & 0x3f));
            } else if (cp < 0x10000) {
                u[ul++] = (char)(0xe0 | (cp >> 12)), u[ul++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                u[ul++] = (char)(0x80 | (cp & 0x3f));
            } else {
                u[ul++] = (char)(0xf0 | (cp >> 18)), u[ul++] = (char)(0x80 | ((cp >> 12) & 0x3f));
                u[ul++] = (char)(0x80 | ((cp >> 6) & 0x3f)), u[ul++] = (char)(0x80 | (cp & 0x3f));
            }
            return put_justified(out, u, ul, seg);
        }
        break;
    case 'e':
    case 'E':
    case 'f':
    case 'F':
    case 'g':
    case 'G':
        if (v.type == KEEL__LOG_T_FLOAT)
            return put_float(out, v.f, seg);
        if (v.type == KEEL__LOG_T_INT || v.type == KEEL__LOG_T_BOOL)
            return put_float(out, (double)v.i, seg);
        break;
    default: /* d i u o x X */
        if (v.type == KEEL__LOG_T_INT || v.type == KEEL__LOG_T_BOOL)
            return put_int(out, v.i, seg);
        if (v.type == KEEL__LOG_T_FLOAT)
            return put_int(out, float_to_int(v.f), seg);
        break;
    }
    /* A value of another type than compiled for (a None): str() it, never lose the line. */
    keel_buf_reset(tmp);
    int rc = keel__log_val_str(&v, tmp);
    return rc ? rc : put_justified(out, tmp->base, tmp->len, seg);
}

int keel__log_fmt_render(const keel__log_fmt_t *f, keel__log_lookup_fn get, void *data, keel_buf_t *out)
{
    /* Scratch for repr() and str() of non-text values; default formats never need it, so it costs nothing. */
    keel_buf_t tmp;
    keel_buf_init(&tmp);
    int rc = 0;
    for (size_t k = 0; k < f->n && rc == 0; k++) {
        const keel__log_seg_t *seg = &f->segs[k];
        if (seg->conv == 0)
            rc = keel_buf_append(out, f->text + seg->off, seg->len);
        else
            rc = render_field(seg, get, data, f->ns, out, &tmp);
    }
    keel_buf_free(&tmp);
    return rc;
}
