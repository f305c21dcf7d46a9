"""Benchmark: the full Jacobian of a U-Net denoiser (784×784 at 28×28), batched torch.func vs a Python loop.

The loop does one backward pass per output pixel (784 `autograd.grad` calls on a retained graph); the batched
version is `diffedu.jacobian.denoiser_jacobian` (vmap of jacrev). Also times the SVD of the Jacobian.

    .venv/bin/python benchmarks/jacobian.py [--device auto|cpu|cuda] [--size 28] [--batch 1]
"""
import argparse
import json
import time

import torch

from diffedu.core import get_device, seed_everything
from diffedu.denoisers import EDMPrecond
from diffedu.jacobian import denoiser_jacobian
from diffedu.nets import SmallUNet


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def timed(fn, dev):
    fn(); sync(dev)
    start = time.perf_counter(); out = fn(); sync(dev)
    return time.perf_counter() - start, out


def loop_jacobian(denoiser, x, sigma):
    "One backward pass per output coordinate: the baseline."
    x = x.clone().requires_grad_(True)
    out = denoiser(x, sigma).reshape(-1)
    rows = [torch.autograd.grad(out[i], x, retain_graph=True)[0].reshape(-1) for i in range(out.numel())]
    return torch.stack(rows)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--size", type=int, default=28)
    p.add_argument("--sigma", type=float, default=0.5)
    p.add_argument("--chunk", type=int, default=None, help="vmap chunk size (default: all rows at once)")
    args = p.parse_args()
    dev = get_device(args.device)
    seed_everything(0)
    net = EDMPrecond(SmallUNet(in_channels=1)).to(dev).eval()
    x = torch.randn(1, 1, args.size, args.size, device=dev)
    t_batched, jac = timed(lambda: denoiser_jacobian(net, x, args.sigma, chunk_size=args.chunk)[0], dev)
    t_loop, jac_loop = timed(lambda: loop_jacobian(net, x, args.sigma), dev)
    t_svd, _ = timed(lambda: torch.linalg.svd(jac), dev)
    print(json.dumps(dict(device=str(dev), dim=x[0].numel(), chunk=args.chunk, batched_s=round(t_batched, 3), loop_s=round(t_loop, 3),
                          speedup=round(t_loop / t_batched, 2), svd_s=round(t_svd, 3),
                          max_abs_diff=float((jac - jac_loop).detach().abs().max())), indent=1))


if __name__ == "__main__":
    main()
