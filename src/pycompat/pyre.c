/*
 * pyre.c — Python 3.11 regular expressions on PCRE2 (see pyre.h).
 *
 * The parser follows re/_parser.py step by step — the same tokenizer with
 * its one-token lookahead, the same order of checks — so a pattern fails
 * here exactly where, and with the same kind of exception as, it fails in
 * Python. It builds a small tree, checks what Python's compiler checks
 * (fixed-width look-behinds, the TEMPLATE flag), then writes PCRE2 syntax
 * in which nothing depends on PCRE2's own defaults: flags are scoped per
 * item, characters are \x{...}, Python's \s, \Z, $ and the ASCII flag are
 * spelled out. Parse errors unwind with longjmp; every allocation is
 * recorded in an arena so nothing leaks on that path.
 *
 * Python decodes undecodable argument bytes to U+DC80..U+DCFF, which
 * PCRE2 cannot hold in UTF mode. Both the subject and the pattern map those
 * to U+10FF80..U+10FFFF (private use, like the surrogates in every class
 * re knows), so '.', [^x] or \udcff behave as in Python.
 *
 * The PCRE2 contexts are made once, behind a mutex, and allocate through
 * keel__malloc; a failed creation is retried on the next call instead of
 * being remembered.
 */
#include "pyre.h"

#include <pthread.h>
#include <setjmp.h>
#include <string.h>

#include "pynum.h"
#include "pystr.h"

#define MAXREPEAT 4294967295ull
#define MAXGROUPS 1073741823ull
#define PCRE_MAX_REPEAT 65535u
#define NO_LOOKBEHIND ((size_t)-1)

/* Python's SRE_FLAG_* values, so the code reads like _parser.py. */
enum {
    F_T = 1, /* TEMPLATE */
    F_I = 2,
    F_L = 4,
    F_M = 8,
    F_S = 16,
    F_U = 32,
    F_X = 64,
    F_A = 256,
    F_TYPE = F_A | F_L | F_U,
    F_GLOBAL = F_T,
};

enum { OP_LIT, OP_IN, OP_ANY, OP_AT, OP_REPEAT, OP_GROUP, OP_ATOMIC, OP_ASSERT, OP_GROUPREF, OP_GROUPREF_EXISTS, OP_BRANCH };
enum { AT_BEGIN, AT_END, AT_BEGIN_STRING, AT_END_STRING, AT_BOUNDARY, AT_NON_BOUNDARY };
enum { CAT_DIGIT, CAT_NOT_DIGIT, CAT_SPACE, CAT_NOT_SPACE, CAT_WORD, CAT_NOT_WORD };
enum { R_GREEDY, R_LAZY, R_POSSESSIVE };

typedef struct node node_t;

typedef struct {
    node_t **items;
    size_t n, cap;
} seq_t;

/* One class member: a code point range, or a category when cat >= 0. */
typedef struct {
    uint32_t lo, hi;
    int cat;
} citem_t;

struct node {
    int op;
    unsigned flags; /* the flags in effect where the item stands */
    uint32_t cp;    /* OP_LIT */
    int at;         /* OP_AT */
    citem_t *cls;   /* OP_IN */
    size_t ncls;
    bool negate;
    uint64_t min, max; /* OP_REPEAT; max == MAXREPEAT is unbounded */
    int rkind;
    node_t *item;     /* OP_REPEAT */
    seq_t *sub, *no;  /* groups, assertions; GROUPREF_EXISTS yes/no */
    seq_t **branches; /* OP_BRANCH */
    size_t nbranches;
    size_t gid; /* GROUP (0: not capturing), GROUPREF, GROUPREF_EXISTS */
    int dir;    /* OP_ASSERT: 1 ahead, -1 behind */
};

typedef struct {
    uint64_t lo, hi;
} width_t;

/* One token of the pattern: a character, or "\" and a character. */
typedef struct {
    bool end;
    bool esc;
    uint32_t ch;
} tok_t;

typedef struct {
    jmp_buf jb;
    int err;
    keel_buf_t *why;
    keel_vec_t arena;
    /* Tokenizer */
    const char *s;
    size_t len;
    size_t index;      /* where the token after `next` starts */
    size_t next_start; /* where `next` starts (Tokenizer.tell()) */
    tok_t next;
    /* State */
    unsigned gflags;
    size_t ngroups; /* including group 0 */
    width_t *gwidth;
    bool *gclosed;
    size_t gcap;
    keel_vec_t names; /* char * "name", index i names group gids[i] */
    size_t *gids;
    size_t lookbehindgroups;
    keel_vec_t grouprefs; /* condition group numbers, as (void *)(uintptr_t) */
} P;

struct keel__pyre_s {
    pcre2_code *code;
    char *pcre; /* the translated pattern */
};

/* ---- errors and memory ---------------------------------------------- */

static _Noreturn void raise(P *p, int err, const char *msg)
{
    p->err = err;
    if (p->why && msg) {
        keel_buf_puts(p->why, msg);
        keel_buf_printf(p->why, " at position %zu", p->next_start);
    }
    longjmp(p->jb, 1);
}

static void *alloc(P *p, size_t size)
{
    void *m = keel__calloc(1, size);
    if (!m || keel_vec_push(&p->arena, m) != 0) {
        keel__free(m);
        raise(p, KEEL_ENOMEM, NULL);
    }
    return m;
}

static void *grow(P *p, void *old, size_t size)
{
    void *m = alloc(p, size);
    (void)old; /* old stays in the arena and is freed with it */
    return m;
}

static seq_t *new_seq(P *p)
{
    return alloc(p, sizeof(seq_t));
}

static void seq_push(P *p, seq_t *q, node_t *n)
{
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 4;
        node_t **items = grow(p, q->items, cap * sizeof(*items));
        if (q->n)
            memcpy(items, q->items, q->n * sizeof(*items));
        q->items = items;
        q->cap = cap;
    }
    q->items[q->n++] = n;
}

static node_t *new_node(P *p, int op, unsigned flags)
{
    node_t *n = alloc(p, sizeof(node_t));
    n->op = op;
    n->flags = flags;
    return n;
}

/* ---- tokenizer (re/_parser.py Tokenizer) ----------------------------- */

static void advance(P *p)
{
    p->next_start = p->index;
    if (p->index >= p->len) {
        p->next.end = true;
        return;
    }
    uint32_t cp;
    size_t n = keel__py_next_cp(p->s + p->index, p->len - p->index, &cp);
    p->next.end = false;
    p->next.esc = false;
    if (cp == '\\') {
        if (p->index + n >= p->len) {
            p->next_start = p->len;
            raise(p, KEEL_EINVAL, "bad escape (end of pattern)");
        }
        size_t m = keel__py_next_cp(p->s + p->index + n, p->len - p->index - n, &cp);
        n += m;
        p->next.esc = true;
    }
    p->next.ch = cp;
    p->index += n;
}

static tok_t get(P *p)
{
    tok_t t = p->next;
    if (!t.end)
        advance(p);
    return t;
}

static bool is(const P *p, uint32_t ch)
{
    return !p->next.end && !p->next.esc && p->next.ch == ch;
}

static bool match(P *p, uint32_t ch)
{
    if (is(p, ch)) {
        advance(p);
        return true;
    }
    return false;
}

static bool plain(tok_t t, uint32_t ch)
{
    return !t.end && !t.esc && t.ch == ch;
}

static bool next_in(const P *p, const char *set)
{
    return !p->next.end && !p->next.esc && p->next.ch < 128 && p->next.ch && strchr(set, (int)p->next.ch);
}

static void seek(P *p, size_t index)
{
    p->index = index;
    advance(p);
}

/* getwhile(n, charset): up to n plain characters from set; returns how many. */
static size_t getwhile(P *p, size_t n, const char *set, uint32_t *digits)
{
    size_t k = 0;
    while (k < n && next_in(p, set)) {
        digits[k++] = get(p).ch;
    }
    return k;
}

/* getuntil(): the bytes up to the terminator, as a span of the pattern. */
static void getuntil(P *p, uint32_t term, const char *what, const char **name, size_t *nlen)
{
    size_t start = p->next_start;
    for (;;) {
        size_t before = p->next_start;
        tok_t c = get(p);
        if (c.end) {
            if (before == start)
                raise(p, KEEL_EINVAL, what);
            raise(p, KEEL_EINVAL, "missing terminator, unterminated name");
        }
        if (plain(c, term)) {
            if (before == start)
                raise(p, KEEL_EINVAL, what);
            *name = p->s + start;
            *nlen = before - start;
            return;
        }
    }
}

/* ---- state (re/_parser.py State) ------------------------------------ */

static size_t opengroup(P *p, const char *name, size_t nlen)
{
    size_t gid = p->ngroups;
    if (gid + 1 > p->gcap) {
        size_t cap = p->gcap ? p->gcap * 2 : 8;
        width_t *w = grow(p, p->gwidth, cap * sizeof(*w));
        bool *c = grow(p, p->gclosed, cap * sizeof(*c));
        if (p->ngroups) {
            memcpy(w, p->gwidth, p->ngroups * sizeof(*w));
            memcpy(c, p->gclosed, p->ngroups * sizeof(*c));
        }
        p->gwidth = w;
        p->gclosed = c;
        p->gcap = cap;
    }
    p->gclosed[gid] = false;
    p->ngroups++;
    if (p->ngroups > MAXGROUPS)
        raise(p, KEEL_EINVAL, "too many groups");
    if (name) {
        for (size_t i = 0; i < p->names.len; i++) {
            const char *q = p->names.items[i];
            if (strlen(q) == nlen && memcmp(q, name, nlen) == 0)
                raise(p, KEEL_EINVAL, "redefinition of group name");
        }
        char *copy = alloc(p, nlen + 1);
        memcpy(copy, name, nlen);
        size_t *gids = grow(p, p->gids, (p->names.len + 1) * sizeof(size_t));
        if (p->names.len)
            memcpy(gids, p->gids, p->names.len * sizeof(size_t));
        gids[p->names.len] = gid;
        p->gids = gids;
        if (keel_vec_push(&p->names, copy) != 0)
            raise(p, KEEL_ENOMEM, NULL);
    }
    return gid;
}

static bool lookup_group(const P *p, const char *name, size_t nlen, size_t *gid)
{
    for (size_t i = 0; i < p->names.len; i++) {
        const char *q = p->names.items[i];
        if (strlen(q) == nlen && memcmp(q, name, nlen) == 0) {
            *gid = p->gids[i];
            return true;
        }
    }
    return false;
}

static bool checkgroup(const P *p, size_t gid)
{
    return gid < p->ngroups && p->gclosed[gid];
}

static void checklookbehindgroup(P *p, size_t gid)
{
    if (p->lookbehindgroups != NO_LOOKBEHIND) {
        if (!checkgroup(p, gid))
            raise(p, KEEL_EINVAL, "cannot refer to an open group");
        if (gid >= p->lookbehindgroups)
            raise(p, KEEL_EINVAL, "cannot refer to group defined in the same lookbehind subpattern");
    }
}

static void checkgroupname(P *p, const char *name, size_t nlen)
{
    if (!keel__py_isidentifier(name, nlen))
        raise(p, KEEL_EINVAL, "bad character in group name");
}

/* ---- widths (SubPattern.getwidth) ------------------------------------ */

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a + b < a ? UINT64_MAX : a + b;
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
    if (a == 0 || b == 0)
        return 0;
    return a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

static width_t seq_width(const P *p, const seq_t *q);

static width_t node_width(const P *p, const node_t *n)
{
    width_t w = {0, 0};
    switch (n->op) {
    case OP_BRANCH: {
        uint64_t i = MAXREPEAT - 1, j = 0;
        for (size_t k = 0; k < n->nbranches; k++) {
            width_t b = seq_width(p, n->branches[k]);
            i = b.lo < i ? b.lo : i;
            j = b.hi > j ? b.hi : j;
        }
        w.lo = i;
        w.hi = j;
        break;
    }
    case OP_ATOMIC:
    case OP_GROUP:
        w = seq_width(p, n->sub);
        break;
    case OP_REPEAT: {
        /* The repeated item is a one-item SubPattern: its width is capped too. */
        width_t c = node_width(p, n->item);
        c.lo = c.lo < MAXREPEAT - 1 ? c.lo : MAXREPEAT - 1;
        c.hi = c.hi < MAXREPEAT ? c.hi : MAXREPEAT;
        w.lo = sat_mul(c.lo, n->min);
        w.hi = sat_mul(c.hi, n->max);
        break;
    }
    case OP_LIT:
    case OP_IN:
    case OP_ANY:
        w.lo = w.hi = 1;
        break;
    case OP_GROUPREF:
        w = p->gwidth[n->gid];
        break;
    case OP_GROUPREF_EXISTS: {
        width_t y = seq_width(p, n->sub);
        if (n->no) {
            width_t o = seq_width(p, n->no);
            y.lo = o.lo < y.lo ? o.lo : y.lo;
            y.hi = o.hi > y.hi ? o.hi : y.hi;
        } else {
            y.lo = 0;
        }
        w = y;
        break;
    }
    default: /* AT, ASSERT */
        break;
    }
    return w;
}

static width_t seq_width(const P *p, const seq_t *q)
{
    width_t w = {0, 0};
    for (size_t i = 0; i < q->n; i++) {
        width_t c = node_width(p, q->items[i]);
        w.lo = sat_add(w.lo, c.lo);
        w.hi = sat_add(w.hi, c.hi);
    }
    w.lo = w.lo < MAXREPEAT - 1 ? w.lo : MAXREPEAT - 1;
    w.hi = w.hi < MAXREPEAT ? w.hi : MAXREPEAT;
    return w;
}

/* ---- escapes ---------------------------------------------------------- */

static int hexval(uint32_t c)
{
    if (c >= '0' && c <= '9')
        return (int)(c - '0');
    if (c >= 'a' && c <= 'f')
        return (int)(c - 'a' + 10);
    return (int)(c - 'A' + 10);
}

static bool ascii_letter(uint32_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static const char HEX[] = "0123456789abcdefABCDEF";
static const char OCT[] = "01234567";
static const char DIG[] = "0123456789";

/* Escapes both contexts share: \a \f \n \r \t \v \\ \x \u \U \N. Returns true if handled. */
static bool common_escape(P *p, uint32_t c, uint32_t *out)
{
    uint32_t d[8];
    size_t k;
    switch (c) {
    case 'a':
        *out = 7;
        return true;
    case 'f':
        *out = 12;
        return true;
    case 'n':
        *out = 10;
        return true;
    case 'r':
        *out = 13;
        return true;
    case 't':
        *out = 9;
        return true;
    case 'v':
        *out = 11;
        return true;
    case '\\':
        *out = '\\';
        return true;
    case 'x':
    case 'u':
    case 'U': {
        size_t want = c == 'x' ? 2 : c == 'u' ? 4 : 8;
        k = getwhile(p, want, HEX, d);
        if (k != want)
            raise(p, KEEL_EINVAL, "incomplete escape");
        uint32_t v = 0;
        for (size_t i = 0; i < k; i++)
            v = v * 16 + (uint32_t)hexval(d[i]);
        if (v > 0x10FFFF)
            raise(p, KEEL_EINVAL, "bad escape \\U");
        *out = v;
        return true;
    }
    case 'N': {
        if (!match(p, '{'))
            raise(p, KEEL_EINVAL, "missing {");
        const char *name;
        size_t nlen;
        getuntil(p, '}', "missing character name", &name, &nlen);
        /* Valid or not, keel has no Unicode name table: deny. */
        raise(p, KEEL_ENOTSUP, "\\N{...} escapes are not supported");
    }
    default:
        return false;
    }
}

/* _class_escape(): an escape inside [...]. */
static citem_t class_escape(P *p, tok_t t)
{
    citem_t it = {0, 0, -1};
    uint32_t c = t.ch, v;
    if (c == 'b') {
        it.lo = it.hi = 8;
        return it;
    }
    switch (c) {
    case 'd':
        it.cat = CAT_DIGIT;
        return it;
    case 'D':
        it.cat = CAT_NOT_DIGIT;
        return it;
    case 's':
        it.cat = CAT_SPACE;
        return it;
    case 'S':
        it.cat = CAT_NOT_SPACE;
        return it;
    case 'w':
        it.cat = CAT_WORD;
        return it;
    case 'W':
        it.cat = CAT_NOT_WORD;
        return it;
    default:
        break;
    }
    if (common_escape(p, c, &v)) {
        it.lo = it.hi = v;
        return it;
    }
    if (c >= '0' && c <= '7') {
        uint32_t d[2];
        size_t k = getwhile(p, 2, OCT, d);
        uint32_t val = c - '0';
        for (size_t i = 0; i < k; i++)
            val = val * 8 + (d[i] - '0');
        if (val > 0377)
            raise(p, KEEL_EINVAL, "octal escape value outside of range 0-0o377");
        it.lo = it.hi = val;
        return it;
    }
    if ((c >= '8' && c <= '9') || ascii_letter(c))
        raise(p, KEEL_EINVAL, "bad escape");
    it.lo = it.hi = c;
    return it;
}

static node_t *lit(P *p, uint32_t cp, unsigned flags)
{
    node_t *n = new_node(p, OP_LIT, flags);
    n->cp = cp;
    return n;
}

static node_t *category(P *p, int cat, unsigned flags)
{
    node_t *n = new_node(p, OP_IN, flags);
    n->cls = alloc(p, sizeof(citem_t));
    n->cls[0].cat = cat;
    n->ncls = 1;
    return n;
}

static node_t *at(P *p, int kind, unsigned flags)
{
    node_t *n = new_node(p, OP_AT, flags);
    n->at = kind;
    return n;
}

/* _escape(): an escape outside a class. */
static node_t *escape(P *p, tok_t t, unsigned flags)
{
    uint32_t c = t.ch, v;
    switch (c) {
    case 'A':
        return at(p, AT_BEGIN_STRING, flags);
    case 'b':
        return at(p, AT_BOUNDARY, flags);
    case 'B':
        return at(p, AT_NON_BOUNDARY, flags);
    case 'Z':
        return at(p, AT_END_STRING, flags);
    case 'd':
        return category(p, CAT_DIGIT, flags);
    case 'D':
        return category(p, CAT_NOT_DIGIT, flags);
    case 's':
        return category(p, CAT_SPACE, flags);
    case 'S':
        return category(p, CAT_NOT_SPACE, flags);
    case 'w':
        return category(p, CAT_WORD, flags);
    case 'W':
        return category(p, CAT_NOT_WORD, flags);
    default:
        break;
    }
    if (common_escape(p, c, &v))
        return lit(p, v, flags);
    if (c == '0') {
        uint32_t d[2];
        size_t k = getwhile(p, 2, OCT, d);
        uint32_t val = 0;
        for (size_t i = 0; i < k; i++)
            val = val * 8 + (d[i] - '0');
        return lit(p, val, flags);
    }
    if (c >= '1' && c <= '9') {
        uint32_t e[3] = {c, 0, 0};
        size_t ne = 1;
        if (next_in(p, DIG)) {
            e[ne++] = get(p).ch;
            if (e[0] <= '7' && e[1] <= '7' && next_in(p, OCT)) {
                e[ne++] = get(p).ch;
                uint32_t val = (e[0] - '0') * 64 + (e[1] - '0') * 8 + (e[2] - '0');
                if (val > 0377)
                    raise(p, KEEL_EINVAL, "octal escape value outside of range 0-0o377");
                return lit(p, val, flags);
            }
        }
        size_t group = 0;
        for (size_t i = 0; i < ne; i++)
            group = group * 10 + (e[i] - '0');
        if (group < p->ngroups) {
            if (!checkgroup(p, group))
                raise(p, KEEL_EINVAL, "cannot refer to an open group");
            checklookbehindgroup(p, group);
            node_t *n = new_node(p, OP_GROUPREF, flags);
            n->gid = group;
            return n;
        }
        raise(p, KEEL_EINVAL, "invalid group reference");
    }
    if (ascii_letter(c))
        raise(p, KEEL_EINVAL, "bad escape");
    return lit(p, c, flags);
}

/* ---- the grammar (_parse_sub, _parse, _parse_flags) ------------------ */

static seq_t *parse(P *p, bool verbose, int nested, bool first, unsigned flags);

static unsigned combine(unsigned flags, unsigned add, unsigned del)
{
    if (add & F_TYPE)
        flags &= ~(unsigned)F_TYPE;
    return (flags | add) & ~del;
}

static seq_t *parse_sub(P *p, bool verbose, int nested, unsigned flags)
{
    seq_t *items = new_seq(p);
    for (;;) {
        unsigned f = nested ? flags : p->gflags;
        node_t *holder = new_node(p, OP_GROUP, f);
        holder->sub = parse(p, verbose, nested + 1, !nested && items->n == 0, f);
        seq_push(p, items, holder);
        if (!match(p, '|'))
            break;
        if (!nested)
            verbose = (p->gflags & F_X) != 0;
    }
    if (items->n == 1)
        return items->items[0]->sub;
    seq_t *sp = new_seq(p);
    node_t *br = new_node(p, OP_BRANCH, flags);
    br->nbranches = items->n;
    br->branches = alloc(p, items->n * sizeof(seq_t *));
    for (size_t i = 0; i < items->n; i++)
        br->branches[i] = items->items[i]->sub;
    seq_push(p, sp, br);
    return sp;
}

static unsigned flag_of(tok_t t)
{
    if (t.end || t.esc)
        return 0;
    switch (t.ch) {
    case 'i':
        return F_I;
    case 'L':
        return F_L;
    case 'm':
        return F_M;
    case 's':
        return F_S;
    case 'x':
        return F_X;
    case 'a':
        return F_A;
    case 't':
        return F_T;
    case 'u':
        return F_U;
    default:
        return 0;
    }
}

/* Returns true for global flags "(?i)", false for scoped "(?i-m:". */
static bool parse_flags(P *p, tok_t ch, unsigned *addp, unsigned *delp)
{
    unsigned add = 0, del = 0;
    if (!plain(ch, '-')) {
        for (;;) {
            unsigned flag = flag_of(ch);
            if (flag == F_L)
                raise(p, KEEL_EINVAL, "bad inline flags: cannot use 'L' flag with a str pattern");
            add |= flag;
            if ((flag & F_TYPE) && (add & F_TYPE) != flag)
                raise(p, KEEL_EINVAL, "bad inline flags: flags 'a', 'u' and 'L' are incompatible");
            ch = get(p);
            if (ch.end)
                raise(p, KEEL_EINVAL, "missing -, : or )");
            if (plain(ch, ')') || plain(ch, '-') || plain(ch, ':'))
                break;
            if (!flag_of(ch))
                raise(p, KEEL_EINVAL, "unknown flag");
        }
    }
    if (plain(ch, ')')) {
        p->gflags |= add;
        *addp = add;
        *delp = 0;
        return true;
    }
    if (add & F_GLOBAL)
        raise(p, KEEL_EINVAL, "bad inline flags: cannot turn on global flag");
    if (plain(ch, '-')) {
        ch = get(p);
        if (ch.end)
            raise(p, KEEL_EINVAL, "missing flag");
        if (!flag_of(ch))
            raise(p, KEEL_EINVAL, "unknown flag");
        for (;;) {
            unsigned flag = flag_of(ch);
            if (flag & F_TYPE)
                raise(p, KEEL_EINVAL, "bad inline flags: cannot turn off flags 'a', 'u' and 'L'");
            del |= flag;
            ch = get(p);
            if (ch.end)
                raise(p, KEEL_EINVAL, "missing :");
            if (plain(ch, ':'))
                break;
            if (!flag_of(ch))
                raise(p, KEEL_EINVAL, "unknown flag");
        }
    }
    if (del & F_GLOBAL)
        raise(p, KEEL_EINVAL, "bad inline flags: cannot turn off global flag");
    if (add & del)
        raise(p, KEEL_EINVAL, "bad inline flags: flag turned on and off");
    *addp = add;
    *delp = del;
    return false;
}

static void parse_class(P *p, seq_t *sp, unsigned flags)
{
    bool negate = match(p, '^');
    citem_t *items = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        tok_t t = get(p);
        if (t.end)
            raise(p, KEEL_EINVAL, "unterminated character set");
        if (plain(t, ']') && n > 0)
            break;
        citem_t code1;
        if (t.esc) {
            code1 = class_escape(p, t);
        } else {
            code1.lo = code1.hi = t.ch;
            code1.cat = -1;
        }
        citem_t add[2];
        size_t nadd = 0;
        bool done = false;
        if (match(p, '-')) {
            tok_t that = get(p);
            if (that.end)
                raise(p, KEEL_EINVAL, "unterminated character set");
            if (plain(that, ']')) {
                add[nadd++] = code1;
                add[nadd++] = (citem_t){'-', '-', -1};
                done = true;
            } else {
                citem_t code2;
                if (that.esc) {
                    code2 = class_escape(p, that);
                } else {
                    code2.lo = code2.hi = that.ch;
                    code2.cat = -1;
                }
                if (code1.cat >= 0 || code2.cat >= 0 || code2.lo < code1.lo)
                    raise(p, KEEL_EINVAL, "bad character range");
                add[nadd++] = (citem_t){code1.lo, code2.lo, -1};
            }
        } else {
            add[nadd++] = code1;
        }
        if (n + nadd > cap) {
            cap = cap ? cap * 2 : 8;
            citem_t *m = grow(p, items, cap * sizeof(*m));
            if (n)
                memcpy(m, items, n * sizeof(*m));
            items = m;
        }
        for (size_t i = 0; i < nadd; i++)
            items[n++] = add[i];
        if (done)
            break;
    }
    node_t *node = new_node(p, OP_IN, flags);
    node->cls = items;
    node->ncls = n;
    node->negate = negate;
    seq_push(p, sp, node);
}

/* A repeat character was read. Returns false when "{" turns out to be a literal. */
static bool parse_repeat(P *p, seq_t *sp, tok_t t)
{
    size_t here = p->next_start;
    uint64_t min = 0, max = MAXREPEAT;
    if (t.ch == '?') {
        max = 1;
    } else if (t.ch == '+') {
        min = 1;
    } else if (t.ch == '{') {
        if (is(p, '}'))
            return false;
        /* Count digits without bound but keep the value saturated. */
        uint64_t lo = 0, hi = 0;
        size_t nlo = 0, nhi = 0;
        uint32_t d[1] = {0};
        while (next_in(p, DIG)) {
            getwhile(p, 1, DIG, d);
            lo = sat_add(sat_mul(lo, 10), d[0] - '0');
            nlo++;
        }
        if (match(p, ',')) {
            while (next_in(p, DIG)) {
                getwhile(p, 1, DIG, d);
                hi = sat_add(sat_mul(hi, 10), d[0] - '0');
                nhi++;
            }
        } else {
            hi = lo;
            nhi = nlo;
        }
        if (!match(p, '}')) {
            seek(p, here);
            return false;
        }
        if (nlo) {
            min = lo;
            if (min >= MAXREPEAT)
                raise(p, KEEL_ERANGE, "the repetition number is too large");
        }
        if (nhi) {
            max = hi;
            if (max >= MAXREPEAT)
                raise(p, KEEL_ERANGE, "the repetition number is too large");
            if (max < min)
                raise(p, KEEL_EINVAL, "min repeat greater than max repeat");
        }
    }
    node_t *item = sp->n ? sp->items[sp->n - 1] : NULL;
    if (!item || item->op == OP_AT)
        raise(p, KEEL_EINVAL, "nothing to repeat");
    if (item->op == OP_REPEAT)
        raise(p, KEEL_EINVAL, "multiple repeat");
    node_t *r = new_node(p, OP_REPEAT, item->flags);
    r->min = min;
    r->max = max;
    r->item = item;
    if (match(p, '?'))
        r->rkind = R_LAZY;
    else if (match(p, '+'))
        r->rkind = R_POSSESSIVE;
    else
        r->rkind = R_GREEDY;
    sp->items[sp->n - 1] = r;
    return true;
}

/* "(" seen: groups, assertions, comments, flags. Returns false to continue the loop. */
static void parse_group(P *p, seq_t *sp, bool *verbose, int nested, bool first, unsigned *flags)
{
    bool capture = true, atomic = false;
    const char *name = NULL;
    size_t nlen = 0;
    unsigned add = 0, del = 0;
    if (match(p, '?')) {
        tok_t ch = get(p);
        if (ch.end)
            raise(p, KEEL_EINVAL, "unexpected end of pattern");
        if (plain(ch, 'P')) {
            if (match(p, '<')) {
                getuntil(p, '>', "missing group name", &name, &nlen);
                checkgroupname(p, name, nlen);
            } else if (match(p, '=')) {
                getuntil(p, ')', "missing group name", &name, &nlen);
                checkgroupname(p, name, nlen);
                size_t gid;
                if (!lookup_group(p, name, nlen, &gid))
                    raise(p, KEEL_EINVAL, "unknown group name");
                if (!checkgroup(p, gid))
                    raise(p, KEEL_EINVAL, "cannot refer to an open group");
                checklookbehindgroup(p, gid);
                node_t *n = new_node(p, OP_GROUPREF, *flags);
                n->gid = gid;
                seq_push(p, sp, n);
                return;
            } else {
                tok_t c2 = get(p);
                if (c2.end)
                    raise(p, KEEL_EINVAL, "unexpected end of pattern");
                raise(p, KEEL_EINVAL, "unknown extension ?P");
            }
        } else if (plain(ch, ':')) {
            capture = false;
        } else if (plain(ch, '#')) {
            for (;;) {
                if (p->next.end)
                    raise(p, KEEL_EINVAL, "missing ), unterminated comment");
                if (plain(get(p), ')'))
                    break;
            }
            return;
        } else if (plain(ch, '=') || plain(ch, '!') || plain(ch, '<')) {
            int dir = 1;
            size_t saved = NO_LOOKBEHIND;
            bool neg = plain(ch, '!');
            if (plain(ch, '<')) {
                tok_t c2 = get(p);
                if (c2.end)
                    raise(p, KEEL_EINVAL, "unexpected end of pattern");
                if (!plain(c2, '=') && !plain(c2, '!'))
                    raise(p, KEEL_EINVAL, "unknown extension ?<");
                neg = plain(c2, '!');
                dir = -1;
                saved = p->lookbehindgroups;
                if (saved == NO_LOOKBEHIND)
                    p->lookbehindgroups = p->ngroups;
            }
            seq_t *sub = parse_sub(p, *verbose, nested + 1, *flags);
            if (dir < 0 && saved == NO_LOOKBEHIND)
                p->lookbehindgroups = NO_LOOKBEHIND;
            if (!match(p, ')'))
                raise(p, KEEL_EINVAL, "missing ), unterminated subpattern");
            node_t *n = new_node(p, OP_ASSERT, *flags);
            n->dir = dir;
            n->negate = neg;
            n->sub = sub;
            seq_push(p, sp, n);
            return;
        } else if (plain(ch, '(')) {
            const char *cond;
            size_t clen;
            size_t condgroup;
            getuntil(p, ')', "missing group name", &cond, &clen);
            if (keel__py_isidentifier(cond, clen)) {
                if (!lookup_group(p, cond, clen, &condgroup))
                    raise(p, KEEL_EINVAL, "unknown group name");
            } else {
                keel__py_int_t v;
                keel__py_parse_int(cond, clen, &v);
                if (v.status != KEEL__PY_INT_OK || v.negative)
                    raise(p, KEEL_EINVAL, "bad character in group name");
                if (v.value == 0)
                    raise(p, KEEL_EINVAL, "bad group number");
                if (v.saturated || (uint64_t)v.value >= MAXGROUPS)
                    raise(p, KEEL_EINVAL, "invalid group reference");
                condgroup = (size_t)v.value;
                if (keel_vec_push(&p->grouprefs, (void *)(uintptr_t)condgroup) != 0)
                    raise(p, KEEL_ENOMEM, NULL);
            }
            checklookbehindgroup(p, condgroup);
            seq_t *yes = parse(p, *verbose, nested + 1, false, *flags);
            seq_t *no = NULL;
            if (match(p, '|')) {
                no = parse(p, *verbose, nested + 1, false, *flags);
                if (is(p, '|'))
                    raise(p, KEEL_EINVAL, "conditional backref with more than two branches");
            }
            if (!match(p, ')'))
                raise(p, KEEL_EINVAL, "missing ), unterminated subpattern");
            node_t *n = new_node(p, OP_GROUPREF_EXISTS, *flags);
            n->gid = condgroup;
            n->sub = yes;
            n->no = no;
            seq_push(p, sp, n);
            return;
        } else if (plain(ch, '>')) {
            capture = false;
            atomic = true;
        } else if (flag_of(ch) || plain(ch, '-')) {
            if (parse_flags(p, ch, &add, &del)) {
                if (!first || sp->n)
                    raise(p, KEEL_EINVAL, "global flags not at the start of the expression");
                *verbose = (p->gflags & F_X) != 0;
                *flags |= add;
                return;
            }
            capture = false;
        } else {
            raise(p, KEEL_EINVAL, "unknown extension");
        }
    }
    size_t gid = 0;
    if (capture)
        gid = opengroup(p, name, nlen);
    bool sub_verbose = (*verbose || (add & F_X)) && !(del & F_X);
    seq_t *sub = parse_sub(p, sub_verbose, nested + 1, combine(*flags, add, del));
    if (!match(p, ')'))
        raise(p, KEEL_EINVAL, "missing ), unterminated subpattern");
    if (gid) {
        p->gwidth[gid] = seq_width(p, sub);
        p->gclosed[gid] = true;
    }
    node_t *n = new_node(p, atomic ? OP_ATOMIC : OP_GROUP, *flags);
    n->gid = gid;
    n->sub = sub;
    seq_push(p, sp, n);
}

static seq_t *parse(P *p, bool verbose, int nested, bool first, unsigned flags)
{
    seq_t *sp = new_seq(p);
    for (;;) {
        if (p->next.end || is(p, '|') || is(p, ')'))
            break;
        tok_t t = get(p);
        if (verbose && !t.esc) {
            if (t.ch == ' ' || (t.ch >= '\t' && t.ch <= '\r'))
                continue;
            if (t.ch == '#') {
                for (;;) {
                    tok_t c = get(p);
                    if (c.end || plain(c, '\n'))
                        break;
                }
                continue;
            }
        }
        if (t.esc) {
            seq_push(p, sp, escape(p, t, flags));
            continue;
        }
        switch (t.ch) {
        case '[':
            parse_class(p, sp, flags);
            break;
        case '*':
        case '+':
        case '?':
        case '{':
            if (!parse_repeat(p, sp, t))
                seq_push(p, sp, lit(p, '{', flags)); /* "{" that is not a repeat */
            break;
        case '.':
            seq_push(p, sp, new_node(p, OP_ANY, flags));
            break;
        case '(':
            parse_group(p, sp, &verbose, nested, first, &flags);
            break;
        case '^':
            seq_push(p, sp, at(p, AT_BEGIN, flags));
            break;
        case '$':
            seq_push(p, sp, at(p, AT_END, flags));
            break;
        default:
            seq_push(p, sp, lit(p, t.ch, flags));
            break;
        }
    }
    return sp;
}

/* ---- Python's compiler checks --------------------------------------- */

static void check_seq(P *p, const seq_t *q);

static void check_node(P *p, const node_t *n)
{
    switch (n->op) {
    case OP_REPEAT:
        if (p->gflags & F_T)
            raise(p, KEEL_EINVAL, "internal: unsupported template operator");
        check_node(p, n->item);
        break;
    case OP_ASSERT:
        if (n->dir < 0) {
            width_t w = seq_width(p, n->sub);
            if (w.lo != w.hi)
                raise(p, KEEL_EINVAL, "look-behind requires fixed-width pattern");
        }
        check_seq(p, n->sub);
        break;
    case OP_GROUP:
    case OP_ATOMIC:
        check_seq(p, n->sub);
        break;
    case OP_GROUPREF_EXISTS:
        check_seq(p, n->sub);
        if (n->no)
            check_seq(p, n->no);
        break;
    case OP_BRANCH:
        for (size_t i = 0; i < n->nbranches; i++)
            check_seq(p, n->branches[i]);
        break;
    default:
        break;
    }
}

static void check_seq(P *p, const seq_t *q)
{
    for (size_t i = 0; i < q->n; i++)
        check_node(p, q->items[i]);
}

/* ---- writing PCRE2 --------------------------------------------------- */

typedef struct {
    P *p;
    keel_buf_t *out;
} W;

static void wputs(W *w, const char *s)
{
    if (keel_buf_puts(w->out, s) != 0)
        raise(w->p, KEEL_ENOMEM, NULL);
}

/* A code point as PCRE2 text; the surrogates Python gives undecodable bytes move to U+10FF80. */
static void wcp(W *w, uint32_t cp)
{
    int rc;
    if (cp >= 0xDC80 && cp <= 0xDCFF)
        cp = 0x10FF80 + (cp - 0xDC80);
    if ((cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z'))
        rc = keel_buf_putc(w->out, (char)cp);
    else
        rc = keel_buf_printf(w->out, "\\x{%X}", (unsigned)cp);
    if (rc != 0)
        raise(w->p, KEEL_ENOMEM, NULL);
}

static bool unmatchable(uint32_t cp)
{
    return cp >= 0xD800 && cp <= 0xDFFF && !(cp >= 0xDC80 && cp <= 0xDCFF);
}

typedef struct {
    uint32_t lo, hi;
} range_t;

typedef struct {
    range_t *r;
    size_t n, cap;
} ranges_t;

static void radd(W *w, ranges_t *rs, uint32_t lo, uint32_t hi)
{
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 16;
        range_t *m = grow(w->p, rs->r, cap * sizeof(*m));
        if (rs->n)
            memcpy(m, rs->r, rs->n * sizeof(*m));
        rs->r = m;
        rs->cap = cap;
    }
    rs->r[rs->n].lo = lo;
    rs->r[rs->n].hi = hi;
    rs->n++;
}

/* Adds [lo, hi] minus the surrogates PCRE2 cannot hold, mapping U+DC80..U+DCFF. */
static void radd_mapped(W *w, ranges_t *rs, uint32_t lo, uint32_t hi)
{
    if (lo <= 0xD7FF)
        radd(w, rs, lo, hi < 0xD7FF ? hi : 0xD7FF);
    uint32_t a = lo > 0xDC80 ? lo : 0xDC80, b = hi < 0xDCFF ? hi : 0xDCFF;
    if (a <= b)
        radd(w, rs, 0x10FF80 + (a - 0xDC80), 0x10FF80 + (b - 0xDC80));
    if (hi >= 0xE000)
        radd(w, rs, lo > 0xE000 ? lo : 0xE000, hi);
}

/* Adds the ranges of a table, or of its complement over all code points. */
static void radd_table(W *w, ranges_t *rs, const uint32_t (*t)[2], size_t n, bool complement)
{
    if (!complement) {
        for (size_t i = 0; i < n; i++)
            radd_mapped(w, rs, t[i][0], t[i][1]);
        return;
    }
    uint32_t next = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i][0] > next)
            radd_mapped(w, rs, next, t[i][0] - 1);
        next = t[i][1] + 1;
    }
    if (next <= 0x10FFFF)
        radd_mapped(w, rs, next, 0x10FFFF);
}

static const uint32_t ascii_digit[][2] = {{'0', '9'}};
static const uint32_t ascii_word[][2] = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
static const uint32_t ascii_space[][2] = {{'\t', '\r'}, {' ', ' '}};

static void write_class(W *w, const citem_t *items, size_t n, bool negate, unsigned flags)
{
    bool ascii = (flags & F_A) != 0;
    bool icase = (flags & F_I) != 0;
    ranges_t rs = {0};
    unsigned esc = 0; /* bit k: escape k of uni_esc[] */
    static const char *const uni_esc[4] = {"\\d", "\\D", "\\w", "\\W"};
    for (size_t i = 0; i < n; i++) {
        const citem_t *it = &items[i];
        if (it->cat < 0) {
            radd_mapped(w, &rs, it->lo, it->hi);
            continue;
        }
        size_t tn;
        switch (it->cat) {
        case CAT_DIGIT:
        case CAT_NOT_DIGIT:
            if (ascii)
                radd_table(w, &rs, ascii_digit, 1, it->cat == CAT_NOT_DIGIT);
            else
                esc |= it->cat == CAT_DIGIT ? 1u : 2u;
            break;
        case CAT_WORD:
        case CAT_NOT_WORD:
            /* PCRE2's UCP \\w is exactly str.isalnum() or "_" (checked by tests/pycompat/test_pyre.c). */
            if (ascii)
                radd_table(w, &rs, ascii_word, 4, it->cat == CAT_NOT_WORD);
            else
                esc |= it->cat == CAT_WORD ? 4u : 8u;
            break;
        default: /* CAT_SPACE, CAT_NOT_SPACE */
            if (ascii) {
                radd_table(w, &rs, ascii_space, 2, it->cat == CAT_NOT_SPACE);
            } else {
                const uint32_t(*t)[2] = keel__py_table(KEEL__PY_TABLE_SPACE, &tn);
                radd_table(w, &rs, t, tn, it->cat == CAT_NOT_SPACE);
            }
            break;
        }
    }
    if (icase && ascii) {
        /* re's ASCII IGNORECASE: a character matches if its ASCII lower case is in the set. */
        size_t m = rs.n;
        for (size_t i = 0; i < m; i++) {
            uint32_t lo = rs.r[i].lo, hi = rs.r[i].hi;
            uint32_t a = lo > 'a' ? lo : 'a', b = hi < 'z' ? hi : 'z';
            if (a <= b)
                radd(w, &rs, a - 32, b - 32);
            a = lo > 'A' ? lo : 'A', b = hi < 'Z' ? hi : 'Z';
            if (a <= b)
                radd(w, &rs, a + 32, b + 32);
        }
    }
    if (rs.n == 0 && esc == 0) {
        wputs(w, negate ? "(?s:.)" : "(?!)");
        return;
    }
    if (icase && !ascii)
        wputs(w, "(?i:");
    wputs(w, negate ? "[^" : "[");
    for (unsigned k = 0; k < 4; k++)
        if (esc & (1u << k))
            wputs(w, uni_esc[k]);
    for (size_t i = 0; i < rs.n; i++) {
        if (keel_buf_printf(w->out, rs.r[i].lo == rs.r[i].hi ? "\\x{%X}" : "\\x{%X}-\\x{%X}", (unsigned)rs.r[i].lo,
                            (unsigned)rs.r[i].hi) != 0)
            raise(w->p, KEEL_ENOMEM, NULL);
    }
    wputs(w, "]");
    if (icase && !ascii)
        wputs(w, ")");
}

static void write_seq(W *w, const seq_t *q);

#define ASCII_W "[A-Za-z0-9_]"

static void write_node(W *w, const node_t *n)
{
    unsigned f = n->flags;
    switch (n->op) {
    case OP_LIT:
        if (unmatchable(n->cp)) {
            wputs(w, "(?!)");
        } else if ((f & F_I) && (f & F_A)) {
            if (ascii_letter(n->cp)) {
                wputs(w, "[");
                wcp(w, n->cp | 32);
                wcp(w, n->cp & ~32u);
                wputs(w, "]");
            } else {
                wcp(w, n->cp);
            }
        } else if (f & F_I) {
            wputs(w, "(?i:");
            wcp(w, n->cp);
            wputs(w, ")");
        } else {
            wcp(w, n->cp);
        }
        break;
    case OP_IN:
        write_class(w, n->cls, n->ncls, n->negate, f);
        break;
    case OP_ANY:
        wputs(w, (f & F_S) ? "(?s:.)" : ".");
        break;
    case OP_AT:
        switch (n->at) {
        case AT_BEGIN:
            wputs(w, (f & F_M) ? "(?m:^)" : "\\A");
            break;
        case AT_END:
            wputs(w, (f & F_M) ? "(?m:$)" : "\\Z");
            break;
        case AT_BEGIN_STRING:
            wputs(w, "\\A");
            break;
        case AT_END_STRING:
            wputs(w, "\\z");
            break;
        case AT_BOUNDARY:
            wputs(w, (f & F_A) ? "(?:(?<=" ASCII_W ")(?!" ASCII_W ")|(?<!" ASCII_W ")(?=" ASCII_W "))" : "\\b");
            break;
        default: /* AT_NON_BOUNDARY: never true on an empty string in Python */
            wputs(w, (f & F_A) ? "(?!\\A\\z)(?:(?<=" ASCII_W ")(?=" ASCII_W ")|(?<!" ASCII_W ")(?!" ASCII_W "))" : "(?!\\A\\z)\\B");
            break;
        }
        break;
    case OP_REPEAT: {
        if (n->min > PCRE_MAX_REPEAT || (n->max != MAXREPEAT && n->max > PCRE_MAX_REPEAT))
            raise(w->p, KEEL_ENOTSUP, "repeat count above PCRE2's 65535");
        wputs(w, "(?:");
        write_node(w, n->item);
        wputs(w, ")");
        int rc;
        if (n->max == MAXREPEAT)
            rc = keel_buf_printf(w->out, "{%u,}", (unsigned)n->min);
        else
            rc = keel_buf_printf(w->out, "{%u,%u}", (unsigned)n->min, (unsigned)n->max);
        if (rc != 0)
            raise(w->p, KEEL_ENOMEM, NULL);
        if (n->rkind == R_LAZY)
            wputs(w, "?");
        else if (n->rkind == R_POSSESSIVE)
            wputs(w, "+");
        break;
    }
    case OP_GROUP:
        wputs(w, n->gid ? "(" : "(?:");
        write_seq(w, n->sub);
        wputs(w, ")");
        break;
    case OP_ATOMIC:
        wputs(w, "(?>");
        write_seq(w, n->sub);
        wputs(w, ")");
        break;
    case OP_ASSERT:
        wputs(w, n->dir > 0 ? (n->negate ? "(?!" : "(?=") : (n->negate ? "(?<!" : "(?<="));
        write_seq(w, n->sub);
        wputs(w, ")");
        break;
    case OP_GROUPREF:
        if (keel_buf_printf(w->out, (f & F_I) ? "(?i:\\g{%zu})" : "\\g{%zu}", n->gid) != 0)
            raise(w->p, KEEL_ENOMEM, NULL);
        break;
    case OP_GROUPREF_EXISTS:
        if (keel_buf_printf(w->out, "(?(%zu)", n->gid) != 0)
            raise(w->p, KEEL_ENOMEM, NULL);
        wputs(w, "(?:");
        write_seq(w, n->sub);
        wputs(w, ")");
        if (n->no) {
            wputs(w, "|(?:");
            write_seq(w, n->no);
            wputs(w, ")");
        }
        wputs(w, ")");
        break;
    case OP_BRANCH:
        wputs(w, "(?:");
        for (size_t i = 0; i < n->nbranches; i++) {
            if (i)
                wputs(w, "|");
            write_seq(w, n->branches[i]);
        }
        wputs(w, ")");
        break;
    default:
        break;
    }
}

static void write_seq(W *w, const seq_t *q)
{
    for (size_t i = 0; i < q->n; i++)
        write_node(w, q->items[i]);
}

/* ---- PCRE2 contexts ---------------------------------------------------- */

static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static pcre2_general_context *gctx;
static pcre2_compile_context *cctx;
static pcre2_match_context *mctx;

static void *pcre_malloc(PCRE2_SIZE size, void *data)
{
    (void)data;
    return keel__malloc(size);
}

static void pcre_free(void *ptr, void *data)
{
    (void)data;
    keel__free(ptr);
}

/* Creates the shared contexts on first use. Returns 0 or KEEL_ENOMEM. */
static int contexts(void)
{
    int rc = 0;
    pthread_mutex_lock(&ctx_lock);
    if (gctx == NULL)
        gctx = pcre2_general_context_create(pcre_malloc, pcre_free, NULL);
    if (gctx != NULL && cctx == NULL) {
        cctx = pcre2_compile_context_create(gctx);
        /* Python's '$' and '.' know only "\n" as a line end. */
        if (cctx != NULL)
            pcre2_set_newline(cctx, PCRE2_NEWLINE_LF);
    }
    if (gctx != NULL && mctx == NULL)
        mctx = pcre2_match_context_create(gctx);
    if (gctx == NULL || cctx == NULL || mctx == NULL)
        rc = KEEL_ENOMEM;
    pthread_mutex_unlock(&ctx_lock);
    return rc;
}

int keel__pcre2_compile(const char *pattern, size_t len, uint32_t options, pcre2_code **out, keel_buf_t *why)
{
    *out = NULL;
    int rc = contexts();
    if (rc != 0)
        return rc;
    int err;
    PCRE2_SIZE offset;
    *out = pcre2_compile((PCRE2_SPTR)(pattern ? pattern : ""), len, options, &err, &offset, cctx);
    if (*out != NULL)
        return 0;
    if (err == PCRE2_ERROR_HEAP_FAILED)
        return KEEL_ENOMEM;
    if (why != NULL) {
        PCRE2_UCHAR msg[256];
        if (pcre2_get_error_message(err, msg, sizeof(msg)) < 0)
            strcpy((char *)msg, "unknown error");
        if (keel_buf_puts(why, (const char *)msg) != 0)
            return KEEL_ENOMEM;
    }
    return KEEL_EINVAL;
}

int keel__pcre2_match(const pcre2_code *re, const char *s, size_t len, uint32_t options, size_t *ovector, size_t n)
{
    int rc = contexts();
    if (rc != 0)
        return rc;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, gctx);
    if (md == NULL)
        return KEEL_ENOMEM;
    int m = pcre2_match(re, (PCRE2_SPTR)(s ? s : ""), len, 0, options, md, mctx);
    if (m >= 0) {
        rc = 1;
        if (ovector != NULL) {
            uint32_t have = pcre2_get_ovector_count(md);
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            for (size_t i = 0; i < 2 * n; i++)
                ovector[i] = (i / 2 < have && (m == 0 || i / 2 < (size_t)m)) ? ov[i] : PCRE2_UNSET;
        }
    } else if (m == PCRE2_ERROR_NOMEMORY) {
        rc = KEEL_ENOMEM;
    } else {
        rc = 0; /* no match, or a backtracking limit (see pyre.h) */
    }
    pcre2_match_data_free(md);
    return rc;
}

/* ---- Python patterns ----------------------------------------------------- */

void keel__pyre_free(keel__pyre_t *re)
{
    if (!re)
        return;
    pcre2_code_free(re->code);
    keel__free(re->pcre);
    keel__free(re);
}

/* Translates into out; returns 0 or the error. Kept apart so setjmp sees no live locals. */
static int translate(P *p, keel_buf_t *out)
{
    if (setjmp(p->jb))
        return p->err;
    /* State.groupwidths starts as [None]: group 0 is the whole match. */
    opengroup(p, NULL, 0);
    p->gclosed[0] = false;
    advance(p);
    seq_t *top = parse_sub(p, false, 0, 0);
    if ((p->gflags & F_A) && (p->gflags & F_U)) {
        p->err = KEEL_ERANGE;
        if (p->why)
            keel_buf_puts(p->why, "ASCII and UNICODE flags are incompatible");
        return p->err;
    }
    if (!p->next.end)
        raise(p, KEEL_EINVAL, "unbalanced parenthesis");
    for (size_t i = 0; i < p->grouprefs.len; i++) {
        if ((size_t)(uintptr_t)p->grouprefs.items[i] >= p->ngroups)
            raise(p, KEEL_EINVAL, "invalid group reference");
    }
    check_seq(p, top);
    W w = {p, out};
    write_seq(&w, top);
    return 0;
}

int keel__pyre_compile(const char *pattern, size_t len, keel__pyre_t **out, keel_buf_t *why)
{
    P *p = keel__calloc(1, sizeof(P));
    if (!p)
        return KEEL_ENOMEM;
    p->s = pattern;
    p->len = len;
    p->why = why;
    p->lookbehindgroups = NO_LOOKBEHIND;
    keel_vec_init(&p->arena);
    keel_vec_init(&p->names);
    keel_vec_init(&p->grouprefs);
    keel_buf_t text, msg;
    keel_buf_init(&text);
    keel_buf_init(&msg);
    keel__pyre_t *re = NULL;

    int rc = translate(p, &text);
    if (rc != 0)
        goto out;
    re = keel__calloc(1, sizeof(*re));
    if (!re) {
        rc = KEEL_ENOMEM;
        goto out;
    }
    rc = keel__pcre2_compile(text.base, text.len, PCRE2_UTF | PCRE2_UCP | PCRE2_NEVER_BACKSLASH_C, &re->code, why ? &msg : NULL);
    if (rc == KEEL_EINVAL) {
        rc = KEEL_ENOTSUP;
        if (why)
            keel_buf_printf(why, "PCRE2 refuses the translation: %s", msg.base ? msg.base : "");
    }
    if (rc != 0)
        goto out;
    re->pcre = keel_buf_steal(&text);
    if (!re->pcre) {
        rc = KEEL_ENOMEM;
        goto out;
    }
    *out = re;
    re = NULL;
out:
    keel__pyre_free(re);
    keel_buf_free(&text);
    keel_buf_free(&msg);
    for (size_t i = 0; i < p->arena.len; i++)
        keel__free(p->arena.items[i]);
    keel_vec_free(&p->arena);
    keel_vec_free(&p->names);
    keel_vec_free(&p->grouprefs);
    keel__free(p);
    return rc;
}

int keel__pyre_match(const keel__pyre_t *re, const char *s, size_t len)
{
    keel_buf_t mapped;
    keel_buf_init(&mapped);
    const char *subject = s;
    size_t slen = len;
    int rc;
    if (keel__utf8_invalid_at(s, len) < len) {
        size_t i = 0;
        while (i < len) {
            uint32_t cp;
            size_t n = keel__py_next_cp(s + i, len - i, &cp);
            if (cp >= 0xDC80 && cp <= 0xDCFF && n == 1)
                rc = keel__utf8_put(&mapped, 0x10FF80 + (cp - 0xDC80));
            else
                rc = keel_buf_append(&mapped, s + i, n);
            if (rc != 0) {
                keel_buf_free(&mapped);
                return rc;
            }
            i += n;
        }
        subject = mapped.base;
        slen = mapped.len;
    }
    rc = keel__pcre2_match(re->code, subject, slen, PCRE2_ANCHORED | PCRE2_NO_UTF_CHECK, NULL, 0);
    keel_buf_free(&mapped);
    return rc;
}

int keel__pyre_pcre_pattern(const keel__pyre_t *re, keel_buf_t *out)
{
    return keel_buf_puts(out, re->pcre);
}
