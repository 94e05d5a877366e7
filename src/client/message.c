/*
 * message.c — keeping a message beyond its callback: one allocation holds
 * the struct and every byte its views point to, so one free releases it.
 */
#include <string.h>

#include "client_int.h"

/* Copies a view's bytes to *at and points the view there. */
static void move_str(keel_amqp_str_t *s, uint8_t **at)
{
    if (s->len > 0)
        memcpy(*at, s->base, s->len);
    s->base = (const char *)*at;
    *at += s->len;
}

int keel_client_message_copy(const keel_client_message_t *m, keel_client_message_t **out)
{
    if (m == NULL || out == NULL)
        return KEEL_EINVAL;
    const keel_amqp_field_info_t *info = keel_amqp_properties_info();
    size_t need = sizeof(*m) + m->consumer_tag.len + m->exchange.len + m->routing_key.len + m->reply_text.len + m->body_len;
    for (int i = 0; i < KEEL_AMQP_PROP_COUNT; i++) {
        const char *field = (const char *)&m->props + info[i].offset;
        if (info[i].type == KEEL_AMQP_TYPE_SHORTSTR || info[i].type == KEEL_AMQP_TYPE_LONGSTR)
            need += ((const keel_amqp_str_t *)field)->len;
        else if (info[i].type == KEEL_AMQP_TYPE_TABLE)
            need += ((const keel_amqp_table_t *)field)->len;
    }
    keel_client_message_t *c = keel__malloc(need);
    if (c == NULL)
        return KEEL_ENOMEM;
    *c = *m;
    c->consumer = NULL;
    uint8_t *at = (uint8_t *)(c + 1);
    move_str(&c->consumer_tag, &at);
    move_str(&c->exchange, &at);
    move_str(&c->routing_key, &at);
    move_str(&c->reply_text, &at);
    for (int i = 0; i < KEEL_AMQP_PROP_COUNT; i++) {
        char *field = (char *)&c->props + info[i].offset;
        if (info[i].type == KEEL_AMQP_TYPE_SHORTSTR || info[i].type == KEEL_AMQP_TYPE_LONGSTR) {
            move_str((keel_amqp_str_t *)field, &at);
        } else if (info[i].type == KEEL_AMQP_TYPE_TABLE) {
            keel_amqp_table_t *t = (keel_amqp_table_t *)field;
            if (t->len > 0)
                memcpy(at, t->base, t->len);
            t->base = at;
            at += t->len;
        }
    }
    if (m->body_len > 0)
        memcpy(at, m->body, m->body_len);
    c->body = at;
    *out = c;
    return 0;
}

void keel_client_message_free(keel_client_message_t *m)
{
    keel__free(m);
}
