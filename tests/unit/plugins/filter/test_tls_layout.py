"""perch.cdn.tls_layout: one perch.cdn.files call per edge for every certificate."""

import hashlib

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.perch.cdn.plugins.filter.tls_problems import tls_layout

CERTS = [{"name": "cdn", "fullchain": "CHAIN A\n", "hostnames": ["cdn.example.org"]},
         {"name": "apt", "fullchain": "CHAIN B\n"}]
KEYS = {"cdn": "KEY A\n", "apt": "KEY B\n"}


def test_each_certificate_gets_a_version_named_by_its_chain_a_link_and_pruning():
    layout = tls_layout(CERTS, KEYS, "/etc/perch/tls/", 2)
    va = hashlib.sha256(b"CHAIN A\n").hexdigest()[:16]
    assert layout["directories"][0] == {"paths": ["/etc/perch/tls", "/etc/perch/tls/.versions"], "mode": "0700"}
    assert {"paths": ["/etc/perch/tls/.versions/cdn", f"/etc/perch/tls/.versions/cdn/{va}"],
            "mode": "0700"} in layout["directories"]
    assert layout["files"][0] == {"path": f"/etc/perch/tls/.versions/cdn/{va}/fullchain.pem", "content": "CHAIN A\n"}
    assert layout["secret_files"][1]["content"] == "KEY B\n"
    assert all("KEY" not in str(f) for f in layout["files"])  # keys only where their content is never shown
    assert layout["links"][0] == {"path": "/etc/perch/tls/cdn", "src": f".versions/cdn/{va}"}
    assert layout["prune"][0] == {"path": "/etc/perch/tls/.versions/cdn", "keep": 2, "protect": [va]}
    assert len(layout["links"]) == len(layout["prune"]) == 2


@pytest.mark.parametrize(("args", "message"), [
    ((CERTS, {"cdn": "K"}, "/etc/perch/tls", 2), "certificate 'apt' has no private key"),
    ((CERTS, KEYS, "etc/perch/tls", 2), "tls_dir 'etc/perch/tls' must be an absolute path"),
    ((CERTS, KEYS, "/etc/perch/tls", 0), "tls_keep_versions 0 must be a whole number of at least 1"),
    (([{"name": "cdn"}], KEYS, "/etc/perch/tls", 2), "certificate 'cdn' needs a name and a fullchain"),
    (("cdn", KEYS, "/etc/perch/tls", 2), "the certificates must be a list"),
])
def test_bad_input_names_the_filter_and_the_field(args, message):
    with pytest.raises(AnsibleFilterError, match=f"^perch.cdn.tls_layout: {message}"):
        tls_layout(*args)
