"""``python -m headrot_core COMMAND``: thin argument parsing over the library; each command calls one module."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .settings import EngineSettings


def _cmd_train(args: argparse.Namespace) -> int:
    from .build.training import TrainConfig, train

    cfg = TrainConfig(data=args.data, out=args.out, size=args.size, preset=args.preset, batch_size=args.batch_size,
                      lr=args.lr, warmup_steps=args.warmup_steps, lr_schedule=args.lr_schedule,
                      max_steps=args.max_steps, minutes=args.minutes, ema_decay=args.ema_decay,
                      min_snr_gamma=args.min_snr_gamma, sample_every=args.sample_every,
                      checkpoint_every=args.checkpoint_every, seed=args.seed, device=args.device)
    result = train(cfg, init_from=args.init_from)
    print(f"step {result.step}, {result.images_seen} images seen, loss {result.last_loss:.4f}, "
          f"{result.seconds:.0f} s; EMA weights in {result.model_dir}")
    return 0


def _cmd_pack(args: argparse.Namespace) -> int:
    import tarfile

    from .build.data import default_data_root, load_annotations, load_images, training_split, write_pack

    images = load_images(args.data, args.size)
    ann = default_data_root() / "annotations.csv"
    train, held = training_split(images, load_annotations(ann) if ann.exists() else None)
    out = write_pack(train, args.out, quality=args.quality, max_bytes=int(args.max_mib * 2**20))
    with tarfile.open(out) as tar:
        packed = len(tar.getnames())
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB): {packed} of {len(train.ids)} training images "
          f"({len(held.ids)} held-out images left out)")
    return 0


def _cmd_sample(args: argparse.Namespace) -> int:
    from .diffusion import FaceDiffusion, tensor_to_images

    model = FaceDiffusion.from_pretrained(args.model, args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(tensor_to_images(model.sample(args.n, seed=args.seed, steps=args.steps))):
        img.save(out / f"sample_{i:04d}.png")
    print(f"wrote {args.n} samples to {out}")
    return 0


def _cmd_reconstruct(args: argparse.Namespace) -> int:
    from .diffusion import FaceDiffusion, images_to_tensor, tensor_to_images
    from .imaging import ImageError, load_image

    if not args.aligned:
        from .face import align_face  # photo -> aligned crop (face analysis module)
    model = FaceDiffusion.from_pretrained(args.model, args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    status = 0
    for name in args.images:
        try:
            img = load_image(name)
            crop = img if args.aligned else align_face(img, size=model.size).crop
            x = images_to_tensor([crop], model.size)
            rec = model.generate(model.invert(x, args.steps, args.fixed_point_iters), args.steps)
            tensor_to_images(rec)[0].save(out / f"{Path(name).stem}.png")
        except (ImageError, ValueError) as e:
            print(f"{name}: {e}", file=sys.stderr)
            status = 1
    return status


def _cmd_train_embedder(args: argparse.Namespace) -> int:
    from .build.embedding import EmbedTrainConfig, train_embedder

    cfg = EmbedTrainConfig(out=args.out, model=args.model, steps=args.steps, preset=args.preset,
                           batch_size=args.batch_size, lr=args.lr, max_steps=args.max_steps, minutes=args.minutes,
                           real_data=args.real_data, real_after_minutes=args.real_after_minutes,
                           fixed_point_iters=args.fixed_point_iters, val_data=args.val_data,
                           val_every=args.val_every, val_n=args.val_n, real_mix=args.real_mix,
                           checkpoint_every=args.checkpoint_every,
                           gen_fraction=args.gen_fraction, buffer_size=args.buffer_size, seed=args.seed,
                           device=args.device)
    result = train_embedder(cfg)
    print(f"step {result.step}, {result.images_seen} pairs seen, loss {result.last_loss:.4f}, "
          f"{result.seconds:.0f} s; EMA embedder in {result.model_dir}; "
          + ", ".join(f"{k} {v}" for k, v in result.val.items()))
    return 0


def _parse_yaws(text: str) -> list[float]:
    """'-30:30:5' (inclusive range) or '-30,0,30'."""
    if ":" in text:
        lo, hi, step = (float(v) for v in text.split(":"))
        return [float(v) for v in np.arange(lo, hi + step / 2, step)]
    return [float(v) for v in text.split(",")]


def _cmd_fit(args: argparse.Namespace) -> int:
    from .build.data import default_data_root, load_annotations, load_images
    from .build.fitting import fit, labelled_faces, labelled_training_faces
    from .diffusion import FaceDiffusion
    from .walk.lines import describe

    model = FaceDiffusion.from_pretrained(args.model, args.device)
    if args.yaw_source in ("labels", "network"):
        from .build.labels import load_labels

        root = default_data_root()
        images = load_images(args.data or root / "celeba128", model.size)
        network = args.yaw_source == "network"
        faces = labelled_training_faces(load_labels(args.labels), images, load_annotations(root / "annotations.csv"),
                                        max_faces=args.max_faces or None, yaw_from_network=network)
        sources = {"yaw_source": "headrot_core.yaw_net" if network else "headrot_core.analysis (labels CSV)",
                   "light_source": "headrot_core.analysis", "gender_source": "CelebA Male attribute where annotated"}
    else:
        faces = labelled_faces(holdout=False, max_faces=args.max_faces or None)
        sources = {"yaw_source": "annotations.csv (HopeNet)", "light_source": "headrot_core.analysis",
                   "gender_source": "CelebA Male attribute"}
    embedder = None
    if args.embedding == "network":
        from .embedding import Embedder

        embedder = Embedder.from_pretrained(args.embedder, model.device)
    settings = EngineSettings(steps=args.steps, fixed_point_iters=args.fixed_point_iters,
                              warm_start=args.warm_start, latent_t=args.latent_t)
    ts = fit(model, Path(args.out), faces, method=args.embedding, settings=settings, embedder=embedder,
             sources=sources, one_line_out=Path(args.one_line_out) if args.one_line_out else None, batch=args.batch)
    for row in describe(ts):
        print(row)
    print(f"wrote {args.out} from {len(faces.ids)} faces")
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from .build.calibration import Response, measure_response
    from .build.fitting import labelled_faces
    from .diffusion import FaceDiffusion
    from .rotation import HeadRotator
    from .walk.lines import TrajectorySet

    model = FaceDiffusion.from_pretrained(args.model, args.device)
    folder = Path(args.trajectories)
    ts = TrajectorySet.load(folder)
    given = dict(match_gender=args.match_gender, joint_gain=args.joint_gain)  # None: the set's
    ts = ts.with_settings(steps=args.steps, fixed_point_iters=args.fixed_point_iters, warm_start=args.warm_start,
                          residual_steps=min(args.residual_steps, args.steps), decode=args.decode,
                          smoothing_sigma=args.sigma, shared_channels=args.shared_channels,
                          **{k: v for k, v in given.items() if v is not None}).with_meta(calibration=None)
    rot = HeadRotator(model, ts, embedding="inversion")  # the engine the calibration will be stored for
    if args.from_response:
        response = Response.load(args.from_response)
    else:
        pool = labelled_faces(holdout=False, max_faces=args.pool, seed=args.seed)
        faces = pool.take(np.flatnonzero(np.abs(pool.yaw) <= args.max_source_yaw)[:args.faces])
        response = measure_response(rot, faces, tuple(float(v) for v in args.nominal.split(",")))
        if args.response_out:
            response.save(args.response_out)
    sources = tuple(float(v) for v in args.source_yaws.split(",") if v.strip())
    cal = response.calibration(sources, args.bandwidth)
    provenance = {"measured_with": "light x gender lines" if rot.settings.match_gender else "light lines",
                  "faces": len(response.source_yaw), "bandwidth": args.bandwidth,
                  # the faces' own largest |yaw|: true too when the response came from a file (--from-response)
                  "max_source_yaw": round(float(np.abs(response.source_yaw).max()), 1),
                  "faces_from": "training identities, HopeNet |yaw| <= max_source_yaw",
                  "measured_at_residual_steps": rot.settings.residual_steps}  # the engine may decode at fewer
    ts.with_meta(calibration={**cal.to_dict(), **provenance}).save(folder)
    print("| nominal change (deg) | " + " | ".join(f"{n:g}" for n in cal.nominal) + " |")
    print("| --- |" + " --- |" * len(cal.nominal))
    for side in ("negative", "positive"):
        for source, row in zip(sources or ("any",), np.atleast_2d(getattr(cal, side))):
            print(f"| source {source}, towards {side} yaw | " + " | ".join(f"{v:.1f}" for v in row) + " |")
    print(f"wrote the calibration ({len(response.source_yaw)} faces, sigma {args.sigma}, shared channels "
          f"{args.shared_channels}) into {folder / 'trajectories.json'}")
    return 0


def _cmd_rotate(args: argparse.Namespace) -> int:
    from .rotation import HeadRotator

    rot = HeadRotator.from_pretrained(args.model, args.trajectories, args.device, args.embedding, args.steps,
                                      decode=args.decode, feedback=False if args.no_feedback else None)
    status = 0
    for name in args.images:
        try:
            result = rot.rotate(name, yaws=_parse_yaws(args.yaws), light=args.light, gender=args.gender,
                                aligned=args.aligned, reconstruct=True)
            folder = result.save(Path(args.out) / Path(name).stem, animation=f"animation.{args.format}")
            print(f"{name}: source yaw {result.source_yaw:+.1f}, light {result.light_detected} "
                  f"({result.light_score:+.3f}), subset {result.subset}, {result.timings['total_s']:.2f} s -> {folder}")
            if result.turned_away:
                print(f"{name}: turned {abs(result.source_yaw):.0f} degrees away; frames near and past frontal "
                      "may show smears at the far cheek or under the chin", file=sys.stderr)
        except (ValueError, OSError) as e:
            print(f"{name}: {e}", file=sys.stderr)
            status = 1
    return status


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .measure.evaluation import TARGETS, evaluate, write_report
    from .rotation import HeadRotator

    rot = HeadRotator.from_pretrained(args.model, args.trajectories, device=args.device, embedding="inversion",
                                      steps=args.steps, fixed_point_iters=args.fixed_point_iters,
                                      feedback=False if args.no_feedback else None)
    others = {f"other engine: {folder}": HeadRotator.from_pretrained(args.model, folder, device=args.device,
                                                                    embedding="inversion")
              for folder in args.compare}
    embedder = None
    if args.embedder:
        from .embedding import Embedder

        embedder = Embedder.from_pretrained(args.embedder, rot.model.device)
    one_line = None
    if args.one_line:
        from .walk.lines import TrajectorySet

        one_line = TrajectorySet.load(args.one_line)
    ev = evaluate(rot, n_faces=args.faces, embedder=embedder, ablations=not args.no_ablations, one_line=one_line,
                  others=others, renderers=tuple(r for r in args.renderers.split(",") if r),
                  realism=not args.no_realism)
    extra = ""
    if args.figure:
        from .measure.evaluation import sampled_rotation_figure

        fig = sampled_rotation_figure(rot, Path(args.figure))
        extra = (f"## Faces sampled from the model, rotated\n\nEach row: a face sampled from the model (taken as an "
                 f"aligned crop), its reconstruction, then the engine's frames at "
                 f"{', '.join(f'{t:+.0f}' for t in TARGETS)} degrees.\n\n![rotations]({fig.name})")
    print(write_report(ev, Path(args.out), extra).read_text())
    if args.measurements:
        from .measure.evaluation import save_measurements

        save_measurements(ev, Path(args.measurements))
    return 0


def _cmd_model_card(args: argparse.Namespace) -> int:
    from .diffusion import FaceDiffusion
    from .loading import resolve_model_dir
    from .measure.model_card import write_model_card

    folder = resolve_model_dir(args.model)
    model = FaceDiffusion.from_pretrained(folder, args.device)
    notes = Path(args.notes).read_text() if args.notes else ""
    out = write_model_card(model, folder, Path(args.run) if args.run else None, Path(args.out), n=args.faces,
                           training_notes=notes)
    print(out.read_text())
    return 0


def _cmd_analyze(args: argparse.Namespace) -> int:
    import json

    from .analysis import analyze_crop
    from .imaging import ImageError, load_image

    status = 0
    for name in args.images:
        row: dict = {"input": name}
        try:
            img = load_image(name)
            if args.aligned:
                if img.width != img.height:
                    raise ImageError(f"an aligned crop must be square, this one is {img.width}x{img.height}")
                row.update(analyze_crop(img).to_dict())
            else:
                from .face import align_face

                face = align_face(img, size=args.size)
                row.update(analyze_crop(face.crop).to_dict())
                row["faces"] = face.faces
                row["crop_quad"] = [[round(float(x), 2), round(float(y), 2)] for x, y in face.crop_quad]
            for key in ("yaw_raw", "light_raw"):
                row.pop(key, None)
        except (ImageError, ValueError, OSError) as e:
            row = {"input": name, "error": str(e)}
            status = 1
        if args.json:
            print(json.dumps(row), flush=True)
        elif "error" in row:
            print(f"{name}: error: {row['error']}", flush=True)
        else:
            extra = f", {row['faces']} face(s)" if "faces" in row else ""
            print(f"{name}: yaw {row['yaw']:+.1f} deg, light {row['light']} ({row['light_score']:+.3f}){extra}",
                  flush=True)
    return status


def _cmd_label(args: argparse.Namespace) -> int:
    from .build.labels import label_dataset, load_labels

    out = label_dataset(args.data, size=args.size, out=args.out, workers=args.workers, limit=args.limit,
                        force=args.force)
    labels = load_labels(out)
    counts = ", ".join(f"{k} {v}" for k, v in labels.counts().items())
    print(f"{len(labels)} labels in {out} (light: {counts})")
    return 0


def _cmd_train_yaw_net(args: argparse.Namespace) -> int:
    from .build.data import annotated_split
    from .build.yaw_net import train_yaw_net

    train, val = annotated_split(args.data, size=64)
    report = train_yaw_net(train.images, train.yaw, val.images, val.yaw, args.out, args.work, epochs=args.epochs,
                           batch=args.batch_size, lr=args.lr, seed=args.seed, balance=args.balance)
    print(f"{report.train_faces} training crops, {report.val_faces} held-out: MAE {report.val_mae:.2f} deg "
          f"(median {report.val_median:.2f}); wrote {args.out}")
    return 0


def _cmd_fit_gender(args: argparse.Namespace) -> int:
    from .build.gender import fit_gender

    clf = fit_gender(args.train, args.test)
    print(f"held-out accuracy {clf.accuracy:.3f}; wrote {clf.save(args.out)}")
    return 0


def _timestep(value: str) -> int | None:
    """A DDIM timestep, or 'none' for x_T."""
    return None if value.lower() == "none" else int(value)


FEEDBACK_HELP = ("calibrated moves only: do not measure the frames' turns and decode the ones that missed again "
                 "(default: feedback on when the yaw network is installed)")


def build_parser() -> argparse.ArgumentParser:
    from .build.calibration import NOMINAL
    from .diffusion import DEFAULT_STEPS
    from .rotation import DECODES

    engine = EngineSettings()
    p = argparse.ArgumentParser(prog="python -m headrot_core",
                                description="HeadRot: head rotation by straight lines in a DDIM latent space.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def model_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--model", default=None, help="model folder or Hub id (default: $HEADROT_MODEL or assets/model)")
        sp.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")

    t = sub.add_parser("train", help="train the DDIM face model (resumes from OUT/checkpoint.pt)")
    t.add_argument("--data", default=None, help="folder, tar or training pack of images (default: ../shared/data/celeba128)")
    t.add_argument("--out", default="runs/ddim64", help="run folder: checkpoint.pt, model/, samples/, log.jsonl")
    t.add_argument("--size", type=int, default=64)
    t.add_argument("--preset", default="default", choices=["default", "tiny"])
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=2e-4)
    t.add_argument("--warmup-steps", type=int, default=500)
    t.add_argument("--lr-schedule", default="cosine", choices=["cosine", "constant"],
                   help="cosine decay over --max-steps, or constant after warmup (time-budgeted runs; EMA averages)")
    t.add_argument("--max-steps", type=int, default=100_000, help="length of the cosine LR schedule, and the end")
    t.add_argument("--minutes", type=float, default=None, help="stop (with a checkpoint) after this wall time")
    t.add_argument("--ema-decay", type=float, default=0.9999)
    t.add_argument("--min-snr-gamma", type=float, default=5.0, help="loss weighting; 0 turns it off")
    t.add_argument("--sample-every", type=int, default=2000)
    t.add_argument("--checkpoint-every", type=int, default=1000)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default=None)
    t.add_argument("--init-from", default=None, help="exported model folder to start from when no checkpoint exists")
    t.set_defaults(func=_cmd_train)

    k = sub.add_parser("pack", help="write a compact 64 px WebP training pack (training identities only)")
    k.add_argument("--data", default=None)
    k.add_argument("--out", default=".pack/train64.tar.gz")
    k.add_argument("--size", type=int, default=64)
    k.add_argument("--quality", type=int, default=80)
    k.add_argument("--max-mib", type=float, default=56.0)
    k.set_defaults(func=_cmd_pack)

    s = sub.add_parser("sample", help="write N PNG faces generated from random noise")
    s.add_argument("--n", type=int, default=16)
    s.add_argument("--out", required=True)
    s.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    s.add_argument("--seed", type=int, default=0)
    model_args(s)
    s.set_defaults(func=_cmd_sample)

    r = sub.add_parser("reconstruct", help="write generate(invert(x)) for each image, as OUT/<stem>.png")
    r.add_argument("images", nargs="+")
    r.add_argument("--aligned", action="store_true", help="inputs are aligned crops in the shared-data convention")
    r.add_argument("--out", required=True)
    r.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    r.add_argument("--fixed-point-iters", type=int, default=2, help="per inversion step; 2 reconstructs far better than 0")
    model_args(r)
    r.set_defaults(func=_cmd_reconstruct)
    e = sub.add_parser("train-embedder", help="train the image -> x_T embedding U-Net (resumes from OUT/checkpoint.pt)")
    e.add_argument("--model", default=None, help="frozen DDIM model folder (default: $HEADROT_MODEL or assets/model)")
    e.add_argument("--out", default="runs/embedder", help="run folder: checkpoint.pt, embedder/, log.jsonl")
    e.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="DDIM steps of the training pairs")
    e.add_argument("--preset", default="default", choices=["default", "tiny"])
    e.add_argument("--batch-size", type=int, default=128)
    e.add_argument("--lr", type=float, default=5e-4)
    e.add_argument("--minutes", type=float, default=None, help="stop (with a checkpoint) after this wall time")
    e.add_argument("--max-steps", type=int, default=1_000_000)
    e.add_argument("--real-data", default=None,
                   help="folder/tar/pack of real training-identity crops: a second phase on their DDIM inversions")
    e.add_argument("--real-after-minutes", type=float, default=None,
                   help="cumulative training minutes before the real phase (default: 60%% of --minutes)")
    e.add_argument("--fixed-point-iters", type=int, default=2, help="for the inversions of real crops")
    e.add_argument("--val-data", default=None, help="held-out crops for the PSNR (default: shared held-out identities)")
    e.add_argument("--val-every", type=int, default=500)
    e.add_argument("--val-n", type=int, default=64, help="validation images per set (real held-out, generated)")
    e.add_argument("--real-mix", type=float, default=0.5, help="share of real pairs in a batch in the real phase")
    e.add_argument("--checkpoint-every", type=int, default=1000)
    e.add_argument("--gen-fraction", type=float, default=0.5, help="share of wall time spent making new pairs")
    e.add_argument("--buffer-size", type=int, default=None, help="synthetic pairs kept (default 32 x batch)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--device", default=None)
    e.set_defaults(func=_cmd_train_embedder)
    f = sub.add_parser("fit", help="embed labelled training crops and fit the yaw trajectories")
    f.add_argument("--out", default="assets/trajectories")
    f.add_argument("--one-line-out", default=None, help="also write the one-line ablation fit here")
    f.add_argument("--steps", type=int, default=engine.steps, help="DDIM steps of the inversion")
    f.add_argument("--fixed-point-iters", type=int, default=engine.fixed_point_iters)
    f.add_argument("--warm-start", action=argparse.BooleanOptionalAction, default=engine.warm_start,
                   help="start each inversion step from the previous step's noise (as the engine embeds)")
    f.add_argument("--latent-t", type=_timestep, default=engine.latent_t,
                   help="fit in x_t at this DDIM timestep (499: half-way) instead of x_T ('none': the paper's x_T)")
    f.add_argument("--yaw-source", default="annotations", choices=["annotations", "labels", "network"],
                   help="annotations: HopeNet-annotated crops (the shipped lines); labels: every training crop, "
                        "yaw/light from `label`; network: the same crops, yaw from the yaw network")
    f.add_argument("--labels", default=None, help="labels CSV (default: the cache's, see `label`)")
    f.add_argument("--data", default=None, help="crops to embed (default: ../shared/data/celeba128; or a pack)")
    f.add_argument("--max-faces", type=int, default=0, help="yaw-balanced cap (0: all)")
    f.add_argument("--embedding", default="inversion", choices=["inversion", "network"])
    f.add_argument("--embedder", default="assets/embedder", help="embedding network (with --embedding network)")
    f.add_argument("--batch", type=int, default=32, help="faces embedded at once (a GPU takes 1024)")
    model_args(f)
    f.set_defaults(func=_cmd_fit)

    ca = sub.add_parser("calibrate", help="measure the yaw that moves along the lines reach; store the inverse")
    ca.add_argument("--trajectories", default="assets/trajectories", help="fitted trajectories folder (updated)")
    ca.add_argument("--faces", type=int, default=96, help="training-identity faces measured")
    ca.add_argument("--pool", type=int, default=600, help="yaw-balanced annotated faces they are drawn from")
    ca.add_argument("--max-source-yaw", type=float, default=40.0)
    ca.add_argument("--source-yaws", default="-30,-20,-10,0,10,20,30",
                    help="source yaws with a curve of their own (--source-yaws=-30,0,30; empty: one curve for all)")
    ca.add_argument("--bandwidth", type=float, default=7.0,
                    help="Gaussian weight of a face on a source yaw's curve (degrees)")
    ca.add_argument("--response-out", default=None, help="also save the raw measurements (.npz)")
    ca.add_argument("--from-response", default=None,
                    help="refit from measurements saved with --response-out instead of measuring again")
    ca.add_argument("--sigma", type=float, default=engine.smoothing_sigma,
                    help="Gaussian smoothing of the directions (latent px; 0: none)")
    ca.add_argument("--shared-channels", action=argparse.BooleanOptionalAction, default=engine.shared_channels,
                    help="one spatial pattern for the three latent channels (their mean)")
    ca.add_argument("--steps", type=int, default=engine.steps, help="DDIM steps the engine will run with")
    ca.add_argument("--fixed-point-iters", type=int, default=engine.fixed_point_iters)
    ca.add_argument("--decode", default=engine.decode, choices=DECODES,
                    help="the renderer the frames are measured with (the one the engine will run)")
    ca.add_argument("--match-gender", action=argparse.BooleanOptionalAction, default=None,
                    help="the engine picks light x gender lines (else light only); default: the set's setting")
    ca.add_argument("--warm-start", action=argparse.BooleanOptionalAction, default=engine.warm_start,
                    help="start each inversion step from the previous step's noise (one UNet call fewer a step)")
    ca.add_argument("--residual-steps", type=int, default=engine.residual_steps,
                    help="DDIM steps of the moved latents' decode (<= --steps; lines at t = 499 run 3 of 6)")
    ca.add_argument("--joint-gain", type=float, default=None,
                    help="nominal degrees along the lines per degree of the source's yaw, which decides where a "
                         "move crosses from one line to the other (default: the set's setting)")
    ca.add_argument("--nominal", default=",".join(f"{v:g}" for v in NOMINAL),
                    help="nominal yaw changes measured on each side (degrees along the fitted lines)")
    ca.add_argument("--seed", type=int, default=3)
    model_args(ca)
    ca.set_defaults(func=_cmd_calibrate)

    g = sub.add_parser("fit-gender", help="fit the gender classifier on dlib descriptors (CelebA Male attribute)")
    g.add_argument("--train", type=int, default=3000)
    g.add_argument("--test", type=int, default=600)
    g.add_argument("--out", default="assets/gender.json")
    g.set_defaults(func=_cmd_fit_gender)

    yn = sub.add_parser("train-yaw-net", help="train the appearance yaw estimator, the evaluation's second opinion "
                        "(resumes from WORK/checkpoint.pt)")
    yn.add_argument("--data", default=None, help="annotated crops (default: ../shared/data/celeba128)")
    yn.add_argument("--out", default="assets/yaw_net")
    yn.add_argument("--work", default="runs/yaw_net", help="checkpoint folder (outside git)")
    yn.add_argument("--epochs", type=int, default=24)
    yn.add_argument("--batch-size", type=int, default=64)
    yn.add_argument("--lr", type=float, default=2e-3)
    yn.add_argument("--seed", type=int, default=0)
    yn.add_argument("--balance", type=float, default=0.0,
                    help="draw crops with weight count(5-degree bin of |yaw|) ** -BALANCE (0: uniform)")
    yn.set_defaults(func=_cmd_train_yaw_net)

    ro = sub.add_parser("rotate", help="rotate the face in each image; writes frames, strip.png, animation, result.json")
    ro.add_argument("images", nargs="+")
    ro.add_argument("--out", required=True)
    ro.add_argument("--yaws", default="-30:30:5", help="absolute yaws in degrees: LO:HI:STEP or a,b,c")
    ro.add_argument("--light", default="auto", choices=["auto", "left", "center", "right"])
    ro.add_argument("--gender", default="auto", choices=["auto", "any", "female", "male"])
    ro.add_argument("--aligned", action="store_true", help="inputs are aligned crops in the shared-data convention")
    ro.add_argument("--embedding", default="auto", choices=["auto", "inversion", "network"])
    ro.add_argument("--steps", type=int, default=None, help="default: the step count the trajectories were fitted with")
    ro.add_argument("--trajectories", default=None, help="fitted trajectories folder (default: with the model)")
    ro.add_argument("--format", default="gif", choices=["gif", "mp4"])
    ro.add_argument("--decode", default=None, choices=DECODES,
                    help="renderer (default: the one the trajectories were calibrated with); warp: frames at the "
                         "photo's resolution, up to 640 px")
    ro.add_argument("--no-feedback", action="store_true", help=FEEDBACK_HELP)
    model_args(ro)
    ro.set_defaults(func=_cmd_rotate)
    ev = sub.add_parser("evaluate", help="measure pose, identity and reconstruction on held-out faces")
    ev.add_argument("--faces", type=int, default=100)
    ev.add_argument("--trajectories", default=None, help="the engine's trajectories (default: the model's own)")
    ev.add_argument("--compare", action="append", default=[],
                    help="another calibrated trajectories folder for the same model, measured as a whole engine "
                         "on the same faces (repeatable)")
    ev.add_argument("--steps", type=int, default=None, help="default: the shipped trajectories' calibrated setting")
    ev.add_argument("--fixed-point-iters", type=int, default=None)
    ev.add_argument("--embedder", default=None, help="also measure this embedding network folder")
    ev.add_argument("--no-ablations", action="store_true")
    ev.add_argument("--renderers", default="warp,clipped",
                    help=f"other renderers run on the shipped lines and moves, comma-separated ({', '.join(DECODES)})")
    ev.add_argument("--no-realism", action="store_true",
                    help="skip the realism test, the face count and the contact sheets")
    ev.add_argument("--no-feedback", action="store_true", help=FEEDBACK_HELP)
    ev.add_argument("--one-line", default=None,
                    help="calibrated one-line trajectories (fit --one-line-out, then calibrate) for that ablation")
    ev.add_argument("--out", default="docs/EVALUATION.md")
    ev.add_argument("--measurements", default=None, help="also save every frame's readings by variant (.npz)")
    ev.add_argument("--figure", default="docs/rotation_samples.jpg", help="rotations of sampled faces ('' for none)")
    model_args(ev)
    ev.set_defaults(func=_cmd_evaluate)
    mc = sub.add_parser("model-card", help="measure the model (face rate, reconstruction, speed); write docs/MODEL.md")
    mc.add_argument("--out", default="docs/MODEL.md")
    mc.add_argument("--run", default=None, help="training run folder (for steps and images seen)")
    mc.add_argument("--faces", type=int, default=256)
    mc.add_argument("--notes", default=None, help="markdown file with training notes to include")
    model_args(mc)
    mc.set_defaults(func=_cmd_model_card)
    an = sub.add_parser("analyze", help="face count, crop corners, yaw and light of photos (or aligned crops)")
    an.add_argument("images", nargs="+")
    an.add_argument("--aligned", action="store_true", help="inputs are aligned crops in the shared-data convention")
    an.add_argument("--json", action="store_true", help="one JSON object per input, one per line")
    an.add_argument("--size", type=int, default=128, help="crop size analysed for photos")
    an.set_defaults(func=_cmd_analyze)
    lb = sub.add_parser("label", help="write yaw and light labels of every crop to the cache (resumable)")
    lb.add_argument("--data", default=None, help="folder or tar of aligned crops (default: ../shared/data/celeba128)")
    lb.add_argument("--size", type=int, default=128)
    lb.add_argument("--out", default=None, help="CSV path (default: under the cache folder, see labels.py)")
    lb.add_argument("--workers", type=int, default=None, help="processes (default: up to 2)")
    lb.add_argument("--limit", type=int, default=None, help="only the first N images")
    lb.add_argument("--force", action="store_true", help="relabel even if the CSV exists")
    lb.set_defaults(func=_cmd_label)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "data", "unset") is None:
        from .build.data import default_data_root

        args.data = str(default_data_root() / "celeba128")
    return int(args.func(args) or 0)
