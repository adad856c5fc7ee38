"""``python -m adapters.cli``: the same as the ``sanshi`` command (for a checkout that is not
installed, or to be sure which copy runs)."""

from adapters.cli import main

main(prog_name="sanshi")
