/*
 * The rabbit driver's message format (spec/oslo-messaging-wire.md §5, §7):
 * the inner message dict with its underscore keys in oslo's order, the
 * "oslo.version" 2.0 envelope around its JSON text, and the ids and
 * timestamps oslo puts in them. Every driver that carries bytes uses these,
 * so the fake driver already sends what the rabbit driver will.
 *
 * Bodies are written as kombu writes them (json.dumps() defaults, below),
 * so a keel body is byte-for-byte a Python one for the same dict: the test
 * rebuilds bodies captured from Python oslo.messaging exactly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "messaging_int.h"

#define CONTEXT_PREFIX "_context_"
#define CONTEXT_PREFIX_LEN (sizeof(CONTEXT_PREFIX) - 1)

int keel__messaging_uuid_hex(char out[33])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    int rc = keel_uuid4(b);
    if (rc != 0)
        return rc;
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[32] = '\0';
    return 0;
}

int keel__messaging_uuid_str(char out[37])
{
    char h[33];
    int rc = keel__messaging_uuid_hex(h);
    if (rc != 0)
        return rc;
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
    return 0;
}

void keel__messaging_timestamp(char out[32])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%d %H:%M:%S", &tm);
    long usec = ts.tv_nsec / 1000;
    /* str(datetime) leaves the fraction out when it is zero. */
    if (usec != 0)
        snprintf(out + n, 32 - n, ".%06ld", usec);
}

/*
 * JSON text as Python's json.dumps() writes it with its defaults, which is
 * what kombu sends: ", " and ": " separators, keys in the dict's order,
 * every non-ASCII character and DEL escaped as \uxxxx (lower-case hex,
 * surrogate pairs above the BMP), and floats as repr() writes them (the
 * shortest text that reads back the same, "1e-05", "1e+16", "2.0").
 * jansson's own writer differs on the last two, hence this one.
 */
static int dump_string(keel_buf_t *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    int rc = keel_buf_putc(out, '"');
    size_t i = 0;
    while (rc == 0 && i < len) {
        /* Most text is printable ASCII that needs no escape: copy runs of it at once. */
        size_t run = i;
        while (run < len && (unsigned char)s[run] >= 0x20 && (unsigned char)s[run] < 0x7f && s[run] != '"' && s[run] != '\\')
            run++;
        if (run > i) {
            rc = keel_buf_append(out, s + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = (unsigned char)s[i];
        uint32_t cp;
        size_t n = 1;
        if (c < 0x80) {
            cp = c;
        } else if ((c & 0xe0) == 0xc0 && i + 1 < len) {
            cp = ((uint32_t)(c & 0x1f) << 6) | ((unsigned char)s[i + 1] & 0x3f);
            n = 2;
        } else if ((c & 0xf0) == 0xe0 && i + 2 < len) {
            cp =
                ((uint32_t)(c & 0x0f) << 12) | ((uint32_t)((unsigned char)s[i + 1] & 0x3f) << 6) | ((unsigned char)s[i + 2] & 0x3f);
            n = 3;
        } else if ((c & 0xf8) == 0xf0 && i + 3 < len) {
            cp = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)((unsigned char)s[i + 1] & 0x3f) << 12) |
                 ((uint32_t)((unsigned char)s[i + 2] & 0x3f) << 6) | ((unsigned char)s[i + 3] & 0x3f);
            n = 4;
        } else {
            cp = 0xfffd; /* jansson validated the text; only _nocheck strings get here */
        }
        i += n;
        char esc[13];
        switch (cp) {
        case '"':
            rc = keel_buf_puts(out, "\\\"");
            continue;
        case '\\':
            rc = keel_buf_puts(out, "\\\\");
            continue;
        case '\b':
            rc = keel_buf_puts(out, "\\b");
            continue;
        case '\f':
            rc = keel_buf_puts(out, "\\f");
            continue;
        case '\n':
            rc = keel_buf_puts(out, "\\n");
            continue;
        case '\r':
            rc = keel_buf_puts(out, "\\r");
            continue;
        case '\t':
            rc = keel_buf_puts(out, "\\t");
            continue;
        default:
            break;
        }
        if (cp >= 0x20 && cp < 0x7f) {
            rc = keel_buf_putc(out, (char)cp);
            continue;
        }
        size_t k = 0;
        uint32_t units[2] = {cp, 0};
        int nunits = 1;
        if (cp >= 0x10000) {
            uint32_t v = cp - 0x10000;
            units[0] = 0xd800 | (v >> 10);
            units[1] = 0xdc00 | (v & 0x3ff);
            nunits = 2;
        }
        for (int u = 0; u < nunits; u++) {
            esc[k++] = '\\';
            esc[k++] = 'u';
            for (int sh = 12; sh >= 0; sh -= 4)
                esc[k++] = hex[(units[u] >> sh) & 15];
        }
        rc = keel_buf_append(out, esc, k);
    }
    if (rc == 0)
        rc = keel_buf_putc(out, '"');
    return rc;
}

/* float.__repr__: the shortest round-tripping digits, fixed for exponents -4..15, else d.ddde+XX. */
static int dump_real(keel_buf_t *out, double v)
{
    if (v != v)
        return keel_buf_puts(out, "NaN");
    if (v == 1.0 / 0.0)
        return keel_buf_puts(out, "Infinity");
    if (v == -1.0 / 0.0)
        return keel_buf_puts(out, "-Infinity");
    char buf[40];
    int prec;
    for (prec = 1; prec < 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*e", prec - 1, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    snprintf(buf, sizeof(buf), "%.*e", prec - 1, v);
    /* buf is [-]d[.ddd]e[+-]XX: collect the digits and the exponent. */
    char digits[24];
    size_t nd = 0;
    const char *p = buf;
    bool neg = *p == '-';
    if (neg)
        p++;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    int rc = neg ? keel_buf_putc(out, '-') : 0;
    if (rc == 0 && exp >= -4 && exp < 16) {
        if (exp < 0) {
            rc = keel_buf_puts(out, "0.");
            for (int z = 0; rc == 0 && z < -exp - 1; z++)
                rc = keel_buf_putc(out, '0');
            if (rc == 0)
                rc = keel_buf_append(out, digits, nd);
        } else {
            size_t intlen = (size_t)exp + 1;
            for (size_t d = 0; rc == 0 && d < intlen; d++)
                rc = keel_buf_putc(out, d < nd ? digits[d] : '0');
            if (rc == 0)
                rc = keel_buf_putc(out, '.');
            if (rc == 0)
                rc = nd > intlen ? keel_buf_append(out, digits + intlen, nd - intlen) : keel_buf_putc(out, '0');
        }
    } else if (rc == 0) {
        rc = keel_buf_putc(out, digits[0]);
        if (rc == 0 && nd > 1) {
            rc = keel_buf_putc(out, '.');
            if (rc == 0)
                rc = keel_buf_append(out, digits + 1, nd - 1);
        }
        if (rc == 0)
            rc = keel_buf_printf(out, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    }
    return rc;
}

static int dump_value(keel_buf_t *out, json_t *v, int depth)
{
    if (depth > 1000)
        return KEEL_EINVAL; /* Python raises RecursionError long before; a cycle would never end */
    int rc = 0;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        rc = keel_buf_putc(out, '{');
        const char *key;
        size_t klen;
        json_t *item;
        bool first = true;
        json_object_keylen_foreach(v, key, klen, item)
        {
            if (rc == 0 && !first)
                rc = keel_buf_puts(out, ", ");
            first = false;
            if (rc == 0)
                rc = dump_string(out, key, klen);
            if (rc == 0)
                rc = keel_buf_puts(out, ": ");
            if (rc == 0)
                rc = dump_value(out, item, depth + 1);
            if (rc != 0)
                break;
        }
        return rc == 0 ? keel_buf_putc(out, '}') : rc;
    }
    case JSON_ARRAY:
        rc = keel_buf_putc(out, '[');
        for (size_t i = 0; rc == 0 && i < json_array_size(v); i++) {
            if (i > 0)
                rc = keel_buf_puts(out, ", ");
            if (rc == 0)
                rc = dump_value(out, json_array_get(v, i), depth + 1);
        }
        return rc == 0 ? keel_buf_putc(out, ']') : rc;
    case JSON_STRING:
        return dump_string(out, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return keel_buf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_REAL:
        return dump_real(out, json_real_value(v));
    case JSON_TRUE:
        return keel_buf_puts(out, "true");
    case JSON_FALSE:
        return keel_buf_puts(out, "false");
    case JSON_NULL:
        return keel_buf_puts(out, "null");
    }
    return KEEL_EINVAL;
}

int keel__messaging_json_dump(keel_buf_t *out, json_t *v)
{
    size_t start = out->len;
    int rc = v ? dump_value(out, v, 0) : keel_buf_puts(out, "null");
    if (rc != 0 && out->base != NULL) {
        out->len = start;
        out->base[start] = '\0';
    }
    return rc;
}

static int dump_into(keel_buf_t *out, json_t *v)
{
    return keel__messaging_json_dump(out, v);
}

int keel__messaging_serialize_msg(json_t *inner, int version, keel_buf_t *out)
{
    if (version == 1)
        return dump_into(out, inner);
    keel_buf_t text;
    keel_buf_init(&text);
    int rc = dump_into(&text, inner);
    if (rc == 0)
        rc = keel_buf_puts(out, "{\"oslo.version\": \"2.0\", \"oslo.message\": ");
    if (rc == 0)
        rc = dump_string(out, text.base, text.len);
    if (rc == 0)
        rc = keel_buf_putc(out, '}');
    keel_buf_free(&text);
    return rc;
}

/* A 2.0 envelope exactly as json.dumps() writes it in oslo (and keel). */
static const char ENVELOPE_HEAD[] = "{\"oslo.version\": \"2.0\", \"oslo.message\": \"";

static bool json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * The fast path of deserialize_msg: a server spent half its time parsing
 * JSON, a quarter of it unescaping the envelope's message string through
 * jansson's token buffers only to parse the result again. When the body is
 * the envelope as json.dumps() writes it and the message string is plain
 * ASCII with only the two-character escapes, this unescapes it into b
 * straight away and returns true; for anything else (\u escapes, other
 * bytes, other keys or order, trailing data) it returns false and the
 * general path decides, so both paths accept and refuse the same bodies.
 */
static bool envelope_message(const char *body, size_t len, keel_buf_t *b)
{
    size_t head = sizeof(ENVELOPE_HEAD) - 1;
    if (len < head || memcmp(body, ENVELOPE_HEAD, head) != 0)
        return false;
    const char *p = body + head, *end = body + len;
    for (;;) {
        const char *run = p;
        while (p < end && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x80)
            p++;
        if (keel_buf_append(b, run, (size_t)(p - run)) != 0 || p == end)
            return false;
        if (*p == '"')
            break;
        if (*p != '\\' || p + 1 == end)
            return false; /* a control character or a non-ASCII byte */
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *esc = memchr(from, p[1], sizeof(from) - 1);
        if (esc == NULL || keel_buf_putc(b, to[esc - from]) != 0)
            return false;
        p += 2;
    }
    for (p++; p < end && json_space(*p); p++) {
    }
    if (p == end || *p++ != '}')
        return false;
    while (p < end && json_space(*p))
        p++;
    return p == end;
}

int keel__messaging_deserialize_msg(const char *body, size_t len, json_t **out)
{
    json_error_t jerr;
    keel_buf_t inner_text;
    keel_buf_init(&inner_text);
    if (envelope_message(body, len, &inner_text)) {
        json_t *inner = json_loadb(inner_text.base ? inner_text.base : "", inner_text.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        keel_buf_free(&inner_text);
        if (inner == NULL)
            return KEEL_EPARSE;
        *out = inner;
        return 0;
    }
    keel_buf_free(&inner_text);
    json_t *v = json_loadb(body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (v == NULL)
        return KEEL_EPARSE;
    json_t *ver = json_is_object(v) ? json_object_get(v, "oslo.version") : NULL;
    json_t *msg = json_is_object(v) ? json_object_get(v, "oslo.message") : NULL;
    if (ver == NULL || msg == NULL) {
        /* The 1.0 format: the dict itself (anything else is left to the caller to refuse). */
        *out = v;
        return 0;
    }
    bool ok = false;
    int rc = json_is_string(ver) ? keel_messaging_version_is_compatible("2.0", json_string_value(ver), &ok) : KEEL_EPARSE;
    if (rc == 0 && !ok)
        rc = KEEL_MESSAGING_EENVELOPE;
    json_t *inner = NULL;
    if (rc == 0 && !json_is_string(msg))
        rc = KEEL_EPARSE;
    if (rc == 0 &&
        (inner = json_loadb(json_string_value(msg), json_string_length(msg), JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr)) == NULL)
        rc = KEEL_EPARSE;
    json_decref(v);
    if (rc == 0)
        *out = inner;
    return rc;
}

/* json_object_set() that drops its reference on failure too. */
static int set_new(json_t *o, const char *key, json_t *v)
{
    return v != NULL && json_object_set_new(o, key, v) == 0 ? 0 : KEEL_ENOMEM;
}

/* Python clients pass whole seconds as ints, and that is what they send: 2, not 2.0. */
static json_t *timeout_value(double t)
{
    if (t <= 0)
        return json_null();
    if (t == (double)(json_int_t)t)
        return json_integer((json_int_t)t);
    return json_real(t);
}

int keel__messaging_pack(json_t *msg, json_t *ctxt, const keel__messaging_ids_t *ids, json_t **out)
{
    json_t *o = json_object();
    if (o == NULL)
        return KEEL_ENOMEM;
    int rc = 0;
    const char *key;
    json_t *v;
    json_object_foreach(msg, key, v)
    {
        if ((rc = set_new(o, key, json_incref(v))) != 0)
            break;
    }
    if (rc == 0 && ids->is_call) {
        rc = set_new(o, "_msg_id", json_string(ids->msg_id));
        if (rc == 0)
            rc = set_new(o, "_reply_q", json_string(ids->reply_q));
        if (rc == 0)
            rc = set_new(o, "_timeout", timeout_value(ids->call_monitor_timeout));
    }
    if (rc == 0 && ids->unique_id != NULL)
        rc = set_new(o, "_unique_id", json_string(ids->unique_id));
    if (rc == 0 && ctxt != NULL) {
        keel_buf_t name;
        keel_buf_init(&name);
        json_object_foreach(ctxt, key, v)
        {
            keel_buf_reset(&name);
            if ((rc = keel_buf_printf(&name, CONTEXT_PREFIX "%s", key)) != 0 || (rc = set_new(o, name.base, json_incref(v))) != 0)
                break;
        }
        keel_buf_free(&name);
    }
    if (rc != 0) {
        json_decref(o);
        return rc;
    }
    *out = o;
    return 0;
}

int keel__messaging_pack_reply(json_t *result, const char *failure, bool ending, const char *msg_id, const char *unique_id,
                               json_t **out)
{
    json_t *o = json_object();
    int rc = o ? 0 : KEEL_ENOMEM;
    if (rc == 0)
        rc = set_new(o, "result", result ? json_incref(result) : json_null());
    if (rc == 0)
        rc = set_new(o, "failure", failure ? json_string(failure) : json_null());
    if (rc == 0)
        rc = set_new(o, "ending", json_boolean(ending));
    if (rc == 0)
        rc = set_new(o, "_msg_id", json_string(msg_id ? msg_id : ""));
    if (rc == 0 && unique_id)
        rc = set_new(o, "_unique_id", json_string(unique_id));
    if (rc != 0) {
        json_decref(o);
        return rc;
    }
    *out = o;
    return 0;
}

static int pop_string(json_t *msg, const char *key, char **out)
{
    *out = NULL;
    json_t *v = json_object_get(msg, key);
    if (v == NULL)
        return 0;
    int rc = 0;
    if (json_is_string(v) && (*out = keel__strndup(json_string_value(v), json_string_length(v))) == NULL)
        rc = KEEL_ENOMEM;
    json_object_del(msg, key);
    return rc;
}

int keel__messaging_unpack(json_t *msg, keel__messaging_unpacked_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!json_is_object(msg)) {
        json_decref(msg);
        return KEEL_EPARSE;
    }
    out->message = msg;
    int rc = (out->ctxt = json_object()) ? 0 : KEEL_ENOMEM;
    /* Deleting while walking is allowed for the key just visited (json_object_foreach_safe). */
    const char *key;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(msg, tmp, key, v)
    {
        if (rc != 0)
            break;
        if (strncmp(key, CONTEXT_PREFIX, CONTEXT_PREFIX_LEN) == 0) {
            if ((rc = set_new(out->ctxt, key + CONTEXT_PREFIX_LEN, json_incref(v))) == 0)
                json_object_del(msg, key);
        }
    }
    if (rc == 0)
        rc = pop_string(msg, "_msg_id", &out->msg_id);
    if (rc == 0)
        rc = pop_string(msg, "_reply_q", &out->reply_q);
    if (rc == 0)
        rc = pop_string(msg, "_unique_id", &out->unique_id);
    if (rc == 0 && (v = json_object_get(msg, "_timeout")) != NULL) {
        out->client_timeout = json_incref(v);
        json_object_del(msg, "_timeout");
    }
    if (rc != 0)
        keel__messaging_unpacked_clear(out);
    return rc;
}

void keel__messaging_unpacked_clear(keel__messaging_unpacked_t *u)
{
    json_decref(u->message);
    json_decref(u->ctxt);
    json_decref(u->client_timeout);
    keel__free(u->msg_id);
    keel__free(u->reply_q);
    keel__free(u->unique_id);
    memset(u, 0, sizeof(*u));
}

/* ---- the serializer hooks ---- */

static int hook_result(int rc, json_t *out_value)
{
    if (rc == KEEL_ENOMEM)
        return rc;
    if (rc != 0 || out_value == NULL)
        return KEEL_MESSAGING_ESERIALIZE;
    return 0;
}

int keel__messaging_ser_entity(const keel_messaging_serializer_t *s, bool deserialize, json_t *ctxt, json_t *in, json_t **out)
{
    int (*fn)(void *, json_t *, json_t *, json_t **) = s ? (deserialize ? s->deserialize_entity : s->serialize_entity) : NULL;
    if (in == NULL)
        in = json_null();
    if (fn == NULL) {
        *out = json_incref(in);
        return 0;
    }
    *out = NULL;
    int rc = fn(s->data, ctxt, in, out);
    rc = hook_result(rc, *out);
    if (rc != 0 && *out != NULL) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

int keel__messaging_ser_context(const keel_messaging_serializer_t *s, bool deserialize, json_t *ctxt, json_t **out)
{
    int (*fn)(void *, json_t *, json_t **) = s ? (deserialize ? s->deserialize_context : s->serialize_context) : NULL;
    if (ctxt == NULL) {
        if ((ctxt = json_object()) == NULL)
            return KEEL_ENOMEM;
    } else {
        json_incref(ctxt);
    }
    int rc = 0;
    if (fn == NULL) {
        *out = ctxt;
        return 0;
    }
    *out = NULL;
    rc = fn(s->data, ctxt, out);
    rc = hook_result(rc, *out);
    json_decref(ctxt);
    if (rc == 0 && !json_is_object(*out))
        rc = KEEL_MESSAGING_ESERIALIZE;
    if (rc != 0 && *out != NULL) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}
