import numpy as np
import pytest
import torch

from headrot_core.build.yaw_net import augment, balance_weights, epoch_order, evaluate_yaw_net, train_yaw_net
from headrot_core.yaw_net import YawNet


def blob_faces(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A bright centred disk (the head) with a dark dot (the nose) whose horizontal offset encodes the 'yaw'
    (mirroring negates both): pose carried by local appearance, as in the network's real task."""
    rng = np.random.default_rng(seed)
    yaw = rng.uniform(-30, 30, n).astype(np.float32)
    yy, xx = np.mgrid[0:64, 0:64]
    imgs = np.empty((n, 64, 64, 3), np.uint8)
    for i, y in enumerate(yaw):
        head = ((xx - 31.5) ** 2 + (yy - 31.5) ** 2 < 200).astype(np.float32)
        nose = ((xx - 31.5 + y / 30 * 9) ** 2 + (yy - 31.5) ** 2 < 16).astype(np.float32)
        img = 60 + 150 * head - 130 * nose
        imgs[i] = np.clip(img[..., None] + rng.normal(0, 8, (64, 64, 3)), 0, 255).astype(np.uint8)
    return imgs, yaw


def test_yaw_is_exactly_mirror_antisymmetric():
    net = YawNet((8, 16)).eval()
    x = torch.rand(3, 3, 64, 64) * 2 - 1
    assert torch.allclose(net.yaw(x), -net.yaw(x.flip(-1)), atol=1e-5)
    assert net.yaw(x[:, :, :, :].new_zeros(1, 3, 32, 32)).shape == (1,)  # other sizes are resized


def test_augment_flips_the_sign_with_the_image():
    x = torch.zeros(64, 3, 64, 64)
    x[..., :32] = 1  # bright left half
    yaw = torch.full((64,), 10.0)
    out, y = augment(x, yaw, torch.Generator().manual_seed(0))
    flipped = out[..., 32:].mean((1, 2, 3)) > out[..., :32].mean((1, 2, 3))
    assert torch.equal(flipped, y < 0) and 0 < flipped.sum() < 64
    assert out.min() >= -1 and out.max() <= 1


def test_balance_weights_give_each_yaw_bin_the_same_total_at_power_one():
    yaws = np.array([0.0, 1.0, -2.0, 4.9, 12.0, -31.0, 33.0])  # bins of |yaw|: 0 (4 crops), 10 (1), 30 (2)
    w = balance_weights(yaws, 1.0)
    assert w[:4].sum() == pytest.approx(w[4]) == pytest.approx(w[5:].sum())
    assert np.all(balance_weights(yaws, 0.0) == 1.0)
    half = balance_weights(yaws, 0.5)
    assert half[4] / half[0] == pytest.approx(2.0)  # sqrt(4 / 1)


def test_balanced_epochs_draw_far_yaws_as_often_as_frontal_ones(tmp_path):
    yaws = np.r_[np.zeros(900), np.full(100, 35.0)]
    g = torch.Generator().manual_seed(0)
    plain = epoch_order(1000, None, g)
    assert torch.equal(plain.sort().values, torch.arange(1000))
    drawn = epoch_order(1000, torch.from_numpy(balance_weights(yaws, 1.0)), g)
    assert 0.45 < (drawn >= 900).float().mean() < 0.55  # 10 % of the crops, half of the draws

    train_x, train_y = blob_faces(64, 0)
    report = train_yaw_net(train_x, train_y, train_x[:8], train_y[:8], out=tmp_path / "net", work=tmp_path / "w",
                           epochs=1, batch=16, widths=(8,), balance=1.0)
    assert report.epochs == 1
    cfg = (tmp_path / "net" / "yaw_net.json").read_text()
    assert '"balance": 1.0' in cfg and "--balance 1.0" in cfg


def test_training_learns_resumes_and_round_trips(tmp_path):
    train_x, train_y = blob_faces(256, 0)
    val_x, val_y = blob_faces(128, 1)
    work = tmp_path / "work"
    kw = dict(out=tmp_path / "net", work=work, batch=16, lr=3e-3, widths=(8, 16, 32))
    train_yaw_net(train_x, train_y, val_x, val_y, epochs=10, **kw)
    report = train_yaw_net(train_x, train_y, val_x, val_y, epochs=10, **kw)  # a finished run resumes to the end
    assert torch.load(work / "checkpoint.pt", weights_only=False)["epoch"] == 10
    assert report.val_mae < 0.5 * np.abs(val_y).mean(), report  # far better than always answering 0
    net = YawNet.load(tmp_path / "net")
    err = evaluate_yaw_net(net, val_x, val_y)
    assert err.mean() == pytest.approx(report.val_mae, abs=0.2)  # fp16 weights keep the accuracy
    with pytest.raises(FileNotFoundError, match="train-yaw-net"):
        YawNet.load(tmp_path / "missing")


def test_shipped_network_reads_real_held_out_faces():
    """The network in assets/yaw_net against HopeNet on the annotated held-out crops of one shard (identities it
    never trained on)."""
    import io
    import tarfile

    from PIL import Image

    from conftest import shared_data_or_skip
    from headrot_core.build.data import is_holdout, load_annotations
    from headrot_core.diffusion import images_to_tensor
    from headrot_core.yaw_net import load_yaw_net, yaw_net_available

    data = shared_data_or_skip()
    assert yaw_net_available(), "assets/yaw_net is part of the repository"
    ann = load_annotations(data / "annotations.csv")
    crops, truth = [], []
    with tarfile.open(data / "celeba128" / "shard-00.tar") as tar:
        for member in tar:
            a = ann.get(member.name.removesuffix(".webp"))
            if a is not None and a.yaw is not None and is_holdout(a.identity) and abs(a.yaw) <= 40:
                crops.append(Image.open(io.BytesIO(tar.extractfile(member).read())).convert("RGB"))
                truth.append(a.yaw)
    assert len(crops) >= 20
    pred = load_yaw_net().yaw(images_to_tensor(crops, 64)).numpy()
    assert np.abs(pred - np.array(truth)).mean() < 4.0  # 2.26 deg on all 284 held-out crops (docs/ANALYSIS.md)
