"""Dataset loaders: the real files through the loader users call, and the download path
against a local HTTP server on 127.0.0.1 (no test reaches the internet)."""
import functools
import hashlib
import http.server
import shutil
import threading

import numpy as np
import pytest
from conftest import data_root

import fastmlp as keras
from fastmlp.datasets import fashion_mnist, idx, mnist

FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


@pytest.mark.parametrize("module,name,first_labels", [
    (keras.datasets.fashion_mnist, "fashion-mnist", [9, 0, 0, 3, 0]),
    (keras.datasets.mnist, "mnist", [5, 0, 4, 1, 9]),
])
def test_load_data_returns_keras_arrays(module, name, first_labels):
    data_root()
    (x_train, y_train), (x_test, y_test) = module.load_data()
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and y_train.dtype == np.uint8
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert list(y_train[:5]) == first_labels
    assert np.bincount(y_train).tolist() == ([6000] * 10 if name == "fashion-mnist" else
                                             [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])
    assert x_train.max() == 255 and x_train.min() == 0


def test_shared_files_match_the_loader_checksums():
    root = data_root()
    for module in (fashion_mnist, mnist):
        for filename, sha in module.SHA256.items():
            assert hashlib.sha256((root / module.NAME / filename).read_bytes()).hexdigest() == sha


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def local_server(tmp_path):
    """Serves a folder on 127.0.0.1 with copies of the Fashion-MNIST files."""
    served = tmp_path / "served"
    served.mkdir()
    for name in FILES:
        shutil.copy(data_root() / "fashion-mnist" / name, served / name)
    handler = functools.partial(_QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_download_into_an_empty_cache(local_server, tmp_path, monkeypatch):
    served, url = local_server
    cache = tmp_path / "cache"
    monkeypatch.setenv("FASTMLP_DATA", str(cache))
    (x_train, y_train), (_x_test, _y_test) = fashion_mnist.load_data(base_url=url)
    assert x_train.shape == (60000, 28, 28) and list(y_train[:3]) == [9, 0, 0]
    assert sorted(p.name for p in (cache / "fashion-mnist").iterdir()) == sorted(FILES)
    # second call reads the cache: the server may be gone
    (served / FILES[0]).unlink()
    (x2, _), _ = fashion_mnist.load_data(base_url=url)
    np.testing.assert_array_equal(x2, x_train)


def test_corrupted_download_is_rejected_and_leaves_nothing(local_server, tmp_path, monkeypatch):
    served, url = local_server
    path = served / "train-labels-idx1-ubyte.gz"
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    cache = tmp_path / "cache"
    monkeypatch.setenv("FASTMLP_DATA", str(cache))
    with pytest.raises(ValueError, match="corrupted.*SHA-256"):
        fashion_mnist.load_data(base_url=url)
    assert not (cache / "fashion-mnist" / "train-labels-idx1-ubyte.gz").exists()
    assert not any(p.name.endswith(".part") for p in (cache / "fashion-mnist").iterdir())


def test_missing_file_and_no_server_names_directory_and_url(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTMLP_DATA", str(tmp_path / "cache"))
    # a port on 127.0.0.1 with nothing listening
    with pytest.raises(OSError, match=r"not in .*cache/mnist and could not be downloaded from "
                                      r"http://127\.0\.0\.1:9/train-images-idx3-ubyte\.gz"):
        mnist.load_data(base_url="http://127.0.0.1:9/")


def test_http_404_is_reported(local_server, tmp_path, monkeypatch):
    served, url = local_server
    (served / "t10k-labels-idx1-ubyte.gz").unlink()
    monkeypatch.setenv("FASTMLP_DATA", str(tmp_path / "cache"))
    with pytest.raises(OSError, match="t10k-labels-idx1-ubyte.gz.*404"):
        fashion_mnist.load_data(base_url=url)


def test_default_cache_is_in_the_home_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("FASTMLP_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert idx.cache_dir("mnist") == tmp_path / ".fastmlp" / "datasets" / "mnist"


def test_truncated_idx_file_is_a_clear_error(tmp_path):
    import gzip
    path = tmp_path / "bad.gz"
    with gzip.open(path, "wb") as f:
        f.write(bytes([0, 0, 8, 1, 0, 0, 0, 10]) + b"\x01" * 5)
    with pytest.raises(ValueError, match="truncated"):
        idx.read_idx(path)


def _cache_with_copies(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    folder = cache / "fashion-mnist"
    folder.mkdir(parents=True)
    for name in FILES:
        shutil.copy(data_root() / "fashion-mnist" / name, folder / name)
    monkeypatch.setenv("FASTMLP_DATA", str(cache))
    return folder


def test_wrong_file_in_the_cache_is_downloaded_again(local_server, tmp_path, monkeypatch):
    # the test labels copied over the train labels: a valid IDX file with the wrong content
    _, url = local_server
    folder = _cache_with_copies(tmp_path, monkeypatch)
    shutil.copy(folder / "t10k-labels-idx1-ubyte.gz", folder / "train-labels-idx1-ubyte.gz")
    (_x_train, y_train), _ = fashion_mnist.load_data(base_url=url)
    assert y_train.shape == (60000,) and list(y_train[:3]) == [9, 0, 0]
    assert hashlib.sha256((folder / "train-labels-idx1-ubyte.gz").read_bytes()).hexdigest() == \
        fashion_mnist.SHA256["train-labels-idx1-ubyte.gz"]


@pytest.mark.parametrize("damage", ["truncated", "flipped byte", "wrong file"])
def test_damaged_cache_without_a_server_names_the_file(tmp_path, monkeypatch, damage):
    folder = _cache_with_copies(tmp_path, monkeypatch)
    path = folder / "train-images-idx3-ubyte.gz"
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        data = data[:len(data) // 2]
    elif damage == "flipped byte":
        data[5000] ^= 0x01
    else:
        data = bytearray((folder / "t10k-images-idx3-ubyte.gz").read_bytes())
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"cached file .*train-images-idx3-ubyte\.gz is not the "
                                         r"official .*SHA-256.*downloading it again from "
                                         r"http://127\.0\.0\.1:9/train-images-idx3-ubyte\.gz failed"):
        fashion_mnist.load_data(base_url="http://127.0.0.1:9/")
    assert path.read_bytes() == bytes(data)  # nothing the user had was replaced by nothing


def test_checksum_is_computed_once_and_remembered_in_a_stamp(tmp_path, monkeypatch):
    folder = _cache_with_copies(tmp_path, monkeypatch)
    calls = []
    real = idx._sha256
    monkeypatch.setattr(idx, "_sha256", lambda path: calls.append(path.name) or real(path))
    monkeypatch.setattr(idx, "_verified", {})
    fashion_mnist.load_data(base_url="http://127.0.0.1:9/")
    assert sorted(calls) == sorted(FILES)
    stamp = (folder / "train-labels-idx1-ubyte.gz.sha256").read_text().split()
    assert stamp[2] == fashion_mnist.SHA256["train-labels-idx1-ubyte.gz"]
    monkeypatch.setattr(idx, "_verified", {})  # a new process: the stamps answer
    fashion_mnist.load_data(base_url="http://127.0.0.1:9/")
    assert len(calls) == 4
    # a changed file no longer matches its stamp: it is verified again, and refused
    labels = folder / "train-labels-idx1-ubyte.gz"
    data = bytearray(labels.read_bytes())
    data[-1] ^= 0xFF
    labels.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="not the official"):
        fashion_mnist.load_data(base_url="http://127.0.0.1:9/")
    assert calls[-1] == "train-labels-idx1-ubyte.gz"


def test_a_read_only_dataset_folder_is_left_untouched(tmp_path, monkeypatch):
    folder = _cache_with_copies(tmp_path, monkeypatch)
    folder.chmod(0o555)
    try:
        monkeypatch.setattr(idx, "_verified", {})
        (x_train, _), _ = fashion_mnist.load_data(base_url="http://127.0.0.1:9/")
        assert x_train.shape == (60000, 28, 28)
        assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)
    finally:
        folder.chmod(0o755)


@pytest.mark.parametrize("content,match", [
    (b"\x00\x00\x08\x00", "0 dimensions"),
    (b"\x00\x00\x08\x02\x00\x00", "header of 2 dimensions in 6 bytes"),
    (b"\x00\x00\x0d\x01\x00\x00\x00\x01\x00", "magic"),
])
def test_malformed_idx_headers_name_the_file(tmp_path, content, match):
    import gzip
    path = tmp_path / "odd.gz"
    with gzip.open(path, "wb") as f:
        f.write(content)
    with pytest.raises(ValueError, match=f"odd.gz.*{match}|{match}.*"):
        idx.read_idx(path)


def test_not_gzip_names_the_file(tmp_path):
    path = tmp_path / "plain.gz"
    path.write_bytes(b"not a gzip file at all")
    with pytest.raises(ValueError, match=r"plain\.gz is not a readable gzip file"):
        idx.read_idx(path)


def test_images_and_labels_must_agree_in_count(tmp_path, monkeypatch):
    import gzip
    folder = tmp_path / "toy"
    folder.mkdir()
    contents = {
        "train-images-idx3-ubyte.gz": bytes([0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2]) + bytes(12),
        "train-labels-idx1-ubyte.gz": bytes([0, 0, 8, 1, 0, 0, 0, 2]) + bytes(2),
        "t10k-images-idx3-ubyte.gz": bytes([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2]) + bytes(4),
        "t10k-labels-idx1-ubyte.gz": bytes([0, 0, 8, 1, 0, 0, 0, 1]) + bytes(1),
    }
    checksums = {}
    for name, raw in contents.items():
        with gzip.open(folder / name, "wb") as f:
            f.write(raw)
        checksums[name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    monkeypatch.setenv("FASTMLP_DATA", str(tmp_path))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz holds 3 images but .*"
                                         r"train-labels-idx1-ubyte\.gz holds 2 labels"):
        idx.load("toy", "http://127.0.0.1:9/", checksums)
