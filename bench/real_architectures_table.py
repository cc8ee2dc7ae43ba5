"""Summarises bench/real-architectures.sh's sweep.tsv as docs/benchmarks.md's tables (plain Python 3)."""
import collections
import json
import re
import sys

# What "agrees with the original" means per transform: SQNR in dB of the outputs on the evaluation samples.
# Graph rewrites must be equal within 1e-4 relative: 80 dB. int8 targets hold where each quantizer is meant
# for the architecture: static on convolutional networks, dynamic on transformers and recurrent networks.
CNN = ("resnet", "mobilenet", "efficientnet", "regnet", "squeezenet")


def target(model, pipeline):
    transform = pipeline.split("(")[0]
    cnn = model.startswith(CNN)
    return {"graph-optimize": 80, "opset": 80, "fp16": 40, "quantize-static": 25 if cnn else None,
            "quantize-dynamic": None if cnn else 25}.get(transform)
INTERNAL = re.compile(r"Exception|Error:|NullPointer|NoSuchElement|IndexOutOfBounds|Optional|\bat [a-z]+\.[a-z]+\.")
# Progress on stderr, not part of the message: "[1/2] fp16 ... done in 0.8 s", "evaluation ... done in 0.5 s".
PROGRESS = re.compile(r"^\[\d+/\d+\] |^\S+ \.\.\. ")
# What a dead JVM leaves on stderr (ONNX Runtime crashing the host's own process).
CRASH = re.compile(r"A fatal error has been detected by the Java Runtime|SIGSEGV|SIGABRT|hs_err_pid")
# The outcomes, in the order the totals name them. A default gate's refusal (exit 1, "error: gate NAME: ...")
# is a refusal with its reason, as README's exit codes say: the result was measured, then not written.
OUTCOMES = ("kept", "kept, below target", "refused: slower", "refused: under the fidelity floor", "refused",
            "broken", "crashed")
GATES = {"max-latency-ratio": "refused: slower", "min-sqnr-db": "refused: under the fidelity floor"}


def family(model):
    return model.split("/")[0]


def measured(row, data):
    """SQNR, bytes and latency against the original from a report: the paired latency ratio where the job
    measured one (the one the latency gate judges), else the ratio of the p50s."""
    ev = data.get("evaluation") or {}
    before, after = ev.get("latencyMsBefore"), ev.get("latencyMsAfter")
    paired = (ev.get("latency") or {}).get("ratio")
    size = data["output"]["bytes"] / max(1, data["input"]["bytes"])
    return ev.get("sqnrDb"), size, paired if paired else (after / before if before and after else None)


def classify(row):
    code, message, report = int(row["exit"]), row["message"].strip("\\n").replace("\\n", "\n").strip(), row["report"]
    lines = [l for l in message.splitlines() if l.strip() and not PROGRESS.match(l)]
    goal = target(row["model"], row["pipeline"])
    if code == 0 and report:
        sqnr, size, latency = measured(row, json.loads(report))
        below = goal is not None and sqnr is not None and sqnr < goal
        return ("kept, below target" if below else "kept"), sqnr, size, latency, ""
    if code >= 128 or CRASH.search(message):
        return "crashed", None, None, None, " / ".join(lines)[:200] + f" (exit {code})"
    if len(lines) == 1 and not INTERNAL.search(lines[0]):
        gate = re.match(r"error: gate ([a-z0-9-]+): ", lines[0])
        if code == 1 and gate and gate.group(1) in GATES and report:
            sqnr, size, latency = measured(row, json.loads(report))
            return GATES[gate.group(1)], sqnr, size, latency, ""
        if code == 2:
            return "refused", None, None, None, lines[0]
    return "broken", None, None, None, " / ".join(lines)[:200] + f" (exit {code})"


def families(rows):
    """One table per architecture: a row per export, a column per pipeline; a cell is 'SQNR dB / size / latency'
    against the original (prefixed when a default gate refused the result), 'refused' with the reason's
    footnote, or BROKEN / CRASHED."""
    pipelines = list(dict.fromkeys(r["pipeline"] for r in rows))
    reasons = {}
    counts = collections.Counter()
    by_family = collections.defaultdict(list)
    for row in rows:
        by_family[row["model"].split("/")[0]].append(row)
    print("| export | " + " | ".join(f"`{p}`" for p in pipelines) + " |")
    print("|---|" + "---|" * len(pipelines))
    for fam in sorted(by_family):
        cells = collections.defaultdict(dict)
        for row in by_family[fam]:
            cells[row["model"].split("/")[-1]][row["pipeline"]] = row
        for export in sorted(cells):
            out = []
            for p in pipelines:
                row = cells[export].get(p)
                if row is None:
                    out.append("")
                    continue
                outcome, sqnr, size, latency, reason = classify(row)
                counts[outcome] += 1
                if sqnr is not None or size is not None:  # measured: kept, or refused by a default gate
                    goal = target(row["model"], p)
                    mark = "**" if goal is not None and sqnr is not None and sqnr < goal else ""
                    prefix = {"refused: slower": "slower: ", "refused: under the fidelity floor": "floor: "}
                    out.append(prefix.get(outcome, "") + f"{mark}{'%.0f' % sqnr if sqnr is not None else '-'}{mark}"
                               + f" / {size:.2f} / " + (f"{latency:.2f}" if latency else "-"))
                elif outcome == "refused":
                    key = reasons.setdefault(reason, len(reasons) + 1)
                    out.append(f"refused [{key}]")
                else:
                    out.append(outcome.upper() + ": " + reason.replace("|", "/")[:80])
            print(f"| {export.replace('.onnx', '')} | " + " | ".join(out) + " |")
    print()
    print("Cells: SQNR dB of the outputs against the original / bytes against the original / latency against the "
          "original (the job's paired ratio at the model's batch); **bold** SQNR: below the target for that "
          "transform on that architecture; `slower:` the default latency gate refused the result (exit 1), "
          "`floor:` the default 10 dB fidelity floor did; both were measured, then not written.")
    for reason, key in reasons.items():
        print(f"[{key}] {reason}")
    print()
    print(totals(counts))


def totals(counts):
    return "totals: " + ", ".join(f"{k} {counts[k]}" for k in OUTCOMES) + f" of {sum(counts.values())}"


def main(paths, compact=False):
    rows = {}
    for path in paths:  # a later file's row for the same model and pipeline replaces an earlier one
        with open(path) as f:
            header = f.readline().rstrip("\n").split("\t")
            for line in f:
                row = dict(zip(header, line.rstrip("\n").split("\t")))
                rows[(row["model"], row["pipeline"])] = row
    rows = [rows[k] for k in sorted(rows)]
    if compact:
        families(rows)
        return
    counts = collections.Counter()
    print("| model | transform | outcome | SQNR dB | size | latency | reason |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        outcome, sqnr, size, latency, reason = classify(row)
        counts[outcome] += 1
        fmt = lambda v, f: "" if v is None else f % v
        print(f"| {row['model']} | `{row['pipeline']}` | {outcome} | {fmt(sqnr, '%.1f')} | {fmt(size, '%.2fx')} "
              f"| {fmt(latency, '%.2fx')} | {reason.replace('|', '/')} |")
    print()
    print(totals(counts))


if __name__ == "__main__":
    args = sys.argv[1:]
    main([a for a in args if a != "--families"], "--families" in args)
