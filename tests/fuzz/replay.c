/*
 * replay.c — stands in for libFuzzer in builds without it: feeds every file
 * of the given corpus directories (or files) to LLVMFuzzerTestOneInput once,
 * so the seed corpora and past crashes run as regression tests in the
 * normal and sanitizer builds.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "keel/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    keel_buf_t b;
    keel_buf_init(&b);
    int rc = keel_read_file(path, &b);
    if (rc != 0) {
        fprintf(stderr, "replay: %s: %s\n", path, keel_strerror(rc));
        return 1;
    }
    /* Copy into an exact-size allocation so ASan sees reads past the end. */
    uint8_t *exact = malloc(b.len ? b.len : 1);
    if (b.len)
        memcpy(exact, b.base, b.len);
    LLVMFuzzerTestOneInput(exact, b.len);
    free(exact);
    keel_buf_free(&b);
    return 0;
}

int main(int argc, char **argv)
{
    int failures = 0, count = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: not found\n", argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            failures += replay_file(argv[i]);
            count++;
            continue;
        }
        struct dirent **names;
        int n = scandir(argv[i], &names, NULL, alphasort);
        for (int j = 0; j < n; j++) {
            if (names[j]->d_name[0] != '.') {
                char path[4096];
                snprintf(path, sizeof(path), "%s/%s", argv[i], names[j]->d_name);
                failures += replay_file(path);
                count++;
            }
            free(names[j]);
        }
        free(names);
    }
    printf("replayed %d inputs\n", count);
    return failures ? 1 : 0;
}
