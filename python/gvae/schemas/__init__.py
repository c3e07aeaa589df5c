"""JSON Schemas published by gvae (package data, read with :mod:`importlib.resources`).

``contract.schema.json`` is the schema of the model contract (DESIGN section 8); the copy
published in ``export/contract.schema.json`` is a relative symlink to this file.
"""
