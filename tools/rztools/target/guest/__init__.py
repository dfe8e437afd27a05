"""Scripts the host copies into a guest and runs there with the guest's python3.

Each is a standalone program (standard library, plus python3-lz4 where said) and
also importable on the host, so its pure parts are tested there.
"""
