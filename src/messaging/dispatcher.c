/*
 * RPCDispatcher.dispatch()'s search, as a pure function (spec §8): walk
 * the endpoints in order, skip those whose target does not accept the
 * namespace or whose version is not compatible with the requested one,
 * take the first that has the method and whose access policy allows it.
 * If some endpoint matched but none had the method: NoSuchMethod; if none
 * matched: UnsupportedVersion. Both failures carry oslo's class, module
 * and message, so a Python caller sees what a Python server would send.
 */
#include <string.h>

#include "server.h"

#define DISPATCHER_MODULE "oslo_messaging.rpc.dispatcher"

static bool allowed(keel_messaging_access_policy_t policy, const keel_messaging_method_t *m)
{
    switch (policy) {
    case KEEL_MESSAGING_ACCESS_LEGACY:
        return true;
    case KEEL_MESSAGING_ACCESS_EXPLICIT:
        return m->exposed;
    case KEEL_MESSAGING_ACCESS_DEFAULT:
    default:
        return m->name[0] != '_';
    }
}

int keel__messaging_dispatch_find(const keel_messaging_endpoint_t *eps, size_t n, keel_messaging_access_policy_t policy,
                                  const char *method, const char *namespace_, bool ns_valid, const char *version,
                                  const keel_messaging_endpoint_t **ep, const keel_messaging_method_t **m,
                                  keel_messaging_error_t **failure)
{
    *failure = NULL;
    bool found_compatible = false;
    for (size_t i = 0; i < n; i++) {
        const keel_messaging_target_t *tg = &eps[i].target;
        if (!ns_valid || !keel__messaging_target_accepts_namespace(tg, namespace_))
            continue;
        bool ok = false;
        keel__messaging_pyerr_t err;
        /* endpoint_version = target.version or '1.0' */
        const char *imp = tg->version && *tg->version ? tg->version : "1.0";
        if (keel__messaging_version_check(imp, version, &ok, &err) != 0) {
            int rc = keel__messaging_error_make(failure, err.exc_class, "builtins", err.message);
            return rc != 0 ? rc : KEEL_EVALUE;
        }
        if (!ok)
            continue;
        for (const keel_messaging_method_t *mm = eps[i].methods; method && mm && mm->name; mm++) {
            if (strcmp(mm->name, method) == 0 && allowed(policy, mm)) {
                *ep = &eps[i];
                *m = mm;
                return 0;
            }
        }
        found_compatible = true;
    }
    int rc;
    if (found_compatible) {
        rc = keel_messaging_error_new(failure, "NoSuchMethod", DISPATCHER_MODULE, "Endpoint does not support RPC method %s",
                                      method ? method : "None");
        return rc != 0 ? rc : KEEL_MESSAGING_ENOSUCHMETHOD;
    }
    if (method && *method)
        rc = keel_messaging_error_new(failure, "UnsupportedVersion", DISPATCHER_MODULE,
                                      "Endpoint does not support RPC version %s. Attempted method: %s", version ? version : "None",
                                      method);
    else
        rc = keel_messaging_error_new(failure, "UnsupportedVersion", DISPATCHER_MODULE, "Endpoint does not support RPC version %s",
                                      version ? version : "None");
    return rc != 0 ? rc : KEEL_MESSAGING_EUNSUPPORTEDVERSION;
}
