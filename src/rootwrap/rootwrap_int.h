/*
 * rootwrap_int.h — internal to the rootwrap module (never installed):
 * helpers the module's files share. Argument lists are NULL-terminated
 * arrays of owned strings that also know their length, because
 * oslo.rootwrap's lists are Python lists and keel mirrors their edits.
 */
#ifndef KEEL_ROOTWRAP_INT_H
#define KEEL_ROOTWRAP_INT_H

#include "keel/rootwrap.h"

typedef struct {
    char **v; /* NULL-terminated */
    size_t n;
    size_t cap;
} keel__rw_strv_t;

void keel__rw_strv_init(keel__rw_strv_t *sv);
void keel__rw_strv_free(keel__rw_strv_t *sv);
/** Appends a copy of len bytes of s. Returns 0 or KEEL_ENOMEM. */
int keel__rw_strv_pushn(keel__rw_strv_t *sv, const char *s, size_t len);
int keel__rw_strv_push(keel__rw_strv_t *sv, const char *s);
/** Removes item i (list.pop(i)). */
void keel__rw_strv_remove(keel__rw_strv_t *sv, size_t i);
/** Appends s[0..len) split on sep (str.split(sep): never empty, pieces kept as is). */
int keel__rw_strv_split(keel__rw_strv_t *sv, const char *s, size_t len, char sep);
/** Hands the array to the caller; sv is left empty. */
char **keel__rw_strv_steal(keel__rw_strv_t *sv, size_t *n);

/** The value of NAME in envp (NULL-terminated "NAME=value" strings), or NULL. */
const char *keel__rw_getenv(char *const *envp, const char *name);

/** The process environment, for callers that pass NULL. */
char *const *keel__rw_environ(void);

/**
 * Loads filters from one file's text, as if it were the only file of the
 * filters_path, then adds privsep-helper: keel_rootwrap_filters_load()
 * without the directories, for the fuzz target and tests.
 */
int keel__rw_filters_from_text(keel_rootwrap_filters_t **out, const char *name, const char *text, size_t len,
                               keel_rootwrap_log_fn log, void *log_data, keel_buf_t *why);

#endif
