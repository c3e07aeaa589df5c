"""Data stage command line and its building blocks: ``python -m gvae.data`` (or ``gvae-data``).

Subcommands: ``generate`` (Pythia 8 jets, :mod:`gvae.data.generate`), ``convert`` (jets -> graph shards,
:func:`gvae.data.convert.convert`), ``inspect`` (statistics and event displays,
:func:`gvae.data.inspect.inspect`) and ``copy`` (format conversion through :mod:`gvae.io`).
``convert --from delphes`` turns Delphes ROOT events into jet files (:mod:`gvae.data.delphes`).
Building blocks: the CMS-like detector (:mod:`gvae.data.detector`), small synthetic jet
fixtures (:mod:`gvae.data.synthetic`) and event displays (:mod:`gvae.data.display`).
Submodules are imported on demand so that ``--help`` stays fast.
"""
