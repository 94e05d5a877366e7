/*
 * fuzz_policy_rule.c — the policy module's parsers: oslo.policy rule
 * strings, the %-templates and literal_eval() of generic checks, and whole
 * policy documents (JSON/YAML). The first byte picks the mode; the rest is
 * the input. Besides surviving, each mode checks what it got:
 *
 *   0  rule text: str() of the tree re-parses to the same str() (the
 *      printed form is a fixed point), and enforcing it against a fixed
 *      target and credentials gives allowed, denied or "raises" only
 *      (rules with http: checks are not enforced: no network here);
 *   1  literal_eval of a kind: a value comes with its str() text, nothing
 *      else does;
 *   2  a %-template: the result is the same on a second run and a
 *      constant template never looks at the mapping;
 *   3  a policy document: a loaded policy prints as a JSON object and lints
 *      without error codes other than "found something".
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../../src/policy/policy_int.h"
#include "keel/policy.h"

static json_t *target, *creds;

static void init(void)
{
    if (target)
        return;
    target = json_loads("{\"project_id\": \"p1\", \"user.id\": \"u1\", \"n\": 5, \"f\": 1.5, \"s\": \"a b\", "
                        "\"l\": [1, \"x\"], \"d\": {\"k\": null}, \"b\": true}",
                        0, NULL);
    creds = json_loads("{\"roles\": [\"admin\", \"Member\"], \"project_id\": \"p1\", \"user\": {\"id\": \"u1\"}, "
                       "\"a\": [{\"b\": \"x\"}, {\"b\": 2}], \"system_scope\": \"all\", \"is_admin\": false}",
                       0, NULL);
    KEEL_ASSERT(target && creds);
}

/* True when a printed token is a quoted string: such a check does not
 * survive printing (oslo.policy would read it back as a 'string' token). */
static bool has_quoted_token(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == '('))
            i++;
        size_t start = i;
        while (i < n && s[i] != ' ')
            i++;
        size_t end = i;
        while (end > start && s[end - 1] == ')')
            end--;
        if (i - start >= 2 && (s[start] == '"' || s[start] == '\'') && s[i - 1] == s[start])
            return true;
        if (end - start >= 2 && (s[start] == '"' || s[start] == '\'') && s[end - 1] == s[start])
            return true;
    }
    return false;
}

static void fuzz_rule(const char *text, size_t len)
{
    keel_policy_rule_t *r;
    int rc = keel_policy_rule_parse(text, len, &r);
    KEEL_ASSERT(rc == 0 || rc == KEEL_EINVAL || rc == KEEL_ENOMEM);
    if (rc != 0)
        return;
    keel_buf_t s1, s2;
    keel_buf_init(&s1);
    keel_buf_init(&s2);
    KEEL_ASSERT(keel_policy_rule_str(r, &s1) == 0);
    if (keel_policy_rule_parse_failed(r))
        KEEL_ASSERT(s1.len == 1 && s1.base[0] == '!');
    keel_policy_rule_t *again;
    /* A bare token prints as its value, which is not a token any more. */
    bool bare = r->nodes[0].type == KEEL__CK_BOGUS;
    if (!keel_policy_rule_parse_failed(r) && !bare && !has_quoted_token(s1.base, s1.len) &&
        keel_policy_rule_parse(s1.base, s1.len, &again) == 0) {
        KEEL_ASSERT(keel_policy_rule_str(again, &s2) == 0);
        if (s1.len != s2.len || memcmp(s1.base, s2.base, s1.len) != 0) {
            fprintf(stderr, "not a fixed point: %s -> %s\n", s1.base, s2.base);
            KEEL_ASSERT(!"str(parse(str(rule))) == str(rule)");
        }
        keel_policy_rule_free(again);
    }
    keel_policy_enforcer_t *e;
    /* http: checks would reach out to the network: decide only the rest. */
    if (strstr(s1.base, "http") == NULL && keel_policy_enforcer_new(&e, NULL) == 0) {
        keel_policy_result_t res = {0};
        rc = keel_policy_enforce_rule(e, r, target, creds, &res);
        KEEL_ASSERT(rc == 0 || rc == KEEL_EACCES || rc == KEEL_EVALUE || rc == KEEL_ENOMEM);
        keel_policy_enforcer_free(e);
    }
    keel_buf_free(&s1);
    keel_buf_free(&s2);
    keel_policy_rule_free(r);
}

static void fuzz_kind(const char *text, size_t len)
{
    keel__lit_kind_t k;
    char *out = NULL;
    size_t n = 0;
    if (keel__pol_literal_eval(text, len, &k, &out, &n, NULL) != 0)
        return;
    KEEL_ASSERT(k == KEEL__LIT_VALUE ? out != NULL && strlen(out) <= n : out == NULL);
    keel__free(out);
}

static void fuzz_template(const char *text, size_t len)
{
    keel__pol_fmt_t *f;
    if (keel__pol_fmt_compile(text, len, &f) != 0)
        return;
    char st1[64], st2[64];
    keel__pol_sbuf_t a, b;
    keel__pol_sbuf_init(&a, st1, sizeof(st1));
    keel__pol_sbuf_init(&b, st2, sizeof(st2));
    const char *o1, *o2;
    size_t n1 = 0, n2 = 0;
    int r1 = keel__pol_fmt_apply(f, target, &a, &o1, &n1, NULL);
    int r2 = keel__pol_fmt_apply(f, target, &b, &o2, &n2, NULL);
    KEEL_ASSERT(r1 == r2);
    KEEL_ASSERT(r1 == 0 || r1 == KEEL_ENOENT || r1 == KEEL_EVALUE || r1 == KEEL_ENOMEM);
    if (r1 == 0)
        KEEL_ASSERT(n1 == n2 && memcmp(o1, o2, n1) == 0);
    if (keel__pol_fmt_is_constant(f)) {
        keel__pol_sbuf_t c;
        keel__pol_sbuf_init(&c, NULL, 0);
        const char *o3;
        size_t n3;
        KEEL_ASSERT(keel__pol_fmt_apply(f, NULL, &c, &o3, &n3, NULL) == r1);
        keel__pol_sbuf_free(&c);
    }
    keel__pol_sbuf_free(&a);
    keel__pol_sbuf_free(&b);
    keel__pol_fmt_free(f);
}

static void fuzz_document(const char *text, size_t len)
{
    keel_policy_enforcer_t *e;
    if (keel_policy_enforcer_new(&e, NULL) != 0)
        return;
    int rc = keel_policy_set_rules_text(e, text, len, true);
    KEEL_ASSERT(rc == 0 || rc == KEEL_EPARSE || rc == KEEL_EINVAL || rc == KEEL_ENOMEM);
    if (rc == 0) {
        keel_buf_t out;
        keel_buf_init(&out);
        KEEL_ASSERT(keel_policy_rules_str(e, &out) == 0);
        json_t *j = json_loadb(out.base, out.len, 0, NULL);
        KEEL_ASSERT(json_is_object(j) || keel_policy_rule_count(e) > 0);
        json_decref(j);
        keel_buf_free(&out);
        rc = keel_policy_lint(e, NULL, NULL);
        KEEL_ASSERT(rc == 0 || rc == KEEL_EVALUE);
        for (size_t i = 0; i < keel_policy_rule_count(e) && i < 8 && memmem(text, len, "http", 4) == NULL; i++) {
            rc = keel_policy_enforce(e, keel_policy_rule_name(e, i), target, creds, NULL);
            KEEL_ASSERT(rc == 0 || rc == KEEL_EACCES || rc == KEEL_EVALUE || rc == KEEL_ENOMEM);
        }
    }
    keel_policy_enforcer_free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init();
    if (size == 0 || size > 4096)
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    switch (data[0] % 4) {
    case 0:
        fuzz_rule(text, len);
        break;
    case 1:
        fuzz_kind(text, len);
        break;
    case 2:
        fuzz_template(text, len);
        break;
    case 3:
        fuzz_document(text, len);
        break;
    }
    return 0;
}
