"""Direct preference optimisation of a tiny causal language model, on CPU in seconds.

The data is generated: a prompt of random tokens, a *chosen* completion that follows a rule (it
is the prompt reversed) and a *rejected* one that breaks it (the same completion with one token,
at a random position, replaced by another). The model is an embedding, one GRU layer and a
linear output head (about seven thousand parameters); the reference is a frozen copy of its
initial weights.

Each step computes the per-token log-probabilities of the completion tokens with
``lk.linear_log_probs(hidden, head.weight, targets, bias=head.bias)`` (prompt positions carry the
``ignore_index`` -100 and give 0), sums them per sequence, and minimises
``lk.dpo(chosen, rejected, ref_chosen, ref_rejected, beta=BETA)``. On a held-out batch it prints
the reward margin ``β·((c - c_ref) - (r - r_ref))`` (mean over pairs) and the preference accuracy
(the fraction of pairs whose margin is positive); both start at 0 and rise. The script exits
with status 1 if the margin did not rise, so CI checks it.

Run from the repository root::

    python examples/dpo_tiny.py
"""

from __future__ import annotations

import copy
import sys
import time

import torch
from torch import nn

import losskit as lk

SEED = 0
VOCAB, WIDTH = 8, 32
PROMPT, COMPLETION = 4, 4
BATCH, EVAL_BATCH = 64, 256
STEPS, LOG_EVERY = 300, 30
BETA, LEARNING_RATE = 0.1, 1e-2
IGNORE = -100


class TinyLM(nn.Module):
    """Embedding -> one GRU layer -> linear head; ``hidden`` gives the states fed to the head."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, WIDTH)
        self.gru = nn.GRU(WIDTH, WIDTH, batch_first=True)
        self.head = nn.Linear(WIDTH, VOCAB)

    def hidden(self, tokens: torch.Tensor) -> torch.Tensor:
        """States ``(B, T, WIDTH)``; the state at position t predicts token t + 1."""
        states, _ = self.gru(self.embed(tokens))
        return states


def make_pairs(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` (chosen, rejected) sequences ``(n, PROMPT + COMPLETION)`` sharing their prompt."""
    prompt = torch.randint(0, VOCAB, (n, PROMPT), generator=gen)
    chosen = prompt.flip(1)  # the rule: the prompt reversed
    # the same completion with one token, at a random position, replaced by a wrong one
    wrong = torch.randint(0, COMPLETION, (n, 1), generator=gen)
    offset = torch.randint(1, VOCAB, (n, 1), generator=gen)
    position = torch.arange(COMPLETION) == wrong
    rejected = torch.where(position, (chosen + offset) % VOCAB, chosen)
    return torch.cat([prompt, chosen], dim=1), torch.cat([prompt, rejected], dim=1)


def targets_of(tokens: torch.Tensor) -> torch.Tensor:
    """Next-token targets ``(B, T - 1)``: the completion tokens, -100 for the prompt ones."""
    targets = tokens[:, 1:].clone()
    targets[:, : PROMPT - 1] = IGNORE
    return targets


def sequence_logps(model: TinyLM, tokens: torch.Tensor) -> torch.Tensor:
    """The log-probability of each sequence's completion, ``(B,)``: a sum over its tokens."""
    hidden = model.hidden(tokens[:, :-1])
    token_logps = lk.linear_log_probs(
        hidden, model.head.weight, targets_of(tokens), bias=model.head.bias, ignore_index=IGNORE
    )
    return token_logps.sum(dim=-1)


def log_ratios(
    policy: TinyLM, reference: TinyLM, chosen: torch.Tensor, rejected: torch.Tensor
) -> tuple[torch.Tensor, ...]:
    """Policy and reference sequence log-probabilities of the chosen and rejected completions."""
    both = torch.cat([chosen, rejected])  # one forward pass for the two halves
    logps = sequence_logps(policy, both)
    with torch.no_grad():
        ref_logps = sequence_logps(reference, both)
    c, r = logps.chunk(2)
    ref_c, ref_r = ref_logps.chunk(2)
    return c, r, ref_c, ref_r


def evaluate(
    policy: TinyLM, reference: TinyLM, pairs: tuple[torch.Tensor, torch.Tensor]
) -> tuple[float, float, float]:
    """DPO loss, mean reward margin and preference accuracy on a fixed batch of pairs."""
    with torch.no_grad():
        c, r, ref_c, ref_r = log_ratios(policy, reference, *pairs)
        loss = lk.dpo(c, r, ref_c, ref_r, beta=BETA)
        margin = BETA * ((c - ref_c) - (r - ref_r))
    return float(loss), float(margin.mean()), float((margin > 0).float().mean())


def main() -> int:
    """Train, print the held-out margin and accuracy; return 1 if the margin did not rise."""
    torch.manual_seed(SEED)
    torch.set_num_threads(1)  # the same float sums, so the same numbers, on every machine
    torch.use_deterministic_algorithms(True)
    data_gen = torch.Generator().manual_seed(SEED)
    held_out = make_pairs(EVAL_BATCH, torch.Generator().manual_seed(SEED + 1))

    policy = TinyLM()
    reference = copy.deepcopy(policy).requires_grad_(False).eval()
    optimizer = torch.optim.Adam(policy.parameters(), lr=LEARNING_RATE)
    size = sum(p.numel() for p in policy.parameters())
    print(
        f"tiny causal LM: vocabulary {VOCAB}, GRU width {WIDTH}, {size} parameters; "
        f"DPO beta={BETA}, Adam lr={LEARNING_RATE}, batch {BATCH}, {STEPS} steps"
    )

    start = time.perf_counter()
    margins = []
    for step in range(STEPS + 1):
        if step % LOG_EVERY == 0:
            loss, margin, accuracy = evaluate(policy, reference, held_out)
            margins.append(margin)
            print(
                f"step {step:4d}  held-out dpo loss {loss:.4f}  reward margin {margin:.4f}  "
                f"preference accuracy {accuracy:.3f}"
            )
        if step == STEPS:
            break
        chosen, rejected = make_pairs(BATCH, data_gen)
        loss = lk.dpo(*log_ratios(policy, reference, chosen, rejected), beta=BETA)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    print(f"trained in {time.perf_counter() - start:.1f} s")

    if not margins[-1] > margins[0] + 0.1:
        print(f"FAILED: the reward margin did not rise ({margins[0]:.4f} -> {margins[-1]:.4f})")
        return 1
    print(f"reward margin rose from {margins[0]:.4f} to {margins[-1]:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
