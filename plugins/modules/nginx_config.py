#!/usr/bin/python
# Copyright: perch.cdn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: nginx_config
short_description: Install nginx configuration files only after nginx -t accepts them
version_added: 1.0.0
author: perch.cdn maintainers (@perch-cdn)
description:
  - Compares each of O(files) with the file on disk. When one differs, copies O(root) into a throwaway directory,
    puts the new contents there, points every absolute path under O(root) in the copy at the copy, and runs
    C(nginx -t) on it. Only when nginx accepts the whole configuration are the files installed, each one written
    beside its destination and renamed over it; otherwise nothing on disk changes and the module fails with
    nginx's own message.
  - "The one configuration check of perch.cdn: the cache_edge and origin roles install their nginx configuration
    through it. Reloading nginx is the caller's business (a handler)."
options:
  files:
    description: The files to install.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Absolute path of the file, under O(root).
        type: path
        required: true
      content:
        description: The file's content.
        type: str
        required: true
      mode:
        description: The file's mode.
        type: str
        default: "0644"
  root:
    description: nginx's configuration directory; O(main) is relative to it.
    type: path
    default: /etc/nginx
  main:
    description: The main configuration file, relative to O(root).
    type: str
    default: nginx.conf
  test:
    description:
      - "Run C(nginx -t) on the candidate. Without nginx installed there is nothing to test with, and the files are
        installed untested (a new node: the package comes later and starts with this configuration)."
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Tests the candidate and reports what would change, without writing anything.
  diff_mode:
    support: full
    description: Shows each changed file, before and after.
notes:
  - The candidate test needs nginx; it is skipped (and says so in RV(tested)) when C(nginx) is not installed.
"""

EXAMPLES = r"""
- name: Install the edge's configuration (tested with nginx -t first)
  perch.cdn.nginx_config:
    files:
      - {path: /etc/nginx/nginx.conf, content: "{{ lookup('ansible.builtin.template', 'nginx.conf.j2') }}"}
      - {path: /etc/nginx/perch/cdn.conf, content: "{{ lookup('ansible.builtin.template', 'cdn.conf.j2') }}"}
  notify: Reload nginx
"""

RETURN = r"""
changed_files:
  description: The paths whose content changed (or would change), sorted.
  type: list
  elements: str
  returned: always
tested:
  description: Whether nginx -t ran on the candidate.
  type: bool
  returned: always
"""

import os  # noqa: E402 (after the documentation strings, as Ansible modules are written)
import shutil  # noqa: E402
import tempfile  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402


def _read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return None


def _candidate(module, root, files):
    """A copy of root with the new files in it and every path under root pointed at the copy."""
    work = tempfile.mkdtemp(prefix="perch-nginx-")
    tree = os.path.join(work, "etc")
    shutil.copytree(root, tree, symlinks=True)
    for f in files:
        dest = os.path.join(tree, os.path.relpath(f["path"], root))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        if os.path.islink(dest):
            os.unlink(dest)
        with open(dest, "w", encoding="utf-8") as out:
            out.write(f["content"])
    prefix = root.rstrip("/") + "/"
    for dirpath, _dirs, names in os.walk(tree):
        for name in names:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                continue
            try:
                with open(path, encoding="utf-8") as fh:
                    text = fh.read()
            except (UnicodeDecodeError, OSError):
                continue
            if prefix in text:
                with open(path, "w", encoding="utf-8") as fh:
                    fh.write(text.replace(prefix, tree + "/"))
    return work, tree


def _install(path, content, mode):
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".perch-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(content)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main():
    module = AnsibleModule(
        argument_spec={
            "files": {"type": "list", "elements": "dict", "required": True, "options": {
                "path": {"type": "path", "required": True},
                "content": {"type": "str", "required": True},
                "mode": {"type": "str", "default": "0644"},
            }},
            "root": {"type": "path", "default": "/etc/nginx"},
            "main": {"type": "str", "default": "nginx.conf"},
            "test": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    root = os.path.normpath(module.params["root"])
    files = module.params["files"]
    for f in files:
        path = os.path.normpath(f["path"])
        if not os.path.isabs(path) or os.path.commonpath([root, path]) != root or path == root:
            module.fail_json(msg=f"perch.cdn.nginx_config: {f['path']!r} is not a file under {root}")
        try:
            f["mode_int"] = int(f["mode"], 8)
        except ValueError:
            module.fail_json(msg=f"perch.cdn.nginx_config: mode {f['mode']!r} of {f['path']!r} is not octal")
        f["path"] = path
    changed = [f for f in files if _read(f["path"]) != f["content"]]
    result = {"changed": bool(changed), "changed_files": sorted(f["path"] for f in changed), "tested": False}
    if module._diff:
        result["diff"] = [{"before_header": f["path"], "after_header": f["path"], "before": _read(f["path"]) or "",
                           "after": f["content"]} for f in changed]
    if not changed:
        module.exit_json(**result)

    nginx = module.get_bin_path("nginx") if module.params["test"] else None
    if nginx and os.path.isdir(root):
        work, tree = _candidate(module, root, files)
        try:
            rc, _out, err = module.run_command([nginx, "-q", "-t", "-c", os.path.join(tree, module.params["main"])])
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if rc != 0:
            module.fail_json(msg="perch.cdn.nginx_config: nginx rejects the new configuration; the running "
                                 f"configuration was left untouched: {err.replace(tree, root).strip()}",
                             **result)
        result["tested"] = True
    if not module.check_mode:
        for f in changed:
            _install(f["path"], f["content"], f["mode_int"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
