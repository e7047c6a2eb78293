# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from ansible.errors import AnsibleFilterError
from ansible_collections.perch.cdn.plugins.plugin_utils.tls import TlsError
from ansible_collections.perch.cdn.plugins.plugin_utils.tls import tls_problems as _tls_problems
from ansible_collections.perch.cdn.plugins.plugin_utils.tls import tls_report as _tls_report

DOCUMENTATION = r"""
name: tls_problems
short_description: Everything that makes certificates unfit to deploy, from what community.crypto read of them
version_added: 1.0.0
author: perch.cdn maintainers (@perch-cdn)
description:
  - "Takes the certificates of the tls role and, for each, the result of M(community.crypto.x509_certificate_info),
    M(community.crypto.openssl_privatekey_info) and M(community.crypto.certificate_complete_chain) (same order),
    and returns one C(certificate '<name>': <problem>) string per problem; an empty list means fit to deploy."
  - "Problems: an unreadable certificate or key, a key that does not match, a chain that does not lead to a trusted
    root, a hostname not covered by a SAN (exact or one-level wildcard), expired, not valid yet, or
    O(min_days) days left or fewer."
  - Raises an error naming C(perch.cdn.tls_problems) for input of the wrong shape.
positional: cert_info, key_info, chains, min_days
options:
  _input:
    description: The certificates, C([{name, hostnames, cert}]).
    type: list
    elements: dict
    required: true
  cert_info:
    description: The M(community.crypto.x509_certificate_info) results, one per certificate.
    type: list
    elements: dict
    required: true
  key_info:
    description: The M(community.crypto.openssl_privatekey_info) results, one per certificate.
    type: list
    elements: dict
    required: true
  chains:
    description: The M(community.crypto.certificate_complete_chain) results, one per certificate.
    type: list
    elements: dict
    required: true
  min_days:
    description: Refuse a certificate with this many days left or fewer (C(tls_min_days_valid)).
    type: int
    required: true
"""

EXAMPLES = r"""
- name: Collect the problems
  ansible.builtin.set_fact:
    __tls_problems: >-
      {{ __tls_public | perch.cdn.tls_problems(__tls_cert_info.results, __tls_key_info.results,
                                               __tls_chain.results, tls_min_days_valid) }}
"""

RETURN = r"""
_value:
  description: The problems, in certificate order; empty when every certificate is fit.
  type: list
  elements: str
  sample: ["certificate 'cdn': does not cover hostname download.cdn.example.org (SANs: dns:www.cdn.example.org)"]
"""

FQCN = "perch.cdn.tls_problems"


def tls_problems(certificates, cert_info, key_info, chains, min_days):
    try:
        return _tls_problems(certificates, cert_info, key_info, chains, min_days)
    except TlsError as exc:
        raise AnsibleFilterError(f"{FQCN}: {exc}") from exc


def tls_report(infos, node, min_days):
    try:
        return _tls_report(infos, node, min_days)
    except TlsError as exc:
        raise AnsibleFilterError(f"perch.cdn.tls_report: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"tls_problems": tls_problems, "tls_report": tls_report}
