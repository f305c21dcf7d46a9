"""Benchmark: the cost of DiffAug training and of DiffAug-Ensemble against multi-step purification.

1. A DiffAug training step (recipe "diffaug": L = ½(L_orig + L_DiffAug)) as a ratio over a plain step, beside its
   floor: one extra denoiser forward on the batch plus the classifier step on the doubled batch.
2. DiffAug-Ensemble (|S| = 10 times: 9 denoiser forwards + 10 classifier forwards) against multi-step purification
   (diffuse to t, `--purify-steps` DDIM steps, one classifier forward), same batch, same device.
Timings do not depend on the weights, so untrained networks are used.

    .venv/bin/python benchmarks/diffaug.py [--device auto|cpu|cuda] [--size 8|28] [--batch 128] [--purify-steps 50]
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F

from diffedu.core import get_device, seed_everything
from diffedu.denoisers import EDMPrecond
from diffedu.diffaug import classification_loss, diffaug_ensemble, purify
from diffedu.nets import SmallUNet, TimeClassifier
from diffedu.schedules import VPSchedule


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def timed(fn, dev, repeats=5):
    fn(); sync(dev)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync(dev)
    return (time.perf_counter() - start) / repeats


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--size", type=int, default=8)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--purify-steps", type=int, default=50)
    args = p.parse_args()
    dev = get_device(args.device)
    seed_everything(0)
    denoiser = EDMPrecond(SmallUNet(in_channels=1, base=32)).to(dev).eval()
    net = TimeClassifier(in_channels=1, num_classes=10).to(dev)
    classifier = lambda x: net(x, torch.zeros(x.shape[0], device=x.device))
    optimizer = torch.optim.Adam(net.parameters(), 1e-3)
    schedule = VPSchedule(1000, "linear")
    x = torch.rand(args.batch, 1, args.size, args.size, device=dev)
    y = torch.randint(0, 10, (args.batch,), device=dev)

    def step(recipe, inputs=x, labels=y):
        loss = classification_loss(classifier, (inputs, labels), recipe=recipe, denoiser=denoiser, schedule=schedule, pixels=True)
        optimizer.zero_grad(); loss.backward(); optimizer.step()

    t_plain = timed(lambda: step("plain"), dev)
    t_diffaug = timed(lambda: step("diffaug"), dev)
    with torch.no_grad():
        t_denoise = timed(lambda: denoiser(x, torch.full((args.batch,), 1.0, device=dev)), dev)
    t_double = timed(lambda: step("plain", torch.cat([x, x]), torch.cat([y, y])), dev)
    t_de = timed(lambda: diffaug_ensemble(classifier, x, denoiser, schedule, pixels=True), dev, repeats=2)
    t_purify = timed(lambda: classifier(purify(x, denoiser, schedule, t=300, n_steps=args.purify_steps, pixels=True)), dev, repeats=2)
    print(json.dumps(dict(device=str(dev), image=f"{args.size}x{args.size}", batch=args.batch,
                          plain_step_s=round(t_plain, 4), diffaug_step_s=round(t_diffaug, 4),
                          diffaug_over_plain=round(t_diffaug / t_plain, 2),
                          floor_over_plain=round((t_denoise + t_double) / t_plain, 2),
                          diffaug_over_floor=round(t_diffaug / (t_denoise + t_double), 2),
                          de_s=round(t_de, 4), purify_s=round(t_purify, 4), purify_steps=args.purify_steps,
                          purify_over_de=round(t_purify / t_de, 2)), indent=1))


if __name__ == "__main__":
    main()
