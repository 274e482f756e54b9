#!/usr/bin/env python3
"""The PyTorch peer of `radixlm bench` (issue 4): the same model shapes with random bf16 weights, built
by transformers from config objects on the GPU (sdpa attention), for items 1 (decode at batch 1),
4 (prefill of 512/2k/8k tokens) and 6 (nano-vllm's workload). Prints one JSON object on stdout;
progress on stderr. Runs on the GPU machine (torch, transformers; no network, no weight files).

  python3 scripts/bench/peer_pytorch.py [--items 1,4,6] [--quick] [--max-seconds 240]
                                        [--workload-from radixlm.json] [--no-compile]

Decode uses transformers' generate with a static KV cache, which compiles the decode step with
torch.compile (the fastest path transformers offers); where that fails or --no-compile is given, eager
generate with the dynamic cache. Decode tokens/s excludes the prefill: generate of n tokens minus
generate of 1 token (the prefill alone), over n - 1.
"""
import argparse
import json
import signal
import sys
import time
import traceback

SHAPES = {
    "Llama-3.2-1B": ("LlamaConfig", dict(
        vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
        num_attention_heads=32, num_key_value_heads=8, head_dim=64, max_position_embeddings=131072,
        rms_norm_eps=1e-5, tie_word_embeddings=True, attention_bias=False, mlp_bias=False,
        bos_token_id=128000, eos_token_id=128001, hidden_act="silu",
        rope_parameters=dict(rope_type="llama3", rope_theta=500000.0, factor=32.0, low_freq_factor=1.0,
                             high_freq_factor=4.0, original_max_position_embeddings=8192))),
    "Llama-3.1-8B": ("LlamaConfig", dict(
        vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
        num_attention_heads=32, num_key_value_heads=8, head_dim=128, max_position_embeddings=131072,
        rms_norm_eps=1e-5, tie_word_embeddings=False, attention_bias=False, mlp_bias=False,
        bos_token_id=128000, eos_token_id=128001, hidden_act="silu",
        rope_parameters=dict(rope_type="llama3", rope_theta=500000.0, factor=8.0, low_freq_factor=1.0,
                             high_freq_factor=4.0, original_max_position_embeddings=8192))),
    "Qwen3-0.6B": ("Qwen3Config", dict(
        vocab_size=151936, hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
        num_attention_heads=16, num_key_value_heads=8, head_dim=128, max_position_embeddings=40960,
        rms_norm_eps=1e-6, tie_word_embeddings=True, attention_bias=False, use_sliding_window=False,
        bos_token_id=151643, eos_token_id=151645, hidden_act="silu",
        rope_parameters=dict(rope_type="default", rope_theta=1000000.0))),
}


class TimeUp(Exception):
    pass


def log(*args):
    print("[peer]", *args, file=sys.stderr, flush=True)


def layer_params(c):
    h, q, kv = c["hidden_size"], c["num_attention_heads"] * c["head_dim"], c["num_key_value_heads"] * c["head_dim"]
    qk_norm = 2 * c["head_dim"] if "Qwen3" in str(c.get("_class", "")) else 0
    return h * q + 2 * h * kv + q * h + 3 * h * c["intermediate_size"] + 2 * h + qk_norm


def prefill_flops(c, n):
    """As radixlm's StepCost.prefillFlops: projections and MLP for every token, the LM head once, causal attention."""
    attention = 4.0 * c["num_hidden_layers"] * c["num_attention_heads"] * c["head_dim"] * n * (n + 1) / 2
    return 2.0 * c["num_hidden_layers"] * layer_params(c) * n + 2.0 * c["vocab_size"] * c["hidden_size"] + attention


def build(torch, transformers, shape):
    cls_name, kwargs = SHAPES[shape]
    config = getattr(transformers, cls_name)(**kwargs)
    torch.manual_seed(0)
    with torch.device("cuda"):  # initialise on the GPU: an 8B model on the CPU would take minutes
        try:
            model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16,
                                                                  attn_implementation="sdpa")
        except TypeError:
            model = transformers.AutoModelForCausalLM.from_config(config, torch_dtype=torch.bfloat16,
                                                                  attn_implementation="sdpa")
    model.eval()
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    return model


def gemm_rate(torch):
    n = 8192
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    ms = median_cuda_ms(torch, lambda: a @ b, warmup=3, reps=20)
    return 2.0 * n ** 3 / (ms / 1e3)


def median_cuda_ms(torch, fn, warmup, reps):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    times.sort()
    return times[len(times) // 2]


def generate_seconds(torch, model, prompt, new_tokens, static):
    kwargs = dict(do_sample=False, max_new_tokens=new_tokens, min_new_tokens=new_tokens, eos_token_id=None,
                  pad_token_id=0, attention_mask=torch.ones_like(prompt))
    if static:
        kwargs["cache_implementation"] = "static"
    torch.cuda.synchronize()
    start = time.perf_counter()
    with torch.no_grad():
        out = model.generate(prompt, **kwargs)
    torch.cuda.synchronize()
    assert out.shape[1] == prompt.shape[1] + new_tokens, out.shape
    return time.perf_counter() - start


def decode_b1(torch, model, shape, quick, compile_ok):
    """Decode tokens/s at batch 1 around context 1024, without the prefill: (t(n) - t(1)) / (n - 1), where
    generate with max_new_tokens=1 runs only the prefill. Only the n-token run decodes, so the static
    cache's compiled step is compiled once (for that cache size) in the warm-up."""
    n = 33 if quick else 129
    prompt = torch.randint(0, SHAPES[shape][1]["vocab_size"], (1, 1024 - n), device="cuda")
    for static in ([True, False] if compile_ok else [False]):
        method = "generate, static cache + torch.compile" if static else "generate, dynamic cache, eager"
        try:
            generate_seconds(torch, model, prompt, n, static)  # warm-up: compiles the decode step
            t_prefill = min(generate_seconds(torch, model, prompt, 1, static) for _ in range(2))
            t_all = min(generate_seconds(torch, model, prompt, n, static) for _ in range(2))
            seconds_per_token = (t_all - t_prefill) / (n - 1)
            return dict(shape=shape, batch=1, context=1024, method=method, ms_per_token=seconds_per_token * 1e3,
                        tokens_per_s=1.0 / seconds_per_token, prefill_seconds=t_prefill)
        except TimeUp:
            raise
        except Exception as e:  # compile problems: fall back to eager
            log(f"decode {shape} with {method} failed: {e!r}")
            if not static:
                raise
    raise RuntimeError("unreachable")


def prefill(torch, model, shape, n, reps, gemm):
    c = SHAPES[shape][1]
    ids = torch.randint(0, c["vocab_size"], (1, n), device="cuda")

    def run():
        with torch.no_grad():
            try:
                model(ids, use_cache=False, logits_to_keep=1)
            except TypeError:
                model(ids, use_cache=False)
    ms = median_cuda_ms(torch, run, warmup=1, reps=reps)
    flops = prefill_flops(dict(c, _class=SHAPES[shape][0]), n)
    return dict(shape=shape, tokens=n, ms=ms, tokens_per_s=n / (ms / 1e3), flops=flops,
                mfu=flops / (ms / 1e3) / gemm, method="forward, sdpa, logits of the last token")


def workload(args, vocab):
    """nano-vllm's workload: the lengths radixlm ran (from its JSON) when given, else 256 uniform draws."""
    import random
    if args.workload_from:
        try:
            with open(args.workload_from) as f:
                nv = json.load(f)["results"]["nanovllm"][0]
            return [tuple(p) for p in nv["lengths"]], "lengths from " + args.workload_from
        except Exception as e:
            log(f"cannot read the workload from {args.workload_from} ({e!r}); drawing my own")
    rnd = random.Random(0)
    count, hi = (64, 256) if args.quick else (256, 1024)
    return [(rnd.randint(100, hi), rnd.randint(100, hi)) for _ in range(count)], "uniform draws"


def nanovllm(torch, model, shape, args):
    """The requests as left-padded batches through generate (static batching: transformers has no continuous
    batching); a batch runs to its longest output, only each request's own output tokens count. One batch of
    all requests first; if that runs out of memory, batches of 64."""
    vocab = SHAPES[shape][1]["vocab_size"]
    lengths, source = workload(args, vocab)
    for batch_size in (len(lengths), 64):
        try:
            torch.cuda.empty_cache()
            torch.cuda.synchronize()
            start = time.perf_counter()
            for first in range(0, len(lengths), batch_size):
                generate_batch(torch, model, lengths[first:first + batch_size], vocab)
            torch.cuda.synchronize()
            seconds = time.perf_counter() - start
            break
        except torch.cuda.OutOfMemoryError as e:
            log(f"nanovllm with batches of {batch_size}: out of memory ({e!r})")
            if batch_size == 64:
                raise
    useful = sum(o for _, o in lengths)
    return dict(shape=shape, requests=len(lengths), output_tokens=useful, seconds=seconds,
                output_tokens_per_s=useful / seconds, workload=source, batch_size=batch_size,
                method="generate, left-padded batches, dynamic cache, eager (a batch runs to its longest output)")


def generate_batch(torch, model, lengths, vocab):
    max_in = max(i for i, _ in lengths)
    max_out = max(o for _, o in lengths)
    ids = torch.zeros(len(lengths), max_in, dtype=torch.long, device="cuda")
    mask = torch.zeros_like(ids)
    for r, (i, _) in enumerate(lengths):
        ids[r, max_in - i:] = torch.randint(0, vocab, (i,), device="cuda")
        mask[r, max_in - i:] = 1
    with torch.no_grad():
        model.generate(ids, attention_mask=mask, do_sample=False, max_new_tokens=max_out, min_new_tokens=max_out,
                       eos_token_id=None, pad_token_id=0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", default="1,4,6")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--max-seconds", type=float, default=240)
    parser.add_argument("--workload-from", default=None)
    parser.add_argument("--no-compile", action="store_true")
    args = parser.parse_args()
    items = {int(x) for x in args.items.split(",") if x.strip()}
    deadline = time.time() + args.max_seconds
    report = dict(peer="pytorch", results={}, errors=[], skipped=[])
    started = time.time()
    try:
        import torch
        import transformers
        report.update(torch=torch.__version__, transformers=transformers.__version__,
                      gpu=torch.cuda.get_device_name(0))
        report["gemm_bf16_flops_per_s"] = gemm = gemm_rate(torch)
        log(f"torch {torch.__version__}, transformers {transformers.__version__}, GEMM {gemm / 1e12:.0f} TFLOP/s")
    except Exception as e:
        report["errors"].append(dict(item="setup", error=repr(e)))
        print(json.dumps(report))
        return 1

    def on_alarm(signum, frame):
        raise TimeUp()
    signal.signal(signal.SIGALRM, on_alarm)

    def guarded(item, label, fn):
        left = deadline - time.time()
        if left <= 1:
            report["skipped"].append(f"{item}: {label}")
            log(f"skipped (over --max-seconds): {item}: {label}")
            return
        signal.alarm(max(1, int(left)))
        try:
            result = fn()
            report["results"].setdefault(item, []).append(dict(result, case=label))
            log(f"{item} {label}: {json.dumps(result)}")
        except TimeUp:
            report["skipped"].append(f"{item}: {label} (stopped at --max-seconds)")
            log(f"stopped at --max-seconds: {item}: {label}")
        except Exception as e:
            report["errors"].append(dict(item=item, case=label, error=repr(e)))
            log(f"{item} {label} FAILED: {e!r}\n{traceback.format_exc()}")
        finally:
            signal.alarm(0)

    # One model build per shape. The order puts what issue 4's goals compare first (Qwen3's workload, the 8B's
    # prefill and decode), so that a --max-seconds cut costs the least; compiling a decode step is the slow part.
    plan = []
    for shape in ["Qwen3-0.6B", "Llama-3.1-8B", "Llama-3.2-1B"]:
        wanted = [i for i in (4, 6, 1) if i in items and (i != 6 or shape == "Qwen3-0.6B")]
        if wanted:
            plan.append((shape, wanted))
    for shape, wanted in plan:
        holder = {}
        guarded("build", shape, lambda: holder.update(model=build(torch, transformers, shape)) or dict(shape=shape))
        if "model" not in holder:
            continue
        model = holder["model"]
        if 4 in wanted:
            for n in (8192, 2048, 512):
                guarded("prefill", f"{shape}, {n} tokens", lambda: prefill(torch, model, shape, n, 2 if args.quick else 3, gemm))
        if 6 in wanted:
            guarded("nanovllm", shape, lambda: nanovllm(torch, model, shape, args))
        if 1 in wanted:
            guarded("decode_b1", shape, lambda: decode_b1(torch, model, shape, args.quick, not args.no_compile))
        del model, holder
        torch.cuda.empty_cache()
    report["wall_seconds"] = time.time() - started
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
