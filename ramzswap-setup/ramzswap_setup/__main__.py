"""`python3 -m ramzswap_setup ...` runs the command line."""

from .cli import main

main()
