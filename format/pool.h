/* pool.h: a fixed set of worker threads running jobs whose results are
 * collected in submission order, so output stays deterministic whatever the
 * thread count. With 0 threads, jobs run inline at submission. */
#ifndef MF_POOL_H
#define MF_POOL_H

#include <stddef.h>

#include "error.h"

struct mf_pool;
typedef void (*mf_job_fn)(void *job);

/* nthreads workers, at most `depth` jobs submitted and not yet collected. */
int mf_pool_create(struct mf_pool **pool_r, int nthreads, size_t depth,
                   struct mf_error *err) MF_WUR;
/* Queues a job. The caller must collect (mf_pool_collect) before submitting
 * when mf_pool_full() says so. */
void mf_pool_submit(struct mf_pool *pool, mf_job_fn fn, void *job);
int mf_pool_full(const struct mf_pool *pool);
size_t mf_pool_pending(const struct mf_pool *pool);
/* Waits for the oldest submitted job to finish and returns it (NULL if none). */
void *mf_pool_collect(struct mf_pool *pool);
/* Joins the workers; uncollected jobs are finished first. NULL is a no-op. */
void mf_pool_destroy(struct mf_pool **pool);
/* Number of online processors (at least 1). */
int mf_cpu_count(void);

#endif
