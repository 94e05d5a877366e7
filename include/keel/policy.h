/*
 * keel/policy.h — oslo.policy in C: the rule language, policy files and
 * registered defaults, and an enforcer that takes the same decisions as
 * oslo.policy 4.0.0 (Debian's python3-oslo.policy), with a decision trace.
 *
 * Rules are parsed once into a compact tree; enforce() walks it without
 * allocating in the common case (targets and credentials are jansson
 * objects, as they are dicts in Python; `%(key)s` is substituted into a
 * stack buffer). What oslo.policy does with odd input keel does too: a rule
 * it cannot parse becomes "!" (never passes), an unknown rule name falls back
 * to the default rule, a missing target key makes a check False, and where
 * oslo.policy lets a Python exception escape enforce() (for instance
 * `%(x)d` of a string, or a rule that references itself), keel returns
 * KEEL_EVALUE instead of a decision.
 *
 * Ownership: the enforcer owns everything it loads. Strings and rows passed
 * to it are copied unless a comment says "borrowed". Rule objects are
 * reference-counted; keel_policy_rule_free() drops one reference.
 *
 * Thread safety: enforce() and authorize() only read the enforcer and may run
 * on many threads at once, provided the rules are loaded (call
 * keel_policy_load_rules() first) and nothing reloads or changes them
 * meanwhile. Loading and registering are for one thread at a time.
 */
#ifndef KEEL_POLICY_H
#define KEEL_POLICY_H

#include <stdio.h>

#include <jansson.h>

#include "keel/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct keel_conf_s keel_conf_t;

/* ---- rules ------------------------------------------------------------- */

/** A parsed rule: oslo.policy's tree of Check objects. */
typedef struct keel_policy_rule_s keel_policy_rule_t;

/**
 * Parses the string form ("role:admin or (project_id:%(project_id)s and
 * not role:dunce)"). Like oslo.policy, text that does not parse is not an
 * error: the rule becomes "!" and keel_policy_rule_parse_failed() says so.
 * text is borrowed for the call. Returns 0, KEEL_ENOMEM, or KEEL_EINVAL for
 * nesting deeper than 900 levels (where oslo.policy's parser hits Python's
 * recursion limit and raises).
 */
int keel_policy_rule_parse(const char *text, size_t len, keel_policy_rule_t **out);

/**
 * Parses a rule as it appears as a value in a policy file: a string, the
 * list-of-lists form ([["role:a", "role:b"], ["role:c"]]) or a value
 * Python would treat the same way (null and other false values mean "@").
 * Returns 0, KEEL_ENOMEM, or KEEL_EINVAL where oslo.policy raises while
 * loading (a true non-iterable such as 5 or true); *why (static, may be
 * NULL) says why.
 */
int keel_policy_rule_from_json(const json_t *value, keel_policy_rule_t **out, const char **why);

/** Drops a reference; NULL does nothing. */
void keel_policy_rule_free(keel_policy_rule_t *r);

/** Appends Python's str() of the rule ("(role:a or role:b)"). Returns 0 or KEEL_ENOMEM. */
int keel_policy_rule_str(const keel_policy_rule_t *r, keel_buf_t *out);

/** True when the rule text could not be parsed and was replaced by "!". */
bool keel_policy_rule_parse_failed(const keel_policy_rule_t *r);

/* ---- options ----------------------------------------------------------- */

/**
 * The [oslo_policy] options, as a plain struct so the enforcer does not
 * need keel_conf. All strings are borrowed and must outlive the enforcer.
 */
typedef struct keel_policy_opts_s {
    /** policy_file: relative paths are searched in search_dirs. Default "policy.json". */
    const char *policy_file;
    /** policy_default_rule: the rule used for names that are not defined. Default "default". */
    const char *policy_default_rule;
    /** policy_dirs: NULL-terminated; default {"policy.d", NULL}. Missing directories are ignored. */
    const char *const *policy_dirs;
    /**
     * Where relative policy_file and policy_dirs are looked for, in order
     * (oslo.config's find_file: --config-dir, the directories of the config
     * files, ~/.PROJECT, ~, /etc/PROJECT, /etc). NULL-terminated; NULL means
     * the current directory only.
     */
    const char *const *search_dirs;
    /** enforce_scope: a request whose token scope is not in the rule's scope_types is denied. */
    bool enforce_scope;
    /** enforce_new_defaults: deprecated defaults are no longer OR'd with the new ones. */
    bool enforce_new_defaults;
    /** remote_content_type: "application/x-www-form-urlencoded" (default) or "application/json". */
    const char *remote_content_type;
    /** remote_ssl_verify_server_crt: verify https: check servers. Default false, as oslo.policy. */
    bool remote_ssl_verify_server_crt;
    const char *remote_ssl_ca_crt_file;
    const char *remote_ssl_client_crt_file;
    const char *remote_ssl_client_key_file;
    /**
     * remote_timeout in seconds for http:/https: checks. oslo.policy 4.0.0
     * has no timeout (it waits forever); later releases added this option
     * with default 60, which keel uses. 0 waits forever.
     */
    double remote_timeout;
} keel_policy_opts_t;

/** Fills o with oslo.policy's defaults. */
void keel_policy_opts_init(keel_policy_opts_t *o);

/**
 * Registers the [oslo_policy] options (names, types, defaults and help as
 * oslo.policy declares them) in c. Returns 0 or an error of
 * keel_conf_register_opts().
 */
int keel_policy_register_opts(keel_conf_t *c);

/** Strings keel_policy_opts_from_conf() derives; release with keel_policy_opts_storage_free(). */
typedef struct keel_policy_opts_storage_s {
    const char *dirs[64];   /* policy_dirs, pointing into the keel_conf_t */
    const char *search[64]; /* search_dirs, pointing into text */
    keel_buf_t text;
} keel_policy_opts_storage_t;

/**
 * Reads the [oslo_policy] options of a parsed keel_conf_t into o, and sets
 * o->search_dirs to where oslo.config's find_file() looks (--config-dir,
 * the config files' directories, ~/.project, ~, /etc/project, /etc; project
 * may be NULL). Option strings point into c and stay valid while c's values
 * do; derived ones live in st. Returns 0, KEEL_ENOGROUP if the options were
 * not registered, KEEL_ERANGE for more than 63 directories, KEEL_ENOMEM.
 */
int keel_policy_opts_from_conf(const keel_conf_t *c, const char *project, keel_policy_opts_t *o, keel_policy_opts_storage_t *st);
void keel_policy_opts_storage_free(keel_policy_opts_storage_t *st);

/* ---- registered defaults (RuleDefault, DocumentedRuleDefault) ----------- */

/** One API operation a documented rule protects. Borrowed. */
typedef struct keel_policy_operation_s {
    const char *path;
    const char *method;
} keel_policy_operation_t;

/** DeprecatedRule: the former name and/or check string of a rule. Borrowed. */
typedef struct keel_policy_deprecated_rule_s {
    const char *name;
    const char *check_str;
    const char *deprecated_reason;
    const char *deprecated_since;
} keel_policy_deprecated_rule_t;

/**
 * A rule registered in code. With documented set it is a
 * DocumentedRuleDefault: description and at least one operation are
 * required. Rows are copied by keel_policy_register_defaults().
 */
typedef struct keel_policy_default_s {
    const char *name;
    const char *check_str;
    const char *description; /* may be NULL unless documented */
    bool documented;
    const keel_policy_operation_t *operations;
    size_t n_operations;
    /** NULL-terminated list, or NULL for "no scope types" (None). */
    const char *const *scope_types;
    const keel_policy_deprecated_rule_t *deprecated_rule;
    bool deprecated_for_removal;
    const char *deprecated_reason;
    const char *deprecated_since;
} keel_policy_default_t;

/* ---- enforcer ---------------------------------------------------------- */

typedef struct keel_policy_enforcer_s keel_policy_enforcer_t;

/**
 * Creates an enforcer (oslo.policy's Enforcer(conf)). opts is copied
 * (its strings are borrowed); NULL means keel_policy_opts_init()'s
 * defaults. Nothing is read until keel_policy_load_rules() or the first
 * enforce(). Returns 0 or KEEL_ENOMEM.
 */
int keel_policy_enforcer_new(keel_policy_enforcer_t **out, const keel_policy_opts_t *opts);

/** Frees the enforcer and every rule it holds; NULL does nothing. */
void keel_policy_enforcer_free(keel_policy_enforcer_t *e);

/**
 * Uses this file instead of opts->policy_file (Enforcer(policy_file=...)).
 * path is copied. Returns 0 or KEEL_ENOMEM.
 */
int keel_policy_set_policy_file(keel_policy_enforcer_t *e, const char *path);

/**
 * Registers defaults (register_defaults). Returns 0, KEEL_EDUPLICATE for a
 * name registered before, KEEL_EINVAL for a row oslo.policy would refuse
 * (documented without description or operations, deprecated_for_removal
 * without reason and since, repeated scope types), KEEL_ENOMEM. On error
 * the rows before the bad one stay registered, as in oslo.policy;
 * keel_policy_last_error() says which and why.
 */
int keel_policy_register_defaults(keel_policy_enforcer_t *e, const keel_policy_default_t *rows, size_t n);

/**
 * Loads or refreshes the rules as Enforcer.load_rules() does: the policy
 * file (re-read when its mtime changed or force is set), the files of every
 * policy_dirs directory in name order (each overriding the rules before),
 * then registered defaults for names no file defines, with deprecated
 * rules handled per enforce_new_defaults. A missing policy file is not an
 * error. Returns 0, KEEL_EPARSE (a file is not valid JSON/YAML or not a
 * mapping), KEEL_EINVAL (a rule oslo.policy refuses to load), KEEL_EACCES,
 * KEEL_ENOMEM; keel_policy_last_error() has "file: why". On error the rules
 * loaded before stay in force.
 */
int keel_policy_load_rules(keel_policy_enforcer_t *e, bool force);

/**
 * Replaces (overwrite) or updates the rules from the text of a policy
 * file (JSON or YAML), as set_rules(Rules.load(data)) does; the next
 * load_rules() does not read files unless forced. Returns as load_rules().
 */
int keel_policy_set_rules_text(keel_policy_enforcer_t *e, const char *data, size_t len, bool overwrite);

/** As keel_policy_set_rules_text() from an object of name -> rule value. */
int keel_policy_set_rules_json(keel_policy_enforcer_t *e, const json_t *rules, bool overwrite);

/** Message of the last failed load/register call on e, or "". */
const char *keel_policy_last_error(const keel_policy_enforcer_t *e);

/**
 * Details of one decision; caller-allocated, every field optional. Set
 * trace to a keel_buf_t to receive the decision trace: one line per check
 * evaluated, indented by depth, "check -> true|false (why)".
 */
typedef struct keel_policy_result_s {
    /** Out: why a denial or error happened ("compute:get is disallowed by policy"). */
    char message[256];
    /** Out: the request was denied by the scope check (InvalidScope). */
    bool invalid_scope;
    /** In: where to append the trace, or NULL. */
    keel_buf_t *trace;
} keel_policy_result_t;

/**
 * Decides whether creds may do rule on target (Enforcer.enforce). target
 * and creds are JSON objects (borrowed). Returns:
 *   0              allowed;
 *   KEEL_EACCES    denied (including an undefined rule without a default,
 *                  and a scope mismatch with enforce_scope);
 *   KEEL_EVALUE    a check raised in oslo.policy (res->message says why);
 *   KEEL_EINVAL    creds is not a JSON object (oslo.policy's InvalidContextObject);
 *   KEEL_EPARSE etc. from the first, implicit load_rules();
 *   KEEL_ENOMEM.
 * res may be NULL.
 */
int keel_policy_enforce(keel_policy_enforcer_t *e, const char *rule, const json_t *target, const json_t *creds,
                        keel_policy_result_t *res);

/**
 * As keel_policy_enforce() for a rule tree instead of a name (enforce with a
 * Check object: no scope check, current rule None).
 */
int keel_policy_enforce_rule(keel_policy_enforcer_t *e, const keel_policy_rule_t *rule, const json_t *target, const json_t *creds,
                             keel_policy_result_t *res);

/**
 * As keel_policy_enforce(), for rules that must have been registered:
 * returns KEEL_ENOENT ("Policy X has not been registered") otherwise.
 */
int keel_policy_authorize(keel_policy_enforcer_t *e, const char *rule, const json_t *target, const json_t *creds,
                          keel_policy_result_t *res);

/**
 * Calls the rule in force under name (or the default rule) directly, the
 * way oslopolicy-checker does: no scope check and no system_scope mapping;
 * the current rule is name. Returns 0 (passed), KEEL_EACCES (failed),
 * KEEL_ENOENT (neither the rule nor a default exists), KEEL_EVALUE (the
 * check raised), or a load error.
 */
int keel_policy_check(keel_policy_enforcer_t *e, const char *name, const json_t *target, const json_t *creds,
                      keel_policy_result_t *res);

/* ---- introspection ----------------------------------------------------- */

/** Number of rules in force (after load). */
size_t keel_policy_rule_count(const keel_policy_enforcer_t *e);
/** Name and rule of the i-th rule in force, in oslo.policy's dict order; borrowed. */
const char *keel_policy_rule_name(const keel_policy_enforcer_t *e, size_t i);
const keel_policy_rule_t *keel_policy_rule_at(const keel_policy_enforcer_t *e, size_t i);
/** The rule in force under name (no default fallback), or NULL; borrowed. */
const keel_policy_rule_t *keel_policy_get_rule(const keel_policy_enforcer_t *e, const char *name);

/**
 * Appends str() of the rules in force as oslo.policy's Rules.__str__ makes
 * it: a JSON object of name -> str(check) ("" for "@"), indented by 4, ASCII
 * only. Returns 0 or KEEL_ENOMEM (or a load error).
 */
int keel_policy_rules_str(keel_policy_enforcer_t *e, keel_buf_t *out);

/**
 * Parses the text of a policy file (or of any document in the same
 * formats) as oslo.policy's parse_file_contents() does: JSON if it is
 * JSON, else YAML with PyYAML safe_load's types; an empty document is {}.
 * On 0, *out is a new reference to a JSON object. Returns 0, KEEL_EPARSE
 * (why in err, which may be NULL) or KEEL_ENOMEM.
 */
int keel_policy_parse_document(const char *data, size_t len, json_t **out, keel_buf_t *err);

/** Called by keel_policy_check_rules() per finding. */
typedef void (*keel_policy_finding_cb)(void *data, const char *rule_name, const char *kind, const char *detail);

/**
 * oslo.policy's check_rules(): calls cb(name, "undefined", ...) for rules
 * that reference an undefined rule and cb(name, "cycle", ...) for rules in a
 * reference cycle, with oslo.policy's exact (shallow) definitions. Returns
 * 0 when nothing was found, else KEEL_EVALUE.
 */
int keel_policy_check_rules(keel_policy_enforcer_t *e, keel_policy_finding_cb cb, void *data);

/**
 * A deeper lint than check_rules: undefined references anywhere (under
 * "not" too), reference cycles, rules that cannot be parsed, rules that can
 * never pass, checks that always raise. Kinds: "parse", "undefined",
 * "cycle", "never", "raises". Returns 0 when clean, else KEEL_EVALUE.
 */
int keel_policy_lint(keel_policy_enforcer_t *e, keel_policy_finding_cb cb, void *data);

/* ---- tools: sample, convert -------------------------------------------- */

/**
 * Writes a sample policy file in oslopolicy-sample-generator's YAML format
 * for the registered defaults, grouped in namespaces. namespaces[i] names
 * the section of rows[i][0..counts[i]); sections are written in namespace
 * order. exclude_deprecated drops the deprecation comments. Returns 0,
 * KEEL_ENOMEM or -errno of the write.
 */
int keel_policy_write_sample(FILE *f, const char *const *namespaces, const keel_policy_default_t *const *rows, const size_t *counts,
                             size_t nnamespaces, bool exclude_deprecated);

/**
 * Converts a JSON policy file's text to YAML as oslopolicy-convert-json-to-yaml
 * does against the given registered defaults (same grouping as
 * keel_policy_write_sample): rules equal to their default are commented
 * out, overridden ones kept, unknown ones listed at the end under a
 * warning. Returns 0, KEEL_EPARSE (not JSON, or not an object),
 * KEEL_ENOMEM, or -errno of the write; *why gets a message on KEEL_EPARSE.
 */
int keel_policy_convert_json_to_yaml(FILE *f, const char *json_text, size_t len, const char *const *namespaces,
                                     const keel_policy_default_t *const *rows, const size_t *counts, size_t nnamespaces,
                                     const char **why);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_POLICY_H */
