/*
 * sample.c — a commented sample config file for the registered options, in
 * the layout oslo-config-generator writes (its "ini" format without
 * reStructuredText rendering): DEFAULT first, other groups alphabetically,
 * help wrapped at 70 columns as textwrap does, the type in parentheses,
 * ranges, choices, notes, then "#name = default".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_int.h"
#include "pycompat/pystr.h"
#include "types.h"

#define WRAP_WIDTH 70

static const char *const sample_type_names[] = {
#define XX(name, schema, sample) sample,
    KEEL_CONF_TYPE_MAP(XX)
#undef XX
};

/* textwrap.wrap(line, 70, initial_indent='# ', subsequent_indent='# ',
 * break_long_words=False): words move whole to the next line; a word may
 * break after a hyphen between letters, as textwrap's break_on_hyphens. */
static int wrap_line(keel_buf_t *out, const char *line, size_t len)
{
    size_t col = 0;
    bool line_has_words = false;
    size_t i = 0;
    int rc = 0;
    while (rc == 0 && i < len) {
        size_t ws = i;
        while (i < len && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i >= len)
            break;
        size_t start = i;
        while (i < len && line[i] != ' ' && line[i] != '\t') {
            i++;
            /* "well-known": the chunk "well-" may end a line */
            if (i < len && line[i - 1] == '-' && i - 1 > start && ((line[i - 2] | 32) >= 'a' && (line[i - 2] | 32) <= 'z') &&
                ((line[i] | 32) >= 'a' && (line[i] | 32) <= 'z'))
                break;
        }
        size_t wlen = keel__utf8_length(line + start, i - start);
        size_t gap = line_has_words ? keel__utf8_length(line + ws, start - ws) : 0;
        if (!line_has_words) {
            rc = keel_buf_puts(out, "# ");
            col = 2;
        } else if (col + gap + wlen > WRAP_WIDTH) {
            rc = keel_buf_puts(out, "\n# ");
            col = 2;
            gap = 0;
        }
        if (rc == 0 && gap > 0)
            rc = keel_buf_append(out, line + ws, start - ws);
        if (rc == 0)
            rc = keel_buf_append(out, line + start, i - start);
        col += gap + wlen;
        line_has_words = true;
    }
    if (rc == 0)
        rc = keel_buf_puts(out, line_has_words ? "\n" : "#\n");
    return rc;
}

static int format_help(keel_buf_t *out, const char *text)
{
    int rc = 0;
    const char *p = text;
    while (rc == 0 && *p) {
        size_t n = strcspn(p, "\n");
        rc = wrap_line(out, p, n);
        p += n;
        if (*p == '\n')
            p++;
    }
    return rc;
}

static int format_number(keel_buf_t *out, keel_conf_type_t t, double v)
{
    if (t == KEEL_CONF_FLOAT)
        return keel__py_repr_float(out, v);
    return keel_buf_printf(out, "%.0f", v);
}

static bool needs_quotes(const char *s)
{
    size_t b = 0, e = strlen(s);
    keel__py_strip(s, &b, &e);
    return b != 0 || e != strlen(s);
}

static int default_line(keel_buf_t *out, const char *dest, const char *value)
{
    int rc = keel_buf_printf(out, "#%s =", dest);
    if (rc == 0 && value[0] != '\0') {
        rc = keel_buf_putc(out, ' ');
        for (const char *p = value; rc == 0 && *p; p++)
            rc = *p == '\n' ? keel_buf_puts(out, "\n#    ") : keel_buf_putc(out, *p);
    }
    return rc ? rc : keel_buf_putc(out, '\n');
}

static int quoted_default_line(keel_buf_t *out, const char *dest, const char *value, bool quote)
{
    if (!quote || !needs_quotes(value))
        return default_line(out, dest, value);
    keel_buf_t q;
    keel_buf_init(&q);
    int rc = keel_buf_printf(&q, "\"%s\"", value);
    if (rc == 0)
        rc = default_line(out, dest, q.base);
    keel_buf_free(&q);
    return rc;
}

static int cmp_pair(const void *a, const void *b)
{
    const keel_conf_value_t *x = a, *y = b;
    return strcmp(x[0].u.s, y[0].u.s);
}

/* Dict defaults are written sorted by key (types.Dict._formatter). */
static int dict_default(keel_buf_t *out, const conf_entry_t *e)
{
    keel_conf_value_t v = {0};
    keel_buf_t why, text;
    keel_buf_init(&why);
    keel_buf_init(&text);
    int rc = keel__conf_convert(e->opt, KEEL_CONF_DICT, e->opt->default_value, strlen(e->opt->default_value), &v, &why);
    if (rc != 0) {
        keel_buf_free(&why);
        return default_line(out, e->dest, e->opt->default_value);
    }
    if (v.len > 1)
        qsort(v.u.items, v.len, 2 * sizeof(keel_conf_value_t), cmp_pair);
    for (size_t i = 0; rc == 0 && i < v.len; i++) {
        rc = keel_buf_printf(&text, "%s%s:", i ? "," : "", v.u.items[2 * i].u.s);
        if (rc == 0)
            rc = keel_conf_value_to_pystr(&v.u.items[2 * i + 1], &text);
    }
    if (rc == 0)
        rc = default_line(out, e->dest, text.base ? text.base : "");
    keel__conf_value_clear(&v);
    keel_buf_free(&why);
    keel_buf_free(&text);
    return rc;
}

static int format_defaults(keel_buf_t *out, const conf_entry_t *e)
{
    const keel_conf_opt_t *o = e->opt;
    if (o->type == KEEL_CONF_MULTI) {
        if (o->sample_default != NULL)
            return quoted_default_line(out, e->dest, o->sample_default, true);
        if (o->default_multi == NULL || o->default_multi[0] == NULL)
            return default_line(out, e->dest, "");
        int rc = 0;
        for (const char *const *d = o->default_multi; rc == 0 && *d; d++)
            rc = quoted_default_line(out, e->dest, *d, true);
        return rc;
    }
    if (o->sample_default != NULL)
        return default_line(out, e->dest, o->sample_default);
    if (o->default_value == NULL)
        return default_line(out, e->dest, "<None>");
    if (o->type == KEEL_CONF_BOOL) {
        keel_buf_t low;
        keel_buf_init(&low);
        int rc = keel_buf_puts(&low, o->default_value);
        for (size_t i = 0; rc == 0 && i < low.len; i++)
            if (low.base[i] >= 'A' && low.base[i] <= 'Z')
                low.base[i] = (char)(low.base[i] - 'A' + 'a');
        if (rc == 0)
            rc = default_line(out, e->dest, low.base);
        keel_buf_free(&low);
        return rc;
    }
    if (o->type == KEEL_CONF_DICT)
        return dict_default(out, e);
    return quoted_default_line(out, e->dest, o->default_value, o->type == KEEL_CONF_STRING);
}

static int format_opt(keel_buf_t *out, const conf_entry_t *e)
{
    const keel_conf_opt_t *o = e->opt;
    keel_conf_type_t t = o->type;
    const char *type_name = sample_type_names[t];
    if (t == KEEL_CONF_MULTI && o->item_type != KEEL_CONF_STRING)
        type_name = sample_type_names[o->item_type];
    keel_buf_t help;
    keel_buf_init(&help);
    const char *prefix = "";
    if ((o->flags & KEEL_CONF_DEPRECATED_FOR_REMOVAL) && (o->help == NULL || strncmp(o->help, "DEPRECATED", 10) != 0))
        prefix = "DEPRECATED: ";
    int rc = o->help ? keel_buf_printf(&help, "%s%s (%s)", prefix, o->help, type_name) : keel_buf_printf(&help, "(%s)", type_name);
    if (rc == 0)
        rc = keel_buf_putc(out, '\n');
    if (rc == 0)
        rc = format_help(out, help.base);
    keel_buf_free(&help);
    bool number = t == KEEL_CONF_INT || t == KEEL_CONF_FLOAT || t == KEEL_CONF_PORT;
    bool has_min = (o->flags & KEEL_CONF_HAS_MIN) || t == KEEL_CONF_PORT;
    bool has_max = (o->flags & KEEL_CONF_HAS_MAX) || t == KEEL_CONF_PORT;
    if (rc == 0 && number && has_min) {
        rc = keel_buf_puts(out, "# Minimum value: ");
        if (rc == 0)
            rc = format_number(out, t, (o->flags & KEEL_CONF_HAS_MIN) ? o->min : 0);
        if (rc == 0)
            rc = keel_buf_putc(out, '\n');
    }
    if (rc == 0 && number && has_max) {
        rc = keel_buf_puts(out, "# Maximum value: ");
        if (rc == 0)
            rc = format_number(out, t, (o->flags & KEEL_CONF_HAS_MAX) ? o->max : 65535);
        if (rc == 0)
            rc = keel_buf_putc(out, '\n');
    }
    if (rc == 0 && o->choices != NULL && o->choices[0] != NULL) {
        rc = keel_buf_puts(out, "# Possible values:\n");
        for (const char *const *ch = o->choices; rc == 0 && *ch; ch++) {
            keel_buf_t line;
            keel_buf_init(&line);
            rc = keel_buf_printf(&line, "%s - <No description provided>", (*ch)[0] ? *ch : "''");
            if (rc == 0)
                rc = format_help(out, line.base);
            keel_buf_free(&line);
        }
    }
    if (rc == 0 && (o->flags & KEEL_CONF_MUTABLE))
        rc = keel_buf_puts(out, "# Note: This option can be changed without restarting.\n");
    for (size_t j = 1; rc == 0 && j < e->n_names; j++) {
        const conf_name_t *n = &e->names[j];
        if (n->explicit_name && strchr(n->name, '-') == NULL)
            rc = keel_buf_printf(out, "# Deprecated group/name - [%s]/%s\n", n->group ? n->group : e->group->name, n->name);
    }
    if (rc == 0 && (o->flags & KEEL_CONF_DEPRECATED_FOR_REMOVAL)) {
        if (o->deprecated_since)
            rc = keel_buf_printf(out, "# This option is deprecated for removal since %s.\n", o->deprecated_since);
        else
            rc = keel_buf_puts(out, "# This option is deprecated for removal.\n");
        if (rc == 0)
            rc = keel_buf_puts(out, "# Its value may be silently ignored in the future.\n");
        if (rc == 0 && o->deprecated_reason) {
            keel_buf_t r;
            keel_buf_init(&r);
            rc = keel_buf_printf(&r, "Reason: %s", o->deprecated_reason);
            if (rc == 0)
                rc = format_help(out, r.base);
            keel_buf_free(&r);
        }
    }
    if (rc == 0 && (o->flags & KEEL_CONF_ADVANCED))
        rc = keel_buf_puts(out, "# Advanced Option: intended for advanced users and not used\n"
                                "# by the majority of users, and might have a significant\n"
                                "# effect on stability and/or performance.\n");
    if (rc == 0 && o->sample_default != NULL && o->sample_default[0])
        rc = keel_buf_puts(out, "#\n# This option has a sample default set, which means that\n"
                                "# its actual default value may vary from the one documented\n# below.\n");
    return rc ? rc : format_defaults(out, e);
}

static int format_group(keel_buf_t *out, const conf_group_t *g, const char *namespace_)
{
    int rc = keel_buf_printf(out, "[%s]\n", g->name);
    if (rc == 0 && g->help != NULL)
        rc = format_help(out, g->help);
    if (rc == 0 && g->entries.len > 0)
        rc = keel_buf_printf(out, "\n#\n# From %s\n#\n", namespace_);
    /* advanced options last, otherwise in registration order */
    for (int pass = 0; rc == 0 && pass < 2; pass++)
        for (size_t i = 0; rc == 0 && i < g->entries.len; i++) {
            const conf_entry_t *e = g->entries.items[i];
            if (((e->opt->flags & KEEL_CONF_ADVANCED) != 0) == (pass == 1))
                rc = format_opt(out, e);
        }
    return rc;
}

static int cmp_group(const void *a, const void *b)
{
    return strcmp((*(conf_group_t *const *)a)->name, (*(conf_group_t *const *)b)->name);
}

int keel_conf_write_sample(const keel_conf_t *c, const char *namespace_, FILE *f)
{
    keel_buf_t out;
    keel_buf_init(&out);
    int rc = format_group(&out, c->groups.items[0], namespace_);
    size_t n = c->groups.len - 1;
    conf_group_t **sorted = keel__calloc(n + 1, sizeof(*sorted));
    if (sorted == NULL)
        rc = KEEL_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++)
        sorted[i] = c->groups.items[i + 1];
    if (rc == 0 && n > 1)
        qsort(sorted, n, sizeof(*sorted), cmp_group);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (sorted[i]->entries.len == 0)
            continue;
        rc = keel_buf_puts(&out, "\n\n");
        if (rc == 0)
            rc = format_group(&out, sorted[i], namespace_);
    }
    keel__free(sorted);
    if (rc == 0 && out.len > 0 && fwrite(out.base, 1, out.len, f) != out.len)
        rc = keel_from_errno(errno);
    if (rc == 0 && fflush(f) != 0)
        rc = keel_from_errno(errno);
    keel_buf_free(&out);
    return rc;
}
