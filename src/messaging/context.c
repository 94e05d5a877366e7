/*
 * Request contexts: oslo.context's RequestContext.to_dict() made from a
 * keel_log context, and a context dict made the thread's keel_log context
 * as from_dict() would, so that what an endpoint logs carries the caller's
 * request id. The key names and their order are oslo.context 5.0's.
 */
#include <string.h>

#include "keel/log.h"
#include "messaging_int.h"

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static int put(json_t *o, const char *key, json_t *v)
{
    return v != NULL && json_object_set_new(o, key, v) == 0 ? 0 : KEEL_ENOMEM;
}

int keel_messaging_context_from_log(const keel_log_context_t *lc, json_t **out)
{
    json_t *o = json_object();
    json_t *roles = json_array();
    int rc = o && roles ? 0 : KEEL_ENOMEM;
    for (const char *const *r = lc->roles; rc == 0 && r && *r; r++)
        if (json_array_append_new(roles, json_string(*r)) != 0)
            rc = KEEL_ENOMEM;
    /* user_idt_format '{user} {project_id} {domain} {user_domain} {p_domain}', '-' for None. */
    keel_buf_t idt;
    keel_buf_init(&idt);
    if (rc == 0)
        rc = keel_buf_printf(&idt, "%s %s %s %s %s", lc->user_id ? lc->user_id : "-", lc->project_id ? lc->project_id : "-",
                             lc->domain_id ? lc->domain_id : "-", lc->user_domain_id ? lc->user_domain_id : "-",
                             lc->project_domain_id ? lc->project_domain_id : "-");
    if (rc == 0)
        rc = put(o, "user", str_or_null(lc->user_id));
    if (rc == 0)
        rc = put(o, "project_id", str_or_null(lc->project_id));
    if (rc == 0)
        rc = put(o, "system_scope", str_or_null(lc->system_scope));
    if (rc == 0)
        rc = put(o, "project", str_or_null(lc->project_id));
    if (rc == 0)
        rc = put(o, "domain", str_or_null(lc->domain_id));
    if (rc == 0)
        rc = put(o, "user_domain", str_or_null(lc->user_domain_id));
    if (rc == 0)
        rc = put(o, "project_domain", str_or_null(lc->project_domain_id));
    if (rc == 0)
        rc = put(o, "is_admin", json_boolean(lc->is_admin));
    if (rc == 0)
        rc = put(o, "read_only", json_boolean(lc->read_only));
    if (rc == 0)
        rc = put(o, "show_deleted", json_boolean(lc->show_deleted));
    if (rc == 0)
        rc = put(o, "auth_token", str_or_null(lc->auth_token));
    if (rc == 0)
        rc = put(o, "request_id", str_or_null(lc->request_id));
    if (rc == 0)
        rc = put(o, "global_request_id", str_or_null(lc->global_request_id));
    if (rc == 0)
        rc = put(o, "resource_uuid", str_or_null(lc->resource_uuid));
    if (rc == 0) {
        rc = put(o, "roles", roles);
        roles = NULL;
    }
    if (rc == 0)
        rc = put(o, "user_identity", json_stringn(idt.base ? idt.base : "", idt.len));
    if (rc == 0)
        rc = put(o, "is_admin_project", json_boolean(lc->is_admin_project));
    keel_buf_free(&idt);
    json_decref(roles);
    if (rc != 0) {
        json_decref(o);
        return rc;
    }
    *out = o;
    return 0;
}

static const char *get_str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static bool get_bool(json_t *o, const char *key, bool dflt)
{
    json_t *v = json_object_get(o, key);
    /* Python truthiness for the values a context carries. */
    if (v == NULL || json_is_null(v))
        return v == NULL ? dflt : false;
    if (json_is_boolean(v))
        return json_is_true(v);
    if (json_is_integer(v))
        return json_integer_value(v) != 0;
    if (json_is_string(v))
        return json_string_length(v) != 0;
    return true;
}

int keel_messaging_context_apply_log(json_t *ctxt)
{
    if (!json_is_object(ctxt))
        return KEEL_EINVAL;
    keel_log_context_t lc = KEEL_LOG_CONTEXT_INIT;
    lc.request_id = get_str(ctxt, "request_id");
    lc.global_request_id = get_str(ctxt, "global_request_id");
    lc.user_id = get_str(ctxt, "user");
    if (lc.user_id == NULL)
        lc.user_id = get_str(ctxt, "user_id");
    lc.project_id = get_str(ctxt, "project_id");
    lc.domain_id = get_str(ctxt, "domain");
    lc.user_domain_id = get_str(ctxt, "user_domain");
    lc.project_domain_id = get_str(ctxt, "project_domain");
    lc.user_name = get_str(ctxt, "user_name");
    lc.project_name = get_str(ctxt, "project_name");
    lc.domain_name = get_str(ctxt, "domain_name");
    lc.user_domain_name = get_str(ctxt, "user_domain_name");
    lc.project_domain_name = get_str(ctxt, "project_domain_name");
    lc.system_scope = get_str(ctxt, "system_scope");
    lc.resource_uuid = get_str(ctxt, "resource_uuid");
    lc.auth_token = get_str(ctxt, "auth_token");
    lc.is_admin = get_bool(ctxt, "is_admin", false);
    lc.read_only = get_bool(ctxt, "read_only", false);
    lc.show_deleted = get_bool(ctxt, "show_deleted", false);
    lc.is_admin_project = get_bool(ctxt, "is_admin_project", true);
    json_t *roles = json_object_get(ctxt, "roles");
    size_t n = json_is_array(roles) ? json_array_size(roles) : 0;
    const char **list = keel__calloc(n + 1, sizeof(*list));
    if (list == NULL)
        return KEEL_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (json_is_string(json_array_get(roles, i)))
            list[k++] = json_string_value(json_array_get(roles, i));
    lc.roles = list;
    int rc = keel_log_context_set(&lc);
    keel__free(list);
    return rc;
}
