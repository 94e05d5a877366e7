/*
 * pyre.h — internal to the rootwrap module (never installed). Python's
 * re.match() for RegExpFilter and ChainingRegExpFilter, on PCRE2.
 *
 * oslo.rootwrap allows an argument when re.match(pattern + '$', arg)
 * succeeds and denies when the pattern does not compile. To decide the
 * same, keel parses the pattern with Python 3.11's grammar (re/_parser.py):
 * what Python rejects is rejected here, and what it accepts is rewritten
 * into an equivalent PCRE2 pattern in which every Python-specific meaning
 * is spelled out (\Z, \s, the ASCII flag, scoped flags, {,n}, \B on an
 * empty string, ...). PCRE2 then only ever sees syntax both agree on.
 */
#ifndef KEEL_ROOTWRAP_PYRE_H
#define KEEL_ROOTWRAP_PYRE_H

#include "keel/core.h"

typedef struct keel__rw_re_s keel__rw_re_t;

/**
 * Compiles a Python str pattern (len bytes of UTF-8). Returns 0 and *out
 * (release with keel__rw_re_free), or:
 *  - KEEL_EINVAL: Python raises re.error, so the filter argument denies;
 *  - KEEL_ERANGE: Python raises another exception (OverflowError for a
 *    repeat count >= 2**32-1, ValueError for flags 'a' with 'u'), which
 *    oslo.rootwrap does not catch;
 *  - KEEL_ENOTSUP: Python accepts the pattern but keel cannot express it
 *    in PCRE2 (\N{...}, a repeat count above 65535, a construct PCRE2
 *    refuses); keel denies, which is stricter than Python;
 *  - KEEL_ENOMEM.
 * On failure, if why is not NULL, the reason is appended to it.
 */
int keel__rw_re_compile(const char *pattern, size_t len, keel__rw_re_t **out, keel_buf_t *why);

/**
 * re.match(): does the pattern match at the start of s[0..len)? The bytes
 * are taken as Python's surrogateescape decoding of them. Returns 1, 0, or
 * KEEL_ENOMEM. A match that exceeds PCRE2's backtracking limit counts as 0.
 */
int keel__rw_re_match(const keel__rw_re_t *re, const char *s, size_t len);

void keel__rw_re_free(keel__rw_re_t *re);

/** Appends the PCRE2 pattern keel compiled (for tests and debugging). */
int keel__rw_re_pcre_pattern(const keel__rw_re_t *re, keel_buf_t *out);

#endif
