"""Fitting the gender classifier of ``headrot_core.identity`` (``python -m headrot_core fit-gender``) on dlib
descriptors of annotated training-identity crops, its accuracy measured on held-out identities."""
from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from ..identity import GenderClassifier, face_descriptors
from .data import default_data_root, is_holdout, load_annotations, load_images


def fit_gender(n_train: int = 3000, n_test: int = 600, seed: int = 0) -> GenderClassifier:
    """Fits on descriptors of annotated training-identity crops; accuracy measured on held-out identities."""
    root = default_data_root()
    ann = load_annotations(root / "annotations.csv")
    images = load_images(root / "celeba128", 128)
    rng = np.random.default_rng(seed)
    sets = {}
    for holdout, n in ((False, n_train), (True, n_test)):
        idx = [i for i, k in enumerate(images.ids)
               if (a := ann.get(k)) and "Male" in a.attributes and is_holdout(a.identity) == holdout]
        idx = np.sort(rng.permutation(idx)[:n])
        desc = np.concatenate([face_descriptors(images.images[idx[i:i + 64]])
                               for i in tqdm(range(0, len(idx), 64), desc=f"descriptors ({'test' if holdout else 'train'})")])
        sets[holdout] = (desc, np.array([ann[images.ids[i]].attributes["Male"] for i in idx]))
    return GenderClassifier.fit(*sets[False]).with_accuracy(*sets[True])
