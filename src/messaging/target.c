/*
 * Targets and version numbers. version_is_compatible() is oslo's
 * _utils.version_is_compatible() line for line, including which parts it
 * reads and in what order: a malformed part it never reaches is not an
 * error, and the errors it does meet are reported as the ValueError or
 * IndexError Python would raise, because an RPC server sends those back
 * to the caller as the failure of the call.
 */
#include <stdio.h>
#include <string.h>

#include "messaging_int.h"

/* One '.'-separated part of a version: [start, start + len). */
typedef struct {
    const char *start;
    size_t len;
} part_t;

/* str.split('.') into at most 3 parts; the count is the real one. */
static size_t split_version(const char *v, part_t parts[3])
{
    size_t n = 0;
    const char *p = v;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (n < 3)
            parts[n] = (part_t){p, len};
        n++;
        if (dot == NULL)
            break;
        p = dot + 1;
    }
    return n;
}

/* int(part), or a ValueError in *err. */
static int part_int(const part_t *p, int64_t *out, keel__messaging_pyerr_t *err)
{
    int rc = keel__messaging_pyint(p->start, p->len, out);
    if (rc == 0)
        return 0;
    if (err != NULL) {
        err->exc_class = "ValueError";
        snprintf(err->message, sizeof(err->message), "invalid literal for int() with base 10: '%.*s'",
                 (int)(p->len > 64 ? 64 : p->len), p->start);
    }
    return KEEL_EVALUE;
}

static int index_error(keel__messaging_pyerr_t *err)
{
    if (err != NULL) {
        err->exc_class = "IndexError";
        snprintf(err->message, sizeof(err->message), "list index out of range");
    }
    return KEEL_EVALUE;
}

int keel__messaging_version_check(const char *imp_version, const char *version, bool *out, keel__messaging_pyerr_t *err)
{
    if (imp_version == NULL) {
        *out = true;
        return 0;
    }
    if (version == NULL) {
        *out = false;
        return 0;
    }
    part_t v[3], imp[3];
    size_t nv = split_version(version, v);
    size_t ni = split_version(imp_version, imp);
    int64_t a, b;
    int rc;
    if ((rc = part_int(&v[0], &a, err)) != 0 || (rc = part_int(&imp[0], &b, err)) != 0)
        return rc;
    if (a != b) {
        *out = false;
        return 0;
    }
    int64_t minor, imp_minor;
    if (nv < 2)
        return index_error(err);
    if ((rc = part_int(&v[1], &minor, err)) != 0)
        return rc;
    if (ni < 2)
        return index_error(err);
    if ((rc = part_int(&imp[1], &imp_minor, err)) != 0)
        return rc;
    if (minor > imp_minor) {
        *out = false;
        return 0;
    }
    if (minor == imp_minor) {
        /* Python reads minor and imp_minor again here; they parsed above. */
        int64_t rev = 0, imp_rev = 0;
        if (nv > 2 && (rc = part_int(&v[2], &rev, err)) != 0)
            return rc;
        if (ni > 2 && (rc = part_int(&imp[2], &imp_rev, err)) != 0)
            return rc;
        if (rev > imp_rev) {
            *out = false;
            return 0;
        }
    }
    *out = true;
    return 0;
}

int keel_messaging_version_is_compatible(const char *imp_version, const char *version, bool *out)
{
    return keel__messaging_version_check(imp_version, version, out, NULL);
}

static int dup_opt(const char *s, const char **out)
{
    *out = NULL;
    if (s == NULL)
        return 0;
    return (*out = keel__strdup(s)) ? 0 : KEEL_ENOMEM;
}

int keel__messaging_target_copy(keel_messaging_target_t *dst, const keel_messaging_target_t *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->fanout = src->fanout;
    int rc = dup_opt(src->exchange, &dst->exchange);
    if (rc == 0)
        rc = dup_opt(src->topic, &dst->topic);
    if (rc == 0)
        rc = dup_opt(src->namespace_, &dst->namespace_);
    if (rc == 0)
        rc = dup_opt(src->version, &dst->version);
    if (rc == 0)
        rc = dup_opt(src->server, &dst->server);
    if (rc == 0 && src->legacy_namespaces != NULL) {
        size_t n = 0;
        while (src->legacy_namespaces[n])
            n++;
        const char **list = keel__calloc(n + 1, sizeof(*list));
        if (list == NULL)
            rc = KEEL_ENOMEM;
        for (size_t i = 0; rc == 0 && i < n; i++)
            rc = dup_opt(src->legacy_namespaces[i], &list[i]);
        dst->legacy_namespaces = list;
    }
    if (rc != 0)
        keel__messaging_target_clear(dst);
    return rc;
}

void keel__messaging_target_clear(keel_messaging_target_t *t)
{
    keel__free((char *)t->exchange);
    keel__free((char *)t->topic);
    keel__free((char *)t->namespace_);
    keel__free((char *)t->version);
    keel__free((char *)t->server);
    for (const char *const *p = t->legacy_namespaces; p && *p; p++)
        keel__free((char *)*p);
    keel__free((void *)t->legacy_namespaces);
    memset(t, 0, sizeof(*t));
}

/* Empty strings count as unset, as Python's truthiness does in oslo's checks. */
static bool set(const char *s)
{
    return s != NULL && *s != '\0';
}

bool keel__messaging_target_accepts_namespace(const keel_messaging_target_t *t, const char *ns)
{
    /* accepted_namespaces = [target.namespace] + legacy_namespaces; None matches None. */
    const char *own = t ? t->namespace_ : NULL;
    if ((own == NULL && ns == NULL) || (own && ns && strcmp(own, ns) == 0))
        return true;
    for (const char *const *p = t ? t->legacy_namespaces : NULL; p && *p; p++)
        if (ns && strcmp(*p, ns) == 0)
            return true;
    return false;
}

int keel__messaging_target_check_send(const keel_messaging_target_t *t)
{
    return set(t->topic) ? 0 : KEEL_MESSAGING_ETARGET;
}

int keel__messaging_target_check_listen(const keel_messaging_target_t *t)
{
    return set(t->topic) && set(t->server) ? 0 : KEEL_MESSAGING_ETARGET;
}
