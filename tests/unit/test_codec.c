/* test_codec.c: varints, cursors, the manifest text and index records
 * round-trip, and malformed input is refused. */
#include <stdint.h>

#include "../../format/buf.h"
#include "../../format/hash.h"
#include "../../format/index_codec.h"
#include "../../format/manifest.h"
#include "../../format/mem.h"
#include "tap.h"

static void test_varints(void)
{
    struct mf_buf b;
    struct mf_cur c;
    uint64_t vals[] = {0, 1, 127, 128, 300, 16383, 16384, UINT32_MAX, UINT64_MAX};
    int64_t svals[] = {0, -1, 1, -64, 64, INT64_MIN, INT64_MAX};
    int good = 1;
    mf_buf_init(&b);
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        mf_buf_uv(&b, vals[i]);
    for (size_t i = 0; i < sizeof svals / sizeof svals[0]; i++)
        mf_buf_sv(&b, svals[i]);
    mf_cur_init(&c, b.p, b.len);
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        good &= mf_cur_uv(&c) == vals[i];
    for (size_t i = 0; i < sizeof svals / sizeof svals[0]; i++)
        good &= mf_cur_sv(&c) == svals[i];
    ok(good && !c.bad && mf_cur_left(&c) == 0, "varints round-trip");
    mf_cur_init(&c, b.p, 1 + 0 * b.len);
    mf_cur_uv(&c);
    mf_cur_uv(&c);
    ok(c.bad, "reading past the end sets bad");
    {
        static const uint8_t over[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
        mf_cur_init(&c, over, sizeof over);
        mf_cur_uv(&c);
        ok(c.bad, "a varint above 2^64 is refused");
    }
    mf_buf_free(&b);
}

static void test_manifest(void)
{
    struct mf_manifest m, back;
    struct mf_buf b;
    struct mf_error err;
    int r;
    mf_manifest_init(&m);
    m.kind = MF_KIND_FULL;
    memset(m.archive_id, 0xab, sizeof m.archive_id);
    m.created = 1700000000;
    strcpy(m.host, "old.example");
    strcpy(m.tool, "mailferry test");
    m.nindex = 1;
    m.npacks = 1;
    m.nmembers = 3;
    m.members = mf_calloc(3, sizeof *m.members);
    strcpy(m.members[0].name, "FORMAT");
    strcpy(m.members[1].name, "index/000001");
    strcpy(m.members[2].name, "packs/000001");
    m.members[2].size = 12345;
    m.members[2].digest[0] = 7;
    mf_buf_init(&b);
    r = mf_manifest_encode(&m, &b, &err);
    ok(r == 0, "manifest encodes");
    r = mf_manifest_parse(b.p, b.len, &back, &err);
    ok(r == 0 && back.nmembers == 3 && back.members[2].size == 12345 &&
           back.members[2].digest[0] == 7 && back.created == 1700000000 &&
           strcmp(back.host, "old.example") == 0,
       "manifest parses back identically");
    mf_manifest_clear(&back);
    b.p[b.len - 2] = 'x'; /* "enx\n" */
    r = mf_manifest_parse(b.p, b.len, &back, &err);
    ok(r < 0 && err.cls == MF_ECORRUPT, "a damaged manifest is refused: %s", err.msg);
    mf_buf_free(&b);
    strcpy(m.members[1].name, "packs/000001");
    strcpy(m.members[2].name, "index/000001");
    mf_buf_init(&b);
    r = mf_manifest_encode(&m, &b, &err);
    r = mf_manifest_parse(b.p, b.len, &back, &err);
    ok(r < 0 && strstr(err.msg, "unexpected member name") != NULL,
       "members out of the canonical order are refused: %s", err.msg);
    mf_buf_free(&b);
    mf_manifest_clear(&m);
}

static void test_records(void)
{
    struct mf_buf out, scratch;
    struct mf_rec_message m;
    struct mf_blobref refs[2];
    struct mf_idx_dec *d;
    struct mf_record rec;
    struct mf_error err;
    uint32_t kws[] = {0, 3};
    int k;
    memset(&m, 0, sizeof m);
    memset(refs, 0, sizeof refs);
    refs[0].flags = MF_REF_HAS_ID;
    refs[0].id[0] = 1;
    refs[0].len = 100;
    refs[0].loc = MF_LOC_FRAME;
    refs[0].frame = 4;
    refs[0].offset = 77;
    refs[1] = refs[0];
    refs[1].len = 5;
    m.uid = 42;
    m.flags = MF_FLAG_SEEN | MF_FLAG_FLAGGED;
    m.nkeywords = 2;
    m.keywords = kws;
    m.guid = (struct mf_str){"abc", 3};
    m.received = 1704067200;
    m.saved = -5;
    m.size = 105;
    m.vsize = 110;
    m.pop3_uidl = (struct mf_str){"UIDL-1", 6};
    m.pop3_order = 3;
    m.source_dir = MF_SRC_CUR;
    m.source_name = (struct mf_str){"123.M1P2.host,S=105:2,FS", 24};
    m.nrefs = 2;
    m.refs = refs;
    mf_buf_init(&out);
    mf_buf_init(&scratch);
    ok(mf_enc_message(&out, &scratch, &m) == 0, "message record encodes");
    ok(mf_idx_dec_new(&d, &err) == 0, "decoder");
    mf_idx_dec_feed(d, out.p, out.len, "test");
    k = mf_idx_dec_next(d, &rec, &err);
    ok(k == 1 && rec.type == MF_REC_MESSAGE && rec.u.message.uid == 42 &&
           rec.u.message.nkeywords == 2 && rec.u.message.keywords[1] == 3 &&
           rec.u.message.saved == -5 && rec.u.message.nrefs == 2 &&
           rec.u.message.refs[0].offset == 77 && mf_str_eq(rec.u.message.pop3_uidl, "UIDL-1"),
       "message record decodes identically");
    ok(mf_idx_dec_next(d, &rec, &err) == 0, "then the segment ends");
    /* every truncation of the record is refused, never read past */
    {
        int all = 1;
        for (size_t cut = 0; cut < out.len; cut++) {
            mf_idx_dec_feed(d, out.p, cut, "test");
            k = mf_idx_dec_next(d, &rec, &err);
            if (cut == 0 ? k != 0 : k != -1)
                all = 0;
        }
        ok(all, "every truncated form is refused");
    }
    /* a lying reference count */
    {
        struct mf_buf b2;
        mf_buf_init(&b2);
        mf_buf_u8(&b2, MF_REC_EXTRA);
        mf_buf_uv(&b2, 8);
        mf_buf_u8(&b2, 1);
        mf_buf_uv(&b2, 0);
        mf_buf_uv(&b2, 0644);
        mf_buf_sv(&b2, 0);
        mf_buf_uv(&b2, 0);
        mf_buf_uv(&b2, 0);
        mf_buf_uv(&b2, 60000); /* claims 60000 refs in 2 bytes */
        mf_idx_dec_feed(d, b2.p, b2.len, "test");
        k = mf_idx_dec_next(d, &rec, &err);
        ok(k == -1 && err.cls == MF_ECORRUPT, "a count larger than the record is refused: %s",
           err.msg);
        mf_buf_free(&b2);
    }
    mf_idx_dec_free(&d);
    mf_buf_free(&out);
    mf_buf_free(&scratch);
}

static void test_utf8(void)
{
    ok(mf_utf8_printable("Entw\xc3\xbcrfe", 9), "UTF-8 name accepted");
    ok(!mf_utf8_printable("a\x01b", 3), "control character refused");
    ok(!mf_utf8_printable("\xc0\xaf", 2), "overlong encoding refused");
    ok(!mf_utf8_printable("\xed\xa0\x80", 3), "surrogate refused");
}

int main(void)
{
    test_varints();
    test_manifest();
    test_records();
    test_utf8();
    return done_testing();
}
