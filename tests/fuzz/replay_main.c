/* replay_main.c: a stand-in for libFuzzer's driver, so that every fuzz target
 * also builds with the project's own compiler: runs LLVMFuzzerTestOneInput
 * once on each file named on the command line (a directory stands for the
 * files in it, in name order). Used by tests/fuzz_smoke.t to replay the
 * corpora, and to reproduce a crash without clang. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long replayed;

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    if (f == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (;;) {
        size_t k;
        if (len == cap) {
            uint8_t *nb;
            cap = cap ? cap * 2 : 65536;
            nb = realloc(buf, cap);
            if (nb == NULL) {
                fprintf(stderr, "replay: out of memory\n");
                free(buf);
                fclose(f);
                return -1;
            }
            buf = nb;
        }
        k = fread(buf + len, 1, cap - len, f);
        len += k;
        if (k == 0)
            break;
    }
    if (ferror(f)) {
        fprintf(stderr, "replay: %s: read error\n", path);
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    /* An exact-size copy, so that reads past the end are caught by ASan. */
    {
        uint8_t *exact = malloc(len ? len : 1);
        if (exact == NULL) {
            free(buf);
            return -1;
        }
        if (len > 0)
            memcpy(exact, buf, len);
        free(buf);
        (void)LLVMFuzzerTestOneInput(exact, len);
        free(exact);
    }
    replayed++;
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int replay_path(const char *path)
{
    struct stat st;
    struct dirent **ents;
    int n, rc = 0;
    if (stat(path, &st) < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return replay_file(path);
    n = scandir(path, &ents, NULL, by_name);
    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (ents[i]->d_name[0] != '.') {
            size_t need = strlen(path) + strlen(ents[i]->d_name) + 2;
            char *sub = malloc(need);
            if (sub == NULL) {
                rc = -1;
            } else {
                snprintf(sub, need, "%s/%s", path, ents[i]->d_name);
                if (stat(sub, &st) == 0 && S_ISREG(st.st_mode) && replay_file(sub) < 0)
                    rc = -1;
                free(sub);
            }
        }
        free(ents[i]);
    }
    free(ents);
    return rc;
}

int main(int argc, char **argv)
{
    int rc = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE-OR-DIR...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++)
        if (replay_path(argv[i]) < 0)
            rc = 1;
    printf("replayed %lu inputs\n", replayed);
    return rc;
}
