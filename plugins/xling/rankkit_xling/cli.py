"""``rankkit xling``: inspect adapter libraries and export composed models with merged weights."""

from __future__ import annotations

from pathlib import Path

import click

from rankkit.errors import RankkitError
from rankkit.params import schema
from rankkit_xling.settings import ScorerSettings

#: The scorer's parameters, whose defaults, choices and help the export options share.
_SCORER = {p.name: p for p in schema(ScorerSettings)}


@click.group("xling")
def xling() -> None:
    """Cross-lingual adapters: list libraries, export merged models."""


@xling.command("adapters")
@click.argument("locations", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def adapters(locations: tuple[Path, ...]) -> None:
    """List the adapters in LOCATIONS (adapter folders or directories of them)."""
    from rankkit_xling.library import META, read_adapter

    found = []
    for location in locations:
        folders = [location] if (location / META).is_file() else sorted(p for p in location.iterdir() if (p / META).is_file())
        found.extend(read_adapter(f) for f in folders)
    if not found:
        raise click.ClickException(f"no xling adapters in {', '.join(map(str, locations))}")
    for info in found:
        click.echo(f"{info.kind:9} {info.method:5} {info.lang or '-':6} {info.backbone} "
                   f"[{info.backbone_fingerprint}/{info.tokenizer_fingerprint}]  {info.path}")


@xling.command("export")
@click.argument("ranking", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--library", "library", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Language adapter folder or directory of them (repeatable).")
@click.option("--language", default=_SCORER["language"].default, show_default=True,
              type=click.Choice(list(_SCORER["language"].choices or ())), help="Which language adapter(s) to compose.")
@click.option("--query-lang", default=_SCORER["query_lang"].default, help="Language code of the queries.")
@click.option("--doc-lang", default=_SCORER["doc_lang"].default, help="Language code of the documents.")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the merged cross-encoder (must not exist).")
def export(ranking: Path, library: tuple[Path, ...], language: str, query_lang: str, doc_lang: str, output: Path) -> None:
    """Fold RANKING and its language adapter(s) into one plain cross-encoder folder.

    \b
    The result loads with the cross-encoder scorer (scorer = "cross-encoder",
    model = OUTPUT) and scores exactly like the composed xling scorer, with no
    adapter cost at inference:
      rankkit xling export models/ra --library models/ --doc-lang de -o ra-de-merged
    """
    from rankkit_xling.scorer import CrossLingualScorer

    if output.exists():
        raise click.ClickException(f"{output} exists; choose a new folder")
    try:
        scorer = CrossLingualScorer(ScorerSettings(ranking=str(ranking), library=[str(p) for p in library],
                                                   language=language, query_lang=query_lang, doc_lang=doc_lang,
                                                   device="cpu"))
        scorer.export_merged(output)
    except RankkitError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"merged model: {output} ({scorer!r})")
