"""Per-step training losses and eval losses of two runs of fixed-seed-runs.sh (old vs new), and the largest difference."""
import json, os, sys
root = sys.argv[1] if len(sys.argv) > 1 else '/tmp/speed-cmp'
for k in ['gpt', 'vit', 'taylor', 'pld']:
    if not os.path.exists(f'{root}/old-{k}/metrics.jsonl'): continue
    def lines(tag):
        return [j for j in map(json.loads, open(f'{root}/{tag}-{k}/metrics.jsonl')) if j.get('type') in (None, 'eval')]
    a, b = lines('old'), lines('new')
    assert [(x.get('type'), x.get('step')) for x in a] == [(x.get('type'), x.get('step')) for x in b], 'runs log different steps'
    print(f'{k}:')
    worst = {'loss': 0.0, 'val_loss': 0.0}
    for x, y in zip(a, b):
        key = 'val_loss' if x.get('type') == 'eval' else 'loss'
        d = abs(x[key] - y[key])
        worst[key] = max(worst[key], d)
        print(f"  {'eval' if key == 'val_loss' else 'step'} {x['step']:>3}  old {x[key]:.7f}  new {y[key]:.7f}  |diff| {d:.2e}")
    steps = sum(1 for x in a if x.get('type') is None)
    print(f"  max |diff| over {steps} steps: training loss {worst['loss']:.2e}, validation loss {worst['val_loss']:.2e}")
    sens = lambda tag: [j.get('values') for j in map(json.loads, open(f'{root}/{tag}-{k}/metrics.jsonl')) if j.get('type') == 'sensitivity']
    if sens('old'): print(f"  sensitivity lines: {len(sens('old'))}, {'identical' if sens('old') == sens('new') else 'DIFFERENT'}")
