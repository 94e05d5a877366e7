/*
 * http.c — oslo.policy's HttpCheck and HttpsCheck (placeholder until the
 * HTTP slice lands).
 */
#include "policy_int.h"

int keel__pol_http_check(keel__eval_t *ev, const keel__leaf_t *leaf, const char *url, size_t urllen)
{
    (void)leaf;
    (void)url;
    (void)urllen;
    ev->why = "HttpCheck: the HTTP client is not built yet";
    return KEEL_EVALUE;
}
