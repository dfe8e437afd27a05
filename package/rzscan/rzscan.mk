################################################################################
#
# rzscan
#
################################################################################

RZSCAN_VERSION = 0.1.0
RZSCAN_SITE = $(BR2_EXTERNAL_RAMZSWAP_PATH)/rzscan
RZSCAN_SITE_METHOD = local
RZSCAN_LICENSE = GPL-2.0
RZSCAN_LICENSE_FILES = COPYING
# The Makefile links statically unless told otherwise; here the toolchain's
# own flags decide (TARGET_LDFLAGS carry -static on BR2_STATIC_LIBS).
RZSCAN_MAKE_OPTS = $(TARGET_CONFIGURE_OPTS) STATIC=

define RZSCAN_BUILD_CMDS
	$(TARGET_MAKE_ENV) $(MAKE) -C $(@D) $(RZSCAN_MAKE_OPTS)
endef

define RZSCAN_INSTALL_TARGET_CMDS
	$(INSTALL) -D -m 0755 $(@D)/rzscan $(TARGET_DIR)/usr/bin/rzscan
endef

$(eval $(generic-package))
