"""Datasets: built-ins (mnist, fashion_mnist, digits), folder:PATH and npz:PATH.

    from convolab.data import load_dataset
    ds = load_dataset("mnist", validation_split=0.1, train_samples=6000, seed=0)
    ds.x_train.shape  # (5400, 28, 28, 1) uint8
"""

from .cache import cache_dir
from .dataset import Dataset
from .registry import dataset_info, fetch_dataset, list_datasets, load_dataset
from .split import stratified_split, stratified_subset

__all__ = [
    "Dataset",
    "cache_dir",
    "dataset_info",
    "fetch_dataset",
    "list_datasets",
    "load_dataset",
    "stratified_split",
    "stratified_subset",
]
