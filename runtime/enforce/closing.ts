// Runs enforcement's own work when an SDK Client or Server closes, whatever the application does with `onclose`:
// set before or after enforcement, replaced, or chained to the handler it read.

const HOOKS = Symbol("pqguard close hooks");

interface Closable {
  onclose?: (() => void) | undefined;
}

/**
 * Runs `hook` when `target` closes, before the application's own `onclose`. The first call makes `onclose` an
 * accessor on `target`: reading it gives one handler that runs every hook, then the application's; assigning it sets
 * the application's. An application handler that chains the handler it read calls back into it; that re-entry runs
 * nothing, so each hook runs once per close.
 */
export function onClose(target: Closable, hook: () => void): void {
  const holder = target as Closable & { [HOOKS]?: (() => void)[] };
  const existing = holder[HOOKS];
  if (existing !== undefined) {
    existing.push(hook);
    return;
  }
  const hooks = [hook];
  let application = target.onclose;
  let running = false;
  const run = (): void => {
    if (running) return;
    running = true;
    try {
      for (const each of hooks) each();
      application?.();
    } finally {
      running = false;
    }
  };
  Object.defineProperty(target, HOOKS, { value: hooks });
  Object.defineProperty(target, "onclose", {
    configurable: true,
    enumerable: true,
    get: () => run,
    set: (handler: (() => void) | undefined) => {
      application = handler;
    },
  });
}
