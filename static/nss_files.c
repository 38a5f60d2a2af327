/* nss_files.c: user and group look-ups for the static build only (`make static`).
 *
 * glibc's getpwuid() and friends go through NSS, which in a static binary may
 * dlopen() the host's NSS modules, built for another glibc. The static link
 * wraps them (-Wl,--wrap=getpwuid ...) with these, which read /etc/passwd and
 * /etc/group with fgetpwent()/fgetgrent(), glibc's plain file parsers. A name
 * known only to LDAP, SSSD and the like is not found: pack then records no
 * owner name (it is optional in the archive) and unpack --owner takes numbers.
 */
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

struct passwd *__wrap_getpwuid(uid_t uid);
struct passwd *__wrap_getpwnam(const char *name);
struct group *__wrap_getgrgid(gid_t gid);
struct group *__wrap_getgrnam(const char *name);

static struct passwd *find_pw(const char *name, uid_t uid)
{
    FILE *f = fopen("/etc/passwd", "re");
    struct passwd *pw = NULL;
    if (f == NULL)
        return NULL;
    while ((pw = fgetpwent(f)) != NULL)
        if (name != NULL ? strcmp(pw->pw_name, name) == 0 : pw->pw_uid == uid)
            break;
    fclose(f);
    return pw;
}

static struct group *find_gr(const char *name, gid_t gid)
{
    FILE *f = fopen("/etc/group", "re");
    struct group *gr = NULL;
    if (f == NULL)
        return NULL;
    while ((gr = fgetgrent(f)) != NULL)
        if (name != NULL ? strcmp(gr->gr_name, name) == 0 : gr->gr_gid == gid)
            break;
    fclose(f);
    return gr;
}

struct passwd *__wrap_getpwuid(uid_t uid) { return find_pw(NULL, uid); }
struct passwd *__wrap_getpwnam(const char *name) { return find_pw(name, 0); }
struct group *__wrap_getgrgid(gid_t gid) { return find_gr(NULL, gid); }
struct group *__wrap_getgrnam(const char *name) { return find_gr(name, 0); }
