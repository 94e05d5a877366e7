/*
 * ini.c — oslo.config's INI dialect. It is not Python's configparser:
 * there are no inline comments, no DEFAULT inheritance, no interpolation at
 * this level; an indented line continues the previous value even if it
 * starts with '#', and a blank line ends it. Matching oslo.config means
 * reproducing those rules line for line, so the parser below follows
 * iniparser.BaseParser.parse() step by step, over bytes, without copying
 * the input except to join continuation lines.
 */
#include <string.h>

#include "ini.h"
#include "pycompat/pystr.h"

typedef struct {
    const keel__ini_handler_t *h;
    void *data;
    keel_buf_t *err;
    keel_buf_t key;   /* pending assignment's key */
    keel_buf_t value; /* pending value parts joined by '\n' */
    bool pending;
    unsigned key_line;
} parser_t;

static int fail(parser_t *p, unsigned lineno, const char *reason, const char *line, size_t len)
{
    int rc = keel_buf_printf(p->err, "%u: %s: ", lineno, reason);
    if (rc == 0)
        rc = keel__py_repr_str(p->err, line, len, KEEL__PY_REPR_HEX_BYTES);
    return rc ? rc : KEEL_EPARSE;
}

static int flush(parser_t *p)
{
    if (!p->pending)
        return 0;
    p->pending = false;
    return p->h->assignment(p->data, p->key.base, p->key.len, p->value.base ? p->value.base : "", p->value.len, p->key_line);
}

/* iniparser._split_key_value: the first ':' or '=' splits; the value is
 * stripped and loses one level of matching quotes; the key is stripped. */
static int split_key_value(parser_t *p, const char *line, size_t len, unsigned lineno)
{
    const char *colon = memchr(line, ':', len);
    const char *equal = memchr(line, '=', len);
    if (colon == NULL && equal == NULL)
        return fail(p, lineno, "No ':' or '=' found in assignment", line, len);
    const char *sep = (colon == NULL || (equal != NULL && equal < colon)) ? equal : colon;

    size_t kb = 0, ke = (size_t)(sep - line);
    keel__py_strip(line, &kb, &ke);
    size_t vb = (size_t)(sep - line) + 1, ve = len;
    keel__py_strip(line, &vb, &ve);
    if (ve > vb && (line[vb] == '"' || line[vb] == '\'') && line[ve - 1] == line[vb]) {
        /* value[1:-1]: a lone quote character becomes the empty string */
        vb++;
        if (ve > vb)
            ve--;
    }
    if (ke == kb)
        return fail(p, lineno, "Key cannot be empty", line, len);

    keel_buf_reset(&p->key);
    keel_buf_reset(&p->value);
    int rc = keel_buf_append(&p->key, line + kb, ke - kb);
    if (rc == 0)
        rc = keel_buf_append(&p->value, line + vb, ve - vb);
    if (rc != 0)
        return rc;
    p->pending = true;
    p->key_line = lineno;
    return 0;
}

static int parse_line(parser_t *p, const char *line, size_t len, unsigned lineno)
{
    size_t end = len;
    keel__py_rstrip(line, 0, &end);
    len = end;
    if (len == 0) /* a blank line ends a multi-line value */
        return flush(p);
    if (line[0] == ' ' || line[0] == '\t') {
        if (!p->pending)
            return fail(p, lineno, "Unexpected continuation line", line, len);
        size_t b = 0;
        keel__py_lstrip(line, &b, len);
        int rc = keel_buf_putc(&p->value, '\n');
        return rc ? rc : keel_buf_append(&p->value, line + b, len - b);
    }
    int rc = flush(p);
    if (rc != 0)
        return rc;
    if (line[0] == '[') {
        if (line[len - 1] != ']')
            return fail(p, lineno, "Invalid section (must end with ])", line, len);
        if (len <= 2)
            return fail(p, lineno, "Empty section name", line, len);
        return p->h->section(p->data, line + 1, len - 2, lineno);
    }
    if (line[0] == '#' || line[0] == ';')
        return 0;
    return split_key_value(p, line, len, lineno);
}

int keel__ini_parse(const char *text, size_t len, const keel__ini_handler_t *h, void *data, keel_buf_t *err)
{
    parser_t p = {.h = h, .data = data, .err = err};
    keel_buf_init(&p.key);
    keel_buf_init(&p.value);
    unsigned lineno = 0;
    size_t i = 0;
    int rc = 0;
    while (rc == 0 && i < len) {
        /* Universal newlines: "\r\n", "\r" and "\n" each end a line. */
        size_t start = i;
        while (i < len && text[i] != '\n' && text[i] != '\r')
            i++;
        size_t stop = i;
        if (i < len) {
            if (text[i] == '\r' && i + 1 < len && text[i + 1] == '\n')
                i++;
            i++;
        }
        rc = parse_line(&p, text + start, stop - start, ++lineno);
    }
    if (rc == 0)
        rc = flush(&p);
    keel_buf_free(&p.key);
    keel_buf_free(&p.value);
    return rc;
}
