"""The Chamfer set loss (``gvae.model.set_loss._chamfer``) equals its definition on the full
differentiable distance matrix, value and gradients, including zero-weight points (excluded as
targets) and jet-channels with a single or no valid target."""
from __future__ import annotations

import torch

from gvae.model.set_loss import _chamfer


def chamfer_definition(pos_a, w_a, pos_b, w_b):
    """Minimum over the whole differentiable ``[M, S, T]`` distance matrix (float64, explicit
    differences: no matmul rounding)."""
    cost = (pos_a.unsqueeze(2) - pos_b.unsqueeze(1)).square().sum(-1).sqrt()
    big = cost + (~(w_b > 0)).unsqueeze(1) * 1e3 + (~(w_a > 0)).unsqueeze(2) * 1e3
    d_ab, d_ba = big.min(dim=2).values, big.min(dim=1).values
    return 0.5 * ((w_a * d_ab.clamp(max=10)).sum(1) + (w_b * d_ba.clamp(max=10)).sum(1))


def test_chamfer_value_and_gradients_equal_the_full_matrix_definition() -> None:
    g = torch.Generator().manual_seed(3)
    m, s, t = 5, 40, 33
    pos_a, pos_b = torch.randn(m, s, 2, generator=g), torch.randn(m, t, 2, generator=g)
    n_a, n_b = torch.tensor([40, 7, 1, 6, 0]), torch.tensor([33, 12, 1, 0, 0])
    valid_a = torch.arange(s).view(1, s) < n_a.view(m, 1)
    valid_b = torch.arange(t).view(1, t) < n_b.view(m, 1)
    w_a = torch.softmax(torch.randn(m, s, generator=g).masked_fill(~valid_a, float("-inf")), 1).nan_to_num(0.0)
    w_b = torch.softmax(torch.randn(m, t, generator=g).masked_fill(~valid_b, float("-inf")), 1).nan_to_num(0.0)
    w_a[0, 3] = 0.0  # a real hit whose energy fraction underflowed: not a target, no weight
    w_b[1, 4] = 0.0
    results = []
    for fn in (_chamfer, chamfer_definition):
        leaves = [x.double().clone().requires_grad_(True) for x in (pos_a, w_a, pos_b, w_b)]
        out = fn(*leaves)
        value = out[0] if isinstance(out, tuple) else out
        (value * torch.arange(1, m + 1)).sum().backward()
        results.append([value.detach()] + [x.grad for x in leaves])
    for got, want in zip(*results):
        torch.testing.assert_close(got, want, atol=1e-10, rtol=1e-8)
    # float32 (the training dtype) agrees with the float64 definition within 1e-5
    leaves = [x.clone().requires_grad_(True) for x in (pos_a, w_a, pos_b, w_b)]
    value, detached = _chamfer(*leaves)
    (value * torch.arange(1, m + 1)).sum().backward()
    torch.testing.assert_close(detached.double(), results[1][0], atol=1e-5, rtol=0)
    for got, want in zip([x.grad for x in leaves], results[1][1:]):
        torch.testing.assert_close(got.double(), want, atol=1e-5, rtol=0)
