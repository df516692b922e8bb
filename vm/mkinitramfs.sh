#!/usr/bin/env bash
# Build the guest's initramfs: busybox, bash and bats (in-guest tests),
# dropbear and scp (the kmap leaves the guest over ssh, as users do), the
# project's in-guest tests, and the kernel modules staged in build/modules.
#
# Usage: vm/mkinitramfs.sh [OUTPUT]     (default build/initramfs.cpio.gz)
# Everything comes from the host's Debian packages (see ci/packages.txt);
# dynamically linked programs bring the libraries ldd names.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/build/initramfs.cpio.gz}
# INITRAMFS_ROOT: a scratch root of its own, for builds side by side.
root=${INITRAMFS_ROOT:-$top/build/initramfs-root}

say() { printf '[initramfs] %s\n' "$*" >&2; }
die() { printf '[initramfs] error: %s\n' "$*" >&2; exit 1; }

# Copy a host file to the same path under $root.
install_file() {
	local src=$1 dst=$root${2:-$1}
	[ -e "$src" ] || die "$src not found (is its Debian package installed? see ci/packages.txt)"
	mkdir -p "$(dirname "$dst")"
	cp -L "$src" "$dst"
}

# A dynamically linked program and every library it loads.
install_program() {
	local prog=$1 lib
	install_file "$prog"
	while read -r lib; do
		install_file "$lib"
	done < <(ldd "$prog" | grep -o '/[^ ]*' | sort -u)
}

rm -rf "$root"
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,run,root/.ssh,etc/dropbear,mnt/results,tests,lib/modules-memorizer,usr/bin,usr/sbin,usr/share/memorizer}

install_file /bin/busybox
for applet in $("$root/bin/busybox" --list-full); do
	[ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done

install_program /bin/bash
install_program /usr/sbin/dropbear
install_program /usr/bin/dropbearkey
install_program /usr/bin/scp

# bats-core: its launcher resolves its libexec and lib directories itself.
install_file /usr/bin/bats
mkdir -p "$root/usr/lib"
cp -a /usr/lib/bats-core "$root/usr/lib/"
mkdir -p "$root/usr/libexec"
cp -a /usr/libexec/bats-core "$root/usr/libexec/"

cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/bash
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
EOF
printf '/bin/sh\n/bin/bash\n' >"$root/etc/shells"
echo memorizer-guest >"$root/etc/hostname"
chmod 700 "$root/root" "$root/root/.ssh"

install -m 0755 "$top/vm/initramfs/init" "$root/init"
install -m 0755 "$top/vm/initramfs/"*.sh "$root/usr/share/memorizer/"

# In-guest tests and their helper files.
cp -a "$top/tests/guest/." "$root/tests/"

# Memorizer's in-guest benchmark (tests/guest/bench), static like every
# guest program: the guest has no C library of its own.
mkdir -p "$top/build/guest-bin"
bench_src=$top/tests/guest/bench/memorizer-bench.c
bench_bin=$top/build/guest-bin/memorizer-bench
if [ ! -x "$bench_bin" ] || [ "$bench_src" -nt "$bench_bin" ]; then
	gcc -static -O2 -Wall -Wextra -Werror -o "$bench_bin" "$bench_src"
fi

# The stream's reader (tools/memorizer-stream, Documentation/stream.rst),
# static too, built by its Makefile against the kernel tree's UAPI header.
stream_tree=${KERNEL_TREE:-$top/build/linux}
stream_src=$top/tools/memorizer-stream/memorizer-stream.c
stream_hdr=$stream_tree/include/uapi/linux/memorizer_stream.h
stream_bin=$top/build/guest-bin/memorizer-stream
if [ ! -x "$stream_bin" ] || [ "$stream_src" -nt "$stream_bin" ] ||
	[ "$stream_hdr" -nt "$stream_bin" ]; then
	make -s -C "$top/tools/memorizer-stream" KERNEL_TREE="$stream_tree" \
		GUEST_BIN_DIR="$top/build/guest-bin"
fi

# Kernel modules (tracer.ko and its test module) and static helper programs.
shopt -s nullglob
for ko in "$top"/build/modules/*.ko; do
	install -m 0644 "$ko" "$root/lib/modules-memorizer/"
done
for bin in "$top"/build/guest-bin/*; do
	install -m 0755 "$bin" "$root/usr/bin/"
done
shopt -u nullglob

say "packing $(du -sh "$root" | cut -f1) into $out"
mkdir -p "$(dirname "$out")"
# Reproducible: the same inputs give the same bytes (fixed times, no inode
# numbers, no gzip timestamp), so make test can tell that a guest is
# unchanged and reuse its last passing results.
find "$root" -exec touch -h -d @1700000000 {} +
(cd "$root" && find . -print0 | LC_ALL=C sort -z |
	cpio --null --create --format=newc --quiet --owner=0:0 --reproducible) | gzip -n -1 >"$out.tmp"
mv "$out.tmp" "$out"
