/*
 * ini.h — internal to the conf module (never installed). The INI dialect
 * of oslo.config's iniparser, as a push parser: it calls back for each
 * section header and each complete assignment, and stops at the first
 * error with oslo's message.
 */
#ifndef KEEL_CONF_INI_H
#define KEEL_CONF_INI_H

#include "keel/core.h"

typedef struct keel__ini_handler_s {
    /** A "[name]" line; name is the text between the brackets, unstripped. */
    int (*section)(void *data, const char *name, size_t len, unsigned lineno);
    /**
     * A complete "key = value" (or "key: value") with its continuation lines
     * joined by '\n'. lineno is the line of the key. section is false when
     * no section header came before: oslo rejects that, the caller decides.
     */
    int (*assignment)(void *data, const char *key, size_t klen, const char *value, size_t vlen, unsigned lineno);
} keel__ini_handler_t;

/**
 * Parses len bytes of text (need not be NUL-terminated) as oslo.config
 * does: universal newlines, trailing whitespace stripped, '#'/';' comment
 * lines, indented continuation lines, blank lines ending a value, the first
 * of ':' or '=' splitting key from value, one level of matching quotes
 * removed from the value. The text must be valid UTF-8 (the caller checks).
 *
 * Returns 0, KEEL_EPARSE with "LINE: reason: 'line'" appended to err,
 * KEEL_ENOMEM, or the first non-zero value a callback returned.
 */
int keel__ini_parse(const char *text, size_t len, const keel__ini_handler_t *h, void *data, keel_buf_t *err);

#endif
