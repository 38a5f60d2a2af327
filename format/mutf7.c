/* mutf7.c: modified UTF-7 <-> UTF-8. Printable ASCII except '&' stands for
 * itself, '&-' is '&', and '&' base64(UTF-16BE) '-' encodes everything else
 * with ',' in place of '/' and no padding. */
#include "mutf7.h"

#include <stdint.h>
#include <string.h>

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64val(char c)
{
    const char *p = c == '\0' ? NULL : strchr(b64, c);
    return p == NULL ? -1 : (int)(p - b64);
}

static void put_utf8(struct mf_buf *out, uint32_t cp)
{
    uint8_t t[4];
    size_t n;
    if (cp < 0x80) {
        t[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        t[0] = (uint8_t)(0xc0 | cp >> 6);
        t[1] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        t[0] = (uint8_t)(0xe0 | cp >> 12);
        t[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        t[2] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        t[0] = (uint8_t)(0xf0 | cp >> 18);
        t[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
        t[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        t[3] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 4;
    }
    mf_buf_append(out, t, n);
}

int mf_mutf7_decode(const char *in, size_t n, struct mf_buf *out)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)in[i];
        if (c >= 0x80 || c < 0x20 || c == 0x7f)
            return -1;
        if (c != '&') {
            mf_buf_u8(out, c);
            i++;
            continue;
        }
        i++;
        if (i < n && in[i] == '-') {
            mf_buf_u8(out, '&');
            i++;
            continue;
        }
        {
            uint32_t bits = 0, hi = 0;
            int nbits = 0, units = 0;
            while (i < n && in[i] != '-') {
                int v = b64val(in[i]);
                if (v < 0)
                    return -1;
                bits = (bits << 6) | (uint32_t)v;
                nbits += 6;
                if (nbits >= 16) {
                    uint32_t u = (bits >> (nbits - 16)) & 0xffff;
                    nbits -= 16;
                    units++;
                    if (hi != 0) {
                        if (u < 0xdc00 || u > 0xdfff)
                            return -1;
                        put_utf8(out, 0x10000 + ((hi - 0xd800) << 10) + (u - 0xdc00));
                        hi = 0;
                    } else if (u >= 0xd800 && u <= 0xdbff) {
                        hi = u;
                    } else if (u >= 0xdc00 && u <= 0xdfff) {
                        return -1;
                    } else {
                        if (u >= 0x20 && u < 0x7f)
                            return -1;  /* printable ASCII must not be shifted */
                        put_utf8(out, u);
                    }
                }
                i++;
            }
            if (i >= n || hi != 0 || units == 0 || (bits & ((1u << nbits) - 1)) != 0)
                return -1;
            i++;  /* '-' */
        }
    }
    return out->oom ? -1 : 0;
}

static void flush_shift(struct mf_buf *out, const uint16_t *u, size_t nu)
{
    uint32_t bits = 0;
    int nbits = 0;
    mf_buf_u8(out, '&');
    for (size_t i = 0; i < nu; i++) {
        bits = (bits << 16) | u[i];
        nbits += 16;
        while (nbits >= 6) {
            mf_buf_u8(out, (uint8_t)b64[(bits >> (nbits - 6)) & 0x3f]);
            nbits -= 6;
        }
    }
    if (nbits > 0)
        mf_buf_u8(out, (uint8_t)b64[(bits << (6 - nbits)) & 0x3f]);
    mf_buf_u8(out, '-');
}

int mf_mutf7_encode(const char *in, size_t n, struct mf_buf *out)
{
    const unsigned char *p = (const unsigned char *)in;
    uint16_t units[512];
    size_t nu = 0, i = 0;
    while (i < n) {
        uint32_t cp;
        size_t len;
        if (p[i] >= 0x20 && p[i] < 0x7f) {
            if (nu > 0) {
                flush_shift(out, units, nu);
                nu = 0;
            }
            if (p[i] == '&')
                mf_buf_puts(out, "&-");
            else
                mf_buf_u8(out, p[i]);
            i++;
            continue;
        }
        if (p[i] < 0x80) {
            cp = p[i];
            len = 1;
        } else if ((p[i] & 0xe0) == 0xc0) {
            len = 2;
            cp = p[i] & 0x1f;
        } else if ((p[i] & 0xf0) == 0xe0) {
            len = 3;
            cp = p[i] & 0x0f;
        } else if ((p[i] & 0xf8) == 0xf0) {
            len = 4;
            cp = p[i] & 0x07;
        } else {
            return -1;
        }
        if (n - i < len)
            return -1;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return -1;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        i += len;
        if (nu + 2 > sizeof units / sizeof units[0]) {
            flush_shift(out, units, nu);
            nu = 0;
        }
        if (cp >= 0x10000) {
            cp -= 0x10000;
            units[nu++] = (uint16_t)(0xd800 + (cp >> 10));
            units[nu++] = (uint16_t)(0xdc00 + (cp & 0x3ff));
        } else {
            units[nu++] = (uint16_t)cp;
        }
    }
    if (nu > 0)
        flush_shift(out, units, nu);
    return out->oom ? -1 : 0;
}
