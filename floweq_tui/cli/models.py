"""`floweq-tui train` and `floweq-tui models`: train the beta-VAE family, list the shipped one."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from .options import CliError

TRAIN_EXTRA_HINT = "training needs PyTorch: pip install 'floweq-tui[train]'"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the model subcommands to the top-level parser."""
    p = sub.add_parser(
        "train",
        help="train the model family from the SAFE-DB equaliser CSV (needs the train extra)",
        description="Train latent 1/2/3 x beta 0/0.001/0.01/0.02 beta-VAEs on the SAFE-DB "
        "equaliser user data, evaluate them on a held-out split and write .npz weights plus "
        "manifest.json.",
    )
    p.add_argument("--data", required=True, help="path to SAFEEqualiserUserData.csv")
    p.add_argument("--out", default="models", help="output directory (default: models)")
    p.add_argument("--epochs", type=int, default=200, help="epochs per model (default: 200)")
    p.add_argument("--seed", type=int, default=0, help="seed of split and training (default: 0)")
    p.add_argument(
        "--only",
        default=None,
        metavar="D,BETA[;D,BETA]",
        help="train only these models, e.g. '2,0.001' (others already in --out are kept)",
    )
    p.add_argument("--jobs", type=int, default=2, help="parallel training processes (default: 2)")
    p.set_defaults(func=cmd_train)

    m = sub.add_parser("models", help="list the shipped models, their metrics and anchors")
    m.add_argument("--path", default=None, help="models directory (default: the shipped one)")
    m.add_argument("--anchors", action="store_true", help="also print every anchor's code")
    m.set_defaults(func=cmd_models)


def cmd_train(args: argparse.Namespace) -> int:
    """Handler of `floweq-tui train`."""
    if args.epochs < 1:
        raise CliError("--epochs must be at least 1")
    if args.jobs < 1:
        raise CliError("--jobs must be at least 1")
    if not Path(args.data).is_file():
        raise CliError(f"no such data file: {args.data}")
    try:
        import torch  # noqa: F401
    except ImportError:
        raise CliError(TRAIN_EXTRA_HINT) from None
    from ..training import train as training

    try:
        only = training.parse_only(args.only) if args.only else None
    except ValueError as exc:
        raise CliError(str(exc)) from None
    cmd = (
        f"floweq-tui train --data {shlex.quote(args.data)} --out {shlex.quote(args.out)} "
        f"--epochs {args.epochs} --seed {args.seed}"
        + (f" --only {shlex.quote(args.only)}" if args.only else "")
    )
    try:
        manifest = training.train_family(
            args.data, args.out, epochs=args.epochs, seed=args.seed, only=only,
            jobs=args.jobs, command=cmd,
        )  # fmt: skip
    except ValueError as exc:
        raise CliError(str(exc)) from None
    print(format_models(manifest))
    print(f"wrote {len(manifest['models'])} models and manifest.json to {args.out}")
    return 0


def format_models(manifest: dict, anchors: bool = False) -> str:
    """The model table (fits 80 columns): metrics per model, baselines, anchors."""
    lines = [
        "model             d  beta   param  curve dB  p95 dB  vs PCA  grid step/spread dB",
        "----------------  -  -----  -----  --------  ------  ------  -------------------",
    ]
    pca = manifest.get("baselines", {}).get("pca", {})
    for e in manifest["models"]:
        t = e["metrics"]["test"]
        u = e["metrics"]["usability"]
        base = pca.get(str(e["latent"]), {}).get("curve_mae_db")
        gain = f"{100 * (1 - t['curve_mae_db'] / base):+5.0f}%" if base else "     -"
        star = "*" if e["name"] == manifest.get("default") else " "
        lines.append(
            f"{e['name'] + star:<16}  {e['latent']}  {e['beta']:<5g}  {t['param_mae']:.3f}  "
            f"{t['curve_mae_db']:8.2f}  {t['curve_p95_db']:6.2f}  {gain}  "
            f"{u['neighbour_change_db']:7.2f} / {u['spread_db']:.2f}"
        )
    base = manifest.get("baselines", {})
    if base:
        lines.append("baselines on the same test split:")
        for d, b in sorted(pca.items()):
            lines.append(
                f"  PCA d={d}{'':10}{b['param_mae']:.3f}  {b['curve_mae_db']:8.2f}  "
                f"{b['curve_p95_db']:6.2f}"
            )
        mc = base.get("mean_curve")
        if mc:
            lines.append(f"  mean curve{'':16}{mc['curve_mae_db']:8.2f}  {mc['curve_p95_db']:6.2f}")
    split = manifest.get("data", {}).get("split", {})
    if split:
        sizes = split.get("sizes", {})
        lines.append(
            f"test split: {sizes.get('test', '?')} rows, seed {split.get('seed')}, "
            f"sha256 {split.get('hashes', {}).get('test', '')[:12]}  (* = default)"
        )
    default = next(
        (e for e in manifest["models"] if e["name"] == manifest.get("default")),
        manifest["models"][0],
    )
    labels = [
        f"{a['descriptor']}{'' if a['intensity'] == 0 else ' ' + str(a['intensity'])} "
        f"(n={a['count']}, r={a['corr']:.2f})"
        for a in default.get("anchors", [])
    ]
    if labels:
        lines.append(f"anchors ({default['name']}: count, curve correlation):")
        row = " "
        for lab in labels:
            if len(row) + len(lab) + 2 > 80:
                lines.append(row.rstrip(","))
                row = " "
            row += " " + lab + ","
        lines.append(row.rstrip(","))
    if anchors:
        lines.append("anchor codes per model:")
        for e in manifest["models"]:
            for a in e.get("anchors", []):
                z = ", ".join(f"{v:+.2f}" for v in a["z"])
                lines.append(
                    f"  {e['name']:<15} {a['descriptor']:<10} {a['intensity']}  [{z}]  "
                    f"r={a['corr']:.2f}"
                )
    return "\n".join(lines)


def cmd_models(args: argparse.Namespace) -> int:
    """Handler of `floweq-tui models`."""
    from ..vae import ModelError, load_family

    try:
        family = load_family(args.path)
    except ModelError as exc:
        raise CliError(str(exc)) from None
    print(f"{len(family)} models in {family.path}")
    print(format_models(family.manifest, anchors=args.anchors))
    return 0
