/*
 * The messaging module's error codes: names and messages from the one
 * X-macro list in keel/messaging.h, falling back to core's list.
 */
#include "messaging_int.h"

const char *keel_messaging_strerror(int err)
{
    switch (err) {
#define KEEL_MESSAGING_STRERROR_(name, value, msg)                                                                                 \
    case KEEL_MESSAGING_##name:                                                                                                    \
        return msg;
        KEEL_MESSAGING_ERRNO_MAP(KEEL_MESSAGING_STRERROR_)
#undef KEEL_MESSAGING_STRERROR_
    default:
        return keel_strerror(err);
    }
}

const char *keel_messaging_err_name(int err)
{
    switch (err) {
#define KEEL_MESSAGING_ERR_NAME_(name, value, msg)                                                                                 \
    case KEEL_MESSAGING_##name:                                                                                                    \
        return #name;
        KEEL_MESSAGING_ERRNO_MAP(KEEL_MESSAGING_ERR_NAME_)
#undef KEEL_MESSAGING_ERR_NAME_
    default:
        return keel_err_name(err);
    }
}
