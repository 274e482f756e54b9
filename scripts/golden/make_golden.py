#!/usr/bin/env python3
"""Golden reference fixtures for radixlm's tests, made with Hugging Face transformers and tokenizers.

The Java engine is checked against what these independent libraries compute, never against its own
output. Run on a machine with torch, transformers, tokenizers, safetensors and numpy (no network):

    python3 make_golden.py --out DIR [--skip-models] [--skip-tokenizers]

Writes:
  DIR/models/<name>/        config.json, model.safetensors (bf16), generation_config.json,
                            logits_<L>.npy (float32 [L, vocab]), reference.json
                            (llama3_gqa also: config.legacy.json, rope_theta + rope_scaling form)
  DIR/tokenizers/<name>/    tokenizer.json, tokenizer_config.json, cases.json, chat_cases.json
"""
import argparse
import copy
import json
import os
import sys
import traceback

import numpy as np

SEQUENCE_LENGTHS = [1, 7, 33, 300]
VOCAB_SIZE = 384
GREEDY_PROMPT_LENGTH = 7
GREEDY_NEW_TOKENS = 24


# ----------------------------------------------------------------------------------------------
# A. Tiny random-weight models
# ----------------------------------------------------------------------------------------------

def model_specs():
    """(name, config class name, kwargs, seed). Sizes are tiny; shapes exercise each architecture."""
    common = dict(vocab_size=VOCAB_SIZE, max_position_embeddings=512, rms_norm_eps=1e-5,
                  bos_token_id=1, eos_token_id=2, hidden_act="silu", attention_dropout=0.0)
    return [
        ("llama3_gqa", "LlamaConfig", dict(
            common, hidden_size=128, intermediate_size=256, num_hidden_layers=3,
            num_attention_heads=4, num_key_value_heads=2, head_dim=32, tie_word_embeddings=True,
            attention_bias=False, mlp_bias=False,
            # original_max_position_embeddings 64 with low 1 / high 4 puts the wavelength bands at
            # 16 and 64 tokens: with theta 1e4 and head_dim 32 some frequencies fall in each band.
            rope_parameters=dict(rope_type="llama3", rope_theta=10000.0, factor=8.0,
                                 low_freq_factor=1.0, high_freq_factor=4.0,
                                 original_max_position_embeddings=64)), 1234),
        ("qwen2_bias", "Qwen2Config", dict(
            common, hidden_size=128, intermediate_size=352, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False,
            use_sliding_window=False,
            rope_parameters=dict(rope_type="default", rope_theta=1000000.0)), 2345),
        ("qwen3_qknorm", "Qwen3Config", dict(
            common, hidden_size=128, intermediate_size=320, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, head_dim=64, tie_word_embeddings=False,
            attention_bias=False, use_sliding_window=False,
            rope_parameters=dict(rope_type="default", rope_theta=1000000.0)), 3456),
        ("mistral_mha", "MistralConfig", dict(
            common, hidden_size=128, intermediate_size=288, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=4, tie_word_embeddings=False,
            sliding_window=None,
            rope_parameters=dict(rope_type="default", rope_theta=10000.0)), 4567),
    ]


def randomize_weights(model, torch, seed):
    """Non-trivial weights so that a wrong op shows: norms around 1, biases non-zero."""
    gen = torch.Generator().manual_seed(seed)
    embed_std = 0.05 if model.config.tie_word_embeddings else 0.5
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                # (dim,) RMSNorm gains, including q_norm/k_norm of qwen3
                p.copy_(1.0 + 0.25 * torch.randn(p.shape, generator=gen))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            elif "embed_tokens" in name:
                # A tied head reads logits off the embedding; if the embedding dominated the
                # residual stream, each token would predict itself and greedy output would repeat.
                p.copy_(embed_std * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.06 * torch.randn(p.shape, generator=gen))
        if model.config.tie_word_embeddings:
            head, embed = model.get_output_embeddings().weight, model.get_input_embeddings().weight
            if head.data_ptr() != embed.data_ptr():
                print("  (lm_head was not tied; copying the embedding into it)")
                head.copy_(embed)


def legacy_config(config_json):
    """The pre-transformers-5 form of a config: top-level rope_theta plus rope_scaling."""
    legacy = copy.deepcopy(config_json)
    rope = legacy.pop("rope_parameters")
    legacy["rope_theta"] = rope["rope_theta"]
    scaling = {k: v for k, v in rope.items() if k != "rope_theta"}
    legacy["rope_scaling"] = None if scaling.get("rope_type", "default") == "default" else scaling
    return legacy


def manual_greedy(model, torch, prompt, num_new):
    """Argmax over a full forward each step: an independent check of generate()."""
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(num_new):
            logits = model(torch.tensor([ids])).logits[0, -1]
            ids.append(int(torch.argmax(logits)))
    return ids[len(prompt):]


def build_model(out_root, name, config_class, kwargs, seed):
    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    print(f"== model {name}", flush=True)
    torch.manual_seed(seed)
    config = getattr(transformers, config_class)(**kwargs)
    model = AutoModelForCausalLM.from_config(config)
    randomize_weights(model, torch, seed)
    model_dir = os.path.join(out_root, "models", name)
    os.makedirs(model_dir, exist_ok=True)
    model.to(torch.bfloat16).save_pretrained(model_dir, safe_serialization=True)

    with open(os.path.join(model_dir, "config.json")) as f:
        config_json = json.load(f)
    print("config.json:", json.dumps(config_json, sort_keys=True), flush=True)
    if "rope_parameters" not in config_json:
        print("  WARNING: transformers did not write rope_parameters", flush=True)
    elif name == "llama3_gqa":
        with open(os.path.join(model_dir, "config.legacy.json"), "w") as f:
            json.dump(legacy_config(config_json), f, indent=2, sort_keys=True)
            f.write("\n")

    check_safetensors(model_dir, config.tie_word_embeddings)

    # Reference: reload from disk (so bf16 rounding is in), float32, eager attention, CPU.
    loaded = AutoModelForCausalLM.from_pretrained(model_dir, attn_implementation="eager",
                                                  dtype=torch.float32)
    loaded = loaded.float().eval()
    print("  reloaded rope:", getattr(loaded.config, "rope_parameters", None), flush=True)
    write_reference(model_dir, name, loaded, seed, torch, transformers)


def check_safetensors(model_dir, tied):
    """Logs the tensors; a tied model's file must not hold lm_head.weight (as HF checkpoints)."""
    from safetensors.torch import load_file, save_file
    path = os.path.join(model_dir, "model.safetensors")
    tensors = load_file(path)
    for key in sorted(tensors):
        print(f"  tensor {key} {tensors[key].dtype} {list(tensors[key].shape)}")
    if tied and "lm_head.weight" in tensors:
        print("  removing lm_head.weight from the tied model's file", flush=True)
        del tensors["lm_head.weight"]
        save_file(tensors, path, metadata={"format": "pt"})


def write_reference(model_dir, name, model, seed, torch, transformers):
    rng = np.random.default_rng(seed)
    sequences = []
    with torch.no_grad():
        for length in SEQUENCE_LENGTHS:
            ids = rng.integers(0, VOCAB_SIZE, size=length).tolist()
            logits = model(torch.tensor([ids])).logits[0].float().numpy()  # [L, vocab]
            assert logits.shape == (length, VOCAB_SIZE) and logits.dtype == np.float32
            assert np.isfinite(logits).all()
            file_name = f"logits_{length}.npy"
            np.save(os.path.join(model_dir, file_name), np.ascontiguousarray(logits))
            sequences.append({"length": length, "ids": ids, "logits": file_name})
            print(f"  logits_{length}: std {logits.std():.4f} "
                  f"[0,0]={float(logits[0, 0])!r} [0,1]={float(logits[0, 1])!r} "
                  f"[{length - 1},{VOCAB_SIZE - 1}]={float(logits[length - 1, VOCAB_SIZE - 1])!r}",
                  flush=True)

    prompt = rng.integers(3, VOCAB_SIZE, size=GREEDY_PROMPT_LENGTH).tolist()
    # No EOS stop: the reference is exactly 24 argmax tokens (the engine runs with ignore-eos).
    model.generation_config.eos_token_id = None
    with torch.no_grad():
        out = model.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt),
                             dtype=torch.long), do_sample=False, max_new_tokens=GREEDY_NEW_TOKENS,
                             min_new_tokens=0, pad_token_id=0, eos_token_id=None)
    tokens = out[0, len(prompt):].tolist()
    check = manual_greedy(model, torch, prompt, GREEDY_NEW_TOKENS)
    print(f"  greedy {tokens} (full-forward argmax agrees: {check == tokens}; "
          f"{len(set(tokens))} distinct)", flush=True)
    if len(tokens) != GREEDY_NEW_TOKENS:
        print("  WARNING: generate() stopped early; using the full-forward argmax", flush=True)
        tokens = check

    reference = {
        "model": name,
        "reference_dtype": "float32 (from the bf16 weights on disk), eager attention, CPU",
        "sequences": sequences,
        "greedy": {"prompt": prompt, "tokens": tokens, "ignore_eos": True,
                   "full_forward_argmax_agrees": check == tokens},
        "transformers": transformers.__version__,
        "torch": torch.__version__,
    }
    with open(os.path.join(model_dir, "reference.json"), "w") as f:
        json.dump(reference, f, indent=1)
        f.write("\n")


# ----------------------------------------------------------------------------------------------
# B. Tokenizers
# ----------------------------------------------------------------------------------------------

CORPUS = [
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine.",
    "One day, she saw a big, red ball in the sky. It was the sun! She laughed and ran to her mom.",
    "The quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX! Don't you think it's fun?",
    "I'm sure they'll say we've done what we'd planned. You're right; it isn't easy.",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 42 100 2024 3.14159 1,000,000 -17 +8 1e-5 0x1F.",
    "Le café est très bon. Où est la bibliothèque ? Les élèves étudient à l'école depuis déjà deux ans.",
    "Der Bär läuft über die Straße. Größe, Höhe und Fuß sind schöne Wörter. Grüße aus München!",
    "El niño comió piña en España. ¿Qué hora es? ¡Mañana será otro día! Corazón, canción, acción.",
    "São Paulo, Coração, informação, não. Ação e reação. Çà et là, naïve coöperation, résumé.",
    "Москва — столица России. Привет, как дела? Спасибо, хорошо.",
    "Η γλώσσα είναι ελληνική. Καλημέρα κόσμε.",
    "日本語のテキストです。東京は日本の首都です。今日はいい天気ですね。",
    "中文是世界上使用人数最多的语言之一。我们今天去公园散步。北京欢迎你。",
    "한국어는 아름다운 언어입니다. 안녕하세요, 반갑습니다.",
    "Emoji: 😀 😃 😄 😁 🎉 🚀 🌍 ❤️ 👍 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 🙂",
    "def greet(name):\n\treturn f\"Hello, {name}!\"\n\nfor i in range(10):\n\tprint(greet(i))\n",
    "public static void main(String[] args) {\n    System.out.println(\"hi\");\n    int x = 42;\n}\n",
    "if (a && b || !c) { x += 1; } else { y -= 2; }  // comment\r\n/* block */\r\n",
    "SELECT name, age FROM users WHERE age > 30 ORDER BY name;\n",
    "    indented line\n        more indented\n\t\ttabs here\n",
    "Hello world! Hello, world. hello WORLD? Hello-world; hello_world: hello/world.",
    "The children were playing in the garden when the rain began to fall softly on the flowers.",
    "Mathematics: x² + y² = z², ∑ i = n(n+1)/2, √2 ≈ 1.414, π ≈ 3.14159, ∞ > 0, α β γ δ.",
    "Quotes “curly” and ‘single’ — dashes – and … ellipsis. « guillemets » ¿¡",
]


def corpus_lines():
    # Repeat with small variations so BPE has counts to work with; deterministic order.
    lines = []
    for rep in range(20):
        for i, line in enumerate(CORPUS):
            lines.append(line if (rep + i) % 3 else line.lower())
    return lines


TRICKY_STRINGS = [
    "",
    " ",
    "   ",
    "hello",
    " hello",
    "hello ",
    "  hello   world  ",
    "\t",
    "a\tb\t\tc",
    "\n",
    "line one\nline two\n\nline four\n",
    "\r\n",
    "a\r\nb\r\n",
    "café naïve résumé à l'école",
    "e\u0301 n\u0303 a\u0308",
    "Größe Straße São Paulo",
    "日本語のテキスト",
    "中文字符测试 北京",
    "한국어 안녕하세요",
    "😀",
    "👨‍👩‍👧‍👦 family",
    "🏳️‍🌈👍🏽",
    "12345 3.14159 1,000,000 -42",
    "def f(x):\n\treturn x * 2\n",
    "    indented code\n        deeper",
    "supercalifragilisticexpialidocious" * 4,
    "ᚠᛇᚻ᛫ᛒᛦᚦ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ꙮ",
    "control\u0001\u0007\u007fchars",
    "DON'T I'LL we've",
    "hello<|eot_id|>world <s> x </s>",
    "Hello, 世界! 🌍 ok.",
    "ok\u00a0nbsp\u2003emspace",
]

LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

BYTELEVEL_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                      "<|end_header_id|>", "<|eot_id|>"]

# Written for these fixtures in the manner of Llama 3 (instruct) templates.
LLAMA3_TEMPLATE = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"
    "{{- message['content'] | trim }}"
    "{{- '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{%- endif %}"
)

# Written for these fixtures in the manner of Llama 2 chat templates; raises on bad roles.
LLAMA2_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}"
    "{%- set offset = 1 %}"
    "{%- set system_message = '<<SYS>>\\n' + messages[0]['content'] | trim + '\\n<</SYS>>\\n\\n' %}"
    "{%- else %}"
    "{%- set offset = 0 %}"
    "{%- set system_message = '' %}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if loop.index0 >= offset %}"
    "{%- if message['role'] != 'user' and message['role'] != 'assistant' %}"
    "{{- raise_exception('Unknown role: ' + message['role']) }}"
    "{%- endif %}"
    "{%- if (message['role'] == 'user') != ((loop.index0 - offset) % 2 == 0) %}"
    "{{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{%- endif %}"
    "{%- if message['role'] == 'user' %}"
    "{%- if loop.index0 == offset %}"
    "{{- bos_token + '[INST] ' + system_message + message['content'] | trim + ' [/INST]' }}"
    "{%- else %}"
    "{{- bos_token + '[INST] ' + message['content'] | trim + ' [/INST]' }}"
    "{%- endif %}"
    "{%- else %}"
    "{{- ' ' + message['content'] | trim + ' ' + eos_token }}"
    "{%- endif %}"
    "{%- endif %}"
    "{%- endfor %}"
)

CONVERSATIONS = [
    ("system_user", [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is the capital of France?"}]),
    ("user_only", [
        {"role": "user", "content": "  Tell me a story about a café in 東京 🌸  "}]),
    ("multi_turn", [
        {"role": "user", "content": "Hi there!"},
        {"role": "assistant", "content": "Hello! How can I help you today?"},
        {"role": "user", "content": "Write\ttwo lines:\nfirst\nsecond"}]),
    ("system_multi_turn", [
        {"role": "system", "content": "Answer briefly.\n"},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "And 3+3?"}]),
]

BAD_CONVERSATIONS = [
    ("bad_role", [{"role": "user", "content": "hi"}, {"role": "robot", "content": "beep"}]),
    ("not_alternating", [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]),
]


def train_bytelevel():
    from tokenizers import Tokenizer, Regex, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1000, special_tokens=BYTELEVEL_SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(corpus_lines(), trainer)
    data = json.loads(tok.to_str())
    bos_id = tok.token_to_id("<|begin_of_text|>")
    # Llama 3's post-processor: ByteLevel (offsets only) then a template that adds BOS.
    data["post_processor"] = {"type": "Sequence", "processors": [
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        {"type": "TemplateProcessing",
         "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                    {"Sequence": {"id": "A", "type_id": 0}}],
         "pair": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                  {"Sequence": {"id": "A", "type_id": 0}},
                  {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}},
                  {"Sequence": {"id": "B", "type_id": 1}}],
         "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [bos_id],
                                                  "tokens": ["<|begin_of_text|>"]}}}]}
    data["model"]["ignore_merges"] = True
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|begin_of_text|>",
              "eos_token": "<|eot_id|>", "clean_up_tokenization_spaces": False,
              "model_max_length": 8192, "chat_template": LLAMA3_TEMPLATE}
    return data, config


def train_spm_bytefallback():
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    # Train with a Metaspace pre-tokenizer so merges stay inside words (as SentencePiece does);
    # the saved tokenizer then takes Llama 2's form: normalizer only, no pre-tokenizer.
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    trainer = trainers.BpeTrainer(vocab_size=1000 - 256, special_tokens=["<unk>", "<s>", "</s>"],
                                  show_progress=False)
    tok.train_from_iterator(corpus_lines(), trainer)
    data = json.loads(tok.to_str())
    trained = sorted(data["model"]["vocab"].items(), key=lambda kv: kv[1])
    specials = ["<unk>", "<s>", "</s>"]
    vocab = {t: i for i, t in enumerate(specials)}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for token, _ in trained:
        if token not in vocab:
            vocab[token] = len(vocab)
    data["model"]["vocab"] = vocab
    data["model"]["byte_fallback"] = True
    data["model"]["fuse_unk"] = True
    data["model"]["unk_token"] = "<unk>"
    data["added_tokens"] = [
        {"id": vocab[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True} for t in specials]
    data["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": "\u2581"},
        {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]}
    data["pre_tokenizer"] = None
    data["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
        {"type": "ByteFallback"},
        {"type": "Fuse"},
        {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    data["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                   {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                 {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": "<s>", "type_id": 1}},
                 {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>",
              "eos_token": "</s>", "unk_token": "<unk>", "clean_up_tokenization_spaces": False,
              "model_max_length": 4096, "chat_template": LLAMA2_TEMPLATE}
    return data, config


def write_tokenizer(out_root, name, data, config):
    from tokenizers import Tokenizer
    tok_dir = os.path.join(out_root, "tokenizers", name)
    os.makedirs(tok_dir, exist_ok=True)
    tok_file = os.path.join(tok_dir, "tokenizer.json")
    # Round trip through the library so the saved file is in its canonical form.
    Tokenizer.from_str(json.dumps(data)).save(tok_file, pretty=True)
    with open(os.path.join(tok_dir, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, indent=2, ensure_ascii=False)
        f.write("\n")
    tok = Tokenizer.from_file(tok_file)
    print(f"== tokenizer {name}: vocab {tok.get_vocab_size()}", flush=True)

    cases = []
    for text in TRICKY_STRINGS:
        with_special = tok.encode(text, add_special_tokens=True)
        without = tok.encode(text, add_special_tokens=False)
        decoded = tok.decode(with_special.ids, skip_special_tokens=True)
        cases.append({"text": text, "ids": with_special.ids, "ids_no_special": without.ids,
                      "tokens_no_special": without.tokens, "decoded": decoded})
        print(f"  {text!r}: {without.ids[:12]}{'...' if len(without.ids) > 12 else ''} "
              f"-> {decoded!r}")
    with open(os.path.join(tok_dir, "cases.json"), "w") as f:
        json.dump({"tokenizer": name, "library": "tokenizers", "cases": cases}, f, indent=1,
                  ensure_ascii=False)
        f.write("\n")
    write_chat_cases(tok_dir, tok_file, tok, config)


def write_chat_cases(tok_dir, tok_file, tok, config):
    import transformers
    from transformers import PreTrainedTokenizerFast
    special = {k: config[k] for k in ("bos_token", "eos_token", "unk_token") if k in config}
    hf = PreTrainedTokenizerFast(tokenizer_file=tok_file, chat_template=config["chat_template"],
                                 clean_up_tokenization_spaces=False, **special)
    cases = []
    for case_name, messages in CONVERSATIONS:
        for add_generation_prompt in (True, False):
            text = hf.apply_chat_template(messages, tokenize=False,
                                          add_generation_prompt=add_generation_prompt)
            ids = hf.apply_chat_template(messages, tokenize=True,
                                         add_generation_prompt=add_generation_prompt)
            if hasattr(ids, "keys"):  # transformers 5 may return a BatchEncoding
                ids = ids["input_ids"]
            ids = list(ids)
            direct = tok.encode(text, add_special_tokens=False).ids
            print(f"  chat {case_name} gen={add_generation_prompt}: {text!r} "
                  f"(ids agree with encode(add_special_tokens=False): {direct == ids})")
            cases.append({"name": case_name, "messages": messages,
                          "add_generation_prompt": add_generation_prompt,
                          "text": text, "ids": ids})
    errors = []
    for case_name, messages in BAD_CONVERSATIONS:
        try:
            hf.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            message = None
        except Exception as e:  # transformers raises TemplateError from raise_exception
            message = str(e)
        print(f"  chat {case_name}: error {message!r}")
        errors.append({"name": case_name, "messages": messages, "error": message})
    with open(os.path.join(tok_dir, "chat_cases.json"), "w") as f:
        json.dump({"library": "transformers " + transformers.__version__,
                   "chat_template_source": "tokenizer_config.json",
                   "bos_token": config["bos_token"], "eos_token": config["eos_token"],
                   "cases": cases, "errors": errors}, f, indent=1, ensure_ascii=False)
        f.write("\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--skip-models", action="store_true")
    parser.add_argument("--skip-tokenizers", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.makedirs(args.out, exist_ok=True)
    failures = []
    print("python", sys.version.split()[0], "numpy", np.__version__, flush=True)
    if not args.skip_tokenizers:
        import tokenizers
        print("tokenizers", tokenizers.__version__, flush=True)
        write_tokenizer(args.out, "bytelevel", *train_bytelevel())
        write_tokenizer(args.out, "spm_bytefallback", *train_spm_bytefallback())
    if not args.skip_models:
        import torch
        torch.use_deterministic_algorithms(True)
        torch.set_num_threads(min(8, os.cpu_count() or 1))
        for name, config_class, kwargs, seed in model_specs():
            try:
                build_model(args.out, name, config_class, kwargs, seed)
            except Exception:  # keep going: one device call should bring back all it can
                traceback.print_exc()
                failures.append(name)
    print("done" if not failures else f"FAILED: {failures}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
