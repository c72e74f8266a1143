SUMMARY = "fotad-update for the build host: packs and signs .fota update packages"
DESCRIPTION = "The fotad_bundle class runs its `pack` to turn an image's root \
file system into a signed full or delta .fota package at build time."

# Licenses of the crates linked into fotad-update, with fotad's own Apache-2.0.
LICENSE = "Apache-2.0 ${FOTAD_LICENSE_AND} BSD-2-Clause ${FOTAD_LICENSE_AND} BSD-3-Clause ${FOTAD_LICENSE_AND} MIT"

require fotad.inc

DEPENDS += "bzip2-native zstd-native"

inherit native

CARGO_BUILD_FLAGS:append = " --package fotad-updater"

do_install() {
    install -D -m 0755 ${B}/target/${CARGO_TARGET_SUBDIR}/fotad-update ${D}${bindir}/fotad-update
}
