/* mkarchive.c: a developer tool that builds an archive from a small text
 * script through the format library, without any Maildir. Used by tests and
 * to make the spec's test vectors.
 *
 *   mkarchive -s SECKEY -o OUT [--id HEX32] [--created SECS] [--host H] SCRIPT
 *
 * Script lines (fields separated by single spaces, "-" = empty):
 *   user NAME SOURCE UID GID OWNER GROUP
 *   extra ROLE PATH MODE MTIME FILE TARGET        ROLE: 1 sieve script, 2 active, 3 file
 *   mailbox STORED COMPONENTS ENC LAYOUT GUIDHEX UIDVALIDITY UIDNEXT FLAGS KEYWORDS
 *       COMPONENTS joined with '/', KEYWORDS comma-separated
 *   message UID FLAGS KWIDX GUID RECEIVED SAVED UIDL ORDER DIR SOURCE FILE
 *       FLAGS as letters of A(nswered) F(lagged) D(eleted) S(een) R(draft);
 *       KWIDX comma-separated indexes; DIR new|cur; FILE the message bytes
 *   endmailbox
 *   enduser
 * A message is stored as its header block (through the first empty line)
 * and its body in pieces of at most 64 KiB. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../format/archive_write.h"
#include "../../format/fsutil.h"
#include "../../format/hash.h"
#include "../../format/mem.h"
#include "../../format/sign.h"

#define MAXF 16

static int split(char *line, char **f)
{
    int n = 0;
    char *save = NULL, *t = strtok_r(line, " ", &save);
    while (t != NULL && n < MAXF) {
        f[n++] = strcmp(t, "-") == 0 ? (char *)"" : t;
        t = strtok_r(NULL, " ", &save);
    }
    return n;
}

static struct mf_str S(const char *s)
{
    struct mf_str r = {s, strlen(s)};
    return r;
}

static uint8_t letters(const char *s)
{
    uint8_t f = 0;
    for (; *s; s++)
        f |= *s == 'A' ? MF_FLAG_ANSWERED : *s == 'F' ? MF_FLAG_FLAGGED : *s == 'D' ? MF_FLAG_DELETED
             : *s == 'S' ? MF_FLAG_SEEN : *s == 'R' ? MF_FLAG_DRAFT : 0;
    return f;
}

static int die(const char *what, struct mf_error *err)
{
    fprintf(stderr, "mkarchive: %s: %s\n", what, err->msg);
    return 1;
}

static int add_message(struct mf_writer *w, const uint8_t *p, size_t n, struct mf_error *err)
{
    size_t h = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n' && (i + 1 == n || p[i + 1] == '\n' ||
                             (p[i + 1] == '\r' && i + 2 < n && p[i + 2] == '\n'))) {
            h = i + 1 < n && p[i + 1] == '\n' ? i + 2 : (i + 1 < n ? i + 3 : i + 1);
            break;
        }
    }
    if (h == 0 || h > n)
        h = n;
    if (mf_writer_blob(w, MF_BLOB_HEADER, p, h, err) < 0)
        return -1;
    for (size_t off = h; off < n; off += 65536) {
        size_t k = n - off > 65536 ? 65536 : n - off;
        if (mf_writer_blob(w, MF_BLOB_TEXT, p + off, k, err) < 0)
            return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"id", required_argument, 0, 'i'},
                                         {"created", required_argument, 0, 'c'},
                                         {"host", required_argument, 0, 'H'},
                                         {"pack-target", required_argument, 0, 'P'},
                                         {"frame-target", required_argument, 0, 'F'},
                                         {0, 0, 0, 0}};
    const char *sec = NULL, *out = NULL;
    struct mf_writer_opts o;
    struct mf_writer *w = NULL;
    struct mf_seckey *sk = NULL;
    struct mf_error err;
    FILE *script;
    char line[8192];
    int c, fd;
    memset(&o, 0, sizeof o);
    o.threads = 1;
    while ((c = getopt_long(argc, argv, "s:o:", opts, NULL)) != -1) {
        switch (c) {
        case 's': sec = optarg; break;
        case 'o': out = optarg; break;
        case 'i':
            if (mf_unhex(o.fixed_id, sizeof o.fixed_id, optarg, strlen(optarg)) < 0)
                return 2;
            break;
        case 'c': o.fixed_created = strtoll(optarg, NULL, 10); break;
        case 'H': o.host = optarg; break;
        case 'P': o.pack_target = strtoull(optarg, NULL, 10); break;
        case 'F':
            for (int k = 0; k < MF_BLOB_KINDS; k++)
                o.frame_target[k] = strtoull(optarg, NULL, 10);
            break;
        default: return 2;
        }
    }
    if (sec == NULL || out == NULL || optind + 1 != argc) {
        fprintf(stderr, "usage: mkarchive -s SECKEY -o OUT [--id HEX] [--created N] SCRIPT\n");
        return 2;
    }
    if (mf_crypto_init(&err) < 0 || mf_seckey_load(sec, NULL, NULL, &sk, &err) < 0)
        return die(sec, &err);
    script = fopen(argv[optind], "r");
    if (script == NULL) {
        perror(argv[optind]);
        return 1;
    }
    if (mf_writer_open(&w, &o, &err) < 0)
        return die("open", &err);
    while (fgets(line, sizeof line, script) != NULL) {
        char *f[MAXF] = {0};
        int n;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        n = split(line, f);
        if (n == 0)
            continue;
        if (strcmp(f[0], "user") == 0 && n == 7) {
            struct mf_rec_user u;
            memset(&u, 0, sizeof u);
            u.name = S(f[1]);
            u.source = S(f[2]);
            u.uid = strtoull(f[3], NULL, 10);
            u.gid = strtoull(f[4], NULL, 10);
            u.owner = S(f[5]);
            u.group = S(f[6]);
            if (mf_writer_begin_user(w, &u, &err) < 0)
                return die("user", &err);
        } else if (strcmp(f[0], "extra") == 0 && n == 7) {
            struct mf_rec_extra x;
            uint8_t *data = NULL;
            size_t len = 0;
            memset(&x, 0, sizeof x);
            x.role = (uint8_t)atoi(f[1]);
            x.path = S(f[2]);
            x.mode = (uint32_t)strtoul(f[3], NULL, 8);
            x.mtime = strtoll(f[4], NULL, 10);
            x.target = S(f[6]);
            if (f[5][0] != '\0' && mf_read_file(f[5], 1 << 24, 0, &data, &len, &err) < 0)
                return die(f[5], &err);
            if (mf_writer_extra(w, &x, data, len, &err) < 0)
                return die("extra", &err);
            mf_free(data);
        } else if (strcmp(f[0], "mailbox") == 0 && n == 10) {
            struct mf_rec_mailbox m;
            struct mf_str comps[64], kws[64];
            char *save = NULL, *t;
            memset(&m, 0, sizeof m);
            m.stored = S(f[1]);
            for (t = strtok_r(f[2], "/", &save); t != NULL && m.ncomponents < 64;
                 t = strtok_r(NULL, "/", &save))
                comps[m.ncomponents++] = S(t);
            m.components = comps;
            m.encoding = (uint8_t)atoi(f[3]);
            m.layout = (uint8_t)atoi(f[4]);
            if (mf_unhex(m.guid, sizeof m.guid, f[5], strlen(f[5])) < 0) {
                fprintf(stderr, "mkarchive: bad guid %s\n", f[5]);
                return 1;
            }
            m.uidvalidity = (uint32_t)strtoul(f[6], NULL, 10);
            m.uidnext = (uint32_t)strtoul(f[7], NULL, 10);
            m.flags = (uint32_t)strtoul(f[8], NULL, 10);
            save = NULL;
            for (t = strtok_r(f[9], ",", &save); t != NULL && m.nkeywords < 64;
                 t = strtok_r(NULL, ",", &save))
                kws[m.nkeywords++] = S(t);
            m.keywords = kws;
            if (mf_writer_begin_mailbox(w, &m, &err) < 0)
                return die("mailbox", &err);
        } else if (strcmp(f[0], "message") == 0 && n == 12) {
            struct mf_rec_message m;
            uint32_t kw[64];
            char *save = NULL, *t;
            uint8_t *data;
            size_t len;
            memset(&m, 0, sizeof m);
            m.uid = (uint32_t)strtoul(f[1], NULL, 10);
            m.flags = letters(f[2]);
            for (t = strtok_r(f[3], ",", &save); t != NULL && m.nkeywords < 64;
                 t = strtok_r(NULL, ",", &save))
                kw[m.nkeywords++] = (uint32_t)strtoul(t, NULL, 10);
            m.keywords = kw;
            m.guid = S(f[4]);
            m.received = strtoll(f[5], NULL, 10);
            m.saved = strtoll(f[6], NULL, 10);
            m.pop3_uidl = S(f[7]);
            m.pop3_order = (uint32_t)strtoul(f[8], NULL, 10);
            m.source_dir = strcmp(f[9], "new") == 0 ? MF_SRC_NEW : MF_SRC_CUR;
            m.source_name = S(f[10]);
            if (mf_read_file(f[11], (size_t)1 << 30, 0, &data, &len, &err) < 0)
                return die(f[11], &err);
            m.vsize = len;
            for (size_t i = 0; i < len; i++)
                if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r'))
                    m.vsize++;
            if (mf_writer_begin_message(w, &m, &err) < 0 || add_message(w, data, len, &err) < 0 ||
                mf_writer_end_message(w, &err) < 0)
                return die("message", &err);
            mf_free(data);
        } else if (strcmp(f[0], "endmailbox") == 0) {
            if (mf_writer_end_mailbox(w, &err) < 0)
                return die("endmailbox", &err);
        } else if (strcmp(f[0], "enduser") == 0) {
            if (mf_writer_end_user(w, &err) < 0)
                return die("enduser", &err);
        } else {
            fprintf(stderr, "mkarchive: bad script line: %s (%d fields)\n", f[0], n);
            return 1;
        }
    }
    fclose(script);
    fd = strcmp(out, "-") == 0 ? 1 : open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror(out);
        return 1;
    }
    if (mf_writer_finish(w, fd, sk, &err) < 0)
        return die("finish", &err);
    if (fd != 1)
        close(fd);
    mf_writer_free(&w);
    mf_seckey_free(&sk);
    return 0;
}
