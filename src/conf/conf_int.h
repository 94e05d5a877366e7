/*
 * conf_int.h — internal to the conf module (never installed): the registry,
 * the parse-time namespace and the functions the module's files share.
 *
 * The shapes follow oslo.config's so its rules carry over one to one: a
 * registry of groups holding option entries (ConfigOpts._opts/_groups), and
 * a namespace per parse (cfg._Namespace) holding the parsed files, newest
 * first, and the "attributes" argparse set for command-line options, keyed
 * as oslo keys them ("group_dest", or "dest" in DEFAULT).
 */
#ifndef KEEL_CONF_INT_H
#define KEEL_CONF_INT_H

#include "keel/conf.h"

#define KEEL__CONF_DEFAULT "DEFAULT"

typedef struct conf_group_s conf_group_t;
typedef struct conf_entry_s conf_entry_t;
typedef struct conf_ns_s conf_ns_t;

/* One (group, name) under which an option's value may be found in files. */
typedef struct {
    char *group; /* NULL: the option's own group */
    char *name;
    bool explicit_name; /* a former name (not just a former group) */
} conf_name_t;

struct conf_group_s {
    char *name;  /* "DEFAULT" for the default group */
    char *title; /* NULL: "<name> options" */
    char *help;
    keel_vec_t entries; /* conf_entry_t*, registration order */
};

typedef enum { ENTRY_UNRESOLVED, ENTRY_RESOLVING, ENTRY_RESOLVED } entry_state_t;

struct conf_entry_s {
    const keel_conf_opt_t *opt; /* borrowed row */
    conf_group_t *group;
    bool cli;
    char *dest;
    conf_name_t *names; /* [0] = (NULL, dest), then deprecated ones */
    size_t n_names;
    keel_conf_value_t value;
    entry_state_t state;
    char *override_text; /* set_override, NULL if none */
    char *default_text;  /* set_default, NULL if none */
    bool has_default_text;
};

/* One value as written in a config file, with where it was written. */
typedef struct {
    char *text;
    size_t len;
    unsigned line;
    const char *path; /* owned by the conf_file_t */
    bool empty_list;  /* argparse's [] for "--opt=--": not a text at all */
} conf_text_t;

typedef struct {
    char *name; /* key as written; may hold NUL bytes, hence len */
    size_t len;
    keel_vec_t values; /* conf_text_t*, in file order */
} conf_key_t;

typedef struct {
    char *name;      /* normalised: lower case unless exactly "DEFAULT" */
    keel_vec_t keys; /* conf_key_t* */
} conf_section_t;

typedef struct {
    char *path;
    keel_vec_t sections; /* conf_section_t*, sections with equal normalised names merged */
} conf_file_t;

typedef enum { ATTR_NONE, ATTR_TEXT, ATTR_BOOL, ATTR_LIST } attr_kind_t;

/* A command-line "attribute" (argparse's namespace entry). */
typedef struct {
    char *key;
    attr_kind_t kind;
    bool b;
    conf_text_t text; /* ATTR_TEXT (path NULL when from the command line) */
    keel_vec_t list;  /* ATTR_LIST: conf_text_t* */
} conf_attr_t;

struct conf_ns_s {
    keel_vec_t files;        /* conf_file_t*, newest first */
    keel_vec_t attrs;        /* conf_attr_t* */
    keel_vec_t not_found;    /* char* paths */
    keel_vec_t denied;       /* char* paths */
    keel_vec_t config_files; /* char*: files read, in order (for reload) */
    bool saw_config_file_arg;
    bool saw_config_dir_arg;
};

typedef struct {
    keel_conf_mutate_cb cb;
    void *data;
} conf_hook_t;

struct keel_conf_s {
    keel_vec_t groups;    /* conf_group_t*; [0] is DEFAULT */
    keel_vec_t entries;   /* conf_entry_t*: every option, registration order */
    keel_vec_t cli_order; /* conf_entry_t*: oslo's _cli_opts deque order */
    keel_vec_t hooks;     /* conf_hook_t* */
    conf_ns_t *ns;        /* namespace of the last successful parse */
    keel_buf_t error;
    keel_conf_warn_cb warn;
    void *warn_data;
    keel_vec_t warned; /* char*: deprecation messages already emitted */
    bool parsed;
    /* What the last parse was given, for reload. */
    int argc;
    char **argv;
    char *prog;
    char *version;
    char *usage;
    char *description;
    char **default_files; /* NULL-terminated */
    char **default_dirs;  /* NULL-terminated */
    bool no_env;
    unsigned depth; /* interpolation nesting, bounded as Python's recursion */
};

/* conf.c */
conf_group_t *keel__conf_find_group(const keel_conf_t *c, const char *name);
conf_entry_t *keel__conf_find_entry(const conf_group_t *g, const char *dest);
/** oslo's deprecated-name map: the entry registered with (group, name) as a former name. */
conf_entry_t *keel__conf_find_deprecated(const keel_conf_t *c, const char *group, const char *dest);
int keel__conf_errorf(keel_conf_t *c, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void keel__conf_warnf(keel_conf_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** "DEFAULT" or the group's name, for messages. */
const char *keel__conf_group_label(const conf_group_t *g);

/* namespace.c */
/** cfg._normalize_group_name: str.lower() unless "DEFAULT"; free the result. */
char *keel__conf_normalize_group(const char *name, size_t len);
conf_ns_t *keel__conf_ns_new(void);
void keel__conf_ns_free(conf_ns_t *ns);
/** cfg.ConfigParser._parse_file: read, parse and add one file; records missing ones. */
int keel__conf_ns_parse_file(keel_conf_t *c, conf_ns_t *ns, const char *path);
/** The files of one --config-dir, sorted, as oslo globs them (*.conf). */
int keel__conf_ns_parse_dir(keel_conf_t *c, conf_ns_t *ns, const char *dir, bool must_exist);
conf_attr_t *keel__conf_ns_attr(conf_ns_t *ns, const char *key, bool create);
/** Attribute key argparse uses for (group, name): "group_name" or "name". */
int keel__conf_attr_key(keel_buf_t *b, const char *group, const char *name);
/**
 * _Namespace._get_value for an entry: files (newest first, each file's last
 * assignment), then command-line attributes. On success *out holds borrowed
 * conf_text_t pointers (one for single values, all for multi) or, for a
 * boolean flag, is_bool and b; from_cli says the value was not found in any
 * file (oslo's Locations.command_line). Returns 0 or KEEL_ENOENT.
 */
typedef struct {
    keel_vec_t texts; /* conf_text_t* (borrowed) */
    bool is_list;     /* the texts came from a list attribute (append, '*') */
    bool is_text;     /* the one text came from a single-value attribute */
    bool is_bool;
    bool b;
    bool from_cli;
} conf_found_t;
int keel__conf_ns_lookup(const conf_ns_t *ns, const conf_entry_t *e, conf_found_t *out);
void keel__conf_found_free(conf_found_t *f);
/** Warns once for each former name an entry's value was found under. */
int keel__conf_ns_warn_deprecated(keel_conf_t *c, const conf_ns_t *ns, const conf_entry_t *e);

/* argparse.c */
/** Runs argparse over argv[1..] with the registered CLI options, filling ns. */
int keel__conf_argparse(keel_conf_t *c, conf_ns_t *ns, bool quiet);
void keel__conf_help(const keel_conf_t *c, FILE *f);

/* resolve.c */
/** Resolves every registered option against ns; on error nothing is kept. */
int keel__conf_resolve_all(keel_conf_t *c, conf_ns_t *ns);
/** Resolves one entry (and what it interpolates) into e->value. */
int keel__conf_resolve_entry(keel_conf_t *c, conf_ns_t *ns, conf_entry_t *e);
/** cfg.ConfigOpts._validate_cli_options. */
int keel__conf_validate_cli(keel_conf_t *c, conf_ns_t *ns);
/** Converts text in config-file form with the entry's type (after interpolation). */
int keel__conf_convert_text(keel_conf_t *c, conf_ns_t *ns, conf_entry_t *e, const char *text, size_t len, keel_conf_value_t *out,
                            keel_buf_t *why);

#endif
