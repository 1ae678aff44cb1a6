"""Text dataset loading and every input error it reports."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agent.data import load_dataset
from agent.data.demo import demo_dataset
from agent.errors import InputError


def write(tmp_path, name, text, mode="w"):
    path = tmp_path / name
    if mode == "wb":
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_csv_with_labels_infers_sorted_classes(tmp_path):
    path = write(tmp_path, "news.csv", "text,label\nrain today,weather\ngoal!,sports\nsnow,weather\n")
    dataset = load_dataset(path)
    assert dataset.class_names == ("sports", "weather")
    assert list(dataset.labels) == [1, 0, 1]
    assert dataset.inputs == ["rain today", "goal!", "snow"]
    assert dataset.modality == "text"


def test_tsv_and_custom_columns(tmp_path):
    path = write(tmp_path, "d.tsv", "body\ttopic\nhello there\ta\nbye now\tb\n")
    dataset = load_dataset(path, text_column="body", label_column="topic")
    assert dataset.inputs == ["hello there", "bye now"]
    assert list(dataset.labels) == [0, 1]


def test_jsonl_without_labels_needs_classes(tmp_path):
    path = write(tmp_path, "d.jsonl", '{"text": "one"}\n\n{"text": "two"}\n')
    with pytest.raises(InputError, match="no label column"):
        load_dataset(path)
    dataset = load_dataset(path, classes="x,y")
    assert dataset.labels is None
    assert dataset.class_names == ("x", "y")


def test_classes_file_keeps_order(tmp_path):
    classes = write(tmp_path, "classes.txt", "weather\nsports\n\n")
    path = write(tmp_path, "news.csv", "text,label\nrain,weather\ngoal,sports\n")
    dataset = load_dataset(path, classes_file=classes)
    assert dataset.class_names == ("weather", "sports")
    assert list(dataset.labels) == [0, 1]


def test_integer_labels_are_indices(tmp_path):
    path = write(tmp_path, "d.csv", "text,label\na,1\nb,0\n")
    dataset = load_dataset(path, classes="neg,pos")
    assert list(dataset.labels) == [1, 0]


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="dataset file not found: .*missing.csv"):
        load_dataset(tmp_path / "missing.csv")


def test_empty_file(tmp_path):
    with pytest.raises(InputError, match="is empty"):
        load_dataset(write(tmp_path, "e.csv", ""))


def test_header_without_rows(tmp_path):
    with pytest.raises(InputError, match="header but no rows"):
        load_dataset(write(tmp_path, "h.csv", "text,label\n"))


def test_missing_text_column(tmp_path):
    path = write(tmp_path, "d.csv", "body,label\nx,a\n")
    with pytest.raises(InputError, match=r"column 'text' not found .*\(columns: body, label\); pass --text-column"):
        load_dataset(path)


def test_missing_label_column(tmp_path):
    path = write(tmp_path, "d.csv", "text,label\nx,a\n")
    with pytest.raises(InputError, match="label column 'topic' not found"):
        load_dataset(path, label_column="topic")


def test_duplicate_class_names():
    with pytest.raises(InputError, match="class name 'cat' appears twice in --classes"):
        load_dataset("demo", classes="cat,dog,cat")


def test_empty_class_name(tmp_path):
    classes = write(tmp_path, "c.txt", "cat\n\ndog\n")
    with pytest.raises(InputError, match="position 2 .* is empty"):
        load_dataset(write(tmp_path, "d.csv", "text\nx\n"), classes_file=classes)


def test_single_class_rejected():
    with pytest.raises(InputError, match="at least 2"):
        load_dataset("demo", classes="only")


def test_label_outside_class_list(tmp_path):
    path = write(tmp_path, "d.csv", "text,label\na,cat\nb,dog\nc,bird\n")
    with pytest.raises(InputError, match=r"label 'bird' in row 4 of .* is not among the classes \(cat, dog\)"):
        load_dataset(path, classes="cat,dog")


def test_undecodable_row(tmp_path):
    path = write(tmp_path, "d.csv", b"text,label\nfine,a\nbad \xff\xfe,b\n", mode="wb")
    with pytest.raises(InputError, match="line 3 of .* is not valid UTF-8 .*re-save the file as UTF-8"):
        load_dataset(path)


def test_invalid_jsonl_line(tmp_path):
    path = write(tmp_path, "d.jsonl", '{"text": "a", "label": "x"}\n{"text": \n')
    with pytest.raises(InputError, match="line 2 of .* is not valid JSON"):
        load_dataset(path)


def test_unsupported_suffix(tmp_path):
    with pytest.raises(InputError, match="unsupported dataset file type '.xlsx'"):
        load_dataset(write(tmp_path, "d.xlsx", "x"))


def test_empty_texts_skipped(tmp_path):
    path = write(tmp_path, "d.csv", "text,label\n,a\nkept,b\n  ,a\nalso,a\n")
    dataset = load_dataset(path)
    assert dataset.inputs == ["kept", "also"]
    assert list(dataset.labels) == [1, 0]


def test_both_class_options_rejected(tmp_path):
    classes = write(tmp_path, "c.txt", "a\nb\n")
    with pytest.raises(InputError, match="either --classes or --classes-file"):
        load_dataset("demo", classes="a,b", classes_file=classes)


def test_max_inputs_is_seeded_subset():
    first = load_dataset("demo", max_inputs=20, seed=3)
    again = load_dataset("demo", max_inputs=20, seed=3)
    other = load_dataset("demo", max_inputs=20, seed=4)
    assert len(first) == 20
    assert first.inputs == again.inputs
    assert first.inputs != other.inputs
    assert first.inputs_hash != load_dataset("demo").inputs_hash
    full = demo_dataset()
    positions = [full.inputs.index(text) for text in first.inputs]
    assert positions == sorted(positions)
    assert list(first.labels) == [int(full.labels[p]) for p in positions]


def test_max_inputs_must_be_positive():
    with pytest.raises(InputError, match="--max-inputs must be at least 1"):
        load_dataset("demo", max_inputs=0)


def test_demo_dataset_shape():
    dataset = demo_dataset()
    assert len(dataset) == 160
    assert dataset.class_names == ("sports", "weather", "cooking", "finance")
    assert np.bincount(dataset.labels).tolist() == [40, 40, 40, 40]
    assert len(set(dataset.inputs)) == 160


def test_description_is_stored(tmp_path):
    path = write(tmp_path, "d.csv", "text,label\na,x\nb,y\n")
    assert load_dataset(path, description="  support tickets ").description == "support tickets"


def test_shared_ag_news_loads():
    from conftest import shared_file

    dataset = load_dataset(shared_file("text/ag_news/test.csv"), max_inputs=50)
    assert dataset.class_names == ("Business", "Sci/Tech", "Sports", "World")
    assert len(dataset) == 50
    assert json.dumps(dataset.inputs)


def test_empty_label_names_row(tmp_path):
    path = write(tmp_path, "d.csv", 'text,label\na,x\n"unclosed,y\nb,x\n')
    with pytest.raises(InputError, match="row 3 of .* has an empty 'label'"):
        load_dataset(path)


def test_classes_file_not_utf8(tmp_path):
    classes = write(tmp_path, "c.txt", "caf\xe9\nbar\n".encode("latin-1"), mode="wb")
    with pytest.raises(InputError, match="is not valid UTF-8"):
        load_dataset("demo", classes_file=classes)
