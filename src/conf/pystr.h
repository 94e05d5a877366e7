/*
 * pystr.h — internal to the conf module (never installed). Python str
 * semantics over UTF-8 bytes: what counts as whitespace for str.strip(),
 * character counts for len(), and repr()/str() of values. oslo.config is
 * Python, so matching its results means matching these.
 */
#ifndef KEEL_CONF_PYSTR_H
#define KEEL_CONF_PYSTR_H

#include "keel/conf.h"

/**
 * Decodes one UTF-8 character at s[0..len). Returns its length in bytes
 * (1..4) and stores the code point, or returns 0 if the bytes are not valid
 * UTF-8 (overlong, surrogate, truncated, > U+10FFFF).
 */
size_t keel__utf8_decode(const char *s, size_t len, uint32_t *cp);

/** True if the len bytes are valid UTF-8. */
bool keel__utf8_valid(const char *s, size_t len);

/** Number of code points in valid UTF-8 text (Python's len()). */
size_t keel__utf8_length(const char *s, size_t len);

/** Python's str.isspace() for one code point. */
bool keel__py_isspace(uint32_t cp);

/**
 * Python's str.strip() / lstrip() / rstrip() with no argument: narrows
 * [*begin, *end) of valid UTF-8 text, removing Unicode whitespace.
 */
void keel__py_strip(const char *s, size_t *begin, size_t *end);
void keel__py_lstrip(const char *s, size_t *begin, size_t end);
void keel__py_rstrip(const char *s, size_t begin, size_t *end);

/** Appends Python's repr() of a str (quotes chosen and escapes as CPython). */
int keel__py_repr_str(keel_buf_t *b, const char *s, size_t len);

/** Appends Python's repr() of a float ("1.0", "1e+16", "inf", "nan"). */
int keel__py_repr_float(keel_buf_t *b, double f);

#endif
