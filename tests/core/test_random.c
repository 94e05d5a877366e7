/* tests/core/test_random.c — keel_random_bytes() and keel_uuid4(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "keel/core.h"

static void test_random_bytes_fills_the_buffer(void **state)
{
    (void)state;
    unsigned char a[64] = {0}, b[64] = {0};
    assert_int_equal(keel_random_bytes(a, sizeof(a)), 0);
    assert_int_equal(keel_random_bytes(b, sizeof(b)), 0);
    assert_memory_not_equal(a, b, sizeof(a));
}

static void test_uuid4_has_version_and_variant(void **state)
{
    (void)state;
    for (int i = 0; i < 1000; i++) {
        unsigned char u[16];
        assert_int_equal(keel_uuid4(u), 0);
        assert_int_equal(u[6] >> 4, 4);
        assert_int_equal(u[8] >> 6, 2);
    }
}

/* Many more than one pool's worth, all distinct. */
static void test_uuid4_never_repeats_across_refills(void **state)
{
    (void)state;
    enum { N = 2000 };
    static unsigned char seen[N][16];
    for (int i = 0; i < N; i++) {
        assert_int_equal(keel_uuid4(seen[i]), 0);
        for (int j = 0; j < i; j++)
            assert_memory_not_equal(seen[i], seen[j], 16);
    }
}

/* A forked child must not hand out the parent's next UUIDs. */
static void test_uuid4_child_does_not_repeat_parent(void **state)
{
    (void)state;
    unsigned char first[16];
    assert_int_equal(keel_uuid4(first), 0); /* the pool now holds more */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        unsigned char u[16];
        int ok = keel_uuid4(u) == 0 && write(fds[1], u, 16) == 16;
        _exit(ok ? 0 : 1);
    }
    close(fds[1]);
    unsigned char child[16], parent[16];
    assert_int_equal(read(fds[0], child, 16), 16);
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(keel_uuid4(parent), 0);
    assert_memory_not_equal(child, parent, 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_bytes_fills_the_buffer),
        cmocka_unit_test(test_uuid4_has_version_and_variant),
        cmocka_unit_test(test_uuid4_never_repeats_across_refills),
        cmocka_unit_test(test_uuid4_child_does_not_repeat_parent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
