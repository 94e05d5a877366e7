/*
 * fuzz_rootwrap_filters.c — the filter-file path of keel's rootwrap: the
 * input is a command line (its first line, arguments separated by spaces)
 * followed by a *.filters file. The file is parsed as configparser would,
 * every definition built (regular expressions translated to PCRE2), and
 * the command line matched. The command line is also compiled as a Python
 * regular expression and matched against each argument, since filters
 * only compile their patterns when a match reaches them. Besides
 * surviving, a successful run must be coherent: an allowed command has an
 * executable and a filter, a refusal has oslo.rootwrap's message, the
 * user's arguments only ever lose a leading "env".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/rootwrap/rootwrap_int.h"
#include "pycompat/pyre.h"
#include "pycompat/pystr.h"
#include "keel/rootwrap.h"

static void ignore_log(void *data, int level, const char *msg)
{
    KEEL_ASSERT(level == KEEL_ROOTWRAP_LOG_WARNING);
    KEEL_ASSERT(strncmp(msg, "Skipping unknown filter class (", 31) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *nl = memchr(text, '\n', size);
    size_t cmd_len = nl ? (size_t)(nl - text) : size;
    /* The command line: split on spaces, NULs end an argument early as in argv. */
    char *cmd = keel__strndup(text, cmd_len);
    char *argv[16];
    size_t argc = 0;
    char *save = NULL;
    for (char *t = strtok_r(cmd, " ", &save); t && argc < 16; t = strtok_r(NULL, " ", &save))
        argv[argc++] = t;
    if (argc == 0)
        argv[argc++] = "cat";

    /* The first line as a pattern (filter files are UTF-8, so patterns are too). */
    if (keel__utf8_invalid_at(text, cmd_len) == cmd_len) {
        keel__pyre_t *re = NULL;
        int rc = keel__pyre_compile(text, cmd_len, &re, NULL);
        KEEL_ASSERT(rc == 0 || rc == KEEL_EINVAL || rc == KEEL_ERANGE || rc == KEEL_ENOTSUP);
        if (rc == 0) {
            for (size_t i = 0; i < argc; i++) {
                int m = keel__pyre_match(re, argv[i], strlen(argv[i]));
                KEEL_ASSERT(m == 0 || m == 1);
            }
            keel__pyre_free(re);
        }
    }

    const char *file = nl ? nl + 1 : text + size;
    size_t file_len = size - (size_t)(file - text);
    keel_rootwrap_filters_t *fs = NULL;
    keel_buf_t why;
    keel_buf_init(&why);
    int rc = keel__rw_filters_from_text(&fs, "fuzz.filters", file, file_len, ignore_log, NULL, &why);
    if (rc == 0) {
        /* At least the built-in privsep-helper filter. */
        KEEL_ASSERT(keel_rootwrap_filters_count(fs) >= 1);
        char *exec_dirs[] = {"/usr/bin", "/bin", ""};
        keel_rootwrap_match_t m;
        rc = keel_rootwrap_match(fs, exec_dirs, 3, NULL, argv, argc, &m, &why);
        if (rc == 0) {
            keel_buf_t msg;
            keel_buf_init(&msg);
            if (m.decision == KEEL_ROOTWRAP_ALLOWED) {
                KEEL_ASSERT(m.filter_name && m.filter_class && m.run_as);
                KEEL_ASSERT(m.argc >= 1 && m.argv[0][0] != '\0' && m.argv[m.argc] == NULL);
                KEEL_ASSERT(keel_rootwrap_refusal_message(&m, &msg) == KEEL_EINVAL);
            } else {
                KEEL_ASSERT(keel_rootwrap_refusal_message(&m, &msg) == 0);
                KEEL_ASSERT(m.decision == KEEL_ROOTWRAP_UNAUTHORIZED ? strstr(msg.base, "(no filter matched)") != NULL
                                                                     : m.filter_name != NULL);
                KEEL_ASSERT(m.argv == NULL);
            }
            /* Matching may drop a leading "env" (EnvFilter), nothing else. */
            KEEL_ASSERT(m.n_userargs <= argc && argc - m.n_userargs <= 2);
            KEEL_ASSERT(m.n_userargs == 0 || strcmp(m.userargs[m.n_userargs - 1], argv[argc - 1]) == 0);
            keel_buf_free(&msg);
            keel_rootwrap_match_free(&m);
        } else {
            KEEL_ASSERT(rc == KEEL_EINVAL && why.len > 0);
        }
    } else {
        /* A refused file always says why. */
        KEEL_ASSERT(rc == KEEL_EINVAL && why.len > 0);
    }
    keel_rootwrap_filters_free(fs);
    keel_buf_free(&why);
    keel__free(cmd);
    return 0;
}
