import numpy as np
from PIL import Image, ImageFilter

from conftest import real_crop
from headrot_core.identity import GenderClassifier, face_descriptors, same_person


def test_gender_classifier_fits_saves_and_loads(tmp_path):
    rng = np.random.default_rng(0)
    male = rng.integers(0, 2, 400).astype(bool)
    desc = rng.normal(size=(400, 128)) + np.where(male[:, None], 1.5, -1.5) * np.eye(128)[0]
    clf = GenderClassifier.fit(desc[:300], male[:300]).with_accuracy(desc[300:], male[300:])
    assert clf.accuracy > 0.85
    loaded = GenderClassifier.load(clf.save(tmp_path / "g.json"))
    assert np.array_equal(loaded.predict(desc), clf.predict(desc))
    assert set(np.unique(clf.predict(desc))) == {"female", "male"}


def test_descriptors_keep_identity_under_mild_blur_and_separate_people():
    a = real_crop("000004")
    blurred = a.filter(ImageFilter.GaussianBlur(1.0))
    other = real_crop("000001")
    d = face_descriptors([a, blurred, other, a.resize((64, 64), Image.LANCZOS)])
    assert d.shape == (4, 128) and np.isfinite(d).all()
    assert same_person(d[0], d[1])[0] and same_person(d[0], d[3])[0], "blur or 64 px must not change the person"
    assert np.linalg.norm(d[0] - d[2]) > np.linalg.norm(d[0] - d[1])
