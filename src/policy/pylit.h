/*
 * pylit.h — internal to the policy module: what ast.literal_eval() of
 * CPython 3.11 does with the left side of a generic check.
 *
 * oslo.policy's GenericCheck first tries `ast.literal_eval(kind)`: if that
 * gives a value, the check compares the formatted match with str(value); if
 * it raises ValueError (a valid expression that is not a literal, such as
 * `project_id` or `user.id`) the kind is a dotted path into the
 * credentials; any other exception (SyntaxError for `1a` or `$x`, TypeError
 * for `{[]}`) propagates out of enforce(). The kind is fixed when the rule is
 * parsed, so keel decides all of this once, at parse time.
 */
#ifndef KEEL_POLICY_PYLIT_H
#define KEEL_POLICY_PYLIT_H

#include "keel/core.h"

typedef enum {
    KEEL__LIT_VALUE,      /* a literal: compare with its str() */
    KEEL__LIT_PATH,       /* ValueError: a dotted path into the credentials */
    KEEL__LIT_RAISES,     /* another exception: the check raises */
    KEEL__LIT_UNSUPPORTED /* a literal keel cannot render (e.g. a set of two or more items) */
} keel__lit_kind_t;

/**
 * Classifies kind[0..len). On KEEL__LIT_VALUE, *text (release with
 * keel__free) is str(value), NUL-terminated, *textlen its length. *why,
 * if not NULL, gets a static description for RAISES/UNSUPPORTED.
 * Returns 0 or KEEL_ENOMEM.
 */
int keel__pol_literal_eval(const char *kind, size_t len, keel__lit_kind_t *out, char **text, size_t *textlen, const char **why);

#endif
