/*
 * auth.c — users, password hashes and permissions, as RabbitMQ keeps them:
 * a password is stored as a 4-byte random salt and SHA-256(salt|password)
 * (rabbit_password_hashing_sha256, so definitions can move between keeld
 * and RabbitMQ), and a user's rights in a vhost are three regular
 * expressions (configure, write, read) searched in resource names, with ""
 * meaning "^$".
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pcre2.h>
#include <stdio.h>
#include <string.h>

#include "broker_int.h"

static void hash_password(const uint8_t salt[4], const char *password, size_t len, uint8_t out[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 32;
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, salt, 4);
    EVP_DigestUpdate(ctx, password, len);
    EVP_DigestFinal_ex(ctx, out, &n);
    EVP_MD_CTX_free(ctx);
}

user_t *keel__user_find(keel_broker_t *b, const char *name, size_t len)
{
    return keel_map_get(&b->users, name, len);
}

bool keel__user_check_password(const user_t *u, const char *password, size_t len)
{
    if (!u->has_password)
        return false;
    uint8_t h[32];
    hash_password(u->salt, password, len, h);
    return CRYPTO_memcmp(h, u->hash, 32) == 0;
}

static void perm_free(perm_t *p)
{
    if (p == NULL)
        return;
    pcre2_code_free(p->configure_re);
    pcre2_code_free(p->write_re);
    pcre2_code_free(p->read_re);
    keel__free(p->configure);
    keel__free(p->write);
    keel__free(p->read);
    keel__free(p);
}

void keel__user_free(user_t *u)
{
    /* the perms map owns its vhost-name keys and perm_t values */
    size_t pos = 0;
    const void *key;
    void *v;
    while (keel_map_next(&u->perms, &pos, &key, NULL, &v)) {
        perm_free(v);
        keel__free((void *)key);
    }
    keel_map_free(&u->perms);
    keel__free(u->tags);
    keel__free(u->name);
    keel__free(u);
}

static int set_password(user_t *u, const char *password)
{
    if (password == NULL) {
        u->has_password = false;
        return 0;
    }
    if (keel_random_bytes(u->salt, sizeof(u->salt)) != 0)
        return KEEL_EIO;
    hash_password(u->salt, password, strlen(password), u->hash);
    u->has_password = true;
    return 0;
}

int keel__user_add(keel_broker_t *b, const char *name, const char *password, const char *tags)
{
    if (keel__user_find(b, name, strlen(name)) != NULL)
        return KEEL_EEXIST;
    user_t *u = keel__calloc(1, sizeof(*u));
    if (u == NULL)
        return KEEL_ENOMEM;
    keel_map_init(&u->perms);
    u->name = keel__strdup(name);
    u->tags = keel__strdup(tags ? tags : "");
    int rc = (u->name && u->tags) ? set_password(u, password) : KEEL_ENOMEM;
    if (rc == 0)
        rc = keel_map_put(&b->users, u->name, strlen(u->name), u, NULL);
    if (rc != 0) {
        keel__user_free(u);
        return rc;
    }
    return 0;
}

int keel__user_delete(keel_broker_t *b, const char *name)
{
    user_t *u = keel_map_remove(&b->users, name, strlen(name));
    if (u == NULL)
        return KEEL_ENOENT;
    /* connections keep their user until they close (RabbitMQ closes them;
     * we let them finish) */
    keel_link_t *pos, *tmp;
    keel_list_foreach_safe(pos, tmp, &b->conns)
    {
        conn_t *c = keel_container_of(pos, conn_t, link);
        if (c->user == u)
            keel__conn_error(c, KEEL_AMQP_CONNECTION_FORCED, 0, "user '%s' was deleted", name);
    }
    keel_list_foreach_safe(pos, tmp, &b->conns)
    {
        conn_t *c = keel_container_of(pos, conn_t, link);
        if (c->user == u)
            c->user = NULL;
    }
    keel__user_free(u);
    return 0;
}

int keel__user_set_password(keel_broker_t *b, const char *name, const char *password)
{
    user_t *u = keel__user_find(b, name, strlen(name));
    if (u == NULL)
        return KEEL_ENOENT;
    return set_password(u, password);
}

static void *compile(const char *re, char *why, size_t why_len)
{
    const char *pattern = re[0] ? re : "^$";
    int err;
    PCRE2_SIZE off;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &err, &off, NULL);
    if (code == NULL) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof(msg));
        snprintf(why, why_len, "invalid regular expression '%s' at offset %zu: %s", re, (size_t)off, (const char *)msg);
    }
    return code;
}

int keel__perm_set(keel_broker_t *b, const char *user, const char *vhost, const char *configure, const char *write,
                   const char *read, char *why, size_t why_len)
{
    user_t *u = keel__user_find(b, user, strlen(user));
    if (u == NULL) {
        snprintf(why, why_len, "no such user '%s'", user);
        return KEEL_ENOENT;
    }
    if (keel__vhost_find(b, vhost, strlen(vhost)) == NULL) {
        snprintf(why, why_len, "no such vhost '%s'", vhost);
        return KEEL_ENOENT;
    }
    perm_t *p = keel__calloc(1, sizeof(*p));
    if (p == NULL)
        return KEEL_ENOMEM;
    p->configure = keel__strdup(configure);
    p->write = keel__strdup(write);
    p->read = keel__strdup(read);
    if (!p->configure || !p->write || !p->read) {
        perm_free(p);
        return KEEL_ENOMEM;
    }
    p->configure_re = compile(configure, why, why_len);
    p->write_re = p->configure_re ? compile(write, why, why_len) : NULL;
    p->read_re = p->write_re ? compile(read, why, why_len) : NULL;
    if (p->read_re == NULL) {
        perm_free(p);
        return KEEL_EINVAL;
    }
    perm_t *old = keel_map_get(&u->perms, vhost, strlen(vhost));
    if (old != NULL) {
        const void *key = NULL;
        size_t pos = 0;
        const void *k;
        void *v;
        while (keel_map_next(&u->perms, &pos, &k, NULL, &v))
            if (v == old)
                key = k;
        keel_map_put(&u->perms, key, strlen(vhost), p, NULL);
        perm_free(old);
        return 0;
    }
    char *key = keel__strdup(vhost);
    if (key == NULL || keel_map_put(&u->perms, key, strlen(key), p, NULL) != 0) {
        keel__free(key);
        perm_free(p);
        return KEEL_ENOMEM;
    }
    return 0;
}

int keel__perm_clear(keel_broker_t *b, const char *user, const char *vhost)
{
    user_t *u = keel__user_find(b, user, strlen(user));
    if (u == NULL)
        return KEEL_ENOENT;
    size_t pos = 0;
    const void *k;
    void *v;
    while (keel_map_next(&u->perms, &pos, &k, NULL, &v)) {
        if (strcmp(k, vhost) == 0) {
            keel_map_remove(&u->perms, vhost, strlen(vhost));
            keel__free((void *)k);
            perm_free(v);
            return 0;
        }
    }
    return KEEL_ENOENT;
}

bool keel__perm_vhost_access(const user_t *u, const vhost_t *v)
{
    return u != NULL && keel_map_get(&u->perms, v->name, strlen(v->name)) != NULL;
}

bool keel__perm_check(const user_t *u, const vhost_t *v, perm_kind_t kind, const char *name, size_t len)
{
    if (u == NULL)
        return false;
    perm_t *p = keel_map_get(&u->perms, v->name, strlen(v->name));
    if (p == NULL)
        return false;
    pcre2_code *re = kind == PERM_CONFIGURE ? p->configure_re : kind == PERM_WRITE ? p->write_re : p->read_re;
    /* ".*" is what nearly everyone sets: skip the matcher for it */
    const char *src = kind == PERM_CONFIGURE ? p->configure : kind == PERM_WRITE ? p->write : p->read;
    if (strcmp(src, ".*") == 0)
        return true;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (md == NULL)
        return false;
    int r = pcre2_match(re, (PCRE2_SPTR)name, len, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    return r >= 0;
}
