/* maildir_name.c: parsing Maildir file names and Dovecot's new-file order. */
#include "maildir_name.h"

#include <string.h>

#include "../format/index_codec.h"

static int64_t size_field(const char *base, size_t n, char key)
{
    /* ",S=<digits>" followed by ',', or the end of the base */
    for (size_t i = 0; i + 3 < n + 1 && i < n; i++) {
        if (base[i] == ',' && i + 2 < n && base[i + 1] == key && base[i + 2] == '=') {
            size_t j = i + 3;
            int64_t v = 0;
            if (j >= n || base[j] < '0' || base[j] > '9')
                continue;
            while (j < n && base[j] >= '0' && base[j] <= '9') {
                if (v > (INT64_MAX - 9) / 10)
                    return -1;
                v = v * 10 + (base[j] - '0');
                j++;
            }
            if (j == n || base[j] == ',')
                return v;
        }
    }
    return -1;
}

void mf_maildir_name_parse(const char *name, size_t len, struct mf_maildir_name *out)
{
    const char *colon = memchr(name, ':', len);
    size_t no = 0;
    memset(out, 0, sizeof *out);
    out->base_len = colon != NULL ? (size_t)(colon - name) : len;
    out->size_s = size_field(name, out->base_len, 'S');
    out->size_w = size_field(name, out->base_len, 'W');
    if (colon == NULL || len - out->base_len < 3 || colon[1] != '2' || colon[2] != ',')
        return;
    out->has_info = 1;
    for (size_t i = out->base_len + 3; i < len; i++) {
        char c = name[i];
        if (c == ',')
            break;  /* a second flag set Dovecot does not interpret */
        switch (c) {
        case 'D': out->flags |= MF_FLAG_DRAFT; break;
        case 'F': out->flags |= MF_FLAG_FLAGGED; break;
        case 'R': out->flags |= MF_FLAG_ANSWERED; break;
        case 'S': out->flags |= MF_FLAG_SEEN; break;
        case 'T': out->flags |= MF_FLAG_DELETED; break;
        default:
            if (c >= 'a' && c <= 'z')
                out->kw_letters |= 1u << (c - 'a');
            else if (no + 1 < sizeof out->other && c > 0x20 && c < 0x7f &&
                     memchr(out->other, c, no) == NULL)
                out->other[no++] = c;
        }
    }
}

int mf_maildir_base_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    const char *ca = memchr(a, ':', alen), *cb = memchr(b, ':', blen);
    if (ca != NULL)
        alen = (size_t)(ca - a);
    if (cb != NULL)
        blen = (size_t)(cb - b);
    return alen == blen && memcmp(a, b, alen) == 0;
}

/* leading decimal seconds; *rest points after them */
static long lead_secs(const char *s, const char **rest)
{
    long v = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (*s - '0');
        if (v > 100000000000L)
            v = 100000000000L;
        s++;
    }
    *rest = s;
    return v;
}

/* the microseconds after 'M' in the unique part; 0 if none */
static int usecs(const char *s, long *v)
{
    if (*s != '.')
        return 0;
    for (s++; *s != '\0' && *s != '.' && *s != ':'; s++) {
        if (*s == 'M') {
            long u = 0;
            for (s++; *s >= '0' && *s <= '9'; s++)
                u = u * 10 + (*s - '0') > 999999999L ? 999999999L : u * 10 + (*s - '0');
            *v = u;
            return 1;
        }
    }
    return 0;
}

int mf_maildir_name_cmp(const char *a, const char *b)
{
    const char *ra, *rb;
    long sa = lead_secs(a, &ra), sb = lead_secs(b, &rb);
    long ua, ub;
    /* Dovecot subtracts and truncates to int; ordinary timestamps compare
     * numerically, which is what this does. */
    if (sa != sb)
        return sa < sb ? -1 : 1;
    if (usecs(ra, &ua) && usecs(rb, &ub) && ua != ub)
        return ua < ub ? -1 : 1;
    while (*ra == *rb && *ra != '\0' && *ra != ':') {
        ra++;
        rb++;
    }
    if ((*ra == '\0' || *ra == ':') && (*rb == '\0' || *rb == ':'))
        return 0;
    return (signed char)*ra - (signed char)*rb;
}
