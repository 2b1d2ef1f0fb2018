#!/usr/bin/env python3
"""`mnemo eval` on a real repository installed from a Debian package (issue 7, item 7).

The repository is nlohmann-json3-dev's headers (JSON for Modern C++: 44 files, about 290K
tokens, many uses across files), a dependency scripts/install-deps.sh installs anyway, and one
of the projects the built-in model never trained on. It is copied out of /usr/include,
indexed with the built-in model (or $MNEMO_EVAL_MODEL) and evaluated under every condition
on a fixed sample of cases. The tables go to the log, and the JSON, markdown and
HTML reports to $MNEMO_EVAL_OUT (the build tree), from which the README's table is taken.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

MNEMO = os.environ["MNEMO_BIN"]
MODEL = os.environ.get("MNEMO_EVAL_MODEL")  # unset: the built-in model
MODEL_ARGS = ["--model", MODEL] if MODEL else []
OUT = Path(os.environ.get("MNEMO_EVAL_OUT", tempfile.gettempdir()))
MAX_CASES = os.environ.get("MNEMO_EVAL_MAX_CASES", "100")
PACKAGE, SOURCE = "nlohmann-json3-dev", Path("/usr/include/nlohmann")
CONDITIONS = {"memory", "no_memory", "bm25", "oracle", "symbolic"}


def package_version(package: str) -> str:
    result = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package],
                            capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else ""


class EvalOnADebianPackage(unittest.TestCase):
    def test_every_condition_runs_on_the_packages_sources(self):
        version = package_version(PACKAGE)
        self.assertTrue(version and SOURCE.is_dir(),
                        f"{PACKAGE} is not installed: run scripts/install-deps.sh")
        with tempfile.TemporaryDirectory() as tmp:
            repo = Path(tmp) / f"nlohmann-json-{version}"
            shutil.copytree(SOURCE, repo / "include" / "nlohmann")
            subprocess.run([MNEMO, "index", str(repo), *MODEL_ARGS, "--json"],
                           check=True, stdout=subprocess.DEVNULL)
            report = OUT / "eval-nlohmann-json.json"
            page = OUT / "eval-nlohmann-json.html"
            result = subprocess.run(
                [MNEMO, "eval", str(repo), *MODEL_ARGS, "--max-cases", MAX_CASES,
                 "--seed", "1", "--json", str(report), "--html", str(page)],
                check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        model = Path(MODEL).name if MODEL else "built-in (model/builtin)"
        table = (f"{PACKAGE} {version}, model {model}, "
                 f"--max-cases {MAX_CASES} --seed 1\n\n{result.stdout}")
        (OUT / "eval-nlohmann-json.md").write_text(table)
        print(table)
        out = json.loads(report.read_text())
        repository = out["repositories"][0]
        cases = repository["cases"]
        self.assertEqual(cases, int(MAX_CASES), "the package has more cross-file uses than that")
        conditions = repository["conditions"]
        # Each condition, and the memory's gain over no_memory paired by case.
        self.assertEqual(set(conditions), CONDITIONS | {"memory_gain"})
        for name in CONDITIONS | {"memory_gain"}:
            self.assertEqual(conditions[name]["all"]["n"], cases, name)
        self.assertEqual(conditions["memory"]["all"]["cases_that_read_memory"], cases)
        for name in ("no_memory", "bm25", "oracle"):
            self.assertEqual(conditions[name]["all"]["cases_that_read_memory"], 0, name)
        # Both kinds of use are in the sample.
        self.assertGreater(conditions["memory"]["first_use"]["n"], 0)
        self.assertGreater(conditions["memory"]["later_use"]["n"], 0)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1] + ["-v"])
