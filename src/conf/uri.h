/*
 * uri.h — internal to the conf module (never installed). The URI option
 * type: oslo.config's types.URI, which parses with rfc3986 1.5's
 * uri_reference() and then runs Validator().require_presence_of('scheme',
 * 'host').check_validity_of('scheme', 'host', 'path'), plus the allowed
 * schemes and max_length of the row.
 */
#ifndef KEEL_CONF_URI_H
#define KEEL_CONF_URI_H

#include "keel/conf.h"

/**
 * Checks len bytes of valid UTF-8 as a URI value for row opt (schemes,
 * max_length; opt may be NULL). Returns 0 if oslo.config would accept it,
 * KEEL_EVALUE with rfc3986's reason appended to why (if not NULL), or
 * KEEL_ENOMEM. The value itself is the text unchanged, so nothing is
 * returned but the verdict.
 */
int keel__conf_check_uri(const keel_conf_opt_t *opt, const char *s, size_t len, keel_buf_t *why);

#endif
