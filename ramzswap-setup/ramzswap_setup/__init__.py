"""ramzswap-setup: sizes, starts, stops and reports compressed RAM swap on a device.

Kept free of imports: `ramzswap-setup start` runs at boot and must be cheap. The modules on its
path import what every start needs and nothing else (the rest when it is needed), and go
without `from __future__ import annotations`, which imports __future__ at run time: names that
exist only for type checkers are quoted. tests/host/setup/test_setup_cli.py holds them to it.
"""

__version__ = "0.1.0"
