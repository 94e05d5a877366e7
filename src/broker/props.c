/*
 * props.c — reading and rewriting a message's properties. A message keeps
 * its property bytes exactly as the publisher sent them, so the common
 * path (route, queue, deliver) never decodes them beyond what publish
 * needed; these helpers are for the rarer paths that must look inside or
 * change them: headers-exchange routing, dead-lettering (x-death) and
 * direct reply-to (reply_to).
 */
#include <string.h>

#include "broker_int.h"
#include "props.h"

int keel__msg_props(const keel__msg_t *m, keel_buf_t *scratch, keel_amqp_properties_t *out)
{
    /* keel_amqp_header_decode reads a whole header payload: give it one */
    keel_buf_reset(scratch);
    uint8_t prefix[12] = {0, KEEL_AMQP_CLASS_BASIC, 0, 0};
    for (int i = 0; i < 8; i++)
        prefix[4 + i] = (uint8_t)(m->body_size >> (56 - 8 * i));
    int rc = keel_buf_append(scratch, prefix, sizeof(prefix));
    if (rc == 0)
        rc = keel_buf_append(scratch, m->props, m->props_len);
    if (rc != 0)
        return rc;
    keel_amqp_header_t h;
    rc = keel_amqp_header_decode((const uint8_t *)scratch->base, scratch->len, &h, NULL);
    if (rc != 0)
        return rc;
    *out = h.props;
    return 0;
}

keel__msg_t *keel__msg_rewrite(const keel__msg_t *m, const char *exchange, size_t exchange_len, const char *rkey, size_t rkey_len,
                               const keel_amqp_properties_t *props)
{
    keel_buf_t frame;
    keel_buf_init(&frame);
    keel__msg_t *out = NULL;
    if (keel_amqp_header_encode(&frame, 1, m->body_size, props) == 0 && frame.len >= 20) {
        /* frame head (7), class, weight, body size (12), properties, end (1) */
        out = keel__msg_new(exchange, exchange_len, rkey, rkey_len, (const uint8_t *)frame.base + 19, frame.len - 20, m->body_size);
        if (out != NULL) {
            memcpy(out->body, m->body, m->body_size);
            out->body_filled = m->body_size;
            keel__msg_set_props_cache(out, props);
        }
    }
    keel_buf_free(&frame);
    return out;
}

/* RabbitMQ reads expiration as a non-negative integer of milliseconds. */
static bool parse_expiration(keel_amqp_str_t s, int64_t *out)
{
    if (s.len == 0 || s.len > 18)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.base[i] < '0' || s.base[i] > '9')
            return false;
        v = v * 10 + (s.base[i] - '0');
    }
    *out = v;
    return true;
}

int keel__msg_set_props_cache(keel__msg_t *m, const keel_amqp_properties_t *p)
{
    m->priority = (p->flags & KEEL_AMQP_PROP_PRIORITY) ? p->priority : 0;
    m->persistent = (p->flags & KEEL_AMQP_PROP_DELIVERY_MODE) && p->delivery_mode == 2;
    m->has_expiration = false;
    if (p->flags & KEEL_AMQP_PROP_EXPIRATION) {
        if (!parse_expiration(p->expiration, &m->expiration_ms))
            return KEEL_EVALUE;
        m->has_expiration = true;
    }
    return 0;
}
