/*
 * opts.c — the keel_conf glue: oslo.log's options as declared in
 * oslo_log/_options.py (names, types, defaults, help texts, the same split
 * into command-line and file-only options), setup() from their values, and
 * oslo.config's log_opt_values().
 *
 * All of oslo.log's options are registered, including those keel does not
 * implement, so an oslo service's config file reads the same and the
 * sample file and --help list the same options; setup warns about the
 * unimplemented ones when they are set.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keel/conf.h"
#include "log_int.h"

#define IGNORE_MESSAGE "This option is ignored if log_config_append is set."

static const keel_conf_opt_t common_cli_opts[] = {
    {.name = "debug",
     .type = KEEL_CONF_BOOL,
     .default_value = "false",
     .short_name = 'd',
     .flags = KEEL_CONF_MUTABLE,
     .help = "If set to true, the logging level will be set to DEBUG instead of the default INFO level."},
};

static const keel_conf_opt_t logging_cli_opts[] = {
    {.name = "log-config-append",
     .type = KEEL_CONF_STRING,
     .metavar = "PATH",
     .deprecated_name = "log-config",
     .flags = KEEL_CONF_MUTABLE,
     .help = "The name of a logging configuration file. This file is appended to any existing logging configuration "
             "files. For details about logging configuration files, see the Python logging module documentation. Note "
             "that when logging configuration files are used then all logging configuration is set in the configuration "
             "file and other logging configuration options are ignored (for example, log-date-format)."},
    {.name = "log-date-format",
     .type = KEEL_CONF_STRING,
     .default_value = "%Y-%m-%d %H:%M:%S",
     .metavar = "DATE_FORMAT",
     .help = "Defines the format string for %%(asctime)s in log records. Default: %(default)s . " IGNORE_MESSAGE},
    {.name = "log-file",
     .type = KEEL_CONF_STRING,
     .metavar = "PATH",
     .deprecated_name = "logfile",
     .help = "(Optional) Name of log file to send logging output to. If no default is set, logging will go to stderr as "
             "defined by use_stderr. " IGNORE_MESSAGE},
    {.name = "log-dir",
     .type = KEEL_CONF_STRING,
     .deprecated_name = "logdir",
     .help = "(Optional) The base directory used for relative log_file  paths. " IGNORE_MESSAGE},
    {.name = "watch-log-file",
     .type = KEEL_CONF_BOOL,
     .default_value = "false",
     .help = "Uses logging handler designed to watch file system. When log file is moved or removed this handler will "
             "open a new log file with specified path instantaneously. It makes sense only if log_file option is "
             "specified and Linux platform is used. " IGNORE_MESSAGE},
    {.name = "use-syslog",
     .type = KEEL_CONF_BOOL,
     .default_value = "false",
     .help = "Use syslog for logging. Existing syslog format is DEPRECATED and will be changed later to honor "
             "RFC5424. " IGNORE_MESSAGE},
    {.name = "use-journal",
     .type = KEEL_CONF_BOOL,
     .default_value = "false",
     .help = "Enable journald for logging. If running in a systemd environment you may wish to enable journal support. "
             "Doing so will use the journal native protocol which includes structured metadata in addition to log "
             "messages." IGNORE_MESSAGE},
    {.name = "syslog-log-facility",
     .type = KEEL_CONF_STRING,
     .default_value = "LOG_USER",
     .help = "Syslog facility to receive log lines. " IGNORE_MESSAGE},
    {.name = "use-json",
     .type = KEEL_CONF_BOOL,
     .default_value = "false",
     .help = "Use JSON formatting for logging. " IGNORE_MESSAGE},
};

static const char *const interval_types[] = {"Seconds", "Minutes", "Hours", "Days", "Weekday", "Midnight", NULL};
static const char *const rotation_types[] = {"interval", "size", "none", NULL};

static const keel_conf_opt_t generic_log_opts[] = {
    {.name = "use_stderr",
     .type = KEEL_CONF_BOOL,
     .default_value = "false",
     .help = "Log output to standard error. " IGNORE_MESSAGE},
    {.name = "use_eventlog", .type = KEEL_CONF_BOOL, .default_value = "false", .help = "Log output to Windows Event Log."},
    {.name = "log_rotate_interval",
     .type = KEEL_CONF_INT,
     .default_value = "1",
     .help = "The amount of time before the log files are rotated. This option is ignored unless log_rotation_type is set "
             "to \"interval\"."},
    {.name = "log_rotate_interval_type",
     .type = KEEL_CONF_STRING,
     .choices = interval_types,
     .flags = KEEL_CONF_IGNORE_CASE,
     .default_value = "days",
     .help = "Rotation interval type. The time of the last file change (or the time when the service was started) is used "
             "when scheduling the next rotation."},
    {.name = "max_logfile_count", .type = KEEL_CONF_INT, .default_value = "30", .help = "Maximum number of rotated log files."},
    {.name = "max_logfile_size_mb",
     .type = KEEL_CONF_INT,
     .default_value = "200",
     .help = "Log file maximum size in MB. This option is ignored if \"log_rotation_type\" is not set to \"size\"."},
    {.name = "log_rotation_type",
     .type = KEEL_CONF_STRING,
     .default_value = "none",
     .choices = rotation_types,
     .flags = KEEL_CONF_IGNORE_CASE,
     .help = "Log rotation type."},
};

static const keel_conf_opt_t log_opts[] = {
    {.name = "logging_context_format_string",
     .type = KEEL_CONF_STRING,
     .default_value = "%(asctime)s.%(msecs)03d %(process)d %(levelname)s %(name)s [%(global_request_id)s %(request_id)s "
                      "%(user_identity)s] %(instance)s%(message)s",
     .help = "Format string to use for log messages with context. Used by oslo_log.formatters.ContextFormatter"},
    {.name = "logging_default_format_string",
     .type = KEEL_CONF_STRING,
     .default_value = "%(asctime)s.%(msecs)03d %(process)d %(levelname)s %(name)s [-] %(instance)s%(message)s",
     .help = "Format string to use for log messages when context is undefined. Used by "
             "oslo_log.formatters.ContextFormatter"},
    {.name = "logging_debug_format_suffix",
     .type = KEEL_CONF_STRING,
     .default_value = "%(funcName)s %(pathname)s:%(lineno)d",
     .help = "Additional data to append to log message when logging level for the message is DEBUG. Used by "
             "oslo_log.formatters.ContextFormatter"},
    {.name = "logging_exception_prefix",
     .type = KEEL_CONF_STRING,
     .default_value = "%(asctime)s.%(msecs)03d %(process)d ERROR %(name)s %(instance)s",
     .help = "Prefix each line of exception output with this format. Used by oslo_log.formatters.ContextFormatter"},
    {.name = "logging_user_identity_format",
     .type = KEEL_CONF_STRING,
     .default_value = "%(user)s %(project)s %(domain)s %(system_scope)s %(user_domain)s %(project_domain)s",
     .help = "Defines the format string for %(user_identity)s that is used in logging_context_format_string. Used by "
             "oslo_log.formatters.ContextFormatter"},
    {.name = "default_log_levels",
     .type = KEEL_CONF_LIST,
     .default_value = "amqp=WARN,amqplib=WARN,boto=WARN,qpid=WARN,sqlalchemy=WARN,suds=INFO,oslo.messaging=INFO,"
                      "oslo_messaging=INFO,iso8601=WARN,requests.packages.urllib3.connectionpool=WARN,"
                      "urllib3.connectionpool=WARN,websocket=WARN,requests.packages.urllib3.util.retry=WARN,"
                      "urllib3.util.retry=WARN,keystonemiddleware=WARN,routes.middleware=WARN,stevedore=WARN,"
                      "taskflow=WARN,keystoneauth=WARN,oslo.cache=INFO,oslo_policy=INFO,dogpile.core.dogpile=INFO",
     .help = "List of package logging levels in logger=LEVEL pairs. " IGNORE_MESSAGE},
    {.name = "publish_errors",
     .type = KEEL_CONF_BOOL,
     .default_value = "false",
     .help = "Enables or disables publication of error events."},
    {.name = "instance_format",
     .type = KEEL_CONF_STRING,
     .default_value = "[instance: %(uuid)s] ",
     .help = "The format for an instance that is passed with the log message."},
    {.name = "instance_uuid_format",
     .type = KEEL_CONF_STRING,
     .default_value = "[instance: %(uuid)s] ",
     .help = "The format for an instance UUID that is passed with the log message."},
    {.name = "rate_limit_interval",
     .type = KEEL_CONF_INT,
     .default_value = "0",
     .help = "Interval, number of seconds, of log rate limiting."},
    {.name = "rate_limit_burst",
     .type = KEEL_CONF_INT,
     .default_value = "0",
     .help = "Maximum number of logged messages per rate_limit_interval."},
    {.name = "rate_limit_except_level",
     .type = KEEL_CONF_STRING,
     .default_value = "CRITICAL",
     .help = "Log level name used by rate limiting: CRITICAL, ERROR, INFO, WARNING, DEBUG or empty string. Logs with level "
             "greater or equal to rate_limit_except_level are not filtered. An empty string means that all levels are "
             "filtered."},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void conf_warning(void *data, const char *message)
{
    KEEL_LOG_WARNING(keel_log_get("keel.conf"), "%s", message);
}

/* oslo.log's _mutate_hook: a reload that changes debug changes the root level. */
static void on_mutate(keel_conf_t *c, const char *group, const char *name, const keel_conf_value_t *old_value,
                      const keel_conf_value_t *new_value, void *data)
{
    if ((group == NULL || strcmp(group, "DEFAULT") == 0) && strcmp(name, "debug") == 0 && new_value->kind == KEEL_CONF_VBOOL)
        (void)keel_log_set_level(NULL, new_value->u.b ? KEEL_LOG_LEVEL_DEBUG : KEEL_LOG_LEVEL_INFO);
}

int keel_log_register_opts(keel_conf_t *conf)
{
    int rc;
    if ((rc = keel_conf_register_cli_opts(conf, NULL, common_cli_opts, COUNT(common_cli_opts))) != 0 ||
        (rc = keel_conf_register_cli_opts(conf, NULL, logging_cli_opts, COUNT(logging_cli_opts))) != 0 ||
        (rc = keel_conf_register_opts(conf, NULL, generic_log_opts, COUNT(generic_log_opts))) != 0 ||
        (rc = keel_conf_register_opts(conf, NULL, log_opts, COUNT(log_opts))) != 0)
        return rc;
    keel_conf_set_warning_handler(conf, conf_warning, NULL);
    return keel_conf_on_mutate(conf, on_mutate, NULL);
}

/* Reads a DEFAULT option: a string (NULL for None), a bool or an int. */
static int get_value(const keel_conf_t *conf, const char *name, keel_conf_vkind_t kind, const keel_conf_value_t **out)
{
    int rc = keel_conf_get(conf, NULL, name, out);
    if (rc != 0)
        return rc;
    if ((*out)->kind != kind && (*out)->kind != KEEL_CONF_VNONE)
        return KEEL_EINVAL;
    return 0;
}

static int get_str(const keel_conf_t *conf, const char *name, const char **out)
{
    const keel_conf_value_t *v;
    int rc = get_value(conf, name, KEEL_CONF_VSTR, &v);
    if (rc == 0)
        *out = v->kind == KEEL_CONF_VSTR ? v->u.s : NULL;
    return rc;
}

static int get_bool(const keel_conf_t *conf, const char *name, bool *out)
{
    const keel_conf_value_t *v;
    int rc = get_value(conf, name, KEEL_CONF_VBOOL, &v);
    if (rc == 0)
        *out = v->kind == KEEL_CONF_VBOOL && v->u.b;
    return rc;
}

static int get_int(const keel_conf_t *conf, const char *name, int64_t *out)
{
    const keel_conf_value_t *v;
    int rc = get_value(conf, name, KEEL_CONF_VINT, &v);
    if (rc == 0)
        *out = v->kind == KEEL_CONF_VINT ? v->u.i : 0;
    return rc;
}

int keel_log_setup(const keel_conf_t *conf, const char *product_name)
{
    keel_log_config_t cfg = {.project = product_name};
    const char *config_append = NULL, *rotation = NULL;
    bool watch = false, journal = false, eventlog = false, publish = false;
    int64_t burst = 0, interval = 0;
    const keel_conf_value_t *levels;
    int rc;
    if ((rc = get_bool(conf, "debug", &cfg.debug)) != 0 || (rc = get_str(conf, "log_config_append", &config_append)) != 0 ||
        (rc = get_str(conf, "log_date_format", &cfg.log_date_format)) != 0 ||
        (rc = get_str(conf, "log_file", &cfg.log_file)) != 0 || (rc = get_str(conf, "log_dir", &cfg.log_dir)) != 0 ||
        (rc = get_bool(conf, "watch_log_file", &watch)) != 0 || (rc = get_bool(conf, "use_syslog", &cfg.use_syslog)) != 0 ||
        (rc = get_bool(conf, "use_journal", &journal)) != 0 ||
        (rc = get_str(conf, "syslog_log_facility", &cfg.syslog_log_facility)) != 0 ||
        (rc = get_bool(conf, "use_json", &cfg.use_json)) != 0 || (rc = get_bool(conf, "use_stderr", &cfg.use_stderr)) != 0 ||
        (rc = get_bool(conf, "use_eventlog", &eventlog)) != 0 || (rc = get_str(conf, "log_rotation_type", &rotation)) != 0 ||
        (rc = get_str(conf, "logging_context_format_string", &cfg.logging_context_format_string)) != 0 ||
        (rc = get_str(conf, "logging_default_format_string", &cfg.logging_default_format_string)) != 0 ||
        (rc = get_str(conf, "logging_debug_format_suffix", &cfg.logging_debug_format_suffix)) != 0 ||
        (rc = get_str(conf, "logging_exception_prefix", &cfg.logging_exception_prefix)) != 0 ||
        (rc = get_str(conf, "logging_user_identity_format", &cfg.logging_user_identity_format)) != 0 ||
        (rc = get_str(conf, "instance_format", &cfg.instance_format)) != 0 ||
        (rc = get_str(conf, "instance_uuid_format", &cfg.instance_uuid_format)) != 0 ||
        (rc = get_bool(conf, "publish_errors", &publish)) != 0 || (rc = get_int(conf, "rate_limit_burst", &burst)) != 0 ||
        (rc = get_int(conf, "rate_limit_interval", &interval)) != 0 ||
        (rc = get_value(conf, "default_log_levels", KEEL_CONF_VLIST, &levels)) != 0) {
        rc = rc == KEEL_ENOGROUP ? KEEL_ENOOPT : rc;
        return keel__log_set_error(rc, "oslo.log's options are not registered (keel_log_register_opts): %s", keel_strerror(rc));
    }
    /* oslo gives None to a string option set to nothing; formats use the option's value verbatim otherwise. */
    if (cfg.logging_debug_format_suffix == NULL)
        cfg.logging_debug_format_suffix = "";
    if (cfg.log_date_format == NULL)
        cfg.log_date_format = "";
    size_t n = levels->kind == KEEL_CONF_VLIST ? levels->len : 0;
    const char **items = keel__calloc(n + 1, sizeof(*items));
    if (items == NULL)
        return keel__log_set_error(KEEL_ENOMEM, "out of memory");
    for (size_t k = 0; k < n; k++)
        items[k] = levels->u.items[k].kind == KEEL_CONF_VSTR ? levels->u.items[k].u.s : "";
    cfg.default_log_levels = items;
    rc = keel_log_configure(&cfg);
    keel__free(items);
    if (rc != 0)
        return rc;

    keel_log_t *log = keel_log_get("keel.log");
    if (config_append)
        KEEL_LOG_WARNING(log, "log_config_append is not supported by keel (it is a Python logging config file); ignored");
    if (watch)
        KEEL_LOG_WARNING(log, "watch_log_file is not supported by keel; call keel_log_reopen() (SIGHUP) after rotation");
    if (journal)
        KEEL_LOG_WARNING(log, "use_journal is not supported by keel; use use_syslog or stderr under systemd");
    if (eventlog)
        KEEL_LOG_WARNING(log, "use_eventlog is only available on Windows; ignored");
    if (rotation && strcasecmp(rotation, "none") != 0)
        KEEL_LOG_WARNING(log, "log_rotation_type=%s is not supported by keel; rotate with logrotate and keel_log_reopen()",
                         rotation);
    if (burst >= 1 && interval >= 1)
        KEEL_LOG_WARNING(log, "rate_limit_burst and rate_limit_interval are not supported by keel; ignored");
    if (publish)
        KEEL_LOG_WARNING(log, "publish_errors is not supported by keel; ignored");
    return 0;
}

/* ---- log_opt_values ---- */

typedef struct opt_line_s {
    const char *group; /* NULL for DEFAULT */
    size_t group_index;
    char *dest;
    const keel_conf_opt_t *opt;
    const keel_conf_value_t *value;
} opt_line_t;

typedef struct collect_s {
    keel_vec_t lines;
    keel_vec_t groups; /* const char *, in first-seen order */
    int rc;
} collect_t;

static void collect(void *data, const char *group, const keel_conf_opt_t *opt, const keel_conf_value_t *value)
{
    collect_t *c = data;
    if (c->rc != 0)
        return;
    opt_line_t *l = keel__calloc(1, sizeof(*l));
    const char *src = opt->dest ? opt->dest : opt->name;
    char *dest = keel__strdup(src);
    if (l == NULL || dest == NULL) {
        keel__free(l);
        keel__free(dest);
        c->rc = KEEL_ENOMEM;
        return;
    }
    if (opt->dest == NULL)
        for (char *p = dest; *p; p++)
            if (*p == '-')
                *p = '_';
    l->dest = dest;
    l->opt = opt;
    l->value = value;
    if (group && strcmp(group, "DEFAULT") != 0) {
        size_t g = 0;
        while (g < c->groups.len && strcmp(c->groups.items[g], group) != 0)
            g++;
        if (g == c->groups.len && keel_vec_push(&c->groups, (void *)group) != 0)
            c->rc = KEEL_ENOMEM;
        l->group = group;
        l->group_index = g + 1;
    }
    if (c->rc == 0 && keel_vec_push(&c->lines, l) != 0)
        c->rc = KEEL_ENOMEM;
    if (c->rc != 0) {
        keel__free(l->dest);
        keel__free(l);
    }
}

/* DEFAULT first, then groups in registration order; options sorted by name within each. */
static int cmp_line(const void *a, const void *b)
{
    const opt_line_t *x = *(opt_line_t *const *)a, *y = *(opt_line_t *const *)b;
    if (x->group_index != y->group_index)
        return x->group_index < y->group_index ? -1 : 1;
    return strcmp(x->dest, y->dest);
}

/* Python's str() of a list of str: the command line (sys.argv[1:]). */
static int argv_list(keel_buf_t *out)
{
    keel_buf_t raw;
    keel_buf_init(&raw);
    int rc = keel_read_file("/proc/self/cmdline", &raw);
    rc = rc ? rc : keel_buf_putc(out, '[');
    size_t nargs = 0;
    for (size_t i = 0, k = 0; rc == 0 && i < raw.len; k++) {
        const char *arg = raw.base + i;
        size_t n = strlen(arg);
        i += n + 1;
        if (k == 0)
            continue; /* the program: oslo logs sys.argv[1:] */
        if (nargs++)
            rc = keel_buf_puts(out, ", ");
        rc = rc ? rc : keel__log_str_repr(arg, n, false, out);
    }
    rc = rc ? rc : keel_buf_putc(out, ']');
    keel_buf_free(&raw);
    return rc;
}

/* str() of conf's config_file value: the --config-file arguments or the
 * default files found. */
static int files_list(const keel_conf_t *conf, keel_buf_t *out)
{
    const char *paths[64];
    size_t n = keel_conf_config_files(conf, paths, 64);
    int rc = keel_buf_putc(out, '[');
    for (size_t i = 0; rc == 0 && i < n && i < 64; i++) {
        if (i)
            rc = keel_buf_puts(out, ", ");
        rc = rc ? rc : keel__log_str_repr(paths[i], strlen(paths[i]), false, out);
    }
    return rc ? rc : keel_buf_putc(out, ']');
}

#define STARS "********************************************************************************"
#define EQUALS "================================================================================"

void keel_log_opt_values(const keel_conf_t *conf, keel_log_t *log, int level)
{
    if (!keel_log_enabled(log, level))
        return;
    collect_t c = {.rc = 0};
    keel_vec_init(&c.lines);
    keel_vec_init(&c.groups);
    keel_buf_t args, files, value, name;
    keel_buf_init(&args);
    keel_buf_init(&files);
    keel_buf_init(&value);
    keel_buf_init(&name);
    keel_conf_foreach(conf, collect, &c);
    if (c.rc == 0 && c.lines.len > 1)
        qsort(c.lines.items, c.lines.len, sizeof(void *), cmp_line);
    KEEL_LOG(log, level, STARS);
    KEEL_LOG(log, level, "Configuration options gathered from:");
    if (argv_list(&args) == 0 && files_list(conf, &files) == 0) {
        KEEL_LOG(log, level, "command line args: %s", args.base);
        KEEL_LOG(log, level, "config files: %s", files.base);
    }
    KEEL_LOG(log, level, EQUALS);
    for (size_t k = 0; c.rc == 0 && k < c.lines.len; k++) {
        opt_line_t *l = c.lines.items[k];
        keel_buf_reset(&value);
        keel_buf_reset(&name);
        int rc;
        if (l->opt->flags & KEEL_CONF_SECRET)
            rc = keel_buf_puts(&value, "****");
        else if (l->value->kind == KEEL_CONF_VNONE) /* "%s" % None; interpolation's str() gives "" instead */
            rc = keel_buf_puts(&value, "None");
        else
            rc = keel_conf_value_to_pystr(l->value, &value);
        if (l->group)
            rc = rc ? rc : keel_buf_printf(&name, "%s.%s", l->group, l->dest);
        else
            rc = rc ? rc : keel_buf_puts(&name, l->dest);
        if (rc == 0)
            KEEL_LOG(log, level, "%-30s = %s", name.base, value.base);
    }
    KEEL_LOG(log, level, STARS);
    for (size_t k = 0; k < c.lines.len; k++) {
        opt_line_t *l = c.lines.items[k];
        keel__free(l->dest);
        keel__free(l);
    }
    keel_vec_free(&c.lines);
    keel_vec_free(&c.groups);
    keel_buf_free(&args);
    keel_buf_free(&files);
    keel_buf_free(&value);
    keel_buf_free(&name);
}
