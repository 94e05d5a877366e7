/*
 * context.c — the request context each thread carries (oslo.context's
 * thread-local RequestContext) and the dictionary view of it that oslo.log's
 * formatters use (get_logging_values()).
 *
 * keel_log_context_set() copies the caller's strings into one block owned
 * by the thread, reused by the next set when it is large enough, so a
 * service that sets a context per request does not allocate per request
 * once the block has grown. A pthread key frees the block when the thread
 * exits.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "log_int.h"

typedef struct ctx_slot_s {
    keel_log_context_t ctx; /* pointers into mem */
    bool set;
    char *mem;
    size_t cap;
    const char *user_identity; /* to_dict()'s "user_identity", rendered into mem at set time */
} ctx_slot_t;

static pthread_key_t slot_key;
static pthread_once_t slot_once = PTHREAD_ONCE_INIT;
static _Thread_local ctx_slot_t *t_slot;

static void slot_free(void *p)
{
    ctx_slot_t *s = p;
    if (s) {
        keel__free(s->mem);
        keel__free(s);
    }
}

static void make_key(void)
{
    (void)pthread_key_create(&slot_key, slot_free);
}

static ctx_slot_t *slot_get(bool create)
{
    if (t_slot || !create)
        return t_slot;
    pthread_once(&slot_once, make_key);
    ctx_slot_t *s = keel__calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    (void)pthread_setspecific(slot_key, s);
    t_slot = s;
    return s;
}

/* The string fields of a context, in one place so size and copy agree. */
#define CTX_STRINGS(XX)                                                                                                            \
    XX(request_id)                                                                                                                 \
    XX(global_request_id)                                                                                                          \
    XX(user_id)                                                                                                                    \
    XX(project_id)                                                                                                                 \
    XX(domain_id)                                                                                                                  \
    XX(user_domain_id)                                                                                                             \
    XX(project_domain_id)                                                                                                          \
    XX(user_name)                                                                                                                  \
    XX(project_name)                                                                                                               \
    XX(domain_name)                                                                                                                \
    XX(user_domain_name)                                                                                                           \
    XX(project_domain_name)                                                                                                        \
    XX(system_scope)                                                                                                               \
    XX(resource_uuid)                                                                                                              \
    XX(auth_token)

static const char *dash(const char *s)
{
    return s && *s ? s : "-";
}

int keel_log_context_set(const keel_log_context_t *in)
{
    ctx_slot_t *s = slot_get(true);
    if (s == NULL)
        return KEEL_ENOMEM;
    if (in == NULL) {
        s->set = false;
        return 0;
    }
    size_t nroles = 0, need = 0;
    while (in->roles && in->roles[nroles])
        need += strlen(in->roles[nroles++]) + 1;
    need += (nroles + 1) * sizeof(char *);
#define CTX_SIZE_(f) need += in->f ? strlen(in->f) + 1 : 0;
    CTX_STRINGS(CTX_SIZE_)
#undef CTX_SIZE_
    const char *parts[] = {dash(in->user_id), dash(in->project_id), dash(in->domain_id), dash(in->user_domain_id),
                           dash(in->project_domain_id)};
    for (size_t k = 0; k < 5; k++)
        need += strlen(parts[k]) + 1;
    if (need > s->cap) {
        char *mem = keel__malloc(need);
        if (mem == NULL) {
            s->set = false;
            return KEEL_ENOMEM;
        }
        keel__free(s->mem);
        s->mem = mem;
        s->cap = need;
    }
    /* Roles' pointer array first (aligned: mem comes from malloc), then the strings. */
    const char **roles = (const char **)(void *)s->mem;
    char *p = s->mem + (nroles + 1) * sizeof(char *);
    keel_log_context_t *c = &s->ctx;
    *c = *in;
    for (size_t k = 0; k < nroles; k++) {
        size_t n = strlen(in->roles[k]) + 1;
        memcpy(p, in->roles[k], n);
        roles[k] = p;
        p += n;
    }
    roles[nroles] = NULL;
    c->roles = roles;
#define CTX_COPY_(f)                                                                                                               \
    if (in->f) {                                                                                                                   \
        size_t n = strlen(in->f) + 1;                                                                                              \
        memcpy(p, in->f, n);                                                                                                       \
        c->f = p;                                                                                                                  \
        p += n;                                                                                                                    \
    }
    CTX_STRINGS(CTX_COPY_)
#undef CTX_COPY_
    /* RequestContext.user_idt_format: '{user} {project_id} {domain} {user_domain} {p_domain}', None as '-'. */
    s->user_identity = p;
    for (size_t k = 0; k < 5; k++) {
        size_t n = strlen(parts[k]);
        memcpy(p, parts[k], n);
        p[n] = k < 4 ? ' ' : '\0';
        p += n + 1;
    }
    s->set = true;
    return 0;
}

void keel_log_context_clear(void)
{
    ctx_slot_t *s = slot_get(false);
    if (s)
        s->set = false;
}

const keel_log_context_t *keel_log_context_get(void)
{
    ctx_slot_t *s = slot_get(false);
    return s && s->set ? &s->ctx : NULL;
}

int keel_log_request_id_generate(char out[KEEL_LOG_REQUEST_ID_LEN + 1])
{
    uint8_t u[16];
    int rc = keel_uuid4(u);
    if (rc != 0)
        return rc;
    snprintf(out, KEEL_LOG_REQUEST_ID_LEN + 1, "req-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
             u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
    return 0;
}

static void set_str(keel__log_val_t *out, const char *s)
{
    *out = (keel__log_val_t){.type = KEEL__LOG_T_STRN, .s = s, .len = s ? strlen(s) : 0};
}

static void set_bool(keel__log_val_t *out, bool b)
{
    *out = (keel__log_val_t){.type = KEEL__LOG_T_BOOL, .i = b};
}

/* to_dict()'s user_identity of the calling thread's context (which ctx is). */
static const char *ctx_user_identity(const keel_log_context_t *c)
{
    ctx_slot_t *s = t_slot;
    return s && &s->ctx == c ? s->user_identity : "- - - - -";
}

void keel__log_context_lookup(void *data, int key, keel__log_val_t *out)
{
    const keel_log_context_t *c = data;
    switch (key) {
    case KEEL__LOG_K_USER_NAME:
        return set_str(out, c->user_name);
    case KEEL__LOG_K_PROJECT_NAME:
        return set_str(out, c->project_name);
    case KEEL__LOG_K_DOMAIN_NAME:
        return set_str(out, c->domain_name);
    case KEEL__LOG_K_USER_DOMAIN_NAME:
        return set_str(out, c->user_domain_name);
    case KEEL__LOG_K_PROJECT_DOMAIN_NAME:
        return set_str(out, c->project_domain_name);
    case KEEL__LOG_K_USER:
        return set_str(out, c->user_id);
    case KEEL__LOG_K_PROJECT_ID:
    case KEEL__LOG_K_CTX_PROJECT:
    case KEEL__LOG_K_PROJECT:
        return set_str(out, c->project_id);
    case KEEL__LOG_K_SYSTEM_SCOPE:
        return set_str(out, c->system_scope);
    case KEEL__LOG_K_DOMAIN:
        return set_str(out, c->domain_id);
    case KEEL__LOG_K_USER_DOMAIN:
        return set_str(out, c->user_domain_id);
    case KEEL__LOG_K_PROJECT_DOMAIN:
        return set_str(out, c->project_domain_id);
    case KEEL__LOG_K_IS_ADMIN:
        return set_bool(out, c->is_admin);
    case KEEL__LOG_K_READ_ONLY:
        return set_bool(out, c->read_only);
    case KEEL__LOG_K_SHOW_DELETED:
        return set_bool(out, c->show_deleted);
    case KEEL__LOG_K_AUTH_TOKEN:
        return set_str(out, c->auth_token ? "***" : NULL);
    case KEEL__LOG_K_REQUEST_ID:
        return set_str(out, c->request_id);
    case KEEL__LOG_K_GLOBAL_REQUEST_ID:
        return set_str(out, c->global_request_id);
    case KEEL__LOG_K_RESOURCE_UUID:
        return set_str(out, c->resource_uuid);
    case KEEL__LOG_K_ROLES:
        *out = (keel__log_val_t){.type = KEEL__LOG_T_LIST, .list = c->roles};
        return;
    case KEEL__LOG_K_USER_IDENTITY:
        return set_str(out, ctx_user_identity(c));
    case KEEL__LOG_K_IS_ADMIN_PROJECT:
        return set_bool(out, c->is_admin_project);
    default:
        /* Not a key of get_logging_values(): _ReplaceFalseValue gives '-'. */
        *out = (keel__log_val_t){.type = KEEL__LOG_T_STR, .s = "-", .len = 1};
    }
}
