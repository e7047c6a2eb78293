"""perch.cdn status: Prometheus instant-query results -> one row per model node, and the text table."""

import pytest
from ansible_collections.perch.cdn.plugins.plugin_utils.status import (
    DNS_COLUMNS,
    EDGE_COLUMNS,
    MISSING,
    QUERIES,
    StatusError,
    status_rows,
    status_table,
)
from hypothesis import given
from hypothesis import strategies as st

MODEL = {
    "edges": {"edge-nyc1-1": {"site": "nyc1"}, "edge-fra1-1": {"site": "fra1"}, "edge-fra1-2": {"site": "fra1"}},
    "dns": {"dns-fra1-1": {"site": "fra1"}, "dns-nyc1-1": {"site": "nyc1"}},
    "origin": {"origin-1": {"site": "fra1"}},
}


def sample(value, **labels):
    return {"metric": labels, "value": [1767225600.123, str(value)]}


def test_every_model_node_gets_a_row_with_no_data():
    rows = status_rows(MODEL, {})
    assert [r["node"] for r in rows["edges"]] == ["edge-fra1-1", "edge-fra1-2", "edge-nyc1-1"]  # by site, then name
    assert [r["site"] for r in rows["edges"]] == ["fra1", "fra1", "nyc1"]
    assert [r["node"] for r in rows["dns"]] == ["dns-fra1-1", "dns-nyc1-1"]
    for row in rows["edges"]:
        assert set(row) == {k for k, _t in EDGE_COLUMNS}
        assert all(row[k] == MISSING for k, _t in EDGE_COLUMNS[2:])
    for row in rows["dns"]:
        assert set(row) == {k for k, _t in DNS_COLUMNS}
    assert rows["alerts"] == []
    assert status_rows(MODEL, {name: [] for name in QUERIES}) == rows
    assert status_rows(MODEL, {name: None for name in QUERIES}) == rows


def test_values_are_formatted_for_humans():
    results = {
        "up": [sample(1, node="edge-fra1-1"), sample(0, node="edge-fra1-2")],
        "announced": [sample(2, node="edge-fra1-1"), sample(0, node="edge-fra1-2")],
        "hit_ratio": [sample(0.975, node="edge-fra1-1"), sample("NaN", node="edge-fra1-2")],
        "rps": [sample(12.34, node="edge-fra1-1"), sample(0, node="edge-fra1-2")],
        "bps": [sample(1.5 * 1024 * 1024, node="edge-fra1-1"), sample(512, node="edge-fra1-2"),
                sample(2048, node="edge-nyc1-1")],
        "apt_lag": [sample(0, edge="edge-fra1-1"), sample(12.4, edge="edge-fra1-2")],
        "cert_days": [sample(89.7, node="edge-fra1-1"), sample(-0.5, node="edge-fra1-2")],
        "dns_qps": [sample(4.25, node="dns-fra1-1")],
        "dns_serial": [sample("2026030101", node="dns-fra1-1"), sample("2026030100", node="dns-nyc1-1")],
    }
    rows = status_rows(MODEL, results)
    fra1, fra2, nyc1 = rows["edges"]
    assert fra1 == {"node": "edge-fra1-1", "site": "fra1", "up": "up", "announced": "2", "hit_ratio": "97.5%",
                    "rps": "12.3", "bps": "1.5 MiB/s", "apt_lag": "0 s", "cert_days": "89"}
    assert fra2 == {"node": "edge-fra1-2", "site": "fra1", "up": "DOWN", "announced": "0", "hit_ratio": MISSING,
                    "rps": "0.0", "bps": "512 B/s", "apt_lag": "12 s", "cert_days": "-1"}
    assert nyc1["bps"] == "2.0 KiB/s" and nyc1["up"] == MISSING
    assert rows["dns"] == [{"node": "dns-fra1-1", "site": "fra1", "dns_qps": "4.2", "dns_serial": "2026030101"},
                           {"node": "dns-nyc1-1", "site": "nyc1", "dns_qps": MISSING, "dns_serial": "2026030100"}]


@pytest.mark.parametrize(("value", "text"), [
    (0, "0 B/s"), (1023, "1023 B/s"), (1024, "1.0 KiB/s"), (1024 ** 2 * 3.25, "3.2 MiB/s"),
    (1024 ** 3 * 2, "2.0 GiB/s"), (1024 ** 4 * 5, "5.0 TiB/s"), ("+Inf", MISSING),
])
def test_bytes_per_second(value, text):
    assert status_rows(MODEL, {"bps": [sample(value, node="edge-fra1-1")]})["edges"][0]["bps"] == text


def test_series_of_unknown_nodes_are_left_out_and_the_first_series_of_a_node_wins():
    rows = status_rows(MODEL, {"rps": [sample(1, node="edge-ams1-1"), sample(2, node="edge-fra1-1"),
                                       sample(3, node="edge-fra1-1"), sample(4, job="nginx")]})
    assert [r["rps"] for r in rows["edges"]] == ["2.0", MISSING, MISSING]
    assert len(rows["edges"]) == 3


def test_alerts_are_listed_page_first_with_where_they_fire():
    results = {"alerts": [
        sample(1, alertname="PerchHitRatioLow", alertstate="firing", severity="warn", node="edge-fra1-1",
               site="fra1", job="edge_stats", instance="198.51.100.1:3903", role="edge"),
        sample(1, alertname="PerchEdgeDown", alertstate="firing", severity="page", node="edge-nyc1-1", site="nyc1"),
        sample(1, alertname="PerchAptMetadataLag", alertstate="firing", severity="warn", edge="edge-fra1-2"),
        sample(1, alertname="Watchdog", alertstate="firing"),
    ]}
    assert status_rows(MODEL, results)["alerts"] == [
        {"alertname": "PerchEdgeDown", "severity": "page", "where": "node=edge-nyc1-1 site=nyc1"},
        {"alertname": "PerchAptMetadataLag", "severity": "warn", "where": "edge=edge-fra1-2"},
        {"alertname": "PerchHitRatioLow", "severity": "warn", "where": "node=edge-fra1-1 site=fra1"},
        {"alertname": "Watchdog", "severity": MISSING, "where": MISSING},
    ]
    text = status_table(status_rows(MODEL, results))
    assert "no alert firing" not in text
    assert "PerchEdgeDown" in text.split("Firing alerts")[1]


def test_the_table_shows_edges_then_dns_servers_then_alerts_in_aligned_columns():
    rows = status_rows(MODEL, {"hit_ratio": [sample(0.975, node="edge-fra1-1")],
                               "dns_serial": [sample(2026030101, node="dns-nyc1-1")]})
    lines = status_table(rows).splitlines()
    assert lines[0] == "Edges"
    assert lines[1].split() == ["edge", "site", "nginx", "prefixes", "hit", "ratio", "req/s", "sent", "apt", "lag",
                                "cert", "days"]
    assert lines[2].split() == ["edge-fra1-1", "fra1", MISSING, MISSING, "97.5%", MISSING, MISSING, MISSING, MISSING]
    assert lines[1].index("hit ratio") == lines[2].index("97.5%")  # fixed width: columns line up
    assert lines.index("DNS servers") == 6 and lines[7].split()[:2] == ["dns", "server"]
    assert lines[9].split() == ["dns-nyc1-1", "nyc1", MISSING, "2026030101"]
    assert lines[-2:] == ["Firing alerts", "  no alert firing"]
    assert all(line == line.rstrip() for line in lines)


def test_an_empty_model_says_so():
    text = status_table(status_rows({"edges": {}, "dns": {}}, {}))
    assert "no edge in the model" in text and "no DNS server in the model" in text and "no alert firing" in text


def test_queries_cover_every_column():
    assert {k for k, _t in EDGE_COLUMNS[2:]} | {k for k, _t in DNS_COLUMNS[2:]} | {"alerts"} == set(QUERIES)
    assert QUERIES["hit_ratio"] == "perch:edge_hit_ratio:rate5m"
    assert QUERIES["alerts"] == 'ALERTS{alertstate="firing"}'


@pytest.mark.parametrize(("model", "results", "words"), [
    (None, {}, ["the model must be a mapping", "None"]),
    ({"edges": ["edge-fra1-1"]}, {}, ["model.edges", "['edge-fra1-1']"]),
    ({"edges": {"edge-fra1-1": "fra1"}}, {}, ["model.edges.edge-fra1-1", "'fra1'"]),
    (MODEL, [], ["the results must be a mapping", "[]"]),
    (MODEL, {"hits": []}, ["unknown queries ['hits']"]),
    (MODEL, {"rps": {"status": "success"}}, ["query 'rps'", "{'status': 'success'}"]),
    (MODEL, {"rps": [{"metric": {}, "value": 3}]}, ["query 'rps'", "'value': 3"]),
    (MODEL, {"rps": [sample("many", node="edge-fra1-1")]}, ["query 'rps'", "'many' in"]),
])
def test_bad_input_is_an_error_that_names_it(model, results, words):
    with pytest.raises(StatusError) as exc:
        status_rows(model, results)
    for w in words:
        assert w in str(exc.value), (w, str(exc.value))


def test_bad_rows_are_an_error():
    with pytest.raises(StatusError, match="status_rows' result"):
        status_table({"edges": "none"})


NODE_NAMES = st.sampled_from(["edge-fra1-1", "edge-fra1-2", "edge-nyc1-1", "dns-fra1-1", "dns-nyc1-1", "ghost"])
NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                    st.integers(-10 ** 12, 10 ** 12).map(str), st.sampled_from(["NaN", "+Inf", "-Inf", "1e308"]))
SERIES = st.builds(lambda label, node, value, extra: {"metric": {label: node, **extra}, "value": [0, value]},
                   st.sampled_from(["node", "edge", "instance"]), NODE_NAMES, NUMBERS,
                   st.dictionaries(st.sampled_from(["site", "severity", "alertname", "job"]), st.text(max_size=8),
                                   max_size=3))
RESULTS = st.dictionaries(st.sampled_from(sorted(QUERIES)), st.one_of(st.none(), st.lists(SERIES, max_size=6)))
MODELS = st.fixed_dictionaries({
    "edges": st.dictionaries(st.text(min_size=1, max_size=12), st.fixed_dictionaries({"site": st.text(max_size=6)}),
                             max_size=5),
    "dns": st.dictionaries(st.text(min_size=1, max_size=12), st.fixed_dictionaries({"site": st.text(max_size=6)}),
                           max_size=4),
})


@given(st.one_of(st.just(MODEL), MODELS), RESULTS)
def test_any_mix_of_present_and_missing_results_gives_one_row_per_node(model, results):
    rows = status_rows(model, results)
    assert sorted(r["node"] for r in rows["edges"]) == sorted(model["edges"])
    assert sorted(r["node"] for r in rows["dns"]) == sorted(model["dns"])
    assert all(isinstance(v, str) and v for r in rows["edges"] + rows["dns"] for v in r.values() if v != r["site"])
    assert len(rows["alerts"]) == len(results.get("alerts") or [])
    text = status_table(rows)
    assert text.startswith("Edges\n") and "\nDNS servers\n" in text and "\nFiring alerts\n" in text
