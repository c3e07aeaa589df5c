"""``python -m gvae.export``: see :func:`gvae.export.build_parser` (``--help``)."""
import sys

from gvae.export import main

if __name__ == "__main__":
    sys.exit(main())
