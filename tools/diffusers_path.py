"""Puts the diffusers v0.27.2 source and the export stubs first on sys.path, from DIFFUSERS_SRC (its
src/ folder) and DIFFUSERS_STUBS (the team's diffusers export stubs): `import diffusers_path` before
importing diffusers in a tools/ script run by hand."""
import os
import sys


def _need(var):
    if not os.environ.get(var):
        sys.exit(f"set {var}: the diffusers v0.27.2 source (DIFFUSERS_SRC, its src/ folder) and the export stubs "
                 "(DIFFUSERS_STUBS) of the team's diffusers export tools")
    return os.environ[var]


sys.path[:0] = [_need("DIFFUSERS_STUBS"), _need("DIFFUSERS_SRC")]
