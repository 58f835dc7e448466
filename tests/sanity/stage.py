"""Stage library/ + module_utils/ as a throwaway collection and run `ansible-test sanity` on it.

    .venv/bin/python -m tests.sanity.stage            # stage in a temp dir, run, clean up
    .venv/bin/python -m tests.sanity.stage --keep     # keep the tree (its path is printed)

The tree is ``<tmp>/ansible_collections/cutover/sanity/plugins/{modules,module_utils/cutover}``
(a git repository, as ansible-test wants) with ``ansible.module_utils.cutover.`` rewritten to the
collection's own path, and amazon.aws linked beside it so imports resolve as in production.

Offline: ansible-test bootstraps pip in each per-test venv from a script it downloads from
ci-files.testing.ansible.com (unreachable here and in CI sandboxes). ``ensure_get_pip()`` writes
the cache file it looks for first; that stand-in runs ``ensurepip`` and then ``pip install`` of its
arguments from the configured index (pip.conf / PIP_* as usual).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
NAMESPACE, NAME = "cutover", "sanity"
IMPORT_RE = re.compile(r"\bansible\.module_utils\.cutover\b")
COLLECTION_IMPORT = f"ansible_collections.{NAMESPACE}.{NAME}.plugins.module_utils.cutover"
# The collection's own doc fragments (`- cutover.local.retries`), staged beside the modules under the staged name
FRAGMENTS = PROJECT_DIR / "collections" / "ansible_collections" / "cutover" / "local" / "plugins" / "doc_fragments"
FRAGMENT_RE = re.compile(r"^(\s*- )cutover\.local\.(?=\w+$)", re.M)
# The tests amazon.aws runs in its CI ("ansible-test sanity" with its default list, minus the ones
# that need a network or docker); the rest of the defaults do not concern two plain directories.
TESTS = ["validate-modules", "pep8", "pylint", "import", "compile"]
PYTHON = "3.11"

# Files other helpers are rewriting right now; their findings are known and listed in the report
# of issue 9. The coordinator removes entries as those files are fixed.
KNOWN_FINDINGS: set = set()

GET_PIP = '''"""Stand-in for get-pip.py written by tests/sanity/stage.py (offline ansible-test)."""
import ensurepip
import os
import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}

if __name__ == "__main__":
    env = dict(os.environ)  # ensurepip sets PIP_CONFIG_FILE=/dev/null: the install must see pip.conf
    ensurepip.bootstrap(upgrade=True)
    args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
    sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", "--quiet"] + args, env=env))
'''


def ansible_test_pip_version() -> str:
    """The pip version ansible-test bootstraps (its cache file is named after it)."""
    from ansible_test._internal import python_requirements  # pylint: disable=import-outside-toplevel

    class _Python:  # get_venv_packages reads only .version
        version = PYTHON

    return python_requirements.get_venv_packages(_Python())["pip"]


def ensure_get_pip() -> Path:
    path = Path.home() / ".ansible" / "test" / "cache" / f"get_pip_{ansible_test_pip_version().replace('.', '_')}.py"
    if not path.exists() or path.read_text() != GET_PIP:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(GET_PIP)
    return path


def amazon_aws_dir() -> Path:
    import ansible_collections.amazon.aws as amazon_aws  # pylint: disable=import-outside-toplevel

    return Path(list(amazon_aws.__path__)[0])


def stage(root: Path) -> Path:
    """The collection directory under root, ready for ansible-test."""
    collection = root / "ansible_collections" / NAMESPACE / NAME
    modules = collection / "plugins" / "modules"
    utils = collection / "plugins" / "module_utils" / "cutover"
    modules.mkdir(parents=True)
    utils.mkdir(parents=True)
    (collection / "galaxy.yml").write_text(
        f"namespace: {NAMESPACE}\nname: {NAME}\nversion: 0.0.1\nreadme: README.md\nauthors: [cutover]\n"
        "dependencies:\n  amazon.aws: '*'\n")
    # ansible-test's delegation venv lives under tests/output: never lint or import-test it
    (collection / ".gitignore").write_text("tests/output/\n")
    (collection / "README.md").write_text("Staged by tests/sanity/stage.py; thrown away afterwards.\n")
    (collection / "meta").mkdir()
    (collection / "meta" / "runtime.yml").write_text('---\nrequires_ansible: ">=2.19.0"\n')
    fragments = collection / "plugins" / "doc_fragments"
    fragments.mkdir()
    for source, dest in ((PROJECT_DIR / "library", modules), (PROJECT_DIR / "module_utils" / "cutover", utils),
                         (FRAGMENTS, fragments)):
        for path in sorted(source.glob("*.py")):
            text = FRAGMENT_RE.sub(rf"\1{NAMESPACE}.{NAME}.", IMPORT_RE.sub(COLLECTION_IMPORT, path.read_text()))
            (dest / path.name).write_text(text)
    (root / "ansible_collections" / "amazon").mkdir()
    (root / "ansible_collections" / "amazon" / "aws").symlink_to(amazon_aws_dir())
    git = ["git", "-c", "user.name=sanity", "-c", "user.email=sanity@localhost"]
    subprocess.run(git + ["init", "-q"], cwd=collection, check=True)
    subprocess.run(git + ["add", "-A"], cwd=collection, check=True)
    subprocess.run(git + ["commit", "-qm", "staged"], cwd=collection, check=True)
    return collection


def run(collection: Path, tests=TESTS) -> subprocess.CompletedProcess:
    ensure_get_pip()
    ansible_test = Path(sys.executable).parent / "ansible-test"
    command = [str(ansible_test), "sanity", "--venv", "--python", PYTHON, "--color", "no"]
    for test in tests:
        command += ["--test", test]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collection.parents[2]))
    return subprocess.run(command, cwd=collection, env=env, capture_output=True, text=True, check=False)


FINDING_RE = re.compile(r"^ERROR: (?P<path>plugins/[^:]+):", re.M)


def findings(output: str) -> list[str]:
    """Lines 'ERROR: plugins/...: ...' ansible-test printed (one per finding)."""
    return [line for line in output.splitlines() if FINDING_RE.match(line)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the staged tree")
    parser.add_argument("--test", action="append", help="one sanity test (repeatable); default: " + ", ".join(TESTS))
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="cutover-sanity-"))
    try:
        started = time.monotonic()
        done = run(stage(root), args.test or TESTS)
        print(done.stdout + done.stderr)
        print(f"ansible-test sanity: exit {done.returncode} in {time.monotonic() - started:.0f} s")
        return done.returncode
    finally:
        if args.keep:
            print(f"staged tree kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
