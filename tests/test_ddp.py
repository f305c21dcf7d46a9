"`diffedu.training.train` under `torchrun` with two CPU processes (gloo, loopback only)."
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from conftest import BIN, ROOT
from diffedu.core import load_checkpoint

SCRIPT = textwrap.dedent('''
    import sys
    from pathlib import Path

    import torch
    import torch.distributed as dist

    from diffedu.data import toy2d
    from diffedu.denoisers import EDMPrecond
    from diffedu.nets import TimeMLP
    from diffedu.training import edm_loss, train

    dist.init_process_group("gloo")
    rank = dist.get_rank()
    out = Path(sys.argv[1])
    torch.manual_seed(100 + rank)  # a different init on each rank: DDP must start every rank from rank 0's weights
    model = EDMPrecond(TimeMLP(hidden=32, depth=1, emb_dim=16))
    init = {k: v.clone() for k, v in model.state_dict().items()}
    data = toy2d("moons", 512, torch.Generator().manual_seed(0))
    batches = []

    def recording_loss(denoiser, x0, generator=None):
        batches.append(x0.clone())
        return edm_loss(denoiser, x0, generator=generator)

    losses = []
    for state in train(model, data, steps=6, batch_size=64, lr=1e-2, loss=recording_loss, ema_decay=0.9,
                       device="cpu", checkpoint=out / "ckpt.pt", checkpoint_every=3,
                       generator=torch.Generator().manual_seed(0)):
        losses.append(state.loss)
    torch.save(dict(weights=model.state_dict(), ema=state.ema.state_dict(), init=init, losses=losses,
                    batches=torch.stack(batches), world_size=state.world_size, rank=state.rank,
                    ddp=type(state.model).__name__), out / f"rank{rank}.pt")
    dist.barrier()
    dist.destroy_process_group()
''')


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun() -> list[str]:
    exe = BIN / "torchrun"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "torch.distributed.run"]


@pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                    reason="torch.distributed with gloo is not available")
def test_train_under_torchrun_two_ranks_identical_weights(tmp_path):
    script = tmp_path / "ddp_train.py"
    script.write_text(SCRIPT)
    port = free_port()
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1",
               DIFFEDU_PROGRESS="0", DIFFEDU_OFFLINE="1", PYTHONWARNINGS="ignore")
    if Path("/sys/class/net/lo").exists():
        env["GLOO_SOCKET_IFNAME"] = "lo"
    env.pop("DIFFEDU_RUN_DIR", None)
    cmd = [*torchrun(), "--nnodes", "1", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(port), str(script), str(tmp_path)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # torchrun and its two workers
        output, _ = proc.communicate()
        pytest.fail(f"torchrun did not finish in 120 s:\n{output[-3000:]}")
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0, output[-3000:]

    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert (r0["rank"], r1["rank"]) == (0, 1) and r0["world_size"] == r1["world_size"] == 2
    assert r0["ddp"] == "EDMPrecond"  # the state exposes the unwrapped model
    # the two ranks started from different weights; DDP broadcast rank 0's, and averaged gradients kept them equal
    assert any(not torch.equal(r0["init"][k], r1["init"][k]) for k in r0["init"])
    for k in r0["weights"]:
        assert torch.equal(r0["weights"][k], r1["weights"][k]), k
    for k in r0["ema"]:
        assert torch.equal(r0["ema"][k], r1["ema"][k]), k
    changed = max((r0["weights"][k] - r0["init"][k]).abs().max().item() for k in r0["weights"])
    assert changed > 1e-3, "weights did not change from the initialisation"
    # each rank drew half of the global batch from its own stream; the reported loss is the ranks' mean
    assert r0["batches"].shape == r1["batches"].shape == (6, 32, 2)
    assert not torch.equal(r0["batches"], r1["batches"])
    assert r0["losses"] == r1["losses"] and len(r0["losses"]) == 6
    # only rank 0 wrote the checkpoint; it holds the final weights
    ckpt = load_checkpoint(tmp_path / "ckpt.pt")
    assert ckpt["step"] == 6 and ckpt["world_size"] == 2
    assert all(torch.equal(ckpt["model"][k], r0["weights"][k]) for k in r0["weights"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt", "ddp_train.py", "rank0.pt", "rank1.pt"]
    assert elapsed < 60, f"torchrun took {elapsed:.1f} s"
