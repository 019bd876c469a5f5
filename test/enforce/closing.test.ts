// onClose: enforcement's close hooks run once per close, before the application's onclose, however the application
// sets it (before, after, replaced, chained to the handler it read) and however many guards share one SDK object.
import { strict as assert } from "node:assert";
import process from "node:process";
import { onClose } from "../../runtime/enforce/closing.js";
import { raisedWhile } from "../support/uncaught.js";

describe("close hooks", () => {
  it("run before the application's onclose, set before or after them", () => {
    const order: string[] = [];
    const target: { onclose?: (() => void) | undefined } = { onclose: () => void order.push("app set before") };
    onClose(target, () => void order.push("ours"));
    target.onclose!();
    target.onclose = () => void order.push("app set after");
    target.onclose!();
    assert.deepEqual(order, ["ours", "app set before", "ours", "app set after"]);
  });

  it("all run when two guards share one object and the application sets onclose after both", () => {
    const order: string[] = [];
    const target: { onclose?: (() => void) | undefined } = {};
    onClose(target, () => void order.push("first guard"));
    onClose(target, () => void order.push("second guard"));
    target.onclose = () => void order.push("app");
    target.onclose!();
    assert.deepEqual(order, ["first guard", "second guard", "app"]);
  });

  it("run once when the application chains the handler it read (no endless recursion)", () => {
    const order: string[] = [];
    const target: { onclose?: (() => void) | undefined } = {};
    onClose(target, () => void order.push("ours"));
    const previous = target.onclose;
    target.onclose = () => {
      previous?.();
      order.push("app");
    };
    target.onclose!();
    assert.deepEqual(order, ["ours", "app"]);
    // And again on a later close.
    target.onclose!();
    assert.deepEqual(order, ["ours", "app", "ours", "app"]);
  });

  it("keep every handler of a chain several levels deep, each once, hooks first", () => {
    const order: string[] = [];
    const target: { onclose?: (() => void) | undefined } = { onclose: () => void order.push("app") };
    onClose(target, () => void order.push("ours"));
    for (const layer of ["layer 1", "layer 2"]) {
      const previous = target.onclose;
      target.onclose = () => {
        previous?.();
        order.push(layer);
      };
    }
    target.onclose!();
    assert.deepEqual(order, ["ours", "app", "layer 1", "layer 2"]);
  });

  it("run the other hooks and the application's handler when one hook throws, and report it as a warning", async () => {
    const order: string[] = [];
    const target: { onclose?: (() => void) | undefined } = { onclose: () => void order.push("app") };
    onClose(target, () => {
      throw new Error("a hook failed");
    });
    onClose(target, () => void order.push("second hook"));
    const warnings: string[] = [];
    const collect = (warning: Error): void => void warnings.push(warning.message);
    process.on("warning", collect);
    try {
      const raised = await raisedWhile(() => target.onclose!());
      assert.deepEqual(raised, [], "nothing thrown");
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off("warning", collect);
    }
    assert.deepEqual(order, ["second hook", "app"]);
    assert.ok(warnings.some((message) => /a pqguard close hook failed: a hook failed/.test(message)), String(warnings));
  });

  it("do not run when the application calls a saved handler while the connection is live", () => {
    const order: string[] = [];
    const target: { onclose?: (() => void) | undefined; transport?: object | undefined } = { onclose: () => void order.push("app"), transport: {} };
    onClose(target, () => void order.push("ours"));
    const saved = target.onclose!;
    saved();
    assert.deepEqual(order, ["app"], "live: only the application's handler");
    target.transport = undefined; // as the SDK's Protocol does before it calls onclose
    target.onclose!();
    assert.deepEqual(order, ["app", "ours", "app"]);
  });

  it("still run after the application clears its handler", () => {
    const order: string[] = [];
    const target: { onclose?: (() => void) | undefined } = { onclose: () => void order.push("app") };
    onClose(target, () => void order.push("ours"));
    target.onclose = undefined;
    target.onclose!();
    assert.deepEqual(order, ["ours"]);
  });
});
