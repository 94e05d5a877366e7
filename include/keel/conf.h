/*
 * keel/conf.h — typed configuration options in groups, read from INI files
 * and the command line exactly as oslo.config 9.0 reads them.
 *
 * A program declares its options as static rows (keel_conf_opt_t), registers
 * them in groups, then parses argv: `--config-file`/`--config-dir` (or the
 * default search order), the files' [sections], environment variables
 * OS_<GROUP>__<NAME>, and command-line options. Values are resolved and
 * type-checked once, at parse time, so a bad value stops a service at start
 * with a message naming file:line, group, option, value and expected type.
 *
 * Precedence is oslo.config's: an option given on the command line, then an
 * environment variable, then config files (later files win; within a file
 * the last assignment wins), then the registered default. Options registered
 * for the command line that also appear in a config file are ordered by
 * where --config-file stood on the command line, as in oslo.config.
 *
 * Ownership: option rows, groups names and help texts are borrowed and must
 * outlive the keel_conf_t (they are normally static). Resolved values belong
 * to the keel_conf_t and stay valid until the next keel_conf_parse(),
 * keel_conf_reload() that changes them, or keel_conf_free().
 *
 * Thread safety: none; parse and reload on one thread, read from any thread
 * only while no parse/reload runs.
 */
#ifndef KEEL_CONF_H
#define KEEL_CONF_H

#include <stdio.h>

#include "keel/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Option types: enumerator suffix, schema name (`keel conf dump` JSON), the
 * type name oslo-config-generator prints in samples.
 */
#define KEEL_CONF_TYPE_MAP(XX)                                                                                                 \
    XX(STRING, "string", "string value")                                                                                      \
    XX(BOOL, "bool", "boolean value")                                                                                         \
    XX(INT, "int", "integer value")                                                                                           \
    XX(FLOAT, "float", "floating point value")                                                                                \
    XX(PORT, "port", "port value")                                                                                            \
    XX(HOST, "host", "host address value")                                                                                    \
    XX(HOSTNAME, "hostname", "hostname value")                                                                                \
    XX(IP, "ip", "IP address value")                                                                                          \
    XX(URI, "uri", "uri value")                                                                                               \
    XX(LIST, "list", "list value")                                                                                            \
    XX(DICT, "dict", "dict value")                                                                                            \
    XX(MULTI, "multi", "multi valued")

typedef enum {
#define KEEL_CONF_TYPE_ENUM_(name, schema, sample) KEEL_CONF_##name,
    KEEL_CONF_TYPE_MAP(KEEL_CONF_TYPE_ENUM_)
#undef KEEL_CONF_TYPE_ENUM_
        KEEL_CONF_TYPE_COUNT_
} keel_conf_type_t;

/** Returns the schema name of a type ("string", "port", ...). */
const char *keel_conf_type_name(keel_conf_type_t t);
/** Looks a type up by schema name; returns 0 or KEEL_EINVAL. */
int keel_conf_type_from_name(const char *name, keel_conf_type_t *out);

/* Flags of an option row. */
enum {
    KEEL_CONF_REQUIRED = 1u << 0,   /* no value anywhere is an error at parse time */
    KEEL_CONF_SECRET = 1u << 1,     /* masked as **** when values are printed */
    KEEL_CONF_MUTABLE = 1u << 2,    /* keel_conf_reload() may change it */
    KEEL_CONF_POSITIONAL = 1u << 3, /* CLI options only: a positional argument */
    KEEL_CONF_HAS_MIN = 1u << 4,    /* min applies (INT, FLOAT, PORT) */
    KEEL_CONF_HAS_MAX = 1u << 5,    /* max applies (INT, FLOAT, PORT) */
    KEEL_CONF_IGNORE_CASE = 1u << 6, /* STRING: choices and regex ignore case */
    KEEL_CONF_QUOTES = 1u << 7,     /* STRING items: strip one level of quotes */
    KEEL_CONF_BOUNDS = 1u << 8,     /* LIST: value must be [..]; DICT: {..} */
    KEEL_CONF_ADVANCED = 1u << 9,   /* sample generator marks it advanced */
    KEEL_CONF_DEPRECATED_FOR_REMOVAL = 1u << 10,
};

/** A former (group, name) of an option; either may be NULL (= unchanged). */
typedef struct keel_conf_deprecated_s {
    const char *group;
    const char *name;
} keel_conf_deprecated_t;

/**
 * One option, as oslo.config's Opt. Zero-initialised fields mean "not set",
 * so rows are written with designated initialisers:
 *
 *   static const keel_conf_opt_t opts[] = {
 *       {.name = "port", .type = KEEL_CONF_PORT, .default_value = "5672",
 *        .help = "Port the broker listens on."},
 *   };
 */
typedef struct keel_conf_opt_s {
    const char *name;
    keel_conf_type_t type;
    /** Help text; fed to --help and the sample file. */
    const char *help;
    /**
     * Default in the form it would take in a config file (so "$state_path/x"
     * interpolates and "1,2" is a two-item list). NULL means no default
     * (the value is None / KEEL_CONF_VNONE). MULTI uses default_multi.
     */
    const char *default_value;
    /** MULTI: NULL-terminated default items; NULL means empty. */
    const char *const *default_multi;
    unsigned flags;
    double min, max;           /* with KEEL_CONF_HAS_MIN / _HAS_MAX */
    const char *const *choices; /* NULL-terminated; STRING, INT, PORT */
    const char *regex;         /* STRING: must match somewhere (re.search) */
    size_t max_length;         /* STRING, URI: 0 = unlimited */
    const char *const *schemes; /* URI: allowed schemes, NULL-terminated */
    int ip_version;            /* IP, HOST: 4, 6, or 0 for either */
    keel_conf_type_t item_type; /* LIST, DICT values, MULTI items; STRING by default */
    char short_name;           /* CLI: -x, 0 = none */
    const char *metavar;       /* CLI: name of the value in --help */
    const char *dest;          /* key in files; default: name with '-' as '_' */
    const char *deprecated_name;
    const char *deprecated_group;
    const keel_conf_deprecated_t *deprecated_opts; /* more, ended by {NULL, NULL} */
    const char *deprecated_reason;
    const char *deprecated_since;
    const char *sample_default; /* shown in the sample instead of the default */
} keel_conf_opt_t;

/** Kinds of resolved values. */
typedef enum {
    KEEL_CONF_VNONE, /* oslo.config's None: no default and not set, or an empty INT */
    KEEL_CONF_VSTR,
    KEEL_CONF_VBOOL,
    KEEL_CONF_VINT,
    KEEL_CONF_VFLOAT,
    KEEL_CONF_VLIST, /* LIST, MULTI */
    KEEL_CONF_VDICT, /* DICT */
} keel_conf_vkind_t;

/**
 * A resolved value. VSTR text is NUL-terminated UTF-8 of len bytes. VLIST
 * has len items; VDICT has len entries stored as 2*len items, key (VSTR)
 * then value, in the order they were written.
 */
typedef struct keel_conf_value_s {
    keel_conf_vkind_t kind;
    size_t len;
    union {
        char *s;
        bool b;
        int64_t i;
        double f;
        struct keel_conf_value_s *items;
    } u;
} keel_conf_value_t;

typedef struct keel_conf_s keel_conf_t;

/** Creates an empty registry. Returns 0 or KEEL_ENOMEM. */
int keel_conf_new(keel_conf_t **out);
/** Frees the registry and every value it resolved; NULL does nothing. */
void keel_conf_free(keel_conf_t *c);

/**
 * Declares a group with a title and help for --help and samples. Groups are
 * also created implicitly by registering options into them. "DEFAULT" and
 * NULL both name the default group. Returns 0 or KEEL_ENOMEM.
 */
int keel_conf_register_group(keel_conf_t *c, const char *group, const char *title, const char *help);

/**
 * Registers n option rows in a group (NULL = DEFAULT). Registering the same
 * row again is a no-op; a different row under a taken name is
 * KEEL_EDUPLICATE. A row whose default does not convert to its type is
 * KEEL_EVALUE (keel_conf_error() says why). May be called after parse: the
 * new options are resolved at once against the files already read.
 */
int keel_conf_register_opts(keel_conf_t *c, const char *group, const keel_conf_opt_t *opts, size_t n);

/**
 * As keel_conf_register_opts(), and the options are also command-line
 * options: --name in DEFAULT, --group-name in other groups; BOOL options
 * also get --noname. Must be called before keel_conf_parse().
 */
int keel_conf_register_cli_opts(keel_conf_t *c, const char *group, const keel_conf_opt_t *opts, size_t n);

/** How keel_conf_parse() finds files and describes the program. */
typedef struct keel_conf_setup_s {
    const char *project; /* e.g. "nova": searched as ~/.nova/nova.conf ... */
    const char *prog;    /* default: basename of argv[0] */
    const char *version; /* enables --version */
    const char *usage;
    const char *description;
    /**
     * Files read when no --config-file is given. NULL: the oslo.config search
     * order (~/.P/P.conf, ~/P.conf, /etc/P/P.conf, /etc/P.conf for project
     * and prog). A pointer to a NULL entry: none.
     */
    const char *const *default_config_files;
    /** Directories read when no --config-dir is given; NULL: P.conf.d search. */
    const char *const *default_config_dirs;
    /** Do not read OS_<GROUP>__<NAME> environment variables. */
    bool no_env;
} keel_conf_setup_t;

/**
 * Parses argv (argv[0] is the program name) and the config files, then
 * resolves and checks every registered option. Returns:
 *   0                success;
 *   KEEL_EEXIT       --help or --version was printed to stdout; exit 0;
 *   KEEL_EUSAGE      bad command line (argparse's exit status 2);
 *   KEEL_ENOENT      a config file or --config-dir does not exist;
 *   KEEL_EACCES      a config file cannot be read;
 *   KEEL_EPARSE      a config file is not valid INI (file:line in message);
 *   KEEL_EVALUE      an option value does not convert or is out of range,
 *                    or an interpolation refers to an unknown option;
 *   KEEL_EREQUIRED   a required option has no value;
 *   KEEL_ENOMEM.
 * On error keel_conf_error() holds a one-line message. May be called again
 * to parse a new command line; earlier values are replaced.
 */
int keel_conf_parse(keel_conf_t *c, int argc, char *const *argv, const keel_conf_setup_t *setup);

/** The message of the last failed call, or "" if none. Valid until the next call. */
const char *keel_conf_error(const keel_conf_t *c);

/**
 * Looks up the resolved value of an option. Returns 0 and sets *out (owned
 * by c), KEEL_ENOGROUP or KEEL_ENOOPT. group NULL means DEFAULT.
 */
int keel_conf_get(const keel_conf_t *c, const char *group, const char *name, const keel_conf_value_t **out);

/*
 * Typed getters for options the program registered itself. They return the
 * fallback when the value is None; asking for an unregistered option or
 * the wrong kind is a programming error and aborts with KEEL_ASSERT.
 */
const char *keel_conf_get_str(const keel_conf_t *c, const char *group, const char *name);
bool keel_conf_get_bool(const keel_conf_t *c, const char *group, const char *name);
int64_t keel_conf_get_int(const keel_conf_t *c, const char *group, const char *name, int64_t fallback);
double keel_conf_get_float(const keel_conf_t *c, const char *group, const char *name, double fallback);

/**
 * Overrides an option's value with text in config-file form (as oslo's
 * set_override), or sets its default (set_default); NULL text clears the
 * override/default back to the registered one. Returns 0, KEEL_ENOOPT,
 * KEEL_ENOGROUP or KEEL_EVALUE (the text does not convert).
 */
int keel_conf_set_override(keel_conf_t *c, const char *group, const char *name, const char *text);
int keel_conf_set_default(keel_conf_t *c, const char *group, const char *name, const char *text);

/**
 * Called once per mutable option whose value a reload changed. old and new
 * are valid only during the call.
 */
typedef void (*keel_conf_mutate_cb)(keel_conf_t *c, const char *group, const char *name, const keel_conf_value_t *old_value,
                                    const keel_conf_value_t *new_value, void *data);

/** Adds a hook run by keel_conf_reload(). Returns 0 or KEEL_ENOMEM. */
int keel_conf_on_mutate(keel_conf_t *c, keel_conf_mutate_cb cb, void *data);

/**
 * Re-reads the config files found by the last parse (as SIGHUP does in
 * oslo.service). Options marked KEEL_CONF_MUTABLE take their new values and
 * each change runs the hooks; a change to any other option is reported as a
 * warning and ignored. On error nothing changes and the error is returned
 * as by keel_conf_parse().
 */
int keel_conf_reload(keel_conf_t *c);

/**
 * Receives warnings (deprecated names, ignored immutable changes). The
 * default handler writes "WARNING keel.conf: <message>" to stderr; the log
 * module installs one that logs instead.
 */
typedef void (*keel_conf_warn_cb)(void *data, const char *message);
void keel_conf_set_warning_handler(keel_conf_t *c, keel_conf_warn_cb cb, void *data);

/**
 * The value oslo.config gives its own config_file option after a parse:
 * the --config-file arguments in order, or the default files found when
 * none was given. Stores up to max borrowed paths (valid until the next
 * parse) and returns how many there are in all.
 */
size_t keel_conf_config_files(const keel_conf_t *c, const char **out, size_t max);

/** Visits every registered option in registration order. */
typedef void (*keel_conf_visit_cb)(void *data, const char *group, const keel_conf_opt_t *opt, const keel_conf_value_t *value);
void keel_conf_foreach(const keel_conf_t *c, keel_conf_visit_cb cb, void *data);

/**
 * Appends a value to buf as JSON (strings escaped, floats as the shortest
 * text that reads back the same, non-finite floats as Infinity/NaN as
 * Python's json module writes them). Returns 0 or KEEL_ENOMEM.
 */
int keel_conf_value_to_json(const keel_conf_value_t *v, keel_buf_t *buf);

/**
 * Appends a value as Python's str() renders it ("True", "['a', 'b']"),
 * which is what interpolation substitutes. Returns 0 or KEEL_ENOMEM.
 */
int keel_conf_value_to_pystr(const keel_conf_value_t *v, keel_buf_t *buf);

/**
 * Writes the program's --help text (argparse layout) to f.
 */
void keel_conf_print_help(const keel_conf_t *c, FILE *f);

/**
 * Writes a commented sample config file for every registered option, in
 * oslo-config-generator's format (wrap at 70 columns, "#name = default").
 * namespace labels the "From ..." banner. Returns 0 or -errno of the write.
 */
int keel_conf_write_sample(const keel_conf_t *c, const char *namespace_, FILE *f);

/** Severity of one finding of keel_conf_validate(). */
typedef enum { KEEL_CONF_FINDING_WARNING, KEEL_CONF_FINDING_ERROR } keel_conf_severity_t;
typedef void (*keel_conf_finding_cb)(void *data, keel_conf_severity_t sev, const char *message);

/**
 * Checks config files against the registered options as
 * oslo-config-validator does: options that are not registered (errors),
 * found under a deprecated name (warnings), and — beyond oslo's validator —
 * values that do not convert to their option's type (errors; values that
 * interpolate are not checked). Sections named in exclude_groups (NULL-
 * terminated, may be NULL) are skipped. files is NULL-terminated. Each
 * finding goes to cb. Returns 0 when no error was found, KEEL_EVALUE if
 * some were, or the error of a file that could not be read or parsed
 * (keel_conf_error() says which).
 */
int keel_conf_validate(keel_conf_t *c, const char *const *files, const char *const *exclude_groups, keel_conf_finding_cb cb,
                       void *data);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_CONF_H */
