"""The examples of README.md and of the man pages' EXAMPLES sections, as
shell scripts, for test_examples.

  examples.py ROOT OUT     writes OUT/NN-PAGE.sh, one per page, each example
                           a step "ex N (line L)" the runner reports by
                           name; prints the script names

README.md: every indented (4-space) block and every ```sh / ```python
block; a ```python block runs as python3 with the block on stdin. Blocks
that only run make (the build instructions) are left out. Man pages: the
.EX/.EE and .nf/.fi blocks of EXAMPLES, with roff escapes undone.

Each page's examples run in order in one fresh folder holding data/ and
pipelines/ of the repository (what a clone has), so an example may use a
file an earlier one of the same page made. An example naming a path above
the repository (../) is an error here.
"""
import os
import re
import sys

ROFF = [("\\e", "\\"), ("\\-", "-"), ("\\(aq", "'"), ("\\(dq", '"'), ("\\(ga", "`"),
        ("\\(em", "--"), ("\\(en", "-"), ("\\ ", " "), ("\\&", ""), ("\\|", ""), ("\\%", "")]


def unroff(line):
    out, i = [], 0
    while i < len(line):
        for a, b in ROFF:
            if line.startswith(a, i):
                out.append(b)
                i += len(a)
                break
        else:
            if line.startswith("\\f", i):  # font changes
                i += 3 if i + 2 < len(line) and line[i + 2] != "(" else 5
                continue
            out.append(line[i])
            i += 1
    return "".join(out)


def man_examples(path):
    lines = open(path).read().split("\n")
    ex, cur, start, inside = [], None, 0, False
    for n, line in enumerate(lines, 1):
        if line.startswith(".SH"):
            inside = line.strip() == ".SH EXAMPLES"
            continue
        if not inside:
            continue
        if line.startswith(".EX") or line.startswith(".nf"):
            cur, start = [], n + 1
        elif line.startswith(".EE") or line.startswith(".fi"):
            if cur is not None:
                ex.append((start, "\n".join(cur), "sh"))
            cur = None
        elif cur is not None and not line.startswith(".\\\""):
            cur.append(unroff(line))
    return ex


def readme_examples(path):
    lines = open(path).read().split("\n")
    ex, i = [], 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^```(\w+)?\s*$", line)
        if m:
            lang, body, start = m.group(1) or "", [], i + 2
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            if lang in ("sh", "python", "shell", "bash"):
                ex.append((start, "\n".join(body), "python" if lang == "python" else "sh"))
            i += 1
            continue
        if line.startswith("    ") and (i == 0 or not lines[i - 1].strip()):
            body, start = [], i + 1
            while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                body.append(lines[i][4:])
                i += 1
            while body and not body[-1].strip():
                body.pop()
            ex.append((start, "\n".join(body), "sh"))
            continue
        i += 1
    return ex


def only_make(body):
    cmds = [l.split("#")[0].strip() for l in body.split("\n")]
    cmds = [c for c in cmds if c]
    return cmds and all(c.startswith("make") for c in cmds)


def main():
    root, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    pages = [("README.md", readme_examples(os.path.join(root, "README.md")))]
    mandir = os.path.join(root, "man")
    for m in sorted(os.listdir(mandir)):
        if m.endswith(".1"):
            pages.append(("man/" + m, man_examples(os.path.join(mandir, m))))
    bad = 0
    for k, (page, exs) in enumerate(pages):
        name = "%02d-%s.sh" % (k, os.path.basename(page).replace(".", "_"))
        with open(os.path.join(out, name), "w") as f:
            f.write("# examples of %s\n" % page)
            n = 0
            for line, body, kind in exs:
                if kind == "sh" and only_make(body):
                    continue
                n += 1
                if re.search(r"(^|[\s='\"])\.\./", body):
                    sys.stderr.write("%s:%d: an example names a path outside the repository\n" % (page, line))
                    bad = 1
                f.write("step '%s:%d'\n" % (page, line))
                if kind == "python":
                    f.write("python3 - <<'LRCPIPE_EXAMPLE_EOF'\n%s\nLRCPIPE_EXAMPLE_EOF\n" % body)
                else:
                    f.write(body + "\n")
            f.write("step done\n")
        print(name, n)
    sys.exit(bad)


if __name__ == "__main__":
    main()
