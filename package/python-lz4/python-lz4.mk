################################################################################
#
# python-lz4
#
################################################################################

PYTHON_LZ4_VERSION = 4.4.5
PYTHON_LZ4_SOURCE = lz4-$(PYTHON_LZ4_VERSION).tar.gz
PYTHON_LZ4_SITE = https://files.pythonhosted.org/packages/57/51/f1b86d93029f418033dddf9b9f79c8d2641e7454080478ee2aab5123173e
PYTHON_LZ4_SETUP_TYPE = setuptools
PYTHON_LZ4_LICENSE = BSD-3-Clause
PYTHON_LZ4_LICENSE_FILES = LICENSE
PYTHON_LZ4_DEPENDENCIES = host-python-pkgconfig host-python-setuptools-scm lz4
# Link against the target's liblz4 rather than the copy bundled in the sdist.
PYTHON_LZ4_ENV = PYLZ4_USE_SYSTEM_LZ4=True

$(eval $(python-package))
