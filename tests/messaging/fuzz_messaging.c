/*
 * Fuzz target for the messaging module's parsers (STYLE.md rule 14): the
 * first byte picks one, the rest is its input.
 *
 *   'u'  a transport URL: keel_messaging_url_parse(), then format() and the
 *        broker defaults of every host; a parsed URL must have a non-empty
 *        lower-case transport, and its str() must parse again.
 *   'b'  a message body: deserialize (2.0 envelope or bare), unpack the
 *        context and ids, and pack + serialize again.
 *   'f'  a reply's failure: deserialize, format, serialize again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keel/messaging.h"
#include "messaging_int.h"

static void fuzz_url(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return;
    memcpy(text, data, size);
    text[size] = '\0';
    keel_messaging_url_t *url = NULL;
    if (keel_messaging_url_parse(text, &url, NULL) == 0) {
        KEEL_ASSERT(url->transport[0] != '\0');
        for (const char *p = url->transport; *p; p++)
            KEEL_ASSERT(!(*p >= 'A' && *p <= 'Z'));
        keel_buf_t b;
        keel_buf_init(&b);
        if (keel_messaging_url_format(url, false, &b) == 0) {
            keel_messaging_url_t *again = NULL;
            /* str(url) is always a URL with a scheme; whether its hosts parse again depends on them. */
            int rc = keel_messaging_url_parse(b.base, &again, NULL);
            KEEL_ASSERT(rc == 0 || rc == KEEL_MESSAGING_EURL);
            if (rc == 0)
                KEEL_ASSERT(strcmp(again->transport, url->transport) == 0);
            keel_messaging_url_free(again);
        }
        keel_buf_free(&b);
        keel_messaging_broker_t broker;
        for (size_t i = 0; i <= url->nhosts; i++)
            (void)keel_messaging_url_broker(url, i, &broker);
        keel_messaging_url_free(url);
    }
    free(text);
}

static void fuzz_body(const uint8_t *data, size_t size)
{
    json_t *inner = NULL;
    if (keel__messaging_deserialize_msg((const char *)data, size, &inner) != 0)
        return;
    keel__messaging_unpacked_t u;
    if (keel__messaging_unpack(inner, &u) != 0)
        return;
    keel__messaging_ids_t ids = {.is_call = u.msg_id != NULL,
                                 .msg_id = u.msg_id ? u.msg_id : "",
                                 .reply_q = u.reply_q ? u.reply_q : "",
                                 .unique_id = u.unique_id};
    json_t *again = NULL;
    if (keel__messaging_pack(u.message, u.ctxt, &ids, &again) == 0) {
        keel_buf_t b;
        keel_buf_init(&b);
        int rc = keel__messaging_serialize_msg(again, 2, &b);
        KEEL_ASSERT(rc == 0 || rc == KEEL_ENOMEM || rc == KEEL_EINVAL);
        keel_buf_free(&b);
        json_decref(again);
    }
    keel__messaging_unpacked_clear(&u);
}

static void fuzz_failure(const uint8_t *data, size_t size)
{
    static const char *const allowed[] = {"nova.exception", NULL};
    keel_messaging_error_t *e = NULL;
    if (keel_messaging_error_deserialize((const char *)data, size, allowed, &e) != 0)
        return;
    KEEL_ASSERT(e->exc_class && e->exc_module && e->message && e->traceback && e->args && e->kwargs);
    keel_buf_t b;
    keel_buf_init(&b);
    (void)keel_messaging_error_format(e, &b);
    keel_buf_reset(&b);
    (void)keel_messaging_error_serialize(e, &b);
    keel_buf_free(&b);
    keel_messaging_error_free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    switch (data[0]) {
    case 'u':
        fuzz_url(data + 1, size - 1);
        break;
    case 'b':
        fuzz_body(data + 1, size - 1);
        break;
    case 'f':
        fuzz_failure(data + 1, size - 1);
        break;
    default:
        break;
    }
    return 0;
}
