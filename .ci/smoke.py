"""The packaging gate's smoke test (.ci/package): run by an interpreter that
has just installed pymmap from its wheel or its sdist, outside the checkout.

It checks what a user of the installed package meets first: the package
imports from the installation (not from a checkout), maps a file, carries its
licence as SPDX metadata with the LICENSE file, and its two command lines
(`python -m pymmap` and the `pymmap` console script) answer --version.
"""

import os
import subprocess
import sys
import tempfile

import pymmap

try:
    from importlib import metadata
except ImportError:  # pragma: no cover - every supported Python has it
    raise SystemExit("importlib.metadata is missing") from None


def check(condition, what):
    if not condition:
        raise SystemExit("smoke test FAILED: " + what)
    print("ok:", what)


prefix = os.path.realpath(sys.prefix)
check(os.path.realpath(pymmap.__file__).startswith(prefix + os.sep),
      f"pymmap is imported from the installation ({pymmap.__file__}), not a checkout")

meta = metadata.metadata("pymmap")
version = meta["Version"]
check(version == pymmap.__version__, f"the metadata's version is pymmap.__version__ ({version})")
check(meta["License-Expression"] == "MIT", "License-Expression: MIT (SPDX)")
check(meta.get_all("License-File") == ["LICENSE"], "License-File: LICENSE")
licences = [f for f in metadata.files("pymmap") or () if f.name == "LICENSE"]
check(licences and "MIT License" in licences[0].read_text(), "the LICENSE file is installed")
check(any(f.name == "py.typed" for f in metadata.files("pymmap")), "py.typed is installed (PEP 561)")

with tempfile.TemporaryFile() as f:
    f.write(b"hello, pymmap\n")
    f.flush()
    m = pymmap.mmap(f.fileno(), 0)
    check(m[:5] == b"hello" and m.find(b"pymmap") == 7 and len(m) == 14, "a file maps and reads")
    m[0:5] = b"HELLO"
    m.flush()
    m.close()
    f.seek(0)
    check(f.read(5) == b"HELLO", "a write through the map reaches the file")

scripts = os.path.dirname(sys.executable)
script = os.path.join(scripts, "pymmap.exe" if os.name == "nt" else "pymmap")
for command in ([sys.executable, "-m", "pymmap", "--version"], [script, "--version"]):
    out = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True).stdout
    check(pymmap.__version__ in out, f"{os.path.basename(command[0])} --version says {out.strip()}")
print("smoke test passed: pymmap", pymmap.__version__, "on Python", sys.version.split()[0])
