"""Kept for tests/test_trainer.py, which imports ``blobs`` from here: the networks' tests are in
test_nets_mlp.py, test_nets_conv.py and test_nets_network.py; ``blobs`` is in conftest.py."""

from conftest import blobs  # noqa: F401
