"""The two inventories share one copy of every variable file that does not differ."""
from __future__ import annotations

import filecmp
from pathlib import Path

INVENTORIES = Path(__file__).resolve().parent.parent / "inventories"
ENVIRONMENTS = ("test", "production")


def _files(env: str) -> dict[str, Path]:
    return {p.name: p for p in sorted((INVENTORIES / env / "group_vars" / "all").glob("*.yml"))}


def test_both_inventories_have_the_same_variable_files():
    assert set(_files("test")) == set(_files("production"))


def test_a_file_that_is_the_same_in_both_lives_once_in_common():
    test, prod = _files("test"), _files("production")
    for name in test:
        if test[name].is_symlink() or prod[name].is_symlink():
            common = INVENTORIES / "common" / "group_vars" / "all" / name
            assert test[name].resolve() == common.resolve() == prod[name].resolve(), name
        else:
            assert not filecmp.cmp(test[name], prod[name], shallow=False), (
                f"{name} is the same in test and production: move it to inventories/common and link it"
            )


def test_every_common_file_is_used_by_both_inventories():
    for common in (INVENTORIES / "common" / "group_vars" / "all").glob("*.yml"):
        for env in ENVIRONMENTS:
            link = INVENTORIES / env / "group_vars" / "all" / common.name
            assert link.is_symlink() and link.resolve() == common.resolve(), f"{env} does not link {common.name}"
