/*
 * policy_int.h — internal to the policy module, never installed: the
 * compiled form of rules, the rule set (oslo.policy's Rules dict) and the
 * evaluator's context.
 *
 * A rule is a flat array of nodes in prefix order: an AND/OR node is
 * followed by its children's subtrees and records where its own subtree
 * ends, so evaluation walks an array instead of chasing pointers, and a
 * rule is one allocation pattern no matter how it was written. Leaves (the
 * "kind:match" checks) keep everything decided at parse time: the compiled
 * `%` template of the match, the lowered constant of a role, the
 * literal_eval verdict and the dotted path of a generic check.
 */
#ifndef KEEL_POLICY_INT_H
#define KEEL_POLICY_INT_H

#include "keel/policy.h"

#include "pylit.h"
#include "pyobj.h"

typedef enum {
    KEEL__CK_TRUE,  /* "@" */
    KEEL__CK_FALSE, /* "!" */
    KEEL__CK_AND,
    KEEL__CK_OR,
    KEEL__CK_NOT,
    KEEL__CK_RULE,    /* rule:NAME */
    KEEL__CK_ROLE,    /* role:NAME */
    KEEL__CK_GENERIC, /* anything:else */
    KEEL__CK_HTTP,    /* http:... and https:... */
    KEEL__CK_BOGUS,   /* the parse left a bare token (a str, not a Check): calling it raises; a leaf */
} keel__ck_type_t;

typedef struct keel__node_s {
    uint8_t type;
    uint32_t end;  /* index one past this node's subtree */
    uint32_t leaf; /* leaves[] index of RULE/ROLE/GENERIC/HTTP */
} keel__node_t;

typedef struct keel__leaf_s {
    char *text; /* "kind:match", which is also the check's str() */
    size_t len, kindlen;
    keel__pol_fmt_t *fmt; /* the match ("http:" + match for HTTP) */
    bool https;
    /* ROLE: match.lower() when the match has no % directive */
    char *lower;
    size_t lowerlen;
    bool lower_ascii;
    /* GENERIC: the literal_eval() verdict on the kind */
    keel__lit_kind_t lit;
    char *littext;
    size_t litlen;
    const char *litwhy;
    /* GENERIC: kind.split('.') as offsets into text */
    uint32_t *segoff, *seglen;
    uint32_t nsegs;
    /* RULE: index into the rule's refs */
    uint32_t ref;
} keel__leaf_t;

struct keel_policy_rule_s {
    int refcount;
    keel__node_t *nodes;
    uint32_t nnodes;
    keel__leaf_t *leaves;
    uint32_t nleaves;
    /* Names of rule:NAME checks, one per RULE leaf, borrowed from leaves. */
    const char **refs;
    uint32_t nrefs;
    bool parse_failed;
    bool bad_check; /* a "kind:match" check had no ':' and became "!" */
    char *source;   /* the text of a rule that failed to parse or left a bare token, for lint */
};

/** Takes another reference to r. */
keel_policy_rule_t *keel__pol_rule_ref(const keel_policy_rule_t *r);

/** OrCheck([a, b]) as a new rule (a deprecated default OR'd with its new one). */
int keel__pol_rule_or2(const keel_policy_rule_t *a, const keel_policy_rule_t *b, keel_policy_rule_t **out);

/* ---- the rule set: oslo.policy's Rules dict ---------------------------- */

typedef struct keel__entry_s {
    char *name;
    size_t namelen;
    uint32_t hash;
    keel_policy_rule_t *rule;
    int32_t *resolved; /* per ref: entry index, or -1 (KeyError: False) */
} keel__entry_t;

typedef struct keel__pol_ruleset_s {
    keel__entry_t *entries;
    size_t n, cap;
    uint32_t *slots; /* open addressing: entry index + 1, 0 = empty */
    size_t nslots;
    char *default_rule;
    bool linked;
} keel__pol_ruleset_t;

void keel__pol_ruleset_init(keel__pol_ruleset_t *rs);
void keel__pol_ruleset_free(keel__pol_ruleset_t *rs);
/** Empties the set, keeping default_rule. */
void keel__pol_ruleset_clear(keel__pol_ruleset_t *rs);
/** Index of name, or -1. */
int32_t keel__pol_ruleset_find(const keel__pol_ruleset_t *rs, const char *name, size_t len);
/** rules[name]: the name, else the default rule (Rules.__missing__), else -1. */
int32_t keel__pol_ruleset_lookup(const keel__pol_ruleset_t *rs, const char *name, size_t len);
/**
 * Sets name to rule (takes a new reference), keeping the position of an
 * existing name as a dict does. Returns 0 or KEEL_ENOMEM.
 */
int keel__pol_ruleset_set(keel__pol_ruleset_t *rs, const char *name, size_t len, keel_policy_rule_t *rule);
int keel__pol_ruleset_set_default(keel__pol_ruleset_t *rs, const char *name);
/** Resolves every rule:NAME to its entry (or the default rule). Returns 0 or KEEL_ENOMEM. */
int keel__pol_ruleset_link(keel__pol_ruleset_t *rs);

/* ---- loading documents ------------------------------------------------- */

/* First byte of a document key that was not a str in Python (see yaml.c). */
#define KEEL__POL_NONSTR_KEY '\xff'

/**
 * oslo.policy's parse_file_contents(): JSON if it parses as JSON, else
 * YAML (PyYAML safe_load's types), then `parsed or {}`. On success *out is
 * a new reference to a JSON object. Returns 0, KEEL_EPARSE (why in err) or
 * KEEL_ENOMEM.
 */
int keel__pol_parse_document(const char *data, size_t len, json_t **out, keel_buf_t *err);

/** YAML to jansson with PyYAML's safe_load types. */
int keel__pol_yaml_load(const char *data, size_t len, json_t **out, keel_buf_t *err);

/** Rules.load(): parses every value of doc into rs (overwrite or update). */
int keel__pol_ruleset_load_doc(keel__pol_ruleset_t *rs, const json_t *doc, bool overwrite, keel_buf_t *err);

/* ---- evaluation -------------------------------------------------------- */

typedef struct keel__http_req_s keel__http_req_t;

typedef struct keel__eval_s {
    const keel__pol_ruleset_t *rs;
    const json_t *target;
    const json_t *creds;
    /* creds['system'] as enforce() sets it from creds['system_scope'], or NULL */
    const json_t *system;
    const char *current_rule; /* NULL = None */
    const keel_policy_opts_t *opts;
    keel_buf_t *trace;
    int depth;
    const char *why; /* the exception, on KEEL_EVALUE */
} keel__eval_t;

/** Maximum depth of nested checks and rule references before keel gives
 * up as Python's recursion limit would. */
#define KEEL__MAX_EVAL_DEPTH 400

/**
 * Evaluates rule (with resolved refs from its rule set entry, or NULL to
 * look names up). Returns 1 (true), 0 (false) or a negative error:
 * KEEL_EVALUE when oslo.policy would raise, KEEL_ENOMEM.
 */
int keel__pol_eval_rule(keel__eval_t *ev, const keel_policy_rule_t *rule, const int32_t *resolved);

/**
 * python-requests' URL preparation (urllib3 parse_url normalisation and
 * requote_uri). On 0 *out (release with keel__free) is the URL requests
 * would send; KEEL_EVALUE with *why for an invalid URL.
 */
int keel__pol_http_prepare_url(const char *raw, char **out, const char **why);

/** The HttpCheck call; in http.c. Returns 1, 0 or KEEL_EVALUE. */
int keel__pol_http_check(keel__eval_t *ev, const keel__leaf_t *leaf, const char *url, size_t urllen);

/** Appends str() of the subtree at node i. */
int keel__pol_rule_str_at(const keel_policy_rule_t *r, uint32_t i, keel_buf_t *out);

#endif
