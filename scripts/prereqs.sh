#!/usr/bin/env bash
# Installs what the tests, the benchmarks and the VM demo need, on a fresh Debian machine.
# Idempotent: packages already present are not reinstalled. Needs root for apt-get.
set -euo pipefail

packages=(
  kmod                         # Debian 12's kmod 30, the second reference (modinfo, depmod, ...)
                               # (kmod 34.2, the first, is not installed: tests/debian/fetch.sh
                               # downloads Debian 13's packages and runs them from target/debian)
  binutils                     # readelf, to check build ids independently
  xz-utils zstd gzip           # compressors for fixtures
  busybox-static cpio          # the VM's initramfs
  qemu-system-x86 libcap2-bin  # the VM (capsh drops CAP_SYS_MODULE in a scenario)
  initramfs-tools e2fsprogs    # a real client: mkinitramfs builds an image with our modprobe and
                               # depmod, booted to an ext4 root (tests/vm/initramfs-client.sh)
  linux-headers-6.1.0-50-amd64 # builds our C test modules
  time hyperfine               # benchmarks: peak RSS and wall time
  mandoc                       # man page lint
  strace                       # proves the host tests make no module system call
  dpkg-dev fakeroot            # building the .deb (dpkg-shlibdeps)
  pkgconf                      # make build finds the static liblzma 5.8 that fetch.sh provides
  zsh fish                     # syntax checks of the generated completions
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "prereqs: missing packages ${missing[*]} and not root: install them first" >&2
    exit 1
  fi
  echo "prereqs: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
