"""Print each CUDA kernel's registers and spills from a build log compiled with -Xptxas=-v.

CI runs this on the log of `pip install -v .` so a regression in register use or a new spill shows
in the CI output. Usage: python .ci/ptxas_summary.py BUILD_LOG
"""
import re
import shutil
import subprocess
import sys

ENTRY = re.compile(r"ptxas info\s*: Compiling entry function '(\S+)' for '(sm_\d+)'")
SPILL = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
USED = re.compile(r"ptxas info\s*: Used (\d+) registers")


def demangle(names):
    if not names or not shutil.which("c++filt"):
        return names
    out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True).stdout.splitlines()
    return out if len(out) == len(names) else names


def main(path):
    rows, cur = [], None
    for line in open(path, errors="replace"):
        if m := ENTRY.search(line):
            cur = {"name": m[1], "arch": m[2], "regs": None, "spill": (0, 0, 0)}
            rows.append(cur)
        elif cur is not None and (m := SPILL.search(line)):
            cur["spill"] = tuple(int(g) for g in m.groups())
        elif cur is not None and (m := USED.search(line)):
            cur["regs"] = int(m[1])
    if not rows:
        print("ptxas: no kernels in the build log (CUDA not built: no toolkit found, or PYBENCH_CUDA=OFF)")
        return 0
    names = demangle([r["name"] for r in rows])
    for r, n in zip(rows, names):
        n = re.sub(r"pb::cuda::\(anonymous namespace\)::", "", n)
        print(f"{r['arch']:6} regs {r['regs']:>3}  stack {r['spill'][0]:>4} B  spill st/ld "
              f"{r['spill'][1]:>4}/{r['spill'][2]:<4} B  {n[:140]}")
    spilling = [r for r in rows if r["spill"][1] or r["spill"][2]]
    print(f"ptxas: {len(rows)} kernels ({', '.join(sorted({r['arch'] for r in rows}))}), "
          f"max {max(r['regs'] or 0 for r in rows)} registers, {len(spilling)} with spills")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
