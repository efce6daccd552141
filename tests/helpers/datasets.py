"""The dataset and cv sections the data tests prepare from: scikit-learn's digits (bundled, so
no download), split into 3 folds and a 20 % hold-out test set."""

DIGITS = {"name": "digits", "path": None, "limit": None, "split_seed": 0}
CV = {"folds": 3, "test_fraction": 0.2}
