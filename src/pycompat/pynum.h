/*
 * pynum.h — internal to keel (never installed): CPython 3.11's int() and
 * float() of a str, which oslo.config's number types, oslo.rootwrap's
 * config and KillFilter, and Python's re (group numbers) apply to text.
 *
 * Both follow CPython's two steps: the text is first mapped to ASCII
 * (_PyUnicode_TransformDecimalAndSpaceToASCII: Unicode whitespace becomes
 * ' ', a decimal digit of any script its ASCII digit, anything else ends
 * the number), then the ASCII grammar decides. Bytes that are not UTF-8 are
 * read as surrogateescape does (pystr.h), so they are never digits.
 */
#ifndef KEEL_PYCOMPAT_PYNUM_H
#define KEEL_PYCOMPAT_PYNUM_H

#include "keel/core.h"

/* What int(text) does, in keel__py_int_t.status. */
enum {
    KEEL__PY_INT_OK = 0,
    KEEL__PY_INT_INVALID = 1, /* ValueError "invalid literal for int() with base 10: %r" */
    KEEL__PY_INT_TOO_LONG = 2 /* ValueError: more than 4300 digits (sys.int_info limit) */
};

/*
 * int(text) in base 10: surrounding whitespace, one sign, decimal digits
 * of any script, single underscores between digits. Python's integers have
 * no bound; keel saturates.
 */
typedef struct {
    int status;         /* KEEL__PY_INT_* */
    bool negative;      /* the value is below zero */
    bool saturated;     /* the value does not fit int64_t; value holds INT64_MAX/MIN */
    bool trailing_junk; /* the digits are followed by more than whitespace (TOO_LONG wins over it) */
    int64_t value;      /* the value, when status is OK */
    size_t digits;      /* number of digits seen (for the TOO_LONG message) */
} keel__py_int_t;

/** Parses s[0..len) into out; never fails otherwise and allocates nothing. */
void keel__py_parse_int(const char *s, size_t len, keel__py_int_t *out);

/**
 * Appends the message of the ValueError Python's int() raises for a result
 * whose status is not OK ("%.200R" of the text, or the digit limit).
 * Returns 0 or KEEL_ENOMEM.
 */
int keel__py_int_error(keel_buf_t *b, const char *s, size_t len, const keel__py_int_t *r);

/**
 * int(text) as an int64_t, for len bytes of valid UTF-8. Returns 0 and
 * *out, KEEL_EVALUE if Python would raise ValueError for an ill-formed
 * number, or KEEL_ERANGE for a well-formed integer that int64_t cannot hold
 * (including one over Python's 4300-digit limit).
 */
int keel__py_int(const char *s, size_t len, int64_t *out);

/**
 * float(text) for len bytes of valid UTF-8 (decimal with optional exponent,
 * inf/infinity/nan in any case, underscores between digits, digits of any
 * script, surrounding whitespace). Out-of-range values become ±inf or 0 as
 * in Python. Returns 0 and *out, KEEL_EVALUE or KEEL_ENOMEM.
 */
int keel__py_float(const char *s, size_t len, double *out);

#endif
