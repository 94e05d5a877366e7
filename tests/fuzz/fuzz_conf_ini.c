/*
 * fuzz_conf_ini.c — the config-file path of keel_conf: the INI parser on
 * its own (checking what it reports, not only that it survives), then the
 * same bytes as a config file resolved against a fixed set of options of
 * every type, which exercises interpolation and type conversion.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../src/conf/ini.h"
#include "pycompat/pystr.h"
#include "keel/conf.h"

static int on_section(void *data, const char *name, size_t len, unsigned lineno)
{
    /* "[]" is rejected, so a section always has a name */
    KEEL_ASSERT(len > 0);
    KEEL_ASSERT(lineno > 0);
    return 0;
}

static int on_assignment(void *data, const char *key, size_t klen, const char *value, size_t vlen, unsigned lineno)
{
    /* keys are stripped and never empty; values have no trailing space */
    KEEL_ASSERT(klen > 0);
    size_t b = 0, e = klen;
    keel__py_strip(key, &b, &e);
    KEEL_ASSERT(b == 0 && e == klen);
    KEEL_ASSERT(lineno > 0);
    (void)value;
    (void)vlen;
    return 0;
}

static const keel_conf_opt_t opts[] = {
    {.name = "s", .type = KEEL_CONF_STRING, .default_value = "x$i"},
    {.name = "i", .type = KEEL_CONF_INT, .default_value = "1", .flags = KEEL_CONF_HAS_MIN, .min = -5},
    {.name = "f", .type = KEEL_CONF_FLOAT},
    {.name = "b", .type = KEEL_CONF_BOOL},
    {.name = "p", .type = KEEL_CONF_PORT},
    {.name = "h", .type = KEEL_CONF_HOST},
    {.name = "ip", .type = KEEL_CONF_IP},
    {.name = "u", .type = KEEL_CONF_URI},
    {.name = "l", .type = KEEL_CONF_LIST, .item_type = KEEL_CONF_INT},
    {.name = "d", .type = KEEL_CONF_DICT},
    {.name = "m", .type = KEEL_CONF_MULTI},
    {.name = "c", .type = KEEL_CONF_STRING, .choices = (const char *const[]){"a", "b", NULL}},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!keel__utf8_valid((const char *)data, size))
        return 0;
    keel_buf_t err;
    keel_buf_init(&err);
    static const keel__ini_handler_t h = {on_section, on_assignment};
    int rc = keel__ini_parse((const char *)data, size, &h, NULL, &err);
    KEEL_ASSERT(rc == 0 || rc == KEEL_EPARSE);
    KEEL_ASSERT(rc == 0 || err.len > 0);
    keel_buf_free(&err);

    int fd = memfd_create("conf", 0);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    keel_conf_t *c;
    if (keel_conf_new(&c) == 0) {
        keel_conf_set_warning_handler(c, NULL, NULL);
        keel_conf_register_opts(c, NULL, opts, sizeof(opts) / sizeof(opts[0]));
        keel_conf_register_opts(c, "g", opts, sizeof(opts) / sizeof(opts[0]));
        char *argv[] = {"fuzz", "--config-file", path, NULL};
        static const char *const none[] = {NULL};
        keel_conf_setup_t setup = {.default_config_files = none, .default_config_dirs = none, .no_env = true};
        rc = keel_conf_parse(c, 3, argv, &setup);
        if (rc == 0) {
            const keel_conf_value_t *v;
            KEEL_ASSERT(keel_conf_get(c, "g", "l", &v) == 0);
            KEEL_ASSERT(v->kind == KEEL_CONF_VLIST || v->kind == KEEL_CONF_VNONE);
            keel_buf_t json;
            keel_buf_init(&json);
            KEEL_ASSERT(keel_conf_value_to_json(v, &json) == 0);
            keel_buf_free(&json);
        } else {
            KEEL_ASSERT(keel_conf_error(c)[0] != '\0');
        }
        keel_conf_free(c);
    }
    close(fd);
    return 0;
}
