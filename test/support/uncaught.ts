// Test support: run code with uncaught exceptions captured instead of failing the test, for code that raises an
// error on a later turn by design (a callback that threw while nobody could be told).
import process from "node:process";

/** Runs `run` with uncaught exceptions captured (until the turn after it settles); returns what was raised. */
export async function raisedWhile(run: () => unknown): Promise<unknown[]> {
  const raised: unknown[] = [];
  const capture = (error: unknown): void => void raised.push(error);
  const others = process.listeners("uncaughtException");
  process.removeAllListeners("uncaughtException");
  process.on("uncaughtException", capture);
  try {
    await run();
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off("uncaughtException", capture);
    for (const listener of others) process.on("uncaughtException", listener);
  }
  return raised;
}
