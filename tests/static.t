#!/bin/sh
# static.t: `make static` links a fully static build-static/mailferry, and that
# binary works in an empty chroot that holds nothing but itself, a small Maildir
# (the Dovecot sample), tarballs of it and a key: pack (from the Maildir and,
# through libarchive's gzip, bzip2, xz and zstd readers, from tarballs) and
# unpack. The normal build verifies what it packed and unpacks the same archive
# byte for byte the same. Outside the chroot, owner names come from /etc/passwd
# and /etc/group (static/nss_files.c, no NSS).
. "$(dirname "$0")/lib.sh"

[ "${MF_SAN:-}" = 1 ] && skip_all "the static build is not sanitized; it is tested in the normal run"
command -v "${CC:-cc}" >/dev/null 2>&1 || skip_all "no C compiler"

# The static libraries that `make static` links (Makefile, block "static").
STATIC_PKGS="libc6-dev libarchive-dev libzstd-dev liblzma-dev libbz2-dev zlib1g-dev libsodium-dev"
missing_libs() {
    m=""
    for l in c archive zstd lzma bz2 z sodium; do
        f=$("${CC:-cc}" -print-file-name="lib$l.a")
        [ -f "$f" ] || m="$m lib$l.a"
    done
    echo "$m"
}
missing=$(missing_libs)
if [ -n "$missing" ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    diag "installing $STATIC_PKGS for$missing"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $STATIC_PKGS \
        >/dev/null 2>&1 || true
    missing=$(missing_libs)
fi
[ -z "$missing" ] || skip_all "static libraries missing:$missing (apt-get install $STATIC_PKGS)"

# make static, relinked so that the linker's warnings show. The objects are the
# ones of the build under test (MF_BUILD); the parent make's flags stay out.
SBIN="$MF_SRC/build-static/mailferry"
rm -f "$SBIN"
run env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$MF_SRC" BUILD="${MF_BUILD:-build}" static
ok $RC "make static"
[ $RC -eq 0 ] || diag "$OUT"
if printf '%s\n' "$OUT" | grep -q 'warning:'; then
    ok 1 "the static link warns about nothing (NSS look-ups are wrapped)"
    printf '%s\n' "$OUT" | grep 'warning:' | sed 's/^/# /'
else
    ok 0 "the static link warns about nothing (NSS look-ups are wrapped)"
fi
[ -x "$SBIN" ] || { diag "no $SBIN"; done_testing; exit 1; }

run file -b "$SBIN"
like "$OUT" '^ELF 64-bit .*x86-64.*statically linked' "file: a static x86-64 executable"
run ldd "$SBIN"
like "$OUT" 'not a dynamic executable|statically linked' "ldd: not dynamic"
run readelf -lW "$SBIN"
if printf '%s\n' "$OUT" | grep -Eq 'INTERP|DYNAMIC'; then
    ok 1 "no program interpreter, no dynamic section"
else
    ok 0 "no program interpreter, no dynamic section"
fi
diag "build-static/mailferry: $(wc -c < "$SBIN") bytes"

# Outside the chroot: owner names through /etc/passwd and /etc/group.
M="$WORK/mail"
cp -a "$MF_SRC/tests/data/samples/maildir-dovecot" "$M"
(cd "$MF_SRC/tests/data/samples" && grep '^\./maildir-dovecot/' DIRS.txt | cut -c19-) |
    while IFS= read -r d; do mkdir -p "$M/$d"; done
run "$MAILFERRY" keygen -W -p "$WORK/k.pub" -s "$WORK/k.key"
ok $RC "keygen (normal build)"
run "$SBIN" pack -q -s "$WORK/k.key" -o "$WORK/host.mfa" "u@example.org=$M/Maildir"
ok $RC "static pack on the host"
want=$(awk -F: -v u="$(stat -c %u "$M/Maildir")" '$3 == u { print $1; exit }' /etc/passwd)
run "$MAILFERRY" ls --json "$WORK/host.mfa"
if [ -n "$want" ]; then
    like "$OUT" "\"owner\":\"$want\"" "static pack records the owner name from /etc/passwd ($want)"
else
    skip "the Maildir's owner is not in /etc/passwd"
fi

if [ "$(id -u)" -ne 0 ]; then
    for t in "pack in an empty chroot" "verify" "pack --from-tar in the chroot" \
             "unpack in the chroot" "same store as the normal build"; do
        skip "$t: not root"
    done
    done_testing
    exit
fi

# The empty chroot: the binary, the Maildir, tarballs of it, the keys.
R="$WORK/root"
mkdir -p "$R"
cp "$SBIN" "$R/mailferry"
cp -a "$M" "$R/mail"
cp "$WORK/k.key" "$WORK/k.pub" "$R/"
tar --format=pax -C "$R" -cf "$R/mail.tar" mail
comps=""
for c in gz:gzip bz2:bzip2 xz:xz zst:zstd; do
    ext=${c%%:*} prog=${c#*:}
    if command -v "$prog" >/dev/null 2>&1; then
        "$prog" -c < "$R/mail.tar" > "$R/mail.tar.$ext" && comps="$comps $ext"
    else
        diag "no $prog: pack --from-tar .tar.$ext not tested"
    fi
done
rm -f "$R/mail.tar"
inroot() { env -i TMPDIR=/ /usr/sbin/chroot "$R" /mailferry "$@"; }

run inroot pack -s /k.key -o /full.mfa u@example.org=/mail/Maildir
ok $RC "static pack in an empty chroot"
[ $RC -eq 0 ] || diag "$OUT"
run "$MAILFERRY" verify -p "$WORK/k.pub" "$R/full.mfa"
ok $RC "the normal build verifies the archive"
[ $RC -eq 0 ] || diag "$OUT"
run "$MAILFERRY" diff "$WORK/host.mfa" "$R/full.mfa"
is "$RC:$OUT" "0:no changes" "same content as packed on the host"

for ext in $comps; do
    run inroot pack -q -s /k.key -o "/tar-$ext.mfa" --from-tar "/mail.tar.$ext" u@example.org=mail/Maildir
    ok $RC "static pack --from-tar .tar.$ext in the chroot"
    [ $RC -eq 0 ] || diag "$OUT"
    run "$MAILFERRY" verify -q -p "$WORK/k.pub" "$R/tar-$ext.mfa"
    ok $RC "the normal build verifies the .tar.$ext archive"
done

mkdir "$R/vmail"
run inroot unpack -q -p /k.pub --to '/vmail/%d/%n/sdbox' --owner 5000:5000 /full.mfa
ok $RC "static unpack in the chroot (numeric owner, no /etc/passwd)"
[ $RC -eq 0 ] || diag "$OUT"
mkdir "$WORK/vmail"
run "$MAILFERRY" unpack -q -p "$WORK/k.pub" --to "$WORK/vmail/%d/%n/sdbox" --owner 5000:5000 "$R/full.mfa"
ok $RC "normal unpack of the same archive"
# The same files, owners, modes and sizes (contents carry the time of writing).
listing() { (cd "$1" && find . -printf '%P %U:%G %m %s\n' | sort); }
is "$(listing "$R/vmail")" "$(listing "$WORK/vmail")" "the static and the normal build write the same store"
done_testing
