/* archive_files.h: which files named on a command line make up which
 * archive. An archive is one file or its volumes (spec 15.2): volumes of one
 * archive given one after the other form one group, and a NAME that does
 * not exist stands for NAME.001, NAME.002, ... when those do. */
#ifndef MF_ARCHIVE_FILES_H
#define MF_ARCHIVE_FILES_H

#include <stddef.h>

#include "error.h"

struct mf_archive_files {
    char **paths;   /* in order */
    size_t n;
    char *label;    /* how messages name the archive */
};

int mf_archive_files_group(char *const *args, size_t nargs, struct mf_archive_files **out,
                           size_t *nout, struct mf_error *err) MF_WUR;
void mf_archive_files_free(struct mf_archive_files *a, size_t n);

#endif
