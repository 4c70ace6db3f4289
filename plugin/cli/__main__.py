"""``python -m plugin.cli``: the ``nudge`` command without its installed script."""

from plugin.cli import main

main(prog_name="nudge")
