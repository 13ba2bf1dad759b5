"""core/video.py on clips made here with PyAV (no binary fixtures): what a rendition is, and
every way an uploaded file can be wrong."""

from __future__ import annotations

import fractions
import math
import struct
from pathlib import Path

import av
import pytest
from PIL import Image, ImageDraw, ImageStat

from core import video

LIMITS = video.Limits(seconds=60.0, pixels=3840 * 2160)


def make_clip(
    path: Path, seconds: float = 2.0, size=(320, 180), fps: int = 15, audio: bool = True
) -> Path:
    """A moving white bar on grey, and a 440 Hz tone."""
    width, height = size
    with av.open(str(path), "w") as out:
        picture = out.add_stream("libx264", rate=fps)
        picture.width, picture.height, picture.pix_fmt = width, height, "yuv420p"
        sound = None
        if audio:
            sound = out.add_stream("aac", rate=48_000)
            sound.layout = "mono"
        for i in range(int(seconds * fps)):
            image = Image.new("RGB", size, (90, 90, 90))
            x = 40 + (i * 7) % max(1, width - 80)  # clear of the edges
            ImageDraw.Draw(image).rectangle((x, 10, x + 20, height - 10), fill=(255, 255, 255))
            frame = av.VideoFrame.from_image(image)
            frame.pts, frame.time_base = i, fractions.Fraction(1, fps)
            out.mux(picture.encode(frame))
        out.mux(picture.encode(None))
        if sound is not None:
            for frame in tone(seconds, 440, 8000, 1024):
                out.mux(sound.encode(frame))
            out.mux(sound.encode(None))
    return path


def tone(seconds: float, hertz: int, loudness: int, per_frame: int):
    """A sine tone as mono 48 kHz frames of `per_frame` samples."""
    samples = int(seconds * 48_000)
    for start in range(0, samples, per_frame):
        n = min(per_frame, samples - start)
        frame = av.AudioFrame(format="s16", layout="mono", samples=n)
        frame.planes[0].update(
            b"".join(
                struct.pack(
                    "<h", int(loudness * math.sin(2 * math.pi * hertz * (start + k) / 48_000))
                )
                for k in range(n)
            )
        )
        frame.sample_rate, frame.pts = 48_000, start
        frame.time_base = fractions.Fraction(1, 48_000)
        yield frame


def boxes(path: Path) -> list[bytes]:
    """The MP4's top-level box types, in order."""
    data, found, at = path.read_bytes(), [], 0
    while at + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        found.append(kind)
        at += size if size else len(data)
    return found


def corner_brightness(path: Path) -> float:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    image = frame.to_image().convert("L")
    corner = image.crop((image.width - 60, 10, image.width - 10, 20))  # top right
    return ImageStat.Stat(corner).mean[0]


def test_a_rendition_is_h264_and_aac_in_an_mp4_that_starts_with_its_index(tmp_path):
    source = make_clip(tmp_path / "source.mp4")
    seen: list[float] = []
    info = video.transcode(
        source, tmp_path / "out.mp4", height=120, on_progress=seen.append, limits=LIMITS
    )
    assert (info.width, info.height, info.has_audio) == (214, 120, True)
    assert abs(info.seconds - 2.0) < 0.2
    with av.open(str(tmp_path / "out.mp4")) as out:
        kinds = {s.type: s.codec_context.name for s in out.streams}
        assert kinds == {"video": "h264", "audio": "aac"}
        assert (out.streams.video[0].codec_context.width, out.streams.video[0].height) == (214, 120)
        assert abs(out.duration / av.time_base - 2.0) < 0.2
        assert "encoder" not in out.metadata  # nothing about how or from what it was made
        assert sum(1 for _ in out.decode(video=0)) == 30
    order = boxes(tmp_path / "out.mp4")
    assert order.index(b"moov") < order.index(b"mdat")  # a player can start before the end
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 10


def test_a_rendition_is_never_larger_than_its_source(tmp_path):
    source = make_clip(tmp_path / "source.mp4", seconds=1.0, audio=False)
    info = video.transcode(source, tmp_path / "out.mp4", height=1080, limits=LIMITS)
    assert (info.width, info.height, info.has_audio) == (320, 180, False)


def test_the_watermark_is_burned_into_every_rendition_and_the_poster(tmp_path):
    source = make_clip(tmp_path / "source.mp4", seconds=1.0)
    mark = Image.new("RGBA", (60, 16), (255, 255, 255, 255))
    video.transcode(source, tmp_path / "plain.mp4", height=180, limits=LIMITS)
    video.transcode(source, tmp_path / "marked.mp4", height=180, watermark=mark, limits=LIMITS)
    assert corner_brightness(tmp_path / "plain.mp4") < 120  # the grey background
    assert corner_brightness(tmp_path / "marked.mp4") > 230

    size = video.poster(source, tmp_path / "poster.jpg", height=180, watermark=mark, limits=LIMITS)
    assert size == (320, 180)
    with Image.open(tmp_path / "poster.jpg") as poster:
        assert poster.format == "JPEG"
        corner = poster.convert("L").crop((250, 10, 300, 20))
        assert ImageStat.Stat(corner).mean[0] > 230


def brightest(path: Path) -> int:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    return max(frame.to_image().convert("L").getextrema())


def test_the_teaser_is_a_short_silent_blur(tmp_path):
    source = make_clip(tmp_path / "source.mp4", seconds=2.0)
    info = video.teaser(source, tmp_path / "teaser.mp4", limits=LIMITS, seconds=1.0, height=144)
    assert (info.width, info.height, info.has_audio) == (256, 144, False)
    with av.open(str(tmp_path / "teaser.mp4")) as out:
        assert [s.type for s in out.streams] == ["video"]
        assert abs(out.duration / av.time_base - 1.0) < 0.15
    video.transcode(source, tmp_path / "plain.mp4", height=144, limits=LIMITS)
    assert brightest(tmp_path / "plain.mp4") > 240  # the white bar, sharp
    assert brightest(tmp_path / "teaser.mp4") < 200  # spread into the grey around it


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty."),
        (b"\x00\x01garbage" * 1000, "This is not a video we can read."),
    ],
)
def test_what_is_not_a_video_is_refused_with_a_reason(tmp_path, content, message):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    with pytest.raises(video.VideoError, match=message):
        video.transcode(bad, tmp_path / "out.mp4", height=120, limits=LIMITS)
    assert not (tmp_path / "out.mp4").exists()


def test_a_file_cut_short_is_refused_and_leaves_nothing(tmp_path):
    whole = make_clip(tmp_path / "source.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole[: len(whole) // 2])  # the index is written last: it is gone
    with pytest.raises(video.VideoError):
        video.transcode(cut, tmp_path / "out.mp4", height=120, limits=LIMITS)
    assert not (tmp_path / "out.mp4").exists()


def test_sound_alone_is_not_a_video(tmp_path):
    with av.open(str(tmp_path / "sound.m4a"), "w", format="mp4") as out:
        sound = out.add_stream("aac", rate=48_000)
        frame = av.AudioFrame(format="s16", layout="mono", samples=1024)
        frame.planes[0].update(bytes(2048))
        frame.sample_rate, frame.pts = 48_000, 0
        out.mux(sound.encode(frame))
        out.mux(sound.encode(None))
    with pytest.raises(video.VideoError, match="no picture"):
        video.probe(tmp_path / "sound.m4a", LIMITS)


def test_too_long_or_too_large_is_refused_before_any_work(tmp_path):
    source = make_clip(tmp_path / "source.mp4", seconds=2.5, audio=False)
    with pytest.raises(video.VideoError, match="up to 1 second long"):
        video.transcode(
            source, tmp_path / "out.mp4", height=120, limits=video.Limits(seconds=1, pixels=10**8)
        )
    # A little past the limit (a phone's "2 s" clip is often 2.03 s) is within it.
    assert video.probe(source, video.Limits(seconds=2, pixels=10**8)).seconds > 2.4
    with pytest.raises(video.VideoError, match="too large"):
        video.probe(source, video.Limits(seconds=60, pixels=320 * 179))
    info = video.probe(source, LIMITS)
    assert (info.width, info.height, info.has_audio) == (320, 180, False)


def test_a_watermarked_teaser_is_blurred_under_its_mark(tmp_path):
    source = make_clip(tmp_path / "source.mp4", seconds=2.0)
    mark = Image.new("RGBA", (40, 10), (255, 255, 255, 255))
    video.teaser(
        source, tmp_path / "teaser.mp4", limits=LIMITS, seconds=1.0, height=144, watermark=mark
    )
    with av.open(str(tmp_path / "teaser.mp4")) as container:
        image = next(container.decode(video=0)).to_image().convert("L")
    below_the_mark = image.crop((0, 24, image.width, image.height))
    assert max(below_the_mark.getextrema()) < 200  # the white bar, blurred away
    corner = image.crop((image.width - 44, 10, image.width - 12, 16))
    assert ImageStat.Stat(corner).mean[0] > 230  # the mark itself, sharp


def make_recording(path: Path, seconds: float = 2.0, container: str = "webm") -> Path:
    """What MediaRecorder gives: Opus in WebM (a 330 Hz tone)."""
    with av.open(str(path), "w", format=container) as out:
        sound = out.add_stream("libopus", rate=48_000)
        sound.layout = "mono"
        for frame in tone(seconds, 330, 6000, 960):
            out.mux(sound.encode(frame))
        out.mux(sound.encode(None))
    return path


def test_a_voice_note_becomes_mono_aac_every_browser_plays(tmp_path):
    recording = make_recording(tmp_path / "note.webm", seconds=2.0)
    seconds = video.voice_note(recording, tmp_path / "note.m4a", limits=LIMITS)
    assert abs(seconds - 2.0) < 0.1
    with av.open(str(tmp_path / "note.m4a")) as note:
        (stream,) = note.streams
        assert stream.type == "audio" and stream.codec_context.name == "aac"
        assert stream.codec_context.layout.name == "mono"
        assert "Lavf" not in str(note.metadata)
        assert abs(note.duration / av.time_base - 2.0) < 0.1


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda path: make_clip(path.with_suffix(".mp4")), "sound only"),
        (lambda path: make_clip(path.with_suffix(".mp4"), audio=False), "sound only"),
        (lambda path: make_recording(path, seconds=5.0), "up to 3 seconds long"),
        (lambda path: path.write_bytes(b"\x1a\x45\xdf\xa3" + bytes(500)) and path, "read"),
    ],
    ids=["a video", "a silent video", "too long", "broken"],
)
def test_a_voice_note_that_cannot_be_one(tmp_path, make, message):
    source = make(tmp_path / "note.webm")
    with pytest.raises(video.VideoError, match=message):
        video.voice_note(source, tmp_path / "note.m4a", limits=video.Limits(3, 100))
    assert not (tmp_path / "note.m4a").exists()


def test_one_reading_of_the_source_makes_every_rendition(tmp_path):
    source = make_clip(tmp_path / "source.mp4", size=(640, 360), seconds=1.0)
    mark = Image.new("RGBA", (60, 16), (255, 255, 255, 255))
    seen: list[float] = []
    made = video.renditions(
        source,
        [
            video.Rendition(tmp_path / "big.mp4", 1080, mark),
            video.Rendition(tmp_path / "small.mp4", 180),
        ],
        limits=LIMITS,
        on_progress=seen.append,
    )
    assert [(m.width, m.height, m.has_audio) for m in made] == [(640, 360, True), (320, 180, True)]
    for name, height in (("big", 360), ("small", 180)):
        with av.open(str(tmp_path / f"{name}.mp4")) as out:
            assert out.streams.video[0].codec_context.height == height
            assert [s.type for s in out.streams] == ["video", "audio"]
    assert corner_brightness(tmp_path / "big.mp4") > 230  # each its own watermark, or none
    assert corner_brightness(tmp_path / "small.mp4") < 120
    assert seen[-1] == 1.0 and seen == sorted(seen)


def test_when_one_rendition_fails_none_is_left(tmp_path):
    source = make_clip(tmp_path / "source.mp4", seconds=4.0)
    with pytest.raises(video.VideoError, match="up to 2 seconds"):
        video.renditions(
            source,
            [video.Rendition(tmp_path / "a.mp4", 180), video.Rendition(tmp_path / "b.mp4", 90)],
            limits=video.Limits(seconds=2.0, pixels=LIMITS.pixels),
        )
    assert not (tmp_path / "a.mp4").exists() and not (tmp_path / "b.mp4").exists()
