/*
 * pystr.h — internal to the conf module (never installed). Python str
 * semantics over UTF-8 bytes: what counts as whitespace for str.strip(),
 * character counts for len(), and repr()/str() of values. oslo.config is
 * Python, so matching its results means matching these.
 */
#ifndef KEEL_CONF_PYSTR_H
#define KEEL_CONF_PYSTR_H

#include <locale.h>

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

/** Python's str.isprintable() for one code point (what repr() leaves as is). */
bool keel__py_isprintable(uint32_t cp);

/**
 * unicodedata.decimal() of one code point: 0..9 for any character of
 * category Nd (what int() and float() accept as a digit), else -1.
 */
int keel__py_decimal(uint32_t cp);

/**
 * The simple lowercase of one code point (_PyUnicode_ToLowercase): what
 * re.IGNORECASE compares. U+0130 gives 'i', U+03A3 always U+03C3.
 */
uint32_t keel__py_tolower_simple(uint32_t cp);

/**
 * Appends the UTF-8 encoding of one code point (< 0x110000). Returns 0 or
 * KEEL_ENOMEM.
 */
int keel__utf8_put(keel_buf_t *b, uint32_t cp);

/**
 * Appends Python's str.lower() of valid UTF-8 text: full Unicode mapping,
 * U+0130 to two code points and the Final_Sigma rule for U+03A3.
 * Returns 0 or KEEL_ENOMEM.
 */
int keel__py_lower(keel_buf_t *b, const char *s, size_t len);

/**
 * Appends Python's str.upper() of valid UTF-8 text, with the mappings to
 * several code points ("ß" is "SS"). Returns 0 or KEEL_ENOMEM.
 */
int keel__py_upper(keel_buf_t *b, const char *s, size_t len);

/**
 * Python's str.strip() / lstrip() / rstrip() with no argument: narrows
 * [*begin, *end) of valid UTF-8 text, removing Unicode whitespace.
 */
void keel__py_strip(const char *s, size_t *begin, size_t *end);
void keel__py_lstrip(const char *s, size_t *begin, size_t end);
void keel__py_rstrip(const char *s, size_t begin, size_t *end);

/** Appends Python's repr() of a str (quotes chosen and escapes as CPython). */
int keel__py_repr_str(keel_buf_t *b, const char *s, size_t len);

/**
 * Appends Python's repr() of a float ("1.0", "1e+16", "inf", "nan"). The
 * text never depends on the process locale (LC_NUMERIC).
 */
int keel__py_repr_float(keel_buf_t *b, double f);

/**
 * The "C" locale, for strtod_l() and uselocale(), so number text is read
 * and written with '.' whatever setlocale() the program made. Created once
 * and never freed; (locale_t)0 if it could not be created.
 */
locale_t keel__c_locale(void);

#endif
