/*
 * validate.c — oslo-config-validator for keel programs: reads config files
 * with the same INI parser and reports, per section and key in the order
 * they first appear, keys that are deprecated names (warnings) and keys no
 * registered option knows (errors). keel also type-checks literal values,
 * which oslo's validator leaves to the service's start.
 */
#include <string.h>

#include "conf_int.h"
#include "ini.h"
#include "pycompat/pystr.h"
#include "types.h"

typedef struct {
    char *section; /* as written */
    char *key;
    char *value;
    size_t vlen;
    unsigned line;
} assignment_t;

typedef struct {
    keel_conf_t *c;
    const char *path;
    char *section;
    keel_vec_t items; /* assignment_t* */
} collect_t;

static int on_section(void *data, const char *name, size_t len, unsigned lineno)
{
    collect_t *col = data;
    keel__free(col->section);
    col->section = keel__strndup(name, len);
    return col->section ? 0 : KEEL_ENOMEM;
}

static int on_assignment(void *data, const char *key, size_t klen, const char *value, size_t vlen, unsigned lineno)
{
    collect_t *col = data;
    if (col->section == NULL)
        return keel__conf_errorf(col->c, KEEL_EPARSE, "%s:%u: Section must be started before assignment", col->path, lineno);
    assignment_t *a = keel__calloc(1, sizeof(*a));
    if (a == NULL)
        return KEEL_ENOMEM;
    a->section = keel__strdup(col->section);
    a->key = keel__strndup(key, klen);
    a->value = keel__strndup(value, vlen);
    a->vlen = vlen;
    a->line = lineno;
    if (a->section == NULL || a->key == NULL || a->value == NULL || keel_vec_push(&col->items, a) != 0) {
        keel__free(a->section);
        keel__free(a->key);
        keel__free(a->value);
        keel__free(a);
        return KEEL_ENOMEM;
    }
    return 0;
}

static bool excluded(const char *const *groups, const char *section)
{
    for (; groups && *groups; groups++)
        if (strcmp(*groups, section) == 0)
            return true;
    return false;
}

/* The generator writes group names in lower case except DEFAULT; the
 * validator compares the file's section names with those exactly. */
static bool group_matches(const conf_group_t *g, const char *section)
{
    if (strcmp(g->name, KEEL__CONF_DEFAULT) == 0 || strcmp(section, KEEL__CONF_DEFAULT) == 0)
        return strcmp(g->name, section) == 0;
    size_t n = strlen(g->name);
    if (strlen(section) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char a = g->name[i];
        if (a >= 'A' && a <= 'Z')
            a = (char)(a - 'A' + 'a');
        if (a != section[i])
            return false;
    }
    return true;
}

static conf_entry_t *known_option(const keel_conf_t *c, const char *section, const char *key)
{
    for (size_t g = 0; g < c->groups.len; g++) {
        conf_group_t *grp = c->groups.items[g];
        if (!group_matches(grp, section))
            continue;
        for (size_t i = 0; i < grp->entries.len; i++) {
            conf_entry_t *e = grp->entries.items[i];
            if (strcmp(e->opt->name, key) == 0 || strcmp(e->dest, key) == 0)
                return e;
        }
    }
    return NULL;
}

static bool deprecated_option(const keel_conf_t *c, const char *section, const char *key)
{
    for (size_t i = 0; i < c->entries.len; i++) {
        const conf_entry_t *e = c->entries.items[i];
        for (size_t j = 1; j < e->n_names; j++) {
            const conf_name_t *n = &e->names[j];
            const char *g = n->group ? n->group : e->group->name;
            /* the generator leaves out former names with a '-' */
            if (n->explicit_name && strchr(n->name, '-') != NULL)
                continue;
            const char *name = n->explicit_name ? n->name : e->opt->name;
            if (strcmp(g, section) == 0 && strcmp(name, key) == 0)
                return true;
        }
    }
    return false;
}

static bool reported_before(const keel_vec_t *items, size_t upto, const assignment_t *a)
{
    for (size_t i = 0; i < upto; i++) {
        const assignment_t *b = items->items[i];
        if (strcmp(a->section, b->section) == 0 && strcmp(a->key, b->key) == 0)
            return true;
    }
    return false;
}

static int check_value(keel_conf_t *c, const char *path, const assignment_t *a, const conf_entry_t *e, keel_conf_finding_cb cb,
                       void *data)
{
    if (memchr(a->value, '$', a->vlen) != NULL) /* interpolated: known only at run time */
        return 0;
    keel_conf_type_t t = e->opt->type == KEEL_CONF_MULTI ? e->opt->item_type : e->opt->type;
    keel_conf_value_t v = {0};
    keel_buf_t why, msg;
    keel_buf_init(&why);
    keel_buf_init(&msg);
    int rc = keel__conf_convert(e->opt, t, a->value, a->vlen, &v, &why);
    keel__conf_value_clear(&v);
    if (rc == KEEL_EVALUE) {
        keel_buf_printf(&msg, "%s:%u: %s/%s = ", path, a->line, a->section, a->key);
        keel__py_repr_str(&msg, a->value, a->vlen, KEEL__PY_REPR_HEX_BYTES);
        keel_buf_printf(&msg, " is not a valid %s: %s", keel_conf_type_name(t), why.base ? why.base : "");
        if (msg.base)
            cb(data, KEEL_CONF_FINDING_ERROR, msg.base);
    }
    keel_buf_free(&why);
    keel_buf_free(&msg);
    return rc == KEEL_ENOMEM ? rc : (rc == KEEL_EVALUE ? 1 : 0);
}

static int validate_file(keel_conf_t *c, const char *path, const char *const *exclude, keel_conf_finding_cb cb, void *data,
                         bool *errors)
{
    keel_buf_t text, err;
    keel_buf_init(&text);
    keel_buf_init(&err);
    collect_t col = {.c = c, .path = path};
    keel_vec_init(&col.items);
    int rc = keel_read_file(path, &text);
    if (rc != 0) {
        rc = keel__conf_errorf(c, rc, "%s: %s", path, keel_strerror(rc));
        goto out;
    }
    if (!keel__utf8_valid(text.base, text.len)) {
        rc = keel__conf_errorf(c, KEEL_EPARSE, "%s: not valid UTF-8", path);
        goto out;
    }
    static const keel__ini_handler_t handler = {on_section, on_assignment};
    rc = keel__ini_parse(text.base, text.len, &handler, &col, &err);
    if (rc == KEEL_EPARSE && err.len > 0)
        rc = keel__conf_errorf(c, KEEL_EPARSE, "%s:%s", path, err.base);
    if (rc != 0)
        goto out;
    /* sections in first-appearance order, keys likewise, each once */
    keel_vec_t order;
    keel_vec_init(&order);
    for (size_t i = 0; rc == 0 && i < col.items.len; i++) {
        assignment_t *a = col.items.items[i];
        bool section_seen = false;
        for (size_t k = 0; k < order.len; k++)
            section_seen = section_seen || strcmp(order.items[k], a->section) == 0;
        if (!section_seen)
            rc = keel_vec_push(&order, a->section);
    }
    keel_buf_t msg;
    keel_buf_init(&msg);
    for (size_t s = 0; rc == 0 && s < order.len; s++) {
        const char *section = order.items[s];
        if (excluded(exclude, section))
            continue;
        for (size_t i = 0; rc == 0 && i < col.items.len; i++) {
            assignment_t *a = col.items.items[i];
            if (strcmp(a->section, section) != 0 || reported_before(&col.items, i, a))
                continue;
            keel_buf_reset(&msg);
            if (deprecated_option(c, section, a->key)) {
                keel_buf_printf(&msg, "Deprecated opt %s/%s found", section, a->key);
                cb(data, KEEL_CONF_FINDING_WARNING, msg.base);
                continue;
            }
            conf_entry_t *e = known_option(c, section, a->key);
            /* oslo's validator skips this group: its sample data is known
             * to be incomplete (KNOWN_BAD_GROUPS) */
            if (e == NULL && strcmp(section, "keystone_authtoken") == 0)
                continue;
            if (e == NULL) {
                keel_buf_printf(&msg, "%s/%s is not part of the sample config", section, a->key);
                cb(data, KEEL_CONF_FINDING_ERROR, msg.base);
                *errors = true;
                continue;
            }
            /* every value of a repeated key is checked */
            for (size_t k = i; rc == 0 && k < col.items.len; k++) {
                assignment_t *b = col.items.items[k];
                if (strcmp(b->section, section) == 0 && strcmp(b->key, a->key) == 0) {
                    int r = check_value(c, path, b, e, cb, data);
                    if (r == 1)
                        *errors = true;
                    else
                        rc = r;
                }
            }
        }
    }
    keel_buf_free(&msg);
    keel_vec_free(&order);
out:
    for (size_t i = 0; i < col.items.len; i++) {
        assignment_t *a = col.items.items[i];
        keel__free(a->section);
        keel__free(a->key);
        keel__free(a->value);
        keel__free(a);
    }
    keel_vec_free(&col.items);
    keel__free(col.section);
    keel_buf_free(&text);
    keel_buf_free(&err);
    return rc;
}

int keel_conf_validate(keel_conf_t *c, const char *const *files, const char *const *exclude_groups, keel_conf_finding_cb cb,
                       void *data)
{
    keel_buf_reset(&c->error);
    bool errors = false;
    for (; files && *files; files++) {
        int rc = validate_file(c, *files, exclude_groups, cb, data, &errors);
        if (rc != 0)
            return rc;
    }
    return errors ? KEEL_EVALUE : 0;
}
