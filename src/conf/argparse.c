/*
 * argparse.c — the command line as oslo.config reads it, which is Python
 * 3.11's argparse driven by oslo's option table. Users type the same
 * command lines at keel programs as at OpenStack services, so the quirks
 * carry over: unambiguous prefixes of long options are accepted
 * (--conf-f), "--flag=x" on a boolean is an error, a value that looks like
 * an option needs "--opt=value", "-5" is a value, positionals are matched
 * by argparse's greedy patterns, and --config-file takes effect where it
 * stands, so later options override what the file set.
 *
 * The structure follows ArgumentParser._parse_known_args: classify every
 * argument as 'O' (option), 'A' (argument) or '-' ("--"), then alternately
 * consume positionals and options. Positional counts use the same regular
 * expressions argparse builds, run with PCRE2.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_int.h"

typedef enum {
    ACT_HELP,
    ACT_VERSION,
    ACT_STORE,
    ACT_STORE_TRUE,
    ACT_STORE_FALSE,
    ACT_APPEND,
    ACT_CONFIG_FILE,
    ACT_CONFIG_DIR
} act_kind_t;

/* argparse nargs: exactly one, '?', '*', or none (flags). */
typedef enum { NARGS_ONE, NARGS_OPTIONAL, NARGS_ANY, NARGS_ZERO } nargs_t;

typedef struct {
    act_kind_t kind;
    nargs_t nargs;
    char **strings; /* option strings; none for positionals */
    size_t n_strings;
    char *dest; /* attribute key */
    char *metavar;
    const char *help;
    conf_entry_t *entry;
    conf_group_t *group; /* container for --help; NULL = top level */
    bool required;
    bool seen;
} action_t;

typedef struct {
    action_t *action; /* NULL: looks like an option but is not one */
    const char *option_string;
    const char *explicit_arg; /* NULL if none */
    char *owned;              /* storage behind option_string/explicit_arg */
} option_tuple_t;

typedef struct {
    keel_conf_t *c;
    conf_ns_t *ns;
    bool quiet;
    keel_vec_t actions;     /* action_t*, argparse's _actions order */
    keel_vec_t positionals; /* action_t*, still to consume */
    bool negative_like_options;
    int argc;
    char **argv; /* argv[1..] of the parse */
    char *pattern;
    option_tuple_t *tuples; /* per argument */
    keel_vec_t extras;      /* char* (borrowed) */
} parser_t;

/* ---- building the action table ---- */

static void action_free(action_t *a)
{
    for (size_t i = 0; i < a->n_strings; i++)
        keel__free(a->strings[i]);
    keel__free(a->strings);
    keel__free(a->dest);
    keel__free(a->metavar);
    keel__free(a);
}

static int add_string(action_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int add_string(action_t *a, const char *fmt, ...)
{
    keel_buf_t b;
    keel_buf_init(&b);
    va_list ap;
    va_start(ap, fmt);
    int rc = keel_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    if (rc != 0) {
        keel_buf_free(&b);
        return rc;
    }
    /* argparse keys option strings in a dict: a repeat is one string */
    for (size_t i = 0; i < a->n_strings; i++) {
        if (strcmp(a->strings[i], b.base) == 0) {
            keel_buf_free(&b);
            return 0;
        }
    }
    char **s = keel__realloc(a->strings, (a->n_strings + 1) * sizeof(*s));
    if (s == NULL) {
        keel_buf_free(&b);
        return KEEL_ENOMEM;
    }
    a->strings = s;
    s[a->n_strings++] = keel_buf_steal(&b);
    return s[a->n_strings - 1] ? 0 : KEEL_ENOMEM;
}

static action_t *action_new(act_kind_t kind, nargs_t nargs, const char *dest, const char *help)
{
    action_t *a = keel__calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->kind = kind;
    a->nargs = nargs;
    a->help = help;
    a->dest = keel__strdup(dest);
    if (a->dest == NULL) {
        keel__free(a);
        return NULL;
    }
    return a;
}

static bool is_default(const conf_group_t *g)
{
    return strcmp(g->name, KEEL__CONF_DEFAULT) == 0;
}

/* Opt._get_deprecated_cli_name: "[dgroup-]prefix+dname", or none. */
static int add_deprecated_strings(action_t *a, const conf_entry_t *e, const char *prefix)
{
    int rc = 0;
    for (size_t j = 1; rc == 0 && j < e->n_names; j++) {
        const conf_name_t *n = &e->names[j];
        const char *dgroup = n->group;
        if (dgroup != NULL && strcmp(dgroup, KEEL__CONF_DEFAULT) == 0)
            dgroup = NULL;
        if (!n->explicit_name && dgroup == NULL)
            continue;
        const char *dname = n->explicit_name ? n->name : e->opt->name;
        rc = dgroup ? add_string(a, "--%s-%s%s", dgroup, prefix, dname) : add_string(a, "--%s%s", prefix, dname);
    }
    return rc;
}

static int entry_actions(parser_t *p, conf_entry_t *e, keel_vec_t *out)
{
    const keel_conf_opt_t *o = e->opt;
    const char *g = is_default(e->group) ? NULL : e->group->name;
    keel_buf_t key;
    keel_buf_init(&key);
    int rc;
    action_t *a = NULL;
    if (o->flags & KEEL_CONF_POSITIONAL) {
        /* argparse positionals name their dest by the argument itself. */
        rc = g ? keel_buf_printf(&key, "%s_%s", g, o->name) : keel_buf_puts(&key, o->name);
        for (size_t i = 0; rc == 0 && i < key.len; i++)
            if (key.base[i] == '-')
                key.base[i] = '_';
        nargs_t nargs = o->type == KEEL_CONF_MULTI ? NARGS_ANY : (o->flags & KEEL_CONF_REQUIRED) ? NARGS_ONE : NARGS_OPTIONAL;
        a = rc == 0 ? action_new(ACT_STORE, nargs, key.base, o->help) : NULL;
        if (a != NULL) {
            a->entry = e;
            a->group = e->group;
            a->required = nargs == NARGS_ONE;
            a->metavar = o->metavar ? keel__strdup(o->metavar) : keel__strdup(key.base);
        }
        keel_buf_free(&key);
        if (a == NULL)
            return KEEL_ENOMEM;
        return keel_vec_push(out, a);
    }
    rc = keel__conf_attr_key(&key, g, e->dest);
    act_kind_t kind = o->type == KEEL_CONF_BOOL ? ACT_STORE_TRUE : o->type == KEEL_CONF_MULTI ? ACT_APPEND : ACT_STORE;
    a = rc == 0 ? action_new(kind, kind == ACT_STORE_TRUE ? NARGS_ZERO : NARGS_ONE, key.base, o->help) : NULL;
    if (a == NULL) {
        keel_buf_free(&key);
        return KEEL_ENOMEM;
    }
    a->entry = e;
    a->group = e->group;
    rc = g ? add_string(a, "--%s-%s", g, o->name) : add_string(a, "--%s", o->name);
    if (rc == 0 && o->short_name)
        rc = add_string(a, "-%c", o->short_name);
    if (rc == 0)
        rc = add_deprecated_strings(a, e, "");
    if (rc == 0 && kind != ACT_STORE_TRUE) {
        char *mv = NULL;
        if (o->metavar) {
            mv = keel__strdup(o->metavar);
        } else if ((mv = keel__strdup(key.base)) != NULL) {
            for (char *q = mv; *q; q++)
                if (*q >= 'a' && *q <= 'z')
                    *q = (char)(*q - 'a' + 'A');
        }
        a->metavar = mv;
        rc = mv ? 0 : KEEL_ENOMEM;
    }
    if (rc == 0)
        rc = keel_vec_push(out, a);
    if (rc != 0) {
        action_free(a);
        keel_buf_free(&key);
        return rc;
    }
    if (kind == ACT_STORE_TRUE) {
        /* BoolOpt._add_inverse_to_argparse: --noname, --group-noname */
        action_t *inv = action_new(ACT_STORE_FALSE, NARGS_ZERO, key.base, NULL);
        if (inv == NULL) {
            keel_buf_free(&key);
            return KEEL_ENOMEM;
        }
        inv->entry = e;
        inv->group = e->group;
        rc = g ? add_string(inv, "--%s-no%s", g, o->name) : add_string(inv, "--no%s", o->name);
        if (rc == 0)
            rc = add_deprecated_strings(inv, e, "no");
        if (rc == 0)
            rc = keel_vec_push(out, inv);
        if (rc != 0)
            action_free(inv);
    }
    keel_buf_free(&key);
    (void)p;
    return rc;
}

static int cmp_first_string(const void *x, const void *y)
{
    const action_t *a = *(action_t *const *)x, *b = *(action_t *const *)y;
    /* Python sorts the argument tuples; the first option string decides
     * unless equal, which duplicate detection rejects anyway. */
    size_t n = a->n_strings < b->n_strings ? a->n_strings : b->n_strings;
    for (size_t i = 0; i < n; i++) {
        int r = strcmp(a->strings[i], b->strings[i]);
        if (r != 0)
            return r;
    }
    return (int)a->n_strings - (int)b->n_strings;
}

/* Adds one container's cached arguments in _CachedArgumentParser's order:
 * the options before the first positional sorted, the rest as added. */
static int flush_container(parser_t *p, keel_vec_t *cached)
{
    size_t first_pos = cached->len;
    for (size_t i = 0; i < cached->len; i++) {
        action_t *a = cached->items[i];
        if (a->n_strings == 0) {
            first_pos = i;
            break;
        }
    }
    if (first_pos > 1)
        qsort(cached->items, first_pos, sizeof(void *), cmp_first_string);
    for (size_t i = 0; i < cached->len; i++) {
        action_t *a = cached->items[i];
        for (size_t k = 0; k < p->actions.len; k++) {
            action_t *b = p->actions.items[k];
            for (size_t x = 0; x < a->n_strings; x++)
                for (size_t y = 0; y < b->n_strings; y++)
                    if (strcmp(a->strings[x], b->strings[y]) == 0)
                        return keel__conf_errorf(p->c, KEEL_EDUPLICATE, "duplicate option: %s", a->strings[x]);
        }
        if (keel_vec_push(&p->actions, a) != 0)
            return KEEL_ENOMEM;
        cached->items[i] = NULL;
        for (size_t x = 0; x < a->n_strings; x++) {
            const char *s = a->strings[x];
            /* argparse's _negative_number_matcher on option strings */
            if (s[0] == '-' && s[1] >= '0' && s[1] <= '9' && strspn(s + 1, "0123456789") == strlen(s + 1))
                p->negative_like_options = true;
        }
        if (a->n_strings == 0 && keel_vec_push(&p->positionals, a) != 0)
            return KEEL_ENOMEM;
    }
    return 0;
}

static int push_builtin(keel_vec_t *cached, act_kind_t kind, const char *dest, const char *string, const char *metavar,
                        const char *help)
{
    action_t *a = action_new(kind, kind == ACT_VERSION ? NARGS_ZERO : NARGS_ONE, dest, help);
    if (a == NULL)
        return KEEL_ENOMEM;
    if (add_string(a, "%s", string) != 0 || (metavar && (a->metavar = keel__strdup(metavar)) == NULL) ||
        keel_vec_push(cached, a) != 0) {
        action_free(a);
        return KEEL_ENOMEM;
    }
    return 0;
}

static int build_actions(parser_t *p)
{
    keel_conf_t *c = p->c;
    action_t *help = action_new(ACT_HELP, NARGS_ZERO, "help", "show this help message and exit");
    if (help == NULL || add_string(help, "-h") || add_string(help, "--help") || keel_vec_push(&p->actions, help)) {
        if (help)
            action_free(help);
        return KEEL_ENOMEM;
    }
    /* Containers in first-seen order: the top level holds --version,
     * --config-dir, --config-file and DEFAULT options; groups follow in
     * the order their first option appears in oslo's CLI deque. */
    keel_vec_t groups, cached;
    keel_vec_init(&groups);
    keel_vec_init(&cached);
    int rc = keel_vec_push(&groups, NULL);
    for (size_t i = 0; rc == 0 && i < c->cli_order.len; i++) {
        conf_entry_t *e = c->cli_order.items[i];
        conf_group_t *g = is_default(e->group) ? NULL : e->group;
        bool known = false;
        for (size_t k = 0; k < groups.len; k++)
            known = known || groups.items[k] == g;
        if (!known)
            rc = keel_vec_push(&groups, g);
    }
    for (size_t k = 0; rc == 0 && k < groups.len; k++) {
        conf_group_t *g = groups.items[k];
        cached.len = 0;
        if (g == NULL) {
            if (c->version != NULL)
                rc = push_builtin(&cached, ACT_VERSION, "version", "--version", NULL, "show program's version number and exit");
            if (rc == 0)
                rc = push_builtin(&cached, ACT_CONFIG_DIR, "config_dir", "--config-dir", "DIR",
                                  "Path to a config directory to pull `*.conf` files from. This file set is sorted, so as to "
                                  "provide a predictable parse order if individual options are over-ridden. The set is parsed "
                                  "after the file(s) specified via previous --config-file, arguments hence over-ridden "
                                  "options in the directory take precedence. This option must be set from the command-line.");
            if (rc == 0)
                rc = push_builtin(&cached, ACT_CONFIG_FILE, "config_file", "--config-file", "PATH",
                                  "Path to a config file to use. Multiple config files can be specified, with values in "
                                  "later files taking precedence. This option must be set from the command-line.");
        }
        for (size_t i = 0; rc == 0 && i < c->cli_order.len; i++) {
            conf_entry_t *e = c->cli_order.items[i];
            if ((is_default(e->group) ? NULL : e->group) == g)
                rc = entry_actions(p, e, &cached);
        }
        if (rc == 0)
            rc = flush_container(p, &cached);
        for (size_t i = 0; i < cached.len; i++)
            if (cached.items[i] != NULL)
                action_free(cached.items[i]);
    }
    keel_vec_free(&groups);
    keel_vec_free(&cached);
    return rc;
}

/* ---- classifying arguments ---- */

static action_t *find_string(const parser_t *p, const char *s, size_t len)
{
    for (size_t i = 0; i < p->actions.len; i++) {
        action_t *a = p->actions.items[i];
        for (size_t k = 0; k < a->n_strings; k++)
            if (strlen(a->strings[k]) == len && memcmp(a->strings[k], s, len) == 0)
                return a;
    }
    return NULL;
}

/* argparse's _negative_number_matcher: ^-\d+$|^-\d*\.\d+$ with Unicode
 * digits and Python's "$ also before a final newline". */
static bool looks_negative(const char *s)
{
    static pcre2_code *re;
    if (re == NULL) {
        int err;
        PCRE2_SIZE off;
        re = pcre2_compile((PCRE2_SPTR) "^-\\d+$|^-\\d*\\.\\d+$", PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &off, NULL);
        if (re == NULL)
            return false;
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (md == NULL)
        return false;
    int r = pcre2_match(re, (PCRE2_SPTR)s, strlen(s), 0, 0, md, NULL);
    pcre2_match_data_free(md);
    return r >= 0;
}

static int ambiguous(parser_t *p, const char *arg, keel_vec_t *matches)
{
    keel_buf_t b;
    keel_buf_init(&b);
    for (size_t i = 0; i < matches->len; i++)
        keel_buf_printf(&b, "%s%s", i ? ", " : "", (char *)matches->items[i]);
    int rc = keel__conf_errorf(p->c, KEEL_EUSAGE, "ambiguous option: %s could match %s", arg, b.base ? b.base : "");
    keel_buf_free(&b);
    return rc;
}

/* ArgumentParser._parse_optional + _get_option_tuples. Returns 0 with
 * *is_option set, or KEEL_EUSAGE for an ambiguous prefix. */
static int parse_optional(parser_t *p, const char *arg, option_tuple_t *t, bool *is_option)
{
    *is_option = false;
    memset(t, 0, sizeof(*t));
    size_t len = strlen(arg);
    if (len == 0 || arg[0] != '-')
        return 0;
    action_t *a = find_string(p, arg, len);
    if (a != NULL) {
        *t = (option_tuple_t){a, arg, NULL, NULL};
        *is_option = true;
        return 0;
    }
    if (len == 1)
        return 0;
    const char *eq = strchr(arg, '=');
    if (eq != NULL && (a = find_string(p, arg, (size_t)(eq - arg))) != NULL) {
        t->owned = keel__strndup(arg, (size_t)(eq - arg));
        if (t->owned == NULL)
            return KEEL_ENOMEM;
        *t = (option_tuple_t){a, t->owned, eq + 1, t->owned};
        *is_option = true;
        return 0;
    }
    /* Prefix matches: long options by abbreviation, short ones glued. */
    keel_vec_t matches;
    keel_vec_init(&matches);
    action_t *match = NULL;
    const char *match_string = NULL, *match_explicit = NULL;
    size_t prefix_len = len;
    const char *explicit_arg = NULL;
    if (arg[1] == '-') {
        if (eq != NULL) {
            prefix_len = (size_t)(eq - arg);
            explicit_arg = eq + 1;
        }
    }
    for (size_t i = 0; i < p->actions.len; i++) {
        action_t *cand = p->actions.items[i];
        for (size_t k = 0; k < cand->n_strings; k++) {
            const char *s = cand->strings[k];
            if (arg[1] != '-' && strlen(s) == 2 && memcmp(s, arg, 2) == 0) {
                match = cand, match_string = s, match_explicit = arg + 2;
            } else if (strncmp(s, arg, prefix_len) == 0) {
                match = cand, match_string = s, match_explicit = arg[1] == '-' ? explicit_arg : NULL;
            } else {
                continue;
            }
            if (keel_vec_push(&matches, (void *)s) != 0) {
                keel_vec_free(&matches);
                return KEEL_ENOMEM;
            }
        }
    }
    if (matches.len > 1) {
        int rc = ambiguous(p, arg, &matches);
        keel_vec_free(&matches);
        return rc;
    }
    keel_vec_free(&matches);
    if (match != NULL) {
        *t = (option_tuple_t){match, match_string, match_explicit, NULL};
        *is_option = true;
        return 0;
    }
    if (looks_negative(arg) && !p->negative_like_options)
        return 0;
    if (strchr(arg, ' ') != NULL)
        return 0;
    *t = (option_tuple_t){NULL, arg, NULL, NULL};
    *is_option = true;
    return 0;
}

/* ---- actions ---- */

/* value NULL stores argparse's empty list: what "--opt=--" gives once
 * _get_values has dropped the "--". */
static int set_text_attr(parser_t *p, action_t *a, const char *value, bool append)
{
    conf_attr_t *attr = keel__conf_ns_attr(p->ns, a->dest, true);
    if (attr == NULL)
        return KEEL_ENOMEM;
    conf_text_t t = {.text = keel__strdup(value ? value : ""), .len = value ? strlen(value) : 0, .empty_list = value == NULL};
    if (t.text == NULL)
        return KEEL_ENOMEM;
    if (!append) {
        /* a store replaces whatever was there */
        keel__free(attr->text.text);
        for (size_t i = 0; i < attr->list.len; i++) {
            conf_text_t *old = attr->list.items[i];
            keel__free(old->text);
            keel__free(old);
        }
        attr->list.len = 0;
        attr->kind = ATTR_TEXT;
        attr->text = t;
        return 0;
    }
    if (attr->kind == ATTR_TEXT) { /* _copy_items of a string is not reachable for oslo opts */
        keel__free(attr->text.text);
        attr->text.text = NULL;
    }
    conf_text_t *item = keel__malloc(sizeof(*item));
    if (item == NULL || keel_vec_push(&attr->list, item) != 0) {
        keel__free(item);
        keel__free(t.text);
        return KEEL_ENOMEM;
    }
    *item = t;
    attr->kind = ATTR_LIST;
    return 0;
}

static int do_action(parser_t *p, action_t *a, char **args, size_t n, char **vals);

static int take_action(parser_t *p, action_t *a, char **args, size_t n)
{
    a->seen = true;
    /* _get_values drops the first "--" among an action's arguments. */
    char **vals = keel__malloc((n ? n : 1) * sizeof(char *));
    if (vals == NULL)
        return KEEL_ENOMEM;
    int rc = do_action(p, a, args, n, vals);
    keel__free(vals);
    return rc;
}

static int do_action(parser_t *p, action_t *a, char **args, size_t n, char **vals)
{
    size_t nv = 0;
    bool dropped = false;
    for (size_t i = 0; i < n; i++) {
        if (!dropped && strcmp(args[i], "--") == 0) {
            dropped = true;
            continue;
        }
        vals[nv++] = args[i];
    }
    conf_attr_t *attr;
    switch (a->kind) {
    case ACT_HELP:
        if (!p->quiet)
            keel__conf_help(p->c, stdout);
        return KEEL_EEXIT;
    case ACT_VERSION:
        if (!p->quiet)
            printf("%s\n", p->c->version);
        return KEEL_EEXIT;
    case ACT_STORE_TRUE:
    case ACT_STORE_FALSE:
        attr = keel__conf_ns_attr(p->ns, a->dest, true);
        if (attr == NULL)
            return KEEL_ENOMEM;
        keel__free(attr->text.text);
        attr->text.text = NULL;
        attr->kind = ATTR_BOOL;
        attr->b = a->kind == ACT_STORE_TRUE;
        return 0;
    case ACT_CONFIG_FILE:
    case ACT_CONFIG_DIR:
        if (nv == 0) /* os.path.expanduser([]) raises TypeError */
            return keel__conf_errorf(p->c, KEEL_EUSAGE, "argument %s: expected a path, got an empty list", a->strings[0]);
        if (a->kind == ACT_CONFIG_DIR) {
            int rc = set_text_attr(p, a, vals[0], false);
            return rc ? rc : keel__conf_ns_parse_dir(p->c, p->ns, vals[0], true);
        } else {
            int rc = set_text_attr(p, a, vals[0], true);
            return rc ? rc : keel__conf_ns_parse_file(p->c, p->ns, vals[0]);
        }
    case ACT_APPEND:
        return set_text_attr(p, a, nv ? vals[0] : NULL, true);
    case ACT_STORE:
        if (a->nargs == NARGS_ANY) {
            /* a '*' positional always stores a list, maybe empty */
            attr = keel__conf_ns_attr(p->ns, a->dest, true);
            if (attr == NULL)
                return KEEL_ENOMEM;
            for (size_t i = 0; i < attr->list.len; i++) {
                conf_text_t *old = attr->list.items[i];
                keel__free(old->text);
                keel__free(old);
            }
            attr->list.len = 0;
            attr->kind = ATTR_LIST;
            for (size_t i = 0; i < nv; i++) {
                int rc = set_text_attr(p, a, vals[i], true);
                if (rc != 0)
                    return rc;
            }
            return 0;
        }
        if (nv == 0 && a->n_strings > 0) /* "--opt=--" */
            return set_text_attr(p, a, NULL, false);
        if (nv == 0) { /* '?' with nothing: the default, None */
            attr = keel__conf_ns_attr(p->ns, a->dest, true);
            if (attr == NULL)
                return KEEL_ENOMEM;
            keel__free(attr->text.text);
            attr->text.text = NULL;
            attr->kind = ATTR_NONE;
            return 0;
        }
        return set_text_attr(p, a, vals[0], false);
    }
    return KEEL_EINVAL;
}

static const char *action_name(const action_t *a)
{
    if (a->n_strings > 0) {
        static char buf[512];
        buf[0] = '\0';
        for (size_t i = 0; i < a->n_strings; i++)
            snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s", i ? "/" : "", a->strings[i]);
        return buf;
    }
    return a->metavar ? a->metavar : a->dest;
}

static int arg_error(parser_t *p, const action_t *a, const char *msg)
{
    return keel__conf_errorf(p->c, KEEL_EUSAGE, "argument %s: %s", action_name(a), msg);
}

/* ArgumentParser._parse_known_args.consume_optional */
static int consume_optional(parser_t *p, int start, int *next)
{
    option_tuple_t *t = &p->tuples[start];
    action_t *a = t->action;
    const char *option_string = t->option_string;
    const char *explicit_arg = t->explicit_arg;
    char flag[3];
    for (;;) {
        if (a == NULL) {
            *next = start + 1;
            return keel_vec_push(&p->extras, p->argv[start]);
        }
        if (explicit_arg != NULL) {
            if (a->nargs == NARGS_ZERO && option_string[1] != '-' && explicit_arg[0] != '\0') {
                /* "-ab": run -a, then look at -b */
                int rc = take_action(p, a, NULL, 0);
                if (rc != 0)
                    return rc;
                flag[0] = option_string[0];
                flag[1] = explicit_arg[0];
                flag[2] = '\0';
                action_t *b = find_string(p, flag, 2);
                if (b == NULL) {
                    char msg[600];
                    snprintf(msg, sizeof(msg), "ignored explicit argument '%s'", explicit_arg);
                    return arg_error(p, a, msg);
                }
                a = b;
                option_string = flag;
                explicit_arg = explicit_arg[1] ? explicit_arg + 1 : NULL;
                continue;
            }
            if (a->nargs == NARGS_ONE) {
                *next = start + 1;
                char *v = (char *)explicit_arg;
                return take_action(p, a, &v, 1);
            }
            char msg[600];
            snprintf(msg, sizeof(msg), "ignored explicit argument '%s'", explicit_arg);
            return arg_error(p, a, msg);
        }
        int count = 0;
        if (a->nargs == NARGS_ONE) {
            if (p->pattern[start + 1] != 'A')
                return arg_error(p, a, "expected one argument");
            count = 1;
        }
        *next = start + 1 + count;
        return take_action(p, a, p->argv + start + 1, (size_t)count);
    }
}

static const char *nargs_pattern(const action_t *a)
{
    switch (a->nargs) {
    case NARGS_ONE:
        return "(-*A-*)";
    case NARGS_OPTIONAL:
        return "(-*A?-*)";
    case NARGS_ANY:
        return "(-*[A-]*)";
    default:
        return "(-*-*)";
    }
}

/* _match_arguments_partial: the longest prefix of the positionals whose
 * joined patterns match the start of the remaining pattern string. */
static int match_partial(parser_t *p, const char *pattern, size_t *counts, size_t *n_counts)
{
    *n_counts = 0;
    for (size_t n = p->positionals.len; n > 0; n--) {
        keel_buf_t re;
        keel_buf_init(&re);
        for (size_t i = 0; i < n; i++)
            keel_buf_puts(&re, nargs_pattern(p->positionals.items[i]));
        if (re.base == NULL)
            return KEEL_ENOMEM;
        int err;
        PCRE2_SIZE off;
        pcre2_code *code = pcre2_compile((PCRE2_SPTR)re.base, re.len, PCRE2_ANCHORED, &err, &off, NULL);
        keel_buf_free(&re);
        if (code == NULL)
            return KEEL_ENOMEM;
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
        int r = md ? pcre2_match(code, (PCRE2_SPTR)pattern, strlen(pattern), 0, 0, md, NULL) : -1;
        if (r > 0) {
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            for (size_t i = 0; i < n; i++)
                counts[i] = ov[2 * (i + 1) + 1] - ov[2 * (i + 1)];
            *n_counts = n;
        }
        pcre2_match_data_free(md);
        pcre2_code_free(code);
        if (r > 0)
            return 0;
    }
    return 0;
}

static int consume_positionals(parser_t *p, int start, int *stop)
{
    size_t *counts = keel__calloc(p->positionals.len + 1, sizeof(size_t));
    if (counts == NULL)
        return KEEL_ENOMEM;
    size_t n = 0;
    int rc = match_partial(p, p->pattern + start, counts, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = take_action(p, p->positionals.items[i], p->argv + start, counts[i]);
        start += (int)counts[i];
    }
    if (rc == 0 && n > 0) {
        memmove(p->positionals.items, p->positionals.items + n, (p->positionals.len - n) * sizeof(void *));
        p->positionals.len -= n;
    }
    keel__free(counts);
    *stop = start;
    return rc;
}

static int run(parser_t *p)
{
    int n = p->argc;
    p->pattern = keel__calloc((size_t)n + 2, 1);
    p->tuples = keel__calloc((size_t)n + 1, sizeof(option_tuple_t));
    if (p->pattern == NULL || p->tuples == NULL)
        return KEEL_ENOMEM;
    int max_option = -1;
    for (int i = 0; i < n; i++) {
        if (strcmp(p->argv[i], "--") == 0) {
            p->pattern[i] = '-';
            for (int j = i + 1; j < n; j++)
                p->pattern[j] = 'A';
            break;
        }
        bool is_option;
        int rc = parse_optional(p, p->argv[i], &p->tuples[i], &is_option);
        if (rc != 0)
            return rc;
        p->pattern[i] = is_option ? 'O' : 'A';
        if (is_option)
            max_option = i;
    }
    int start = 0;
    while (start <= max_option) {
        int next_option = start;
        while (p->pattern[next_option] != 'O')
            next_option++;
        if (start != next_option) {
            int end;
            int rc = consume_positionals(p, start, &end);
            if (rc != 0)
                return rc;
            if (end > start) {
                start = end;
                continue;
            }
            start = end;
        }
        if (p->pattern[start] != 'O') {
            for (int i = start; i < next_option; i++)
                if (keel_vec_push(&p->extras, p->argv[i]) != 0)
                    return KEEL_ENOMEM;
            start = next_option;
        }
        int rc = consume_optional(p, start, &start);
        if (rc != 0)
            return rc;
    }
    int stop;
    int rc = consume_positionals(p, start, &stop);
    if (rc != 0)
        return rc;
    for (int i = stop; i < n; i++)
        if (keel_vec_push(&p->extras, p->argv[i]) != 0)
            return KEEL_ENOMEM;

    keel_buf_t missing;
    keel_buf_init(&missing);
    for (size_t i = 0; i < p->actions.len; i++) {
        action_t *a = p->actions.items[i];
        if (a->required && !a->seen)
            keel_buf_printf(&missing, "%s%s", missing.len ? ", " : "", action_name(a));
    }
    if (missing.len > 0) {
        rc = keel__conf_errorf(p->c, KEEL_EUSAGE, "the following arguments are required: %s", missing.base);
        keel_buf_free(&missing);
        return rc;
    }
    keel_buf_free(&missing);
    if (p->extras.len > 0) {
        keel_buf_t b;
        keel_buf_init(&b);
        for (size_t i = 0; i < p->extras.len; i++)
            keel_buf_printf(&b, "%s%s", i ? " " : "", (char *)p->extras.items[i]);
        rc = keel__conf_errorf(p->c, KEEL_EUSAGE, "unrecognized arguments: %s", b.base ? b.base : "");
        keel_buf_free(&b);
        return rc;
    }
    return 0;
}

static void parser_free(parser_t *p)
{
    for (size_t i = 0; i < p->actions.len; i++)
        action_free(p->actions.items[i]);
    keel_vec_free(&p->actions);
    keel_vec_free(&p->positionals);
    keel_vec_free(&p->extras);
    if (p->tuples != NULL)
        for (int i = 0; i < p->argc; i++)
            keel__free(p->tuples[i].owned);
    keel__free(p->tuples);
    keel__free(p->pattern);
}

int keel__conf_argparse(keel_conf_t *c, conf_ns_t *ns, bool quiet)
{
    parser_t p = {.c = c, .ns = ns, .quiet = quiet};
    keel_vec_init(&p.actions);
    keel_vec_init(&p.positionals);
    keel_vec_init(&p.extras);
    p.argc = c->argc > 0 ? c->argc - 1 : 0;
    p.argv = c->argc > 0 ? c->argv + 1 : c->argv;
    int rc = build_actions(&p);
    if (rc == 0)
        rc = run(&p);
    parser_free(&p);
    return rc;
}

/* ---- --help ---- */

static void wrap(FILE *f, const char *text, int indent, int width, int first_col)
{
    int col = first_col;
    const char *p = text;
    bool first = true;
    while (*p) {
        while (*p == ' ' || *p == '\n' || *p == '\t')
            p++;
        if (!*p)
            break;
        size_t w = strcspn(p, " \n\t");
        if (!first && col + 1 + (int)w > width) {
            fprintf(f, "\n%*s", indent, "");
            col = indent;
            first = true;
        }
        if (!first) {
            fputc(' ', f);
            col++;
        }
        fprintf(f, "%.*s", (int)w, p);
        col += (int)w;
        p += w;
        first = false;
    }
    fputc('\n', f);
}

static void invocation(FILE *f, const action_t *a, keel_buf_t *b)
{
    keel_buf_reset(b);
    if (a->n_strings == 0) {
        keel_buf_puts(b, a->metavar);
        return;
    }
    for (size_t i = 0; i < a->n_strings; i++) {
        keel_buf_printf(b, "%s%s", i ? ", " : "", a->strings[i]);
        if (a->nargs == NARGS_ONE)
            keel_buf_printf(b, " %s", a->metavar);
    }
}

static void help_entry(FILE *f, const action_t *a, int width)
{
    keel_buf_t b;
    keel_buf_init(&b);
    invocation(f, a, &b);
    const int help_col = 24;
    fprintf(f, "  %s", b.base);
    int col = 2 + (int)b.len;
    if (a->help == NULL || a->help[0] == '\0') {
        fputc('\n', f);
    } else if (col + 2 <= help_col) {
        fprintf(f, "%*s", help_col - col, "");
        wrap(f, a->help, help_col, width, help_col);
    } else {
        fprintf(f, "\n%*s", help_col, "");
        wrap(f, a->help, help_col, width, help_col);
    }
    keel_buf_free(&b);
}

void keel__conf_help(const keel_conf_t *c, FILE *f)
{
    parser_t p = {.c = (keel_conf_t *)c};
    keel_vec_init(&p.actions);
    keel_vec_init(&p.positionals);
    keel_vec_init(&p.extras);
    if (build_actions(&p) != 0) {
        parser_free(&p);
        return;
    }
    const char *cols = getenv("COLUMNS");
    int width = (cols && atoi(cols) > 20 ? atoi(cols) : 80) - 2;
    if (c->usage != NULL) {
        fprintf(f, "usage: %s\n", c->usage);
    } else {
        fprintf(f, "usage: %s", c->prog ? c->prog : "keel");
        int col = 7 + (int)strlen(c->prog ? c->prog : "keel");
        keel_buf_t b;
        keel_buf_init(&b);
        for (int pass = 0; pass < 2; pass++) {
            for (size_t i = 0; i < p.actions.len; i++) {
                action_t *a = p.actions.items[i];
                if ((pass == 0) != (a->n_strings > 0))
                    continue;
                keel_buf_reset(&b);
                if (a->n_strings == 0)
                    keel_buf_printf(&b, a->nargs == NARGS_ONE ? "%s" : a->nargs == NARGS_ANY ? "[%s ...]" : "[%s]", a->metavar);
                else if (a->nargs == NARGS_ONE)
                    keel_buf_printf(&b, "[%s %s]", a->strings[0], a->metavar);
                else
                    keel_buf_printf(&b, "[%s]", a->strings[0]);
                if (col + 1 + (int)b.len > width) {
                    fprintf(f, "\n%*s", 8 + (int)strlen(c->prog ? c->prog : "keel"), "");
                    col = 8 + (int)strlen(c->prog ? c->prog : "keel");
                }
                fprintf(f, " %s", b.base);
                col += 1 + (int)b.len;
            }
        }
        keel_buf_free(&b);
        fputc('\n', f);
    }
    if (c->description != NULL) {
        fputc('\n', f);
        wrap(f, c->description, 0, width, 0);
    }
    if (p.positionals.len > 0) {
        fprintf(f, "\npositional arguments:\n");
        for (size_t i = 0; i < p.positionals.len; i++)
            if (((action_t *)p.positionals.items[i])->group == NULL || is_default(((action_t *)p.positionals.items[i])->group))
                help_entry(f, p.positionals.items[i], width);
    }
    fprintf(f, "\noptions:\n");
    for (size_t i = 0; i < p.actions.len; i++) {
        action_t *a = p.actions.items[i];
        if (a->n_strings > 0 && (a->group == NULL || is_default(a->group)))
            help_entry(f, a, width);
    }
    for (size_t g = 1; g < c->groups.len; g++) {
        conf_group_t *grp = c->groups.items[g];
        bool any = false;
        for (size_t i = 0; i < p.actions.len; i++)
            any = any || ((action_t *)p.actions.items[i])->group == grp;
        if (!any)
            continue;
        if (grp->title)
            fprintf(f, "\n%s:\n", grp->title);
        else
            fprintf(f, "\n%s options:\n", grp->name);
        if (grp->help) {
            fprintf(f, "  ");
            wrap(f, grp->help, 2, width, 2);
            fputc('\n', f);
        }
        for (size_t i = 0; i < p.actions.len; i++) {
            action_t *a = p.actions.items[i];
            if (a->group == grp)
                help_entry(f, a, width);
        }
    }
    parser_free(&p);
}
