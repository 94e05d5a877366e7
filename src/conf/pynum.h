/*
 * pynum.h — internal to the conf module (never installed). Python's int()
 * and float() of a str, the conversions under oslo.config's number types.
 */
#ifndef KEEL_CONF_PYNUM_H
#define KEEL_CONF_PYNUM_H

#include "keel/core.h"

/**
 * int(text) for len bytes of valid UTF-8 (base 10: surrounding whitespace,
 * a sign, digits of any script with single underscores between them).
 * Returns 0 and *out, KEEL_EVALUE if Python would raise ValueError,
 * KEEL_ERANGE for an integer Python accepts but int64 cannot hold, or
 * KEEL_ENOMEM.
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
