################################################################################
#
# buildroot
#
################################################################################

# Buildroot targets of the ramzswap tree, included from the top-level Makefile.
#
#   make list-defconfigs                        the boards this tree builds
#   make BUILDROOT=<path> <name>_defconfig      configure out/<name>/
#   make BUILDROOT=<path> br-image              build out/<name>/images/
#   make BUILDROOT=<path> br-check              load every defconfig (offline)
#                                               and run check-package on the
#                                               tree's Buildroot files
#
# <path> is a Buildroot checkout. br-image builds the configuration named
# last by a <name>_defconfig target, or BUILDROOT_NAME=<name>.
# BUILDROOT_PYTHON runs check-package with another interpreter (it needs
# python-magic and flake8).

BUILDROOT_TREE := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BUILDROOT_OUT ?= $(BUILDROOT_TREE)/out
BUILDROOT_DEFCONFIGS := $(sort $(notdir $(wildcard $(BUILDROOT_TREE)/configs/*_defconfig)))
BUILDROOT_CURRENT = $(BUILDROOT_OUT)/.buildroot-current
BUILDROOT_NAME ?= $(shell cat $(BUILDROOT_CURRENT) 2>/dev/null)
BUILDROOT_PYTHON ?=
# What check-package knows how to check in an external tree.
BUILDROOT_CHECKED = Config.in external.mk external.desc \
	$(shell cd $(BUILDROOT_TREE) && find package configs board -type f | sort)

# Stops with one line when BUILDROOT is not a Buildroot checkout.
define buildroot-need-checkout
	$(if $(BUILDROOT),,$(error set BUILDROOT to a Buildroot checkout, e.g. make BUILDROOT=$$HOME/buildroot $@))
	$(if $(wildcard $(BUILDROOT)/support/scripts/br2-external),,$(error BUILDROOT=$(BUILDROOT) is not a Buildroot checkout))
endef

.PHONY: list-defconfigs br-image br-check $(BUILDROOT_DEFCONFIGS)

list-defconfigs:
	@echo "Boards of the ramzswap tree (make BUILDROOT=<path> <name>_defconfig):"
	@$(foreach d,$(BUILDROOT_DEFCONFIGS),echo "  $(d)";)

$(BUILDROOT_DEFCONFIGS):
	$(buildroot-need-checkout)
	@mkdir -p $(BUILDROOT_OUT)
	$(MAKE) -C $(BUILDROOT) BR2_EXTERNAL=$(BUILDROOT_TREE) O=$(BUILDROOT_OUT)/$(@:_defconfig=) $@
	@echo $(@:_defconfig=) >$(BUILDROOT_CURRENT)

br-image:
	$(buildroot-need-checkout)
	$(if $(BUILDROOT_NAME),,$(error nothing configured yet: run make BUILDROOT=<path> <name>_defconfig first (make list-defconfigs)))
	$(if $(wildcard $(BUILDROOT_OUT)/$(BUILDROOT_NAME)/.config),,$(error $(BUILDROOT_OUT)/$(BUILDROOT_NAME) is not configured: run make BUILDROOT=<path> $(BUILDROOT_NAME)_defconfig))
	$(MAKE) -C $(BUILDROOT) O=$(BUILDROOT_OUT)/$(BUILDROOT_NAME)
	@echo "images: $(BUILDROOT_OUT)/$(BUILDROOT_NAME)/images"

br-check:
	$(buildroot-need-checkout)
	@set -e; for d in $(BUILDROOT_DEFCONFIGS); do \
		echo "loading $$d"; \
		$(MAKE) -s -C $(BUILDROOT) BR2_EXTERNAL=$(BUILDROOT_TREE) \
			O=$(BUILDROOT_OUT)/br-check/$${d%_defconfig} $$d >/dev/null; \
	done
	cd $(BUILDROOT_TREE) && $(BUILDROOT_PYTHON) $(abspath $(BUILDROOT))/utils/check-package \
		--br2-external $(BUILDROOT_CHECKED)
