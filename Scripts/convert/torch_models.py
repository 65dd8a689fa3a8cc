"""PyTorch world models for the converter tests: the module trees whose state dicts have the
key layouts of IQ-MPC and TD-MPC2 checkpoints (docs/gpu-training.md lists them), with their
own forward passes. Written for this project from the published architecture (Linear →
LayerNorm → Mish blocks, SimNorm latents, a Q ensemble stacked over its heads); nothing here
is needed to deploy.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

FIELDS = ["weight", "bias", "ln.weight", "ln.bias"]


class SimNorm(nn.Module):
    def __init__(self, group):
        super().__init__()
        self.group = group

    def forward(self, x):
        s = x.shape
        return F.softmax(x.reshape(*s[:-1], -1, self.group), dim=-1).reshape(s)


class NormedLinear(nn.Linear):
    """Linear, optional dropout, LayerNorm, activation: parameters `weight`, `bias`, `ln.*`."""

    def __init__(self, i, o, act, dropout=0.0):
        super().__init__(i, o)
        self.ln = nn.LayerNorm(o)
        self.act = act
        self.drop = nn.Dropout(dropout) if dropout else None

    def forward(self, x):
        x = super().forward(x)
        if self.drop is not None:
            x = self.drop(x)
        return self.act(self.ln(x))


def mlp(dims, last, simnorm=8, dropout=0.0, separate=False):
    """An MLP over `dims`; `last` is 'simnorm' (LayerNorm + SimNorm) or 'linear' (plain).
    `separate`: Linear, Dropout, LayerNorm and activations as separate modules (older files)."""
    mods = []
    n = len(dims) - 1
    for i in range(n):
        act = nn.Mish() if i < n - 1 else SimNorm(simnorm)
        normed = i < n - 1 or last == "simnorm"
        d = dropout if i == 0 else 0.0
        if separate:
            mods.append(nn.Linear(dims[i], dims[i + 1]))
            if normed:
                if d:
                    mods.append(nn.Dropout(d))
                mods += [nn.LayerNorm(dims[i + 1]), act]
        else:
            mods.append(NormedLinear(dims[i], dims[i + 1], act, d) if normed else nn.Linear(dims[i], dims[i + 1]))
    return nn.Sequential(*mods)


class StackedEnsemble(nn.Module):
    """Q heads with each parameter stacked over heads, listed in the heads' parameter order
    (`params.0` = layer 0 weight, `params.1` its bias, `params.2`/`.3` its LayerNorm, …)."""

    def __init__(self, heads):
        super().__init__()
        names = [n for n, _ in heads[0].named_parameters()]
        self.names = names
        self.params = nn.ParameterList([nn.Parameter(torch.stack([dict(h.named_parameters())[n].detach() for h in heads]))
                                        for n in names])
        self.template = [heads[0]]  # a list, so the template's parameters stay out of the state dict

    def head(self, k, x):
        p = {n: self.params[i][k] for i, n in enumerate(self.names)}
        return torch.func.functional_call(self.template[0], p, (x,))

    def forward(self, x):
        # The template sits outside the module tree, so eval()/train() would not reach it (the
        # reference's vmapped ensembles have the same trap: their Q dropout stays on while
        # planning). Follow this module's mode explicitly.
        self.template[0].train(self.training)
        return torch.stack([self.head(k, x) for k in range(len(self.params[0]))])


def two_hot_decode(logits, vmin, vmax):
    bins = torch.linspace(vmin, vmax, logits.shape[-1], dtype=logits.dtype)
    y = (F.softmax(logits, dim=-1) * bins).sum(-1)
    return torch.sign(y) * (torch.exp(y.abs()) - 1)


class World(nn.Module):
    """kind 'iqmpc' or 'tdmpc2'; layout 'iqmpc', 'prerelease', 'release2023' or 'current'."""

    def __init__(self, kind, layout, D, A, L=64, M=128, E=(128,), K=5, bins=101, simnorm=8,
                 log_std=(-10.0, 2.0), vmin=-10.0, vmax=10.0, dropout=0.01):
        super().__init__()
        self.kind, self.layout, self.A = kind, layout, A
        self.vmin, self.vmax, self.log_std = vmin, vmax, log_std
        sep = layout == "prerelease"
        self._encoder = nn.ModuleDict({"state": mlp([D, *E, L], "simnorm", simnorm, separate=sep)})
        self._dynamics = mlp([L + A, M, M, L], "simnorm", simnorm, separate=sep)
        if kind == "tdmpc2":
            self._reward = mlp([L + A, M, M, bins], "linear", separate=sep)
        self._pi = mlp([L, M, M, 2 * A], "linear", separate=sep)
        out_q = bins if kind == "tdmpc2" else 1
        heads = [mlp([L + A, M, M, out_q], "linear", dropout=dropout, separate=sep) for _ in range(K)]
        if sep:
            self._Qs = nn.ModuleList(heads)
            self._target_Qs = nn.ModuleList([mlp([L + A, M, M, out_q], "linear", dropout=dropout, separate=True) for _ in range(K)])
        else:
            name = "_Qs_original" if layout == "iqmpc" else "_Qs"
            setattr(self, name, StackedEnsemble(heads))
            self._target_Qs = StackedEnsemble([mlp([L + A, M, M, out_q], "linear", dropout=dropout) for _ in range(K)])
        self.K = K

    def randomise(self, seed):
        """Random weights everywhere, including the value heads' output layers (which the
        reference zero-initialises) and the LayerNorm gains; for TD-MPC2 a ramp over the
        output biases makes the decoded values O(1-100), like real returns."""
        g = torch.Generator().manual_seed(seed)

        def fill(p, field):
            if field.endswith("ln.weight") or field == "norm.weight":
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            elif field.endswith("weight"):
                p.copy_(0.15 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))

        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, StackedEnsemble):
                    for i, n in enumerate(m.names):
                        fill(m.params[i], n)
                elif isinstance(m, nn.LayerNorm):
                    fill(m.weight, "norm.weight"); fill(m.bias, "norm.bias")
                elif isinstance(m, nn.Linear):
                    fill(m.weight, "weight"); fill(m.bias, "bias")
            if self.kind == "tdmpc2":
                ramp = torch.linspace(-1, 1, self.bins())
                self._reward[-1].bias.add_(ramp)
                if self.layout == "prerelease":
                    for h in self._Qs:
                        h[-1].bias.add_(-ramp)
                else:
                    self._Qs.params[len(self._Qs.names) - 1].add_(-ramp)
        return self

    def bins(self):
        return self._reward[-1].out_features

    def state_dict_for_file(self):
        """What a checkpoint of this layout holds under "model"."""
        sd = dict(self.state_dict())
        if self.layout == "current":
            # Stacked Q parameters keyed by layer and field, two copies beside them, tensordict
            # bookkeeping entries, meta (data-less) copies of the Q module, the log-std range.
            out = {k: v for k, v in sd.items() if not k.startswith(("_Qs.", "_target_Qs."))}
            names = self._Qs.names
            for prefix, ens in (("_Qs.params.", self._Qs), ("_detach_Qs_params.", self._Qs), ("_target_Qs_params.", self._target_Qs)):
                for i, n in enumerate(names):
                    out[prefix + n] = ens.params[i].detach().clone()
                out[prefix + "__batch_size"] = torch.Size([self.K])
                out[prefix + "__device"] = None
            for n, p in self._Qs.template[0].named_parameters():
                out["_Qs.module." + n] = torch.empty(p.shape, device="meta")
            out["log_std_min"] = torch.tensor(int(self.log_std[0]))
            out["log_std_dif"] = torch.tensor(int(self.log_std[1] - self.log_std[0]))
            return out
        return sd

    # Forward passes (evaluation mode: dropout off).
    def encode(self, obs):
        return self._encoder["state"](obs)

    def policy(self, z):
        mu, s = self._pi(z).chunk(2, dim=-1)
        lo, hi = self.log_std
        return torch.tanh(mu), lo + 0.5 * (hi - lo) * (torch.tanh(s) + 1)

    def q_all(self, z, a):
        x = torch.cat([z, a], dim=-1)
        if self.layout == "prerelease":
            out = torch.stack([h(x) for h in self._Qs])
        else:
            out = (self._Qs_original if self.layout == "iqmpc" else self._Qs)(x)
        if self.kind == "tdmpc2":
            return two_hot_decode(out, self.vmin, self.vmax)
        return out.squeeze(-1)

    def reward(self, z, a):
        return two_hot_decode(self._reward(torch.cat([z, a], dim=-1)), self.vmin, self.vmax)
