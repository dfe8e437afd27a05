################################################################################
#
# python-ramzswap-setup
#
################################################################################

PYTHON_RAMZSWAP_SETUP_VERSION = 0.1.0
PYTHON_RAMZSWAP_SETUP_SITE = $(BR2_EXTERNAL_RAMZSWAP_PATH)/ramzswap-setup
PYTHON_RAMZSWAP_SETUP_SITE_METHOD = local
PYTHON_RAMZSWAP_SETUP_SETUP_TYPE = setuptools
PYTHON_RAMZSWAP_SETUP_LICENSE = GPL-2.0
PYTHON_RAMZSWAP_SETUP_LICENSE_FILES = COPYING

# The init script, the systemd unit and the default configuration are the
# helper's own (ramzswap-setup/init/, where the test image takes them from too);
# the package installs them, so an image without the tree's overlay still starts
# ramzswap at boot.
PYTHON_RAMZSWAP_SETUP_INIT = $(BR2_EXTERNAL_RAMZSWAP_PATH)/ramzswap-setup/init

define PYTHON_RAMZSWAP_SETUP_INSTALL_CONFIG
	$(INSTALL) -D -m 0644 $(PYTHON_RAMZSWAP_SETUP_INIT)/ramzswap.conf \
		$(TARGET_DIR)/etc/ramzswap.conf
endef
PYTHON_RAMZSWAP_SETUP_POST_INSTALL_TARGET_HOOKS += PYTHON_RAMZSWAP_SETUP_INSTALL_CONFIG

# Idle writeback rounds: a root crontab for BusyBox crond (Buildroot's BusyBox
# configuration has crond, and S50crond reads /etc/cron/crontabs), or a timer
# that systemctl preset-all enables. A board's own root crontab, in its overlay,
# replaces this one and must carry the writeback line itself.
define PYTHON_RAMZSWAP_SETUP_INSTALL_INIT_SYSV
	$(INSTALL) -D -m 0755 $(PYTHON_RAMZSWAP_SETUP_INIT)/S11ramzswap-setup \
		$(TARGET_DIR)/etc/init.d/S11ramzswap-setup
	$(INSTALL) -D -m 0600 $(PYTHON_RAMZSWAP_SETUP_INIT)/crontab \
		$(TARGET_DIR)/etc/cron/crontabs/root
endef

define PYTHON_RAMZSWAP_SETUP_INSTALL_INIT_SYSTEMD
	$(INSTALL) -D -m 0644 $(PYTHON_RAMZSWAP_SETUP_INIT)/ramzswap-setup.service \
		$(TARGET_DIR)/usr/lib/systemd/system/ramzswap-setup.service
	$(INSTALL) -D -m 0644 $(PYTHON_RAMZSWAP_SETUP_INIT)/ramzswap-writeback.service \
		$(TARGET_DIR)/usr/lib/systemd/system/ramzswap-writeback.service
	$(INSTALL) -D -m 0644 $(PYTHON_RAMZSWAP_SETUP_INIT)/ramzswap-writeback.timer \
		$(TARGET_DIR)/usr/lib/systemd/system/ramzswap-writeback.timer
endef

$(eval $(python-package))
