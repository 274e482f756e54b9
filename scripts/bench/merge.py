#!/usr/bin/env python3
"""Merges `radixlm bench --json` and the PyTorch peer's JSON into one object (what benchmarks/h200.json
keeps): radixlm's report with the peer's report under "pytorch_peer", the radixlm ÷ PyTorch ratios under
"vs_pytorch", and the goals' vs_pytorch_* fractions filled in. Prints a short table on stderr.

  python3 scripts/bench/merge.py RADIXLM.json PEER.json > MERGED.json
"""
import json
import sys

GOAL_SHAPE_DECODE = "Llama-3.1-8B"
GOAL_SHAPE_PREFILL = "Llama-3.1-8B"


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except Exception as e:  # a crashed or killed run: merge what there is
        print(f"merge: cannot read {path}: {e!r}", file=sys.stderr)
        return None


def find(report, item, **match):
    for entry in (report or {}).get("results", {}).get(item, []):
        if all(entry.get(k) == v for k, v in match.items()):
            return entry
    return None


def ratio(ours, theirs, field):
    if ours is None or theirs is None or not theirs.get(field):
        return None
    return ours[field] / theirs[field]


def main():
    ours = load(sys.argv[1]) or {"results": {}, "errors": [{"item": "radixlm bench", "error": "no report"}]}
    peer = load(sys.argv[2])
    vs = {}
    for shape in ("Llama-3.2-1B", "Llama-3.1-8B", "Qwen3-0.6B"):
        vs[f"decode_b1 {shape}"] = ratio(find(ours, "decode_b1", shape=shape), find(peer, "decode_b1", shape=shape),
                                         "tokens_per_s")
        for n in (512, 2048, 8192):
            vs[f"prefill {shape} {n}"] = ratio(find(ours, "prefill", shape=shape, tokens=n),
                                               find(peer, "prefill", shape=shape, tokens=n), "tokens_per_s")
    vs["nanovllm Qwen3-0.6B"] = ratio(find(ours, "nanovllm"), find(peer, "nanovllm"), "output_tokens_per_s")
    goals = ours.setdefault("goals", {})
    goals["vs_pytorch_decode_b1"] = vs[f"decode_b1 {GOAL_SHAPE_DECODE}"]
    goals["vs_pytorch_prefill_8k"] = vs[f"prefill {GOAL_SHAPE_PREFILL} 8192"]
    goals["vs_pytorch_nanovllm_workload"] = vs["nanovllm Qwen3-0.6B"]
    ours["vs_pytorch"] = vs
    ours["pytorch_peer"] = peer
    json.dump(ours, sys.stdout, indent=1)
    print(file=sys.stdout)
    print("radixlm ÷ PyTorch:", file=sys.stderr)
    for key, value in vs.items():
        print(f"  {key:32s} {'-' if value is None else f'{value:.2f}x'}", file=sys.stderr)
    print("goals:", json.dumps(goals), file=sys.stderr)


if __name__ == "__main__":
    main()
