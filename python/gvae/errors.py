"""Typed errors. Every exception gvae raises derives from :class:`GvaeError`.

The C++ library throws the same hierarchy (``gvae::Error`` and subclasses); the pybind11
bindings translate each C++ type into the Python class of the same name below.
"""
from __future__ import annotations


class GvaeError(Exception):
    """Base class of every gvae error (C++: ``gvae::Error``)."""


class ConfigError(GvaeError, ValueError):
    """A configuration value is missing, of the wrong type or out of range."""


class DataError(GvaeError):
    """Bad input data. Names the file, the row (jet index) and the field where known."""

    def __init__(self, message: str, *, file: str | None = None, row: int | None = None,
                 field: str | None = None) -> None:
        self.file, self.row, self.field = file, row, field
        where = []
        if file is not None:
            where.append(f"file '{file}'")
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field '{field}'")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class FormatError(DataError):
    """The file format is unknown or the file cannot be opened as the format it claims."""


class SchemaError(DataError):
    """A column/branch/dataset is missing or has the wrong type or shape."""


class CorruptFileError(DataError):
    """The file is truncated or its bytes cannot be decoded."""


class InvalidInput(DataError):
    """Hits that cannot be turned into a graph: NaN/Inf, negative energy, indices outside
    the window, unknown channel (C++: ``gvae::InvalidInput``)."""


class ModelLoadError(GvaeError):
    """A model file cannot be read or deserialised (C++: ``gvae::ModelLoadError``)."""


class ContractError(GvaeError):
    """A model contract is missing, malformed, of an unknown version, or does not match the
    model or the library (C++: ``gvae::ContractError``)."""


class DeviceUnavailable(GvaeError):
    """The requested device (e.g. CUDA) is not available (C++: ``gvae::DeviceUnavailable``)."""


class VerificationError(ContractError):
    """An exported model (or another comparison a command makes) differs from its reference
    beyond the tolerance; stage commands exit with 1 on it (:mod:`gvae.cli`)."""


__all__ = [
    "GvaeError", "ConfigError", "DataError", "FormatError", "SchemaError", "CorruptFileError",
    "InvalidInput", "ModelLoadError", "ContractError", "DeviceUnavailable",
    "VerificationError",
]
