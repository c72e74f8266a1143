SUMMARY = "fotad's A/B slot selection for U-Boot: boot.scr and fw_env.config"
DESCRIPTION = "Compiles boot.cmd into boot.scr for the boot partition of \
fotad-ab-uboot.wks.in (add boot.scr to IMAGE_BOOT_FILES) and installs \
/etc/fw_env.config, where fotad-update and fw_printenv find the environment."
LICENSE = "Apache-2.0"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/Apache-2.0;md5=89aea4e17d99a7cacdbeed46a0096b10"

DEPENDS = "u-boot-mkimage-native"

SRC_URI = "\
    file://boot.cmd \
    file://fw_env.config \
"
S = "${UNPACKDIR}"

inherit deploy

PACKAGE_ARCH = "${MACHINE_ARCH}"

# The architecture in the script's legacy image header.
FOTAD_UBOOT_ARCH ?= "${@{'aarch64': 'arm64', 'riscv32': 'riscv', 'riscv64': 'riscv', 'i686': 'x86', 'x86_64': 'x86'}.get(d.getVar('TARGET_ARCH'), d.getVar('TARGET_ARCH'))}"

do_configure[noexec] = "1"

do_compile() {
    uboot-mkimage -A ${FOTAD_UBOOT_ARCH} -O linux -T script -C none -n "fotad A/B slot selection" \
        -d ${S}/boot.cmd ${B}/boot.scr
}

do_install() {
    install -D -m 0644 ${S}/fw_env.config ${D}${sysconfdir}/fw_env.config
}

do_deploy() {
    install -m 0644 ${B}/boot.scr ${DEPLOYDIR}/boot.scr
}

addtask deploy after do_compile before do_build

FILES:${PN} = "${sysconfdir}/fw_env.config"
CONFFILES:${PN} = "${sysconfdir}/fw_env.config"
