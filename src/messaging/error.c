/*
 * Errors: the module's error codes (names and messages from the one
 * X-macro list in keel/messaging.h, falling back to core's list), and
 * remote errors — the "failure" JSON of a reply, written as oslo's
 * serialize_remote_exception() writes it and read back as
 * deserialize_remote_exception() reads it (spec §9).
 */
#include <stdarg.h>
#include <string.h>

#include "messaging_int.h"

const char *keel_messaging_strerror(int err)
{
    switch (err) {
#define KEEL_MESSAGING_STRERROR_(name, value, msg)                                                                                 \
    case KEEL_MESSAGING_##name:                                                                                                    \
        return msg;
        KEEL_MESSAGING_ERRNO_MAP(KEEL_MESSAGING_STRERROR_)
#undef KEEL_MESSAGING_STRERROR_
    default:
        return keel_strerror(err);
    }
}

const char *keel_messaging_err_name(int err)
{
    switch (err) {
#define KEEL_MESSAGING_ERR_NAME_(name, value, msg)                                                                                 \
    case KEEL_MESSAGING_##name:                                                                                                    \
        return #name;
        KEEL_MESSAGING_ERRNO_MAP(KEEL_MESSAGING_ERR_NAME_)
#undef KEEL_MESSAGING_ERR_NAME_
    default:
        return keel_err_name(err);
    }
}

/* ---- remote errors: serialize_remote_exception() and its reverse ---- */

#define REMOTE_POSTFIX "_Remote"

void keel_messaging_error_free(keel_messaging_error_t *e)
{
    if (e == NULL)
        return;
    keel__free(e->exc_class);
    keel__free(e->exc_module);
    keel__free(e->message);
    keel__free(e->traceback);
    json_decref(e->args);
    json_decref(e->kwargs);
    keel__free(e);
}

static int dup_str(const char *s, char **out)
{
    return (*out = keel__strdup(s ? s : "")) ? 0 : KEEL_ENOMEM;
}

int keel__messaging_error_make(keel_messaging_error_t **out, const char *exc_class, const char *exc_module, const char *message)
{
    if (exc_class == NULL || *exc_class == '\0')
        return KEEL_EINVAL;
    keel_messaging_error_t *e = keel__calloc(1, sizeof(*e));
    if (e == NULL)
        return KEEL_ENOMEM;
    int rc = dup_str(exc_class, &e->exc_class);
    if (rc == 0)
        rc = dup_str(exc_module ? exc_module : "builtins", &e->exc_module);
    if (rc == 0)
        rc = dup_str(message, &e->message);
    if (rc == 0 && ((e->args = json_array()) == NULL || json_array_append_new(e->args, json_string(e->message)) != 0 ||
                    (e->kwargs = json_object()) == NULL))
        rc = KEEL_ENOMEM;
    if (rc != 0) {
        keel_messaging_error_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

int keel_messaging_error_new(keel_messaging_error_t **out, const char *exc_class, const char *exc_module, const char *fmt, ...)
{
    keel_buf_t b;
    keel_buf_init(&b);
    va_list ap;
    va_start(ap, fmt);
    int rc = fmt ? keel_buf_vprintf(&b, fmt, ap) : 0;
    va_end(ap);
    if (rc == 0)
        rc = keel__messaging_error_make(out, exc_class, exc_module, b.base ? b.base : "");
    keel_buf_free(&b);
    return rc;
}

int keel_messaging_error_copy(const keel_messaging_error_t *e, keel_messaging_error_t **out)
{
    keel_messaging_error_t *c = keel__calloc(1, sizeof(*c));
    if (c == NULL)
        return KEEL_ENOMEM;
    int rc = dup_str(e->exc_class, &c->exc_class);
    if (rc == 0)
        rc = dup_str(e->exc_module, &c->exc_module);
    if (rc == 0)
        rc = dup_str(e->message, &c->message);
    if (rc == 0 && e->traceback)
        rc = dup_str(e->traceback, &c->traceback);
    if (rc == 0 && ((c->args = json_deep_copy(e->args ? e->args : json_array())) == NULL ||
                    (c->kwargs = json_deep_copy(e->kwargs ? e->kwargs : json_object())) == NULL))
        rc = KEEL_ENOMEM;
    c->allowed = e->allowed;
    c->expected = e->expected;
    if (rc != 0) {
        keel_messaging_error_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The "tb" list: the traceback text cut after each '\n', or the one line Python ends with. */
static int tb_list(const keel_messaging_error_t *e, const char *cls, const char *mod, json_t **out)
{
    json_t *tb = json_array();
    if (tb == NULL)
        return KEEL_ENOMEM;
    int rc = 0;
    if (e->traceback != NULL) {
        const char *p = e->traceback;
        while (rc == 0 && *p) {
            const char *nl = strchr(p, '\n');
            size_t n = nl ? (size_t)(nl - p + 1) : strlen(p);
            if (json_array_append_new(tb, json_stringn(p, n)) != 0)
                rc = KEEL_ENOMEM;
            p += n;
        }
    } else {
        /* traceback.format_exception()'s last line: "module.Class: message" ("Class" for builtins). */
        keel_buf_t line;
        keel_buf_init(&line);
        if (strcmp(mod, "builtins") == 0)
            rc = keel_buf_printf(&line, "%s: %s\n", cls, e->message ? e->message : "");
        else
            rc = keel_buf_printf(&line, "%s.%s: %s\n", mod, cls, e->message ? e->message : "");
        if (rc == 0 && json_array_append_new(tb, json_stringn(line.base, line.len)) != 0)
            rc = KEEL_ENOMEM;
        keel_buf_free(&line);
    }
    if (rc != 0) {
        json_decref(tb);
        return rc;
    }
    *out = tb;
    return 0;
}

int keel_messaging_error_serialize(const keel_messaging_error_t *e, keel_buf_t *out)
{
    const char *cls = e->exc_class ? e->exc_class : "Exception";
    const char *mod = e->exc_module ? e->exc_module : "builtins";
    char *cls_copy = NULL, *mod_copy = NULL;
    if (ends_with(cls, REMOTE_POSTFIX) && ends_with(mod, REMOTE_POSTFIX)) {
        cls_copy = keel__strndup(cls, strlen(cls) - strlen(REMOTE_POSTFIX));
        mod_copy = keel__strndup(mod, strlen(mod) - strlen(REMOTE_POSTFIX));
        if (cls_copy == NULL || mod_copy == NULL) {
            keel__free(cls_copy);
            keel__free(mod_copy);
            return KEEL_ENOMEM;
        }
        cls = cls_copy;
        mod = mod_copy;
    }
    json_t *tb = NULL;
    int rc = tb_list(e, cls, mod, &tb);
    json_t *o = rc == 0 ? json_object() : NULL;
    if (rc == 0 &&
        (o == NULL || json_object_set_new(o, "class", json_string(cls)) != 0 ||
         json_object_set_new(o, "module", json_string(mod)) != 0 ||
         json_object_set_new(o, "message", json_string(e->message ? e->message : "")) != 0 || json_object_set(o, "tb", tb) != 0 ||
         json_object_set_new(o, "args", e->args ? json_incref(e->args) : json_array()) != 0 ||
         json_object_set_new(o, "kwargs", e->kwargs ? json_incref(e->kwargs) : json_object()) != 0))
        rc = KEEL_ENOMEM;
    /* jsonutils.dumps(): the same writer as message bodies. */
    if (rc == 0)
        rc = keel__messaging_json_dump(out, o);
    json_decref(o);
    json_decref(tb);
    keel__free(cls_copy);
    keel__free(mod_copy);
    return rc;
}

static const char *str_field(json_t *o, const char *key, const char *dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : dflt;
}

int keel_messaging_error_deserialize(const char *text, size_t len, const char *const *allowed_exmods, keel_messaging_error_t **out)
{
    json_error_t jerr;
    json_t *o = json_loadb(text, len, JSON_ALLOW_NUL, &jerr);
    if (!json_is_object(o)) {
        json_decref(o);
        return KEEL_EPARSE;
    }
    const char *module = str_field(o, "module", "");
    if (strcmp(module, "exceptions") == 0)
        module = "builtins";
    /* Without a class oslo ends with RemoteError(exc_type=None). */
    const char *cls = str_field(o, "class", "");
    keel_messaging_error_t *e = NULL;
    int rc = keel__messaging_error_make(&e, *cls ? cls : "None", module, str_field(o, "message", ""));
    keel_buf_t tb;
    keel_buf_init(&tb);
    json_t *list = json_object_get(o, "tb");
    for (size_t i = 0; rc == 0 && json_is_array(list) && i < json_array_size(list); i++) {
        json_t *line = json_array_get(list, i);
        if (i > 0)
            rc = keel_buf_putc(&tb, '\n');
        if (rc == 0 && json_is_string(line))
            rc = keel_buf_append(&tb, json_string_value(line), json_string_length(line));
    }
    if (rc == 0 && (e->traceback = keel_buf_steal(&tb)) == NULL)
        rc = KEEL_ENOMEM;
    keel_buf_free(&tb);
    json_t *args = json_object_get(o, "args"), *kwargs = json_object_get(o, "kwargs");
    if (rc == 0 && json_is_array(args)) {
        json_decref(e->args);
        e->args = json_incref(args);
    } else if (rc == 0) {
        json_array_clear(e->args);
    }
    if (rc == 0 && json_is_object(kwargs)) {
        json_decref(e->kwargs);
        e->kwargs = json_incref(kwargs);
    }
    if (rc == 0) {
        e->allowed = strcmp(module, "builtins") == 0;
        for (const char *const *m = allowed_exmods; !e->allowed && m && *m; m++)
            e->allowed = strcmp(*m, module) == 0;
    }
    json_decref(o);
    if (rc != 0) {
        keel_messaging_error_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

int keel_messaging_error_format(const keel_messaging_error_t *e, keel_buf_t *out)
{
    const char *tb = e->traceback ? e->traceback : "";
    if (e->allowed)
        return keel_buf_printf(out, "%s\n%s", e->message ? e->message : "", tb);
    return keel_buf_printf(out, "Remote error: %s %s\n%s.", e->exc_class, e->message ? e->message : "", tb);
}
