################################################################################
#
# fotad
#
################################################################################

# The fotad source tree this BR2_EXTERNAL tree sits in (buildroot/..).
FOTAD_VERSION = 0.1.0
FOTAD_SITE = $(BR2_EXTERNAL_FOTAD_PATH)/..
FOTAD_SITE_METHOD = local
FOTAD_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = \
	--exclude /target --exclude fuzz/target --exclude fuzz/artifacts \
	--exclude fuzz/corpus --exclude /bench-out
FOTAD_LICENSE = Apache-2.0
FOTAD_LICENSE_FILES = LICENSE
FOTAD_DEPENDENCIES = bzip2 host-pkgconf pcsc-lite zstd

# The units, bus policy, tmpfiles snippet and config template are the files of
# the source tree (systemd/, dbus/, yocto/meta-fotad/), as in the Yocto layer.
FOTAD_FILES = $(@D)/yocto/meta-fotad/recipes-core/fotad/files
FOTAD_STATE_DIR = $(call qstrip,$(BR2_PACKAGE_FOTAD_STATE_DIR))

# A local source is not vendored at download time like a tarball: vendor the
# crates of Cargo.lock before building (cargo vendor --locked fetches them into
# the cargo home in the download directory, once).
define FOTAD_CARGO_VENDOR
	cd $(@D) && mkdir -p .cargo && \
	$(HOST_MAKE_ENV) $(PKG_CARGO_ENV) cargo vendor --locked VENDOR \
		> .cargo/config.toml
endef
FOTAD_PRE_CONFIGURE_HOOKS += FOTAD_CARGO_VENDOR

# zstd-sys links the system libzstd (pkg-config) instead of its bundled copy;
# only the agent and the updater (the third workspace member holds the tests).
FOTAD_CARGO_ENV = ZSTD_SYS_USE_PKG_CONFIG=1
FOTAD_CARGO_BUILD_OPTS = --package fotad --package fotad-updater

FOTAD_BIN_DIR = $(@D)/target/$(RUSTC_TARGET_NAME)/$(if $(BR2_ENABLE_DEBUG),debug,release)

FOTAD_USERS = - -1 fotad-ui -1 * - - - fotad UI clients (org.fotad.Agent1)

# The workspace is virtual: cargo install --path ./ has nothing to install,
# so the binaries are taken from the build.
define FOTAD_INSTALL_TARGET_CMDS
	$(INSTALL) -D -m 0755 $(FOTAD_BIN_DIR)/fotad $(TARGET_DIR)/usr/bin/fotad
	$(INSTALL) -D -m 0755 $(FOTAD_BIN_DIR)/fotactl $(TARGET_DIR)/usr/bin/fotactl
	$(INSTALL) -D -m 0755 $(FOTAD_BIN_DIR)/fotad-update \
		$(TARGET_DIR)/usr/bin/fotad-update
	mkdir -p $(TARGET_DIR)/usr/lib/fotad/conf.d $(TARGET_DIR)/etc/fotad/keys
	sed -e 's#@FOTAD_COMPATIBLE@#$(call qstrip,$(BR2_PACKAGE_FOTAD_COMPATIBLE))#' \
		-e 's#@FOTAD_STATE_DIR@#$(FOTAD_STATE_DIR)#' \
		-e 's#@FOTAD_BOOTLOADER@#$(call qstrip,$(BR2_PACKAGE_FOTAD_BOOTLOADER))#' \
		-e 's#@FOTAD_GRUBENV@#$(call qstrip,$(BR2_PACKAGE_FOTAD_GRUBENV))#' \
		-e 's#@FOTAD_GPT_DISK@#$(call qstrip,$(BR2_PACKAGE_FOTAD_GPT_DISK))#' \
		$(FOTAD_FILES)/fotad.toml.in \
		> $(TARGET_DIR)/usr/lib/fotad/conf.d/10-fotad.toml
	$(if $(BR2_PACKAGE_FOTAD_SIM),,$(INSTALL) -m 0644 $(FOTAD_FILES)/no-sim.toml \
		$(TARGET_DIR)/usr/lib/fotad/conf.d/20-no-sim.toml)
	$(foreach key,$(call qstrip,$(BR2_PACKAGE_FOTAD_PUBLIC_KEYS)),\
		$(INSTALL) -m 0644 $(key) $(TARGET_DIR)/etc/fotad/keys/$(sep))
	$(if $(BR2_PACKAGE_FOTAD_DBUS),$(INSTALL) -D -m 0644 \
		$(@D)/dbus/org.fotad.Agent1.conf \
		$(TARGET_DIR)/usr/share/dbus-1/system.d/org.fotad.Agent1.conf)
	$(INSTALL) -D -m 0644 $(@D)/dbus/org.fotad.Agent1.xml \
		$(TARGET_DIR)/usr/share/dbus-1/interfaces/org.fotad.Agent1.xml
endef

define FOTAD_INSTALL_INIT_SYSTEMD
	$(INSTALL) -D -m 0644 $(@D)/systemd/fotad-mark-good.service \
		$(TARGET_DIR)/usr/lib/systemd/system/fotad-mark-good.service
	$(INSTALL) -D -m 0644 $(@D)/systemd/fotad.tmpfiles.conf \
		$(TARGET_DIR)/usr/lib/tmpfiles.d/fotad.conf
	$(if $(filter-out /var/lib/fotad,$(FOTAD_STATE_DIR)), \
		sed -e 's#@FOTAD_STATE_DIR@#$(FOTAD_STATE_DIR)#' \
			$(FOTAD_FILES)/fotad-state-dir.tmpfiles.in \
			> $(TARGET_DIR)/usr/lib/tmpfiles.d/fotad-state.conf)
	$(if $(BR2_PACKAGE_FOTAD_DBUS),$(INSTALL) -D -m 0644 \
		$(@D)/systemd/fotad.service \
		$(TARGET_DIR)/usr/lib/systemd/system/fotad.service)
	$(if $(BR2_PACKAGE_FOTAD_DBUS),$(if $(filter-out /var/lib/fotad,$(FOTAD_STATE_DIR)), \
		mkdir -p $(TARGET_DIR)/usr/lib/systemd/system/fotad.service.d && \
		sed -e 's#@FOTAD_STATE_DIR@#$(FOTAD_STATE_DIR)#' \
			$(FOTAD_FILES)/fotad-state-dir.conf.in \
			> $(TARGET_DIR)/usr/lib/systemd/system/fotad.service.d/10-state-dir.conf))
endef

$(eval $(cargo-package))
