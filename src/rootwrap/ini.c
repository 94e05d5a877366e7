/*
 * ini.c — configparser.RawConfigParser's reading of a file, line by line,
 * as Python 3.11's configparser._read() does it (see ini.h for the dialect).
 *
 * The file is first checked for UTF-8 as a whole, because Python decodes it
 * in 8 KiB chunks before it sees a line: a bad byte fails the read before
 * any later line is parsed, and after the lines of earlier chunks. Lines
 * are split on "\n", "\r\n" and "\r" (universal newlines), and indentation
 * is counted in characters, not bytes, as Python counts it.
 */
#include "ini.h"

#include <string.h>

#include "pycompat/pystr.h"

/* TextIOWrapper's _CHUNK_SIZE: how much Python decodes at a time. */
#define PY_CHUNK 8192

void keel__rw_ini_init(keel__rw_ini_t *ini)
{
    memset(ini, 0, sizeof(*ini));
    keel_vec_init(&ini->defaults.opts);
    keel_vec_init(&ini->sections);
}

static void section_clear(keel__rw_ini_section_t *s)
{
    for (size_t i = 0; i < s->opts.len; i++) {
        keel__rw_ini_opt_t *o = s->opts.items[i];
        keel__free(o->name);
        keel_buf_free(&o->value);
        keel__free(o);
    }
    keel_vec_free(&s->opts);
    keel__free(s->name);
}

void keel__rw_ini_free(keel__rw_ini_t *ini)
{
    section_clear(&ini->defaults);
    for (size_t i = 0; i < ini->sections.len; i++) {
        keel__rw_ini_section_t *s = ini->sections.items[i];
        section_clear(s);
        keel__free(s);
    }
    keel_vec_free(&ini->sections);
    keel__rw_ini_init(ini);
}

keel__rw_ini_section_t *keel__rw_ini_section(keel__rw_ini_t *ini, const char *name)
{
    if (strcmp(name, "DEFAULT") == 0)
        return &ini->defaults;
    size_t len = strlen(name);
    for (size_t i = 0; i < ini->sections.len; i++) {
        keel__rw_ini_section_t *s = ini->sections.items[i];
        if (s->name_len == len && memcmp(s->name, name, len) == 0)
            return s;
    }
    return NULL;
}

static keel__rw_ini_opt_t *find_opt(const keel__rw_ini_section_t *s, const char *name, size_t len)
{
    for (size_t i = 0; i < s->opts.len; i++) {
        keel__rw_ini_opt_t *o = s->opts.items[i];
        if (o->name_len == len && memcmp(o->name, name, len) == 0)
            return o;
    }
    return NULL;
}

keel__rw_ini_opt_t *keel__rw_ini_opt(const keel__rw_ini_section_t *s, const char *name)
{
    return find_opt(s, name, strlen(name));
}

/* The parser's state between lines: configparser._read()'s locals. */
typedef struct {
    keel__rw_ini_t *ini;
    const char *fname;
    bool strict;
    keel__rw_ini_section_t *cursect; /* NULL before the first header */
    keel__rw_ini_opt_t *curopt;      /* the option continuation lines extend */
    bool optname_set;                /* optname is a non-empty string */
    size_t indent_level;
    keel_vec_t added_sections; /* sections seen in this file (strict) */
    keel_buf_t added_opts;     /* "section\0option\0" pairs seen (strict) */
    unsigned bad_lines;
    keel_buf_t *why;
    size_t why_len0; /* why's length before this file */
} parser_t;

/*
 * Records an error. configparser collects bad lines and raises them at the
 * end of the file, but raises the others (missing header, duplicates) on
 * the spot, so those replace a pending complaint about a bad line.
 */
static int fail(parser_t *p, keel__rw_ini_error_t kind, unsigned lineno, const char *fmt, const char *a, size_t alen, const char *b,
                size_t blen)
{
    if (kind != KEEL__RW_INI_PARSING && p->ini->error == KEEL__RW_INI_PARSING) {
        p->ini->error = KEEL__RW_INI_OK;
        if (p->why) {
            p->why->len = p->why_len0;
            if (p->why->base)
                p->why->base[p->why_len0] = '\0';
        }
    }
    if (p->ini->error == KEEL__RW_INI_OK) {
        p->ini->error = kind;
        p->ini->error_line = lineno;
        if (p->why) {
            keel_buf_t ra, rb;
            keel_buf_init(&ra);
            keel_buf_init(&rb);
            int rc = 0;
            if (a)
                rc = keel__py_repr_str(&ra, a, alen, 0);
            if (rc == 0 && b)
                rc = keel__py_repr_str(&rb, b, blen, 0);
            if (rc == 0)
                rc = keel_buf_printf(p->why, "%s:%u: ", p->fname, lineno);
            if (rc == 0)
                rc = keel_buf_printf(p->why, fmt, ra.base ? ra.base : "", rb.base ? rb.base : "");
            keel_buf_free(&ra);
            keel_buf_free(&rb);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

/* Was (section, option) assigned before in this file? Adds it if not. */
static int seen_option(parser_t *p, bool *seen, const char *sect, size_t slen, const char *opt, size_t olen)
{
    size_t i = 0;
    /* A length-prefixed list, as names may hold NUL bytes: [slen][sect][olen][opt]... */
    while (i + 2 * sizeof(size_t) <= p->added_opts.len) {
        size_t sl, ol;
        memcpy(&sl, p->added_opts.base + i, sizeof(size_t));
        const char *s = p->added_opts.base + i + sizeof(size_t);
        memcpy(&ol, s + sl, sizeof(size_t));
        const char *o = s + sl + sizeof(size_t);
        if (sl == slen && ol == olen && memcmp(s, sect, slen) == 0 && memcmp(o, opt, olen) == 0) {
            *seen = true;
            return 0;
        }
        i += 2 * sizeof(size_t) + sl + ol;
    }
    *seen = false;
    int rc = keel_buf_append(&p->added_opts, &slen, sizeof(size_t));
    if (rc == 0)
        rc = keel_buf_append(&p->added_opts, sect, slen);
    if (rc == 0)
        rc = keel_buf_append(&p->added_opts, &olen, sizeof(size_t));
    if (rc == 0)
        rc = keel_buf_append(&p->added_opts, opt, olen);
    return rc;
}

static bool vec_has(const keel_vec_t *v, const void *item)
{
    for (size_t i = 0; i < v->len; i++)
        if (v->items[i] == item)
            return true;
    return false;
}

/* A "[name]" line. Returns 0, KEEL_ENOMEM or KEEL_EPARSE (fatal). */
static int on_header(parser_t *p, const char *name, size_t len, unsigned lineno)
{
    keel__rw_ini_t *ini = p->ini;
    keel__rw_ini_section_t *s = NULL;
    for (size_t i = 0; i < ini->sections.len; i++) {
        keel__rw_ini_section_t *t = ini->sections.items[i];
        if (t->name_len == len && memcmp(t->name, name, len) == 0) {
            s = t;
            break;
        }
    }
    if (s) {
        if (p->strict && vec_has(&p->added_sections, s)) {
            int rc = fail(p, KEEL__RW_INI_DUPLICATE_SECTION, lineno, "section %s already exists", name, len, NULL, 0);
            return rc ? rc : KEEL_EPARSE;
        }
        p->cursect = s;
    } else if (len == 7 && memcmp(name, "DEFAULT", 7) == 0) {
        p->cursect = &ini->defaults;
        s = NULL;
    } else {
        s = keel__calloc(1, sizeof(*s));
        if (!s)
            return KEEL_ENOMEM;
        s->name = keel__strndup(name, len);
        if (!s->name || keel_vec_push(&ini->sections, s) != 0) {
            keel__free(s->name);
            keel__free(s);
            return KEEL_ENOMEM;
        }
        s->name_len = len;
        keel_vec_init(&s->opts);
        p->cursect = s;
    }
    if (s && !vec_has(&p->added_sections, s) && keel_vec_push(&p->added_sections, s) != 0)
        return KEEL_ENOMEM;
    p->curopt = NULL;
    p->optname_set = false;
    return 0;
}

/* A "name = value" line, already split. Returns 0, KEEL_ENOMEM or KEEL_EPARSE. */
static int on_option(parser_t *p, const char *name, size_t nlen, const char *value, size_t vlen, unsigned lineno)
{
    keel_buf_t low;
    keel_buf_init(&low);
    int rc = keel__py_lower(&low, name, nlen);
    if (rc != 0)
        goto out;
    const char *lname = low.base ? low.base : "";
    keel__rw_ini_section_t *s = p->cursect;
    const char *sname = s == &p->ini->defaults ? "DEFAULT" : s->name;
    size_t slen = s == &p->ini->defaults ? 7 : s->name_len;
    if (p->strict) {
        bool seen;
        rc = seen_option(p, &seen, sname, slen, lname, low.len);
        if (rc != 0)
            goto out;
        if (seen) {
            rc = fail(p, KEEL__RW_INI_DUPLICATE_OPTION, lineno, "option %s in section %s already exists", lname, low.len, sname,
                      slen);
            if (rc == 0)
                rc = KEEL_EPARSE;
            goto out;
        }
    }
    keel__rw_ini_opt_t *o = find_opt(s, lname, low.len);
    if (o) {
        keel_buf_reset(&o->value);
    } else {
        o = keel__calloc(1, sizeof(*o));
        if (!o) {
            rc = KEEL_ENOMEM;
            goto out;
        }
        o->name = keel__strndup(lname, low.len);
        if (!o->name || keel_vec_push(&s->opts, o) != 0) {
            keel__free(o->name);
            keel__free(o);
            rc = KEEL_ENOMEM;
            goto out;
        }
        o->name_len = low.len;
        keel_buf_init(&o->value);
    }
    o->lineno = lineno;
    rc = keel_buf_append(&o->value, value, vlen);
    if (rc == 0 && !o->value.base)
        rc = keel_buf_reserve(&o->value, 0);
    p->curopt = o;
    p->optname_set = nlen > 0;
out:
    keel_buf_free(&low);
    return rc;
}

/* Number of characters before the first non-whitespace one (NONSPACECRE). */
static size_t indent_of(const char *s, size_t len)
{
    size_t i = 0, chars = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = keel__py_next_cp(s + i, len - i, &cp);
        if (!keel__py_isspace(cp))
            return chars;
        i += n;
        chars++;
    }
    return 0;
}

/* One line without its terminator. Returns 0, KEEL_ENOMEM or KEEL_EPARSE (fatal). */
static int parse_line(parser_t *p, const char *line, size_t len, unsigned lineno)
{
    size_t b = 0, e = len;
    keel__py_strip(line, &b, &e);
    bool comment = b < e && (line[b] == '#' || line[b] == ';');
    if (comment || b == e) {
        /* An empty line (not a comment) is part of the current value. */
        if (!comment && p->cursect && p->optname_set && p->curopt)
            return keel_buf_putc(&p->curopt->value, '\n');
        return 0;
    }
    const char *value = line + b;
    size_t vlen = e - b;
    size_t indent = indent_of(line, len);
    if (p->cursect && p->optname_set && indent > p->indent_level) {
        int rc = keel_buf_putc(&p->curopt->value, '\n');
        return rc ? rc : keel_buf_append(&p->curopt->value, value, vlen);
    }
    p->indent_level = indent;
    if (value[0] == '[') {
        const char *rb = NULL;
        for (size_t i = vlen; i > 2; i--) {
            if (value[i - 1] == ']') {
                rb = value + i - 1;
                break;
            }
        }
        if (rb)
            return on_header(p, value + 1, (size_t)(rb - value - 1), lineno);
    }
    if (!p->cursect) {
        int rc = fail(p, KEEL__RW_INI_MISSING_SECTION, lineno, "no section header before %s", value, vlen, NULL, 0);
        return rc ? rc : KEEL_EPARSE;
    }
    size_t d = 0;
    while (d < vlen && value[d] != '=' && value[d] != ':')
        d++;
    if (d == vlen) {
        p->bad_lines++;
        return fail(p, KEEL__RW_INI_PARSING, lineno, "not a section header nor an option: %s", value, vlen, NULL, 0);
    }
    size_t ne = d;
    keel__py_rstrip(value, 0, &ne);
    size_t vb = d + 1, ve = vlen;
    keel__py_strip(value, &vb, &ve);
    if (ne == 0) {
        p->bad_lines++;
        int rc = fail(p, KEEL__RW_INI_PARSING, lineno, "option without a name: %s", value, vlen, NULL, 0);
        if (rc != 0)
            return rc;
    }
    return on_option(p, value, ne, value + vb, ve - vb, lineno);
}

/* Where Python stops reading lines when the bytes at bad are not UTF-8. */
static size_t decode_cut(const char *text, size_t len, size_t bad)
{
    /* The decoder fails at the first byte that cannot continue the sequence. */
    size_t at = bad;
    unsigned char c = (unsigned char)text[bad];
    size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 1;
    for (size_t i = 1; i < need && bad + i < len; i++) {
        unsigned char d = (unsigned char)text[bad + i];
        if ((d & 0xC0) != 0x80)
            break;
        at = bad + i;
    }
    return at / PY_CHUNK * PY_CHUNK;
}

int keel__rw_ini_parse(keel__rw_ini_t *ini, const char *name, const char *text, size_t len, bool strict, keel_buf_t *why)
{
    parser_t p;
    memset(&p, 0, sizeof(p));
    p.ini = ini;
    p.fname = name;
    p.strict = strict;
    p.why = why;
    p.why_len0 = why ? why->len : 0;
    keel_vec_init(&p.added_sections);
    keel_buf_init(&p.added_opts);

    size_t why_len0 = why ? why->len : 0;
    size_t bad = keel__utf8_invalid_at(text, len);
    size_t cut = bad < len ? decode_cut(text, len, bad) : len;
    int rc = 0;
    size_t i = 0;
    unsigned lineno = 0;
    while (i < len) {
        size_t start = i;
        while (i < len && text[i] != '\n' && text[i] != '\r')
            i++;
        size_t end = i;
        if (i < len && text[i] == '\r' && i + 1 < len && text[i + 1] == '\n')
            i += 2;
        else if (i < len)
            i++;
        /* A line Python has not decoded yet when the bad chunk comes. */
        if (bad < len && (i > cut || (i == cut && text[i - 1] == '\r')))
            break;
        lineno++;
        rc = parse_line(&p, text + start, end - start, lineno);
        if (rc != 0)
            break;
    }
    if (rc == 0 && bad < len) {
        ini->error = KEEL__RW_INI_DECODE;
        ini->error_line = 0;
        if (why) {
            /* A deferred complaint about an earlier line loses to the decode error. */
            why->len = why_len0;
            if (why->base)
                why->base[why_len0] = '\0';
            rc = keel_buf_printf(why, "%s: not UTF-8 (invalid byte 0x%02x at offset %zu)", name, (unsigned char)text[bad], bad);
        }
        if (rc == 0)
            rc = KEEL_EPARSE;
    } else if (rc == 0 && p.bad_lines > 0) {
        rc = KEEL_EPARSE;
    }
    if (rc != KEEL_ENOMEM) {
        /* configparser joins the lines of each value and strips its end. */
        keel__rw_ini_section_t *all = &ini->defaults;
        for (size_t k = 0; all; k++) {
            for (size_t j = 0; j < all->opts.len; j++) {
                keel__rw_ini_opt_t *o = all->opts.items[j];
                size_t e = o->value.len;
                keel__py_rstrip(o->value.base, 0, &e);
                o->value.len = e;
                if (o->value.base)
                    o->value.base[e] = '\0';
            }
            all = k < ini->sections.len ? ini->sections.items[k] : NULL;
        }
    }
    keel_vec_free(&p.added_sections);
    keel_buf_free(&p.added_opts);
    return rc;
}
