/*
 * opts.c — the [oslo_policy] options: declared as keel_conf rows with the
 * names, types, defaults and help oslo.policy registers (so `keel conf
 * sample` and oslo-config-generator agree), and read back into the plain
 * keel_policy_opts_t the enforcer takes.
 *
 * Design: the enforcer never sees keel_conf; this file is the only glue, so
 * a program that does not use keel_conf fills keel_policy_opts_t itself.
 * Relative policy_file and policy_dirs are searched where oslo.config's
 * find_file() looks: --config-dir, the directories of the config files (last
 * first), ~/.PROJECT, ~, /etc/PROJECT, /etc.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keel/conf.h"
#include "policy_int.h"

static const char *const policy_dirs_default[] = {"policy.d", NULL};
static const char *const content_types[] = {"application/x-www-form-urlencoded", "application/json", NULL};

static const keel_conf_opt_t policy_opts[] = {
    {.name = "enforce_scope",
     .type = KEEL_CONF_BOOL,
     .default_value = "False",
     .help = "This option controls whether or not to enforce scope when evaluating policies. If ``True``, the scope of the "
             "token used in the request is compared to the ``scope_types`` of the policy being enforced. If the scopes do "
             "not match, an ``InvalidScope`` exception will be raised. If ``False``, a message will be logged informing "
             "operators that policies are being invoked with mismatching scope."},
    {.name = "enforce_new_defaults",
     .type = KEEL_CONF_BOOL,
     .default_value = "False",
     .help = "This option controls whether or not to use old deprecated defaults when evaluating policies. If ``True``, the "
             "old deprecated defaults are not going to be evaluated. This means if any existing token is allowed for old "
             "defaults but is disallowed for new defaults, it will be disallowed. It is encouraged to enable this flag along "
             "with the ``enforce_scope`` flag so that you can get the benefits of new defaults and ``scope_type`` together. "
             "If ``False``, the deprecated policy check string is logically OR'd with the new policy check string, allowing "
             "for a graceful upgrade experience between releases with new policies, which is the default behavior."},
    {.name = "policy_file",
     .type = KEEL_CONF_STRING,
     .default_value = "policy.json",
     .deprecated_group = "DEFAULT",
     .help = "The relative or absolute path of a file that maps roles to permissions for a given service. Relative paths "
             "must be specified in relation to the configuration file setting this option."},
    {.name = "policy_default_rule",
     .type = KEEL_CONF_STRING,
     .default_value = "default",
     .deprecated_group = "DEFAULT",
     .help = "Default rule. Enforced when a requested rule is not found."},
    {.name = "policy_dirs",
     .type = KEEL_CONF_MULTI,
     .default_multi = policy_dirs_default,
     .deprecated_group = "DEFAULT",
     .help = "Directories where policy configuration files are stored. They can be relative to any directory in the search "
             "path defined by the config_dir option, or absolute paths. The file defined by policy_file must exist for these "
             "directories to be searched.  Missing or empty directories are ignored."},
    {.name = "remote_content_type",
     .type = KEEL_CONF_STRING,
     .default_value = "application/x-www-form-urlencoded",
     .choices = content_types,
     .help = "Content Type to send and receive data for REST based policy check"},
    {.name = "remote_ssl_verify_server_crt",
     .type = KEEL_CONF_BOOL,
     .default_value = "False",
     .help = "server identity verification for REST based policy check"},
    {.name = "remote_ssl_ca_crt_file",
     .type = KEEL_CONF_STRING,
     .help = "Absolute path to ca cert file for REST based policy check"},
    {.name = "remote_ssl_client_crt_file",
     .type = KEEL_CONF_STRING,
     .help = "Absolute path to client cert for REST based policy check"},
    {.name = "remote_ssl_client_key_file",
     .type = KEEL_CONF_STRING,
     .help = "Absolute path client key file REST based policy check"},
    /* Not in oslo.policy 4.0.0 (it waits forever); later releases added it. */
    {.name = "remote_timeout",
     .type = KEEL_CONF_FLOAT,
     .default_value = "60",
     .flags = KEEL_CONF_HAS_MIN,
     .min = 0,
     .help = "Timeout in seconds for REST based policy check"},
};

int keel_policy_register_opts(keel_conf_t *c)
{
    int rc = keel_conf_register_group(c, "oslo_policy", NULL, NULL);
    if (rc != 0)
        return rc;
    return keel_conf_register_opts(c, "oslo_policy", policy_opts, sizeof(policy_opts) / sizeof(policy_opts[0]));
}

void keel_policy_opts_storage_free(keel_policy_opts_storage_t *st)
{
    keel_buf_free(&st->text);
}

/* Adds a NUL-terminated string to st->text and remembers its offset. */
static int keep(keel_policy_opts_storage_t *st, const char *s, size_t n, size_t *offsets, size_t *count, size_t cap)
{
    if (*count + 1 >= cap)
        return KEEL_ERANGE;
    offsets[(*count)++] = st->text.len;
    int rc = keel_buf_append(&st->text, s, n);
    return rc ? rc : keel_buf_putc(&st->text, '\0');
}

static int keep_dir_of(keel_policy_opts_storage_t *st, const char *path, size_t *offsets, size_t *count, size_t cap)
{
    char abs[PATH_MAX];
    if (realpath(path, abs) == NULL) {
        /* _fixpath() is abspath(), which does not need the file to exist. */
        if (path[0] == '/' || getcwd(abs, sizeof(abs)) == NULL)
            snprintf(abs, sizeof(abs), "%s", path);
        else
            snprintf(abs + strlen(abs), sizeof(abs) - strlen(abs), "/%s", path);
    }
    char *slash = strrchr(abs, '/');
    size_t n = slash ? (size_t)(slash - abs) : 0;
    return keep(st, abs, n ? n : 1, offsets, count, cap);
}

int keel_policy_opts_from_conf(const keel_conf_t *c, const char *project, keel_policy_opts_t *o, keel_policy_opts_storage_t *st)
{
    const keel_conf_value_t *v;
    keel_policy_opts_init(o);
    keel_buf_init(&st->text);
    if (keel_conf_get(c, "oslo_policy", "policy_file", &v) != 0)
        return KEEL_ENOGROUP;
    o->policy_file = keel_conf_get_str(c, "oslo_policy", "policy_file");
    o->policy_default_rule = keel_conf_get_str(c, "oslo_policy", "policy_default_rule");
    o->enforce_scope = keel_conf_get_bool(c, "oslo_policy", "enforce_scope");
    o->enforce_new_defaults = keel_conf_get_bool(c, "oslo_policy", "enforce_new_defaults");
    o->remote_content_type = keel_conf_get_str(c, "oslo_policy", "remote_content_type");
    o->remote_ssl_verify_server_crt = keel_conf_get_bool(c, "oslo_policy", "remote_ssl_verify_server_crt");
    o->remote_ssl_ca_crt_file = keel_conf_get_str(c, "oslo_policy", "remote_ssl_ca_crt_file");
    o->remote_ssl_client_crt_file = keel_conf_get_str(c, "oslo_policy", "remote_ssl_client_crt_file");
    o->remote_ssl_client_key_file = keel_conf_get_str(c, "oslo_policy", "remote_ssl_client_key_file");
    o->remote_timeout = keel_conf_get_float(c, "oslo_policy", "remote_timeout", 60);

    size_t ndirs = 0;
    if (keel_conf_get(c, "oslo_policy", "policy_dirs", &v) == 0 && v->kind == KEEL_CONF_VLIST) {
        if (v->len + 1 > sizeof(st->dirs) / sizeof(st->dirs[0]))
            return KEEL_ERANGE;
        for (size_t i = 0; i < v->len; i++)
            if (v->u.items[i].kind == KEEL_CONF_VSTR)
                st->dirs[ndirs++] = v->u.items[i].u.s;
    }
    st->dirs[ndirs] = NULL;
    o->policy_dirs = st->dirs;

    /* find_file(): --config-dir, config files' directories (last first), then
     * ~/.project, ~, /etc/project, /etc. */
    size_t cap = sizeof(st->search) / sizeof(st->search[0]);
    size_t offsets[sizeof(st->search) / sizeof(st->search[0])];
    size_t n = 0;
    int rc = 0;
    if (keel_conf_get(c, NULL, "config_dir", &v) == 0) {
        if (v->kind == KEEL_CONF_VSTR && v->u.s)
            rc = keep(st, v->u.s, strlen(v->u.s), offsets, &n, cap);
        else if (v->kind == KEEL_CONF_VLIST)
            for (size_t i = 0; i < v->len && rc == 0; i++)
                if (v->u.items[i].kind == KEEL_CONF_VSTR)
                    rc = keep(st, v->u.items[i].u.s, strlen(v->u.items[i].u.s), offsets, &n, cap);
    }
    const char *files[32];
    size_t nf = keel_conf_config_files(c, files, 32);
    if (nf > 32)
        nf = 32;
    for (size_t i = nf; i-- > 0 && rc == 0;)
        rc = keep_dir_of(st, files[i], offsets, &n, cap);
    const char *home = getenv("HOME");
    char buf[PATH_MAX];
    if (rc == 0 && project && home) {
        snprintf(buf, sizeof(buf), "%s/.%s", home, project);
        rc = keep(st, buf, strlen(buf), offsets, &n, cap);
    }
    if (rc == 0 && home)
        rc = keep(st, home, strlen(home), offsets, &n, cap);
    if (rc == 0 && project) {
        snprintf(buf, sizeof(buf), "/etc/%s", project);
        rc = keep(st, buf, strlen(buf), offsets, &n, cap);
    }
    if (rc == 0)
        rc = keep(st, "/etc", 4, offsets, &n, cap);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        st->search[i] = st->text.base + offsets[i];
    st->search[n] = NULL;
    o->search_dirs = st->search;
    return 0;
}
