#!/bin/sh
# collect-binaries.sh BUILD_DIR OUT: the executables of an image, stripped, into OUT/bin, and the
# Swift runtime libraries they load (from the toolchain that built them) into OUT/lib, once.
set -eu
build=$1
out=$2
mkdir -p "$out/bin" "$out/lib"
for product in rymi-manager rymi-gateway rymi-dialer rymi-plivo-sim rymi; do
  strip -o "$out/bin/$product" "$build/$product"
done
ldd "$out"/bin/* | grep -o '/[^ ]*/swift/linux/[^ ]*\.so[^ ]*' | sort -u | while read -r library; do
  cp -L "$library" "$out/lib/"
done
strip --strip-unneeded "$out"/lib/*.so*
