"""python -m saliency.cli: the same as the saliency command."""

from . import main

main()
