"""A real board: its disks, flashing an image (`python -m rztools.board.flash`) and its
serial console on this terminal (`python -m rztools.board.console`).
"""
