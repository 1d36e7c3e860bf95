"""Reference log-probs of DPO pairs with and without a shared system-prompt KV cache: seconds and agreement.

    .venv/bin/python benchmarks/bench_ref_prefix.py --model runs/demo/models/sft --data runs/demo/prefs.jsonl

Every TaskMaster pair starts with the same system prompt (166 of ~256 tokens), and TRL's reference pre-pass encodes
it again for every chosen and rejected sequence; on the default profile that pass is ~4.5 of DPO's ~17 minutes.
This measures what encoding it once would save before anyone builds it (docs/experiments.md, "What I would try
next"). Arm "full" runs each batch of 4 pairs (8 sequences, as TRL does) whole; arm "prefix" runs the system prompt
once, copies its key/value cache across the batch and runs only the rest. Both sum the log-probs of the reply tokens
under the same precision. It prints seconds per arm, the prefix/full ratio and the largest difference between the
arms' log-probs. It does not reproduce TRL's truncation or tokenisation; an implementation that feeds TRL
`ref_chosen_logps` / `ref_rejected_logps` must, and must be tested against TRL's own pass.
"""

import argparse
import copy
import time


def token_ids(tokenizer, messages: list[dict], add_generation_prompt: bool = False) -> list[int]:
    return tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=add_generation_prompt,
                                         return_dict=True)["input_ids"]


def sequences(pairs: list[dict], tokenizer) -> tuple[list[int], list[tuple[list[int], int]]]:
    """(system-prompt ids, [(sequence ids, prompt length)]): each pair's chosen then rejected sequence."""
    system = pairs[0]["prompt"][0]
    prefix = token_ids(tokenizer, [system])
    out = []
    for pair in pairs:
        if pair["prompt"][0] != system:
            raise SystemExit("every pair must share the first pair's system prompt")
        prompt = token_ids(tokenizer, pair["prompt"], add_generation_prompt=True)
        for reply in (pair["chosen"], pair["rejected"]):
            ids = token_ids(tokenizer, pair["prompt"] + reply)
            if ids[:len(prompt)] != prompt or ids[:len(prefix)] != prefix:
                raise SystemExit("the chat template does not render the prompt as a prefix of the full sequence")
            out.append((ids, len(prompt)))
    return prefix, out


def reply_logp(logits, ids: list[int], n_prompt: int, first: int) -> float:
    """Sum of log p(reply token); logits[j] is the prediction made at sequence position first + j."""
    import torch

    targets = torch.tensor(ids[n_prompt:])
    rows = logits[n_prompt - 1 - first:len(ids) - 1 - first].float().log_softmax(-1)
    return rows.gather(1, targets[:, None]).sum().item()


def padded(batch: list[list[int]], pad: int):
    import torch

    width = max(len(ids) for ids in batch)
    ids = torch.tensor([row + [pad] * (width - len(row)) for row in batch])
    mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in batch])
    return ids, mask


def full_arm(model, seqs, pad: int, batch: int) -> list[float]:
    import torch

    out = []
    for i in range(0, len(seqs), batch):
        chunk = seqs[i:i + batch]
        ids, mask = padded([s for s, _ in chunk], pad)
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask).logits
        out += [reply_logp(logits[k], s, n, 0) for k, (s, n) in enumerate(chunk)]
    return out


def prefix_arm(model, prefix: list[int], seqs, pad: int, batch: int) -> list[float]:
    import torch

    with torch.no_grad():
        cache = model(input_ids=torch.tensor([prefix]), use_cache=True).cache
    out, p = [], len(prefix)
    for i in range(0, len(seqs), batch):
        chunk = seqs[i:i + batch]
        ids, mask = padded([s[p:] for s, _ in chunk], pad)
        past = copy.deepcopy(cache)
        past.batch_repeat_interleave(len(chunk))
        mask = torch.cat([torch.ones(len(chunk), p, dtype=mask.dtype), mask], dim=1)
        positions = torch.arange(p, p + ids.shape[1])[None].expand(len(chunk), -1)
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask, cache=past, position_ids=positions).logits
        out += [reply_logp(logits[k], s, n, p) for k, (s, n) in enumerate(chunk)]
    return out


def main() -> None:
    import torch

    from taskalign.models.hf import use_bf16
    from taskalign.train import common
    from taskalign.train.dpo import load_pairs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--data", required=True, help="prefs.jsonl")
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--precision", default="fast")
    args = parser.parse_args()

    common.set_threads()
    pairs = load_pairs(args.data)[:args.pairs]
    model, tokenizer = common.load_for_training(args.model, precision=args.precision)
    model.eval()
    prefix, seqs = sequences(pairs, tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    bf16 = use_bf16(args.precision, "cpu")  # what `train dpo` does on a CPU: bf16 autocast over fp32 weights
    results = {}
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        full_arm(model, seqs[:8], pad, 8)  # warm-up
        for name, fn in (("full", lambda: full_arm(model, seqs, pad, 8)),
                         ("prefix", lambda: prefix_arm(model, prefix, seqs, pad, 8))):
            start = time.perf_counter()
            results[name] = (fn(), time.perf_counter() - start)
    (full, t_full), (pre, t_pre) = results["full"], results["prefix"]
    diff = max(abs(a - b) for a, b in zip(full, pre))
    mean_len = sum(len(s) for s, _ in seqs) / len(seqs)
    print(f"{len(pairs)} pairs, {len(seqs)} sequences, mean {mean_len:.0f} tokens, shared prefix {len(prefix)} tokens, "
          f"bf16 autocast {bf16}")
    print(f"full   {t_full:7.1f} s")
    print(f"prefix {t_pre:7.1f} s   ratio prefix/full {t_pre / t_full:.2f}")
    print(f"largest |logp difference| {diff:.4f} nats (mean |logp| {sum(map(abs, full)) / len(full):.1f})")


if __name__ == "__main__":
    main()
