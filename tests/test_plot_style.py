"""The plot style is set per figure: making evaluation and data figures leaves matplotlib's global
rcParams as they were, while the figures themselves get the CMS style."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from gvae.data import display  # noqa: E402
from gvae.evaluate import plots  # noqa: E402
from gvae.jets import Hits  # noqa: E402
from gvae.plotstyle import figure_style  # noqa: E402


@pytest.fixture
def default_rc():
    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        yield dict(plt.rcParams)


def test_figures_leave_global_rcparams_alone(tmp_path, default_rc):
    rng = np.random.default_rng(0)
    plots.emd_histograms({"gvae": rng.exponential(1.0, (20, 4)), "baseline": rng.exponential(2.0, (20, 4))},
                         tmp_path / "emd.png", R=0.4)
    hits = Hits.at([0.0, 0.1], [0.0, -0.1], [5.0, 3.0], [1, 2])
    plots.event_display({"original": hits, "gvae": hits}, tmp_path / "display.png")
    image = np.zeros((3, 125, 125), np.float32)
    image[1, 62, 62] = 4.0
    display.event_display(image, tmp_path / "image.png")
    assert (tmp_path / "emd.png").stat().st_size > 0 and (tmp_path / "image.png").stat().st_size > 0
    changed = {k for k, v in plt.rcParams.items() if k in default_rc and default_rc[k] != v}
    assert not changed, f"global rcParams changed: {sorted(changed)[:5]}"


def test_figure_style_applies_inside_the_block(default_rc):
    with figure_style({"font.size": 14}):
        assert plt.rcParams["font.size"] == 14
        assert plt.rcParams["font.sans-serif"][0] != default_rc["font.sans-serif"][0]  # the CMS font
    assert plt.rcParams["font.size"] == default_rc["font.size"]
