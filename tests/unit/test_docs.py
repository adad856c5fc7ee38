"""The docs say what the code does: the cheap checks that keep docs/ honest.

- the transition table of docs/lifecycle.md is ``engine.domain.ALLOWED``, row for row;
- docs/rates.md names every rate the projections compute, with the same numerator and
  denominator (and the independent oracle agrees);
- every ``SANSHI_*`` variable the product code reads is in docs/configuration.md, and its
  example district file loads;
- every relative link between the docs (and from the README) reaches a file and a heading;
- no file of the project cites the outside product spec by section any more: the docs are the
  contract (expected to fail until the citations are replaced, see the mark).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.config import parse_config
from engine.domain import ALLOWED, Action, Status
from projections.queries import RATES
from projections.tables import COUNT_FIELDS
from tests.support.fold_oracle import RATE_PARTS

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

_CODE = re.compile(r"`([^`]+)`")


def _table(path: Path, first_header: str) -> list[list[str]]:
    """The cells of the body rows of the markdown table whose header row starts with
    ``| first_header |``."""
    lines = path.read_text("utf-8").splitlines()
    for i, line in enumerate(lines):
        if line.startswith(f"| {first_header} |"):
            rows = []
            for body in lines[i + 2 :]:
                if not body.startswith("|"):
                    break
                # A "\|" inside a cell is text, not a column border.
                cells = re.split(r"(?<!\\)\|", body.strip().strip("|"))
                rows.append([c.strip() for c in cells])
            return rows
    raise AssertionError(f"{path.name}: no table with a '{first_header}' column")


def _codes(cell: str) -> list[str]:
    return _CODE.findall(cell)


# ---- lifecycle ---------------------------------------------------------------------------------


def test_the_transition_table_of_lifecycle_md_is_the_domains() -> None:
    documented: dict[str, set[str]] = {}
    for row in _table(DOCS / "lifecycle.md", "action"):
        (action,) = _codes(row[0])
        assert action not in documented, f"{action} twice"
        documented[action] = set(_codes(row[2]))
    assert documented == {a.value: {s.value for s in ALLOWED[a]} for a in Action}


def test_lifecycle_md_lists_every_status() -> None:
    documented = [_codes(row[0])[0] for row in _table(DOCS / "lifecycle.md", "status")]
    assert sorted(documented) == sorted(s.value for s in Status)


# ---- rates -------------------------------------------------------------------------------------


def _documented_rates() -> dict[str, tuple[tuple[str, ...], str]]:
    out: dict[str, tuple[tuple[str, ...], str]] = {}
    for row in _table(DOCS / "rates.md", "field"):
        (field,) = _codes(row[0])
        (denominator,) = _codes(row[3])
        out[field] = (tuple(_codes(row[2])), denominator)
    return out


def test_rates_md_states_every_rate_the_projections_compute() -> None:
    computed = {field: (nums, den) for field, (_zh, nums, den) in RATES.items()}
    assert _documented_rates() == computed


def test_rates_md_agrees_with_the_independent_oracle() -> None:
    assert _documented_rates() == RATE_PARTS


def test_rates_md_names_every_count() -> None:
    documented = {c for row in _table(DOCS / "rates.md", "count") for c in _codes(row[0])}
    assert documented == set(COUNT_FIELDS)


# ---- configuration -----------------------------------------------------------------------------

_ENV_LITERAL = re.compile(r"[\"'](SANSHI_[A-Z0-9_]+)[\"']")


def _variables_read_by_the_product() -> set[str]:
    names: set[str] = set()
    for package in ("engine", "adapters", "projections"):
        for path in (ROOT / package).rglob("*.py"):
            names.update(_ENV_LITERAL.findall(path.read_text("utf-8")))
    return names


def test_configuration_md_lists_every_environment_variable() -> None:
    documented = set(_codes((DOCS / "configuration.md").read_text("utf-8")))
    read = _variables_read_by_the_product()
    settings = set(_ENV_LITERAL.findall((ROOT / "engine" / "settings.py").read_text("utf-8")))
    assert settings and settings <= read
    assert read - documented == set()


def test_the_example_district_file_of_configuration_md_loads() -> None:
    text = (DOCS / "configuration.md").read_text("utf-8")
    found = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert found is not None
    config = parse_config(found.group(1), "docs/configuration.md")
    assert config.centre.id == "centre"


# ---- links -------------------------------------------------------------------------------------

_LINK = re.compile(r"\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6} (.+)$", re.M)


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces → '-'."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading: its text
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text("utf-8"), flags=re.S)
    return {_slug(h) for h in _HEADING.findall(text)}


@pytest.mark.parametrize(
    "page", sorted([*DOCS.glob("*.md"), ROOT / "README.md"]), ids=lambda p: p.name
)
def test_relative_links_reach_a_file_and_a_heading(page: Path) -> None:
    text = re.sub(r"```.*?```", "", page.read_text("utf-8"), flags=re.S)
    broken = []
    for target in _LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue  # http:, https:, mailto:
        name, _, anchor = target.partition("#")
        path = (page.parent / name).resolve() if name else page
        if not path.exists() or (
            bool(anchor) and path.suffix == ".md" and anchor not in _anchors(path)
        ):
            broken.append(target)
    assert broken == []


# ---- the outside spec --------------------------------------------------------------------------

_SPEC_SECTION = re.compile(r"SPEC(?:\.md)? §")
_SCANNED = ("engine", "adapters", "projections", "tests", "bench", "scripts", "deploy")
_TEXT = {".py", ".md", ".yml", ".yaml", ".toml", ".sh", ".js", ".html", ".css", ".txt", ".cfg"}


def test_no_file_cites_the_outside_spec_by_section() -> None:
    files = [ROOT / "README.md", ROOT / "docker-compose.yml", ROOT / "pyproject.toml"]
    for top in _SCANNED:
        files += [p for p in (ROOT / top).rglob("*") if p.suffix in _TEXT and p.is_file()]
    citing = []
    for path in files:
        if path.resolve() == Path(__file__).resolve():
            continue
        for number, line in enumerate(path.read_text("utf-8", errors="replace").splitlines(), 1):
            if _SPEC_SECTION.search(line):
                citing.append(f"{path.relative_to(ROOT)}:{number}")
    assert citing == [], "cite docs/ instead: " + ", ".join(citing)
