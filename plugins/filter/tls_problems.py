# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from ansible.errors import AnsibleFilterError

# plugin_utils is imported inside the filter: to find one filter by name, Ansible imports every filter
# file of the collection, in every worker process.

# The documentation of the filters is in tls_problems.yml, tls_report.yml and tls_layout.yml.

FQCN = "perch.cdn.tls_problems"


def tls_problems(certificates, cert_info, key_info, chains, min_days):
    from ansible_collections.perch.cdn.plugins.plugin_utils.tls import TlsError
    from ansible_collections.perch.cdn.plugins.plugin_utils.tls import tls_problems as _tls_problems
    try:
        return _tls_problems(certificates, cert_info, key_info, chains, min_days)
    except TlsError as exc:
        raise AnsibleFilterError(f"{FQCN}: {exc}") from exc


def tls_report(infos, node, min_days):
    from ansible_collections.perch.cdn.plugins.plugin_utils.tls import TlsError
    from ansible_collections.perch.cdn.plugins.plugin_utils.tls import tls_report as _tls_report
    try:
        return _tls_report(infos, node, min_days)
    except TlsError as exc:
        raise AnsibleFilterError(f"perch.cdn.tls_report: {exc}") from exc


def tls_layout(certificates, keys, tls_dir, keep):
    from ansible_collections.perch.cdn.plugins.plugin_utils.tls import TlsError
    from ansible_collections.perch.cdn.plugins.plugin_utils.tls import tls_layout as _tls_layout
    try:
        return _tls_layout(certificates, keys, tls_dir, keep)
    except TlsError as exc:
        raise AnsibleFilterError(f"perch.cdn.tls_layout: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"tls_problems": tls_problems, "tls_report": tls_report, "tls_layout": tls_layout}
