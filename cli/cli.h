/* cli.h: what every subcommand shares: error reporting with exit codes,
 * key loading, password prompts, a progress line for terminals, and a small
 * streaming JSON writer. Nothing here knows Maildir or dbox. */
#ifndef MF_CLI_H
#define MF_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "../format/error.h"
#include "../format/sign.h"

/* Prints "mailferry <cmd>: <class>: <message>" to stderr, returns the exit code. */
int cli_fail(const char *cmd, const struct mf_error *err);
/* Usage error: prints the message and a hint to --help, returns 2. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Password callback for mf_seckey_load: MAILFERRY_PASSWORD_FILE, else the
 * terminal (echo off), else the first line of standard input. */
int cli_password(const char *prompt, char *buf, size_t cap, void *ctx);

/* Loads one or more public keys (files, or directories of *.pub files). */
int cli_load_pubkeys(char **paths, size_t npaths, struct mf_pubkey **keys_r, size_t *n_r,
                     struct mf_error *err);

/* Loads the secret keys given with -k (to read encrypted archives); none
 * gives NULL. */
int cli_load_seckeys(char **paths, size_t n, struct mf_seckey ***keys_r, struct mf_error *err);
void cli_free_seckeys(struct mf_seckey **keys, size_t n);

/* Parses sizes like 512k, 64M, 4G. */
int cli_parse_size(const char *s, uint64_t *out);

/* Progress line on stderr, only when it is a terminal and not quiet. */
struct cli_progress {
    int enabled;
    const char *label;
    double start, last;
    uint64_t total_bytes, total_items;
};
void cli_progress_init(struct cli_progress *p, const char *label, int quiet);
void cli_progress_set_totals(struct cli_progress *p, uint64_t items, uint64_t bytes);
void cli_progress_update(struct cli_progress *p, uint64_t items, uint64_t bytes, int force);
void cli_progress_done(struct cli_progress *p);
double cli_now(void);

/* JSON output. */
struct cli_json {
    FILE *f;
    int need_comma[64];
    int depth;
};
void json_init(struct cli_json *j, FILE *f);
void json_obj(struct cli_json *j, const char *key);   /* key NULL inside arrays / at top */
void json_arr(struct cli_json *j, const char *key);
void json_end_obj(struct cli_json *j);
void json_end_arr(struct cli_json *j);
void json_str(struct cli_json *j, const char *key, const char *s);
void json_strn(struct cli_json *j, const char *key, const char *s, size_t n);
void json_u64(struct cli_json *j, const char *key, uint64_t v);
void json_i64(struct cli_json *j, const char *key, int64_t v);
void json_bool(struct cli_json *j, const char *key, int v);
void json_null(struct cli_json *j, const char *key);
void json_hex(struct cli_json *j, const char *key, const uint8_t *p, size_t n);
void json_finish(struct cli_json *j);

/* Subcommands. */
int cmd_keygen(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_pack(int argc, char **argv);
int cmd_unpack(int argc, char **argv);
int cmd_diff(int argc, char **argv);

#endif
