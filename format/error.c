/* error.c: formatting of mf_error messages and the class tables. */
#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void vset(struct mf_error *e, const char *fmt, va_list ap)
{
    int n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    if (n < 0)
        snprintf(e->msg, sizeof e->msg, "(unprintable error)");
}

int mf_err(struct mf_error *e, enum mf_class cls, const char *fmt, ...)
{
    va_list ap;
    if (e == NULL)
        return -1;
    e->cls = cls;
    e->sys = 0;
    va_start(ap, fmt);
    vset(e, fmt, ap);
    va_end(ap);
    return -1;
}

int mf_err_sys(struct mf_error *e, enum mf_class cls, int errnum, const char *fmt, ...)
{
    va_list ap;
    size_t len;
    if (e == NULL)
        return -1;
    e->cls = cls;
    e->sys = errnum;
    va_start(ap, fmt);
    vset(e, fmt, ap);
    va_end(ap);
    len = strlen(e->msg);
    if (len < sizeof e->msg)
        snprintf(e->msg + len, sizeof e->msg - len, ": %s", strerror(errnum));
    return -1;
}

int mf_err_ctx(struct mf_error *e, const char *fmt, ...)
{
    char ctx[512];
    char old[MF_ERROR_MSG_MAX];
    va_list ap;
    int n;
    if (e == NULL)
        return -1;
    va_start(ap, fmt);
    n = vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    memcpy(old, e->msg, sizeof old);
    old[sizeof old - 1] = '\0';
    {
        /* "ctx: old", truncated to the message buffer */
        size_t cl = strlen(ctx), ol = strlen(old), cap = sizeof e->msg - 1, pos = 0;
        if (cl > cap)
            cl = cap;
        memcpy(e->msg, ctx, cl);
        pos = cl;
        if (pos + 2 <= cap) {
            memcpy(e->msg + pos, ": ", 2);
            pos += 2;
        }
        if (ol > cap - pos)
            ol = cap - pos;
        memcpy(e->msg + pos, old, ol);
        e->msg[pos + ol] = '\0';
    }
    return -1;
}

int mf_err_nomem(struct mf_error *e)
{
    return mf_err(e, MF_ENOMEM, "out of memory");
}

void mf_err_clear(struct mf_error *e)
{
    if (e != NULL) {
        e->cls = MF_OK;
        e->sys = 0;
        e->msg[0] = '\0';
    }
}

const char *mf_class_name(enum mf_class cls)
{
    switch (cls) {
    case MF_OK: return "ok";
    case MF_EUSAGE: return "usage";
    case MF_EIO: return "io";
    case MF_ECORRUPT: return "corrupt";
    case MF_ESIG: return "signature";
    case MF_ECHAIN: return "chain";
    case MF_ETARGET: return "target";
    case MF_ENOMEM: return "memory";
    case MF_EPARTIAL: return "partial";
    case MF_EINTERNAL: return "internal";
    }
    return "internal";
}

int mf_class_exit(enum mf_class cls)
{
    switch (cls) {
    case MF_OK: return 0;
    case MF_EPARTIAL: return 1;
    case MF_EUSAGE: return 2;
    case MF_EIO: return 3;
    case MF_ENOMEM: return 3;
    case MF_ECORRUPT: return 4;
    case MF_ESIG: return 5;
    case MF_ECHAIN: return 6;
    case MF_ETARGET: return 7;
    case MF_EINTERNAL: return 70;
    }
    return 70;
}
