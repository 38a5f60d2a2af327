/* plan.h: what the packer knows about a mailbox before reading any message:
 * its names, identity (GUID, UIDVALIDITY, UIDNEXT), keywords, and every
 * message file with the UID, flags, keywords, GUID and POP3 data Dovecot
 * would report for it. Built by mailbox_plan.c from metadata files and
 * directory listings, so the same logic serves a live tree and a tarball. */
#ifndef MF_PLAN_H
#define MF_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "../format/index_codec.h"
#include "courier.h"
#include "maildir_keywords.h"
#include "maildir_uidlist.h"

struct mf_plan_msg {
    char *name;          /* file name, including ":2," info */
    uint8_t dir;         /* MF_SRC_NEW or MF_SRC_CUR */
    uint32_t uid;
    uint8_t flags;
    char other[64];
    uint32_t *kw;        /* indexes into the mailbox's keyword list, ascending */
    uint32_t nkw;
    char *guid;          /* uidlist G, or NULL (= the base name) */
    char *uidl;          /* POP3 UIDL, or NULL */
    uint32_t pop3_order;
    int64_t size_w;      /* virtual size from ,W= or the uidlist, or -1 */
    int64_t saved;       /* date.save in Dovecot's cache, or -1 (then the ctime) */
    uint8_t packed;      /* its record is in the archive (or, in a delta, in the base) */
    uint8_t uidl_src;    /* enum mf_uidl_src: where its POP3 UIDL comes from */
};

enum mf_uidl_src { MF_UIDL_NONE = 0, MF_UIDL_UIDLIST, MF_UIDL_COURIER, MF_UIDL_COMPUTED };
enum mf_uidv_src { MF_UIDV_UIDLIST = 1, MF_UIDV_INDEX, MF_UIDV_DERIVED };

struct mf_plan_mailbox {
    char *dir;           /* directory relative to the user's Maildir ("" = INBOX) */
    char *stored;        /* stored name recorded in the archive */
    char **comp;         /* decoded name components (UTF-8) */
    uint32_t ncomp;
    uint8_t encoding;    /* enum mf_name_encoding */
    uint8_t layout;      /* enum mf_layout */
    int inbox, subscribed, courier;
    int skipped;         /* left out (its cur/ or new/ is unusable) */
    uint8_t guid[16];
    int guid_derived;
    uint32_t uidvalidity, uidnext;
    uint8_t uidv_src;    /* enum mf_uidv_src */
    char **kw;
    uint32_t nkw, kw_cap;
    int letter_map[MF_MAILDIR_LETTERS];  /* kw index of each file name letter, or -1 */
    uint32_t courier_kw_first, courier_kw_n;  /* Courier's keyword names in kw */
    struct mf_plan_msg *msgs;
    size_t nmsgs;
};

/* Inputs for planning a mailbox's messages. */
struct mf_mailbox_src {
    const char *user;
    char **new_names;
    size_t nnew;
    char **cur_names;
    size_t ncur;
    const char *uidlist;          /* dovecot-uidlist bytes, or NULL */
    size_t uidlist_len;
    const char *courier_uiddb;    /* courierimapuiddb bytes, or NULL */
    size_t courier_uiddb_len;
    const char *keywords;         /* dovecot-keywords bytes, or NULL */
    size_t keywords_len;
    struct mf_courier_keywords *ckw;  /* Courier keywords, or NULL */
    const struct mf_courier_pop3 *pop3;
    size_t npop3;
    const char *pop3_format;      /* --pop3-uidl-format, or NULL */
    const char *where;            /* for warnings: "user/mailbox" */
    uint32_t index_uidvalidity;   /* Dovecot's index of the folder, or 0 */
    uint32_t index_next_uid;
};

/* Fills mb's identity and messages (mb's names must be set already). */
int mf_plan_mailbox(struct mf_plan_mailbox *mb, const struct mf_mailbox_src *src,
                    mf_warn_fn warn, void *ctx, struct mf_error *err);
void mf_plan_mailbox_free(struct mf_plan_mailbox *mb);
/* Sets m's flags, other flags and file-name keywords from its current name
 * (a letter dovecot-keywords does not define becomes "unknown-N", as in
 * Dovecot); keywords from Courier's files already in m->kw are kept. */
int mf_plan_msg_from_name(struct mf_plan_mailbox *mb, struct mf_plan_msg *m,
                          struct mf_error *err) MF_WUR;
/* The GUID Dovecot reports for a message: the uidlist's G, else the base
 * file name (at most MF_GUID_STR_MAX bytes). */
struct mf_str mf_plan_msg_guid(const struct mf_plan_msg *m);
/* Derived values for a mailbox without a Dovecot uidlist header. */
void mf_derive_guid(const char *user, const char *stored, uint32_t uidvalidity, uint8_t out[16]);
uint32_t mf_derive_uidvalidity(const char *user, const char *stored);

#endif
