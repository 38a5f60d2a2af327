/* manifest.h: the MANIFEST member, a strict line-oriented text that names
 * every other member with its size and BLAKE2b-512 digest, and says what the
 * archive is (spec/FORMAT.md, "MANIFEST"). It is the only signed document. */
#ifndef MF_MANIFEST_H
#define MF_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "encrypt.h"
#include "error.h"
#include "limits.h"

enum mf_kind { MF_KIND_FULL = 1, MF_KIND_DELTA = 2 };

struct mf_member_info {
    char name[MF_MEMBER_NAME_MAX + 1];
    uint64_t size;
    uint8_t digest[MF_DIGEST_BYTES];
};

struct mf_recipient {
    uint8_t keyid[MF_KEYID_BYTES];
    uint8_t wrapped[MF_WRAPPED_KEY_BYTES];  /* the file key sealed to that key */
};

/* One volume of a split archive: members first .. first + count - 1
 * (0-based indexes into members; FORMAT, index 0, is in every volume). */
struct mf_volume_info {
    size_t first, count;
};

struct mf_manifest {
    uint8_t archive_id[MF_ARCHIVE_ID_BYTES];
    enum mf_kind kind;
    int64_t created;
    char host[256];
    char tool[256];
    uint64_t chain;  /* 0 for a full archive, base chain + 1 for a delta */
    uint8_t base_id[MF_ARCHIVE_ID_BYTES];          /* delta only */
    uint8_t base_manifest[MF_HASH_BYTES];          /* delta only: BLAKE2b-256 of base MANIFEST */
    size_t nindex;   /* index segments: index/000001 .. */
    size_t npacks;   /* packs/000001 .. */
    int encrypted;   /* spec 15.1 */
    size_t nrecipients;
    struct mf_recipient recipients[MF_RECIPIENTS_MAX];
    size_t nvolumes;  /* 0: one file; otherwise 2 .. MF_VOLUMES_MAX (spec 15.2) */
    struct mf_volume_info *volumes;
    size_t nmembers;
    struct mf_member_info *members;  /* FORMAT, index segments, packs, in archive order */
};

void mf_manifest_init(struct mf_manifest *m);
void mf_manifest_clear(struct mf_manifest *m);
int mf_manifest_encode(const struct mf_manifest *m, struct mf_buf *out, struct mf_error *err) MF_WUR;
int mf_manifest_parse(const uint8_t *text, size_t len, struct mf_manifest *m,
                      struct mf_error *err) MF_WUR;
/* The trusted comment a signature of this manifest carries. */
void mf_manifest_trusted_comment(const struct mf_manifest *m, char *out, size_t cap);
/* Name of index segment or pack number n (1-based), e.g. "index/000001". */
void mf_member_name(char out[MF_MEMBER_NAME_MAX + 1], const char *dir, size_t n);
const char *mf_kind_name(enum mf_kind k);
/* The volume (1-based) holding member index i, or 0 when not split. */
size_t mf_manifest_volume_of(const struct mf_manifest *m, size_t i);

#endif
