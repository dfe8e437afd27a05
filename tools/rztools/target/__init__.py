"""A booted target and what runs on it: the serial console, QEMU, the booter, processes
and swap devices in the guest, and the guest-side scripts (guest/).  Entry points:
`python -m rztools.target.run` (`make run`) and `python -m rztools.target.demo`.
"""
