/* cli_common.c: error printing, password prompts, key loading, sizes. */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "../format/fsutil.h"
#include "../format/mem.h"

int cli_fail(const char *cmd, const struct mf_error *err)
{
    fprintf(stderr, "mailferry %s: %s: %s\n", cmd, mf_class_name(err->cls), err->msg);
    return mf_class_exit(err->cls);
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "mailferry %s: usage: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'mailferry %s --help'.\n", cmd);
    return 2;
}

static int read_line_fd(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        char c;
        ssize_t k = read(fd, &c, 1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0 || c == '\n')
            break;
        if (n + 1 < cap)
            buf[n++] = c;
    }
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    return 0;
}

int cli_password(const char *prompt, char *buf, size_t cap, void *ctx)
{
    const char *file = getenv("MAILFERRY_PASSWORD_FILE");
    int fd;
    (void)ctx;
    if (file != NULL && file[0] != '\0') {
        fd = open(file, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return -1;
        read_line_fd(fd, buf, cap);
        close(fd);
        return 0;
    }
    fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
        struct termios old, quiet;
        int have = tcgetattr(fd, &old) == 0;
        if (write(fd, prompt, strlen(prompt)) < 0) {
            close(fd);
            return -1;
        }
        if (have) {
            quiet = old;
            quiet.c_lflag &= ~(tcflag_t)ECHO;
            tcsetattr(fd, TCSAFLUSH, &quiet);
        }
        read_line_fd(fd, buf, cap);
        if (have)
            tcsetattr(fd, TCSAFLUSH, &old);
        if (write(fd, "\n", 1) < 0) {
            /* the prompt is cosmetic */
        }
        close(fd);
        return 0;
    }
    read_line_fd(STDIN_FILENO, buf, cap);
    return 0;
}

static int add_key(const char *path, struct mf_pubkey **keys, size_t *n, size_t *cap,
                   struct mf_error *err)
{
    if (*n == *cap) {
        size_t nc = *cap == 0 ? 4 : *cap * 2;
        struct mf_pubkey *nk = mf_realloc(*keys, nc * sizeof *nk);
        if (nk == NULL)
            return mf_err_nomem(err);
        *keys = nk;
        *cap = nc;
    }
    if (mf_pubkey_load(path, &(*keys)[*n], err) < 0)
        return -1;
    (*n)++;
    return 0;
}

int cli_load_pubkeys(char **paths, size_t npaths, struct mf_pubkey **keys_r, size_t *n_r,
                     struct mf_error *err)
{
    struct mf_pubkey *keys = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < npaths; i++) {
        struct stat st;
        if (stat(paths[i], &st) < 0) {
            mf_free(keys);
            return mf_err_sys(err, MF_EUSAGE, errno, "public key %s", paths[i]);
        }
        if (S_ISDIR(st.st_mode)) {
            DIR *d = opendir(paths[i]);
            struct dirent *de;
            if (d == NULL) {
                mf_free(keys);
                return mf_err_sys(err, MF_EIO, errno, "%s", paths[i]);
            }
            while ((de = readdir(d)) != NULL) {
                size_t l = strlen(de->d_name);
                char full[4096];
                if (l < 5 || strcmp(de->d_name + l - 4, ".pub") != 0)
                    continue;
                snprintf(full, sizeof full, "%s/%s", paths[i], de->d_name);
                if (add_key(full, &keys, &n, &cap, err) < 0) {
                    closedir(d);
                    mf_free(keys);
                    return -1;
                }
            }
            closedir(d);
        } else if (add_key(paths[i], &keys, &n, &cap, err) < 0) {
            mf_free(keys);
            return -1;
        }
    }
    if (n == 0 && npaths > 0) {
        mf_free(keys);
        return mf_err(err, MF_EUSAGE, "no public key found in %s", paths[0]);
    }
    *keys_r = keys;
    *n_r = n;
    return 0;
}

int cli_load_seckeys(char **paths, size_t n, struct mf_seckey ***keys_r, struct mf_error *err)
{
    struct mf_seckey **keys;
    *keys_r = NULL;
    if (n == 0)
        return 0;
    if ((keys = mf_calloc(n, sizeof *keys)) == NULL)
        return mf_err_nomem(err);
    for (size_t i = 0; i < n; i++)
        if (mf_seckey_load(paths[i], cli_password, NULL, &keys[i], err) < 0) {
            cli_free_seckeys(keys, n);
            return -1;
        }
    *keys_r = keys;
    return 0;
}

void cli_free_seckeys(struct mf_seckey **keys, size_t n)
{
    for (size_t i = 0; keys != NULL && i < n; i++)
        mf_seckey_free(&keys[i]);
    mf_free(keys);
}

int cli_parse_size(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    uint64_t mul = 1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s)
        return -1;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': mul = 1024; end++; break;
    case 'm': case 'M': mul = 1024 * 1024; end++; break;
    case 'g': case 'G': mul = 1024ull * 1024 * 1024; end++; break;
    case 't': case 'T': mul = 1024ull * 1024 * 1024 * 1024; end++; break;
    default: return -1;
    }
    if (*end == 'i' || *end == 'B')
        end++;
    if (*end == 'B')
        end++;
    if (*end != '\0' || (mul > 1 && v > UINT64_MAX / mul))
        return -1;
    *out = v * mul;
    return 0;
}
