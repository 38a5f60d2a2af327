/* mailbox_names.c: translation of archived mailbox names to dbox names. */
#include "mailbox_names.h"

#include <string.h>
#include <strings.h>

#include "../format/mem.h"
#include "../format/mutf7.h"

int mf_storage_name(const struct mf_rec_mailbox *m, char sep, int utf8, struct mf_buf *out,
                    struct mf_buf *display, int *translated, struct mf_error *err)
{
    struct mf_buf comp;
    *translated = 0;
    mf_buf_reset(out);
    mf_buf_reset(display);
    if ((m->flags & MF_MBOX_INBOX) ||
        (m->ncomponents == 1 && m->components[0].n == 5 &&
         strncasecmp(m->components[0].p, "INBOX", 5) == 0)) {
        mf_buf_puts(out, "INBOX");
        mf_buf_puts(display, "INBOX");
        if (!(m->flags & MF_MBOX_INBOX) && !mf_str_eq(m->components[0], "INBOX"))
            *translated = 1;
        return out->oom ? mf_err_nomem(err) : 0;
    }
    mf_buf_init(&comp);
    for (uint32_t i = 0; i < m->ncomponents; i++) {
        struct mf_str c = m->components[i];
        mf_buf_reset(&comp);
        for (size_t k = 0; k < c.n; k++) {
            char ch = c.p[k];
            if (ch == '/' || ch == sep) {
                ch = '_';
                *translated = 1;
            }
            mf_buf_u8(&comp, (uint8_t)ch);
        }
        if ((comp.len == 1 && comp.p[0] == '.') || (comp.len == 2 && memcmp(comp.p, "..", 2) == 0) ||
            (comp.len == 10 && memcmp(comp.p, "dbox-Mails", 10) == 0)) {
            mf_buf_u8(&comp, '_');
            *translated = 1;
        }
        if (i > 0) {
            mf_buf_u8(out, '/');
            mf_buf_u8(display, (uint8_t)sep);
        }
        mf_buf_append(display, comp.p, comp.len);
        if (utf8) {
            mf_buf_append(out, comp.p, comp.len);
        } else {
            size_t before = out->len;
            if (mf_mutf7_encode((const char *)comp.p, comp.len, out) < 0) {
                mf_buf_free(&comp);
                return mf_err(err, MF_ECORRUPT, "mailbox name is not valid UTF-8");
            }
            if (out->len - before > 255) {
                mf_buf_free(&comp);
                return mf_err(err, MF_ETARGET, "mailbox name part longer than 255 bytes on disk");
            }
        }
    }
    mf_buf_free(&comp);
    return (out->oom || display->oom) ? mf_err_nomem(err) : 0;
}

int mf_subs_translate(const char *list, size_t len, char sep, int utf8, struct mf_buf *out,
                      struct mf_error *err)
{
    struct mf_buf name, disp;
    struct mf_str comps[MF_MAILBOX_COMPONENTS_MAX];
    int r = 0;
    mf_buf_init(&name);
    mf_buf_init(&disp);
    for (size_t off = 0; off < len && r == 0;) {
        const char *l = list + off, *nl = memchr(l, '\n', len - off);
        size_t n = nl != NULL ? (size_t)(nl - l) : len - off;
        struct mf_rec_mailbox m;
        int translated;
        off += n + 1;
        if (n == 0)
            continue;
        memset(&m, 0, sizeof m);
        for (size_t i = 0; i <= n && m.ncomponents < MF_MAILBOX_COMPONENTS_MAX;) {
            size_t k = i;
            while (k < n && l[k] != '\t')
                k++;
            comps[m.ncomponents].p = l + i;
            comps[m.ncomponents].n = k - i;
            m.ncomponents++;
            i = k + 1;
        }
        m.components = comps;
        if (m.ncomponents == 1 && comps[0].n == 5 && strncasecmp(comps[0].p, "INBOX", 5) == 0)
            m.flags = MF_MBOX_INBOX;
        if (mf_storage_name(&m, sep, utf8, &name, &disp, &translated, err) < 0) {
            mf_err_clear(err);   /* a name the target cannot hold: not subscribed */
            continue;
        }
        for (size_t i = 0; i < name.len; i++)
            mf_buf_u8(out, name.p[i] == '/' ? '\t' : name.p[i]);
        mf_buf_u8(out, '\n');
    }
    if (out->oom || name.oom)
        r = mf_err_nomem(err);
    mf_buf_free(&name);
    mf_buf_free(&disp);
    return r;
}
