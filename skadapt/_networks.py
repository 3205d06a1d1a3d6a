"""Assembling a probe network: an MLP body under an output head.

``build_mlp(n_features, hidden_layer_sizes, n_outputs, *, activation, generator)``
returns an ``nn.Sequential`` initialised like ``nn.Linear`` from ``generator`` (torch's
global RNG untouched). ``ProbeNetwork(body, head)`` computes ``head(body(*inputs))``:
any body works, for instance a language model with a pooled linear layer on top
(:mod:`skadapt.lora`); the heads are in :mod:`skadapt._heads`.
"""

from __future__ import annotations

import math

from torch import nn

from ._training import make_generator

__all__ = ["ProbeNetwork", "build_mlp"]


_ACTIVATIONS = {"identity": nn.Identity, "relu": nn.ReLU, "tanh": nn.Tanh, "logistic": nn.Sigmoid}


def build_mlp(n_features, hidden_layer_sizes, n_outputs, *, activation="relu", generator=None):
    """An MLP (``nn.Sequential``) initialised like ``nn.Linear``, from ``generator``.

    Layers are created on the meta device and initialised in place from the given
    generator, so building a network never draws from torch's global RNG.
    """
    sizes = [int(n_features), *(int(h) for h in hidden_layer_sizes), int(n_outputs)]
    generator = make_generator(0) if generator is None else generator
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = nn.Linear(fan_in, fan_out, device="meta").to_empty(device="cpu")
        # nn.Linear.reset_parameters, with an explicit generator.
        nn.init.kaiming_uniform_(linear.weight, a=math.sqrt(5), generator=generator)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        nn.init.uniform_(linear.bias, -bound, bound, generator=generator)
        layers.append(linear)
        if i < len(sizes) - 2:
            layers.append(_ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class ProbeNetwork(nn.Module):
    """``head(body(*inputs))``; the body ends with a layer of ``head.n_outputs`` units."""

    def __init__(self, body: nn.Module, head: nn.Module):
        super().__init__()
        self.body = body
        self.head = head

    def forward(self, *inputs, **kwargs):
        return self.head(self.body(*inputs, **kwargs))
