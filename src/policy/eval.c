/*
 * eval.c — the rule set (oslo.policy's Rules dict with its default-rule
 * fallback) and the evaluator of compiled rules, with the optional trace.
 *
 * Evaluation follows oslo.policy's Check.__call__ methods one for one,
 * including what they let escape: a KeyError while formatting a role or
 * generic match makes the check False, every other exception (and an HTTP
 * check's KeyError) propagates, which keel reports as KEEL_EVALUE. Rule
 * references are resolved to entry indices when the set changes (link), so
 * a decision does no hashing and no allocation unless a value has to be
 * rendered (a non-string credential) or is longer than the stack buffers.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "policy_int.h"

/* ---- rule set ---------------------------------------------------------- */

/* A word-at-a-time multiplicative hash: rule names are long and alike
 * ("os_compute_api:servers:index"), and a byte-serial hash showed up as the
 * largest cost of a decision. */
static uint32_t hash_name(const char *s, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    uint64_t w;
    while (n >= 8) {
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
    return (uint32_t)(h ^ (h >> 32));
}

void keel__pol_ruleset_init(keel__pol_ruleset_t *rs)
{
    memset(rs, 0, sizeof(*rs));
}

void keel__pol_ruleset_clear(keel__pol_ruleset_t *rs)
{
    for (size_t i = 0; i < rs->n; i++) {
        keel__free(rs->entries[i].name);
        keel_policy_rule_free(rs->entries[i].rule);
        keel__free(rs->entries[i].resolved);
    }
    rs->n = 0;
    if (rs->slots)
        memset(rs->slots, 0, rs->nslots * sizeof(*rs->slots));
    rs->linked = false;
}

void keel__pol_ruleset_free(keel__pol_ruleset_t *rs)
{
    keel__pol_ruleset_clear(rs);
    keel__free(rs->entries);
    keel__free(rs->slots);
    keel__free(rs->default_rule);
    memset(rs, 0, sizeof(*rs));
}

int32_t keel__pol_ruleset_find(const keel__pol_ruleset_t *rs, const char *name, size_t len)
{
    if (rs->nslots == 0)
        return -1;
    size_t mask = rs->nslots - 1;
    uint32_t h = hash_name(name, len);
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        uint32_t s = rs->slots[i];
        if (s == 0)
            return -1;
        const keel__entry_t *e = &rs->entries[s - 1];
        if (e->hash == h && e->namelen == len && memcmp(e->name, name, len) == 0)
            return (int32_t)(s - 1);
    }
}

int32_t keel__pol_ruleset_lookup(const keel__pol_ruleset_t *rs, const char *name, size_t len)
{
    int32_t i = keel__pol_ruleset_find(rs, name, len);
    if (i >= 0)
        return i;
    /* Rules.__missing__: a non-empty default_rule that is itself defined. */
    if (rs->default_rule == NULL || rs->default_rule[0] == '\0')
        return -1;
    return keel__pol_ruleset_find(rs, rs->default_rule, strlen(rs->default_rule));
}

static int rehash(keel__pol_ruleset_t *rs, size_t nslots)
{
    uint32_t *slots = keel__calloc(nslots, sizeof(*slots));
    if (slots == NULL)
        return KEEL_ENOMEM;
    for (size_t e = 0; e < rs->n; e++) {
        size_t i = rs->entries[e].hash & (nslots - 1);
        while (slots[i])
            i = (i + 1) & (nslots - 1);
        slots[i] = (uint32_t)e + 1;
    }
    keel__free(rs->slots);
    rs->slots = slots;
    rs->nslots = nslots;
    return 0;
}

int keel__pol_ruleset_set(keel__pol_ruleset_t *rs, const char *name, size_t len, keel_policy_rule_t *rule)
{
    rs->linked = false;
    int32_t i = keel__pol_ruleset_find(rs, name, len);
    if (i >= 0) {
        keel_policy_rule_t *old = rs->entries[i].rule;
        rs->entries[i].rule = keel__pol_rule_ref(rule);
        keel_policy_rule_free(old);
        return 0;
    }
    if (rs->n == rs->cap) {
        size_t nc = rs->cap ? rs->cap * 2 : 16;
        keel__entry_t *e = keel__realloc(rs->entries, nc * sizeof(*e));
        if (e == NULL)
            return KEEL_ENOMEM;
        rs->entries = e;
        rs->cap = nc;
    }
    if ((rs->n + 1) * 2 > rs->nslots) {
        int rc = rehash(rs, rs->nslots ? rs->nslots * 2 : 32);
        if (rc != 0)
            return rc;
    }
    char *nm = keel__strndup(name, len);
    if (nm == NULL)
        return KEEL_ENOMEM;
    keel__entry_t *e = &rs->entries[rs->n];
    e->name = nm;
    e->namelen = len;
    e->hash = hash_name(nm, len);
    e->rule = keel__pol_rule_ref(rule);
    e->resolved = NULL;
    size_t mask = rs->nslots - 1;
    size_t s = e->hash & mask;
    while (rs->slots[s])
        s = (s + 1) & mask;
    rs->slots[s] = (uint32_t)rs->n + 1;
    rs->n++;
    return 0;
}

int keel__pol_ruleset_set_default(keel__pol_ruleset_t *rs, const char *name)
{
    char *d = NULL;
    if (name) {
        d = keel__strdup(name);
        if (d == NULL)
            return KEEL_ENOMEM;
    }
    keel__free(rs->default_rule);
    rs->default_rule = d;
    rs->linked = false;
    return 0;
}

int keel__pol_ruleset_link(keel__pol_ruleset_t *rs)
{
    for (size_t i = 0; i < rs->n; i++) {
        keel__entry_t *e = &rs->entries[i];
        keel__free(e->resolved);
        e->resolved = NULL;
        if (e->rule->nrefs == 0)
            continue;
        e->resolved = keel__malloc(e->rule->nrefs * sizeof(int32_t));
        if (e->resolved == NULL)
            return KEEL_ENOMEM;
        for (uint32_t k = 0; k < e->rule->nrefs; k++) {
            const char *nm = e->rule->refs[k];
            e->resolved[k] = keel__pol_ruleset_lookup(rs, nm, strlen(nm));
        }
    }
    rs->linked = true;
    return 0;
}

/* ---- trace ------------------------------------------------------------- */

static void trace_line(keel__eval_t *ev, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The arguments are not even evaluated when nobody asked for a trace. */
#define trace(ev, ...)                                                                                                             \
    do {                                                                                                                           \
        if ((ev)->trace)                                                                                                           \
            trace_line((ev), __VA_ARGS__);                                                                                         \
    } while (0)

static void trace_line(keel__eval_t *ev, const char *fmt, ...)
{
    for (int i = 0; i < ev->depth; i++)
        keel_buf_puts(ev->trace, "  ");
    va_list ap;
    va_start(ap, fmt);
    keel_buf_vprintf(ev->trace, fmt, ap);
    va_end(ap);
    keel_buf_putc(ev->trace, '\n');
}

static const char *verdict(int r)
{
    return r > 0 ? "true" : r == 0 ? "false" : "raises";
}

static int raise(keel__eval_t *ev, const char *why)
{
    ev->why = why;
    return KEEL_EVALUE;
}

/* ---- checks ------------------------------------------------------------ */

/* a.lower() == b.lower() without allocating when both are ASCII. */
static int lower_equal(const char *a, size_t al, bool a_lowered, bool a_ascii, const char *b, size_t bl)
{
    if (a_ascii && al != bl && keel__pol_is_ascii(b, bl))
        return 0;
    if (a_ascii && keel__pol_is_ascii(b, bl)) {
        if (al != bl)
            return 0;
        for (size_t i = 0; i < al; i++) {
            char x = a[i], y = b[i];
            if (x >= 'A' && x <= 'Z')
                x = (char)(x + 32);
            if (y >= 'A' && y <= 'Z')
                y = (char)(y + 32);
            if (x != y)
                return 0;
        }
        return 1;
    }
    char s1[128], s2[128];
    keel__pol_sbuf_t la, lb;
    keel__pol_sbuf_init(&la, s1, sizeof(s1));
    keel__pol_sbuf_init(&lb, s2, sizeof(s2));
    int rc = a_lowered ? keel__pol_sbuf_append(&la, a, al) : keel__pol_lower(&la, a, al);
    if (rc == 0)
        rc = keel__pol_lower(&lb, b, bl);
    if (rc == 0)
        rc = la.len == lb.len && memcmp(la.base, lb.base, la.len) == 0;
    keel__pol_sbuf_free(&la);
    keel__pol_sbuf_free(&lb);
    return rc;
}

static int role_check(keel__eval_t *ev, const keel__leaf_t *lf)
{
    char st[256];
    keel__pol_sbuf_t scratch;
    keel__pol_sbuf_init(&scratch, st, sizeof(st));
    const char *m = NULL, *why = NULL;
    size_t ml = 0;
    int rc;
    bool lowered = lf->lower != NULL;
    bool ascii;
    if (lowered) {
        m = lf->lower;
        ml = lf->lowerlen;
        rc = 0;
    } else {
        rc = keel__pol_fmt_apply(lf->fmt, ev->target, &scratch, &m, &ml, &why);
    }
    if (rc == KEEL_ENOENT) {
        trace(ev, "%s -> false (a key of the match is not in the target)", lf->text);
        rc = 0;
        goto out;
    }
    if (rc == KEEL_EVALUE) {
        trace(ev, "%s -> raises (%s)", lf->text, why);
        rc = raise(ev, why);
        goto out;
    }
    if (rc != 0)
        goto out;
    ascii = lowered ? lf->lower_ascii : keel__pol_is_ascii(m, ml);
    const json_t *roles = json_is_object(ev->creds) ? json_object_get(ev->creds, "roles") : NULL;
    if (roles == NULL) {
        trace(ev, "%s -> false (the credentials have no roles)", lf->text);
        goto out;
    }
    /* [x.lower() for x in creds['roles']] runs over every item before `in`. */
    if (json_is_array(roles)) {
        for (size_t i = 0; i < json_array_size(roles); i++)
            if (!json_is_string(json_array_get(roles, i))) {
                trace(ev, "%s -> raises (a role is not a string)", lf->text);
                rc = raise(ev, "AttributeError: a role is not a string");
                goto out;
            }
        for (size_t i = 0; i < json_array_size(roles) && rc == 0; i++) {
            const json_t *x = json_array_get(roles, i);
            rc = lower_equal(m, ml, lowered, ascii, json_string_value(x), json_string_length(x));
        }
    } else if (json_is_object(roles)) {
        const char *key;
        size_t klen;
        json_t *v;
        json_object_keylen_foreach((json_t *)roles, key, klen, v)
        {
            (void)v;
            if (rc == 0)
                rc = lower_equal(m, ml, lowered, ascii, key, klen);
        }
    } else if (json_is_string(roles)) {
        /* A string iterates over its characters. */
        const char *s = json_string_value(roles);
        size_t n = json_string_length(roles);
        for (size_t i = 0; i < n && rc == 0;) {
            size_t j = i;
            keel__pol_utf8_next(s, n, &j);
            rc = lower_equal(m, ml, lowered, ascii, s + i, j - i);
            i = j;
        }
    } else {
        trace(ev, "%s -> raises (the roles are not iterable)", lf->text);
        rc = raise(ev, "TypeError: roles are not iterable");
        goto out;
    }
    if (rc >= 0)
        trace(ev, "%s -> %s (%.*s %s among the roles)", lf->text, verdict(rc), (int)ml, m, rc ? "is" : "is not");
out:
    keel__pol_sbuf_free(&scratch);
    return rc;
}

/* match == str(value) */
static int equals_str(const char *m, size_t ml, const json_t *v)
{
    if (json_is_string(v))
        return json_string_length(v) == ml && memcmp(json_string_value(v), m, ml) == 0;
    char st[128];
    keel__pol_sbuf_t b;
    keel__pol_sbuf_init(&b, st, sizeof(st));
    int rc = keel__pol_json_text(&b, v, KEEL__PY_STR);
    if (rc == 0)
        rc = b.len == ml && memcmp(b.base, m, ml) == 0;
    else if (rc == KEEL_EVALUE)
        rc = 0;
    keel__pol_sbuf_free(&b);
    return rc;
}

/* GenericCheck._find_in_dict() */
static int find_in_dict(keel__eval_t *ev, const keel__leaf_t *lf, const json_t *tv, uint32_t seg, const char *m, size_t ml)
{
    if (seg == lf->nsegs)
        return equals_str(m, ml, tv);
    const char *key = lf->text + lf->segoff[seg];
    size_t klen = lf->seglen[seg];
    if (!json_is_object(tv)) {
        if (json_is_string(tv) || json_is_array(tv))
            return raise(ev, "TypeError: indices must be integers");
        return raise(ev, "TypeError: object is not subscriptable");
    }
    const json_t *v;
    if (seg == 0 && ev->system && klen == 6 && memcmp(key, "system", 6) == 0)
        v = ev->system;
    else
        v = json_object_getn(tv, key, klen);
    if (v == NULL)
        return 0;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            int r = find_in_dict(ev, lf, json_array_get(v, i), seg + 1, m, ml);
            if (r != 0)
                return r;
        }
        return 0;
    }
    return find_in_dict(ev, lf, v, seg + 1, m, ml);
}

static int generic_check(keel__eval_t *ev, const keel__leaf_t *lf)
{
    char st[256];
    keel__pol_sbuf_t scratch;
    keel__pol_sbuf_init(&scratch, st, sizeof(st));
    const char *m = NULL, *why = NULL;
    size_t ml = 0;
    int rc = keel__pol_fmt_apply(lf->fmt, ev->target, &scratch, &m, &ml, &why);
    if (rc == KEEL_ENOENT) {
        trace(ev, "%s -> false (a key of the match is not in the target)", lf->text);
        rc = 0;
        goto out;
    }
    if (rc == KEEL_EVALUE) {
        trace(ev, "%s -> raises (%s)", lf->text, why);
        rc = raise(ev, why);
        goto out;
    }
    if (rc != 0)
        goto out;
    switch (lf->lit) {
    case KEEL__LIT_VALUE:
        rc = lf->litlen == ml && memcmp(lf->littext, m, ml) == 0;
        trace(ev, "%s -> %s (literal %s %s %.*s)", lf->text, verdict(rc), lf->littext, rc ? "==" : "!=", (int)ml, m);
        break;
    case KEEL__LIT_RAISES:
    case KEEL__LIT_UNSUPPORTED:
        trace(ev, "%s -> raises (%s)", lf->text, lf->litwhy);
        rc = raise(ev, lf->litwhy);
        break;
    case KEEL__LIT_PATH:
        rc = find_in_dict(ev, lf, ev->creds, 0, m, ml);
        if (rc >= 0)
            trace(ev, "%s -> %s (credentials %.*s %s %.*s)", lf->text, verdict(rc), (int)lf->kindlen, lf->text,
                  rc ? "matches" : "does not match", (int)ml, m);
        else
            trace(ev, "%s -> raises (%s)", lf->text, ev->why);
        break;
    }
out:
    keel__pol_sbuf_free(&scratch);
    return rc;
}

static int http_check(keel__eval_t *ev, const keel__leaf_t *lf)
{
    char st[512];
    keel__pol_sbuf_t scratch;
    keel__pol_sbuf_init(&scratch, st, sizeof(st));
    const char *url = NULL, *why = NULL;
    size_t ul = 0;
    int rc = keel__pol_fmt_apply(lf->fmt, ev->target, &scratch, &url, &ul, &why);
    if (rc == KEEL_ENOENT || rc == KEEL_EVALUE) {
        /* HttpCheck does not catch KeyError. */
        trace(ev, "%s -> raises (%s)", lf->text, why);
        rc = raise(ev, why);
    } else if (rc == 0) {
        rc = keel__pol_http_check(ev, lf, url, ul);
        trace(ev, "%s -> %s (POST %.*s%s%s)", lf->text, verdict(rc), (int)ul, url, rc < 0 ? ": " : "", rc < 0 ? ev->why : "");
    }
    keel__pol_sbuf_free(&scratch);
    return rc;
}

/* ---- the tree ---------------------------------------------------------- */

static int eval_node(keel__eval_t *ev, const keel_policy_rule_t *r, const int32_t *resolved, uint32_t i);

static int rule_check(keel__eval_t *ev, const keel_policy_rule_t *r, const int32_t *resolved, const keel__leaf_t *lf)
{
    const char *name = r->refs[lf->ref];
    int32_t idx = -1;
    if (ev->rs)
        idx = resolved ? resolved[lf->ref] : keel__pol_ruleset_lookup(ev->rs, name, strlen(name));
    if (idx < 0) {
        trace(ev, "%s -> false (no such rule and no default rule)", lf->text);
        return 0;
    }
    const keel__entry_t *e = &ev->rs->entries[idx];
    if (ev->trace) {
        bool dflt = strcmp(e->name, name) != 0;
        trace(ev, "%s: rule \"%s\"%s", lf->text, e->name, dflt ? " (the default rule)" : "");
    }
    ev->depth++;
    int rc = eval_node(ev, e->rule, e->resolved, 0);
    ev->depth--;
    trace(ev, "%s -> %s", lf->text, verdict(rc));
    return rc;
}

static int eval_node(keel__eval_t *ev, const keel_policy_rule_t *r, const int32_t *resolved, uint32_t i)
{
    const keel__node_t *n = &r->nodes[i];
    if (ev->depth > KEEL__MAX_EVAL_DEPTH)
        return raise(ev, "RecursionError: maximum recursion depth exceeded");
    int rc;
    switch (n->type) {
    case KEEL__CK_TRUE:
        trace(ev, "@ -> true");
        return 1;
    case KEEL__CK_FALSE:
        trace(ev, "! -> false");
        return 0;
    case KEEL__CK_BOGUS:
        trace(ev, "%s -> raises (a bare string, not a check)", r->leaves[n->leaf].text);
        return raise(ev, "AttributeError: 'str' object has no attribute '__call__'");
    case KEEL__CK_NOT:
        trace(ev, "not");
        ev->depth++;
        rc = eval_node(ev, r, resolved, i + 1);
        ev->depth--;
        if (rc >= 0)
            rc = !rc;
        trace(ev, "not -> %s", verdict(rc));
        return rc;
    case KEEL__CK_AND:
    case KEEL__CK_OR: {
        bool is_and = n->type == KEEL__CK_AND;
        trace(ev, "%s", is_and ? "and" : "or");
        ev->depth++;
        rc = is_and ? 1 : 0;
        for (uint32_t k = i + 1; k < n->end; k = r->nodes[k].end) {
            int v = eval_node(ev, r, resolved, k);
            if (v < 0 || (is_and && v == 0) || (!is_and && v == 1)) {
                rc = v;
                break;
            }
        }
        ev->depth--;
        trace(ev, "%s -> %s", is_and ? "and" : "or", verdict(rc));
        return rc;
    }
    case KEEL__CK_RULE:
        return rule_check(ev, r, resolved, &r->leaves[n->leaf]);
    case KEEL__CK_ROLE:
        return role_check(ev, &r->leaves[n->leaf]);
    case KEEL__CK_GENERIC:
        return generic_check(ev, &r->leaves[n->leaf]);
    case KEEL__CK_HTTP:
        return http_check(ev, &r->leaves[n->leaf]);
    }
    return raise(ev, "corrupt rule");
}

int keel__pol_eval_rule(keel__eval_t *ev, const keel_policy_rule_t *rule, const int32_t *resolved)
{
    return eval_node(ev, rule, resolved, 0);
}
