/*
 * json.c — one record as oslo.log's JSONFormatter writes it: the same keys
 * in the same order with the same JSON types, encoded by jansson with
 * non-ASCII escaped (Python's json.dumps default, ensure_ascii=True).
 *
 * Python's "msg" and "args" are the format string and its argument tuple;
 * keel gets a printf format and a va_list, so "args" is rebuilt by walking
 * the conversions of the format and taking each argument with its C type:
 * integers become JSON integers, floating point values reals, %s strings.
 * Formats that use positional arguments ("%1$s") give "args": null, since
 * their argument types cannot be recovered in one pass.
 */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <wchar.h>

#include "log_int.h"

/* A JSON string from bytes; invalid UTF-8 bytes become U+FFFD (jansson takes only valid UTF-8). */
static json_t *jstr(const char *s, size_t len)
{
    if (s == NULL)
        return json_null();
    json_t *j = json_stringn(s, len);
    if (j)
        return j;
    keel_buf_t b;
    keel_buf_init(&b);
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        unsigned c = p[i];
        size_t n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        bool ok = n > 0 && i + n <= len;
        for (size_t k = 1; ok && k < n; k++)
            ok = (p[i + k] & 0xc0) == 0x80;
        if (ok && n > 1) { /* overlongs, surrogates and > U+10FFFF by the second byte */
            unsigned c1 = p[i + 1];
            ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 > 0x9f) && !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 > 0x8f);
        }
        if (keel_buf_append(&b, ok ? (const char *)p + i : "\xef\xbf\xbd", ok ? n : 3) != 0) {
            keel_buf_free(&b);
            return NULL;
        }
        i += ok ? n : 1;
    }
    j = json_stringn(b.base ? b.base : "", b.len);
    keel_buf_free(&b);
    return j;
}

static json_t *jcstr(const char *s)
{
    return jstr(s, s ? strlen(s) : 0);
}

/* Takes each argument of a printf format, in order, into a JSON array. */
static json_t *decode_args(const char *fmt, va_list ap)
{
    json_t *arr = json_array();
    if (arr == NULL)
        return NULL;
    for (const char *p = fmt; *p; p++) {
        if (*p != '%')
            continue;
        p++;
        if (*p == '%')
            continue;
        const char *q = p;
        while (*q >= '0' && *q <= '9')
            q++;
        if (*q == '$') { /* positional: types cannot be taken in order */
            json_decref(arr);
            return json_null();
        }
        while (*p && strchr("-+ #0'I", *p))
            p++;
        if (*p == '*') {
            (void)va_arg(ap, int);
            p++;
        }
        while (*p >= '0' && *p <= '9')
            p++;
        if (*p == '.') {
            p++;
            if (*p == '*') {
                (void)va_arg(ap, int);
                p++;
            }
            while (*p >= '0' && *p <= '9')
                p++;
        }
        /* Length: 0 none, 1 hh, 2 h, 3 l, 4 ll, 5 L, 6 j, 7 z, 8 t. */
        int len = 0;
        if (p[0] == 'h' && p[1] == 'h')
            len = 1, p += 2;
        else if (*p == 'h')
            len = 2, p++;
        else if (p[0] == 'l' && p[1] == 'l')
            len = 4, p += 2;
        else if (*p == 'l')
            len = 3, p++;
        else if (*p == 'q')
            len = 4, p++;
        else if (*p == 'L')
            len = 5, p++;
        else if (*p == 'j')
            len = 6, p++;
        else if (*p == 'z' || *p == 'Z')
            len = 7, p++;
        else if (*p == 't')
            len = 8, p++;
        json_t *v = NULL;
        switch (*p) {
        case 'd':
        case 'i': {
            long long x;
            switch (len) {
            case 1:
                x = (signed char)va_arg(ap, int);
                break;
            case 2:
                x = (short)va_arg(ap, int);
                break;
            case 3:
                x = va_arg(ap, long);
                break;
            case 4:
            case 5:
                x = va_arg(ap, long long);
                break;
            case 6:
                x = va_arg(ap, intmax_t);
                break;
            case 7:
                x = va_arg(ap, ssize_t);
                break;
            case 8:
                x = va_arg(ap, ptrdiff_t);
                break;
            default:
                x = va_arg(ap, int);
            }
            v = json_integer(x);
            break;
        }
        case 'u':
        case 'o':
        case 'x':
        case 'X': {
            unsigned long long x;
            switch (len) {
            case 1:
                x = (unsigned char)va_arg(ap, unsigned);
                break;
            case 2:
                x = (unsigned short)va_arg(ap, unsigned);
                break;
            case 3:
                x = va_arg(ap, unsigned long);
                break;
            case 4:
            case 5:
                x = va_arg(ap, unsigned long long);
                break;
            case 6:
                x = va_arg(ap, uintmax_t);
                break;
            case 7:
                x = va_arg(ap, size_t);
                break;
            case 8:
                x = (unsigned long long)va_arg(ap, ptrdiff_t);
                break;
            default:
                x = va_arg(ap, unsigned);
            }
            /* JSON integers are signed 64-bit in jansson: larger values go as reals. */
            v = x <= INT64_MAX ? json_integer((json_int_t)x) : json_real((double)x);
            break;
        }
        case 'e':
        case 'E':
        case 'f':
        case 'F':
        case 'g':
        case 'G':
        case 'a':
        case 'A': {
            double d = len == 5 ? (double)va_arg(ap, long double) : va_arg(ap, double);
            /* jansson has no Infinity/NaN; Python would write them bare, which is not JSON either. */
            v = isfinite(d) ? json_real(d) : json_null();
            break;
        }
        case 'c':
            v = json_integer(len == 3 ? (json_int_t)va_arg(ap, wint_t) : va_arg(ap, int));
            break;
        case 's':
            if (len == 3) {
                (void)va_arg(ap, const wchar_t *);
                v = json_null();
            } else {
                v = jcstr(va_arg(ap, const char *));
            }
            break;
        case 'p':
            v = json_integer((json_int_t)(uintptr_t)va_arg(ap, void *));
            break;
        case 'n':
            (void)va_arg(ap, void *);
            continue;
        case 'm':
            continue; /* glibc's strerror(errno): no argument */
        default:
            /* Unknown conversion: stop, the rest of the arguments cannot be typed. */
            return arr;
        }
        if (v == NULL || json_array_append_new(arr, v) != 0) {
            json_decref(arr);
            return NULL;
        }
        if (*p == '\0')
            break;
    }
    return arr;
}

/* RequestContext.get_logging_values(), keys in its order. */
static json_t *context_dict(const keel_log_context_t *c)
{
    static const int keys[] = {
        KEEL__LOG_K_USER_NAME,
        KEEL__LOG_K_PROJECT_NAME,
        KEEL__LOG_K_DOMAIN_NAME,
        KEEL__LOG_K_USER_DOMAIN_NAME,
        KEEL__LOG_K_PROJECT_DOMAIN_NAME,
        KEEL__LOG_K_USER,
        KEEL__LOG_K_PROJECT_ID,
        KEEL__LOG_K_SYSTEM_SCOPE,
        KEEL__LOG_K_CTX_PROJECT,
        KEEL__LOG_K_DOMAIN,
        KEEL__LOG_K_USER_DOMAIN,
        KEEL__LOG_K_PROJECT_DOMAIN,
        KEEL__LOG_K_IS_ADMIN,
        KEEL__LOG_K_READ_ONLY,
        KEEL__LOG_K_SHOW_DELETED,
        KEEL__LOG_K_AUTH_TOKEN,
        KEEL__LOG_K_REQUEST_ID,
        KEEL__LOG_K_GLOBAL_REQUEST_ID,
        KEEL__LOG_K_RESOURCE_UUID,
        KEEL__LOG_K_ROLES,
        KEEL__LOG_K_USER_IDENTITY,
        KEEL__LOG_K_IS_ADMIN_PROJECT,
    };
    static const char *const names[] = {
        "user_name",     "project_name", "domain_name",   "user_domain_name", "project_domain_name", "user",
        "project_id",    "system_scope", "project",       "domain",           "user_domain",         "project_domain",
        "is_admin",      "read_only",    "show_deleted",  "auth_token",       "request_id",          "global_request_id",
        "resource_uuid", "roles",        "user_identity", "is_admin_project",
    };
    _Static_assert(sizeof(keys) / sizeof(keys[0]) == sizeof(names) / sizeof(names[0]), "context keys and names");
    json_t *o = json_object();
    for (size_t k = 0; o && k < sizeof(keys) / sizeof(keys[0]); k++) {
        keel__log_val_t v;
        keel__log_context_lookup((void *)c, keys[k], &v);
        json_t *j = NULL;
        if (v.type == KEEL__LOG_T_BOOL) {
            j = json_boolean(v.i);
        } else if (v.type == KEEL__LOG_T_LIST) {
            j = json_array();
            for (size_t i = 0; j && v.list && v.list[i]; i++)
                if (json_array_append_new(j, jcstr(v.list[i])) != 0) {
                    json_decref(j);
                    j = NULL;
                }
        } else {
            j = jstr(v.s, v.len);
        }
        if (j == NULL || json_object_set_new(o, names[k], j) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

/* Length of the line break at p (str.splitlines() breaks), or 0. */
static size_t line_break(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    if (u[0] == '\r')
        return u[1] == '\n' ? 2 : 1;
    if (u[0] == '\n' || u[0] == '\v' || u[0] == '\f' || (u[0] >= 0x1c && u[0] <= 0x1e))
        return 1;
    if (u[0] == 0xc2 && u[1] == 0x85)
        return 2;
    if (u[0] == 0xe2 && u[1] == 0x80 && (u[2] == 0xa8 || u[2] == 0xa9))
        return 3;
    return 0;
}

/* ASCII whitespace as str.rstrip() strips it. */
#define WS " \t\n\v\f\r\x1c\x1d\x1e\x1f"

static bool starts_chunk(const char *p)
{
    return strncmp(p, "  File \"", 8) == 0 || strncmp(p, "Traceback (", 11) == 0;
}

/*
 * JSONFormatter.formatException: each piece of traceback.format_exception()
 * rstripped and split into lines, empty lines dropped. keel gets the text
 * joined, so a piece is taken to end before a '  File "' or 'Traceback ('
 * line, before an empty line, and at the end of the text.
 */
static json_t *traceback_list(const char *tb)
{
    if (tb == NULL)
        return json_null();
    json_t *arr = json_array();
    for (const char *p = tb; arr && *p;) {
        size_t n = 0, br = 0;
        while (p[n] && (br = line_break(p + n)) == 0)
            n++;
        const char *next = p + n + br;
        /* Whitespace only from here to the end also ends the last piece. */
        bool chunk_end = *next == '\0' || line_break(next) != 0 || starts_chunk(next) || next[strspn(next, WS)] == '\0';
        if (chunk_end)
            while (n > 0 && strchr(WS, p[n - 1]))
                n--;
        if (n > 0 && json_array_append_new(arr, jstr(p, n)) != 0) {
            json_decref(arr);
            return NULL;
        }
        p = next;
    }
    return arr;
}

int keel__log_json(const keel__log_record_t *r, const char *hostname, va_list args, keel_buf_t *out)
{
    json_t *o = json_object();
    if (o == NULL)
        return KEEL_ENOMEM;
    /* KeywordArgumentAdapter's extra: project (the context's, once one is set) and version. */
    json_t *extra = json_object();
    if (extra) {
        json_object_set_new(extra, "project", r->ctx ? jcstr(r->ctx->project_id) : json_string("unknown"));
        json_object_set_new(extra, "version", json_string("unknown"));
    }
    struct {
        const char *key;
        json_t *value;
    } fields[] = {
        {"message", jstr(r->message, r->message_len)},
        {"asctime", jcstr(r->asctime)},
        {"name", jcstr(r->name)},
        {"msg", jcstr(r->msg)},
        {"args", decode_args(r->msg, args)},
        {"levelname", jcstr(r->levelname)},
        {"levelno", json_integer(r->levelno)},
        {"pathname", jcstr(r->pathname)},
        {"filename", jcstr(r->filename)},
        {"module", jstr(r->filename, r->module_len)},
        {"lineno", json_integer(r->lineno)},
        {"funcname", jcstr(r->funcname)},
        {"created", json_real(r->created)},
        {"msecs", json_real(r->msecs)},
        {"relative_created", json_real(r->relative)},
        {"thread", json_integer((json_int_t)r->thread)},
        {"thread_name", jcstr(r->thread_name)},
        {"process_name", json_string("MainProcess")},
        {"process", json_integer(r->process)},
        {"traceback", traceback_list(r->traceback)},
        {"hostname", hostname ? jcstr(hostname) : json_null()},
        {"error_summary", jcstr(r->error_summary)},
        {"context", r->ctx ? context_dict(r->ctx) : json_object()},
        {"extra", extra},
    };
    int rc = 0;
    for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
        /* set_new consumes the value even on failure; a NULL value means OOM while building it. */
        if (fields[k].value == NULL || json_object_set_new(o, fields[k].key, fields[k].value) != 0)
            rc = KEEL_ENOMEM;
    }
    /* Straight into out's storage: jansson's callback is called per fragment, too often to be cheap. */
    const size_t flags = JSON_ENSURE_ASCII | JSON_REAL_PRECISION(17);
    if (rc == 0 && (rc = keel_buf_reserve(out, 1024)) == 0) {
        size_t room = out->cap - out->len - 1;
        size_t n = json_dumpb(o, out->base + out->len, room, flags);
        if (n == 0)
            rc = KEEL_ENOMEM;
        else if (n > room && (rc = keel_buf_reserve(out, n)) == 0)
            n = json_dumpb(o, out->base + out->len, n, flags);
        if (rc == 0) {
            out->len += n;
            out->base[out->len] = '\0';
        }
    }
    json_decref(o);
    return rc;
}
