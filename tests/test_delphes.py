"""Delphes ROOT files -> gvae jet images (gvae.io.delphes, gvae.data.delphes, ``convert --from delphes``).

The real file ``tests/data/delphes_ttbar_10events.root`` (copy of ../shared/data/) (10 ttbar events, Delphes CMS-like card,
nested split branches) is copied to a temporary directory; bigger synthetic Delphes-shaped trees are
written with uproot (flat ``Collection.Field`` branches, several baskets) for chunking, edge cases and
errors. Reference numbers are computed here independently: FastJet's classic PseudoJet interface
event by event, and plain per-jet loops for the energy sums and pixel positions.
"""
from __future__ import annotations

import csv
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

import gvae.data.delphes
from gvae import geometry, io
from gvae.data.__main__ import main as data_main
from gvae.data.delphes_synthetic import synthetic_events, write_delphes
from gvae.data.delphes import UNKNOWN_LABEL, DelphesOptions, convert_delphes, read_delphes
from gvae.errors import ConfigError, FormatError, InvalidInput, SchemaError

#: The real file: $GVAE_DELPHES_TEST_FILE, else the committed copy in tests/data/ (see its README),
#: else ../shared/data/ beside the checkout (worktrees: one level up).
_CANDIDATES = [Path(os.environ["GVAE_DELPHES_TEST_FILE"])] if os.environ.get("GVAE_DELPHES_TEST_FILE") else [
    Path(__file__).resolve().parent / "data" / "delphes_ttbar_10events.root"] + [
    Path(__file__).resolve().parents[n] / "shared" / "data" / "delphes_ttbar_10events.root" for n in (2, 3)]
REAL = next((p for p in _CANDIDATES if p.exists()), _CANDIDATES[0])
NEUTRALS = ("EFlowPhoton", "EFlowNeutralHadron")
CH = {name: i for i, name in enumerate(geometry.CHANNELS)}


@pytest.fixture(scope="module")
def real_file(tmp_path_factory) -> Path:
    if not REAL.exists():
        pytest.fail(f"the shared test file is missing (looked at {', '.join(map(str, _CANDIDATES))}; "
                    "see tests/data/README.md or set GVAE_DELPHES_TEST_FILE)")
    dst = tmp_path_factory.mktemp("delphes") / "ttbar.root"
    shutil.copy(REAL, dst)
    return dst


@pytest.fixture(scope="module")
def real_events(real_file) -> dict[str, np.ndarray]:
    """Per-event numpy arrays of the EFlow fields, read with plain uproot (independent of gvae.io.delphes)."""
    names = [f"EFlowTrack.{f}" for f in ("PT", "Eta", "Phi", "EtaOuter", "PhiOuter")]
    names += [f"{c}.{f}" for c in NEUTRALS for f in ("ET", "Eta", "Phi", "Eem", "Ehad")]
    names += [f"Jet.{f}" for f in ("PT", "Eta", "Phi", "Mass")]
    with uproot.open(real_file) as f:
        arrays = f["Delphes"].arrays(names)
    return {n: [np.asarray(v, np.float64) for v in ak.to_list(arrays[n])] for n in names}


# ------------------------------------------------------------------------------------------------
# independent references

def wrap(x):
    return (np.asarray(x, np.float64) + np.pi) % (2 * np.pi) - np.pi


def fastjet_reference(ev: dict, n_events: int, radius: float, pt_min: float) -> list[list[tuple[float, ...]]]:
    """Per event: (pt, eta, phi, m) of the anti-kt jets with pT >= pt_min, classic FastJet interface."""
    import fastjet
    import fastjet._swig as fj_swig

    fj_swig.ClusterSequence.set_fastjet_banner_stream(None)
    out = []
    for e in range(n_events):
        inputs = []
        for pt, eta, phi in zip(ev["EFlowTrack.PT"][e], ev["EFlowTrack.Eta"][e], ev["EFlowTrack.Phi"][e]):
            if pt > 0:
                inputs.append((pt, eta, phi))
        for c in NEUTRALS:
            for pt, eta, phi in zip(ev[f"{c}.ET"][e], ev[f"{c}.Eta"][e], ev[f"{c}.Phi"][e]):
                if pt > 0:
                    inputs.append((pt, eta, phi))
        pj = [fastjet.PseudoJet(pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta), pt * math.cosh(eta))
              for pt, eta, phi in inputs]
        cs = fastjet.ClusterSequence(pj, fastjet.JetDefinition(fastjet.antikt_algorithm, radius))
        out.append([(j.pt(), j.eta(), j.phi_std(), j.m()) for j in fastjet.sorted_by_pt(cs.inclusive_jets(pt_min))])
    return out


def reference_sums(ev: dict, event: int, eta: float, phi: float, radius: float) -> np.ndarray:
    """Energy per channel [track, ECAL, HCAL] of the EFlow objects within ``radius`` of (eta, phi)."""
    sums = np.zeros(3)
    for i, pt in enumerate(ev["EFlowTrack.PT"][event]):
        d2 = (ev["EFlowTrack.Eta"][event][i] - eta) ** 2 + wrap(ev["EFlowTrack.Phi"][event][i] - phi) ** 2
        if pt > 0 and d2 < radius ** 2:
            sums[0] += pt
    for c in NEUTRALS:
        for i in range(len(ev[f"{c}.Eta"][event])):
            d2 = (ev[f"{c}.Eta"][event][i] - eta) ** 2 + wrap(ev[f"{c}.Phi"][event][i] - phi) ** 2
            if d2 < radius ** 2:
                sums[1] += ev[f"{c}.Eem"][event][i]
                sums[2] += ev[f"{c}.Ehad"][event][i]
    return sums


# ------------------------------------------------------------------------------------------------
# the real file

def test_real_file_every_jet_above_the_pt_cut_becomes_an_image(real_file, real_events, tmp_path):
    """CLI: every FastJet anti-kt R=0.8 jet with pT >= 20 GeV of the 10 events is one row, in event order
    then descending pT, with its pT, eta, phi and mass; labels are unknown (-1)."""
    out = tmp_path / "jets.parquet"
    rc = data_main(["convert", str(real_file), str(out), "--from", "delphes", "--pt-min", "20", "--eta-max", "inf",
                    "--no-progress"])
    assert rc == 0
    ref = fastjet_reference(real_events, 10, 0.8, 20.0)
    expected = [j for jets in ref for j in jets]
    jets = io.read_jets(out)
    assert len(jets) == len(expected) == sum(len(r) for r in ref) > 30
    np.testing.assert_allclose(jets.pt, [j[0] for j in expected], rtol=1e-5)
    np.testing.assert_allclose(jets.eta, [j[1] for j in expected], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(jets.phi, [j[2] for j in expected], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(jets.m0, [j[3] for j in expected], rtol=1e-4, atol=1e-2)
    assert np.all(jets.y == UNKNOWN_LABEL)
    # every jet is a real image: something painted in every one
    assert np.all(jets.images.reshape(len(jets), -1).sum(axis=1) > 0)
    csv_rows = (tmp_path / "jets.parquet.delphes.csv").read_text().splitlines()
    assert len(csv_rows) == len(jets) + 1
    events = [int(r.split(",")[1]) for r in csv_rows[1:]]
    assert events == [e for e, jets_e in enumerate(ref) for _ in jets_e]


@pytest.mark.parametrize("paint_radius", [None, 1.5])
def test_real_file_painted_plus_outside_equals_objects_within_radius(real_file, real_events, paint_radius):
    """Per jet and channel: energy in the image + reported out-of-window energy == sum of the EFlow objects
    within the painting radius (float precision). At R = 1.5 a fifth of it lies outside the window."""
    options = DelphesOptions(pt_min=20.0, eta_max=math.inf, paint_radius=paint_radius)
    jets, report = read_delphes(real_file, options)
    radius = options.radius
    image_sums = jets.images.sum(axis=(2, 3), dtype=np.float64)
    for j in range(len(jets)):
        ref = reference_sums(real_events, int(report.jets.event[j]), float(jets.eta[j]), float(jets.phi[j]), radius)
        np.testing.assert_allclose(image_sums[j] + report.jets.outside[j], ref, rtol=2e-6, atol=1e-4,
                                   err_msg=f"jet {j}")
        np.testing.assert_allclose(report.jets.painted[j], image_sums[j], rtol=2e-6, atol=1e-4)
    totals = report.totals()
    if paint_radius is None:
        # R = 0.8 fits in the window (half-width 1.09): only tracks bent far away by the field leave it
        assert totals["ecal"]["outside_gev"] == 0 and totals["hcal"]["outside_gev"] == 0
        assert totals["track"]["outside_gev"] > 0
    else:
        for c in geometry.CHANNELS:
            assert 0.1 < totals[c]["outside_fraction"] < 0.5


def test_real_file_inspect_and_graph_convert_work_on_the_result(real_file, tmp_path, capsys):
    out = tmp_path / "jets.h5"
    report = convert_delphes(real_file, out, DelphesOptions(pt_min=20.0, eta_max=math.inf), progress=False)
    summary = json.loads((tmp_path / "jets.h5.delphes.json").read_text(),
                         parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert summary["options"]["eta_max"] == "inf"
    assert summary["jets_written"] == report.n_jets == io.count_jets(out)
    assert summary["labels"] == {"top": 0, "qcd": 0, "unknown": report.n_jets}
    # per jet (CSV) and in totals (JSON): painted = what the written images hold, outside as reported
    with open(tmp_path / "jets.h5.delphes.csv") as f:
        rows = list(csv.DictReader(f))
    written = io.read_jets(out).images.sum(axis=(2, 3), dtype=np.float64)
    for c, name in enumerate(geometry.CHANNELS):
        painted = np.array([float(r[f"painted_{name}"]) for r in rows])
        outside = np.array([float(r[f"outside_{name}"]) for r in rows])
        np.testing.assert_allclose(painted, written[:, c], rtol=2e-6, atol=1e-4)
        np.testing.assert_array_equal(outside, report.jets.outside[:, c])
        tot = summary["energy_per_channel"][name]
        assert tot["outside_gev"] == pytest.approx(outside.sum()) and tot["painted_gev"] == pytest.approx(painted.sum())
    assert summary["energy_per_channel"]["track"]["outside_gev"] > 0
    assert data_main(["inspect", str(out), "--no-progress"]) == 0
    assert f"{report.n_jets} unlabelled" in capsys.readouterr().out
    assert data_main(["convert", str(out), str(tmp_path / "graphs"), "--no-progress", "--builder", "python"]) == 0
    meta = json.loads((tmp_path / "graphs" / "dataset.json").read_text())
    assert sum(s["count"] for s in meta["splits"].values()) == report.n_jets


def test_real_file_file_jets_and_top_matching(real_file, real_events):
    """--jets file takes Jet.PT/Eta/Phi/Mass as they are; --match-top labels some jets of the ttbar events top."""
    jets, report = read_delphes(real_file, DelphesOptions(jets="file", jet_radius=0.4, pt_min=30.0, eta_max=2.0,
                                                          match_top=0.8))
    expected = [(pt, eta, phi, m) for e in range(10)
                for pt, eta, phi, m in sorted(zip(*(real_events[f"Jet.{f}"][e] for f in ("PT", "Eta", "Phi", "Mass"))),
                                              key=lambda t: -t[0])
                if pt >= 30.0 and abs(eta) < 2.0]
    assert len(jets) == len(expected) > 0
    np.testing.assert_allclose(np.stack([jets.pt, jets.eta, jets.phi, jets.m0], 1), np.array(expected), rtol=1e-6)
    assert 0 < report.labels["top"] < len(jets) and report.labels["unknown"] == 0


# ------------------------------------------------------------------------------------------------
# synthetic Delphes-shaped trees

def as_float32(ev: dict) -> dict:
    """The values as the file stores them (float32), for the references."""
    return {f"{c}.{k}": [np.asarray(x, np.float32).astype(np.float64) for x in v]
            for c, fields in ev.items() for k, v in fields.items()}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> tuple[Path, dict]:
    ev = synthetic_events(300, seed=3, empty_every=17)
    path = write_delphes(tmp_path_factory.mktemp("synthetic") / "events.root", ev, baskets=4)
    return path, as_float32(ev)


def test_synthetic_chunking_gives_identical_jets(synthetic, monkeypatch):
    """Chunks of 23 events (crossing baskets and empty events), with (jet, object) pairs built in small groups,
    give the same jets as one chunk of all events; max_events reads a prefix."""
    path, _ = synthetic
    base = DelphesOptions(pt_min=40.0, eta_max=math.inf)
    whole, rep_whole = read_delphes(path, base)
    monkeypatch.setattr(gvae.data.delphes, "MAX_PAIRS", 37)
    small, rep_small = read_delphes(path, DelphesOptions(pt_min=40.0, eta_max=math.inf, chunk_size=23))
    assert len(whole) > 50 and rep_whole.events == rep_small.events == 300
    np.testing.assert_array_equal(whole.images, small.images)
    for name in ("pt", "eta", "phi", "m0", "y"):
        np.testing.assert_array_equal(getattr(whole, name), getattr(small, name))
    np.testing.assert_array_equal(rep_whole.jets.event, rep_small.jets.event)
    head, rep_head = read_delphes(path, DelphesOptions(pt_min=40.0, eta_max=math.inf, chunk_size=23, max_events=100))
    n_head = int((rep_whole.jets.event < 100).sum())
    assert rep_head.events == 100 and len(head) == n_head
    np.testing.assert_array_equal(head.images, whole.images[:n_head])


def test_synthetic_closure_jet_cuts_and_max_per_event(synthetic):
    """Energy closure on the synthetic tree with a wide painting radius; the |eta| cut and the per-event
    maximum keep exactly the leading jets."""
    path, ev = synthetic
    n_events = 300
    ref = fastjet_reference(ev, n_events, 0.8, 40.0)
    jets, report = read_delphes(path, DelphesOptions(pt_min=40.0, eta_max=1.0, max_jets_per_event=1, paint_radius=1.3))
    central = [[j for j in r if abs(j[1]) < 1.0] for r in ref]
    expected = [(e, r[0]) for e, r in enumerate(central) if r]
    assert len(jets) == len(expected) > 20
    assert list(report.jets.event) == [e for e, _ in expected]
    np.testing.assert_allclose(jets.pt, [j[0] for _, j in expected], rtol=1e-5)
    assert report.jets_over_max_per_event == sum(max(len(r) - 1, 0) for r in central)
    assert report.jets_failing_eta == sum(len(r) for r in ref) - sum(len(r) for r in central)
    image_sums = jets.images.sum(axis=(2, 3), dtype=np.float64)
    for j in range(len(jets)):
        refsum = reference_sums(ev, int(report.jets.event[j]), float(jets.eta[j]), float(jets.phi[j]), 1.3)
        np.testing.assert_allclose(image_sums[j] + report.jets.outside[j], refsum, rtol=2e-6, atol=1e-4)
    assert (report.jets.outside > 0).any(axis=0).all()  # every channel has energy beyond the window


def one_event_file(tmp_path: Path, objects: dict[str, dict[str, list]], jet=(100.0, 0.0, 3.1, 10.0),
                   name: str = "one.root") -> str:
    """A one-event tree with the given objects and one file jet (pt, eta, phi, m)."""
    ev = {c: {f: [np.asarray(objects.get(c, {}).get(f, []), np.float64)] for f in fs}
          for c, fs in {"EFlowTrack": ("PT", "Eta", "Phi", "EtaOuter", "PhiOuter"),
                        "EFlowPhoton": ("ET", "Eta", "Phi", "Eem", "Ehad"),
                        "EFlowNeutralHadron": ("ET", "Eta", "Phi", "Eem", "Ehad"),
                        "Tower": ("ET", "Eta", "Phi", "Eem", "Ehad")}.items()}
    ev["Jet"] = {f: [np.array([v])] for f, v in zip(("PT", "Eta", "Phi", "Mass"), jet)}
    return write_delphes(tmp_path / name, ev, baskets=1)


def test_pixel_positions_tracks_at_outer_and_hcal_towers(tmp_path):
    """Objects land where the geometry says: track at (EtaOuter, PhiOuter) with its PT, ECAL pixel of
    (Eta, Phi) with Eem, HCAL tower (pixel // 5) with Ehad / 25 in each of its 25 pixels; phi wraps at pi."""
    px = geometry.PIXEL_SIZE
    # jet axis at phi = 3.1; a track selected by its vertex direction (0.1, 3.1) but painted at its outer
    # position: eta +3 pixels, phi across +pi (3.1 + 5 pixels wraps to negative phi)
    objects = {"EFlowTrack": {"PT": [7.0], "Eta": [0.1], "Phi": [3.1], "EtaOuter": [3 * px],
                              "PhiOuter": [wrap(3.1 + 5 * px)]},
               "EFlowNeutralHadron": {"ET": [10.0], "Eta": [-10 * px], "Phi": [3.1 - 12 * px], "Eem": [4.0], "Ehad": [6.0]}}
    path = one_event_file(tmp_path, objects)
    jets, report = read_delphes(path, DelphesOptions(jets="file", pt_min=0.0, eta_max=math.inf))
    img = jets.images[0].astype(np.float64)
    c = geometry.CENTRE_PIXEL
    assert img[CH["track"], c + 3, c + 5] == pytest.approx(7.0, rel=1e-6)
    assert np.count_nonzero(img[CH["track"]]) == 1
    assert img[CH["ecal"], c - 10, c - 12] == pytest.approx(4.0, rel=1e-6)
    assert np.count_nonzero(img[CH["ecal"]]) == 1
    te, tp = (c - 10) // 5, (c - 12) // 5
    block = img[CH["hcal"], 5 * te:5 * te + 5, 5 * tp:5 * tp + 5]
    np.testing.assert_allclose(block, 6.0 / 25, rtol=1e-6)
    assert np.count_nonzero(img[CH["hcal"]]) == 25
    assert report.jets.outside.sum() == 0


def test_tower_calo_and_out_of_window_track(tmp_path):
    """--calo tower paints Tower Eem/Ehad (EFlow neutrals ignored); a track whose outer position leaves the
    window is reported outside, not painted."""
    objects = {"EFlowTrack": {"PT": [5.0, 2.0], "Eta": [0.0, 0.0], "Phi": [3.1, 3.1], "EtaOuter": [0.0, 1.5],
                              "PhiOuter": [3.1, 3.1]},
               "EFlowPhoton": {"ET": [3.0], "Eta": [0.0], "Phi": [3.1], "Eem": [3.0], "Ehad": [0.0]},
               "Tower": {"ET": [9.0, 8.0], "Eta": [0.05, 0.9], "Phi": [3.0, 3.1], "Eem": [2.5, 1.0], "Ehad": [6.5, 7.0]}}
    path = one_event_file(tmp_path, objects)
    jets, report = read_delphes(path, DelphesOptions(jets="file", pt_min=0.0, eta_max=math.inf, calo="tower"))
    sums = jets.images[0].sum(axis=(1, 2), dtype=np.float64)
    np.testing.assert_allclose(sums, [5.0, 2.5, 6.5], rtol=1e-6)  # tower at dR 0.9 > 0.8 is not selected
    np.testing.assert_allclose(report.jets.outside[0], [2.0, 0.0, 0.0])
    jets, report = read_delphes(path, DelphesOptions(jets="file", pt_min=0.0, eta_max=math.inf, calo="tower",
                                                     paint_radius=1.0))
    np.testing.assert_allclose(jets.images[0].sum(axis=(1, 2), dtype=np.float64), [5.0, 3.5, 13.5], rtol=1e-6)


def test_top_matching_uses_the_last_top_copy(tmp_path):
    """y = 1 only for the jet near the last top copy (daughters W b), not near an earlier copy."""
    ev = synthetic_events(1, seed=0)
    for c in ev:
        for f in ev[c]:
            ev[c][f] = [np.zeros(0)]
    ev["EFlowPhoton"] = {"ET": [np.array([500.0, 450.0])], "Eta": [np.array([0.5, -0.5])],
                         "Phi": [np.array([1.0, -2.0])], "Eem": [np.array([600.0, 500.0])], "Ehad": [np.array([0.0, 0.0])]}
    ev["Particle"] = {"PID": [np.array([6, 6, 24, 5])], "D1": [np.array([1, 2, -1, -1])], "D2": [np.array([1, 3, -1, -1])],
                      "Eta": [np.array([-0.5, 0.5, 0.0, 0.0])], "Phi": [np.array([-2.0, 1.1, 0.0, 0.0])]}
    path = write_delphes(tmp_path / "tops.root", ev, baskets=1)
    jets, report = read_delphes(path, DelphesOptions(pt_min=100.0, match_top=0.3))
    assert list(jets.pt.round()) == [500, 450] and list(jets.y) == [1.0, 0.0]
    jets, _ = read_delphes(path, DelphesOptions(pt_min=100.0))
    assert list(jets.y) == [UNKNOWN_LABEL] * 2


@pytest.mark.parametrize("ext", [".parquet", ".h5", ".root", ".gvh"])
def test_unknown_label_round_trips_in_every_format(synthetic, tmp_path, ext):
    path, _ = synthetic
    out = tmp_path / f"jets{ext}"
    report = convert_delphes(path, out, DelphesOptions(pt_min=60.0, eta_max=math.inf, max_events=60), progress=False)
    back = io.read_jets(out)
    assert len(back) == report.n_jets > 0
    assert np.all(back.y == UNKNOWN_LABEL)
    np.testing.assert_allclose(back.pt, report.pt)


# ------------------------------------------------------------------------------------------------
# errors

def test_error_no_delphes_tree(tmp_path, synthetic):
    gvae_root = tmp_path / "gvae_jets.root"
    io.write_jets(gvae_root, read_delphes(synthetic[0], DelphesOptions(pt_min=80.0, max_events=30))[0])
    with pytest.raises(SchemaError) as err:
        read_delphes(gvae_root)
    assert err.value.field == "Delphes" and err.value.file == str(gvae_root) and "without --from delphes" in str(err.value)
    other = write_delphes(tmp_path / "other.root", synthetic_events(3), tree="Events")
    with pytest.raises(SchemaError, match="no TTree 'Delphes'"):
        read_delphes(other)
    assert len(read_delphes(other, DelphesOptions(tree="Events", pt_min=1.0))[0]) > 0


@pytest.mark.parametrize("drop, field, options", [
    (("EFlowTrack.EtaOuter",), "EFlowTrack.EtaOuter", {}),
    (("EFlowNeutralHadron.Ehad",), "EFlowNeutralHadron.Ehad", {}),
    (("EFlowPhoton",), "EFlowPhoton", {}),
    (("Jet.Mass",), "Jet.Mass", {"jets": "file"}),
    (("Tower",), "Tower", {"calo": "tower"}),
    (("Particle.D2",), "Particle.D2", {"match_top": 0.8}),
])
def test_error_missing_branch_names_file_and_branch(tmp_path, drop, field, options):
    path = write_delphes(tmp_path / "bad.root", synthetic_events(5), drop=drop)
    with pytest.raises(SchemaError) as err:
        read_delphes(path, DelphesOptions(**options))
    assert err.value.field == field and err.value.file == str(path)


def test_error_not_root_missing_file_bad_values(tmp_path, synthetic):
    not_root = tmp_path / "x.root"
    not_root.write_bytes(b"PAR1" + bytes(100))
    with pytest.raises(FormatError, match="not a readable ROOT file") as err:
        read_delphes(not_root)
    assert "\n" not in str(err.value) and err.value.file == str(not_root)  # one line for the CLI
    with pytest.raises(FormatError, match="no such file"):
        read_delphes(tmp_path / "missing.root")
    ev = synthetic_events(20, seed=1)
    ev["EFlowPhoton"]["Eem"][13] = np.full(len(ev["EFlowPhoton"]["Eem"][13]), -1.0)
    path = write_delphes(tmp_path / "neg.root", ev)
    with pytest.raises(InvalidInput) as err:
        read_delphes(path, DelphesOptions(chunk_size=4))
    assert err.value.field == "EFlowPhoton.Eem" and err.value.row == 13
    with pytest.raises(ConfigError):
        read_delphes(synthetic[0], DelphesOptions(jet_radius=-1.0))


def test_cli_errors_exit_2_with_one_line(tmp_path, synthetic):
    bad = write_delphes(tmp_path / "bad.root", synthetic_events(5), drop=("EFlowTrack.EtaOuter",))
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, "-m", "gvae.data", "convert", str(bad), str(tmp_path / "o.parquet"),
                           "--from", "delphes", "--no-progress"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "SchemaError" in lines[0] and "EFlowTrack.EtaOuter" in lines[0] and str(bad) in lines[0]
    assert not (tmp_path / "o.parquet").exists()
    # flags that belong to the other mode are refused
    assert data_main(["convert", str(synthetic[0]), str(tmp_path / "g"), "--pt-min", "3"]) == 2
    assert data_main(["convert", str(synthetic[0]), str(tmp_path / "o.parquet"), "--from", "delphes", "--k", "4"]) == 2
    out = tmp_path / "ok.parquet"
    assert data_main(["convert", str(synthetic[0]), str(out), "--from", "delphes", "--pt-min", "80", "--no-progress"]) == 0
    assert data_main(["convert", str(synthetic[0]), str(out), "--from", "delphes", "--no-progress"]) == 2  # exists
    assert data_main(["convert", str(synthetic[0]), str(out), "--from", "delphes", "--overwrite", "--no-progress",
                      "--no-report", "--pt-min", "80"]) == 0
