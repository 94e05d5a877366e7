/*
 * parse.c — oslo.policy's rule language: the tokenizer, the greedy
 * shift-reduce parser of _parser.ParseState, the list-of-lists form, and
 * str() of the resulting tree.
 *
 * The parser is a transcription of oslo.policy's algorithm, not a grammar
 * of our own: tokens are shifted onto a stack and after each shift the first
 * matching reduction (in oslo's order) is applied until none matches; the
 * parse succeeds only if exactly one value is left. That keeps every quirk —
 * "a or b and c" grouping through _mix_or_and_expr (which extends an
 * existing AND in place), a lone "and" or "'quoted'" surviving as a bare
 * string that raises when enforced, unbalanced parentheses failing closed —
 * and keeps str() of the tree identical, which oslo.policy compares when it
 * handles deprecated rules and converts files.
 */
#include <string.h>

#include "policy_int.h"
#include "pycompat/pystr.h"

/* Nesting beyond this fails the parse, where Python's parser hits its
 * recursion limit (a chain of ~1000 "not"). */
#define MAX_PARSE_DEPTH 900

typedef struct pnode_s {
    uint8_t type;
    struct pnode_s **kids;
    size_t nkids, cap;
    const char *text; /* leaves: "kind:match" (borrowed from the source) */
    size_t len;
    int depth;
} pnode_t;

typedef struct {
    pnode_t **all; /* every node made, for cleanup */
    size_t n, cap;
    bool oom, too_deep;
    bool bad_check; /* a check without ':' became "!" */
} pool_t;

static pnode_t *pnew(pool_t *p, uint8_t type)
{
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 16;
        pnode_t **a = keel__realloc(p->all, nc * sizeof(*a));
        if (a == NULL) {
            p->oom = true;
            return NULL;
        }
        p->all = a;
        p->cap = nc;
    }
    pnode_t *n = keel__calloc(1, sizeof(*n));
    if (n == NULL) {
        p->oom = true;
        return NULL;
    }
    n->type = type;
    n->depth = 1;
    p->all[p->n++] = n;
    return n;
}

static void pool_free(pool_t *p)
{
    for (size_t i = 0; i < p->n; i++) {
        keel__free(p->all[i]->kids);
        keel__free(p->all[i]);
    }
    keel__free(p->all);
}

static bool padd(pool_t *p, pnode_t *n, pnode_t *kid)
{
    if (n == NULL || kid == NULL)
        return false;
    if (n->nkids == n->cap) {
        size_t nc = n->cap ? n->cap * 2 : 4;
        pnode_t **k = keel__realloc(n->kids, nc * sizeof(*k));
        if (k == NULL) {
            p->oom = true;
            return false;
        }
        n->kids = k;
        n->cap = nc;
    }
    n->kids[n->nkids++] = kid;
    if (kid->depth + 1 > n->depth)
        n->depth = kid->depth + 1;
    if (n->depth > MAX_PARSE_DEPTH)
        p->too_deep = true;
    return true;
}

/* _parse_check(): one "kind:match" (or "@", "!"). */
static pnode_t *parse_check(pool_t *p, const char *s, size_t n)
{
    if (n == 1 && s[0] == '!')
        return pnew(p, KEEL__CK_FALSE);
    if (n == 1 && s[0] == '@')
        return pnew(p, KEEL__CK_TRUE);
    const char *colon = memchr(s, ':', n);
    if (colon == NULL) {
        p->bad_check = true;
        return pnew(p, KEEL__CK_FALSE); /* "Failed to understand rule": fail closed */
    }
    size_t kl = (size_t)(colon - s);
    uint8_t type = KEEL__CK_GENERIC;
    if ((kl == 4 && memcmp(s, "http", 4) == 0) || (kl == 5 && memcmp(s, "https", 5) == 0))
        type = KEEL__CK_HTTP;
    else if (kl == 4 && memcmp(s, "rule", 4) == 0)
        type = KEEL__CK_RULE;
    else if (kl == 4 && memcmp(s, "role", 4) == 0)
        type = KEEL__CK_ROLE;
    pnode_t *node = pnew(p, type);
    if (node) {
        node->text = s;
        node->len = n;
    }
    return node;
}

/* ---- the string form: tokenizer and shift-reduce ------------------------ */

enum { T_LP, T_RP, T_AND, T_OR, T_NOT, T_STRING, T_CHECK, T_AND_EXPR, T_OR_EXPR };

typedef struct {
    uint8_t tok;
    pnode_t *node;   /* check, and_expr, or_expr */
    const char *str; /* the token's value otherwise */
    size_t len;
} item_t;

typedef struct {
    item_t *items;
    size_t n, cap;
} stack_t_;

static const uint8_t reductions[][3] = {
    {T_LP, T_OR_EXPR, T_RP},     {T_LP, T_AND_EXPR, T_RP},     {T_LP, T_CHECK, T_RP},       {T_CHECK, T_AND, T_CHECK},
    {T_OR_EXPR, T_AND, T_CHECK}, {T_AND_EXPR, T_AND, T_CHECK}, {T_AND_EXPR, T_OR, T_CHECK}, {T_CHECK, T_OR, T_CHECK},
    {T_OR_EXPR, T_OR, T_CHECK},  {T_NOT, T_CHECK, 0},
};

static void reduce(pool_t *p, stack_t_ *st)
{
    for (;;) {
        size_t r, len = 0;
        for (r = 0; r < sizeof(reductions) / sizeof(reductions[0]); r++) {
            len = r == 9 ? 2 : 3;
            if (st->n < len)
                continue;
            bool match = true;
            for (size_t k = 0; k < len; k++)
                if (st->items[st->n - len + k].tok != reductions[r][k])
                    match = false;
            if (match)
                break;
        }
        if (r == sizeof(reductions) / sizeof(reductions[0]))
            return;
        item_t *a = &st->items[st->n - len];
        item_t res = {0};
        switch (r) {
        case 0:
        case 1:
        case 2: /* _wrap_check */
            res.tok = T_CHECK;
            res.node = a[1].node;
            break;
        case 3: /* _make_and_expr */
            res.tok = T_AND_EXPR;
            res.node = pnew(p, KEEL__CK_AND);
            padd(p, res.node, a[0].node);
            padd(p, res.node, a[2].node);
            break;
        case 4: { /* _mix_or_and_expr: "A or B and C" */
            pnode_t *orx = a[0].node;
            pnode_t *last = orx->kids[--orx->nkids];
            pnode_t *andx = last;
            if (last->type != KEEL__CK_AND) {
                andx = pnew(p, KEEL__CK_AND);
                padd(p, andx, last);
            }
            padd(p, andx, a[2].node);
            padd(p, orx, andx);
            res.tok = T_OR_EXPR;
            res.node = orx;
            break;
        }
        case 5: /* _extend_and_expr */
            res.tok = T_AND_EXPR;
            res.node = a[0].node;
            padd(p, res.node, a[2].node);
            break;
        case 6:
        case 7: /* _make_or_expr */
            res.tok = T_OR_EXPR;
            res.node = pnew(p, KEEL__CK_OR);
            padd(p, res.node, a[0].node);
            padd(p, res.node, a[2].node);
            break;
        case 8: /* _extend_or_expr */
            res.tok = T_OR_EXPR;
            res.node = a[0].node;
            padd(p, res.node, a[2].node);
            break;
        case 9: /* _make_not_expr */
            res.tok = T_CHECK;
            res.node = pnew(p, KEEL__CK_NOT);
            padd(p, res.node, a[1].node);
            break;
        }
        st->n -= len;
        st->items[st->n++] = res;
        if (p->oom || p->too_deep)
            return;
    }
}

static void shift(pool_t *p, stack_t_ *st, item_t it)
{
    if (p->oom || p->too_deep)
        return;
    if (st->n == st->cap) {
        size_t nc = st->cap ? st->cap * 2 : 16;
        item_t *a = keel__realloc(st->items, nc * sizeof(*a));
        if (a == NULL) {
            p->oom = true;
            return;
        }
        st->items = a;
        st->cap = nc;
    }
    st->items[st->n++] = it;
    reduce(p, st);
}

static bool ci_word(const char *s, size_t n, const char *w)
{
    size_t wl = strlen(w);
    if (n != wl)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c + 32);
        if (c != w[i])
            return false;
    }
    return true;
}

/* _parse_tokenize() feeding ParseState.shift(). */
static void tokenize_and_parse(pool_t *p, stack_t_ *st, const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && !p->oom && !p->too_deep) {
        /* re.split(r'\s+'): whitespace is what str.isspace() says. */
        size_t j = i;
        uint32_t c = keel__pol_utf8_next(s, len, &j);
        if (keel__py_isspace(c)) {
            i = j;
            continue;
        }
        size_t start = i, end = i;
        while (end < len) {
            size_t k = end;
            c = keel__pol_utf8_next(s, len, &k);
            if (keel__py_isspace(c))
                break;
            end = k;
        }
        i = end;
        const char *tok = s + start;
        size_t n = end - start;
        while (n > 0 && tok[0] == '(') {
            shift(p, st, (item_t){.tok = T_LP, .str = "(", .len = 1});
            tok++;
            n--;
        }
        if (n == 0)
            continue;
        size_t clean = n;
        while (clean > 0 && tok[clean - 1] == ')')
            clean--;
        size_t trail = n - clean;
        if (ci_word(tok, clean, "and")) {
            shift(p, st, (item_t){.tok = T_AND, .str = tok, .len = clean});
        } else if (ci_word(tok, clean, "or")) {
            shift(p, st, (item_t){.tok = T_OR, .str = tok, .len = clean});
        } else if (ci_word(tok, clean, "not")) {
            shift(p, st, (item_t){.tok = T_NOT, .str = tok, .len = clean});
        } else if (clean > 0) {
            if (n >= 2 && (tok[0] == '"' || tok[0] == '\'') && tok[n - 1] == tok[0]) {
                /* A quoted token: never reducible, so the parse fails (or
                 * leaves a bare string). The quotes go, trailing ')' stay. */
                shift(p, st, (item_t){.tok = T_STRING, .str = tok + 1, .len = n - 2});
            } else {
                pnode_t *chk = parse_check(p, tok, clean);
                if (chk == NULL)
                    return;
                shift(p, st, (item_t){.tok = T_CHECK, .node = chk});
            }
        }
        for (size_t k = 0; k < trail; k++)
            shift(p, st, (item_t){.tok = T_RP, .str = ")", .len = 1});
    }
}

/* ---- compiling the tree into a rule ------------------------------------ */

static void count(const pnode_t *n, uint32_t *nodes, uint32_t *leaves, uint32_t *refs)
{
    (*nodes)++;
    if (n->type >= KEEL__CK_RULE)
        (*leaves)++;
    if (n->type == KEEL__CK_RULE)
        (*refs)++;
    for (size_t k = 0; k < n->nkids; k++)
        count(n->kids[k], nodes, leaves, refs);
}

static int compile_leaf(keel_policy_rule_t *r, keel__leaf_t *lf, const pnode_t *n)
{
    lf->text = keel__strndup(n->text, n->len);
    if (lf->text == NULL)
        return KEEL_ENOMEM;
    lf->len = n->len;
    if (n->type == KEEL__CK_BOGUS)
        return 0;
    lf->kindlen = (size_t)((const char *)memchr(lf->text, ':', lf->len) - lf->text);
    const char *match = lf->text + lf->kindlen + 1;
    size_t mlen = lf->len - lf->kindlen - 1;
    int rc;
    switch (n->type) {
    case KEEL__CK_RULE:
        lf->ref = r->nrefs;
        r->refs[r->nrefs++] = match;
        return 0;
    case KEEL__CK_HTTP:
        /* ('http:' + match) % target: the template is the check's own text. */
        lf->https = lf->kindlen == 5;
        return keel__pol_fmt_compile(lf->text, lf->len, &lf->fmt);
    case KEEL__CK_ROLE:
        rc = keel__pol_fmt_compile(match, mlen, &lf->fmt);
        if (rc == 0 && keel__pol_fmt_is_constant(lf->fmt)) {
            char st[128];
            keel__pol_sbuf_t scratch, low;
            const char *txt;
            size_t tl;
            keel__pol_sbuf_init(&scratch, st, sizeof(st));
            keel__pol_sbuf_init(&low, NULL, 0);
            rc = keel__pol_fmt_apply(lf->fmt, NULL, &scratch, &txt, &tl, NULL);
            if (rc == 0)
                rc = keel__pol_lower(&low, txt, tl);
            if (rc == 0) {
                lf->lower = keel__strndup(low.base ? low.base : "", low.len);
                lf->lowerlen = low.len;
                lf->lower_ascii = keel__pol_is_ascii(lf->lower ? lf->lower : "", low.len);
                if (lf->lower == NULL)
                    rc = KEEL_ENOMEM;
            }
            keel__pol_sbuf_free(&scratch);
            keel__pol_sbuf_free(&low);
        }
        return rc;
    case KEEL__CK_GENERIC: {
        rc = keel__pol_fmt_compile(match, mlen, &lf->fmt);
        if (rc == 0)
            rc = keel__pol_literal_eval(lf->text, lf->kindlen, &lf->lit, &lf->littext, &lf->litlen, &lf->litwhy);
        if (rc != 0)
            return rc;
        uint32_t nsegs = 1;
        for (size_t k = 0; k < lf->kindlen; k++)
            nsegs += lf->text[k] == '.';
        lf->segoff = keel__malloc(nsegs * sizeof(uint32_t));
        lf->seglen = keel__malloc(nsegs * sizeof(uint32_t));
        if (lf->segoff == NULL || lf->seglen == NULL)
            return KEEL_ENOMEM;
        uint32_t s = 0, k = 0;
        for (uint32_t i = 0; i <= lf->kindlen; i++) {
            if (i == lf->kindlen || lf->text[i] == '.') {
                lf->segoff[k] = s;
                lf->seglen[k] = i - s;
                k++;
                s = i + 1;
            }
        }
        lf->nsegs = nsegs;
        return 0;
    }
    }
    return 0;
}

static int flatten(keel_policy_rule_t *r, const pnode_t *n)
{
    uint32_t me = r->nnodes++;
    keel__node_t *node = &r->nodes[me];
    node->type = n->type;
    if (n->type >= KEEL__CK_RULE) {
        node->leaf = r->nleaves++;
        int rc = compile_leaf(r, &r->leaves[node->leaf], n);
        if (rc != 0)
            return rc;
    }
    for (size_t k = 0; k < n->nkids; k++) {
        int rc = flatten(r, n->kids[k]);
        if (rc != 0)
            return rc;
    }
    r->nodes[me].end = r->nnodes;
    return 0;
}

static keel_policy_rule_t *rule_alloc(void)
{
    keel_policy_rule_t *r = keel__calloc(1, sizeof(*r));
    if (r)
        r->refcount = 1;
    return r;
}

static int rule_from_tree(const pnode_t *root, keel_policy_rule_t **out)
{
    keel_policy_rule_t *r = rule_alloc();
    if (r == NULL)
        return KEEL_ENOMEM;
    uint32_t nn = 0, nl = 0, nr = 0;
    count(root, &nn, &nl, &nr);
    r->nodes = keel__calloc(nn, sizeof(*r->nodes));
    r->leaves = nl ? keel__calloc(nl, sizeof(*r->leaves)) : NULL;
    r->refs = nr ? keel__calloc(nr, sizeof(*r->refs)) : NULL;
    if (r->nodes == NULL || (nl && r->leaves == NULL) || (nr && r->refs == NULL)) {
        keel_policy_rule_free(r);
        return KEEL_ENOMEM;
    }
    int rc = flatten(r, root);
    if (rc != 0) {
        keel_policy_rule_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

static int rule_simple(uint8_t type, bool failed, keel_policy_rule_t **out)
{
    keel_policy_rule_t *r = rule_alloc();
    if (r == NULL)
        return KEEL_ENOMEM;
    r->nodes = keel__calloc(1, sizeof(*r->nodes));
    if (r->nodes == NULL) {
        keel__free(r);
        return KEEL_ENOMEM;
    }
    r->nodes[0].type = type;
    r->nodes[0].end = 1;
    r->nnodes = 1;
    r->parse_failed = failed;
    *out = r;
    return 0;
}

static int rule_bogus(const char *s, size_t len, keel_policy_rule_t **out)
{
    pnode_t leaf = {.type = KEEL__CK_BOGUS, .text = s, .len = len, .depth = 1};
    return rule_from_tree(&leaf, out);
}

int keel_policy_rule_parse(const char *text, size_t len, keel_policy_rule_t **out)
{
    *out = NULL;
    if (len == 0)
        return rule_simple(KEEL__CK_TRUE, false, out); /* "" means always */
    pool_t p = {0};
    stack_t_ st = {0};
    tokenize_and_parse(&p, &st, text, len);
    int rc;
    if (p.oom) {
        rc = KEEL_ENOMEM;
    } else if (p.too_deep) {
        rc = KEEL_EINVAL;
    } else if (st.n != 1) {
        rc = rule_simple(KEEL__CK_FALSE, true, out); /* "Failed to understand rule": fail closed */
    } else if (st.items[0].node) {
        rc = rule_from_tree(st.items[0].node, out);
    } else {
        rc = rule_bogus(st.items[0].str, st.items[0].len, out);
    }
    if (rc == 0)
        (*out)->bad_check = p.bad_check;
    if (rc == 0 && ((*out)->parse_failed || (*out)->bad_check || (*out)->nodes[0].type == KEEL__CK_BOGUS)) {
        (*out)->source = keel__strndup(text, len);
        if ((*out)->source == NULL) {
            keel_policy_rule_free(*out);
            *out = NULL;
            rc = KEEL_ENOMEM;
        }
    }
    keel__free(st.items);
    pool_free(&p);
    return rc;
}

/* ---- the list-of-lists form --------------------------------------------- */

/* _parse_check() of a list item that is not a str: `rule.split` raises
 * AttributeError, which _parse_check catches: FalseCheck. */
static pnode_t *parse_item(pool_t *p, const json_t *item)
{
    if (json_is_string(item))
        return parse_check(p, json_string_value(item), json_string_length(item));
    return pnew(p, KEEL__CK_FALSE);
}

int keel_policy_rule_from_json(const json_t *value, keel_policy_rule_t **out, const char **why)
{
    const char *dummy;
    if (why == NULL)
        why = &dummy;
    *why = NULL;
    *out = NULL;
    if (json_is_string(value))
        return keel_policy_rule_parse(json_string_value(value), json_string_length(value), out);
    if (!keel__pol_truthy(value))
        return rule_simple(KEEL__CK_TRUE, false, out); /* empty rule: always */
    if (!json_is_array(value) && !json_is_object(value)) {
        *why = "TypeError: rule value is not iterable";
        return KEEL_EINVAL;
    }
    pool_t p = {0};
    pnode_t *orx = pnew(&p, KEEL__CK_OR);
    int rc = 0;
    /* A dict iterates over its keys, each a bare string. */
    size_t n = json_is_array(value) ? json_array_size(value) : json_object_size(value);
    void *iter = json_is_object(value) ? json_object_iter((json_t *)value) : NULL;
    for (size_t i = 0; i < n && !p.oom && rc == 0; i++) {
        pnode_t *andx = NULL;
        if (iter) {
            const char *key = json_object_iter_key(iter);
            size_t klen = json_object_iter_key_len(iter);
            iter = json_object_iter_next((json_t *)value, iter);
            if (klen == 0)
                continue;
            if (key[0] == KEEL__POL_NONSTR_KEY) {
                /* None, False and 0 are skipped; any other number or True
                 * is not iterable. */
                static const char *const falsy[] = {"null", "false", "0", "0.0", "-0.0", NULL};
                bool skip = false;
                for (int f = 0; falsy[f]; f++)
                    skip |= klen - 1 == strlen(falsy[f]) && memcmp(key + 1, falsy[f], klen - 1) == 0;
                if (skip)
                    continue;
                *why = "TypeError: rule key is not iterable";
                rc = KEEL_EINVAL;
                break;
            }
            andx = parse_check(&p, key, klen);
            padd(&p, orx, andx);
            continue;
        }
        const json_t *inner = json_array_get(value, i);
        if (!keel__pol_truthy(inner))
            continue;
        if (json_is_string(inner)) {
            andx = parse_item(&p, inner);
        } else if (json_is_array(inner) || json_is_object(inner)) {
            pnode_t *a = pnew(&p, KEEL__CK_AND);
            if (json_is_array(inner)) {
                for (size_t k = 0; k < json_array_size(inner); k++)
                    padd(&p, a, parse_item(&p, json_array_get(inner, k)));
            } else {
                const char *key;
                size_t klen;
                json_t *v;
                json_object_keylen_foreach((json_t *)inner, key, klen, v)
                {
                    (void)v;
                    padd(&p, a, parse_check(&p, key, klen));
                }
            }
            andx = (a && a->nkids == 1) ? a->kids[0] : a;
        } else {
            *why = "TypeError: list item is not iterable";
            rc = KEEL_EINVAL;
        }
        if (rc == 0)
            padd(&p, orx, andx);
    }
    if (rc == 0 && p.oom)
        rc = KEEL_ENOMEM;
    if (rc == 0) {
        if (orx->nkids == 0)
            rc = rule_simple(KEEL__CK_FALSE, false, out);
        else
            rc = rule_from_tree(orx->nkids == 1 ? orx->kids[0] : orx, out);
        if (rc == 0)
            (*out)->bad_check = p.bad_check;
    }
    pool_free(&p);
    return rc;
}

/* ---- life cycle and str() ---------------------------------------------- */

keel_policy_rule_t *keel__pol_rule_ref(const keel_policy_rule_t *r)
{
    keel_policy_rule_t *m = (keel_policy_rule_t *)r;
    __atomic_add_fetch(&m->refcount, 1, __ATOMIC_RELAXED);
    return m;
}

void keel_policy_rule_free(keel_policy_rule_t *r)
{
    if (r == NULL)
        return;
    if (__atomic_sub_fetch(&r->refcount, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    for (uint32_t i = 0; i < r->nleaves; i++) {
        keel__leaf_t *lf = &r->leaves[i];
        keel__free(lf->text);
        keel__pol_fmt_free(lf->fmt);
        keel__free(lf->lower);
        keel__free(lf->littext);
        keel__free(lf->segoff);
        keel__free(lf->seglen);
    }
    keel__free(r->leaves);
    keel__free(r->nodes);
    keel__free(r->refs);
    keel__free(r->source);
    keel__free(r);
}

bool keel_policy_rule_parse_failed(const keel_policy_rule_t *r)
{
    return r->parse_failed;
}

int keel__pol_rule_str_at(const keel_policy_rule_t *r, uint32_t i, keel_buf_t *out)
{
    const keel__node_t *n = &r->nodes[i];
    int rc;
    switch (n->type) {
    case KEEL__CK_TRUE:
        return keel_buf_putc(out, '@');
    case KEEL__CK_FALSE:
        return keel_buf_putc(out, '!');
    case KEEL__CK_NOT:
        rc = keel_buf_puts(out, "not ");
        return rc ? rc : keel__pol_rule_str_at(r, i + 1, out);
    case KEEL__CK_AND:
    case KEEL__CK_OR:
        rc = keel_buf_putc(out, '(');
        for (uint32_t k = i + 1; k < n->end && rc == 0; k = r->nodes[k].end) {
            if (k != i + 1)
                rc = keel_buf_puts(out, n->type == KEEL__CK_AND ? " and " : " or ");
            if (rc == 0)
                rc = keel__pol_rule_str_at(r, k, out);
        }
        return rc ? rc : keel_buf_putc(out, ')');
    default:
        return keel_buf_append(out, r->leaves[n->leaf].text, r->leaves[n->leaf].len);
    }
}

int keel_policy_rule_str(const keel_policy_rule_t *r, keel_buf_t *out)
{
    return keel__pol_rule_str_at(r, 0, out);
}

/* ---- OrCheck([a, b]) ---------------------------------------------------- */

static int copy_into(keel_policy_rule_t *dst, const keel_policy_rule_t *src)
{
    uint32_t base = dst->nnodes, lbase = dst->nleaves;
    for (uint32_t i = 0; i < src->nnodes; i++) {
        keel__node_t n = src->nodes[i];
        n.end += base;
        if (n.type >= KEEL__CK_RULE) {
            const keel__leaf_t *sl = &src->leaves[n.leaf];
            pnode_t leaf = {.type = n.type, .text = sl->text, .len = sl->len, .depth = 1};
            n.leaf = dst->nleaves++;
            int rc = compile_leaf(dst, &dst->leaves[n.leaf], &leaf);
            if (rc != 0)
                return rc;
        }
        dst->nodes[dst->nnodes++] = n;
    }
    (void)lbase;
    return 0;
}

int keel__pol_rule_or2(const keel_policy_rule_t *a, const keel_policy_rule_t *b, keel_policy_rule_t **out)
{
    keel_policy_rule_t *r = rule_alloc();
    if (r == NULL)
        return KEEL_ENOMEM;
    uint32_t nn = 1 + a->nnodes + b->nnodes, nl = a->nleaves + b->nleaves, nr = a->nrefs + b->nrefs;
    r->nodes = keel__calloc(nn, sizeof(*r->nodes));
    r->leaves = nl ? keel__calloc(nl, sizeof(*r->leaves)) : NULL;
    r->refs = nr ? keel__calloc(nr, sizeof(*r->refs)) : NULL;
    int rc = KEEL_ENOMEM;
    if (r->nodes == NULL || (nl && r->leaves == NULL) || (nr && r->refs == NULL))
        goto fail;
    r->nodes[0].type = KEEL__CK_OR;
    r->nodes[0].end = nn;
    r->nnodes = 1;
    if ((rc = copy_into(r, a)) != 0 || (rc = copy_into(r, b)) != 0)
        goto fail;
    *out = r;
    return 0;
fail:
    keel_policy_rule_free(r);
    return rc;
}
