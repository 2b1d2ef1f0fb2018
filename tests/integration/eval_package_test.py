#!/usr/bin/env python3
"""`mnemo eval` on a real repository installed from a Debian package.

The repository is nlohmann-json3-dev's headers (JSON for Modern C++: 44 files, about 290K
tokens, many uses across files), a dependency scripts/install-deps.sh installs anyway, and one
of the projects the built-in model never trained on. It is copied out of /usr/include,
indexed with the built-in model (or $MNEMO_EVAL_MODEL) and evaluated under every condition
on a fixed sample of cases. The tables go to the log, and the JSON, markdown and
HTML reports to $MNEMO_EVAL_OUT (the build tree).
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
MAX_CASES = os.environ.get("MNEMO_EVAL_MAX_CASES", "40")
PACKAGE, SOURCE = "nlohmann-json3-dev", Path("/usr/include/nlohmann")
CONDITIONS = {"full", "no_constraint", "no_declarations", "no_memory", "bm25", "oracle",
              "symbolic"}
GAINS = {"memory_gain", "constraint_gain", "declarations_gain"}


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
        # Each condition, and each lever's gain paired by case.
        self.assertEqual(set(conditions), CONDITIONS | GAINS)
        for name in CONDITIONS | GAINS:
            self.assertEqual(conditions[name]["all"]["n"], cases, name)
        for name in ("full", "no_constraint", "no_declarations"):
            self.assertEqual(conditions[name]["all"]["cases_that_read_memory"], cases, name)
        for name in ("no_memory", "bm25", "oracle"):
            self.assertEqual(conditions[name]["all"]["cases_that_read_memory"], 0, name)
        # The splits add up: first and later uses, member accesses and other sites.
        for name in CONDITIONS:
            groups = conditions[name]
            self.assertEqual(groups["first_use"]["n"] + groups["later_use"]["n"], cases, name)
            self.assertEqual(groups.get("member", {"n": 0})["n"] +
                             groups.get("other", {"n": 0})["n"], cases, name)
        # Both kinds of use, and both kinds of site, are in the sample.
        for group in ("first_use", "later_use", "member", "other"):
            self.assertGreater(conditions["full"][group]["n"], 0, group)
        # Where libclang gives the members, the names held are libclang's, and no suggestion
        # held to them begins with a name that is not one.
        self.assertGreater(repository["name_sources"].get("compiler", 0), 0)
        not_a_member = repository["member_accesses_not_a_member"]
        for name in ("full", "no_declarations", "no_memory", "bm25", "oracle"):
            self.assertEqual(not_a_member.get(name, 0), 0, name)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1] + ["-v"])
