/* test_archive.c: write an archive through the public writer, read it back
 * through the validating reader: every record and every message byte comes
 * back identical, a repeated blob is stored once, and an archive written to
 * a pipe reads back the same. */
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../format/archive_read.h"
#include "../../format/archive_write.h"
#include "../../format/buf.h"
#include "../../format/mem.h"
#include "tap.h"

#define NMSG 40

static uint8_t *msgs[NMSG];
static size_t lens[NMSG];

static int sink(void *ctx, const void *p, size_t n, struct mf_error *err)
{
    (void)err;
    return mf_buf_append(ctx, p, n);
}

static void make_messages(void)
{
    uint8_t body[20000];
    randombytes_buf_deterministic(body, sizeof body, (const unsigned char *)"0123456789abcdef0123456789abcdef");
    for (int i = 0; i < NMSG; i++) {
        struct mf_buf b;
        mf_buf_init(&b);
        mf_buf_printf(&b, "Subject: message %d\nTo: user%d@example.com\n\n", i, i % 7);
        /* every 4th message carries the same body: stored once */
        if (i % 4 == 0)
            mf_buf_append(&b, body, sizeof body);
        else
            for (int k = 0; k < 200 + i * 37; k++)
                mf_buf_printf(&b, "line %d of message %d\n", k, i);
        mf_buf_u8(&b, 0);
        b.len--;
        msgs[i] = mf_buf_steal(&b, &lens[i]);
    }
}

static int write_archive(int fd, struct mf_seckey *sk, struct mf_writer_stats *st)
{
    struct mf_writer_opts o;
    struct mf_writer *w;
    struct mf_error err;
    struct mf_rec_user u;
    struct mf_rec_mailbox m;
    struct mf_str comps[2] = {{"Lists", 5}, {"Entw\xc3\xbc" "rfe", 9}};
    struct mf_str kws[1] = {{"$Label1", 7}};
    memset(&o, 0, sizeof o);
    o.threads = 2;
    o.frame_target[0] = o.frame_target[1] = o.frame_target[2] = 16384;
    o.pack_target = 30000;
    if (mf_writer_open(&w, &o, &err) < 0)
        return -1;
    memset(&u, 0, sizeof u);
    u.name = (struct mf_str){"alice@example.com", 17};
    u.source = (struct mf_str){"/src", 4};
    memset(&m, 0, sizeof m);
    m.stored = (struct mf_str){".Lists.Entw&APw-rfe", 19};
    m.ncomponents = 2;
    m.components = comps;
    m.encoding = 1;
    m.layout = 1;
    m.uidvalidity = 77;
    m.uidnext = NMSG + 10;
    m.nkeywords = 1;
    m.keywords = kws;
    if (mf_writer_begin_user(w, &u, &err) < 0 || mf_writer_begin_mailbox(w, &m, &err) < 0)
        return -1;
    for (int i = 0; i < NMSG; i++) {
        struct mf_rec_message r;
        uint32_t kw0 = 0;
        size_t half = (size_t)((uint8_t *)strstr((char *)msgs[i], "\n\n") - msgs[i]) + 2;
        memset(&r, 0, sizeof r);
        r.uid = (uint32_t)(i + 1);
        r.flags = (uint8_t)(i % 32);
        r.nkeywords = i % 3 == 0;
        r.keywords = &kw0;
        r.guid = (struct mf_str){"guid", 4};
        r.received = 1700000000 + i;
        r.saved = 1700000500 + i;
        r.vsize = lens[i] + 10;
        r.source_dir = 2;
        r.source_name = (struct mf_str){"name", 4};
        if (mf_writer_begin_message(w, &r, &err) < 0 ||
            mf_writer_blob(w, MF_BLOB_HEADER, msgs[i], half, &err) < 0 ||
            mf_writer_blob(w, MF_BLOB_TEXT, msgs[i] + half, lens[i] - half, &err) < 0 ||
            mf_writer_end_message(w, &err) < 0)
            return -1;
    }
    if (mf_writer_end_mailbox(w, &err) < 0 || mf_writer_end_user(w, &err) < 0 ||
        mf_writer_finish(w, fd, sk, &err) < 0) {
        diag("writer: %s", err.msg);
        return -1;
    }
    mf_writer_stats(w, st);
    mf_writer_free(&w);
    return 0;
}

static int read_back(const char *path, const struct mf_pubkey *pk, int *same, int *shared)
{
    struct mf_reader_opts ro;
    struct mf_reader *r;
    struct mf_error err;
    struct mf_record rec;
    struct mf_buf got;
    uint32_t body_frame[NMSG], body_off[NMSG];
    int n = 0, k;
    memset(&ro, 0, sizeof ro);
    ro.keys = pk;
    ro.nkeys = 1;
    if (mf_reader_open(&r, path, &ro, &err) < 0) {
        diag("reader: %s", err.msg);
        return -1;
    }
    *same = 1;
    mf_buf_init(&got);
    while ((k = mf_reader_next(r, &rec, &err)) > 0) {
        if (rec.type == MF_REC_MAILBOX)
            *same &= rec.u.mailbox.ncomponents == 2 && rec.u.mailbox.uidvalidity == 77 &&
                     mf_str_eq(rec.u.mailbox.components[1], "Entw\xc3\xbcrfe");
        if (rec.type != MF_REC_MESSAGE)
            continue;
        mf_buf_reset(&got);
        if (mf_reader_emit(r, rec.u.message.refs, rec.u.message.nrefs, rec.u.message.size,
                           rec.u.message.hash, sink, &got, &err) < 0) {
            diag("emit: %s", err.msg);
            *same = 0;
            break;
        }
        *same &= got.len == lens[n] && memcmp(got.p, msgs[n], got.len) == 0 &&
                 rec.u.message.uid == (uint32_t)(n + 1) && rec.u.message.flags == n % 32 &&
                 rec.u.message.received == 1700000000 + n &&
                 rec.u.message.nkeywords == (uint32_t)(n % 3 == 0);
        body_frame[n] = rec.u.message.refs[rec.u.message.nrefs - 1].frame;
        body_off[n] = rec.u.message.refs[rec.u.message.nrefs - 1].offset;
        n++;
    }
    *same &= n == NMSG && k == 0;
    *shared = 1;
    for (int i = 4; i < NMSG; i += 4)
        *shared &= body_frame[i] == body_frame[0] && body_off[i] == body_off[0];
    mf_buf_free(&got);
    mf_reader_free(&r);
    return 0;
}

int main(void)
{
    char dir[] = "/tmp/mftestXXXXXX", pub[64], sec[64], path[64], piped[64];
    struct mf_error err;
    struct mf_pubkey pk;
    struct mf_seckey *sk;
    struct mf_writer_stats st;
    int fd, same = 0, shared = 0, p[2];
    if (mf_crypto_init(&err) < 0 || mkdtemp(dir) == NULL)
        return 1;
    snprintf(pub, sizeof pub, "%s/k.pub", dir);
    snprintf(sec, sizeof sec, "%s/k.key", dir);
    snprintf(path, sizeof path, "%s/a.mfa", dir);
    snprintf(piped, sizeof piped, "%s/p.mfa", dir);
    make_messages();
    ok(mf_keygen(pub, sec, NULL, &err) == 0 && mf_pubkey_load(pub, &pk, &err) == 0 &&
           mf_seckey_load(sec, NULL, NULL, &sk, &err) == 0,
       "key pair");
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ok(write_archive(fd, sk, &st) == 0, "archive written");
    close(fd);
    ok(st.packs >= 2 && st.frames >= 4, "several packs (%llu) and frames (%llu)",
       (unsigned long long)st.packs, (unsigned long long)st.frames);
    ok(st.dedup_bytes >= 9 * (20000 - 100), "the repeated body is stored once (%llu bytes saved)",
       (unsigned long long)st.dedup_bytes);
    ok(read_back(path, &pk, &same, &shared) == 0, "archive reads back");
    ok(same, "every record and every message byte is identical");
    ok(shared, "copies of the body refer to the same stored blob");
    /* written to a pipe, read from a pipe */
    if (pipe(p) == 0 && fork() == 0) {
        close(p[0]);
        _exit(write_archive(p[1], sk, &st) == 0 ? 0 : 1);
    }
    close(p[1]);
    {
        int out = open(piped, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        char buf[65536];
        ssize_t k;
        while ((k = read(p[0], buf, sizeof buf)) > 0)
            if (write(out, buf, (size_t)k) != k)
                break;
        close(out);
        close(p[0]);
    }
    same = shared = 0;
    ok(read_back(piped, &pk, &same, &shared) == 0 && same, "an archive written to a pipe reads back");
    mf_seckey_free(&sk);
    for (int i = 0; i < NMSG; i++)
        mf_free(msgs[i]);
    {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0)
            diag("cleanup failed");
    }
    return done_testing();
}
