"Resuming `train` from a checkpoint: it continues exactly, or refuses with one line naming the file and the mismatch."
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from conftest import ROOT
from diffedu.core import load_checkpoint, save_checkpoint
from diffedu.data import toy2d
from diffedu.denoisers import EDMPrecond
from diffedu.nets import TimeMLP
from diffedu.schedules import ddpm_alpha_bar
from diffedu.training import train

DATA = toy2d("moons", 256, torch.Generator().manual_seed(0))


def small(hidden=16, seed=0):
    torch.manual_seed(seed)
    return EDMPrecond(TimeMLP(hidden=hidden, depth=1, emb_dim=8))


def run(model, steps, ckpt, stop_at=None, **kwargs):
    "Train to the end (or stop consuming at `stop_at`, like a crash); the states yielded."
    kwargs = dict(batch_size=32, lr=1e-2, ema_decay=0.9, device="cpu", checkpoint=ckpt, checkpoint_every=2,
                  generator=torch.Generator().manual_seed(0)) | kwargs
    states = []
    for state in train(model, DATA, steps, **kwargs):
        states.append(state)
        if state.step == stop_at:
            break
    return states


def refused(match, steps, ckpt, model=None, **kwargs):
    "Resuming must raise one CheckpointError (a ValueError) whose single line names the file and matches `match`."
    model = small() if model is None else model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=match) as info:
        run(model, steps, ckpt, **kwargs)
    message = str(info.value)
    assert type(info.value).__name__ == "CheckpointError", repr(info.value)
    assert str(ckpt) in message and "\n" not in message, message
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items()), "a refused resume touched the model"
    return message


@pytest.fixture
def ckpt(tmp_path):
    "A checkpoint at step 4 written by an EDM run of `small()`."
    path = tmp_path / "ckpt.pt"
    run(small(), 4, path)
    return path


def test_exact_resume_still_matches_an_uninterrupted_run(tmp_path):
    whole = small()
    run(whole, 6, None)
    crashed = small()
    run(crashed, 6, tmp_path / "c.pt", stop_at=3)  # checkpoint at step 2, step 3 lost
    resumed = small(seed=99)  # other weights: all must come from the checkpoint
    states = run(resumed, 6, tmp_path / "c.pt", generator=torch.Generator().manual_seed(5))
    assert states[0].start_step == 2 and states[-1].step == 6
    assert all(torch.equal(v, whole.state_dict()[k]) for k, v in resumed.state_dict().items())


def test_resume_with_another_loss_is_refused(ckpt):
    message = refused(r"loss 'edm'.*'ddpm'", 8, ckpt, loss="ddpm")
    assert "loss" in message


def test_resume_with_a_custom_loss_instead_of_edm_is_refused(ckpt):
    def my_loss(denoiser, x0, generator=None):
        return denoiser(x0, torch.ones(len(x0))).pow(2).mean()
    refused(r"loss 'edm'.*my_loss", 8, ckpt, loss=my_loss)


def test_resume_with_other_loss_kwargs_is_refused(ckpt):
    refused(r"P_mean", 8, ckpt, loss_kwargs=dict(P_mean=0.5))


def test_resume_with_another_noise_schedule_is_refused(tmp_path):
    path = tmp_path / "ddpm.pt"
    run(small(), 4, path, loss="ddpm", loss_kwargs=dict(alpha_bar=ddpm_alpha_bar(100, "linear")))
    refused(r"alpha_bar", 8, path, loss="ddpm", loss_kwargs=dict(alpha_bar=ddpm_alpha_bar(100, "cosine")))
    # the same schedule, built again, resumes
    assert run(small(), 6, path, loss="ddpm", loss_kwargs=dict(alpha_bar=ddpm_alpha_bar(100, "linear")))[0].start_step == 4


def test_resume_with_the_default_written_out_is_accepted(ckpt):
    assert run(small(), 6, ckpt, loss="edm", loss_kwargs=dict(P_mean=-1.2))[0].start_step == 4


def test_resume_into_another_architecture_is_refused(ckpt):
    message = refused(r"architecture", 8, ckpt, model=small(hidden=24))
    assert "[16" in message and "[24" in message  # the shapes that differ


@pytest.mark.parametrize("steps", [4, 3])
def test_steps_not_beyond_the_checkpoint_are_refused(ckpt, steps):
    refused(r"step 4.*steps > 4", steps, ckpt)


def test_empty_checkpoint_is_refused(tmp_path):
    path = tmp_path / "empty.pt"
    path.touch()
    refused(r"empty", 4, path)
    with pytest.raises(ValueError, match=r"empty\.pt.*empty"):
        load_checkpoint(path)


@pytest.mark.parametrize("keep", [0.5, 0.99, 10])
def test_truncated_checkpoint_is_refused(ckpt, keep):
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: int(len(data) * keep) if keep < 1 else keep])
    refused(r"truncated", 8, ckpt)


def test_a_flipped_byte_anywhere_is_detected(ckpt, tmp_path):
    data = ckpt.read_bytes()
    assert load_checkpoint(ckpt)["step"] == 4
    broken = tmp_path / "flipped.pt"
    positions = sorted({*range(0, 120), *range(0, len(data), max(1, len(data) // 97)), len(data) - 1})
    silent, unclear = [], []
    for i in positions:
        flipped = bytearray(data)
        flipped[i] ^= 0x10
        broken.write_bytes(bytes(flipped))
        try:
            load_checkpoint(broken)
            silent.append(i)
        except Exception as err:
            if type(err).__name__ != "CheckpointError" or str(broken) not in str(err) or "\n" in str(err):
                unclear.append((i, type(err).__name__))
    assert not silent and not unclear, (f"of {len(positions)} flipped bytes, {len(silent)} loaded silently (e.g. at "
                                        f"{silent[:3]}), {len(unclear)} raised no one-line CheckpointError (e.g. {unclear[:3]})")


class NotAWeight:
    pass


def test_a_non_weight_object_is_refused_on_load(tmp_path):
    path = save_checkpoint({"step": 1, "obj": NotAWeight()}, tmp_path / "unsafe.pt")
    with pytest.raises(ValueError, match=r"unsafe\.pt.*weights"):
        load_checkpoint(path)


KILLED_SAVE = textwrap.dedent('''
    import os, sys, time
    import torch
    from diffedu.core import save_checkpoint

    def stall(src, dst):  # the file is written, the rename has not happened: a kill here strands the temporary file
        print("stalled", flush=True)
        time.sleep(600)

    os.replace = stall
    save_checkpoint({"step": 1, "w": torch.ones(3)}, sys.argv[1])
''')


def test_a_killed_save_leaves_no_stray_file_after_the_next_save(tmp_path):
    folder = tmp_path / "run"
    save_checkpoint({"step": 0, "w": torch.zeros(3)}, folder / "ckpt.pt")
    script = tmp_path / "killed_save.py"
    script.write_text(KILLED_SAVE)
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONWARNINGS="ignore")
    proc = subprocess.Popen([sys.executable, str(script), str(folder / "ckpt.pt")], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "stalled", line + proc.stdout.read()
        stray = sorted(p.name for p in folder.iterdir() if p.name != "ckpt.pt")
        assert len(stray) == 1, stray
        # while its writer is alive, the temporary file is left alone by other saves into the folder
        save_checkpoint({"step": 5}, folder / "other.pt")
        assert sorted(p.name for p in folder.iterdir()) == sorted(["ckpt.pt", "other.pt", *stray])
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    assert load_checkpoint(folder / "ckpt.pt")["step"] == 0  # the killed save did not touch the checkpoint
    save_checkpoint({"step": 6}, folder / "other.pt")  # the next save into that folder, to any checkpoint name
    assert sorted(p.name for p in folder.iterdir()) == ["ckpt.pt", "other.pt"]
