"""IQ-MPC in plain PyTorch (eager, float32): the world model, one planning call and one
training update, written from docs/algorithm.md for side-by-side timing with the Swift code
(Scripts/reference/vs-torch.sh). Not a second implementation to trust numerically: the
parity checks are forward.py / score.py; this one only has to do the same work.

Same work means: the same layer shapes as the preset, all K Q heads where the algorithm
needs them (the IQ loss trains every head) and only the two drawn heads where one value is
needed (targets, v0, policy loss, planning), as the reference code evaluates them per call.
"""
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {"tiny": (64, [128], 128), "small": (128, [256], 256), "paper": (512, [256], 512)}
LOG_STD_MIN, LOG_STD_MAX, SIMNORM = -10.0, 2.0, 8


class SimNorm(nn.Module):
    def forward(self, x):
        s = x.shape
        return F.softmax(x.view(*s[:-1], -1, SIMNORM), dim=-1).view(s)


def normed(i, o, act, dropout=0.0):
    layers = [nn.Linear(i, o)]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers += [nn.LayerNorm(o), act]
    return layers


def mlp(i, hidden, o, last=None, dropout=0.0):
    layers, prev = [], i
    for k, h in enumerate(hidden):
        layers += normed(prev, h, nn.Mish(), dropout if k == 0 else 0.0)
        prev = h
    layers += normed(prev, o, last) if last is not None else [nn.Linear(prev, o)]
    return nn.Sequential(*layers)


class WorldModel(nn.Module):
    def __init__(self, obs_dim, act_dim, preset, num_q=5):
        super().__init__()
        L, enc, M = PRESETS[preset]
        self.A, self.K = act_dim, num_q
        self.encoder = mlp(obs_dim, enc, L, SimNorm())
        self.dynamics = mlp(L + act_dim, [M, M], L, SimNorm())
        self.policy = mlp(L, [M, M], 2 * act_dim)
        self.qs = nn.ModuleList(mlp(L + act_dim, [M, M], 1, dropout=0.01) for _ in range(num_q))
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        for q in self.qs:
            nn.init.zeros_(q[-1].weight)

    def pi(self, z):
        """Squashed Gaussian sample, its log-density (docs/algorithm.md §1.4) and the mean action."""
        return self.sample(self.policy(z))

    def sample(self, raw):
        """A sample from π's head output: the planner draws several per network pass, as the Swift one does."""
        mu, s = raw.chunk(2, dim=-1)
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(s) + 1)
        eps = torch.randn_like(mu)
        a = torch.tanh(mu + eps * log_std.exp())
        lp = (-0.5 * eps.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        lp = lp - torch.log(F.relu(1 - a.pow(2)) + 1e-6).sum(-1)
        return a, lp, torch.tanh(mu)

    def q2(self, heads, z, a, reduce):
        x = torch.cat([z, a], dim=-1)
        q1, q2 = self.qs[heads[0]](x), self.qs[heads[1]](x)
        return torch.min(q1, q2) if reduce == "min" else (q1 + q2) / 2


def pair(k):
    return torch.randperm(k)[:2].tolist()


@torch.no_grad()
def plan(model, obs, gamma, alpha, samples=512, horizon=3, iterations=6, elites=64, policy_trajectories=24,
         temperature=0.5, min_std=0.05, max_std=2.0):
    """One MPPI call (docs/algorithm.md §2.2-§2.3): every Q call evaluates its two drawn heads."""
    A, N, H, P = model.A, samples, horizon, policy_trajectories
    z0 = model.encoder(obs.unsqueeze(0))
    actions = torch.empty(H, N, A)
    z = z0.expand(P, -1)
    for t in range(H):
        actions[t, :P] = model.pi(z)[0]
        if t < H - 1:
            z = model.dynamics(torch.cat([z, actions[t, :P]], -1))
    mean, std = torch.zeros(H, A), torch.full((H, A), max_std)
    raw0 = model.policy(z0)
    for _ in range(iterations):
        actions[:, P:] = (mean.unsqueeze(1) + std.unsqueeze(1) * torch.randn(H, N - P, A)).clamp(-1, 1)
        z = z0.expand(N, -1)
        g, disc = torch.zeros(N, 1), 1.0
        raw = raw0.expand(N, -1)  # π's head once per latent; samples reuse it
        for t in range(H):
            q = model.q2(pair(model.K), z, actions[t], "min")
            ent = model.sample(raw)[1].unsqueeze(-1)
            z = model.dynamics(torch.cat([z, actions[t]], -1))
            raw = model.policy(z)
            a_next, lp_next, _ = model.sample(raw)
            v = model.q2(pair(model.K), z, a_next, "min") - alpha * lp_next.unsqueeze(-1)
            g = g + disc * (q - gamma * v - alpha * ent)
            disc *= gamma
        a_term = model.sample(raw)[0]
        lp_term = model.sample(raw)[1].unsqueeze(-1)
        g = g + disc * (model.q2(pair(model.K), z, a_term, "mean") - alpha * lp_term)
        value = torch.nan_to_num(g.squeeze(-1))
        idx = torch.topk(value, elites).indices
        ev, ea = value[idx], actions[:, idx]
        w = torch.exp(temperature * (ev - ev.max()))
        w = w / w.sum()
        mean = (w.view(1, -1, 1) * ea).sum(1) / (w.sum() + 1e-9)
        std = ((w.view(1, -1, 1) * (ea - mean.unsqueeze(1)).pow(2)).sum(1) / (w.sum() + 1e-9)).sqrt().clamp(min_std, max_std)
    j = torch.multinomial(w, 1).item()
    return ea[0, j]


class Trainer:
    """One IQ-MPC update (docs/algorithm.md §4.2) with the project's constants."""

    def __init__(self, model, gamma=0.99, alpha=1e-4, rho=0.5, lr=3e-4):
        self.m, self.gamma, self.alpha, self.rho = model, gamma, alpha, rho
        self.target = [self._copy(q) for q in model.qs]
        self.model_opt = torch.optim.Adam([
            {"params": model.encoder.parameters(), "lr": lr * 0.3},
            {"params": list(model.dynamics.parameters()) + list(model.qs.parameters())},
        ], lr=lr)
        self.pi_opt = torch.optim.Adam(model.policy.parameters(), lr=lr, eps=1e-5)

    @staticmethod
    def _copy(q):
        import copy
        c = copy.deepcopy(q)
        c.eval()
        for p in c.parameters():
            p.requires_grad_(False)
        return c

    def update(self, obs, act):
        m, H, B2 = self.m, act.shape[0], act.shape[1]
        B = B2 // 2
        with torch.no_grad():
            z_star = m.encoder(obs[1:])
            a_t, lp_t, _ = m.pi(z_star)
            h = pair(m.K)
            x = torch.cat([z_star, a_t], -1)
            y = self.gamma * (torch.min(self.target[h[0]](x), self.target[h[1]](x)).squeeze(-1) - self.alpha * lp_t)
        m.train()
        zs = [m.encoder(obs[0])]
        for t in range(H):
            zs.append(m.dynamics(torch.cat([zs[t], act[t]], -1)))
        cons = sum(self.rho ** t * F.mse_loss(zs[t + 1], z_star[t]) for t in range(H)) / H
        a0, lp0, _ = m.pi(zs[0][B:])
        v0 = (m.q2(pair(m.K), zs[0][B:], a0, "min").squeeze(-1) - self.alpha * lp0).mean()
        iq = 0.0
        for t in range(H):
            x = torch.cat([zs[t], act[t]], -1)
            for k in range(m.K):
                r = m.qs[k](x).squeeze(-1) - y[t]
                iq = iq + self.rho ** t * (-r[B:].mean() + (1 - self.gamma) * v0 + 0.5 * r.pow(2).mean())
        iq = iq / (H * m.K)
        loss = 20 * cons + 0.1 * iq
        self.model_opt.zero_grad(set_to_none=True)
        self.pi_opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 20)
        self.model_opt.step()
        # Policy: detached latents, Q frozen (its action input still passes gradient).
        for p in m.qs.parameters():
            p.requires_grad_(False)
        z = torch.stack([zt.detach() for zt in zs])
        a, lp, _ = m.pi(z)
        q = m.q2(pair(m.K), z, a, "min").squeeze(-1)
        weights = torch.tensor([self.rho ** t for t in range(H + 1)]).unsqueeze(-1)
        pi_loss = ((self.alpha * lp - q) * weights).mean()
        self.pi_opt.zero_grad(set_to_none=True)
        pi_loss.backward()
        torch.nn.utils.clip_grad_norm_(m.policy.parameters(), 20)
        self.pi_opt.step()
        for p in m.qs.parameters():
            p.requires_grad_(True)
        with torch.no_grad():
            for tq, q in zip(self.target, m.qs):
                for tp, p in zip(tq.parameters(), q.parameters()):
                    tp.lerp_(p, 0.01)
        m.eval()


def median_seconds(fn, count, warmup=2):
    """Median wall-clock and thread-CPU seconds per call (CPU time is not stretched by other
    processes sharing the core; with one torch thread it is the whole call)."""
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(count):
        t0, c0 = time.perf_counter(), time.thread_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    wall.sort()
    cpu.sort()
    return wall[(count - 1) // 2], cpu[(count - 1) // 2]


def main():
    import argparse
    import json
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["plan", "update"])
    p.add_argument("--preset", default="tiny", choices=sorted(PRESETS))
    p.add_argument("--obs-dim", type=int, default=24)
    p.add_argument("--act-dim", type=int, default=6)
    p.add_argument("--count", type=int, default=20, help="timed plans or updates (median reported)")
    p.add_argument("--samples", type=int, default=512)
    p.add_argument("--iterations", type=int, default=6)
    p.add_argument("--horizon", type=int, default=3)
    p.add_argument("--batch", type=int, default=256, help="slices per buffer (2B rows per update)")
    a = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(1)
    model = WorldModel(a.obs_dim, a.act_dim, a.preset)
    for q in model.qs:  # non-zero Q, as the Swift planner benchmark's weights (init --nonzero-q)
        nn.init.trunc_normal_(q[-1].weight, std=0.02)
    if a.what == "plan":
        model.eval()
        obs = torch.rand(a.obs_dim) * 2 - 1
        s, c = median_seconds(lambda: plan(model, obs, 0.99, 1e-4, a.samples, a.horizon, a.iterations), a.count)
        out = {"p50_us": s * 1e6, "cpu_p50_us": c * 1e6}
    else:
        tr = Trainer(model)
        obs = torch.randn(a.horizon + 1, 2 * a.batch, a.obs_dim)
        act = torch.rand(a.horizon, 2 * a.batch, a.act_dim) * 2 - 1
        s, c = median_seconds(lambda: tr.update(obs, act), a.count)
        out = {"updates_per_second": 1 / s, "updates_per_cpu_second": 1 / c}
    out.update(torch=torch.__version__, threads=torch.get_num_threads(), preset=a.preset, what=a.what)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
