from dataclasses import replace

import numpy as np
import pytest

from conftest import real_crop, shared_data_or_skip
from headrot_core import HeadRotator
from headrot_core.diffusion import images_to_tensor, tensor_to_images
from headrot_core.feedback import FaceResponse, probes

# a face that turns half as far as the calibration promised, and not at all beyond 30 degrees of move
RESPONSE = FaceResponse("light=center,gender=any", np.array([-40.0, -20.0, 20.0, 40.0, 60.0]),
                        np.array([-20.0, -10.0, 5.0, 10.0, 9.0]))


def test_plan_inverts_the_face_own_response():
    wanted = np.array([0.0, -10.0, 7.5, -15.0])
    moves = RESPONSE.plan(wanted, default=np.array([0.0, -11.0, 8.0, -16.0]))
    assert moves[0] == 0.0  # the source's own yaw never moves
    assert moves[1] == pytest.approx(-20.0)  # read -10 at -20: the response passes through the decoded moves
    assert moves[3] == pytest.approx(-30.0)
    # positive side, isotonic: 20 -> 5, 40 and 60 pooled to 9.5; 7.5 lies between 20 and 40
    assert moves[2] == pytest.approx(20 + 20 * 2.5 / 4.5)


def test_plan_never_extrapolates_past_the_longest_move():
    """Past the largest turn seen: the smallest move that reached it, or the calibrated move when that is larger
    (targets out of reach stay distinct frames); a side with no decoded move keeps the default. Given the longest
    moves allowed (the calibrated moves of the range's ends), that move scaled by how much further the target lies,
    up to the longest: a face asked for one yaw whose one calibrated frame fell short gets a longer move tried."""
    assert RESPONSE.plan(np.array([30.0, 40.0]), np.array([35.0, 50.0])) == pytest.approx([40.0, 50.0])
    one_side = FaceResponse("s", np.array([20.0]), np.array([5.0]))
    assert one_side.plan(np.array([-10.0]), np.array([-33.0]))[0] == -33.0
    short = FaceResponse("s", np.array([-10.0]), np.array([-5.0]))  # asked for -8, turned -5
    assert short.plan(np.array([-8.0]), np.array([-10.0]))[0] == -10.0
    assert short.plan(np.array([-8.0]), np.array([-10.0]), longest=(30.0, 30.0))[0] == pytest.approx(-16.0)
    assert short.plan(np.array([-8.0]), np.array([-10.0]), longest=(12.0, 30.0))[0] == pytest.approx(-12.0)
    assert short.plan(np.array([-4.0, 6.0]), np.array([-8.0, 9.0]), longest=(30.0, 30.0)) == pytest.approx([-8.0, 9.0])
    # the range's end (the longest move) under-turned too: as before, nothing longer is tried
    assert RESPONSE.plan(np.array([30.0]), np.array([60.0]), longest=(40.0, 60.0))[0] == pytest.approx(60.0)


def test_plan_keeps_the_default_when_the_face_did_not_turn():
    stuck = FaceResponse("s", np.array([20.0, 40.0]), np.array([-1.0, -2.0]))  # read as turning the wrong way
    assert stuck.plan(np.array([10.0]), np.array([25.0]))[0] == 25.0


def test_changes_at_follows_the_response_and_stops_where_it_stops():
    """The yaw change a move gives, interpolated through the decoded moves (the curve ``plan`` inverts), and None past
    the largest decoded move's turn on a side: there the model has not been seen turning this face."""
    assert RESPONSE.changes_at(np.array([0.0, -30.0, 10.0, 30.0])) == pytest.approx([0.0, -15.0, 2.5, 7.25])
    wanted = np.array([-15.0, 3.0, 9.0])
    assert RESPONSE.changes_at(RESPONSE.plan(wanted, np.zeros(3))) == pytest.approx(wanted)
    assert RESPONSE.changes_at(np.array([10.0, 50.0])) is None  # 40 reached 9.5, the most this face turned
    assert RESPONSE.changes_at(np.array([-50.0])) is None
    assert FaceResponse("s", np.array([20.0]), np.array([5.0])).changes_at(np.array([-5.0])) is None  # no move there


def test_add_keeps_the_subset():
    more = RESPONSE.add(np.array([30.0]), np.array([7.0]))
    assert more.subset == RESPONSE.subset and len(more.moves) == len(more.changes) == 6


def test_probes_keep_both_ends_and_one_yaw_every_so_many_degrees():
    every_five = list(range(-30, 31, 5))
    assert np.flatnonzero(probes(every_five, 10)).tolist() == [0, 2, 4, 6, 8, 10, 12]
    assert np.flatnonzero(probes(every_five, 15)).tolist() == [0, 3, 6, 9, 12]
    assert np.flatnonzero(probes(every_five, 20)).tolist() == [0, 4, 8, 12]  # and the end, 10 past the last
    assert probes([30.0, -30.0, 12.0, 5.0, 29.0], 10).tolist() == [True, True, False, True, True]
    assert probes([-30.0, -20.0, 0.0, 20.0, 30.0], 10).all()  # already 10 apart: all decoded
    assert probes(every_five, 0).all()
    assert probes([7.0], 10).tolist() == [True] and len(probes([], 10)) == 0


@pytest.fixture(scope="module")
def fed(tiny_rotator_dir):
    loaded = HeadRotator.from_pretrained(tiny_rotator_dir, device="cpu", steps=4, feedback=True)
    loaded.model.bf16 = False
    # the random model's frames miss: the second pass runs
    return HeadRotator(loaded.model, loaded.trajectories, settings=replace(loaded.settings, feedback_tolerance=0.5),
                       feedback=True)


def test_feedback_reads_the_calibrated_frames_and_decodes_the_planned_moves(fed):
    """Pass one decodes the calibrated moves and records what the network reads on them; the moves that response
    plans are decoded (only those not decoded yet) and read too, and each target keeps whichever of its two frames
    the network read nearer its yaw."""
    plain = HeadRotator(fed.model, fed.trajectories, settings=fed.settings)
    prep = fed.prepare(real_crop(), aligned=True)
    s, yaws = prep.source_yaw, [prep.source_yaw - 20, prep.source_yaw, prep.source_yaw + 20]
    r = fed.rotate_prepared(prep, yaws)
    first = plain.rotate_prepared(prep, yaws)
    tr = fed.lines(r.light, r.gender)
    calibrated = np.array([tr.move(s, y) for y in yaws])
    assert r.response.subset == r.subset and np.allclose(r.response.moves[:3], calibrated)
    net = fed._yaw_net
    reads = net.yaw(images_to_tensor([prep.source, *first.frames], fed.model.size)).numpy()
    assert np.allclose(r.response.changes[:3], reads[1:] - reads[0], atol=1.0)  # uint8 frames vs float ones
    wanted = np.array(yaws) - s
    hit = np.abs(r.response.changes[:3] - wanted) <= fed.settings.feedback_tolerance  # kept as decoded
    planned = np.where(hit, calibrated, FaceResponse(r.subset, calibrated, r.response.changes[:3]).plan(
        wanted, calibrated))
    assert 0 < r.redone == len(set(planned.tolist()) - set(calibrated.tolist())) == len(r.response.moves) - 3
    assert planned[1] == 0.0 and np.abs(np.asarray(r.frames[1], float) - np.asarray(r.source, float)).mean() < 0.5
    read = dict(zip(r.response.moves.tolist(), r.response.changes.tolist()))
    kept = np.array([p if abs(read[p] - w) <= abs(read[c] - w) else c
                     for c, p, w in zip(calibrated.tolist(), planned.tolist(), wanted.tolist())])
    assert all(abs(read[k] - w) <= abs(read[c] - w) for k, c, w in zip(kept, calibrated, wanted))
    z, x = r.latent, images_to_tensor([r.source], fed.model.size)
    expected = plain.decode_moved(tr.latents(z, s, kept), z, x)[0]
    got = images_to_tensor(r.frames, fed.model.size)
    assert (got - expected.clamp(-1, 1)).abs().mean() < 0.01
    assert r.summary()["redone"] == r.redone


def test_a_redecoded_frame_that_reads_further_off_is_not_kept(fed, monkeypatch):
    """A face's response is not always monotonic: when the network reads the re-decoded frames further from their
    targets than the calibrated ones, the calibrated frames stay."""
    plain = HeadRotator(fed.model, fed.trajectories, settings=fed.settings)
    prep = fed.prepare(real_crop(), aligned=True)
    yaws = [prep.source_yaw - 20, prep.source_yaw + 20]
    real_reads, calls = fed._read_yaws, []

    def reads(images):
        calls.append(len(images))
        return real_reads(images) + (0.0 if len(calls) == 1 else 90.0)  # the second decode reads far off

    monkeypatch.setattr(fed, "_read_yaws", reads)
    r = fed.rotate_prepared(prep, yaws)
    assert len(calls) == 2 and r.redone > 0
    first = plain.rotate_prepared(prep, yaws)
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(r.frames, first.frames))


def test_slider_frames_are_planned_from_the_cached_response(fed):
    r = fed.rotate(real_crop(), yaws=[-10, 10], aligned=True)
    tr = fed.lines(r.light, r.gender)
    yaw = 3.0 if r.source_yaw < 3 else -3.0
    move = r.response.plan(np.array([yaw - r.source_yaw]), np.array([tr.move(r.source_yaw, yaw)]))
    z, x = r.latent, images_to_tensor([r.source], fed.model.size)
    expected = fed.decode_moved(tr.latents(z, r.source_yaw, move), z, x, r.base)[0]
    got = images_to_tensor(fed.frames_at(r, [yaw]), fed.model.size)
    assert (got - expected.clamp(-1, 1)).abs().mean() < 0.01


def test_feedback_brings_the_shipped_engine_frames_nearer_their_yaw():
    """On real held-out faces and the shipped model: the network, which the landmark renderer's feedback never reads,
    reads the fed-back frames nearer their targets than the calibrated ones."""
    shared_data_or_skip()
    from headrot_core.build.fitting import labelled_faces

    fed_rot = HeadRotator.from_pretrained(feedback=True)
    plain = HeadRotator.from_pretrained(feedback=False)
    faces = labelled_faces(holdout=True, max_faces=100, seed=1)
    targets = [-30.0, -10.0, 10.0, 30.0]
    err = {"fed": [], "plain": []}
    for i in range(0, 100, 25):
        prep = fed_rot.prepare(faces.images[i], aligned=True)
        for name, engine in (("fed", fed_rot), ("plain", plain)):
            frames = engine.rotate_prepared(prep, targets, reconstruct=False).frames
            read = fed_rot._yaw_net.yaw(images_to_tensor(frames, 64)).numpy()
            err[name].append(np.abs(read - targets))
    assert np.mean(err["fed"]) < np.mean(err["plain"])


def test_cli_rotate_records_the_feedback_and_can_turn_it_off(tiny_rotator_dir, tmp_path, capsys):
    """``rotate`` saves whether the feedback ran, and warns that this crop, turned about 40 degrees away, may show
    smears near and past frontal."""
    import json

    from headrot_core.cli import main

    crop = tmp_path / "crop.png"
    real_crop().save(crop)
    for flag, out in (([], tmp_path / "fed"), (["--no-feedback"], tmp_path / "plain")):
        assert main(["rotate", str(crop), "--aligned", "--yaws=-10,10", "--out", str(out), "--model",
                     str(tiny_rotator_dir), "--steps", "3", "--device", "cpu", *flag]) == 0
    fed, plain = (json.loads((tmp_path / d / "crop" / "result.json").read_text()) for d in ("fed", "plain"))
    assert isinstance(fed["redone"], int) and plain["redone"] is None
    assert {p.name for p in (tmp_path / "fed" / "crop").iterdir()} >= {"frame_-10.png", "frame_+10.png", "strip.png"}
    assert capsys.readouterr().err.count("degrees away; frames near and past frontal may show smears") == 2


def test_refine_adds_the_feedback_to_calibrated_frames(fed):
    """The app shows the calibrated strip first, then ``refine``: the same frames as feedback at once."""
    prep = fed.prepare(real_crop(), aligned=True)
    yaws = [prep.source_yaw - 20, prep.source_yaw + 20]
    quick = fed.rotate_prepared(prep, yaws, reconstruct=False, feedback=False)
    assert quick.redone is None and quick.response is None
    refined, direct = fed.refine(quick), fed.rotate_prepared(prep, yaws, reconstruct=False)
    assert refined.redone == direct.redone and np.allclose(refined.response.moves, direct.response.moves, atol=0.1)
    for a, b in zip(refined.frames, direct.frames):
        assert np.abs(np.asarray(a, float) - np.asarray(b, float)).mean() < 0.5
    assert fed.refine(refined) is refined  # already fed back: nothing to do
    steps = list(fed.refine_steps(quick))  # the app's step-wise form: one item per DDIM step, then the result
    assert steps[:-1] == [None] * (fed.decode_calls if refined.redone else 0)
    assert [f.tobytes() for f in steps[-1].frames] == [f.tobytes() for f in refined.frames]


def test_the_landmark_renderer_is_steered_by_the_turns_it_drew(monkeypatch):
    """The landmark renderer reads the model's turn off each decoding and draws that turn, so the feedback steers by
    the turns drawn, never reading a frame with the network. A frame that missed is drawn again at the turn the
    face's response gives, with no decode, when the calibrated frames saw the model turn that far (a decode
    otherwise); ``refine`` of the calibrated result gives the same frames."""
    from headrot_core.render.landmarks import drawn_frames

    loaded = HeadRotator.from_pretrained(decode="landmarks", feedback=True)  # the shipped model: a face that turns
    rot = HeadRotator(loaded.model, loaded.trajectories, settings=replace(loaded.settings, feedback_tolerance=0.5),
                      feedback=True)

    def no_reading(images):
        raise AssertionError("the yaw network read a frame")

    monkeypatch.setattr(rot, "_read_yaws", no_reading)
    prep = rot.prepare(real_crop("000100"), aligned=True)  # at -20 degrees: both targets are within its reach
    yaws = [prep.source_yaw + 20, 30.0]
    wanted = np.array(yaws) - prep.source_yaw
    quick = rot.rotate_prepared(prep, yaws, reconstruct=False, feedback=False)
    r = rot.rotate_prepared(prep, yaws, reconstruct=False)
    assert quick.turns is not None and np.allclose(r.response.changes[:2], quick.turns)
    missed = np.abs(quick.turns - wanted) > 0.5
    assert missed.any()  # the calibrated frames of this face miss: the feedback has work
    assert np.all(np.abs(r.turns - wanted) <= 0.5)
    assert len(r.response.moves) == 2 + r.redone  # only decodes are measurements of the model
    crop = images_to_tensor([r.crop], r.crop.width)
    for k in np.flatnonzero(missed):
        expected = tensor_to_images(drawn_frames(crop, wanted[k:k + 1]).frames)[0]
        assert np.abs(np.asarray(r.frames[k], float) - np.asarray(expected, float)).mean() < 0.5
    refined = rot.refine(quick)
    assert np.allclose(refined.turns, r.turns) and refined.redone == r.redone
    for a, b in zip(refined.frames, r.frames):
        assert np.abs(np.asarray(a, float) - np.asarray(b, float)).mean() < 0.5


def test_the_slider_draws_the_turns_the_face_was_seen_to_make_without_decoding(monkeypatch):
    """The landmark renderer draws a frame from a turn alone: the slider's exact frame at a yaw whose turn the face's
    measured response covers is drawn at that turn with no decode; past the response it decodes as before."""
    from headrot_core.render.landmarks import drawn_frames

    rot = HeadRotator.from_pretrained(decode="landmarks", feedback=True)
    prep = rot.prepare(real_crop("000100"), aligned=True)
    r = rot.rotate_prepared(prep, [prep.source_yaw - 10, prep.source_yaw + 10, prep.source_yaw + 25],
                            reconstruct=False)
    decodes = []
    real_decode = type(rot.latent).decode_steps
    monkeypatch.setattr(type(rot.latent), "decode_steps",
                        lambda self, *a, **k: decodes.append(a) or real_decode(self, *a, **k))
    yaw = prep.source_yaw + 5
    frame = rot.frames_at(r, [yaw])[0]
    assert decodes == []
    crop = images_to_tensor([r.crop], r.crop.width)
    expected = drawn_frames(crop, np.array([5.0])).frames
    assert np.abs(np.asarray(frame, float) - np.asarray(tensor_to_images(expected)[0], float)).mean() < 0.5
    far = prep.source_yaw + 60  # beyond any turn decoded for this face
    calibrated = rot.lines(r.light, r.gender).moves(prep.source_yaw, [far])
    assert r.response.changes_at(r.response.plan(np.array([60.0]), calibrated)) is None
    rot.frames_at(r, [far])
    assert len(decodes) == 1


def test_with_the_feedback_each_landmark_frame_is_drawn_once(monkeypatch):
    """The feedback measures every decoding by the turn it shows, but a frame is drawn only once it is kept: as many
    frames drawn as targets (a 256 px frame is the renderer's main cost), and the same frames as drawing the
    calibrated ones first and the missed ones again (``refine``)."""
    from headrot_core.render.landmarks import Photo

    loaded = HeadRotator.from_pretrained(decode="landmarks", feedback=True)
    rot = HeadRotator(loaded.model, loaded.trajectories, settings=replace(loaded.settings, feedback_tolerance=0.5),
                      feedback=True)
    prep = rot.prepare(real_crop("000100"), aligned=True)
    yaws = [-30.0, -10.0, 10.0, 30.0]
    drawn = []
    real_turned = Photo.turned
    monkeypatch.setattr(Photo, "turned",
                        lambda self, turn, s, out=None: drawn.append(turn) or real_turned(self, turn, s, out))
    r = rot.rotate_prepared(prep, yaws, reconstruct=False)
    assert len(drawn) == len(yaws) and np.allclose(sorted(drawn), sorted(r.turns))
    drawn.clear()
    refined = rot.refine(rot.rotate_prepared(prep, yaws, reconstruct=False, feedback=False))
    assert len(drawn) > len(yaws)  # the calibrated frames, then the missed ones again
    assert [f.tobytes() for f in refined.frames] == [f.tobytes() for f in r.frames]


def test_the_landmark_renderer_decodes_the_probes_and_draws_the_yaws_between(monkeypatch):
    """With a renderer that draws turns, 13 yaws every 5 degrees decode the moves of the probes (5, every 15) and
    the base: the frames there are those of rotating to the probes alone, and those between are drawn at the turns
    the face's measured response gives there, as the slider draws them; ``refine`` of the calibrated strip gives the
    same frames."""
    rot = HeadRotator.from_pretrained(decode="landmarks", feedback=True)
    prep = rot.prepare(real_crop("000100"), aligned=True)
    yaws = [float(y) for y in range(-30, 31, 5)]
    probe = probes(yaws, rot.settings.probe_every)
    assert np.flatnonzero(probe).tolist() == [0, 3, 6, 9, 12]
    at, between = np.flatnonzero(probe), np.flatnonzero(~probe)
    decoded = []
    real_decode = type(rot.latent).decode_steps
    monkeypatch.setattr(type(rot.latent), "decode_steps",
                        lambda self, latents, *a: decoded.append(len(latents)) or real_decode(self, latents, *a))
    r = rot.rotate_prepared(prep, yaws, reconstruct=False)
    assert decoded[0] == 5 + 1 and sum(decoded) == 6 + r.redone
    alone = rot.rotate_prepared(prep, [yaws[i] for i in at], reconstruct=False)
    assert [r.frames[i].tobytes() for i in at] == [f.tobytes() for f in alone.frames]
    lines = rot.lines(r.light, r.gender)
    wanted = np.array(yaws)[between] - prep.source_yaw
    planned = r.response.plan(wanted, lines.moves(prep.source_yaw, np.array(yaws)[between]))
    assert np.allclose(r.turns[between], r.response.changes_at(planned))
    inside = np.abs(wanted) <= np.abs(r.response.changes).max()
    assert np.allclose(r.turns[between][inside], wanted[inside], atol=0.01)  # turns the face was seen to make
    quick = rot.rotate_prepared(prep, yaws, reconstruct=False, feedback=False)
    calibrated = FaceResponse(r.subset, lines.moves(prep.source_yaw, np.array(yaws)[at]), quick.turns[at])
    assert np.allclose(quick.turns[between], calibrated.changes_at(lines.moves(prep.source_yaw,
                                                                               np.array(yaws)[between])))
    refined = rot.refine(quick)
    assert np.allclose(refined.turns, r.turns) and refined.redone == r.redone
    # the same frames: the two paths' turns differ in the last bits (1e-14 degrees), which may round a pixel otherwise
    assert max(np.abs(np.asarray(a, int) - np.asarray(b, int)).max() for a, b in zip(refined.frames, r.frames)) <= 1
