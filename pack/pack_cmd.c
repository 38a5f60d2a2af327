/* pack_cmd.c: `mailferry pack` (placeholder until the packer lands). */
#include "../cli/cli.h"

int cmd_pack(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_usage("pack", "not available yet");
}
