################################################################################
#
# ramzswap
#
################################################################################

RAMZSWAP_VERSION = 0.1.0
RAMZSWAP_SITE = $(BR2_EXTERNAL_RAMZSWAP_PATH)/module
RAMZSWAP_SITE_METHOD = local
RAMZSWAP_LICENSE = GPL-2.0
RAMZSWAP_LICENSE_FILES = COPYING

# What the module needs of the kernel, once for every board: loadable modules
# that unload (the tests load and unload ramzswap), swap on a block device (it
# is a bio-based block driver), and the kernel's LZ4 library: it has no prompt
# of its own, CRYPTO_LZ4 is the option that pulls it in.  The other algorithms
# the user enabled (Config.in) come the same way: the module builds a backend
# for each library the kernel has, and offers only those in comp_algorithm.
define RAMZSWAP_LINUX_CONFIG_FIXUPS
	$(call KCONFIG_ENABLE_OPT,CONFIG_MODULES)
	$(call KCONFIG_ENABLE_OPT,CONFIG_MODULE_UNLOAD)
	$(call KCONFIG_ENABLE_OPT,CONFIG_SWAP)
	$(call KCONFIG_ENABLE_OPT,CONFIG_BLOCK)
	$(call KCONFIG_ENABLE_OPT,CONFIG_BLK_DEV)
	$(call KCONFIG_ENABLE_OPT,CONFIG_CRYPTO)
	$(call KCONFIG_ENABLE_OPT,CONFIG_CRYPTO_LZ4)
	$(if $(BR2_PACKAGE_RAMZSWAP_LZ4HC),$(call KCONFIG_ENABLE_OPT,CONFIG_CRYPTO_LZ4HC))
	$(if $(BR2_PACKAGE_RAMZSWAP_LZO),$(call KCONFIG_ENABLE_OPT,CONFIG_CRYPTO_LZO))
	$(if $(BR2_PACKAGE_RAMZSWAP_ZSTD),$(call KCONFIG_ENABLE_OPT,CONFIG_CRYPTO_ZSTD))
endef

$(eval $(kernel-module))
$(eval $(generic-package))
