/*
 * keel/amqp.h — the AMQP 0-9-1 codec as RabbitMQ speaks it: protocol
 * header, frames, every method of every class (with RabbitMQ's
 * extensions), content headers with the 14 basic properties, and field
 * tables and arrays with every RabbitMQ field type. Pure functions: no I/O,
 * no global state, no allocation except where a keel_buf_t is handed in.
 *
 * Design: decoding is zero-copy. A decoded frame, method or header holds
 * views — (pointer, length) pairs — into the bytes it was decoded from, so
 * those bytes must stay unchanged for as long as the decoded values are
 * used. A field table is validated once when its method or header is
 * decoded and then kept as its raw wire bytes (keel_amqp_table_t), read with
 * an iterator or by key; nothing is built in memory. Encoding writes into a
 * keel_buf_t (which grows, so a reused per-connection buffer stops
 * allocating) or into a caller's byte area (which never allocates). The
 * method structs, the tagged union keel_amqp_method_t, the properties
 * struct and the reply codes come from src/amqp/spec.json through
 * scripts/gen_amqp.py into keel/amqp_spec.h, included below.
 *
 * Errors. Functions return 0 or a negative KEEL_E* code:
 *   KEEL_EAGAIN  (keel_amqp_frame_parse, keel_amqp_protocol_parse only)
 *                more bytes are needed; *used says how many in total.
 *   KEEL_EPROTO  the peer sent something this codec rejects. If the caller
 *                passed a keel_amqp_error_t, it says which AMQP reply code
 *                to close the connection with (all are hard errors):
 *     501 FRAME_ERROR      bad frame-end octet; payload over frame_max;
 *                          unknown frame type; heartbeat with a payload;
 *                          method payload under 4 or header under 14
 *                          octets; method fields or properties truncated,
 *                          followed by stray octets, or with a malformed
 *                          field table (unknown field type, lengths that
 *                          overrun, nesting deeper than KEEL_AMQP_MAX_DEPTH);
 *                          a shortstr field of a method without content
 *                          that is not UTF-8; a property flag for a property
 *                          class 60 does not have. (RabbitMQ's "cannot
 *                          decode" and frame_error cases.)
 *     505 UNEXPECTED_FRAME heartbeat on a channel other than 0; content
 *                          header or body frame on channel 0; content
 *                          header for a class other than basic, or with a
 *                          non-zero weight (where RabbitMQ says the same).
 *     540 NOT_IMPLEMENTED  unknown class or method id. (RabbitMQ drops the
 *                          connection without a close; 540 is the spec's
 *                          nearest code and what keel replies.)
 *                The codec never raises 502, 503, 504 or 506: those depend
 *                on connection and channel state, which the broker keeps
 *                (for 503, keel_amqp_method_info() says which peer may
 *                receive each method).
 *   KEEL_EINVAL  the caller asked to encode something the wire cannot
 *                carry: an unknown method id, a shortstr over 255 octets,
 *                a longstr or table over 4 GiB, a table key over 255.
 *   KEEL_ERANGE  a caller-provided byte area is too small; *len says how
 *                many octets are needed.
 *   KEEL_ENOMEM  a keel_buf_t could not grow; the buffer is unchanged.
 *
 * Thread safety: every function is reentrant; decoded values may be read
 * from any thread while their bytes are unchanged.
 */
#ifndef KEEL_AMQP_H
#define KEEL_AMQP_H

#include "keel/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Views. None of them owns its bytes and none is NUL-terminated.
 */

/** A shortstr, longstr or byte array ('x'): any octets, len of them. */
typedef struct keel_amqp_str_s {
    const char *base;
    size_t len;
} keel_amqp_str_t;

/**
 * A field table: its entries as on the wire, without the 4-octet length in
 * front. Only the decoders and the builder make these; the iterator and the
 * lookups rely on the bytes having been validated.
 */
typedef struct keel_amqp_table_s {
    const uint8_t *base;
    size_t len;
} keel_amqp_table_t;

/** A field array: its values as on the wire, without the length. */
typedef struct keel_amqp_array_s {
    const uint8_t *base;
    size_t len;
} keel_amqp_array_t;

/** A view of a string literal: KEEL_AMQP_STR("amq.direct"). */
#define KEEL_AMQP_STR(lit) ((keel_amqp_str_t){(lit), sizeof(lit) - 1})

/** A view of a NUL-terminated string (NULL gives the empty view). */
keel_amqp_str_t keel_amqp_str(const char *s);

/** Returns whether a view holds exactly the NUL-terminated string s. */
bool keel_amqp_str_eq(keel_amqp_str_t a, const char *s);

/** Why a decode failed; text is static and reads like RabbitMQ's. */
typedef struct keel_amqp_error_s {
    uint16_t code;      /* AMQP reply code to close the connection with */
    uint16_t class_id;  /* the method being decoded, when known, else 0 */
    uint16_t method_id; /* (connection.close's class-id and method-id) */
    const char *text;
} keel_amqp_error_t;

/*
 * Method and field metadata, filled in by the generated tables.
 */

/** The spec's base domain types of method fields and properties. */
typedef enum {
    KEEL_AMQP_TYPE_OCTET = 1,
    KEEL_AMQP_TYPE_SHORT,
    KEEL_AMQP_TYPE_LONG,
    KEEL_AMQP_TYPE_LONGLONG,
    KEEL_AMQP_TYPE_BIT,
    KEEL_AMQP_TYPE_SHORTSTR,
    KEEL_AMQP_TYPE_LONGSTR,
    KEEL_AMQP_TYPE_TIMESTAMP,
    KEEL_AMQP_TYPE_TABLE,
} keel_amqp_type_t;

/**
 * One field of a method struct or of keel_amqp_properties_t. The C member
 * at offset has the type the domain maps to: uint8_t, uint16_t, uint32_t,
 * uint64_t (longlong, timestamp), bool, keel_amqp_str_t, keel_amqp_table_t.
 */
typedef struct keel_amqp_field_info_s {
    const char *name; /* spec name, "routing-key" */
    uint8_t type;     /* keel_amqp_type_t */
    bool reserved;    /* a reserved field (ticket, out-of-band, ...) */
    uint16_t offset;  /* offsetof in the method's struct */
    uint16_t flag;    /* properties only: its KEEL_AMQP_PROP_* bit */
} keel_amqp_field_info_t;

/* keel_amqp_method_info_t.flags */
enum {
    KEEL_AMQP_METHOD_SYNC = 1u << 0,       /* the sender waits for a reply */
    KEEL_AMQP_METHOD_CONTENT = 1u << 1,    /* a content header and body follow */
    KEEL_AMQP_METHOD_TO_SERVER = 1u << 2,  /* a server may receive it */
    KEEL_AMQP_METHOD_TO_CLIENT = 1u << 3,  /* a client may receive it */
    KEEL_AMQP_METHOD_RABBITMQ = 1u << 4,   /* a RabbitMQ extension */
    KEEL_AMQP_METHOD_DEPRECATED = 1u << 5, /* obsolete but still answered */
};

/** What the spec says about one method. */
typedef struct keel_amqp_method_info_s {
    uint32_t id;      /* class_id << 16 | method_id */
    const char *name; /* "basic.publish" */
    const char *doc;  /* one line */
    uint8_t flags;    /* KEEL_AMQP_METHOD_* */
    uint8_t nfields;
    uint8_t nreplies; /* 0 unless SYNC */
    const keel_amqp_field_info_t *fields;
    uint32_t replies[2]; /* the methods that answer it */
} keel_amqp_method_info_t;

/*
 * Field values of tables and arrays. The type is the wire octet, so the
 * iterator hands back exactly what the peer sent and the builder writes
 * exactly what it is given.
 */
typedef enum {
    KEEL_AMQP_FIELD_BOOL = 't',      /* b: 0 or 1 octet */
    KEEL_AMQP_FIELD_I8 = 'b',        /* i8 */
    KEEL_AMQP_FIELD_U8 = 'B',        /* u8 */
    KEEL_AMQP_FIELD_I16 = 's',       /* i16 — RabbitMQ's meaning, not a short string */
    KEEL_AMQP_FIELD_U16 = 'u',       /* u16 */
    KEEL_AMQP_FIELD_I32 = 'I',       /* i32 */
    KEEL_AMQP_FIELD_U32 = 'i',       /* u32 */
    KEEL_AMQP_FIELD_I64 = 'l',       /* i64 */
    KEEL_AMQP_FIELD_I64_L = 'L',     /* i64; RabbitMQ reads 'L' as signed too */
    KEEL_AMQP_FIELD_FLOAT = 'f',     /* f */
    KEEL_AMQP_FIELD_DOUBLE = 'd',    /* d */
    KEEL_AMQP_FIELD_DECIMAL = 'D',   /* decimal: value / 10^scale */
    KEEL_AMQP_FIELD_LONGSTR = 'S',   /* str */
    KEEL_AMQP_FIELD_BYTES = 'x',     /* str */
    KEEL_AMQP_FIELD_TIMESTAMP = 'T', /* timestamp: seconds since the epoch */
    KEEL_AMQP_FIELD_TABLE = 'F',     /* table */
    KEEL_AMQP_FIELD_ARRAY = 'A',     /* array */
    KEEL_AMQP_FIELD_VOID = 'V',      /* nothing */
} keel_amqp_field_type_t;

typedef struct keel_amqp_value_s {
    uint8_t type; /* keel_amqp_field_type_t */
    union {
        bool b;
        int8_t i8;
        uint8_t u8;
        int16_t i16;
        uint16_t u16;
        int32_t i32;
        uint32_t u32;
        int64_t i64;
        float f;
        double d;
        struct {
            uint8_t scale;
            int32_t value; /* pika and py-amqp read it signed, RabbitMQ unsigned: same bits */
        } decimal;
        uint64_t timestamp;
        keel_amqp_str_t str;
        keel_amqp_table_t table;
        keel_amqp_array_t array;
    };
} keel_amqp_value_t;

/** Tables and arrays nest at most this deep, the outermost table being 1. */
#define KEEL_AMQP_MAX_DEPTH 32

#include "keel/amqp_spec.h"

/*
 * Protocol header: the 8 octets a client sends first.
 */

#define KEEL_AMQP_PROTOCOL_HEADER "AMQP\x00\x00\x09\x01"
#define KEEL_AMQP_PROTOCOL_HEADER_SIZE 8

typedef enum {
    KEEL_AMQP_PROTO_0_9_1 = 0, /* AMQP 0 0 9 1 */
    KEEL_AMQP_PROTO_0_9,       /* AMQP 1 1 0 9: RabbitMQ serves it as 0-9-1 */
    KEEL_AMQP_PROTO_0_8,       /* AMQP 1 1 8 0 */
    KEEL_AMQP_PROTO_1_0,       /* AMQP x 1 0 0 (x = 0 plain, 2 TLS, 3 SASL) */
    KEEL_AMQP_PROTO_OTHER,     /* "AMQP" and four other octets */
    KEEL_AMQP_PROTO_NOT_AMQP,  /* not "AMQP" at all (HTTP, TLS, noise) */
} keel_amqp_proto_kind_t;

typedef struct keel_amqp_protocol_s {
    uint8_t kind; /* keel_amqp_proto_kind_t */
    uint8_t id;   /* the four octets after "AMQP", when there are */
    uint8_t major;
    uint8_t minor;
    uint8_t revision;
} keel_amqp_protocol_t;

/**
 * Reads a protocol header from the start of buf. Returns 0 with *out set
 * and *used = 8 (NOT_AMQP may be decided from fewer octets: *used is then
 * how many were looked at), or KEEL_EAGAIN with *used = 8. A server answers
 * anything but 0_9_1 (and, as RabbitMQ does, 0_9) by writing
 * KEEL_AMQP_PROTOCOL_HEADER and closing.
 */
int keel_amqp_protocol_parse(const uint8_t *buf, size_t len, keel_amqp_protocol_t *out, size_t *used);

/*
 * Frames: type, channel, payload size, payload, frame-end octet.
 */

#define KEEL_AMQP_FRAME_HEAD_SIZE 7 /* type, channel, size */
#define KEEL_AMQP_FRAME_OVERHEAD 8  /* head and frame-end */

typedef struct keel_amqp_frame_s {
    uint8_t type; /* KEEL_AMQP_FRAME_METHOD, _HEADER, _BODY, _HEARTBEAT */
    uint16_t channel;
    uint32_t size;          /* payload octets */
    const uint8_t *payload; /* view into the parsed bytes */
} keel_amqp_frame_t;

/**
 * Parses one frame from the start of a byte stream. frame_max is the
 * negotiated frame-max (0: no limit); as RabbitMQ does, a payload of up to
 * frame_max octets is accepted, tolerating clients that forget the 8
 * octets of overhead, and a larger one is refused as soon as the 7-octet
 * head has arrived, before its payload is buffered.
 *
 * Returns 0 with *out (payload borrowed from buf) and *used = the frame's
 * octets to drop; KEEL_EAGAIN with *used = the total octets this frame
 * needs (at least len + 1), *out untouched; or KEEL_EPROTO with *err (may
 * be NULL) saying why — the stream is then unusable.
 */
int keel_amqp_frame_parse(const uint8_t *buf, size_t len, uint32_t frame_max, keel_amqp_frame_t *out, size_t *used,
                          keel_amqp_error_t *err);

/** Writes a frame head (type, channel, size) into dst[0..6]. */
void keel_amqp_frame_head(uint8_t *dst, uint8_t type, uint16_t channel, uint32_t size);

/**
 * Appends a whole frame with the given payload (body, heartbeat, or a
 * payload encoded elsewhere). Returns 0, KEEL_EINVAL (len over 4 GiB) or
 * KEEL_ENOMEM; out is unchanged on error.
 */
int keel_amqp_frame_encode(keel_buf_t *out, uint8_t type, uint16_t channel, const void *payload, size_t len);

/*
 * Methods.
 */

/**
 * Decodes a method frame's payload into *out: out->id and the union member
 * it names. Strings and tables are views into payload. Returns 0 or
 * KEEL_EPROTO (501 malformed, 540 unknown id; err->class_id/method_id say
 * which method when the payload had them).
 */
int keel_amqp_method_decode(const uint8_t *payload, size_t len, keel_amqp_method_t *out, keel_amqp_error_t *err);

/**
 * Appends a whole method frame for m on channel. Returns 0, KEEL_EINVAL
 * (unknown id, oversized string) or KEEL_ENOMEM; out is unchanged on error.
 * Grows out at most once; nothing else is allocated.
 */
int keel_amqp_method_encode(keel_buf_t *out, uint16_t channel, const keel_amqp_method_t *m);

/**
 * Writes a whole method frame into dst[0..cap). Returns 0 with *len = the
 * frame's octets, KEEL_ERANGE with *len = the octets needed (so cap 0
 * measures), or KEEL_EINVAL.
 */
int keel_amqp_method_write(uint8_t *dst, size_t cap, uint16_t channel, const keel_amqp_method_t *m, size_t *len);

/** Returns what the spec says about a method, or NULL for an unknown id. */
const keel_amqp_method_info_t *keel_amqp_method_info(uint32_t id);

/** Returns "basic.publish" for KEEL_AMQP_BASIC_PUBLISH, or NULL. */
const char *keel_amqp_method_name(uint32_t id);

/** Builds a method id from class and method numbers. */
static inline uint32_t keel_amqp_method_id(uint16_t class_id, uint16_t method_id)
{
    return (uint32_t)class_id << 16 | method_id;
}

/*
 * Content: a content header frame (class, body size, properties), then
 * body frames carrying body-size octets in all.
 */

typedef struct keel_amqp_header_s {
    uint16_t class_id; /* always KEEL_AMQP_CLASS_BASIC once decoded */
    uint64_t body_size;
    keel_amqp_properties_t props; /* views into the payload */
    const uint8_t *props_raw;     /* property flags and list as received, */
    size_t props_raw_len;         /* for forwarding them unchanged */
} keel_amqp_header_t;

/**
 * Decodes a content header frame's payload. Returns 0 or KEEL_EPROTO
 * (501 malformed, 505 wrong class or weight).
 */
int keel_amqp_header_decode(const uint8_t *payload, size_t len, keel_amqp_header_t *out, keel_amqp_error_t *err);

/**
 * Appends a content header frame for class basic with the properties whose
 * flags are set in props->flags. Returns 0, KEEL_EINVAL or KEEL_ENOMEM.
 */
int keel_amqp_header_encode(keel_buf_t *out, uint16_t channel, uint64_t body_size, const keel_amqp_properties_t *props);

/** As keel_amqp_header_encode into dst[0..cap); KEEL_ERANGE as keel_amqp_method_write. */
int keel_amqp_header_write(uint8_t *dst, size_t cap, uint16_t channel, uint64_t body_size, const keel_amqp_properties_t *props,
                           size_t *len);

/**
 * Appends a content header frame and the body frames for body[0..len),
 * each payload at most frame_max - 8 octets (frame_max 0: one body frame).
 * An empty body has no body frame, as RabbitMQ sends it. Returns 0,
 * KEEL_EINVAL (frame_max under 9 but not 0) or KEEL_ENOMEM (out unchanged).
 */
int keel_amqp_content_encode(keel_buf_t *out, uint16_t channel, uint32_t frame_max, const keel_amqp_properties_t *props,
                             const void *body, size_t len);

/*
 * Field tables and arrays.
 */

/**
 * Reads a length-prefixed field table (as in a method field) from
 * buf[0..len) and validates it. Returns 0 with *out (a view into buf) and
 * *used, or KEEL_EPROTO (501) with *err.
 */
int keel_amqp_table_parse(const uint8_t *buf, size_t len, keel_amqp_table_t *out, size_t *used, keel_amqp_error_t *err);

/** Walks a table's or an array's entries in wire order. */
typedef struct keel_amqp_iter_s {
    const uint8_t *_p;
    const uint8_t *_end;
    bool _array;
} keel_amqp_iter_t;

void keel_amqp_table_iter(keel_amqp_iter_t *it, keel_amqp_table_t t);
void keel_amqp_array_iter(keel_amqp_iter_t *it, keel_amqp_array_t a);

/**
 * Steps to the next entry: its key (empty for arrays; key may be NULL) and
 * value, both views into the table's bytes. Returns false at the end.
 */
bool keel_amqp_iter_next(keel_amqp_iter_t *it, keel_amqp_str_t *key, keel_amqp_value_t *v);

/** Returns the number of entries of a table or values of an array. */
size_t keel_amqp_table_count(keel_amqp_table_t t);
size_t keel_amqp_array_count(keel_amqp_array_t a);

/**
 * Finds the first entry named key, as RabbitMQ's table_lookup does.
 * Returns 0 with *v, or KEEL_ENOENT.
 */
int keel_amqp_table_get(keel_amqp_table_t t, const char *key, keel_amqp_value_t *v);

/**
 * Typed lookups, for arguments such as x-message-ttl or x-max-priority.
 * _get_int accepts any integer field type (b B s u I i l L), as RabbitMQ
 * does for integer arguments; _get_str a longstr ('S'); _get_bool a 't';
 * _get_table an 'F'; _get_array an 'A'. Return 0, KEEL_ENOENT, or
 * KEEL_EVALUE when the entry has another type (RabbitMQ's
 * PRECONDITION_FAILED "invalid arg").
 */
int keel_amqp_table_get_int(keel_amqp_table_t t, const char *key, int64_t *out);
int keel_amqp_table_get_str(keel_amqp_table_t t, const char *key, keel_amqp_str_t *out);
int keel_amqp_table_get_bool(keel_amqp_table_t t, const char *key, bool *out);
int keel_amqp_table_get_table(keel_amqp_table_t t, const char *key, keel_amqp_table_t *out);
int keel_amqp_table_get_array(keel_amqp_table_t t, const char *key, keel_amqp_array_t *out);

/** Returns whether v holds an integer field type, and its value in *out. */
bool keel_amqp_value_int(const keel_amqp_value_t *v, int64_t *out);

/**
 * Builds a field table into a keel_buf_t: put entries, open nested tables
 * and arrays with _begin and close them with _end, then _finish. Inside an
 * array, keys are ignored (pass an empty view or NULL). The first error
 * sticks: later calls return it and _finish reports it and drops what was
 * written. The buffer may be reused for the next table after _finish.
 */
typedef struct keel_amqp_builder_s {
    keel_buf_t *_out;
    size_t _start;
    int _err;
    uint8_t _depth;
    uint8_t _kind[KEEL_AMQP_MAX_DEPTH];
    size_t _lenpos[KEEL_AMQP_MAX_DEPTH];
} keel_amqp_builder_t;

/** Starts a table at the end of out; out must outlive the builder. */
void keel_amqp_builder_init(keel_amqp_builder_t *b, keel_buf_t *out);

/**
 * Adds one entry. v->type picks the wire type; an 'F' or 'A' value copies
 * v->table / v->array as they are. Returns 0, KEEL_EINVAL (unknown type,
 * key over 255 octets, missing key in a table, value over 4 GiB) or
 * KEEL_ENOMEM.
 */
int keel_amqp_build_put(keel_amqp_builder_t *b, keel_amqp_str_t key, const keel_amqp_value_t *v);

/** Opens a nested table ('F') or array ('A'); KEEL_EINVAL past KEEL_AMQP_MAX_DEPTH. */
int keel_amqp_build_begin(keel_amqp_builder_t *b, keel_amqp_str_t key, uint8_t type);

/** Closes the innermost _begin; KEEL_EINVAL if none is open. */
int keel_amqp_build_end(keel_amqp_builder_t *b);

/** Conveniences with NUL-terminated keys (NULL in arrays): 'S', 't', and
 * 'I' or, when the value does not fit 32 bits, 'l' (as pika and py-amqp). */
int keel_amqp_build_str(keel_amqp_builder_t *b, const char *key, const char *value);
int keel_amqp_build_bool(keel_amqp_builder_t *b, const char *key, bool value);
int keel_amqp_build_int(keel_amqp_builder_t *b, const char *key, int64_t value);

/**
 * Ends the table. Returns 0 with *out viewing the table's bytes inside the
 * buffer (valid until the buffer changes), or the first error (KEEL_EINVAL
 * also when a _begin is still open), with the buffer back as it was.
 */
int keel_amqp_builder_finish(keel_amqp_builder_t *b, keel_amqp_table_t *out);

/*
 * Reply codes (KEEL_AMQP_REPLY_MAP in keel/amqp_spec.h).
 */

/** Returns "NOT_FOUND" for 404 — the prefix RabbitMQ puts in reply-text — or NULL. */
const char *keel_amqp_reply_name(uint16_t code);

/** Returns whether a code is a connection (hard) error rather than a channel one. */
bool keel_amqp_reply_is_hard(uint16_t code);

#ifdef __cplusplus
}
#endif
#endif /* KEEL_AMQP_H */
