# fotad_bundle: turns the image's root file system into a signed fotad update
# package at build time. Inherit it in an image recipe; next to the ext4 image
# the deploy directory then gets
#   ${IMAGE_LINK_NAME}.fota        a full package: rootfs = the image's .ext4
#   ${IMAGE_LINK_NAME}.delta.fota  when FOTAD_DELTA_SOURCE names the .ext4 of a
#                                  previous build: a delta against that image
# The slot written by the package is the image byte for byte, so devices must be
# flashed (and keep) exactly these .ext4 files in their rootfs slots: the A/B
# .wks.in files of this layer copy it raw, and the root file system stays
# read-only (IMAGE_FEATURES read-only-rootfs), so later deltas apply.
#
# Settings (local.conf, the distro or the image recipe):
#   FOTAD_SIGNING_KEY       the secret key from `fotad-update keygen` (required)
#   FOTAD_COMPATIBLE        the device model string (layer.conf: ${MACHINE})
#   FOTAD_BUNDLE_VERSION    the version shown to users and the DM server
#   FOTAD_SECURITY_VERSION  anti-rollback counter: devices refuse lower ones
#   FOTAD_BUNDLE_DESCRIPTION  "LANG=TEXT" items, e.g. "en=Security fixes"
#                           (no spaces inside TEXT: items are split on spaces)
#   FOTAD_DELTA_SOURCE      the .ext4 image the delta starts from, or empty
#   FOTAD_PACK_ARGS         more `fotad-update pack` options (--op-size, --level)

FOTAD_SIGNING_KEY ??= ""
FOTAD_BUNDLE_VERSION ??= "${DISTRO_VERSION}"
FOTAD_SECURITY_VERSION ??= "0"
FOTAD_BUNDLE_DESCRIPTION ??= ""
FOTAD_DELTA_SOURCE ??= ""
FOTAD_PACK_ARGS ??= ""

IMAGE_TYPES:append = " fota"
IMAGE_FSTYPES:append = " fota"
# nooelint: oelint.vars.specific - an image type, not a package
IMAGE_TYPEDEP:fota = "ext4"
do_image_fota[depends] += "fotad-update-native:do_populate_sysroot"
do_image_fota[file-checksums] += "${@'%s:True' % d.getVar('FOTAD_DELTA_SOURCE') if d.getVar('FOTAD_DELTA_SOURCE') else ''}"

IMAGE_CMD:fota () {
    key="${FOTAD_SIGNING_KEY}"
    if [ -z "$key" ] || [ ! -r "$key" ]; then
        bbfatal "fotad_bundle: FOTAD_SIGNING_KEY must name the secret key that signs update packages (now: '$key'); make one with 'fotad-update keygen keys/release' and install keys/release.pub in the image (FOTAD_PUBLIC_KEYS)"
    fi
    set -- --key "$key" --compatible "${FOTAD_COMPATIBLE}" --version "${FOTAD_BUNDLE_VERSION}" \
        --security-version "${FOTAD_SECURITY_VERSION}" ${FOTAD_PACK_ARGS}
    for item in ${FOTAD_BUNDLE_DESCRIPTION}; do
        set -- "$@" --description "$item"
    done
    image="${IMGDEPLOYDIR}/${IMAGE_NAME}.ext4"
    fotad-update pack "$@" --image rootfs="$image" -o "${IMGDEPLOYDIR}/${IMAGE_NAME}.fota"
    source="${FOTAD_DELTA_SOURCE}"
    if [ -n "$source" ]; then
        [ -r "$source" ] || bbfatal "fotad_bundle: FOTAD_DELTA_SOURCE $source cannot be read"
        fotad-update pack "$@" --image rootfs="$image" --source rootfs="$source" \
            -o "${IMGDEPLOYDIR}/${IMAGE_NAME}.delta.fota"
        ln -sf "${IMAGE_NAME}.delta.fota" "${IMGDEPLOYDIR}/${IMAGE_LINK_NAME}.delta.fota"
    fi
}
