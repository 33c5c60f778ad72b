"""``evaluate``: measures what the paper only showed as pictures, on held-out identities.

For each face: embed, reconstruct (PSNR/SSIM at model size), rotate to each target yaw with the engine's own code
(``HeadRotator.turn``, its feedback included), then measure the yaw reached (the face-analysis estimator),
per-face monotonicity (Spearman), the yaw reached again with the independent appearance network
(``headrot_core.yaw_net``: pixels, not landmarks; where the two disagree, a frame's pose is not what either says;
it reads each frame re-aligned like a photo, as it was trained on aligned crops and a turning head moves in its crop),
and identity kept (dlib descriptor distance to the source below its 0.6
same-person threshold). The same latents run through variants: the shipped trajectories, the paper's plain method
(raw lines, no calibration, clipped decoding), the shipped ones without calibration, the subset ablations
(light only, global), one line instead of two when given; optionally the embedding network instead of inversion.
The renderers (``renderers``: residual, warp, clipped) run on the same latents and moves, each with the feedback.

What a viewer sees (``headrot_core.measure.realism``): a two-sample test between far frames (|target| >= 20) and real
held-out crops of turned faces (|yaw| 15-45, identities other than the evaluated faces') at the frames' own
resolution, with frames near the source's own yaw as the baseline; how many far frames an independent detector finds
exactly one face in; identity with frames at 128 px; and a contact sheet of 12 faces.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image
from scipy.stats import spearmanr
from tqdm.auto import tqdm

from ..build.fitting import LabelledFaces, embed_faces, labelled_faces
from ..diffusion import images_to_tensor, tensor_to_images
from ..latent import Latent
from ..render import Crop
from ..rotation import HeadRotator
from ..walk.lines import TrajectorySet, describe

TARGETS = (-30.0, -20.0, -10.0, 0.0, 10.0, 20.0, 30.0)
FAR = 20.0  # |target| of the frames the realism test judges
SHEET_FACES = 12
REAL_YAW = (15.0, 45.0)  # |yaw| of the real turned faces they are compared with
FRONTAL = 15.0  # photos within this |yaw| are reported apart: most uploads are near frontal, the test set is not
FACE_DRAWS = 20  # bootstrap resamples of the faces behind the far realism score's spread over faces


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / max(mse, 1e-10)))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al. (2004) SSIM on uint8 RGB, Gaussian window sigma 1.5, averaged over channels."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    blur = lambda x: cv2.GaussianBlur(x, (11, 11), 1.5)  # noqa: E731
    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b, cov = blur(a * a) - mu_a ** 2, blur(b * b) - mu_b ** 2, blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return float(s.mean())


@dataclass
class VariantResult:
    name: str
    pose_abs_err: dict[float, float]  # target -> mean |measured - target|
    mean_abs_err: float
    median_spearman: float
    identity_near: float  # share of frames within 15 deg of the source yaw that keep identity
    identity_far: float
    frames: int
    seconds: float
    measured: np.ndarray = field(repr=False, default=None)  # (faces, targets)
    measured_net: np.ndarray | None = field(repr=False, default=None)  # the same frames, by the yaw network
    kept: np.ndarray | None = field(repr=False, default=None)  # (faces, targets): same person as the source
    frame_px: int = 64  # the renderer's output resolution
    far_frames: list = field(repr=False, default_factory=list)  # (face index, PIL frame), |target| >= FAR
    near_frames: list = field(repr=False, default_factory=list)  # the frame nearest the source's yaw, per face
    sheet: list = field(repr=False, default_factory=list)  # every frame of the first SHEET_FACES faces
    far_desc: np.ndarray | None = field(repr=False, default=None)  # their descriptors at 128 px, from the identity
    near_desc: np.ndarray | None = field(repr=False, default=None)  # check (the realism test's first features)
    one_face_far: float = float("nan")  # share of far frames with exactly one face found
    realism_far: float = float("nan")  # two-sample balanced accuracy, far frames vs real turned faces
    realism_far_spread: float = float("nan")  # its spread over shuffles of the folds (``TwoSample.spread``)
    realism_far_faces_sd: float = float("nan")  # its spread over resamples of the faces (``resampled_scores``)
    realism_near: float = float("nan")
    realism_far_frontal: float = float("nan")  # the far frames of near-frontal photos (|source yaw| <= FRONTAL)
    one_face_far_frontal: float = float("nan")

    @property
    def net_mean_abs_err(self) -> float:
        return float("nan") if self.measured_net is None else \
            float(np.mean(np.abs(self.measured_net - np.array(list(self.pose_abs_err))[None, :])))

    @property
    def estimator_gap(self) -> float:
        """Mean |landmark yaw - network yaw| over the frames."""
        return float("nan") if self.measured_net is None else float(np.mean(np.abs(self.measured - self.measured_net)))


def paired_difference(num_a: np.ndarray, den_a: np.ndarray, num_b: np.ndarray, den_b: np.ndarray,
                      n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """B's ratio sum(num) / sum(den) minus A's, with a 95 % bootstrap interval over faces (per-face sums, the same
    faces for both): variants run on the same faces, so their difference is far less noisy than either figure."""
    idx = np.random.default_rng(seed).integers(0, len(num_a), (n_boot, len(num_a)))
    ratio = lambda num, den, i: num[i].sum(-1) / den[i].sum(-1)  # noqa: E731
    boots = ratio(num_b, den_b, idx) - ratio(num_a, den_a, idx)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    everyone = np.arange(len(num_a))
    return float(ratio(num_b, den_b, everyone) - ratio(num_a, den_a, everyone)), float(lo), float(hi)


def paired_rows(ev: "Evaluation") -> list[str]:
    """Markdown rows: each variant's pose errors (both estimators) and far-frame identity minus the first's."""
    tg = np.array(TARGETS)
    far = np.abs(tg[None, :] - ev.source_yaw[:, None]) > 15
    ones = np.full(len(ev.source_yaw), float(len(tg)))

    def cell(a, b, scale=1.0, unit="°"):
        d, lo, hi = (scale * x for x in paired_difference(*a, *b))
        return f"{d:+.2f}{unit} [{lo:+.2f}, {hi:+.2f}]"

    base, rows = ev.variants[0], []
    for v in ev.variants[1:]:
        pose = cell((np.abs(base.measured - tg).sum(1), ones), (np.abs(v.measured - tg).sum(1), ones))
        net = "–" if base.measured_net is None or v.measured_net is None else cell(
            (np.abs(base.measured_net - tg).sum(1), ones), (np.abs(v.measured_net - tg).sum(1), ones))
        same = cell(((base.kept & far).sum(1), far.sum(1)), ((v.kept & far).sum(1), far.sum(1)), 100, " pp")
        rows.append(f"| {v.name} | {pose} | {net} | {same} |")
    return rows


def save_measurements(ev: "Evaluation", path: Path) -> Path:
    """Every frame's readings by variant (for analyses the report does not make), as one .npz."""
    nan = np.full_like(ev.variants[0].measured, np.nan)
    np.savez(path, targets=np.array(TARGETS), source_yaw=ev.source_yaw, names=np.array([v.name for v in ev.variants]),
             measured=np.stack([v.measured for v in ev.variants]),
             measured_net=np.stack([nan if v.measured_net is None else v.measured_net for v in ev.variants]),
             kept=np.stack([v.kept for v in ev.variants]))
    return path


def measure_frames(frames: list[Image.Image]) -> tuple[np.ndarray, np.ndarray]:
    """(yaw of each frame, descriptor of each frame), frames analysed at 128 px like dataset crops."""
    from ..analysis import frame_yaws
    from ..identity import face_descriptors

    big = [f if f.size == (128, 128) else f.resize((128, 128), Image.LANCZOS) for f in frames]
    return frame_yaws(big), face_descriptors(big)


def network_yaws(images, realign: bool = False) -> np.ndarray | None:
    """Yaw of each image by the appearance network, or None when it is not installed; ``realign``: each (a PIL
    frame) found and aligned again first (``realigned``)."""
    from ..yaw_net import load_yaw_net, yaw_net_available

    if not yaw_net_available():
        return None
    if realign:
        images = realigned(images)
    x = images_to_tensor(images if isinstance(images, np.ndarray) else list(images), 64)
    return load_yaw_net().yaw(x).numpy()


def realigned(frames: list[Image.Image], px: int = 64) -> list[Image.Image]:
    """Each frame found and aligned again like an uploaded photo (``align_face``), at ``px``: a head turning about the
    axis by its ears moves sideways in its crop (``LandmarkSettings.turn_axis``), and the yaw network, trained on
    aligned crops, read such frames 10.5 degrees off against 4.4 re-aligned (docs/EVALUATION.md). The frame is
    upscaled and its border extended so the detector sees the whole head; one with no face found is read as it is."""
    from ..face import NoFaceError, align_face

    out = []
    for f in frames:
        big = cv2.resize(np.asarray(f.convert("RGB")), (256, 256), interpolation=cv2.INTER_LANCZOS4)
        padded = Image.fromarray(cv2.copyMakeBorder(big, 96, 96, 96, 96, cv2.BORDER_REPLICATE))
        try:
            out.append(align_face(padded, px).crop)
        except NoFaceError:
            out.append(f)
    return out


def run_variant(name: str, rot: HeadRotator, latents: torch.Tensor, faces: LabelledFaces, source_yaw: np.ndarray,
                source_desc: np.ndarray, use_light: bool, use_gender: bool, targets=TARGETS) -> VariantResult:
    """Every face turned to every target by ``rot`` (its trajectories, calibration and decoding), then measured."""
    t0 = time.perf_counter()
    measured = np.zeros((len(faces.ids), len(targets)))
    measured_net = np.full_like(measured, np.nan)
    kept = np.zeros_like(measured, dtype=bool)
    far_frames, near_frames, far_desc, near_desc, sheet = [], [], [], [], []
    for i in tqdm(range(len(faces.ids)), desc=name, unit="face"):
        z = latents[i:i + 1]
        x = images_to_tensor(faces.images[i:i + 1], rot.model.size)
        frames = tensor_to_images(rot.turn(z, x, float(source_yaw[i]), list(targets),
                                           faces.light[i] if use_light else None,
                                           (faces.gender[i] or None) if use_gender else None,
                                           crop=Crop(images_to_tensor(faces.images[i:i + 1], faces.images.shape[1]))
                                           ).frames)
        yaws, desc = measure_frames(frames)
        far = [j for j, t in enumerate(targets) if abs(t) >= FAR]
        far_frames += [(i, frames[j]) for j in far]
        far_desc.append(desc[far])
        near = int(np.argmin(np.abs(np.array(targets) - source_yaw[i])))
        if abs(targets[near] - source_yaw[i]) < 10:
            near_frames.append((i, frames[near]))
            near_desc.append(desc[near:near + 1])
        if i < SHEET_FACES:
            sheet.append(frames)
        by_net = network_yaws(frames, realign=True)
        measured[i] = yaws
        if by_net is not None:
            measured_net[i] = by_net
        kept[i] = np.linalg.norm(desc - source_desc[i], axis=1) < 0.6
    tg = np.array(targets)
    near = np.abs(tg[None, :] - source_yaw[:, None]) <= 15
    rho = [spearmanr(tg, m).statistic for m in measured]
    return VariantResult(name, {t: float(np.mean(np.abs(measured[:, j] - t))) for j, t in enumerate(targets)},
                         float(np.mean(np.abs(measured - tg[None, :]))), float(np.nanmedian(rho)),
                         float(kept[near].mean()) if near.any() else float("nan"),
                         float(kept[~near].mean()) if (~near).any() else float("nan"), int(measured.size),
                         time.perf_counter() - t0, measured,
                         None if np.isnan(measured_net).all() else measured_net, kept, frames[0].width,
                         far_frames, near_frames, sheet, far_desc=np.concatenate(far_desc) if far_desc else None,
                         near_desc=np.concatenate(near_desc) if near_desc else None)


def real_turned_faces(exclude_identities, data_root: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(128 px crops, identities) of identities not in ``exclude_identities`` whose HopeNet |yaw| lies in REAL_YAW.
    Only the annotated crops: they are CelebA-HQ's, the test photos' own population. The unannotated crops are
    softer, and a classifier told the test photos themselves from them in 70 % of cases (docs/EVALUATION.md), a floor
    no renderer could get under. Training identities are allowed: the classifier never sees the model, and the
    held-out identities' annotated turned crops are almost all in the test set."""
    from ..build.data import default_data_root, load_annotations, load_images

    root = data_root or default_data_root()
    ann = load_annotations(root / "annotations.csv")
    images = load_images(root / "celeba128", 128)
    excluded = {int(k) for k in exclude_identities}
    turned = [i for i, k in enumerate(images.ids)
              if (a := ann.get(k)) and a.identity not in excluded and a.yaw is not None
              and REAL_YAW[0] <= abs(a.yaw) <= REAL_YAW[1]]
    return images.images[turned], np.array([ann[images.ids[i]].identity for i in turned])


def photo_realism(photos: np.ndarray, real_feats: np.ndarray, real_ids: np.ndarray, px: int) -> float:
    """The realism test's floor: the source photos themselves (one group each) against the real turned crops'
    features, both at ``px``. A frame cannot be expected to look more real than the photo it came from."""
    from .realism import realism_features, same_resolution, two_sample_test

    return two_sample_test(realism_features(same_resolution(photos, px)), np.arange(len(photos)), real_feats,
                           real_ids).accuracy


def measure_realism(variants: list[VariantResult], real: np.ndarray, real_ids: np.ndarray,
                    frontal: np.ndarray | None = None) -> dict[int, np.ndarray]:
    """Fills each variant's realism scores and far frames' face count (real crops at each variant's resolution);
    ``frontal`` (bool per face): the same for the far frames of those faces alone. Returns the real crops'
    features by resolution."""
    from .realism import count_faces, realism_features, resampled_scores, same_resolution, two_sample_test

    real_feats: dict[int, np.ndarray] = {}
    for v in tqdm(variants, desc="realism", unit="variant"):
        if v.frame_px not in real_feats:
            real_feats[v.frame_px] = realism_features(same_resolution(real, v.frame_px))
        feats = {}
        for attr, pairs, desc in (("realism_far", v.far_frames, v.far_desc),
                                  ("realism_near", v.near_frames, v.near_desc)):
            if pairs:
                feats[attr] = realism_features(same_resolution([f for _, f in pairs], v.frame_px), desc)
                test = two_sample_test(feats[attr], [g for g, _ in pairs], real_feats[v.frame_px], real_ids)
                setattr(v, attr, test.accuracy)
                if attr == "realism_far":
                    v.realism_far_spread = test.spread
                    v.realism_far_faces_sd = float(np.std(resampled_scores(
                        feats[attr], [g for g, _ in pairs], real_feats[v.frame_px], real_ids, FACE_DRAWS)))
        counts = count_faces(same_resolution([f for _, f in v.far_frames], 128))
        v.one_face_far = float(np.mean(counts == 1)) if len(counts) else float("nan")
        groups = np.array([g for g, _ in v.far_frames], int)
        pick = frontal[groups] if frontal is not None and len(groups) else np.zeros(len(groups), bool)
        if len(set(groups[pick])) >= 2:
            v.realism_far_frontal = two_sample_test(feats["realism_far"][pick], groups[pick], real_feats[v.frame_px],
                                                    real_ids).accuracy
            v.one_face_far_frontal = float(np.mean(counts[pick] == 1))
    return real_feats


@dataclass
class Evaluation:
    n_faces: int
    steps: int
    residual_steps: int
    psnr: float
    ssim: float
    psnr_by_method: dict[str, tuple[float, float, float]]  # method -> (psnr, ssim, seconds per face)
    variants: list[VariantResult]
    trajectory_rows: list[dict]
    source_yaw: np.ndarray | None = None  # (faces,) estimated yaw of each source crop
    source_estimators: dict[str, float] = field(default_factory=dict)  # agreement of the yaw estimators on the sources
    latent_t: int | None = None  # the timestep the lines are walked at (None: x_T)
    real_faces: int = 0  # real turned crops in the realism test
    realism_photos: dict[int, float] = field(default_factory=dict)  # px -> the test's floor (``photo_realism``)
    sources: list = field(repr=False, default_factory=list)  # the first SHEET_FACES source crops (PIL, 128 px)
    realism_photos_frontal: dict[int, float] = field(default_factory=dict)  # the floor of the near-frontal photos


def reconstruction_scores(latent: Latent, latents: torch.Tensor, faces: LabelledFaces) -> tuple[float, float]:
    """PSNR and SSIM of the reconstructions G(z) of ``latents`` (``latent``'s) against the faces at model size."""
    recs = tensor_to_images(torch.cat([latent.reconstruct(latents[i:i + 32]) for i in range(0, len(latents), 32)]))
    size = latent.model.size
    src = [np.asarray(Image.fromarray(im).resize((size, size), Image.LANCZOS)) for im in faces.images]
    return (float(np.mean([psnr(np.asarray(r), s) for r, s in zip(recs, src)])),
            float(np.mean([ssim(np.asarray(r), s) for r, s in zip(recs, src)])))


def evaluate(rot: HeadRotator, n_faces: int = 100, embedder=None, ablations: bool = True,
             one_line: TrajectorySet | None = None, others: dict[str, HeadRotator] | None = None,
             renderers: tuple[str, ...] = ("warp", "clipped"), realism: bool = True) -> Evaluation:
    """Held-out faces (yaw-balanced, HopeNet-annotated) through the shipped engine ``rot`` and its ablations;
    ``one_line``: the one-line fit from the same latents (``fit --one-line-out``), post-processed and calibrated
    like the shipped set, for the two-lines-or-one ablation; ``others``: whole other engines (name -> rotator, e.g.
    lines fitted at another timestep), each on the same faces with latents embedded its own way; ``renderers``: the
    shipped engine with other renderers (same lines, moves and feedback); ``realism``: the viewer's measurements."""
    from ..analysis import analyze_batch
    from ..identity import face_descriptors

    model, cfg = rot.model, rot.settings
    steps = cfg.steps
    test = labelled_faces(holdout=True, max_faces=n_faces, seed=1)
    z = embed_faces(model, test, "inversion", cfg)  # cached: re-runs skip this
    t0 = time.perf_counter()
    rot.latent.embed(images_to_tensor(test.images[:1], model.size))  # one face, as the engine embeds it
    inv_s = time.perf_counter() - t0
    p, s = reconstruction_scores(rot.latent, z, test)
    warm = ", warm start" if cfg.warm_start else ""
    level = "" if cfg.latent_t is None else f" to x_t at t = {cfg.latent_t}"
    by_method = {f"inversion{level} ({cfg.fixed_point_iters} fixed-point iterations{warm}, "
                 f"{rot.latent.embedding_calls} UNet calls)": (p, s, inv_s)}
    zn = None  # the network's unrefined latents, rotated below like the inversion's
    if embedder is not None:  # the paper's alternative: one forward pass, optionally refined with the face model
        x = images_to_tensor(test.images, model.size)
        for k in (0, 2):
            zk = embedder.embed(x, refine_iters=k, model=model, steps=steps)
            t0 = time.perf_counter()
            embedder.embed(x[:1], refine_iters=k, model=model, steps=steps)  # one face, as the engine embeds it
            seconds = time.perf_counter() - t0
            by_method[f"embedding network, {k} refinement iterations"] = (
                *reconstruction_scores(Latent(model, replace(cfg, latent_t=None)), zk, test), seconds)
            if k == 0 and cfg.network_embeds:  # else no use to lines fitted at another timestep
                zn = zk

    source_yaw = np.array([a.yaw for a in analyze_batch(test.images)])
    source_desc = face_descriptors([Image.fromarray(im) for im in test.images])
    net_yaw = network_yaws(test.images)
    agreement = {"landmarks vs HopeNet": float(np.mean(np.abs(source_yaw - test.yaw)))}
    if net_yaw is not None:
        agreement.update({"network vs HopeNet": float(np.mean(np.abs(net_yaw - test.yaw))),
                          "landmarks vs network": float(np.mean(np.abs(source_yaw - net_yaw)))})
    ts = rot.trajectories
    gendered = cfg.match_gender
    subsets = "light x gender" if gendered else "light"
    fed = ", per-face feedback" if rot.feedback else ""
    shipped = (f"shipped: two lines, {subsets} subsets, smoothed, calibrated{fed}, {cfg.decode} decoding", rot, True,
               gendered)
    variants = [shipped]

    def variant(trajectories, decode, feedback=rot.feedback):
        """The shipped engine's setting on other lines (walked at their own timestep) or with another renderer."""
        return HeadRotator(model, trajectories, settings=replace(cfg, decode=decode), embedding="inversion",
                           feedback=feedback)

    variants += [(f"renderer: {decode}, shipped lines, moves and feedback", variant(ts, decode), True,
                  gendered) for decode in renderers if decode != cfg.decode]
    if ablations:
        at = "" if cfg.latent_t is None else f" (at t = {cfg.latent_t}, not x_T)"

        variants += [
            (f"paper: raw lines, {subsets} subsets, uncalibrated, clipped decoding{at}",
             variant(ts.plain(), "clipped", feedback=False), True, gendered)]
        if rot.feedback:
            variants.append(("shipped without per-face feedback", variant(ts, cfg.decode, feedback=False), True,
                             gendered))
        variants += [
            ("shipped without calibration", variant(ts.with_meta(calibration=None), cfg.decode), True,
             gendered),
            ("shipped, light subsets only (no gender)" if gendered else
             "shipped, light x gender subsets", rot, True, not gendered),
            ("shipped, global lines (no light, no gender)", rot, False, False)]
        if one_line is not None:
            variants.append((f"one line instead of two, {subsets} subsets, smoothed, calibrated",
                             variant(one_line, cfg.decode), True, gendered))
    latents = {name: z for name, *_ in variants}
    if zn is not None:
        name = "shipped, latents from the embedding network (no refinement) instead of inversion"
        variants.append((name, rot, True, gendered))
        latents[name] = zn
    for name, other in (others or {}).items():
        variants.append((name, other, True, other.settings.match_gender))
        latents[name] = embed_faces(other.model, test, "inversion", other.settings)
    results = [run_variant(name, r, latents[name], test, source_yaw, source_desc, use_light, use_gender)
               for name, r, use_light, use_gender in variants]
    real, floor, floor_frontal = np.zeros((0,)), {}, {}
    if realism:
        real, real_ids = real_turned_faces(set(test.identity.tolist()))
        frontal = np.abs(source_yaw) <= FRONTAL
        real_feats = measure_realism(results, real, real_ids, frontal)
        floor = {px: photo_realism(test.images, feats, real_ids, px) for px, feats in sorted(real_feats.items())}
        if frontal.sum() >= 2:
            floor_frontal = {px: photo_realism(test.images[frontal], feats, real_ids, px)
                             for px, feats in sorted(real_feats.items())}
    return Evaluation(len(test.ids), steps, cfg.residual_steps, p, s, by_method, results, describe(ts), source_yaw,
                      agreement, cfg.latent_t, len(real), floor,
                      [Image.fromarray(im) for im in test.images[:SHEET_FACES]], floor_frontal)


def contact_sheet(sources: list[Image.Image], rows: list[list[Image.Image]], path: Path, px: int = 128) -> Path:
    """Each row: the source crop, then its frames at every target, all at ``px`` (Lanczos)."""
    from ..animation import upscale
    from ..imaging import make_grid, save_figure

    tiles = [t for src, frames in zip(sources, rows) for t in upscale([src, *frames], px)]
    return save_figure(make_grid(tiles, nrow=len(rows[0]) + 1), path)


def sheet_name(v: VariantResult) -> str | None:
    """The contact sheet's file name of the shipped engine and of each renderer variant (None for the others)."""
    if v.name.startswith("shipped:"):
        return "contact_sheet.png"
    if v.name.startswith("renderer: "):
        return f"contact_sheet_{v.name.split()[1].rstrip(',')}.png"
    return None


def viewer_rows(ev: Evaluation) -> list[str]:
    """Markdown: the realism test, the face count and identity of every variant that has them."""
    rows = []
    for v in ev.variants:
        if np.isnan(v.realism_far):
            continue
        rows.append(f"| {v.name} | {v.frame_px} | {v.realism_far:.3f} ± {v.realism_far_spread:.3f} | "
                    f"{v.realism_far_faces_sd:.3f} | {v.realism_near:.3f} | "
                    f"{v.one_face_far:.1%} | {v.mean_abs_err:.1f}° | {v.median_spearman:.2f} | {v.identity_near:.0%} | "
                    f"{v.identity_far:.0%} | {v.seconds / max(ev.n_faces, 1):.2f} |")
    return rows


def frontal_rows(ev: Evaluation) -> list[str]:
    """Markdown: the viewer's measures on the near-frontal photos alone (what most uploads are)."""
    tg = np.array(TARGETS)
    faces, far = np.abs(ev.source_yaw) <= FRONTAL, np.abs(tg) >= FAR
    rows = []
    for v in ev.variants:
        if np.isnan(v.realism_far_frontal):
            continue
        rows.append(f"| {v.name} | {v.realism_far_frontal:.2f} | {v.one_face_far_frontal:.1%} | "
                    f"{np.mean(np.abs(v.measured[faces] - tg[None])):.1f}° | {v.kept[faces][:, far].mean():.0%} |")
    return rows


def write_report(ev: Evaluation, path: Path, extra: str = "") -> Path:
    lines = ["# Evaluation of the rotation engine", ""]
    sheets = [(v, sheet_name(v)) for v in ev.variants if sheet_name(v) and v.sheet]
    for v, name in sheets:
        contact_sheet(ev.sources, v.sheet, path.parent / name)
    if sheets:
        lines += [f"Contact sheet, {sheets[0][0].name}: {len(ev.sources)} held-out faces (first column: the photo's "
                  f"crop), then the frames at {', '.join(f'{t:+.0f}' for t in TARGETS)} degrees, at 128 px. The "
                  "sheets are written beside this report and kept out of git (`.gitignore`): they show CelebA faces, "
                  "which never enter the repository.", "", f"![contact sheet]({sheets[0][1]})", ""]
    if any(not np.isnan(v.realism_far) for v in ev.variants):
        lines += ["## What a viewer sees", "",
                  f"Realism: a linear classifier told far frames (|target| ≥ {FAR:.0f}°) from {ev.real_faces} real "
                  f"crops of other identities with HopeNet |yaw| {REAL_YAW[0]:.0f}–{REAL_YAW[1]:.0f}° (the "
                  "annotated CelebA-HQ crops, the test photos' own population; balanced accuracy, 5 folds grouped "
                  "by face, the mean ± standard deviation over 5 shuffles of the folds; 0.50 = it cannot tell them "
                  "apart), both at the frames' own resolution; beside it, its standard deviation over "
                  f"{FACE_DRAWS} bootstrap resamples of the faces and the real crops' identities (how much the score "
                  "hangs on which faces were drawn); 'near' is the same "
                  "test on the frame nearest each photo's own yaw (the baseline). The floor, the test photos "
                  "themselves against the same real crops: "
                  + ", ".join(f"{a:.2f} at {px} px" for px, a in ev.realism_photos.items()) + ". "
                  "Features: dlib's face descriptor and 17 image statistics (`headrot_core/measure/realism.py`). One face: "
                  "far frames in which dlib's MMOD CNN detector (never run by the engine) finds exactly one face. "
                  "Identity: frames at 128 px (upscaled when the renderer's are smaller) against the 128 px photo.",
                  "", "| variant | frame px | realism, far (≤ 0.60) | its sd over resampled faces | realism, near | "
                  "one face, far (≥ 98 %) | pose error, landmarks | median Spearman | same person, near | "
                  "same person, far | s per face |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |", *viewer_rows(ev), ""]
        if frontal_rows(ev):
            lines += [f"The same on the {int(np.sum(np.abs(ev.source_yaw) <= FRONTAL))} photos within {FRONTAL:.0f}° "
                      "of frontal (most uploads are; the test set is yaw-balanced), their far frames only"
                      + ("; the floor, these photos themselves against the same real crops: "
                         + ", ".join(f"{a:.2f} at {px} px" for px, a in ev.realism_photos_frontal.items())
                         if ev.realism_photos_frontal else "") + ":", "",
                      "| variant | realism, far | one face, far | pose error, landmarks | same person, far |",
                      "| --- | --- | --- | --- | --- |", *frontal_rows(ev), ""]
        for v, name in sheets[1:]:
            lines += [f"Contact sheet, {v.name}:", "", f"![{name}]({name})", ""]
    lines += [f"Held-out identities (identity % 20 == 0), {ev.n_faces} faces with annotated yaw, yaw-balanced; "
             f"DDIM {ev.steps} steps (inversion and reconstruction; {ev.residual_steps} for the residual's clipped "
             "change); "
             + ("latents x_T (the paper's); " if ev.latent_t is None else
                f"latents x_t at t = {ev.latent_t} (the steps below it run; the lines are walked there); ") +
             f"targets {', '.join(f'{t:+.0f}' for t in TARGETS)} degrees. "
             "Pose is measured by the project's own yaw estimator on the generated frames; identity by dlib's "
             "ResNet descriptor (same person: distance < 0.6 to the source crop).", "",
             "## Reconstruction", "", "| embedding | PSNR (dB) | SSIM | seconds per face |", "| --- | --- | --- | --- |"]
    for m, (p, s, sec) in ev.psnr_by_method.items():
        lines.append(f"| {m} | {p:.2f} | {s:.3f} | {sec:.3f} |")
    lines += ["", "## Pose and identity by variant", "",
              "| variant | mean abs yaw error | median Spearman | identity, frames within 15 deg | identity, others |"
              " frames |", "| --- | --- | --- | --- | --- | --- |"]
    for v in ev.variants:
        lines.append(f"| {v.name} | {v.mean_abs_err:.1f} | {v.median_spearman:.2f} | {v.identity_near:.0%} | "
                     f"{v.identity_far:.0%} | {v.frames} |")
    if any(v.measured_net is not None for v in ev.variants):
        lines += ["", "## The same frames measured by an independent estimator", "",
                  "The landmark estimator above reads pose from dlib's 68 landmarks; the appearance network "
                  "(`headrot_core/yaw_net.py`, trained on HopeNet's yaw of training-identity crops) reads it from the "
                  "pixels. On the held-out source photos they agree: "
                  + "; ".join(f"{k} {v:.1f}°" for k, v in ev.source_estimators.items())
                  + " (mean abs difference). On generated frames, a large gap between them means a frame whose "
                  "pose neither can read (a ghosted or damaged face), not a face turned as far as the landmarks say.",
                  "", "| variant | mean abs yaw error, landmarks | mean abs yaw error, network | median Spearman, "
                  "network | mean abs landmarks − network, frames |", "| --- | --- | --- | --- | --- |"]
        tg = np.array(TARGETS)
        for v in ev.variants:
            if v.measured_net is not None:
                rho = np.nanmedian([spearmanr(tg, m).statistic for m in v.measured_net])
                lines.append(f"| {v.name} | {v.mean_abs_err:.1f} | {v.net_mean_abs_err:.1f} | {rho:.2f} | "
                             f"{v.estimator_gap:.1f} |")
    if len(ev.variants) > 1 and ev.source_yaw is not None:
        lines += ["", "## Each variant against the first, paired on the same faces", "",
                  "Differences (variant minus the first row above) with 95 % bootstrap intervals over faces: an "
                  "interval that contains 0 is no measured difference. Lower pose error and higher identity are "
                  "better.", "", "| variant | pose error, landmarks | pose error, network | same person, frames "
                  "beyond 15° |", "| --- | --- | --- | --- |", *paired_rows(ev)]
    lines += ["", "## Yaw reached per target", "",
              "| target | " + " | ".join(f"{t:+.0f}" for t in TARGETS) + " |",
              "| --- |" + " --- |" * len(TARGETS)]
    for v in ev.variants[:2]:
        label = v.name.split(":")[0]
        lines.append(f"| mean measured, {label} | " + " | ".join(f"{m:+.1f}" for m in v.measured.mean(0)) + " |")
        lines.append(f"| mean abs error, {label} | " + " | ".join(f"{v.pose_abs_err[t]:.1f}" for t in TARGETS) + " |")
    if ev.source_yaw is not None:
        lines += ["", "## Pose error by the source's own yaw", "",
                  "How far each face had to turn matters: mean abs yaw error over all targets, by |source yaw|.", "",
                  "| \\|source yaw\\| | faces | " + " | ".join(v.name.split(":")[0] for v in ev.variants[:2]) + " |",
                  "| --- | --- |" + " --- |" * len(ev.variants[:2])]
        tg = np.array(TARGETS)
        for lo, hi in ((0, 10), (10, 20), (20, 30), (30, 90)):
            rows = (np.abs(ev.source_yaw) >= lo) & (np.abs(ev.source_yaw) < hi)
            if rows.any():
                errs = [f"{np.mean(np.abs(v.measured[rows] - tg[None, :])):.1f}" for v in ev.variants[:2]]
                lines.append(f"| {lo}–{hi}° | {int(rows.sum())} | " + " | ".join(errs) + " |")
    lines += ["", "## Fitted trajectories", "", "| subset | faces | bins (neg) | R2 (neg) | bins (pos) | R2 (pos) |",
              "| --- | --- | --- | --- | --- | --- |"]
    for r in ev.trajectory_rows:
        lines.append(f"| {r['subset']} | {r['faces']} | {r['neg_bins']} | {r['neg_r2']} | {r['pos_bins']} | "
                     f"{r['pos_r2']} |")
    if extra:
        lines += ["", extra]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def sampled_rotation_figure(rot, path: Path, n: int = 6, seed: int = 7, targets=TARGETS, size: int = 96) -> Path:
    """Rows of rotation strips for faces *sampled from the model* (never dataset images): each sample is taken as
    an aligned crop, analysed, embedded and turned to each target yaw by ``rot``, the engine being evaluated."""
    from ..animation import upscale
    from ..imaging import make_grid, save_figure

    faces = tensor_to_images(rot.model.sample(n, seed=seed, steps=rot.settings.steps))
    tiles: list[Image.Image] = []
    for face in faces:
        r = rot.rotate(face, yaws=targets, aligned=True, reconstruct=True)
        tiles += upscale([r.source, r.reconstruction, *r.frames], size)
    return save_figure(make_grid(tiles, nrow=len(targets) + 2), path)
