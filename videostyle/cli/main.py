"""The command line's parser (every subcommand and its options) and main(): one line and an exit code
for every error, never a traceback unless --debug."""
from __future__ import annotations

import argparse
import dataclasses
import errno
import signal
import sys

from .. import __version__
from ..config import AT_LEAST_1, OutputOptions, StylizeConfig
from ..errors import ConfigError, VideostyleError
from . import handlers
from .batch import batch
from .options import (ENCODE, SECTIONS, add_cluster_options, add_config_flags, add_config_options,
                      add_dream_options, add_iterations, add_stylize_options, add_student_options, bounded,
                      bounds_of, check_args, ints, require_bounds, help_section, subparsers)
from .progress import Stop


class _Parser(argparse.ArgumentParser):
    """A usage error is one line too (exit 2, as argparse's): the stylize usage text alone is a screenful,
    and it would hide the one line that says what was wrong. --help still shows it all."""

    def error(self, message, hint=None):
        self.exit(2, f"videostyle: error: {message} ({hint or f'see {self.prog} --help'})\n")

    def parse_args(self, args=None, namespace=None):
        namespace, extra = self.parse_known_args(args, namespace)
        if extra:
            hint = None
            if getattr(namespace, "command", None) == "batch" and extra[0].startswith("--"):
                # A --inputs batch's stylize options travel in one string, as a job file's [defaults] do.
                hint = 'batch takes stylize options in one quoted --options "--max-side 512 …"'
            self.error(f"unrecognized arguments: {' '.join(extra)}", hint)
        return namespace


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="videostyle", description="Artistic style transfer for videos, without flicker "
                                                    "(Ruder, Dosovitskiy & Brox 2016).")
    parser.add_argument("--version", action="version", version=f"videostyle {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("stylize", help="stylize a video or frame sequence", description="Stylize a video or frame sequence.")
    add_stylize_options(p)
    add_cluster_options(p)
    p.set_defaults(run=handlers.stylize)

    p = sub.add_parser("dream", help="DeepDream a video: amplify what a VGG19 layer sees, without flicker",
                       description="DeepDream a video or frame sequence: each frame climbs the energy of a VGG19 "
                                   "layer over octaves, warm-started from and pulled toward the previous dream "
                                   "warped by optical flow (--temporal-weight 0 --init image: independent frames). "
                                   "Takes the stylize options except the painting's.")
    add_dream_options(p)
    add_cluster_options(p)
    p.set_defaults(run=handlers.dream)

    # A few frames, each solved as a first frame, as a contact sheet: with the stylize or the dream options.
    for name, verb, made, command, add in (("preview", "stylize", "stylized", "stylize", add_stylize_options),
                                           ("dream-preview", "dream", "dreamed", "dream", add_dream_options)):
        p = sub.add_parser(name, help=f"{verb} a few evenly spaced frames into a contact sheet PNG",
                           description=f"{verb.capitalize()} --count evenly spaced frames (each as a first frame) and "
                                       f"write a contact sheet: source above, {made} below. Takes the {command} "
                                       f"options, so a setting chosen here can be copied to the {command} command.")
        add(p, preview=True)
        bounded(p.add_argument("--count", type=int, default=6, help="number of frames (default %(default)s)"),
                AT_LEAST_1)
        p.set_defaults(run=handlers.preview)

    p = sub.add_parser("keyframes", help="write the keyframes --method student learns from, for an artist to retouch",
                       description="Choose the keyframes --method student would (the first frame, frames with much "
                                   "new picture, at least every --keyframe-every frames), stylize them with the "
                                   "optimizer chained by flow, and write source.NNNN.png and stylized.NNNN.png to "
                                   "DIR. Retouch a stylized frame and give it back: stylize --method student "
                                   "--keyframe NNNN=DIR/stylized.NNNN.png.")
    p.add_argument("input", help="video file, a folder of images, or a pattern like frames/%%04d.png")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="a new (or empty) folder for the PNGs")
    p.add_argument("--style", action="append", required=True, metavar="IMAGE", help="style image; repeat for several")
    for title in SECTIONS:
        help_section(p, title)
    add_config_options(p, StylizeConfig, skip=("multipass", "chunks", "method", "draft_finish"), hooks={"iterations_first": add_iterations})
    add_student_options(help_section(p, SECTIONS[5]), load=False)
    add_config_flags(help_section(p, "input and output"), OutputOptions, ["frames", "fps", "flow_dir", "overwrite"])
    add_config_flags(help_section(p, "work folder and resume"), OutputOptions, ["work_dir", "restart", "keep_work"])
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(run=handlers.keyframes)

    p = sub.add_parser("batch", help="run many inputs × styles from a TOML file or a glob",
                       description="Run stylize jobs one after another. Every job is checked first (option "
                                   "types, paths relative to the job file, no two jobs writing the same file): "
                                   "a bad job file runs nothing and exits 2. A failing job, whatever the cause, "
                                   "is reported in the summary and the rest continue; exit 1 when any failed. With "
                                   "--cluster the jobs run as Ray tasks, several at once.")
    p.add_argument("jobfile", nargs="?", metavar="JOB.toml",
                   help="[defaults] table of stylize options and one [[job]] table per job (input, style, output, …)")
    p.add_argument("--inputs", metavar="GLOB", help="instead of a job file: inputs matching this glob (quote it)")
    p.add_argument("--style", action="append", metavar="IMAGE", help="with --inputs: style image(s), one job each")
    p.add_argument("--dream", action="store_true", help="with --inputs: one DeepDream job per input, no --style")
    p.add_argument("--output-dir", metavar="DIR", help="with --inputs: where outputs go")
    p.add_argument("--ext", default=".mp4", help="with --inputs: output extension for video inputs (default .mp4)")
    p.add_argument("--options", default="", metavar='"--max-side 256 …"',
                   help="with --inputs: stylize options for every job, as one quoted string")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--log-format", choices=("text", "json"), default="text")
    from ..config import ClusterOptions
    add_config_options(p, ClusterOptions)  # --cluster: the jobs run as Ray tasks, several at once
    for action in p._actions:
        if action.dest == "workers":  # a batch's worker is a job, not a chunk's actor
            action.help = "jobs at once, each in its own worker; default one per GPU, else one per 2 CPU cores"
    p.set_defaults(run=batch)

    p = sub.add_parser("evaluate", help="measure temporal stability (and fidelity) of a stylized video",
                       description="Warping error at frame offsets (flow and consistency weights from the SOURCE "
                                   "frames), flicker index, and with --style the content and style distances.")
    p.add_argument("stylized", help="stylized video or frame sequence")
    p.add_argument("--source", required=True, help="the unstylized input it was made from")
    p.add_argument("--style", action="append", help="style image(s): adds per-frame content and style distances")
    bounded(p.add_argument("--offsets", type=ints, default=(1, 2, 4), help="frame offsets (default 1,2,4)"),
             bounds_of(StylizeConfig, "long_term"))
    add_config_flags(p, StylizeConfig, ("flow", "max_side", "device"), {
        "max_side": {"default": None, "help": "evaluate at this size (longer side) instead of the source's"},
        # The judge stays one flow whatever renders: judge a render with a flow it did not use.
        "flow": {"default": "dis", "help": "the flow the warping error is measured through (default dis; "
                                           "auto = what stylize uses on this machine's CPU for frames of this size)"}})
    add_config_flags(p, OutputOptions, ("frames", "deinterlace"), {
        "frames": {"help": "the source range that was stylized (as stylize --frames)"},
        "deinterlace": {"help": "a source flagged interlaced, read as stylize --deinterlace read it (default "
                                "auto; give the render's field or off)"}})
    p.add_argument("--json", metavar="PATH", help="write all numbers, per frame too, as JSON")
    p.add_argument("--plot", metavar="PATH.png", help="draw per-frame curves (needs matplotlib); .png, .svg or .pdf")
    p.set_defaults(run=handlers.evaluate)

    p = sub.add_parser("flow", help="compute optical flow and reliability masks for other tools",
                       description="Write forward_i_j.flo, backward_j_i.flo (Middlebury) and reliable_*.pgm masks "
                                   "with 1-based frame numbers, as artistic-videos names them.")
    p.add_argument("input", help="video file or frame sequence")
    p.add_argument("-o", "--output", required=True, help="folder for the .flo and .pgm files")
    add_config_flags(p, StylizeConfig, ("flow", "flow_preset", "long_term", "max_side"), {
        "long_term": {"help": "frame offsets to write (default 1,2,4, as stylize reads them)"},
        "flow": {"help": "optical flow (default auto: what stylize uses on the CPU, deepflow+dis for frames of "
                           "50 px a side or more, else dis)"},
        "max_side": {"default": None, "help": "compute at this size (longer side), as stylize --max-side"}})
    add_config_flags(p, OutputOptions, ("frames",), {
        "frames": {"help": "only these frames (as stylize --frames): files keep the frames' own numbers, so "
                           "the folder serves stylize --frames with the same range"}})
    p.set_defaults(run=handlers.flow)

    p = sub.add_parser("assemble", help="encode a kept work folder into another output, without rendering",
                       description="Encode the finished frames of a work folder (stylize --keep-work, or an "
                                   "interrupted run) into a video or frames again: another codec, 16-bit "
                                   "frames, the source size, a side-by-side video. The input it was rendered "
                                   "from must still be there (timing, audio, full-size frames).")
    p.add_argument("work_dir", metavar="WORK_DIR", help="the work folder (OUTPUT.videostyle)")
    p.add_argument("-o", "--output", required=True, help="video file, or a folder / pattern for frames")
    add_config_options(p, OutputOptions, skip=set(f.name for f in dataclasses.fields(OutputOptions)) - set(ENCODE),
                       grouped=False)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(run=handlers.assemble)

    from ..commands.demo import DEFAULT_FOLDER, DEMO_FRAMES, DEMO_MAX_SIDE
    p = sub.add_parser("demo", help="stylize the bundled clip with a bundled painting: see it work, no files needed",
                       description="Stylize the bundled 3 s clip with a bundled painting and write the stylized "
                                   "video (with audio), a side-by-side video, a contact sheet, and a JSON report "
                                   "with its plot into one folder.")
    p.add_argument("-o", "--output", default=DEFAULT_FOLDER, metavar="DIR", help="folder for the results (default %(default)s)")
    p.add_argument("--style", default="starry_night", metavar="NAME",
                   help="a bundled painting (videostyle styles) or an image file (default %(default)s)")
    add_config_flags(p, StylizeConfig, ("max_side", "device"), {
        "max_side": {"default": DEMO_MAX_SIDE, "help": "processing size (default %(default)s; 512 on a GPU)"}})
    add_config_flags(p, OutputOptions, ("overwrite",), {"overwrite": {"help": "replace the results of an earlier demo"}})
    p.add_argument("--quiet", action="store_true")
    add_config_flags(p, OutputOptions, ("frames",), {
        "frames": {"default": DEMO_FRAMES, "help": "frames of the bundled 36-frame clip (default %(default)s: about "
                                                  "two minutes on 2 CPU cores; 0:36 for all of it)"}})
    # For the tests: a shorter run (iteration caps as stylize takes them; none given: the demo's own).
    iterations = add_iterations(p)
    iterations.default, iterations.help = None, argparse.SUPPRESS
    p.set_defaults(run=handlers.demo)

    p = sub.add_parser("styles", help="list the bundled paintings (names for --style)",
                       description="List the bundled paintings: name and file. Give the name to --style.")
    p.set_defaults(run=handlers.styles)
    require_bounds(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "style", None):  # a bundled painting's name (videostyle styles) stands for its file
        from ..io.bundled import resolve_style
        style = args.style
        args.style = resolve_style(style) if isinstance(style, str) else [resolve_style(s) for s in style]
    previous = Stop.install()
    try:
        check_args(subparsers(parser)[args.command], args)
        return args.run(args)
    except VideostyleError as exc:
        print(f"videostyle: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
    except KeyboardInterrupt:
        print("videostyle: interrupted; finished frames are kept in the work folder: rerun the same command "
              "to continue", file=sys.stderr)
        return 128 + int(Stop.received or signal.SIGINT)  # the shell's convention: 130 Ctrl-C, 143 TERM, 129 HUP
    except MemoryError:
        print("videostyle: error: out of memory; try a smaller --max-side", file=sys.stderr)
        return 1
    except OSError as exc:  # the disk or the file system, where no stage worded it already
        where = f" ({exc.filename})" if exc.filename else ""
        hint = "; finished frames are kept in the work folder: free space and rerun the same command" \
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else ""
        print(f"videostyle: error: {exc.strerror or exc}{where}{hint}", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug, not bad input: still one line unless asked
        if args.debug:
            raise
        message = str(exc).splitlines()[0] if str(exc) else ""
        if "out of memory" in message.lower():
            print("videostyle: error: the device ran out of memory; try a smaller --max-side", file=sys.stderr)
        else:
            print(f"videostyle: internal error: {type(exc).__name__}: {message} (rerun with --debug for details)",
                  file=sys.stderr)
        return 3
    finally:
        Stop.restore(previous)


if __name__ == "__main__":
    sys.exit(main())
