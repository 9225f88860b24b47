"""Compares the step, eval and sensitivity lines of two runs of fixed-seed-runs.sh (old commit vs new)."""
import json, sys
root = sys.argv[1] if len(sys.argv) > 1 else '/tmp/cmp'
for k in ['gpt', 'gpt-ga3', 'vit', 'taylor']:
    def lines(tag):
        keep = ('type', 'step', 'loss', 'val_loss', 'top1', 'layers', 'values', 'sensitivities')
        return [{f: j.get(f) for f in keep} for j in map(json.loads, open(f'{root}/{tag}-{k}/metrics.jsonl')) if j.get('type') in (None, 'eval', 'sensitivity')]
    a, b = lines('old'), lines('new')
    print(f"{k}: {len(a)} lines, {'identical' if a == b else 'DIFFERENT'}; last step loss old {[x['loss'] for x in a if x['type'] is None][-1]} new {[x['loss'] for x in b if x['type'] is None][-1]}")
