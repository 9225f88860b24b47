/**
 * The shape of src/ that docs/architecture.md describes, checked from the import statements: the import graph
 * has no cycle (type-only imports included), and a task's folder is imported only by the registry and the
 * entry points allowed below, so adding a task touches its folder and one registry line.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|mjs)$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The src/ files a file imports (static imports and re-exports, `import type` included). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
    const base = resolve(dirname(file), m[1]!);
    const target = [base.replace(/\.js$/, '.ts'), base, `${base}.ts`].find((p) => existsSync(p) && statSync(p).isFile());
    if (target && target.startsWith(SRC)) out.push(target);
  }
  return out;
}

const files = sourceFiles(SRC);
const graph = new Map(files.map((f) => [f, importsOf(f)]));
const rel = (f: string) => relative(ROOT, f);

describe('the import graph of src/', () => {
  it('reads the imports it checks (a test that cannot fail would pass on an empty graph)', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(graph.get(join(SRC, 'tasks/index.ts'))!.map(rel)).toContain('src/tasks/vit/task.ts');
  });

  it('has no cycle', () => {
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (f: string, path: string[]) => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') {
        cycles.push([...path.slice(path.indexOf(f)), f].map(rel).join(' -> '));
        return;
      }
      state.set(f, 'open');
      for (const g of graph.get(f) ?? []) visit(g, [...path, f]);
      state.set(f, 'done');
    };
    for (const f of files) visit(f, []);
    expect(cycles).toEqual([]);
  });

  it("imports a task's folder only from the task itself, the registry and the allowed entry points", () => {
    // The library's entries export the tasks' APIs; these commands are GPT's alone (text sampling, evaluation of
    // a GPT checkpoint, the GPT step profiler).
    const allowed = ['src/tasks/index.ts', 'src/index.ts', 'src/browser.ts', 'src/cli/eval.ts', 'src/cli/sample.ts', 'src/cli/profile.ts', 'src/cli/checkpoint-model.ts'];
    const tasks = readdirSync(join(SRC, 'tasks')).filter((n) => statSync(join(SRC, 'tasks', n)).isDirectory());
    expect(tasks).toEqual(expect.arrayContaining(['gpt', 'vit']));
    const crossings: string[] = [];
    for (const [f, targets] of graph) {
      for (const t of targets) {
        const task = tasks.find((n) => t.startsWith(join(SRC, 'tasks', n) + '/'));
        if (!task || f.startsWith(join(SRC, 'tasks', task) + '/') || allowed.includes(rel(f))) continue;
        crossings.push(`${rel(f)} -> ${rel(t)}`);
      }
    }
    expect(crossings).toEqual([]);
  });
});
