"""Curation commands: ``tag``, ``untag``, ``note``, ``rename``, ``archive``, ``rm``, ``gc``..."""

from __future__ import annotations

import sys
from typing import Any

import click

from experiment_manager import _ranges
from experiment_manager.cli import _format
from experiment_manager.cli._common import Output, get_manager, json_option
from experiment_manager.errors import InvalidArgumentError

__all__ = [
    "archive",
    "gc",
    "note",
    "rename",
    "restore",
    "rm",
    "tag",
    "trash",
    "unarchive",
    "untag",
]


def split_ref(ref: str, *, required: bool) -> tuple[str, list[int] | None]:
    """Split ``ID@VERSIONS`` (``exp@3``, ``exp@1-6``, ``exp@1,3``) or ``ID``.

    Args:
        ref: What the user typed.
        required: A version must be given.

    Returns:
        The id and the versions (None for ``ID`` alone).

    Raises:
        click.BadParameter: The versions do not parse, or are required and missing.

    Example:
        >>> split_ref("exp@1-3", required=False), split_ref("exp", required=False)
        (('exp', [1, 2, 3]), ('exp', None))
    """
    experiment_id, at, spec = ref.rpartition("@")
    if not at or not experiment_id or not _ranges.is_version_list(spec):
        if required:
            raise click.BadParameter(
                f"{_format.safe_text(ref)!r} names no version; write ID@VERSION, e.g. exp@3"
            )
        return ref, None
    try:
        return experiment_id, _ranges.parse_versions(spec)
    except InvalidArgumentError as error:
        raise click.BadParameter(f"{_format.safe_text(ref)!r}: {error.reason}") from None


def _one_version(ref: str) -> tuple[str, int]:
    experiment_id, versions = split_ref(ref, required=True)
    assert versions is not None
    if len(versions) != 1:
        raise click.BadParameter(f"{_format.safe_text(ref)!r} names more than one version")
    return experiment_id, versions[0]


def _say(output: Output, value: Any, text: str) -> None:
    if output.mode == "json":
        output.json(value)
    else:
        click.echo(text)


def _refs(value: str) -> str:
    return _format.safe_text(value)


@click.command()
@click.argument("ref", metavar="ID@VERSION")
@click.argument("tags", nargs=-1, required=True, metavar="TAG...")
@json_option
@click.pass_context
def tag(ctx: click.Context, ref: str, tags: tuple[str, ...], as_json: bool) -> None:
    r"""Add tags to versions (ID@3, or a list such as ID@1-6).

    Tags hold no spaces or commas; a tag a version has already is kept once. Each
    change is recorded with the time, host and user. Find tagged versions with
    `expm search "tags contains 'best'"`. --json prints each version's tags.

    \b
    Example:
        expm tag demo_logreg@4 best
        expm tag demo_logreg@1-4 sweep-1 lr-scan
    """
    manager = get_manager(ctx)
    experiment_id, versions = split_ref(ref, required=True)
    assert versions is not None
    result = {v: manager.add_tags(experiment_id, v, list(tags)) for v in versions}
    lines = [f"{_refs(experiment_id)}@{v}: {_refs(' '.join(t)) or '-'}" for v, t in result.items()]
    _say(Output(as_json), {str(v): t for v, t in result.items()}, "\n".join(lines))


@click.command()
@click.argument("ref", metavar="ID@VERSION")
@click.argument("tags", nargs=-1, required=True, metavar="TAG...")
@json_option
@click.pass_context
def untag(ctx: click.Context, ref: str, tags: tuple[str, ...], as_json: bool) -> None:
    r"""Remove tags from versions (tags a version does not have are ignored).

    \b
    Example:
        expm untag demo_logreg@4 best
    """
    manager = get_manager(ctx)
    experiment_id, versions = split_ref(ref, required=True)
    assert versions is not None
    result = {v: manager.remove_tags(experiment_id, v, list(tags)) for v in versions}
    lines = [f"{_refs(experiment_id)}@{v}: {_refs(' '.join(t)) or '-'}" for v, t in result.items()]
    _say(Output(as_json), {str(v): t for v, t in result.items()}, "\n".join(lines))


@click.command()
@click.argument("ref", metavar="ID@VERSION")
@click.argument("text", required=False)
@click.option("--clear", is_flag=True, help="Remove the note.")
@json_option
@click.pass_context
def note(ctx: click.Context, ref: str, text: str | None, clear: bool, as_json: bool) -> None:
    r"""Set a version's free-text note (TEXT, or read from stdin with -).

    Without TEXT and --clear, prints the note. The previous note stays in the
    version's recorded events (`expm show ID@V --json`).

    \b
    Example:
        expm note demo_logreg@2 "diverged: learning rate too high"
        echo "long note" | expm note demo_logreg@2 -
        expm note demo_logreg@2 --clear
    """
    manager = get_manager(ctx)
    experiment_id, version = _one_version(ref)
    output = Output(as_json)
    if text is None and not clear:
        current = manager.get_version(experiment_id, version).get("note")
        lines = [_format.safe_text(line) for line in (current or "").splitlines()]
        _say(output, current, "\n".join(lines) if current else "(no note)")
        return
    if clear and text is not None:
        raise click.UsageError("give TEXT or --clear, not both")
    if text == "-":
        text = sys.stdin.read().rstrip("\n")
    state = manager.set_note(experiment_id, version, None if clear else text)
    _say(
        output,
        state,
        f"{_refs(experiment_id)}@{version}: note {'set' if state['note'] else 'cleared'}",
    )


@click.command()
@click.argument("ref", metavar="ID@VERSION")
@click.argument("name")
@json_option
@click.pass_context
def rename(ctx: click.Context, ref: str, name: str, as_json: bool) -> None:
    r"""Give a version a human name (shown in history, search, plots and the dashboard).

    A version's name is its config name until one is set. Search by it with
    `expm search "name = 'baseline'"`.

    \b
    Example:
        expm rename demo_logreg@1 baseline
    """
    manager = get_manager(ctx)
    experiment_id, version = _one_version(ref)
    state = manager.set_name(experiment_id, version, name)
    _say(Output(as_json), state, f"{_refs(experiment_id)}@{version}: {_refs(state['name'])}")


def _state_command(action: str, ctx: click.Context, refs: tuple[str, ...], as_json: bool) -> None:
    manager = get_manager(ctx)
    method = {
        "archive": manager.archive,
        "unarchive": manager.unarchive,
        "rm": manager.remove,
        "restore": manager.restore,
    }[action]
    parsed = [split_ref(ref, required=False) for ref in refs]
    done: dict[str, list[int]] = {}
    for experiment_id, versions in parsed:
        changed = method(experiment_id, versions)
        done.setdefault(experiment_id, []).extend(changed)
    past = {"archive": "archived", "unarchive": "unarchived", "rm": "moved to the trash"}
    verb = past.get(action, "restored")
    lines = [
        f"{_refs(experiment_id)}: {verb} {_ranges.format_versions(versions)}"
        if versions
        else f"{_refs(experiment_id)}: nothing to do"
        for experiment_id, versions in done.items()
    ]
    _say(Output(as_json), done, "\n".join(lines))


_REFS = click.argument("refs", nargs=-1, required=True, metavar="ID[@VERSIONS]...")


@click.command()
@_REFS
@json_option
@click.pass_context
def archive(ctx: click.Context, refs: tuple[str, ...], as_json: bool) -> None:
    r"""Hide versions from listings, search, charts and the dashboard (--all shows them).

    ID alone archives every version of the experiment. Nothing is deleted:
    `expm unarchive` brings them back.

    \b
    Example:
        expm archive demo_logreg@1-2
        expm history demo_logreg --all
    """
    _state_command("archive", ctx, refs, as_json)


@click.command()
@_REFS
@json_option
@click.pass_context
def unarchive(ctx: click.Context, refs: tuple[str, ...], as_json: bool) -> None:
    r"""Show archived versions again (ID alone: every archived version).

    \b
    Example:
        expm unarchive demo_logreg@1
    """
    _state_command("unarchive", ctx, refs, as_json)


@click.command()
@_REFS
@json_option
@click.pass_context
def rm(ctx: click.Context, refs: tuple[str, ...], as_json: bool) -> None:
    r"""Move versions to the trash (restorable for 30 days, then `expm gc` empties them).

    A version in the trash is hidden everywhere, even with --all. A version that
    is still running is refused, and then nothing is moved. Version numbers are
    never reused, also after `expm gc`.

    \b
    Example:
        expm rm demo_logreg@3
        expm trash
        expm restore demo_logreg@3
    """
    _state_command("rm", ctx, refs, as_json)


@click.command()
@_REFS
@json_option
@click.pass_context
def restore(ctx: click.Context, refs: tuple[str, ...], as_json: bool) -> None:
    r"""Bring versions back from the trash (ID alone: every version in the trash).

    \b
    Example:
        expm restore demo_logreg@3
    """
    _state_command("restore", ctx, refs, as_json)


@click.command()
@click.argument("experiment_id", metavar="[ID]", required=False)
@json_option
@click.pass_context
def trash(ctx: click.Context, experiment_id: str | None, as_json: bool) -> None:
    r"""List the versions in the trash and when `expm gc` may empty each.

    \b
    Example:
        expm trash
        expm trash demo_logreg --json
    """
    entries = get_manager(ctx).list_trash(experiment_id)
    output = Output(as_json)
    if output.mode == "json":
        output.json(entries)
        return
    if not entries:
        click.echo("The trash is empty.")
        return
    headers = ["EXPERIMENT", "VERSION", "NAME", "REMOVED", "EXPIRES"]
    rows: list[list[_format.Cell]] = [
        [
            _format.safe_text(entry["experiment_id"]),
            str(entry["version"]),
            _format.safe_text(entry["name"] or "-"),
            _format.format_time(entry["trashed_at"]),
            _format.format_time(entry["expires_at"]),
        ]
        for entry in entries
    ]
    click.echo(_format.render_table(headers, rows, right=[1], stylist=output.stylist))


@click.command()
@click.argument("experiment_id", metavar="[ID]", required=False)
@click.option(
    "--older-than",
    "older_than",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    metavar="DAYS",
    help="Empty versions in the trash for at least this many days.",
)
@click.option("--now", is_flag=True, help="Empty the whole trash (same as --older-than 0).")
@click.option("--dry-run", is_flag=True, help="Only say what would be emptied.")
@json_option
@click.pass_context
def gc(
    ctx: click.Context,
    *,
    experiment_id: str | None,
    older_than: float,
    now: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    r"""Empty the trash for good: the versions' data and every file they owned go.

    By default only versions removed at least 30 days ago; --now empties it all.
    Each emptied version keeps its number (it is never reused) and nothing else.

    \b
    Example:
        expm gc --dry-run
        expm gc --now
    """
    manager = get_manager(ctx)
    entries = manager.gc(experiment_id, older_than_days=0 if now else older_than, dry_run=dry_run)
    output = Output(as_json)
    if output.mode == "json":
        output.json(entries)
        return
    verb = "Would empty" if dry_run else "Emptied"
    for entry in entries:
        click.echo(f"{verb} {_refs(entry['experiment_id'])}@{entry['version']}")
    if not entries:
        left = len(manager.list_trash(experiment_id))
        click.echo(
            f"Nothing to empty: {left} version(s) in the trash are younger than "
            f"{older_than:g} days (--now empties them)."
            if left
            else "The trash is empty."
        )
