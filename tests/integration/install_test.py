#!/usr/bin/env python3
"""An installed mnemo works from its prefix, not from the build or source tree:
`cmake --install` into a temporary prefix, then `mnemo version`, `mnemo index` (with the
built-in model the install carries), `mnemo doctor` and a completion at a member access,
all by the installed executable; the Neovim plugin and the VS Code .vsix are installed; and
`cpack -G DEB` makes a package whose dependencies name the runtime libraries.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import zipfile
from pathlib import Path

BUILD = Path(os.environ["MNEMO_BUILD_DIR"])
VERSION = os.environ.get("MNEMO_VERSION", "0.1.0")
GUARD_S = 300

FILES = {
    "include/geo.h": "#pragma once\nnamespace geo {\nstruct Point {\n  double x, y;\n"
                     "  double norm() const;\n  void scale(double by);\n};\n}\n",
    "src/geo.cpp": '#include "geo.h"\ndouble geo::Point::norm() const { return x + y; }\n'
                   "void geo::Point::scale(double by) { x *= by; y *= by; }\n",
    "src/main.cpp": '#include "geo.h"\ndouble length(geo::Point* q) {\n  return q->\n}\n',
}
MEMBERS = {"x", "y", "norm", "scale"}


def run(args, **kwargs):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=GUARD_S, **kwargs)


class InstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.prefix = Path(cls.tmp.name) / "prefix"
        result = run(["cmake", "--install", BUILD, "--prefix", cls.prefix])
        assert result.returncode == 0, result.stdout + result.stderr
        cls.mnemo = cls.prefix / "bin" / "mnemo"
        cls.repo = Path(cls.tmp.name) / "repo"
        for path, text in FILES.items():
            (cls.repo / path).parent.mkdir(parents=True, exist_ok=True)
            (cls.repo / path).write_text(text)
        # Run from elsewhere, so nothing is found relative to the working directory.
        cls.env = dict(os.environ, HOME=cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def installed(self, *args):
        return run([self.mnemo, *args], cwd=self.tmp.name, env=self.env)

    def test_version(self):
        result = self.installed("version")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertTrue(result.stdout.startswith(f"mnemo {VERSION} "), result.stdout)

    def test_index_doctor_and_complete_use_the_installed_model(self):
        indexed = self.installed("index", self.repo)
        self.assertEqual(indexed.returncode, 0, indexed.stdout + indexed.stderr)

        doctor = self.installed("doctor", self.repo, "--json")
        self.assertEqual(doctor.returncode, 0, doctor.stdout + doctor.stderr)
        report = json.loads(doctor.stdout)
        checks = report["checks"]
        model = Path(checks["model"]["facts"]["path"])
        self.assertEqual(model.resolve(), (self.prefix / "share/mnemo/model").resolve())
        self.assertTrue(checks["model"]["facts"]["built_in"])
        self.assertEqual(checks["index"]["verdict"], "ok", checks["index"])
        self.assertEqual(checks["index"]["facts"]["current"], 3)
        self.assertEqual(checks["memory"]["verdict"], "ok", checks["memory"])
        self.assertEqual(checks["memory"]["facts"]["files"], 3)
        self.assertIn(checks["libclang"]["verdict"], ("ok", "warn"), checks["libclang"])

        completed = self.installed("complete", "src/main.cpp:2:12", "--repo", self.repo,
                                   "--alternatives", "3")
        self.assertEqual(completed.returncode, 0, completed.stderr)
        answer = json.loads(completed.stdout)
        self.assertEqual(answer["site"], "member")
        self.assertTrue(answer["suggestions"], answer)
        for suggestion in answer["suggestions"]:
            leading = re.match(r"[A-Za-z_]\w*", suggestion["text"])
            self.assertIn(leading.group(0) if leading else "", MEMBERS, answer)

    def test_matrix_products_use_a_core_this_cpu_runs_not_the_generic_fallback(self):
        # OpenBLAS 0.3.21 falls back to its SSE3 core, Prescott, on CPUs newer than it; mnemo
        # then names the core itself (3x faster prompts on an AVX-512 Xeon).
        env = {k: v for k, v in self.env.items() if k != "OPENBLAS_CORETYPE"}
        doctor = run([self.mnemo, "doctor", self.repo, "--json"], cwd=self.tmp.name, env=env)
        self.assertEqual(doctor.returncode, 0, doctor.stdout + doctor.stderr)
        blas = json.loads(doctor.stdout)["checks"]["blas"]
        core = blas["facts"]["core"]
        flags = open("/proc/cpuinfo").read().split()
        if core and "avx2" in flags and "fma" in flags:
            self.assertNotIn(core.lower(), ["prescott", "core2", "penryn", "nehalem",
                                            "sandybridge", "barcelona"], blas)

    def test_doctor_says_what_is_missing_in_a_workspace_never_indexed(self):
        empty = Path(self.tmp.name) / "fresh"
        (empty / "src").mkdir(parents=True)
        (empty / "src" / "a.cpp").write_text("int main() { return 0; }\n")
        doctor = self.installed("doctor", empty)
        self.assertEqual(doctor.returncode, 0, doctor.stdout + doctor.stderr)
        self.assertIn("not indexed yet: 1 C/C++ files", doctor.stdout)
        self.assertIn(f"mnemo index {empty}", doctor.stdout)

    def test_the_editors_are_installed(self):
        plugin = self.prefix / "share/nvim/site/pack/mnemo/start/mnemo/lua/mnemo/init.lua"
        self.assertTrue(plugin.is_file(), plugin)
        vsix = self.prefix / f"share/mnemo/editors/mnemo-{VERSION}.vsix"
        self.assertTrue(vsix.is_file(), vsix)
        with zipfile.ZipFile(vsix) as z:
            manifest = json.loads(z.read("extension/package.json"))
        self.assertEqual(manifest["name"], "mnemo")
        self.assertIn("extension/out/extension.js", zipfile.ZipFile(vsix).namelist())

    def test_the_debian_package_declares_its_runtime_dependencies(self):
        if shutil.which("dpkg-deb") is None:
            self.fail("dpkg-deb is missing: this test needs a Debian machine")
        out = Path(self.tmp.name) / "deb"
        packed = run(["cpack", "-G", "DEB", "-B", out], cwd=BUILD)
        self.assertEqual(packed.returncode, 0, packed.stdout + packed.stderr)
        debs = list(out.glob("mnemo_*.deb"))
        self.assertEqual(len(debs), 1, list(out.iterdir()))
        info = run(["dpkg-deb", "--field", debs[0], "Depends"]).stdout
        for package in ("libtorch1.13", "libclang1-14", "libopenblas0-pthread", "libgit2",
                        "libsqlite3-0"):
            self.assertIn(package, info)
        contents = run(["dpkg-deb", "--contents", debs[0]]).stdout
        for path in ("./usr/bin/mnemo", "./usr/share/mnemo/model/model.safetensors",
                     "./usr/share/nvim/site/pack/mnemo/start/mnemo/lua/mnemo/init.lua"):
            self.assertIn(path, contents)


if __name__ == "__main__":
    unittest.main()
