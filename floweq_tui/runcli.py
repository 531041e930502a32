"""`floweq-tui` (the instrument), `--headless`, `render` and `devices`."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from typing import Any

from .cli import CliError, _add_control_options, control_values


def register(sub: argparse._SubParsersAction) -> None:
    """Add `devices` and `render` to the top-level parser."""
    d = sub.add_parser("devices", help="list audio devices (index, name, host API, channels)")
    d.set_defaults(func=cmd_devices)

    r = sub.add_parser(
        "render",
        help="render an audio file through the EQ offline (faster than real time)",
        description="Render IN through the same processing as the live engine and write OUT "
        "(format from its extension: .wav, .flac, .ogg). Controls as for the live instrument.",
    )
    r.add_argument("input", metavar="IN", help="input audio file (WAV/FLAC/OGG)")
    r.add_argument("output", metavar="OUT", help="output audio file (written atomically)")
    r.add_argument("-b", "--blocksize", type=int, default=512, metavar="N", help="default: 512")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _add_control_options(r)
    r.set_defaults(func=cmd_render)


def engine_config(args: argparse.Namespace) -> Any:
    """EngineConfig from the command line (validated, one-line errors)."""
    from .engine import EngineConfig, EngineError
    from .midi import cli as midi_cli  # MIDI

    latency: float | str = args.latency
    try:
        latency = float(args.latency)
    except ValueError:
        if args.latency not in ("low", "high"):
            raise CliError(
                f"--latency must be 'low', 'high' or seconds, not {args.latency!r}"
            ) from None
    cfg = EngineConfig(
        samplerate=args.samplerate,
        blocksize=args.blocksize,
        channels=args.channels,
        output_device=_device(args.device),
        input_device=_device(args.input_device),
        latency=latency,
        source=args.source,
        silent=args.silent,
        **midi_cli.config_fields(args),  # MIDI
    )
    try:
        cfg.validate()
    except EngineError as exc:
        raise CliError(str(exc)) from None
    return cfg


def _device(spec: str | None) -> int | str | None:
    if spec is None:
        return None
    return int(spec) if spec.strip().isdigit() else spec


def start_engine(args: argparse.Namespace) -> Any:
    """Validate the options, start the engine with the command-line controls applied."""
    from . import sources
    from .engine import Engine, EngineError
    from .vae import core_models

    cfg = engine_config(args)
    if cfg.source not in ("demo", "input", "silence"):
        try:
            sources.info(cfg.source)
        except sources.SourceError as exc:
            raise CliError(str(exc)) from None
    models = core_models()
    values = control_values(args, models.names, models.anchor_labels)
    engine = Engine(cfg, **values)
    try:
        engine.start()
    except EngineError as exc:
        raise CliError(str(exc)) from None
    return engine


def status_line(engine: Any) -> str:
    """One line of meters for the headless mode and logs."""
    m = engine.meters.snapshot()

    def db(v: float) -> str:
        return f"{20 * __import__('math').log10(v):6.1f}" if v > 1e-10 else "  -inf"

    return (
        f"in {m['lufs_in']:6.1f} LUFS  out {m['lufs_out']:6.1f} LUFS  peak {db(m['peak_out'])} dBFS"
        f"  auto {m['auto_gain_db']:+5.1f} dB  xruns {int(m['xruns'])}  cpu {100 * m['cpu']:4.1f}%"
        f"  z ({m['zx']:+.2f}, {m['zy']:+.2f}, {m['zz']:+.2f})  {engine.state}"
    )


def cmd_headless(args: argparse.Namespace) -> int:
    """Run the engine with no UI until SIGINT/SIGTERM, printing a status line now and then."""
    engine = start_engine(args)
    st = engine.status
    print(
        f"floweq-tui: {st.state} on {st.device}"
        f"{' (' + st.hostapi + ')' if st.hostapi else ''}, {st.samplerate} Hz, "
        f"{st.blocksize} frames, {st.channels} ch, source {st.source}",
        flush=True,
    )
    if st.message:
        print(f"floweq-tui: {st.message}", flush=True)
    from .midi.cli import midi_summary  # MIDI: one line about the ports

    if midi_line := midi_summary(engine):
        print(f"floweq-tui: {midi_line}", flush=True)
    stop = {"flag": False}

    def on_signal(signum: int, frame: Any) -> None:  # noqa: ARG001
        stop["flag"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    last = time.monotonic()
    said = {name: _health_key(h) for name, h in engine.health.items()}
    try:
        while not stop["flag"]:
            time.sleep(0.1)
            if stop["flag"]:
                break
            # the engine's supervisor restarts its children; say what it reports
            for name, h in engine.health.items():
                key = _health_key(h)
                if said.get(name) != key:
                    said[name] = key
                    if h.news:  # (a device hand-over shows in the engine state)
                        print(f"floweq-tui: {h.summary()}", flush=True)
            if args.status_every > 0 and time.monotonic() - last >= args.status_every:
                last = time.monotonic()
                print(status_line(engine), flush=True)
    finally:
        engine.stop()
    print("floweq-tui: stopped", flush=True)
    return 0


def _health_key(h: Any) -> tuple[Any, ...]:
    """What makes a child's health worth a line: its state and counters."""
    return (h.state, h.restarts, h.crashes, h.failures)


def cmd_ui(args: argparse.Namespace) -> int:
    """The terminal instrument (falls back to headless if the UI cannot start)."""
    try:
        from .tui.app import run_app
    except ImportError:
        print("floweq-tui: the terminal UI is not available; running headless", file=sys.stderr)
        return cmd_headless(args)
    return int(run_app(args) or 0)


def cmd_devices(args: argparse.Namespace) -> int:  # noqa: ARG001
    from . import devices

    print(devices.format_table(devices.query()))
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from . import sources
    from .render import render_file
    from .vae import core_models

    if args.blocksize < 1 or args.blocksize > 65536:
        raise CliError("--blocksize must be 1-65536")
    models = core_models()
    values = control_values(args, models.names, models.anchor_labels)

    drawn = [False]  # once the bar is drawn, end its line before any message

    def bar(fraction: float) -> None:
        if args.quiet:
            return
        drawn[0] = True
        width = 30
        done = int(fraction * width)
        sys.stderr.write(f"\rrender [{'#' * done}{'.' * (width - done)}] {100 * fraction:5.1f}%")
        sys.stderr.flush()

    try:
        result = render_file(args.input, args.output, values, args.blocksize, progress=bar)
    except (sources.SourceError, ValueError) as exc:
        if drawn[0]:
            sys.stderr.write("\n")
        raise CliError(str(exc)) from None
    if not args.quiet:
        sys.stderr.write("\n")
    print(
        f"rendered {result.frames / result.samplerate:.1f} s ({result.channels} ch, "
        f"{result.samplerate} Hz) in {result.seconds:.2f} s, {result.x_realtime:.0f}x real time; "
        f"peak {result.peak:.3f}, limited {result.limited} samples -> {args.output}"
    )
    return 0
