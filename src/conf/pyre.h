/*
 * pyre.h — internal to the conf module (never installed). Python's `re`
 * module on top of PCRE2: oslo.config checks STRING options with
 * re.search() and rfc3986 parses URIs with re.match(), both over str, so
 * keel compiles the same patterns with PCRE2 in UTF + UCP mode, with '$'
 * and '.' treating only "\n" as a newline, as Python does.
 *
 * All PCRE2 memory goes through keel__malloc/keel__free, so allocation
 * failures surface as KEEL_ENOMEM like everywhere else in keel.
 */
#ifndef KEEL_CONF_PYRE_H
#define KEEL_CONF_PYRE_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "keel/core.h"

/* keel__pyre_compile() flags. */
enum {
    KEEL_PYRE_IGNORECASE = 1u << 0, /* re.IGNORECASE */
    KEEL_PYRE_VERBATIM = 1u << 1,   /* pattern is already PCRE2 syntax: no translation */
};

/**
 * Compiles a Python str pattern of len bytes. Python-only syntax is
 * translated first (\Z, \uXXXX, \UXXXXXXXX, {,n}, and \s as str.isspace()
 * sees it). Returns 0 and *out (release with pcre2_code_free), KEEL_ENOMEM,
 * or KEEL_EINVAL when PCRE2 rejects the pattern; then, if why is not NULL,
 * PCRE2's message is appended to it.
 */
int keel__pyre_compile(const char *pattern, size_t len, unsigned flags, pcre2_code **out, keel_buf_t *why);

/**
 * Runs re on len bytes of valid UTF-8: re.match() when anchored, else
 * re.search(). Returns 1 on a match (then, if ovector is not NULL, it
 * receives 2 * n offsets, unset groups as PCRE2_UNSET), 0 when there is
 * none, or KEEL_ENOMEM. Hitting PCRE2's backtracking limit counts as no
 * match (Python would keep going; no sane config value gets there).
 */
int keel__pyre_match(const pcre2_code *re, const char *s, size_t len, bool anchored, size_t *ovector, size_t n);

#endif
