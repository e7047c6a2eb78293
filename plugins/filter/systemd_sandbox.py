# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from ansible.errors import AnsibleFilterError

# plugin_utils is imported inside the filter: to find one filter by name, Ansible imports every filter
# file of the collection, in every worker process.

DOCUMENTATION = r"""
name: systemd_sandbox
short_description: The systemd sandbox directives of a perch.cdn unit
version_added: 1.0.0
author: perch.cdn maintainers (@perch-cdn)
description:
  - Every unit the collection writes starts from the same denials (C(ProtectSystem=strict), C(NoNewPrivileges),
    C(PrivateTmp), C(PrivateDevices), kernel and control group protection, a system call filter, an empty
    capability bounding set) and adds only what it needs.
  - Raises an error naming C(perch.cdn.systemd_sandbox) and the bad key.
options:
  _input:
    description:
      - "C(user): a user name, C(dynamic) (DynamicUser), or empty for root (then it should keep only C(caps)).
        C(group), C(groups) (supplementary), C(write) (the paths it may write), C(caps) (capabilities kept,
        ambient for a non-root user), C(families) (address families; empty: no network at all),
        C(umask) (default 0077)."
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: A unit that talks to BIRD as the bird user
  ansible.builtin.copy:
    dest: /etc/systemd/system/example.service
    content: |
      [Service]
      ExecStart=/usr/local/sbin/example
      {{ {'user': 'bird', 'families': ['AF_UNIX', 'AF_INET']} | perch.cdn.systemd_sandbox }}
    mode: "0644"
"""

RETURN = r"""
_value:
  description: The directives, one per line.
  type: str
"""

FQCN = "perch.cdn.systemd_sandbox"


def systemd_sandbox(spec):
    from ansible_collections.perch.cdn.plugins.plugin_utils.systemd import SandboxError
    from ansible_collections.perch.cdn.plugins.plugin_utils.systemd import systemd_sandbox as _systemd_sandbox
    try:
        return _systemd_sandbox(spec)
    except SandboxError as exc:
        raise AnsibleFilterError(f"{FQCN}: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"systemd_sandbox": systemd_sandbox}
