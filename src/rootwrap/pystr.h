/*
 * pystr.h — internal to the rootwrap module (never installed). The pieces
 * of Python's str that oslo.rootwrap's behaviour rests on, over bytes:
 * strip() and lower() as configparser applies them, int() as the config
 * and KillFilter apply it, and repr() as error messages print values.
 *
 * Python sees command-line arguments through the "surrogateescape" error
 * handler: each byte that is not part of valid UTF-8 becomes the lone
 * surrogate U+DC80..U+DCFF. keel keeps the bytes and decodes them the same
 * way only where the difference shows (regular expressions, messages), with
 * keel__rw_next_cp().
 */
#ifndef KEEL_ROOTWRAP_PYSTR_H
#define KEEL_ROOTWRAP_PYSTR_H

#include "keel/core.h"

/**
 * Decodes one strict UTF-8 character at s[0..len) (no overlongs, no
 * surrogates, nothing past U+10FFFF). Returns its length (1..4) and stores
 * the code point, or returns 0 if the bytes there are not valid UTF-8.
 */
size_t keel__rw_utf8_decode(const char *s, size_t len, uint32_t *cp);

/**
 * Decodes one character the way Python's surrogateescape does: valid UTF-8
 * gives its code point, a byte that is not gives U+DC00 + byte. Returns the
 * number of bytes used (1..4); len must be at least 1.
 */
size_t keel__rw_next_cp(const char *s, size_t len, uint32_t *cp);

/** Returns the offset of the first byte that is not valid UTF-8, or len. */
size_t keel__rw_utf8_invalid_at(const char *s, size_t len);

/** Appends the UTF-8 encoding of cp (< 0x110000). Returns 0 or KEEL_ENOMEM. */
int keel__rw_utf8_put(keel_buf_t *b, uint32_t cp);

/** Python's str.isspace() for one code point. */
bool keel__rw_isspace(uint32_t cp);

/** Python's str.isprintable() for one code point. */
bool keel__rw_isprintable(uint32_t cp);

/** str.isidentifier() of s[0..len) (what a regular expression group name must be). */
bool keel__rw_isidentifier(const char *s, size_t len);

/* Which table keel__rw_table() returns. */
enum { KEEL__RW_TABLE_SPACE, KEEL__RW_TABLE_WORD };

/**
 * Returns a sorted table of [first, last] code point ranges and its length:
 * what str.isspace() accepts, or what re's \w matches in a str pattern.
 */
const uint32_t (*keel__rw_table(int which, size_t *n))[2];

/** unicodedata.decimal(): 0..9 for a decimal digit of any script, else -1. */
int keel__rw_decimal(uint32_t cp);

/**
 * str.strip() / rstrip() with no argument on [*begin, *end) of text in
 * the surrogateescape sense: narrows the range past Unicode whitespace.
 */
void keel__rw_strip(const char *s, size_t *begin, size_t *end);
void keel__rw_rstrip(const char *s, size_t begin, size_t *end);

/**
 * Appends str.lower() of text: the full mapping (U+0130 becomes two code
 * points) and the final-sigma rule. Bytes that are not UTF-8 are copied.
 * Returns 0 or KEEL_ENOMEM.
 */
int keel__rw_lower(keel_buf_t *b, const char *s, size_t len);

/**
 * Appends repr() of a str whose bytes are s[0..len): the quote Python
 * would pick, backslash escapes for what is not printable, and \udcXX for
 * bytes that are not UTF-8. Returns 0 or KEEL_ENOMEM.
 */
int keel__rw_repr(keel_buf_t *b, const char *s, size_t len);

/**
 * Appends text as Python prints a str to stderr (errors="backslashreplace"):
 * valid UTF-8 unchanged, any other byte as \udcXX. Returns 0 or KEEL_ENOMEM.
 */
int keel__rw_put_escaped(keel_buf_t *b, const char *s, size_t len);

/*
 * int(text) in base 10 as Python does it: surrounding Unicode whitespace,
 * one sign, decimal digits of any script, single underscores between
 * digits. Python's integers have no bound; keel saturates.
 */
enum {
    KEEL__RW_INT_OK = 0,
    KEEL__RW_INT_INVALID = 1, /* "invalid literal for int() with base 10: %r" */
    KEEL__RW_INT_TOO_LONG = 2 /* more than 4300 digits: sys.int_info limit */
};
typedef struct {
    int status;     /* KEEL__RW_INT_* */
    bool negative;  /* the value is below zero */
    bool saturated; /* |value| did not fit; value holds INT64_MAX/MIN */
    int64_t value;  /* the value, when status is OK */
    size_t digits;  /* number of digits seen (for the TOO_LONG message) */
} keel__rw_int_t;

/** Parses s[0..len) into out; never fails otherwise. */
void keel__rw_parse_int(const char *s, size_t len, keel__rw_int_t *out);

/**
 * Appends the message of the ValueError Python's int() raises for a value
 * that was not OK. Returns 0 or KEEL_ENOMEM.
 */
int keel__rw_int_error(keel_buf_t *b, const char *s, size_t len, const keel__rw_int_t *r);

#endif
