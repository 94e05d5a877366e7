/*
 * resolve.c — from what a parse collected to typed values, in
 * oslo.config's order (ConfigOpts._do_get): an override, then a value given
 * on the command line, then the environment (OS_<GROUP>__<NAME>), then
 * config files, then a set_default, then the registered default. Every
 * text goes through interpolation first ($opt, ${group.opt}, $$ and \$, as
 * string.Template.safe_substitute with oslo's identifier pattern) and then
 * through the option's type.
 *
 * Interpolation substitutes str() of the referenced option's typed value,
 * resolving it on demand; an entry being resolved is marked so that a
 * reference cycle is an error rather than a stack overflow (Python raises
 * RecursionError there).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_int.h"
#include "pycompat/pystr.h"
#include "types.h"

typedef enum { FROM_FILE, FROM_CLI, FROM_ENV, FROM_DEFAULT, FROM_OVERRIDE } from_t;

typedef struct {
    from_t from;
    const char *path; /* FROM_FILE */
    unsigned line;
    const char *env; /* FROM_ENV: variable name */
} origin_t;

static bool is_default_group(const conf_group_t *g)
{
    return strcmp(g->name, KEEL__CONF_DEFAULT) == 0;
}

/* EnvironmentConfigurationSource.get_name: 'OS_{}__{}' of the upper-cased
 * group and option names, with Python's str.upper(). */
static int env_name(const conf_entry_t *e, keel_buf_t *b)
{
    keel_buf_reset(b);
    int rc = keel_buf_puts(b, "OS_");
    if (rc == 0)
        rc = keel__py_upper(b, e->group->name, strlen(e->group->name));
    if (rc == 0)
        rc = keel_buf_puts(b, "__");
    if (rc == 0)
        rc = keel__py_upper(b, e->dest, strlen(e->dest));
    return rc;
}

static int value_error(keel_conf_t *c, const conf_entry_t *e, const origin_t *o, const char *text, size_t len, const char *why,
                       keel_conf_type_t type)
{
    keel_buf_t b;
    keel_buf_init(&b);
    switch (o->from) {
    case FROM_FILE:
        keel_buf_printf(&b, "%s:%u: ", o->path, o->line);
        break;
    case FROM_CLI:
        keel_buf_puts(&b, "command line: ");
        break;
    case FROM_ENV:
        keel_buf_printf(&b, "environment variable %s: ", o->env);
        break;
    case FROM_DEFAULT:
        keel_buf_puts(&b, "default value: ");
        break;
    case FROM_OVERRIDE:
        keel_buf_puts(&b, "override: ");
        break;
    }
    keel_buf_printf(&b, "[%s] %s = ", e->group->name, e->opt->name);
    keel__py_repr_str(&b, text, len, KEEL__PY_REPR_HEX_BYTES);
    keel_buf_printf(&b, ": not a valid %s: %s", keel_conf_type_name(type), why);
    int rc = keel__conf_errorf(c, KEEL_EVALUE, "%s", b.base ? b.base : "invalid value");
    keel_buf_free(&b);
    return rc;
}

/* ---- interpolation ---- */

/* Length of the identifier character at s (string.Template's idpattern
 * [_a-z][._a-z0-9]* under re.IGNORECASE), or 0. Case-insensitive matching
 * in Python also lets four non-ASCII letters in: U+0130 and U+0131 (as i),
 * U+017F (as s) and U+212A, the Kelvin sign (as k). */
static size_t ident_len(const char *s, size_t n, bool first)
{
    char ch = s[0];
    if (ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))
        return 1;
    if (!first && (ch == '.' || (ch >= '0' && ch <= '9')))
        return 1;
    uint32_t cp;
    size_t len = keel__utf8_decode(s, n, &cp);
    if (len > 1 && (cp == 0x130 || cp == 0x131 || cp == 0x17F || cp == 0x212A))
        return len;
    return 0;
}

static int substitute(keel_conf_t *c, conf_ns_t *ns, const conf_group_t *ctx, const char *text, size_t len, keel_buf_t *out);

/* What a placeholder refers to. oslo.config's deprecated-name lookup has
 * two quirks keel reproduces: a former name of an option in another group
 * reads that option's value as if it lived in the looking group, and a
 * former name of a DEFAULT option looked up from another group indexes
 * that group by the option's name, which usually fails with a KeyError
 * that string.Template turns into "leave the placeholder as it is". */
typedef struct {
    conf_entry_t *entry;
    const conf_group_t *read_in; /* the group whose sections/env/CLI are read */
    bool literal;                /* substitute nothing; keep "$name" */
} ref_t;

static bool group_is(const conf_group_t *a, const conf_group_t *b)
{
    return a == b;
}

/* ConfigOpts._get_opt_info(name, group) as _do_get then uses it. */
static int find_ref(keel_conf_t *c, const conf_group_t *g, const char *key, ref_t *out)
{
    *out = (ref_t){0};
    if (is_default_group(g)) {
        /* ConfigOpts._do_get: a bare group name in DEFAULT is a group */
        if (keel__conf_find_group(c, key) != NULL && strcmp(key, KEEL__CONF_DEFAULT) != 0)
            return keel__conf_errorf(c, KEEL_EVALUE, "interpolation: substituting group %s not supported", key);
    }
    conf_entry_t *e = keel__conf_find_entry(g, key);
    if (e != NULL) {
        *out = (ref_t){e, g, false};
        return 0;
    }
    e = keel__conf_find_deprecated(c, g->name, key);
    if (e == NULL)
        return 0;
    if (!is_default_group(e->group)) {
        *out = (ref_t){e, g, false};
        return 0;
    }
    if (is_default_group(g)) {
        *out = (ref_t){e, g, false};
        return 0;
    }
    /* opts[real_name] in the looking group */
    conf_entry_t *same = keel__conf_find_entry(g, e->opt->name);
    *out = same ? (ref_t){same, g, false} : (ref_t){NULL, g, true};
    return 0;
}

static int lookup_ref(keel_conf_t *c, const conf_group_t *ctx, const char *key, ref_t *out)
{
    const char *dot = strchr(key, '.');
    int rc;
    if (dot != NULL) {
        char gname[512];
        size_t gl = (size_t)(dot - key);
        if (gl >= sizeof(gname))
            return keel__conf_errorf(c, KEEL_EVALUE, "interpolation: no such group in ${%s}", key);
        memcpy(gname, key, gl);
        gname[gl] = '\0';
        /* DEFAULT is not a registered group in oslo.config, so ${DEFAULT.x}
         * fails there; keel follows. */
        const conf_group_t *g = strcmp(gname, KEEL__CONF_DEFAULT) == 0 ? NULL : keel__conf_find_group(c, gname);
        if (g == NULL)
            return keel__conf_errorf(c, KEEL_EVALUE, "interpolation: no such group: %s (in $%s)", gname, key);
        rc = find_ref(c, g, dot + 1, out);
    } else {
        rc = find_ref(c, ctx, key, out);
    }
    if (rc == 0 && out->entry == NULL && !out->literal) /* retry the whole key in DEFAULT */
        rc = find_ref(c, c->groups.items[0], key, out);
    if (rc == 0 && out->entry == NULL && !out->literal)
        return keel__conf_errorf(c, KEEL_EVALUE, "interpolation: no such option: %s", key);
    return rc;
}

static int compute(keel_conf_t *c, conf_ns_t *ns, conf_entry_t *e, keel_conf_value_t *out);

/* Python would hit its recursion limit long before this. */
#define MAX_INTERPOLATION_DEPTH 200

/* placeholder is the whole "$name" or "${name}" text, kept when the
 * lookup ends in oslo's KeyError. */
static int append_ref(keel_conf_t *c, conf_ns_t *ns, const conf_group_t *ctx, const char *key, const char *placeholder,
                      size_t placeholder_len, keel_buf_t *out)
{
    ref_t r;
    int rc = lookup_ref(c, ctx, key, &r);
    if (rc != 0)
        return rc;
    if (r.literal)
        return keel_buf_append(out, placeholder, placeholder_len);
    if (group_is(r.entry->group, r.read_in)) {
        rc = keel__conf_resolve_entry(c, ns, r.entry);
        if (rc == 0 && r.entry->value.kind != KEEL_CONF_VNONE)
            rc = keel_conf_value_to_pystr(&r.entry->value, out);
        return rc;
    }
    /* The option read as if registered in another group: its names,
     * environment variable and command-line key are that group's. */
    if (c->depth >= MAX_INTERPOLATION_DEPTH)
        return keel__conf_errorf(c, KEEL_EVALUE, "interpolation: maximum recursion depth exceeded at $%s", key);
    conf_entry_t tmp = *r.entry;
    tmp.group = (conf_group_t *)r.read_in;
    tmp.value = (keel_conf_value_t){0};
    tmp.state = ENTRY_RESOLVING;
    keel_conf_value_t v = {0};
    c->depth++;
    rc = compute(c, ns, &tmp, &v);
    c->depth--;
    if (rc == 0 && v.kind != KEEL_CONF_VNONE)
        rc = keel_conf_value_to_pystr(&v, out);
    keel__conf_value_clear(&v);
    return rc;
}

/* string.Template.safe_substitute with idpattern [_a-z][._a-z0-9]*, case
 * insensitive; "\$" is first turned into "$$" as oslo does. */
static int substitute(keel_conf_t *c, conf_ns_t *ns, const conf_group_t *ctx, const char *text, size_t len, keel_buf_t *out)
{
    keel_buf_t src;
    keel_buf_init(&src);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < len; i++) {
        if (text[i] == '\\' && i + 1 < len && text[i + 1] == '$') {
            rc = keel_buf_puts(&src, "$$");
            i++;
        } else {
            rc = keel_buf_putc(&src, text[i]);
        }
    }
    const char *s = src.base ? src.base : "";
    size_t n = src.len;
    keel_buf_reset(out);
    char key[1024];
    for (size_t i = 0; rc == 0 && i < n;) {
        if (s[i] != '$') {
            rc = keel_buf_putc(out, s[i++]);
            continue;
        }
        if (i + 1 < n && s[i + 1] == '$') {
            rc = keel_buf_putc(out, '$');
            i += 2;
            continue;
        }
        size_t il;
        if (i + 1 < n && (il = ident_len(s + i + 1, n - i - 1, true)) > 0) {
            size_t j = i + 1 + il;
            while (j < n && (il = ident_len(s + j, n - j, false)) > 0)
                j += il;
            size_t kl = j - i - 1;
            if (kl >= sizeof(key)) {
                rc = keel__conf_errorf(c, KEEL_EVALUE, "interpolation: name too long");
                break;
            }
            memcpy(key, s + i + 1, kl);
            key[kl] = '\0';
            rc = append_ref(c, ns, ctx, key, s + i, j - i, out);
            i = j;
            continue;
        }
        if (i + 2 < n && s[i + 1] == '{' && (il = ident_len(s + i + 2, n - i - 2, true)) > 0) {
            size_t j = i + 2 + il;
            while (j < n && (il = ident_len(s + j, n - j, false)) > 0)
                j += il;
            if (j < n && s[j] == '}') {
                size_t kl = j - i - 2;
                if (kl >= sizeof(key)) {
                    rc = keel__conf_errorf(c, KEEL_EVALUE, "interpolation: name too long");
                    break;
                }
                memcpy(key, s + i + 2, kl);
                key[kl] = '\0';
                rc = append_ref(c, ns, ctx, key, s + i, j + 1 - i, out);
                i = j + 1;
                continue;
            }
        }
        /* an invalid placeholder stays as it is */
        rc = keel_buf_putc(out, s[i++]);
    }
    keel_buf_free(&src);
    return rc;
}

/* ---- conversion ---- */

static int convert_one(keel_conf_t *c, conf_ns_t *ns, conf_entry_t *e, keel_conf_type_t type, const char *text, size_t len,
                       const origin_t *o, keel_conf_value_t *out)
{
    keel_buf_t sub, why;
    keel_buf_init(&sub);
    keel_buf_init(&why);
    int rc = substitute(c, ns, e->group, text, len, &sub);
    if (rc == 0) {
        rc = keel__conf_convert(e->opt, type, sub.base ? sub.base : "", sub.len, out, &why);
        if (rc == KEEL_EVALUE)
            rc = value_error(c, e, o, sub.base ? sub.base : "", sub.len, why.base ? why.base : "", type);
    }
    keel_buf_free(&sub);
    keel_buf_free(&why);
    return rc;
}

static keel_conf_type_t item_type(const conf_entry_t *e)
{
    return e->opt->type == KEEL_CONF_MULTI ? e->opt->item_type : e->opt->type;
}

static int list_push(keel_conf_value_t *list, keel_conf_value_t *item)
{
    keel_conf_value_t *items = keel__realloc(list->u.items, (list->len + 1) * sizeof(*items));
    if (items == NULL) {
        keel__conf_value_clear(item);
        return KEEL_ENOMEM;
    }
    list->u.items = items;
    items[list->len++] = *item;
    return 0;
}

/* argparse's [] ("--opt=--") reaches the type as a Python list: str()
 * makes "[]" of it, List() an empty list, every other type fails. */
static int convert_empty_list(keel_conf_t *c, conf_entry_t *e, keel_conf_type_t type, const origin_t *o, keel_conf_value_t *out)
{
    if (type == KEEL_CONF_LIST) {
        *out = (keel_conf_value_t){.kind = KEEL_CONF_VLIST};
        return 0;
    }
    if (type != KEEL_CONF_STRING)
        return value_error(c, e, o, "[]", 2, "an empty list is not a value of this type", type);
    keel_buf_t why;
    keel_buf_init(&why);
    int rc = keel__conf_convert(e->opt, type, "[]", 2, out, &why);
    if (rc == KEEL_EVALUE)
        rc = value_error(c, e, o, "[]", 2, why.base ? why.base : "", type);
    keel_buf_free(&why);
    return rc;
}

/* A multi option's value: every text converted with the item type. */
static int convert_multi(keel_conf_t *c, conf_ns_t *ns, conf_entry_t *e, const char *const *texts, const size_t *lens, size_t n,
                         const origin_t *o, const conf_text_t *const *where, keel_conf_value_t *out)
{
    *out = (keel_conf_value_t){.kind = KEEL_CONF_VLIST};
    for (size_t i = 0; i < n; i++) {
        origin_t oi = *o;
        if (where != NULL && where[i]->path != NULL) {
            oi.from = FROM_FILE;
            oi.path = where[i]->path;
            oi.line = where[i]->line;
        }
        keel_conf_value_t item = {0};
        int rc = (where != NULL && where[i]->empty_list) ? convert_empty_list(c, e, item_type(e), &oi, &item)
                                                         : convert_one(c, ns, e, item_type(e), texts[i], lens[i], &oi, &item);
        if (rc == 0)
            rc = list_push(out, &item);
        if (rc != 0) {
            keel__conf_value_clear(out);
            return rc;
        }
    }
    return 0;
}

static int convert_chars(keel_conf_t *c, conf_ns_t *ns, conf_entry_t *e, const char *value, size_t len, const origin_t *o,
                         keel_conf_value_t *out);

static int convert_found(keel_conf_t *c, conf_ns_t *ns, conf_entry_t *e, const conf_found_t *f, keel_conf_value_t *out)
{
    if (f->is_bool) {
        *out = (keel_conf_value_t){.kind = KEEL_CONF_VBOOL, .u.b = f->b};
        return 0;
    }
    origin_t o = {.from = FROM_CLI};
    /* Another option's command-line attribute can reach this one through a
     * deprecated name; oslo then hands the list or string over as it is. */
    if (f->is_list && e->opt->type != KEEL_CONF_MULTI)
        return keel__conf_errorf(c, KEEL_EVALUE, "[%s] %s: a list of values where one value was expected", e->group->name,
                                 e->opt->name);
    if (f->is_text && e->opt->type == KEEL_CONF_MULTI) {
        const conf_text_t *t = f->texts.items[0];
        return convert_chars(c, ns, e, t->text, t->len, &o, out);
    }
    if (e->opt->type == KEEL_CONF_MULTI) {
        size_t n = f->texts.len;
        const char **texts = keel__calloc(n + 1, sizeof(*texts));
        size_t *lens = keel__calloc(n + 1, sizeof(*lens));
        int rc = KEEL_ENOMEM;
        if (texts != NULL && lens != NULL) {
            for (size_t i = 0; i < n; i++) {
                const conf_text_t *t = f->texts.items[i];
                texts[i] = t->text;
                lens[i] = t->len;
            }
            rc = convert_multi(c, ns, e, texts, lens, n, &o, (const conf_text_t *const *)f->texts.items, out);
        }
        keel__free(texts);
        keel__free(lens);
        return rc;
    }
    const conf_text_t *t = f->texts.items[0];
    if (t->path != NULL) {
        o.from = FROM_FILE;
        o.path = t->path;
        o.line = t->line;
    }
    if (t->empty_list)
        return convert_empty_list(c, e, e->opt->type, &o, out);
    return convert_one(c, ns, e, e->opt->type, t->text, t->len, &o, out);
}

/* A string given where oslo expects a list of values is iterated
 * character by character, as [opt.type(v) for v in value] does with a str;
 * that happens to environment values of multi options. */
static int convert_chars(keel_conf_t *c, conf_ns_t *ns, conf_entry_t *e, const char *value, size_t len, const origin_t *o,
                         keel_conf_value_t *out)
{
    keel_buf_t sub;
    keel_buf_init(&sub);
    int rc = substitute(c, ns, e->group, value, len, &sub);
    *out = (keel_conf_value_t){.kind = KEEL_CONF_VLIST};
    for (size_t i = 0; rc == 0 && i < sub.len;) {
        uint32_t cp;
        size_t n = keel__utf8_decode(sub.base + i, sub.len - i, &cp);
        if (n == 0)
            n = 1;
        keel_buf_t why;
        keel_buf_init(&why);
        keel_conf_value_t item = {0};
        rc = keel__conf_convert(e->opt, item_type(e), sub.base + i, n, &item, &why);
        if (rc == KEEL_EVALUE)
            rc = value_error(c, e, o, sub.base + i, n, why.base ? why.base : "", item_type(e));
        keel_buf_free(&why);
        if (rc == 0)
            rc = list_push(out, &item);
        i += n;
    }
    if (rc != 0)
        keel__conf_value_clear(out);
    keel_buf_free(&sub);
    return rc;
}

static int convert_env(keel_conf_t *c, conf_ns_t *ns, conf_entry_t *e, const char *value, const char *name, keel_conf_value_t *out)
{
    origin_t o = {.from = FROM_ENV, .env = name};
    if (e->opt->type != KEEL_CONF_MULTI)
        return convert_one(c, ns, e, e->opt->type, value, strlen(value), &o, out);
    return convert_chars(c, ns, e, value, strlen(value), &o, out);
}

static int convert_default(keel_conf_t *c, conf_ns_t *ns, conf_entry_t *e, keel_conf_value_t *out)
{
    const keel_conf_opt_t *o = e->opt;
    origin_t origin = {.from = FROM_DEFAULT};
    if (o->type == KEEL_CONF_MULTI) {
        if (o->default_multi == NULL) {
            *out = (keel_conf_value_t){0};
            return 0;
        }
        size_t n = 0;
        while (o->default_multi[n])
            n++;
        size_t *lens = keel__calloc(n + 1, sizeof(*lens));
        if (lens == NULL)
            return KEEL_ENOMEM;
        for (size_t i = 0; i < n; i++)
            lens[i] = strlen(o->default_multi[i]);
        int rc = convert_multi(c, ns, e, o->default_multi, lens, n, &origin, NULL, out);
        keel__free(lens);
        return rc;
    }
    if (o->default_value == NULL) {
        *out = (keel_conf_value_t){0};
        return 0;
    }
    return convert_one(c, ns, e, o->type, o->default_value, strlen(o->default_value), &origin, out);
}

int keel__conf_convert_text(keel_conf_t *c, conf_ns_t *ns, conf_entry_t *e, const char *text, size_t len, keel_conf_value_t *out,
                            keel_buf_t *why)
{
    keel_buf_t sub;
    keel_buf_init(&sub);
    int rc = substitute(c, ns, e->group, text, len, &sub);
    if (rc == 0)
        rc = keel__conf_convert(e->opt, item_type(e), sub.base ? sub.base : "", sub.len, out, why);
    keel_buf_free(&sub);
    return rc;
}

static int compute(keel_conf_t *c, conf_ns_t *ns, conf_entry_t *e, keel_conf_value_t *out)
{
    origin_t o = {.from = FROM_OVERRIDE};
    if (e->override_text != NULL) {
        if (e->opt->type == KEEL_CONF_MULTI) {
            const char *t[1] = {e->override_text};
            size_t l[1] = {strlen(e->override_text)};
            return convert_multi(c, ns, e, t, l, 1, &o, NULL, out);
        }
        return convert_one(c, ns, e, e->opt->type, e->override_text, strlen(e->override_text), &o, out);
    }
    conf_found_t f;
    int rc = keel__conf_ns_lookup(ns, e, &f);
    if (rc != 0 && rc != KEEL_ENOENT)
        return rc;
    bool found = rc == 0;
    const char *env = NULL;
    keel_buf_t name;
    keel_buf_init(&name);
    if (!c->no_env) {
        if (env_name(e, &name) != 0) {
            keel__conf_found_free(&f);
            return KEEL_ENOMEM;
        }
        env = getenv(name.base);
    }
    if (found && !f.from_cli)
        keel__conf_ns_warn_deprecated(c, ns, e);
    if (found && f.from_cli)
        rc = convert_found(c, ns, e, &f, out);
    else if (env != NULL)
        rc = convert_env(c, ns, e, env, name.base, out);
    else if (found)
        rc = convert_found(c, ns, e, &f, out);
    else if (e->has_default_text) {
        o.from = FROM_DEFAULT;
        if (e->opt->type == KEEL_CONF_MULTI) {
            const char *t[1] = {e->default_text};
            size_t l[1] = {strlen(e->default_text)};
            rc = convert_multi(c, ns, e, t, l, 1, &o, NULL, out);
        } else {
            rc = convert_one(c, ns, e, e->opt->type, e->default_text, strlen(e->default_text), &o, out);
        }
    } else
        rc = convert_default(c, ns, e, out);
    keel__conf_found_free(&f);
    keel_buf_free(&name);
    return rc;
}

int keel__conf_resolve_entry(keel_conf_t *c, conf_ns_t *ns, conf_entry_t *e)
{
    if (e->state == ENTRY_RESOLVED)
        return 0;
    if (e->state == ENTRY_RESOLVING)
        return keel__conf_errorf(c, KEEL_EVALUE, "interpolation: [%s] %s refers to itself", e->group->name, e->opt->name);
    e->state = ENTRY_RESOLVING;
    keel_conf_value_t v = {0};
    int rc = compute(c, ns, e, &v);
    if (rc != 0) {
        e->state = ENTRY_UNRESOLVED;
        return rc;
    }
    keel__conf_value_clear(&e->value);
    e->value = v;
    e->state = ENTRY_RESOLVED;
    return 0;
}

/* cfg.ConfigOpts._validate_cli_options: command-line options are checked
 * as found on the command line or in files, even when the environment
 * would override them. */
int keel__conf_validate_cli(keel_conf_t *c, conf_ns_t *ns)
{
    for (size_t i = 0; i < c->cli_order.len; i++) {
        conf_entry_t *e = c->cli_order.items[i];
        conf_found_t f;
        int rc = keel__conf_ns_lookup(ns, e, &f);
        if (rc == KEEL_ENOENT)
            continue;
        if (rc != 0)
            return rc;
        keel_conf_value_t v = {0};
        rc = convert_found(c, ns, e, &f, &v);
        keel__conf_value_clear(&v);
        keel__conf_found_free(&f);
        if (rc == KEEL_EVALUE) {
            keel_buf_t msg;
            keel_buf_init(&msg);
            keel_buf_puts(&msg, keel_conf_error(c));
            rc = keel__conf_errorf(c, KEEL_EUSAGE, "argument --%s: %s", e->dest, msg.base ? msg.base : "");
            keel_buf_free(&msg);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int required_error(keel_conf_t *c, const conf_entry_t *e)
{
    keel_buf_t env;
    keel_buf_init(&env);
    env_name(e, &env);
    keel_buf_t cli;
    keel_buf_init(&cli);
    if (e->cli) {
        if (e->opt->flags & KEEL_CONF_POSITIONAL)
            keel_buf_printf(&cli, ", as the positional argument %s", e->opt->name);
        else if (is_default_group(e->group))
            keel_buf_printf(&cli, ", on the command line as --%s", e->opt->name);
        else
            keel_buf_printf(&cli, ", on the command line as --%s-%s", e->group->name, e->opt->name);
    }
    int rc = keel__conf_errorf(c, KEEL_EREQUIRED,
                               "value required for option %s in group [%s]: set \"%s = ...\" in section [%s] of a config file%s, "
                               "or in the environment variable %s",
                               e->opt->name, e->group->name, e->dest, e->group->name, cli.base ? cli.base : "",
                               env.base ? env.base : "");
    keel_buf_free(&env);
    keel_buf_free(&cli);
    return rc;
}

int keel__conf_resolve_all(keel_conf_t *c, conf_ns_t *ns)
{
    int rc = keel__conf_validate_cli(c, ns);
    /* _all_opt_infos order: DEFAULT first, then groups as registered. */
    for (size_t g = 0; rc == 0 && g < c->groups.len; g++) {
        conf_group_t *grp = c->groups.items[g];
        for (size_t i = 0; rc == 0 && i < grp->entries.len; i++) {
            conf_entry_t *e = grp->entries.items[i];
            rc = keel__conf_resolve_entry(c, ns, e);
            if (rc == 0 && (e->opt->flags & KEEL_CONF_REQUIRED) && e->override_text == NULL && !e->has_default_text &&
                e->value.kind == KEEL_CONF_VNONE)
                rc = required_error(c, e);
        }
    }
    return rc;
}
