"""Video files and voice notes in and out, with PyAV (FFmpeg in-process: its wheels bundle x264,
AAC and Opus).

What a delivered rendition is: H.264 video in yuv420p and AAC audio
(48 kHz stereo) in an MP4 whose index comes first (`+faststart`: a player starts and seeks
before the whole file has arrived), scaled to at most a given height and never up, the
creator's watermark burned into the picture, and nothing of the source's metadata: a new file
is written from the decoded frames, and `+bitexact` leaves out even the encoder's name.

The source is read from a file as it is decoded, a few packets at a time: a 2 GB source never
sits in memory. Everything that can be wrong with a file people upload (not a video, cut short,
no picture, too long, too large a picture) raises `VideoError` with a sentence for the
uploader. Nothing here touches the database or storage: the caller gives paths.

The FFmpeg in PyAV's wheels has no `drawtext` filter: the watermark comes in as a picture with
an alpha channel (the caller draws it with Pillow) and goes onto every frame with the `overlay`
filter.
"""

from __future__ import annotations

import fractions
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import av.filter
from PIL import Image

# x264's settings: constant quality 23 (its default) at the "veryfast" preset, speed against
# size. A comparison with the ffmpeg command line must give it the same settings.
CRF = 23
PRESET = "veryfast"
# And two choices for memory (bench/video.py: the worker's peak on a 2 GB source): x264 splits
# each picture between its threads rather than working on several pictures at once, and its
# rate control looks 5 pictures ahead instead of the preset's 10. Together they take some
# 130 MB off a 1080-line encoder, for files about as large and a few per cent more time.
X264_PARAMS = "rc-lookahead=5"
AUDIO_RATE = 48_000
# A file may run a little past a limit and still be within it: a phone's "30 s" clip is often
# 30.03 s, a recorder stops on its first tick past the limit. The header's length and the
# decoded one are both held to the limit plus this.
LENGTH_MARGIN = 1.0
VOICE_BIT_RATE = 64_000  # AAC, mono: clear speech in about 0.5 MB a minute


class VideoError(Exception):
    """A file that cannot become a video here; the message is for the person who uploaded it."""


@dataclass(frozen=True)
class Limits:
    """What an upload may be: at most `seconds` long, at most `pixels` a picture."""

    seconds: float
    pixels: int


@dataclass(frozen=True)
class VideoInfo:
    seconds: float
    width: int
    height: int
    has_audio: bool


@dataclass(frozen=True)
class Rendition:
    """One output of `renditions`: an MP4 at `target` at most `height` high, `watermark` (an
    RGBA picture) in its corner."""

    target: Path
    height: int
    watermark: Image.Image | None = None


def probe(source: Path, limits: Limits) -> VideoInfo:
    """What the source is, from its header (nothing decoded), or VideoError."""
    with _open(source) as container:
        return _info(container, limits)


def transcode(
    source: Path,
    target: Path,
    *,
    height: int,
    limits: Limits,
    watermark: Image.Image | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> VideoInfo:
    """Write the rendition of `source` at most `height` pixels high to `target` (an MP4) and
    return what was written. `on_progress` is told the share done (0.0–1.0) at each whole per
    cent. A source that turns out longer than it said stops at the limit with VideoError,
    and so does one that cannot be decoded midway; `target` is then removed."""
    (made,) = _write_all(source, [Rendition(target, height, watermark)], limits, on_progress)
    return made


def renditions(
    source: Path,
    outputs: list[Rendition],
    *,
    limits: Limits,
    on_progress: Callable[[float], None] | None = None,
) -> list[VideoInfo]:
    """`transcode` into several renditions at once: the source is read and decoded once and
    every picture goes to each (what a video's processing does for its 1080- and 480-line
    copies). Every target is removed when one fails."""
    return _write_all(source, outputs, limits, on_progress)


def poster(
    source: Path,
    target: Path,
    *,
    height: int,
    limits: Limits,
    watermark: Image.Image | None = None,
) -> tuple[int, int]:
    """A JPEG of the frame a tenth of the way in (past a black first frame), at most `height`
    high, watermarked like the renditions. Returns its width and height."""
    with _open(source) as container:
        info = _info(container, limits)
        stream = container.streams.video[0]
        at = info.seconds / 10
        picture = None
        try:
            for frame in container.decode(stream):
                picture = frame
                if frame.time is not None and frame.time >= at:
                    break
        except av.FFmpegError as exc:
            if picture is None:
                raise VideoError("The video cannot be read.") from exc
        if picture is None:
            raise VideoError("The video has no pictures.")
        width, out_height = _scaled(info, height)
        image = picture.to_image().convert("RGB").resize((width, out_height), Image.LANCZOS)
        if watermark is not None:
            corner = (max(0, width - watermark.width - _MARGIN), _MARGIN)
            mark = watermark.convert("RGBA")
            image.paste(mark, corner, mark)
        image.save(target, "JPEG", quality=85, optimize=True)
        return width, out_height


def teaser(
    source: Path,
    target: Path,
    *,
    limits: Limits,
    seconds: float = 3.0,
    height: int = 144,
    watermark: Image.Image | None = None,
) -> VideoInfo:
    """What the locked are shown: the first `seconds`, small, blurred past recognition and
    silent, in the same MP4 form as a rendition (watermarked too). `target` is removed when it
    fails."""
    (made,) = _write_all(
        source, [Rendition(target, height, watermark)], limits, None, until=seconds, blur=12
    )
    return made


def voice_note(source: Path, target: Path, *, limits: Limits) -> float:
    """A recorded voice note (WebM/Opus from Chrome and Firefox, MP4/AAC from Safari, or any
    sound file) to AAC, mono, in an MP4 (`.m4a`) that every browser plays, without the source's
    metadata. Returns its length in seconds. A file with a picture, or no sound, or too long,
    raises VideoError; `target` is then removed."""
    try:
        with _open(source) as container:
            if container.streams.video:
                raise VideoError("A voice note is sound only: this file has a picture.")
            if not container.streams.audio:
                raise VideoError("The file has no sound.")
            sound_in = container.streams.audio[0]
            seconds = _seconds(container, sound_in)
            if seconds is not None and seconds > limits.seconds + LENGTH_MARGIN:
                raise VideoError(f"Voice notes can be up to {minutes_text(limits.seconds)} long.")
            return _voice(container, sound_in, target, limits)
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def _voice(container, sound_in, target: Path, limits: Limits) -> float:
    # MediaRecorder's WebM often says no length in its header: the limit is also checked on
    # what is decoded.
    output = av.open(
        str(target),
        mode="w",
        format="mp4",
        options={"movflags": "+faststart", "fflags": "+bitexact"},
    )
    heard = 0
    with output:
        sound_out = output.add_stream("aac", rate=AUDIO_RATE)
        sound_out.layout = "mono"
        sound_out.bit_rate = VOICE_BIT_RATE
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=AUDIO_RATE)
        try:
            for frame in container.decode(sound_in):
                for sound in resampler.resample(frame):
                    heard += sound.samples
                    if heard > (limits.seconds + LENGTH_MARGIN) * AUDIO_RATE:
                        raise VideoError(
                            f"Voice notes can be up to {minutes_text(limits.seconds)} long."
                        )
                    sound.pts = None
                    output.mux(sound_out.encode(sound))
        except av.FFmpegError as exc:
            raise VideoError("The recording is damaged and cannot be played.") from exc
        for sound in resampler.resample(None):
            heard += sound.samples
            sound.pts = None
            output.mux(sound_out.encode(sound))
        output.mux(sound_out.encode(None))
    if heard == 0:
        raise VideoError("The recording is empty.")
    return heard / AUDIO_RATE


# The watermark goes in the top-right corner, a few pixels in: players draw their controls
# over the bottom of the picture.
_MARGIN = 8


def _open(source: Path):
    if not source.is_file() or source.stat().st_size == 0:
        raise VideoError("The file is empty.")
    try:
        return av.open(str(source), mode="r", metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise VideoError("This is not a video we can read.") from exc


def _info(container, limits: Limits) -> VideoInfo:
    if not container.streams.video:
        raise VideoError("The file has no picture: it is not a video.")
    stream = container.streams.video[0]
    width, height = stream.codec_context.width, stream.codec_context.height
    if not width or not height:
        raise VideoError("This is not a video we can read.")
    if width * height > limits.pixels:
        raise VideoError(
            f"The picture is too large ({width} × {height}): up to {limits.pixels:,} pixels."
        )
    seconds = _seconds(container, stream)
    if seconds is None or seconds <= 0:
        raise VideoError("The video's length cannot be read: it may be cut short.")
    if seconds > limits.seconds + LENGTH_MARGIN:
        raise VideoError(f"Videos can be up to {minutes_text(limits.seconds)} long.")
    return VideoInfo(seconds, width, height, bool(container.streams.audio))


def _seconds(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def minutes_text(seconds: float) -> str:
    """A limit in words: "60 minutes", "1 minute", "45 seconds"."""
    minutes, rest = int(seconds // 60), int(seconds)
    if minutes:
        return f"{minutes} minute{'s' * (minutes != 1)}"
    return f"{rest} second{'s' * (rest != 1)}"


def _scaled(info: VideoInfo, height: int) -> tuple[int, int]:
    """At most `height` high, never up, both sides even (yuv420p halves them)."""
    out_height = min(height, info.height) // 2 * 2
    out_width = max(2, round(info.width * out_height / info.height / 2) * 2)
    return out_width, max(2, out_height)


def _write_all(
    source: Path,
    renditions: list[Rendition],
    limits: Limits,
    on_progress: Callable[[float], None] | None,
    until: float | None = None,
    blur: float = 0.0,
) -> list[VideoInfo]:
    """The source, opened and checked, decoded once into every rendition; every target removed
    when anything fails."""
    try:
        with _open(source) as container:
            info = _info(container, limits)
            return _transcode(container, info, renditions, limits, on_progress, until, blur)
    except BaseException:
        for rendition in renditions:
            rendition.target.unlink(missing_ok=True)
        raise


def _transcode(
    container,
    info: VideoInfo,
    renditions: list[Rendition],
    limits: Limits,
    on_progress: Callable[[float], None] | None,
    until: float | None = None,
    blur: float = 0.0,
) -> list[VideoInfo]:
    """The source's pictures (and sound, unless `until` cuts a silent excerpt that long) to
    each rendition, blurred by `blur` (gblur's sigma, in output pixels) when it is not 0."""
    video_in = container.streams.video[0]
    video_in.thread_type = "AUTO"
    # A decoding thread a core (FFmpeg's own choice is one more): each holds pictures, 12 MB
    # apiece for 4K, and x264's threads keep the cores busy anyway.
    video_in.codec_context.thread_count = os.cpu_count() or 0
    audio_in = container.streams.audio[0] if container.streams.audio and until is None else None
    outputs: list[_Output] = []
    try:
        try:
            for rendition in renditions:
                outputs.append(_Output(rendition, info, video_in, audio_in, blur))
        except av.FFmpegError as exc:  # a picture format or rate no encoder or filter takes
            raise VideoError("This video's format cannot be processed.") from exc
        done_percent = -1
        written = 0.0
        streams = [video_in] + ([audio_in] if audio_in is not None else [])
        cut = False  # the excerpt has its length: read no further
        try:
            for packet in container.demux(*streams):
                if cut:
                    break
                for frame in packet.decode():
                    if packet.stream.type == "video":
                        if until is not None and frame.time is not None and frame.time >= until:
                            cut = True
                            break
                        if frame.time is not None:
                            written = max(written, frame.time)
                            if written > limits.seconds + LENGTH_MARGIN:
                                raise VideoError(
                                    f"Videos can be up to {minutes_text(limits.seconds)} long."
                                )
                        for output in outputs:
                            output.picture(frame)
                        if on_progress is not None:
                            percent = min(99, int(written / info.seconds * 100))
                            if percent > done_percent:
                                done_percent = percent
                                on_progress(percent / 100)
                    else:
                        for output in outputs:
                            output.sound(frame)
        except av.FFmpegError as exc:
            raise VideoError("The video is damaged and cannot be read to the end.") from exc
        made = [output.finish() for output in outputs]
    finally:
        for output in outputs:
            output.close()
    if on_progress is not None:
        on_progress(1.0)
    seconds = min(until, info.seconds) if until is not None else (written or info.seconds)
    return [VideoInfo(seconds, width, height, has_audio) for width, height, has_audio in made]


class _Output:
    """One rendition being written: its filter graph, its MP4 and its encoders."""

    def __init__(self, rendition: Rendition, info: VideoInfo, video_in, audio_in, blur: float):
        self.width, self.height = _scaled(info, rendition.height)
        self.pictures = _Pictures(video_in, self.width, self.height, rendition.watermark, blur)
        self.container = av.open(
            str(rendition.target),
            mode="w",
            format="mp4",
            options={"movflags": "+faststart", "fflags": "+bitexact"},
        )
        self.video = self.container.add_stream("libx264", rate=video_in.average_rate or 30)
        self.video.width, self.video.height = self.width, self.height
        self.video.pix_fmt = "yuv420p"
        self.video.options = {"crf": str(CRF), "preset": PRESET, "x264-params": X264_PARAMS}
        self.video.codec_context.thread_type = "SLICE"  # x264's sliced threads: see X264_PARAMS
        self.audio = self.resampler = None
        if audio_in is not None:
            self.audio = self.container.add_stream("aac", rate=AUDIO_RATE)
            self.audio.layout = "stereo"
            self.resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)

    def picture(self, frame) -> None:
        self.pictures.feed(frame)
        for picture in self.pictures.drain():
            self.container.mux(self.video.encode(picture))

    def sound(self, frame) -> None:
        if self.audio is None:
            return
        for sound in self.resampler.resample(frame):
            sound.pts = None
            self.container.mux(self.audio.encode(sound))

    def finish(self) -> tuple[int, int, bool]:
        """Flush what is buffered; (width, height, has sound) of what was written."""
        self.pictures.feed(None)
        for picture in self.pictures.drain():
            self.container.mux(self.video.encode(picture))
        self.container.mux(self.video.encode(None))
        if self.audio is not None:
            self.sound(None)
            self.container.mux(self.audio.encode(None))
        return self.width, self.height, self.audio is not None

    def close(self) -> None:
        self.container.close()


class _Pictures:
    """The filter graph every picture goes through: source → scale → (blur) → (overlay the
    watermark) → yuv420p. `feed` a decoded frame (None at the end), then `drain` the frames
    ready."""

    def __init__(
        self, video_in, width: int, height: int, watermark: Image.Image | None, blur: float
    ) -> None:
        self.graph = graph = av.filter.Graph()
        self.source = graph.add_buffer(template=video_in)
        scale = graph.add("scale", f"{width}:{height}:flags=bicubic")
        self.source.link_to(scale)
        last = scale
        if blur:  # as a locked image's preview: shrunk to an eighth, grown back, then blurred
            small = graph.add("scale", f"{max(2, width // 8)}:{max(2, height // 8)}")
            grown = graph.add("scale", f"{width}:{height}:flags=bilinear")
            blurred = graph.add("gblur", f"sigma={blur}")
            last.link_to(small)
            small.link_to(grown)
            grown.link_to(blurred)
            last = blurred
        mark = None
        if watermark is not None:
            mark = graph.add(
                "buffer",
                f"video_size={watermark.width}x{watermark.height}:pix_fmt=rgba:"
                "time_base=1/1000:pixel_aspect=1/1",
            )
            overlay = graph.add(
                "overlay",
                f"x=main_w-overlay_w-{_MARGIN}:y={_MARGIN}:eof_action=repeat",
            )
            last.link_to(overlay, 0, 0)
            mark.link_to(overlay, 0, 1)
            last = overlay
        pixels = graph.add("format", "yuv420p")
        last.link_to(pixels)
        self.sink = graph.add("buffersink")
        pixels.link_to(self.sink)
        graph.configure()
        if mark is not None:  # one still picture, repeated over every frame (eof_action)
            still = av.VideoFrame.from_bytes(
                watermark.convert("RGBA").tobytes(),
                watermark.width,
                watermark.height,
                format="rgba",
            )
            still.pts, still.time_base = 0, fractions.Fraction(1, 1000)
            mark.push(still)
            mark.push(None)

    def feed(self, frame) -> None:
        self.source.push(frame)

    def drain(self):
        while True:
            try:
                frame = self.sink.pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                return
            frame.pict_type = av.video.frame.PictureType.NONE  # let x264 choose
            yield frame
