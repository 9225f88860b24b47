/**
 * The tasks `npm start -- --task NAME` can train (the first is the default). A new task is its own folder
 * under src/tasks/ and one line here.
 */
import { ConfigError, type TrainConfig } from '../train/config.js';
import type { AnyTask, TaskFlag } from '../train/task.js';
import { gptTask } from './gpt/task.js';
import { vitTask } from './vit/task.js';

export const TASKS: readonly AnyTask[] = [
  gptTask,
  vitTask,
];

export const DEFAULT_TASK = TASKS[0]!.name;

/** The task called `name` (the default when absent); a ConfigError lists the tasks otherwise. */
export function taskNamed(name: string | undefined): AnyTask {
  const task = TASKS.find((t) => t.name === (name ?? DEFAULT_TASK));
  if (!task) throw new ConfigError(`--task ${JSON.stringify(name)}: unknown task; choose one of ${TASKS.map((t) => t.name).join(', ')}`);
  return task;
}

/** Every task's own flags, with the task that takes each. */
export function taskFlags(): { task: AnyTask; flag: TaskFlag }[] {
  return TASKS.flatMap((task) => task.flags.map((flag) => ({ task, flag })));
}

/** Every task's own config keys (a `--config` file may hold them). */
export function taskConfigKeys(): string[] {
  return taskFlags().map(({ flag }) => flag.key);
}

/** The flag spelling of a config key, shared or a task's own (for messages). */
export function flagNameOf(key: string, names: Record<string, string>): string {
  return names[key] ?? taskFlags().find(({ flag }) => flag.key === key)?.flag.flag.split(' ')[0] ?? key;
}

/**
 * The config of the task `flags.task ?? file.task` (the default when neither says): that task resolves and
 * validates it. A flag or key that belongs to another task is refused, naming the task it applies to.
 */
export function resolveTaskConfig(file: Partial<TrainConfig>, flags: Partial<TrainConfig>): TrainConfig {
  const task = taskNamed(flags.task ?? file.task);
  for (const { task: owner, flag } of taskFlags()) {
    if (owner === task) continue;
    const value = (flags as Record<string, unknown>)[flag.key] ?? (file as Record<string, unknown>)[flag.key];
    if (value !== undefined) throw new ConfigError(`${flag.flag.split(' ')[0]} ${JSON.stringify(value)}: applies to --task ${owner.name} only`);
  }
  return task.resolveConfig(file, flags);
}
