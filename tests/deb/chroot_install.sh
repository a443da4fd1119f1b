#!/bin/sh
# chroot_install.sh DEBDIR - install the packages `make deb` built into a fresh Debian 12
# (debootstrap minbase; cached in $FRESH_BASE, default /tmp/paramd-fresh-base) and check what
# an administrator gets: the paramd system user, units that `systemd-analyze verify` accepts,
# programs that run, man pages, and a client program built with the -dev package.
# Needs root, debootstrap and a Debian mirror. Run by `make check-deb`.
set -u
debdir=$(cd "${1:?usage: chroot_install.sh DEBDIR}" && pwd)
base=${FRESH_BASE:-${TMPDIR:-/tmp}/paramd-fresh-base}
fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "SKIP: installing into a chroot needs root"; exit 77; }
if [ ! -x "$base/bin/bash" ]; then
    command -v debootstrap >/dev/null 2>&1 || { echo "SKIP: debootstrap is not installed"; exit 77; }
    echo "creating the base system in $base (once)"
    debootstrap --variant=minbase bookworm "$base" http://deb.debian.org/debian >/dev/null 2>&1 ||
        { rm -rf "$base"; echo "SKIP: debootstrap failed (no Debian mirror?)"; exit 77; }
fi
root=$(mktemp -d)
cleanup() {
    for m in dev/pts dev proc; do umount "$root/$m" 2>/dev/null; done
    rm -rf "$root"
}
trap cleanup EXIT
cp -a "$base/." "$root/" || fail "cannot copy the base system"
cp /etc/resolv.conf "$root/etc/" 2>/dev/null
mount -t proc proc "$root/proc" && mount --bind /dev "$root/dev" && mount --bind /dev/pts "$root/dev/pts" ||
    fail "mount failed"
mkdir -p "$root/tmp/debs" && cp "$debdir"/*.deb "$root/tmp/debs/"
in_root() { chroot "$root" /bin/sh -c "$1"; }

in_root 'apt-get update -qq' >/dev/null 2>&1 || { echo "SKIP: apt-get update failed (no Debian mirror?)"; exit 77; }
in_root 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    /tmp/debs/paramd_*.deb /tmp/debs/libparamd-client1_*.deb /tmp/debs/libparamd-client-dev_*.deb \
    /tmp/debs/python3-paramd_*.deb man-db gcc libc6-dev pkg-config' >"$root/../install.log.$$" 2>&1 ||
    { tail -20 "$root/../install.log.$$"; rm -f "$root/../install.log.$$"; fail "apt-get install of the packages failed"; }
rm -f "$root/../install.log.$$"
echo "installed: $(in_root "dpkg-query -W -f='\${Package} \${Version}\n' paramd libparamd-client1 libparamd-client-dev python3-paramd" | tr '\n' ' ')"

user=$(in_root 'getent passwd paramd') || fail "no paramd user after installing"
case $user in *:/usr/sbin/nologin | *:/sbin/nologin | *:/bin/false) ;; *) fail "the paramd user can log in: $user" ;; esac
in_root 'getent group paramd' >/dev/null || fail "no paramd group"
echo "user: $user"

in_root 'cp /lib/systemd/system/paramd-worker@.service /tmp/paramd-worker@pc1.service &&
    systemd-analyze verify /lib/systemd/system/paramd.service /tmp/paramd-worker@pc1.service' \
    >"$root/tmp/verify.log" 2>&1
[ -s "$root/tmp/verify.log" ] && { cat "$root/tmp/verify.log"; fail "systemd-analyze verify is not clean"; }
in_root 'systemctl is-enabled paramd.service' 2>/dev/null | grep -q enabled &&
    fail "paramd.service was enabled without a configuration"
echo "units: systemd-analyze verify clean, paramd.service installed but not enabled"

in_root '/usr/sbin/paramd --version && paramd-worker --version && paramctl --help >/dev/null &&
    paramd-sim --version' >/dev/null || fail "an installed program does not run"
for page in paramd.8 paramd-worker paramctl paramd-sim paramd.conf pd_client_push; do
    in_root "man -w $page" >/dev/null 2>&1 || fail "no man page for $page"
done
in_root 'cd /usr/share/doc/paramd/examples && paramd --check-config -c breast-cancer-l1.conf' \
    >/dev/null 2>&1 || fail "the installed example breast-cancer-l1.conf does not check"

cat >"$root/tmp/client.c" <<'C'
#include <paramd/client.h>
#include <stdio.h>
int main(void)
{
    pd_client_t *c = NULL;
    int rc = pd_client_connect(&c, "tcp://127.0.0.1:1", NULL, 200);
    printf("%s\n", pd_client_strerror(rc));
    pd_client_free(c);
    return rc != 0 ? 0 : 1; /* nothing listens there: an error is the expected answer */
}
C
in_root 'cd /tmp && gcc -o client client.c $(pkg-config --cflags --libs libparamd-client) && ./client' \
    >/dev/null 2>&1 || fail "a client program does not build and run with libparamd-client-dev"
# the Python client: importable by Debian's python3, and it reports a dead server as a Timeout
in_root "python3 -c 'import paramd
try:
    paramd.KVClient(\"tcp://127.0.0.1:1\", timeout=0.3)
except paramd.Timeout:
    pass'" >/dev/null 2>&1 || fail "python3-paramd does not import or connect with Debian's python3"
echo "programs, man pages, the example, a client built with libparamd-client-dev and python3-paramd: OK"
