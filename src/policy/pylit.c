/*
 * pylit.c — ast.literal_eval() of CPython 3.11, reduced to what a policy
 * check's kind can be: one line of text without ':' (the kind ends at the
 * first colon of the check).
 *
 * Three stages, as in CPython: the tokenizer (number, string and name
 * rules, line continuations, bracket nesting up to 200), a recursive-descent
 * parser for the expression grammar (eval mode) that keeps only what
 * literal_eval looks at — constants, containers, unary/binary +/-, set() —
 * and folds every other construct into one "not a literal" node, and the
 * conversion, which raises ValueError, TypeError or gives a value in the
 * same order CPython does. The value is then rendered as str() would.
 *
 * Everything is allocated in one arena released at the end of the call.
 */
#include "pylit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pycompat/pystr.h"
#include "pyobj.h"

/* ---- arena ------------------------------------------------------------ */

typedef struct block_s {
    struct block_s *next;
    size_t used, cap;
    max_align_t data[];
} block_t;

typedef struct {
    block_t *head;
    bool oom;
} arena_t;

static void *aalloc(arena_t *a, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (a->head == NULL || a->head->cap - a->head->used < n) {
        size_t cap = n > 4096 ? n : 4096;
        block_t *b = keel__malloc(sizeof(block_t) + cap);
        if (b == NULL) {
            a->oom = true;
            return NULL;
        }
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    void *p = (char *)a->head->data + a->head->used;
    a->head->used += n;
    memset(p, 0, n);
    return p;
}

static void arena_free(arena_t *a)
{
    while (a->head) {
        block_t *n = a->head->next;
        keel__free(a->head);
        a->head = n;
    }
}

/* ---- values and nodes ------------------------------------------------- */

typedef enum { V_INT, V_FLOAT, V_COMPLEX, V_STR, V_BYTES, V_BOOL, V_NONE, V_ELLIPSIS, V_TUPLE, V_LIST, V_SET, V_DICT } vtype_t;

typedef struct val_s {
    vtype_t t;
    bool neg, b;
    char *s; /* INT: decimal digits; STR/BYTES: contents */
    size_t n;
    double re, im; /* FLOAT: re; COMPLEX: both */
    struct val_s **items;
    size_t nitems;
} val_t;

typedef enum {
    N_CONST,
    N_TUPLE,
    N_LIST,
    N_SET,
    N_DICT,      /* {} */
    N_DICT_STAR, /* {**x, ...}: literal_eval raises ValueError */
    N_SETCALL,   /* set() */
    N_UNARY,     /* + or - */
    N_BINOP,     /* + or - */
    N_NAME,
    N_TRAILER, /* attribute or subscript: assignable */
    N_STARRED,
    N_OTHER, /* anything else: literal_eval raises ValueError */
} ntype_t;

typedef struct node_s {
    ntype_t t;
    char op;
    val_t *v;
    const char *name;
    size_t namelen;
    struct node_s **kids;
    size_t nkids;
} node_t;

/* ---- tokens ------------------------------------------------------------ */

enum { T_NAME, T_NUMBER, T_STRING, T_OP, T_NEWLINE, T_END };

typedef struct {
    int t;
    const char *s; /* source text of names and operators */
    size_t n;
    int kw; /* keyword index + 1 for names, 0 otherwise */
    val_t *v;
    bool fstr, bytes;
} tok_t;

typedef struct {
    arena_t arena;
    const char *src;
    size_t len, pos;
    tok_t *toks;
    size_t ntoks, cap, at;
    int err; /* 0, KEEL__LIT_RAISES or KEEL__LIT_UNSUPPORTED */
    const char *why;
    int depth;
} ctx_t;

static const char *const keywords[] = {"False", "None",     "True",  "and",    "as",   "assert", "async",  "await",    "break",
                                       "class", "continue", "def",   "del",    "elif", "else",   "except", "finally",  "for",
                                       "from",  "global",   "if",    "import", "in",   "is",     "lambda", "nonlocal", "not",
                                       "or",    "pass",     "raise", "return", "try",  "while",  "with",   "yield",    NULL};

static int kw_index(const char *s, size_t n)
{
    for (int k = 0; keywords[k]; k++)
        if (strlen(keywords[k]) == n && memcmp(keywords[k], s, n) == 0)
            return k + 1;
    return 0;
}

#define KW(name) (kw_index(name, sizeof(name) - 1))

static void fail(ctx_t *c, int kind, const char *why)
{
    if (c->err == 0) {
        c->err = kind;
        c->why = why;
    }
}

#define SYNTAX(c, why) fail((c), KEEL__LIT_RAISES, "SyntaxError: " why)

static tok_t *push_tok(ctx_t *c, int t, const char *s, size_t n)
{
    if (c->ntoks == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 16;
        tok_t *p = aalloc(&c->arena, nc * sizeof(*p));
        if (p == NULL)
            return NULL;
        if (c->ntoks)
            memcpy(p, c->toks, c->ntoks * sizeof(*p));
        c->toks = p;
        c->cap = nc;
    }
    tok_t *tk = &c->toks[c->ntoks++];
    memset(tk, 0, sizeof(*tk));
    tk->t = t;
    tk->s = s;
    tk->n = n;
    return tk;
}

static bool is_digit(int ch)
{
    return ch >= '0' && ch <= '9';
}

static bool is_xdigit(int ch)
{
    return is_digit(ch) || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

static bool is_potential_id_char(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || is_digit(ch) || ch == '_' || ch >= 128;
}

static int at(ctx_t *c, size_t i)
{
    return i < c->len ? (unsigned char)c->src[i] : -1;
}

static bool starts(ctx_t *c, size_t i, const char *w)
{
    size_t n = strlen(w);
    return i + n <= c->len && memcmp(c->src + i, w, n) == 0;
}

/* CPython's verify_end_of_number: a number may run into one of the keywords
 * that can follow it ("1if x else y"), not into any other name. */
static bool end_of_number_ok(ctx_t *c, size_t i)
{
    int ch = at(c, i);
    bool r = false;
    if (ch == 'a')
        r = starts(c, i + 1, "nd");
    else if (ch == 'e')
        r = starts(c, i + 1, "lse");
    else if (ch == 'f')
        r = starts(c, i + 1, "or");
    else if (ch == 'i') {
        int c2 = at(c, i + 1);
        r = c2 == 'f' || c2 == 'n' || c2 == 's';
    } else if (ch == 'o')
        r = starts(c, i + 1, "r");
    else if (ch == 'n')
        r = starts(c, i + 1, "ot");
    if (r)
        return true;
    return !is_potential_id_char(ch);
}

/* Digits with single underscores between them, from i (a digit). */
static bool decimal_tail(ctx_t *c, size_t *i)
{
    for (;;) {
        while (is_digit(at(c, *i)))
            (*i)++;
        if (at(c, *i) != '_')
            return true;
        (*i)++;
        if (!is_digit(at(c, *i)))
            return false;
    }
}

/* Converts digits (underscores skipped) in base 2, 8 or 16 to decimal text. */
static char *base_to_decimal(ctx_t *c, const char *s, size_t n, int base, size_t *outlen)
{
    size_t maxlimbs = n / 2 + 2;
    uint32_t *limb = aalloc(&c->arena, maxlimbs * sizeof(uint32_t));
    if (limb == NULL)
        return NULL;
    size_t nl = 0;
    for (size_t k = 0; k < n; k++) {
        int ch = (unsigned char)s[k];
        if (ch == '_')
            continue;
        uint32_t d = is_digit(ch) ? (uint32_t)(ch - '0') : (uint32_t)((ch | 0x20) - 'a' + 10);
        uint64_t carry = d;
        for (size_t j = 0; j < nl; j++) {
            uint64_t v = (uint64_t)limb[j] * (uint64_t)base + carry;
            limb[j] = (uint32_t)(v % 1000000000u);
            carry = v / 1000000000u;
        }
        while (carry) {
            limb[nl++] = (uint32_t)(carry % 1000000000u);
            carry /= 1000000000u;
        }
    }
    char *out = aalloc(&c->arena, nl * 9 + 2);
    if (out == NULL)
        return NULL;
    if (nl == 0) {
        strcpy(out, "0");
        *outlen = 1;
        return out;
    }
    size_t o = (size_t)sprintf(out, "%u", limb[nl - 1]);
    for (size_t j = nl - 1; j-- > 0;)
        o += (size_t)sprintf(out + o, "%09u", limb[j]);
    *outlen = o;
    return out;
}

static char *strip_underscores(ctx_t *c, const char *s, size_t n, size_t *outlen)
{
    char *out = aalloc(&c->arena, n + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t k = 0; k < n; k++)
        if (s[k] != '_')
            out[o++] = s[k];
    out[o] = '\0';
    *outlen = o;
    return out;
}

/* CPython refuses to parse a decimal integer literal of more digits. */
#define MAX_STR_DIGITS 4300

static void lex_number(ctx_t *c)
{
    size_t start = c->pos, i = c->pos;
    int ch = at(c, i);
    int base = 10;
    bool isfloat = false, imag = false;
    if (ch == '0' && (at(c, i + 1) == 'x' || at(c, i + 1) == 'X' || at(c, i + 1) == 'o' || at(c, i + 1) == 'O' ||
                      at(c, i + 1) == 'b' || at(c, i + 1) == 'B')) {
        int k = at(c, i + 1) | 0x20;
        base = k == 'x' ? 16 : k == 'o' ? 8 : 2;
        i += 2;
        do {
            if (at(c, i) == '_')
                i++;
            int d = at(c, i);
            bool ok = base == 16 ? is_xdigit(d) : base == 8 ? (d >= '0' && d <= '7') : (d == '0' || d == '1');
            if (!ok)
                return SYNTAX(c, "invalid integer literal");
            for (;;) {
                d = at(c, ++i);
                ok = base == 16 ? is_xdigit(d) : base == 8 ? (d >= '0' && d <= '7') : (d == '0' || d == '1');
                if (!ok)
                    break;
            }
        } while (at(c, i) == '_');
        if (base != 16 && is_digit(at(c, i)))
            return SYNTAX(c, "invalid digit in literal");
        if (!end_of_number_ok(c, i))
            return SYNTAX(c, "invalid literal");
    } else {
        bool leading_zero_int = false;
        if (ch == '0') {
            bool nonzero = false;
            for (;;) {
                if (at(c, i) == '_') {
                    i++;
                    if (!is_digit(at(c, i)))
                        return SYNTAX(c, "invalid decimal literal");
                }
                if (at(c, i) != '0')
                    break;
                i++;
            }
            if (is_digit(at(c, i))) {
                nonzero = true;
                if (!decimal_tail(c, &i))
                    return SYNTAX(c, "invalid decimal literal");
            }
            int d = at(c, i);
            if (d == '.' || d == 'e' || d == 'E' || d == 'j' || d == 'J')
                ;
            else if (nonzero)
                return SYNTAX(c, "leading zeros in decimal integer literals are not permitted");
            leading_zero_int = true;
        } else if (ch != '.') {
            if (!decimal_tail(c, &i))
                return SYNTAX(c, "invalid decimal literal");
        }
        (void)leading_zero_int;
        if (at(c, i) == '.') {
            isfloat = true;
            i++;
            if (is_digit(at(c, i)) && !decimal_tail(c, &i))
                return SYNTAX(c, "invalid decimal literal");
        }
        if (at(c, i) == 'e' || at(c, i) == 'E') {
            size_t e = i;
            int d = at(c, i + 1);
            if (d == '+' || d == '-') {
                if (!is_digit(at(c, i + 2)))
                    return SYNTAX(c, "invalid decimal literal");
                i += 2;
                isfloat = true;
                if (!decimal_tail(c, &i))
                    return SYNTAX(c, "invalid decimal literal");
            } else if (is_digit(d)) {
                i += 1;
                isfloat = true;
                if (!decimal_tail(c, &i))
                    return SYNTAX(c, "invalid decimal literal");
            } else {
                /* "1else": the number ends before the 'e'. */
                if (!end_of_number_ok(c, e))
                    return SYNTAX(c, "invalid decimal literal");
                i = e;
                goto make;
            }
        }
        if (at(c, i) == 'j' || at(c, i) == 'J') {
            imag = true;
            i++;
            if (!end_of_number_ok(c, i))
                return SYNTAX(c, "invalid imaginary literal");
        } else if (!end_of_number_ok(c, i)) {
            return SYNTAX(c, "invalid decimal literal");
        }
    }
make:;
    tok_t *tk = push_tok(c, T_NUMBER, c->src + start, i - start);
    val_t *v = aalloc(&c->arena, sizeof(val_t));
    if (tk == NULL || v == NULL)
        return;
    tk->v = v;
    size_t n = 0;
    if (base != 10) {
        v->t = V_INT;
        v->s = base_to_decimal(c, c->src + start + 2, i - start - 2, base, &n);
        v->n = n;
    } else if (isfloat || imag) {
        char *txt = strip_underscores(c, c->src + start, i - start - (imag ? 1 : 0), &n);
        if (txt == NULL)
            return;
        double x = strtod(txt, NULL);
        if (imag) {
            v->t = V_COMPLEX;
            v->re = 0.0;
            v->im = x;
        } else {
            v->t = V_FLOAT;
            v->re = x;
        }
    } else {
        char *txt = strip_underscores(c, c->src + start, i - start, &n);
        if (txt == NULL)
            return;
        size_t z = 0;
        while (z + 1 < n && txt[z] == '0')
            z++;
        if (n - z > MAX_STR_DIGITS)
            return SYNTAX(c, "exceeds the limit for integer string conversion");
        v->t = V_INT;
        v->s = txt + z;
        v->n = n - z;
    }
    c->pos = i;
}

static int hexval(int ch)
{
    return is_digit(ch) ? ch - '0' : (ch | 0x20) - 'a' + 10;
}

/* Decodes the body of a str or bytes literal into v. */
static void decode_string(ctx_t *c, const char *s, size_t n, bool raw, bool bytes, val_t *v)
{
    char stor[128];
    keel__pol_sbuf_t b;
    keel__pol_sbuf_init(&b, stor, sizeof(stor));
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0 && c->err == 0;) {
        unsigned char ch = (unsigned char)s[i];
        if (bytes && ch >= 0x80) {
            SYNTAX(c, "bytes can only contain ASCII literal characters");
            break;
        }
        if (ch != '\\' || raw) {
            rc = keel__pol_sbuf_putc(&b, (char)ch);
            i++;
            continue;
        }
        /* The tokenizer guarantees a character after a backslash. */
        int e = (unsigned char)s[i + 1];
        i += 2;
        uint32_t cp;
        switch (e) {
        case '\n':
            continue;
        case '\\':
        case '\'':
        case '"':
            rc = keel__pol_sbuf_putc(&b, (char)e);
            continue;
        case 'a':
            rc = keel__pol_sbuf_putc(&b, 7);
            continue;
        case 'b':
            rc = keel__pol_sbuf_putc(&b, 8);
            continue;
        case 'f':
            rc = keel__pol_sbuf_putc(&b, 12);
            continue;
        case 'n':
            rc = keel__pol_sbuf_putc(&b, 10);
            continue;
        case 'r':
            rc = keel__pol_sbuf_putc(&b, 13);
            continue;
        case 't':
            rc = keel__pol_sbuf_putc(&b, 9);
            continue;
        case 'v':
            rc = keel__pol_sbuf_putc(&b, 11);
            continue;
        case '0':
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case '7':
            cp = (uint32_t)(e - '0');
            for (int k = 0; k < 2 && i < n && s[i] >= '0' && s[i] <= '7'; k++, i++)
                cp = cp * 8 + (uint32_t)(s[i] - '0');
            if (bytes)
                rc = keel__pol_sbuf_putc(&b, (char)(cp & 0xFF));
            else
                rc = keel__pol_sbuf_put_cp(&b, cp);
            continue;
        case 'x':
        case 'u':
        case 'U': {
            size_t want = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            if (bytes && e != 'x') {
                rc = keel__pol_sbuf_putc(&b, '\\');
                if (rc == 0)
                    rc = keel__pol_sbuf_putc(&b, (char)e);
                continue;
            }
            cp = 0;
            for (size_t k = 0; k < want; k++) {
                if (i + k >= n || !is_xdigit((unsigned char)s[i + k])) {
                    SYNTAX(c, "truncated escape");
                    goto out;
                }
                cp = cp * 16 + (uint32_t)hexval((unsigned char)s[i + k]);
            }
            i += want;
            if (cp > 0x10FFFF) {
                SYNTAX(c, "illegal Unicode character");
                goto out;
            }
            if (bytes)
                rc = keel__pol_sbuf_putc(&b, (char)cp);
            else
                rc = keel__pol_sbuf_put_cp(&b, cp);
            continue;
        }
        case 'N':
            if (!bytes) {
                if (i < n && s[i] == '{')
                    fail(c, KEEL__LIT_UNSUPPORTED, "keel does not know Unicode character names (\\N{...})");
                else
                    SYNTAX(c, "malformed \\N character escape");
                goto out;
            }
            /* In bytes, \N is two characters. */
            /* fall through */
        default:
            rc = keel__pol_sbuf_putc(&b, '\\');
            i--;
            /* The escaped character is copied as it is (it may be UTF-8). */
            continue;
        }
    }
out:
    if (rc != 0)
        c->arena.oom = true;
    if (c->err == 0 && !c->arena.oom) {
        v->t = bytes ? V_BYTES : V_STR;
        v->s = aalloc(&c->arena, b.len + 1);
        if (v->s) {
            if (b.len)
                memcpy(v->s, b.base, b.len);
            v->n = b.len;
        }
    }
    keel__pol_sbuf_free(&b);
}

static int parse_expr_text(ctx_t *outer, const char *s, size_t n);

/* Checks an f-string body the way CPython 3.11's fstring parser would
 * reject it: single '}', empty or unparsable expressions, backslashes or
 * '#' inside expressions, bad conversions. */
static void check_fstring(ctx_t *c, const char *s, size_t n, bool raw)
{
    for (size_t i = 0; i < n && c->err == 0;) {
        char ch = s[i];
        if (ch == '\\' && !raw) {
            i += 2;
            continue;
        }
        if (ch == '}') {
            if (i + 1 < n && s[i + 1] == '}') {
                i += 2;
                continue;
            }
            return SYNTAX(c, "f-string: single '}' is not allowed");
        }
        if (ch != '{') {
            i++;
            continue;
        }
        if (i + 1 < n && s[i + 1] == '{') {
            i += 2;
            continue;
        }
        size_t start = ++i;
        int nest = 0;
        char quote = 0;
        size_t end = 0;
        bool conv = false;
        for (; i < n; i++) {
            char d = s[i];
            if (d == '\\')
                return SYNTAX(c, "f-string expression part cannot include a backslash");
            if (quote) {
                if (d == quote)
                    quote = 0;
                continue;
            }
            if (d == '\'' || d == '"') {
                quote = d;
            } else if (d == '[' || d == '(' || d == '{') {
                nest++;
            } else if (d == '#') {
                return SYNTAX(c, "f-string expression part cannot include '#'");
            } else if (nest == 0 && d == '!' && !(i + 1 < n && s[i + 1] == '=')) {
                end = i;
                conv = true;
                break;
            } else if ((d == ']' || d == ')' || d == '}') && nest > 0) {
                nest--;
            } else if (d == '}' && nest == 0) {
                end = i;
                break;
            }
        }
        if (quote)
            return SYNTAX(c, "f-string: unterminated string");
        if (i >= n)
            return SYNTAX(c, "f-string: expecting '}'");
        bool empty = true;
        for (size_t k = start; k < end; k++)
            if (s[k] != ' ' && s[k] != '\t' && s[k] != '\n' && s[k] != '\f')
                empty = false;
        if (empty)
            return SYNTAX(c, "f-string: empty expression not allowed");
        if (parse_expr_text(c, s + start, end - start) != 0)
            return;
        if (conv) {
            i++;
            if (i >= n || (s[i] != 'r' && s[i] != 's' && s[i] != 'a'))
                return SYNTAX(c, "f-string: invalid conversion character");
            i++;
            if (i >= n || s[i] != '}')
                return SYNTAX(c, "f-string: expecting '}'");
        }
        i++;
    }
}

static void lex_string(ctx_t *c, size_t start, const char *prefix, size_t plen)
{
    bool raw = false, bytes = false, fstr = false;
    for (size_t k = 0; k < plen; k++) {
        int p = prefix[k] | 0x20;
        raw |= p == 'r';
        bytes |= p == 'b';
        fstr |= p == 'f';
    }
    size_t i = c->pos;
    char q = c->src[i];
    size_t qsize = 1;
    if (at(c, i + 1) == q && at(c, i + 2) == q)
        qsize = 3;
    i += qsize;
    size_t body = i;
    size_t endq = 0;
    size_t bodyend = 0;
    for (;;) {
        int ch = at(c, i);
        if (ch < 0 || (qsize == 1 && ch == '\n'))
            return SYNTAX(c, "unterminated string literal");
        i++;
        if (ch == q) {
            if (++endq == qsize) {
                bodyend = i - qsize;
                break;
            }
            continue;
        }
        endq = 0;
        if (ch == '\\') {
            if (at(c, i) < 0)
                return SYNTAX(c, "unterminated string literal");
            i++;
        }
    }
    tok_t *tk = push_tok(c, T_STRING, c->src + start, i - start);
    val_t *v = aalloc(&c->arena, sizeof(val_t));
    if (tk == NULL || v == NULL)
        return;
    tk->v = v;
    tk->bytes = bytes;
    tk->fstr = fstr;
    c->pos = i;
    if (fstr)
        check_fstring(c, c->src + body, bodyend - body, raw);
    else
        decode_string(c, c->src + body, bodyend - body, raw, bytes, v);
}

static bool is_string_prefix(const char *s, size_t n)
{
    static const char *const ok[] = {"r", "u", "f", "b", "br", "rb", "fr", "rf", NULL};
    if (n == 0 || n > 2)
        return false;
    for (int k = 0; ok[k]; k++) {
        if (strlen(ok[k]) != n)
            continue;
        bool same = true;
        for (size_t j = 0; j < n; j++)
            if ((s[j] | 0x20) != ok[k][j])
                same = false;
        if (same)
            return true;
    }
    return false;
}

static const char *const operators[] = {"**=", "...", "//=", ">>=", "<<=", "!=", "%=", "&=", "**", "*=", "+=", "-=", "->",
                                        "//",  "/=",  ":=",  "<<",  "<=",  "<>", "==", ">=", ">>", "@=", "^=", "|=", "(",
                                        ")",   "[",   "]",   "{",   "}",   ":",  ",",  ";",  "+",  "-",  "*",  "/",  "|",
                                        "&",   "<",   ">",   "=",   ".",   "%",  "~",  "^",  "@",  NULL};

/* Bracket nesting CPython's tokenizer accepts (MAXLEVEL). */
#define MAX_NESTING 200

static void tokenize(ctx_t *c)
{
    char stack[MAX_NESTING];
    int depth = 0;
    bool line_start = true, had_line = false, line_has_tokens = false;
    while (c->err == 0 && !c->arena.oom) {
        if (line_start && depth == 0) {
            int col = 0;
            while (c->pos < c->len) {
                int ch = at(c, c->pos);
                if (ch == ' ')
                    col++;
                else if (ch == '\t')
                    col = (col / 8 + 1) * 8;
                else if (ch == '\f')
                    col = 0;
                else
                    break;
                c->pos++;
            }
            int ch = at(c, c->pos);
            if (ch < 0)
                break;
            if (ch == '#') {
                while (c->pos < c->len && c->src[c->pos] != '\n')
                    c->pos++;
                continue;
            }
            if (ch == '\n') {
                c->pos++;
                continue;
            }
            if (had_line)
                return SYNTAX(c, "invalid syntax");
            if (col != 0)
                return SYNTAX(c, "unexpected indent");
            line_start = false;
        }
        int ch = at(c, c->pos);
        if (ch < 0)
            break;
        if (ch == ' ' || ch == '\t' || ch == '\f') {
            c->pos++;
            continue;
        }
        if (ch == '#') {
            while (c->pos < c->len && c->src[c->pos] != '\n')
                c->pos++;
            continue;
        }
        if (ch == '\n') {
            c->pos++;
            if (depth == 0) {
                if (line_has_tokens && push_tok(c, T_NEWLINE, "", 0) == NULL)
                    return;
                had_line = had_line || line_has_tokens;
                line_has_tokens = false;
                line_start = true;
            }
            continue;
        }
        if (ch == '\\') {
            if (at(c, c->pos + 1) == '\n') {
                c->pos += 2;
                if (c->pos >= c->len)
                    return SYNTAX(c, "unexpected EOF while parsing");
                continue;
            }
            return SYNTAX(c, "unexpected character after line continuation character");
        }
        line_has_tokens = true;
        size_t start = c->pos;
        if (is_potential_id_char(ch) && !is_digit(ch)) {
            size_t i = c->pos;
            while (i < c->len && is_potential_id_char((unsigned char)c->src[i]))
                i++;
            int next = at(c, i);
            if ((next == '\'' || next == '"') && is_string_prefix(c->src + start, i - start)) {
                c->pos = i;
                lex_string(c, start, c->src + start, i - start);
                continue;
            }
            /* Every code point must be allowed in an identifier. */
            size_t j = start;
            bool first = true;
            while (j < i) {
                uint32_t cp = keel__pol_utf8_next(c->src, i, &j);
                if (first ? !(keel__py_is_id_start(cp)) : !keel__py_is_id_continue(cp))
                    return SYNTAX(c, "invalid character in identifier");
                first = false;
            }
            tok_t *tk = push_tok(c, T_NAME, c->src + start, i - start);
            if (tk == NULL)
                return;
            tk->kw = kw_index(c->src + start, i - start);
            c->pos = i;
            continue;
        }
        if (is_digit(ch) || (ch == '.' && is_digit(at(c, c->pos + 1)))) {
            lex_number(c);
            continue;
        }
        if (ch == '\'' || ch == '"') {
            lex_string(c, start, "", 0);
            continue;
        }
        const char *op = NULL;
        for (int k = 0; operators[k]; k++)
            if (starts(c, c->pos, operators[k])) {
                op = operators[k];
                break;
            }
        if (op == NULL)
            return SYNTAX(c, "invalid character");
        size_t n = strlen(op);
        if (n == 1 && strchr("([{", op[0])) {
            if (depth >= MAX_NESTING)
                return SYNTAX(c, "too many nested parentheses");
            stack[depth++] = op[0];
        } else if (n == 1 && strchr(")]}", op[0])) {
            char open = op[0] == ')' ? '(' : op[0] == ']' ? '[' : '{';
            if (depth == 0 || stack[depth - 1] != open)
                return SYNTAX(c, "unmatched bracket");
            depth--;
        }
        if (push_tok(c, T_OP, c->src + start, n) == NULL)
            return;
        c->pos += n;
    }
    if (c->err || c->arena.oom)
        return;
    if (depth > 0)
        return SYNTAX(c, "unexpected EOF while parsing");
    if (line_has_tokens && push_tok(c, T_NEWLINE, "", 0) == NULL)
        return;
    push_tok(c, T_END, "", 0);
}

/* ---- parser ----------------------------------------------------------- */

static tok_t *peek(ctx_t *c)
{
    return &c->toks[c->at];
}

static bool is_op(ctx_t *c, const char *op)
{
    tok_t *t = peek(c);
    return t->t == T_OP && t->n == strlen(op) && memcmp(t->s, op, t->n) == 0;
}

static bool is_kw(ctx_t *c, int kw)
{
    return peek(c)->t == T_NAME && peek(c)->kw == kw;
}

static bool accept_op(ctx_t *c, const char *op)
{
    if (!is_op(c, op))
        return false;
    c->at++;
    return true;
}

static bool accept_kw(ctx_t *c, int kw)
{
    if (!is_kw(c, kw))
        return false;
    c->at++;
    return true;
}

static node_t *mk(ctx_t *c, ntype_t t)
{
    node_t *n = aalloc(&c->arena, sizeof(node_t));
    if (n)
        n->t = t;
    return n;
}

static bool push_kid(ctx_t *c, node_t *n, node_t *kid)
{
    node_t **k = aalloc(&c->arena, (n->nkids + 1) * sizeof(*k));
    if (k == NULL)
        return false;
    if (n->nkids)
        memcpy(k, n->kids, n->nkids * sizeof(*k));
    k[n->nkids++] = kid;
    n->kids = k;
    return true;
}

static node_t *other(ctx_t *c)
{
    return mk(c, N_OTHER);
}

/* Parser recursion beyond this is refused (CPython would go on until its C
 * stack check, far beyond anything a policy file holds). */
#define MAX_DEPTH 1000

#define ENTER(c)                                                                                                                   \
    do {                                                                                                                           \
        if ((c)->err || (c)->arena.oom)                                                                                            \
            return NULL;                                                                                                           \
        if (++(c)->depth > MAX_DEPTH) {                                                                                            \
            fail((c), KEEL__LIT_UNSUPPORTED, "expression nested too deeply");                                                      \
            return NULL;                                                                                                           \
        }                                                                                                                          \
    } while (0)
#define LEAVE(c, v)                                                                                                                \
    do {                                                                                                                           \
        (c)->depth--;                                                                                                              \
        return (v);                                                                                                                \
    } while (0)

static node_t *p_expression(ctx_t *c);
static node_t *p_disjunction(ctx_t *c);
static node_t *p_bitwise_or(ctx_t *c);
static node_t *p_star_named(ctx_t *c);

static bool starts_expression(ctx_t *c)
{
    tok_t *t = peek(c);
    if (t->t == T_NUMBER || t->t == T_STRING)
        return true;
    if (t->t == T_NAME)
        return t->kw == 0 || t->kw == KW("True") || t->kw == KW("False") || t->kw == KW("None") || t->kw == KW("not") ||
               t->kw == KW("lambda") || t->kw == KW("await");
    if (t->t == T_OP)
        return is_op(c, "(") || is_op(c, "[") || is_op(c, "{") || is_op(c, "-") || is_op(c, "+") || is_op(c, "~") ||
               is_op(c, "...") || is_op(c, "*");
    return false;
}

static bool assignable(node_t *n)
{
    if (n == NULL)
        return false;
    if (n->t == N_NAME || n->t == N_TRAILER)
        return true;
    if (n->t == N_STARRED)
        return n->nkids == 1 && assignable(n->kids[0]);
    if (n->t == N_TUPLE || n->t == N_LIST) {
        for (size_t k = 0; k < n->nkids; k++)
            if (!assignable(n->kids[k]))
                return false;
        return true;
    }
    return false;
}

/* for_if_clauses: ('async'? 'for' targets 'in' disjunction ('if' disjunction)*)+ */
static bool p_comprehension(ctx_t *c)
{
    while (is_kw(c, KW("for")) || is_kw(c, KW("async"))) {
        if (accept_kw(c, KW("async")) && !is_kw(c, KW("for"))) {
            SYNTAX(c, "invalid syntax");
            return false;
        }
        c->at++;
        node_t *targets = mk(c, N_TUPLE);
        if (targets == NULL)
            return false;
        do {
            if (!starts_expression(c))
                break;
            node_t *t;
            if (accept_op(c, "*")) {
                t = mk(c, N_STARRED);
                node_t *inner = p_bitwise_or(c);
                if (t == NULL || inner == NULL || !push_kid(c, t, inner))
                    return false;
            } else {
                t = p_bitwise_or(c);
            }
            if (t == NULL || !push_kid(c, targets, t))
                return false;
        } while (accept_op(c, ","));
        if (targets->nkids == 0 || !assignable(targets)) {
            SYNTAX(c, "cannot assign to expression");
            return false;
        }
        if (!accept_kw(c, KW("in"))) {
            SYNTAX(c, "invalid syntax");
            return false;
        }
        if (p_disjunction(c) == NULL)
            return false;
        while (accept_kw(c, KW("if")))
            if (p_disjunction(c) == NULL)
                return false;
    }
    return true;
}

static bool is_comp_start(ctx_t *c)
{
    return is_kw(c, KW("for")) || is_kw(c, KW("async"));
}

/* Comma-separated star_named_expressions up to the closing bracket. */
static node_t *p_display(ctx_t *c, node_t *n, node_t *first, const char *close)
{
    if (!push_kid(c, n, first))
        return NULL;
    while (accept_op(c, ",")) {
        if (is_op(c, close))
            break;
        node_t *e = p_star_named(c);
        if (e == NULL || !push_kid(c, n, e))
            return NULL;
    }
    if (!accept_op(c, close)) {
        SYNTAX(c, "invalid syntax");
        return NULL;
    }
    return n;
}

static node_t *p_strings(ctx_t *c)
{
    bool any_bytes = false, any_str = false, any_f = false;
    size_t first = c->at, total = 0;
    while (peek(c)->t == T_STRING) {
        tok_t *t = peek(c);
        if (t->bytes)
            any_bytes = true;
        else
            any_str = true;
        any_f |= t->fstr;
        if (!t->fstr)
            total += t->v->n;
        c->at++;
    }
    if (any_bytes && any_str) {
        SYNTAX(c, "cannot mix bytes and nonbytes literals");
        return NULL;
    }
    if (any_f)
        return other(c); /* JoinedStr */
    node_t *n = mk(c, N_CONST);
    val_t *v = aalloc(&c->arena, sizeof(val_t));
    char *s = aalloc(&c->arena, total + 1);
    if (n == NULL || v == NULL || s == NULL)
        return NULL;
    size_t o = 0;
    for (size_t k = first; k < c->at; k++) {
        memcpy(s + o, c->toks[k].v->s, c->toks[k].v->n);
        o += c->toks[k].v->n;
    }
    v->t = any_bytes ? V_BYTES : V_STR;
    v->s = s;
    v->n = o;
    n->v = v;
    return n;
}

static node_t *p_atom(ctx_t *c)
{
    ENTER(c);
    tok_t *t = peek(c);
    node_t *n = NULL;
    if (t->t == T_NAME) {
        if (t->kw == 0) {
            c->at++;
            n = mk(c, N_NAME);
            if (n) {
                n->name = t->s;
                n->namelen = t->n;
            }
        } else if (t->kw == KW("True") || t->kw == KW("False") || t->kw == KW("None")) {
            c->at++;
            n = mk(c, N_CONST);
            val_t *v = aalloc(&c->arena, sizeof(val_t));
            if (n && v) {
                v->t = t->kw == KW("None") ? V_NONE : V_BOOL;
                v->b = t->kw == KW("True");
                n->v = v;
            }
        } else {
            SYNTAX(c, "invalid syntax");
        }
        LEAVE(c, n);
    }
    if (t->t == T_NUMBER) {
        c->at++;
        n = mk(c, N_CONST);
        if (n)
            n->v = t->v;
        LEAVE(c, n);
    }
    if (t->t == T_STRING)
        LEAVE(c, p_strings(c));
    if (accept_op(c, "...")) {
        n = mk(c, N_CONST);
        val_t *v = aalloc(&c->arena, sizeof(val_t));
        if (n && v) {
            v->t = V_ELLIPSIS;
            n->v = v;
        }
        LEAVE(c, n);
    }
    if (accept_op(c, "(")) {
        if (accept_op(c, ")"))
            LEAVE(c, mk(c, N_TUPLE));
        if (accept_kw(c, KW("yield"))) {
            if (accept_kw(c, KW("from"))) {
                if (p_expression(c) == NULL)
                    LEAVE(c, NULL);
            } else if (starts_expression(c)) {
                do {
                    if (is_op(c, ")"))
                        break;
                    if (p_star_named(c) == NULL)
                        LEAVE(c, NULL);
                } while (accept_op(c, ","));
            }
            if (!accept_op(c, ")")) {
                SYNTAX(c, "invalid syntax");
                LEAVE(c, NULL);
            }
            LEAVE(c, other(c));
        }
        node_t *first = p_star_named(c);
        if (first == NULL)
            LEAVE(c, NULL);
        if (is_comp_start(c)) {
            if (first->t == N_STARRED) {
                SYNTAX(c, "iterable unpacking cannot be used in comprehension");
                LEAVE(c, NULL);
            }
            if (!p_comprehension(c))
                LEAVE(c, NULL);
            if (!accept_op(c, ")")) {
                SYNTAX(c, "invalid syntax");
                LEAVE(c, NULL);
            }
            LEAVE(c, other(c));
        }
        if (is_op(c, ",")) {
            n = mk(c, N_TUPLE);
            LEAVE(c, n ? p_display(c, n, first, ")") : NULL);
        }
        if (!accept_op(c, ")") || first->t == N_STARRED) {
            SYNTAX(c, "invalid syntax");
            LEAVE(c, NULL);
        }
        LEAVE(c, first);
    }
    if (accept_op(c, "[")) {
        n = mk(c, N_LIST);
        if (n == NULL)
            LEAVE(c, NULL);
        if (accept_op(c, "]"))
            LEAVE(c, n);
        node_t *first = p_star_named(c);
        if (first == NULL)
            LEAVE(c, NULL);
        if (is_comp_start(c)) {
            if (first->t == N_STARRED || !p_comprehension(c) || !accept_op(c, "]")) {
                SYNTAX(c, "invalid syntax");
                LEAVE(c, NULL);
            }
            LEAVE(c, other(c));
        }
        LEAVE(c, p_display(c, n, first, "]"));
    }
    if (accept_op(c, "{")) {
        if (accept_op(c, "}"))
            LEAVE(c, mk(c, N_DICT));
        if (is_op(c, "**")) {
            /* {**a, **b}: key-value pairs would need ':', which a kind cannot hold. */
            do {
                if (is_op(c, "}"))
                    break;
                if (!accept_op(c, "**") || p_bitwise_or(c) == NULL) {
                    SYNTAX(c, "invalid syntax");
                    LEAVE(c, NULL);
                }
            } while (accept_op(c, ","));
            if (!accept_op(c, "}")) {
                SYNTAX(c, "invalid syntax");
                LEAVE(c, NULL);
            }
            LEAVE(c, mk(c, N_DICT_STAR));
        }
        node_t *first = p_star_named(c);
        if (first == NULL)
            LEAVE(c, NULL);
        if (is_comp_start(c)) {
            if (first->t == N_STARRED || !p_comprehension(c) || !accept_op(c, "}")) {
                SYNTAX(c, "invalid syntax");
                LEAVE(c, NULL);
            }
            LEAVE(c, other(c));
        }
        n = mk(c, N_SET);
        LEAVE(c, n ? p_display(c, n, first, "}") : NULL);
    }
    SYNTAX(c, "invalid syntax");
    LEAVE(c, NULL);
}

/* Call arguments after '(' up to and including ')'. */
static bool p_arguments(ctx_t *c, size_t *nargs)
{
    bool seen_kw = false, seen_dstar = false;
    size_t n = 0;
    bool genexp = false;
    while (!is_op(c, ")")) {
        if (genexp) {
            SYNTAX(c, "Generator expression must be parenthesized");
            return false;
        }
        if (accept_op(c, "**")) {
            if (p_expression(c) == NULL)
                return false;
            seen_dstar = true;
        } else if (accept_op(c, "*")) {
            if (seen_dstar) {
                SYNTAX(c, "iterable argument unpacking follows keyword argument unpacking");
                return false;
            }
            if (p_expression(c) == NULL)
                return false;
        } else if (peek(c)->t == T_NAME && c->toks[c->at + 1].t == T_OP && c->toks[c->at + 1].n == 1 &&
                   c->toks[c->at + 1].s[0] == '=') {
            if (peek(c)->kw != 0) {
                SYNTAX(c, "cannot assign to keyword");
                return false;
            }
            c->at += 2;
            if (p_expression(c) == NULL)
                return false;
            seen_kw = true;
        } else {
            node_t *e = p_expression(c);
            if (e == NULL)
                return false;
            if (is_op(c, "=")) {
                SYNTAX(c, "expression cannot contain assignment");
                return false;
            }
            if (is_comp_start(c)) {
                if (n > 0 || !p_comprehension(c)) {
                    SYNTAX(c, "Generator expression must be parenthesized");
                    return false;
                }
                genexp = true;
            } else if (seen_kw || seen_dstar) {
                SYNTAX(c, "positional argument follows keyword argument");
                return false;
            }
        }
        n++;
        if (!accept_op(c, ","))
            break;
    }
    if (!accept_op(c, ")")) {
        SYNTAX(c, "invalid syntax");
        return false;
    }
    *nargs = n;
    return true;
}

static node_t *p_primary(ctx_t *c)
{
    ENTER(c);
    node_t *n = p_atom(c);
    while (n) {
        if (accept_op(c, ".")) {
            if (peek(c)->t != T_NAME || peek(c)->kw != 0) {
                SYNTAX(c, "invalid syntax");
                LEAVE(c, NULL);
            }
            c->at++;
            n = mk(c, N_TRAILER);
        } else if (accept_op(c, "(")) {
            size_t nargs;
            bool is_set = n->t == N_NAME && n->namelen == 3 && memcmp(n->name, "set", 3) == 0;
            if (!p_arguments(c, &nargs))
                LEAVE(c, NULL);
            n = mk(c, is_set && nargs == 0 ? N_SETCALL : N_OTHER);
        } else if (accept_op(c, "[")) {
            do {
                if (is_op(c, "]"))
                    break;
                if (p_star_named(c) == NULL)
                    LEAVE(c, NULL);
            } while (accept_op(c, ","));
            if (!accept_op(c, "]")) {
                SYNTAX(c, "invalid syntax");
                LEAVE(c, NULL);
            }
            n = mk(c, N_TRAILER);
        } else {
            break;
        }
    }
    LEAVE(c, n);
}

static node_t *p_factor(ctx_t *c);

static node_t *p_power(ctx_t *c)
{
    ENTER(c);
    node_t *n;
    if (accept_kw(c, KW("await"))) {
        n = p_primary(c) ? other(c) : NULL;
    } else {
        n = p_primary(c);
    }
    if (n && accept_op(c, "**"))
        n = p_factor(c) ? other(c) : NULL;
    LEAVE(c, n);
}

static node_t *p_factor(ctx_t *c)
{
    ENTER(c);
    if (is_op(c, "+") || is_op(c, "-")) {
        char op = peek(c)->s[0];
        c->at++;
        node_t *inner = p_factor(c);
        node_t *n = inner ? mk(c, N_UNARY) : NULL;
        if (n) {
            n->op = op;
            if (!push_kid(c, n, inner))
                n = NULL;
        }
        LEAVE(c, n);
    }
    if (accept_op(c, "~"))
        LEAVE(c, p_factor(c) ? other(c) : NULL);
    LEAVE(c, p_power(c));
}

static node_t *p_term(ctx_t *c)
{
    ENTER(c);
    node_t *n = p_factor(c);
    while (n && (is_op(c, "*") || is_op(c, "/") || is_op(c, "//") || is_op(c, "%") || is_op(c, "@"))) {
        c->at++;
        n = p_factor(c) ? other(c) : NULL;
    }
    LEAVE(c, n);
}

static node_t *p_sum(ctx_t *c)
{
    ENTER(c);
    node_t *n = p_term(c);
    while (n && (is_op(c, "+") || is_op(c, "-"))) {
        char op = peek(c)->s[0];
        c->at++;
        node_t *r = p_term(c);
        node_t *b = r ? mk(c, N_BINOP) : NULL;
        if (b) {
            b->op = op;
            if (!push_kid(c, b, n) || !push_kid(c, b, r))
                b = NULL;
        }
        n = b;
    }
    LEAVE(c, n);
}

static node_t *p_binary(ctx_t *c, int level)
{
    static const char *const ops[][3] = {{"|", NULL, NULL}, {"^", NULL, NULL}, {"&", NULL, NULL}, {"<<", ">>", NULL}};
    if (level == 4)
        return p_sum(c);
    ENTER(c);
    node_t *n = p_binary(c, level + 1);
    for (;;) {
        bool hit = false;
        for (int k = 0; k < 3 && ops[level][k]; k++)
            if (n && is_op(c, ops[level][k]))
                hit = true;
        if (!hit)
            break;
        c->at++;
        n = p_binary(c, level + 1) ? other(c) : NULL;
    }
    LEAVE(c, n);
}

static node_t *p_bitwise_or(ctx_t *c)
{
    return p_binary(c, 0);
}

static node_t *p_comparison(ctx_t *c)
{
    ENTER(c);
    node_t *n = p_bitwise_or(c);
    for (;;) {
        if (n == NULL)
            break;
        if (is_op(c, "==") || is_op(c, "!=") || is_op(c, "<") || is_op(c, "<=") || is_op(c, ">") || is_op(c, ">=") ||
            is_kw(c, KW("in"))) {
            c->at++;
        } else if (is_kw(c, KW("not")) && c->toks[c->at + 1].t == T_NAME && c->toks[c->at + 1].kw == KW("in")) {
            c->at += 2;
        } else if (is_kw(c, KW("is"))) {
            c->at++;
            accept_kw(c, KW("not"));
        } else if (is_op(c, "<>")) {
            SYNTAX(c, "invalid syntax");
            LEAVE(c, NULL);
        } else {
            break;
        }
        n = p_bitwise_or(c) ? other(c) : NULL;
    }
    LEAVE(c, n);
}

static node_t *p_inversion(ctx_t *c)
{
    ENTER(c);
    if (accept_kw(c, KW("not")))
        LEAVE(c, p_inversion(c) ? other(c) : NULL);
    LEAVE(c, p_comparison(c));
}

static node_t *p_conjunction(ctx_t *c)
{
    ENTER(c);
    node_t *n = p_inversion(c);
    while (n && accept_kw(c, KW("and")))
        n = p_inversion(c) ? other(c) : NULL;
    LEAVE(c, n);
}

static node_t *p_disjunction(ctx_t *c)
{
    ENTER(c);
    node_t *n = p_conjunction(c);
    while (n && accept_kw(c, KW("or")))
        n = p_conjunction(c) ? other(c) : NULL;
    LEAVE(c, n);
}

static node_t *p_expression(ctx_t *c)
{
    ENTER(c);
    if (is_kw(c, KW("lambda"))) {
        /* A lambda needs ':', which a kind cannot hold. */
        SYNTAX(c, "invalid syntax");
        LEAVE(c, NULL);
    }
    node_t *n = p_disjunction(c);
    if (n && accept_kw(c, KW("if"))) {
        if (p_disjunction(c) == NULL)
            LEAVE(c, NULL);
        if (!accept_kw(c, KW("else"))) {
            SYNTAX(c, "expected 'else' after 'if' expression");
            LEAVE(c, NULL);
        }
        n = p_expression(c) ? other(c) : NULL;
    }
    LEAVE(c, n);
}

static node_t *p_star_named(ctx_t *c)
{
    ENTER(c);
    if (accept_op(c, "*")) {
        node_t *inner = p_bitwise_or(c);
        node_t *n = inner ? mk(c, N_STARRED) : NULL;
        if (n && !push_kid(c, n, inner))
            n = NULL;
        LEAVE(c, n);
    }
    LEAVE(c, p_expression(c));
}

/* eval: expressions NEWLINE* ENDMARKER */
static node_t *p_eval(ctx_t *c)
{
    node_t *n = p_expression(c);
    if (n && is_op(c, ",")) {
        node_t *t = mk(c, N_TUPLE);
        if (t == NULL || !push_kid(c, t, n))
            return NULL;
        while (accept_op(c, ",")) {
            if (!starts_expression(c) || is_op(c, "*"))
                break;
            node_t *e = p_expression(c);
            if (e == NULL || !push_kid(c, t, e))
                return NULL;
        }
        n = t;
    }
    if (n == NULL)
        return NULL;
    while (peek(c)->t == T_NEWLINE)
        c->at++;
    if (peek(c)->t != T_END) {
        SYNTAX(c, "invalid syntax");
        return NULL;
    }
    return n;
}

/* Parses an f-string replacement field as CPython does: "(expr)". */
static int parse_expr_text(ctx_t *outer, const char *s, size_t n)
{
    ctx_t c = {0};
    char *wrapped = aalloc(&outer->arena, n + 3);
    if (wrapped == NULL)
        return -1;
    wrapped[0] = '(';
    memcpy(wrapped + 1, s, n);
    wrapped[n + 1] = ')';
    c.src = wrapped;
    c.len = n + 2;
    c.depth = outer->depth + 1;
    tokenize(&c);
    if (c.err == 0 && !c.arena.oom)
        p_eval(&c);
    if (c.arena.oom)
        outer->arena.oom = true;
    else if (c.err)
        fail(outer, c.err, c.err == KEEL__LIT_RAISES ? "SyntaxError: f-string: invalid syntax" : c.why);
    arena_free(&c.arena);
    return (c.err || c.arena.oom) ? -1 : 0;
}

/* ---- literal_eval's conversion ---------------------------------------- */

enum { CV_OK, CV_VALUEERROR, CV_TYPEERROR, CV_UNSUPPORTED, CV_OVERFLOW };

static bool is_num(const val_t *v)
{
    return v->t == V_INT || v->t == V_FLOAT || v->t == V_COMPLEX;
}

static val_t *negate(ctx_t *c, const val_t *v)
{
    val_t *r = aalloc(&c->arena, sizeof(val_t));
    if (r == NULL)
        return NULL;
    *r = *v;
    if (v->t == V_INT)
        r->neg = !(v->n == 1 && v->s[0] == '0') && !v->neg;
    else if (v->t == V_FLOAT)
        r->re = -v->re;
    else {
        r->re = -v->re;
        r->im = -v->im;
    }
    return r;
}

/* _convert_num + _convert_signed_num */
static int conv_signed_num(ctx_t *c, node_t *n, val_t **out)
{
    if (n->t == N_UNARY) {
        node_t *k = n->kids[0];
        if (k->t != N_CONST || !is_num(k->v))
            return CV_VALUEERROR;
        *out = n->op == '-' ? negate(c, k->v) : k->v;
        return *out ? CV_OK : CV_UNSUPPORTED;
    }
    if (n->t != N_CONST || !is_num(n->v))
        return CV_VALUEERROR;
    *out = n->v;
    return CV_OK;
}

static bool hashable(const val_t *v)
{
    if (v->t == V_LIST || v->t == V_SET || v->t == V_DICT)
        return false;
    if (v->t == V_TUPLE)
        for (size_t k = 0; k < v->nitems; k++)
            if (!hashable(v->items[k]))
                return false;
    return true;
}

static bool same_value(const val_t *a, const val_t *b)
{
    if (a->t != b->t)
        return false;
    switch (a->t) {
    case V_INT:
        return a->neg == b->neg && a->n == b->n && memcmp(a->s, b->s, a->n) == 0;
    case V_FLOAT:
        return a->re == b->re;
    case V_COMPLEX:
        return a->re == b->re && a->im == b->im;
    case V_STR:
    case V_BYTES:
        return a->n == b->n && memcmp(a->s, b->s, a->n) == 0;
    case V_BOOL:
        return a->b == b->b;
    case V_NONE:
    case V_ELLIPSIS:
        return true;
    case V_TUPLE:
        if (a->nitems != b->nitems)
            return false;
        for (size_t k = 0; k < a->nitems; k++)
            if (!same_value(a->items[k], b->items[k]))
                return false;
        return true;
    default:
        return false;
    }
}

static bool is_number_like(const val_t *v)
{
    return v->t == V_INT || v->t == V_FLOAT || v->t == V_COMPLEX || v->t == V_BOOL;
}

static int convert(ctx_t *c, node_t *n, val_t **out)
{
    if (n->t == N_CONST) {
        *out = n->v;
        return CV_OK;
    }
    if (n->t == N_TUPLE || n->t == N_LIST || n->t == N_SET) {
        val_t *v = aalloc(&c->arena, sizeof(val_t));
        val_t **items = aalloc(&c->arena, (n->nkids + 1) * sizeof(*items));
        if (v == NULL || items == NULL)
            return CV_UNSUPPORTED;
        v->t = n->t == N_TUPLE ? V_TUPLE : n->t == N_LIST ? V_LIST : V_SET;
        v->items = items;
        for (size_t k = 0; k < n->nkids; k++) {
            val_t *item;
            int rc = convert(c, n->kids[k], &item);
            if (rc != CV_OK)
                return rc;
            if (v->t == V_SET) {
                if (!hashable(item))
                    return CV_TYPEERROR;
                bool dup = false;
                for (size_t j = 0; j < v->nitems; j++) {
                    if (same_value(items[j], item))
                        dup = true;
                    else if (is_number_like(items[j]) && is_number_like(item))
                        return CV_UNSUPPORTED; /* 1 == 1.0 == True: equality keel does not model */
                }
                if (dup)
                    continue;
            }
            items[v->nitems++] = item;
        }
        if (v->t == V_SET && v->nitems > 1)
            return CV_UNSUPPORTED; /* iteration order is CPython's hash table order */
        *out = v;
        return CV_OK;
    }
    if (n->t == N_SETCALL || n->t == N_DICT) {
        val_t *v = aalloc(&c->arena, sizeof(val_t));
        if (v == NULL)
            return CV_UNSUPPORTED;
        v->t = n->t == N_SETCALL ? V_SET : V_DICT;
        *out = v;
        return CV_OK;
    }
    if (n->t == N_BINOP) {
        val_t *l, *r;
        int rc = conv_signed_num(c, n->kids[0], &l);
        if (rc != CV_OK)
            return rc;
        node_t *rn = n->kids[1];
        if (rn->t != N_CONST || !is_num(rn->v))
            return CV_VALUEERROR;
        r = rn->v;
        if ((l->t == V_INT || l->t == V_FLOAT) && r->t == V_COMPLEX) {
            double lv;
            if (l->t == V_INT) {
                char *txt = aalloc(&c->arena, l->n + 2);
                if (txt == NULL)
                    return CV_UNSUPPORTED;
                txt[0] = l->neg ? '-' : '+';
                memcpy(txt + 1, l->s, l->n);
                lv = strtod(txt, NULL);
                if (isinf(lv))
                    return CV_OVERFLOW;
            } else {
                lv = l->re;
            }
            val_t *v = aalloc(&c->arena, sizeof(val_t));
            if (v == NULL)
                return CV_UNSUPPORTED;
            v->t = V_COMPLEX;
            if (n->op == '+') {
                v->re = lv + r->re;
                v->im = 0.0 + r->im;
            } else {
                v->re = lv - r->re;
                v->im = 0.0 - r->im;
            }
            *out = v;
            return CV_OK;
        }
        return CV_VALUEERROR;
    }
    if (n->t == N_UNARY)
        return conv_signed_num(c, n, out);
    return CV_VALUEERROR;
}

/* str() of a value; repr() for container items. Returns CV_VALUEERROR when
 * an integer is too long for str() (Python's ValueError). */
static int render(keel__pol_sbuf_t *b, const val_t *v, bool top)
{
    int rc = 0;
    switch (v->t) {
    case V_INT:
        if (v->n > MAX_STR_DIGITS)
            return CV_VALUEERROR;
        if (v->neg)
            rc = keel__pol_sbuf_putc(b, '-');
        return rc ? rc : keel__pol_sbuf_append(b, v->s, v->n);
    case V_FLOAT:
        return keel__pol_float_repr(b, v->re, true);
    case V_COMPLEX:
        return keel__pol_complex_repr(b, v->re, v->im);
    case V_STR:
        return top ? keel__pol_sbuf_append(b, v->s, v->n) : keel__pol_repr_str(b, v->s, v->n, false);
    case V_BYTES:
        return keel__pol_repr_bytes(b, (const uint8_t *)v->s, v->n);
    case V_BOOL:
        return keel__pol_sbuf_append(b, v->b ? "True" : "False", v->b ? 4 : 5);
    case V_NONE:
        return keel__pol_sbuf_append(b, "None", 4);
    case V_ELLIPSIS:
        return keel__pol_sbuf_append(b, "Ellipsis", 8);
    case V_DICT:
        return keel__pol_sbuf_append(b, "{}", 2);
    case V_SET:
        if (v->nitems == 0)
            return keel__pol_sbuf_append(b, "set()", 5);
        /* fall through */
    case V_TUPLE:
    case V_LIST: {
        char open = v->t == V_TUPLE ? '(' : v->t == V_LIST ? '[' : '{';
        char close = v->t == V_TUPLE ? ')' : v->t == V_LIST ? ']' : '}';
        rc = keel__pol_sbuf_putc(b, open);
        for (size_t k = 0; k < v->nitems && rc == 0; k++) {
            if (k)
                rc = keel__pol_sbuf_append(b, ", ", 2);
            if (rc == 0)
                rc = render(b, v->items[k], false);
        }
        if (rc == 0 && v->t == V_TUPLE && v->nitems == 1)
            rc = keel__pol_sbuf_putc(b, ',');
        return rc ? rc : keel__pol_sbuf_putc(b, close);
    }
    }
    return 0;
}

int keel__pol_literal_eval(const char *kind, size_t len, keel__lit_kind_t *out, char **text, size_t *textlen, const char **why)
{
    const char *dummy;
    if (why == NULL)
        why = &dummy;
    *text = NULL;
    *textlen = 0;
    *why = NULL;
    /* literal_eval strips spaces and tabs; compile() refuses NUL (ValueError). */
    while (len > 0 && (*kind == ' ' || *kind == '\t')) {
        kind++;
        len--;
    }
    if (memchr(kind, '\0', len) != NULL) {
        *out = KEEL__LIT_PATH;
        return 0;
    }
    ctx_t c = {0};
    /* The tokenizer sees "\r\n" and "\r" as "\n". */
    char *src = aalloc(&c.arena, len + 1);
    if (src == NULL)
        return KEEL_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (kind[i] == '\r') {
            src[n++] = '\n';
            if (i + 1 < len && kind[i + 1] == '\n')
                i++;
        } else {
            src[n++] = kind[i];
        }
    }
    c.src = src;
    c.len = n;
    tokenize(&c);
    node_t *root = NULL;
    if (c.err == 0 && !c.arena.oom)
        root = p_eval(&c);
    if (c.err == 0 && !c.arena.oom && root == NULL)
        SYNTAX(&c, "invalid syntax");
    int rc = 0;
    if (c.arena.oom) {
        rc = KEEL_ENOMEM;
        goto done;
    }
    if (c.err) {
        *out = (keel__lit_kind_t)c.err;
        *why = c.why;
        goto done;
    }
    val_t *v = NULL;
    int cv = convert(&c, root, &v);
    if (c.arena.oom) {
        rc = KEEL_ENOMEM;
        goto done;
    }
    if (cv == CV_VALUEERROR) {
        *out = KEEL__LIT_PATH;
        goto done;
    }
    if (cv == CV_TYPEERROR || cv == CV_OVERFLOW) {
        *out = KEEL__LIT_RAISES;
        *why = cv == CV_TYPEERROR ? "TypeError: unhashable type" : "OverflowError: int too large to convert to float";
        goto done;
    }
    if (cv == CV_UNSUPPORTED) {
        *out = KEEL__LIT_UNSUPPORTED;
        *why = "a set literal of several items (CPython's set order)";
        goto done;
    }
    char stor[128];
    keel__pol_sbuf_t b;
    keel__pol_sbuf_init(&b, stor, sizeof(stor));
    int r = render(&b, v, true);
    if (r == CV_VALUEERROR) {
        /* str() of a huge int raises ValueError, which GenericCheck catches. */
        *out = KEEL__LIT_PATH;
    } else if (r != 0) {
        rc = KEEL_ENOMEM;
    } else {
        *text = keel__strndup(b.base ? b.base : "", b.len);
        if (*text == NULL)
            rc = KEEL_ENOMEM;
        *textlen = b.len;
        *out = KEEL__LIT_VALUE;
    }
    keel__pol_sbuf_free(&b);
done:
    arena_free(&c.arena);
    return rc;
}
