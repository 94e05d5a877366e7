/*
 * ini.h — internal to the rootwrap module (never installed). The INI
 * dialect of Python's configparser.RawConfigParser with its default
 * settings, which is what oslo.rootwrap reads rootwrap.conf (strict) and
 * the *.filters files (strict=False) with. It is not oslo.config's dialect:
 * no inline comments, ':' is a delimiter, option names are lowered, values
 * continue on deeper-indented lines and keep blank lines, a [DEFAULT]
 * section feeds every other section, no interpolation.
 *
 * The parser keeps what configparser keeps (section and option order as a
 * Python dict would) and reports the first failure configparser would
 * raise, with the line it came from.
 */
#ifndef KEEL_ROOTWRAP_INI_H
#define KEEL_ROOTWRAP_INI_H

#include "keel/core.h"

/* Why a file was rejected, by the configparser exception it would raise. */
typedef enum {
    KEEL__RW_INI_OK = 0,
    KEEL__RW_INI_DECODE,            /* UnicodeDecodeError: not UTF-8 */
    KEEL__RW_INI_MISSING_SECTION,   /* MissingSectionHeaderError */
    KEEL__RW_INI_DUPLICATE_SECTION, /* DuplicateSectionError (strict) */
    KEEL__RW_INI_DUPLICATE_OPTION,  /* DuplicateOptionError (strict) */
    KEEL__RW_INI_PARSING,           /* ParsingError: lines that are neither */
} keel__rw_ini_error_t;

typedef struct {
    char *name; /* lowered, NUL-terminated */
    size_t name_len;
    keel_buf_t value; /* the joined, right-stripped value */
    unsigned lineno;  /* line of the last assignment */
} keel__rw_ini_opt_t;

typedef struct {
    char *name; /* as written between the brackets */
    size_t name_len;
    keel_vec_t opts; /* keel__rw_ini_opt_t *, in first-assignment order */
} keel__rw_ini_section_t;

typedef struct {
    keel__rw_ini_section_t defaults; /* [DEFAULT] */
    keel_vec_t sections;             /* keel__rw_ini_section_t *, in order */
    keel__rw_ini_error_t error;      /* set when parse returned KEEL_EPARSE */
    unsigned error_line;             /* first line at fault (1-based), 0 for DECODE */
} keel__rw_ini_t;

void keel__rw_ini_init(keel__rw_ini_t *ini);
void keel__rw_ini_free(keel__rw_ini_t *ini);

/**
 * Parses len bytes (a whole file) into ini, which must be freshly
 * initialised. strict is configparser's strict flag. Returns 0, KEEL_ENOMEM,
 * or KEEL_EPARSE with ini->error set and, if why is not NULL, a message
 * "NAME:LINE: reason" appended to why (name is the file name to print).
 * On KEEL_EPARSE the sections read so far stay in ini.
 */
int keel__rw_ini_parse(keel__rw_ini_t *ini, const char *name, const char *text, size_t len, bool strict, keel_buf_t *why);

/** Finds a section by exact name; "DEFAULT" gives the defaults. NULL if absent. */
keel__rw_ini_section_t *keel__rw_ini_section(keel__rw_ini_t *ini, const char *name);

/** Finds an option of a section by its lowered name; NULL if absent. */
keel__rw_ini_opt_t *keel__rw_ini_opt(const keel__rw_ini_section_t *s, const char *name);

#endif
