#!/usr/bin/env bash
# Every relative link of the documentation resolves: in README.md, SECURITY.md and docs/**/*.md, each
# link or image to a path (not a URL) names a file or directory of the tree, and each #anchor names a
# heading (or an id/name attribute) of the Markdown file it points into, by GitHub's rules: the
# heading's text lower-cased, punctuation dropped, spaces turned into '-', a repeated heading
# suffixed -1, -2, ... Code blocks and code spans are not read. Prints each broken link as
# file:line and exits 1 if there is any.
# Usage: tests/docs/check-links.sh [repository root]
set -euo pipefail
root=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
exec python3 - "$root" <<'PYTHON'
import os, re, sys, urllib.parse

root = sys.argv[1]
files = [f for f in ("README.md", "SECURITY.md") if os.path.isfile(os.path.join(root, f))]
for d, _, names in os.walk(os.path.join(root, "docs")):
    files += sorted(os.path.relpath(os.path.join(d, n), root) for n in names if n.endswith(".md"))

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")

def prose_lines(text):
    """(line number, line) outside fenced code blocks."""
    fence = None
    for n, line in enumerate(text.split("\n"), 1):
        m = FENCE.match(line)
        if fence:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not line.strip()[len(m.group(1)):].strip():
                fence = None
            continue
        if m:
            fence = m.group(1)
            continue
        yield n, line

def strip_code_spans(line):
    return re.sub(r"(`+)(.+?)\1", lambda m: " " * len(m.group(0)), line)

def slug(heading):
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links and images: their text
    text = re.sub(r"<[^>]+>", "", text)                          # HTML tags
    text = text.replace("`", "")
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)                         # GitHub keeps letters, digits, _, -, space
    return text.replace(" ", "-")

anchor_cache = {}
def anchors(path):
    if path not in anchor_cache:
        found, seen = set(), {}
        prev = None
        for _, line in prose_lines(open(path, encoding="utf-8").read()):
            text = None
            m = re.match(r"^ {0,3}#{1,6}(?:\s+(.*?))?\s*$", line)
            if m:
                text = re.sub(r"\s+#+\s*$", "", m.group(1) or "")
            elif prev and re.match(r"^ {0,3}(=+|-+)\s*$", line) and prev.strip() and not prev.lstrip().startswith(("|", "-", "*", ">")):
                text = prev.strip()
            if text is not None:
                s = slug(text)
                n = seen.get(s, 0)
                seen[s] = n + 1
                found.add(s if n == 0 else f"{s}-{n}")
            for a in re.findall(r"""<a\s[^>]*(?:name|id)\s*=\s*["']([^"']+)["']""", line):
                found.add(a)
            prev = line if text is None else None
        anchor_cache[path] = found
    return anchor_cache[path]

INLINE = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*(<[^>]*>|[^\s)]+)(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)")
REFDEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
HTML = re.compile(r"""<(?:a|img)\s[^>]*(?:href|src)\s*=\s*["']([^"']+)["']""")

broken, checked = [], 0
for rel in files:
    path = os.path.join(root, rel)
    for n, line in prose_lines(open(path, encoding="utf-8").read()):
        line = strip_code_spans(line)
        targets = [m.group(1) for m in INLINE.finditer(line)] + [m.group(1) for m in REFDEF.finditer(line)] \
                + HTML.findall(line)
        for target in targets:
            target = target.strip("<>")
            if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("//"):
                continue  # a URL, mailto:, ...
            checked += 1
            file_part, _, anchor = target.partition("#")
            file_part = urllib.parse.unquote(file_part)
            if file_part.startswith("/"):
                dest = os.path.normpath(os.path.join(root, file_part.lstrip("/")))
            elif file_part:
                dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part))
            else:
                dest = path
            where = f"{rel}:{n}: ({target})"
            if os.path.relpath(dest, root).startswith(".."):
                broken.append(f"{where} points outside the repository")
                continue
            if not os.path.exists(dest):
                broken.append(f"{where} {os.path.relpath(dest, root)} does not exist")
                continue
            if anchor and dest.endswith(".md") and os.path.isfile(dest):
                if urllib.parse.unquote(anchor) not in anchors(dest):
                    broken.append(f"{where} no heading #{anchor} in {os.path.relpath(dest, root)}")

for b in broken:
    print(b)
print(f"{checked} relative links in {len(files)} files: {len(broken)} broken", file=sys.stderr if broken else sys.stdout)
sys.exit(1 if broken else 0)
PYTHON
