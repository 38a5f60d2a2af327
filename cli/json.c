/* json.c: a streaming JSON writer. Strings are written as UTF-8; bytes that
 * are not valid UTF-8 are written as \u00XX (their Latin-1 reading). */
#include "cli.h"

#include <inttypes.h>
#include <string.h>

#include "../format/hash.h"
#include "../format/index_codec.h"

void json_init(struct cli_json *j, FILE *f)
{
    memset(j, 0, sizeof *j);
    j->f = f;
}

static void sep(struct cli_json *j, const char *key)
{
    if (j->need_comma[j->depth])
        fputc(',', j->f);
    j->need_comma[j->depth] = 1;
    if (key != NULL)
        fprintf(j->f, "\"%s\":", key);
}

static void raw_str(struct cli_json *j, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    fputc('"', j->f);
    while (i < n) {
        unsigned c = p[i];
        if (c == '"' || c == '\\') {
            fputc('\\', j->f);
            fputc((int)c, j->f);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(j->f, "\\u%04x", c);
            i++;
        } else if (c < 0x80) {
            fputc((int)c, j->f);
            i++;
        } else {
            size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
            if (len > 1 && i + len <= n && mf_utf8_printable(s + i, len)) {
                fwrite(s + i, 1, len, j->f);
                i += len;
            } else {
                fprintf(j->f, "\\u%04x", c);
                i++;
            }
        }
    }
    fputc('"', j->f);
}

void json_obj(struct cli_json *j, const char *key)
{
    sep(j, key);
    fputc('{', j->f);
    j->need_comma[++j->depth] = 0;
}

void json_arr(struct cli_json *j, const char *key)
{
    sep(j, key);
    fputc('[', j->f);
    j->need_comma[++j->depth] = 0;
}

void json_end_obj(struct cli_json *j)
{
    j->depth--;
    fputc('}', j->f);
}

void json_end_arr(struct cli_json *j)
{
    j->depth--;
    fputc(']', j->f);
}

void json_strn(struct cli_json *j, const char *key, const char *s, size_t n)
{
    sep(j, key);
    raw_str(j, s, n);
}

void json_str(struct cli_json *j, const char *key, const char *s)
{
    json_strn(j, key, s, strlen(s));
}

void json_u64(struct cli_json *j, const char *key, uint64_t v)
{
    sep(j, key);
    fprintf(j->f, "%" PRIu64, v);
}

void json_i64(struct cli_json *j, const char *key, int64_t v)
{
    sep(j, key);
    fprintf(j->f, "%" PRId64, v);
}

void json_bool(struct cli_json *j, const char *key, int v)
{
    sep(j, key);
    fputs(v ? "true" : "false", j->f);
}

void json_null(struct cli_json *j, const char *key)
{
    sep(j, key);
    fputs("null", j->f);
}

void json_hex(struct cli_json *j, const char *key, const uint8_t *p, size_t n)
{
    char buf[2 * 64 + 1];
    if (n > 64)
        n = 64;
    mf_hex(buf, p, n);
    json_str(j, key, buf);
}

void json_finish(struct cli_json *j)
{
    fputc('\n', j->f);
    fflush(j->f);
}
