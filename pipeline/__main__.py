"""`python -m pipeline` is the `gifts` command."""

from pipeline.cli import main

main(prog_name="gifts")
