/* main.c: the dispatcher: `mailferry <command> [options]`. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#include "../format/limits.h"
#include "../format/mem.h"

struct command {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
};

static const struct command commands[] = {
    {"keygen", cmd_keygen, "create a signing key pair (minisign format)"},
    {"pack", cmd_pack, "snapshot Maildir users into a signed archive"},
    {"unpack", cmd_unpack, "validate an archive and write Dovecot sdbox or mdbox stores"},
    {"verify", cmd_verify, "check archives completely, writing nothing"},
    {"ls", cmd_ls, "list users, mailboxes and messages of an archive"},
    {"diff", cmd_diff, "what changed between two archives of a chain"},
};

static void usage(FILE *f)
{
    fprintf(f, "Usage: mailferry <command> [options]\n\n"
               "Moves Maildir mail users to Dovecot dbox through signed, compressed,\n"
               "deduplicated archives.\n\nCommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nRun 'mailferry <command> --help' for the options of a command.\n"
               "Exit codes: 0 ok, 1 finished with skipped items or differences, 2 usage,\n"
               "3 I/O, 4 corrupt archive, 5 signature, 6 delta chain, 7 target refused.\n");
}

int main(int argc, char **argv)
{
    const char *fail = getenv("MF_FAIL_ALLOC");
    if (fail != NULL)
        mf_mem_fail_after(strtoul(fail, NULL, 10));
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("mailferry %s (archive format %d)\n", MF_TOOL_VERSION, MF_FORMAT_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "mailferry: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
