"""The book's ``dataset`` package: ``from fastbp.dataset.mnist import load_mnist``."""
