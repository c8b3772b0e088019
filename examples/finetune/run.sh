#!/usr/bin/env bash
# The fine-tuning demo: teach SmolLM2-135M to route support tickets to one of five teams,
# then weigh base against tuned on 50 held-out tickets with `weighbridge compare`.
#
#   examples/finetune/run.sh            (from the repository root, after ./setup.sh)
#
# Everything runs locally on the CPU (about 10 minutes on 2 cores, most of it training) and
# nothing leaves the machine. Run it again and the fine-tune resumes from its checkpoints, and
# compare reuses its stored answers. WEIGHBRIDGE_HOME picks where the model and results go.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${WEIGHBRIDGE_BIN:-$here/../../.venv/bin}"
data="$here"

"$bin/python" "$here/make_data.py" "$data"   # deterministic: rewrites the shipped files as they are

start=$SECONDS
"$bin/weighbridge" finetune --base smollm2-135m --name ticket-router \
    --data "$data/train.jsonl" --eval "$data/heldout.jsonl" \
    --epochs 1 --lr 1e-3 --rank 8 --batch-size 8 --checkpoint-every 10
trained=$SECONDS

"$bin/weighbridge" compare "$data/heldout.jsonl" -m smollm2-135m -m ticket-router \
    --max-tokens 8 --quiet

echo "fine-tune $((trained - start)) s, compare $((SECONDS - trained)) s, total $((SECONDS - start)) s"
