"""Prints the shipped user-data with the write_files content of its config replaced.

    render-user-data.py USER_DATA CONFIG

The config block is the `content: |` of the write_files entry whose path is
/etc/minikube-none-bootstrap/config.yaml; its indentation is kept. Everything else is
printed unchanged, so scenarios run the file users start from.
"""
import sys

ud, cfg = sys.argv[1], sys.argv[2]
lines = open(ud).read().splitlines()
config = open(cfg).read().splitlines()
out, i, replaced = [], 0, False
while i < len(lines):
    line = lines[i]
    out.append(line)
    i += 1
    if "path: /etc/minikube-none-bootstrap/config.yaml" in line:
        while i < len(lines) and "content: |" not in lines[i]:
            out.append(lines[i])
            i += 1
        if i == len(lines):
            sys.exit("render-user-data: the config entry has no 'content: |' block")
        out.append(lines[i])
        block_indent = len(lines[i]) - len(lines[i].lstrip()) + 2
        i += 1
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) >= block_indent):
            i += 1
        out.extend(" " * block_indent + c if c else "" for c in config)
        replaced = True
if not replaced:
    sys.exit("render-user-data: no write_files entry for /etc/minikube-none-bootstrap/config.yaml")
print("\n".join(out))
