#!/bin/sh
# Post-image script of the fotad QEMU x86_64 board: puts fotad's grub.cfg (the
# A/B slot selection, board/qemu-x86_64/grub.cfg) and the GRUB environment in its
# factory state (slot A good and primary, slot B bad) on the EFI system
# partition, then lays out the A/B disk of genimage.cfg as images/disk.img.
set -e

BOARD_DIR="$(dirname "$0")"
EFI_BOOT="${BINARIES_DIR}/efi-part/EFI/BOOT"

install -m 0644 "${BOARD_DIR}/grub.cfg" "${EFI_BOOT}/grub.cfg"
rm -f "${EFI_BOOT}/grubenv"
"${HOST_DIR}/bin/grub-editenv" "${EFI_BOOT}/grubenv" create
"${HOST_DIR}/bin/grub-editenv" "${EFI_BOOT}/grubenv" set \
	"ORDER=A B" A_OK=1 A_TRY=0 B_OK=0 B_TRY=0

support/scripts/genimage.sh -c "${BOARD_DIR}/genimage.cfg"
