/*
 * regex.c — the conf module's regular expressions (see regex.h): a pattern
 * translator for the few places the two dialects differ, over pycompat's
 * PCRE2 plumbing.
 *
 * Design choice: translate, do not reimplement. PCRE2 is a backtracking
 * engine with Perl's leftmost-first priorities, which are also Python's, so
 * the same pattern picks the same match and the same groups. What differs
 * is spelling (\Z, \u, {,n}) and the definition of \s (Python's is
 * str.isspace(), which includes U+001C..U+001F and excludes U+180E), and
 * those are rewritten before compiling.
 */
#include "regex.h"

/* What Python's \s matches in a str pattern (Py_UNICODE_ISSPACE), as the
 * inside of a PCRE2 character class. */
static const char py_space_class[] = "\\t-\\r\\x1c-\\x20\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}"
                                     "\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}";
/* Its complement, for \S inside a class where "[^...]" cannot nest. */
static const char py_nonspace_class[] = "\\x{0}-\\x{8}\\x{e}-\\x{1b}\\x{21}-\\x{84}\\x{86}-\\x{9f}\\x{a1}-\\x{167f}"
                                        "\\x{1681}-\\x{1fff}\\x{200b}-\\x{2027}\\x{202a}-\\x{202e}\\x{2030}-\\x{205e}"
                                        "\\x{2060}-\\x{2fff}\\x{3001}-\\x{10ffff}";

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Appends \x{...} for the n hex digits of a \u or \U escape at p. */
static int put_hex_escape(keel_buf_t *b, const char *p, size_t n)
{
    int rc = keel_buf_puts(b, "\\x{");
    if (rc == 0)
        rc = keel_buf_append(b, p, n);
    return rc ? rc : keel_buf_putc(b, '}');
}

/* Python's "{,n}" / "{,}" repeat, which PCRE2 10.42 reads as literal text:
 * returns the length of the digits between "{," and "}", or -1. */
static long lazy_min_repeat(const char *p, size_t left)
{
    if (left < 3 || p[0] != '{' || p[1] != ',')
        return -1;
    size_t i = 2;
    while (i < left && p[i] >= '0' && p[i] <= '9')
        i++;
    return (i < left && p[i] == '}') ? (long)(i - 2) : -1;
}

/* Rewrites a Python pattern into PCRE2 syntax (see the file comment). */
static int translate(const char *p, size_t len, keel_buf_t *out)
{
    bool in_class = false;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < len;) {
        char c = p[i];
        if (c == '\\' && i + 1 < len) {
            char e = p[i + 1];
            if (e == 'Z' && !in_class) {
                rc = keel_buf_puts(out, "\\z");
                i += 2;
            } else if (e == 'u' && i + 6 <= len && is_hex(p[i + 2]) && is_hex(p[i + 3]) && is_hex(p[i + 4]) && is_hex(p[i + 5])) {
                rc = put_hex_escape(out, p + i + 2, 4);
                i += 6;
            } else if (e == 'U' && i + 10 <= len) {
                bool ok = true;
                for (size_t k = 2; k < 10; k++)
                    ok = ok && is_hex(p[i + k]);
                rc = ok ? put_hex_escape(out, p + i + 2, 8) : keel_buf_append(out, p + i, 2);
                i += ok ? 10 : 2;
            } else if (e == 's') {
                rc = in_class ? keel_buf_puts(out, py_space_class) : keel_buf_printf(out, "[%s]", py_space_class);
                i += 2;
            } else if (e == 'S') {
                rc = in_class ? keel_buf_puts(out, py_nonspace_class) : keel_buf_printf(out, "[^%s]", py_space_class);
                i += 2;
            } else {
                /* Any other escape means the same in both dialects (a
                 * multi-byte character after it is copied by the next turns). */
                rc = keel_buf_append(out, p + i, 2);
                i += 2;
            }
            continue;
        }
        if (in_class) {
            if (c == ']')
                in_class = false;
            rc = keel_buf_putc(out, c);
            i++;
            continue;
        }
        if (c == '[') {
            /* A ']' right after '[' or '[^' is a literal, in both dialects. */
            size_t j = i + 1;
            if (j < len && p[j] == '^')
                j++;
            if (j < len && p[j] == ']')
                j++;
            rc = keel_buf_append(out, p + i, j - i);
            in_class = true;
            i = j;
            continue;
        }
        long digits = lazy_min_repeat(p + i, len - i);
        if (digits >= 0) {
            rc = keel_buf_puts(out, "{0,");
            if (rc == 0)
                rc = keel_buf_append(out, p + i + 2, (size_t)digits + 1);
            i += 2 + (size_t)digits + 1;
            continue;
        }
        rc = keel_buf_putc(out, c);
        i++;
    }
    return rc;
}

int keel__conf_re_compile(const char *pattern, size_t len, unsigned flags, pcre2_code **out, keel_buf_t *why)
{
    *out = NULL;
    keel_buf_t pcre;
    keel_buf_init(&pcre);
    const char *src = pattern;
    size_t srclen = len;
    uint32_t options = PCRE2_UTF;
    if (!(flags & KEEL__CONF_RE_VERBATIM)) {
        options |= PCRE2_UCP;
        int rc = translate(pattern, len, &pcre);
        if (rc != 0)
            return rc;
        src = pcre.base ? pcre.base : "";
        srclen = pcre.len;
    }
    if (flags & KEEL__CONF_RE_IGNORECASE)
        options |= PCRE2_CASELESS;
    int rc = keel__pcre2_compile(src, srclen, options, out, why);
    keel_buf_free(&pcre);
    return rc;
}

int keel__conf_re_match(const pcre2_code *re, const char *s, size_t len, bool anchored, size_t *ovector, size_t n)
{
    return keel__pcre2_match(re, s, len, PCRE2_NO_UTF_CHECK | (anchored ? PCRE2_ANCHORED : 0), ovector, n);
}
