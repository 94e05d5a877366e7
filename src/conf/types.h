/*
 * types.h — internal to the conf module (never installed). Conversion of
 * option text to typed values, with exactly the acceptance rules of
 * oslo_config.types (String, Boolean, Integer, Float, Port, HostAddress,
 * Hostname, IPAddress, URI, List, Dict) so that keel accepts and rejects
 * the same values oslo.config does and produces the same results.
 */
#ifndef KEEL_CONF_TYPES_H
#define KEEL_CONF_TYPES_H

#include "keel/conf.h"

/**
 * Converts len bytes of UTF-8 text to a value of type `type`, using the
 * row's constraints (min/max, choices, regex, max_length, schemes,
 * ip_version, item_type, QUOTES/BOUNDS/IGNORE_CASE flags). For LIST the
 * items use opt->item_type; for DICT the values do. MULTI is not accepted
 * here: the caller converts each item with opt->item_type.
 *
 * On success returns 0 and fills *out (free with keel__conf_value_clear).
 * If the text is not a valid value returns KEEL_EVALUE, leaves *out as
 * VNONE and appends to why the reason in oslo.config's words, e.g.
 * "Should be greater than or equal to 1" or "Unexpected boolean value 'x'".
 * Returns KEEL_ENOMEM on allocation failure.
 *
 * Note (as oslo.config): an INT/PORT/FLOAT whose text is empty or blank
 * converts to VNONE with status 0.
 */
int keel__conf_convert(const keel_conf_opt_t *opt, keel_conf_type_t type, const char *text, size_t len, keel_conf_value_t *out,
                       keel_buf_t *why);

/** Releases what a value owns and makes it VNONE. */
void keel__conf_value_clear(keel_conf_value_t *v);

/** Deep copy; returns 0 or KEEL_ENOMEM (dst is VNONE then). */
int keel__conf_value_copy(keel_conf_value_t *dst, const keel_conf_value_t *src);

/** Deep equality (floats compare by value; NaN equals NaN here). */
bool keel__conf_value_equal(const keel_conf_value_t *a, const keel_conf_value_t *b);

#endif
