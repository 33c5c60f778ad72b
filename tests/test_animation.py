"""Strip, GIF and MP4: sizes, ping-pong order, and a video that browsers play (H.264, yuv420p, even sides)."""
from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from headrot_core.animation import pingpong, save_animation, save_video, upscale, video_size

COLOURS = [(230, 20, 20), (20, 230, 20), (20, 20, 230), (230, 230, 20), (20, 230, 230)]


def flat_frames(size: tuple[int, int]) -> list[Image.Image]:
    return [Image.new("RGB", size, c) for c in COLOURS]


def nearest_colour(pixel: np.ndarray) -> int:
    return int(np.argmin(np.abs(np.array(COLOURS) - pixel.astype(int)).sum(1)))


def test_pingpong_goes_there_and_back_without_repeating_the_ends():
    assert pingpong([0, 1, 2, 3]) == [0, 1, 2, 3, 2, 1]


@pytest.mark.parametrize("size, expected", [((64, 64), (512, 512)), ((101, 77), (672, 512)),
                                            ((1024, 768), (1024, 768)), ((1023, 601), (1022, 600))])
def test_video_size_is_even_and_at_least_512_on_the_short_side(size, expected):
    assert video_size(size) == expected


def test_mp4_is_h264_pingpong_at_least_512px(tmp_path):
    import imageio_ffmpeg

    path = save_video(flat_frames((64, 48)), tmp_path / "turn.mp4", fps=8)
    meta = next(imageio_ffmpeg.read_frames(str(path)))
    assert meta["codec"] == "h264" and meta["pix_fmt"].startswith("yuv420p")
    video = iio.imread(path, plugin="FFMPEG", index=None)
    assert video.shape == (2 * len(COLOURS) - 2, 512, 682, 3)
    order = [nearest_colour(f[256, 341]) for f in video]
    assert order == [0, 1, 2, 3, 4, 3, 2, 1]


def test_save_animation_picks_the_format_by_suffix(tmp_path):
    frames = flat_frames((120, 90))
    mp4 = save_animation(frames, tmp_path / "a.mp4")
    assert iio.imread(mp4, plugin="FFMPEG", index=None).shape[:3] == (8, 512, 682)
    gif = Image.open(save_animation(frames, tmp_path / "a.gif", size=256))
    assert gif.size == (256, 192), "a whole photo keeps its aspect ratio"
    assert gif.n_frames == 8


def test_upscale_keeps_squares_square_and_photos_in_proportion():
    assert upscale([Image.new("RGB", (64, 64))], 256)[0].size == (256, 256)
    assert upscale([Image.new("RGB", (300, 200))], 600)[0].size == (600, 400)


def test_figures_are_written_by_their_suffix_and_a_jpeg_stays_close(tmp_path):
    """The docs' sheets are JPEGs to keep the repository small (imaging.save_figure); a PNG stays exact."""
    from headrot_core.imaging import save_figure

    rng = np.random.default_rng(0)
    smooth = np.kron(rng.integers(0, 256, (12, 12, 3)), np.ones((16, 16, 1))).astype(np.uint8)
    image = Image.fromarray(smooth)
    png, jpg = save_figure(image, tmp_path / "a" / "s.png"), save_figure(image, tmp_path / "a" / "s.jpg")
    assert Image.open(png).format == "PNG" and np.array_equal(np.asarray(Image.open(png)), smooth)
    assert Image.open(jpg).format == "JPEG"
    assert np.abs(np.asarray(Image.open(jpg), float) - smooth).mean() < 3.0
