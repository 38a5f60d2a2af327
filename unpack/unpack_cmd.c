/* unpack_cmd.c: `mailferry unpack` (placeholder until the unpacker lands). */
#include "../cli/cli.h"

int cmd_unpack(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_usage("unpack", "not available yet");
}
