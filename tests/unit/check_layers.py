#!/usr/bin/env python3
"""check_layers.py - fails when an #include points the wrong way between the layers.

    check_layers.py SOURCE_DIR          check the tree; prints each violation, exit 1 if any
    check_layers.py --self-test SOURCE_DIR
                                        also prove the check can fail: plant a wrong-way
                                        include in a copy of the tree and expect it caught

The layers, bottom up (README.md, "Layout"): the contract types (include/synmatch/record.h,
frame.h), common/, then packets/, engine/ and transport/ (none of which may use another),
then the fronts agent/, collector/ and cli/. A file may include headers of its own layer and
of the layers its layer is built on, nothing else; headers under include/synmatch/ belong to
the layer that implements them. tests/ and bench/ are white-box and not checked.
"""
import os
import re
import shutil
import sys
import tempfile

BUILT_ON = {
    "base": {"base"},
    "common": {"base", "common"},
    "packets": {"base", "common", "packets"},
    "engine": {"base", "common", "engine"},
    "transport": {"base", "common", "transport"},
    "agent": {"base", "common", "packets", "transport", "agent"},
    "collector": {"base", "common", "engine", "transport", "collector"},
    "cli": {"base", "common", "packets", "engine", "transport", "cli"},
}

# The contract headers, by the layer that implements them.
CONTRACT = {
    "record.h": "base",
    "frame.h": "base",
    "pcapfile.h": "packets",
    "decode.h": "packets",
    "stream.h": "packets",
    "filesrc.h": "packets",
    "verdict.h": "engine",
    "join.h": "engine",
    "scope.h": "engine",
    "report.h": "engine",
    "communityid.h": "engine",
    "wire.h": "transport",
    "keys.h": "transport",
    "nats.h": "transport",
}
GENERATED = {"synmatch.pb-c.h": "transport"}  # protoc-c output in the build tree
FOLDERS = ["common", "packets", "engine", "transport", "agent", "collector", "cli"]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def private_headers(root):
    """Headers that sit beside their .c, by the layer of their folder."""
    out = {}
    for layer in FOLDERS:
        d = os.path.join(root, layer)
        for name in os.listdir(d) if os.path.isdir(d) else []:
            if name.endswith(".h"):
                if name in out:
                    raise SystemExit("check_layers: %s/%s and %s/%s share a name" %
                                     (layer, name, out[name], name))
                out[name] = layer
    return out


def header_layer(inc, private):
    if inc.startswith("synmatch/"):
        return CONTRACT.get(inc[len("synmatch/"):])
    if inc in GENERATED:
        return GENERATED[inc]
    return private.get(inc)


def check(root):
    private = private_headers(root)
    bad = []
    sources = []
    for layer in FOLDERS:
        d = os.path.join(root, layer)
        for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            if name.endswith((".c", ".h")):
                sources.append((os.path.join(layer, name), layer))
    incdir = os.path.join(root, "include", "synmatch")
    for name in sorted(os.listdir(incdir)):
        if name.endswith(".h"):
            if name not in CONTRACT:
                bad.append("include/synmatch/%s: not in the layer map of %s" % (name, __file__))
                continue
            sources.append((os.path.join("include", "synmatch", name), CONTRACT[name]))
    for rel, layer in sources:
        with open(os.path.join(root, rel), encoding="utf-8") as f:
            text = f.read()
        for m in INCLUDE.finditer(text):
            inc = m.group(1)
            line = text.count("\n", 0, m.start()) + 1
            to = header_layer(inc, private)
            if to is None:
                bad.append("%s:%d: includes \"%s\", which belongs to no layer" % (rel, line, inc))
            elif to not in BUILT_ON[layer]:
                bad.append("%s:%d: %s includes \"%s\" of %s, a layer it is not built on" %
                           (rel, line, layer, inc, to))
    return bad


def main(argv):
    self_test = len(argv) > 1 and argv[1] == "--self-test"
    root = argv[2] if self_test else argv[1]
    bad = check(root)
    for b in bad:
        print("FAIL " + b)
    print("layers: %d wrong-way includes" % len(bad))
    if bad:
        return 1
    if self_test:
        # The check must catch what it is for: the packet library using the engine, and a
        # contract header using a front.
        plants = [("packets/decode.c", '#include "synmatch/join.h"\n'),
                  ("include/synmatch/record.h", '#include "agent.h"\n')]
        for rel, line in plants:
            tmp = tempfile.mkdtemp()
            try:
                for d in FOLDERS + ["include"]:
                    shutil.copytree(os.path.join(root, d), os.path.join(tmp, d))
                with open(os.path.join(tmp, rel), "a", encoding="utf-8") as f:
                    f.write(line)
                caught = check(tmp)
                print("self-test: %s planted in %s: %s" %
                      (line.strip(), rel, "caught" if caught else "NOT CAUGHT"))
                if not caught:
                    return 1
            finally:
                shutil.rmtree(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
