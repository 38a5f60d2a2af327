/* container.h: the outer POSIX pax tar, written and read through libarchive
 * (tar format only, no filters). The writer streams to a descriptor, so `-o -`
 * works. The reader streams from a descriptor and reports, for every member,
 * where its data lies in the input, so later reads can be random-access:
 * directly when the input is a regular file, through a spool copy otherwise. */
#ifndef MF_CONTAINER_H
#define MF_CONTAINER_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct mf_tar_writer;
int mf_tarw_open(struct mf_tar_writer **w_r, int fd, int64_t mtime, struct mf_error *err) MF_WUR;
int mf_tarw_member(struct mf_tar_writer *w, const char *name, uint64_t size,
                   struct mf_error *err) MF_WUR;
int mf_tarw_data(struct mf_tar_writer *w, const void *p, size_t n, struct mf_error *err) MF_WUR;
/* Writes the end-of-archive marker and flushes. */
int mf_tarw_close(struct mf_tar_writer *w, struct mf_error *err) MF_WUR;
/* Frees; NULL is a no-op. */
void mf_tarw_free(struct mf_tar_writer **w);
/* Bytes written to the descriptor so far. */
uint64_t mf_tarw_bytes(const struct mf_tar_writer *w);

struct mf_tar_reader;
/* Reads the tar from fd. If `spool_fd` >= 0, every byte read is also copied
 * there, so offsets reported refer to the spool; otherwise fd must be a
 * regular file and offsets refer to it. */
int mf_tarr_open(struct mf_tar_reader **r_r, int fd, int spool_fd, struct mf_error *err) MF_WUR;
/* Advances to the next member: 1 and its name and size, 0 at the end of the
 * archive. Members that are not regular files are MF_ECORRUPT. */
int mf_tarr_next(struct mf_tar_reader *r, char *name, size_t namecap, uint64_t *size_r,
                 struct mf_error *err) MF_WUR;
/* Reads the next block of the current member's data: 1 with a borrowed
 * pointer and length, 0 at the member's end. */
int mf_tarr_data(struct mf_tar_reader *r, const void **p_r, size_t *n_r,
                 struct mf_error *err) MF_WUR;
/* Offset of the current member's data in the input (or spool), or -1 when it
 * is not contiguous there (then the caller keeps its own copy). Valid after
 * all of the member's data was read. */
int64_t mf_tarr_data_offset(const struct mf_tar_reader *r);
/* After mf_tarr_next returned 0: checks that the end-of-archive marker is
 * present and that only zero padding follows. */
int mf_tarr_finish(struct mf_tar_reader *r, struct mf_error *err) MF_WUR;
uint64_t mf_tarr_bytes(const struct mf_tar_reader *r);
void mf_tarr_free(struct mf_tar_reader **r);

#endif
