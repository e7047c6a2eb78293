"""perch.cdn.status_queries and perch.cdn.status_table: the filters of playbooks/status.yml."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.perch.cdn.plugins.filter.status_table import FilterModule, status_queries, status_table
from ansible_collections.perch.cdn.plugins.plugin_utils.status import QUERIES

MODEL = {"edges": {"edge-fra1-1": {"site": "fra1"}}, "dns": {"dns-fra1-1": {"site": "fra1"}}}


def test_filters_are_registered():
    assert FilterModule().filters() == {"status_queries": status_queries, "status_table": status_table}


def test_status_queries_ignores_its_input_and_returns_a_copy():
    assert status_queries({}) == QUERIES
    assert status_queries(None) == status_queries("anything") == QUERIES
    status_queries({})["up"] = "vector(1)"
    assert QUERIES["up"] != "vector(1)"


def test_status_table_is_the_text():
    text = status_table({"hit_ratio": [{"metric": {"node": "edge-fra1-1"}, "value": [0, "0.5"]}]}, MODEL)
    assert "50.0%" in text and "dns-fra1-1" in text and text.endswith("no alert firing")


@pytest.mark.parametrize(("results", "model", "words"), [
    ({"bogus": []}, MODEL, ["'bogus'"]),
    ({}, "model", ["the model must be a mapping", "'model'"]),
    ({"up": "1"}, MODEL, ["query 'up'", "'1'"]),
])
def test_errors_name_the_filter_and_the_value(results, model, words):
    with pytest.raises(AnsibleFilterError) as exc:
        status_table(results, model)
    msg = str(exc.value)
    assert msg.startswith("perch.cdn.status_table: "), msg
    for w in words:
        assert w in msg, (w, msg)
