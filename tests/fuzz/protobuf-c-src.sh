#!/bin/sh
# protobuf-c-src.sh DIR - the protobuf-c runtime's source for the fuzz build (--enable-fuzzers):
# Debian's pinned upstream tarball of the library paramd links (1.4.1, Debian 12), from
# $PD_PROTOBUF_C_TARBALL when set (offline), else downloaded from deb.debian.org; its
# checksum is verified and protobuf-c/protobuf-c.{c,h} are extracted into DIR. The fuzz
# targets compile that file with coverage, so libFuzzer sees the decoder's branches (the
# installed library has no coverage instrumentation).
set -eu
dir=$1
version=1.4.1
sha256=4cc4facd508172f3e0a4d3a8736225d472418aee35b4ad053384b137b220339f
url=http://deb.debian.org/debian/pool/main/p/protobuf-c/protobuf-c_$version.orig.tar.gz
tarball=${PD_PROTOBUF_C_TARBALL:-$dir/protobuf-c_$version.orig.tar.gz}
mkdir -p "$dir"
if [ ! -s "$tarball" ]; then
    echo "fetching $url" >&2
    if command -v curl >/dev/null 2>&1; then
        curl -sSfL -o "$tarball.part" "$url"
    else
        wget -q -O "$tarball.part" "$url"
    fi
    mv "$tarball.part" "$tarball"
fi
echo "$sha256  $tarball" | sha256sum -c --quiet - ||
    { echo "protobuf-c-src.sh: $tarball is not protobuf-c $version" >&2; exit 1; }
tar -xzf "$tarball" -C "$dir" --strip-components=1 \
    "protobuf-c-$version/protobuf-c/protobuf-c.c" "protobuf-c-$version/protobuf-c/protobuf-c.h"
touch "$dir/protobuf-c/protobuf-c.c"
