"""book/build.py: the generated pages and the staleness check (fast; no Sphinx, no browser)."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import shlex
import time
from pathlib import Path

import pytest

from roman_helpers import datasets

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def build():
    spec = importlib.util.spec_from_file_location("book_build", ROOT / "book" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_datasets_page_lists_every_dataset_parameter_and_value(build) -> None:
    page = build.datasets_markdown()
    for name, ds in datasets.load().items():
        section = page.split(f"## `{name}`", 1)[1].split("\n## ", 1)[0]
        assert f"`s3://{ds.bucket}/`" in section
        assert ds.template in section
        for param in ds.parameters.values():
            row = next(line for line in section.splitlines() if line.startswith(f"| `{param.name}` |"))
            for value in param.values or ():
                assert f"`{value}`" in row
        summary = next(line for line in page.splitlines() if line.startswith(f"| [`{name}`]"))
        assert summary.rstrip().endswith(f"| {len(ds.all_params())} |")


def test_datasets_page_gives_the_default_uri_when_the_template_allows(build) -> None:
    page = build.datasets_markdown()
    fits = datasets.get("openuniverse-was-fits")
    assert fits.uri() in page
    # The HST template needs an obs_id that is not a parameter: no default URI is invented.
    hst_section = page.split("## `hst-wfc3ir-m85`", 1)[1].split("\n## ", 1)[0]
    assert "s3://stpubdata/hst/public/" not in hst_section.replace("`s3://stpubdata/`", "")


def test_write_if_changed_leaves_identical_pages_alone(build, tmp_path: Path) -> None:
    page = tmp_path / "generated" / "page.md"
    assert build.write_if_changed(page, "# A\n") is True
    before = page.stat().st_mtime_ns
    assert build.write_if_changed(page, "# A\n") is False
    assert page.stat().st_mtime_ns == before
    assert build.write_if_changed(page, "# B\n") is True
    assert page.read_text() == "# B\n"


def test_is_stale_follows_sources_and_the_stamp(build, tmp_path: Path) -> None:
    (tmp_path / "book").mkdir()
    (tmp_path / "notebooks").mkdir()
    source = tmp_path / "notebooks" / "one.ipynb"
    source.write_text("{}")
    (tmp_path / "_toc.yml").write_text("root: book/index\n")
    assert build.is_stale(tmp_path), "no build at all"
    html = tmp_path / "_build" / "html"
    html.mkdir(parents=True)
    (html / "index.html").write_text("<html></html>")
    stamp = tmp_path / "_build" / ".book-built"
    stamp.write_text("built")
    past = time.time() - 100
    os.utime(source, (past, past))
    os.utime(tmp_path / "_toc.yml", (past, past))
    assert not build.is_stale(tmp_path)
    os.utime(source, (time.time() + 100, time.time() + 100))
    assert build.is_stale(tmp_path), "a notebook changed after the build"


def test_source_files_ignore_generated_pages(build, tmp_path: Path) -> None:
    (tmp_path / "book" / "generated").mkdir(parents=True)
    (tmp_path / "book" / "generated" / "datasets.md").write_text("x")
    (tmp_path / "book" / "index.md").write_text("x")
    files = [p.relative_to(tmp_path).as_posix() for p in build.source_files(tmp_path)]
    assert files == ["book/index.md"]


def _cli_page_blocks(fence: str) -> list[str]:
    """The bodies of the ``fence`` blocks (e.g. ```` ```{argparse} ````) of book/cli.md."""
    text = (ROOT / "book" / "cli.md").read_text()
    return [block.split("\n```", 1)[0] for block in text.split(fence + "\n")[1:]]


def test_cli_page_documents_the_parser_of_the_installed_command() -> None:
    from roman_helpers import cli

    [directive] = _cli_page_blocks("```{argparse}")
    options = dict(line[1:].split(": ", 1) for line in directive.splitlines() if ": " in line)
    assert (options["module"], options["func"], options["prog"]) == (
        "roman_helpers.cli",
        "build_parser",
        "roman-helpers",
    )
    parser = getattr(importlib.import_module(options["module"]), options["func"])()
    assert isinstance(parser, argparse.ArgumentParser)
    commands = next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert {"sandbox", "run", "cutout", "get"} <= set(commands)
    # the entry point (pyproject.toml: roman_helpers.cli:main) is the module the page documents
    assert importlib.import_module(options["module"]).main is cli.main


def test_cli_page_examples_are_valid_command_lines() -> None:
    from roman_helpers import cli

    [examples] = _cli_page_blocks("```bash")
    lines = [line for line in examples.splitlines() if line.strip()]
    assert len(lines) >= 8
    for line in lines:
        lexer = shlex.shlex(line, posix=True, punctuation_chars="|<")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        words = list(lexer)
        # a pipeline: every roman-helpers stage must parse; other programs (grep, head) are the shell's
        stages = [[]]
        for word in words:
            if word == "|":
                stages.append([])
            else:
                stages[-1].append(word)
        assert stages[0][0] == "roman-helpers", line
        for stage in stages:
            if stage[0] != "roman-helpers":
                continue
            if "<" in stage:  # input redirection belongs to the shell
                stage = stage[: stage.index("<")]
            args = cli.build_parser().parse_args(stage[1:])  # a usage error exits (SystemExit 2)
            assert callable(args.handler), line


def test_leftover_generated_pages_are_removed(build, tmp_path: Path) -> None:
    leftover = tmp_path / "cli.md"  # the command-line page of earlier versions
    leftover.write_text("# Command-line reference\n")
    written = build.write_generated_pages(tmp_path)
    assert sorted(p.name for p in written) == [
        "datasets.md",
        "sandbox-calls.md",
        "sandbox-mirrors.md",
        "sandbox-notes.md",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)


def test_sandbox_page_includes_the_table_of_every_listed_call(build, tmp_path: Path) -> None:
    from roman_helpers.sandbox import supported

    build.write_generated_pages(tmp_path)
    page = (tmp_path / "sandbox-calls.md").read_text()
    assert page.endswith("\n" + supported.markdown_table())  # the table itself, verbatim
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    assert len(rows) == len(supported.CALLS) and {call.family for call in supported.CALLS} == {"MAST", "IRSA"}
    for call in supported.CALLS:  # every call id: its code in exactly one row, with its family and status
        [row] = [line for line in rows if line.startswith(f"| `{call.code}` | {call.family} `")]
        assert ("| supported |" in row) == (call.error is None), call.id
        assert call.error is None or (f"`{call.error}`" in row and call.message in row), call.id
    for code in supported.SETUP.values():  # the names the calls use come first
        assert f"```python\n{code}```" in page.split("| Call |")[0]
    sandbox_page = (ROOT / "book" / "sandbox.md").read_text()
    assert "```{include} generated/sandbox-calls.md\n```" in sandbox_page
    # an included page is not a page of its own: Sphinx would warn that it is in no table of contents
    excluded = (ROOT / "_config.yml").read_text().split("exclude_patterns:")[1]
    assert "book/generated/sandbox-calls.md" in excluded


def test_sandbox_page_includes_every_layout_and_client(build, tmp_path: Path) -> None:
    from roman_helpers.sandbox import supported
    from roman_helpers.sandbox.archive import layouts

    build.write_generated_pages(tmp_path)
    page = (tmp_path / "sandbox-mirrors.md").read_text()
    archive = layouts.sky_archive()
    for bucket in archive.buckets:  # a row per layout, with the number of keys the archive lists under it
        for provider in archive.providers(bucket.name):
            count = sum(1 for key in archive.keys(bucket.name) if key.startswith(provider.prefix))
            [row] = [line for line in page.splitlines() if line.startswith(f"| `{bucket.name}` (")
                     and f"| `{provider.prefix}` |" in line]  # fmt: skip
            assert row.endswith(f"| {count:,} |") and count > 0, provider.prefix
    for client in supported.CLIENTS:
        assert f"| {client.name} | `{client.code}` |" in page
    assert "```{include} generated/sandbox-mirrors.md\n```" in (ROOT / "book" / "sandbox.md").read_text()
    excluded = (ROOT / "_config.yml").read_text().split("exclude_patterns:")[1]
    assert "book/generated/sandbox-mirrors.md" in excluded


def test_sandbox_notes_lose_their_title_and_keep_their_sections(build, tmp_path: Path) -> None:
    notes = tmp_path / "sandbox-notes.md"
    notes.write_text("# The offline sandbox\n\nIntro.\n\n## Ports\n\n```bash\n# a shell comment\n```\n")
    text = build.sandbox_notes_markdown(notes)
    assert "The offline sandbox" not in text
    assert "\n## Ports\n" in text and "Intro." in text
    assert "\n# a shell comment\n" in text
    missing = build.sandbox_notes_markdown(tmp_path / "absent.md")
    assert "No implementation notes" in missing


def test_missing_pages_names_toc_entries_without_a_source(build, tmp_path: Path) -> None:
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "index.md").write_text("# Home\n")
    (tmp_path / "book" / "here.md").write_text("# Here\n")
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/index\nchapters:\n  - file: book/here\n"
        "  - file: book/gone\n  - file: book/generated/datasets\n"
    )
    assert build.missing_pages(tmp_path) == ["book/gone"]


def test_same_page_links_to_raw_html_anchors_become_in_page_links() -> None:
    from docutils import nodes
    from docutils.utils import new_document
    from sphinx.addnodes import pending_xref

    spec = importlib.util.spec_from_file_location("html_anchors", ROOT / "book" / "_ext" / "html_anchors.py")
    html_anchors = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(html_anchors)

    document = new_document("page")
    document += nodes.raw("", '<a id="search"></a>', format="html")
    paragraph = nodes.paragraph()
    for target in ("search", "elsewhere"):
        ref = pending_xref("", refdomain=None, reftype="myst", reftarget=target)
        ref += nodes.Text(target)
        paragraph += ref
    document += paragraph
    html_anchors.link_html_anchors(None, document)
    links = list(document.findall(nodes.reference))
    assert [link["refuri"] for link in links] == ["#search"]
    assert links[0].astext() == "search"
    remaining = list(document.findall(pending_xref))
    assert [ref["reftarget"] for ref in remaining] == ["elsewhere"], "other targets stay MyST's"


def test_root_redirect_names_the_favicon_that_the_build_ships(build, tmp_path) -> None:
    page = build.write_root_redirect(tmp_path).read_text()
    assert "url=book/index.html" in page and 'href="_static/favicon.svg"' in page
    assert (ROOT / "book" / "images" / "favicon.svg").is_file()  # copied to _static by the build
