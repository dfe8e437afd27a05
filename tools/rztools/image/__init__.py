"""The offline test image, assembled from Debian's parts: the build (entry point:
`python -m rztools.image`), Debian's archive, and the kernel modules the image takes.
"""
