/*
 * cmd_conf.c — `keel conf`: the configuration module from the command line.
 *
 *   keel conf dump --options SCHEMA.json [--config-file F ...] [--config-dir D] [-- ARGS...]
 *   keel conf sample --options SCHEMA.json [--namespace NAME] [--output-file F]
 *   keel conf validate --options SCHEMA.json --config-file F [...] [--exclude-group G ...] [--fatal-warnings]
 *   keel conf show [--watch] [config options...]
 *
 * SCHEMA.json describes options as data (name, type, group, default, ...),
 * so oslo.config and keel can be given the same schema and compared; show
 * runs keel's own options and, with --watch, reloads them on SIGHUP.
 */
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "commands.h"
#include "keel/conf.h"

/* ---- schema ---- */

typedef struct {
    keel_conf_opt_t *rows;
    char **groups;
    size_t n;
    keel_vec_t owned; /* every allocation the rows point into */
} schema_t;

static void *keep(schema_t *s, void *p)
{
    if (p != NULL && keel_vec_push(&s->owned, p) != 0) {
        free(p);
        return NULL;
    }
    return p;
}

static char *keep_str(schema_t *s, const char *text)
{
    return keep(s, strdup(text));
}

static void schema_free(schema_t *s)
{
    for (size_t i = 0; i < s->owned.len; i++)
        free(s->owned.items[i]);
    keel_vec_free(&s->owned);
    free(s->rows);
    free(s->groups);
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("keel conf: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return -1;
}

static void repr_float(double f, keel_buf_t *b)
{
    keel_conf_value_t v = {.kind = KEEL_CONF_VFLOAT, .u.f = f};
    keel_conf_value_to_pystr(&v, b);
}

/* A JSON scalar as the text oslo.config's type would see: Python's str()
 * of the value, except where the number types treat it differently. */
static int scalar_text(const json_t *j, keel_conf_type_t type, keel_buf_t *b)
{
    bool numeric = type == KEEL_CONF_INT || type == KEEL_CONF_PORT || type == KEEL_CONF_FLOAT;
    if (json_is_string(j))
        return keel_buf_append(b, json_string_value(j), json_string_length(j));
    if (json_is_boolean(j)) {
        if (type == KEEL_CONF_BOOL || !numeric)
            return keel_buf_puts(b, json_is_true(j) ? "True" : "False");
        return keel_buf_puts(b, json_is_true(j) ? "1" : "0");
    }
    if (json_is_integer(j))
        return keel_buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
    if (json_is_real(j)) {
        double f = json_real_value(j);
        /* int(1.5) truncates: IntOpt(default=1.5) is 1 in oslo.config */
        if ((type == KEEL_CONF_INT || type == KEEL_CONF_PORT) && isfinite(f))
            return keel_buf_printf(b, "%lld", (long long)trunc(f));
        repr_float(f, b);
        return 0;
    }
    return -1;
}

static const char *const *string_list(schema_t *s, const json_t *arr, keel_conf_type_t type)
{
    size_t n = json_array_size(arr);
    const char **v = keep(s, calloc(n + 1, sizeof(char *)));
    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        keel_buf_t b;
        keel_buf_init(&b);
        if (scalar_text(json_array_get(arr, i), type, &b) != 0) {
            keel_buf_free(&b);
            return NULL;
        }
        v[i] = keep_str(s, b.base ? b.base : "");
        keel_buf_free(&b);
    }
    return v;
}

static int set_default(schema_t *s, keel_conf_opt_t *o, const json_t *d)
{
    if (d == NULL || json_is_null(d))
        return 0;
    keel_conf_type_t item = o->item_type;
    keel_buf_t b;
    keel_buf_init(&b);
    int rc = 0;
    if (o->type == KEEL_CONF_MULTI) {
        if (json_is_array(d)) {
            /* oslo checks a multi default by calling the item type on the
             * whole list, which only a string item type survives */
            if (item != KEEL_CONF_STRING)
                return fail("option %s: Error processing default value for Opt type of multi", o->name);
            o->default_multi = string_list(s, d, item);
            return o->default_multi ? 0 : fail("option %s: bad default", o->name);
        }
        if (!json_is_string(d))
            return fail("option %s: a multi default must be a list", o->name);
        /* a string default is iterated character by character */
        const char *t = json_string_value(d);
        size_t n = strlen(t), k = 0;
        const char **v = keep(s, calloc(n + 1, sizeof(char *)));
        for (size_t i = 0; v && i < n;) {
            size_t len = 1;
            while (i + len < n && ((unsigned char)t[i + len] & 0xC0) == 0x80)
                len++;
            v[k++] = keep(s, strndup(t + i, len));
            i += len;
        }
        o->default_multi = v;
        return v ? 0 : -1;
    }
    if (o->type == KEEL_CONF_BOOL && json_is_number(d))
        return fail("option %s: Error processing default value %s for Opt type of Boolean", o->name, "(a number)");
    if (json_is_array(d)) {
        for (size_t i = 0; rc == 0 && i < json_array_size(d); i++) {
            if (i)
                keel_buf_putc(&b, ',');
            rc = scalar_text(json_array_get(d, i), item, &b);
        }
    } else if (json_is_object(d)) {
        const char *k;
        json_t *v;
        bool first = true;
        json_object_foreach((json_t *)d, k, v)
        {
            keel_buf_printf(&b, "%s%s:", first ? "" : ",", k);
            first = false;
            if (scalar_text(v, item, &b) != 0)
                rc = -1;
        }
    } else {
        rc = scalar_text(d, o->type, &b);
    }
    if (rc == 0)
        o->default_value = keep_str(s, b.base ? b.base : "");
    keel_buf_free(&b);
    return rc == 0 && o->default_value ? 0 : fail("option %s: unsupported default", o->name);
}

static const char *opt_string(schema_t *s, const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? keep_str(s, json_string_value(v)) : NULL;
}

static bool opt_bool(const json_t *obj, const char *key, bool dflt)
{
    const json_t *v = json_object_get(obj, key);
    return v ? json_is_true(v) : dflt;
}

static int load_option(schema_t *s, const json_t *j, keel_conf_opt_t *o, char **group)
{
    const char *type = json_string_value(json_object_get(j, "type"));
    const char *name = json_string_value(json_object_get(j, "name"));
    if (!json_is_object(j) || name == NULL || type == NULL)
        return fail("each option needs a \"name\" and a \"type\"");
    o->name = keep_str(s, name);
    if (keel_conf_type_from_name(type, &o->type) != 0)
        return fail("option %s: unknown type \"%s\"", name, type);
    const char *item = json_string_value(json_object_get(j, "item_type"));
    if (item != NULL && keel_conf_type_from_name(item, &o->item_type) != 0)
        return fail("option %s: unknown item_type \"%s\"", name, item);
    const char *g = json_string_value(json_object_get(j, "group"));
    *group = keep_str(s, g ? g : "DEFAULT");
    o->help = opt_string(s, j, "help");
    o->deprecated_name = opt_string(s, j, "deprecated_name");
    o->deprecated_group = opt_string(s, j, "deprecated_group");
    o->deprecated_reason = opt_string(s, j, "deprecated_reason");
    o->regex = opt_string(s, j, "regex");
    o->metavar = opt_string(s, j, "metavar");
    o->sample_default = opt_string(s, j, "sample_default");
    const char *shortname = json_string_value(json_object_get(j, "short"));
    if (shortname != NULL)
        o->short_name = shortname[0];
    bool positional = opt_bool(j, "positional", false);
    if (positional)
        o->flags |= KEEL_CONF_POSITIONAL;
    /* oslo: positional options are required unless told otherwise */
    if (opt_bool(j, "required", positional))
        o->flags |= KEEL_CONF_REQUIRED;
    if (opt_bool(j, "secret", false))
        o->flags |= KEEL_CONF_SECRET;
    if (opt_bool(j, "mutable", false))
        o->flags |= KEEL_CONF_MUTABLE;
    if (opt_bool(j, "ignore_case", false))
        o->flags |= KEEL_CONF_IGNORE_CASE;
    if (opt_bool(j, "deprecated_for_removal", false))
        o->flags |= KEEL_CONF_DEPRECATED_FOR_REMOVAL;
    if (opt_bool(j, "advanced", false))
        o->flags |= KEEL_CONF_ADVANCED;
    const json_t *min = json_object_get(j, "min"), *max = json_object_get(j, "max");
    if (json_is_number(min)) {
        o->min = json_number_value(min);
        o->flags |= KEEL_CONF_HAS_MIN;
    }
    if (json_is_number(max)) {
        o->max = json_number_value(max);
        o->flags |= KEEL_CONF_HAS_MAX;
    }
    const json_t *ml = json_object_get(j, "max_length");
    if (json_is_integer(ml))
        o->max_length = (size_t)json_integer_value(ml);
    const json_t *choices = json_object_get(j, "choices");
    if (json_is_array(choices) && (o->choices = string_list(s, choices, o->type)) == NULL)
        return fail("option %s: bad choices", name);
    const json_t *schemes = json_object_get(j, "schemes");
    if (json_is_array(schemes) && (o->schemes = string_list(s, schemes, KEEL_CONF_STRING)) == NULL)
        return fail("option %s: bad schemes", name);
    if (json_is_integer(json_object_get(j, "ip_version")))
        o->ip_version = (int)json_integer_value(json_object_get(j, "ip_version"));
    return set_default(s, o, json_object_get(j, "default"));
}

static int load_schema(const char *path, schema_t *s)
{
    memset(s, 0, sizeof(*s));
    keel_vec_init(&s->owned);
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (root == NULL)
        return fail("%s:%d: %s", path, err.line, err.text);
    if (!json_is_array(root)) {
        json_decref(root);
        return fail("%s: the schema must be a JSON array of options", path);
    }
    s->n = json_array_size(root);
    s->rows = calloc(s->n + 1, sizeof(*s->rows));
    s->groups = calloc(s->n + 1, sizeof(*s->groups));
    int rc = (s->rows && s->groups) ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < s->n; i++)
        rc = load_option(s, json_array_get(root, i), &s->rows[i], &s->groups[i]);
    json_decref(root);
    return rc;
}

static bool is_cli(const char *path_unused, const json_t *j)
{
    return json_is_true(json_object_get(j, "cli"));
}

/* Registers the schema's options, CLI ones as such (needs the JSON again
 * for "cli"; load_schema keeps only the rows). */
static int register_schema(keel_conf_t *c, const char *path, schema_t *s)
{
    json_t *root = json_load_file(path, 0, NULL);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < s->n; i++) {
        bool cli = root && is_cli(path, json_array_get(root, i));
        rc = cli ? keel_conf_register_cli_opts(c, s->groups[i], &s->rows[i], 1)
                 : keel_conf_register_opts(c, s->groups[i], &s->rows[i], 1);
    }
    json_decref(root);
    if (rc != 0)
        fail("%s", keel_conf_error(c)[0] ? keel_conf_error(c) : keel_strerror(rc));
    return rc;
}

/* ---- dump ---- */

static int dump_values(keel_conf_t *c, const schema_t *s)
{
    keel_buf_t out;
    keel_buf_init(&out);
    keel_buf_putc(&out, '{');
    /* groups in the order they first appear in the schema */
    const char **seen = calloc(s->n + 2, sizeof(char *));
    size_t n_seen = 0;
    for (size_t i = 0; i < s->n; i++) {
        bool known = false;
        for (size_t k = 0; k < n_seen; k++)
            known = known || strcmp(seen[k], s->groups[i]) == 0;
        if (!known)
            seen[n_seen++] = s->groups[i];
    }
    for (size_t k = 0; k < n_seen; k++) {
        json_t *name = json_string(seen[k]);
        char *key = json_dumps(name, JSON_ENCODE_ANY);
        keel_buf_printf(&out, "%s%s: {", k ? ", " : "", key);
        free(key);
        json_decref(name);
        bool first = true;
        for (size_t i = 0; i < s->n; i++) {
            if (strcmp(s->groups[i], seen[k]) != 0)
                continue;
            const keel_conf_value_t *v;
            if (keel_conf_get(c, s->groups[i], s->rows[i].name, &v) != 0)
                continue;
            json_t *oname = json_string(s->rows[i].name);
            char *okey = json_dumps(oname, JSON_ENCODE_ANY);
            keel_buf_printf(&out, "%s%s: ", first ? "" : ", ", okey);
            free(okey);
            json_decref(oname);
            keel_conf_value_to_json(v, &out);
            first = false;
        }
        keel_buf_putc(&out, '}');
    }
    keel_buf_puts(&out, "}\n");
    fwrite(out.base, 1, out.len, stdout);
    free(seen);
    keel_buf_free(&out);
    return 0;
}

/* Splits keel's own arguments from those handed to the option parser. */
static int split_args(int argc, char **argv, const char **options, const char *const *flags, bool *flag_values, char ***rest,
                      int *nrest)
{
    char **out = calloc((size_t)argc + 1, sizeof(char *));
    int n = 0;
    out[n++] = "keel";
    bool passthrough = false;
    for (int i = 1; i < argc; i++) {
        if (!passthrough && strcmp(argv[i], "--") == 0) {
            passthrough = true;
            continue;
        }
        if (!passthrough && strcmp(argv[i], "--options") == 0 && i + 1 < argc) {
            *options = argv[++i];
            continue;
        }
        if (!passthrough && strncmp(argv[i], "--options=", 10) == 0) {
            *options = argv[i] + 10;
            continue;
        }
        bool taken = false;
        for (int f = 0; !passthrough && flags && flags[f]; f++) {
            if (strcmp(argv[i], flags[f]) == 0) {
                flag_values[f] = true;
                taken = true;
            }
        }
        if (!taken)
            out[n++] = argv[i];
    }
    *rest = out;
    *nrest = n;
    return 0;
}

static const char *const no_files[] = {NULL};

static int cmd_dump(int argc, char **argv)
{
    const char *options = NULL;
    char **rest;
    int nrest;
    split_args(argc, argv, &options, NULL, NULL, &rest, &nrest);
    if (options == NULL) {
        free(rest);
        return fail("dump: --options SCHEMA.json is required") ? 2 : 2;
    }
    schema_t s;
    keel_conf_t *c = NULL;
    int status = 1;
    if (load_schema(options, &s) != 0 || keel_conf_new(&c) != 0 || register_schema(c, options, &s) != 0)
        goto out;
    keel_conf_setup_t setup = {.prog = "keel", .default_config_files = no_files, .default_config_dirs = no_files};
    int rc = keel_conf_parse(c, nrest, rest, &setup);
    if (rc == KEEL_EEXIT) {
        status = 0;
        goto out;
    }
    if (rc != 0) {
        fail("%s", keel_conf_error(c)[0] ? keel_conf_error(c) : keel_strerror(rc));
        status = rc == KEEL_EUSAGE ? 2 : 1;
        goto out;
    }
    status = dump_values(c, &s);
out:
    keel_conf_free(c);
    schema_free(&s);
    free(rest);
    return status;
}

/* ---- sample ---- */

static int cmd_sample(int argc, char **argv)
{
    const char *options = NULL, *ns = "keel", *output = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--options") == 0 && i + 1 < argc)
            options = argv[++i];
        else if (strcmp(argv[i], "--namespace") == 0 && i + 1 < argc)
            ns = argv[++i];
        else if (strcmp(argv[i], "--output-file") == 0 && i + 1 < argc)
            output = argv[++i];
        else
            return fail("sample: unexpected argument %s", argv[i]) ? 2 : 2;
    }
    if (options == NULL)
        return fail("sample: --options SCHEMA.json is required") ? 2 : 2;
    schema_t s;
    keel_conf_t *c = NULL;
    int status = 1;
    if (load_schema(options, &s) != 0 || keel_conf_new(&c) != 0 || register_schema(c, options, &s) != 0)
        goto out;
    FILE *f = output ? fopen(output, "w") : stdout;
    if (f == NULL) {
        fail("%s: %s", output, strerror(errno));
        goto out;
    }
    int rc = keel_conf_write_sample(c, ns, f);
    if (output)
        fclose(f);
    status = rc == 0 ? 0 : 1;
out:
    keel_conf_free(c);
    schema_free(&s);
    return status;
}

/* ---- validate ---- */

typedef struct {
    int errors, warnings;
} findings_t;

static void on_finding(void *data, keel_conf_severity_t sev, const char *message)
{
    findings_t *f = data;
    if (sev == KEEL_CONF_FINDING_ERROR)
        f->errors++;
    else
        f->warnings++;
    fprintf(stderr, "%s %s\n", sev == KEEL_CONF_FINDING_ERROR ? "ERROR" : "WARNING", message);
}

static int cmd_validate(int argc, char **argv)
{
    const char *options = NULL;
    bool fatal_warnings = false;
    const char **files = calloc((size_t)argc + 1, sizeof(char *));
    const char **exclude = calloc((size_t)argc + 1, sizeof(char *));
    size_t nfiles = 0, nexclude = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--options") == 0 && i + 1 < argc)
            options = argv[++i];
        else if (strcmp(argv[i], "--config-file") == 0 && i + 1 < argc)
            files[nfiles++] = argv[++i];
        else if (strcmp(argv[i], "--exclude-group") == 0 && i + 1 < argc)
            exclude[nexclude++] = argv[++i];
        else if (strcmp(argv[i], "--fatal-warnings") == 0)
            fatal_warnings = true;
        else {
            free(files);
            free(exclude);
            return fail("validate: unexpected argument %s", argv[i]) ? 2 : 2;
        }
    }
    if (options == NULL || nfiles == 0) {
        free(files);
        free(exclude);
        return fail("validate: --options SCHEMA.json and at least one --config-file are required") ? 2 : 2;
    }
    schema_t s;
    keel_conf_t *c = NULL;
    int status = 1;
    findings_t found = {0};
    if (load_schema(options, &s) != 0 || keel_conf_new(&c) != 0 || register_schema(c, options, &s) != 0)
        goto out;
    int rc = keel_conf_validate(c, files, exclude, on_finding, &found);
    if (rc != 0 && rc != KEEL_EVALUE) {
        fail("%s", keel_conf_error(c)[0] ? keel_conf_error(c) : keel_strerror(rc));
        goto out;
    }
    status = (found.errors > 0 || (fatal_warnings && found.warnings > 0)) ? 1 : 0;
out:
    keel_conf_free(c);
    schema_free(&s);
    free(files);
    free(exclude);
    return status;
}

/* ---- show: keel's own options, reloaded on SIGHUP ---- */

static const keel_conf_opt_t show_opts[] = {
    {.name = "bind_host", .type = KEEL_CONF_HOST, .default_value = "127.0.0.1", .help = "Address keel's services listen on."},
    {.name = "port", .type = KEEL_CONF_PORT, .default_value = "5672", .help = "Port the AMQP broker listens on."},
    {.name = "state_path", .type = KEEL_CONF_STRING, .default_value = "/var/lib/keel", .help = "Top-level directory for state."},
    {.name = "data_dir", .type = KEEL_CONF_STRING, .default_value = "$state_path/data", .help = "Where durable data is kept."},
    {.name = "debug",
     .type = KEEL_CONF_BOOL,
     .default_value = "false",
     .flags = KEEL_CONF_MUTABLE,
     .help = "If set to true, the logging level will be set to DEBUG instead of the default INFO level."},
    {.name = "default_log_levels",
     .type = KEEL_CONF_LIST,
     .flags = KEEL_CONF_MUTABLE,
     .default_value = "amqp=WARN,keel.conf=INFO",
     .help = "List of package logging levels in logger=LEVEL pairs."},
    {.name = "transport_url",
     .type = KEEL_CONF_STRING,
     .default_value = "rabbit://guest:guest@127.0.0.1:5672/",
     .flags = KEEL_CONF_SECRET,
     .help = "The network address and optional user credentials for connecting to the messaging backend."},
};

static const keel_conf_opt_t show_rabbit_opts[] = {
    {.name = "heartbeat_timeout_threshold",
     .type = KEEL_CONF_INT,
     .default_value = "60",
     .flags = KEEL_CONF_HAS_MIN,
     .min = 0,
     .help = "Number of seconds after which the Rabbit broker is considered down if heartbeat's keep-alive fails."},
    {.name = "rabbit_qos_prefetch_count",
     .type = KEEL_CONF_INT,
     .default_value = "0",
     .flags = KEEL_CONF_MUTABLE,
     .help = "Specifies the number of messages to prefetch."},
};

/* ConfigOpts.log_opt_values' layout: DEFAULT options by name, others
 * as group.name, secrets masked. */
static void print_value(void *data, const char *group, const keel_conf_opt_t *opt, const keel_conf_value_t *value)
{
    keel_buf_t b;
    keel_buf_init(&b);
    if (opt->flags & KEEL_CONF_SECRET)
        keel_buf_puts(&b, "****");
    else
        keel_conf_value_to_pystr(value, &b);
    if (strcmp(group, "DEFAULT") == 0)
        printf("%-30s = %s\n", opt->name, b.base ? b.base : "");
    else
        printf("%s.%-*s = %s\n", group, (int)(29 - strlen(group) > 0 ? 29 - strlen(group) : 0), opt->name, b.base ? b.base : "");
    keel_buf_free(&b);
    (void)data;
}

static void print_all(keel_conf_t *c)
{
    static const char stars[] = "********************************************************************************";
    printf("%s\nConfiguration options gathered from:\n", stars);
    printf("================================================================================\n");
    keel_conf_foreach(c, print_value, NULL);
    printf("%s\n", stars);
    fflush(stdout);
}

static void on_change(keel_conf_t *c, const char *group, const char *name, const keel_conf_value_t *old_value,
                      const keel_conf_value_t *new_value, void *data)
{
    keel_buf_t a, b;
    keel_buf_init(&a);
    keel_buf_init(&b);
    keel_conf_value_to_pystr(old_value, &a);
    keel_conf_value_to_pystr(new_value, &b);
    printf("changed: [%s] %s: %s -> %s\n", group, name, a.base ? a.base : "", b.base ? b.base : "");
    keel_buf_free(&a);
    keel_buf_free(&b);
    fflush(stdout);
}

static void on_signal(uv_signal_t *h, int signum)
{
    keel_conf_t *c = h->data;
    if (signum == SIGHUP) {
        printf("SIGHUP: reloading configuration files\n");
        int rc = keel_conf_reload(c);
        if (rc != 0)
            fprintf(stderr, "keel conf: reload failed, keeping the running configuration: %s\n", keel_conf_error(c));
        fflush(stdout);
        return;
    }
    uv_stop(h->loop);
}

static void close_cb(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static int cmd_show(int argc, char **argv)
{
    bool watch = false;
    char **rest = calloc((size_t)argc + 1, sizeof(char *));
    int n = 0;
    rest[n++] = "keel";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--watch") == 0)
            watch = true;
        else
            rest[n++] = argv[i];
    }
    keel_conf_t *c = NULL;
    int status = 1;
    if (keel_conf_new(&c) != 0)
        goto out;
    keel_conf_register_group(c, "oslo_messaging_rabbit", NULL, "RabbitMQ driver options.");
    if (keel_conf_register_cli_opts(c, NULL, show_opts, sizeof(show_opts) / sizeof(show_opts[0])) != 0 ||
        keel_conf_register_opts(c, "oslo_messaging_rabbit", show_rabbit_opts, 2) != 0 ||
        keel_conf_on_mutate(c, on_change, NULL) != 0) {
        fail("%s", keel_conf_error(c));
        goto out;
    }
    keel_conf_setup_t setup = {.project = "keel",
                               .prog = "keel",
                               .version = KEEL_VERSION,
                               .description = "Shows keel's configuration as resolved from files, environment and command line."};
    int rc = keel_conf_parse(c, n, rest, &setup);
    if (rc == KEEL_EEXIT) {
        status = 0;
        goto out;
    }
    if (rc != 0) {
        fail("%s", keel_conf_error(c));
        status = rc == KEEL_EUSAGE ? 2 : 1;
        goto out;
    }
    print_all(c);
    status = 0;
    if (!watch)
        goto out;
    printf("watching: send SIGHUP (kill -HUP %d) to reload, SIGINT or SIGTERM to stop\n", (int)getpid());
    fflush(stdout);
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_signal_t hup, intr, term;
    uv_signal_t *sigs[] = {&hup, &intr, &term};
    int nums[] = {SIGHUP, SIGINT, SIGTERM};
    for (int i = 0; i < 3; i++) {
        uv_signal_init(&loop, sigs[i]);
        sigs[i]->data = c;
        uv_signal_start(sigs[i], on_signal, nums[i]);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_walk(&loop, close_cb, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    status = uv_loop_close(&loop) == 0 ? 0 : 1;
out:
    keel_conf_free(c);
    free(rest);
    return status;
}

int keel_cmd_conf(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(int, char **);
    } subs[] = {{"dump", cmd_dump}, {"sample", cmd_sample}, {"validate", cmd_validate}, {"show", cmd_show}};
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        FILE *f = argc < 2 ? stderr : stdout;
        fprintf(f,
                "usage: keel conf dump --options SCHEMA.json [--config-file F ...] [--config-dir D] [-- ARGS...]\n"
                "       keel conf sample --options SCHEMA.json [--namespace NAME] [--output-file F]\n"
                "       keel conf validate --options SCHEMA.json --config-file F [...] [--exclude-group G ...] [--fatal-warnings]\n"
                "       keel conf show [--watch] [--config-file F ...] [--OPTION VALUE ...]\n");
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
        if (strcmp(argv[1], subs[i].name) == 0)
            return subs[i].run(argc - 1, argv + 1);
    fprintf(stderr, "keel conf: unknown subcommand '%s'\n", argv[1]);
    return 2;
}
