/*
 * pystr.h — internal to keel (never installed): CPython 3.11's str
 * behaviour over UTF-8 bytes, shared by the modules that must take the same
 * decisions as a Python library (conf as oslo.config, policy as oslo.policy,
 * rootwrap as oslo.rootwrap): which characters strip() removes, len() in
 * code points, str.lower()/upper(), the str.isX() properties, and repr().
 *
 * Text is bytes. Where bytes are not valid UTF-8 they are read the way
 * Python's "surrogateescape" error handler reads them: each such byte is the
 * lone surrogate U+DC80..U+DCFF (U+DC00 + byte), so nothing is lost and
 * nothing crashes. Functions that write text write such a byte back as it
 * was. The Unicode properties come from pyunicode_tables.h, generated from
 * the reference interpreter by scripts/gen_pyunicode.py.
 */
#ifndef KEEL_PYCOMPAT_PYSTR_H
#define KEEL_PYCOMPAT_PYSTR_H

#include <locale.h>

#include "keel/core.h"

/* ---- UTF-8 ------------------------------------------------------------ */

/**
 * Decodes one strict UTF-8 character at s[0..len) (no overlongs, no
 * surrogates, nothing past U+10FFFF). Returns its length in bytes (1..4) and
 * stores the code point, or returns 0 if the bytes there are not valid UTF-8
 * (or len is 0).
 */
size_t keel__utf8_decode(const char *s, size_t len, uint32_t *cp);

/**
 * Decodes one character as surrogateescape does: valid UTF-8 gives its code
 * point, a byte that is not gives U+DC00 + byte. Returns the number of bytes
 * used (1..4); len must be at least 1.
 */
size_t keel__py_next_cp(const char *s, size_t len, uint32_t *cp);

/**
 * keel__py_next_cp(), except that the three-byte form of a surrogate
 * (ED A0..BF 80..BF, which Python's "surrogatepass" writes) decodes to that
 * surrogate instead of to three escaped bytes. The policy module reads text
 * this way.
 */
size_t keel__py_next_cp_surrogatepass(const char *s, size_t len, uint32_t *cp);

/** Returns the offset of the first byte that is not valid UTF-8, or len. */
size_t keel__utf8_invalid_at(const char *s, size_t len);

/** True if the len bytes are valid UTF-8. */
bool keel__utf8_valid(const char *s, size_t len);

/** Number of code points in valid UTF-8 text (Python's len()). */
size_t keel__utf8_length(const char *s, size_t len);

/**
 * Writes the UTF-8 form of cp (< 0x110000; a surrogate gets its three-byte
 * form) to out and returns its length (1..4).
 */
size_t keel__utf8_encode(char out[4], uint32_t cp);

/** Appends the UTF-8 encoding of cp (< 0x110000). Returns 0 or KEEL_ENOMEM. */
int keel__utf8_put(keel_buf_t *b, uint32_t cp);

/* ---- Unicode properties, as str's methods see them --------------------- */

/** str.isspace() for one code point (what strip() removes, re's \s). */
bool keel__py_isspace(uint32_t cp);

/** str.isprintable() for one code point (what repr() leaves as is). */
bool keel__py_isprintable(uint32_t cp);

/** str.isalnum() for one code point. */
bool keel__py_isalnum(uint32_t cp);

/** str.isdecimal() for one code point (category Nd; re's \d). */
bool keel__py_isdecimal(uint32_t cp);

/**
 * unicodedata.decimal() of one code point: 0..9 for any character of
 * category Nd (what int() and float() accept as a digit), else -1.
 */
int keel__py_decimal(uint32_t cp);

/** May cp start an identifier ("_" or XID_Start)? */
bool keel__py_is_id_start(uint32_t cp);

/** May cp continue an identifier (XID_Continue)? */
bool keel__py_is_id_continue(uint32_t cp);

/** str.isidentifier() of s[0..len) (false for "" and for invalid UTF-8). */
bool keel__py_isidentifier(const char *s, size_t len);

/* Which table keel__py_table() returns. */
enum { KEEL__PY_TABLE_SPACE, KEEL__PY_TABLE_ALNUM };

/**
 * Returns a sorted table of closed [first, last] code point ranges and its
 * length: what str.isspace() or str.isalnum() accepts. The table is static.
 */
const uint32_t (*keel__py_table(int which, size_t *n))[2];

/* ---- case ---------------------------------------------------------------- */

/**
 * Appends n bytes at p to sink. Returns 0 or KEEL_ENOMEM. The functions
 * below that take one write through it, so they serve any kind of buffer.
 */
typedef int (*keel__py_put_fn)(void *sink, const char *p, size_t n);

/** A keel__py_put_fn for a keel_buf_t sink (keel_buf_append). */
int keel__py_buf_put(void *sink, const char *p, size_t n);

/**
 * The simple lowercase of one code point (_PyUnicode_ToLowercase): what
 * re.IGNORECASE compares. U+0130 gives 'i', U+03A3 always U+03C3.
 */
uint32_t keel__py_tolower_simple(uint32_t cp);

/**
 * Writes str.lower() of s[0..len): the full mapping (U+0130 becomes two
 * code points) and the final-sigma rule for U+03A3. Bytes that are not
 * UTF-8 are copied. Returns 0 or the first error of put.
 */
int keel__py_lower_to(keel__py_put_fn put, void *sink, const char *s, size_t len);

/**
 * Appends str.lower() of s[0..len) (as keel__py_lower_to). Returns 0 or
 * KEEL_ENOMEM, and then leaves b as it was.
 */
int keel__py_lower(keel_buf_t *b, const char *s, size_t len);

/**
 * Appends str.upper() of s[0..len), with the mappings to several code
 * points ("ß" is "SS"). Bytes that are not UTF-8 are copied. Returns 0 or
 * KEEL_ENOMEM, and then leaves b as it was.
 */
int keel__py_upper(keel_buf_t *b, const char *s, size_t len);

/* ---- strip --------------------------------------------------------------- */

/**
 * str.strip() / lstrip() / rstrip() with no argument: narrows [*begin, *end)
 * of s past Unicode whitespace. Only bytes inside the range are looked at.
 */
void keel__py_strip(const char *s, size_t *begin, size_t *end);
void keel__py_lstrip(const char *s, size_t *begin, size_t end);
void keel__py_rstrip(const char *s, size_t begin, size_t *end);

/* ---- repr ---------------------------------------------------------------- */

/* keel__py_repr_to() flags. */
enum {
    /* ascii(): escape every character that is not ASCII. */
    KEEL__PY_REPR_ASCII_ONLY = 1u << 0,
    /* Show a byte that is not UTF-8 as \xNN. Python would show the surrogate
     * it decodes to (\udcNN), which is the default; the conf module has
     * always written \xNN. */
    KEEL__PY_REPR_HEX_BYTES = 1u << 1,
    /* Decode as keel__py_next_cp_surrogatepass() (the policy module). */
    KEEL__PY_REPR_SURROGATEPASS = 1u << 2,
};

/**
 * Writes repr() of the str whose bytes are s[0..len): the quote CPython
 * would pick, backslash escapes for what is not printable, \udcNN for bytes
 * that are not UTF-8 (see the flags). Returns 0 or the first error of put.
 */
int keel__py_repr_to(keel__py_put_fn put, void *sink, const char *s, size_t len, unsigned flags);

/** Appends repr() of a str (as keel__py_repr_to). Returns 0 or KEEL_ENOMEM. */
int keel__py_repr_str(keel_buf_t *b, const char *s, size_t len, unsigned flags);

/**
 * Appends text as Python prints a str to stderr (errors="backslashreplace"):
 * valid UTF-8 unchanged, any other byte as \udcNN. Returns 0 or KEEL_ENOMEM.
 */
int keel__py_put_escaped(keel_buf_t *b, const char *s, size_t len);

/* ---- float --------------------------------------------------------------- */

/* Room for any text keel__py_float_text() writes, with its NUL. */
#define KEEL__PY_FLOAT_TEXT_MAX 32

/**
 * Writes repr() of a float ("1.0", "1e+16", "-inf", "nan": the shortest
 * digits that read back exactly) to out, NUL-terminated, and returns its
 * length. With add_dot0 false an integral value has no ".0" ("1", "-0"),
 * as repr() of a complex writes its parts. The text never depends on the
 * process locale (LC_NUMERIC).
 */
size_t keel__py_float_text(char out[KEEL__PY_FLOAT_TEXT_MAX], double f, bool add_dot0);

/** Appends repr() of a float (keel__py_float_text with ".0"). Returns 0 or KEEL_ENOMEM. */
int keel__py_repr_float(keel_buf_t *b, double f);

/**
 * The "C" locale, for strtod_l() and uselocale(), so number text is read
 * and written with '.' whatever setlocale() the program made. Created once
 * and never freed; (locale_t)0 if it could not be created.
 */
locale_t keel__c_locale(void);

#endif
