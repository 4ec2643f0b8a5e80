"""``python -m kwscope``: the same command line as ``kwscope``."""

from .cli import main

main()
