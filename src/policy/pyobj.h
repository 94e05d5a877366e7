/*
 * pyobj.h — internal to the policy module, never installed: the pieces of
 * CPython 3.11's behaviour that oslo.policy's decisions depend on.
 *
 * oslo.policy compares strings that Python made: `self.match % target`
 * (printf-style formatting with a mapping), str() and repr() of JSON values,
 * str.lower() of role names. To take the same decisions keel has to make the
 * same strings, so this file reimplements exactly those operations over
 * jansson values (JSON is what targets and credentials are in both worlds)
 * and UTF-8 text. str behaviour shared with the other modules (lower(),
 * repr(), the Unicode properties) comes from pycompat/pystr.h; the
 * functions here write it into policy's buffers.
 *
 * Hot paths format into a keel__pol_sbuf_t, which starts in caller-provided
 * (usually stack) storage and moves to the heap only when that runs out, so
 * a decision over short values allocates nothing.
 */
#ifndef KEEL_POLICY_PYOBJ_H
#define KEEL_POLICY_PYOBJ_H

#include <jansson.h>

#include "keel/core.h"

/*
 * A byte buffer that starts in borrowed storage. Appends return 0 or
 * KEEL_ENOMEM; the text is not NUL-terminated unless keel__pol_sbuf_cstr() is
 * called. keel__pol_sbuf_free() releases heap storage, if any was taken.
 */
typedef struct keel__pol_sbuf_s {
    char *base;
    size_t len, cap;
    bool heap;
} keel__pol_sbuf_t;

void keel__pol_sbuf_init(keel__pol_sbuf_t *b, char *storage, size_t cap);
void keel__pol_sbuf_free(keel__pol_sbuf_t *b);
int keel__pol_sbuf_reserve(keel__pol_sbuf_t *b, size_t extra);
int keel__pol_sbuf_append(keel__pol_sbuf_t *b, const void *p, size_t n);
int keel__pol_sbuf_putc(keel__pol_sbuf_t *b, char c);
int keel__pol_sbuf_fill(keel__pol_sbuf_t *b, char c, size_t n);
/** Appends a code point as UTF-8 (surrogates are written as their 3-byte form). */
int keel__pol_sbuf_put_cp(keel__pol_sbuf_t *b, uint32_t cp);
/** NUL-terminates the text (not counted in len) and returns it; NULL on OOM. */
const char *keel__pol_sbuf_cstr(keel__pol_sbuf_t *b);

/*
 * UTF-8. Text from jansson and libyaml is valid UTF-8; text from C callers
 * may not be, and each invalid byte then decodes as U+DC80+byte (Python's
 * surrogateescape), so nothing is lost and nothing crashes. The three-byte
 * form of a surrogate decodes to that surrogate
 * (keel__py_next_cp_surrogatepass()).
 */
uint32_t keel__pol_utf8_next(const char *s, size_t len, size_t *i);
/** Number of code points in s. */
size_t keel__pol_utf8_count(const char *s, size_t len);
/** Byte offset of the n-th code point (len if there are fewer). */
size_t keel__pol_utf8_offset(const char *s, size_t len, size_t n);

/** Appends str.lower() of s (full mapping, final sigma included). */
int keel__pol_lower(keel__pol_sbuf_t *out, const char *s, size_t len);
/** True when s is pure ASCII. */
bool keel__pol_is_ascii(const char *s, size_t len);

/* repr()/ascii() of a str or bytes value; ascii_only escapes non-ASCII. */
int keel__pol_repr_str(keel__pol_sbuf_t *b, const char *s, size_t len, bool ascii_only);
int keel__pol_repr_bytes(keel__pol_sbuf_t *b, const uint8_t *s, size_t len);

/**
 * Python's repr(float) ('r' format, shortest round-trip digits); with
 * add_dot0 false, as complex repr writes its parts ("1" not "1.0").
 */
int keel__pol_float_repr(keel__pol_sbuf_t *b, double x, bool add_dot0);
/** repr(complex(re, im)). */
int keel__pol_complex_repr(keel__pol_sbuf_t *b, double re, double im);
/** Decimal digits of an integral double of any magnitude (int(x) in Python). */
int keel__pol_double_to_int_text(keel__pol_sbuf_t *b, double x);

/* How a JSON value is turned into text. */
typedef enum { KEEL__PY_STR, KEEL__PY_REPR, KEEL__PY_ASCII } keel__pol_textmode_t;

/**
 * Appends str(), repr() or ascii() of the Python object json.loads() would
 * have made of v: dict, list, str, int, float, True/False/None.
 */
int keel__pol_json_text(keel__pol_sbuf_t *b, const json_t *v, keel__pol_textmode_t mode);

/**
 * Appends json.dumps(v) as Python writes it: ", " and ": " separators (or,
 * with indent > 0, newlines and that many spaces per level with ","),
 * ASCII only (\uXXXX escapes, surrogate pairs), floats as repr().
 */
int keel__pol_json_dumps(keel__pol_sbuf_t *b, const json_t *v, int indent);

/** Python truthiness of the value json.loads() would have made of v. */
bool keel__pol_truthy(const json_t *v);

/*
 * `fmt % mapping`, compiled once per rule. Applying it reports Python's
 * outcome: the text, a KeyError (KEEL_ENOENT: the check is False) or any
 * other exception (KEEL_EVALUE: oslo.policy lets it propagate).
 */
typedef struct keel__pol_fmt_s keel__pol_fmt_t;

/** Compiles fmt (borrowed only during the call). Returns 0 or KEEL_ENOMEM. */
int keel__pol_fmt_compile(const char *fmt, size_t len, keel__pol_fmt_t **out);
void keel__pol_fmt_free(keel__pol_fmt_t *f);
/** True when formatting cannot depend on the mapping (no % directives). */
bool keel__pol_fmt_is_constant(const keel__pol_fmt_t *f);
/** True when formatting raises whatever the mapping (a malformed directive before any key). */
bool keel__pol_fmt_always_raises(const keel__pol_fmt_t *f);
/** True when some directive is malformed (formatting can only end in KeyError or raise). */
bool keel__pol_fmt_has_error(const keel__pol_fmt_t *f);
/** True when the template looks up at least one key (so a KeyError can make a check False). */
bool keel__pol_fmt_has_keys(const keel__pol_fmt_t *f);

/** The key of a template that is exactly "%(key)s", else NULL. */
const char *keel__pol_fmt_simple_key(const keel__pol_fmt_t *f);

/**
 * Applies f to mapping (a JSON object; anything else behaves as a mapping
 * without keys). On 0, *out and *outlen is the result: it points into f, into
 * mapping or into scratch, and is valid while all three are. Returns 0,
 * KEEL_ENOENT (KeyError), KEEL_EVALUE (other exception) or KEEL_ENOMEM.
 * why, if not NULL, receives a static description of an exception.
 */
int keel__pol_fmt_apply(const keel__pol_fmt_t *f, const json_t *mapping, keel__pol_sbuf_t *scratch, const char **out,
                        size_t *outlen, const char **why);

#endif
