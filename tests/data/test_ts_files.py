"""The .ts reader (UEA/UCR archive format): header variants, unequal lengths, missing values, malformed files
refused with file and line; and the Japanese Vowels data set as its README describes it."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from rnnlab.data import DataError, load_japanese_vowels, read_ts

MULTIVARIATE = """# a comment
#
@problemName Toy
@timeStamps false
@missing false
@univariate false
@dimensions 2
@equalLength false
@classLabel true up down
@data
1,2,3:4,5,6:up
7,8:9,10:down

0.5,1.5,2.5,3.5:1,1,1,1:up
"""


def _write(tmp_path: Path, text: str, name: str = "x.ts") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


def test_a_multivariate_file_of_unequal_lengths_is_padded_and_keeps_each_length(tmp_path):
    data = read_ts(_write(tmp_path, MULTIVARIATE))
    assert data.x.shape == (3, 4, 2) and data.lengths.tolist() == [3, 2, 4]
    assert data.classes == ["up", "down"] and data.y.tolist() == [0, 1, 0]  # @classLabel's order
    torch.testing.assert_close(data.x[0], torch.tensor([[1.0, 4], [2, 5], [3, 6], [0, 0]]))
    torch.testing.assert_close(data.x[1, :2], torch.tensor([[7.0, 9], [8, 10]]))
    assert torch.all(data.x[1, 2:] == 0)


@pytest.mark.parametrize("variant", ["crlf", "upper-case keys", "no optional headers", "series length",
                                     "numeric labels", "univariate"])
def test_header_variants(variant, tmp_path):
    if variant == "crlf":
        text = MULTIVARIATE.replace("\n", "\r\n")
    elif variant == "upper-case keys":
        text = MULTIVARIATE.replace("@classLabel", "@CLASSLABEL").replace("@equalLength", "@EqualLength")
    elif variant == "no optional headers":
        text = "@classLabel true up down\n@data\n1,2,3:4,5,6:up\n7,8:9,10:down\n"
    elif variant == "series length":
        text = "@equalLength true\n@seriesLength 2\n@classLabel true a b\n@data\n1,2:a\n3,4:b\n"
    elif variant == "numeric labels":
        text = "@classLabel true 10 2 3\n@data\n1,2:10\n3,4:2\n5,6:3\n"
    else:
        text = "@univariate true\n@classLabel true a b\n@data\n1,2,3,4:a\n5,6:b\n"
    data = read_ts(_write(tmp_path, text))
    assert len(data) >= 2 and data.x.dim() == 3
    if variant == "numeric labels":
        assert data.classes == ["10", "2", "3"] and data.y.tolist() == [0, 1, 2]
    if variant == "univariate":
        assert data.x.shape == (2, 4, 1) and data.lengths.tolist() == [4, 2]


def test_missing_values_at_the_end_are_padding_and_inside_are_interpolated(tmp_path):
    text = "@missing true\n@classLabel true a b\n@data\n" \
           "1,?,3,?,?:10,20,NaN,?,?:a\n" \
           "?,2,4:5,5,5:b\n"
    data = read_ts(_write(tmp_path, text))
    assert data.lengths.tolist() == [3, 3]  # trailing steps missing in every channel are dropped
    torch.testing.assert_close(data.x[0, :3], torch.tensor([[1.0, 10], [2, 20], [3, 20]]))  # linear; last value
    torch.testing.assert_close(data.x[1, :3, 0], torch.tensor([2.0, 2, 4]))  # before the first: the nearest


def test_an_unlabelled_file_reads_for_prediction_only(tmp_path):
    path = _write(tmp_path, "@classLabel false\n@data\n1,2:3,4\n5,6,7:8,9,10\n")
    data = read_ts(path, labels_required=False)
    assert data.classes == ["?"] and data.lengths.tolist() == [2, 3] and data.x.shape == (2, 3, 2)
    with pytest.raises(DataError, match="no class labels"):
        read_ts(path)


@pytest.mark.parametrize("body,message", [
    ("1,2:3,4:left\n", r"x.ts:4: class label 'left' is not among those @classLabel declares \(up down\)"),
    ("1,2:3,x:up\n", r"x.ts:4: channel 2: 'x' is not a number"),
    ("1,2:up\n", r"x.ts:4: 1 channel\(s\), where @dimensions says 2"),
    ("1,2,3:4,5:up\n", r"x.ts:4: its channels have different lengths \(2, 3 values\)"),
    ("1,2:?,?:up\n", r"x.ts:4: channel 2 has no value at all"),
    ("1,2:3,inf:up\n", r"x.ts:4: infinite values"),
    ("", r"x.ts: no cases after @data"),
])
def test_malformed_cases_are_refused_with_file_and_line(body, message, tmp_path):
    header = "@dimensions 2\n@classLabel true up down\n@data\n"
    with pytest.raises(DataError, match=message):
        read_ts(_write(tmp_path, header + body))


@pytest.mark.parametrize("text,message", [
    ("1,2:3,4:a\n", r"x.ts:1: expected a '@' header line or '@data' before the cases"),
    ("@classLabel true a\n", r"x.ts: no @data line"),
    ("@classLabel true\n@data\n1:a\n", r"x.ts:1: @classLabel true must list the class labels"),
    ("@classLabel true a a\n@data\n", r"@classLabel lists a label twice"),
    ("@univariate maybe\n@data\n", r"x.ts:1: @univariate must be followed by true or false"),
    ("@dimensions two\n@data\n", r"x.ts:1: @dimensions must be a positive whole number"),
    ("@timeStamps true\n@classLabel true a\n@data\n(1,2):a\n", r"@timeStamps true: .* not supported"),
    ("@targetLabel true\n@data\n1,2:0.5\n", r"@targetLabel true: a regression data set"),
    ("@equalLength true\n@classLabel true a\n@data\n1,2:a\n1:a\n",
     r"x.ts:5: @equalLength true, but this case has 1 steps and line 4's 2"),
    ("@classLabel true a\n@data\n1,2:a\n1,2:3,4:a\n", r"x.ts:4: 2 channels, where line 3 has 1"),
    ("@classLabel true a\n@data\n1,2\n", r"x.ts:3: expected channels and a class label separated by ':'"),
])
def test_malformed_files_are_refused_with_file_and_line(text, message, tmp_path):
    with pytest.raises(DataError, match=message):
        read_ts(_write(tmp_path, text))


def test_missing_files_and_binary_files_are_refused_by_name(tmp_path):
    with pytest.raises(DataError, match="nothere.ts: no such file"):
        read_ts(tmp_path / "nothere.ts")
    binary = tmp_path / "binary.ts"
    binary.write_bytes(b"@data\n\xff\xfe\x00:1\n")
    with pytest.raises(DataError, match="binary.ts:2: not valid UTF-8"):
        read_ts(binary)


def test_japanese_vowels_is_the_official_split_with_validation_held_out_of_training():
    splits = load_japanese_vowels()
    train, validation, test = splits
    assert (len(train), len(validation), len(test)) == (243, 27, 370)
    assert train.x.shape[-1] == test.x.shape[-1] == 12 and len(train.classes) == 9
    lengths = torch.cat([train.lengths, validation.lengths, test.lengths])
    assert (int(lengths.min()), int(lengths.max())) == (7, 29)
    assert validation.y.bincount().tolist() == [3] * 9  # stratified: three utterances per speaker
    assert torch.isfinite(train.x).all() and not math.isnan(float(test.x.sum()))
