/* pool.c: worker threads over a ring of jobs, collected in order. */
#include "pool.h"
#include "mem.h"

#include <pthread.h>
#include <unistd.h>

struct slot {
    mf_job_fn fn;
    void *job;
    int state;  /* 0 queued, 1 running, 2 done */
};

struct mf_pool {
    pthread_mutex_t mu;
    pthread_cond_t work;   /* a job was queued or the pool is stopping */
    pthread_cond_t done;   /* a job finished */
    pthread_t *threads;
    int nthreads;
    struct slot *ring;
    size_t depth;
    size_t head;      /* oldest uncollected */
    size_t count;     /* uncollected jobs */
    size_t next_run;  /* index (from head) of the next queued job to start */
    int stop;
};

static void *worker(void *arg)
{
    struct mf_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->next_run >= p->count)
            pthread_cond_wait(&p->work, &p->mu);
        if (p->next_run >= p->count && p->stop)
            break;
        struct slot *s = &p->ring[(p->head + p->next_run) % p->depth];
        p->next_run++;
        s->state = 1;
        pthread_mutex_unlock(&p->mu);
        s->fn(s->job);
        pthread_mutex_lock(&p->mu);
        s->state = 2;
        pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int mf_pool_create(struct mf_pool **pool_r, int nthreads, size_t depth, struct mf_error *err)
{
    struct mf_pool *p = mf_calloc(1, sizeof *p);
    *pool_r = NULL;
    if (p == NULL)
        return mf_err_nomem(err);
    if (depth == 0)
        depth = 1;
    p->depth = depth;
    p->ring = mf_calloc(depth, sizeof *p->ring);
    p->threads = mf_calloc(nthreads > 0 ? (size_t)nthreads : 1, sizeof *p->threads);
    if (p->ring == NULL || p->threads == NULL) {
        mf_free(p->ring);
        mf_free(p->threads);
        mf_free(p);
        return mf_err_nomem(err);
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    for (int i = 0; i < nthreads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0)
            break;
        p->nthreads++;
    }
    *pool_r = p;
    return 0;
}

int mf_pool_full(const struct mf_pool *p)
{
    return p->count >= p->depth;
}

size_t mf_pool_pending(const struct mf_pool *p)
{
    return p->count;
}

void mf_pool_submit(struct mf_pool *p, mf_job_fn fn, void *job)
{
    struct slot *s;
    if (p->nthreads == 0) {
        s = &p->ring[(p->head + p->count) % p->depth];
        s->fn = fn;
        s->job = job;
        fn(job);
        s->state = 2;
        p->count++;
        p->next_run = p->count;
        return;
    }
    pthread_mutex_lock(&p->mu);
    s = &p->ring[(p->head + p->count) % p->depth];
    s->fn = fn;
    s->job = job;
    s->state = 0;
    p->count++;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
}

void *mf_pool_collect(struct mf_pool *p)
{
    void *job;
    struct slot *s;
    if (p->count == 0)
        return NULL;
    pthread_mutex_lock(&p->mu);
    s = &p->ring[p->head];
    while (s->state != 2)
        pthread_cond_wait(&p->done, &p->mu);
    job = s->job;
    s->job = NULL;
    p->head = (p->head + 1) % p->depth;
    p->count--;
    p->next_run--;
    pthread_mutex_unlock(&p->mu);
    return job;
}

void mf_pool_destroy(struct mf_pool **pp)
{
    struct mf_pool *p = *pp;
    if (p == NULL)
        return;
    *pp = NULL;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    mf_free(p->ring);
    mf_free(p->threads);
    mf_free(p);
}

int mf_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}
