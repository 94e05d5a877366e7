/*
 * lint.c — `keel policy lint`: what is wrong with the rules in force, beyond
 * oslo.policy's own check_rules() (which looks only through and/or, and
 * ignores the default rule): text that did not parse, references to
 * undefined rules anywhere, reference cycles (including through the default
 * rule), rules that can never pass and checks that always raise.
 *
 * Design: "can this rule pass / fail?" is a least fixed point over the
 * reference graph. Each rule starts as "neither", leaves say what they can
 * do (a role check can do both; "True:False" can only fail; a malformed
 * %-directive can only raise), and the and/or/not structure combines them;
 * iterating until nothing changes gives, for rules on a cycle, exactly what
 * evaluation does — a cycle that is followed raises, so it adds nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "policy_int.h"

const keel__pol_ruleset_t *keel__pol_enforcer_rules(const keel_policy_enforcer_t *e);
int keel__pol_enforcer_ensure_loaded(keel_policy_enforcer_t *e);

typedef struct {
    bool t, f; /* can be true, can be false */
} can_t;

static can_t leaf_can(const keel__leaf_t *lf, uint8_t type)
{
    can_t both = {true, true}, none = {false, false};
    bool keys = keel__pol_fmt_has_keys(lf->fmt);
    switch (type) {
    case KEEL__CK_ROLE:
        /* A malformed directive raises, after any KeyError (False). */
        return keel__pol_fmt_has_error(lf->fmt) ? (can_t){false, keys && !keel__pol_fmt_always_raises(lf->fmt)} : both;
    case KEEL__CK_HTTP:
        return keel__pol_fmt_has_error(lf->fmt) ? none : both; /* HttpCheck lets KeyError out */
    case KEEL__CK_GENERIC: {
        if (keel__pol_fmt_has_error(lf->fmt))
            return (can_t){false, keys && !keel__pol_fmt_always_raises(lf->fmt)};
        if (lf->lit == KEEL__LIT_RAISES || lf->lit == KEEL__LIT_UNSUPPORTED)
            return (can_t){false, keys}; /* only a KeyError comes first */
        if (lf->lit == KEEL__LIT_VALUE && keel__pol_fmt_is_constant(lf->fmt)) {
            char st[128];
            keel__pol_sbuf_t b;
            keel__pol_sbuf_init(&b, st, sizeof(st));
            const char *m;
            size_t ml;
            bool eq =
                keel__pol_fmt_apply(lf->fmt, NULL, &b, &m, &ml, NULL) == 0 && ml == lf->litlen && memcmp(m, lf->littext, ml) == 0;
            keel__pol_sbuf_free(&b);
            return (can_t){eq, !eq};
        }
        return both;
    }
    }
    return none;
}

static can_t node_can(const keel__pol_ruleset_t *rs, const can_t *ent, const keel_policy_rule_t *r, const int32_t *resolved,
                      uint32_t i)
{
    const keel__node_t *n = &r->nodes[i];
    switch (n->type) {
    case KEEL__CK_TRUE:
        return (can_t){true, false};
    case KEEL__CK_FALSE:
        return (can_t){false, true};
    case KEEL__CK_BOGUS:
        return (can_t){false, false};
    case KEEL__CK_NOT: {
        can_t k = node_can(rs, ent, r, resolved, i + 1);
        return (can_t){k.f, k.t};
    }
    case KEEL__CK_AND:
    case KEEL__CK_OR: {
        bool is_and = n->type == KEEL__CK_AND;
        /* and: true if all can be true; false if, after a prefix that can
         * be true, one can be false (short-circuit). or: the mirror. */
        bool all_t = true, any_f = false, any_t = false, all_f = true;
        bool reach = true; /* the children so far can let evaluation continue */
        for (uint32_t k = i + 1; k < n->end; k = r->nodes[k].end) {
            can_t c = node_can(rs, ent, r, resolved, k);
            if (is_and) {
                if (reach && c.f)
                    any_f = true;
                all_t = all_t && c.t;
                reach = reach && c.t;
            } else {
                if (reach && c.t)
                    any_t = true;
                all_f = all_f && c.f;
                reach = reach && c.f;
            }
        }
        return is_and ? (can_t){all_t, any_f} : (can_t){any_t, all_f};
    }
    case KEEL__CK_RULE: {
        int32_t idx = resolved ? resolved[r->leaves[n->leaf].ref] : -1;
        return idx < 0 ? (can_t){false, true} : ent[idx];
    }
    default:
        return leaf_can(&r->leaves[n->leaf], n->type);
    }
}

/* Tarjan's strongly connected components over resolved references. */
typedef struct {
    const keel__pol_ruleset_t *rs;
    int32_t *index, *low, *stack;
    bool *on, *cyclic;
    int32_t next, sp;
} scc_t;

static void strongconnect(scc_t *s, int32_t v)
{
    s->index[v] = s->low[v] = s->next++;
    s->stack[s->sp++] = v;
    s->on[v] = true;
    const keel__entry_t *e = &s->rs->entries[v];
    for (uint32_t k = 0; k < e->rule->nrefs; k++) {
        int32_t w = e->resolved ? e->resolved[k] : -1;
        if (w < 0)
            continue;
        if (w == v)
            s->cyclic[v] = true;
        if (s->index[w] < 0) {
            strongconnect(s, w);
            if (s->low[w] < s->low[v])
                s->low[v] = s->low[w];
        } else if (s->on[w] && s->index[w] < s->low[v]) {
            s->low[v] = s->index[w];
        }
    }
    if (s->low[v] == s->index[v]) {
        int32_t count = 0, top = s->sp;
        int32_t w;
        do {
            w = s->stack[--s->sp];
            s->on[w] = false;
            count++;
        } while (w != v);
        if (count > 1)
            for (int32_t k = s->sp; k < top; k++)
                s->cyclic[s->stack[k]] = true;
    }
}

static const char *display(const char *name)
{
    return name[0] == KEEL__POL_NONSTR_KEY ? name + 1 : name;
}

int keel_policy_lint(keel_policy_enforcer_t *e, keel_policy_finding_cb cb, void *data)
{
    int rc = keel__pol_enforcer_ensure_loaded(e);
    if (rc != 0)
        return rc;
    const keel__pol_ruleset_t *rs = keel__pol_enforcer_rules(e);
    size_t n = rs->n;
    bool found = false;
    keel_buf_t msg;
    keel_buf_init(&msg);
    can_t *ent = keel__calloc(n ? n : 1, sizeof(can_t));
    scc_t s = {.rs = rs};
    s.index = keel__malloc((n ? n : 1) * sizeof(int32_t));
    s.low = keel__malloc((n ? n : 1) * sizeof(int32_t));
    s.stack = keel__malloc((n ? n : 1) * sizeof(int32_t));
    s.on = keel__calloc(n ? n : 1, sizeof(bool));
    s.cyclic = keel__calloc(n ? n : 1, sizeof(bool));
    if (!ent || !s.index || !s.low || !s.stack || !s.on || !s.cyclic) {
        rc = KEEL_ENOMEM;
        goto out;
    }
#define REPORT(name, kind, ...)                                                                                                    \
    do {                                                                                                                           \
        found = true;                                                                                                              \
        keel_buf_reset(&msg);                                                                                                      \
        keel_buf_printf(&msg, __VA_ARGS__);                                                                                        \
        if (cb)                                                                                                                    \
            cb(data, display(name), kind, msg.base ? msg.base : "");                                                               \
    } while (0)
    for (size_t i = 0; i < n; i++)
        s.index[i] = -1;
    for (size_t i = 0; i < n; i++)
        if (s.index[i] < 0)
            strongconnect(&s, (int32_t)i);
    /* Least fixed point of can-pass / can-fail. */
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t i = 0; i < n; i++) {
            can_t c = node_can(rs, ent, rs->entries[i].rule, rs->entries[i].resolved, 0);
            if (c.t != ent[i].t || c.f != ent[i].f) {
                ent[i] = c;
                changed = true;
            }
        }
    }
    const char *dflt = rs->default_rule;
    bool have_default = dflt && dflt[0] && keel__pol_ruleset_find(rs, dflt, strlen(dflt)) >= 0;
    for (size_t i = 0; i < n; i++) {
        const keel__entry_t *en = &rs->entries[i];
        const keel_policy_rule_t *r = en->rule;
        if (r->parse_failed)
            REPORT(en->name, "parse", "cannot be parsed, so oslo.policy treats it as \"!\": %s", r->source ? r->source : "");
        else if (r->nodes[0].type == KEEL__CK_BOGUS)
            REPORT(en->name, "raises", "is the bare token \"%s\", which raises when enforced", r->leaves[0].text);
        else if (r->bad_check)
            REPORT(en->name, "parse", "has a check without ':', which oslo.policy treats as \"!\"%s%s", r->source ? ": " : "",
                   r->source ? r->source : "");
        for (uint32_t k = 0; k < r->nrefs; k++) {
            if (keel__pol_ruleset_find(rs, r->refs[k], strlen(r->refs[k])) >= 0)
                continue;
            if (have_default)
                REPORT(en->name, "undefined", "references rule:%s, which is not defined (the default rule %s applies)", r->refs[k],
                       dflt);
            else
                REPORT(en->name, "undefined", "references rule:%s, which is not defined (always false)", r->refs[k]);
        }
        if (s.cyclic[i])
            REPORT(en->name, "cycle", "is part of a cycle of rule references (enforcing it may raise)");
        /* "!" is how operators disable a rule; a failed parse was reported. */
        if (r->parse_failed || r->nodes[0].type == KEEL__CK_BOGUS || r->nodes[0].type == KEEL__CK_FALSE)
            continue;
        if (!ent[i].t && !ent[i].f)
            REPORT(en->name, "raises", "always raises when enforced");
        else if (!ent[i].t)
            REPORT(en->name, "never", "can never pass");
    }
#undef REPORT
out:
    keel_buf_free(&msg);
    keel__free(ent);
    keel__free(s.index);
    keel__free(s.low);
    keel__free(s.stack);
    keel__free(s.on);
    keel__free(s.cyclic);
    if (rc != 0)
        return rc;
    return found ? KEEL_EVALUE : 0;
}
