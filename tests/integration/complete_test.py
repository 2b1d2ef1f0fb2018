#!/usr/bin/env python3
"""`mnemo complete` end to end: one query as FILE:LINE:COL and a JSON-lines
batch over the memory `mnemo index --model` wrote, with a tiny fixture model. The format is
a stable interface: one answer line per query, in order, {"suggestions": [{"text",
"score"}], "latency_ms"}, or {"error", "latency_ms"} for a query that cannot be answered.
The model's weights are random, so answers are compared with each other, not with text."""
import json
import re
import os
import subprocess
import tempfile
import unittest
from pathlib import Path

MNEMO = os.environ.get("MNEMO_BIN", "mnemo")
MODEL = os.environ["MNEMO_TINY_MODEL"]

MAIN_CPP = "#include \"geo.h\"\nint main() {\n  return geo::norm(\n}\n"
GEO_H = "#pragma once\nnamespace geo {\nint norm(int x, int y);\n}\n"


def run(*args: str, stdin: str = None, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([MNEMO, *args], input=stdin, capture_output=True, text=True,
                            timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def answers(result: subprocess.CompletedProcess) -> list:
    return [json.loads(line) for line in result.stdout.splitlines()]


class CompleteTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.repo = Path(cls.tmp.name)
        (cls.repo / "src").mkdir()
        (cls.repo / "src/main.cpp").write_text(MAIN_CPP)
        (cls.repo / "src/geo.h").write_text(GEO_H)
        run("index", str(cls.repo), "--model", MODEL, "--json")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def complete(self, *args: str, stdin: str = None, check: bool = True):
        return run("complete", "--repo", str(self.repo), "--model", MODEL, "--max-tokens", "6",
                   *args, stdin=stdin, check=check)

    def test_one_query_prints_one_answer_line(self):
        out = answers(self.complete("src/main.cpp:2:18"))
        self.assertEqual(len(out), 1)
        self.assertIn("latency_ms", out[0])
        self.assertGreater(out[0]["latency_ms"], 0)
        for s in out[0]["suggestions"]:
            self.assertEqual(set(s), {"text", "score"})
            self.assertLessEqual(s["score"], 0)

    def test_a_batch_answers_each_line_in_order_and_a_bad_query_with_an_error(self):
        queries = [
            {"file": "src/main.cpp", "line": 2, "col": 18},
            {"file": "src/main.cpp", "line": 9, "col": 0},  # past the end of the file
            {"file": "src/absent.cpp", "line": 0, "col": 0},
            {"file": "src/main.cpp", "line": 0, "col": 8, "text": "int x = \n", "max_tokens": 2},
            {"file": "src/main.cpp", "line": 0, "col": 99},
        ]
        batch = "\n".join(json.dumps(q) for q in queries) + "\n\nnot json\n"
        out = answers(self.complete("--batch", "-", stdin=batch))
        self.assertEqual(len(out), 6)
        self.assertIn("suggestions", out[0])
        self.assertIn("past the end of the file", out[1]["error"])
        self.assertIn("cannot be read", out[2]["error"])
        self.assertIn("suggestions", out[3])  # the editor's text, not the file's
        self.assertIn("past the end of line 0", out[4]["error"])
        self.assertIn("query 7", out[5]["error"])  # the line number of the bad JSON

    def test_the_same_query_twice_gives_the_same_answer(self):
        q = json.dumps({"file": "src/main.cpp", "line": 2, "col": 18})
        out = answers(self.complete("--batch", "-", stdin=q + "\n" + q + "\n"))
        self.assertEqual(out[0]["suggestions"], out[1]["suggestions"])

    def test_the_memory_is_read_unless_it_is_turned_off(self):
        # The header is only in the memory (the prompt holds main.cpp): without the memory
        # the same prompt scores its suggestion otherwise. The attention's read alone: the
        # next-token read's votes would outweigh this random model (the next test).
        q = {"file": "src/main.cpp", "line": 2, "col": 18}
        with_memory = answers(self.complete("--batch", "-", "--alternatives", "1",
                                            "--next-token-weight", "0",
                                            stdin=json.dumps(q) + "\n"))[0]
        without = answers(self.complete("--batch", "-", "--no-memory",
                                        stdin=json.dumps(q) + "\n"))[0]
        self.assertTrue(with_memory["suggestions"] and without["suggestions"])
        self.assertNotEqual(with_memory["suggestions"][0]["score"],
                            without["suggestions"][0]["score"])

    def test_the_memorys_next_token_read_changes_the_answer_when_it_has_a_weight(self):
        # Random weights: the votes of geo.h's states decide what is written, not the model.
        q = json.dumps({"file": "src/main.cpp", "line": 1, "col": 12, "max_tokens": 3}) + "\n"
        voted = answers(self.complete("--batch", "-", "--next-token-weight", "0.5", stdin=q))[0]
        alone = answers(self.complete("--batch", "-", "--next-token-weight", "0", stdin=q))[0]
        self.assertIn("suggestions", voted)
        self.assertNotEqual(voted["suggestions"], alone["suggestions"])

    def test_leaving_the_documents_file_in_the_memory_changes_the_answer(self):
        q = {"file": "src/main.cpp", "line": 2, "col": 18}
        left_out = dict(q, exclude_file_from_memory=True)
        kept = dict(q, exclude_file_from_memory=False)
        out = answers(self.complete("--batch", "-", "--next-token-weight", "0",
                                    stdin=json.dumps(left_out) + "\n" +
                                    json.dumps(kept) + "\n" + json.dumps(q) + "\n"))
        self.assertNotEqual(out[0]["suggestions"][0]["score"], out[1]["suggestions"][0]["score"])
        self.assertEqual(out[0]["suggestions"], out[2]["suggestions"])  # left out by default

    def test_alternatives_are_distinct(self):
        out = answers(self.complete("src/main.cpp:2:18", "--alternatives", "3"))[0]
        texts = [s["text"] for s in out["suggestions"]]
        self.assertLessEqual(len(texts), 3)
        self.assertEqual(len(texts), len(set(texts)))

    def test_without_a_memory_it_says_what_to_run(self):
        with tempfile.TemporaryDirectory() as empty:
            result = run("complete", "--repo", empty, "--model", MODEL, "x.cpp:0:0", check=False)
            self.assertEqual(result.returncode, 1)
            self.assertIn("mnemo index --model", result.stderr)
            self.assertEqual(result.stdout, "")

    def test_the_benchmark_prints_latency_per_memory_size_as_json(self):
        result = run("bench", "complete", "--model", MODEL, "--repo", str(self.repo),
                     "--sizes", "1000,5000", "--queries", "3", "--max-tokens", "4")
        out = json.loads(result.stdout)
        self.assertEqual([r["memory_tokens"] for r in out["results"]], [1000, 5000])
        for summary in [out["no_memory"], *out["results"]]:
            self.assertEqual(summary["n"], 3)
            self.assertLessEqual(summary["p50_ms"], summary["p99_ms"])
            self.assertEqual(summary["keystroke"]["n"], 3)
            # As the editor sees it: every fresh request, and the keystrokes that reached
            # the model (the rest were answered from the last suggestion).
            client = summary["client"]
            self.assertEqual(client["fresh"]["n"], 3)
            self.assertLessEqual(client["fresh"]["p50_ms"], client["fresh"]["p99_ms"])
        typed_ahead = out["client_keystrokes_typed_ahead"]
        self.assertEqual(sum(s["client"]["keystroke"]["n"]
                             for s in [out["no_memory"], *out["results"]]) + typed_ahead, 9)
        self.assertGreater(out["config"]["keystroke_mean_prompt_fraction_cached"], 0.5)
        self.assertGreater(out["ratio_p50_largest_to_smallest"], 0)
        self.assertEqual(out["config"]["max_tokens"], 4)

    def test_the_identifier_boost_spells_out_a_name_of_the_symbol_index(self):
        # "geo::no" at the cursor: the index has `norm` (src/geo.h); a boost that outweighs
        # the random model makes the suggestion finish that name (the names at the cursor
        # left free and no declarations block, so that the boost alone steers it and the
        # prompt is the one its 50 logits were measured on).
        query = {"file": "src/main.cpp", "line": 2, "col": 16,
                 "text": "#include \"geo.h\"\nint main() {\n  return geo::no\n}\n"}
        boosted = answers(self.complete("--identifier-boost", "50", "--batch", "-",
                                        "--next-token-weight", "0", "--free-names",
                                        "--declaration-tokens", "0",
                                        stdin=json.dumps(query) + "\n"))[0]
        self.assertTrue(boosted["suggestions"][0]["text"].startswith("rm"), boosted)
        plain = answers(self.complete("--batch", "-", "--next-token-weight", "0",
                                      "--free-names", "--declaration-tokens", "0",
                                      stdin=json.dumps(query) + "\n"))[0]
        self.assertNotEqual(plain["suggestions"][0]["text"], boosted["suggestions"][0]["text"])

    def test_after_a_scope_the_suggestion_begins_with_one_of_its_members(self):
        # "geo::" at the cursor: the random model alone writes anything; held to the names
        # libclang (or the index) gives there, the suggestion begins with a member of geo.
        query = {"file": "src/main.cpp", "line": 2, "col": 14,
                 "text": "#include \"geo.h\"\nint main() {\n  return geo::\n}\n"}
        held = answers(self.complete("--batch", "-", "--next-token-weight", "0",
                                     "--alternatives", "3", stdin=json.dumps(query) + "\n"))[0]
        self.assertEqual(held["site"], "member")
        members = {"norm"}  # geo's only member (src/geo.h)
        self.assertTrue(held["suggestions"], held)
        for suggestion in held["suggestions"]:
            name = re.match(r"[A-Za-z_]\w*", suggestion["text"])
            self.assertTrue(name and name.group(0) in members, (suggestion, held))
        self.assertTrue(all(n["name"] in members for n in held["ranked_names"]), held)

    def eval_repo(self, name, functions):
        """A small repository whose main.cpp uses what geo/ defines, indexed with the model
        (outside the class's repository, whose files the other tests count on)."""
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        repo = Path(tmp.name) / name
        (repo / "geo").mkdir(parents=True)
        (repo / "geo/point.h").write_text(
            "#pragma once\nnamespace geo {\nstruct Point { double x; };\n"
            + "".join(f"Point {f}();\n" for f in functions) + "}\n")
        (repo / "geo/point.cpp").write_text(
            "#include \"geo/point.h\"\n"
            + "".join(f"geo::Point geo::{f}() {{ return {{}}; }}\n" for f in functions))
        (repo / "main.cpp").write_text(
            "#include \"geo/point.h\"\nint main() {\n"
            + "".join(f"  geo::Point p{i} = geo::{f}();\n" for i, f in enumerate(functions))
            + "  return static_cast<int>(p0.x);\n}\n")
        run("index", str(repo), "--model", MODEL, "--json")
        return repo

    def test_eval_runs_each_case_with_the_memory_and_really_without(self):
        repo = self.eval_repo("eval-repo", ["origin"])
        out_file = Path(self.tmp.name) / "eval.json"
        html_file = Path(self.tmp.name) / "eval.html"
        result = run("eval", str(repo), "--model", MODEL, "--max-cases", "0",
                     "--json", str(out_file), "--html", str(html_file))
        self.assertIn("| condition | uses | n |", result.stdout)
        out = json.loads(out_file.read_text())
        self.assertEqual(len(out["repositories"]), 1)
        self.assertNotIn("macro", out)  # one repository: nothing to average
        repository = out["repositories"][0]
        cases = repository["cases"]
        self.assertGreater(cases, 3)  # geo, Point, origin, x where geo/ defines them
        conditions = repository["conditions"]
        names = {"full", "no_constraint", "no_declarations", "no_memory", "bm25", "oracle",
                 "symbolic", "memory_gain", "constraint_gain", "declarations_gain"}
        self.assertEqual(set(conditions), names)
        for name in names:
            self.assertEqual(conditions[name]["all"]["n"], cases, name)
        # The gain is each case's score with the memory less without: the means' difference.
        gain = conditions["memory_gain"]["all"]["identifier_top1"]["mean"]
        self.assertAlmostEqual(gain, conditions["full"]["all"]["identifier_top1"]["mean"] -
                               conditions["no_memory"]["all"]["identifier_top1"]["mean"])
        # Checked, not assumed: every case read the memory in the conditions that have it,
        # none in the others (the retrieval baselines put their context in the prompt).
        for name in ("full", "no_constraint", "no_declarations"):
            self.assertEqual(conditions[name]["all"]["cases_that_read_memory"], cases, name)
        for name in ("no_memory", "bm25", "oracle"):
            self.assertEqual(conditions[name]["all"]["cases_that_read_memory"], 0, name)
        # The symbolic baseline ranks the names at the cursor by their prior alone.
        symbolic = conditions["symbolic"]["all"]
        self.assertGreater(symbolic["identifier_top5"]["mean"], 0)
        self.assertNotIn("line_exact_match", symbolic)
        for metric in ("identifier_top1", "line_exact_match", "line_edit_similarity"):
            m = conditions["full"]["all"][metric]
            self.assertLessEqual(m["low"], m["mean"])
            self.assertLessEqual(m["mean"], m["high"])
        page = html_file.read_text()
        self.assertTrue(page.startswith("<!DOCTYPE html>"))
        self.assertIn(str(repo.resolve()), page)
        self.assertEqual(page.count("<table>"), 1)

    def test_eval_of_several_repositories_macro_averages_them(self):
        one = self.eval_repo("eval-one", ["origin"])
        two = self.eval_repo("eval-two", ["origin", "unit_x", "unit_y", "unit_z"])
        out_file = Path(self.tmp.name) / "eval.json"
        result = run("eval", str(one), str(two), "--model", MODEL, "--max-cases", "0",
                     "--json", str(out_file))
        self.assertIn("Macro-average over 2 repositories", result.stdout)
        out = json.loads(out_file.read_text())
        first, second = (r["conditions"]["symbolic"]["all"] for r in out["repositories"])
        macro = out["macro"]["symbolic"]["all"]
        self.assertEqual(macro["n"], first["n"] + second["n"])
        self.assertGreater(second["n"], first["n"])
        # Each repository weighs the same, whatever its number of cases.
        self.assertAlmostEqual(macro["identifier_mrr"]["mean"],
                               (first["identifier_mrr"]["mean"]
                                + second["identifier_mrr"]["mean"]) / 2)
        self.assertEqual(run("eval", str(one), str(two), "--model", MODEL, "--index-dir",
                             str(one / ".mnemo"), check=False).returncode, 2)

    def test_needle_mode_reports_recall_per_memory_size_and_without_memory(self):
        repo = self.eval_repo("needle-repo", ["origin", "unit_x"])
        out_file = Path(self.tmp.name) / "needle.json"
        result = run("eval", str(repo), "--model", MODEL, "--needle", "--trials", "3",
                     "--memory-tokens", "10,100000", "--json", str(out_file))
        self.assertIn("| memory tokens (mean) |", result.stdout)
        out = json.loads(out_file.read_text())
        self.assertEqual(out["config"]["trials"], 3)
        sizes = [r["memory_tokens"] for r in out["results"]]
        # The smallest memory holds the planted file alone; the other is the whole
        # repository but the file asked from (100000 is more than it has).
        self.assertEqual(len(sizes), 2)
        self.assertLess(sizes[0], sizes[1])
        self.assertEqual(out["results"][0]["files"], 1)
        self.assertEqual(out["results"][1]["files"], 2)
        # The needle's 8 random hex digits cannot be guessed by the model without the memory;
        # the full system, holding the name typed to the repository's names, writes them.
        self.assertEqual(out["no_memory"]["found_model_alone"], 0)
        self.assertEqual(out["no_memory"]["found"], 3)
        for r in out["results"]:
            self.assertEqual(r["found"], 3)

    def test_bad_usage_is_refused(self):
        self.assertEqual(self.complete("main.cpp:x:1", check=False).returncode, 2)
        self.assertEqual(self.complete(check=False).returncode, 2)


if __name__ == "__main__":
    unittest.main()
