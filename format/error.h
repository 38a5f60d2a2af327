/* error.h: the error model every room shares. A failing function returns -1
 * and fills a struct mf_error with a class and a message carrying context
 * (file, member, offset). Only the command layer prints errors and maps the
 * class to an exit code (spec/FORMAT.md, "Exit codes"). */
#ifndef MF_ERROR_H
#define MF_ERROR_H

#include <stddef.h>

enum mf_class {
    MF_OK = 0,
    MF_EUSAGE,    /* bad command line, bad option value, API misuse */
    MF_EIO,       /* a file could not be read or written, disk full, permission */
    MF_ECORRUPT,  /* bytes from outside are malformed, truncated or fail a hash */
    MF_ESIG,      /* no signature, bad signature, untrusted key, wrong password */
    MF_ECHAIN,    /* a delta does not apply to this base or target */
    MF_ETARGET,   /* the target refuses the operation (not empty, unsafe path) */
    MF_ENOMEM,    /* out of memory */
    MF_EPARTIAL,  /* finished, but something was skipped or differs */
    MF_EINTERNAL  /* a bug: an invariant did not hold */
};

#define MF_ERROR_MSG_MAX 1024

struct mf_error {
    enum mf_class cls;
    int sys;                  /* the errno behind it (mf_err_sys), else 0 */
    char msg[MF_ERROR_MSG_MAX];
};

#if defined(__GNUC__)
#define MF_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define MF_WUR __attribute__((warn_unused_result))
#else
#define MF_PRINTF(f, a)
#define MF_WUR
#endif

/* Sets class and message; returns -1 so callers can `return mf_err(...)`. */
int mf_err(struct mf_error *e, enum mf_class cls, const char *fmt, ...) MF_PRINTF(3, 4);
/* Same, appending ": strerror(errnum)". */
int mf_err_sys(struct mf_error *e, enum mf_class cls, int errnum, const char *fmt, ...)
    MF_PRINTF(4, 5);
/* Prefixes the existing message with "context: "; returns -1. */
int mf_err_ctx(struct mf_error *e, const char *fmt, ...) MF_PRINTF(2, 3);
/* Out-of-memory shorthand. */
int mf_err_nomem(struct mf_error *e);
void mf_err_clear(struct mf_error *e);

/* Short lowercase name of a class, as printed before the message. */
const char *mf_class_name(enum mf_class cls);
/* Exit code of a class (spec/FORMAT.md). */
int mf_class_exit(enum mf_class cls);

#endif
