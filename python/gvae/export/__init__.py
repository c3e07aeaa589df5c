"""``python -m gvae.export``: a trained checkpoint -> TorchScript ``.pt`` and AOTInductor ``.pt2``.

Two contract versions, chosen by the checkpoint's ``model.decoder``:

- ``latent`` (the default model) -> **contract v2** (``schemas/contract_v2.schema.json``): named entry
  points ``reconstruct`` (hits graph -> latent -> decoded hit set) and ``simulate`` (conditions
  ``[B,2]`` = (type, pT) + noise -> decoded hit set through the prior p(z | type, pT)), see
  :mod:`gvae.export.entry`. TorchScript keeps both as methods of one module; the AOTInductor package
  holds one compiled model per entry point (named by ``entry_points.<name>.aoti_model``). The
  contract records the batch range ``[1, --max-batch]`` the artifacts were compiled for (the C++
  library refuses batches outside it with ``InvalidInput``), the condition variables and their
  normalisation, and the snapping rule + thresholds (snapping to detector cells runs outside the
  graph: :mod:`gvae.model.snap` in Python, ``gvae/Snap.h`` in C++, same float64 rule).
- ``paper`` -> **contract v1** (unchanged, still written and read, so old artifacts and the paper
  model keep running): the one forward below. Any other ``schema_version`` is refused with
  ``ContractError`` naming it, in Python and in C++.

Contract v1 artifacts expose the inference signature of DESIGN section 7::

    forward(features f32 [B,N,6], neighbours i64 [B,N,k], mask bool [B,N], noise f32 [B,C,L])
        -> reconstruction f32 [B,N,3]

and carry the same model contract (:mod:`gvae.export.contract`), embedded and as a sidecar
``<file>.contract.json``. ``--verify`` runs the exported files on held-out graphs against the
eager model and fails with the measured differences when they exceed the tolerance.

TorchScript is produced by **scripting**, not tracing: :class:`gvae.model.InferenceModel` is
written to be scriptable, and scripting keeps every size (batch, clusters) symbolic and every
mask operation as a graph op, whereas a trace records one concrete execution and may bake in
Python-level values of the example batch. The scripted module is frozen
(:func:`torch.jit.freeze`: weights inlined as constants, no training-only attributes left).

AOTInductor is produced by :func:`torch.export.export` with one dynamic dimension ``batch``
(``1 <= B <= max_batch``, the other axes fixed by the contract) and
:func:`torch._inductor.aoti_compile_and_package`, with the contract JSON in the package
metadata under ``gvae_contract``. The package runs only on the device it was compiled for.
"""
from __future__ import annotations

from gvae.errors import VerificationError
from gvae.export.formats import (DEFAULT_MAX_BATCH, FORMAT_SUFFIX, PORTABLE_MARCH, aoti_inductor_configs, call,
                                 export_aoti, export_torchscript, load_exported)
from gvae.export.job import ExportResult, export
from gvae.export.source import ExportSource, contract_from_checkpoint, example_inputs, load_source, resolve_device
from gvae.export.verify import (DEFAULT_ATOL, DEFAULT_RTOL, Comparison, VerifyReport, compare, held_out_inputs,
                                verify)

__all__ = [
    "DEFAULT_MAX_BATCH", "FORMAT_SUFFIX", "PORTABLE_MARCH", "ExportResult", "aoti_inductor_configs", "call",
    "export", "export_aoti", "export_torchscript", "load_exported", "ExportSource", "contract_from_checkpoint",
    "example_inputs", "load_source", "resolve_device", "DEFAULT_ATOL", "DEFAULT_RTOL", "Comparison",
    "VerifyReport", "compare", "held_out_inputs", "verify", "VerificationError",
]
