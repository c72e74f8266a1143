#!/bin/sh
# Post-build script of the fotad QEMU x86_64 board: the mounts of the A/B disk
# (genimage.cfg) and the kernel where grub.cfg loads it from (/boot/vmlinuz).
set -e

mkdir -p "${TARGET_DIR}/boot/efi" "${TARGET_DIR}/data"
for line in \
	"PARTLABEL=esp /boot/efi vfat umask=0077 0 2" \
	"PARTLABEL=data /data ext4 defaults 0 2"; do
	grep -qxF "${line}" "${TARGET_DIR}/etc/fstab" ||
		echo "${line}" >> "${TARGET_DIR}/etc/fstab"
done
ln -sf bzImage "${TARGET_DIR}/boot/vmlinuz"
