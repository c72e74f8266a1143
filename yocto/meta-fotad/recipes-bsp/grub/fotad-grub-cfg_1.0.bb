SUMMARY = "fotad's A/B slot selection for GRUB: grub.cfg and the initial environment"
DESCRIPTION = "Deploys fotad-grub.cfg (the slot selection script) and \
fotad-grubenv (the environment block in its factory state: slot A good and \
primary, slot B bad) for the EFI system partition of fotad-ab-efi.wks.in."
LICENSE = "Apache-2.0"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/Apache-2.0;md5=89aea4e17d99a7cacdbeed46a0096b10"

DEPENDS = "grub-native"

SRC_URI = "file://grub.cfg"
S = "${UNPACKDIR}"

inherit deploy nopackages

PACKAGE_ARCH = "${MACHINE_ARCH}"

do_configure[noexec] = "1"

do_compile() {
    rm -f ${B}/grubenv
    grub-editenv ${B}/grubenv create
    grub-editenv ${B}/grubenv set ORDER="A B" A_OK=1 A_TRY=0 B_OK=0 B_TRY=0
}

do_deploy() {
    install -m 0644 ${S}/grub.cfg ${DEPLOYDIR}/fotad-grub.cfg
    install -m 0644 ${B}/grubenv ${DEPLOYDIR}/fotad-grubenv
}

addtask deploy after do_compile before do_build
