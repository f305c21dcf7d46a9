"""Benchmark of the robustness toolkit (issue 11): certification throughput and the cost of a PGD-10 attack.

    .venv/bin/python tools/bench_robustness.py [--device cpu|cuda] [--threads N]

1. Certification throughput: noise samples per second through DDS's base classifier (denoiser + classifier) at batch
   1000, as `certify.sample_counts` draws them — for the 8×8 quick setting (MLP denoiser) and the 28×28 full setting
   (SmallUNet denoiser), each with its SmallCNN classifier. Weights are untrained: the cost does not depend on them.
2. PGD-10 cost: the time of `attacks.pgd(..., steps=10)` over one clean forward+backward of the same batch (the backward
   to the input only, as in a PGD step; floor 10×).
Times are medians of repeats after a warm-up.
"""
import argparse
import statistics
import time

import torch

from diffedu.attacks import pgd
from diffedu.certify import denoised_classifier, sample_counts
from diffedu.core import get_device
from diffedu.denoisers import EDMPrecond, FlatDenoiser
from diffedu.nets import SmallCNN, SmallUNet, TimeMLP


def median_time(fn, device, repeats=3):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def settings(device):
    torch.manual_seed(0)
    mlp = FlatDenoiser(EDMPrecond(TimeMLP(dim=64, hidden=256, depth=3), sigma_data=0.5)).to(device).eval()
    unet = EDMPrecond(SmallUNet(in_channels=1, base=32, channel_mults=(1, 2)), sigma_data=0.5).to(device).eval()
    return {"8×8, MLP denoiser, SmallCNN(16)": (8, mlp, SmallCNN(1, 10, side=8, width=16, n_down=1).to(device).eval()),
            "28×28, SmallUNet denoiser, SmallCNN(32)": (28, unet, SmallCNN(1, 10, side=28, width=32, n_down=2).to(device).eval())}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = get_device(args.device)
    print(f"device {device}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    batch = 1000
    for name, (side, denoiser, classifier) in settings(device).items():
        x = torch.rand(1, side, side, device=device)
        base = denoised_classifier(classifier, denoiser, 0.25)
        seconds = median_time(lambda: sample_counts(base, x, 0.25, 2 * batch, batch_size=batch), device)
        print(f"certification throughput, {name}: {2 * batch / seconds:,.0f} samples/s (batch {batch})")
        xb, yb = torch.rand(batch, 1, side, side, device=device), torch.randint(0, 10, (batch,), device=device)

        def clean():  # one forward + backward to the input, as each PGD step does (no weight gradients)
            v = xb.clone().requires_grad_(True)
            torch.autograd.grad(torch.nn.functional.cross_entropy(classifier(v), yb), v)

        ratio = median_time(lambda: pgd(classifier, xb, yb, 0.1, "linf", steps=10), device) / median_time(clean, device)
        print(f"PGD-10 cost ÷ clean forward+backward, {name}: {ratio:.1f}× (batch {batch}; floor 10×)")


if __name__ == "__main__":
    main()
