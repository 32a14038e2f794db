#!/bin/busybox sh
# PID 1 of the rig's guest, packed as /init by tests/hardware/rig.py.
#
# Loads the modules listed in /mods/order, mounts the host root (9p tag
# "hostroot", read-only) on /newroot and the rig's work dir (9p tag "work",
# read-write) at the same path inside it, binds the devices in $rig_bind to
# vfio-pci, then chroots into the host root and runs $rig_work/job.sh (written
# by the host: python -m pytest with the host's interpreter). Results go to the
# work dir: rc, pytest.log, junit.xml (from pytest), dmesg-boot.txt, dmesg.txt.
# A missing rc tells the host that the job never finished; init-error says why.
#
# Kernel parameters without a dot reach us as environment variables:
#   rig_work=<dir>            the work dir (its path on the host and here)
#   rig_bind=1234:11e8[,...]  vendor:device IDs to bind to vfio-pci
#   rig_ppcroot=<dir>         a ppc64 guest's userland (rig_ppc64.py, required
#                             there): a merged-/usr tree of Debian's ppc64el
#                             python3 and busybox-static, whose usr/ is bound
#                             over the host's /usr in /newroot. The host's /
#                             symlinks bin, lib, lib64 into usr, so the chroot
#                             runs ppc64el binaries at their usual paths while
#                             the project, the work dir and the host's
#                             site-packages stay where they are.
# Module parameters ("vfio.enable_unsafe_noiommu_mode=1") are applied here,
# since insmod, unlike modprobe, does not read them from the command line.

/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

say() { echo "rig-init: $*"; }
off() { sync; poweroff -f; sleep 10; }
fail() {
    say "FAIL: $*"
    [ -n "$out" ] && echo "$*" > "$out/init-error"
    [ -n "$out" ] && dmesg > "$out/dmesg.txt"
    off
}
uptime() { cut -d' ' -f1 /proc/uptime; }
out=""
[ -n "$rig_work" ] || fail "rig_work= missing from the kernel command line"
case "$(uname -m)" in
    ppc64*) [ -n "$rig_ppcroot" ] || fail "rig_ppcroot= missing from the kernel command line" ;;
esac
say "init at uptime $(uptime) s"

for m in $(cat /mods/order); do
    params=""
    for a in $(cat /proc/cmdline); do
        case "$a" in "$m".*=*) params="$params ${a#*.}" ;; esac
    done
    # shellcheck disable=SC2086  # params are separate words
    insmod "/mods/$m.ko" $params 2>/tmp/insmod.err || fail "insmod $m: $(cat /tmp/insmod.err)"
done

mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro,cache=loose hostroot /newroot \
    || fail "cannot mount the host root (9p tag hostroot)"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,rw work "/newroot$rig_work" \
    || fail "cannot mount the work dir (9p tag work) on $rig_work"
out="/newroot$rig_work"
if [ -n "$rig_ppcroot" ]; then
    mount --bind "/newroot$rig_ppcroot/usr" /newroot/usr || fail "cannot bind $rig_ppcroot/usr on /usr"
fi
mount --bind /proc /newroot/proc
mount --bind /sys /newroot/sys
mount --bind /dev /newroot/dev
# The host root, /tmp included, is read-only here; the job's TMPDIR is this tmpfs.
mkdir -p /newroot/dev/shm && mount -t tmpfs -o mode=1777 tmpfs /newroot/dev/shm

[ -d /sys/bus/pci/drivers/vfio-pci ] || fail "vfio-pci driver not registered"
bound=0
for d in /sys/bus/pci/devices/*; do
    id="$(sed 's/^0x//' "$d/vendor"):$(sed 's/^0x//' "$d/device")"
    case ",$rig_bind," in *",$id,"*) ;; *) continue ;; esac
    bdf=${d##*/}
    [ -e "$d/driver" ] && echo "$bdf" > "$d/driver/unbind"
    echo vfio-pci > "$d/driver_override"
    echo "$bdf" > /sys/bus/pci/drivers_probe
    driver=$(basename "$(readlink "$d/driver")")
    group=$(basename "$(readlink "$d/iommu_group")")
    [ "$driver" = vfio-pci ] || fail "$bdf ($id) bound to '$driver', not vfio-pci"
    say "$bdf ($id) -> vfio-pci, iommu group $group"
    bound=$((bound + 1))
done
[ -z "$rig_bind" ] || [ $bound -gt 0 ] || fail "no PCI device matches rig_bind=$rig_bind"

# Huge pages for the DMA buffers that ask for them (test_mode_matrix.py):
# 4 of 2 MiB of the guest's 1 GiB; a kernel without CONFIG_HUGETLBFS has no file.
[ -w /proc/sys/vm/nr_hugepages ] && echo 4 > /proc/sys/vm/nr_hugepages
dmesg > "$out/dmesg-boot.txt"
say "running job at uptime $(uptime) s"
chroot /newroot /bin/sh "$rig_work/job.sh" < /dev/null > "$out/pytest.log" 2>&1
rc=$?
dmesg > "$out/dmesg.txt"
echo $rc > "$out/rc"
say "job exit status $rc at uptime $(uptime) s"
off
