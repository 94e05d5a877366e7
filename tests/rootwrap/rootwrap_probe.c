/*
 * rootwrap_probe.c — keel's side of the rootwrap differential test. Reads
 * cases as JSON lines (byte strings hex-encoded), decides each with the
 * rootwrap library without executing anything, and prints one line per
 * case in the format tests/interop/rootwrap_probe.py prints for
 * oslo.rootwrap, so the harness (tests/interop/rootwrap_diff.py) can
 * compare the two outputs line by line.
 *
 * Case kinds: "conf" (rootwrap.conf), "ini" (the configparser dialect),
 * "re" (re.match of one pattern), "match" (load filters, match a command
 * line, report the decision, command, environment and refusal message).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/rootwrap/ini.h"
#include "pycompat/pyre.h"
#include "keel/rootwrap.h"

/* Bytes as the harness prints them: printable ASCII, the rest \xNN. */
static void put_bytes(keel_buf_t *o, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '|' && c != ',')
            keel_buf_putc(o, (char)c);
        else
            keel_buf_printf(o, "\\x%02x", c);
    }
}

static void put_str(keel_buf_t *o, const char *s)
{
    put_bytes(o, s, strlen(s));
}

static void put_list(keel_buf_t *o, char *const *v, size_t n)
{
    keel_buf_putc(o, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            keel_buf_putc(o, ',');
        put_str(o, v[i]);
    }
    keel_buf_putc(o, ']');
}

static void put_int(keel_buf_t *o, int64_t v)
{
    if (v > ((int64_t)1 << 62) || v < -((int64_t)1 << 62))
        keel_buf_puts(o, "big");
    else
        keel_buf_printf(o, "%lld", (long long)v);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    return (c | 32) - 'a' + 10;
}

/* Decodes a hex string into a new NUL-terminated buffer; *len gets the byte count. */
static char *unhex(const char *h, size_t *len)
{
    size_t n = strlen(h) / 2;
    char *s = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        s[i] = (char)(hexval(h[2 * i]) * 16 + hexval(h[2 * i + 1]));
    s[n] = '\0';
    if (len)
        *len = n;
    return s;
}

static char **unhex_list(json_t *a, size_t *n)
{
    *n = json_array_size(a);
    char **v = calloc(*n + 1, sizeof(char *));
    for (size_t i = 0; i < *n; i++)
        v[i] = unhex(json_string_value(json_array_get(a, i)), NULL);
    return v;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void do_conf(json_t *c, keel_buf_t *o)
{
    char *path = unhex(json_string_value(json_object_get(c, "path")), NULL);
    keel_rootwrap_config_t cfg;
    keel_buf_t msg;
    keel_buf_init(&msg);
    int rc = keel_rootwrap_config_load(&cfg, path, NULL, &msg, NULL);
    if (rc != 0) {
        keel_buf_puts(o, "err97 ");
        put_bytes(o, msg.base, msg.len);
    } else {
        keel_buf_puts(o, "ok fp=");
        put_list(o, cfg.filters_path, cfg.n_filters_path);
        keel_buf_puts(o, " ed=");
        put_list(o, cfg.exec_dirs, cfg.n_exec_dirs);
        keel_buf_printf(o, " syslog=%d fac=", cfg.use_syslog);
        if (cfg.syslog_facility_unusable)
            keel_buf_puts(o, "odd");
        else
            put_int(o, cfg.syslog_facility);
        keel_buf_printf(o, " lvl=%d timeout=", cfg.syslog_level);
        put_int(o, cfg.daemon_timeout);
        keel_buf_puts(o, " rlimit=");
        put_int(o, cfg.rlimit_nofile);
    }
    keel_rootwrap_config_free(&cfg);
    keel_buf_free(&msg);
    free(path);
}

static const char *ini_kind(keel__rw_ini_error_t e)
{
    switch (e) {
    case KEEL__RW_INI_DECODE:
        return "DECODE";
    case KEEL__RW_INI_MISSING_SECTION:
        return "MISSING";
    case KEEL__RW_INI_DUPLICATE_SECTION:
        return "DUPSECT";
    case KEEL__RW_INI_DUPLICATE_OPTION:
        return "DUPOPT";
    default:
        return "PARSING";
    }
}

static void put_section(keel_buf_t *o, const char *name, size_t nlen, const keel__rw_ini_section_t *s)
{
    keel_buf_putc(o, '[');
    put_bytes(o, name, nlen);
    keel_buf_puts(o, "]{");
    for (size_t i = 0; i < s->opts.len; i++) {
        const keel__rw_ini_opt_t *opt = s->opts.items[i];
        if (i)
            keel_buf_putc(o, ';');
        put_bytes(o, opt->name, opt->name_len);
        keel_buf_putc(o, '=');
        put_bytes(o, opt->value.base ? opt->value.base : "", opt->value.len);
    }
    keel_buf_putc(o, '}');
}

static void do_ini(json_t *c, keel_buf_t *o)
{
    size_t len;
    char *text = unhex(json_string_value(json_object_get(c, "text")), &len);
    bool strict = json_is_true(json_object_get(c, "strict"));
    keel__rw_ini_t ini;
    keel__rw_ini_init(&ini);
    int rc = keel__rw_ini_parse(&ini, "f", text, len, strict, NULL);
    if (rc == KEEL_EPARSE) {
        keel_buf_printf(o, "err %s line=%u", ini_kind(ini.error), ini.error_line);
    } else {
        keel_buf_puts(o, "ok ");
        put_section(o, "DEFAULT", 7, &ini.defaults);
        for (size_t i = 0; i < ini.sections.len; i++) {
            const keel__rw_ini_section_t *s = ini.sections.items[i];
            put_section(o, s->name, s->name_len, s);
        }
    }
    keel__rw_ini_free(&ini);
    free(text);
}

static void do_re(json_t *c, keel_buf_t *o)
{
    size_t plen, slen;
    char *pat = unhex(json_string_value(json_object_get(c, "pattern")), &plen);
    char *subj = unhex(json_string_value(json_object_get(c, "subject")), &slen);
    keel__pyre_t *re = NULL;
    int rc = keel__pyre_compile(pat, plen, &re, NULL);
    /*
     * KEEL_ENOTSUP (a pattern keel cannot translate) makes a filter deny,
     * as re.error does, so it prints as "error": a pattern Python accepts
     * still shows up as a disagreement ("0" or "1" against "error").
     */
    if (rc == KEEL_EINVAL || rc == KEEL_ENOTSUP)
        keel_buf_puts(o, "error");
    else if (rc == KEEL_ERANGE)
        keel_buf_puts(o, "crash");
    else if (rc != 0)
        keel_buf_puts(o, keel_err_name(rc));
    else
        keel_buf_printf(o, "%d", keel__pyre_match(re, subj, slen));
    keel__pyre_free(re);
    free(pat);
    free(subj);
}

static void on_log(void *data, int level, const char *msg)
{
    keel_buf_t *w = data;
    if (w->len)
        keel_buf_putc(w, ',');
    keel_buf_printf(w, "%d:", level);
    put_str(w, msg);
}

static void do_match(json_t *c, keel_buf_t *o)
{
    size_t ndirs, nexec, nargs;
    char **dirs = unhex_list(json_object_get(c, "dirs"), &ndirs);
    char **exec_dirs = unhex_list(json_object_get(c, "exec_dirs"), &nexec);
    char **args = unhex_list(json_object_get(c, "args"), &nargs);
    keel_buf_t warns, why;
    keel_buf_init(&warns);
    keel_buf_init(&why);
    keel_rootwrap_filters_t *fs = NULL;
    int rc = keel_rootwrap_filters_load(&fs, dirs, ndirs, on_log, &warns, &why);
    keel_rootwrap_match_t m;
    memset(&m, 0, sizeof(m));
    if (rc == 0)
        rc = keel_rootwrap_match(fs, exec_dirs, nexec, NULL, args, nargs, &m, &why);
    if (rc != 0) {
        keel_buf_puts(o, rc == KEEL_EINVAL ? "crash" : keel_err_name(rc));
    } else if (m.decision == KEEL_ROOTWRAP_ALLOWED) {
        keel_buf_puts(o, "allow name=");
        put_str(o, m.filter_name);
        keel_buf_puts(o, " class=");
        put_str(o, m.filter_class);
        keel_buf_puts(o, " runas=");
        put_str(o, m.run_as);
        keel_buf_puts(o, " cmd=");
        put_list(o, m.argv, m.argc);
        keel_buf_puts(o, " env=");
        if (m.envp) {
            size_t n = 0;
            while (m.envp[n])
                n++;
            put_list(o, m.envp, n);
        } else {
            keel_buf_puts(o, "None");
        }
    } else {
        keel_buf_t msg;
        keel_buf_init(&msg);
        keel_rootwrap_refusal_message(&m, &msg);
        keel_buf_puts(o, m.decision == KEEL_ROOTWRAP_NOT_EXECUTABLE ? "noexec msg=" : "deny msg=");
        put_bytes(o, msg.base, msg.len);
        keel_buf_free(&msg);
    }
    keel_buf_puts(o, " warns=[");
    keel_buf_append(o, warns.base ? warns.base : "", warns.len);
    keel_buf_putc(o, ']');
    if (getenv("PROBE_WHY") && why.len)
        fprintf(stderr, "why: %s\n", why.base);
    keel_rootwrap_match_free(&m);
    keel_rootwrap_filters_free(fs);
    keel_buf_free(&warns);
    keel_buf_free(&why);
    free_list(dirs, ndirs);
    free_list(exec_dirs, nexec);
    free_list(args, nargs);
}

int main(int argc, char **argv)
{
    FILE *in = argc > 1 ? fopen(argv[1], "r") : stdin;
    if (!in) {
        perror(argv[1]);
        return 2;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    keel_buf_t o;
    keel_buf_init(&o);
    while ((n = getline(&line, &cap, in)) > 0) {
        json_error_t err;
        json_t *c = json_loads(line, 0, &err);
        if (!c) {
            fprintf(stderr, "probe: bad case line: %s\n", err.text);
            return 2;
        }
        const char *op = json_string_value(json_object_get(c, "op"));
        keel_buf_reset(&o);
        keel_buf_printf(&o, "%s\t", json_string_value(json_object_get(c, "id")));
        if (strcmp(op, "conf") == 0)
            do_conf(c, &o);
        else if (strcmp(op, "ini") == 0)
            do_ini(c, &o);
        else if (strcmp(op, "re") == 0)
            do_re(c, &o);
        else
            do_match(c, &o);
        fwrite(o.base, 1, o.len, stdout);
        fputc('\n', stdout);
        json_decref(c);
    }
    free(line);
    keel_buf_free(&o);
    if (in != stdin)
        fclose(in);
    return 0;
}
