#!/bin/sh
# Install what the hardware tier needs (idempotent; no-op when all present).
#   qemu-system-x86  qemu-system-x86_64 with the `edu` and `intel-iommu` devices
#   qemu-system-ppc  qemu-system-ppc64 (pseries, edu) for the 7.2-ppc64 flavor's sPAPR IOMMU
#                    (its kernel and ppc64el userland come from Debian: rig_ppc64.py)
#   busybox-static   the guest's only userland before it chroots into the host
#   zstd             unpacks .ko.zst modules (.xz/.gz are unpacked by Python)
#   apt, dpkg        fetch and unpack the Debian kernel packages (never installed)
#   build-essential bc bison flex libelf-dev xz-utils
#                    build the 6.12-iommufd kernel from Debian's linux-source-6.12
#                    (kbuild.py; libelf-dev for objtool, xz-utils for the source tarball)
# Kernels are not installed here: tests/hardware/rig.py downloads (or builds) and caches them.
set -eu
PACKAGES="qemu-system-x86 qemu-system-ppc busybox-static zstd build-essential bc bison flex libelf-dev xz-utils"
missing=""
for p in $PACKAGES; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
echo "install-deps.sh: installing$missing"
$SUDO apt-get update -qq
# shellcheck disable=SC2086  # word splitting of the package list is wanted
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
