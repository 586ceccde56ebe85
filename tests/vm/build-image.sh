#!/usr/bin/env bash
# Prepares what the test VM boots: Debian's own kernel (which has AppArmor built in and
# enabled) and a small initramfs (static busybox, tests/vm/init, the kernel modules that
# sharing the host's root over virtio-9p and running firmwared need).
#
# Usage: tests/vm/build-image.sh
# Prints two lines, KERNEL=<path> and INITRD=<path>, and exits 0. Exits 77 with the reason
# on stderr when the kernel package cannot be had (no apt, archive unreachable and nothing
# cached), 1 on any other failure.
#
# Everything is cached below $FW_VM_CACHE (default /var/cache/firmwared-tests/vm) and
# reused between runs: the .deb of the kernel (linux-image-amd64's dependency, or
# $FW_VM_KERNEL_DEB), then one directory per kernel version and initramfs content. Only
# Debian packages are used; nothing is installed on the host.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${FW_VM_CACHE:-/var/cache/firmwared-tests/vm}
# Loaded by the init in this order: virtio-9p for the host's root, then what the daemon
# uses (overlay for instances, loop for image firmwares, veth for their network), and
# binfmt_misc so that the lane gets AppArmor's verdict on mounting it (not ENODEV).
# In load order: virtio and 9p for the shared root, what the daemon mounts and makes, and
# nftables with conntrack for the instances' host_access filters.
MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
         netfs fscache 9pnet 9pnet_virtio 9p overlay loop veth binfmt_misc
         crc32c_generic libcrc32c nfnetlink nf_tables nf_defrag_ipv4 nf_defrag_ipv6
         nf_conntrack nft_ct)

unavailable() { echo "build-image: $*" >&2; exit 77; }
die() { echo "build-image: $*" >&2; exit 1; }

for tool in dpkg-deb cpio; do
  command -v "$tool" >/dev/null || unavailable "$tool is missing (scripts/install-deps)"
done
BUSYBOX=/bin/busybox
file_static() { [[ "$(LC_ALL=C readelf -d "$1" 2>/dev/null | grep -c NEEDED)" == 0 ]]; }
[[ -x $BUSYBOX ]] && file_static "$BUSYBOX" ||
  unavailable "a static /bin/busybox is missing (busybox-static, scripts/install-deps)"

mkdir -p "$CACHE/debs"
exec 9>"$CACHE/.lock"
flock 9  # one builder at a time; the others then find the result

# ---- the kernel package: the one linux-image-amd64 depends on, downloaded once.
find_deb() {
  if [[ -n "${FW_VM_KERNEL_DEB:-}" ]]; then
    [[ -f "$FW_VM_KERNEL_DEB" ]] || unavailable "FW_VM_KERNEL_DEB=$FW_VM_KERNEL_DEB is not a file"
    echo "$FW_VM_KERNEL_DEB"
    return
  fi
  local pkg deb
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
          sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1 || true)
  if [[ -n "$pkg" ]]; then
    deb=$(ls -t "$CACHE/debs/${pkg}_"*.deb 2>/dev/null | head -n 1 || true)
    if [[ -z "$deb" ]]; then
      # apt-get download writes to the current directory; as root it warns that the
      # download is not sandboxed (the _apt user cannot write there): harmless.
      (cd "$CACHE/debs" && apt-get download -q "$pkg" >/dev/null 2>"$CACHE/debs/download.log") ||
        echo "build-image: apt-get download $pkg failed: $(tail -n 1 "$CACHE/debs/download.log")" >&2
      deb=$(ls -t "$CACHE/debs/${pkg}_"*.deb 2>/dev/null | head -n 1 || true)
    fi
  fi
  # Offline, or apt's lists are missing: the newest cached kernel.
  [[ -n "${deb:-}" ]] || deb=$(ls -t "$CACHE"/debs/linux-image-*.deb 2>/dev/null | head -n 1 || true)
  [[ -n "${deb:-}" ]] ||
    unavailable "no Debian kernel package: linux-image-amd64's dependency could not be downloaded (apt-get update?) and none is cached in $CACHE/debs"
  echo "$deb"
}
DEB=$(find_deb)

# ---- the image directory, named after what goes into it.
KEY=$( { sha1sum "$HERE/init" "$0" "$BUSYBOX"; basename "$DEB"; } | sha1sum | cut -c1-12)
VERSION=$(dpkg-deb -f "$DEB" Package | sed 's/^linux-image-//')
OUT="$CACHE/$VERSION-$KEY"
if [[ ! -f "$OUT/initrd.cpio" ]]; then
  WORK=$(mktemp -d "$CACHE/.build.XXXXXX")
  trap 'rm -rf "$WORK"' EXIT
  dpkg-deb --fsys-tarfile "$DEB" |
    tar -x -C "$WORK" --wildcards './boot/vmlinuz-*' './lib/modules/*' 2>/dev/null ||
    dpkg-deb -x "$DEB" "$WORK"
  KDIR=$(ls -d "$WORK"/lib/modules/* | head -n 1)
  ROOT="$WORK/initramfs"
  mkdir -p "$ROOT"/{bin,dev,proc,sys,modules}
  cp "$BUSYBOX" "$ROOT/bin/busybox"
  install -m 0755 "$HERE/init" "$ROOT/init"
  mknod -m 0600 "$ROOT/dev/console" c 5 1
  : >"$ROOT/modules/order"
  for m in "${MODULES[@]}"; do
    f=$(find "$KDIR" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" | head -n 1)
    if [[ -z "$f" ]]; then
      grep -q "/$m.ko\$" "$KDIR/modules.builtin" || die "module $m is neither in $DEB nor built in"
      continue
    fi
    case $f in
      *.xz) xz -dc "$f" >"$ROOT/modules/$m.ko" ;;
      *.zst) zstd -qdc "$f" >"$ROOT/modules/$m.ko" ;;
      *) cp "$f" "$ROOT/modules/$m.ko" ;;
    esac
    echo "$m" >>"$ROOT/modules/order"
  done
  (cd "$ROOT" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) >"$WORK/initrd.cpio"
  mkdir -p "$WORK/out"
  cp "$WORK"/boot/vmlinuz-* "$WORK/out/vmlinuz"
  mv "$WORK/initrd.cpio" "$WORK/out/initrd.cpio"
  rm -rf "$OUT"
  mv "$WORK/out" "$OUT"
  # Older images of this cache (other kernels, older inits) are not needed any more.
  for old in "$CACHE"/*-*/; do
    [[ "${old%/}" == "$OUT" ]] || rm -rf "$old"
  done
fi
echo "KERNEL=$OUT/vmlinuz"
echo "INITRD=$OUT/initrd.cpio"
