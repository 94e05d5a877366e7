/*
 * regex.h — internal to the conf module (never installed). The regular
 * expressions oslo.config runs: re.search() of a STRING option's regex, and
 * rfc3986's re.match() of URIs, on PCRE2 (pycompat/pyre.h) in UTF + UCP
 * mode with '$' and '.' treating only "\n" as a newline, as Python does.
 *
 * Design choice: a light rewrite, not Python's grammar. Only the spellings
 * PCRE2 reads differently are translated (\Z, \uXXXX, \UXXXXXXXX, {,n}, and
 * \s as str.isspace() sees it); PCRE2 decides what is valid. This is what
 * docs/config.md promises for `regex`, and it differs from keel__pyre_compile()
 * (used by rootwrap) on patterns Python rejects or PCRE2 reads otherwise.
 */
#ifndef KEEL_CONF_REGEX_H
#define KEEL_CONF_REGEX_H

#include "pycompat/pyre.h"

/* keel__conf_re_compile() flags. */
enum {
    KEEL__CONF_RE_IGNORECASE = 1u << 0, /* re.IGNORECASE */
    KEEL__CONF_RE_VERBATIM = 1u << 1,   /* pattern is already PCRE2 syntax: no translation */
};

/**
 * Compiles a Python str pattern of len bytes (see the file comment).
 * Returns 0 and *out (release with pcre2_code_free), KEEL_ENOMEM, or
 * KEEL_EINVAL when PCRE2 rejects the pattern; then, if why is not NULL,
 * PCRE2's message is appended to it.
 */
int keel__conf_re_compile(const char *pattern, size_t len, unsigned flags, pcre2_code **out, keel_buf_t *why);

/**
 * Runs re on len bytes of valid UTF-8: re.match() when anchored, else
 * re.search(). Returns 1 on a match (then, if ovector is not NULL, it
 * receives 2 * n offsets, unset groups as PCRE2_UNSET), 0 when there is
 * none, or KEEL_ENOMEM. Hitting PCRE2's backtracking limit counts as no
 * match (Python would keep going; no sane config value gets there).
 */
int keel__conf_re_match(const pcre2_code *re, const char *s, size_t len, bool anchored, size_t *ovector, size_t n);

#endif
