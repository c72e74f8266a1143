SUMMARY = "fotad: OMA DM 1.2 / FUMO device update agent with an A/B updater"
DESCRIPTION = "The fotad daemon (D-Bus service org.fotad.Agent1), its client fotactl, \
and fotad-update, which installs signed .fota packages into the inactive slot, \
switches the bootloader to it and confirms it after a good boot."

require fotad.inc

# The pcsc crate links libpcsclite whether or not the SIM is used (fotad has no
# cargo feature to leave it out yet), so pcsc-lite is always a build dependency.

# Licenses of the crates linked into the binaries (Cargo.lock, `cargo metadata`),
# with fotad's own Apache-2.0; crates offering a choice are counted as MIT (the
# operator is AND, or & on scarthgap: layer.conf).
LICENSE = "Apache-2.0 ${FOTAD_LICENSE_AND} BSD-2-Clause ${FOTAD_LICENSE_AND} BSD-3-Clause ${FOTAD_LICENSE_AND} CDLA-Permissive-2.0 ${FOTAD_LICENSE_AND} ISC ${FOTAD_LICENSE_AND} MIT ${FOTAD_LICENSE_AND} Unicode-3.0"

DEPENDS += "bzip2 pcsc-lite zstd"

# The crates come from fotad.inc; these are the templates of recipes-core/fotad/files.
SRC_URI += "\
    file://fotad.toml.in \
    file://no-sim.toml \
    file://fotad-state-dir.conf.in \
    file://fotad-state-dir.tmpfiles.in \
"

inherit cargo-update-recipe-crates systemd useradd

# Only the agent and the updater: the workspace's third member holds the tests.
CARGO_BUILD_FLAGS:append = " --package fotad --package fotad-updater"

# sim: the PC/SC daemon and the CCID reader driver on the device; without it the
#      SIM is switched off in the shipped config ([sim] enabled = false).
# dbus: the daemon fotad.service with its bus policy (org.fotad.Agent1); without
#      it fotad runs as `fotad --once` from the integrator's timers or scripts.
# Neither maps onto a cargo feature: the crates have none (zbus and pcsc are
# always compiled in).
PACKAGECONFIG ??= "dbus sim"
PACKAGECONFIG[dbus] = ",,,dbus"
PACKAGECONFIG[sim] = ",,,pcsc-lite,ccid"

# Device settings written into /usr/lib/fotad/conf.d/10-fotad.toml
# (FOTAD_COMPATIBLE and FOTAD_STATE_DIR are set in the layer's layer.conf).
FOTAD_BOOTLOADER ??= "grub"
FOTAD_GRUBENV ??= "/boot/efi/EFI/BOOT/grubenv"
FOTAD_GPT_DISK ??= "/dev/vda"
# Public keys (.pub files from `fotad-update keygen`, absolute paths on the build
# host) installed into /etc/fotad/keys: packages must be signed by one of them.
FOTAD_PUBLIC_KEYS ??= ""
do_install[file-checksums] += "${@' '.join('%s:True' % k for k in d.getVar('FOTAD_PUBLIC_KEYS').split())}"
do_install[vardeps] += "FOTAD_COMPATIBLE FOTAD_STATE_DIR FOTAD_BOOTLOADER FOTAD_GRUBENV FOTAD_GPT_DISK"

# update_crates reads the main Cargo.lock only (the class would also take the fuzz
# targets' lockfiles, with duplicates).
do_update_crates() {
    nativepython3 ${S}/scripts/update-yocto-crates --lock ${S}/Cargo.lock --output ${THISDIR}/fotad-crates.inc
}

do_install() {
    release="${B}/target/${CARGO_TARGET_SUBDIR}"
    install -d ${D}${bindir}
    install -m 0755 ${release}/fotad ${release}/fotactl ${release}/fotad-update ${D}${bindir}/

    # fotad-update: the updater, the slot confirmation, the shipped config and keys.
    install -D -m 0644 ${S}/systemd/fotad-mark-good.service ${D}${systemd_system_unitdir}/fotad-mark-good.service
    install -D -m 0644 ${S}/systemd/fotad.tmpfiles.conf ${D}${nonarch_libdir}/tmpfiles.d/fotad.conf
    install -d ${D}${nonarch_libdir}/fotad/conf.d
    sed -e 's#@FOTAD_COMPATIBLE@#${FOTAD_COMPATIBLE}#' \
        -e 's#@FOTAD_STATE_DIR@#${FOTAD_STATE_DIR}#' \
        -e 's#@FOTAD_BOOTLOADER@#${FOTAD_BOOTLOADER}#' \
        -e 's#@FOTAD_GRUBENV@#${FOTAD_GRUBENV}#' \
        -e 's#@FOTAD_GPT_DISK@#${FOTAD_GPT_DISK}#' \
        ${UNPACKDIR}/fotad.toml.in > ${D}${nonarch_libdir}/fotad/conf.d/10-fotad.toml
    chmod 0644 ${D}${nonarch_libdir}/fotad/conf.d/10-fotad.toml
    if [ "${FOTAD_STATE_DIR}" != "${localstatedir}/lib/fotad" ]; then
        sed -e 's#@FOTAD_STATE_DIR@#${FOTAD_STATE_DIR}#' ${UNPACKDIR}/fotad-state-dir.tmpfiles.in \
            > ${D}${nonarch_libdir}/tmpfiles.d/fotad-state.conf
        chmod 0644 ${D}${nonarch_libdir}/tmpfiles.d/fotad-state.conf
    fi
    install -d -m 0755 ${D}${sysconfdir}/fotad/keys
    for key in ${FOTAD_PUBLIC_KEYS}; do
        install -m 0644 "${key}" ${D}${sysconfdir}/fotad/keys/
    done

    # fotad: the agent, its group (fotad-ui may call the UI methods), its docs.
    install -D -m 0644 ${S}/systemd/fotad.sysusers.conf ${D}${nonarch_libdir}/sysusers.d/fotad.conf
    install -D -m 0644 ${S}/docs/dbus.md ${D}${docdir}/fotad/dbus.md
    if ${@bb.utils.contains('PACKAGECONFIG', 'dbus', 'true', 'false', d)}; then
        install -D -m 0644 ${S}/systemd/fotad.service ${D}${systemd_system_unitdir}/fotad.service
        install -D -m 0644 ${S}/dbus/org.fotad.Agent1.conf ${D}${datadir}/dbus-1/system.d/org.fotad.Agent1.conf
        if [ "${FOTAD_STATE_DIR}" != "${localstatedir}/lib/fotad" ]; then
            install -d ${D}${systemd_system_unitdir}/fotad.service.d
            sed -e 's#@FOTAD_STATE_DIR@#${FOTAD_STATE_DIR}#' ${UNPACKDIR}/fotad-state-dir.conf.in \
                > ${D}${systemd_system_unitdir}/fotad.service.d/10-state-dir.conf
            chmod 0644 ${D}${systemd_system_unitdir}/fotad.service.d/10-state-dir.conf
        fi
    fi
    if ! ${@bb.utils.contains('PACKAGECONFIG', 'sim', 'true', 'false', d)}; then
        install -m 0644 ${UNPACKDIR}/no-sim.toml ${D}${nonarch_libdir}/fotad/conf.d/20-no-sim.toml
    fi

    # fotad-dev: the D-Bus interface, the API contract for UI clients.
    install -D -m 0644 ${S}/dbus/org.fotad.Agent1.xml ${D}${datadir}/dbus-1/interfaces/org.fotad.Agent1.xml
}

PACKAGE_BEFORE_PN = "${PN}-update"

FILES:${PN}-update = "\
    ${bindir}/fotad-update \
    ${systemd_system_unitdir}/fotad-mark-good.service \
    ${nonarch_libdir}/fotad/conf.d/10-fotad.toml \
    ${nonarch_libdir}/tmpfiles.d \
    ${sysconfdir}/fotad \
"
FILES:${PN} += "\
    ${systemd_system_unitdir}/fotad.service \
    ${systemd_system_unitdir}/fotad.service.d \
    ${datadir}/dbus-1/system.d \
    ${nonarch_libdir}/sysusers.d \
    ${nonarch_libdir}/fotad/conf.d/20-no-sim.toml \
"
FILES:${PN}-dev += "${datadir}/dbus-1/interfaces"

# The agent installs through the updater's library, but confirms slots and reads
# its config through the fotad-update package.
RDEPENDS:${PN} += "${PN}-update"

SYSTEMD_PACKAGES = "${PN}-update ${@bb.utils.contains('PACKAGECONFIG', 'dbus', '${PN}', '', d)}"
SYSTEMD_SERVICE:${PN}-update = "fotad-mark-good.service"
SYSTEMD_SERVICE:${PN} = "${@bb.utils.contains('PACKAGECONFIG', 'dbus', 'fotad.service', '', d)}"

USERADD_PACKAGES = "${PN}"
GROUPADD_PARAM:${PN} = "--system fotad-ui"
