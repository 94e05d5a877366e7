/*
 * sample.c — oslopolicy-sample-generator and oslopolicy-convert-json-to-yaml:
 * the commented YAML oslo.policy's generator writes for rules registered in
 * code, and the conversion of a JSON policy file against those rules.
 *
 * Design: the output is text an operator diffs against what the Python
 * tools wrote, so it is built line by line the way generator.py builds it,
 * including textwrap.wrap() of descriptions at 70 columns. textwrap's
 * chunking is its own regular expression (wordsep_re); keel runs that very
 * expression through PCRE2 in UTF/UCP mode, whose \w and \d agree with
 * Python's for str, and reimplements _wrap_chunks() around it.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "policy_int.h"
#include "pycompat/pystr.h"

/* ---- textwrap ---------------------------------------------------------- */

typedef struct {
    const char *s;
    size_t n;   /* bytes */
    size_t len; /* code points */
} chunk_t;

static bool py_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint32_t c = keel__pol_utf8_next(s, n, &i);
        if (!keel__py_isspace(c))
            return false;
    }
    return true;
}

/* textwrap's _munge_whitespace(): expandtabs(8), then \t\n\v\f\r -> ' '. */
static int munge(const char *s, size_t n, keel_buf_t *out)
{
    size_t col = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0;) {
        size_t start = i;
        uint32_t c = keel__pol_utf8_next(s, n, &i);
        if (c == '\t') {
            size_t spaces = 8 - col % 8;
            for (size_t k = 0; k < spaces && rc == 0; k++)
                rc = keel_buf_putc(out, ' ');
            col += spaces;
        } else if (c == '\n' || c == '\r') {
            rc = keel_buf_putc(out, ' ');
            col = 0;
        } else if (c == '\v' || c == '\f') {
            rc = keel_buf_putc(out, ' ');
            col++;
        } else {
            rc = keel_buf_append(out, s + start, i - start);
            col++;
        }
    }
    return rc;
}

static const char wordsep[] = "([\\t\\n\\x0b\\x0c\\r ]+"
                              "|(?<=[\\w!\"'&.,?])-{2,}(?=\\w)"
                              "|[^\\t\\n\\x0b\\x0c\\r ]+?(?:"
                              "-(?:(?<=[^\\d\\W]{2}-)|(?<=[^\\d\\W]-[^\\d\\W]-))(?=[^\\d\\W]-?[^\\d\\W])"
                              "|(?=[\\t\\n\\x0b\\x0c\\r ]|\\z)"
                              "|(?<=[\\w!\"'&.,?])(?=-{2,}\\w)))";

static int push_chunk(keel_vec_t *v, const char *s, size_t n)
{
    if (n == 0)
        return 0;
    chunk_t *c = keel__malloc(sizeof(*c));
    if (c == NULL)
        return KEEL_ENOMEM;
    c->s = s;
    c->n = n;
    c->len = keel__pol_utf8_count(s, n);
    if (keel_vec_push(v, c) != 0) {
        keel__free(c);
        return KEEL_ENOMEM;
    }
    return 0;
}

/* re.split(wordsep_re, text) without the empty strings. */
static int split_chunks(const char *text, size_t n, keel_vec_t *out)
{
    int err;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)wordsep, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &off, NULL);
    if (re == NULL)
        return KEEL_ENOMEM;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (md == NULL) {
        pcre2_code_free(re);
        return KEEL_ENOMEM;
    }
    int rc = 0;
    size_t pos = 0, last = 0;
    while (pos <= n && rc == 0) {
        int m = pcre2_match(re, (PCRE2_SPTR)text, n, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (m < 0)
            break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        rc = push_chunk(out, text + last, ov[0] - last);
        if (rc == 0)
            rc = push_chunk(out, text + ov[2], ov[3] - ov[2]);
        last = ov[1];
        pos = ov[1] > ov[0] ? ov[1] : ov[1] + 1;
    }
    if (rc == 0)
        rc = push_chunk(out, text + last, n - last);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return rc;
}

/* textwrap.wrap(text, 70, initial_indent='# ', subsequent_indent='# '),
 * each line appended to out followed by '\n'. */
static int wrap70(const char *text, size_t n, keel_buf_t *out)
{
    keel_buf_t m;
    keel_buf_init(&m);
    keel_vec_t chunks;
    keel_vec_init(&chunks);
    int rc = munge(text, n, &m);
    if (rc == 0)
        rc = split_chunks(m.base ? m.base : "", m.len, &chunks);
    const size_t width = 70 - 2;
    size_t i = 0, nlines = 0;
    /* Chunks are consumed from the front; a long word is split in place. */
    chunk_t split; /* the rest of a broken long word */
    bool have_split = false;
    while (rc == 0 && (i < chunks.len || have_split)) {
        chunk_t *next = have_split ? &split : chunks.items[i];
#define ADVANCE()                                                                                                                  \
    do {                                                                                                                           \
        if (have_split)                                                                                                            \
            have_split = false;                                                                                                    \
        else                                                                                                                       \
            i++;                                                                                                                   \
    } while (0)
        if (nlines > 0 && py_blank(next->s, next->n)) {
            ADVANCE();
            if (!have_split && i >= chunks.len)
                break;
            next = have_split ? &split : chunks.items[i];
        }
        size_t line_start = out->len;
        size_t cur_len = 0, nparts = 0;
        bool appended_empty = false; /* _handle_long_word() added '' */
        const char *last_s = NULL;
        size_t last_n = 0, last_len = 0;
        rc = keel_buf_puts(out, "# ");
        while (rc == 0 && (have_split || i < chunks.len)) {
            next = have_split ? &split : chunks.items[i];
            if (cur_len + next->len > width)
                break;
            rc = keel_buf_append(out, next->s, next->n);
            cur_len += next->len;
            last_s = next->s;
            last_n = next->n;
            last_len = next->len;
            nparts++;
            ADVANCE();
        }
        if (rc == 0 && (have_split || i < chunks.len)) {
            next = have_split ? &split : chunks.items[i];
            if (next->len > width) {
                /* _handle_long_word(): break at the last hyphen that fits. */
                size_t space_left = width - cur_len;
                size_t end = space_left;
                size_t hyphen = 0;
                bool found = false;
                for (size_t k = 0, b = 0; k < space_left && b < next->n; k++) {
                    if (next->s[b] == '-') {
                        hyphen = k;
                        found = true;
                    }
                    keel__pol_utf8_next(next->s, next->n, &b);
                }
                if (found && hyphen > 0) {
                    bool non_hyphen = false;
                    for (size_t k = 0, b = 0; k < hyphen; k++) {
                        if (next->s[b] != '-')
                            non_hyphen = true;
                        keel__pol_utf8_next(next->s, next->n, &b);
                    }
                    if (non_hyphen)
                        end = hyphen + 1;
                }
                size_t eb = keel__pol_utf8_offset(next->s, next->n, end);
                rc = keel_buf_append(out, next->s, eb);
                if (eb > 0) {
                    last_s = next->s;
                    last_n = eb;
                    last_len = end;
                    nparts++;
                } else {
                    appended_empty = true;
                }
                cur_len += end;
                chunk_t rest = {next->s + eb, next->n - eb, next->len - end};
                if (!have_split)
                    i++;
                split = rest;
                have_split = true;
                if (split.n == 0)
                    have_split = false;
            }
        }
        /* Drop a trailing whitespace chunk (only the '' when one was added). */
        if (rc == 0 && !appended_empty && nparts > 0 && py_blank(last_s, last_n)) {
            out->len -= last_n;
            out->base[out->len] = '\0';
            cur_len -= last_len;
            nparts--;
        }
        if (rc == 0) {
            if (nparts > 0) {
                rc = keel_buf_putc(out, '\n');
                nlines++;
            } else {
                out->len = line_start;
                if (out->base)
                    out->base[out->len] = '\0';
            }
        }
#undef ADVANCE
    }
    for (size_t k = 0; k < chunks.len; k++)
        keel__free(chunks.items[k]);
    keel_vec_free(&chunks);
    keel_buf_free(&m);
    return rc;
}

/* str.splitlines() boundaries */
static bool is_line_break(uint32_t c)
{
    return c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E || c == 0x85 || c == 0x2028 ||
           c == 0x2029;
}

static void py_strip(const char **s, size_t *n, bool left, bool right)
{
    while (left && *n > 0) {
        size_t i = 0;
        uint32_t c = keel__pol_utf8_next(*s, *n, &i);
        if (!keel__py_isspace(c))
            break;
        *s += i;
        *n -= i;
    }
    while (right && *n > 0) {
        /* walk back one code point */
        size_t b = *n - 1;
        while (b > 0 && ((unsigned char)(*s)[b] & 0xC0) == 0x80)
            b--;
        size_t j = b;
        uint32_t c = keel__pol_utf8_next(*s, *n, &j);
        if (!keel__py_isspace(c))
            break;
        *n = b;
    }
}

/* generator._format_help_text() */
static int help_text(const char *description, keel_buf_t *out)
{
    if (description == NULL || description[0] == '\0')
        return keel_buf_puts(out, "#");
    const char *d = description;
    size_t n = strlen(d);
    py_strip(&d, &n, true, true);
    keel_buf_t lines, para;
    keel_buf_init(&lines);
    keel_buf_init(&para);
    bool have_para = false;
    int rc = 0;
    size_t i = 0;
    while (i <= n && rc == 0 && n > 0) {
        size_t start = i, end = i;
        while (end < n) {
            size_t j = end;
            uint32_t c = keel__pol_utf8_next(d, n, &j);
            if (is_line_break(c))
                break;
            end = j;
        }
        const char *line = d + start;
        size_t ll = end - start;
        /* the line break itself ("\r\n" counts as one) */
        i = end;
        if (i < n) {
            size_t j = i;
            uint32_t c = keel__pol_utf8_next(d, n, &j);
            i = j;
            if (c == '\r' && i < n && d[i] == '\n')
                i++;
        } else {
            i = n + 1;
        }
        const char *t = line;
        size_t tl = ll;
        py_strip(&t, &tl, true, true);
        if (tl == 0) {
            if (have_para)
                rc = wrap70(para.base, para.len, &lines);
            if (rc == 0)
                rc = keel_buf_puts(&lines, "#\n");
            keel_buf_reset(&para);
            have_para = false;
            continue;
        }
        const char *l = line;
        size_t lln = ll;
        py_strip(&l, &lln, true, false);
        const char *r = line;
        size_t rn = ll;
        py_strip(&r, &rn, false, true);
        if (lln == ll) {
            if (have_para)
                rc = keel_buf_putc(&para, ' ');
            if (rc == 0)
                rc = keel_buf_append(&para, r, rn);
            have_para = true;
        } else {
            if (have_para) {
                rc = wrap70(para.base, para.len, &lines);
                if (rc == 0)
                    rc = keel_buf_puts(&lines, "#\n");
                keel_buf_reset(&para);
                have_para = false;
            }
            if (rc == 0)
                rc = keel_buf_printf(&lines, "# %.*s\n", (int)rn, r);
        }
    }
    if (rc == 0 && have_para)
        rc = wrap70(para.base, para.len, &lines);
    /* '\n'.join(formatted_lines): no newline after the last line. */
    if (rc == 0 && lines.len > 0 && lines.base[lines.len - 1] == '\n')
        lines.len--;
    if (rc == 0)
        rc = keel_buf_append(out, lines.base ? lines.base : "", lines.len);
    keel_buf_free(&lines);
    keel_buf_free(&para);
    return rc;
}

/* ---- rule entries -------------------------------------------------------- */

/* generator._format_rule_default_yaml() for a row; check_text is the check
 * string as printed (the file's value when converting). */
static int format_rule(keel_buf_t *b, const keel_policy_default_t *d, const char *check_text, bool include_help, bool comment_rule,
                       bool add_deprecated)
{
    keel_buf_t text;
    keel_buf_init(&text);
    int rc = keel_buf_printf(&text, "\"%s\": \"%s\"\n", d->name, check_text);
    if (rc == 0 && include_help) {
        keel_buf_t t2;
        keel_buf_init(&t2);
        if (d->description && d->description[0]) {
            rc = help_text(d->description, &t2);
            if (rc == 0)
                rc = keel_buf_putc(&t2, '\n');
        }
        if (d->documented)
            for (size_t i = 0; i < d->n_operations && rc == 0; i++)
                if (d->operations[i].method && d->operations[i].method[0] && d->operations[i].path && d->operations[i].path[0])
                    rc = keel_buf_printf(&t2, "# %s  %s\n", d->operations[i].method, d->operations[i].path);
        if (rc == 0 && d->scope_types) {
            rc = keel_buf_puts(&t2, "# Intended scope(s): ");
            for (size_t i = 0; d->scope_types[i] && rc == 0; i++)
                rc = keel_buf_printf(&t2, "%s%s", i ? ", " : "", d->scope_types[i]);
            if (rc == 0)
                rc = keel_buf_putc(&t2, '\n');
        }
        if (rc == 0 && comment_rule)
            rc = keel_buf_putc(&t2, '#');
        if (rc == 0)
            rc = keel_buf_append(&t2, text.base, text.len);
        if (rc == 0)
            rc = keel_buf_putc(&t2, '\n');
        keel_buf_free(&text);
        text = t2;
    }
    if (rc == 0 && add_deprecated && d->deprecated_for_removal) {
        keel_buf_t t2;
        keel_buf_init(&t2);
        rc = keel_buf_printf(&t2, "# DEPRECATED\n# \"%s\" has been deprecated since %s.\n", d->name,
                             d->deprecated_since ? d->deprecated_since : "None");
        if (rc == 0)
            rc = help_text(d->deprecated_reason, &t2);
        if (rc == 0)
            rc = keel_buf_putc(&t2, '\n');
        if (rc == 0)
            rc = keel_buf_append(&t2, text.base, text.len);
        keel_buf_free(&text);
        text = t2;
    } else if (rc == 0 && add_deprecated && d->deprecated_rule) {
        const keel_policy_deprecated_rule_t *dr = d->deprecated_rule;
        const char *reason = dr->deprecated_reason ? dr->deprecated_reason : d->deprecated_reason;
        const char *since = dr->deprecated_since ? dr->deprecated_since : d->deprecated_since;
        keel_buf_t dep;
        keel_buf_init(&dep);
        rc = keel_buf_printf(&dep, "\"%s\":\"%s\" has been deprecated since %s in favor of \"%s\":\"%s\".", dr->name, dr->check_str,
                             since ? since : "None", d->name, d->check_str);
        if (rc == 0)
            rc = keel_buf_puts(&text, "# DEPRECATED\n");
        if (rc == 0)
            rc = help_text(dep.base, &text);
        if (rc == 0)
            rc = keel_buf_putc(&text, '\n');
        if (rc == 0)
            rc = help_text(reason, &text);
        if (rc == 0)
            rc = keel_buf_putc(&text, '\n');
        keel_buf_free(&dep);
        if (rc == 0 && strcmp(d->name, dr->name) != 0)
            rc = keel_buf_printf(&text,
                                 "# WARNING: A rule name change has been identified.\n"
                                 "#          This may be an artifact of new rules being\n"
                                 "#          included which require legacy fallback\n"
                                 "#          rules to ensure proper policy behavior.\n"
                                 "#          Alternatively, this may just be an alias.\n"
                                 "#          Please evaluate on a case by case basis\n"
                                 "#          keeping in mind the format for aliased\n"
                                 "#          rules is:\n"
                                 "#          \"old_rule_name\": \"new_rule_name\".\n"
                                 "# \"%s\": \"rule:%s\"\n",
                                 dr->name, d->name);
        if (rc == 0)
            rc = keel_buf_putc(&text, '\n');
    }
    if (rc == 0)
        rc = keel_buf_append(b, text.base ? text.base : "", text.len);
    keel_buf_free(&text);
    return rc;
}

static int write_out(FILE *f, const keel_buf_t *b)
{
    if (b->len && fwrite(b->base, 1, b->len, f) != b->len)
        return keel_from_errno(errno);
    return fflush(f) == 0 ? 0 : keel_from_errno(errno);
}

/* Sections in sorted(namespace) order. */
static void section_order(const char *const *ns, size_t n, size_t *order)
{
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(ns[order[j - 1]], ns[order[j]]) > 0; j--) {
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
}

int keel_policy_write_sample(FILE *f, const char *const *namespaces, const keel_policy_default_t *const *rows, const size_t *counts,
                             size_t nnamespaces, bool exclude_deprecated)
{
    size_t *order = keel__calloc(nnamespaces ? nnamespaces : 1, sizeof(size_t));
    if (order == NULL)
        return KEEL_ENOMEM;
    section_order(namespaces, nnamespaces, order);
    keel_buf_t b;
    keel_buf_init(&b);
    int rc = 0;
    for (size_t s = 0; s < nnamespaces && rc == 0; s++)
        for (size_t i = 0; i < counts[order[s]] && rc == 0; i++) {
            const keel_policy_default_t *d = &rows[order[s]][i];
            rc = format_rule(&b, d, d->check_str, true, true, !exclude_deprecated);
        }
    if (rc == 0)
        rc = write_out(f, &b);
    keel_buf_free(&b);
    keel__free(order);
    return rc;
}

/* "%(check_str)s" of a file value: the string, or Python's str() of it. */
static int value_text(const json_t *v, keel_buf_t *out)
{
    keel__pol_sbuf_t s;
    keel__pol_sbuf_init(&s, NULL, 0);
    int rc = keel__pol_json_text(&s, v, KEEL__PY_STR);
    if (rc == 0)
        rc = keel_buf_append(out, s.base ? s.base : "", s.len);
    keel__pol_sbuf_free(&s);
    return rc;
}

static int rule_str_of(const char *text, keel_buf_t *out)
{
    keel_policy_rule_t *r;
    int rc = keel_policy_rule_parse(text, strlen(text), &r);
    if (rc == 0)
        rc = keel_policy_rule_str(r, out);
    keel_policy_rule_free(r);
    return rc;
}

int keel_policy_convert_json_to_yaml(FILE *f, const char *json_text, size_t len, const char *const *namespaces,
                                     const keel_policy_default_t *const *rows, const size_t *counts, size_t nnamespaces,
                                     const char **why)
{
    json_error_t jerr;
    json_t *file = json_loadb(json_text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (file == NULL || !json_is_object(file)) {
        json_decref(file);
        if (why)
            *why = "the policy file is not a JSON object";
        return KEEL_EPARSE;
    }
    size_t *order = keel__calloc(nnamespaces ? nnamespaces : 1, sizeof(size_t));
    if (order == NULL) {
        json_decref(file);
        return KEEL_ENOMEM;
    }
    section_order(namespaces, nnamespaces, order);
    keel_buf_t b, check, s1, s2;
    keel_buf_init(&b);
    keel_buf_init(&check);
    keel_buf_init(&s1);
    keel_buf_init(&s2);
    int rc = 0;
    static const keel_policy_operation_t no_ops[] = {{"", ""}};
    for (size_t s = 0; s < nnamespaces && rc == 0; s++) {
        for (size_t i = 0; i < counts[order[s]] && rc == 0; i++) {
            const keel_policy_default_t *d = &rows[order[s]][i];
            json_t *v = json_object_get(file, d->name);
            if (v == NULL)
                continue;
            /* file_policies.pop(name), made into a DocumentedRuleDefault */
            keel_buf_reset(&check);
            rc = value_text(v, &check);
            keel_policy_default_t doc = *d;
            doc.documented = true;
            doc.description = d->description && d->description[0] ? d->description : d->name;
            if (!d->documented) {
                doc.operations = no_ops;
                doc.n_operations = 1;
            }
            /* file_rule == default_rule compares str() of the two checks. */
            keel_policy_rule_t *fr = NULL;
            keel_buf_reset(&s1);
            keel_buf_reset(&s2);
            if (rc == 0) {
                const char *w = NULL;
                rc = keel_policy_rule_from_json(v, &fr, &w);
            }
            if (rc == 0)
                rc = keel_policy_rule_str(fr, &s1);
            keel_policy_rule_free(fr);
            if (rc == 0)
                rc = rule_str_of(d->check_str, &s2);
            if (rc == 0) {
                bool same = strcmp(s1.base ? s1.base : "", s2.base ? s2.base : "") == 0;
                rc = format_rule(&b, &doc, check.base ? check.base : "", true, same, false);
            }
            if (rc == 0 && json_object_del(file, d->name) != 0)
                rc = KEEL_ENOMEM;
        }
    }
    if (rc == 0 && json_object_size(file) > 0)
        rc = keel_buf_puts(&b, "# WARNING: Below rules are either deprecated rules\n"
                               "# or extra rules in policy file, it is strongly\n"
                               "# recommended to switch to new rules.\n");
    const char *k;
    json_t *v;
    json_object_foreach(file, k, v)
    {
        if (rc != 0)
            break;
        keel_buf_reset(&check);
        rc = value_text(v, &check);
        if (rc == 0)
            rc = keel_buf_printf(&b, "\"%s\": \"%s\"\n", k, check.base ? check.base : "");
    }
    if (rc == 0)
        rc = write_out(f, &b);
    if (rc == KEEL_EINVAL && why)
        *why = "a rule in the policy file cannot be loaded";
    keel_buf_free(&b);
    keel_buf_free(&check);
    keel_buf_free(&s1);
    keel_buf_free(&s2);
    keel__free(order);
    json_decref(file);
    return rc;
}
