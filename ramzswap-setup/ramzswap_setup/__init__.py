"""ramzswap-setup: sizes, starts, stops and reports compressed RAM swap on a device.

Kept free of imports: `ramzswap-setup start` runs at boot and must be cheap. The modules on its
path import what every start needs and nothing else (the rest when it is needed), and go
without `from __future__ import annotations`, which imports __future__ at run time: names that
exist only for type checkers are quoted. tests/host/setup/test_setup_cli.py holds them to it.

Layers, top down; a module imports from its own layer or those below
(tests/host/tools/test_imports.py fails on a cycle):

  command line   __main__, cli (start/stop at boot, click-free), commands (the click group),
                 invocation (what a run gets injected, failures as one line and a status)
  commands' work startstop, status, estimate, writeback
  deciding       plan (what start would do and why), policy (sizing rules), config (settings
                 and where each came from), backing_checks, flash_budget, state,
                 writeback_policy (idle writeback rounds and their budget)
  the drivers    backends (ramzswap and zram behind one interface), swapheader
  the system     env, kernel, modload, libc, rootfs, procfs, signatures, kvfile
  plain values   sizes, errors
"""

__version__ = "0.1.0"
