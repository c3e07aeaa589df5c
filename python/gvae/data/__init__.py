"""Data stage command line and its building blocks: ``python -m gvae.data`` (or ``gvae-data``).

Subcommands: ``generate`` (Pythia 8 jets, :mod:`gvae.generate`), ``convert`` (jets -> graph shards,
:func:`gvae.data.convert.convert`), ``inspect`` (statistics and event displays,
:func:`gvae.data.inspect_file.inspect`) and ``copy`` (format conversion through :mod:`gvae.io`).
Submodules are imported on demand so that ``--help`` stays fast.
"""
