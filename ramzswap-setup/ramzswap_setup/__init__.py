"""ramzswap-setup: sizes, starts, stops and reports compressed RAM swap on a device.

Kept free of imports: `ramzswap-setup start` runs at boot and must be cheap.
"""

__version__ = "0.1.0"
