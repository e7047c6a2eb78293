# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from ansible.errors import AnsibleFilterError

# plugin_utils is imported inside the filters: to find one filter by name, Ansible imports every filter
# file of the collection, in every worker process.

# The documentation of the filters is in status_table.yml and status_queries.yml.

FQCN = "perch.cdn.status_table"


def status_queries(_input=None):
    from ansible_collections.perch.cdn.plugins.plugin_utils.status import QUERIES
    return dict(QUERIES)


def status_table(results, model):
    from ansible_collections.perch.cdn.plugins.plugin_utils.status import StatusError, status_rows
    from ansible_collections.perch.cdn.plugins.plugin_utils.status import status_table as _status_table
    try:
        return _status_table(status_rows(model, results))
    except StatusError as exc:
        raise AnsibleFilterError(f"{FQCN}: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"status_queries": status_queries, "status_table": status_table}
