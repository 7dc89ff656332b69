"""Raw-output TFLite SSDs: the anchor spec flag and the CLI's one-line errors (the real model's
conversion and parity are in test_real_exports.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from trtssd.conversion.tflite_raw import parse_anchor_spec
from trtssd.models.spec import GridAnchorSpec


@pytest.mark.parametrize("text, expected", [
    ("", GridAnchorSpec()),
    ("min_scale=0.1", GridAnchorSpec(min_scale=0.1)),
    ("max_scale=0.9, aspect_ratios=1:2:0.5", GridAnchorSpec(max_scale=0.9, aspect_ratios=(1.0, 2.0, 0.5))),
    ("feature_maps=20:10,reduce_lowest=0", GridAnchorSpec(feature_map_sizes=((20, 20), (10, 10)), reduce_boxes_in_lowest_layer=False)),
])
def test_parse_anchor_spec(text, expected):
    assert parse_anchor_spec(text) == expected


@pytest.mark.parametrize("text, match", [
    ("scale=0.2", "expected KEY=VALUE with KEY in"),
    ("min_scale", "expected KEY=VALUE"),
    ("aspect_ratios=1:two", "expected numbers separated by ':' for aspect_ratios, found '1:two'"),
])
def test_parse_anchor_spec_errors(text, match):
    with pytest.raises(ValueError, match=match):
        parse_anchor_spec(text)


@pytest.mark.parametrize("flags, message", [
    (["--anchors", "min_scale=x"], "trtssd: error: anchor spec: expected numbers separated by ':' for min_scale, found 'x'"),
    (["--input_size", "300"], "trtssd: error: --input_size: expected HxW in pixels (e.g. 300x300), found '300'"),
])
def test_convert_flag_errors_are_one_line(tmp_path, flags, message):
    model = tmp_path / "m.tflite"
    model.write_bytes(b"\0\0\0\0TFL3")
    r = subprocess.run([sys.executable, "-m", "trtssd.cli.main", "convert", str(model), *flags],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and r.stderr.strip() == message
