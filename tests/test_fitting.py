import numpy as np
import pytest

from headrot_core import yaw_net
from headrot_core.build.data import Annotation, ImageSet
from headrot_core.build.fitting import embed_cached, labelled_training_faces, yaw_balanced
from headrot_core.build.labels import LabelSet
from headrot_core.diffusion import images_to_tensor
from test_yaw_net import blob_faces


def test_yaw_balanced_keeps_the_rare_large_yaws_first():
    rng = np.random.default_rng(0)
    yaw = np.concatenate([rng.uniform(-2, 2, 900), rng.uniform(33, 37, 30), rng.uniform(-37, -33, 20)])
    chosen = yaw_balanced(yaw, 200, seed=0)
    assert len(chosen) == 200 and np.all(np.diff(chosen) > 0)
    assert (np.abs(yaw[chosen]) > 30).sum() == 50  # every far face, the frontal ones fill what is left
    assert np.array_equal(yaw_balanced(yaw, 200, seed=0), chosen)
    assert np.array_equal(yaw_balanced(yaw, 5000), np.arange(len(yaw)))  # no cap needed: all, in order


def _dataset(n: int = 40):
    imgs, true_yaw = blob_faces(n, seed=3)
    ids = [f"{i:06d}" for i in range(n)]
    ann = {k: Annotation(k, identity=i + 1, yaw=None, pitch=None, roll=None,  # identity 20 and 40 are held out
                         attributes={"Male": bool(i % 2)} if i < 10 else {}) for i, k in enumerate(ids)}
    labels = LabelSet(ids, true_yaw + 1.0, np.array(["left", "center", "right", "center"] * (n // 4)),
                      np.linspace(-0.1, 0.1, n).astype(np.float32))
    return ImageSet(ids, imgs), ann, labels


def test_training_faces_take_the_labels_yaw_skip_held_out_identities_and_cap():
    images, ann, labels = _dataset()
    faces = labelled_training_faces(labels, images, ann)
    assert faces.ids == [k for k in images.ids if ann[k].identity % 20 != 0] and len(faces.ids) == 38
    at = [images.ids.index(k) for k in faces.ids]
    assert np.allclose(faces.yaw, labels.yaw[at]) and list(faces.light) == list(labels.light[at])
    assert list(faces.gender[:10]) == ["female", "male"] * 5 and set(faces.gender[10:]) == {""}
    capped = labelled_training_faces(labels, images, ann, max_faces=10)
    assert len(capped.ids) == 10 and set(capped.ids) <= set(faces.ids)


def test_training_faces_can_take_the_yaw_networks_reading_cached(monkeypatch):
    images, ann, labels = _dataset()
    net = yaw_net.YawNet((8, 16)).eval()
    calls = []
    monkeypatch.setattr(yaw_net, "load_yaw_net", lambda: calls.append(1) or net)
    faces = labelled_training_faces(labels, images, ann, yaw_from_network=True)
    keep = [images.ids.index(k) for k in faces.ids]
    expected = net.yaw(images_to_tensor(images.images[keep], 64)).numpy()
    assert np.allclose(faces.yaw, expected, atol=0.05)  # cached as float16
    assert not np.allclose(faces.yaw, labels.yaw[keep])

    def fail(x):
        raise AssertionError("a cached reading was computed again")

    monkeypatch.setattr(net, "forward", fail)
    again = labelled_training_faces(labels, images, ann, yaw_from_network=True)
    assert np.array_equal(again.yaw, faces.yaw) and len(calls) == 2


def test_embed_cache_computes_each_face_once_across_selections_and_interruptions():
    images = np.random.default_rng(0).integers(0, 256, (10, 8, 8, 3), dtype=np.uint8)
    ids = [f"f{i}" for i in range(10)]
    seen = []

    def embed(x):
        seen.append(len(x))
        return x.mean((1, 2, 3), keepdim=True) * 2

    first = embed_cached(embed, images[:6], ids[:6], 8, "t", batch=4)
    assert seen == [4, 2] and first.shape == (6, 1)

    def interrupted(x):
        if len(seen) == 3:
            raise KeyboardInterrupt
        return embed(x)

    with pytest.raises(KeyboardInterrupt):  # a superset: only the 4 new faces, the first batch of 3 is kept
        embed_cached(interrupted, images, ids, 8, "t", batch=3)
    assert seen == [4, 2, 3]
    order = [9, 0, 5, 7, 2]
    again = embed_cached(embed, images[order], [ids[i] for i in order], 8, "t", batch=3)
    assert seen == [4, 2, 3, 1]  # only face 9 was left
    expected = (images[order].astype(np.float32) / 127.5 - 1).mean((1, 2, 3)) * 2
    assert np.allclose(again[:, 0], expected, atol=2e-3) and np.allclose(again[1:3, 0], first[[0, 5], 0])
