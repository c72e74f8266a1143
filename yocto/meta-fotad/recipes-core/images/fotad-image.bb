SUMMARY = "Example A/B image with fotad: a GRUB EFI disk and a signed update package"
DESCRIPTION = "A minimal systemd image with fotad on the A/B disk of \
fotad-ab-efi.wks.in (qemux86-64 or any EFI machine with grub-efi); every build \
also writes the signed full package of its root file system (.fota) and, with \
FOTAD_DELTA_SOURCE, a delta. Copy it for your product image."
LICENSE = "MIT"

inherit core-image fotad_bundle

IMAGE_INSTALL:append = " fotad fotad-update kernel-image"

# Deltas need the slot to stay the image byte for byte.
IMAGE_FEATURES:append = " read-only-rootfs"

IMAGE_FSTYPES = "ext4 wic"
# nooelint: oelint.vars.specific - an image type, not a package
IMAGE_TYPEDEP:wic:append = " ext4"
WKS_FILE = "fotad-ab-efi.wks.in"
# The layer's wic/ directory: current oe-core searches <layer>/files/wic only.
WKS_SEARCH_PATH:prepend = "${FOTAD_LAYERDIR}/wic:"
do_image_wic[depends] += "fotad-grub-cfg:do_deploy"
IMAGE_EFI_BOOT_FILES:append = " fotad-grubenv;EFI/BOOT/grubenv"

ROOTFS_POSTPROCESS_COMMAND += "fotad_ab_rootfs"

# The mounts of the A/B layout, and the kernel where grub.cfg loads it from.
fotad_ab_rootfs() {
    install -d ${IMAGE_ROOTFS}/boot/efi ${IMAGE_ROOTFS}/data
    printf '%s\n' \
        'PARTLABEL=esp   /boot/efi  vfat  umask=0077  0  2' \
        'PARTLABEL=data  /data      ext4  defaults    0  2' \
        >> ${IMAGE_ROOTFS}${sysconfdir}/fstab
    ln -sf ${KERNEL_IMAGETYPE} ${IMAGE_ROOTFS}/boot/vmlinuz
}
