"""Write a tiny, random-initialised Qwen2 GGUF with a real (tiny) byte-level BPE tokenizer.

Runs in the sbx model-build venv (needs numpy, gguf, tokenizers), not in sbx's environment:

    python make_tiny_gguf.py OUT.gguf

Everything is made here, offline, from a fixed seed: a BPE tokenizer trained on a few lines of
shell and JSON, and F32 weights for a 2-layer model with hidden size 64. The file goes through the
same path as a real model: GGUF -> transformers checkpoint -> onnxruntime-genai builder.
"""

from __future__ import annotations

import json
import sys

import gguf
import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

HIDDEN = 64
LAYERS = 2
HEADS = 4
KV_HEADS = 2
FFN = 128
CONTEXT = 1024
VOCAB_TARGET = 512
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    'find . -type f -name "*.py" -mtime -7',
    "ls -la | sort -k5 -n | tail -n 3",
    'grep -rn "TODO" --include="*.py" .',
    "wc -l *.txt && du -sh .",
    '{"command": "echo hello world", "steps": [{"tool": "run_shell", "args": {}}]}',
    "```bash\nmkdir -p build && cp -r src build/\n```",
    "the quick brown fox jumps over the lazy dog 0123456789",
]


def train_tokenizer() -> tuple[list[str], list[str]]:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_TARGET,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS * 20, trainer)
    model = json.loads(tokenizer.to_str())["model"]
    vocab: dict[str, int] = model["vocab"]
    tokens = [""] * len(vocab)
    for token, index in vocab.items():
        tokens[index] = token
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    return tokens, merges


def main(out: str) -> None:
    tokens, merges = train_tokenizer()
    vocab = len(tokens)
    rng = np.random.default_rng(1234)

    def weight(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.05).astype(np.float32)

    writer = gguf.GGUFWriter(out, "qwen2")
    writer.add_name("sbx tiny test model")
    writer.add_block_count(LAYERS)
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(HIDDEN)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(tokens)
    writer.add_token_types(
        [gguf.TokenType.CONTROL if t in SPECIAL else gguf.TokenType.NORMAL for t in tokens]
    )
    writer.add_token_merges(merges)
    writer.add_bos_token_id(tokens.index("<|endoftext|>"))
    writer.add_eos_token_id(tokens.index("<|im_end|>"))
    writer.add_pad_token_id(tokens.index("<|endoftext|>"))
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHAT_TEMPLATE)

    head = HIDDEN // HEADS
    writer.add_tensor("token_embd.weight", weight(vocab, HIDDEN))
    for layer in range(LAYERS):
        prefix = f"blk.{layer}"
        writer.add_tensor(f"{prefix}.attn_norm.weight", np.ones(HIDDEN, dtype=np.float32))
        writer.add_tensor(f"{prefix}.attn_q.weight", weight(HEADS * head, HIDDEN))
        writer.add_tensor(f"{prefix}.attn_q.bias", weight(HEADS * head))
        writer.add_tensor(f"{prefix}.attn_k.weight", weight(KV_HEADS * head, HIDDEN))
        writer.add_tensor(f"{prefix}.attn_k.bias", weight(KV_HEADS * head))
        writer.add_tensor(f"{prefix}.attn_v.weight", weight(KV_HEADS * head, HIDDEN))
        writer.add_tensor(f"{prefix}.attn_v.bias", weight(KV_HEADS * head))
        writer.add_tensor(f"{prefix}.attn_output.weight", weight(HIDDEN, HEADS * head))
        writer.add_tensor(f"{prefix}.ffn_norm.weight", np.ones(HIDDEN, dtype=np.float32))
        writer.add_tensor(f"{prefix}.ffn_gate.weight", weight(FFN, HIDDEN))
        writer.add_tensor(f"{prefix}.ffn_up.weight", weight(FFN, HIDDEN))
        writer.add_tensor(f"{prefix}.ffn_down.weight", weight(HIDDEN, FFN))
    writer.add_tensor("output_norm.weight", np.ones(HIDDEN, dtype=np.float32))
    writer.add_tensor("output.weight", weight(vocab, HIDDEN))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    print(json.dumps({"path": out, "vocab": vocab, "merges": len(merges)}))


if __name__ == "__main__":
    main(sys.argv[1])
