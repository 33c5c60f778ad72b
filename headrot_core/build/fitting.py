"""``fit``: embed labelled training-identity crops (resumable cache), then fit the trajectory set and save it.

The lines (``headrot_core.walk.lines`` reads and walks them): faces are binned by yaw, each bin's latent centroid
is one point (``centroids``), and a linear regression of centroid on yaw gives a direction per degree
(``fit_line``); two lines per subset of light class x gender (``fit_trajectory_set``).

Three sources of labelled faces. ``labelled_faces``: crops with HopeNet yaw in ``annotations.csv`` (4,944 of
training identities, which the shipped lines are fitted on; the evaluation takes its faces from the held-out ones).
``labelled_training_faces``: every training crop (eight times more faces) with the light of the project's landmark
estimator (``python -m headrot_core label``) and the yaw of either that estimator or the yaw network
(``headrot_core.yaw_net``, the feedback's reader, so the landmarks stay independent of every step of the engine;
lines fitted on it turned faces less far, docs/EVALUATION.md). Gender is CelebA's ``Male`` attribute where it is annotated
('' elsewhere: those faces count for the light and global subsets only). A cap keeps the faces yaw-balanced. Held-out
identities are never used, so the evaluation can run on them.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score
from tqdm.auto import tqdm

from .data import Annotation, ImageSet, cache_dir, default_data_root, is_holdout, load_annotations, load_images
from ..diffusion import FaceDiffusion, images_to_tensor
from ..latent import Latent
from ..settings import EngineSettings
from ..walk.lines import GENDERS, LIGHTS, LineFit, Trajectory, TrajectorySet, subset_name

BIN_CENTERS = tuple(float(x) for x in range(-40, 41, 5))
BIN_HALF_WIDTH = 2.5
MIN_BIN_COUNT = 8


@dataclass(frozen=True)
class LabelledFaces:
    """Aligned crops with what the fit needs; ``images`` at any size (the model input is resized)."""

    ids: list[str]
    images: np.ndarray
    yaw: np.ndarray
    light: np.ndarray
    light_score: np.ndarray
    gender: np.ndarray  # 'male' / 'female' / '' (unknown)
    identity: np.ndarray

    def take(self, idx) -> "LabelledFaces":
        idx = np.asarray(idx, int)
        return LabelledFaces([self.ids[i] for i in idx], self.images[idx], self.yaw[idx], self.light[idx],
                             self.light_score[idx], self.gender[idx], self.identity[idx])


def labelled_faces(holdout: bool, max_faces: int | None = None, seed: int = 0,
                   data_root: Path | None = None) -> LabelledFaces:
    """Crops with annotated yaw and gender from one side of the identity split, yaw-balanced when capped:
    rare large yaws are kept first so every 5-degree bin is as full as it can be."""
    from ..analysis import analyze_batch

    root = data_root or default_data_root()
    ann = load_annotations(root / "annotations.csv")
    images = load_images(root / "celeba128", 128)
    keep = [i for i, k in enumerate(images.ids)
            if (a := ann.get(k)) and a.yaw is not None and "Male" in a.attributes
            and is_holdout(a.identity) == holdout]
    yaw = np.array([ann[images.ids[i]].yaw for i in keep])
    if max_faces:
        chosen = yaw_balanced(yaw, max_faces, seed)
        keep, yaw = [keep[i] for i in chosen], yaw[chosen]
    imgs = images.images[keep]
    analyses = analyze_batch(imgs)
    ids = [images.ids[i] for i in keep]
    return LabelledFaces(ids, imgs, yaw.astype(np.float32), np.array([a.light for a in analyses]),
                         np.array([a.light_score for a in analyses], np.float32),
                         np.array(["male" if ann[k].attributes["Male"] else "female" for k in ids]),
                         np.array([ann[k].identity for k in ids]))


def yaw_balanced(yaw: np.ndarray, max_faces: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of at most ``max_faces`` faces, rare large yaws kept first so that every 5-degree bin is as
    full as it can be (the regression's far centroids are the scarce ones)."""
    if len(yaw) <= max_faces:
        return np.arange(len(yaw))
    rng = np.random.default_rng(seed)
    bins = np.round(yaw / 5.0)
    order = rng.permutation(len(yaw))
    rank = np.zeros(len(yaw), int)  # position of each face within its bin, random order
    for b in np.unique(bins):
        idx = order[bins[order] == b]
        rank[idx] = np.arange(len(idx))
    return np.sort(np.argsort(rank, kind="stable")[:max_faces])


def cached_network_yaws(images: ImageSet, batch: int = 256) -> np.ndarray:
    """The yaw network's reading (degrees) of every image, cached and resumable like the latents."""
    from ..yaw_net import SIZE, load_yaw_net

    net = load_yaw_net()
    return embed_cached(lambda x: net.yaw(x)[:, None], images.images, images.ids, SIZE,
                        f"yawnet-{module_fingerprint(net)}", batch)[:, 0]


def labelled_training_faces(labels, images: ImageSet, annotations: dict[str, Annotation],
                            max_faces: int | None = None, yaw_from_network: bool = False,
                            seed: int = 0) -> LabelledFaces:
    """Training-identity crops of ``images`` that have a label (``labels.LabelSet``) and an annotation row; yaw
    from the labels (landmarks) or the yaw network; yaw-balanced to ``max_faces`` when given."""
    row = labels.index()
    keep = np.array([i for i, k in enumerate(images.ids)
                     if k in row and (a := annotations.get(k)) is not None and not is_holdout(a.identity)], int)
    at = np.array([row[images.ids[i]] for i in keep], int)
    yaw = (cached_network_yaws(ImageSet([images.ids[i] for i in keep], images.images[keep])) if yaw_from_network
           else labels.yaw[at])
    if max_faces:
        chosen = yaw_balanced(yaw, max_faces, seed)
        keep, at, yaw = keep[chosen], at[chosen], yaw[chosen]
    ids = [images.ids[i] for i in keep]
    gender = ["" if "Male" not in annotations[k].attributes else ("male" if annotations[k].attributes["Male"]
                                                                   else "female") for k in ids]
    return LabelledFaces(ids, images.images[keep], yaw.astype(np.float32), labels.light[at],
                         labels.light_score[at].astype(np.float32), np.array(gender),
                         np.array([annotations[k].identity for k in ids]))


def module_fingerprint(module: torch.nn.Module) -> str:
    h = hashlib.sha1()
    for p in module.parameters():
        h.update(p.detach().cpu().numpy().tobytes()[:4096])
    return h.hexdigest()[:12]


def embed_cached(embed, images: np.ndarray, ids: list[str], size: int, key: str, batch: int = 32) -> np.ndarray:
    """Latents (N, D) of ``images``, computed only for ids not cached yet and saved batch by batch (ids with
    float16 rows), so an interrupted run resumes and a larger selection of faces embeds only the faces it adds."""
    folder = cache_dir() / f"latents-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    wanted, cached = set(ids), {}
    for path in sorted(folder.glob("*.npz")):  # other selections' chunks share the folder: read only ours
        with np.load(path) as z:
            chunk_ids = z["ids"].tolist()
            if wanted.intersection(chunk_ids):
                cached.update((k, row) for k, row in zip(chunk_ids, z["latents"]) if k in wanted)
    todo = [j for j, k in enumerate(ids) if k not in cached]
    for start in tqdm(range(0, len(todo), batch), desc="embedding", unit="batch"):
        idx = todo[start:start + batch]
        chunk_ids = [ids[j] for j in idx]
        arr = embed(images_to_tensor(images[idx], size)).reshape(len(idx), -1).numpy().astype(np.float16)
        path = folder / f"{hashlib.sha1('|'.join(chunk_ids).encode()).hexdigest()[:16]}.npz"
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, ids=np.array(chunk_ids), latents=arr)
        tmp.replace(path)
        cached.update(zip(chunk_ids, arr))
    return np.stack([cached[k] for k in ids]).astype(np.float32)


def make_embed_fn(model: FaceDiffusion, method: str, settings: EngineSettings, embedder=None):
    """The embedding of ``settings`` (its steps, fixed-point iterations, warm start and timestep), the engine's."""
    if method == "network" and embedder is None:
        raise ValueError("the network embedding needs a trained embedder")
    return Latent(model, settings, embedder if method == "network" else None).embed


def fit(model: FaceDiffusion, out: Path, faces: LabelledFaces, method: str = "inversion",
        settings: EngineSettings = EngineSettings(), embedder=None, sources: dict | None = None,
        one_line_out: Path | None = None, batch: int = 32) -> TrajectorySet:
    """Embeds ``faces`` as ``settings`` says and writes the shipped fit (two lines, light x gender subsets) to
    ``out``, with ``settings`` as the set's; with ``one_line_out`` also the one-line ablation from the same latents
    (the evaluation compares them). ``settings.latent_t``: fit in x_t at that DDIM timestep (None: x_T)."""
    latents = embed_faces(model, faces, method, settings, embedder, batch)
    latents = latents.reshape(len(faces.ids), -1).numpy()
    meta = {"faces": len(faces.ids), "embedding": method,
            **(sources or {}), "identities": "training identities (identity % 20 != 0)",
            "light_counts": {str(k): int(v) for k, v in zip(*np.unique(faces.light, return_counts=True))},
            "gender_counts": {str(k or "unknown"): int(v)
                              for k, v in zip(*np.unique(faces.gender, return_counts=True))},
            "bin_centers": BIN_CENTERS, "bin_half_width": BIN_HALF_WIDTH}
    ts = fit_trajectory_set(latents, faces.yaw, faces.light, faces.gender, True, True, True, meta, settings)
    ts.save(out)
    if one_line_out is not None:
        fit_trajectory_set(latents, faces.yaw, faces.light, faces.gender, False, True, True, meta,
                           settings).save(one_line_out)
    return ts


def embed_faces(model: FaceDiffusion, faces: LabelledFaces, method: str, settings: EngineSettings, embedder=None,
                batch: int = 32) -> torch.Tensor:
    """Latents of ``faces`` as a (N, 3, S, S) tensor embedded as ``settings`` says, cached like the fit's."""
    s = settings
    key = (f"{module_fingerprint(model.unet)}-{method}{'-warm' if s.warm_start else ''}-{s.steps}-"
           f"{s.fixed_point_iters}{'' if s.latent_t is None else f'-t{s.latent_t}'}")
    z = embed_cached(make_embed_fn(model, method, s, embedder), faces.images, faces.ids, model.size, key, batch)
    return torch.from_numpy(z).reshape(len(faces.ids), 3, model.size, model.size)


def centroids(latents: np.ndarray, yaws: np.ndarray, centers=BIN_CENTERS, half_width=BIN_HALF_WIDTH,
              min_count=MIN_BIN_COUNT) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bin yaw centres kept, their centroids (K, D), counts) for bins holding at least ``min_count`` faces."""
    kept, cents, counts = [], [], []
    for c in centers:
        member = np.abs(yaws - c) <= half_width
        if member.sum() >= min_count:
            kept.append(c)
            cents.append(latents[member].mean(0))
            counts.append(int(member.sum()))
    return np.array(kept), np.array(cents).reshape(len(kept), latents.shape[1]), np.array(counts)


def fit_line(bin_yaws: np.ndarray, cents: np.ndarray, counts: np.ndarray) -> LineFit:
    """Least squares through the centroids, weighted by how many faces each holds."""
    if len(bin_yaws) < 2:
        raise ValueError(f"need at least two populated yaw bins to fit a line, got {len(bin_yaws)}")
    reg = LinearRegression().fit(bin_yaws[:, None], cents, sample_weight=counts)
    r2 = r2_score(cents, reg.predict(bin_yaws[:, None]), sample_weight=counts, multioutput="variance_weighted")
    return LineFit(reg.coef_[:, 0].astype(np.float32), reg.intercept_.astype(np.float32),
                   tuple(float(b) for b in bin_yaws), tuple(int(c) for c in counts), float(r2))


def fit_trajectory(subset: str, latents: np.ndarray, yaws: np.ndarray, two_lines: bool = True) -> Trajectory:
    b, c, n = centroids(latents, yaws)
    if not two_lines:
        line = fit_line(b, c, n)
        return Trajectory(subset, line, line, int(len(yaws)))
    neg, pos = b <= 0, b >= 0
    return Trajectory(subset, fit_line(b[neg], c[neg], n[neg]), fit_line(b[pos], c[pos], n[pos]), int(len(yaws)))


def fit_trajectory_set(latents: np.ndarray, yaws: np.ndarray, lights: np.ndarray, genders: np.ndarray,
                       two_lines: bool = True, by_light: bool = True, by_gender: bool = True,
                       meta: dict | None = None, settings: EngineSettings = EngineSettings()) -> TrajectorySet:
    """The global trajectory plus one per light class, per gender and per light x gender (when enough faces), to be
    walked with ``settings``."""
    subsets = [(None, None)]
    subsets += [(l, None) for l in LIGHTS] if by_light else []
    subsets += [(None, g) for g in GENDERS] if by_gender else []
    subsets += [(l, g) for l in LIGHTS for g in GENDERS] if by_light and by_gender else []
    out = {}
    for light, gender in subsets:
        keep = np.ones(len(yaws), bool)
        if light:
            keep &= lights == light
        if gender:
            keep &= genders == gender
        try:
            out[subset_name(light, gender)] = fit_trajectory(subset_name(light, gender), latents[keep], yaws[keep],
                                                             two_lines)
        except ValueError:
            continue  # too few populated bins on one side: select() falls back to a broader subset
    fitted = dict(two_lines=two_lines, by_light=by_light, by_gender=by_gender, bin_centers=BIN_CENTERS,
                  bin_half_width=BIN_HALF_WIDTH, min_bin_count=MIN_BIN_COUNT)
    return TrajectorySet(out, {**(meta or {}), **fitted, "engine": settings.to_dict()})
