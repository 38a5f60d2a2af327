/* keygen_cmd.c: `mailferry keygen`: a minisign-compatible Ed25519 key pair. */
#include "cli.h"

#include <getopt.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void help(void)
{
    printf("Usage: mailferry keygen -p PUB -s SEC [-W] [-f]\n\n"
           "Creates an Ed25519 signing key pair in minisign's formats. The secret key\n"
           "signs archives at pack time; the public key is what unpack and verify trust.\n\n"
           "  -p, --public FILE   public key file to create\n"
           "  -s, --secret FILE   secret key file to create (mode 0600)\n"
           "  -W, --no-password   do not protect the secret key with a password\n"
           "  -f, --force         replace existing key files\n"
           "  -h, --help          this help\n\n"
           "The password is read from the terminal, or from the file named by\n"
           "MAILFERRY_PASSWORD_FILE. Keys made by 'minisign -G' work as well.\n");
}

int cmd_keygen(int argc, char **argv)
{
    static const struct option opts[] = {{"public", required_argument, 0, 'p'},
                                         {"secret", required_argument, 0, 's'},
                                         {"no-password", no_argument, 0, 'W'},
                                         {"force", no_argument, 0, 'f'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *pub = NULL, *sec = NULL;
    int nopass = 0, force = 0, c;
    struct mf_error err;
    char *pw = NULL;
    int r;
    mf_err_clear(&err);
    optind = 1;
    while ((c = getopt_long(argc, argv, "p:s:Wfh", opts, NULL)) != -1) {
        switch (c) {
        case 'p': pub = optarg; break;
        case 's': sec = optarg; break;
        case 'W': nopass = 1; break;
        case 'f': force = 1; break;
        case 'h': help(); return 0;
        default: return cli_usage("keygen", "unknown option");
        }
    }
    if (pub == NULL || sec == NULL || optind != argc)
        return cli_usage("keygen", "mailferry keygen -p PUB -s SEC [-W]");
    if (mf_crypto_init(&err) < 0)
        return cli_fail("keygen", &err);
    if (!force) {
        struct stat st;
        if (lstat(pub, &st) == 0 || lstat(sec, &st) == 0) {
            mf_err(&err, MF_EUSAGE, "%s or %s exists already (use -f to replace)", pub, sec);
            return cli_fail("keygen", &err);
        }
    } else {
        unlink(pub);
        unlink(sec);
    }
    if (!nopass) {
        char *again = sodium_malloc(1025);
        pw = sodium_malloc(1025);
        if (pw == NULL || again == NULL) {
            mf_err_nomem(&err);
            return cli_fail("keygen", &err);
        }
        if (cli_password("Password for the new secret key: ", pw, 1025, NULL) < 0 ||
            (getenv("MAILFERRY_PASSWORD_FILE") == NULL &&
             cli_password("Password (again): ", again, 1025, NULL) < 0)) {
            sodium_free(again);
            sodium_free(pw);
            mf_err(&err, MF_EUSAGE, "cannot read a password");
            return cli_fail("keygen", &err);
        }
        if (getenv("MAILFERRY_PASSWORD_FILE") == NULL && strcmp(pw, again) != 0) {
            sodium_free(again);
            sodium_free(pw);
            mf_err(&err, MF_EUSAGE, "the passwords do not match");
            return cli_fail("keygen", &err);
        }
        sodium_free(again);
        if (pw[0] == '\0') {
            sodium_free(pw);
            mf_err(&err, MF_EUSAGE, "empty password (use -W for a key without one)");
            return cli_fail("keygen", &err);
        }
    }
    r = mf_keygen(pub, sec, pw, &err);
    if (pw != NULL)
        sodium_free(pw);
    if (r < 0)
        return cli_fail("keygen", &err);
    {
        struct mf_pubkey pk;
        char id[17];
        if (mf_pubkey_load(pub, &pk, &err) < 0)
            return cli_fail("keygen", &err);
        mf_keyid_str(id, pk.keyid);
        printf("key %s: public key %s, secret key %s\n", id, pub, sec);
    }
    return 0;
}
