/*
 * Tests for src/log/log.c: levels and the logger tree, default_log_levels
 * (valid and malformed), setup that is all-or-nothing, the text and JSON
 * lines written to files and streams, log_dir paths, reopen after
 * rotation, thread-local contexts in lines, concurrent writers, and the
 * no-allocation promise of an enabled call. A counting allocator installed
 * before anything else lets tests count and fail allocations.
 */
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "log_int.h"

/* ---- allocator that counts and can fail the Nth call ---- */

static long n_allocs;
static long fail_at; /* 0: never */

static bool should_fail(void)
{
    long n = __atomic_add_fetch(&n_allocs, 1, __ATOMIC_RELAXED);
    return fail_at && n == fail_at;
}

static void *t_malloc(size_t n)
{
    return should_fail() ? NULL : malloc(n);
}

static void *t_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : realloc(p, n);
}

static void *t_calloc(size_t c, size_t n)
{
    return should_fail() ? NULL : calloc(c, n);
}

/* ---- helpers ---- */

static char tmpdir[64];
static double pinned_time = 1700000000.25;
static double pinned(void)
{
    return pinned_time;
}

static int setup_dir(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/keel-log-test-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    char cmd[128];
    keel_log_shutdown();
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    return system(cmd);
}

static const char *path_of(const char *name)
{
    static char paths[4][256];
    static int slot;
    slot = (slot + 1) % 4;
    snprintf(paths[slot], sizeof(paths[slot]), "%s/%s", tmpdir, name);
    return paths[slot];
}

/* Reads a whole file into a static buffer ("" if missing). */
static const char *slurp(const char *path)
{
    static char text[1 << 20];
    keel_buf_t b;
    keel_buf_init(&b);
    if (keel_read_file(path, &b) != 0) {
        keel_buf_free(&b);
        return "";
    }
    snprintf(text, sizeof(text), "%s", b.base);
    keel_buf_free(&b);
    return text;
}

/* Configures a file output (plus the given config) and pins the clock. */
static void log_to_file(keel_log_config_t cfg, const char *name)
{
    unlink(path_of(name));
    cfg.log_file = path_of(name);
    int rc = keel_log_configure(&cfg);
    if (rc != 0)
        fail_msg("configure: %s", keel_log_error());
    keel__log_set_clock(pinned, pinned_time - 1.5);
}

static int pid(void)
{
    return (int)getpid();
}

/* ---- levels and loggers ---- */

static void test_level_names_and_parse(void **state)
{
    assert_string_equal(keel_log_level_name(KEEL_LOG_LEVEL_WARNING), "WARNING");
    assert_string_equal(keel_log_level_name(5), "TRACE");
    assert_null(keel_log_level_name(21));
    int v;
    const char *ok[] = {"CRITICAL", "FATAL",  "ERROR", "WARN", "WARNING", "INFO", "DEBUG",
                        "TRACE",    "NOTSET", "10",    " 25 ", "+30",     "-5",   "1_0"};
    const int want[] = {50, 50, 40, 30, 30, 20, 10, 5, 0, 10, 25, 30, -5, 10};
    for (size_t k = 0; k < sizeof(ok) / sizeof(ok[0]); k++) {
        assert_int_equal(keel_log_level_parse(ok[k], &v), 0);
        assert_int_equal(v, want[k]);
    }
    const char *bad[] = {"", "warn", "Info", "LOUD", " WARN", "1.5", "1__0", "_1", "1_", "0x10", "- 5"};
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
        assert_int_equal(keel_log_level_parse(bad[k], &v), KEEL_EVALUE);
}

static void test_logger_get_caches_names_and_renames_oslo(void **state)
{
    keel_log_t *a = keel_log_get("keel.amqp.connection");
    assert_ptr_equal(a, keel_log_get("keel.amqp.connection"));
    assert_string_equal(a->name, "keel.amqp.connection");
    keel_log_t *root = keel_log_get(NULL);
    assert_string_equal(root->name, "root");
    assert_ptr_equal(root, keel_log_get(""));
    assert_ptr_equal(root, keel_log_get("root"));
    /* oslo_log.log.getLogger: "oslo_x" is "oslo.x". */
    assert_string_equal(keel_log_get("oslo_messaging.rpc")->name, "oslo.messaging.rpc");
    assert_ptr_equal(keel_log_get("oslo_messaging.rpc"), keel_log_get("oslo.messaging.rpc"));
}

static void test_levels_inherit_by_dotted_prefix(void **state)
{
    assert_int_equal(keel_log_set_level(NULL, KEEL_LOG_LEVEL_INFO), 0);
    keel_log_t *abc = keel_log_get("h1.b.c"), *ax = keel_log_get("h1.x"), *a = keel_log_get("h1");
    assert_int_equal(keel_log_effective_level(abc), KEEL_LOG_LEVEL_INFO);
    assert_int_equal(keel_log_set_level("h1", KEEL_LOG_LEVEL_ERROR), 0);
    assert_int_equal(keel_log_set_level("h1.b", KEEL_LOG_LEVEL_DEBUG), 0);
    assert_int_equal(keel_log_effective_level(abc), KEEL_LOG_LEVEL_DEBUG);
    assert_int_equal(keel_log_effective_level(ax), KEEL_LOG_LEVEL_ERROR);
    assert_int_equal(keel_log_effective_level(a), KEEL_LOG_LEVEL_ERROR);
    assert_true(keel_log_enabled(abc, KEEL_LOG_LEVEL_DEBUG));
    assert_false(keel_log_enabled(ax, KEEL_LOG_LEVEL_WARNING));
    /* A logger created later under a configured name inherits at once. */
    assert_int_equal(keel_log_effective_level(keel_log_get("h1.b.new")), KEEL_LOG_LEVEL_DEBUG);
    assert_int_equal(keel_log_set_level("h1.b", KEEL_LOG_LEVEL_NOTSET), 0);
    assert_int_equal(keel_log_effective_level(abc), KEEL_LOG_LEVEL_ERROR);
    assert_int_equal(keel_log_set_level("h1", KEEL_LOG_LEVEL_NOTSET), 0);
    assert_int_equal(keel_log_effective_level(abc), KEEL_LOG_LEVEL_INFO);
}

static void test_levels_follow_python_parent_rule_for_empty_segments(void **state)
{
    /* Python's _fixupParents never looks at "q" for "q..b", but "q." looks at "q". */
    keel_log_set_level(NULL, KEEL_LOG_LEVEL_INFO);
    keel_log_set_level("q", KEEL_LOG_LEVEL_ERROR);
    keel_log_t *qb = keel_log_get("q..b");
    assert_int_equal(keel_log_effective_level(qb), KEEL_LOG_LEVEL_INFO);
    keel_log_get("q.");
    keel_log_set_level(NULL, KEEL_LOG_LEVEL_INFO); /* any level change recomputes */
    assert_int_equal(keel_log_effective_level(qb), KEEL_LOG_LEVEL_ERROR);
    keel_log_set_level("q", KEEL_LOG_LEVEL_NOTSET);
}

static int evaluated;
static int side_effect(void)
{
    return ++evaluated;
}

static void test_disabled_call_does_not_evaluate_arguments(void **state)
{
    keel_log_t *log = keel_log_get("quiet");
    keel_log_set_level("quiet", KEEL_LOG_LEVEL_WARNING);
    evaluated = 0;
    KEEL_LOG_DEBUG(log, "%d", side_effect());
    KEEL_LOG_INFO(log, "%d", side_effect());
    assert_int_equal(evaluated, 0);
    keel_log_set_level("quiet", KEEL_LOG_LEVEL_NOTSET);
}

/* ---- setup ---- */

static void test_configure_applies_oslo_default_log_levels(void **state)
{
    log_to_file((keel_log_config_t){0}, "levels.log");
    assert_int_equal(keel_log_effective_level(keel_log_get(NULL)), KEEL_LOG_LEVEL_INFO);
    assert_int_equal(keel_log_effective_level(keel_log_get("amqp.transport")), KEEL_LOG_LEVEL_WARNING);
    assert_int_equal(keel_log_effective_level(keel_log_get("sqlalchemy")), KEEL_LOG_LEVEL_WARNING);
    assert_int_equal(keel_log_effective_level(keel_log_get("suds")), KEEL_LOG_LEVEL_INFO);
    log_to_file((keel_log_config_t){.debug = true}, "levels.log");
    assert_int_equal(keel_log_effective_level(keel_log_get("keel.x")), KEEL_LOG_LEVEL_DEBUG);
    assert_int_equal(keel_log_effective_level(keel_log_get("amqp.transport")), KEEL_LOG_LEVEL_WARNING);
    const char *const custom[] = {"amqp=DEBUG", "=ERROR", "x.y=15", NULL};
    log_to_file((keel_log_config_t){.default_log_levels = custom}, "levels.log");
    /* "=ERROR" names the root logger, after the root level was set from debug. */
    assert_int_equal(keel_log_effective_level(keel_log_get("keel.x")), KEEL_LOG_LEVEL_ERROR);
    assert_int_equal(keel_log_effective_level(keel_log_get("amqp.transport")), KEEL_LOG_LEVEL_DEBUG);
    assert_int_equal(keel_log_effective_level(keel_log_get("x.y.z")), 15);
}

static void test_configure_rejects_malformed_levels_and_changes_nothing(void **state)
{
    log_to_file((keel_log_config_t){0}, "keep.log");
    keel_log_t *log = keel_log_get("keep");
    const char *const *bad[] = {
        (const char *const[]){"amqp", NULL},        (const char *const[]){"amqp=warn", NULL},
        (const char *const[]){"amqp = WARN", NULL}, (const char *const[]){"a=b=c", NULL},
        (const char *const[]){"a=", NULL},          (const char *const[]){"x=DEBUG", "bad", NULL},
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        keel_log_config_t cfg = {.debug = true, .use_json = true, .default_log_levels = bad[k], .log_file = path_of("other.log")};
        assert_int_equal(keel_log_configure(&cfg), KEEL_EVALUE);
        assert_non_null(strstr(keel_log_error(), "default_log_levels"));
    }
    assert_int_equal(keel_log_effective_level(keel_log_get("x")), KEEL_LOG_LEVEL_INFO);
    KEEL_LOG_INFO(log, "still here");
    assert_non_null(strstr(slurp(path_of("keep.log")), "INFO keep [-] still here\n"));
    assert_string_equal(slurp(path_of("other.log")), "");
}

static void test_configure_rejects_bad_formats_and_facilities(void **state)
{
    keel_log_config_t cfg = {.logging_default_format_string = "%(nosuch)s"};
    assert_int_equal(keel_log_configure(&cfg), KEEL_EVALUE);
    assert_non_null(strstr(keel_log_error(), "logging_default_format_string"));
    cfg = (keel_log_config_t){.logging_user_identity_format = "%(user)d"};
    assert_int_equal(keel_log_configure(&cfg), KEEL_EVALUE);
    cfg = (keel_log_config_t){.use_syslog = true, .syslog_log_facility = "LOG_NOPE"};
    assert_int_equal(keel_log_configure(&cfg), KEEL_EVALUE);
    assert_non_null(strstr(keel_log_error(), "syslog facility must be one of"));
    cfg = (keel_log_config_t){.log_file = "/nonexistent-dir/x.log"};
    assert_int_equal(keel_log_configure(&cfg), KEEL_ENOENT);
}

static void test_configure_accepts_syslog_facility_spellings(void **state)
{
    const char *names[] = {"LOG_USER", "local0", "Log_Local7", "daemon", "LOG_AUTHPRIV"};
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        keel_log_config_t cfg = {.use_syslog = true, .syslog_log_facility = names[k], .log_file = path_of("sys.log")};
        assert_int_equal(keel_log_configure(&cfg), 0);
    }
    keel_log_config_t cfg = {.log_file = path_of("sys.log")};
    assert_int_equal(keel_log_configure(&cfg), 0);
}

/* ---- lines ---- */

static void test_text_line_without_context(void **state)
{
    keel_log_context_clear();
    log_to_file((keel_log_config_t){0}, "plain.log");
    keel_log_t *log = keel_log_get("keel.test");
    KEEL_LOG_INFO(log, "hello %s %d", "wörld", 42);
    KEEL_LOG_DEBUG(log, "not at INFO");
    keel_log_emit(log, 21, "f.c", 1, "fn", "custom level");
    char want[256];
    snprintf(want, sizeof(want),
             "2023-11-14 22:13:20.250 %d INFO keel.test [-] hello wörld 42\n"
             "2023-11-14 22:13:20.250 %d Level 21 keel.test [-] custom level\n",
             pid(), pid());
    assert_string_equal(slurp(path_of("plain.log")), want);
}

static void test_text_line_with_context_and_debug_suffix(void **state)
{
    log_to_file((keel_log_config_t){.debug = true}, "ctx.log");
    keel_log_context_t c = KEEL_LOG_CONTEXT_INIT;
    c.request_id = "req-1";
    c.user_id = "u1";
    c.project_id = "p1";
    c.resource_uuid = "inst-9";
    assert_int_equal(keel_log_context_set(&c), 0);
    keel_log_t *log = keel_log_get("keel.test");
    keel_log_emit(log, KEEL_LOG_LEVEL_DEBUG, "/src/svc.c", 12, "handle", "dbg %d", 1);
    c.global_request_id = "req-g";
    c.resource_uuid = NULL;
    assert_int_equal(keel_log_context_set(&c), 0);
    KEEL_LOG_WARNING(log, "warned");
    keel_log_context_clear();
    char want[512];
    snprintf(want, sizeof(want),
             "2023-11-14 22:13:20.250 %d DEBUG keel.test [None req-1 u1 p1 - - - -] [instance: inst-9] dbg 1 handle "
             "/src/svc.c:12\n"
             "2023-11-14 22:13:20.250 %d WARNING keel.test [req-g req-1 u1 p1 - - - -] warned\n",
             pid(), pid());
    assert_string_equal(slurp(path_of("ctx.log")), want);
}

static void test_error_summary_and_traceback_lines(void **state)
{
    log_to_file((keel_log_config_t){.logging_exception_prefix = "! %(levelname)s "}, "err.log");
    keel_log_t *log = keel_log_get("keel.err");
    KEEL_LOG_ERR(log, KEEL_LOG_LEVEL_ERROR, "ENOENT: no such file", "trace 1\ntrace 2\n", "open %s failed", "x.conf");
    KEEL_LOG_ERR(log, KEEL_LOG_LEVEL_INFO, "not shown below WARNING", NULL, "info");
    char want[512];
    snprintf(want, sizeof(want),
             "2023-11-14 22:13:20.250 %d ERROR keel.err [-] open x.conf failed: ENOENT: no such file\n"
             "! ERROR trace 1\n! ERROR trace 2\n! ERROR \n"
             "2023-11-14 22:13:20.250 %d INFO keel.err [-] info\n",
             pid(), pid());
    assert_string_equal(slurp(path_of("err.log")), want);
}

static void test_custom_formats_date_and_isotime(void **state)
{
    log_to_file((keel_log_config_t){.log_date_format = "%H:%M:%S",
                                    .logging_default_format_string =
                                        "%(asctime)s|%(isotime)s|%(levelname)-7s|%(name).4s|%(lineno)04d|%(module)s|"
                                        "%(project)s %(version)s|%(message)r",
                                    .project = "nova",
                                    .version = "27.1"},
                "custom.log");
    keel_log_emit(keel_log_get("abcdef"), KEEL_LOG_LEVEL_INFO, "/a/b/mod.c", 7, "f", "it's");
    assert_string_equal(slurp(path_of("custom.log")),
                        "22:13:20|2023-11-14T22:13:20.250000+00:00|INFO   |abcd|0007|mod|nova 27.1|\"it's\"\n");
    /* An empty date format is Python's default, with a comma and milliseconds. */
    log_to_file((keel_log_config_t){.log_date_format = "", .logging_default_format_string = "%(asctime)s %(message)s"},
                "custom.log");
    KEEL_LOG_INFO(keel_log_get("x"), "m");
    assert_string_equal(slurp(path_of("custom.log")), "2023-11-14 22:13:20,250 m\n");
}

static void test_json_lines_to_file(void **state)
{
    log_to_file((keel_log_config_t){.use_json = true}, "json.log");
    keel_log_t *log = keel_log_get("keel.json");
    KEEL_LOG_INFO(log, "n=%d s=%s", 5, "é");
    KEEL_LOG_WARNING(log, "second");
    const char *text = slurp(path_of("json.log"));
    const char *nl = strchr(text, '\n');
    assert_non_null(nl);
    json_error_t err;
    json_t *j = json_loadb(text, (size_t)(nl - text), 0, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "message")), "n=5 s=é");
    assert_string_equal(json_string_value(json_object_get(j, "msg")), "n=%d s=%s");
    assert_int_equal(json_integer_value(json_array_get(json_object_get(j, "args"), 0)), 5);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "keel.json");
    assert_string_equal(json_string_value(json_object_get(j, "asctime")), "2023-11-14 22:13:20");
    assert_true(json_real_value(json_object_get(j, "relative_created")) == 1500.0);
    assert_int_equal(json_integer_value(json_object_get(j, "process")), pid());
    assert_int_equal(json_integer_value(json_object_get(j, "thread")), (json_int_t)keel__log_thread_ident());
    assert_string_equal(json_string_value(json_object_get(j, "thread_name")), "MainThread");
    json_decref(j);
    assert_non_null(strstr(nl + 1, "\"message\": \"second\""));
    /* Files get no colour reset: that is the stream handler's. */
    assert_null(strstr(text, "\033"));
}

/* Runs fn with fd (1 or 2) sent to a file; returns what was written. */
static const char *capture(int fd, void (*fn)(void))
{
    const char *p = path_of("captured");
    int out = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int saved = dup(fd);
    dup2(out, fd);
    close(out);
    fn();
    dup2(saved, fd);
    close(saved);
    return slurp(p);
}

static void log_to_stderr(void)
{
    keel_log_config_t cfg = {.use_stderr = true, .debug = true};
    assert_int_equal(keel_log_configure(&cfg), 0);
    keel_log_emit(keel_log_get("s"), KEEL_LOG_LEVEL_DEBUG, "a.c", 3, "f", "to stderr");
}

static void log_to_stdout(void)
{
    keel_log_config_t cfg = {.logging_default_format_string = "%(color)s%(levelname)s%(reset_color)s %(message)s"};
    assert_int_equal(keel_log_configure(&cfg), 0);
    KEEL_LOG_ERROR(keel_log_get("s"), "to stdout");
}

static void log_colourless(void)
{
    keel_log_config_t cfg = {.use_stderr = true, .no_color = true, .logging_default_format_string = "%(message)s"};
    assert_int_equal(keel_log_configure(&cfg), 0);
    KEEL_LOG_ERROR(keel_log_get("s"), "plain");
}

static void test_streams_end_lines_with_colour_reset(void **state)
{
    char want[256];
    snprintf(want, sizeof(want), "2023-11-14 22:13:20.250 %d DEBUG s [-] to stderr f a.c:3\033[00m\n", pid());
    assert_string_equal(capture(2, log_to_stderr), want);
    /* No file and no use_stderr: oslo's fallback is stdout, with ColorHandler's %(color)s. */
    assert_string_equal(capture(1, log_to_stdout), "\033[01;31mERROR\033[00m to stdout\033[00m\n");
    assert_string_equal(capture(2, log_colourless), "plain\n");
}

static void test_log_dir_path_rules(void **state)
{
    keel_log_config_t cfg = {.log_dir = tmpdir, .binary_name = "svc"};
    assert_int_equal(keel_log_configure(&cfg), 0);
    KEEL_LOG_WARNING(keel_log_get("d"), "in dir");
    assert_non_null(strstr(slurp(path_of("svc.log")), "in dir"));
    cfg = (keel_log_config_t){.log_dir = tmpdir, .log_file = "joined.log"};
    assert_int_equal(keel_log_configure(&cfg), 0);
    KEEL_LOG_WARNING(keel_log_get("d"), "joined");
    assert_non_null(strstr(slurp(path_of("joined.log")), "joined"));
    /* os.path.join: an absolute log_file ignores log_dir. */
    cfg = (keel_log_config_t){.log_dir = "/nonexistent", .log_file = path_of("abs.log")};
    assert_int_equal(keel_log_configure(&cfg), 0);
    KEEL_LOG_WARNING(keel_log_get("d"), "absolute");
    assert_non_null(strstr(slurp(path_of("abs.log")), "absolute"));
}

static void test_reopen_follows_rotation(void **state)
{
    log_to_file((keel_log_config_t){.logging_default_format_string = "%(message)s"}, "rot.log");
    keel_log_t *log = keel_log_get("rot");
    KEEL_LOG_INFO(log, "one");
    assert_int_equal(rename(path_of("rot.log"), path_of("rot.log.1")), 0);
    KEEL_LOG_INFO(log, "two"); /* still the old file, as logrotate's copy would see */
    assert_int_equal(keel_log_reopen(), 0);
    KEEL_LOG_INFO(log, "three");
    assert_string_equal(slurp(path_of("rot.log.1")), "one\ntwo\n");
    assert_string_equal(slurp(path_of("rot.log")), "three\n");
}

/* ---- threads ---- */

#define WRITERS 4
#define LINES 2000

typedef struct writer_s {
    int id;
    char rid[32];
} writer_t;

static void *writer(void *arg)
{
    writer_t *w = arg;
    keel_log_context_t c = KEEL_LOG_CONTEXT_INIT;
    c.request_id = w->rid;
    if (keel_log_context_set(&c) != 0)
        return NULL;
    keel_log_t *log = keel_log_get("writer");
    char pad[301];
    memset(pad, 'a' + w->id, 300);
    pad[300] = '\0';
    for (int i = 0; i < LINES; i++)
        KEEL_LOG_INFO(log, "w%d i%d %s end", w->id, i, pad);
    return NULL;
}

static void test_concurrent_writers_write_whole_lines_with_their_context(void **state)
{
    log_to_file((keel_log_config_t){.logging_context_format_string = "%(request_id)s %(message)s"}, "threads.log");
    writer_t w[WRITERS];
    pthread_t t[WRITERS];
    for (int k = 0; k < WRITERS; k++) {
        w[k].id = k;
        snprintf(w[k].rid, sizeof(w[k].rid), "req-%d", k);
        assert_int_equal(pthread_create(&t[k], NULL, writer, &w[k]), 0);
    }
    for (int k = 0; k < WRITERS; k++)
        pthread_join(t[k], NULL);
    FILE *f = fopen(path_of("threads.log"), "r");
    assert_non_null(f);
    char line[1024];
    int count[WRITERS] = {0};
    while (fgets(line, sizeof(line), f)) {
        int id, i, rid;
        char pad[400], tail[16];
        assert_int_equal(sscanf(line, "req-%d w%d i%d %399s %15s", &rid, &id, &i, pad, tail), 5);
        /* Each line is whole and carries its own thread's context. */
        assert_int_equal(rid, id);
        assert_int_equal(strlen(pad), 300);
        assert_true(pad[0] == 'a' + id && pad[299] == 'a' + id);
        assert_string_equal(tail, "end");
        assert_int_equal(i, count[id]); /* one thread's lines keep their order */
        count[id]++;
    }
    fclose(f);
    for (int k = 0; k < WRITERS; k++)
        assert_int_equal(count[k], LINES);
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    int n = 0;
    char line[1024];
    while (fgets(line, sizeof(line), f)) {
        assert_non_null(strstr(line, " end\n"));
        n++;
    }
    fclose(f);
    return n;
}

static void test_reconfigure_while_logging_loses_and_splits_no_line(void **state)
{
    unlink(path_of("swap-a.log"));
    unlink(path_of("swap-b.log"));
    keel_log_config_t cfg[2] = {{.logging_context_format_string = "%(message)s", .log_file = path_of("swap-a.log")},
                                {.logging_context_format_string = "%(message)s", .log_file = path_of("swap-b.log")}};
    assert_int_equal(keel_log_configure(&cfg[0]), 0);
    writer_t w[WRITERS];
    pthread_t t[WRITERS];
    for (int k = 0; k < WRITERS; k++) {
        w[k].id = k;
        snprintf(w[k].rid, sizeof(w[k].rid), "req-%d", k);
        assert_int_equal(pthread_create(&t[k], NULL, writer, &w[k]), 0);
    }
    for (int i = 0; i < 200; i++) {
        assert_int_equal(keel_log_configure(&cfg[i % 2]), 0);
        if (i % 50 == 0)
            assert_int_equal(keel_log_reopen(), 0);
    }
    for (int k = 0; k < WRITERS; k++)
        pthread_join(t[k], NULL);
    assert_int_equal(count_lines(path_of("swap-a.log")) + count_lines(path_of("swap-b.log")), WRITERS * LINES);
}

/* ---- memory ---- */

static void test_enabled_call_does_not_allocate_once_warm(void **state)
{
    log_to_file((keel_log_config_t){0}, "alloc.log");
    keel_log_context_t c = KEEL_LOG_CONTEXT_INIT;
    c.request_id = "req-alloc";
    c.user_id = "u";
    assert_int_equal(keel_log_context_set(&c), 0);
    keel_log_t *log = keel_log_get("alloc");
    for (int i = 0; i < 10; i++)
        KEEL_LOG_INFO(log, "warm up %d %s", i, "some text to size the buffers");
    long before = __atomic_load_n(&n_allocs, __ATOMIC_RELAXED);
    for (int i = 0; i < 1000; i++)
        KEEL_LOG_INFO(log, "steady %d %s", i, "some text to size the buffers");
    assert_int_equal(__atomic_load_n(&n_allocs, __ATOMIC_RELAXED), before);
    keel_log_context_clear();
}

static void test_configure_fails_cleanly_when_memory_runs_out(void **state)
{
    log_to_file((keel_log_config_t){.logging_default_format_string = "before %(message)s"}, "oom.log");
    const char *const levels[] = {"a=DEBUG", "b=ERROR", NULL};
    keel_log_config_t cfg = {
        .log_file = path_of("oom2.log"), .default_log_levels = levels, .logging_default_format_string = "after %(message)s"};
    int rc = KEEL_ENOMEM, tries = 0;
    for (long n = 1; rc == KEEL_ENOMEM; n++, tries++) {
        __atomic_store_n(&n_allocs, 0, __ATOMIC_RELAXED);
        fail_at = n;
        rc = keel_log_configure(&cfg);
        fail_at = 0;
        if (rc == KEEL_ENOMEM) /* the old setup is still the one in force */
            KEEL_LOG_WARNING(keel_log_get("oom"), "x");
    }
    assert_int_equal(rc, 0);
    assert_true(tries > 5);
    KEEL_LOG_WARNING(keel_log_get("oom"), "y");
    const char *before = slurp(path_of("oom.log"));
    for (const char *p = before; *p; p = strchr(p, '\n') + 1)
        assert_memory_equal(p, "before x\n", 9);
    assert_string_equal(slurp(path_of("oom2.log")), "after y\n");
}

int main(void)
{
    /* Before any other keel call, as keel_replace_allocator requires. */
    if (keel_replace_allocator(t_malloc, t_realloc, t_calloc, free) != 0)
        return 1;
    setenv("TZ", "UTC", 1);
    tzset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_level_names_and_parse),
        cmocka_unit_test(test_logger_get_caches_names_and_renames_oslo),
        cmocka_unit_test(test_levels_inherit_by_dotted_prefix),
        cmocka_unit_test(test_levels_follow_python_parent_rule_for_empty_segments),
        cmocka_unit_test(test_disabled_call_does_not_evaluate_arguments),
        cmocka_unit_test(test_configure_applies_oslo_default_log_levels),
        cmocka_unit_test(test_configure_rejects_malformed_levels_and_changes_nothing),
        cmocka_unit_test(test_configure_rejects_bad_formats_and_facilities),
        cmocka_unit_test(test_configure_accepts_syslog_facility_spellings),
        cmocka_unit_test(test_text_line_without_context),
        cmocka_unit_test(test_text_line_with_context_and_debug_suffix),
        cmocka_unit_test(test_error_summary_and_traceback_lines),
        cmocka_unit_test(test_custom_formats_date_and_isotime),
        cmocka_unit_test(test_json_lines_to_file),
        cmocka_unit_test(test_streams_end_lines_with_colour_reset),
        cmocka_unit_test(test_log_dir_path_rules),
        cmocka_unit_test(test_reopen_follows_rotation),
        cmocka_unit_test(test_concurrent_writers_write_whole_lines_with_their_context),
        cmocka_unit_test(test_reconfigure_while_logging_loses_and_splits_no_line),
        cmocka_unit_test(test_enabled_call_does_not_allocate_once_warm),
        cmocka_unit_test(test_configure_fails_cleanly_when_memory_runs_out),
    };
    return cmocka_run_group_tests_name("log/log.c", tests, setup_dir, remove_dir);
}
