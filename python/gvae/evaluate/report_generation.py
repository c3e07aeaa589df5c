"""Report sections of issue 14: reconstruction baselines at the latent size and generation figures
with their truth floors. Rendered into ``report.md`` by :func:`gvae.evaluate.report.markdown`
and checked by the schema of :mod:`gvae.evaluate.report` when present.

``reconstruction_baselines`` (see :func:`reconstruction_section`)::

    {"latent_size": int, "n_train": int, "n_test": int,
     "models": {name: {"label": str, "summary": {...} | null,
                       "emd": {channel: summary}, "observables": {name: compare}}}}

``generation``: the dict returned by :func:`gvae.evaluate.generation.evaluate_generation`.
"""
from __future__ import annotations

import math
from typing import Any

from gvae.evaluate.emd import EMD_CHANNELS

_NUM = {"type": ["number", "null"]}
_SUMMARY = {"type": "object", "required": ["median", "q16", "q84"],
            "properties": {k: _NUM for k in ("mean", "std", "q05", "q16", "median", "q84", "q95")}}
#: Schema of the ``reconstruction_baselines`` section.
RECONSTRUCTION_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["latent_size", "models"],
    "properties": {
        "latent_size": {"type": "integer", "minimum": 1},
        "models": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["label", "emd", "observables"],
            "properties": {"label": {"type": "string"},
                           "emd": {"type": "object", "required": list(EMD_CHANNELS),
                                   "properties": {c: _SUMMARY for c in EMD_CHANNELS}},
                           "observables": {"type": "object"}}}}},
}
_FIG = {"type": "object", "required": ["value", "floor", "multiple"],
        "properties": {"value": _NUM, "floor": _NUM, "multiple": _NUM}}
#: Schema of the ``generation`` section.
GENERATION_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["settings", "types"],
    "properties": {
        "types": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["n_jets", "floor", "samples"],
            "properties": {"n_jets": {"type": "integer", "minimum": 1},
                           "samples": {"type": "object", "additionalProperties": {
                               "type": "object", "required": ["w1", "fpd", "kpd", "auc"],
                               "properties": {"w1": {"type": "object", "additionalProperties": _FIG},
                                              "fpd": _FIG, "kpd": _FIG, "auc": _FIG}}}}}},
        "plots": {"type": "array", "items": {"type": "string"}},
    },
}

#: Observables whose responses the reconstruction table shows.
RESPONSES: tuple[str, ...] = ("n_hits_track", "n_hits_ecal", "n_hits_hcal", "energy_track", "energy_ecal",
                               "energy_hcal", "energy_total", "mass_calo")


def _fmt(x: Any) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:.4g}"


def reconstruction_markdown(section: dict[str, Any]) -> list[str]:
    """Markdown lines of the ``reconstruction_baselines`` section."""
    models = section["models"]
    lines = ["", f"## Reconstruction at {section['latent_size']} numbers per jet: EMD [GeV] median (q16-q84)", "",
             "| model | " + " | ".join(EMD_CHANNELS) + " |", "|---|" + "---|" * len(EMD_CHANNELS)]
    for m in models.values():
        cells = [f"**{_fmt(m['emd'][c]['median'])}** ({_fmt(m['emd'][c]['q16'])}-{_fmt(m['emd'][c]['q84'])})"
                 for c in EMD_CHANNELS]
        lines.append(f"| {m['label']} | " + " | ".join(cells) + " |")
    lines += ["", "Responses (reco / original), median (q16-q84):", "",
              "| model | " + " | ".join(RESPONSES) + " |", "|---|" + "---|" * len(RESPONSES)]
    for m in models.values():
        cells = []
        for o in RESPONSES:
            r = m["observables"].get(o, {}).get("response")
            cells.append("n/a" if r is None else f"{_fmt(r['median'])} ({_fmt(r['q16'])}-{_fmt(r['q84'])})")
        lines.append(f"| {m['label']} | " + " | ".join(cells) + " |")
    return lines


def _mult(x: Any) -> str:
    return "n/a" if x is None else f"{x:.2f}x"


def prior_markdown(prior: dict[str, Any]) -> list[str]:
    """Markdown lines of the prior's covariance selection (:mod:`gvae.model.prior`): per jet type and
    candidate the validation latents' mean log-likelihood (nats per jet, higher is better) and Frechet
    distance (lower is better); the chosen candidate in bold."""
    sel = prior.get("heldout_loglik_per_jet", {})
    chosen = prior.get("covariance", {})
    forced = (prior.get("fit") or {}).get("covariance", "auto")
    lines = ["", "## Prior p(z | type, pT): covariance chosen on held-out latents", "",
             f"Criterion `{prior.get('criterion', 'loglik')}`"
             + (f" (not used: covariance forced to `{forced}`)" if forced not in ("auto", None) else "") + "; chosen: "
             + (", ".join(f"{t} `{c}`" for t, c in chosen.items()) or "n/a")
             + (f"; unconditional N(0, I) log-likelihood: {sel['standard_normal']:.1f}" if "standard_normal" in sel else "")
             + (f"; chosen prior's log-likelihood over all validation jets: {sel['heldout']:.1f}" if "heldout" in sel else "")
             + ". Per type: validation log-likelihood [nats per jet] / Frechet distance of the residuals."]
    own = [k for k in sel if ":" in k and not k.startswith("mixture:")]
    keys = sorted({k.split(":", 1)[0] for k in own})
    cands = [c for c in dict.fromkeys(k.split(":")[1] for k in own) if c != "chosen"]
    if not keys:
        return lines
    names = {"0": "qcd", "1": "ttbar"}
    lines += ["", "| candidate | " + " | ".join(f"{names.get(k, k)} loglik | {names.get(k, k)} Frechet" for k in keys) + " |",
              "|---|" + "---|---|" * len(keys)]
    for c in cands:
        cells = []
        for k in keys:
            bold = chosen.get(names.get(k, k)) == c
            for key in (f"{k}:{c}", f"{k}:{c}:frechet"):
                v = sel.get(key)
                txt = "" if v is None else f"{v:.1f}"
                cells.append(f"**{txt}**" if v is not None and bold else txt)
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return lines + _mixture_markdown(prior, keys, names)


def _mixture_markdown(prior: dict[str, Any], keys: list[str], names: dict[str, str]) -> list[str]:
    """The mixture refinement of each type's Gaussian: validation log-likelihood per number of
    components (``mixture:<type>:<K>`` of the selection; 1 = the Gaussian above), the chosen one in bold,
    and the chosen weights."""
    sel = prior.get("heldout_loglik_per_jet", {})
    grid = sorted({int(k.split(":")[2]) for k in sel if k.startswith("mixture:") and k.split(":")[2].isdigit()})
    if not grid:
        return []
    comps, weights = prior.get("components", {}), prior.get("weights", {})
    lines = ["", "Mixture refinement (K components per type from k-means++ and EM, each covariance shrunk towards "
             "the Gaussian above; K and the shrinkage chosen by validation log-likelihood; `kept` = components "
             "left after EM drops those with fewer than 8 jets): " + ", ".join(f"{t} {comps.get(t, 1)} component(s)"
                                             + (f" with weights {', '.join(f'{w:.3f}' for w in weights[t])}"
                                                if len(weights.get(t, [])) > 1 else "") for t in comps) + ".",
             "", "| components | " + " | ".join(f"{names.get(k, k)} loglik (kept)" for k in keys) + " |",
             "|---|" + "---|" * len(keys)]
    for c in grid:
        cells = []
        for k in keys:
            v, kept = sel.get(f"mixture:{k}:{c}"), sel.get(f"mixture:{k}:{c}:kept")
            txt = "" if v is None else f"{v:.1f}" + (f" ({int(kept)})" if kept is not None and int(kept) != c else "")
            chosen = sel.get(f"mixture:{k}:chosen", float(comps.get(names.get(k, k), 1)))
            cells.append(f"**{txt}**" if v is not None and int(chosen) == c else txt)
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return lines


def generation_markdown(section: dict[str, Any], max_w1_rows: int | None = None) -> list[str]:
    """Markdown lines of the ``generation`` section: per jet type, a summary table (FPD, KPD, AUC,
    W1s within 2x floor) and the W1 table, every figure beside its floor and as a multiple of it."""
    lines = ["", "## Generation vs held-out Pythia jets (each figure beside its truth floor)", "",
             "Floor = the same figure between two disjoint halves of the real jets, same size as every sample. "
             "W1/FPD/KPD multiple = value / floor (FPD, KPD: / max(floor, floor error)); AUC multiple = "
             "|AUC - 0.5| / max(|floor - 0.5|, sigma_0)."]
    for t, entry in section["types"].items():
        samples = entry["samples"]
        lines += ["", f"### {t}: {entry['n_jets']} jets per sample", "",
                  "| sample | FPD (floor) | x floor | KPD (floor) | x floor | AUC (floor) | x floor | W1s within 2x floor |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, s in samples.items():
            f, k, a = s["fpd"], s["kpd"], s["auc"]
            lines.append(f"| {name} | {_fmt(f['value'])} ± {_fmt(f['error'])} ({_fmt(f['floor'])} ± {_fmt(f['floor_error'])}) "
                         f"| {_mult(f['multiple'])} | {_fmt(k['value'])} ± {_fmt(k['error'])} ({_fmt(k['floor'])} ± "
                         f"{_fmt(k['floor_error'])}) | {_mult(k['multiple'])} | {_fmt(a['value'])} ({_fmt(a['floor'])}) "
                         f"| {_mult(a['multiple'])} | {s['w1_within_2x_floor']} / {s['w1_count']} |")
        names = list(samples)
        lines += ["", "| W1 of | floor | " + " | ".join(f"{n} (x floor)" for n in names) + " |",
                  "|---|---|" + "---|" * len(names)]
        features = list(entry["floor"]["w1"])
        for feat in features[:max_w1_rows] if max_w1_rows else features:
            cells = [f"{_fmt(samples[n]['w1'][feat]['value'])} ({_mult(samples[n]['w1'][feat]['multiple'])})" for n in names]
            lines.append(f"| {feat} | {_fmt(entry['floor']['w1'][feat])} | " + " | ".join(cells) + " |")
    if section.get("notes"):
        lines += [""] + [f"- {n}" for n in section["notes"]]
    return lines
