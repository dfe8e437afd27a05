"""Host tools for the ramzswap appliance: test images, QEMU, serial console, flashing."""
