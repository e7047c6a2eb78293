"""Every role's README is what scripts/role-readmes writes from its argument specs (no drift)."""

import subprocess
import sys


def test_role_readmes_are_up_to_date(root):
    res = subprocess.run([sys.executable, f"{root}/scripts/role-readmes", "--check"], capture_output=True, text=True,
                         check=False)
    assert res.returncode == 0, res.stderr
