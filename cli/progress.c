/* progress.c: a one-line progress display on a terminal (items, bytes,
 * rate, ETA), redrawn at most five times a second; silent otherwise. */
#include "cli.h"

#include <time.h>
#include <unistd.h>

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cli_progress_init(struct cli_progress *p, const char *label, int quiet)
{
    p->enabled = !quiet && isatty(STDERR_FILENO);
    p->label = label;
    p->start = p->last = cli_now();
    p->total_bytes = p->total_items = 0;
}

void cli_progress_set_totals(struct cli_progress *p, uint64_t items, uint64_t bytes)
{
    p->total_items = items;
    p->total_bytes = bytes;
}

static void human(char *out, size_t cap, double b)
{
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (b >= 1024 && i < 4) {
        b /= 1024;
        i++;
    }
    snprintf(out, cap, i == 0 ? "%.0f %s" : "%.1f %s", b, u[i]);
}

void cli_progress_update(struct cli_progress *p, uint64_t items, uint64_t bytes, int force)
{
    double now, el, rate;
    char b[32], r[32], eta[32] = "";
    if (!p->enabled)
        return;
    now = cli_now();
    if (!force && now - p->last < 0.2)
        return;
    p->last = now;
    el = now - p->start;
    rate = el > 0 ? (double)bytes / el : 0;
    human(b, sizeof b, (double)bytes);
    human(r, sizeof r, rate);
    if (p->total_bytes > bytes && rate > 0) {
        double left = (double)(p->total_bytes - bytes) / rate;
        snprintf(eta, sizeof eta, ", ETA %dm%02ds", (int)(left / 60), (int)left % 60);
    }
    if (p->total_items > 0)
        fprintf(stderr, "\r%s: %llu/%llu messages, %s, %s/s%s   ", p->label,
                (unsigned long long)items, (unsigned long long)p->total_items, b, r, eta);
    else
        fprintf(stderr, "\r%s: %llu messages, %s, %s/s%s   ", p->label, (unsigned long long)items,
                b, r, eta);
    fflush(stderr);
}

void cli_progress_done(struct cli_progress *p)
{
    if (p->enabled)
        fprintf(stderr, "\n");
}
