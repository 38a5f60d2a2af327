/* pop3_uidl.c: expansion of Dovecot-style pop3_uidl_format strings. */
#include "pop3_uidl.h"

#include <stdio.h>
#include <string.h>

int mf_pop3_format_valid(const char *fmt, const char **why)
{
    int vars = 0;
    for (const char *p = fmt; *p != '\0'; p++) {
        if (*p != '%')
            continue;
        p++;
        if (*p == '%')
            continue;
        while (*p >= '0' && *p <= '9')
            p++;
        if (*p == 'X')
            p++;
        if (*p == 'u' || *p == 'v' || *p == 'f' || *p == 'g') {
            vars++;
            continue;
        }
        if (*p == 'm') {
            *why = "%m (header MD5) is not available for Maildir stores";
            return 0;
        }
        *why = "unknown variable (use %u, %v, %f, %g)";
        return 0;
    }
    if (vars == 0) {
        *why = "the format must contain at least one variable";
        return 0;
    }
    return 1;
}

int mf_pop3_uidl(const char *fmt, uint32_t uid, uint32_t uidvalidity, const char *base,
                 size_t base_len, const char *guid, struct mf_buf *out)
{
    for (const char *p = fmt; *p != '\0'; p++) {
        int zero = 0, width = 0, hex = 0;
        char num[32];
        const char *val;
        size_t vlen;
        if (*p != '%') {
            mf_buf_u8(out, (uint8_t)*p);
            continue;
        }
        p++;
        if (*p == '%') {
            mf_buf_u8(out, '%');
            continue;
        }
        if (*p == '0')
            zero = 1;
        while (*p >= '0' && *p <= '9')
            width = width * 10 + (*p++ - '0');
        if (*p == 'X') {
            hex = 1;
            p++;
        }
        if (*p == 'u' || *p == 'v') {
            uint32_t v = *p == 'u' ? uid : uidvalidity;
            snprintf(num, sizeof num, hex ? "%x" : "%u", v);
            val = num;
            vlen = strlen(num);
        } else if (*p == 'f') {
            val = base;
            vlen = base_len;
        } else if (*p == 'g') {
            val = guid;
            vlen = strlen(guid);
        } else {
            return -1;
        }
        /* Dovecot pads with zeros to a width written with a leading zero; a
         * width without it truncates. */
        if (zero && (size_t)width > vlen) {
            for (size_t k = vlen; k < (size_t)width; k++)
                mf_buf_u8(out, '0');
        } else if (width > 0 && !zero && (size_t)width < vlen) {
            vlen = (size_t)width;
        }
        mf_buf_append(out, val, vlen);
    }
    mf_buf_u8(out, '\0');
    out->len--;
    return out->oom ? -1 : 0;
}
