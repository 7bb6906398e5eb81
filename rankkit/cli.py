"""The ``rankkit`` command line: ``plugins | datasets | index | run | eval`` (plugins add more)."""

from __future__ import annotations

import copy
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from rankkit.errors import RankkitError
from rankkit.plugins import DISABLE_AUTOLOAD_ENV, DISABLE_PLUGINS_ENV, PluginSettings, load_plugins
from rankkit.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.experiment.config import ExperimentConfig

HELP = f"""rankkit: retrievers, rerankers and scorers as plugins, TREC-style experiments.

\b
Plugins load from the `rankkit` entry-point group. Block one with
--disable-plugin NAME (or {DISABLE_PLUGINS_ENV}=a,b); stop autoloading with
{DISABLE_AUTOLOAD_ENV}=1. Datasets resolve in $RANKKIT_DATA first.
"""


def _registry(ctx: click.Context) -> Registry:
    return ctx.find_root().obj


def _shard(text: str) -> tuple[int, int]:
    """``"I/N"`` as ``(I, N)``.

    Raises:
        click.BadParameter: For anything but two positive integers with I <= N.
    """
    parts = text.split("/")
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or not 1 <= int(parts[0]) <= int(parts[1]):
        raise click.BadParameter(f"{text!r}: write I/N with 1 <= I <= N, e.g. 2/4", param_hint="--shard")
    return int(parts[0]), int(parts[1])


def _fail(error: RankkitError) -> click.ClickException:
    return click.ClickException(str(error))


@click.group(help=HELP, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--disable-plugin", "disabled", multiple=True, metavar="NAME", help="Do not load this plugin (repeatable).")
@click.option("--strict", is_flag=True, help="Fail when any plugin fails to load, instead of warning.")
@click.version_option(package_name="rankkit")
@click.pass_context
def cli(ctx: click.Context, disabled: Sequence[str], strict: bool) -> None:
    """Root group; plugin options are applied in :func:`main` before parsing.

    The registry (``ctx.obj``) is the only one a command uses: it is passed down, and it is the
    :func:`~rankkit.registry.active_registry` until the command ends (for ``rankkit:NAME`` model names).
    """
    if isinstance(ctx.obj, Registry):
        ctx.with_resource(ctx.obj.active())


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print the components as a JSON list.")
@click.option("--params", "params_of", metavar="KIND:NAME", help="Print one component's parameters as a markdown "
              "table (e.g. --params retriever:bm25).")
@click.option("--docs", "pages", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Regenerate the parameter tables marked in these markdown pages (<!-- rankkit:params KIND NAME "
              "-->), in place; repeatable.")
@click.pass_context
def plugins_command(ctx: click.Context, as_json: bool, params_of: str | None, pages: Sequence[Path]) -> None:
    """List every component: kind, name, plugin, distribution version and summary.

    Names are never cut: on a terminal too narrow for the table, and when the output is piped, each component
    is one line of tab-separated fields (after a header line).
    """
    registry = _registry(ctx)
    try:
        components = registry.all_components()
        if params_of or pages:
            _parameter_docs(registry, params_of, pages)
            return
    except RankkitError as error:
        raise _fail(error) from None
    if as_json:
        payload = {"components": [c.as_dict() for c in components], "failures": [f.message for f in registry.failures]}
        click.echo(json.dumps(payload, indent=2))
        return
    from rich.console import Console

    from rankkit.tables import print_table

    rows = [(c.kind, c.name, c.origin.name, f"{c.origin.distribution} {c.origin.version}", c.spec.summary or "")
            for c in components]
    columns = ("kind", "name", "plugin", "distribution", "summary")
    print_table(Console(), "rankkit components", columns, rows, whole=("kind", "name", "plugin"))


def _parameter_docs(registry: Registry, params_of: str | None, pages: Sequence[Path]) -> None:
    """``rankkit plugins --params`` and ``--docs``: parameter tables from the declarations."""
    from rankkit.files import atomic_write
    from rankkit.paramdocs import markdown_table, refresh

    if params_of:
        kind, _, name = params_of.partition(":")
        click.echo(markdown_table(registry.get(kind, name).spec.params), nl=False)  # type: ignore[arg-type]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        fresh = refresh(text, registry)
        if fresh != text:
            with atomic_write(page) as handle:
                handle.write(fresh)
        click.echo(f"{page}: {'updated' if fresh != text else 'up to date'}")


@cli.command("datasets")
def datasets_command() -> None:
    """List the datasets in the offline mirror ($RANKKIT_DATA)."""
    from rankkit.datasets.mirror import DATA_ENV, available, mirror_root

    root = mirror_root()
    if root is None or not root.is_dir():
        raise click.ClickException(f"{DATA_ENV} is not set to a folder; set it to your offline dataset mirror")
    for name in available(root):
        click.echo(name)


@cli.group("index")
def index_group() -> None:
    """Build and list indexes described by manifests (indexes/*.toml)."""


@index_group.command("build")
@click.argument("manifests", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Rebuild even when an identical index exists.")
@click.pass_context
def index_build(ctx: click.Context, manifests: Sequence[Path], force: bool) -> None:
    """Build the index of each MANIFEST (a no-op when it is already built and unchanged)."""
    from rankkit.indexes import IndexManifest, ensure_index

    registry = _registry(ctx)
    for path in manifests:
        try:
            built = ensure_index(IndexManifest.load(path), registry, force=force)
        except RankkitError as error:
            raise _fail(error) from None
        click.echo(f"index {built.stamp.get('name', path.stem)}: {built.summary()}")


@index_group.command("list")
@click.option("--manifests", "manifest_dir", default="indexes", show_default=True, type=click.Path(path_type=Path),
              help="Folder of index manifests.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def index_list(ctx: click.Context, manifest_dir: Path, as_json: bool) -> None:
    """Show manifests and built indexes with status and size.

    Indexes that live outside their folder (e.g. in a search server) are checked there; a lost or changed one
    is shown as stale, with the reason and how to rebuild it.
    """
    from rankkit.indexes import index_root, list_indexes

    rows = list_indexes([manifest_dir], registry=_registry(ctx))
    if as_json:
        click.echo(json.dumps([{**vars(r), "path": str(r.path)} for r in rows], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"indexes in {index_root()}")
    for column in ("name", "status", "builder", "documents", "size", "path"):
        table.add_column(column)
    for r in rows:
        size = f"{r.size_bytes / 1e6:.1f} MB" if r.size_bytes else "-"
        status = f"{r.status}: {r.problem}" if r.problem else r.status
        table.add_row(r.name, status, r.builder, str(r.documents or "-"), size, str(r.path))
    Console().print(table)


def _require_judgments(config: ExperimentConfig, registry: Registry) -> None:
    """Stop ``rankkit run --check`` before any work when nothing can be checked.

    Without judgments (a mirror folder without ``qrels/``, or with several splits and none named) no run is
    evaluated, so no ``[expected]`` number can be compared and a "check passed" would be a lie.

    Raises:
        ConfigError: Listing every problem of the file first (:func:`check_experiment`).
        click.ClickException: When the experiment's dataset has no qrels.
    """
    from rankkit.datasets import resolve_dataset
    from rankkit.experiment.validate import check_experiment

    check_experiment(config, registry)
    if resolve_dataset(config.dataset, registry).qrels() is None:
        raise click.ClickException(
            f"nothing to check: dataset {config.dataset!r} has no judgments (qrels), so no result can be compared "
            "with [expected]; use a dataset with qrels, or name one of its qrels splits (`rankkit datasets` lists "
            "them), or run without --check"
        )


@cli.command("run")
@click.argument("experiment", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--output", "-o", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (default: runs/<experiment name>).")
@click.option("--check", is_flag=True, help="Fail (exit 1) when a result drifts from the file's [expected] numbers, "
              "or, before any work, when the dataset has no judgments (qrels): nothing to check.")
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
@click.option("--no-cache", is_flag=True, help="Do not use the on-disk score cache.")
@click.option("--dry-run", is_flag=True, help="Check the whole file and print what would be built, trained, reused "
              "and run, without doing any of it.")
@click.option("--shard", metavar="I/N", help="Compute only every N-th query batch (the I-th of N shards) of each "
              "pipeline into the output's checkpoints, for processes or machines sharing the output folder; a run "
              "without --shard then merges the shards (byte-identical to an unsplit run) and evaluates. Train the "
              "[train] sections first (one run, or rankkit train).")
@click.pass_context
def run_command(ctx: click.Context, experiment: Path, output: Path | None, check: bool, no_progress: bool, no_cache: bool,
                dry_run: bool, shard: str | None) -> None:
    """Run an EXPERIMENT file end to end: indexes, training, pipelines, runs, evaluation, report.

    The whole file is checked first (datasets, components, parameters, indexes, measures): every problem is
    reported at once, before any work. An interrupted run resumes from its last finished query batch.
    """
    from rankkit.experiment import ExperimentRunner, load_experiment

    try:
        config = load_experiment(experiment)
        runner = ExperimentRunner(config, _registry(ctx), output, progress=not no_progress, use_cache=not no_cache,
                                  shard=_shard(shard) if shard else None)
        if dry_run:
            from rankkit.experiment.dryrun import describe_plan

            click.echo(describe_plan(runner))
            return
        if check:
            _require_judgments(config, runner.registry)
        result = runner.run()
    except RankkitError as error:
        raise _fail(error) from None
    if runner.shard:
        click.echo(f"shard {shard}: batches in {result.output / '.checkpoints'}; run without --shard to merge and evaluate")
        return
    if result.results:
        from rich.console import Console

        from rankkit.evaluation.console import render_console

        render_console(result.results, result.comparison, Console())
    click.echo(f"runs, report and manifest in {result.output}")
    if result.report:
        click.echo(f"report: {result.report}")
    if check:
        if result.drifts:
            lines = "\n  ".join(map(str, result.drifts))
            raise click.ClickException(f"{len(result.drifts)} result(s) drifted from {experiment}:\n  {lines}")
        checked = sum(len(v) for v in config.expected.values())
        click.echo(f"check passed: {checked} expected number(s) reproduced within ±{config.tolerance:g}")


@cli.command("train")
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--only", "names", multiple=True, metavar="NAME", help="Train only this [train.NAME] section (repeatable).")
@click.option("--output", "-o", type=click.Path(file_okay=False, path_type=Path), default=Path("models"),
              show_default=True, help="Folder that receives one model folder per section.")
@click.option("--force", is_flag=True, help="Train again even when an identical model exists.")
def train_command(config: Path, names: Sequence[str], output: Path, force: bool) -> None:
    """Train every [train.NAME] section of CONFIG (an experiment or a training file).

    \b
    Each section names a trainer, a dataset with training qrels, an optional
    first stage whose run supplies negatives, and the trainer's [params]:
      [train.ce]
      trainer = "cross-encoder"
      dataset = "beir-scifact/train"
      first_stage = { retriever = "bm25", index = "scifact-bm25", k = 100 }
    Training the same section again is a no-op; a changed one retrains.
    A parameter "train:OTHER" uses the model of an earlier section (a language
    adapter under a ranking adapter); naming a section trains what it needs.
    """
    from rankkit.experiment.training import ensure_trained, load_trainings, needed_sections
    from rankkit.indexes import manifest_dirs_for

    registry = _registry(click.get_current_context())
    try:
        trainings = load_trainings(config)
        unknown = sorted(set(names) - set(trainings))
        if unknown:
            raise click.ClickException(f"{config} has no section(s) {unknown}; it has: {', '.join(trainings)}")
        index_dirs = manifest_dirs_for(config)
        wanted = needed_sections(trainings, names) if names else set(trainings)
        models = {}
        for name, training in trainings.items():
            if name not in wanted:
                continue
            again = force and (not names or name in names)  # --force retrains what was named, not its dependencies
            models[name] = ensure_trained(training, registry, output, index_dirs, force=again, trained=models)
            click.echo(f"{name}: {models[name].path} (trained {models[name].stamp.get('created')})")
    except RankkitError as error:
        raise _fail(error) from None


def build_cli(registry: Registry) -> click.Group:
    """A fresh ``rankkit`` group: the core commands plus every plugin's (``rankkit_cli``).

    Raises:
        PluginError: When a plugin fails while adding its commands.
    """
    from rankkit.evaluation.cli import eval_command

    group = copy.copy(cli)
    group.commands = dict(cli.commands)
    group.add_command(eval_command, "eval")
    registry.add_cli_commands(group)
    return group


def _settings_from_argv(argv: Sequence[str]) -> PluginSettings:
    disabled: list[str] = []
    strict = False
    args = iter(argv)
    for arg in args:
        if arg == "--":
            break
        if arg == "--disable-plugin":
            disabled.append(next(args, ""))
        elif arg.startswith("--disable-plugin="):
            disabled.append(arg.split("=", 1)[1])
        elif arg == "--strict":
            strict = True
    return PluginSettings.from_env(disabled=[d for d in disabled if d], strict=strict)


class _TqdmHandler(logging.Handler):
    """Writes log records above progress bars instead of through them."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm.auto import tqdm

        tqdm.write(self.format(record), file=sys.stderr)


def _configure_logging() -> None:
    logger = logging.getLogger("rankkit")
    if not any(isinstance(h, _TqdmHandler) for h in logger.handlers):
        logger.addHandler(_TqdmHandler())
    logger.setLevel(logging.INFO)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``rankkit`` command."""
    args = list(sys.argv[1:] if argv is None else argv)
    _configure_logging()
    try:
        registry = Registry(load_plugins(_settings_from_argv(args)))
    except RankkitError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(1)
    for failure in registry.failures:
        click.echo(f"warning: {failure.message}", err=True)
    try:
        group = build_cli(registry)
    except RankkitError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(1)
    group.main(args=args, prog_name="rankkit", obj=registry)


if __name__ == "__main__":  # pragma: no cover
    main()
