"""Benchmark: the exact (empirical) denoiser on 60,000 × 784 data.

Reports queries/s for several query-batch sizes and the ratio of the measured time to two floors:
the memory floor (the data read once per query batch, at the bandwidth measured on this device) and
the compute floor (two matrix products, 4·B·N·D flops, at the measured matmul throughput).

    .venv/bin/python benchmarks/exact_denoiser.py [--device auto|cpu|cuda] [--batches 1 16 128 1024]
"""
import argparse
import json
import time

import torch

from diffedu.core import get_device, matmul_gflops
from diffedu.data import DatasetNotFoundError, load_images, to_model_range
from diffedu.denoisers import IdealDenoiser


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def timed(fn, dev, repeats=3):
    fn(); sync(dev)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter(); fn(); sync(dev)
        best = min(best, time.perf_counter() - start)
    return best


def read_bandwidth(data, dev):
    "Bytes/s of reading `data` once (a sum over it), the floor of any pass over the data set."
    return data.numel() * data.element_size() / timed(lambda: data.sum(), dev)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 16, 128, 1024])
    p.add_argument("--sigma", type=float, default=0.5)
    args = p.parse_args()
    dev = get_device(args.device)
    try:
        x = load_images("fashion-mnist", "train").x
        source = "Fashion-MNIST train"
    except DatasetNotFoundError:
        x = torch.rand(60000, 1, 28, 28)
        source = "random 60,000×784"
    data = to_model_range(x).reshape(len(x), -1).to(dev)
    bandwidth = read_bandwidth(data, dev)
    gflops = matmul_gflops(2048, dev)
    denoiser = IdealDenoiser(data)  # precomputes the data's squared norms once
    rows = []
    for B in args.batches:
        queries = data[:B] + args.sigma * torch.randn(B, data.shape[1], device=dev)
        seconds = timed(lambda: denoiser(queries, args.sigma), dev)
        memory_floor = data.numel() * 4 / bandwidth
        compute_floor = 4 * B * data.numel() / (gflops * 1e9)
        rows.append(dict(batch=B, seconds=round(seconds, 4), queries_per_s=round(B / seconds, 1),
                         x_memory_floor=round(seconds / memory_floor, 2), x_compute_floor=round(seconds / compute_floor, 2)))
    print(json.dumps(dict(device=str(dev), data=source, shape=list(data.shape), read_GBps=round(bandwidth / 1e9, 2),
                          matmul_GFLOPs=round(gflops, 1), rows=rows), indent=1))


if __name__ == "__main__":
    main()
