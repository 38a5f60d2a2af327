/* limits.h: every format constant and hard limit of archive format 1, in one
 * place (spec/FORMAT.md, "Limits"). Readers refuse anything beyond these;
 * writers never produce it. */
#ifndef MF_LIMITS_H
#define MF_LIMITS_H

#define MF_FORMAT_VERSION 1
#define MF_TOOL_VERSION "0.1.0"

/* Member names and sizes */
#define MF_MEMBER_FORMAT "FORMAT"
#define MF_MEMBER_MANIFEST "MANIFEST"
#define MF_MEMBER_SIG "MANIFEST.minisig"
#define MF_MEMBER_NAME_MAX 64
#define MF_MEMBERS_MAX 1000000u
#define MF_FORMAT_MAX 4096u                       /* FORMAT member */
#define MF_MANIFEST_MAX (16u * 1024 * 1024)       /* MANIFEST member */
#define MF_SIG_MAX 16384u                         /* MANIFEST.minisig */
#define MF_INDEX_SEGMENT_MAX (16u * 1024 * 1024)  /* raw bytes of one index segment */
#define MF_INDEX_SEGMENT_TARGET (4u * 1024 * 1024)
#define MF_PACK_MAX (1024ull * 1024 * 1024)       /* one pack member */
#define MF_PACK_TARGET (32u * 1024 * 1024)
#define MF_VOLUMES_MAX 100000u
#define MF_VOLUME_SIZE_MIN (8ull * 1024 * 1024)  /* pack --volume-size */

/* Frames and blobs */
#define MF_FRAME_RAW_MAX (4u * 1024 * 1024)
#define MF_FRAME_CSIZE_MAX (MF_FRAME_RAW_MAX + 65536u)
#define MF_FRAME_WINDOWLOG_MAX 22
#define MF_SEGMENT_WINDOWLOG_MAX 24   /* an index segment's frame */
#define MF_FRAMES_PER_PACK_MAX 1000000u
#define MF_FRAMES_MAX 4000000u        /* in one archive: a 256 MB frame table */
#define MF_FRAME_BYTES_MIN 9u         /* the shortest zstd frame: magic, header, one block */
#define MF_BLOB_MAX (1024u * 1024)
#define MF_HEADER_FRAME_TARGET (512u * 1024)
#define MF_BODY_FRAME_TARGET (1024u * 1024)

/* Index records */
#define MF_RECORD_MAX (16u * 1024 * 1024)
#define MF_USERS_MAX 10000000u
#define MF_USER_NAME_MAX 255u
#define MF_PATH_MAX 4096u
#define MF_OWNER_NAME_MAX 255u
#define MF_MAILBOX_COMPONENTS_MAX 64u
#define MF_MAILBOX_COMPONENT_MAX 255u
#define MF_MAILBOX_NAME_MAX 1024u
#define MF_KEYWORDS_MAX 1024u
#define MF_KEYWORD_MAX 255u
#define MF_GUID_STR_MAX 255u
#define MF_UIDL_MAX 255u
#define MF_SOURCE_NAME_MAX 1024u
#define MF_OTHER_FLAGS_MAX 64u
#define MF_REFS_MAX 65536u
#define MF_MESSAGE_MAX (64ull * 1024 * 1024 * 1024)
#define MF_EXTRAS_MAX 10000u
#define MF_EXTRA_MAX (16u * 1024 * 1024)

/* Hashes */
#define MF_HASH_BYTES 32      /* BLAKE2b-256: blob ids, frame and message hashes */
#define MF_DIGEST_BYTES 64    /* BLAKE2b-512: member digests, signature prehash */
#define MF_ARCHIVE_ID_BYTES 16
#define MF_GUID_BYTES 16

#endif
