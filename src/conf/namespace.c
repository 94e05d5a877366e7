/*
 * namespace.c — what one parse collects before values are resolved: the
 * config files (oslo's _Namespace._parsed, newest first, sections merged by
 * lower-cased name) and the command-line attributes argparse would set.
 * Lookups follow _Namespace._get_value: files decide where a value came
 * from, a command-line attribute (which config files can also set for CLI
 * options) decides what it is.
 */
#include <dirent.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf_int.h"
#include "ini.h"
#include "pycompat/pystr.h"

conf_ns_t *keel__conf_ns_new(void)
{
    conf_ns_t *ns = keel__calloc(1, sizeof(*ns));
    if (ns == NULL)
        return NULL;
    keel_vec_init(&ns->files);
    keel_vec_init(&ns->attrs);
    keel_vec_init(&ns->not_found);
    keel_vec_init(&ns->denied);
    keel_vec_init(&ns->config_files);
    return ns;
}

static void text_free(conf_text_t *t)
{
    if (t == NULL)
        return;
    keel__free(t->text);
    keel__free(t);
}

static void free_strings(keel_vec_t *v)
{
    for (size_t i = 0; i < v->len; i++)
        keel__free(v->items[i]);
    keel_vec_free(v);
}

static void file_free(conf_file_t *f)
{
    for (size_t i = 0; i < f->sections.len; i++) {
        conf_section_t *s = f->sections.items[i];
        for (size_t j = 0; j < s->keys.len; j++) {
            conf_key_t *k = s->keys.items[j];
            for (size_t v = 0; v < k->values.len; v++)
                text_free(k->values.items[v]);
            keel_vec_free(&k->values);
            keel__free(k->name);
            keel__free(k);
        }
        keel_vec_free(&s->keys);
        keel__free(s->name);
        keel__free(s);
    }
    keel_vec_free(&f->sections);
    keel__free(f->path);
    keel__free(f);
}

static void attr_clear(conf_attr_t *a)
{
    keel__free(a->text.text);
    a->text.text = NULL;
    for (size_t i = 0; i < a->list.len; i++)
        text_free(a->list.items[i]);
    keel_vec_free(&a->list);
    a->kind = ATTR_NONE;
}

void keel__conf_ns_free(conf_ns_t *ns)
{
    if (ns == NULL)
        return;
    for (size_t i = 0; i < ns->files.len; i++)
        file_free(ns->files.items[i]);
    keel_vec_free(&ns->files);
    for (size_t i = 0; i < ns->attrs.len; i++) {
        conf_attr_t *a = ns->attrs.items[i];
        attr_clear(a);
        keel__free(a->key);
        keel__free(a);
    }
    keel_vec_free(&ns->attrs);
    free_strings(&ns->not_found);
    free_strings(&ns->denied);
    free_strings(&ns->config_files);
    keel__free(ns);
}

int keel__conf_attr_key(keel_buf_t *b, const char *group, const char *name)
{
    keel_buf_reset(b);
    if (group != NULL)
        return keel_buf_printf(b, "%s_%s", group, name);
    return keel_buf_puts(b, name);
}

conf_attr_t *keel__conf_ns_attr(conf_ns_t *ns, const char *key, bool create)
{
    for (size_t i = 0; i < ns->attrs.len; i++) {
        conf_attr_t *a = ns->attrs.items[i];
        if (strcmp(a->key, key) == 0)
            return a;
    }
    if (!create)
        return NULL;
    conf_attr_t *a = keel__calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->key = keel__strdup(key);
    keel_vec_init(&a->list);
    if (a->key == NULL || keel_vec_push(&ns->attrs, a) != 0) {
        keel__free(a->key);
        keel__free(a);
        return NULL;
    }
    return a;
}

/* ---- paths ---- */

/* os.path.expanduser followed by os.path.abspath (which normalises the
 * path lexically: "a/../b" is "b" whatever a links to). */
static int fixpath(const char *path, keel_buf_t *out)
{
    keel_buf_t raw;
    keel_buf_init(&raw);
    int rc = 0;
    if (path[0] == '~') {
        const char *rest = path + 1 + strcspn(path + 1, "/");
        const char *home = NULL;
        if (rest == path + 1) {
            home = getenv("HOME");
            if (home == NULL) {
                struct passwd *pw = getpwuid(getuid());
                home = pw ? pw->pw_dir : NULL;
            }
        } else {
            char user[256];
            size_t n = (size_t)(rest - path - 1);
            if (n < sizeof(user)) {
                memcpy(user, path + 1, n);
                user[n] = '\0';
                struct passwd *pw = getpwnam(user);
                home = pw ? pw->pw_dir : NULL;
            }
        }
        if (home != NULL) {
            size_t hl = strlen(home);
            while (hl > 1 && home[hl - 1] == '/')
                hl--;
            rc = keel_buf_append(&raw, home, hl);
            if (rc == 0)
                rc = keel_buf_puts(&raw, rest);
        } else {
            rc = keel_buf_puts(&raw, path);
        }
    } else {
        rc = keel_buf_puts(&raw, path);
    }
    if (rc == 0 && raw.base[0] != '/') {
        char cwd[4096];
        if (getcwd(cwd, sizeof(cwd)) == NULL) {
            keel_buf_free(&raw);
            return keel_from_errno(errno);
        }
        keel_buf_t joined;
        keel_buf_init(&joined);
        rc = keel_buf_printf(&joined, "%s/%s", cwd, raw.base);
        keel_buf_free(&raw);
        raw = joined;
    }
    /* normpath: drop "", ".", and resolve ".." against the previous part. */
    keel_buf_reset(out);
    keel_vec_t parts;
    keel_vec_init(&parts);
    for (char *p = raw.base; rc == 0 && p && *p;) {
        char *slash = strchr(p, '/');
        if (slash)
            *slash = '\0';
        if (strcmp(p, "..") == 0) {
            if (parts.len > 0)
                parts.len--;
        } else if (*p && strcmp(p, ".") != 0) {
            rc = keel_vec_push(&parts, p);
        }
        p = slash ? slash + 1 : NULL;
    }
    for (size_t i = 0; rc == 0 && i < parts.len; i++)
        rc = keel_buf_printf(out, "/%s", (char *)parts.items[i]);
    if (rc == 0 && parts.len == 0)
        rc = keel_buf_puts(out, "/");
    keel_vec_free(&parts);
    keel_buf_free(&raw);
    return rc;
}

/* ---- one file ---- */

typedef struct {
    keel_conf_t *c;
    conf_file_t *file;
    conf_section_t *section;
} file_parse_t;

/* cfg._normalize_group_name: str.lower() unless exactly "DEFAULT".
 * Returns a new string to free, or NULL on OOM. */
char *keel__conf_normalize_group(const char *name, size_t len)
{
    if (len == 7 && memcmp(name, KEEL__CONF_DEFAULT, 7) == 0)
        return keel__strndup(name, len);
    keel_buf_t b;
    keel_buf_init(&b);
    if (keel__py_lower(&b, name, len) != 0) {
        keel_buf_free(&b);
        return NULL;
    }
    return keel_buf_steal(&b);
}

static int on_section(void *data, const char *name, size_t len, unsigned lineno)
{
    file_parse_t *fp = data;
    char *norm = keel__conf_normalize_group(name, len);
    if (norm == NULL)
        return KEEL_ENOMEM;
    for (size_t i = 0; i < fp->file->sections.len; i++) {
        conf_section_t *s = fp->file->sections.items[i];
        if (strcmp(s->name, norm) == 0) {
            keel__free(norm);
            fp->section = s;
            return 0;
        }
    }
    conf_section_t *s = keel__calloc(1, sizeof(*s));
    if (s == NULL || keel_vec_push(&fp->file->sections, s) != 0) {
        keel__free(s);
        keel__free(norm);
        return KEEL_ENOMEM;
    }
    s->name = norm;
    keel_vec_init(&s->keys);
    fp->section = s;
    return 0;
}

static int on_assignment(void *data, const char *key, size_t klen, const char *value, size_t vlen, unsigned lineno)
{
    file_parse_t *fp = data;
    if (fp->section == NULL)
        return keel__conf_errorf(fp->c, KEEL_EPARSE, "%s:%u: Section must be started before assignment", fp->file->path, lineno);
    conf_key_t *k = NULL;
    for (size_t i = 0; i < fp->section->keys.len; i++) {
        conf_key_t *cand = fp->section->keys.items[i];
        if (cand->len == klen && memcmp(cand->name, key, klen) == 0) {
            k = cand;
            break;
        }
    }
    if (k == NULL) {
        k = keel__calloc(1, sizeof(*k));
        if (k == NULL)
            return KEEL_ENOMEM;
        k->name = keel__strndup(key, klen);
        k->len = klen;
        keel_vec_init(&k->values);
        if (k->name == NULL || keel_vec_push(&fp->section->keys, k) != 0) {
            keel__free(k->name);
            keel__free(k);
            return KEEL_ENOMEM;
        }
    }
    conf_text_t *t = keel__calloc(1, sizeof(*t));
    if (t == NULL)
        return KEEL_ENOMEM;
    t->text = keel__strndup(value, vlen);
    t->len = vlen;
    t->line = lineno;
    t->path = fp->file->path;
    if (t->text == NULL || keel_vec_push(&k->values, t) != 0) {
        text_free(t);
        return KEEL_ENOMEM;
    }
    return 0;
}

static const conf_key_t *file_key(const conf_file_t *f, const char *section, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < f->sections.len; i++) {
        const conf_section_t *s = f->sections.items[i];
        if (strcmp(s->name, section) != 0)
            continue;
        for (size_t j = 0; j < s->keys.len; j++) {
            const conf_key_t *k = s->keys.items[j];
            if (k->len == nl && memcmp(k->name, name, nl) == 0)
                return k;
        }
        return NULL;
    }
    return NULL;
}

/* The section a (group, name) pair of an entry is looked up in. */
static void pair_section(const conf_entry_t *e, const conf_name_t *n, char *out, size_t size)
{
    const char *g = n->group ? n->group : e->group->name;
    char *norm = keel__conf_normalize_group(g, strlen(g));
    snprintf(out, size, "%s", norm ? norm : g);
    keel__free(norm);
}

/* The argparse attribute key of a (group, name) pair. */
static int pair_attr_key(const conf_entry_t *e, const conf_name_t *n, keel_buf_t *b)
{
    const char *g = n->group;
    if (g == NULL && strcmp(e->group->name, KEEL__CONF_DEFAULT) != 0)
        g = e->group->name;
    return keel__conf_attr_key(b, g, n->name);
}

static int deprecation_warning(keel_conf_t *c, const conf_entry_t *e, const conf_name_t *n)
{
    if (n == &e->names[0])
        return 0;
    char section[512];
    pair_section(e, n, section, sizeof(section));
    keel__conf_warnf(c, "Option \"%s\" from group \"%s\" is deprecated. Use option \"%s\" from group \"%s\".", n->name, section,
                     e->opt->name, e->group->name);
    return 0;
}

/* Looks an entry up in files [first, last) of the list; multi gathers. */
static int files_lookup(keel_conf_t *c, const keel_vec_t *files, size_t first, size_t last, const conf_entry_t *e, bool multi,
                        keel_vec_t *out)
{
    for (size_t i = first; i < last; i++) {
        const conf_file_t *f = files->items[i];
        for (size_t j = 0; j < e->n_names; j++) {
            char section[512];
            pair_section(e, &e->names[j], section, sizeof(section));
            const conf_key_t *k = file_key(f, section, e->names[j].name);
            if (k == NULL)
                continue;
            if (c != NULL)
                deprecation_warning(c, e, &e->names[j]);
            if (!multi) {
                keel_vec_free(out);
                return keel_vec_push(out, k->values.items[k->values.len - 1]);
            }
            /* rvalue = val + rvalue: this name's values go before what we have */
            for (size_t v = 0; v < k->values.len; v++)
                if (keel_vec_insert(out, v, k->values.items[v]) != 0)
                    return KEEL_ENOMEM;
        }
    }
    return out->len ? 0 : KEEL_ENOENT;
}

static bool is_multi(const conf_entry_t *e)
{
    return e->opt->type == KEEL_CONF_MULTI;
}

static int set_cli_from_file(keel_conf_t *c, conf_ns_t *ns, const conf_file_t *f, const conf_entry_t *e)
{
    keel_vec_t files = {.items = (void **)&f, .len = 1, .cap = 1};
    keel_vec_t found;
    keel_vec_init(&found);
    int rc = files_lookup(NULL, &files, 0, 1, e, is_multi(e), &found);
    if (rc == KEEL_ENOENT)
        return 0;
    keel_buf_t key;
    keel_buf_init(&key);
    rc = pair_attr_key(e, &e->names[0], &key);
    conf_attr_t *a = rc == 0 ? keel__conf_ns_attr(ns, key.base, true) : NULL;
    keel_buf_free(&key);
    if (a == NULL) {
        keel_vec_free(&found);
        return KEEL_ENOMEM;
    }
    if (!is_multi(e))
        attr_clear(a);
    else if (a->kind != ATTR_LIST)
        attr_clear(a);
    for (size_t i = 0; rc == 0 && i < found.len; i++) {
        const conf_text_t *src = found.items[i];
        conf_text_t *t = keel__calloc(1, sizeof(*t));
        if (t == NULL) {
            rc = KEEL_ENOMEM;
            break;
        }
        *t = *src;
        t->text = keel__strndup(src->text, src->len);
        if (t->text == NULL) {
            keel__free(t);
            rc = KEEL_ENOMEM;
            break;
        }
        if (is_multi(e)) {
            a->kind = ATTR_LIST;
            if (keel_vec_push(&a->list, t) != 0) {
                text_free(t);
                rc = KEEL_ENOMEM;
            }
        } else {
            a->kind = ATTR_TEXT;
            a->text = *t;
            keel__free(t);
        }
    }
    keel_vec_free(&found);
    (void)c;
    return rc;
}

int keel__conf_ns_parse_file(keel_conf_t *c, conf_ns_t *ns, const char *path)
{
    keel_buf_t full, text, err;
    keel_buf_init(&full);
    keel_buf_init(&text);
    keel_buf_init(&err);
    conf_file_t *f = NULL;
    int rc = fixpath(path, &full);
    if (rc != 0)
        goto out;
    rc = keel_read_file(full.base, &text);
    if (rc == KEEL_ENOENT || rc == KEEL_EACCES) {
        char *p = keel_buf_steal(&full);
        rc = p ? keel_vec_push(rc == KEEL_ENOENT ? &ns->not_found : &ns->denied, p) : KEEL_ENOMEM;
        if (rc != 0)
            keel__free(p);
        goto out;
    }
    if (rc != 0) {
        rc = keel__conf_errorf(c, rc == KEEL_ENOMEM ? rc : KEEL_EIO, "%s: %s", full.base, keel_strerror(rc));
        goto out;
    }
    if (!keel__utf8_valid(text.base, text.len)) {
        rc = keel__conf_errorf(c, KEEL_EPARSE, "%s: not valid UTF-8", full.base);
        goto out;
    }
    f = keel__calloc(1, sizeof(*f));
    if (f == NULL || (f->path = keel__strdup(full.base)) == NULL) {
        rc = KEEL_ENOMEM;
        goto out;
    }
    keel_vec_init(&f->sections);
    file_parse_t fp = {.c = c, .file = f};
    static const keel__ini_handler_t handler = {on_section, on_assignment};
    keel_buf_reset(&c->error);
    rc = keel__ini_parse(text.base, text.len, &handler, &fp, &err);
    if (rc == KEEL_EPARSE && err.len > 0)
        rc = keel__conf_errorf(c, KEEL_EPARSE, "%s:%s", f->path, err.base);
    if (rc != 0)
        goto out;
    char *copy = keel__strdup(f->path);
    if (copy == NULL || keel_vec_push(&ns->config_files, copy) != 0) {
        keel__free(copy);
        rc = KEEL_ENOMEM;
        goto out;
    }
    rc = keel_vec_insert(&ns->files, 0, f);
    if (rc != 0)
        goto out;
    conf_file_t *added = f;
    f = NULL;
    /* CLI options found in a config file count as if given on the command
     * line at this point (cfg._Namespace._parse_cli_opts_from_config_file). */
    for (size_t i = 0; rc == 0 && i < c->cli_order.len; i++)
        rc = set_cli_from_file(c, ns, added, c->cli_order.items[i]);
out:
    if (f != NULL)
        file_free(f);
    keel_buf_free(&full);
    keel_buf_free(&text);
    keel_buf_free(&err);
    return rc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int keel__conf_ns_parse_dir(keel_conf_t *c, conf_ns_t *ns, const char *dir, bool must_exist)
{
    keel_buf_t full;
    keel_buf_init(&full);
    /* --config-dir expands ~ but is otherwise used as given. */
    int rc = 0;
    if (dir[0] == '~') {
        rc = fixpath(dir, &full);
    } else {
        rc = keel_buf_puts(&full, dir);
    }
    if (rc != 0)
        goto out;
    struct stat st;
    if (stat(full.base, &st) != 0) {
        if (must_exist)
            rc = keel__conf_errorf(c, KEEL_ENOENT, "Failed to read config directory %s: %s", dir,
                                   keel_strerror(keel_from_errno(errno)));
        goto out;
    }
    if (!S_ISDIR(st.st_mode))
        goto out; /* a glob under a file finds nothing */
    DIR *d = opendir(full.base);
    if (d == NULL)
        goto out; /* glob ignores unreadable directories */
    keel_vec_t names;
    keel_vec_init(&names);
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (de->d_name[0] == '.' || n < 5 || strcmp(de->d_name + n - 5, ".conf") != 0)
            continue;
        char *p = NULL;
        keel_buf_t b;
        keel_buf_init(&b);
        const char *sep = (full.len > 0 && full.base[full.len - 1] == '/') ? "" : "/";
        rc = keel_buf_printf(&b, "%s%s%s", full.base, sep, de->d_name);
        if (rc == 0 && (p = keel_buf_steal(&b)) == NULL)
            rc = KEEL_ENOMEM;
        if (rc == 0 && keel_vec_push(&names, p) != 0) {
            keel__free(p);
            rc = KEEL_ENOMEM;
        }
        keel_buf_free(&b);
    }
    closedir(d);
    if (names.len > 1)
        qsort(names.items, names.len, sizeof(void *), cmp_names);
    for (size_t i = 0; rc == 0 && i < names.len; i++)
        rc = keel__conf_ns_parse_file(c, ns, names.items[i]);
    free_strings(&names);
out:
    keel_buf_free(&full);
    return rc;
}

/* ---- lookups ---- */

void keel__conf_found_free(conf_found_t *f)
{
    keel_vec_free(&f->texts);
}

int keel__conf_ns_lookup(const conf_ns_t *ns, const conf_entry_t *e, conf_found_t *out)
{
    keel_vec_init(&out->texts);
    out->is_list = false;
    out->is_text = false;
    out->is_bool = false;
    out->from_cli = false;
    if (ns == NULL)
        return KEEL_ENOENT;
    keel_vec_t file_texts;
    keel_vec_init(&file_texts);
    int rc = files_lookup(NULL, &ns->files, 0, ns->files.len, e, is_multi(e), &file_texts);
    if (rc != 0 && rc != KEEL_ENOENT) {
        keel_vec_free(&file_texts);
        return rc;
    }
    bool in_files = rc == 0;

    keel_buf_t key;
    keel_buf_init(&key);
    for (size_t j = 0; j < e->n_names; j++) {
        if (pair_attr_key(e, &e->names[j], &key) != 0) {
            rc = KEEL_ENOMEM;
            break;
        }
        conf_attr_t *a = keel__conf_ns_attr((conf_ns_t *)ns, key.base, false);
        if (a == NULL || a->kind == ATTR_NONE)
            continue;
        /* argparse gives a positional "" or [] when it was not given */
        if ((e->opt->flags & KEEL_CONF_POSITIONAL) &&
            ((a->kind == ATTR_LIST && a->list.len == 0) || (a->kind == ATTR_TEXT && a->text.len == 0)))
            continue;
        keel_buf_free(&key);
        keel_vec_free(&file_texts);
        out->from_cli = !in_files;
        if (a->kind == ATTR_BOOL) {
            out->is_bool = true;
            out->b = a->b;
            return 0;
        }
        if (a->kind == ATTR_TEXT) {
            out->is_text = true;
            return keel_vec_push(&out->texts, &a->text);
        }
        out->is_list = true;
        for (size_t i = 0; i < a->list.len; i++)
            if (keel_vec_push(&out->texts, a->list.items[i]) != 0)
                return KEEL_ENOMEM;
        return 0;
    }
    keel_buf_free(&key);
    if (!in_files) {
        keel_vec_free(&file_texts);
        return KEEL_ENOENT;
    }
    out->texts = file_texts;
    return 0;
}

/* Deprecation warnings are emitted where oslo emits them: when a value is
 * found under a former name. */
int keel__conf_ns_warn_deprecated(keel_conf_t *c, const conf_ns_t *ns, const conf_entry_t *e)
{
    if (ns == NULL || e->n_names < 2)
        return 0;
    keel_vec_t tmp;
    keel_vec_init(&tmp);
    int rc = files_lookup(c, &ns->files, 0, ns->files.len, e, true, &tmp);
    keel_vec_free(&tmp);
    return rc == KEEL_ENOENT ? 0 : rc;
}
