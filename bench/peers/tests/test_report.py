"""Checks of the pure-Python parts (no CKKS library needed): hetal JSON reading, tables, bounds.

    python3 -m unittest discover -s bench/peers/tests
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from peerlib import hetal_json, security, table  # noqa: E402

# A document in the shape documented in src/cli/bench_ops.rs (format 1).
HETAL_OPS = {
    "kind": "hetal-bench-ops",
    "format": 1,
    "preset": "ops-n16",
    "threads": 2,
    "params": {"name": "ops-n16", "log_n": 16, "ring_degree": 65536, "q_limbs": 25, "p_limbs": 7,
               "q_bits": [60] + [45] * 24, "p_bits": [61] * 7, "dnum": 3, "log_scale": 45},
    "ops": {"mul_relin_rescale": {"median_s": 0.25, "min_s": 0.2, "samples_s": [0.25]},
            "rotate_8_hoisted": {"median_s": 1.5, "min_s": 1.4, "samples_s": [1.5]}},
    "precision": {"rotate": {"max_abs_err": 2.0 ** -20, "mean_abs_err": 2.0 ** -24,
                             "worst_bits": 20.0, "mean_bits": 24.0}},
    "sizes_bytes": {"ciphertext_top_level": 26214400, "galois_key_1_step": 1000},
    "peak_rss_bytes": 1 << 30,
    "notes": ["a note"],
}


class HetalJsonTest(unittest.TestCase):
    def test_params_follow_the_documented_fields(self):
        par = hetal_json.params(HETAL_OPS)
        self.assertEqual(par["ring_degree"], 65536)
        self.assertEqual(par["q_limbs"], 25)
        self.assertEqual(sum(par["q_bits"]), 60 + 24 * 45)
        self.assertEqual(par["special_bits"], [61] * 7)
        self.assertEqual(par["scale_bits"], 45)
        self.assertEqual(par["dnum"], 3)

    def test_ops_column_maps_names_and_keeps_missing_ones_missing(self):
        col = hetal_json.ops_column(HETAL_OPS, 2)
        self.assertEqual(col["ops"]["mul_relin_rescale"], 0.25)
        self.assertEqual(col["ops"]["rotate_8"], 1.5)
        self.assertNotIn("rotate", col["ops"])
        self.assertEqual(col["precision"]["rotate"]["worst_bits"], 20.0)
        self.assertEqual(col["sizes"]["rotation_key_1_step"], 1000)
        self.assertEqual(col["notes"], ["a note"])

    def test_missing_document_is_an_error_column_not_a_crash(self):
        self.assertIn("error", hetal_json.ops_column(None, 1))
        self.assertIn("error", hetal_json.boot_column(None, 1))

    def test_times_in_other_units_are_converted(self):
        self.assertAlmostEqual(hetal_json._seconds({"median_ms": 250.0}), 0.25)
        self.assertAlmostEqual(hetal_json._seconds(3), 3.0)
        self.assertIsNone(hetal_json._seconds("fast"))


class TableTest(unittest.TestCase):
    def test_hetal_column_comes_first_and_absent_cells_print_a_dash(self):
        report = {"ops": [{"library": "SEAL", "binding": "seal-python", "threads_requested": 1,
                           "same_for_threads": [1, 2],
                           "ops": {"mul_relin_rescale": {"median_s": 0.7}},
                           "precision": {}, "sizes_bytes": {}, "params_used": {}}]}
        md = table.render(report, hetal_ops=[hetal_json.ops_column(HETAL_OPS, 2)])
        header = md.splitlines()[0]
        self.assertLess(header.index("hetal"), header.index("SEAL"))
        mul_row = next(line for line in md.splitlines() if "mul + relin + rescale**" in line)
        self.assertIn("250 ms", mul_row)
        self.assertIn("700 ms", mul_row)
        rot_row = next(line for line in md.splitlines() if "8 rotations**" in line)
        self.assertTrue(rot_row.rstrip(" |").endswith("—"))

    def test_failed_library_is_listed_under_the_table(self):
        report = {"ops": [{"library": "tenseal", "threads_requested": 1, "error": "refused"}]}
        md = table.render(report, hetal_ops=[hetal_json.ops_column(HETAL_OPS, 1)])
        self.assertIn("tenseal T=1: not measured — refused", md)

    def test_formatting(self):
        self.assertEqual(table.fmt_time(1.5), "1.50 s")
        self.assertEqual(table.fmt_time(0.0123), "12.3 ms")
        self.assertEqual(table.fmt_bytes(3 << 20), "3 MiB")
        self.assertEqual(table.fmt_bits({"mean_bits": 20.04, "worst_bits": 16.0}), "20.0 / 16.0")


class SecurityTest(unittest.TestCase):
    def test_bounds(self):
        self.assertTrue(security.check(65536, 1772)["secure_128"])
        self.assertFalse(security.check(65536, 1773)["secure_128"])
        self.assertFalse(security.check(1 << 18, 10)["secure_128"])
        self.assertEqual(security.check(32768, 881)["bound_128"], 881)


class MeasureTest(unittest.TestCase):
    def setUp(self):
        try:
            from peerlib import measure
        except ImportError:  # numpy lives in bench/peers/.venv
            self.skipTest("numpy not installed for this interpreter; run with bench/peers/.venv/bin/python")
        self.measure = measure

    def test_precision_bits_of_known_errors(self):
        prec = self.measure.precision_bits([1.0, 2.0 + 2.0 ** -10], [1.0 + 2.0 ** -20, 2.0])
        self.assertAlmostEqual(prec["worst_bits"], 10.0)
        self.assertAlmostEqual(prec["mean_abs_err"], (2.0 ** -20 + 2.0 ** -10) / 2)

    def test_rotation_is_to_the_left(self):
        self.assertEqual(list(self.measure.rotated_left([0, 1, 2, 3], 1)), [1, 2, 3, 0])

    def test_timed_reports_every_sample(self):
        calls = []
        entry, result = self.measure.timed(lambda: calls.append(1) or len(calls), 3)
        self.assertEqual(len(calls), 4)  # warm-up + 3
        self.assertEqual(result, 4)
        self.assertEqual(len(entry["samples_s"]), 3)
        self.assertEqual(entry["median_s"], sorted(entry["samples_s"])[1])


if __name__ == "__main__":
    unittest.main()
