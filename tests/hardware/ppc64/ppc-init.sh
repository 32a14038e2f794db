#!/bin/busybox sh
# PID 1 of the ppc64 (pseries) guest. Like ../guest-init.sh, with two differences:
# - after mounting the host root on /newroot, /newroot/usr is replaced by the
#   ppc64el root ($rig_ppcroot, a merged-/usr tree of Debian's python3.11 and
#   busybox-static unpacked on the host): the host's / symlinks bin, lib, lib64
#   into usr, so the chroot runs ppc64el binaries at their usual paths while
#   the project, the work dir and the host's site-packages stay where they are;
# - edu is bound to vfio-pci on the pseries PHB, behind the sPAPR TCE IOMMU.
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
out=""
[ -n "$rig_work" ] || fail "rig_work= missing from the kernel command line"
[ -n "$rig_ppcroot" ] || fail "rig_ppcroot= missing from the kernel command line"
say "init at uptime $(cut -d' ' -f1 /proc/uptime) s"
for m in $(cat /mods/order); do
    insmod "/mods/$m.ko" 2>/tmp/insmod.err || fail "insmod $m: $(cat /tmp/insmod.err)"
done

mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro,cache=loose hostroot /newroot \
    || fail "cannot mount the host root (9p tag hostroot)"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,rw work "/newroot$rig_work" \
    || fail "cannot mount the work dir (9p tag work) on $rig_work"
out="/newroot$rig_work"
mount --bind "/newroot$rig_ppcroot/usr" /newroot/usr || fail "cannot bind $rig_ppcroot/usr on /usr"
mount --bind /proc /newroot/proc
mount --bind /sys /newroot/sys
mount --bind /dev /newroot/dev
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

dmesg > "$out/dmesg-boot.txt"
say "running job at uptime $(cut -d' ' -f1 /proc/uptime) s"
chroot /newroot /bin/sh "$rig_work/job.sh" < /dev/null > "$out/pytest.log" 2>&1
rc=$?
dmesg > "$out/dmesg.txt"
echo $rc > "$out/rc"
say "job exit status $rc at uptime $(cut -d' ' -f1 /proc/uptime) s"
off
