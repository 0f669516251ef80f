"""The IDX reader and the MNIST loaders, on files the tests write (no network but loopback)."""

import gzip
import hashlib
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastbp import data
from fastbp.data import (
    MNIST_FILES,
    MnistCorruptError,
    MnistUnavailableError,
    get_data_dir,
    load_embedded_mnist,
    load_mnist,
    read_idx,
)


def write_idx(path, a, compress=False, cut=0):
    raw = struct.pack(">BBBB", 0, 0, 0x08, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()
    raw = raw[: len(raw) - cut]
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(raw)
    return path


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trip(tmp_path, rng, compress):
    images = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 5, dtype=np.uint8)
    sfx = ".gz" if compress else ""
    assert_array_equal(read_idx(write_idx(tmp_path / f"i{sfx}", images, compress)), images)
    assert_array_equal(read_idx(write_idx(tmp_path / f"l{sfx}", labels, compress)), labels)


def test_read_idx_rejects_truncated_and_foreign_files(tmp_path):
    a = np.zeros((3, 4), np.uint8)
    with pytest.raises(ValueError, match="truncated"):
        read_idx(write_idx(tmp_path / "t.gz", a, True, cut=2))
    (tmp_path / "x").write_bytes(b"hello world")
    with pytest.raises(ValueError, match="does not start with an IDX header"):
        read_idx(tmp_path / "x")
    (tmp_path / "bad.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(ValueError, match="not a readable IDX file"):
        read_idx(tmp_path / "bad.gz")
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "missing.gz")


# -- MNIST loading, on tiny IDX files written here ------------------------------------------------

NAMES = list(MNIST_FILES)  # train images, train labels, test images, test labels
N_TRAIN, N_TEST = 20, 10


def make_mnist(folder, seed=0):
    """Four gzip IDX files shaped like MNIST (20 train, 10 test 28x28 images), their bytes and SHA-256s."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for images, labels, n in ((NAMES[0], NAMES[1], N_TRAIN), (NAMES[2], NAMES[3], N_TEST)):
        arrays[images] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[labels] = rng.permutation(np.arange(n) % 10).astype(np.uint8)  # every class present
    folder.mkdir(parents=True, exist_ok=True)
    blobs = {name: write_idx(folder / name, a, compress=True).read_bytes() for name, a in arrays.items()}
    return SimpleNamespace(
        dir=folder,
        arrays=arrays,
        blobs=blobs,
        sums={name: hashlib.sha256(b).hexdigest() for name, b in blobs.items()},
    )


@pytest.fixture
def tiny(tmp_path):
    return make_mnist(tmp_path / "mnist")


@pytest.fixture(autouse=True)
def no_proxy_no_env(monkeypatch):
    """Keep the loader's environment variables and any proxy out of these tests (loopback only)."""
    proxies = ("http_proxy", "https_proxy", "all_proxy")
    for var in ("FASTBP_DATA", "FASTBP_MNIST_MIRRORS", *proxies, *(p.upper() for p in proxies)):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def serve():
    """start(files, truncate=(), drip=(), no_length=()) -> .url, a base URL on 127.0.0.1 serving
    ``files`` (name -> bytes), and .requests, the (name, User-Agent) of each request. Names in
    ``truncate`` get their full Content-Length but half the body; names in ``drip`` get their body one
    byte every 50 ms (for at most 10 s); names in ``no_length`` get no Content-Length header. The
    servers stop after the test."""
    running = []

    def start(files, truncate=(), drip=(), no_length=()):
        requests = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                name = self.path.rsplit("/", 1)[-1]
                requests.append((name, self.headers.get("User-Agent", "")))
                if name not in files:
                    self.send_error(404)
                    return
                body = files[name]
                self.send_response(200)
                if name not in no_length:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    if name in drip:
                        stop = time.monotonic() + 10
                        for i in range(len(body)):
                            if time.monotonic() > stop:
                                break
                            self.wfile.write(body[i : i + 1])
                            self.wfile.flush()
                            time.sleep(0.05)
                        return
                    self.wfile.write(body[: len(body) // 2] if name in truncate else body)
                except ConnectionError:  # the client gave up (size cap, deadline): expected here
                    pass

            def log_message(self, *args):  # keep the test output clean
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        running.append((server, thread))
        return SimpleNamespace(url=f"http://127.0.0.1:{server.server_address[1]}/mnist/", requests=requests)

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def closed_port_url():
    """A loopback URL nothing listens on: connecting is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def assert_same_sets(got, want):
    for got_pair, want_pair in zip(got, want, strict=True):
        for g, w in zip(got_pair, want_pair, strict=True):
            assert g.dtype == w.dtype
            assert_array_equal(g, w)


def gz_files(folder):
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".npy"))


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("flatten", [False, True])
@pytest.mark.parametrize("one_hot_label", [False, True])
def test_load_mnist_returns_the_books_shapes_and_dtypes(tiny, normalize, flatten, one_hot_label):
    (x, t), (xt, tt) = load_mnist(
        normalize, flatten, one_hot_label, data_dir=tiny.dir, download=False, checksums=tiny.sums
    )
    for got_x, got_t, images, labels, n in (
        (x, t, NAMES[0], NAMES[1], N_TRAIN),
        (xt, tt, NAMES[2], NAMES[3], N_TEST),
    ):
        raw_x, raw_t = tiny.arrays[images], tiny.arrays[labels]
        assert got_x.shape == ((n, 784) if flatten else (n, 1, 28, 28))
        if normalize:
            assert got_x.dtype == np.float32
            assert_array_equal(got_x.reshape(n, 28, 28), raw_x.astype(np.float32) / np.float32(255.0))
            assert 0.0 <= got_x.min() and got_x.max() <= 1.0
        else:
            assert got_x.dtype == np.uint8
            assert_array_equal(got_x.reshape(n, 28, 28), raw_x)
        if one_hot_label:
            assert got_t.dtype == np.float64 and got_t.shape == (n, 10)
            assert_array_equal(got_t.argmax(1), raw_t)
            assert_array_equal(got_t.sum(1), np.ones(n))
        else:
            assert got_t.dtype == np.uint8 and got_t.shape == (n,)
            assert_array_equal(got_t, raw_t)


def test_a_present_file_with_the_wrong_checksum_is_refused_and_kept(tiny):
    bad = dict(tiny.sums, **{NAMES[2]: "0" * 64})
    with pytest.raises(MnistCorruptError, match="t10k-images-idx3-ubyte.gz is corrupt or truncated") as e:
        load_mnist(data_dir=tiny.dir, download=False, checksums=bad)
    assert "Delete it" in str(e.value) and "0" * 64 in str(e.value)
    assert (tiny.dir / NAMES[2]).read_bytes() == tiny.blobs[NAMES[2]]  # the user's file is not deleted


def test_a_truncated_file_is_refused_even_when_downloads_are_on(tiny, serve):
    path = tiny.dir / NAMES[0]
    path.write_bytes(tiny.blobs[NAMES[0]][:-100])
    server = serve(tiny.blobs)
    with pytest.raises(MnistCorruptError, match=r"train-images-idx3-ubyte.gz is corrupt or truncated"):
        load_mnist(data_dir=tiny.dir, mirrors=[server.url], checksums=tiny.sums)
    assert path.stat().st_size == len(tiny.blobs[NAMES[0]]) - 100
    assert server.requests == []  # a damaged file is reported, not silently replaced


def test_missing_files_offline_name_the_files_the_folder_and_the_remedy(tiny):
    for name in (NAMES[1], NAMES[3]):
        (tiny.dir / name).unlink()
    with pytest.raises(MnistUnavailableError) as e:
        load_mnist(data_dir=tiny.dir, download=False, checksums=tiny.sums)
    msg = str(e.value)
    assert msg.startswith("load_mnist:")
    assert NAMES[1] in msg and NAMES[3] in msg and str(tiny.dir) in msg
    assert "download=False" in msg and "copy the four MNIST files" in msg and "FASTBP_DATA" in msg
    assert isinstance(e.value, OSError)


def test_download_from_a_local_server_is_verified_and_atomic(tmp_path, tiny, serve):
    server = serve(tiny.blobs)
    target = tmp_path / "new" / "data"  # created on demand
    (x, t), (xt, tt) = load_mnist(False, data_dir=target, mirrors=[server.url], checksums=tiny.sums)
    assert_array_equal(x.reshape(N_TRAIN, 28, 28), tiny.arrays[NAMES[0]])
    assert_array_equal(tt, tiny.arrays[NAMES[3]])
    assert gz_files(target) == sorted(NAMES)  # no temporary file left
    assert all((target / n).read_bytes() == tiny.blobs[n] for n in NAMES)
    assert sorted(n for n, _ in server.requests) == sorted(NAMES)
    assert all(agent.startswith("Mozilla/5.0") for _, agent in server.requests)


def test_wrong_bytes_leave_nothing_behind_and_the_next_mirror_is_used(tmp_path, tiny, serve):
    liar = serve({n: b"\x1f\x8b" + os.urandom(len(b)) for n, b in tiny.blobs.items()})
    good = serve(tiny.blobs)
    target = tmp_path / "d"
    with pytest.raises(MnistUnavailableError) as e:
        load_mnist(data_dir=target, mirrors=[liar.url], checksums=tiny.sums)
    msg = str(e.value)
    assert all(n in msg for n in NAMES) and "wrong SHA-256" in msg and liar.url in msg
    assert "copy the four MNIST files" in msg
    assert list(target.iterdir()) == []  # no partial, temporary or bad file

    load_mnist(data_dir=target, mirrors=[liar.url, good.url], checksums=tiny.sums)
    assert gz_files(target) == sorted(NAMES)
    assert all((target / n).read_bytes() == tiny.blobs[n] for n in NAMES)


def test_a_truncated_download_is_discarded(tmp_path, tiny, serve):
    cut = serve(tiny.blobs, truncate={NAMES[0]})
    target = tmp_path / "d"
    with pytest.raises(MnistUnavailableError, match="truncated download: got") as e:
        load_mnist(data_dir=target, mirrors=[cut.url], checksums=tiny.sums)
    assert NAMES[0] in str(e.value)
    assert gz_files(target) == sorted(NAMES[1:])  # the other three are complete and verified


def test_an_unreachable_or_missing_mirror_falls_through_to_the_next(tmp_path, tiny, serve):
    empty, good = serve({}), serve(tiny.blobs)
    mirrors = f"{closed_port_url()}, {empty.url}, {good.url}"  # the FASTBP_MNIST_MIRRORS form
    load_mnist(data_dir=tmp_path / "d", mirrors=mirrors, checksums=tiny.sums)
    assert gz_files(tmp_path / "d") == sorted(NAMES)
    with pytest.raises(MnistUnavailableError, match=r"HTTP 404") as e:
        load_mnist(data_dir=tmp_path / "x", mirrors=[closed_port_url(), empty.url], checksums=tiny.sums)
    assert "cannot connect" in str(e.value)


def test_mirrors_from_the_environment_and_file_urls(tmp_path, tiny, monkeypatch):
    monkeypatch.setenv("FASTBP_MNIST_MIRRORS", f"{(tmp_path / 'nowhere').as_uri()},{tiny.dir.as_uri()}")
    assert data.download_mnist(tmp_path / "d", checksums=tiny.sums) == tmp_path / "d"
    assert gz_files(tmp_path / "d") == sorted(NAMES)


def test_the_parsed_cache_is_used_without_rehashing_or_reparsing(tiny, monkeypatch):
    first = load_mnist(data_dir=tiny.dir, download=False, checksums=tiny.sums)
    assert len(list(tiny.dir.glob("*.npy"))) == 4

    def must_not_run(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    # every binding of each name: the module that defines it, those that import it, the package
    modules = [
        m for name, m in list(sys.modules.items()) if name == "fastbp.data" or name.startswith("fastbp.data.")
    ]
    for parse_or_hash in ("_gather", "_verify", "_decode_idx", "read_idx"):
        holders = [m for m in modules if hasattr(m, parse_or_hash)]
        assert holders, parse_or_hash
        for module in holders:
            monkeypatch.setattr(module, parse_or_hash, must_not_run)
    for name in NAMES:  # the sources are not even read: garbage in them goes unnoticed
        (tiny.dir / name).write_bytes(b"garbage")
    second = load_mnist(data_dir=tiny.dir, download=False, checksums=tiny.sums)
    assert_same_sets(first, second)


def test_a_damaged_cache_falls_back_to_the_verified_files(tiny):
    first = load_mnist(False, data_dir=tiny.dir, download=False, checksums=tiny.sums)
    for i, npy in enumerate(sorted(tiny.dir.glob("*.npy"))):
        raw = npy.read_bytes()
        npy.write_bytes([raw[: len(raw) // 2], b"not an npy file", b"PK\x03\x04 a zip", raw[:20]][i])
    second = load_mnist(False, data_dir=tiny.dir, download=False, checksums=tiny.sums)
    assert_same_sets(first, second)
    # rewritten whole
    assert all(np.load(p, allow_pickle=False).dtype == np.uint8 for p in tiny.dir.glob("*.npy"))


def test_a_cache_of_other_source_bytes_is_not_used(tiny):
    load_mnist(data_dir=tiny.dir, download=False, checksums=tiny.sums)
    other = make_mnist(tiny.dir, seed=1)  # new files, new digests: the old cache files do not match
    (x, t), _ = load_mnist(False, data_dir=tiny.dir, download=False, checksums=other.sums)
    assert_array_equal(x.reshape(N_TRAIN, 28, 28), other.arrays[NAMES[0]])


def test_an_unwritable_folder_just_means_no_cache(tiny, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(data.cache.np, "save", refuse)
    load_mnist(data_dir=tiny.dir, download=False, checksums=tiny.sums)
    assert gz_files(tiny.dir) == sorted(NAMES)  # neither cache nor temporary files


def test_data_dir_argument_then_environment_then_user_cache(tmp_path, tiny, monkeypatch):
    monkeypatch.setenv("FASTBP_DATA", str(tiny.dir))
    assert get_data_dir() == tiny.dir
    assert get_data_dir(tmp_path) == tmp_path
    (x, _), _ = load_mnist(False, download=False, checksums=tiny.sums)  # found through FASTBP_DATA
    assert_array_equal(x.reshape(N_TRAIN, 28, 28), tiny.arrays[NAMES[0]])
    monkeypatch.delenv("FASTBP_DATA")
    home = Path.home()
    assert data._user_cache_dir("linux", {}) == home / ".cache" / "fastbp"
    assert data._user_cache_dir("linux", {"XDG_CACHE_HOME": "/x/cache"}) == Path("/x/cache/fastbp")
    assert data._user_cache_dir("linux", {"XDG_CACHE_HOME": "relative"}) == home / ".cache" / "fastbp"
    assert data._user_cache_dir("darwin", {}) == home / "Library" / "Caches" / "fastbp"
    assert data._user_cache_dir("win32", {"LOCALAPPDATA": "/L"}) == Path("/L") / "fastbp" / "Cache"
    assert get_data_dir() == data._user_cache_dir(sys.platform, os.environ)


def test_bad_arguments_name_the_argument(tiny):
    with pytest.raises(ValueError, match="load_mnist: checksums must map exactly the four MNIST file names"):
        load_mnist(data_dir=tiny.dir, checksums={NAMES[0]: tiny.sums[NAMES[0]]})
    with pytest.raises(ValueError, match=r"checksums\['t10k-labels-idx1-ubyte.gz'\] must be 64 hex digits"):
        load_mnist(data_dir=tiny.dir, checksums=dict(tiny.sums, **{NAMES[3]: "abc"}))
    (tiny.dir / NAMES[0]).unlink()
    with pytest.raises(ValueError, match="load_mnist: mirrors is empty"):
        load_mnist(data_dir=tiny.dir, mirrors=" , ", checksums=tiny.sums)


def test_inconsistent_files_are_reported(tmp_path):
    folder = tmp_path / "m"
    tiny = make_mnist(folder)
    write_idx(folder / NAMES[1], np.zeros(N_TRAIN + 1, np.uint8), compress=True)  # one label too many
    sums = dict(tiny.sums, **{NAMES[1]: hashlib.sha256((folder / NAMES[1]).read_bytes()).hexdigest()})
    with pytest.raises(ValueError, match="are not an MNIST set"):
        load_mnist(data_dir=folder, download=False, checksums=sums)
    assert not list(folder.glob("train*.npy"))  # nothing inconsistent is cached


# -- the embedded subset ----------------------------------------------------------------------------

# Images per digit 0-9 in the full MNIST sets.
MNIST_TRAIN_COUNTS = np.array([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])
MNIST_TEST_COUNTS = np.array([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])


def test_embedded_subset_is_stratified_mnist():
    (x, t), (xt, tt) = load_embedded_mnist()
    assert x.shape == (10000, 784) and xt.shape == (2000, 784)
    assert x.dtype == xt.dtype == np.float32 and 0.0 <= x.min() and x.max() == 1.0
    assert t.dtype == tt.dtype == np.uint8 and t.shape == (10000,) and tt.shape == (2000,)
    for labels, full in ((t, MNIST_TRAIN_COUNTS), (tt, MNIST_TEST_COUNTS)):
        counts = np.bincount(labels, minlength=10)
        assert counts.size == 10 and counts.min() > 0
        assert np.abs(counts - full * len(labels) / full.sum()).max() < 1  # each class its share, rounded
    (xr, tr), (xtr, ttr) = load_embedded_mnist(False, False, True)
    assert xr.dtype == np.uint8 and xr.shape == (10000, 1, 28, 28) and xtr.shape == (2000, 1, 28, 28)
    assert tr.dtype == np.float64 and tr.shape == (10000, 10) and ttr.shape == (2000, 10)
    assert_array_equal(tr.argmax(1), t)
    assert_array_equal(xr.reshape(10000, 784).astype(np.float32) / np.float32(255), x)


def test_embedded_subset_readme_carries_the_attribution_and_the_checksums():
    readme = (Path(data.__file__).parents[1] / "_data" / "mnist_subset" / "README.md").read_text(
        encoding="utf-8"
    )
    for words in ("Yann LeCun", "Corinna Cortes", "Christopher J. C. Burges", "CC BY-SA 3.0"):
        assert words in readme
    for name, sha in data.EMBEDDED_MNIST_FILES.items():
        assert f"| {name} |" in readme and sha in readme


def test_embedded_subset_checks_its_files(monkeypatch):
    monkeypatch.setitem(data.EMBEDDED_MNIST_FILES, NAMES[3], "f" * 64)
    with pytest.raises(MnistCorruptError, match="load_embedded_mnist: the shipped file .*t10k-labels"):
        load_embedded_mnist()


# -- the parsed cache is verified (issue 11.7) --------------------------------------------------------


def test_a_damaged_but_well_formed_cache_is_rebuilt_from_the_verified_files(tiny):
    first = load_mnist(False, data_dir=tiny.dir, download=False, checksums=tiny.sums)
    caches = {name: next(tiny.dir.glob(f"{name.removesuffix('.gz')}.*.npy")) for name in NAMES[:2]}
    # a plausible train set: 10 all-black images and their labels, valid .npy files under the same names
    np.save(caches[NAMES[0]], np.zeros((10, 28, 28), np.uint8))
    np.save(caches[NAMES[1]], np.arange(10, dtype=np.uint8))
    second = load_mnist(False, data_dir=tiny.dir, download=False, checksums=tiny.sums)
    assert_same_sets(first, second)
    for name, path in caches.items():  # rewritten with the parsed arrays
        assert_array_equal(np.load(path, allow_pickle=False), tiny.arrays[name])
    assert len(list(tiny.dir.glob("*.npy"))) == 4


def test_a_cache_of_the_published_files_must_have_the_published_shapes(tmp_path, rng):
    # a consistent, correctly digested cache under the real MNIST digests, but 5 images: not MNIST
    x = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    t = np.arange(5, dtype=np.uint8)
    for name, a in ((NAMES[0], x), (NAMES[1], t)):
        np.save(tmp_path / data._cache_name(name, MNIST_FILES[name], data._array_digest(a)), a)
    assert data._read_cache(tmp_path, NAMES[0], NAMES[1], MNIST_FILES) is None
    other = {n: hashlib.sha256(n.encode()).hexdigest() for n in NAMES}  # the same arrays, other sources
    for name, a in ((NAMES[0], x), (NAMES[1], t)):
        np.save(tmp_path / data._cache_name(name, other[name], data._array_digest(a)), a)
    got = data._read_cache(tmp_path, NAMES[0], NAMES[1], other)
    assert got is not None
    assert_array_equal(got[0], x)
    assert_array_equal(got[1], t)


@pytest.mark.parametrize("what", ["count", "label", "rank"])
def test_a_correctly_digested_but_inconsistent_cache_pair_is_not_used(tmp_path, rng, what):
    # each file valid on its own (uint8, the digest its name records), not an MNIST set together:
    # 5 images and 6 labels, a label 12, images of rank 2
    x = rng.integers(0, 256, (5, 28, 28) if what != "rank" else (5, 784), dtype=np.uint8)
    t = np.arange(6 if what == "count" else 5, dtype=np.uint8)
    if what == "label":
        t[0] = 12
    other = {n: hashlib.sha256(n.encode()).hexdigest() for n in NAMES}
    for name, a in ((NAMES[0], x), (NAMES[1], t)):
        np.save(tmp_path / data._cache_name(name, other[name], data._array_digest(a)), a)
    assert data._read_cache(tmp_path, NAMES[0], NAMES[1], other) is None


# -- downloads: size cap, deadline, leftovers (issue 11.17, 11.18) ----------------------------------


@pytest.mark.parametrize("announced", [True, False])
def test_an_oversized_download_is_cut_off(tmp_path, tiny, serve, announced):
    name = NAMES[3]  # t10k labels: 4542 bytes published, so at most 9084
    body = b"\x1f\x8b" + os.urandom(200_000)
    server = serve({**tiny.blobs, name: body}, no_length=() if announced else (name,))
    target = tmp_path / "d"
    with pytest.raises(MnistUnavailableError) as e:
        load_mnist(data_dir=target, mirrors=[server.url], checksums=tiny.sums)
    words = "announces 200002 bytes, over the limit of 9084" if announced else "exceeds 9084 bytes"
    assert words in str(e.value) and name in str(e.value)
    assert gz_files(target) == sorted(NAMES[:3])  # nothing of the oversized file stays


def test_a_slow_drip_is_abandoned_at_the_deadline(tmp_path, tiny, serve):
    name = NAMES[3]
    server = serve(tiny.blobs, drip=(name,))  # ~1 byte per 50 ms: each read is quick, the whole is not
    target = tmp_path / "d"
    t0 = time.monotonic()
    with pytest.raises(MnistUnavailableError, match="not finished within the deadline of 1 s") as e:
        load_mnist(data_dir=target, mirrors=[server.url], checksums=tiny.sums, timeout=5, deadline=1)
    assert time.monotonic() - t0 < 4
    assert name in str(e.value)
    assert gz_files(target) == sorted(NAMES[:3])


def test_timeout_and_deadline_must_be_positive_seconds(tiny):
    cases = (({"timeout": 0}, "timeout"), ({"deadline": -1}, "deadline"), ({"deadline": "9"}, "deadline"))
    for kw, word in cases:
        with pytest.raises(ValueError, match=f"load_mnist: {word} must be a positive number of seconds"):
            load_mnist(data_dir=tiny.dir, checksums=tiny.sums, **kw)
    with pytest.raises(ValueError, match="download_mnist: deadline must be a positive number"):
        data.download_mnist(tiny.dir, checksums=tiny.sums, deadline=float("nan"))


KILLED_DOWNLOAD = """
import sys
from fastbp import data
data.download_mnist(sys.argv[1], mirrors=[sys.argv[2]], checksums=dict(zip(data.MNIST_FILES, sys.argv[3:])))
"""


@pytest.mark.skipif(os.name != "posix", reason="kill -9")
def test_the_part_file_of_a_killed_download_is_removed_by_the_next(tmp_path, tiny, serve):
    name = NAMES[0]
    slow = serve(tiny.blobs, drip=(name,))
    target = tmp_path / "d"
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_DOWNLOAD, str(target), slow.url, *tiny.sums.values()],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while not list(target.glob(f".{name}.*.part")) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    parts = list(target.glob(f".{name}.*.part"))
    assert len(parts) == 1  # what kill -9 leaves
    # an old-style leftover (before temporaries carried their process id): removed once untouched 10 min
    legacy_old, legacy_new = target / f".{name}.{'a' * 12}.part", target / f".{name}.{'b' * 12}.part"
    for p in (legacy_old, legacy_new):
        p.write_bytes(b"x")
    os.utime(legacy_old, (time.time() - 3600, time.time() - 3600))
    (target / name).unlink(missing_ok=True)
    load_mnist(data_dir=target, mirrors=[serve(tiny.blobs).url], checksums=tiny.sums)
    assert not parts[0].exists() and not legacy_old.exists()
    assert legacy_new.exists()  # perhaps a download under way in an older fastbp
    legacy_new.unlink()
    assert gz_files(target) == sorted(NAMES)


def test_a_cache_named_by_an_earlier_digest_is_not_read_and_goes_with_the_next_write(tmp_path, rng):
    from fastbp.data.cache import _read_cached_array, _write_cache

    a = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    sha = hashlib.sha256(b"source").hexdigest()
    old = tmp_path / f"{NAMES[0].removesuffix('.gz')}.{sha[:16]}.{'0' * 32}.npy"  # SHA-256-named
    np.save(old, a)
    assert _read_cached_array(tmp_path, NAMES[0], sha) is None
    _write_cache(tmp_path, NAMES[0], sha, a)
    assert not old.exists()
    assert_array_equal(_read_cached_array(tmp_path, NAMES[0], sha), a)
