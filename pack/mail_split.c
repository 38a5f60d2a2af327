/* mail_split.c: header/body/MIME-part cutting of messages. Only cut points
 * are chosen here; malformed MIME simply yields fewer cuts. */
#include "mail_split.h"

#include <string.h>
#include <strings.h>

#include "../format/limits.h"
#include "../format/mem.h"

#define MAX_DEPTH 8
#define MAX_BOUNDARY 200

struct range {
    size_t off, len;
};

struct ranges {
    struct range *v;
    size_t n, cap;
};

static int push_range(struct ranges *r, size_t off, size_t len)
{
    if (r->n == r->cap) {
        size_t nc = r->cap == 0 ? 16 : r->cap * 2;
        struct range *nv = mf_realloc(r->v, nc * sizeof *nv);
        if (nv == NULL)
            return -1;
        r->v = nv;
        r->cap = nc;
    }
    r->v[r->n].off = off;
    r->v[r->n].len = len;
    r->n++;
    return 0;
}

size_t mf_header_end(const uint8_t *p, size_t n)
{
    if (n > 0 && p[0] == '\n')
        return 1;
    if (n > 1 && p[0] == '\r' && p[1] == '\n')
        return 2;
    for (const uint8_t *q = p; (q = memchr(q, '\n', n - (size_t)(q - p))) != NULL; q++) {
        size_t i = (size_t)(q - p);
        if (i + 1 >= n)
            break;
        if (p[i + 1] == '\n')
            return i + 2;
        if (p[i + 1] == '\r' && i + 2 < n && p[i + 2] == '\n')
            return i + 3;
    }
    return n;
}

/* Finds the boundary parameter of a multipart Content-Type in the header
 * block [0, n). Returns its length (0 if none) and copies it to out. */
static size_t find_boundary(const uint8_t *p, size_t n, char out[MAX_BOUNDARY + 1])
{
    size_t i = 0;
    while (i < n) {
        size_t ls = i, le;
        while (i < n && p[i] != '\n')
            i++;
        le = i;
        i++;
        if (le - ls < 13 || strncasecmp((const char *)p + ls, "content-type:", 13) != 0)
            continue;
        /* the value, including continuation lines */
        {
            size_t vs = ls + 13, ve = le;
            while (i < n && (p[i] == ' ' || p[i] == '\t')) {
                while (i < n && p[i] != '\n')
                    i++;
                ve = i;
                i++;
            }
            while (vs < ve && (p[vs] == ' ' || p[vs] == '\t'))
                vs++;
            if (ve - vs < 10 || strncasecmp((const char *)p + vs, "multipart/", 10) != 0)
                return 0;
            for (size_t k = vs; k + 9 <= ve; k++) {
                size_t b, o = 0;
                if (strncasecmp((const char *)p + k, "boundary=", 9) != 0)
                    continue;
                if (k > vs && p[k - 1] != ';' && p[k - 1] != ' ' && p[k - 1] != '\t' &&
                    p[k - 1] != '\n' && p[k - 1] != '\r')
                    continue;
                b = k + 9;
                if (b < ve && p[b] == '"') {
                    b++;
                    while (b < ve && p[b] != '"' && o < MAX_BOUNDARY)
                        out[o++] = (char)p[b++];
                } else {
                    while (b < ve && p[b] != ';' && p[b] != ' ' && p[b] != '\t' && p[b] != '\r' &&
                           p[b] != '\n' && o < MAX_BOUNDARY)
                        out[o++] = (char)p[b++];
                }
                out[o] = '\0';
                return o;
            }
            return 0;
        }
    }
    return 0;
}

/* Position of the next delimiter line "--boundary" at or after `from`
 * within [s, e); e if none. A delimiter starts a line. */
static size_t next_delim(const uint8_t *p, size_t s, size_t e, size_t from, const char *b,
                         size_t blen)
{
    size_t i = from;
    while (i + 2 + blen <= e) {
        const uint8_t *q = memchr(p + i, '-', e - i);
        size_t k;
        if (q == NULL)
            return e;
        k = (size_t)(q - p);
        if (k + 2 + blen > e)
            return e;
        if ((k == s || p[k - 1] == '\n') && p[k + 1] == '-' && memcmp(p + k + 2, b, blen) == 0)
            return k;
        i = k + 1;
    }
    return e;
}

static int split_multipart(const uint8_t *p, size_t s, size_t e, const char *b, size_t blen,
                           int depth, struct ranges *parts)
{
    size_t d = next_delim(p, s, e, s, b, blen);
    while (d < e) {
        size_t line_end = d, part_start, nd, part_end;
        int closing = d + 2 + blen + 1 < e && p[d + 2 + blen] == '-' && p[d + 3 + blen] == '-';
        if (closing)
            break;
        while (line_end < e && p[line_end] != '\n')
            line_end++;
        if (line_end >= e)
            break;
        part_start = line_end + 1;
        nd = next_delim(p, s, e, part_start, b, blen);
        /* the line break before the next delimiter belongs to the delimiter */
        part_end = nd;
        if (part_end > part_start && p[part_end - 1] == '\n')
            part_end--;
        if (part_end > part_start && p[part_end - 1] == '\r')
            part_end--;
        if (part_end > part_start) {
            size_t he = part_start + mf_header_end(p + part_start, part_end - part_start);
            char sub[MAX_BOUNDARY + 1];
            size_t sl = find_boundary(p + part_start, he - part_start, sub);
            if (sl > 0 && depth < MAX_DEPTH) {
                if (split_multipart(p, he, part_end, sub, sl, depth + 1, parts) < 0)
                    return -1;
            } else if (part_end - he >= MF_PART_MIN) {
                if (push_range(parts, he, part_end - he) < 0)
                    return -1;
            }
        }
        d = nd;
    }
    return 0;
}

static int add_seg(struct mf_segments *segs, size_t off, size_t len, enum mf_blob_kind kind)
{
    while (len > 0) {
        size_t n = len > MF_BLOB_MAX ? MF_BLOB_MAX : len;
        if (segs->n == segs->cap) {
            size_t nc = segs->cap == 0 ? 16 : segs->cap * 2;
            struct mf_segment *nv = mf_realloc(segs->v, nc * sizeof *nv);
            if (nv == NULL)
                return -1;
            segs->v = nv;
            segs->cap = nc;
        }
        segs->v[segs->n].off = off;
        segs->v[segs->n].len = n;
        segs->v[segs->n].kind = kind;
        segs->n++;
        off += n;
        len -= n;
    }
    return 0;
}

int mf_split_message(const uint8_t *p, size_t n, struct mf_segments *segs)
{
    size_t he = mf_header_end(p, n), pos;
    char b[MAX_BOUNDARY + 1];
    size_t blen = find_boundary(p, he, b);
    struct ranges parts = {0};
    int r = 0;
    segs->n = 0;
    if (add_seg(segs, 0, he, MF_BLOB_HEADER) < 0)
        return -1;
    if (blen > 0 && split_multipart(p, he, n, b, blen, 1, &parts) < 0) {
        mf_free(parts.v);
        return -1;
    }
    pos = he;
    for (size_t i = 0; i < parts.n && r == 0; i++) {
        if (parts.v[i].off < pos)
            continue;  /* cannot happen with ordered scanning; defensive */
        if (parts.v[i].off > pos)
            r = add_seg(segs, pos, parts.v[i].off - pos, MF_BLOB_TEXT);
        if (r == 0)
            r = add_seg(segs, parts.v[i].off, parts.v[i].len, MF_BLOB_PART);
        pos = parts.v[i].off + parts.v[i].len;
    }
    if (r == 0 && pos < n)
        r = add_seg(segs, pos, n - pos, blen == 0 && n - pos >= (1u << 20) ? MF_BLOB_PART
                                                                             : MF_BLOB_TEXT);
    mf_free(parts.v);
    return r;
}

void mf_segments_free(struct mf_segments *segs)
{
    mf_free(segs->v);
    memset(segs, 0, sizeof *segs);
}
