/*
 * pyre.h — internal to keel (never installed): Python 3.11's `re` module
 * on PCRE2.
 *
 * keel__pyre_compile() parses a pattern with Python 3.11's grammar
 * (re/_parser.py): what Python rejects is rejected here, and what it
 * accepts is rewritten into an equivalent PCRE2 pattern in which every
 * Python-specific meaning is spelled out (\Z, \s, the ASCII flag, scoped
 * flags, {,n}, \B on an empty string, undecodable bytes, ...). PCRE2 then
 * only ever sees syntax both agree on. oslo.rootwrap's RegExpFilter is the
 * user: it allows an argument when re.match(pattern + '$', arg) succeeds.
 *
 * keel__pcre2_compile() and keel__pcre2_match() are the plumbing under it,
 * for code that hands PCRE2 its own patterns (the conf module's): PCRE2
 * with '$' and '.' treating only "\n" as a newline, as Python does, and all
 * of PCRE2's memory going through keel__malloc/keel__free, so allocation
 * failures surface as KEEL_ENOMEM like everywhere else in keel.
 */
#ifndef KEEL_PYCOMPAT_PYRE_H
#define KEEL_PYCOMPAT_PYRE_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "keel/core.h"

/* ---- PCRE2 with Python's line ends and keel's allocator ----------------- */

/**
 * Compiles len bytes of PCRE2 pattern syntax with the given pcre2_compile()
 * options. Returns 0 and *out (release with pcre2_code_free), KEEL_ENOMEM,
 * or KEEL_EINVAL when PCRE2 rejects the pattern; then, if why is not NULL,
 * PCRE2's message is appended to it.
 */
int keel__pcre2_compile(const char *pattern, size_t len, uint32_t options, pcre2_code **out, keel_buf_t *why);

/**
 * Runs re on s[0..len) with the given pcre2_match() options. Returns 1 on a
 * match (then, if ovector is not NULL, it receives 2 * n offsets, unset
 * groups as PCRE2_UNSET), 0 when there is none, or KEEL_ENOMEM. Hitting
 * PCRE2's backtracking limit counts as no match (Python would keep going).
 */
int keel__pcre2_match(const pcre2_code *re, const char *s, size_t len, uint32_t options, size_t *ovector, size_t n);

/* ---- Python patterns ---------------------------------------------------- */

typedef struct keel__pyre_s keel__pyre_t;

/**
 * Compiles a Python str pattern (len bytes of UTF-8; undecodable bytes are
 * surrogateescape's U+DC80..U+DCFF). Returns 0 and *out (release with
 * keel__pyre_free), or:
 *  - KEEL_EINVAL: Python raises re.error;
 *  - KEEL_ERANGE: Python raises another exception (OverflowError for a
 *    repeat count >= 2**32-1, ValueError for flags 'a' with 'u');
 *  - KEEL_ENOTSUP: Python accepts the pattern but keel cannot express it
 *    in PCRE2 (\N{...}, a repeat count above 65535, a construct PCRE2
 *    refuses);
 *  - KEEL_ENOMEM.
 * On failure, if why is not NULL, the reason is appended to it.
 */
int keel__pyre_compile(const char *pattern, size_t len, keel__pyre_t **out, keel_buf_t *why);

/**
 * re.match(): does the pattern match at the start of s[0..len)? The bytes
 * are taken as Python's surrogateescape decoding of them. Returns 1, 0, or
 * KEEL_ENOMEM. A match that exceeds PCRE2's backtracking limit counts as 0.
 */
int keel__pyre_match(const keel__pyre_t *re, const char *s, size_t len);

/** Releases a compiled pattern; NULL is allowed. */
void keel__pyre_free(keel__pyre_t *re);

/** Appends the PCRE2 pattern keel compiled (for tests and debugging). Returns 0 or KEEL_ENOMEM. */
int keel__pyre_pcre_pattern(const keel__pyre_t *re, keel_buf_t *out);

#endif
