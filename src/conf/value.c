/*
 * value.c — resolved option values: type names, deep clear/copy/compare,
 * and the two ways a value becomes text: JSON (for `keel conf dump` and the
 * differential tests) and Python's str() (what `$opt` interpolation
 * substitutes, so "['a', 'b']" must come out exactly as oslo.config's).
 *
 * Design choice: a value is a small tagged union that owns its strings and
 * items outright (no sharing, no refcounts). Config values are few and
 * read-mostly, so deep copies are cheap and ownership stays obvious. Both
 * text writers produce byte-for-byte what Python does — json.dumps(v,
 * ensure_ascii=False) and str(v) — so tests can compare text, not just
 * meaning.
 */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "pycompat/pystr.h"
#include "types.h"

static const char *const type_names[] = {
#define KEEL_CONF_TYPE_NAME_(name, schema, sample) schema,
    KEEL_CONF_TYPE_MAP(KEEL_CONF_TYPE_NAME_)
#undef KEEL_CONF_TYPE_NAME_
};

const char *keel_conf_type_name(keel_conf_type_t t)
{
    if ((unsigned)t >= KEEL_CONF_TYPE_COUNT_)
        return "unknown";
    return type_names[t];
}

int keel_conf_type_from_name(const char *name, keel_conf_type_t *out)
{
    if (name == NULL)
        return KEEL_EINVAL;
    for (unsigned i = 0; i < KEEL_CONF_TYPE_COUNT_; i++) {
        if (strcmp(type_names[i], name) == 0) {
            *out = (keel_conf_type_t)i;
            return 0;
        }
    }
    return KEEL_EINVAL;
}

/* Items a list or dict value holds: a dict stores key and value. */
static size_t item_count(const keel_conf_value_t *v)
{
    return v->kind == KEEL_CONF_VDICT ? 2 * v->len : v->len;
}

void keel__conf_value_clear(keel_conf_value_t *v)
{
    if (v == NULL)
        return;
    switch (v->kind) {
    case KEEL_CONF_VSTR:
        keel__free(v->u.s);
        break;
    case KEEL_CONF_VLIST:
    case KEEL_CONF_VDICT:
        if (v->u.items) {
            size_t n = item_count(v);
            for (size_t i = 0; i < n; i++)
                keel__conf_value_clear(&v->u.items[i]);
            keel__free(v->u.items);
        }
        break;
    default:
        break;
    }
    *v = (keel_conf_value_t){.kind = KEEL_CONF_VNONE};
}

int keel__conf_value_copy(keel_conf_value_t *dst, const keel_conf_value_t *src)
{
    *dst = (keel_conf_value_t){.kind = KEEL_CONF_VNONE};
    switch (src->kind) {
    case KEEL_CONF_VSTR: {
        char *s = keel__malloc(src->len + 1);
        if (s == NULL)
            return KEEL_ENOMEM;
        memcpy(s, src->u.s, src->len);
        s[src->len] = '\0';
        dst->kind = KEEL_CONF_VSTR;
        dst->len = src->len;
        dst->u.s = s;
        return 0;
    }
    case KEEL_CONF_VLIST:
    case KEEL_CONF_VDICT: {
        size_t n = item_count(src);
        keel_conf_value_t *items = keel__calloc(n ? n : 1, sizeof(*items));
        if (items == NULL)
            return KEEL_ENOMEM;
        /* Link the array in first so a failure part way frees what was copied. */
        dst->kind = src->kind;
        dst->u.items = items;
        for (size_t i = 0; i < n; i++) {
            int rc = keel__conf_value_copy(&items[i], &src->u.items[i]);
            if (rc != 0) {
                dst->len = src->len; /* items not copied are VNONE (calloc) */
                keel__conf_value_clear(dst);
                return rc;
            }
        }
        dst->len = src->len;
        return 0;
    }
    default:
        *dst = *src;
        return 0;
    }
}

/* Finds key (a VSTR) among a dict's keys; returns its index or SIZE_MAX. */
static size_t dict_find(const keel_conf_value_t *d, const keel_conf_value_t *key)
{
    for (size_t i = 0; i < d->len; i++)
        if (keel__conf_value_equal(&d->u.items[2 * i], key))
            return i;
    return SIZE_MAX;
}

bool keel__conf_value_equal(const keel_conf_value_t *a, const keel_conf_value_t *b)
{
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case KEEL_CONF_VNONE:
        return true;
    case KEEL_CONF_VSTR:
        return a->len == b->len && memcmp(a->u.s, b->u.s, a->len) == 0;
    case KEEL_CONF_VBOOL:
        return a->u.b == b->u.b;
    case KEEL_CONF_VINT:
        return a->u.i == b->u.i;
    case KEEL_CONF_VFLOAT:
        return a->u.f == b->u.f || (isnan(a->u.f) && isnan(b->u.f));
    case KEEL_CONF_VLIST:
        if (a->len != b->len)
            return false;
        for (size_t i = 0; i < a->len; i++)
            if (!keel__conf_value_equal(&a->u.items[i], &b->u.items[i]))
                return false;
        return true;
    case KEEL_CONF_VDICT:
        /* As Python's dict ==: same keys with equal values, in any order.
         * Keys are unique (conversion rejects duplicates), so matching each
         * key of a in b and comparing sizes is enough. */
        if (a->len != b->len)
            return false;
        for (size_t i = 0; i < a->len; i++) {
            size_t j = dict_find(b, &a->u.items[2 * i]);
            if (j == SIZE_MAX || !keel__conf_value_equal(&a->u.items[2 * i + 1], &b->u.items[2 * j + 1]))
                return false;
        }
        return true;
    }
    return false;
}

/*
 * JSON text, as json.dumps(v, ensure_ascii=False) writes it: ", " and ": "
 * separators, only '"', '\\' and control characters escaped.
 */
static int json_string(keel_buf_t *b, const char *s, size_t len)
{
    int rc = keel_buf_putc(b, '"');
    size_t run = 0; /* start of the pending run of bytes copied as they are */
    for (size_t i = 0; rc == 0 && i < len;) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char hex[8];
        size_t n = 1;
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        else if (c == '\b')
            esc = "\\b";
        else if (c == '\f')
            esc = "\\f";
        else if (c < 0x20) {
            snprintf(hex, sizeof(hex), "\\u%04x", c);
            esc = hex;
        } else if (c >= 0x80) {
            uint32_t cp;
            n = keel__utf8_decode(s + i, len - i, &cp);
            if (n == 0) { /* never produced by conversion; keep the output valid */
                esc = "\\ufffd";
                n = 1;
            }
        }
        if (esc) {
            rc = keel_buf_append(b, s + run, i - run);
            if (rc == 0)
                rc = keel_buf_puts(b, esc);
            run = i + n;
        }
        i += n;
    }
    if (rc == 0)
        rc = keel_buf_append(b, s + run, len - run);
    return rc ? rc : keel_buf_putc(b, '"');
}

static int json_value(keel_buf_t *b, const keel_conf_value_t *v)
{
    int rc = 0;
    switch (v->kind) {
    case KEEL_CONF_VNONE:
        return keel_buf_puts(b, "null");
    case KEEL_CONF_VSTR:
        return json_string(b, v->u.s, v->len);
    case KEEL_CONF_VBOOL:
        return keel_buf_puts(b, v->u.b ? "true" : "false");
    case KEEL_CONF_VINT:
        return keel_buf_printf(b, "%" PRId64, v->u.i);
    case KEEL_CONF_VFLOAT:
        /* repr() is valid JSON except for the non-finite values, which
         * Python's json module spells as JavaScript does. */
        if (isnan(v->u.f))
            return keel_buf_puts(b, "NaN");
        if (isinf(v->u.f))
            return keel_buf_puts(b, v->u.f < 0 ? "-Infinity" : "Infinity");
        return keel__py_repr_float(b, v->u.f);
    case KEEL_CONF_VLIST:
        rc = keel_buf_putc(b, '[');
        for (size_t i = 0; rc == 0 && i < v->len; i++) {
            if (i > 0)
                rc = keel_buf_puts(b, ", ");
            if (rc == 0)
                rc = json_value(b, &v->u.items[i]);
        }
        return rc ? rc : keel_buf_putc(b, ']');
    case KEEL_CONF_VDICT:
        rc = keel_buf_putc(b, '{');
        for (size_t i = 0; rc == 0 && i < v->len; i++) {
            const keel_conf_value_t *k = &v->u.items[2 * i];
            if (i > 0)
                rc = keel_buf_puts(b, ", ");
            /* Keys are always VSTR; anything else would not be JSON. */
            if (rc == 0)
                rc = k->kind == KEEL_CONF_VSTR ? json_string(b, k->u.s, k->len) : json_string(b, "", 0);
            if (rc == 0)
                rc = keel_buf_puts(b, ": ");
            if (rc == 0)
                rc = json_value(b, &v->u.items[2 * i + 1]);
        }
        return rc ? rc : keel_buf_putc(b, '}');
    }
    return KEEL_EINVAL;
}

/* Undoes a partial append so a failed writer leaves buf as it found it. */
static int rollback(keel_buf_t *b, size_t mark, int rc)
{
    if (rc != 0 && b->base) {
        b->len = mark;
        b->base[mark] = '\0';
    }
    return rc;
}

int keel_conf_value_to_json(const keel_conf_value_t *v, keel_buf_t *buf)
{
    size_t mark = buf->len;
    return rollback(buf, mark, json_value(buf, v));
}

/* Python's repr() of a value inside a container. */
static int py_repr(keel_buf_t *b, const keel_conf_value_t *v)
{
    int rc = 0;
    switch (v->kind) {
    case KEEL_CONF_VNONE:
        return keel_buf_puts(b, "None");
    case KEEL_CONF_VSTR:
        return keel__py_repr_str(b, v->u.s, v->len, KEEL__PY_REPR_HEX_BYTES);
    case KEEL_CONF_VBOOL:
        return keel_buf_puts(b, v->u.b ? "True" : "False");
    case KEEL_CONF_VINT:
        return keel_buf_printf(b, "%" PRId64, v->u.i);
    case KEEL_CONF_VFLOAT:
        return keel__py_repr_float(b, v->u.f);
    case KEEL_CONF_VLIST:
        rc = keel_buf_putc(b, '[');
        for (size_t i = 0; rc == 0 && i < v->len; i++) {
            if (i > 0)
                rc = keel_buf_puts(b, ", ");
            if (rc == 0)
                rc = py_repr(b, &v->u.items[i]);
        }
        return rc ? rc : keel_buf_putc(b, ']');
    case KEEL_CONF_VDICT:
        rc = keel_buf_putc(b, '{');
        for (size_t i = 0; rc == 0 && i < v->len; i++) {
            if (i > 0)
                rc = keel_buf_puts(b, ", ");
            if (rc == 0)
                rc = py_repr(b, &v->u.items[2 * i]);
            if (rc == 0)
                rc = keel_buf_puts(b, ": ");
            if (rc == 0)
                rc = py_repr(b, &v->u.items[2 * i + 1]);
        }
        return rc ? rc : keel_buf_putc(b, '}');
    }
    return KEEL_EINVAL;
}

int keel_conf_value_to_pystr(const keel_conf_value_t *v, keel_buf_t *buf)
{
    size_t mark = buf->len;
    int rc;
    /* str() differs from repr() only at the top: a str is itself, and
     * oslo.config substitutes '' for an option whose value is None. */
    if (v->kind == KEEL_CONF_VSTR)
        rc = keel_buf_append(buf, v->u.s, v->len);
    else if (v->kind == KEEL_CONF_VNONE)
        rc = 0;
    else
        rc = py_repr(buf, v);
    return rollback(buf, mark, rc);
}
