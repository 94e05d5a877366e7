/*
 * pyobj.c — CPython 3.11's text operations that oslo.policy's decisions
 * depend on: str()/repr() of JSON values, repr() of bytes and complex,
 * and printf-style `fmt % mapping` (PyUnicode_Format), over the str
 * behaviour keel shares in pycompat/pystr.h (lower(), repr() of str and
 * float, the Unicode properties), written into policy's stack buffers.
 *
 * Design: the formatter is compiled once per rule into a list of steps
 * (literal, key lookup, conversion, static error) in the order CPython
 * performs them, because the order decides the outcome — a KeyError on an
 * earlier key makes a check False even if a later directive is malformed,
 * while a malformed directive before it makes the check raise.
 */
#include "pyobj.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pycompat/pystr.h"

/* ---- small buffers ---------------------------------------------------- */

void keel__pol_sbuf_init(keel__pol_sbuf_t *b, char *storage, size_t cap)
{
    b->base = storage;
    b->len = 0;
    b->cap = storage ? cap : 0;
    b->heap = false;
}

void keel__pol_sbuf_free(keel__pol_sbuf_t *b)
{
    if (b->heap)
        keel__free(b->base);
    b->base = NULL;
    b->len = b->cap = 0;
    b->heap = false;
}

int keel__pol_sbuf_reserve(keel__pol_sbuf_t *b, size_t extra)
{
    if (extra > SIZE_MAX / 2 - b->len)
        return KEEL_ENOMEM;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap * 2 : 64;
    while (cap < need)
        cap *= 2;
    char *p;
    if (b->heap) {
        p = keel__realloc(b->base, cap);
        if (p == NULL)
            return KEEL_ENOMEM;
    } else {
        p = keel__malloc(cap);
        if (p == NULL)
            return KEEL_ENOMEM;
        if (b->len)
            memcpy(p, b->base, b->len);
    }
    b->base = p;
    b->cap = cap;
    b->heap = true;
    return 0;
}

int keel__pol_sbuf_append(keel__pol_sbuf_t *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (keel__pol_sbuf_reserve(b, n) != 0)
        return KEEL_ENOMEM;
    memcpy(b->base + b->len, p, n);
    b->len += n;
    return 0;
}

int keel__pol_sbuf_putc(keel__pol_sbuf_t *b, char c)
{
    return keel__pol_sbuf_append(b, &c, 1);
}

int keel__pol_sbuf_fill(keel__pol_sbuf_t *b, char c, size_t n)
{
    if (n == 0)
        return 0;
    if (keel__pol_sbuf_reserve(b, n) != 0)
        return KEEL_ENOMEM;
    memset(b->base + b->len, c, n);
    b->len += n;
    return 0;
}

int keel__pol_sbuf_put_cp(keel__pol_sbuf_t *b, uint32_t cp)
{
    char u[4];
    if (cp >= 0xDC80 && cp <= 0xDCFF) {
        /* A byte that was not UTF-8 on the way in goes out unchanged. */
        u[0] = (char)(cp - 0xDC00);
        return keel__pol_sbuf_append(b, u, 1);
    }
    return keel__pol_sbuf_append(b, u, keel__utf8_encode(u, cp));
}

/* A keel__py_put_fn for a keel__pol_sbuf_t sink. */
static int sbuf_put(void *sink, const char *p, size_t n)
{
    return keel__pol_sbuf_append(sink, p, n);
}

const char *keel__pol_sbuf_cstr(keel__pol_sbuf_t *b)
{
    if (keel__pol_sbuf_reserve(b, 0) != 0)
        return NULL;
    b->base[b->len] = '\0';
    return b->base;
}

/* ---- UTF-8 ------------------------------------------------------------ */

uint32_t keel__pol_utf8_next(const char *s, size_t len, size_t *i)
{
    uint32_t cp = (unsigned char)s[*i];
    if (cp < 0x80) { /* most policy text is ASCII: no call for it */
        (*i)++;
        return cp;
    }
    *i += keel__py_next_cp_surrogatepass(s + *i, len - *i, &cp);
    return cp;
}

size_t keel__pol_utf8_count(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        if ((unsigned char)s[i] < 0x80)
            i++;
        else
            keel__pol_utf8_next(s, len, &i);
        n++;
    }
    return n;
}

size_t keel__pol_utf8_offset(const char *s, size_t len, size_t n)
{
    size_t i = 0;
    while (n > 0 && i < len) {
        if ((unsigned char)s[i] < 0x80)
            i++;
        else
            keel__pol_utf8_next(s, len, &i);
        n--;
    }
    return i;
}

/* ---- str ------------------------------------------------------------- */

bool keel__pol_is_ascii(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0x80)
            return false;
    return true;
}

int keel__pol_lower(keel__pol_sbuf_t *out, const char *s, size_t len)
{
    return keel__py_lower_to(sbuf_put, out, s, len);
}

/* ---- repr ------------------------------------------------------------- */

int keel__pol_repr_str(keel__pol_sbuf_t *b, const char *s, size_t len, bool ascii_only)
{
    return keel__py_repr_to(sbuf_put, b, s, len, KEEL__PY_REPR_SURROGATEPASS | (ascii_only ? KEEL__PY_REPR_ASCII_ONLY : 0));
}

int keel__pol_repr_bytes(keel__pol_sbuf_t *b, const uint8_t *s, size_t len)
{
    bool sq = memchr(s, '\'', len) != NULL, dq = memchr(s, '"', len) != NULL;
    char quote = (sq && !dq) ? '"' : '\'';
    int rc = keel__pol_sbuf_putc(b, 'b');
    if (rc == 0)
        rc = keel__pol_sbuf_putc(b, quote);
    for (size_t i = 0; i < len && rc == 0; i++) {
        unsigned c = s[i];
        if (c == (unsigned)quote || c == '\\') {
            char e[2] = {'\\', (char)c};
            rc = keel__pol_sbuf_append(b, e, 2);
        } else if (c == '\t') {
            rc = keel__pol_sbuf_append(b, "\\t", 2);
        } else if (c == '\n') {
            rc = keel__pol_sbuf_append(b, "\\n", 2);
        } else if (c == '\r') {
            rc = keel__pol_sbuf_append(b, "\\r", 2);
        } else if (c < 0x20 || c >= 0x7F) {
            char e[4] = {'\\', 'x', "0123456789abcdef"[c >> 4], "0123456789abcdef"[c & 0xF]};
            rc = keel__pol_sbuf_append(b, e, 4);
        } else {
            rc = keel__pol_sbuf_putc(b, (char)c);
        }
    }
    return rc ? rc : keel__pol_sbuf_putc(b, quote);
}

int keel__pol_float_repr(keel__pol_sbuf_t *b, double x, bool add_dot0)
{
    char text[KEEL__PY_FLOAT_TEXT_MAX];
    size_t n = keel__py_float_text(text, x, add_dot0);
    return keel__pol_sbuf_append(b, text, n);
}

int keel__pol_complex_repr(keel__pol_sbuf_t *b, double re, double im)
{
    int rc;
    if (re == 0 && !signbit(re)) {
        rc = keel__pol_float_repr(b, im, false);
        return rc ? rc : keel__pol_sbuf_putc(b, 'j');
    }
    rc = keel__pol_sbuf_putc(b, '(');
    if (rc == 0)
        rc = keel__pol_float_repr(b, re, false);
    if (rc == 0 && !signbit(im) && !isnan(im))
        rc = keel__pol_sbuf_putc(b, '+');
    if (rc == 0 && isnan(im))
        rc = keel__pol_sbuf_putc(b, '+');
    if (rc == 0)
        rc = keel__pol_float_repr(b, im, false);
    if (rc == 0)
        rc = keel__pol_sbuf_append(b, "j)", 2);
    return rc;
}

int keel__pol_double_to_int_text(keel__pol_sbuf_t *b, double x)
{
    char tmp[32];
    x = trunc(x);
    if (fabs(x) < 9.0e18) {
        int n = snprintf(tmp, sizeof(tmp), "%lld", (long long)x);
        return keel__pol_sbuf_append(b, tmp, (size_t)n);
    }
    /* x = m * 2**e exactly, m a 53-bit integer: multiply out in base 1e9. */
    int e;
    double m = frexp(fabs(x), &e);
    uint64_t mant = (uint64_t)ldexp(m, 53);
    e -= 53;
    uint32_t limb[40];
    size_t n = 0;
    while (mant) {
        limb[n++] = (uint32_t)(mant % 1000000000u);
        mant /= 1000000000u;
    }
    while (e > 0) {
        int step = e > 29 ? 29 : e;
        uint64_t carry = 0;
        for (size_t k = 0; k < n; k++) {
            uint64_t v = ((uint64_t)limb[k] << step) + carry;
            limb[k] = (uint32_t)(v % 1000000000u);
            carry = v / 1000000000u;
        }
        while (carry) {
            limb[n++] = (uint32_t)(carry % 1000000000u);
            carry /= 1000000000u;
        }
        e -= step;
    }
    int rc = x < 0 ? keel__pol_sbuf_putc(b, '-') : 0;
    int len = snprintf(tmp, sizeof(tmp), "%u", limb[n - 1]);
    if (rc == 0)
        rc = keel__pol_sbuf_append(b, tmp, (size_t)len);
    for (size_t k = n - 1; k-- > 0 && rc == 0;) {
        len = snprintf(tmp, sizeof(tmp), "%09u", limb[k]);
        rc = keel__pol_sbuf_append(b, tmp, (size_t)len);
    }
    return rc;
}

/* ---- JSON values as Python objects ------------------------------------ */

/* Deeper JSON than this is refused rather than recursed into. */
#define MAX_JSON_DEPTH 200

static int json_text(keel__pol_sbuf_t *b, const json_t *v, keel__pol_textmode_t mode, int depth)
{
    char tmp[32];
    int n, rc = 0;
    if (depth > MAX_JSON_DEPTH)
        return KEEL_EVALUE;
    switch (json_typeof(v)) {
    case JSON_STRING:
        if (mode == KEEL__PY_STR)
            return keel__pol_sbuf_append(b, json_string_value(v), json_string_length(v));
        return keel__pol_repr_str(b, json_string_value(v), json_string_length(v), mode == KEEL__PY_ASCII);
    case JSON_INTEGER:
        n = snprintf(tmp, sizeof(tmp), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return keel__pol_sbuf_append(b, tmp, (size_t)n);
    case JSON_REAL:
        return keel__pol_float_repr(b, json_real_value(v), true);
    case JSON_TRUE:
        return keel__pol_sbuf_append(b, "True", 4);
    case JSON_FALSE:
        return keel__pol_sbuf_append(b, "False", 5);
    case JSON_NULL:
        return keel__pol_sbuf_append(b, "None", 4);
    case JSON_ARRAY: {
        keel__pol_textmode_t inner = mode == KEEL__PY_ASCII ? KEEL__PY_ASCII : KEEL__PY_REPR;
        rc = keel__pol_sbuf_putc(b, '[');
        for (size_t i = 0; i < json_array_size(v) && rc == 0; i++) {
            if (i)
                rc = keel__pol_sbuf_append(b, ", ", 2);
            if (rc == 0)
                rc = json_text(b, json_array_get(v, i), inner, depth + 1);
        }
        return rc ? rc : keel__pol_sbuf_putc(b, ']');
    }
    case JSON_OBJECT: {
        keel__pol_textmode_t inner = mode == KEEL__PY_ASCII ? KEEL__PY_ASCII : KEEL__PY_REPR;
        const char *key;
        size_t klen;
        json_t *val;
        bool first = true;
        rc = keel__pol_sbuf_putc(b, '{');
        json_object_keylen_foreach((json_t *)v, key, klen, val)
        {
            if (rc)
                break;
            if (!first)
                rc = keel__pol_sbuf_append(b, ", ", 2);
            first = false;
            if (rc == 0)
                rc = keel__pol_repr_str(b, key, klen, mode == KEEL__PY_ASCII);
            if (rc == 0)
                rc = keel__pol_sbuf_append(b, ": ", 2);
            if (rc == 0)
                rc = json_text(b, val, inner, depth + 1);
        }
        return rc ? rc : keel__pol_sbuf_putc(b, '}');
    }
    }
    return KEEL_EINVAL;
}

int keel__pol_json_text(keel__pol_sbuf_t *b, const json_t *v, keel__pol_textmode_t mode)
{
    return json_text(b, v, mode, 0);
}

static int json_str(keel__pol_sbuf_t *b, const char *s, size_t len)
{
    int rc = keel__pol_sbuf_putc(b, '"');
    for (size_t i = 0; i < len && rc == 0;) {
        uint32_t c = keel__pol_utf8_next(s, len, &i);
        char esc[16];
        switch (c) {
        case '"':
            rc = keel__pol_sbuf_append(b, "\\\"", 2);
            break;
        case '\\':
            rc = keel__pol_sbuf_append(b, "\\\\", 2);
            break;
        case '\n':
            rc = keel__pol_sbuf_append(b, "\\n", 2);
            break;
        case '\r':
            rc = keel__pol_sbuf_append(b, "\\r", 2);
            break;
        case '\t':
            rc = keel__pol_sbuf_append(b, "\\t", 2);
            break;
        case '\b':
            rc = keel__pol_sbuf_append(b, "\\b", 2);
            break;
        case '\f':
            rc = keel__pol_sbuf_append(b, "\\f", 2);
            break;
        default:
            if (c >= 0x20 && c < 0x7F) {
                rc = keel__pol_sbuf_putc(b, (char)c);
            } else if (c >= 0x10000) {
                uint32_t v = c - 0x10000;
                snprintf(esc, sizeof(esc), "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
                rc = keel__pol_sbuf_append(b, esc, 12);
            } else {
                snprintf(esc, sizeof(esc), "\\u%04x", c);
                rc = keel__pol_sbuf_append(b, esc, 6);
            }
        }
    }
    return rc ? rc : keel__pol_sbuf_putc(b, '"');
}

static int json_newline(keel__pol_sbuf_t *b, int indent, int level)
{
    int rc = keel__pol_sbuf_putc(b, '\n');
    return rc ? rc : keel__pol_sbuf_fill(b, ' ', (size_t)indent * (size_t)level);
}

static int py_json_dumps(keel__pol_sbuf_t *b, const json_t *v, int indent, int level)
{
    char tmp[32];
    int n, rc = 0;
    if (level > MAX_JSON_DEPTH)
        return KEEL_EVALUE;
    switch (json_typeof(v)) {
    case JSON_STRING:
        return json_str(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        n = snprintf(tmp, sizeof(tmp), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return keel__pol_sbuf_append(b, tmp, (size_t)n);
    case JSON_REAL:
        return keel__pol_float_repr(b, json_real_value(v), true);
    case JSON_TRUE:
        return keel__pol_sbuf_append(b, "true", 4);
    case JSON_FALSE:
        return keel__pol_sbuf_append(b, "false", 5);
    case JSON_NULL:
        return keel__pol_sbuf_append(b, "null", 4);
    case JSON_ARRAY:
        if (json_array_size(v) == 0)
            return keel__pol_sbuf_append(b, "[]", 2);
        rc = keel__pol_sbuf_putc(b, '[');
        for (size_t i = 0; i < json_array_size(v) && rc == 0; i++) {
            if (i)
                rc = indent > 0 ? keel__pol_sbuf_putc(b, ',') : keel__pol_sbuf_append(b, ", ", 2);
            if (rc == 0 && indent > 0)
                rc = json_newline(b, indent, level + 1);
            if (rc == 0)
                rc = py_json_dumps(b, json_array_get(v, i), indent, level + 1);
        }
        if (rc == 0 && indent > 0)
            rc = json_newline(b, indent, level);
        return rc ? rc : keel__pol_sbuf_putc(b, ']');
    case JSON_OBJECT: {
        if (json_object_size(v) == 0)
            return keel__pol_sbuf_append(b, "{}", 2);
        const char *key;
        size_t klen;
        json_t *val;
        bool first = true;
        rc = keel__pol_sbuf_putc(b, '{');
        json_object_keylen_foreach((json_t *)v, key, klen, val)
        {
            if (rc)
                break;
            if (!first)
                rc = indent > 0 ? keel__pol_sbuf_putc(b, ',') : keel__pol_sbuf_append(b, ", ", 2);
            first = false;
            if (rc == 0 && indent > 0)
                rc = json_newline(b, indent, level + 1);
            if (rc == 0)
                rc = json_str(b, key, klen);
            if (rc == 0)
                rc = keel__pol_sbuf_append(b, ": ", 2);
            if (rc == 0)
                rc = py_json_dumps(b, val, indent, level + 1);
        }
        if (rc == 0 && indent > 0)
            rc = json_newline(b, indent, level);
        return rc ? rc : keel__pol_sbuf_putc(b, '}');
    }
    }
    return KEEL_EINVAL;
}

int keel__pol_json_dumps(keel__pol_sbuf_t *b, const json_t *v, int indent)
{
    return py_json_dumps(b, v, indent, 0);
}

bool keel__pol_truthy(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        return json_string_length(v) > 0;
    case JSON_INTEGER:
        return json_integer_value(v) != 0;
    case JSON_REAL:
        return json_real_value(v) != 0;
    case JSON_TRUE:
        return true;
    case JSON_FALSE:
    case JSON_NULL:
        return false;
    case JSON_ARRAY:
        return json_array_size(v) > 0;
    case JSON_OBJECT:
        return json_object_size(v) > 0;
    }
    return false;
}

/* ---- printf-style formatting ------------------------------------------ */

enum { F_LJUST = 1, F_SIGN = 2, F_BLANK = 4, F_ALT = 8, F_ZERO = 16 };
enum { OP_LIT, OP_KEY, OP_CONV, OP_ERR };

/* Widths and precisions above this are refused instead of allocating the
 * gigabytes Python would (it would compare a giant string and fail). */
#define MAX_WIDTH (1 << 20)

typedef struct {
    uint8_t type, flags;
    char conv;
    int64_t width, prec; /* -1 = not given */
    uint32_t off, len;   /* OP_LIT text, OP_KEY key, OP_ERR message index */
} fop_t;

struct keel__pol_fmt_s {
    char *text;
    size_t textlen;
    fop_t *ops;
    size_t nops;
    bool constant;
    char *simple_key; /* NUL-terminated copy when the template is "%(key)s" */
};

static const char *const fmt_errors[] = {
    "incomplete format", "incomplete format key", "* wants int",
    "width too big",     "precision too big",     "unsupported format character",
};
enum { E_INCOMPLETE, E_INCOMPLETE_KEY, E_STAR, E_WIDTH, E_PREC, E_UNSUPPORTED };

static int push_op(fop_t **ops, size_t *n, size_t *cap, fop_t op)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        fop_t *p = keel__realloc(*ops, nc * sizeof(*p));
        if (p == NULL)
            return KEEL_ENOMEM;
        *ops = p;
        *cap = nc;
    }
    (*ops)[(*n)++] = op;
    return 0;
}

int keel__pol_fmt_compile(const char *fmt, size_t len, keel__pol_fmt_t **out)
{
    keel__pol_fmt_t *f = keel__calloc(1, sizeof(*f));
    size_t cap = 0;
    int rc = KEEL_ENOMEM;
    if (f == NULL)
        return KEEL_ENOMEM;
    f->text = keel__strndup(fmt, len);
    if (f->text == NULL)
        goto fail;
    f->textlen = len;
    const char *s = f->text;
    size_t i = 0, lit = 0;
#define PUSH(...)                                                                                                                  \
    do {                                                                                                                           \
        fop_t op_ = {__VA_ARGS__};                                                                                                 \
        if ((rc = push_op(&f->ops, &f->nops, &cap, op_)) != 0)                                                                     \
            goto fail;                                                                                                             \
    } while (0)
#define STATIC_ERROR(e)                                                                                                            \
    do {                                                                                                                           \
        PUSH(.type = OP_ERR, .off = (e));                                                                                          \
        goto done;                                                                                                                 \
    } while (0)
    while (i < len) {
        if (s[i] != '%') {
            i++;
            continue;
        }
        if (i > lit)
            PUSH(.type = OP_LIT, .off = (uint32_t)lit, .len = (uint32_t)(i - lit));
        i++;
        if (i >= len)
            STATIC_ERROR(E_INCOMPLETE);
        if (s[i] == '%') {
            PUSH(.type = OP_LIT, .off = (uint32_t)i, .len = 1);
            lit = ++i;
            continue;
        }
        if (s[i] == '(') {
            size_t j = i + 1;
            int pcount = 1;
            while (pcount > 0 && j < len) {
                if (s[j] == ')')
                    pcount--;
                else if (s[j] == '(')
                    pcount++;
                j++;
            }
            if (pcount > 0)
                STATIC_ERROR(E_INCOMPLETE_KEY);
            PUSH(.type = OP_KEY, .off = (uint32_t)(i + 1), .len = (uint32_t)(j - 1 - (i + 1)));
            i = j;
        }
        uint8_t flags = 0;
        for (;; i++) {
            if (i >= len)
                STATIC_ERROR(E_INCOMPLETE);
            char c = s[i];
            if (c == '-')
                flags |= F_LJUST;
            else if (c == '+')
                flags |= F_SIGN;
            else if (c == ' ')
                flags |= F_BLANK;
            else if (c == '#')
                flags |= F_ALT;
            else if (c == '0')
                flags |= F_ZERO;
            else
                break;
        }
        int64_t width = -1, prec = -1;
        if (s[i] == '*')
            STATIC_ERROR(E_STAR);
        if (s[i] >= '0' && s[i] <= '9') {
            width = 0;
            while (i < len && s[i] >= '0' && s[i] <= '9') {
                if (width > (INT64_MAX - (s[i] - '0')) / 10)
                    STATIC_ERROR(E_WIDTH);
                width = width * 10 + (s[i] - '0');
                i++;
            }
            if (i >= len)
                STATIC_ERROR(E_INCOMPLETE);
        }
        if (s[i] == '.') {
            prec = 0;
            if (++i >= len)
                STATIC_ERROR(E_INCOMPLETE);
            if (s[i] == '*')
                STATIC_ERROR(E_STAR);
            while (i < len && s[i] >= '0' && s[i] <= '9') {
                if (prec > (INT_MAX - (s[i] - '0')) / 10)
                    STATIC_ERROR(E_PREC);
                prec = prec * 10 + (s[i] - '0');
                i++;
            }
            if (i >= len)
                STATIC_ERROR(E_INCOMPLETE);
        }
        if (s[i] == 'h' || s[i] == 'l' || s[i] == 'L') {
            if (++i >= len)
                STATIC_ERROR(E_INCOMPLETE);
        }
        char conv = s[i++];
        if (!strchr("sradiuoxXeEfFgGc", conv) || conv == '\0')
            STATIC_ERROR(E_UNSUPPORTED);
        PUSH(.type = OP_CONV, .flags = flags, .conv = conv, .width = width, .prec = prec);
        lit = i;
    }
    if (i > lit)
        PUSH(.type = OP_LIT, .off = (uint32_t)lit, .len = (uint32_t)(i - lit));
done:
#undef PUSH
#undef STATIC_ERROR
    f->constant = true;
    for (size_t k = 0; k < f->nops; k++)
        if (f->ops[k].type != OP_LIT)
            f->constant = false;
    if (f->nops == 2 && f->ops[0].type == OP_KEY && f->ops[1].type == OP_CONV && f->ops[1].conv == 's' && f->ops[1].flags == 0 &&
        f->ops[1].width < 0 && f->ops[1].prec < 0) {
        f->simple_key = keel__strndup(f->text + f->ops[0].off, f->ops[0].len);
        if (f->simple_key == NULL) {
            rc = KEEL_ENOMEM;
            goto fail;
        }
    }
    *out = f;
    return 0;
fail:
    keel__pol_fmt_free(f);
    return rc;
}

void keel__pol_fmt_free(keel__pol_fmt_t *f)
{
    if (f == NULL)
        return;
    keel__free(f->text);
    keel__free(f->ops);
    keel__free(f->simple_key);
    keel__free(f);
}

bool keel__pol_fmt_is_constant(const keel__pol_fmt_t *f)
{
    return f->constant;
}

bool keel__pol_fmt_always_raises(const keel__pol_fmt_t *f)
{
    for (size_t k = 0; k < f->nops; k++) {
        if (f->ops[k].type == OP_ERR)
            return true;
        if (f->ops[k].type == OP_KEY)
            return false;
    }
    return false;
}

bool keel__pol_fmt_has_error(const keel__pol_fmt_t *f)
{
    for (size_t k = 0; k < f->nops; k++)
        if (f->ops[k].type == OP_ERR)
            return true;
    return false;
}

bool keel__pol_fmt_has_keys(const keel__pol_fmt_t *f)
{
    for (size_t k = 0; k < f->nops; k++)
        if (f->ops[k].type == OP_KEY)
            return true;
    return false;
}

const char *keel__pol_fmt_simple_key(const keel__pol_fmt_t *f)
{
    return f->simple_key;
}

/* The text of an integer in base 10, 8 or 16 as _PyUnicode_FormatLong makes
 * it: sign, "0x"/"0o" prefix only with F_ALT, digits zero-filled to prec. */
static int format_long(keel__pol_sbuf_t *b, const fop_t *op, bool neg, uint64_t mag, keel__pol_sbuf_t *bigdigits)
{
    char digits[80];
    size_t nd;
    const char *dp = digits;
    if (bigdigits) {
        dp = bigdigits->base;
        nd = bigdigits->len;
    } else if (op->conv == 'o') {
        nd = (size_t)snprintf(digits, sizeof(digits), "%llo", (unsigned long long)mag);
    } else if (op->conv == 'x' || op->conv == 'X') {
        nd = (size_t)snprintf(digits, sizeof(digits), op->conv == 'x' ? "%llx" : "%llX", (unsigned long long)mag);
    } else {
        nd = (size_t)snprintf(digits, sizeof(digits), "%llu", (unsigned long long)mag);
    }
    int rc = neg ? keel__pol_sbuf_putc(b, '-') : 0;
    if (rc == 0 && (op->flags & F_ALT) && (op->conv == 'o' || op->conv == 'x' || op->conv == 'X')) {
        char pre[2] = {'0', op->conv};
        rc = keel__pol_sbuf_append(b, pre, 2);
    }
    if (rc == 0 && op->prec > (int64_t)nd)
        rc = keel__pol_sbuf_fill(b, '0', (size_t)op->prec - nd);
    return rc ? rc : keel__pol_sbuf_append(b, dp, nd);
}

/* Formats one value into b per op; returns 0, KEEL_EVALUE (TypeError,
 * OverflowError, ...) or KEEL_ENOMEM. *numeric tells the padding step that
 * the text carries a sign (arg->sign in CPython). */
static int format_value(keel__pol_sbuf_t *b, const fop_t *op, const json_t *v, bool *numeric, const char **why)
{
    int t = json_typeof(v);
    *numeric = false;
    switch (op->conv) {
    case 's':
        return keel__pol_json_text(b, v, KEEL__PY_STR);
    case 'r':
        return keel__pol_json_text(b, v, KEEL__PY_REPR);
    case 'a':
        return keel__pol_json_text(b, v, KEEL__PY_ASCII);
    case 'd':
    case 'i':
    case 'u':
    case 'o':
    case 'x':
    case 'X': {
        *numeric = true;
        bool intonly = op->conv == 'o' || op->conv == 'x' || op->conv == 'X';
        if (t == JSON_TRUE || t == JSON_FALSE)
            return format_long(b, op, false, t == JSON_TRUE, NULL);
        if (t == JSON_INTEGER) {
            json_int_t x = json_integer_value(v);
            uint64_t mag = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
            return format_long(b, op, x < 0, mag, NULL);
        }
        if (t == JSON_REAL && !intonly) {
            double x = trunc(json_real_value(v));
            if (!isfinite(x)) {
                *why = "cannot convert float to integer";
                return KEEL_EVALUE;
            }
            char st[64];
            keel__pol_sbuf_t digits;
            keel__pol_sbuf_init(&digits, st, sizeof(st));
            int rc = keel__pol_double_to_int_text(&digits, fabs(x));
            if (rc == 0) {
                fop_t dop = *op;
                rc = format_long(b, &dop, x < 0 && x != 0, 0, &digits);
            }
            keel__pol_sbuf_free(&digits);
            return rc;
        }
        *why = intonly ? "%x format: an integer is required" : "%d format: a real number is required";
        return KEEL_EVALUE;
    }
    case 'e':
    case 'E':
    case 'f':
    case 'F':
    case 'g':
    case 'G': {
        double x;
        *numeric = true;
        if (t == JSON_TRUE || t == JSON_FALSE)
            x = t == JSON_TRUE;
        else if (t == JSON_INTEGER)
            x = (double)json_integer_value(v);
        else if (t == JSON_REAL)
            x = json_real_value(v);
        else {
            *why = "must be real number";
            return KEEL_EVALUE;
        }
        int prec = op->prec < 0 ? 6 : (int)op->prec;
        if (!isfinite(x)) {
            const char *txt = isnan(x) ? "nan" : (x < 0 ? "-inf" : "inf");
            char up[8];
            size_t n = strlen(txt);
            for (size_t k = 0; k < n; k++)
                up[k] = (op->conv >= 'A' && op->conv <= 'Z' && txt[k] >= 'a') ? (char)(txt[k] - 32) : txt[k];
            return keel__pol_sbuf_append(b, up, n);
        }
        char spec[8] = "%";
        size_t sl = 1;
        if (op->flags & F_ALT)
            spec[sl++] = '#';
        spec[sl++] = '.';
        spec[sl++] = '*';
        spec[sl++] = op->conv;
        spec[sl] = '\0';
        int need = snprintf(NULL, 0, spec, prec, x);
        if (need < 0)
            return KEEL_EVALUE;
        int rc = keel__pol_sbuf_reserve(b, (size_t)need);
        if (rc)
            return rc;
        snprintf(b->base + b->len, (size_t)need + 1, spec, prec, x);
        b->len += (size_t)need;
        return 0;
    }
    case 'c': {
        if (t == JSON_STRING) {
            const char *s = json_string_value(v);
            size_t n = json_string_length(v);
            if (n > 0 && keel__pol_utf8_offset(s, n, 1) == n)
                return keel__pol_sbuf_append(b, s, n);
            *why = "%c requires int or char";
            return KEEL_EVALUE;
        }
        json_int_t x;
        if (t == JSON_INTEGER)
            x = json_integer_value(v);
        else if (t == JSON_TRUE || t == JSON_FALSE)
            x = t == JSON_TRUE;
        else {
            *why = "%c requires int or char";
            return KEEL_EVALUE;
        }
        if (x < 0 || x > 0x10FFFF) {
            *why = "%c arg not in range(0x110000)";
            return KEEL_EVALUE;
        }
        return keel__pol_sbuf_put_cp(b, (uint32_t)x);
    }
    }
    *why = "unsupported format character";
    return KEEL_EVALUE;
}

/* unicode_format_arg_output: sign, "0x" prefix, fill and justification. */
static int pad_output(keel__pol_sbuf_t *out, const fop_t *op, const char *body, size_t blen, bool numeric)
{
    int64_t width = op->width, prec = op->prec;
    char fill = (numeric && (op->flags & F_ZERO)) ? '0' : ' ';
    int64_t len = (int64_t)keel__pol_utf8_count(body, blen);
    if ((width == -1 || width <= len) && (prec == -1 || prec >= len) && !(op->flags & (F_SIGN | F_BLANK)))
        return keel__pol_sbuf_append(out, body, blen);
    bool strconv = op->conv == 's' || op->conv == 'r' || op->conv == 'a';
    if (strconv && prec >= 0 && len > prec)
        len = prec;
    size_t pidx = 0;
    char signchar = 0;
    bool sign = numeric;
    if (sign) {
        if (blen > 0 && (body[0] == '-' || body[0] == '+')) {
            signchar = body[0];
            len--;
            pidx = 1;
        } else if (op->flags & F_SIGN) {
            signchar = '+';
        } else if (op->flags & F_BLANK) {
            signchar = ' ';
        } else {
            sign = false;
        }
    }
    if (width < len)
        width = len;
    int rc = 0;
    bool prefix = (op->flags & F_ALT) && (op->conv == 'x' || op->conv == 'X' || op->conv == 'o');
    if (sign) {
        if (fill != ' ')
            rc = keel__pol_sbuf_putc(out, signchar);
        if (width > len)
            width--;
    }
    if (prefix) {
        if (fill != ' ') {
            if (rc == 0)
                rc = keel__pol_sbuf_append(out, body + pidx, 2);
            pidx += 2;
        }
        width -= 2;
        if (width < 0)
            width = 0;
        len -= 2;
    }
    if (rc == 0 && width > len && !(op->flags & F_LJUST)) {
        rc = keel__pol_sbuf_fill(out, fill, (size_t)(width - len));
        width = len;
    }
    if (rc == 0 && fill == ' ') {
        if (sign)
            rc = keel__pol_sbuf_putc(out, signchar);
        if (rc == 0 && prefix) {
            rc = keel__pol_sbuf_append(out, body + pidx, 2);
            pidx += 2;
        }
    }
    if (rc == 0 && len > 0) {
        size_t end = pidx + keel__pol_utf8_offset(body + pidx, blen - pidx, (size_t)len);
        rc = keel__pol_sbuf_append(out, body + pidx, end - pidx);
    }
    if (rc == 0 && width > len)
        rc = keel__pol_sbuf_fill(out, ' ', (size_t)(width - len));
    return rc;
}

int keel__pol_fmt_apply(const keel__pol_fmt_t *f, const json_t *mapping, keel__pol_sbuf_t *scratch, const char **out,
                        size_t *outlen, const char **why)
{
    const char *dummy;
    if (why == NULL)
        why = &dummy;
    if (f->constant && f->nops <= 1) {
        *out = f->nops ? f->text + f->ops[0].off : f->text;
        *outlen = f->nops ? f->ops[0].len : 0;
        return 0;
    }
    bool is_obj = mapping && json_is_object(mapping);
    if (f->simple_key) {
        json_t *v = is_obj ? json_object_getn(mapping, f->simple_key, f->ops[0].len) : NULL;
        if (v == NULL) {
            *why = "KeyError";
            return KEEL_ENOENT;
        }
        if (json_is_string(v)) {
            *out = json_string_value(v);
            *outlen = json_string_length(v);
            return 0;
        }
    }
    const json_t *cur = mapping;
    bool avail = true;
    int rc = 0;
    scratch->len = 0;
    for (size_t k = 0; k < f->nops && rc == 0; k++) {
        const fop_t *op = &f->ops[k];
        switch (op->type) {
        case OP_LIT:
            rc = keel__pol_sbuf_append(scratch, f->text + op->off, op->len);
            break;
        case OP_KEY:
            cur = is_obj ? json_object_getn(mapping, f->text + op->off, op->len) : NULL;
            if (cur == NULL) {
                *why = "KeyError";
                return KEEL_ENOENT;
            }
            avail = true;
            break;
        case OP_CONV: {
            if (!avail || cur == NULL) {
                *why = "not enough arguments for format string";
                return KEEL_EVALUE;
            }
            avail = false;
            if (op->width > MAX_WIDTH || op->prec > MAX_WIDTH) {
                *why = "width or precision too big";
                return KEEL_EVALUE;
            }
            char st[128];
            keel__pol_sbuf_t body;
            keel__pol_sbuf_init(&body, st, sizeof(st));
            bool numeric;
            rc = format_value(&body, op, cur, &numeric, why);
            if (rc == 0)
                rc = pad_output(scratch, op, body.base, body.len, numeric);
            keel__pol_sbuf_free(&body);
            break;
        }
        case OP_ERR:
            *why = fmt_errors[op->off];
            return KEEL_EVALUE;
        }
    }
    if (rc)
        return rc;
    *out = scratch->base ? scratch->base : "";
    *outlen = scratch->len;
    return 0;
}
