/*
 * error.c — names and messages for keel's error codes, generated from the
 * one list in keel/core.h so the three can never disagree.
 */
#include <string.h>

#include "keel/core.h"

const char *keel_strerror(int err)
{
    switch (err) {
#define XX(name, value, msg)                                                                                                   \
    case KEEL_##name:                                                                                                          \
        return msg;
        KEEL_ERRNO_MAP(XX)
#undef XX
    default:
        break;
    }
    if (err < 0 && err > -4000)
        return strerror(-err);
    return "unknown error";
}

const char *keel_err_name(int err)
{
    switch (err) {
#define XX(name, value, msg)                                                                                                   \
    case KEEL_##name:                                                                                                          \
        return #name;
        KEEL_ERRNO_MAP(XX)
#undef XX
    default:
        return "UNKNOWN";
    }
}
