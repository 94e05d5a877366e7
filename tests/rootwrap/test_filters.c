/* Tests for src/rootwrap/filters.c: loading filter files and matching. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "keel/rootwrap.h"

static char root[] = "/tmp/keel-rw-filters-XXXXXX";
static char fdir[300], bin[300];

static void write_file(const char *dir, const char *name, const char *text, size_t len, int mode)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fwrite(text, 1, len, f);
    fclose(f);
    chmod(p, mode);
}

static void filters(const char *text)
{
    write_file(fdir, "t.filters", text, strlen(text), 0644);
}

static keel_buf_t warnings;

static void on_log(void *data, int level, const char *msg)
{
    keel_buf_printf(&warnings, "%d %s\n", level, msg);
}

/* The filters of the last decide(): a match borrows its names from them. */
static keel_rootwrap_filters_t *fs;

/* Loads fdir and matches argv; returns the keel status, the decision in *m. */
static int decide(keel_rootwrap_match_t *m, char **argv, keel_buf_t *why)
{
    char *dirs[] = {fdir};
    char *exec_dirs[] = {bin, "/usr/bin"};
    char *envp[] = {"PATH=/usr/bin:/bin", "KEEP=1", NULL};
    size_t n = 0;
    while (argv[n])
        n++;
    keel_rootwrap_filters_free(fs);
    fs = NULL;
    int rc = keel_rootwrap_filters_load(&fs, dirs, 1, on_log, NULL, why);
    if (rc == 0)
        rc = keel_rootwrap_match(fs, exec_dirs, 2, envp, argv, n, m, why);
    return rc;
}

static int setup(void **state)
{
    keel_buf_init(&warnings);
    return 0;
}

static int teardown(void **state)
{
    keel_rootwrap_filters_free(fs);
    fs = NULL;
    keel_buf_free(&warnings);
    char p[512];
    snprintf(p, sizeof(p), "%s/t.filters", fdir);
    unlink(p);
    return 0;
}

static void test_command_filter_finds_executable_in_exec_dirs(void **state)
{
    filters("[Filters]\nmine: CommandFilter, tool, root\ncat: CommandFilter, /usr/bin/cat, nobody\n");
    keel_rootwrap_match_t m;
    assert_int_equal(decide(&m, (char *[]){"tool", "a b", NULL}, NULL), 0);
    assert_int_equal(m.decision, KEEL_ROOTWRAP_ALLOWED);
    assert_string_equal(m.filter_name, "mine");
    char want[512];
    snprintf(want, sizeof(want), "%s/tool", bin);
    assert_string_equal(m.argv[0], want);
    assert_string_equal(m.argv[1], "a b");
    assert_null(m.envp);
    keel_rootwrap_match_free(&m);
    assert_int_equal(decide(&m, (char *[]){"cat", NULL}, NULL), 0);
    assert_string_equal(m.run_as, "nobody");
    assert_string_equal(m.argv[0], "/usr/bin/cat");
    keel_rootwrap_match_free(&m);
}

static void test_refusals_carry_oslo_messages(void **state)
{
    filters("[Filters]\nghost: CommandFilter, nosuchtool, root\n");
    keel_rootwrap_match_t m;
    keel_buf_t msg;
    keel_buf_init(&msg);
    assert_int_equal(decide(&m, (char *[]){"nosuchtool", NULL}, NULL), 0);
    assert_int_equal(m.decision, KEEL_ROOTWRAP_NOT_EXECUTABLE);
    keel_rootwrap_refusal_message(&m, &msg);
    assert_string_equal(msg.base, "Executable not found: nosuchtool (filter match = ghost)");
    keel_rootwrap_match_free(&m);
    keel_buf_reset(&msg);
    assert_int_equal(decide(&m, (char *[]){"rm", "-rf", "\xff", NULL}, NULL), 0);
    assert_int_equal(m.decision, KEEL_ROOTWRAP_UNAUTHORIZED);
    keel_rootwrap_refusal_message(&m, &msg);
    assert_string_equal(msg.base, "Unauthorized command: rm -rf \\udcff (no filter matched)");
    keel_rootwrap_match_free(&m);
    keel_buf_free(&msg);
}

static void test_privsep_helper_is_always_allowed(void **state)
{
    filters("[Filters]\n");
    keel_rootwrap_match_t m;
    assert_int_equal(decide(&m, (char *[]){"privsep-helper", "--x", NULL}, NULL), 0);
    assert_int_equal(m.decision, KEEL_ROOTWRAP_ALLOWED);
    assert_string_equal(m.filter_name, "privsep-helper");
    keel_rootwrap_match_free(&m);
}

static void test_unknown_class_is_skipped_with_a_warning(void **state)
{
    filters("[Filters]\nx: CommandFiltre, tool, root\n");
    keel_rootwrap_match_t m;
    assert_int_equal(decide(&m, (char *[]){"tool", NULL}, NULL), 0);
    assert_int_equal(m.decision, KEEL_ROOTWRAP_UNAUTHORIZED);
    assert_string_equal(warnings.base, "30 Skipping unknown filter class (CommandFiltre) specified in filter definitions\n");
    keel_rootwrap_match_free(&m);
}

static void test_broken_filter_files_are_refused_with_file_and_line(void **state)
{
    keel_rootwrap_match_t m;
    keel_buf_t why;
    keel_buf_init(&why);
    filters("[Filters]\ncat: CommandFilter, cat\n");
    assert_int_equal(decide(&m, (char *[]){"cat", NULL}, &why), KEEL_EINVAL);
    assert_non_null(strstr(why.base, "t.filters:2: CommandFilter() takes more fields"));
    keel_buf_reset(&why);
    filters("[Other]\n");
    assert_int_equal(decide(&m, (char *[]){"cat", NULL}, &why), KEEL_EINVAL);
    assert_non_null(strstr(why.base, "no [Filters] section"));
    keel_buf_reset(&why);
    filters("[Filters]\nthis is not an option\n");
    assert_int_equal(decide(&m, (char *[]){"cat", NULL}, &why), KEEL_EINVAL);
    assert_non_null(strstr(why.base, "t.filters:2:"));
    keel_buf_reset(&why);
    write_file(fdir, "t.filters", "[Filters]\nx: CommandFilter, c\0t, root\n", 37, 0644);
    assert_int_equal(decide(&m, (char *[]){"cat", NULL}, &why), KEEL_EINVAL);
    assert_non_null(strstr(why.base, "NUL byte"));
    keel_buf_free(&why);
}

static void test_non_filters_fail_only_when_reached(void **state)
{
    filters("[Filters]\ncat: CommandFilter, /usr/bin/cat, root\nmod: __class__, m\n");
    keel_rootwrap_match_t m;
    assert_int_equal(decide(&m, (char *[]){"cat", NULL}, NULL), 0);
    keel_rootwrap_match_free(&m);
    assert_int_equal(decide(&m, (char *[]){"ls", NULL}, NULL), KEEL_EINVAL);
}

static void test_env_filter_drops_env_from_the_callers_list(void **state)
{
    filters("[Filters]\ne: EnvFilter, env, root, A=, /usr/bin/cat\n");
    keel_rootwrap_match_t m;
    assert_int_equal(decide(&m, (char *[]){"env", "A=1", "cat", "x", NULL}, NULL), 0);
    assert_int_equal(m.decision, KEEL_ROOTWRAP_ALLOWED);
    assert_string_equal(m.argv[0], "/usr/bin/cat");
    assert_string_equal(m.argv[1], "x");
    assert_null(m.argv[2]);
    assert_string_equal(m.envp[0], "PATH=/usr/bin:/bin");
    assert_string_equal(m.envp[1], "KEEP=1");
    assert_string_equal(m.envp[2], "A=1");
    assert_null(m.envp[3]);
    keel_rootwrap_match_free(&m);
    /* B is not in the filter: refused, and the message no longer shows "env". */
    assert_int_equal(decide(&m, (char *[]){"env", "B=1", "cat", NULL}, NULL), 0);
    assert_int_equal(m.decision, KEEL_ROOTWRAP_UNAUTHORIZED);
    assert_int_equal(m.n_userargs, 2);
    assert_string_equal(m.userargs[0], "B=1");
    keel_rootwrap_match_free(&m);
}

static void test_path_filter_resolves_symlinks_and_compares_prefixes(void **state)
{
    char images[400], other[400], link[500], evil[500], text[1200];
    snprintf(images, sizeof(images), "%s/images", root);
    snprintf(other, sizeof(other), "%s/images2", root);
    mkdir(images, 0755);
    mkdir(other, 0755);
    snprintf(link, sizeof(link), "%s/out", images);
    symlink("/etc/hostname", link);
    snprintf(evil, sizeof(evil), "%s/x", other);
    snprintf(text, sizeof(text), "[Filters]\nchown: PathFilter, /usr/bin/chown, root, nova, %s\n", images);
    filters(text);
    keel_rootwrap_match_t m;
    char inside[500];
    snprintf(inside, sizeof(inside), "%s/../images/a", images);
    assert_int_equal(decide(&m, (char *[]){"chown", "nova", inside, NULL}, NULL), 0);
    assert_int_equal(m.decision, KEEL_ROOTWRAP_ALLOWED);
    char want[500];
    snprintf(want, sizeof(want), "%s/a", images);
    assert_string_equal(m.argv[2], want); /* the canonical path is what runs */
    keel_rootwrap_match_free(&m);
    assert_int_equal(decide(&m, (char *[]){"chown", "nova", link, NULL}, NULL), 0);
    assert_int_equal(m.decision, KEEL_ROOTWRAP_UNAUTHORIZED);
    keel_rootwrap_match_free(&m);
    /* oslo.rootwrap compares characters: images2 passes for images. */
    assert_int_equal(decide(&m, (char *[]){"chown", "nova", evil, NULL}, NULL), 0);
    assert_int_equal(m.decision, KEEL_ROOTWRAP_ALLOWED);
    keel_rootwrap_match_free(&m);
    unlink(link);
    rmdir(images);
    rmdir(other);
}

static void test_kill_filter_checks_proc_exe_including_deleted(void **state)
{
    char copy[400], text[1000], pid[32];
    snprintf(copy, sizeof(copy), "%s/mysleep", root);
    char cmd[1000];
    snprintf(cmd, sizeof(cmd), "cp /usr/bin/sleep %s", copy);
    assert_int_equal(system(cmd), 0);
    pid_t child = fork();
    if (child == 0) {
        execl(copy, copy, "30", (char *)NULL);
        _exit(127);
    }
    usleep(100000);
    unlink(copy); /* /proc/PID/exe now ends in " (deleted)" */
    snprintf(text, sizeof(text), "[Filters]\nk: KillFilter, root, %s, -9\n", copy);
    filters(text);
    snprintf(pid, sizeof(pid), "%d", (int)child);
    keel_rootwrap_match_t m;
    assert_int_equal(decide(&m, (char *[]){"kill", "-9", pid, NULL}, NULL), KEEL_EINVAL);
    /*
     * oslo.rootwrap falls back to /proc/PID/cmdline, whose first word is the
     * deleted path: shutil.which() returns None and os.path.isfile(None)
     * raises. keel stops there too.
     */
    assert_int_equal(decide(&m, (char *[]){"kill", "-15", pid, NULL}, NULL), 0);
    assert_int_equal(m.decision, KEEL_ROOTWRAP_UNAUTHORIZED); /* wrong signal: refused before /proc is read */
    keel_rootwrap_match_free(&m);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);

    child = fork();
    if (child == 0) {
        execl("/usr/bin/sleep", "/usr/bin/sleep", "30", (char *)NULL);
        _exit(127);
    }
    usleep(100000);
    filters("[Filters]\nk: KillFilter, root, /usr/bin/sleep, -9, -HUP\nrel: KillFilter, root, sleep\n");
    snprintf(pid, sizeof(pid), " +%d ", (int)child); /* int() accepts this */
    assert_int_equal(decide(&m, (char *[]){"kill", "-HUP", pid, NULL}, NULL), 0);
    assert_int_equal(m.decision, KEEL_ROOTWRAP_ALLOWED);
    assert_string_equal(m.filter_name, "k");
    keel_rootwrap_match_free(&m);
    assert_int_equal(decide(&m, (char *[]){"kill", pid, NULL}, NULL), 0);
    assert_string_equal(m.filter_name, "rel"); /* "sleep" in a $PATH directory */
    keel_rootwrap_match_free(&m);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
}

static void test_chaining_filters_require_the_rest_to_match(void **state)
{
    filters("[Filters]\nnice: ChainingRegExpFilter, nice, root, nice, -n, -?\\d+\nip: IpNetnsExecFilter, ip, root\n"
            "cat: CommandFilter, /usr/bin/cat, root\nread: ReadFileFilter, /etc/hostname\n");
    keel_rootwrap_match_t m;
    assert_int_equal(decide(&m, (char *[]){"nice", "-n", "5", "/usr/bin/cat", "x", NULL}, NULL), 0);
    assert_string_equal(m.filter_name, "nice");
    keel_rootwrap_match_free(&m);
    assert_int_equal(decide(&m, (char *[]){"nice", "-n", "5", "ls", NULL}, NULL), 0);
    assert_int_equal(m.decision, KEEL_ROOTWRAP_UNAUTHORIZED);
    keel_rootwrap_match_free(&m);
    assert_int_equal(decide(&m, (char *[]){"ip", "netns", "exec", "ns1", "cat", NULL}, NULL), 0);
    assert_string_equal(m.filter_name, "ip");
    keel_rootwrap_match_free(&m);
    assert_int_equal(decide(&m, (char *[]){"cat", "/etc/hostname", NULL}, NULL), 0);
    assert_string_equal(m.filter_name, "cat"); /* first match wins */
    keel_rootwrap_match_free(&m);
}

/* Fails the Nth allocation, so every error path of load and match runs. */
static int fail_after = -1;

static void *failing_malloc(size_t n)
{
    return fail_after-- == 0 ? NULL : malloc(n);
}

static void *failing_realloc(void *p, size_t n)
{
    return fail_after-- == 0 ? NULL : realloc(p, n);
}

static void *failing_calloc(size_t c, size_t n)
{
    return fail_after-- == 0 ? NULL : calloc(c, n);
}

static void test_load_and_match_survive_allocation_failures(void **state)
{
    filters("[Filters]\ncat: CommandFilter, /usr/bin/cat, root\nre: RegExpFilter, ls, root, ls, -[a-z]+\n"
            "e: EnvFilter, env, root, A=, /usr/bin/cat\n");
    keel_replace_allocator(failing_malloc, failing_realloc, failing_calloc, free);
    int rc = KEEL_ENOMEM, n;
    keel_rootwrap_match_t m;
    for (n = 0; rc == KEEL_ENOMEM && n < 100000; n++) {
        fail_after = n;
        rc = decide(&m, (char *[]){"env", "A=1", "cat", NULL}, NULL);
    }
    fail_after = -1;
    keel_replace_allocator(malloc, realloc, calloc, free);
    assert_int_equal(rc, 0);
    assert_true(n > 10);
    assert_int_equal(m.decision, KEEL_ROOTWRAP_ALLOWED);
    assert_string_equal(m.envp[2], "A=1");
    keel_rootwrap_match_free(&m);
}

static int group_setup(void **state)
{
    if (!mkdtemp(root))
        return -1;
    snprintf(fdir, sizeof(fdir), "%s/filters", root);
    snprintf(bin, sizeof(bin), "%s/bin", root);
    mkdir(fdir, 0755);
    mkdir(bin, 0755);
    write_file(bin, "tool", "#!/bin/true\n", 12, 0755);
    write_file(bin, "privsep-helper", "#!/bin/true\n", 12, 0755);
    return 0;
}

static int group_teardown(void **state)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    return system(cmd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_command_filter_finds_executable_in_exec_dirs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals_carry_oslo_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_privsep_helper_is_always_allowed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_class_is_skipped_with_a_warning, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_filter_files_are_refused_with_file_and_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_non_filters_fail_only_when_reached, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_filter_drops_env_from_the_callers_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_filter_resolves_symlinks_and_compares_prefixes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill_filter_checks_proc_exe_including_deleted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chaining_filters_require_the_rest_to_match, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_and_match_survive_allocation_failures, setup, teardown),
    };
    return cmocka_run_group_tests_name("rootwrap/filters.c", tests, group_setup, group_teardown);
}
