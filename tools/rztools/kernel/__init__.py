"""Kernel trees and configurations: the compile matrix of `make check-kernels`
(`python -m rztools.kernel.check`), Debian's kernel trees, and Kconfig fragments
(`python -m rztools.kernel.kfragment`).
"""
