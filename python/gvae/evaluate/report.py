"""The evaluation report: ``report.json`` (schema :data:`REPORT_SCHEMA`, checked before writing)
and ``report.md`` (the same numbers as tables).

``report.json`` layout (schema_version 1):

- ``created_utc``, ``gvae_version``
- ``checkpoint``: ``path``, ``sha256``, ``latent`` {``clusters``, ``dim``, ``size``}, ``config``
- ``data``: ``path``, ``split``, ``n_jets``, ``max_nodes``, ``k``, ``mean_n_nodes``,
  ``mean_dropped_energy_fraction`` (energy lost to graph truncation before the model, not counted in
  the EMD: original = the graph's nodes), ``jet_eta`` (how eta_jet was obtained)
- ``settings``: ``emd_R``, ``hit_threshold_gev``, ``noise`` ("zero": deterministic latent mean),
  ``baseline_train_jets_max``, ``workers``, ``radial_edges``
- ``baseline``: :meth:`gvae.evaluate.baseline.PCABaseline.summary`
- ``emd``: ``channels`` [track, ecal, hcal, all], ``unit`` "GeV", then for ``gvae`` and ``baseline``
  a summary (mean, std, q05, q16, median, q84, q95) per channel; ``gvae_better_fraction`` per channel
  (fraction of jets where the GVAE's EMD is smaller than the baseline's) and ``better_by_median``
  per channel ("gvae" or "baseline")
- ``observables``: per observable {``description``, ``gvae``, ``baseline``}, each the output of
  :func:`gvae.evaluate.observables.compare` (``response`` summary of reco/original,
  ``n_response_undefined``, ``w1``, ``original`` and ``reconstruction`` summaries)
- ``radial_profile``: ``edges`` and mean profiles ``original``, ``gvae``, ``baseline``
- ``timing_s``: wall-clock seconds per stage
- ``plots``: file names relative to the report directory
- ``notes``: list of sentences the reader must know (rank-limited baseline, assumptions)

Undefined statistics (NaN) are written as ``null``.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from gvae.evaluate.emd import EMD_CHANNELS
from gvae.evaluate.observables import OBSERVABLES

SCHEMA_VERSION = 1

#: A statistic: a number, or null where it is undefined (e.g. the response of an all-zero sample).
_NUM = {"type": ["number", "null"]}
_SUMMARY = {"type": "object", "required": ["mean", "std", "q05", "q16", "median", "q84", "q95"],
            "properties": {k: _NUM for k in ("mean", "std", "q05", "q16", "median", "q84", "q95")}}
_COMPARE = {"type": "object", "required": ["response", "n_response_undefined", "w1", "original", "reconstruction"],
            "properties": {"response": _SUMMARY, "n_response_undefined": {"type": "integer", "minimum": 0},
                           "w1": _NUM, "original": _SUMMARY, "reconstruction": _SUMMARY}}
_PER_CHANNEL = {"type": "object", "required": list(EMD_CHANNELS),
                "properties": {c: _SUMMARY for c in EMD_CHANNELS}, "additionalProperties": False}
_NUM_LIST = {"type": "array", "items": _NUM}

#: JSON schema of ``report.json`` (draft 2020-12).
REPORT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "gvae evaluation report",
    "type": "object",
    "required": ["schema_version", "created_utc", "gvae_version", "checkpoint", "data", "settings", "baseline",
                 "emd", "observables", "radial_profile", "timing_s", "plots", "notes"],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "created_utc": {"type": "string"},
        "gvae_version": {"type": "string"},
        "checkpoint": {"type": "object", "required": ["path", "sha256", "latent"],
                       "properties": {"path": {"type": "string"}, "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                                      "latent": {"type": "object", "required": ["clusters", "dim", "size"],
                                                 "properties": {k: {"type": "integer", "minimum": 1}
                                                                for k in ("clusters", "dim", "size")}}}},
        "data": {"type": "object",
                 "required": ["path", "split", "n_jets", "max_nodes", "k", "mean_n_nodes",
                              "mean_dropped_energy_fraction", "jet_eta"],
                 "properties": {"path": {"type": "string"}, "split": {"type": "string"},
                                "n_jets": {"type": "integer", "minimum": 1}, "max_nodes": {"type": "integer"},
                                "k": {"type": "integer"}, "mean_n_nodes": _NUM,
                                "mean_dropped_energy_fraction": {"type": "number", "minimum": 0, "maximum": 1},
                                "jet_eta": {"type": "string"}}},
        "settings": {"type": "object", "required": ["emd_R", "hit_threshold_gev", "noise", "radial_edges"],
                     "properties": {"emd_R": {"type": "number", "exclusiveMinimum": 0},
                                    "hit_threshold_gev": {"type": "number", "minimum": 0},
                                    "noise": {"const": "zero"}, "radial_edges": _NUM_LIST}},
        "baseline": {"type": "object",
                     "required": ["method", "requested_components", "components", "training_jets", "data_rank",
                                  "rank_limited", "explained_variance_fraction"],
                     "properties": {"method": {"const": "pca"}, "requested_components": {"type": "integer"},
                                    "components": {"type": "integer"}, "training_jets": {"type": "integer"},
                                    "data_rank": {"type": "integer"}, "rank_limited": {"type": "boolean"},
                                    "explained_variance_fraction": _NUM}},
        "emd": {"type": "object",
                "required": ["channels", "unit", "gvae", "baseline", "gvae_better_fraction", "better_by_median"],
                "properties": {
                    "channels": {"const": list(EMD_CHANNELS)}, "unit": {"const": "GeV"},
                    "gvae": _PER_CHANNEL, "baseline": _PER_CHANNEL,
                    "gvae_better_fraction": {"type": "object", "required": list(EMD_CHANNELS),
                                             "properties": {c: {"type": "number", "minimum": 0, "maximum": 1}
                                                            for c in EMD_CHANNELS}},
                    "better_by_median": {"type": "object", "required": list(EMD_CHANNELS),
                                         "properties": {c: {"enum": ["gvae", "baseline", "tie"]}
                                                        for c in EMD_CHANNELS}}}},
        "observables": {"type": "object", "required": list(OBSERVABLES), "additionalProperties": False,
                        "properties": {n: {"type": "object", "required": ["description", "gvae", "baseline"],
                                           "properties": {"description": {"type": "string"},
                                                          "gvae": _COMPARE, "baseline": _COMPARE}}
                                       for n in OBSERVABLES}},
        "radial_profile": {"type": "object", "required": ["edges", "original", "gvae", "baseline"],
                           "properties": {k: _NUM_LIST for k in ("edges", "original", "gvae", "baseline")}},
        "timing_s": {"type": "object", "additionalProperties": _NUM},
        "plots": {"type": "array", "items": {"type": "string"}},
        "notes": {"type": "array", "items": {"type": "string"}},
    },
}


def _clean(value: Any) -> Any:
    """NaN/inf -> None (strict JSON); numpy scalars -> Python."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def validate(report: dict[str, Any]) -> None:
    """Check a report against :data:`REPORT_SCHEMA` (raises ``jsonschema.ValidationError``)."""
    import jsonschema

    jsonschema.validate(report, REPORT_SCHEMA)


def plain_report(report: dict[str, Any]) -> dict[str, Any]:
    """The report as plain JSON values (NaN/inf -> None, numpy -> Python, tuples -> lists), validated
    against :data:`REPORT_SCHEMA`: what ``report.json`` holds, without writing and reading it."""
    clean = _clean(report)
    validate(clean)
    return clean


def write_json(report: dict[str, Any], path: Path) -> Path:
    """Validate and write ``report.json``."""
    path.write_text(json.dumps(plain_report(report), indent=2) + "\n")
    return path


def _fmt(x: float | None) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:.4g}"


def markdown(report: dict[str, Any]) -> str:
    """The report as markdown tables."""
    r = report
    lat = r["checkpoint"]["latent"]
    b = r["baseline"]
    lines = [
        "# gvae evaluation",
        "",
        f"- checkpoint: `{r['checkpoint']['path']}` (sha256 {r['checkpoint']['sha256'][:12]}...), latent "
        f"{lat['clusters']} x {lat['dim']} = {lat['size']}",
        f"- data: `{r['data']['path']}` split `{r['data']['split']}`, {r['data']['n_jets']} jets, "
        f"max_nodes {r['data']['max_nodes']}, mean nodes/jet {_fmt(r['data']['mean_n_nodes'])}, mean energy "
        f"fraction dropped by truncation {_fmt(r['data']['mean_dropped_energy_fraction'])}",
        f"- reconstruction: deterministic (noise = 0, latent mean); EMD radius R = {r['settings']['emd_R']}, "
        f"hit threshold {r['settings']['hit_threshold_gev']} GeV",
        f"- baseline: PCA on {b['representation'] if 'representation' in b else 'node features'}, "
        f"{b['components']} components (requested {b['requested_components']}), fitted on {b['training_jets']} "
        f"training jets, explained variance {_fmt(b['explained_variance_fraction'])}",
        "",
        "## EMD per jet [GeV] (every jet kept)",
        "",
        "| channel | model | mean | median | q16 | q84 | q95 | GVAE better (jets) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in r["emd"]["channels"]:
        for m in ("gvae", "baseline"):
            s = r["emd"][m][c]
            frac = _fmt(r["emd"]["gvae_better_fraction"][c]) if m == "gvae" else ""
            lines.append(f"| {c} | {'GVAE' if m == 'gvae' else 'PCA'} | {_fmt(s['mean'])} | **{_fmt(s['median'])}** | "
                         f"{_fmt(s['q16'])} | {_fmt(s['q84'])} | {_fmt(s['q95'])} | {frac} |")
    lines += ["", "Better by median EMD: " + ", ".join(f"{c}: **{w}**" for c, w in r["emd"]["better_by_median"].items()),
              "", "## Observables: response (reco / original) and W1 between distributions", "",
              "| observable | model | response median | response mean | response q16-q84 | W1 | original mean | reco mean |",
              "|---|---|---|---|---|---|---|---|"]
    for n, o in r["observables"].items():
        for m in ("gvae", "baseline"):
            c = o[m]
            resp = c["response"]
            lines.append(f"| {n} | {'GVAE' if m == 'gvae' else 'PCA'} | {_fmt(resp['median'])} | {_fmt(resp['mean'])} | "
                         f"{_fmt(resp['q16'])} - {_fmt(resp['q84'])} | {_fmt(c['w1'])} | "
                         f"{_fmt(c['original']['mean'])} | {_fmt(c['reconstruction']['mean'])} |")
    rp = r["radial_profile"]
    lines += ["", "## Mean radial energy profile (fraction of jet energy per annulus)", "",
              "| r range | original | GVAE | PCA |", "|---|---|---|---|"]
    for i in range(len(rp["edges"]) - 1):
        lines.append(f"| {rp['edges'][i]:.2f}-{rp['edges'][i + 1]:.2f} | {_fmt(rp['original'][i])} | "
                     f"{_fmt(rp['gvae'][i])} | {_fmt(rp['baseline'][i])} |")
    if r["notes"]:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in r["notes"]]
    if r["plots"]:
        lines += ["", "## Plots", ""] + [f"- [{p}]({p})" for p in r["plots"]]
    lines += ["", "Timing [s]: " + ", ".join(f"{k} {v:.1f}" for k, v in r["timing_s"].items()), ""]
    return "\n".join(lines)


def write_markdown(report: dict[str, Any], path: Path) -> Path:
    """Write ``report.md``."""
    path.write_text(markdown(_clean(report)))
    return path
