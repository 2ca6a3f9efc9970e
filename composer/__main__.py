"""`python -m composer …` (and `torchrun -m composer …`) run the CLI."""

from composer.cli import main

main()
